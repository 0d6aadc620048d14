package broker

// DescribeTransactions (key 65), version 0.
//
// Describes transactional ids as their coordinator holds them (broker/txn).
//
// Behaviour:
//   - State name as Kafka's, timeout, start time (-1 when no transaction is
//     open), producer id and epoch, and the partitions of the open
//     transaction.
//   - NOT_COORDINATOR for an id another broker coordinates;
//     TRANSACTIONAL_ID_NOT_FOUND for an id never initialised.
//
// Versions:
//   - v0 only, as in Kafka 4.

import (
	"context"

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
		st.ProducerID, st.ProducerEpoch, st.StartTimestamp = -1, -1, -1
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
		if m.State == txn.Ongoing || m.State == txn.PrepareCommit || m.State == txn.PrepareAbort {
			st.StartTimestamp = m.StartMs
		}
		for _, p := range m.Partitions {
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
