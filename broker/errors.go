package broker

import (
	"errors"
	"strconv"

	"github.com/gregor-broker/gregor/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"go.uber.org/zap"
)

// errorCode maps a storage error to the Kafka error code a Kafka 4 broker
// returns for the same condition. nil maps to 0.
func errorCode(err error) int16 {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, storage.ErrUnknownPartition):
		return kerr.UnknownTopicOrPartition.Code
	case errors.Is(err, storage.ErrOffsetOutOfRange):
		return kerr.OffsetOutOfRange.Code
	case errors.Is(err, storage.ErrCorruptBatch):
		return kerr.CorruptMessage.Code
	case errors.Is(err, storage.ErrBatchTooLarge):
		return kerr.MessageTooLarge.Code
	case errors.Is(err, storage.ErrOutOfOrderSequence):
		return kerr.OutOfOrderSequenceNumber.Code
	case errors.Is(err, storage.ErrInvalidProducerEpoch):
		return kerr.InvalidProducerEpoch.Code
	case errors.Is(err, storage.ErrDiskFull), errors.Is(err, storage.ErrBroken):
		return kerr.KafkaStorageError.Code
	case errors.Is(err, storage.ErrClosed):
		// The broker is shutting down: a retriable code sends the
		// client to refresh metadata and try again.
		return kerr.NotLeaderForPartition.Code
	default:
		return kerr.UnknownServerError.Code
	}
}

// errorMessage is the error text for responses that carry one.
func errorMessage(err error) *string {
	if err == nil {
		return nil
	}
	s := err.Error()
	return &s
}

func logPart(topic string, partition int32) zap.Field {
	return zap.String("partition", topic+"/"+strconv.Itoa(int(partition)))
}

func logErr(err error) zap.Field { return zap.Error(err) }
