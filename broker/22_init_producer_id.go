package broker

// InitProducerId (key 22), versions 0–5.
//
// Hands idempotent producers their id and epoch (producer_ids.go), and
// transactional producers theirs through the transaction coordinator
// (broker/txn). Kafka's checks for transactional ids
// (TransactionMetadata.prepareIncrementProducerEpoch) are applied to both.
//
// Behaviour:
//   - Without a producer id the caller gets a new cluster-unique one (this
//     node's id in the high bits, blocks of ids reserved durably) with
//     epoch 0.
//   - With its producer id and epoch (after OUT_OF_ORDER_SEQUENCE_NUMBER or
//     a timed-out batch): the holder of the id's current epoch gets the same
//     id with the epoch bumped, stored durably, and its sequences start
//     afresh at 0 in the new epoch (the store's idempotence rule); a retry
//     of a bump (the epoch before the current one) gets the current epoch
//     again; any other epoch is fenced.
//   - An id this broker did not hand out, or whose epoch is exhausted, gets
//     a fresh id at epoch 0, which is what Kafka 4 answers every
//     non-transactional re-init; clients accept both, since both restart the
//     sequences at 0.
//   - Only one of id and epoch set (the other -1) is INVALID_REQUEST.
//   - A transactional id goes to its coordinator (txn_coordination.go):
//     NOT_COORDINATOR when another broker coordinates it; a new id at epoch
//     0 the first time, else the epoch bumped after any transaction left
//     open is aborted; INVALID_TRANSACTION_TIMEOUT above
//     transaction.max.timeout.ms (15 min); PRODUCER_FENCED for a stale id
//     or epoch; CONCURRENT_TRANSACTIONS while the previous transaction's
//     markers are still being written.
//   - A store error while allocating gets COORDINATOR_NOT_AVAILABLE
//     (retriable). A slave forwards the request to its group's master
//     (slave_gate.go), answering COORDINATOR_NOT_AVAILABLE while there is
//     none.
//
// Versions:
//   - v0–v2: no producer id or epoch in the request: always a new id.
//   - v3+: producer id and epoch (KIP-360), the bump above.
//   - v4+: a fenced epoch gets PRODUCER_FENCED; before v4
//     INVALID_PRODUCER_EPOCH (Kafka's KafkaApis maps it so for clients
//     that predate the code).

import (
	"context"
	"errors"

	"github.com/gregor-broker/gregor/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
)

func init() { register(kmsg.InitProducerID, 0, 5, handleInitProducerID) }

func handleInitProducerID(ctx context.Context, b *Broker, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.InitProducerIDRequest)
	resp := r.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if r.TransactionalID != nil {
		c, code := b.validateTxn(ctx, *r.TransactionalID)
		if code != 0 {
			resp.ErrorCode = code
			return resp, nil
		}
		if (r.ProducerID < 0) != (r.ProducerEpoch < 0) {
			resp.ErrorCode = kerr.InvalidRequest.Code
			return resp, nil
		}
		pid, epoch, kErr := c.InitProducerID(ctx, *r.TransactionalID, r.TransactionTimeoutMillis, r.ProducerID, r.ProducerEpoch)
		if kErr != nil {
			resp.ErrorCode = fencedCode(kErr, r.Version, 4)
			return resp, nil
		}
		resp.ProducerID, resp.ProducerEpoch = pid, epoch
		return resp, nil
	}
	if (r.ProducerID < 0) != (r.ProducerEpoch < 0) {
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp, nil
	}
	a, err := b.producerIDs()
	if err == nil {
		if r.ProducerID >= 0 {
			resp.ProducerID, resp.ProducerEpoch, err = a.Bump(r.ProducerID, r.ProducerEpoch)
		} else {
			resp.ProducerID, err = a.Next()
			resp.ProducerEpoch = 0
		}
	}
	switch {
	case errors.Is(err, errProducerFenced):
		resp.ProducerID, resp.ProducerEpoch = -1, -1
		resp.ErrorCode = kerr.ProducerFenced.Code
		if r.Version < 4 {
			resp.ErrorCode = kerr.InvalidProducerEpoch.Code
		}
	case err != nil:
		b.log.Warn("producer id allocation failed", zap.Error(err))
		resp.ProducerID, resp.ProducerEpoch = -1, -1
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
	}
	return resp, nil
}
