package broker

// OffsetForLeaderEpoch (key 23), versions 2–4.
//
// Consumers use it to validate their position after a leader change
// (KIP-320).
//
// Behaviour:
//   - For the epoch they last saw: the end offset of that epoch on this
//     leader (KIP-101: the largest epoch <= the requested one and the offset
//     where the next epoch starts, or the log end). The current epoch ends
//     at the high watermark, even before this leader appended anything.
//   - An epoch the log does not know gives -1/-1 without an error, as Kafka
//     does.
//   - CurrentLeaderEpoch is checked (FENCED_LEADER_EPOCH /
//     UNKNOWN_LEADER_EPOCH); unknown partitions get
//     UNKNOWN_TOPIC_OR_PARTITION, a partition another broker group owns
//     NOT_LEADER_OR_FOLLOWER.
//   - Masters and slaves answer alike from their own log (the epochs
//     replicate with the batches), a slave with its last replicated term as
//     the current epoch, so a client reading from a slave detects
//     truncation as well.
//
// Versions: v3+ carry the requester's replica id, which the handler does
// not read (a consumer sends -1); v4 changes the encoding only.

import (
	"context"

	"github.com/gregor-broker/gregor/protocol"
	"github.com/gregor-broker/gregor/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.OffsetForLeaderEpoch, 2, 4, handleOffsetForLeaderEpoch) }

func handleOffsetForLeaderEpoch(_ context.Context, b *Broker, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.OffsetForLeaderEpochRequest)
	resp := r.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	for _, rt := range r.Topics {
		st := kmsg.NewOffsetForLeaderEpochResponseTopic()
		st.Topic = rt.Topic
		t, known := b.topics.Get(rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.LeaderEpoch, sp.EndOffset = -1, -1
			var p *storage.Partition
			if known && rp.Partition >= 0 && rp.Partition < t.Partitions {
				p = b.store.Partition(t.ID, rp.Partition)
			}
			switch {
			case p == nil && b.notLeader(rt.Topic, [16]byte{}, rp.Partition):
				sp.ErrorCode = kerr.NotLeaderForPartition.Code // another broker group leads it
			case p == nil:
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			default:
				cur := b.leaderEpoch()
				if code := checkLeaderEpoch(rp.CurrentLeaderEpoch, cur); code != 0 {
					sp.ErrorCode = code
					break
				}
				if rp.LeaderEpoch == cur {
					// The current epoch ends at the log end, even before
					// this leader appended anything (as in Kafka).
					sp.LeaderEpoch, sp.EndOffset = cur, p.HighWatermark()
					break
				}
				sp.LeaderEpoch, sp.EndOffset = p.EndOffsetForEpoch(rp.LeaderEpoch)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}
