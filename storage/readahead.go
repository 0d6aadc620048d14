package storage

// Read-ahead for consumers far behind.
//
// A partition's batches are spread through the shared commit log between
// other partitions' entries, and a consumer far behind reads data the page
// cache no longer holds: each fetch then waits for the kernel's own
// read-ahead, which reads a little at a time and only once it sees a
// sequential pattern in one file. On the test machine's disk a sequential
// read of a segment with the kernel's read-ahead alone gave 300-430 MiB/s,
// and the same read with the next 16-32 MiB advised (posix_fadvise
// WILLNEED) ahead of it 560-1,300 MiB/s.
//
// So a read whose end lies at least readAheadMinLag below the end of the
// commit log advises the next readAheadWindows windows of readAheadWindow
// bytes after it, each window once (recently advised windows are
// remembered), from one background goroutine: the fetch never waits for
// the advice, and a full queue drops it. A queued advice pins its segment
// (readers), so retention does not delete a file under it. Reads near the
// end are left alone: what was just written is still in the page cache.

import (
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// readAheadWindow is the unit of advice in commit-log bytes; a variable so
// tests can use small ones.
var readAheadWindow int64 = 16 << 20

const (
	// readAheadWindows is how many windows past a read are advised.
	readAheadWindows = 2
	// readAheadMinLag, in windows: a read ending closer to the log end
	// than this is not followed by advice.
	readAheadMinLag = 4
	// readAheadRemember bounds the set of advised windows.
	readAheadRemember = 4096
)

// readAhead is the store's read-ahead state.
type readAhead struct {
	mu      sync.Mutex
	advised map[int64]struct{} // window indexes advised (bounded)
	queue   chan raAdvice
	bytes   atomic.Int64 // bytes advised so far (tests, metrics)
}

type raAdvice struct {
	seg    *segment
	off, n int64
}

func newReadAhead() *readAhead {
	return &readAhead{advised: make(map[int64]struct{}), queue: make(chan raAdvice, 16)}
}

// noteReadLocked is called by a read whose chunks end at end; under
// s.segMu (read), so segments can be looked up and pinned.
func (s *Store) noteReadLocked(end int64) {
	w := readAheadWindow
	wpos := s.writePos.Load()
	if wpos-end < readAheadMinLag*w {
		return
	}
	ra := s.ra
	first := end / w
	for idx := first; idx <= first+readAheadWindows; idx++ {
		ra.mu.Lock()
		_, done := ra.advised[idx]
		if !done {
			if len(ra.advised) >= readAheadRemember {
				clear(ra.advised)
			}
			ra.advised[idx] = struct{}{}
		}
		ra.mu.Unlock()
		if done {
			continue
		}
		pos, stop := max(idx*w, end), min((idx+1)*w, wpos)
		for pos < stop {
			seg := s.segmentForLocked(pos)
			if seg == nil || seg.deleted || seg.f.OS() == nil {
				break
			}
			n := min(stop, seg.base+seg.cap) - pos
			seg.readers.Add(1)
			select {
			case ra.queue <- raAdvice{seg: seg, off: pos - seg.base, n: n}:
			default:
				seg.readers.Add(-1) // busy: drop it, the kernel reads ahead anyway
				ra.mu.Lock()
				delete(ra.advised, idx)
				ra.mu.Unlock()
				return
			}
			pos += n
		}
	}
}

// readAheader gives the queued advice to the kernel until the store stops.
func (s *Store) readAheader() {
	defer s.wg.Done()
	for {
		select {
		case a := <-s.ra.queue:
			s.advise(a)
		case <-s.stop:
			for {
				select {
				case a := <-s.ra.queue:
					a.seg.readers.Add(-1)
				default:
					return
				}
			}
		}
	}
}

func (s *Store) advise(a raAdvice) {
	defer a.seg.readers.Add(-1)
	f := a.seg.f.OS()
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	// Control keeps the descriptor open for the call even if the
	// segment is closed meanwhile.
	_ = rc.Control(func(fd uintptr) {
		if unix.Fadvise(int(fd), a.off, a.n, unix.FADV_WILLNEED) == nil {
			s.ra.bytes.Add(a.n)
		}
	})
}
