package storage

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A read far behind the end of the commit log is followed by read-ahead
// advice for the windows after it; a read near the end is not, and a
// window is advised once however often it is read.
func TestReadAheadFarBehind(t *testing.T) {
	defer func(w int64) { readAheadWindow = w }(readAheadWindow)
	readAheadWindow = 64 << 10
	cfg := testConfig(t, t.TempDir())
	cfg.SegmentBytes = 256 << 10 // windows cross segments
	s := mustOpen(t, cfg)
	defer s.Close()
	p, err := s.CreatePartition(tid(1), 0)
	if err != nil {
		t.Fatal(err)
	}
	val := make([]byte, 1000)
	for range 400 { // 2 MB: 30 windows
		recs := make([]testRecord, 5)
		for j := range recs {
			recs[j] = testRecord{value: val, tsDelta: int64(j)}
		}
		if _, err := p.Append(makeBatch(batchOpts{firstTs: 1000, producerID: -1, epoch: -1, seq: -1}, recs...), 0); err != nil {
			t.Fatal(err)
		}
	}
	advised := func() int64 {
		// The advice is given by a background goroutine: wait for the
		// queue to drain (bounded; no time is asserted).
		for range 500 {
			if len(s.ra.queue) == 0 {
				break
			}
			time.Sleep(2 * time.Millisecond)
		}
		time.Sleep(10 * time.Millisecond)
		return s.ra.bytes.Load()
	}

	// Near the end: nothing.
	res, err := p.Read(p.HighWatermark()-1, 1<<10)
	if err != nil {
		t.Fatal(err)
	}
	res.Release()
	if n := advised(); n != 0 {
		t.Fatalf("a read at the end advised %d bytes; want 0", n)
	}
	// From the start, a small read: the windows after it.
	res, err = p.Read(0, 1<<10)
	if err != nil {
		t.Fatal(err)
	}
	res.Release()
	first := advised()
	if first < readAheadWindow || first > (readAheadWindows+1)*readAheadWindow {
		t.Fatalf("a read far behind advised %d bytes; want between %d and %d", first, readAheadWindow, (readAheadWindows+1)*readAheadWindow)
	}
	// The same read again: the windows were advised already.
	res, err = p.Read(0, 1<<10)
	if err != nil {
		t.Fatal(err)
	}
	res.Release()
	if n := advised(); n != first {
		t.Fatalf("reading the same place again advised %d more bytes", n-first)
	}
	// Every record still reads back, and no segment stays pinned.
	if got := readAll(t, p, 0); len(got) != 2000 {
		t.Fatalf("read %d records back; want 2000", len(got))
	}
	advised()
	s.segMu.RLock()
	defer s.segMu.RUnlock()
	for _, seg := range s.segs {
		if n := seg.readers.Load(); n != 0 {
			t.Fatalf("segment %d has %d readers after every read was released", seg.base, n)
		}
	}
}

// Store files are opened without access-time updates (fs.go: a read after
// an append would otherwise dirty the inode on every fetch).
func TestOSFSOpensNoAtime(t *testing.T) {
	f, err := OSFS{}.OpenFile(filepath.Join(t.TempDir(), "x"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fl, err := unix.FcntlInt(f.OS().Fd(), unix.F_GETFL, 0)
	if err != nil {
		t.Fatal(err)
	}
	if fl&unix.O_NOATIME == 0 {
		t.Fatalf("file flags %#x lack O_NOATIME", fl)
	}
}

// Reads share the in-memory consume-queue tail with the appender
// (viewLocked): while readers walk it, appends that complete a block must
// not shift entries under them. Every read of an offset returns the batch
// holding it (run with -race as well).
func TestReadSharesTailWithAppends(t *testing.T) {
	s := mustOpen(t, testConfig(t, t.TempDir()))
	defer s.Close()
	p, err := s.CreatePartition(tid(1), 0)
	if err != nil {
		t.Fatal(err)
	}
	const batches = 20 * cqBlock
	done := make(chan struct{})
	errs := make(chan error, 1)
	go func() {
		defer close(done)
		for i := range batches {
			if _, err := p.Append(simpleBatch("t", 1+i%3, 1000), 0); err != nil {
				errs <- err
				return
			}
		}
	}()
	check := func() {
		hwm := p.HighWatermark()
		if hwm == 0 {
			return
		}
		for _, off := range []int64{hwm - 1, hwm / 2, max(hwm-cqBlock, 0)} {
			res, err := p.Read(off, 1<<20)
			if err != nil {
				t.Fatalf("read at %d: %v", off, err)
			}
			if len(res.Chunks) == 0 || res.Chunks[0].BaseOffset > off || res.Chunks[0].LastOffset < off {
				t.Fatalf("read at %d (hwm %d) returned %+v first", off, hwm, res.Chunks)
			}
			for i := 1; i < len(res.Chunks); i++ {
				if res.Chunks[i].BaseOffset != res.Chunks[i-1].LastOffset+1 {
					t.Fatalf("read at %d: chunk %d starts at %d after %d", off, i, res.Chunks[i].BaseOffset, res.Chunks[i-1].LastOffset)
				}
			}
			res.Release()
		}
	}
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		check()
	}
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	check()
}
