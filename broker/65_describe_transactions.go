package broker

// DescribeTransactions (key 65), version 0.
//
// Describes transactional ids as their coordinator holds them (broker/txn).
//
// Behaviour:
//   - State name as Kafka's, timeout, start time (of the open transaction,
//     else of the last one; -1 when none began since InitProducerId; an
//     id answered with an error has 0s, as Kafka leaves them), producer id and epoch, and the partitions of the open
//     transaction, with, for each group whose offsets it commits, the
//     group's __consumer_offsets partition (as Kafka adds it).
//   - NOT_COORDINATOR for an id another broker coordinates;
//     TRANSACTIONAL_ID_NOT_FOUND for an id never initialised.
//
// Versions:
//   - v0 only, as in Kafka 4.

import (
	"context"

	"github.com/gregor-broker/gregor/broker/group"
	"github.com/gregor-broker/gregor/broker/txn"
	"github.com/gregor-broker/gregor/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.DescribeTransactions, 0, 0, handleDescribeTransactions) }

func handleDescribeTransactions(ctx context.Context, b *Broker, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.DescribeTransactionsRequest)
	resp := r.ResponseKind().(*kmsg.DescribeTransactionsResponse)
	for _, id := range r.TransactionalIDs {
		st := kmsg.NewDescribeTransactionsResponseTransactionState()
		st.TransactionalID = id
		c, code := b.validateTxn(ctx, id)
		var m *txn.Metadata
		if code == 0 {
			if m = c.Describe(id); m == nil {
				code = kerr.TransactionalIDNotFound.Code
			}
		}
		if code != 0 {
			st.ErrorCode = code
			resp.TransactionStates = append(resp.TransactionStates, st)
			continue
		}
		st.State, st.TimeoutMillis = m.State.String(), m.TimeoutMs
		st.ProducerID, st.ProducerEpoch = m.ProducerID, m.Epoch
		st.StartTimestamp = -1 // no transaction since the id's producer was initialised
		if m.StartMs > 0 {
			st.StartTimestamp = m.StartMs // the open one's, else the last one's, as in Kafka
		}
		parts := m.Partitions
		for _, g := range m.Groups {
			parts = append(parts, txn.TopicPartition{Topic: offsetsTopic, Partition: group.PartitionFor(g, offsetsPartitions)})
		}
		for _, p := range parts {
			i := len(st.Topics) - 1
			for j := range st.Topics {
				if st.Topics[j].Topic == p.Topic {
					i = j
				}
			}
			if i < 0 || st.Topics[i].Topic != p.Topic {
				st.Topics = append(st.Topics, kmsg.DescribeTransactionsResponseTransactionStateTopic{Topic: p.Topic})
				i = len(st.Topics) - 1
			}
			st.Topics[i].Partitions = append(st.Topics[i].Partitions, p.Partition)
		}
		resp.TransactionStates = append(resp.TransactionStates, st)
	}
	return resp, nil
}
