package storage

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// segment is one commit-log file, holding positions [base, base+cap).
type segment struct {
	base int64
	cap  int64
	f    File
	path string
	// readers counts unreleased ReadResults (and raw reads) referring to
	// the segment; retention does not delete it while > 0.
	readers atomic.Int32
	deleted bool // under Store.segMu
	// syncMu serializes the file's fsyncs (syncSegment).
	syncMu sync.Mutex
}

func segmentName(base int64) string { return fmt.Sprintf("%020d.log", base) }

// openSegments opens the commit-log files of dir in position order.
func (s *Store) openSegments() error {
	names, err := s.fs.ReadDir(s.clDir)
	if err != nil {
		return err
	}
	for _, n := range names {
		if filepath.Ext(n) != ".log" || len(n) != 24 {
			continue
		}
		base, err := strconv.ParseInt(n[:20], 10, 64)
		if err != nil {
			continue
		}
		path := filepath.Join(s.clDir, n)
		f, err := s.fs.OpenFile(path, os.O_RDWR, 0o644)
		if err != nil {
			return err
		}
		size, err := f.Size()
		if err != nil {
			f.Close()
			return err
		}
		s.segs = append(s.segs, &segment{base: base, cap: max(size, s.segCap(base)), f: f, path: path})
	}
	sort.Slice(s.segs, func(i, j int) bool { return s.segs[i].base < s.segs[j].base })
	for i := 0; i+1 < len(s.segs); i++ {
		s.segs[i].cap = s.segs[i+1].base - s.segs[i].base
	}
	return nil
}

// segCap is the size of a new segment starting at base: segments end at
// multiples of SegmentBytes (a slave's segments follow its master's pads
// whatever their size, see AppendRaw). A remainder too small for a pad
// joins the next segment.
func (s *Store) segCap(base int64) int64 {
	sb := s.cfg.SegmentBytes
	c := (base/sb+1)*sb - base
	if c < 2*entryHeaderSize {
		c += sb
	}
	return c
}

// createSegment returns the segment starting at base, preallocated and
// with its directory entry durable: the one the allocator prepared when
// it starts there, else one created now.
func (s *Store) createSegment(base int64) (*segment, error) {
	s.allocMu.Lock()
	defer s.allocMu.Unlock()
	return s.takeSegmentLocked(base)
}

// takeSegmentLocked is createSegment under s.allocMu. A prepared segment
// starting elsewhere (the log was cut or replaced since) is discarded: no
// other segment has its name, since every segment is made here.
func (s *Store) takeSegmentLocked(base int64) (*segment, error) {
	if p := s.prepared; p != nil {
		s.prepared = nil
		if p.base == base {
			return p, nil
		}
		s.discardSegment(p)
	}
	return s.allocSegment(base)
}

// allocSegment creates and preallocates the segment file starting at base
// and makes its directory entry durable. Slow (fallocate of up to
// SegmentBytes, a directory fsync), so the allocator does it ahead of
// time, outside the writer lock.
func (s *Store) allocSegment(base int64) (*segment, error) {
	path := filepath.Join(s.clDir, segmentName(base))
	f, err := s.fs.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	c := s.segCap(base)
	if err := f.Allocate(c); err != nil {
		f.Close()
		s.fs.Remove(path)
		return nil, err
	}
	if err := s.fs.SyncDir(s.clDir); err != nil {
		f.Close()
		return nil, err
	}
	return &segment{base: base, cap: c, f: f, path: path}, nil
}

// discardSegment removes a prepared segment nothing was written to.
func (s *Store) discardSegment(seg *segment) {
	seg.f.Close()
	if err := s.fs.Remove(seg.path); err != nil {
		s.log.Warn("storage: removing an unused preallocated segment", zap.String("file", seg.path), zap.Error(err))
	}
}

// allocator prepares the segment after the active one ahead of time, as
// RocketMQ's AllocateMappedFileService does, so a roll under the writer
// lock only swaps a file in. It runs at start and after every roll; a
// failure (a full disk) is left to the roll, which then creates the
// segment itself and reports the error.
func (s *Store) allocator() {
	defer s.wg.Done()
	for {
		select {
		case <-s.stop:
			return
		case <-s.allocKick:
		}
		// Every segment is published under s.mu, right after createSegment
		// took it (under allocMu): reading the end here under s.mu, and
		// taking allocMu before letting go of it, means the base cannot be
		// read between a creation and its publication (which would prepare
		// a second file of the segment just created).
		s.mu.Lock()
		s.allocMu.Lock()
		s.segMu.RLock()
		var base int64 = -1
		if n := len(s.segs); n > 0 && !s.closed {
			base = s.segs[n-1].base + s.segs[n-1].cap
		}
		s.segMu.RUnlock()
		s.mu.Unlock()
		if base >= 0 && (s.prepared == nil || s.prepared.base != base) {
			if s.prepared != nil {
				s.discardSegment(s.prepared)
				s.prepared = nil
			}
			seg, err := s.allocSegment(base)
			if err != nil {
				s.log.Warn("storage: preparing the next commit-log segment", zap.Int64("base", base), zap.Error(err))
			} else {
				s.prepared = seg
			}
		}
		s.allocMu.Unlock()
	}
}

// discardPrepared removes the prepared segment (the log was cut: it was
// made for an end that is gone; left on disk it would give the segment
// before it the wrong size at the next Open). Under s.mu.
func (s *Store) discardPrepared() {
	s.allocMu.Lock()
	defer s.allocMu.Unlock()
	if s.prepared != nil {
		s.discardSegment(s.prepared)
		s.prepared = nil
	}
	s.kickAllocator()
}

func (s *Store) kickAllocator() {
	select {
	case s.allocKick <- struct{}{}:
	default:
	}
}

// active is the segment being written; under s.mu (which keeps it from
// changing; segMu guards the slice against retention).
func (s *Store) active() *segment {
	s.segMu.RLock()
	defer s.segMu.RUnlock()
	return s.segs[len(s.segs)-1]
}

// segmentFor returns the segment holding pos, or nil; under s.segMu.
func (s *Store) segmentForLocked(pos int64) *segment {
	i := sort.Search(len(s.segs), func(i int) bool { return s.segs[i].base+s.segs[i].cap > pos })
	if i < len(s.segs) && s.segs[i].base <= pos {
		return s.segs[i]
	}
	return nil
}

// fail records the first I/O error of a write or fsync; the store refuses
// writes from then on (the file may hold anything past the last good
// position, and after a failed fsync the page cache may have dropped
// dirty pages, so continuing could acknowledge lost data).
func (s *Store) fail(err error) error {
	e := fmt.Errorf("%w: %v", ErrBroken, err)
	if s.broken.CompareAndSwap(nil, &e) {
		s.log.Error("storage: write error, refusing further writes")
		return e
	}
	return *s.broken.Load()
}

func (s *Store) brokenErr() error {
	if e := s.broken.Load(); e != nil {
		return *e
	}
	return nil
}

// writeEntryLocked writes one whole entry (header filled in by the caller
// except for a pad) at the end of the commit log, rolling to a new segment
// when it does not fit; it returns the entry's position. Under s.mu.
func (s *Store) writeEntryLocked(b []byte) (int64, error) {
	n := int64(len(b))
	if n > s.cfg.SegmentBytes {
		return 0, ErrBatchTooLarge
	}
	seg := s.active()
	pos := s.writePos.Load()
	rem := seg.base + seg.cap - pos
	// An entry must leave either nothing or room for a pad header, so the
	// end of every segment is marked and a slave can follow it.
	if n != rem && n+entryHeaderSize > rem {
		if err := s.rollLocked(seg, pos, rem); err != nil {
			return 0, err
		}
		seg = s.active()
		pos = s.writePos.Load()
	}
	if err := s.writeAt(seg, b, pos); err != nil {
		return 0, err
	}
	s.writePos.Store(pos + n)
	return pos, nil
}

// writeAt writes b at commit-log position pos of seg. A full disk is
// reported as ErrDiskFull without breaking the store (the write position
// does not move, so the partial bytes are overwritten by the next entry);
// any other failure breaks it.
func (s *Store) writeAt(seg *segment, b []byte, pos int64) error {
	nw, err := seg.f.WriteAt(b, pos-seg.base)
	if err == nil && nw != len(b) {
		err = io.ErrShortWrite
	}
	if err != nil {
		if isNoSpace(err) {
			return fmt.Errorf("%w: %v", ErrDiskFull, err)
		}
		return s.fail(err)
	}
	return nil
}

// rollLocked ends seg with a pad entry (when rem > 0) and starts the next
// segment. Under s.mu, so it does no slow I/O: the next segment was
// normally prepared by the allocator, and seg is fsynced by the next
// flush or group commit (syncTo syncs every segment it covers), not here.
func (s *Store) rollLocked(seg *segment, pos, rem int64) error {
	s.allocMu.Lock()
	next, err := s.takeSegmentLocked(seg.base + seg.cap)
	if err != nil {
		s.allocMu.Unlock()
		if isNoSpace(err) {
			return fmt.Errorf("%w: %v", ErrDiskFull, err)
		}
		return s.fail(err)
	}
	if rem > 0 {
		var pad [entryHeaderSize]byte
		h := entryHeader{length: uint32(rem), typ: entryPad}
		putEntryHeader(pad[:], &h)
		if err := s.writeAt(seg, pad[:], pos); err != nil {
			s.prepared = next // unused: the next roll takes it
			s.allocMu.Unlock()
			return err
		}
	}
	// Published to segs under allocMu, so the allocator never prepares
	// the segment just taken.
	s.segMu.Lock()
	s.segs = append(s.segs, next)
	s.diskBytes.Add(next.cap)
	s.segMu.Unlock()
	s.allocMu.Unlock()
	s.kickAllocator()
	select {
	case s.flushKick <- struct{}{}:
	default:
	}
	s.writePos.Store(next.base)
	if s.cfg.MaxDiskBytes > 0 && s.diskBytes.Load() > s.cfg.MaxDiskBytes {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
	return nil
}

// syncSegment fsyncs seg. A failure breaks the store. Success is not
// enough either: when two fsyncs of one file run at once (a roll used to
// fsync the segment it closed while a group commit fsynced it too; a
// slave's early segment end or a Truncate may still meet a flush), Linux
// reports a writeback error to only one of them, the other returning 0
// although the dirty pages were dropped. So the fsyncs of a segment are
// serialized (seg.syncMu, held until a failure is recorded), and the
// sticky state is read again after every fsync: whoever saw the error, no
// waiter is acknowledged on the strength of an fsync that "succeeded".
func (s *Store) syncSegment(seg *segment) error {
	seg.syncMu.Lock()
	defer seg.syncMu.Unlock()
	start := time.Now()
	err := seg.f.Sync()
	if s.cfg.OnSync != nil {
		s.cfg.OnSync(time.Since(start))
	}
	if err != nil {
		return s.fail(fmt.Errorf("fsync %s: %w", seg.path, err))
	}
	return s.brokenErr()
}

// readAtPos reads len(p) bytes of the commit log at pos (within one segment).
func (s *Store) readAtPos(p []byte, pos int64) error {
	s.segMu.RLock()
	seg := s.segmentForLocked(pos)
	s.segMu.RUnlock()
	if seg == nil {
		return ErrOffsetOutOfRange
	}
	_, err := seg.f.ReadAt(p, pos-seg.base)
	if err == io.EOF {
		err = nil
	}
	return err
}

// scanner walks the entries of the commit log from a position, validating
// each; it reads through a large buffer so recovery streams the file.
type scanner struct {
	s   *Store
	seg *segment
	pos int64 // position of the next entry
	buf []byte
	bs  int64 // commit-log position of buf[0]
	bn  int   // valid bytes in buf
	// err says why next returned !ok: nil at the end of the segments, else
	// a *scanError (no entry, a corrupt one, an unknown type, or a read
	// error: recovery tells them apart).
	err error
}

const scanBuf = 4 << 20

func (s *Store) newScanner(pos int64) *scanner {
	return &scanner{s: s, pos: pos, buf: make([]byte, scanBuf)}
}

// scanStop is why a scan stopped before the end of the segments.
type scanStop int

const (
	stopNoEntry scanStop = iota // zeros or the end of the file's data
	stopCorrupt                 // a bad length, magic or CRC, or torn
	stopUnknown                 // the right magic, an entry type unknown here
	stopRead                    // the file could not be read
)

// scanError reports where and why a scan stopped.
type scanError struct {
	kind scanStop
	path string
	off  int64 // offset in the file
	pos  int64 // commit-log position
	err  error
}

func (e *scanError) Error() string {
	what := map[scanStop]string{stopNoEntry: "no entry", stopCorrupt: "corrupt entry",
		stopUnknown: "entry of a type this release does not know (written by a later release?)",
		stopRead:    "read error"}[e.kind]
	msg := fmt.Sprintf("%s at %s offset %d (commit-log position %d)", what, e.path, e.off, e.pos)
	if e.err != nil {
		msg += ": " + e.err.Error()
	}
	return msg
}

func (e *scanError) Unwrap() error { return e.err }

func (sc *scanner) stop(kind scanStop, err error) {
	sc.err = &scanError{kind: kind, path: sc.seg.path, off: sc.pos - sc.seg.base, pos: sc.pos, err: err}
}

// fill makes [pos, pos+n) available in the buffer; false at the end of
// the segment's data, or with a read error (then sc.err is set).
func (sc *scanner) fill(n int64) bool {
	if sc.pos >= sc.bs && sc.pos+n <= sc.bs+int64(sc.bn) {
		return true
	}
	end := sc.seg.base + sc.seg.cap
	if sc.pos+n > end {
		return false
	}
	if n > int64(len(sc.buf)) {
		sc.buf = make([]byte, n)
	}
	want := min(int64(len(sc.buf)), end-sc.pos)
	m, err := sc.seg.f.ReadAt(sc.buf[:want], sc.pos-sc.seg.base)
	if err != nil && err != io.EOF {
		// Never taken for the end of the data: recovery would cut
		// everything after it.
		sc.bs, sc.bn = sc.pos, 0
		sc.stop(stopRead, err)
		return false
	}
	sc.bs, sc.bn = sc.pos, m
	return int64(m) >= n
}

// next returns the entry at sc.pos and advances; ok is false at the end of
// valid data (a zero, torn or corrupt entry, a read error, or the end of
// the segments; sc.err says which). Pads are returned, and move the scan
// to the next segment.
func (sc *scanner) next() (h entryHeader, b []byte, pos int64, ok bool) {
	sc.err = nil
	if sc.seg == nil || sc.pos >= sc.seg.base+sc.seg.cap {
		sc.s.segMu.RLock()
		sc.seg = sc.s.segmentForLocked(sc.pos)
		sc.s.segMu.RUnlock()
		if sc.seg == nil {
			return h, nil, sc.pos, false
		}
	}
	if !sc.fill(entryHeaderSize) {
		if sc.err == nil {
			sc.stop(stopNoEntry, nil)
		}
		return h, nil, sc.pos, false
	}
	off := sc.pos - sc.bs
	hdr := sc.buf[off : off+entryHeaderSize]
	h, err := decodeEntryHeader(hdr, sc.seg.base+sc.seg.cap-sc.pos)
	switch {
	case errors.Is(err, errUnknownEntryType):
		sc.stop(stopUnknown, fmt.Errorf("type %d", h.typ))
		return h, nil, sc.pos, false
	case err != nil && allZero(hdr):
		sc.stop(stopNoEntry, nil)
		return h, nil, sc.pos, false
	case err != nil:
		sc.stop(stopCorrupt, errors.New("bad length or magic"))
		return h, nil, sc.pos, false
	}
	n := int64(h.length)
	if h.typ == entryPad {
		n = entryHeaderSize
	}
	if !sc.fill(n) {
		if sc.err == nil {
			sc.stop(stopCorrupt, errors.New("torn: the entry runs past the file's data"))
		}
		return h, nil, sc.pos, false
	}
	off = sc.pos - sc.bs
	b = sc.buf[off : off+n]
	if !checkEntry(b, &h) {
		sc.stop(stopCorrupt, errors.New("checksum mismatch"))
		return h, nil, sc.pos, false
	}
	pos = sc.pos
	sc.pos += int64(h.length)
	return h, b, pos, true
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
