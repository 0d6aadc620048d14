package broker

// AddPartitionsToTxn (key 24), versions 0–3.
//
// Adds partitions to the open transaction of a transactional id
// (broker/txn).
//
// Behaviour:
//   - The transaction becomes Ongoing and holds the partitions; each gets a
//     marker when it ends.
//   - NOT_COORDINATOR when another broker coordinates the id;
//     INVALID_PRODUCER_ID_MAPPING for another producer id; PRODUCER_FENCED
//     for a stale epoch; CONCURRENT_TRANSACTIONS while the previous
//     transaction is being completed.
//   - An unknown partition gets UNKNOWN_TOPIC_OR_PARTITION and the others
//     OPERATION_NOT_ATTEMPTED, nothing added, as in Kafka.
//
// Versions:
//   - v0–v1: PRODUCER_FENCED is sent as INVALID_PRODUCER_EPOCH, as Kafka's
//     KafkaApis maps it for clients that predate the code.
//   - v3: flexible encoding. v4+ (Kafka's broker-to-broker verification)
//     are not offered: gregor verifies inside Produce (txn_produce.go).

import (
	"context"

	"github.com/gregor-broker/gregor/broker/txn"
	"github.com/gregor-broker/gregor/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.AddPartitionsToTxn, 0, 3, handleAddPartitionsToTxn) }

func handleAddPartitionsToTxn(ctx context.Context, b *Broker, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.AddPartitionsToTxnRequest)
	resp := r.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	var parts []txn.TopicPartition
	unknown := map[txn.TopicPartition]bool{}
	for _, t := range r.Topics {
		for _, p := range t.Partitions {
			tp := txn.TopicPartition{Topic: t.Topic, Partition: p}
			parts = append(parts, tp)
			if _, n, ok := b.groupTopics(t.Topic); !ok || p < 0 || p >= n {
				unknown[tp] = true
			}
		}
	}
	code := int16(0)
	c, code := b.validateTxn(ctx, r.TransactionalID)
	switch {
	case code != 0:
	case len(unknown) > 0:
		code = kerr.OperationNotAttempted.Code
	default:
		if kErr := c.AddPartitions(r.TransactionalID, r.ProducerID, r.ProducerEpoch, parts); kErr != nil {
			code = fencedCode(kErr, r.Version, 2)
		}
	}
	for _, t := range r.Topics {
		rt := kmsg.NewAddPartitionsToTxnResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
			rp.Partition = p
			rp.ErrorCode = code
			if unknown[txn.TopicPartition{Topic: t.Topic, Partition: p}] && code == kerr.OperationNotAttempted.Code {
				rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}

// fencedCode is a coordinator error as a request of this version carries
// it: PRODUCER_FENCED exists from the version named (Kafka's KafkaApis
// sends INVALID_PRODUCER_EPOCH to older clients).
func fencedCode(e *kerr.Error, version, fencedFrom int16) int16 {
	if e == kerr.ProducerFenced && version < fencedFrom {
		return kerr.InvalidProducerEpoch.Code
	}
	return e.Code
}
