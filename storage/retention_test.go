package storage

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func segCount(s *Store) int {
	s.segMu.RLock()
	defer s.segMu.RUnlock()
	return len(s.segs)
}

// TestRetentionBytes: retention.bytes moves the log start; a segment goes
// only when no partition retains anything in it and no reader holds it;
// internal state (KV, producer state, epochs) survives the deletion of the
// segments that held it, across clean and crash restarts.
func TestRetentionBytes(t *testing.T) {
	fs := newMemFS()
	cfg := testConfig(t, "/data")
	cfg.FS = fs
	cfg.SegmentBytes = 8 << 10
	cfg.FlushMode = FlushSync
	s := mustOpen(t, cfg)
	if err := s.PutKV("offsets", KV{Key: []byte("g"), Value: []byte("42")}); err != nil {
		t.Fatal(err)
	}
	p, _ := s.CreatePartition(tid(9), 0)
	q, _ := s.CreatePartition(tid(9), 1)
	if _, err := q.Append(idemBatch(5, 2, 0, 1), 7); err != nil { // q's only batch, in segment 0
		t.Fatal(err)
	}
	for b := 0; b < 200; b++ {
		if _, err := p.Append(writerBatch(0, b), 3); err != nil {
			t.Fatal(err)
		}
	}
	segs := segCount(s)
	if segs < 5 {
		t.Fatalf("only %d segments", segs)
	}
	p.SetRetention(RetentionPolicy{Ms: -1, Bytes: 2000})
	if err := s.RunRetention(); err != nil {
		t.Fatal(err)
	}
	if p.Size() > 2000 || p.Size() < 2000-200 {
		t.Fatalf("size %d after retention.bytes=2000", p.Size())
	}
	ls := p.LogStartOffset()
	if ls == 0 {
		t.Fatal("log start did not move")
	}
	if _, err := p.Read(ls-1, 100); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read below log start: %v", err)
	}
	if segCount(s) != segs {
		t.Fatalf("segments deleted while partition 1 still retains segment 0")
	}
	// Drop q's data too; a reader still holds the first segment.
	held, err := q.Read(0, 1)
	if err != nil || len(held.Chunks) != 1 {
		t.Fatal(err)
	}
	if _, err := q.DeleteRecordsBefore(1); err != nil {
		t.Fatal(err)
	}
	s.RunRetention()
	if segCount(s) != segs {
		t.Fatalf("segment deleted under an unreleased read")
	}
	// The held chunk is still readable.
	buf := make([]byte, held.Chunks[0].Len)
	if _, err := held.Chunks[0].File.ReadAt(buf, held.Chunks[0].Pos); err != nil || !batchCRCOK(buf) {
		t.Fatalf("held chunk unreadable: %v", err)
	}
	held.Release()
	held.Release() // twice is fine
	s.RunRetention()
	if n := segCount(s); n >= segs || n < 1 {
		t.Fatalf("%d segments of %d after retention", n, segs)
	}
	check := func(s *Store, how string) {
		p, q := s.Partition(tid(9), 0), s.Partition(tid(9), 1)
		if v, ok := s.GetKV("offsets", []byte("g")); !ok || string(v) != "42" {
			t.Fatalf("%s: KV lost: %q", how, v)
		}
		if r, err := q.Append(idemBatch(5, 2, 0, 1), 7); err != nil || !r.Duplicate || r.BaseOffset != 0 {
			t.Fatalf("%s: producer state lost: %+v %v", how, r, err)
		}
		if e, end := q.EndOffsetForEpoch(7); e != 7 || end != 1 {
			t.Fatalf("%s: epochs lost: %d %d", how, e, end)
		}
		if p.LogStartOffset() != ls || q.LogStartOffset() != 1 || q.HighWatermark() != 1 {
			t.Fatalf("%s: log starts %d %d", how, p.LogStartOffset(), q.LogStartOffset())
		}
		got := readAll(t, p, ls)
		if len(got) == 0 || got[0].offset > ls || got[len(got)-1].offset != p.HighWatermark()-1 {
			t.Fatalf("%s: read after retention: %d records", how, len(got))
		}
	}
	check(s, "live")
	crashed := fs.crash(nil)
	s.Close()
	s = mustOpen(t, cfg)
	check(s, "clean restart")
	s.Close()
	cfg.FS = crashed
	s = mustOpen(t, cfg)
	check(s, "crash restart")
	s.Close()
}

// TestRetentionMs: batches whose max timestamp is older than retention.ms
// go.
func TestRetentionMs(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	s := mustOpen(t, cfg)
	defer s.Close()
	p, _ := s.CreatePartition(tid(9), 0)
	now := time.Now().UnixMilli()
	p.Append(simpleBatch("old", 3, now-10*60_000), 0)
	p.Append(simpleBatch("old", 2, now-5*60_000), 0)
	p.Append(simpleBatch("new", 2, now), 0)
	p.SetRetention(RetentionPolicy{Ms: 60_000, Bytes: -1})
	s.RunRetention()
	if ls := p.LogStartOffset(); ls != 5 {
		t.Fatalf("log start %d want 5", ls)
	}
	got := readAll(t, p, 5)
	if len(got) != 2 || got[0].value != "new-0" {
		t.Fatalf("%+v", got)
	}
}

// TestDeleteRecordsMidBatch: the log start may fall inside a batch; a read
// there returns that batch; it survives restarts.
func TestDeleteRecordsMidBatch(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	s := mustOpen(t, cfg)
	p, _ := s.CreatePartition(tid(9), 0)
	p.Append(simpleBatch("a", 4, 1), 0)
	p.Append(simpleBatch("b", 4, 1), 0)
	if ls, err := p.DeleteRecordsBefore(6); err != nil || ls != 6 {
		t.Fatalf("%d %v", ls, err)
	}
	if _, err := p.DeleteRecordsBefore(9); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("past hwm: %v", err)
	}
	check := func(s *Store) {
		p := s.Partition(tid(9), 0)
		res, err := p.Read(6, 1)
		if err != nil || len(res.Chunks) != 1 || res.Chunks[0].BaseOffset != 4 || res.LogStartOffset != 6 {
			t.Fatalf("read at log start: %+v %v", res, err)
		}
		res.Release()
		if _, err := p.Read(5, 1); !errors.Is(err, ErrOffsetOutOfRange) {
			t.Fatalf("read below: %v", err)
		}
		if p.Size() != int64(len(simpleBatch("b", 4, 1))) {
			t.Fatalf("size %d", p.Size())
		}
	}
	check(s)
	s.Close()
	s = mustOpen(t, cfg)
	check(s)
	s.Close()
	os.Remove(filepath.Join(cfg.Dir, checkpointName))
	s = mustOpen(t, cfg)
	check(s)
	if ls, err := s.Partition(tid(9), 0).DeleteRecordsBefore(-1); err != nil || ls != 8 {
		t.Fatalf("delete to hwm: %d %v", ls, err)
	}
	s.Close()
}

// TestMaxDiskBytes: over the broker-wide cap the oldest segments go even
// though a partition retains data there; its log start moves past them.
func TestMaxDiskBytes(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.SegmentBytes = 8 << 10
	cfg.MaxDiskBytes = 3 * cfg.SegmentBytes
	s := mustOpen(t, cfg)
	defer s.Close()
	p, _ := s.CreatePartition(tid(9), 0)
	for b := 0; b < 300; b++ {
		p.Append(writerBatch(0, b), 0)
	}
	if s.DiskUsage() <= cfg.MaxDiskBytes {
		t.Fatalf("disk %d not over the cap yet", s.DiskUsage())
	}
	if err := s.RunRetention(); err != nil {
		t.Fatal(err)
	}
	if s.DiskUsage() > cfg.MaxDiskBytes {
		t.Fatalf("disk %d over cap %d", s.DiskUsage(), cfg.MaxDiskBytes)
	}
	ls := p.LogStartOffset()
	if ls == 0 {
		t.Fatal("log start did not move")
	}
	got := readAll(t, p, ls)
	if len(got) == 0 || got[len(got)-1].offset != p.HighWatermark()-1 {
		t.Fatal("tail unreadable")
	}
}

// TestDeleteTopicFreesSpace: a deleted topic's consume queues go at once
// and its segments once nothing else needs them.
func TestDeleteTopicFreesSpace(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.SegmentBytes = 8 << 10
	s := mustOpen(t, cfg)
	defer s.Close()
	p, _ := s.CreatePartition(tid(9), 0)
	for b := 0; b < 200; b++ {
		p.Append(writerBatch(0, b), 0)
	}
	s.checkpoint()
	before := segCount(s)
	if err := s.DeleteTopic(tid(9)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p.cqDir); !os.IsNotExist(err) {
		t.Fatalf("consume queue still there: %v", err)
	}
	s.RunRetention()
	if n := segCount(s); n != 1 || before < 3 {
		t.Fatalf("segments %d -> %d", before, n)
	}
	// A new topic with the same name has a new id and starts empty.
	q, _ := s.CreatePartition(tid(10), 0)
	if q.HighWatermark() != 0 {
		t.Fatal("new topic not empty")
	}
}

// TestRebuildAfterRetentionWithoutCheckpoint: with the checkpoint lost and
// the first segments deleted, partitions come back from their batches.
func TestRebuildAfterRetentionWithoutCheckpoint(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.SegmentBytes = 8 << 10
	s := mustOpen(t, cfg)
	p, _ := s.CreatePartition(tid(9), 0)
	for b := 0; b < 200; b++ {
		p.Append(writerBatch(0, b), 0)
	}
	p.SetRetention(RetentionPolicy{Ms: -1, Bytes: 4000})
	s.RunRetention()
	ls, hw := p.LogStartOffset(), p.HighWatermark()
	if segCount(s) > 3 {
		t.Fatalf("%d segments", segCount(s))
	}
	s.Close()
	os.Remove(filepath.Join(cfg.Dir, checkpointName))
	s = mustOpen(t, cfg)
	defer s.Close()
	p = s.Partition(tid(9), 0)
	if p == nil || p.HighWatermark() != hw || p.LogStartOffset() > ls+20 || p.LogStartOffset() < ls-20 {
		t.Fatalf("rebuilt partition: %v", p)
	}
	got := readAll(t, p, p.LogStartOffset())
	if got[len(got)-1].offset != hw-1 {
		t.Fatal("tail lost")
	}
}

// TestConsumeQueueFilesTrimmed: consume-queue files wholly before the log
// start go once a checkpoint no longer needs them; reads, restarts and
// crash restarts still work.
func TestConsumeQueueFilesTrimmed(t *testing.T) {
	defer func(n int64) { cqFileEntries = n }(cqFileEntries)
	cqFileEntries = 2 * cqBlock
	fs := newMemFS()
	cfg := testConfig(t, "/data")
	cfg.FS = fs
	cfg.FlushMode = FlushSync
	s := mustOpen(t, cfg)
	p, _ := s.CreatePartition(tid(9), 0)
	const n = 10 * cqBlock
	for b := 0; b < n; b++ {
		p.Append(writerBatch(0, b), 0)
	}
	files := func() []string {
		names, _ := fs.ReadDir(p.cqDir)
		return names
	}
	if len(files()) != 5 {
		t.Fatalf("files %v", files())
	}
	p.SetRetention(RetentionPolicy{Ms: -1, Bytes: p.Size() / 4})
	s.RunRetention() // moves the log start, checkpoints
	s.RunRetention() // the checkpoint now allows trimming
	if got := files(); len(got) > 2 {
		t.Fatalf("files after retention: %v", got)
	}
	ls := p.LogStartOffset()
	check := func(s *Store, how string) {
		p := s.Partition(tid(9), 0)
		if p.LogStartOffset() != ls {
			t.Fatalf("%s: log start %d want %d", how, p.LogStartOffset(), ls)
		}
		got := readAll(t, p, ls)
		if len(got) == 0 || got[len(got)-1].offset != p.HighWatermark()-1 {
			t.Fatalf("%s: %d records", how, len(got))
		}
		if off, _, ok := p.OffsetForTime(0); !ok || off != ls {
			t.Fatalf("%s: OffsetForTime(0) = %d %v", how, off, ok)
		}
	}
	check(s, "live")
	p.Append(writerBatch(0, n), 0)
	crashed := fs.crash(nil)
	s.Close()
	s = mustOpen(t, cfg)
	check(s, "clean")
	s.Close()
	cfg.FS = crashed
	s = mustOpen(t, cfg)
	check(s, "crash")
	s.Close()
}
