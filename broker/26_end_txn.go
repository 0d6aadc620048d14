package broker

// EndTxn (key 26), versions 0–5.
//
// Commits or aborts the open transaction of a transactional id.
//
// Behaviour:
//   - Answered once the decision (PrepareCommit / PrepareAbort) is in the
//     commit log; the markers and the groups' offsets are written before
//     the answer when they can be, else by the coordinator's loop
//     (broker/txn).
//   - replication.mode=sync: the answer waits until the in-sync slaves
//     hold the decision and the markers (txnAwaitInSync), as Produce
//     acks=all does; if they do not, COORDINATOR_NOT_AVAILABLE (retriable),
//     as Kafka answers when its __transaction_state append is not
//     replicated. log.flush.mode=sync: each of those writes is fsynced
//     before.
//   - A retry of an EndTxn already completed succeeds; committing an
//     aborted transaction (or the reverse), or ending one never begun,
//     gets INVALID_TXN_STATE; the other errors are AddPartitionsToTxn's.
//
// Versions:
//   - v0–v1: PRODUCER_FENCED is sent as INVALID_PRODUCER_EPOCH.
//   - v3+: flexible encoding; v4 is v3.
//   - v5 (KIP-890 part 2): the client is at transaction.version 2. Every
//     end bumps the producer epoch, the markers carry the bumped epoch, and
//     the answer carries the producer id and epoch to continue with (a new
//     producer id at epoch 0 once the epoch is exhausted); an abort with
//     no transaction open is allowed and just bumps the epoch; a retry
//     (the epoch before the bump) gets the current id and epoch. Kafka's
//     table is in broker/txn (endTxnV2).

import (
	"context"

	"github.com/gregor-broker/gregor/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.EndTxn, 0, 5, handleEndTxn) }

func handleEndTxn(ctx context.Context, b *Broker, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.EndTxnRequest)
	resp := r.ResponseKind().(*kmsg.EndTxnResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	c, code := b.validateTxn(ctx, r.TransactionalID)
	if code != 0 {
		resp.ErrorCode = code
		return resp, nil
	}
	pid, epoch, kErr := c.EndTxn(ctx, r.TransactionalID, r.ProducerID, r.ProducerEpoch, r.Commit, r.Version >= 5)
	if kErr != nil {
		resp.ErrorCode = fencedCode(kErr, r.Version, 2)
		return resp, nil
	}
	if !b.txnAwaitInSync(ctx) {
		// Decided and durable here, not yet on the in-sync slaves: the
		// client retries, and a retry finds the transaction ended (or,
		// after a fail-over, still open on the new master).
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp, nil
	}
	resp.ProducerID, resp.ProducerEpoch = pid, epoch
	return resp, nil
}
