package broker

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gregor-broker/gregor/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Errors map to the codes Kafka 4 gives, also when wrapped.
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
		{fmt.Errorf("creating t: %w", storage.ErrClosed), kerr.NotLeaderForPartition.Code},
		{apiErrorf(kerr.InvalidPartitions, "too many"), kerr.InvalidPartitions.Code},
		{fmt.Errorf("forwarded: %w", apiErrorf(kerr.PolicyViolation, "no")), kerr.PolicyViolation.Code},
		{reject(kerr.CorruptMessage.Code, "bad crc"), kerr.CorruptMessage.Code},
		{kerr.TopicAlreadyExists, kerr.TopicAlreadyExists.Code},
		{errors.New("something else"), kerr.UnknownServerError.Code},
	} {
		if got := errorCode(c.err); got != c.code {
			t.Errorf("errorCode(%v) = %d, want %d", c.err, got, c.code)
		}
	}
	if m := errorMessage(apiErrorf(kerr.InvalidPartitions, "Number of partitions %d", 3)); m == nil || *m != "Number of partitions 3" {
		t.Errorf("apiError message %v", m)
	}
	if m := errorMessage(nil); m != nil {
		t.Errorf("nil error has message %q", *m)
	}
}

// The mapping is written once (kafkaerr.Code): no file of package broker or
// broker/group tests an error against a storage sentinel itself (a second
// switch drifts, as one did: ErrClosed was NOT_LEADER_OR_FOLLOWER for
// Produce and KAFKA_STORAGE_ERROR for admin requests, and the group
// coordinator answered every failed write COORDINATOR_NOT_AVAILABLE).
func TestOneErrorMapping(t *testing.T) {
	var files []string
	for _, dir := range []string{".", "group"} {
		fs, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, fs...)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) != 2 {
				return true
			}
			if fn, ok := call.Fun.(*ast.SelectorExpr); !ok || fmt.Sprint(fn.X) != "errors" || fn.Sel.Name != "Is" {
				return true
			}
			if sel, ok := call.Args[1].(*ast.SelectorExpr); ok && fmt.Sprint(sel.X) == "storage" && strings.HasPrefix(sel.Sel.Name, "Err") {
				t.Errorf("%s: errors.Is(…, storage.%s): map errors with errorCode (kafkaerr.Code)", fset.Position(call.Pos()), sel.Sel.Name)
			}
			return true
		})
	}
}

// A closed store (the broker shutting down) gets one code whatever the API:
// Produce, CreateTopics and DeleteRecords all answer NOT_LEADER_OR_FOLLOWER.
func TestClosedStoreOneCode(t *testing.T) {
	cb := coreStart(t, "", nil)
	cb.topic("t", 1, nil)
	rc := cb.raw()
	if p := producePart(rc.do(produceReq(9, -1, "t", 0, coreBatch(1, -1, -1, -1, coreRecs(2, "v")...)))); p.ErrorCode != 0 {
		t.Fatalf("produce: code %d", p.ErrorCode)
	}
	if err := cb.b.store.Close(); err != nil {
		t.Fatal(err)
	}
	want := kerr.NotLeaderForPartition.Code

	p := producePart(rc.do(produceReq(9, -1, "t", 0, coreBatch(1, -1, -1, -1, coreRecs(1, "v")...))))
	if p.ErrorCode != want {
		t.Errorf("Produce: code %d, want %d", p.ErrorCode, want)
	}

	ct := kmsg.NewPtrCreateTopicsRequest()
	ct.Version, ct.TimeoutMillis = 5, 5000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "u", 1, -1
	ct.Topics = append(ct.Topics, rt)
	if r := rc.do(ct).(*kmsg.CreateTopicsResponse); r.Topics[0].ErrorCode != want {
		t.Errorf("CreateTopics: code %d (%v), want %d", r.Topics[0].ErrorCode, r.Topics[0].ErrorMessage, want)
	}

	dr := kmsg.NewPtrDeleteRecordsRequest()
	dr.Version, dr.TimeoutMillis = 2, 5000
	drt := kmsg.NewDeleteRecordsRequestTopic()
	drt.Topic = "t"
	drp := kmsg.NewDeleteRecordsRequestTopicPartition()
	drp.Partition, drp.Offset = 0, 1
	drt.Partitions = append(drt.Partitions, drp)
	dr.Topics = append(dr.Topics, drt)
	if r := rc.do(dr).(*kmsg.DeleteRecordsResponse); r.Topics[0].Partitions[0].ErrorCode != want {
		t.Errorf("DeleteRecords: code %d, want %d", r.Topics[0].Partitions[0].ErrorCode, want)
	}
}
