package storage

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func memStore(t *testing.T, fs *memFS, mode FlushMode) (*Store, Config) {
	cfg := testConfig(t, "/data")
	cfg.FS = fs
	cfg.FlushMode = mode
	cfg.SegmentBytes = 16 << 10
	return mustOpen(t, cfg), cfg
}

func isSegment(name string) bool { return strings.HasSuffix(name, ".log") }

// TestStickyErrors: a failed fsync, a failed write or a short write breaks
// the store; every later append fails with ErrBroken until it is reopened,
// and what was acknowledged before survives.
func TestStickyErrors(t *testing.T) {
	cases := []struct {
		name string
		op   string
		err  error
		mode FlushMode
	}{
		{"fsync fails", "sync", syscall.EIO, FlushSync},
		{"write fails", "write", syscall.EIO, FlushAsync},
		{"short write", "write", errShort, FlushAsync},
		{"short write sync", "write", errShort, FlushSync},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fs := newMemFS()
			s, cfg := memStore(t, fs, tc.mode)
			p, _ := s.CreatePartition(tid(9), 0)
			for b := 0; b < 5; b++ {
				if _, err := p.Append(writerBatch(0, b), 0); err != nil {
					t.Fatal(err)
				}
			}
			var armed atomic.Bool
			armed.Store(true)
			fs.setFault(func(op, name string) error {
				if armed.Load() && op == tc.op && isSegment(name) {
					return tc.err
				}
				return nil
			})
			if _, err := p.Append(writerBatch(0, 5), 0); !errors.Is(err, ErrBroken) {
				t.Fatalf("append with fault: %v, want ErrBroken", err)
			}
			armed.Store(false)
			if _, err := p.Append(writerBatch(0, 5), 0); !errors.Is(err, ErrBroken) {
				t.Fatalf("append after fault: %v, want sticky ErrBroken", err)
			}
			if err := s.PutKV("x", KV{Key: []byte("k"), Value: []byte("v")}); !errors.Is(err, ErrBroken) {
				t.Fatalf("PutKV after fault: %v", err)
			}
			s.Close()
			fs.setFault(nil)
			if tc.mode == FlushSync {
				cfg.FS = fs.crash(nil) // acknowledged means fsynced
			}
			s = mustOpen(t, cfg)
			defer s.Close()
			if m := checkPrefix(t, s, 0); m != 5 {
				t.Fatalf("%d batches after reopen", m)
			}
			p = s.Partition(tid(9), 0)
			m := checkPrefix(t, s, 0)
			if _, err := p.Append(writerBatch(0, m), 0); err != nil {
				t.Fatalf("append after reopen: %v", err)
			}
			if checkPrefix(t, s, 0) != m+1 {
				t.Fatal("append after reopen missing")
			}
		})
	}
}

// TestDiskFull: a full disk fails appends with ErrDiskFull without losing
// acknowledged data or offsets, and the store works again once space
// returns (no reopen needed).
func TestDiskFull(t *testing.T) {
	for _, mode := range []FlushMode{FlushSync, FlushAsync} {
		t.Run(fmt.Sprint(mode), func(t *testing.T) {
			fs := newMemFS()
			s, cfg := memStore(t, fs, mode)
			p, _ := s.CreatePartition(tid(9), 0)
			b := 0
			for ; b < 5; b++ {
				if _, err := p.Append(writerBatch(0, b), 0); err != nil {
					t.Fatal(err)
				}
			}
			var full atomic.Bool
			full.Store(true)
			fs.setFault(func(op, name string) error {
				if full.Load() && (op == "write" || op == "allocate" || op == "create") {
					return syscall.ENOSPC
				}
				return nil
			})
			for i := 0; i < 3; i++ {
				if _, err := p.Append(writerBatch(0, b), 0); !errors.Is(err, ErrDiskFull) {
					t.Fatalf("append on full disk: %v", err)
				}
			}
			full.Store(false)
			// Fill past a segment boundary to exercise a roll after ENOSPC.
			for ; b < 60; b++ {
				r, err := p.Append(writerBatch(0, b), 0)
				if err != nil {
					t.Fatalf("append %d after space returned: %v", b, err)
				}
				_ = r
			}
			if m := checkPrefix(t, s, 0); m != 60 {
				t.Fatalf("%d batches", m)
			}
			s.Close()
			if mode == FlushSync {
				cfg.FS = fs.crash(nil)
			}
			s = mustOpen(t, cfg)
			if m := checkPrefix(t, s, 0); m != 60 {
				t.Fatalf("%d batches after reopen", m)
			}
			s.Close()
		})
	}
}

// TestGroupCommit: writers waiting while an fsync runs share the next one.
// The first fsync is held until all eight writers have written, so the
// count is exact: one fsync for the first writer, one for the other seven.
func TestGroupCommit(t *testing.T) {
	fs := newMemFS()
	s, _ := memStore(t, fs, FlushSync)
	defer s.Close()
	const writers = 8
	ps := make([]*Partition, writers)
	for w := range ps {
		ps[w], _ = s.CreatePartition(tid(9), int32(w))
	}
	var writes, syncs atomic.Int64
	allWritten := make(chan struct{})
	fs.setFault(func(op, name string) error {
		if !isSegment(name) {
			return nil
		}
		switch op {
		case "write":
			if writes.Add(1) == writers {
				close(allWritten)
			}
		case "sync":
			if syncs.Add(1) == 1 {
				<-allWritten
			}
		}
		return nil
	})
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := ps[w].Append(writerBatch(w, 0), 0); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := syncs.Load(); n != 2 {
		t.Fatalf("%d fsyncs for %d appends, want 2", n, writers)
	}
	for w := 0; w < writers; w++ {
		if m := checkPrefix(t, s, w); m != 1 {
			t.Fatalf("p%d: %d batches", w, m)
		}
	}
}

// TestCorruptTail: garbage or a torn entry at the end of the commit log is
// cut off on open; earlier data stays.
func TestCorruptTail(t *testing.T) {
	for _, kind := range []string{"torn", "bitflip", "garbage"} {
		t.Run(kind, func(t *testing.T) {
			fs := newMemFS()
			s, cfg := memStore(t, fs, FlushSync)
			p, _ := s.CreatePartition(tid(9), 0)
			for b := 0; b < 4; b++ {
				p.Append(writerBatch(0, b), 0)
			}
			end := s.EndPosition()
			p.Append(writerBatch(0, 4), 0)
			end2 := s.EndPosition()
			fs2 := fs.crash(nil) // no checkpoint since open: the tail is re-scanned
			s.Close()
			seg := fs2.root.names["data"].(*memDir).names["commitlog"].(*memDir).names[segmentName(0)].(*memNode)
			switch kind {
			case "torn":
				seg.data = seg.data[:end+(end2-end)/2]
			case "bitflip":
				seg.data[end2-3] ^= 0x40
			case "garbage":
				seg.data = append(seg.data[:end], []byte("not an entry at all, just bytes.........................")...)
			}
			cfg.FS = fs2
			s = mustOpen(t, cfg)
			defer s.Close()
			if m := checkPrefix(t, s, 0); m != 4 {
				t.Fatalf("%d batches, want 4", m)
			}
			if s.EndPosition() != end {
				t.Fatalf("end %d want %d", s.EndPosition(), end)
			}
			p = s.Partition(tid(9), 0)
			if _, err := p.Append(writerBatch(0, 4), 0); err != nil {
				t.Fatal(err)
			}
			if m := checkPrefix(t, s, 0); m != 5 {
				t.Fatalf("%d batches after append", m)
			}
		})
	}
}

// TestSyncVisibilityFence: under sync flush a batch is invisible to readers
// (high watermark, Read, watchers) until the fsync covering it is done.
func TestSyncVisibilityFence(t *testing.T) {
	fs := newMemFS()
	s, _ := memStore(t, fs, FlushSync)
	defer s.Close()
	p, _ := s.CreatePartition(tid(9), 0)
	entered := make(chan struct{})
	release := make(chan struct{})
	var released sync.Once
	defer released.Do(func() { close(release) }) // before Close, even on failure
	var once sync.Once
	fs.setFault(func(op, name string) error {
		if op == "sync" && isSegment(name) {
			once.Do(func() {
				close(entered)
				<-release
			})
		}
		return nil
	})
	woke := make(chan struct{}, 10)
	p.Watch(func() { woke <- struct{}{} })
	done := make(chan error)
	go func() {
		_, err := p.Append(writerBatch(0, 0), 0)
		done <- err
	}()
	<-entered // the batch is written and the fsync has started
	if hw := p.HighWatermark(); hw != 0 {
		t.Fatalf("hwm %d before fsync", hw)
	}
	if res, err := p.Read(0, 100); err != nil || len(res.Chunks) != 0 {
		t.Fatalf("read before fsync: %+v %v", res, err)
	}
	if p.LogEndOffset() != 1 {
		t.Fatalf("log end %d", p.LogEndOffset())
	}
	select {
	case <-woke:
		t.Fatal("watcher woken before fsync")
	default:
	}
	released.Do(func() { close(release) })
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	<-woke
	if hw := p.HighWatermark(); hw != 1 {
		t.Fatalf("hwm %d after fsync", hw)
	}
}

// TestAppendDeferredOneFsync: one writer appending to many partitions and
// waiting once costs one fsync, and nothing is visible before it.
func TestAppendDeferredOneFsync(t *testing.T) {
	fs := newMemFS()
	s, _ := memStore(t, fs, FlushSync)
	defer s.Close()
	const parts = 16
	var syncs atomic.Int64
	fs.setFault(func(op, name string) error {
		if isSegment(name) && op == "sync" {
			syncs.Add(1)
		}
		return nil
	})
	var end int64
	ps := make([]*Partition, parts)
	for i := range ps {
		ps[i], _ = s.CreatePartition(tid(7), int32(i))
	}
	syncs.Store(0)
	for i, p := range ps {
		res, pos, err := p.AppendDeferred(writerBatch(i, 0), 0)
		if err != nil {
			t.Fatal(err)
		}
		if res.BaseOffset != 0 {
			t.Fatalf("p%d: base offset %d, want 0", i, res.BaseOffset)
		}
		if hw := p.HighWatermark(); hw != 0 {
			t.Fatalf("p%d: high watermark %d before the fsync, want 0", i, hw)
		}
		end = max(end, pos)
	}
	if err := s.WaitDurable(end); err != nil {
		t.Fatal(err)
	}
	if n := syncs.Load(); n != 1 {
		t.Fatalf("%d fsyncs for %d deferred appends, want 1", n, parts)
	}
	for i, p := range ps {
		if hw, want := p.HighWatermark(), int64(1+i%4); hw != want { // writerBatch(i, 0) has 1+i%4 records
			t.Fatalf("p%d: high watermark %d after WaitDurable, want %d", i, hw, want)
		}
	}
}

// TestFsyncErrorNotLost: a segment roll and a group commit may both fsync
// the segment being closed. Linux reports a writeback error once: one of
// the two sees EIO, the other succeeds although the dirty pages were
// dropped (memFS models this). Whichever sees it, no writer whose bytes
// were in those pages may be acknowledged, and the store stays broken.
func TestFsyncErrorNotLost(t *testing.T) {
	for _, rollSees := range []bool{true, false} {
		t.Run(fmt.Sprintf("roll sees EIO=%v", rollSees), func(t *testing.T) {
			fs := newMemFS()
			s, cfg := memStore(t, fs, FlushSync)
			p, _ := s.CreatePartition(tid(9), 0)
			big, _ := s.CreatePartition(tid(9), 1)
			b := 0
			for ; s.EndPosition() < 16<<10-9<<10; b++ {
				if _, err := p.Append(writerBatch(0, b), 0); err != nil {
					t.Fatal(err)
				}
			}
			seg0 := segmentName(0)
			var syncs atomic.Int32
			leaderIn := make(chan struct{})
			secondDone := make(chan struct{})
			nextWritten := make(chan struct{})
			var nextOnce sync.Once
			fs.setFault(func(op, name string) error {
				if !isSegment(name) {
					return nil
				}
				switch {
				case op == "write" && !strings.HasSuffix(name, seg0):
					nextOnce.Do(func() { close(nextWritten) })
				case op == "sync" && strings.HasSuffix(name, seg0):
					switch syncs.Add(1) {
					case 1: // the group commit of A's batch
						close(leaderIn)
						select {
						case <-secondDone:
							// The roll's fsync has returned; with its EIO
							// recorded, this one reports success.
							for rollSees && s.brokenErr() == nil {
								runtime.Gosched()
							}
						case <-nextWritten:
							// The roll did not fsync seg0 itself.
						}
						if rollSees {
							select {
							case <-secondDone:
								return nil
							default:
							}
						}
						return syscall.EIO
					case 2: // the roll's, while the group commit's runs
						defer close(secondDone)
						if rollSees {
							return syscall.EIO
						}
					}
				}
				return nil
			})
			errA := make(chan error, 1)
			go func() {
				_, err := p.Append(writerBatch(0, b), 0)
				errA <- err
			}()
			<-leaderIn
			// A batch that does not fit in seg0: the roll.
			_, errB := big.Append(makeBatch(batchOpts{producerID: -1, epoch: -1, seq: -1},
				testRecord{value: make([]byte, 9<<10)}), 0)
			if err := <-errA; !errors.Is(err, ErrBroken) {
				t.Fatalf("writer in the failed segment: %v, want ErrBroken (its fsync failed)", err)
			}
			if !errors.Is(errB, ErrBroken) {
				t.Fatalf("rolling writer: %v, want ErrBroken", errB)
			}
			if _, err := p.Append(writerBatch(0, b), 0); !errors.Is(err, ErrBroken) {
				t.Fatalf("append after the fsync error: %v, want ErrBroken", err)
			}
			s.Close()
			fs.setFault(nil)
			cfg.FS = fs.crash(nil)
			s = mustOpen(t, cfg)
			defer s.Close()
			if m := checkPrefix(t, s, 0); m < b {
				t.Fatalf("%d batches after power loss, want the %d acknowledged", m, b)
			}
		})
	}
}

// TestRollDoesNoSlowIO: a segment roll under the writer lock neither
// fsyncs nor creates files: with every fsync of the disk stuck (a flush in
// progress), appends keep going across a roll.
func TestRollDoesNoSlowIO(t *testing.T) {
	fs := newMemFS()
	cfg := testConfig(t, "/data")
	cfg.FS = fs
	cfg.SegmentBytes = 16 << 10
	cfg.FlushInterval = time.Hour
	s := mustOpen(t, cfg)
	p, _ := s.CreatePartition(tid(9), 0)
	prepared := func() bool {
		s.allocMu.Lock()
		defer s.allocMu.Unlock()
		return s.prepared != nil
	}
	for !prepared() {
		time.Sleep(time.Millisecond)
	}
	release := make(chan struct{})
	var stuck, timedOut atomic.Bool
	fs.setFault(func(op, name string) error {
		if (op == "sync" || op == "allocate" || op == "create") && isSegment(name) ||
			op == "syncdir" && strings.HasSuffix(name, "commitlog") {
			stuck.Store(true)
			select {
			case <-release:
			case <-time.After(5 * time.Second):
				timedOut.Store(true) // an append waited for it
			}
		}
		return nil
	})
	flushed := make(chan struct{})
	go func() {
		defer close(flushed)
		s.syncTo(s.EndPosition() + 1) // stuck in the segment's fsync
	}()
	for !stuck.Load() {
		time.Sleep(time.Millisecond)
	}
	start := s.active().base
	for b := 0; s.active().base == start; b++ {
		if _, err := p.Append(writerBatch(0, b), 0); err != nil {
			t.Fatal(err)
		}
	}
	close(release)
	<-flushed
	if timedOut.Load() {
		t.Fatal("an append across a segment roll waited for an fsync or a file creation")
	}
	fs.setFault(nil)
	s.Close()
}

// TestConcurrentFsyncsOfASegment: when two fsyncs of one segment meet (a
// flush and a slave's early segment end or a Truncate), the one that
// returns 0 after the other's EIO (Linux reports it once) must not report
// success: the fsyncs of a segment are serialized and the sticky state is
// read after each.
func TestConcurrentFsyncsOfASegment(t *testing.T) {
	fs := newMemFS()
	s, _ := memStore(t, fs, FlushSync)
	defer s.Close()
	p, _ := s.CreatePartition(tid(9), 0)
	if _, err := p.Append(writerBatch(0, 0), 0); err != nil {
		t.Fatal(err)
	}
	seg := s.active()
	var calls atomic.Int32
	in, proceed := make(chan struct{}), make(chan struct{})
	fs.setFault(func(op, name string) error {
		if op == "sync" && isSegment(name) && calls.Add(1) == 1 {
			close(in)
			<-proceed
			return syscall.EIO
		}
		return nil
	})
	errA, errB := make(chan error, 1), make(chan error, 1)
	go func() { errA <- s.syncSegment(seg) }()
	<-in
	go func() { errB <- s.syncSegment(seg) }()
	select {
	case err := <-errB:
		if err == nil {
			t.Fatal("an fsync reported success while another fsync of the segment was failing")
		}
	case <-time.After(200 * time.Millisecond): // B waits for A: as it should
	}
	close(proceed)
	if err := <-errA; !errors.Is(err, ErrBroken) {
		t.Fatalf("the failing fsync: %v, want ErrBroken", err)
	}
	select {
	case err := <-errB:
		if !errors.Is(err, ErrBroken) {
			t.Fatalf("the fsync after the failure: %v, want ErrBroken", err)
		}
	default:
		// B already failed above.
	}
}
