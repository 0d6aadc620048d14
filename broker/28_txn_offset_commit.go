package broker

// TxnOffsetCommit (key 28), versions 0–4.
//
// Commits a consumer group's offsets inside a transaction.
//
// Behaviour:
//   - Sent to the group's coordinator: the offsets are kept as pending for
//     the producer (broker/group/txn.go) and committed or dropped when the
//     transaction's marker for the group arrives; OffsetFetch does not see
//     them before.
//   - NOT_COORDINATOR when another broker coordinates the group; unknown
//     partitions get UNKNOWN_TOPIC_OR_PARTITION.
//
// Versions:
//   - v3+: a member id and generation, when given, are checked as
//     OffsetCommit checks them (UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION,
//     FENCED_INSTANCE_ID: KIP-447).
//   - v4 is v3 (KIP-890 bumped it for clients).

import (
	"context"

	"github.com/gregor-broker/gregor/protocol"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.TxnOffsetCommit, 0, 4, handleTxnOffsetCommit) }

func handleTxnOffsetCommit(ctx context.Context, b *Broker, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.TxnOffsetCommitRequest)
	g, code := b.validateGroup(ctx, r.Group)
	if code == 0 {
		return g.TxnOffsetCommit(r, b.groupTopics), nil
	}
	resp := r.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
	for _, t := range r.Topics {
		rt := kmsg.NewTxnOffsetCommitResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, code
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}
