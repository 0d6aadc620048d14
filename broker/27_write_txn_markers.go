package broker

// WriteTxnMarkers (key 27), versions 1–2.
//
// Inter-broker: a transaction coordinator on another broker group asks this
// master to end a transaction on the partitions it owns.
//
// Behaviour:
//   - Writes commit or abort markers (writeMarker, txn_coordination.go),
//     and for a partition of __consumer_offsets commits or drops the
//     producer's pending offsets of the groups filed under it
//     (broker/group/txn.go).
//   - Per partition: NOT_LEADER_OR_FOLLOWER when this broker is not its
//     leader, UNKNOWN_TOPIC_OR_PARTITION when it does not exist.
//   - replication.mode=sync: answered once the in-sync slaves hold the
//     markers (txnAwaitInSync), else NOT_ENOUGH_REPLICAS_AFTER_APPEND and
//     the coordinator writes them again.
//
// Versions:
//   - v1: flexible encoding (v0 is gone from Kafka 4).
//   - v2 (KIP-1228): each marker names its transaction.version. At every
//     version a marker whose epoch is below the producer's epoch on the
//     partition is stale (INVALID_PRODUCER_EPOCH, nothing written); Kafka
//     4.4.0 takes a level-2 marker at the partition's epoch too (compared
//     in compat_test's TestTxnVersionsMatchKafka), and so does gregor.

import (
	"context"

	"github.com/gregor-broker/gregor/broker/group"
	"github.com/gregor-broker/gregor/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.WriteTxnMarkers, 1, 2, handleWriteTxnMarkers) }

func handleWriteTxnMarkers(ctx context.Context, b *Broker, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.WriteTxnMarkersRequest)
	resp := r.ResponseKind().(*kmsg.WriteTxnMarkersResponse)
	for _, mk := range r.Markers {
		rm := kmsg.NewWriteTxnMarkersResponseMarker()
		rm.ProducerID = mk.ProducerID
		for _, t := range mk.Topics {
			rt := kmsg.NewWriteTxnMarkersResponseMarkerTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewWriteTxnMarkersResponseMarkerTopicPartition()
				rp.Partition = p
				switch {
				case t.Topic == offsetsTopic:
					if err := b.completeTxnOffsets(mk.ProducerID, mk.Committed, func(g string) bool {
						return group.PartitionFor(g, offsetsPartitions) == p
					}); err != nil {
						rp.ErrorCode = kerr.NotCoordinator.Code
					}
				case b.notLeader(t.Topic, [16]byte{}, p):
					rp.ErrorCode = kerr.NotLeaderForPartition.Code
				default:
					rp.ErrorCode = b.writeMarker(t.Topic, p, mk.ProducerID, mk.ProducerEpoch, mk.Committed, mk.TransactionVersion)
				}
				rt.Partitions = append(rt.Partitions, rp)
			}
			rm.Topics = append(rm.Topics, rt)
		}
		resp.Markers = append(resp.Markers, rm)
	}
	if !b.txnAwaitInSync(ctx) {
		// replication.mode=sync: not on the in-sync slaves yet; the
		// coordinator writes the markers again.
		for i := range resp.Markers {
			for j := range resp.Markers[i].Topics {
				for k := range resp.Markers[i].Topics[j].Partitions {
					if p := &resp.Markers[i].Topics[j].Partitions[k]; p.ErrorCode == 0 {
						p.ErrorCode = kerr.NotEnoughReplicasAfterAppend.Code
					}
				}
			}
		}
	}
	return resp, nil
}
