package storage

import (
	"errors"
	"fmt"
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
	var out []byte
	var hdr [entryHeaderSize]byte
	for pos < end && pos < segEnd {
		if _, err := seg.f.ReadAt(hdr[:], pos-seg.base); err != nil {
			return nil, err
		}
		h, err := decodeEntryHeader(hdr[:], segEnd-pos)
		if err != nil {
			return nil, fmt.Errorf("storage: raw read at %d: %w", pos, err)
		}
		if h.typ == entryPad {
			out = append(out, hdr[:]...)
			break
		}
		if len(out) > 0 && len(out)+int(h.length) > maxBytes {
			break
		}
		n := len(out)
		out = append(out, make([]byte, h.length)...)
		if _, err := seg.f.ReadAt(out[n:], pos-seg.base); err != nil {
			return nil, err
		}
		pos += int64(h.length)
	}
	return out, nil
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
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	if err := s.brokenErr(); err != nil {
		s.mu.Unlock()
		return err
	}
	if pos != s.writePos.Load() {
		s.mu.Unlock()
		return fmt.Errorf("%w: got %d, end is %d", ErrPositionMismatch, pos, s.writePos.Load())
	}
	var applied []appliedEntry
	err := s.breakOnPanic(func() error {
		for len(data) > 0 {
			p := s.writePos.Load()
			h, e := decodeEntryHeader(data, maxRawEntry)
			if e != nil {
				return fmt.Errorf("%w at %d", errBadEntry, p)
			}
			n := int(h.length)
			if h.typ == entryPad {
				n = entryHeaderSize
			}
			if len(data) < n || !checkEntry(data[:n], &h) {
				return fmt.Errorf("%w at %d", errBadEntry, p)
			}
			seg, e := s.rawRoomLocked(p, int64(n))
			if e != nil {
				return e
			}
			if e := s.writeAt(seg, data[:n], p); e != nil {
				return e
			}
			if h.typ == entryPad {
				if e := s.rawEndSegmentLocked(seg, p+int64(h.length)); e != nil {
					return e
				}
			} else {
				s.writePos.Store(p + int64(n))
				s.apply(p, &h, data[:n])
				if s.cfg.OnApply != nil {
					applied = append(applied, entryKind(&h, data[:n]))
				}
			}
			data = data[n:]
		}
		return nil
	})
	end := s.writePos.Load()
	s.mu.Unlock()
	for _, a := range applied {
		s.cfg.OnApply(a.kind, a.ns)
	}
	if werr := s.WaitDurable(end); err == nil {
		err = werr
	}
	return err
}

// entryKind names an entry for Config.OnApply.
func entryKind(h *entryHeader, b []byte) appliedEntry {
	a := appliedEntry{kind: EntryKind(h.typ)}
	if h.typ == entryKV {
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
	if err := seg.f.Sync(); err != nil {
		next.f.Close()
		return s.fail(err)
	}
	s.segMu.Lock()
	s.diskBytes.Add(end - seg.base - seg.cap + next.cap)
	seg.cap = end - seg.base
	s.segs = append(s.segs, next)
	s.segMu.Unlock()
	s.writePos.Store(end)
	return nil
}

// ReadSnapshot returns the master's derived state (partitions with their
// offsets, log starts, leader epochs and producer state, and every internal
// key/value) at the commit-log position pos it covers. A slave whose
// position is below the master's first segment (retention deleted what it
// would need) installs it with InstallSnapshot and then follows ReadRaw
// from pos.
func (s *Store) ReadSnapshot() (pos int64, data []byte, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, nil, ErrClosed
	}
	pos = s.writePos.Load()
	data, _ = s.encodeCheckpointLocked(pos)
	return pos, data, nil
}

// InstallSnapshot discards everything this store holds and makes it a
// slave starting at the master's position pos with the master's derived
// state: the partitions get the master's log-end offsets, leader epochs and
// producer state, with log start = log end (the records before pos are
// not copied), and the internal key/values. The commit log then continues
// at pos through AppendRaw. No reads or writes may be in flight.
func (s *Store) InstallSnapshot(pos int64, data []byte) error {
	ck, err := decodeCheckpoint(data)
	if err != nil {
		return err
	}
	if ck.pos != pos {
		return fmt.Errorf("%w: snapshot covers %d, not %d", errBadCheckpoint, ck.pos, pos)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if err := s.brokenErr(); err != nil {
		return err
	}
	// Drop the old state and files.
	s.segMu.Lock()
	for _, seg := range s.segs {
		seg.deleted = true
		seg.f.Close()
		if err := s.fs.Remove(seg.path); err != nil {
			s.segMu.Unlock()
			return s.fail(err)
		}
	}
	s.segs = nil
	s.diskBytes.Store(0)
	s.segMu.Unlock()
	s.partsMu.Lock()
	old := s.parts
	s.parts = make(map[pkey]*Partition)
	s.partsMu.Unlock()
	for _, p := range old {
		p.mu.Lock()
		p.deleted = true
		ws := p.watchersLocked()
		p.mu.Unlock()
		for _, fn := range ws {
			fn()
		}
	}
	s.cache.closeAll()
	if err := s.fs.RemoveAll(s.cqDir); err != nil {
		return s.fail(err)
	}
	if err := s.fs.MkdirAll(s.cqDir, 0o755); err != nil {
		return s.fail(err)
	}
	seg, err := s.createSegment(pos)
	if err != nil {
		return s.fail(err)
	}
	s.segMu.Lock()
	s.segs = []*segment{seg}
	s.diskBytes.Store(seg.cap)
	s.segMu.Unlock()
	s.writePos.Store(pos)
	s.flushMu.Lock()
	s.durable, s.published, s.pending = pos, pos, nil
	s.flushMu.Unlock()

	// The master's partitions, without the records before pos.
	s.partsMu.Lock()
	for _, cp := range ck.parts {
		p := newPartition(s, cp.key)
		p.tailLoaded = true
		p.nextOffset, p.hwm, p.logStart = cp.nextOffset, cp.nextOffset, cp.nextOffset
		p.epochs = cp.epochs
		p.producers = cp.producers
		s.parts[p.key] = p
	}
	s.partsMu.Unlock()
	s.kvMu.Lock()
	s.kv = ck.kv
	s.kvMu.Unlock()
	s.ckptPos.Store(0)
	s.mu.Unlock()
	err = s.checkpoint()
	s.mu.Lock()
	if err != nil {
		return s.fail(err)
	}
	return nil
}
