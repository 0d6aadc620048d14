package broker

// AddOffsetsToTxn (key 25), versions 0–4.
//
// Adds a consumer group to the open transaction of a transactional id: the
// group's offsets, sent with TxnOffsetCommit to its coordinator, are
// committed or dropped with the transaction.
//
// Behaviour:
//   - The transaction becomes Ongoing and holds the group.
//   - Errors as AddPartitionsToTxn (24_add_partitions_to_txn.go).
//
// Versions:
//   - v0–v1: PRODUCER_FENCED is sent as INVALID_PRODUCER_EPOCH.
//   - v3+: flexible encoding; v4 is v3 (KIP-890 bumped it for clients).

import (
	"context"

	"github.com/gregor-broker/gregor/protocol"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.AddOffsetsToTxn, 0, 4, handleAddOffsetsToTxn) }

func handleAddOffsetsToTxn(ctx context.Context, b *Broker, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.AddOffsetsToTxnRequest)
	resp := r.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
	c, code := b.validateTxn(ctx, r.TransactionalID)
	if code != 0 {
		resp.ErrorCode = code
		return resp, nil
	}
	if kErr := c.AddOffsets(r.TransactionalID, r.ProducerID, r.ProducerEpoch, r.Group); kErr != nil {
		resp.ErrorCode = fencedCode(kErr, r.Version, 2)
	}
	return resp, nil
}
