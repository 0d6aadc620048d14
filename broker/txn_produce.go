package broker

// Produce and transactions: a transactional batch (attributes bit 4) must
// come with the request's transactional id (else
// TRANSACTIONAL_ID_AUTHORIZATION_FAILED, Kafka's answer), and when this
// broker coordinates that id, its producer must have an open transaction
// that includes the partition: INVALID_TXN_STATE otherwise, or
// INVALID_PRODUCER_EPOCH for a fenced epoch. That is Kafka's partition
// verification (KIP-890 part 1, transaction.partition.verification.enable)
// done locally; a batch whose coordinator is on another broker group is
// checked by the store's epoch fencing only.

import (
	"context"
	"encoding/binary"

	"github.com/gregor-broker/gregor/broker/txn"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// txnProduceRejected checks a partition's batch against its transaction
// and, when it is refused, fills sp and reports true.
func (b *Broker) txnProduceRejected(ctx context.Context, txnID *string, topic string, partition int32, batch []byte, sp *kmsg.ProduceResponseTopicPartition) bool {
	if len(batch) < bRecordCount || binary.BigEndian.Uint16(batch[bAttributes:])&attrTransactional == 0 {
		return false
	}
	if txnID == nil {
		sp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		sp.ErrorMessage = kmsg.StringPtr("a transactional batch needs the request's transactional id")
		return true
	}
	c, code := b.validateTxn(ctx, *txnID)
	if code != 0 {
		return false // coordinated elsewhere
	}
	pid := int64(binary.BigEndian.Uint64(batch[bProducerID:]))
	epoch := int16(binary.BigEndian.Uint16(batch[bProducerEpoch:]))
	kErr, known := c.Verify(*txnID, pid, epoch, txn.TopicPartition{Topic: topic, Partition: partition})
	if !known || kErr == nil {
		return false
	}
	sp.ErrorCode = kErr.Code
	if kErr == kerr.InvalidProducerIDMapping {
		sp.ErrorCode = kerr.InvalidTxnState.Code
	}
	sp.ErrorMessage = kmsg.StringPtr("the partition is not in an open transaction of this producer")
	return true
}
