package broker

// Errors to Kafka error codes: the one mapping.
//
// Every handler turns an error into a response's ErrorCode (and
// ErrorMessage, for responses that carry one) through errorCode and
// errorMessage, so one condition gets one code whatever API met it (a
// closed store was once NOT_LEADER_OR_FOLLOWER for Produce and
// KAFKA_STORAGE_ERROR for admin requests). The mapping of storage errors
// itself is kafkaerr.Code, shared with the group coordinator, which answers
// a failed state write with kafkaerr.Coordinator. TestOneErrorMapping fails
// when another file tests for a storage sentinel itself.

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/gregor-broker/gregor/broker/internal/kafkaerr"
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

// errorCode is the Kafka error code for err: an apiError or a rejected
// batch carries its own; anything else goes through kafkaerr.Code, the
// mapping the group coordinator shares (storage sentinels, *kerr.Error,
// else UNKNOWN_SERVER_ERROR). nil is 0.
func errorCode(err error) int16 {
	var (
		ae *apiError
		be *batchError
	)
	switch {
	case errors.As(err, &ae):
		return ae.err.Code
	case errors.As(err, &be):
		return be.code
	default:
		return kafkaerr.Code(err)
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
