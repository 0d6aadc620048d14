package kafkaerr

import (
	"errors"
	"fmt"
	"testing"

	"github.com/gregor-broker/gregor/storage"
	"github.com/twmb/franz-go/pkg/kerr"
)

// A failed state write answers what Kafka 4's group coordinator answers
// (GroupCoordinatorService.normalizeException over the error's code).
func TestCoordinator(t *testing.T) {
	for _, c := range []struct {
		err  error
		code int16
	}{
		{storage.ErrBroken, kerr.NotCoordinator.Code},
		{fmt.Errorf("%w: fsync: input/output error", storage.ErrBroken), kerr.NotCoordinator.Code},
		{storage.ErrDiskFull, kerr.NotCoordinator.Code},
		{storage.ErrClosed, kerr.NotCoordinator.Code},
		{storage.ErrUnknownPartition, kerr.CoordinatorNotAvailable.Code},
		{kerr.RequestTimedOut, kerr.CoordinatorNotAvailable.Code},
		{kerr.NotEnoughReplicas, kerr.CoordinatorNotAvailable.Code},
		{storage.ErrBatchTooLarge, kerr.UnknownServerError.Code},
		{errors.New("a bug"), kerr.UnknownServerError.Code},
		{kerr.InvalidCommitOffsetSize, kerr.InvalidCommitOffsetSize.Code},
	} {
		if got := Coordinator(c.err); got != c.code {
			t.Errorf("Coordinator(%v) = %d, want %d", c.err, got, c.code)
		}
	}
}
