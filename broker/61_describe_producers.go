package broker

// DescribeProducers (key 61), version 0.
//
// Describes the producers of partitions as the store derived them
// (storage/txn.go).
//
// Behaviour:
//   - Producer id, epoch, last sequence, the time of its last batch and the
//     first offset of its open transaction (-1 when none); CoordinatorEpoch
//     is -1 (gregor's markers carry 0).
//   - Answered by the partition's leader: NOT_LEADER_OR_FOLLOWER elsewhere,
//     UNKNOWN_TOPIC_OR_PARTITION when it does not exist.
//
// Versions:
//   - v0 only, as in Kafka 4.

import (
	"context"

	"github.com/gregor-broker/gregor/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.DescribeProducers, 0, 0, handleDescribeProducers) }

func handleDescribeProducers(_ context.Context, b *Broker, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.DescribeProducersRequest)
	resp := r.ResponseKind().(*kmsg.DescribeProducersResponse)
	for _, rt := range r.Topics {
		st := kmsg.NewDescribeProducersResponseTopic()
		st.Topic = rt.Topic
		t, known := b.topics.Get(rt.Topic)
		for _, p := range rt.Partitions {
			sp := kmsg.NewDescribeProducersResponseTopicPartition()
			sp.Partition = p
			switch {
			case b.notLeader(rt.Topic, [16]byte{}, p):
				sp.ErrorCode = kerr.NotLeaderForPartition.Code
			case !known || p < 0 || p >= t.Partitions || b.store.Partition(t.ID, p) == nil:
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case !b.isMaster():
				sp.ErrorCode = kerr.NotLeaderForPartition.Code
			default:
				for _, pi := range b.store.Partition(t.ID, p).Producers() {
					ap := kmsg.NewDescribeProducersResponseTopicPartitionActiveProducer()
					ap.ProducerID, ap.ProducerEpoch, ap.LastSequence = pi.ProducerID, int32(pi.Epoch), pi.LastSequence
					ap.LastTimestamp, ap.CoordinatorEpoch, ap.CurrentTxnStartOffset = pi.LastTimestamp, -1, pi.TxnStart
					sp.ActiveProducers = append(sp.ActiveProducers, ap)
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}
