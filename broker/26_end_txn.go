package broker

// EndTxn (key 26), versions 0–4.
//
// Commits or aborts the open transaction of a transactional id.
//
// Behaviour:
//   - Answered once the decision (PrepareCommit / PrepareAbort) is in the
//     commit log; the markers and the groups' offsets are written before
//     the answer when they can be, else by the coordinator's loop
//     (broker/txn).
//   - A retry of an EndTxn already completed succeeds; committing an
//     aborted transaction (or the reverse), or ending one never begun,
//     gets INVALID_TXN_STATE; the other errors are AddPartitionsToTxn's.
//
// Versions:
//   - v0–v1: PRODUCER_FENCED is sent as INVALID_PRODUCER_EPOCH.
//   - v3+: flexible encoding; v4 is v3. v5 (transaction.version 2, the
//     epoch bumped at every end) is not offered.

import (
	"context"

	"github.com/gregor-broker/gregor/protocol"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.EndTxn, 0, 4, handleEndTxn) }

func handleEndTxn(ctx context.Context, b *Broker, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.EndTxnRequest)
	resp := r.ResponseKind().(*kmsg.EndTxnResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	c, code := b.validateTxn(ctx, r.TransactionalID)
	if code != 0 {
		resp.ErrorCode = code
		return resp, nil
	}
	if kErr := c.EndTxn(ctx, r.TransactionalID, r.ProducerID, r.ProducerEpoch, r.Commit); kErr != nil {
		resp.ErrorCode = fencedCode(kErr, r.Version, 2)
	}
	return resp, nil
}
