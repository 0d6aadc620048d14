package storage

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// txnBatch is a transactional data batch of n records.
func txnBatch(pid int64, epoch int16, seq int32, n int) []byte {
	recs := make([]testRecord, n)
	for i := range recs {
		recs[i] = testRecord{value: []byte("v")}
	}
	return makeBatch(batchOpts{firstTs: 1, producerID: pid, epoch: epoch, seq: seq, attributes: attrTransactional}, recs...)
}

// markerBatch is a commit or abort marker, as the broker writes it.
func markerBatch(pid int64, epoch int16, typ int16) []byte {
	key := binary.BigEndian.AppendUint16([]byte{0, 0}, uint16(typ))
	return makeBatch(batchOpts{firstTs: 1, producerID: pid, epoch: epoch, seq: -1, attributes: attrTransactional | attrControl},
		testRecord{key: key, value: []byte{0, 0, 0, 0, 0, 0}})
}

// TestTxnIndex: open transactions hold the last stable offset back, an
// abort marker enters the aborted index, a commit marker does not, a
// marker with a newer epoch fences the old one; all of it survives a
// clean restart (checkpoint) and a rebuild from the commit log alone.
func TestTxnIndex(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	s := mustOpen(t, cfg)
	p, _ := s.CreatePartition(tid(7), 0)
	app := func(b []byte) int64 {
		t.Helper()
		r, err := p.Append(b, 0)
		if err != nil {
			t.Fatal(err)
		}
		return r.BaseOffset
	}
	app(txnBatch(1, 0, 0, 2)) // 0-1 producer 1
	app(txnBatch(2, 0, 0, 1)) // 2 producer 2
	app(txnBatch(1, 0, 2, 1)) // 3 producer 1
	if lso := p.LastStableOffset(); lso != 0 {
		t.Fatalf("lso %d with two open transactions, want 0", lso)
	}
	app(markerBatch(1, 0, ControlAbort)) // 4
	if lso := p.LastStableOffset(); lso != 2 {
		t.Fatalf("lso %d after producer 1 aborted, want 2", lso)
	}
	app(markerBatch(2, 1, ControlCommit)) // 5, with a bumped epoch
	if lso, hwm := p.LastStableOffset(), p.HighWatermark(); lso != 6 || hwm != 6 {
		t.Fatalf("lso %d hwm %d, want 6 6", lso, hwm)
	}
	if _, err := p.Append(txnBatch(2, 0, 1, 1), 0); !errors.Is(err, ErrInvalidProducerEpoch) {
		t.Fatalf("batch of the fenced epoch: %v", err)
	}
	app(txnBatch(1, 0, 3, 1)) // 6: producer 1's next transaction
	want := []AbortedTxn{{ProducerID: 1, FirstOffset: 0, LastOffset: 4}}
	check := func(s *Store, how string) {
		t.Helper()
		p := s.Partition(tid(7), 0)
		if got := p.AbortedTxns(0, 7); !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: aborted %+v, want %+v", how, got, want)
		}
		if got := p.AbortedTxns(5, 7); len(got) != 0 {
			t.Fatalf("%s: aborted after the marker %+v", how, got)
		}
		if lso := p.LastStableOffset(); lso != 6 {
			t.Fatalf("%s: lso %d, want 6", how, lso)
		}
		if first, ok := p.OpenTxn(1); !ok || first != 6 {
			t.Fatalf("%s: producer 1's open transaction %d %v", how, first, ok)
		}
	}
	check(s, "live")
	s.Close()
	s = mustOpen(t, cfg)
	check(s, "checkpoint")
	s.Close()
	os.Remove(filepath.Join(cfg.Dir, checkpointName))
	s = mustOpen(t, cfg)
	check(s, "rebuild")
	s.Close()
}

// TestTxnIndexOnSlave: a slave fed the master's commit log derives the
// same open transactions, last stable offset and aborted index, at every
// point of the stream.
func TestTxnIndexOnSlave(t *testing.T) {
	m := mustOpen(t, testConfig(t, t.TempDir()))
	sl := mustOpen(t, testConfig(t, t.TempDir()))
	defer func() { m.Close(); sl.Close() }()
	sl.SetFollower(true)
	p, _ := m.CreatePartition(tid(9), 0)
	steps := [][]byte{
		txnBatch(1, 0, 0, 3),
		txnBatch(2, 0, 0, 1),
		markerBatch(1, 0, ControlAbort),
		txnBatch(1, 0, 3, 2),
		markerBatch(2, 0, ControlCommit),
		markerBatch(1, 0, ControlCommit),
	}
	for i, b := range steps {
		if _, err := p.Append(b, 0); err != nil {
			t.Fatal(err)
		}
		replicateUntil(t, m, sl, 1<<20, m.EndPosition())
		q := sl.Partition(tid(9), 0)
		if q == nil {
			t.Fatalf("step %d: the slave has no partition", i)
		}
		if a, b := p.LastStableOffset(), q.LastStableOffset(); a != b {
			t.Fatalf("step %d: master lso %d, slave %d", i, a, b)
		}
		if a, b := p.AbortedTxns(0, 100), q.AbortedTxns(0, 100); !reflect.DeepEqual(a, b) {
			t.Fatalf("step %d: master aborted %+v, slave %+v", i, a, b)
		}
	}
	if got := sl.Partition(tid(9), 0).AbortedTxns(0, 100); len(got) != 1 || got[0] != (AbortedTxn{ProducerID: 1, FirstOffset: 0, LastOffset: 4}) {
		t.Fatalf("slave aborted %+v", got)
	}
}
