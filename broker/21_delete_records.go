package broker

// DeleteRecords (key 21), versions 0–2.
//
// Moves each partition's log start offset forward, as Kafka's
// Partition.deleteRecordsOnLeader.
//
// Behaviour:
//   - Offset -1 means the high watermark; any other negative offset, or one
//     past the high watermark, gets OFFSET_OUT_OF_RANGE; an offset below the
//     current log start changes nothing.
//   - The response carries the new low watermark (-1 with an error).
//   - Unknown topics and partitions get UNKNOWN_TOPIC_OR_PARTITION, a
//     partition another broker group owns NOT_LEADER_OR_FOLLOWER.
//   - A partition named twice is answered once, with the last offset given,
//     as in Kafka.
//   - A slave forwards the request to its master (slave_gate.go).
//   - A topic compacted without delete (cleanup.policy=compact) gets
//     POLICY_VIOLATION, as in Kafka.
//
// Versions: the handler has no version-specific behaviour (later versions
// change the encoding only).

import (
	"context"
	"slices"

	"github.com/gregor-broker/gregor/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.DeleteRecords, 0, 2, handleDeleteRecords) }

func handleDeleteRecords(_ context.Context, b *Broker, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.DeleteRecordsRequest)
	resp := r.ResponseKind().(*kmsg.DeleteRecordsResponse)
	for _, rt := range mergeDeleteRecords(r.Topics) {
		res := kmsg.NewDeleteRecordsResponseTopic()
		res.Topic = rt.Topic
		tp, ok := b.topics.Get(rt.Topic)
		for _, rp := range rt.Partitions {
			pr := kmsg.NewDeleteRecordsResponseTopicPartition()
			pr.Partition = rp.Partition
			pr.LowWatermark = -1
			switch {
			case !ok && b.notLeader(rt.Topic, [16]byte{}, rp.Partition):
				pr.ErrorCode = kerr.NotLeaderForPartition.Code // none of the topic is here
			case !ok || rp.Partition < 0 || rp.Partition >= tp.Partitions:
				pr.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case !tp.hosts(rp.Partition):
				// Another broker group leads it; the client refreshes its
				// metadata and asks that group's master.
				pr.ErrorCode = kerr.NotLeaderForPartition.Code
			default:
				low, err := b.deleteRecords(tp, rp.Partition, rp.Offset)
				if err != nil {
					pr.ErrorCode, _ = errorCode(err), errorMessage(err)
				} else {
					pr.LowWatermark = low
				}
			}
			res.Partitions = append(res.Partitions, pr)
		}
		resp.Topics = append(resp.Topics, res)
	}
	return resp, nil
}

// deleteRecords moves one partition's log start to offset and returns the
// resulting low watermark.
func (b *Broker) deleteRecords(tp *Topic, partition int32, offset int64) (int64, error) {
	p := b.store.Partition(tp.ID, partition)
	if p == nil {
		return -1, apiErrorf(kerr.UnknownTopicOrPartition, "This server does not host this topic-partition.")
	}
	if tp.Compaction.Enabled && !slices.Contains(splitList(tp.Configs["cleanup.policy"]), "delete") {
		return -1, apiErrorf(kerr.PolicyViolation, "Records of partition %s-%d can not be deleted due to the configured policy", tp.Name, partition)
	}
	hwm := p.HighWatermark()
	if offset == -1 {
		offset = hwm
	}
	if offset < 0 || offset > hwm {
		return -1, apiErrorf(kerr.OffsetOutOfRange, "Cannot increment the log start offset to %d of partition %s-%d since it is larger than the high watermark %d", offset, tp.Name, partition, hwm)
	}
	if offset <= p.LogStartOffset() {
		return p.LogStartOffset(), nil
	}
	return p.DeleteRecordsBefore(offset)
}

// mergeDeleteRecords folds a topic or partition named more than once into
// one entry, in order of first appearance, the last offset winning: Kafka
// keys the request by partition, so it answers each partition once.
func mergeDeleteRecords(topics []kmsg.DeleteRecordsRequestTopic) []kmsg.DeleteRecordsRequestTopic {
	var out []kmsg.DeleteRecordsRequestTopic
	topicAt := map[string]int{}
	partAt := map[string]map[int32]int{}
	for _, rt := range topics {
		ti, ok := topicAt[rt.Topic]
		if !ok {
			ti = len(out)
			topicAt[rt.Topic] = ti
			partAt[rt.Topic] = map[int32]int{}
			out = append(out, kmsg.DeleteRecordsRequestTopic{Topic: rt.Topic})
		}
		for _, rp := range rt.Partitions {
			if pi, ok := partAt[rt.Topic][rp.Partition]; ok {
				out[ti].Partitions[pi].Offset = rp.Offset
				continue
			}
			partAt[rt.Topic][rp.Partition] = len(out[ti].Partitions)
			out[ti].Partitions = append(out[ti].Partitions, rp)
		}
	}
	return out
}
