package storage

import (
	"errors"
	"fmt"
	"io"
)

// The raw API is what replication uses: a master reads its commit log as
// bytes from a position, a slave appends them at the same position and
// its dispatcher derives the same partitions, consume queues, producer
// state and key/values.

// ErrPositionMismatch is returned by AppendRaw when pos is not the end of
// the slave's commit log.
var ErrPositionMismatch = errors.New("storage: raw append position is not the commit-log end")

// EndPosition is the end of the commit log (what has been dispatched).
func (s *Store) EndPosition() int64 { return s.writePos.Load() }

// ReadRaw returns whole commit-log entries starting at pos, at most max
// bytes but at least one entry. A segment's closing pad entry is returned
// as its 56-byte header alone; its length field tells the reader where the
// next segment starts. pos == EndPosition gives no bytes.
func (s *Store) ReadRaw(pos int64, maxBytes int) ([]byte, error) {
	end := s.writePos.Load()
	if pos == end {
		return nil, nil
	}
	if pos > end || pos < 0 {
		return nil, ErrOffsetOutOfRange
	}
	s.segMu.RLock()
	seg := s.segmentForLocked(pos)
	var segEnd int64 // a slave changes the cap of its active segment (under segMu)
	if seg != nil && !seg.deleted {
		seg.readers.Add(1)
		segEnd = seg.base + seg.cap
	}
	s.segMu.RUnlock()
	if seg == nil || seg.deleted {
		return nil, ErrOffsetOutOfRange
	}
	defer seg.readers.Add(-1)
	// One read of up to maxBytes, then whole entries from it.
	limit := min(end, segEnd)
	if pos >= limit {
		return nil, nil // an unmarked segment end: the next segment has pos
	}
	buf := make([]byte, min(int64(max(maxBytes, entryHeaderSize)), limit-pos))
	n, err := seg.f.ReadAt(buf, pos-seg.base)
	if n < len(buf) && err != nil && err != io.EOF {
		return nil, err
	}
	buf = buf[:n]
	off := 0
	for off+entryHeaderSize <= len(buf) {
		h, err := decodeEntryHeader(buf[off:], segEnd-pos-int64(off))
		if err != nil {
			return nil, fmt.Errorf("storage: raw read at %d: %w", pos+int64(off), err)
		}
		if h.typ == entryPad {
			return buf[:off+entryHeaderSize], nil
		}
		if off+int(h.length) > len(buf) {
			if off > 0 {
				break
			}
			// One entry larger than maxBytes.
			one := make([]byte, h.length)
			if _, err := seg.f.ReadAt(one, pos-seg.base); err != nil && err != io.EOF {
				return nil, err
			}
			return one, nil
		}
		off += int(h.length)
	}
	if off == 0 {
		return nil, fmt.Errorf("storage: raw read at %d: %w", pos, errBadEntry)
	}
	return buf[:off], nil
}

// EntryKind is the type of a commit-log entry, as Config.OnApply reports
// it.
type EntryKind uint8

// Entry kinds (the on-disk entry types of doc.go, plus EntryTerm for the
// key/value entries of TermNamespace).
const (
	EntryBatch           EntryKind = EntryKind(entryBatch)
	EntryCreatePartition EntryKind = EntryKind(entryCreate)
	EntryDeleteTopic     EntryKind = EntryKind(entryDelete)
	EntryKV              EntryKind = EntryKind(entryKV)
	EntryPad             EntryKind = EntryKind(entryPad)
	EntryLogStart        EntryKind = EntryKind(entryLogStart)
	EntryTerm            EntryKind = 100
)

// appliedEntry is one entry AppendRaw dispatched, for Config.OnApply.
type appliedEntry struct {
	kind EntryKind
	ns   string
}

// maxRawEntry bounds the length of an entry AppendRaw accepts: the master's
// segment size is not known here, and a length field is a uint32.
const maxRawEntry = 1<<31 - 1

// AppendRaw appends commit-log bytes read by ReadRaw on the master at the
// same position pos, which must be this store's EndPosition. Every entry is
// validated (a corrupt one fails the call, with the entries before it
// applied) and dispatched; Config.OnApply is called for each, in order,
// once the store's locks are released. Durable under the flush mode on
// return; visible only up to the commit limit (SetCommitLimit).
//
// Every entry lands at the position it has on the master, whatever the two
// stores' SegmentBytes: where the master's pad says its segment ends, the
// slave writes the same pad and starts its next segment there; where a
// master entry does not fit in the slave's segment, the slave ends that
// segment just before it (a segment end with no pad, as when an entry
// fills a segment exactly) and starts the next one at the entry, made
// large enough for it. ReadRaw on the slave returns the same bytes.
func (s *Store) AppendRaw(pos int64, data []byte) error {
	s.following.Store(true)
	var end int64
	var err error
	termFirst := false
	for {
		var n int
		var term bool
		var applied []appliedEntry
		n, term, end, applied, err = s.appendRawRound(pos, data, termFirst)
		for _, a := range applied {
			s.cfg.OnApply(a.kind, a.ns)
		}
		pos, data = pos+int64(n), data[n:]
		if err != nil || !term {
			break
		}
		// A term entry is next: keep a checkpoint from just before it, a
		// base for truncating into the term (truncate.go).
		if err = s.keepCheckpoint(); err != nil {
			break
		}
		pos, termFirst = s.writePos.Load(), true
	}
	if werr := s.WaitDurable(end); err == nil {
		err = werr
	}
	return err
}

// appendRawRound writes and dispatches the entries of data at pos, up to
// the end or up to a term entry (term is then true), unless that is the
// first entry and termFirst. It returns the bytes consumed, the commit-log
// end and the entries for OnApply.
func (s *Store) appendRawRound(pos int64, data []byte, termFirst bool) (consumed int, term bool, end int64, applied []appliedEntry, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	end = s.writePos.Load()
	if s.closed {
		return 0, false, end, nil, ErrClosed
	}
	if err := s.brokenErr(); err != nil {
		return 0, false, end, nil, err
	}
	if pos != end {
		return 0, false, end, nil, fmt.Errorf("%w: got %d, end is %d", ErrPositionMismatch, pos, end)
	}
	// Consecutive entries that fit in the active segment are written with
	// one write, then dispatched one by one.
	type rawEntry struct {
		off, n int
		pos    int64
		h      entryHeader
		a      appliedEntry
	}
	var run []rawEntry
	var runSeg *segment
	flush := func() error {
		if len(run) == 0 {
			return nil
		}
		first, last := run[0], run[len(run)-1]
		if e := s.writeAt(runSeg, data[first.off:last.off+last.n], first.pos); e != nil {
			return e
		}
		for i := range run {
			r := &run[i]
			s.writePos.Store(r.pos + int64(r.n))
			s.apply(r.pos, &r.h, data[r.off:r.off+r.n])
			if s.cfg.OnApply != nil {
				applied = append(applied, r.a)
			}
		}
		consumed = last.off + last.n
		run = run[:0]
		return nil
	}
	// A panic in here breaks the store (panic.go) instead of leaving it
	// half-updated and writable.
	err = s.breakOnPanic(func() error {
		off := consumed
		for len(data) > off {
			rest := data[off:]
			p := s.writePos.Load()
			if len(run) > 0 {
				last := run[len(run)-1]
				p = last.pos + int64(last.n)
			}
			h, e := decodeEntryHeader(rest, maxRawEntry)
			if e != nil {
				return errors.Join(flush(), fmt.Errorf("%w at %d", errBadEntry, p))
			}
			n := int(h.length)
			if h.typ == entryPad {
				n = entryHeaderSize
			}
			if len(rest) < n || !checkEntry(rest[:n], &h) {
				return errors.Join(flush(), fmt.Errorf("%w at %d", errBadEntry, p))
			}
			a := entryKind(&h, rest[:n])
			if a.kind == EntryTerm && !(termFirst && off == 0) && (s.boot == nil || p >= s.boot.end) {
				term = true
				return flush()
			}
			if seg := s.active(); h.typ != entryPad && p+int64(n) <= seg.base+seg.cap {
				if len(run) == 0 {
					runSeg = seg
				}
				run = append(run, rawEntry{off: off, n: n, pos: p, h: h, a: a})
				off += n
				continue
			}
			if e := flush(); e != nil {
				return e
			}
			seg, e := s.rawRoomLocked(p, int64(n))
			if e != nil {
				return e
			}
			if e := s.writeAt(seg, rest[:n], p); e != nil {
				return e
			}
			if h.typ == entryPad {
				if e := s.rawEndSegmentLocked(seg, p+int64(h.length)); e != nil {
					return e
				}
			} else {
				s.writePos.Store(p + int64(n))
				s.apply(p, &h, rest[:n])
				if s.cfg.OnApply != nil {
					applied = append(applied, a)
				}
			}
			off += n
			consumed = off
		}
		return flush()
	})
	return consumed, term, s.writePos.Load(), applied, err
}

// entryKind names an entry for Config.OnApply.
func entryKind(h *entryHeader, b []byte) appliedEntry {
	a := appliedEntry{kind: EntryKind(h.typ)}
	if h.typ == entryKV && h.length > entryHeaderSize {
		if ns, _, ok := decodeKV(b[entryHeaderSize:h.length]); ok {
			a.ns = ns
			if ns == TermNamespace {
				a.kind = EntryTerm
			}
		}
	}
	return a
}

// rawRoomLocked returns the segment to write n raw bytes at p (the end of
// the log) in: the active one if they fit, else a new segment starting at
// p, at least n bytes long. Under s.mu.
func (s *Store) rawRoomLocked(p, n int64) (*segment, error) {
	seg := s.active()
	if p+n <= seg.base+seg.cap {
		return seg, nil
	}
	if p > seg.base {
		if err := s.rawEndSegmentLocked(seg, p); err != nil {
			return nil, err
		}
		seg = s.active()
	}
	if p+n > seg.base+seg.cap {
		// A master entry larger than this store's segments.
		if err := seg.f.Allocate(p + n - seg.base); err != nil {
			if isNoSpace(err) {
				return nil, fmt.Errorf("%w: %v", ErrDiskFull, err)
			}
			return nil, s.fail(err)
		}
		s.segMu.Lock()
		s.diskBytes.Add(p + n - seg.base - seg.cap)
		seg.cap = p + n - seg.base
		s.segMu.Unlock()
	}
	return seg, nil
}

// rawEndSegmentLocked ends the active segment seg at end (where the
// master's pad says its segment ends, or before a master entry that does
// not fit) and starts the next segment there. The next segment is created
// before seg is cut, so a crash in between leaves seg's end defined by the
// next one's name. Under s.mu.
func (s *Store) rawEndSegmentLocked(seg *segment, end int64) error {
	next, err := s.createSegment(end)
	if err != nil {
		if isNoSpace(err) {
			return fmt.Errorf("%w: %v", ErrDiskFull, err)
		}
		return s.fail(err)
	}
	if end < seg.base+seg.cap {
		if err := seg.f.Truncate(end - seg.base); err != nil {
			next.f.Close()
			return s.fail(err)
		}
	}
	if err := s.syncSegment(seg); err != nil {
		next.f.Close()
		return err
	}
	s.segMu.Lock()
	s.diskBytes.Add(end - seg.base - seg.cap + next.cap)
	seg.cap = end - seg.base
	s.segs = append(s.segs, next)
	s.segMu.Unlock()
	s.kickAllocator()
	s.writePos.Store(end)
	return nil
}

// SetFollower says whether the store is a slave's: its log is then written
// only by AppendRaw, and retention writes nothing of its own (retention.ms
// and retention.bytes policies and the MaxDiskBytes cap move no log starts;
// the master's moves arrive in its log, and segments are deleted once they
// no longer hold retained data). AppendRaw, InstallBootstrap and Truncate
// set it; BeginTerm (a promotion) clears it. A slave's broker may set it
// right after Open, before its first AppendRaw.
func (s *Store) SetFollower(on bool) { s.following.Store(on) }
