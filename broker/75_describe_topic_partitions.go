package broker

// DescribeTopicPartitions (key 75), versions 0–0.
//
// Kafka 4's admin client describes topics with it (KIP-966) instead of
// Metadata. The answer is Kafka's (DescribeTopicPartitionsRequestHandler
// and KRaftMetadataCache.getTopicMetadataForDescribeTopicResponse).
//
// Behaviour:
//   - The topics asked for (each once), or every topic of the cluster for
//     an empty list, sorted by name, from the cursor's topic on; a cursor
//     naming a topic the list lacks is INVALID_REQUEST.
//   - At most min(ResponsePartitionLimit, 2000) partitions in all (Kafka's
//     max.request.partition.size.limit), the cursor's topic from the
//     cursor's partition. When a topic is cut short, NextCursor names it
//     and its next partition; when the limit is used up exactly at a topic's
//     end and topics remain, NextCursor names the next one at partition 0.
//   - A topic asked for by name that does not exist gets
//     UNKNOWN_TOPIC_OR_PARTITION (INVALID_TOPIC_EXCEPTION for a name Kafka
//     would refuse), a zero id and no partitions; when every topic is
//     listed there are none of those.
//   - Each partition as Metadata describes it (routes.go: leader, epoch,
//     replicas, ISR, offline replicas, cluster-wide); gregor has no eligible
//     leader replicas (KIP-966 ELR), so both ELR lists are empty, as
//     Kafka's are while the ISR is whole. Authorized operations as with no
//     authorizer (authorized_ops.go).
//
// Versions: v0 is the only version.

import (
	"context"
	"sort"

	"github.com/gregor-broker/gregor/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.DescribeTopicPartitions, 0, 0, handleDescribeTopicPartitions) }

// maxDescribePartitions is Kafka's max.request.partition.size.limit.
const maxDescribePartitions = 2000

func handleDescribeTopicPartitions(_ context.Context, b *Broker, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.DescribeTopicPartitionsRequest)
	resp := r.ResponseKind().(*kmsg.DescribeTopicPartitionsResponse)
	v := b.cl().currentView()
	cursorTopic, cursorPartition := "", int32(0)
	if r.Cursor != nil {
		cursorTopic, cursorPartition = r.Cursor.Topic, r.Cursor.Partition
	}
	all := len(r.Topics) == 0
	seen := map[string]bool{}
	var names []string
	if all {
		for _, t := range v.topics {
			if t.Name >= cursorTopic {
				names = append(names, t.Name)
			}
		}
	} else {
		for _, rt := range r.Topics {
			if rt.Topic >= cursorTopic && !seen[rt.Topic] {
				seen[rt.Topic] = true
				names = append(names, rt.Topic)
			}
		}
		if r.Cursor != nil && !seen[cursorTopic] {
			// Kafka throws InvalidRequestException: every topic asked
			// for gets the error.
			for _, rt := range r.Topics {
				t := kmsg.NewDescribeTopicPartitionsResponseTopic()
				t.ErrorCode, t.Topic = kerr.InvalidRequest.Code, kmsg.StringPtr(rt.Topic)
				t.AuthorizedOperations = opsNotRequested
				resp.Topics = append(resp.Topics, t)
			}
			return resp, nil
		}
	}
	sort.Strings(names)
	remaining := min(int(r.ResponsePartitionLimit), maxDescribePartitions)
	for _, name := range names {
		if remaining == 0 {
			resp.NextCursor = &kmsg.DescribeTopicPartitionsResponseNextCursor{Topic: name, Partition: 0}
			break
		}
		if remaining < 0 {
			break
		}
		vt, ok := v.byName[name]
		if !ok {
			if !all {
				t := kmsg.NewDescribeTopicPartitionsResponseTopic()
				t.ErrorCode, t.Topic = kerr.UnknownTopicOrPartition.Code, kmsg.StringPtr(name)
				if !validTopicName(name) {
					t.ErrorCode = kerr.InvalidTopicException.Code
				}
				t.IsInternal = internalTopics[name]
				t.AuthorizedOperations = topicOps
				resp.Topics = append(resp.Topics, t)
			}
			continue
		}
		start := int32(0)
		if name == cursorTopic {
			start = cursorPartition
		}
		mt := b.viewTopicMetadata(v, vt)
		t := kmsg.NewDescribeTopicPartitionsResponseTopic()
		t.Topic, t.TopicID, t.IsInternal = kmsg.StringPtr(name), vt.ID, vt.Internal
		t.AuthorizedOperations = topicOps
		upper := min(int(vt.Partitions), int(start)+remaining)
		for p := int(max(start, 0)); p < upper; p++ {
			mp := mt.Partitions[p]
			dp := kmsg.NewDescribeTopicPartitionsResponseTopicPartition()
			dp.ErrorCode, dp.Partition = mp.ErrorCode, mp.Partition
			dp.LeaderID, dp.LeaderEpoch = mp.Leader, mp.LeaderEpoch
			dp.Replicas, dp.ISR, dp.OfflineReplicas = mp.Replicas, mp.ISR, mp.OfflineReplicas
			dp.EligibleLeaderReplicas, dp.LastKnownELR = []int32{}, []int32{}
			t.Partitions = append(t.Partitions, dp)
		}
		resp.Topics = append(resp.Topics, t)
		if upper < int(vt.Partitions) {
			resp.NextCursor = &kmsg.DescribeTopicPartitionsResponseNextCursor{Topic: name, Partition: int32(upper)}
			break
		}
		remaining -= len(t.Partitions)
	}
	return resp, nil
}
