package broker

// InitProducerId (key 22), versions 0–5, for idempotent producers.
//
// Without a producer id the caller gets a new cluster-unique one
// (producer_ids.go) with epoch 0. With its current producer id and epoch
// (v3+, KIP-360: after OUT_OF_ORDER_SEQUENCE_NUMBER or a timed-out batch)
// it gets the same id with the epoch bumped, and the store's idempotence
// state starts that producer's sequences afresh at the new epoch; when the
// epoch is exhausted it gets a new id with epoch 0, as in Kafka. Only one of
// id and epoch set is INVALID_REQUEST. gregor keeps no per-id ownership, so
// the bump is granted to whoever presents the id; a stale epoch still gets
// INVALID_PRODUCER_EPOCH at produce time. (Kafka 4 answers a
// non-transactional re-init with a fresh id instead of a bump; clients
// accept either, since both restart the sequences at 0.)
//
// A transactional id gets UNSUPPORTED_VERSION with a message: gregor has no
// transactions yet (see 10_find_coordinator.go for why this code).

import (
	"context"
	"math"

	"github.com/gregor-broker/gregor/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
)

func init() { register(kmsg.InitProducerID, 0, 5, handleInitProducerID) }

func handleInitProducerID(_ context.Context, b *Broker, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.InitProducerIDRequest)
	resp := r.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if r.TransactionalID != nil {
		resp.ErrorCode = kerr.UnsupportedVersion.Code
		return resp, nil
	}
	if (r.ProducerID < 0) != (r.ProducerEpoch < 0) {
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp, nil
	}
	if r.ProducerID >= 0 && r.ProducerEpoch < math.MaxInt16-1 {
		resp.ProducerID, resp.ProducerEpoch = r.ProducerID, r.ProducerEpoch+1
		return resp, nil
	}
	a, err := b.producerIDs()
	if err == nil {
		resp.ProducerID, err = a.Next()
	}
	if err != nil {
		b.log.Warn("producer id allocation failed", zap.Error(err))
		resp.ProducerID = -1
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp, nil
	}
	resp.ProducerEpoch = 0
	return resp, nil
}
