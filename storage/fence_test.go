package storage

import (
	"sync/atomic"
	"testing"
)

// appendAt appends writerBatch(0, b) to p and returns the commit-log
// position its entry ends at and the offset after it.
func appendAt(t *testing.T, p *Partition, b int) (end, next int64) {
	t.Helper()
	res, end, err := p.AppendDeferred(writerBatch(0, b), 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.s.WaitDurable(end); err != nil {
		t.Fatal(err)
	}
	return end, res.BaseOffset + int64(1+b%4)
}

// TestCommitLimitFencesHighWatermark: the high watermark never covers a
// batch ending beyond the commit limit, in either direction the limit
// moves; LogEndOffset shows what is written; watchers fire when the limit
// lets batches through; a Read stops at the fence.
func TestCommitLimitFencesHighWatermark(t *testing.T) {
	s := mustOpen(t, testConfig(t, t.TempDir()))
	defer s.Close()
	p, _ := s.CreatePartition(tid(9), 0)
	var ends, nexts []int64
	for b := 0; b < 3; b++ {
		e, n := appendAt(t, p, b)
		ends, nexts = append(ends, e), append(nexts, n)
	}
	if p.HighWatermark() != nexts[2] {
		t.Fatalf("no limit: hwm %d want %d", p.HighWatermark(), nexts[2])
	}
	// Lowering takes the high watermark back.
	s.SetCommitLimit(ends[0])
	if p.HighWatermark() != nexts[0] {
		t.Fatalf("limit at batch 0: hwm %d want %d", p.HighWatermark(), nexts[0])
	}
	// A limit inside batch 1's entry does not make it visible.
	s.SetCommitLimit(ends[1] - 1)
	if p.HighWatermark() != nexts[0] {
		t.Fatalf("limit inside batch 1: hwm %d want %d", p.HighWatermark(), nexts[0])
	}
	var woke atomic.Int32
	cancel := p.Watch(func() { woke.Add(1) })
	defer cancel()
	for b := 3; b < 6; b++ {
		e, n := appendAt(t, p, b)
		ends, nexts = append(ends, e), append(nexts, n)
	}
	if p.HighWatermark() != nexts[0] || p.LogEndOffset() != nexts[5] || woke.Load() != 0 {
		t.Fatalf("appends beyond the limit: hwm %d leo %d woke %d", p.HighWatermark(), p.LogEndOffset(), woke.Load())
	}
	res, err := p.Read(0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Chunks) != 1 || res.HighWatermark != nexts[0] {
		t.Fatalf("read past the fence: %d chunks, hwm %d", len(res.Chunks), res.HighWatermark)
	}
	res.Release()
	s.SetCommitLimit(ends[3])
	if p.HighWatermark() != nexts[3] || woke.Load() == 0 {
		t.Fatalf("raised to batch 3: hwm %d want %d, woke %d", p.HighWatermark(), nexts[3], woke.Load())
	}
	s.SetCommitLimit(s.EndPosition())
	if p.HighWatermark() != nexts[5] {
		t.Fatalf("raised to the end: hwm %d want %d", p.HighWatermark(), nexts[5])
	}
	if got := len(readAll(t, p, 0)); got != int(nexts[5]) {
		t.Fatalf("read %d records, want %d", got, nexts[5])
	}
}

// TestCommitLimitWithSyncFlush: under sync flush a batch becomes visible
// only when it is both durable and within the limit, whichever comes last.
func TestCommitLimitWithSyncFlush(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.FlushMode = FlushSync
	s := mustOpen(t, cfg)
	defer s.Close()
	p, _ := s.CreatePartition(tid(9), 0)
	s.SetCommitLimit(s.EndPosition())
	// Within no limit yet: durable but fenced.
	e0, n0 := appendAt(t, p, 0)
	if p.HighWatermark() != 0 || s.DurablePosition() < e0 {
		t.Fatalf("durable but beyond the limit: hwm %d durable %d", p.HighWatermark(), s.DurablePosition())
	}
	s.SetCommitLimit(e0)
	if p.HighWatermark() != n0 {
		t.Fatalf("within the limit and durable: hwm %d want %d", p.HighWatermark(), n0)
	}
	// Within the limit but not durable yet: fenced until the fsync.
	s.SetCommitLimit(1 << 40)
	_, e1, err := p.AppendDeferred(writerBatch(0, 1), 0)
	if err != nil {
		t.Fatal(err)
	}
	if p.HighWatermark() != n0 || s.DurablePosition() >= e1 {
		t.Fatalf("within the limit, not durable: hwm %d durable %d", p.HighWatermark(), s.DurablePosition())
	}
	if err := s.WaitDurable(e1); err != nil {
		t.Fatal(err)
	}
	if p.HighWatermark() != n0+2 {
		t.Fatalf("durable and within the limit: hwm %d want %d", p.HighWatermark(), n0+2)
	}
}

// TestSlaveCommitLimit: a slave fed the whole log with AppendRaw shows no
// more than its commit limit (the master's high-watermark position).
func TestSlaveCommitLimit(t *testing.T) {
	m := mustOpen(t, testConfig(t, t.TempDir()))
	defer m.Close()
	sl := mustOpen(t, testConfig(t, t.TempDir()))
	defer sl.Close()
	p, _ := m.CreatePartition(tid(9), 0)
	var limit, want int64
	for b := 0; b < 10; b++ {
		e, n := appendAt(t, p, b)
		if b == 4 {
			limit, want = e, n
		}
	}
	sl.SetCommitLimit(limit)
	replicate(t, m, sl, 300)
	sp := sl.Partition(tid(9), 0)
	if sp.HighWatermark() != want || sp.LogEndOffset() != p.LogEndOffset() {
		t.Fatalf("slave hwm %d want %d, leo %d want %d", sp.HighWatermark(), want, sp.LogEndOffset(), p.LogEndOffset())
	}
	sl.SetCommitLimit(m.EndPosition())
	if sp.HighWatermark() != p.HighWatermark() {
		t.Fatalf("slave hwm %d want %d", sp.HighWatermark(), p.HighWatermark())
	}
}

// TestCommitLimitLoweredOverInterleavedPartitions: the whole log of three
// partitions written in turn is hidden at once (a restarted slave's
// fenceUncommitted) and let through again position by position: each
// partition's high watermark follows exactly the batches that end at or
// below the limit, which needs the queue ordered by position across the
// partitions after they were hidden one partition at a time.
func TestCommitLimitLoweredOverInterleavedPartitions(t *testing.T) {
	s := mustOpen(t, testConfig(t, t.TempDir()))
	defer s.Close()
	var ps []*Partition
	for i := range 3 {
		p, _ := s.CreatePartition(tid(9), int32(i))
		ps = append(ps, p)
	}
	type batch struct {
		p         int
		end, next int64
	}
	var bs []batch
	for b := range 60 {
		e, n := appendAt(t, ps[b%3], b)
		bs = append(bs, batch{b % 3, e, n})
	}
	s.SetCommitLimit(s.FirstPosition())
	for i, p := range ps {
		if p.HighWatermark() != 0 {
			t.Fatalf("partition %d: hwm %d with the whole log hidden", i, p.HighWatermark())
		}
	}
	want := make([]int64, 3)
	for _, b := range bs {
		s.SetCommitLimit(b.end)
		want[b.p] = b.next
		for i, p := range ps {
			if p.HighWatermark() != want[i] {
				t.Fatalf("limit %d: partition %d hwm %d, want %d", b.end, i, p.HighWatermark(), want[i])
			}
		}
	}
}
