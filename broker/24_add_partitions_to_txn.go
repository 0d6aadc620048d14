package broker

// AddPartitionsToTxn (key 24), versions 0–5.
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
//   - v3: flexible encoding.
//   - v4+ (brokers only; CLUSTER_ACTION, acl_txn.go): several transactions
//     in one request, each answered on its own. VerifyOnly asks whether
//     the partitions are in the producer's open transaction (each one not
//     in it gets TRANSACTION_ABORTABLE; a producer not holding the id gets
//     its error on every partition), else they are added as in v0–v3. A
//     leader whose transactional id is coordinated by another broker group
//     sends these from Produce (txn_produce.go). v5 is v4 (KIP-890 lets its
//     senders receive TRANSACTION_ABORTABLE).

import (
	"context"

	"github.com/gregor-broker/gregor/broker/txn"
	"github.com/gregor-broker/gregor/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.AddPartitionsToTxn, 0, 5, handleAddPartitionsToTxn) }

func handleAddPartitionsToTxn(ctx context.Context, b *Broker, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.AddPartitionsToTxnRequest)
	resp := r.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	if r.Version >= 4 {
		for _, tr := range r.Transactions {
			resp.Transactions = append(resp.Transactions, b.addPartitionsBatched(ctx, tr))
		}
		return resp, nil
	}
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

// addPartitionsBatched answers one transaction of an AddPartitionsToTxn
// v4+ request.
func (b *Broker) addPartitionsBatched(ctx context.Context, tr kmsg.AddPartitionsToTxnRequestTransaction) kmsg.AddPartitionsToTxnResponseTransaction {
	var parts []txn.TopicPartition
	for _, t := range tr.Topics {
		for _, p := range t.Partitions {
			parts = append(parts, txn.TopicPartition{Topic: t.Topic, Partition: p})
		}
	}
	var all *kerr.Error
	var each map[txn.TopicPartition]*kerr.Error
	c, code := b.validateTxn(ctx, tr.TransactionalID)
	switch {
	case code != 0:
		all = kerr.ErrorForCode(code).(*kerr.Error)
	case tr.VerifyOnly:
		each, all = c.VerifyPartitions(tr.TransactionalID, tr.ProducerID, tr.ProducerEpoch, parts)
	default:
		all = c.AddPartitions(tr.TransactionalID, tr.ProducerID, tr.ProducerEpoch, parts)
	}
	rt := kmsg.NewAddPartitionsToTxnResponseTransaction()
	rt.TransactionalID = tr.TransactionalID
	for _, t := range tr.Topics {
		rtt := kmsg.NewAddPartitionsToTxnResponseTransactionTopic()
		rtt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewAddPartitionsToTxnResponseTransactionTopicPartition()
			rp.Partition = p
			if e := all; e != nil || each != nil {
				if e == nil {
					e = each[txn.TopicPartition{Topic: t.Topic, Partition: p}]
				}
				if e != nil {
					rp.ErrorCode = e.Code
				}
			}
			rtt.Partitions = append(rtt.Partitions, rp)
		}
		rt.Topics = append(rt.Topics, rtt)
	}
	return rt
}
