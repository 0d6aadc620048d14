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
