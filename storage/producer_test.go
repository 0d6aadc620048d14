package storage

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func idemBatch(pid int64, epoch int16, seq int32, n int) []byte {
	recs := make([]testRecord, n)
	for i := range recs {
		recs[i] = testRecord{value: fmt.Appendf(nil, "%d/%d/%d", pid, epoch, int64(seq)+int64(i))}
	}
	return makeBatch(batchOpts{firstTs: 1, producerID: pid, epoch: epoch, seq: seq}, recs...)
}

// TestIdempotentProducer walks Kafka's sequence rules step by step, then
// checks the state survives a clean restart and a rebuild from the commit
// log alone.
func TestIdempotentProducer(t *testing.T) {
	type step struct {
		pid   int64
		epoch int16
		seq   int32
		n     int
		base  int64 // expected base offset (for success or duplicate)
		dup   bool
		err   error
	}
	steps := []step{
		{pid: 7, epoch: 0, seq: 0, n: 3, base: 0},
		{pid: 7, epoch: 0, seq: 3, n: 2, base: 3},
		{pid: 7, epoch: 0, seq: 0, n: 3, base: 0, dup: true}, // retry of batch 1
		{pid: 7, epoch: 0, seq: 3, n: 2, base: 3, dup: true}, // retry of batch 2
		{pid: 7, epoch: 0, seq: 10, n: 1, err: ErrOutOfOrderSequence},
		{pid: 7, epoch: 0, seq: 4, n: 1, err: ErrOutOfOrderSequence}, // overlaps, not a duplicate
		{pid: 9, epoch: 4, seq: 17, n: 1, base: 5},                   // unknown producer may start anywhere
		{pid: 7, epoch: 1, seq: 5, n: 1, err: ErrOutOfOrderSequence}, // new epoch must start at 0
		{pid: 7, epoch: 1, seq: 0, n: 2, base: 6},
		{pid: 7, epoch: 0, seq: 5, n: 1, err: ErrInvalidProducerEpoch},
		{pid: 7, epoch: 0, seq: 0, n: 3, err: ErrInvalidProducerEpoch}, // old epoch's batch is fenced
		{pid: 8, epoch: 0, seq: math.MaxInt32 - 1, n: 3, base: 8},      // sequences wrap: ..., max, 0
		{pid: 8, epoch: 0, seq: 1, n: 1, base: 11},
		{pid: 8, epoch: 0, seq: math.MaxInt32 - 1, n: 3, base: 8, dup: true},
		{pid: -1, epoch: -1, seq: -1, n: 2, base: 12}, // not idempotent
		{pid: -1, epoch: -1, seq: -1, n: 2, base: 14}, // same again is not a duplicate
	}
	cfg := testConfig(t, t.TempDir())
	s := mustOpen(t, cfg)
	p, _ := s.CreatePartition(tid(5), 0)
	for i, st := range steps {
		r, err := p.Append(idemBatch(st.pid, st.epoch, st.seq, st.n), 0)
		if !errors.Is(err, st.err) {
			t.Fatalf("step %d: err %v want %v", i, err, st.err)
		}
		if err == nil && (r.BaseOffset != st.base || r.Duplicate != st.dup) {
			t.Fatalf("step %d: %+v want base %d dup %v", i, r, st.base, st.dup)
		}
	}
	if p.HighWatermark() != 16 {
		t.Fatalf("hwm %d", p.HighWatermark())
	}
	// Only the last five batches are remembered.
	q, _ := s.CreatePartition(tid(5), 1)
	for i := 0; i < 6; i++ {
		if _, err := q.Append(idemBatch(3, 0, int32(i), 1), 0); err != nil {
			t.Fatal(err)
		}
	}
	if r, err := q.Append(idemBatch(3, 0, 1, 1), 0); err != nil || !r.Duplicate || r.BaseOffset != 1 {
		t.Fatalf("retry of batch 2 of 6: %+v %v", r, err)
	}
	if _, err := q.Append(idemBatch(3, 0, 0, 1), 0); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("retry of a forgotten batch: %v", err)
	}
	check := func(s *Store, how string) {
		p := s.Partition(tid(5), 0)
		if r, err := p.Append(idemBatch(7, 1, 0, 2), 0); err != nil || !r.Duplicate || r.BaseOffset != 6 {
			t.Fatalf("%s: duplicate after restart: %+v %v", how, r, err)
		}
		if _, err := p.Append(idemBatch(7, 0, 2, 1), 0); !errors.Is(err, ErrInvalidProducerEpoch) {
			t.Fatalf("%s: stale epoch after restart: %v", how, err)
		}
		if e, seq, ok := p.ProducerState(8); !ok || e != 0 || seq != 1 {
			t.Fatalf("%s: producer 8 state %d %d %v", how, e, seq, ok)
		}
	}
	s.Close()
	s = mustOpen(t, cfg)
	check(s, "checkpoint")
	s.Close()
	// Without the checkpoint the dispatcher derives it all again.
	os.Remove(filepath.Join(cfg.Dir, checkpointName))
	s = mustOpen(t, cfg)
	check(s, "rebuild")
	s.Close()
}

// TestProducerExpiration: idle producer state is dropped after
// ProducerIDExpiration, after which any sequence is accepted.
func TestProducerExpiration(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.ProducerIDExpiration = time.Millisecond
	s := mustOpen(t, cfg)
	defer s.Close()
	p, _ := s.CreatePartition(tid(5), 0)
	p.Append(idemBatch(7, 0, 0, 1), 0)
	if _, err := p.Append(idemBatch(7, 0, 5, 1), 0); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("gap: %v", err)
	}
	time.Sleep(5 * time.Millisecond)
	if err := s.RunRetention(); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := p.ProducerState(7); ok {
		t.Fatal("state not expired")
	}
	if r, err := p.Append(idemBatch(7, 0, 5, 1), 0); err != nil || r.BaseOffset != 1 {
		t.Fatalf("after expiry: %+v %v", r, err)
	}
}
