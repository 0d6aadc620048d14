package broker

// AddOffsetsToTxn (key 25), versions 0–4.
//
//   - Adds a group to the transaction of the transactional id (which
//     becomes Ongoing): its offsets, sent with TxnOffsetCommit to the
//     group's coordinator, are committed or dropped with the transaction.
//   - Errors as AddPartitionsToTxn (24_add_partitions_to_txn.go).

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
