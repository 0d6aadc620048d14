package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"go.uber.org/zap"
)

// Recovery never destroys data it could not read. Before anything is
// changed, checkLog walks the commit log from the checkpoint and decides
// where it ends:
//
//   - the end of the segments, or an entry that is not there (zeros, the
//     end of the file's data) with no valid entry after it in its segment:
//     the clean end;
//   - a corrupt entry (length, magic or CRC fails, or it runs past the
//     file's data) with no valid entry after it in its segment: a torn
//     tail, written when the power went; it is cut, with every later
//     segment;
//   - a corrupt entry or a hole with a valid entry after it in the same
//     segment: not a torn tail (a bad sector, a lost page in the middle of
//     fsynced data): refused;
//   - an entry of a type this release does not know (right magic, CRC not
//     judged): written by a later release; refused;
//   - a read error: refused.
//
// Refused means Open fails with an error naming the file, the offset and
// the commit-log position, and nothing on disk has been changed.
//
// Why later segments may be cut although they hold valid entries: a
// segment is closed by its pad before the next one exists, and syncTo
// fsyncs segments in ascending order, stopping at the first failure; so
// once any entry of segment N+1 was made durable (acknowledged under sync
// flush, or covered by a flush under async flush), segment N had been
// fsynced whole, pad included. A segment N whose tail is torn therefore
// proves that nothing in the segments after it was ever made durable:
// they are the rest of the same torn tail, whose pages happened to reach
// the disk before N's did (a roll no longer fsyncs N under the writer
// lock, see rollLocked). What this cannot tell apart is a fully fsynced
// segment whose last entries rotted afterwards; within one segment it
// can, and refuses.

// errRecoveryRefused wraps every refusal of checkLog.
var errRecoveryRefused = errors.New("storage: refusing to open the store; nothing was changed")

// checkLog validates the commit log from pos and returns where it ends.
func (s *Store) checkLog(pos int64) (int64, error) {
	sc := s.newScanner(pos)
	for {
		if _, _, _, ok := sc.next(); !ok {
			break
		}
	}
	end := sc.pos
	var se *scanError
	if !errors.As(sc.err, &se) {
		return end, nil // the end of the segments
	}
	switch se.kind {
	case stopRead, stopUnknown:
		return 0, fmt.Errorf("%w: %v", errRecoveryRefused, se)
	}
	// Nothing valid may follow in end's segment.
	s.segMu.RLock()
	seg := s.segmentForLocked(end)
	var later []*segment
	for _, g := range s.segs {
		if g.base > end {
			later = append(later, g)
		}
	}
	s.segMu.RUnlock()
	if seg != nil {
		// After a missing entry (zeros, the end of the file's data) the
		// search is bounded: every clean end is one, and reading the whole
		// preallocated rest of a 1 GiB segment at each Open would cost
		// seconds and fill the page cache with zeros. A hole in fsynced
		// data (a lost page or extent) is followed by entries at once, so
		// looking noEntryWindow past it finds them. After a corrupt entry
		// (only ever seen after a crash) the whole segment is searched.
		limit := seg.base + seg.cap
		if se.kind == stopNoEntry {
			limit = min(limit, end+noEntryWindow)
		}
		at, err := s.validAfter(seg, end+1, limit)
		if err != nil {
			return 0, fmt.Errorf("%w: looking past %v: reading %s: %v", errRecoveryRefused, se, seg.path, err)
		}
		if at >= 0 {
			return 0, fmt.Errorf("%w: %v, but a valid entry follows at %s offset %d (commit-log position %d): "+
				"this is not a torn tail; the log is damaged in the middle (restore from a replica, or "+
				"cut the file at offset %d by hand to drop everything after the damage)",
				errRecoveryRefused, se, seg.path, at-seg.base, at, se.off)
		}
	}
	for _, g := range later {
		s.log.Warn("storage: the torn tail goes on in a later segment; nothing in it was made durable",
			zap.String("file", g.path), zap.Int64("tornAt", end))
	}
	if se.kind == stopCorrupt {
		s.log.Warn("storage: cutting a torn commit-log tail", zap.String("file", se.path),
			zap.Int64("offset", se.off), zap.Int64("position", se.pos), zap.Error(se.err))
	}
	return end, nil
}

// dataSeeker is implemented by files that can skip holes (lseek
// SEEK_DATA): the unwritten, preallocated rest of a segment then costs no
// reading.
type dataSeeker interface {
	// SeekData returns the first offset >= off holding data, or io.EOF
	// when there is none.
	SeekData(off int64) (int64, error)
}

// noEntryWindow bounds the search for a valid entry after a missing one:
// a lost extent of a few MiB plus the largest batch a producer sends.
const noEntryWindow = 8 << 20

// validAfter returns the position of the first valid entry of seg in
// [pos, limit) (a header with the magic whose length, type and CRCs check, or
// whose type is unknown to this release), -1 if there is none, or a read
// error. Entries may sit at any byte, so every occurrence of the magic is
// tried.
func (s *Store) validAfter(seg *segment, pos, limit int64) (int64, error) {
	size, err := seg.f.Size()
	if err != nil {
		return 0, err
	}
	end := min(size, seg.cap) // file offsets
	// Headers must start below limit; the entries themselves may end
	// beyond it.
	hdrEnd := min(end, limit-seg.base+entryHeaderSize)
	var magic [4]byte
	binary.BigEndian.PutUint32(magic[:], entryMagic)
	buf := make([]byte, min(scanBuf, max(hdrEnd-(pos-seg.base), 0))+entryHeaderSize)
	for off := pos - seg.base; off+entryHeaderSize <= hdrEnd; {
		if ds, ok := seg.f.(dataSeeker); ok {
			d, err := ds.SeekData(off)
			if err == io.EOF {
				return -1, nil
			}
			if err != nil {
				return 0, err
			}
			// SEEK_DATA rounds down to a block: keep off if it is later.
			off = max(off, d)
			if off+entryHeaderSize > hdrEnd {
				return -1, nil
			}
		}
		n := min(int64(len(buf)), hdrEnd-off)
		m, err := seg.f.ReadAt(buf[:n], off)
		if err != nil && err != io.EOF {
			return 0, err
		}
		chunk := buf[:m]
		for i := 0; ; {
			j := bytes.Index(chunk[i:], magic[:])
			if j < 0 {
				break
			}
			c := off + int64(i+j) - 4 // the candidate header's file offset
			i += j + 1
			if c < pos-seg.base {
				continue
			}
			ok, err := s.validAt(seg, c, end)
			if err != nil {
				return 0, err
			}
			if ok {
				return seg.base + c, nil
			}
		}
		if int64(m) < n || off+n >= hdrEnd {
			return -1, nil
		}
		off += n - entryHeaderSize // overlap: a header may straddle chunks
	}
	return -1, nil
}

// validAt reports whether a valid entry (or one of an unknown type) starts
// at file offset c of seg, whose data ends at end.
func (s *Store) validAt(seg *segment, c, end int64) (bool, error) {
	var hdr [entryHeaderSize]byte
	if c+entryHeaderSize > end {
		return false, nil
	}
	if _, err := seg.f.ReadAt(hdr[:], c); err != nil && err != io.EOF {
		return false, err
	}
	h, err := decodeEntryHeader(hdr[:], seg.cap-c)
	if errors.Is(err, errUnknownEntryType) {
		l := int64(binary.BigEndian.Uint32(hdr[0:]))
		return l >= entryHeaderSize && c+l <= seg.cap, nil
	}
	if err != nil {
		return false, nil
	}
	n := int64(h.length)
	if h.typ == entryPad {
		n = entryHeaderSize
	}
	if c+n > end {
		return false, nil
	}
	b := make([]byte, n)
	if _, err := seg.f.ReadAt(b, c); err != nil && err != io.EOF {
		return false, err
	}
	return checkEntry(b, &h), nil
}

// adoptPrepared keeps seg, the segment right after the last one kept, as
// the allocator's prepared segment when nothing was ever written to it (the
// allocator made it before the store closed), rather than deleting and
// preallocating it again. At Open, from truncateTail.
func (s *Store) adoptPrepared(keep []*segment, seg *segment) bool {
	if s.prepared != nil || len(keep) == 0 || seg.base != keep[len(keep)-1].base+keep[len(keep)-1].cap {
		return false
	}
	var hdr [entryHeaderSize]byte
	if _, err := seg.f.ReadAt(hdr[:], 0); err != nil && err != io.EOF {
		return false
	}
	if !allZero(hdr[:]) {
		return false
	}
	s.prepared = seg
	return true
}
