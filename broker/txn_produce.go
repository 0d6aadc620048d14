package broker

// Produce and transactions: a transactional batch (attributes bit 4) must
// come with the request's transactional id (else
// TRANSACTIONAL_ID_AUTHORIZATION_FAILED, Kafka's answer), and its
// partition must be in its producer's open transaction, which the
// transaction coordinator decides before anything of the request is
// appended (txnProduceVerify, called by handleProduce before it takes the
// gate):
//
//   - Produce v12+ (KIP-890 part 2, transaction.version 2): the partition
//     is added to the transaction (the client sends no AddPartitionsToTxn).
//     A client at transaction.version 1 added it already; adding again is
//     a no-op, as in Kafka, which decides by the request's version too.
//   - Produce v3–v11: the partition must already be in it (Kafka's
//     transaction.partition.verification.enable, KIP-890 part 1):
//     INVALID_TXN_STATE otherwise (TRANSACTION_ABORTABLE from v11 when the
//     coordinator is on another broker group, as Kafka answers).
//
// The coordinator is this broker (broker/txn, called directly) or the
// master of another broker group, asked with AddPartitionsToTxn v4+ (one
// transaction, VerifyOnly for v3–v11), as Kafka's AddPartitionsToTxnManager
// does. Its answers reach the producer as Kafka maps them: PRODUCER_FENCED
// becomes INVALID_PRODUCER_EPOCH; CONCURRENT_TRANSACTIONS and an
// unreachable or moving coordinator become NOT_ENOUGH_REPLICAS (retriable
// for every client, with the underlying error in the message).

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/gregor-broker/gregor/broker/txn"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// txnVerdicts is the coordinator's answer for each partition of a
// transactional Produce request: nil to append, else the error.
type txnVerdicts map[txn.TopicPartition]*kerr.Error

// txnProduceVerify asks the transaction coordinator about every partition
// of r holding a transactional batch this broker would append (a known
// partition it leads), adding them to the transaction from Produce v12.
// nil when r has none.
func (b *Broker) txnProduceVerify(ctx context.Context, r *kmsg.ProduceRequest) txnVerdicts {
	if r.TransactionID == nil {
		return nil
	}
	id := *r.TransactionID
	type producer struct {
		pid   int64
		epoch int16
	}
	parts := map[producer][]txn.TopicPartition{}
	var order []producer
	for _, rt := range r.Topics {
		var t *Topic
		var ok bool
		if r.Version >= 13 {
			t, ok = b.topicByID(rt.TopicID)
		} else {
			t, ok = b.topics.Get(rt.Topic)
		}
		if !ok || t.Internal {
			continue
		}
		for _, rp := range rt.Partitions {
			batch := rp.Records
			if len(batch) < bRecordCount || binary.BigEndian.Uint16(batch[bAttributes:])&attrTransactional == 0 ||
				rp.Partition < 0 || rp.Partition >= t.Partitions || b.notLeader(t.Name, rt.TopicID, rp.Partition) {
				continue
			}
			p := producer{int64(binary.BigEndian.Uint64(batch[bProducerID:])), int16(binary.BigEndian.Uint16(batch[bProducerEpoch:]))}
			if _, seen := parts[p]; !seen {
				order = append(order, p)
			}
			parts[p] = append(parts[p], txn.TopicPartition{Topic: t.Name, Partition: rp.Partition})
		}
	}
	if len(order) == 0 {
		return nil
	}
	add := r.Version >= 12
	out := txnVerdicts{}
	c, code := b.validateTxn(ctx, id)
	for _, p := range order {
		tps := parts[p]
		var each map[txn.TopicPartition]*kerr.Error
		var all *kerr.Error
		switch {
		case code == 0 && add:
			all = c.AddPartitions(id, p.pid, p.epoch, tps)
		case code == 0:
			each = map[txn.TopicPartition]*kerr.Error{}
			for _, tp := range tps {
				kErr, known := c.Verify(id, p.pid, p.epoch, tp)
				if known && kErr == kerr.InvalidProducerIDMapping {
					kErr = kerr.InvalidTxnState
				}
				each[tp] = kErr
			}
		case code == kerr.NotCoordinator.Code:
			each, all = b.txnPartitionsRemote(ctx, id, p.pid, p.epoch, tps, !add)
		default:
			all = kerr.ErrorForCode(code).(*kerr.Error)
		}
		for _, tp := range tps {
			if all != nil {
				out[tp] = all
			} else {
				out[tp] = each[tp]
			}
		}
	}
	return out
}

// txnPartitionsRemote adds (or, verifyOnly, verifies) partitions of a
// transaction at its coordinator on another broker group, with
// AddPartitionsToTxn v4+ as Kafka's brokers send it.
func (b *Broker) txnPartitionsRemote(ctx context.Context, id string, pid int64, epoch int16, tps []txn.TopicPartition, verifyOnly bool) (map[txn.TopicPartition]*kerr.Error, *kerr.Error) {
	m, code := b.txnCoordinatorFor(ctx, id, false)
	if code != 0 || m == nil {
		return nil, kerr.CoordinatorNotAvailable
	}
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	tr := kmsg.NewAddPartitionsToTxnRequestTransaction()
	tr.TransactionalID, tr.ProducerID, tr.ProducerEpoch, tr.VerifyOnly = id, pid, epoch, verifyOnly
	for _, tp := range tps {
		i := len(tr.Topics)
		for j := range tr.Topics {
			if tr.Topics[j].Topic == tp.Topic {
				i = j
			}
		}
		if i == len(tr.Topics) {
			tr.Topics = append(tr.Topics, kmsg.AddPartitionsToTxnRequestTransactionTopic{Topic: tp.Topic})
		}
		tr.Topics[i].Partitions = append(tr.Topics[i].Partitions, tp.Partition)
	}
	req.Transactions = append(req.Transactions, tr)
	kr, err := b.cl().send(ctx, m, req)
	if err != nil {
		b.log.Warn("asking the transaction coordinator about partitions", logErr(err))
		return nil, kerr.NetworkException
	}
	resp := kr.(*kmsg.AddPartitionsToTxnResponse)
	if resp.ErrorCode != 0 {
		if resp.ErrorCode == kerr.ClusterAuthorizationFailed.Code {
			return nil, kerr.InvalidTxnState // never shown to a client, as in Kafka
		}
		return nil, kerr.ErrorForCode(resp.ErrorCode).(*kerr.Error)
	}
	each := map[txn.TopicPartition]*kerr.Error{}
	for _, rt := range resp.Transactions {
		for _, t := range rt.Topics {
			for _, p := range t.Partitions {
				if p.ErrorCode != 0 {
					each[txn.TopicPartition{Topic: t.Topic, Partition: p.Partition}] = kerr.ErrorForCode(p.ErrorCode).(*kerr.Error)
				}
			}
		}
	}
	return each, nil
}

// txnProduceRejected checks a partition's batch against its transaction
// (v, from txnProduceVerify) and, when it is refused, fills sp and reports
// true.
func (b *Broker) txnProduceRejected(v txnVerdicts, version int16, txnID *string, topic string, partition int32, batch []byte, sp *kmsg.ProduceResponseTopicPartition) bool {
	if len(batch) < bRecordCount || binary.BigEndian.Uint16(batch[bAttributes:])&attrTransactional == 0 {
		return false
	}
	if txnID == nil {
		sp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		sp.ErrorMessage = kmsg.StringPtr("a transactional batch needs the request's transactional id")
		return true
	}
	kErr := v[txn.TopicPartition{Topic: topic, Partition: partition}]
	if kErr == nil {
		return false
	}
	switch kErr {
	case kerr.ProducerFenced:
		kErr = kerr.InvalidProducerEpoch
	case kerr.TransactionAbortable:
		if version < 11 {
			kErr = kerr.InvalidTxnState
		}
	case kerr.ConcurrentTransactions, kerr.NetworkException, kerr.CoordinatorLoadInProgress, kerr.CoordinatorNotAvailable, kerr.NotCoordinator:
		sp.ErrorCode = kerr.NotEnoughReplicas.Code
		sp.ErrorMessage = kmsg.StringPtr(fmt.Sprintf("Unable to verify the partition has been added to the transaction. Underlying error: %s", kErr.Message))
		return true
	}
	sp.ErrorCode = kErr.Code
	sp.ErrorMessage = kmsg.StringPtr("the partition is not in an open transaction of this producer")
	return true
}
