// Package kafkaerr maps errors to Kafka error codes: the one mapping that
// package broker's handlers (through errorCode, which adds the broker's own
// error types) and the group coordinator (package broker/group) use, so one
// condition gets one code whatever API met it.
package kafkaerr

import (
	"errors"

	"github.com/gregor-broker/gregor/storage"
	"github.com/twmb/franz-go/pkg/kerr"
)

// Code is the Kafka error code for err, the code a Kafka 4 broker returns
// for the same condition: a storage sentinel (also wrapped) maps to its
// Kafka equivalent, a *kerr.Error is itself, anything else is
// UNKNOWN_SERVER_ERROR. nil is 0.
func Code(err error) int16 {
	var ke *kerr.Error
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
		// The log directory failed (Kafka's KafkaStorageException).
		return kerr.KafkaStorageError.Code
	case errors.Is(err, storage.ErrClosed):
		// The broker is shutting down and stops leading: a retriable
		// code that sends the client to refresh metadata and try again
		// elsewhere, whatever the request.
		return kerr.NotLeaderForPartition.Code
	case errors.As(err, &ke):
		return ke.Code
	default:
		return kerr.UnknownServerError.Code
	}
}

// Coordinator is the code a group coordinator answers when writing the
// group's state (offsets, metadata) failed with err: Code, normalized as
// Kafka 4's GroupCoordinatorService.normalizeException does, so the client
// looks for the coordinator again where Kafka's would: a failed or closed
// log is NOT_COORDINATOR, an unknown partition or a timeout
// COORDINATOR_NOT_AVAILABLE, a record too large UNKNOWN_SERVER_ERROR.
func Coordinator(err error) int16 {
	switch c := Code(err); c {
	case kerr.UnknownTopicOrPartition.Code, kerr.NotEnoughReplicas.Code, kerr.RequestTimedOut.Code:
		return kerr.CoordinatorNotAvailable.Code
	case kerr.NotLeaderForPartition.Code, kerr.KafkaStorageError.Code:
		return kerr.NotCoordinator.Code
	case kerr.MessageTooLarge.Code, kerr.RecordListTooLarge.Code, kerr.InvalidFetchSize.Code:
		return kerr.UnknownServerError.Code
	default:
		return c
	}
}
