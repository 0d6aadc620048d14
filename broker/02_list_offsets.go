package broker

// ListOffsets (key 2), versions 1–11.
//
// Answers offsets by timestamp from each partition's consume queue. Every
// member of the owning group answers, slaves up to their own high watermark
// (docs/replication.md, read from slave).
//
// Behaviour:
//   - Timestamps with a meaning (the offset returned; timestamp -1 unless
//     noted):
//       -1 latest         the high watermark; the last stable offset for
//                         read_committed (storage/txn.go)
//       -2 earliest, -4 earliest local   the log start offset
//       -3 max timestamp  the exact offset of the record with the largest
//                         timestamp, and that timestamp (-1/-1 when empty)
//       -5 latest tiered  -1, leader epoch -1 (gregor has no tiered
//                         storage, as Kafka without it)
//       -6 earliest pending upload (KIP-1023, v11)  likewise, at every
//                         version, as Kafka 4.4 answers it
//       below -6          UNSUPPORTED_VERSION, as Kafka 4.4 answers
//       other             the first offset whose record timestamp is >= the
//                         target, with that record's timestamp; -1/-1 and
//                         leader epoch -1 when none
//   - The leader epoch returned is the partition's current epoch: the
//     group's master epoch.
//   - A partition asked for twice gets INVALID_REQUEST (each time), a
//     partition another broker group owns NOT_LEADER_OR_FOLLOWER, unknown
//     ones UNKNOWN_TOPIC_OR_PARTITION.
//
// Versions:
//   - v2+: the isolation level: read_committed's latest offset is the last
//     stable offset.
//   - v4+: CurrentLeaderEpoch is checked as in Fetch (FENCED_LEADER_EPOCH /
//     UNKNOWN_LEADER_EPOCH).
//   - v7+, v8+, v9+: clients send -3, -4 and -5 from these versions; the
//     handler answers each at any version.
//   - v10: the timeout is not read (no tiered reads to wait for).

import (
	"context"

	"github.com/gregor-broker/gregor/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.ListOffsets, 1, 11, handleListOffsets) }

// Special ListOffsets timestamps.
const (
	tsLatest        = -1
	tsEarliest      = -2
	tsMaxTimestamp  = -3
	tsEarliestLocal = -4
	tsLatestTiered  = -5
	// tsEarliestPendingUpload is the tiered-storage timestamp of v11;
	// Kafka answers it (at every version) like -5 without tiered storage.
	tsEarliestPendingUpload = -6
)

func handleListOffsets(_ context.Context, b *Broker, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.ListOffsetsRequest)
	resp := r.ResponseKind().(*kmsg.ListOffsetsResponse)
	type tp struct {
		t string
		p int32
	}
	seen := map[tp]int{}
	for _, rt := range r.Topics {
		for _, rp := range rt.Partitions {
			seen[tp{rt.Topic, rp.Partition}]++
		}
	}
	for _, rt := range r.Topics {
		st := kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		t, known := b.topics.Get(rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.Timestamp, sp.Offset, sp.LeaderEpoch = -1, -1, -1
			if seen[tp{rt.Topic, rp.Partition}] > 1 {
				sp.ErrorCode = kerr.InvalidRequest.Code
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			if b.notHere(rt.Topic, [16]byte{}, rp.Partition) {
				sp.ErrorCode = kerr.NotLeaderForPartition.Code // another broker group leads it
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			if !known || rp.Partition < 0 || rp.Partition >= t.Partitions {
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			p := b.store.Partition(t.ID, rp.Partition)
			if p == nil {
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			epoch := b.leaderEpoch()
			if code := checkLeaderEpoch(rp.CurrentLeaderEpoch, epoch); r.Version >= 4 && code != 0 {
				sp.ErrorCode = code
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			sp.LeaderEpoch = epoch
			switch rp.Timestamp {
			case tsLatest:
				sp.Offset = p.HighWatermark()
				if r.IsolationLevel == 1 {
					sp.Offset = p.LastStableOffset() // read_committed
				}
			case tsEarliest, tsEarliestLocal:
				sp.Offset = p.LogStartOffset()
			case tsMaxTimestamp:
				sp.Timestamp, sp.Offset = p.MaxTimestamp()
			case tsLatestTiered, tsEarliestPendingUpload:
				sp.LeaderEpoch = -1
			default:
				if rp.Timestamp < 0 { // no such special timestamp
					sp.ErrorCode, sp.LeaderEpoch = kerr.UnsupportedVersion.Code, -1
				} else if off, ts, ok := p.OffsetForTime(rp.Timestamp); ok {
					sp.Offset, sp.Timestamp = off, ts
				} else {
					sp.LeaderEpoch = -1
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}
