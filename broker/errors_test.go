package broker

import (
	"errors"
	"fmt"
	"testing"

	"github.com/gregor-broker/gregor/storage"
	"github.com/twmb/franz-go/pkg/kerr"
)

// Storage errors map to the codes Kafka 4 gives, also when wrapped.
func TestCoreErrorCodes(t *testing.T) {
	for _, c := range []struct {
		err  error
		code int16
	}{
		{nil, 0},
		{storage.ErrUnknownPartition, kerr.UnknownTopicOrPartition.Code},
		{storage.ErrOffsetOutOfRange, kerr.OffsetOutOfRange.Code},
		{storage.ErrCorruptBatch, kerr.CorruptMessage.Code},
		{storage.ErrBatchTooLarge, kerr.MessageTooLarge.Code},
		{storage.ErrOutOfOrderSequence, kerr.OutOfOrderSequenceNumber.Code},
		{storage.ErrInvalidProducerEpoch, kerr.InvalidProducerEpoch.Code},
		{storage.ErrDiskFull, kerr.KafkaStorageError.Code},
		{fmt.Errorf("%w: write: input/output error", storage.ErrBroken), kerr.KafkaStorageError.Code},
		{storage.ErrClosed, kerr.NotLeaderForPartition.Code},
		{errors.New("something else"), kerr.UnknownServerError.Code},
	} {
		if got := errorCode(c.err); got != c.code {
			t.Errorf("errorCode(%v) = %d, want %d", c.err, got, c.code)
		}
	}
}
