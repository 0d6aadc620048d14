package broker

// TxnOffsetCommit (key 28), versions 0–6.
//
// Commits a consumer group's offsets inside a transaction.
//
// Behaviour:
//   - Sent to the group's coordinator: the offsets are kept as pending for
//     the producer (broker/group/txn.go) and committed or dropped when the
//     transaction's marker for the group arrives; OffsetFetch does not see
//     them before.
//   - NOT_COORDINATOR when another broker coordinates the group; unknown
//     partitions get UNKNOWN_TOPIC_OR_PARTITION.
//
// Versions:
//   - v3+: a member id and generation, when given, are checked as
//     OffsetCommit checks them (UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION,
//     FENCED_INSTANCE_ID: KIP-447).
//   - v4 is v3 (KIP-890 bumped it for clients).
//   - v5+ (KIP-890 part 2, transaction.version 2): the group is added to the
//     producer's transaction first, as AddOffsetsToTxn adds it (the client
//     sends no AddOffsetsToTxn), at the transaction coordinator: this
//     broker, or the master of another broker group asked with
//     AddOffsetsToTxn. Its refusal is every partition's error, mapped as
//     Kafka maps it: PRODUCER_FENCED as INVALID_PRODUCER_EPOCH,
//     CONCURRENT_TRANSACTIONS and an unreachable coordinator as
//     COORDINATOR_NOT_AVAILABLE (retriable).
//   - v6 names topics by id (KIP-1319); an id this cluster does not know
//     gets UNKNOWN_TOPIC_ID.

import (
	"context"

	"github.com/gregor-broker/gregor/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.TxnOffsetCommit, 0, 6, handleTxnOffsetCommit) }

func handleTxnOffsetCommit(ctx context.Context, b *Broker, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.TxnOffsetCommitRequest)
	g, code := b.validateGroup(ctx, r.Group)
	if code == 0 && r.Version >= 5 {
		code = b.txnAddGroup(ctx, r.TransactionalID, r.ProducerID, r.ProducerEpoch, r.Group)
	}
	var unknownIDs []kmsg.TxnOffsetCommitResponseTopic
	if code == 0 && r.Version >= 6 {
		// By id: the group coordinator files offsets by name.
		known := r.Topics[:0]
		for _, t := range r.Topics {
			if tp, ok := b.topicByID(t.TopicID); ok {
				t.Topic = tp.Name
				known = append(known, t)
			} else {
				unknownIDs = append(unknownIDs, txnOffsetTopicError(t, kerr.UnknownTopicID.Code))
			}
		}
		r.Topics = known
	}
	if code == 0 {
		resp := g.TxnOffsetCommit(r, b.groupTopics)
		if r.Version >= 6 {
			for i := range resp.Topics {
				resp.Topics[i].TopicID = r.Topics[i].TopicID
			}
			resp.Topics = append(unknownIDs, resp.Topics...) // Kafka answers them first
		}
		return resp, nil
	}
	resp := r.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
	for _, t := range r.Topics {
		resp.Topics = append(resp.Topics, txnOffsetTopicError(t, code))
	}
	return resp, nil
}

// txnOffsetTopicError answers every partition of t with code.
func txnOffsetTopicError(t kmsg.TxnOffsetCommitRequestTopic, code int16) kmsg.TxnOffsetCommitResponseTopic {
	rt := kmsg.NewTxnOffsetCommitResponseTopic()
	rt.Topic, rt.TopicID = t.Topic, t.TopicID
	for _, p := range t.Partitions {
		rp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
		rp.Partition, rp.ErrorCode = p.Partition, code
		rt.Partitions = append(rt.Partitions, rp)
	}
	return rt
}

// txnAddGroup adds group to the open transaction of id (TxnOffsetCommit
// v5+) at its coordinator, here or on another broker group; a Kafka error
// code for the TxnOffsetCommit answer, 0 when added.
func (b *Broker) txnAddGroup(ctx context.Context, id string, pid int64, epoch int16, group string) int16 {
	var kErr *kerr.Error
	c, code := b.validateTxn(ctx, id)
	switch {
	case code == 0:
		kErr = c.AddOffsets(id, pid, epoch, group)
	case code == kerr.NotCoordinator.Code:
		m, code := b.txnCoordinatorFor(ctx, id, false)
		if code != 0 || m == nil {
			return kerr.CoordinatorNotAvailable.Code
		}
		req := kmsg.NewPtrAddOffsetsToTxnRequest()
		req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Group = id, pid, epoch, group
		resp, err := b.cl().send(ctx, m, req)
		if err != nil {
			b.log.Warn("adding a group to a transaction at its coordinator", logErr(err))
			return kerr.CoordinatorNotAvailable.Code
		}
		if ec := resp.(*kmsg.AddOffsetsToTxnResponse).ErrorCode; ec != 0 {
			kErr = kerr.ErrorForCode(ec).(*kerr.Error)
		}
	default:
		return kerr.CoordinatorNotAvailable.Code
	}
	switch kErr {
	case nil:
		return 0
	case kerr.ProducerFenced:
		return kerr.InvalidProducerEpoch.Code
	case kerr.ConcurrentTransactions, kerr.NotCoordinator, kerr.CoordinatorLoadInProgress:
		return kerr.CoordinatorNotAvailable.Code
	}
	return kErr.Code
}
