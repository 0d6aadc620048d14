package broker

// Errors to Kafka error codes: the one mapping.
//
// Every handler turns an error into a response's ErrorCode (and
// ErrorMessage, for responses that carry one) through errorCode and
// errorMessage, so one condition gets one code whatever API met it (a
// closed store was once NOT_LEADER_OR_FOLLOWER for Produce and
// KAFKA_STORAGE_ERROR for admin requests). TestOneErrorMapping fails when
// a file of this package tests for a storage sentinel itself.

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/gregor-broker/gregor/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"go.uber.org/zap"
)

// apiError is a Kafka error code with Kafka's message for it. errors.Is
// matches the *kerr.Error, so callers can test for e.g.
// kerr.InvalidTopicException.
type apiError struct {
	err *kerr.Error
	msg string
}

func (e *apiError) Error() string { return e.err.Message + ": " + e.msg }
func (e *apiError) Unwrap() error { return e.err }

func apiErrorf(err *kerr.Error, format string, args ...any) *apiError {
	return &apiError{err: err, msg: fmt.Sprintf(format, args...)}
}

// errorCode is the Kafka error code for err, the code a Kafka 4 broker
// returns for the same condition: an apiError or a rejected batch carries
// its own, a storage sentinel (also wrapped) maps to its Kafka equivalent,
// a *kerr.Error is itself, anything else is UNKNOWN_SERVER_ERROR. nil is 0.
func errorCode(err error) int16 {
	var (
		ae *apiError
		be *batchError
		ke *kerr.Error
	)
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ae):
		return ae.err.Code
	case errors.As(err, &be):
		return be.code
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

// errorMessage is the ErrorMessage for err: an apiError's own text (Kafka's
// wording), else err's. nil for nil.
func errorMessage(err error) *string {
	if err == nil {
		return nil
	}
	s := err.Error()
	var ae *apiError
	if errors.As(err, &ae) {
		s = ae.msg
	}
	return &s
}

// isCode reports whether err carries the Kafka error want.
func isCode(err error, want *kerr.Error) bool { return errorCode(err) == want.Code }

func logPart(topic string, partition int32) zap.Field {
	return zap.String("partition", topic+"/"+strconv.Itoa(int(partition)))
}

func logErr(err error) zap.Field { return zap.Error(err) }

// errNeedBootstrap is what the store's stand-in for Truncate answers until
// the store truncates itself (replication.go): replication then bootstraps.
var errNeedBootstrap = storage.ErrNeedBootstrap
