package storage

// Log compaction (cleanup.policy=compact) on the shared commit log by copy
// forward; the design, its costs and its crash and replication behaviour
// are in doc.go ("Compaction"). This file holds the committed state, the
// view readers use, and the read path below the clean end.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
)

// entryCompacted is a cleaned copy of a batch (doc.go: FROZEN).
const entryCompacted byte = 7

// CompactNamespace holds each compacted partition's committed state: key =
// topic id (16 bytes) + partition (int32), value = compactState.
const CompactNamespace = ReservedNamespacePrefix + "compact"

// compactFlagTombstones marks a copy holding at least one tombstone.
const compactFlagTombstones byte = 1

// CompactionPolicy is a partition's Kafka compaction settings; the zero
// value (Enabled false) means no compaction.
type CompactionPolicy struct {
	Enabled bool
	// MinCleanableRatio is min.cleanable.dirty.ratio: a partition is
	// cleaned once dirty bytes / (clean + dirty) reaches it.
	MinCleanableRatio float64
	// MinLagMs (min.compaction.lag.ms): a batch whose max timestamp is
	// newer than now - MinLagMs is not cleaned.
	MinLagMs int64
	// MaxLagMs (max.compaction.lag.ms): a dirty batch older than this is
	// cleaned whatever the ratio.
	MaxLagMs int64
	// DeleteRetentionMs (delete.retention.ms): a tombstone stays at least
	// this long after it was appended.
	DeleteRetentionMs int64
	// SegmentMs (segment.ms): data in the active commit-log segment is
	// cleanable only once its max timestamp is this old (Kafka never
	// cleans the active segment; it rolls by size or by segment.ms).
	SegmentMs int64
}

// SetCompaction sets the partition's compaction policy. Turning it off
// keeps what was cleaned (offsets stay as they are; reads still serve the
// copies) and stops further cleaning.
func (p *Partition) SetCompaction(pol CompactionPolicy) {
	if !pol.Enabled {
		p.compaction.Store(nil)
		return
	}
	p.compaction.Store(&pol)
}

// compactState is a partition's committed compaction (the value in
// CompactNamespace): offsets below cleanEnd are served from the copies in
// commit-log positions [from, to); from == to when nothing survived.
// round is a random id of the round, so two rounds never have the same
// value (a view cached from one is never taken for another's, even after
// Truncate rewrote the log at the same positions).
type compactState struct {
	cleanEnd int64
	from, to int64
	copies   int64
	round    uint64
}

func (st compactState) encode() []byte {
	b := make([]byte, 0, 40)
	b = binary.BigEndian.AppendUint64(b, uint64(st.cleanEnd))
	b = binary.BigEndian.AppendUint64(b, uint64(st.from))
	b = binary.BigEndian.AppendUint64(b, uint64(st.to))
	b = binary.BigEndian.AppendUint64(b, uint64(st.copies))
	return binary.BigEndian.AppendUint64(b, st.round)
}

// decodeCompactState reads a committed state. A 32-byte one was written
// before the round id (25b22e0; the upgrade fixture of 36a9e02 has one):
// its round is 0, which no later round draws in practice.
func decodeCompactState(b []byte) (compactState, bool) {
	if len(b) != 40 && len(b) != 32 {
		return compactState{}, false
	}
	st := compactState{
		cleanEnd: int64(binary.BigEndian.Uint64(b)),
		from:     int64(binary.BigEndian.Uint64(b[8:])),
		to:       int64(binary.BigEndian.Uint64(b[16:])),
		copies:   int64(binary.BigEndian.Uint64(b[24:])),
	}
	if len(b) == 40 {
		st.round = binary.BigEndian.Uint64(b[32:])
	}
	return st, st.cleanEnd >= 0 && st.from >= 0 && st.to >= st.from && st.copies >= 0
}

func compactKey(k pkey) []byte {
	b := append([]byte{}, k.topic[:]...)
	return binary.BigEndian.AppendUint32(b, uint32(k.part))
}

// copyRef is one cleaned batch in the commit log.
type copyRef struct {
	pos        int64 // of the batch bytes (entry position + header)
	size       int32
	base, last int64
	maxTs      int64
	storeTime  int64
	tombstones bool
}

// compactView is a committed state with its copies listed, built from the
// commit log; raw is the CompactNamespace value it was built from.
type compactView struct {
	raw    []byte
	st     compactState
	copies []copyRef
	bytes  int64 // sum of the copies' sizes
}

// errCompactNotReady is a view whose copies are not (yet) all in this
// store's log: a slave still streaming after a bootstrap.
var errCompactNotReady = errors.New("storage: compacted copies not yet replicated")

// compactRaw returns the partition's committed compaction value, nil when
// it has none.
func (p *Partition) compactRaw() []byte {
	s := p.s
	s.kvMu.RLock()
	defer s.kvMu.RUnlock()
	m := s.kv[CompactNamespace]
	if m == nil {
		return nil
	}
	return m[string(compactKey(p.key))]
}

// compactedView returns the view of the partition's committed compaction,
// nil when it was never compacted. It is rebuilt whenever the committed
// value changes (a new round, a restart, Truncate, a bootstrap), by
// scanning the copies' range of the log. It does slow I/O: never call it
// holding a store or partition lock.
func (p *Partition) compactedView() (*compactView, error) {
	raw := p.compactRaw()
	if raw == nil {
		return nil, nil
	}
	if cv := p.cview.Load(); cv != nil && bytes.Equal(cv.raw, raw) {
		return cv, nil
	}
	st, ok := decodeCompactState(raw)
	if !ok {
		return nil, fmt.Errorf("storage: corrupt compaction state of %x-%d", p.key.topic[:], p.key.part)
	}
	cv := &compactView{raw: append([]byte{}, raw...), st: st}
	if st.to > p.s.writePos.Load() {
		return nil, errCompactNotReady
	}
	if st.from < st.to {
		sc := p.s.newScanner(st.from)
		for sc.pos < st.to {
			h, b, pos, ok := sc.next()
			if !ok {
				if sc.err == nil {
					sc.err = errors.New("the log ends")
				}
				return nil, fmt.Errorf("storage: compacted copies of %x-%d at %d: %w", p.key.topic[:], p.key.part, sc.pos, sc.err)
			}
			if h.typ != entryCompacted || h.topic != p.key.topic || h.partition != p.key.part {
				continue
			}
			bi, err := parseBatch(b[entryHeaderSize:h.length])
			if err != nil {
				continue
			}
			c := copyRef{
				pos: pos + entryHeaderSize, size: int32(h.length - entryHeaderSize),
				base: h.baseOffset, last: h.baseOffset + int64(bi.lastDelta),
				maxTs: bi.maxTs, storeTime: h.storeTime, tombstones: h.flags&compactFlagTombstones != 0,
			}
			if n := len(cv.copies); n > 0 && c.base <= cv.copies[n-1].last {
				continue // never expected: copies are written in offset order
			}
			cv.copies = append(cv.copies, c)
			cv.bytes += int64(c.size)
		}
	}
	p.cview.Store(cv)
	return cv, nil
}

// readCompacted serves a read below the committed clean end from the
// copies; handled is false when the read is not for it (no compaction, or
// offset at or past the clean end, or past the last copy: the caller reads
// the consume queue from the clean end).
func (p *Partition) readCompacted(offset int64, maxBytes int32) (res *ReadResult, next int64, handled bool, err error) {
	for attempt := 0; ; attempt++ {
		cv, err := p.compactedView()
		if errors.Is(err, errCompactNotReady) {
			p.mu.RLock()
			res := &ReadResult{HighWatermark: p.hwm, LogStartOffset: p.logStart}
			p.mu.RUnlock()
			return res, offset, true, nil // nothing to serve yet: the caller retries
		}
		if err != nil {
			return nil, offset, true, err
		}
		if cv == nil || offset >= cv.st.cleanEnd {
			return nil, offset, false, nil
		}
		p.mu.RLock()
		deleted, hwm, logStart := p.deleted, p.hwm, p.logStart
		p.mu.RUnlock()
		if deleted {
			return nil, offset, true, ErrUnknownPartition
		}
		res := &ReadResult{HighWatermark: hwm, LogStartOffset: logStart}
		if offset < logStart || offset > hwm {
			return res, offset, true, ErrOffsetOutOfRange
		}
		i := sort.Search(len(cv.copies), func(i int) bool { return cv.copies[i].last >= offset })
		if i == len(cv.copies) || cv.copies[i].base >= hwm {
			// Past the last copy: the next record is at or after the
			// clean end, in the consume queue.
			return nil, max(cv.st.cleanEnd, offset), false, nil
		}
		var picked []copyRef
		var total int64
		for _, c := range cv.copies[i:] {
			if c.last >= hwm || (len(picked) > 0 && total+int64(c.size) > int64(maxBytes)) {
				break
			}
			picked = append(picked, c)
			total += int64(c.size)
		}
		if len(picked) == 0 {
			return res, offset, true, nil
		}
		if ok := p.s.pinChunks(res, picked); !ok {
			if attempt == 0 {
				continue // a newer round replaced these copies: read its view
			}
			return res, offset, true, ErrOffsetOutOfRange
		}
		return res, offset, true, nil
	}
}

// pinChunks fills res with the copies' chunks and pins their segments
// until Release; false if a segment is gone.
func (s *Store) pinChunks(res *ReadResult, cs []copyRef) bool {
	var held []*segment
	s.segMu.RLock()
	defer s.segMu.RUnlock()
	for _, c := range cs {
		seg := s.segmentForLocked(c.pos)
		if seg == nil || seg.deleted {
			for _, h := range held {
				h.readers.Add(-1)
			}
			res.Chunks = nil
			return false
		}
		if len(held) == 0 || held[len(held)-1] != seg {
			seg.readers.Add(1)
			held = append(held, seg)
		}
		res.Chunks = append(res.Chunks, Chunk{File: seg.f, Pos: c.pos - seg.base, Len: c.size, BaseOffset: c.base, LastOffset: c.last})
	}
	res.release = func() {
		for _, h := range held {
			h.readers.Add(-1)
		}
	}
	return true
}

// compactPin is the lowest commit-log position a compacted partition
// retains: its copies and its consume-queue entries from the clean end
// on; entries below the clean end are superseded by the copies and pin
// nothing. ok is false for a partition without committed compaction, or
// one whose log start has passed its clean end (then the consume queue's
// first retained entry is the pin, as for any partition). first is the
// first consume-queue entry still needed (nil when there is none).
func (p *Partition) compactPin() (pin int64, first *cqEntry, ok bool) {
	raw := p.compactRaw()
	if raw == nil {
		return 0, nil, false
	}
	st, good := decodeCompactState(raw)
	if !good {
		return 0, nil, false
	}
	p.ensureTail()
	p.mu.RLock()
	if st.cleanEnd <= p.logStart {
		p.mu.RUnlock()
		return 0, nil, false
	}
	v := p.viewLocked()
	next := p.nextOffset
	p.mu.RUnlock()
	pin = p.s.writePos.Load()
	if st.from < st.to {
		pin = st.from
	}
	if st.cleanEnd < next && v.count > v.startIdx {
		idx, err := v.find(st.cleanEnd)
		if err != nil {
			return 0, nil, true // cannot tell: pin everything
		}
		e, err := v.entry(idx)
		if err != nil {
			return 0, nil, true
		}
		if e.lastOffset() < st.cleanEnd {
			idx++
			if idx >= v.count {
				return pin, nil, true
			}
			if e, err = v.entry(idx); err != nil {
				return 0, nil, true
			}
		}
		pin = min(pin, e.pos-entryHeaderSize)
		return pin, &e, true
	}
	return pin, nil, true
}

// offsetForTimeCompacted is OffsetForTime for a compacted partition: the
// first record with timestamp >= ts among the copies, then among the
// batches from the clean end on (the superseded originals are not
// searched: their records may be gone). handled is false for a partition
// without committed compaction.
func (p *Partition) offsetForTimeCompacted(ts int64) (offset, timestamp int64, ok, handled bool) {
	cv, err := p.compactedView()
	if err != nil || cv == nil {
		return 0, 0, false, false
	}
	p.ensureTail()
	p.mu.RLock()
	if p.deleted || cv.st.cleanEnd <= p.logStart {
		p.mu.RUnlock()
		return 0, 0, false, false
	}
	v := p.viewLocked()
	p.mu.RUnlock()
	exact := func(pos int64, size int32, base, maxTs int64) (int64, int64, bool) {
		buf := make([]byte, size)
		if err := p.s.readAtPos(buf, pos); err == nil {
			if bi, err := parseBatch(buf); err == nil {
				if off, t, ok := firstOffsetAtOrAfter(buf, &bi, base, ts, p.s.cfg.Decompress); ok {
					return max(off, v.logStart), t, true
				}
			}
		}
		return max(base, v.logStart), maxTs, true
	}
	for _, c := range cv.copies {
		if c.last >= v.logStart && c.maxTs >= ts && c.base < v.hwm {
			off, t, ok := exact(c.pos, c.size, c.base, c.maxTs)
			return off, t, ok, true
		}
	}
	if cv.st.cleanEnd >= v.hwm || v.count <= v.startIdx {
		return 0, 0, false, true
	}
	idx, err := v.find(cv.st.cleanEnd)
	if err != nil {
		return 0, 0, false, true
	}
	for ; idx < v.count; idx++ {
		e, err := v.entry(idx)
		if err != nil || e.baseOffset >= v.hwm {
			break
		}
		if e.baseOffset >= cv.st.cleanEnd && e.maxTs >= ts {
			off, t, ok := exact(e.pos, e.size, e.baseOffset, e.maxTs)
			return off, t, ok, true
		}
	}
	return 0, 0, false, true
}
