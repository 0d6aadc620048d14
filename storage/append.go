package storage

import (
	"encoding/binary"
	"time"
)

// The batch append path, one request's batches at a time.
//
// A Produce request carries one batch for each of many partitions; with
// many partitions and a round-robin partitioner each holds a record or
// two (about 1.4 KiB), and one pwrite per batch was then the largest
// single cost of the broker (30 % of its CPU at 10,000 partitions). So
// AppendBatches lays the request's entries out back to back in one buffer
// (the copies happen before the writer lock is taken), and under s.mu
// assigns offsets, applies idempotence and writes each run of consecutive
// entries with one write, then dispatches them. The commit-log bytes are
// exactly those one Append per batch would have written, in the same
// order; only the number of syscalls changes.
//
// A run ends, and is written, before an entry that:
//   - would not fit the active segment (it then rolls, as a single append
//     does: an entry never straddles segments);
//   - belongs to a partition already in the run: its offsets and its
//     producer's sequence check depend on the earlier batch having been
//     dispatched;
//   - does not follow the run in the buffer (a batch between them was
//     refused or was a duplicate).
//
// Every entry of a run is dispatched only after the whole run is written,
// so nothing becomes visible (or reaches a slave, which follows writePos)
// before its bytes are in the file. A failed write fails every entry of
// its run and appends nothing of it; runs written before stay appended,
// as separate appends would have.

// BatchAppend is one partition's batch for Store.AppendBatches, with its
// outcome: Result when Err is nil.
type BatchAppend struct {
	P     *Partition
	Batch []byte // a validated Kafka v2 RecordBatch; the store copies it
	// MaxTimestampDelta, when HasMaxTimestampDelta is set, is the offset
	// delta of the first record whose timestamp is the batch's max
	// timestamp (its last offset delta when no record's is), as the
	// caller's validation found it walking the records: for an
	// uncompressed CreateTime batch whose records' timestamps differ the
	// store needs it for the consume queue, and would otherwise walk the
	// records again (by then out of the CPU's cache: 3 % of the broker's
	// CPU at 16 partitions). It must be what that walk would find (a
	// slave and recovery find it by walking); ignored for other batches.
	MaxTimestampDelta    int32
	HasMaxTimestampDelta bool

	Result AppendResult
	Err    error

	bi  batchInfo
	off int // entry offset in the group buffer; -1 once refused
	h   entryHeader
}

// AppendBatches stores each item's batch in its partition, as
// Partition.AppendDeferred does for one (same checks, same commit-log
// bytes, leader epoch written into every batch), writing consecutive
// entries with one write each. It returns the commit-log position every
// appended or duplicate batch lies below: the caller must not acknowledge
// any of them before Store.WaitDurable of that position returns nil.
// Items are appended in order; each gets its own Result or Err.
func (s *Store) AppendBatches(items []BatchAppend, leaderEpoch int32) int64 {
	total := 0
	for i := range items {
		it := &items[i]
		it.off, it.Err, it.Result = -1, nil, AppendResult{}
		bi, err := parseBatch(it.Batch)
		switch {
		case err != nil:
			it.Err = err
			continue
		case int64(len(it.Batch))+entryHeaderSize > s.cfg.SegmentBytes:
			it.Err = ErrBatchTooLarge
			continue
		case it.P == nil:
			it.Err = ErrUnknownPartition
			continue
		}
		if it.HasMaxTimestampDelta {
			bi.maxTsDelta, bi.maxTsKnown = it.MaxTimestampDelta, true
		}
		it.bi, it.off = bi, total
		total += entryHeaderSize + len(it.Batch)
	}
	bp := getEntryBuf(total)
	defer putEntryBuf(bp)
	buf := *bp
	for i := range items {
		if it := &items[i]; it.off >= 0 {
			copy(buf[it.off+entryHeaderSize:], it.Batch)
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	g := appendGroup{s: s, buf: buf, storeTime: time.Now().UnixMilli(), epoch: leaderEpoch, first: -1}
	for i := range items {
		if items[i].off >= 0 {
			g.add(items, i)
		}
	}
	g.flush(items)
	return s.writePos.Load()
}

// appendGroup is AppendBatches's state under s.mu: the run being built,
// buf[lo:hi] to be written at commit-log position pos, holding the items
// from first to last whose off is not -1 (an item refused after the run
// began ends it: the next one does not follow in buf). The items are
// passed to each method rather than kept here, so a caller's one-item
// array stays on its stack (Partition.AppendDeferred).
type appendGroup struct {
	s         *Store
	buf       []byte
	storeTime int64
	epoch     int32

	first, last int // item indexes of the run; first is -1 when it is empty
	lo, hi      int
	pos         int64
	seg         *segment // the active segment when the run began
}

// refuse fails item i without writing it.
func refuse(items []BatchAppend, i int, err error) {
	items[i].Err, items[i].off = err, -1
}

// add takes item i into the run, writing the run first when the item
// cannot join it (see the file comment).
func (g *appendGroup) add(items []BatchAppend, i int) {
	s, it := g.s, &items[i]
	p := it.P
	if s.closed {
		refuse(items, i, ErrClosed)
		return
	}
	if err := s.brokenErr(); err != nil {
		refuse(items, i, err)
		return
	}
	if p.deleted { // changes only under s.mu, which we hold
		refuse(items, i, ErrUnknownPartition)
		return
	}
	if p.inRun == s.runGen && g.first >= 0 {
		g.flush(items)
	}
	p.mu.RLock()
	cqErr := p.cqErr
	p.mu.RUnlock()
	if cqErr != nil {
		refuse(items, i, cqErr)
		return
	}
	if it.bi.producerID >= 0 && it.bi.attributes&attrControl == 0 {
		dupBase, dup, err := p.checkSequence(&it.bi)
		if err != nil {
			refuse(items, i, err)
			return
		}
		if dup {
			// A duplicate is acknowledged like its original: once the
			// log holding it is durable (the caller waits for the end).
			refuse(items, i, nil)
			it.Result = AppendResult{BaseOffset: dupBase, LogStartOffset: p.LogStartOffset(), Duplicate: true}
			return
		}
	}
	n := int64(entryHeaderSize + len(it.Batch))
	if g.first >= 0 && (it.off != g.hi || !fits(g.seg, g.pos+int64(g.hi-g.lo), n)) {
		g.flush(items)
	}
	if g.first < 0 {
		pos, seg := s.writePos.Load(), s.active()
		if !fits(seg, pos, n) {
			if err := s.breakOnPanic(func() error { return s.rollLocked(seg, pos, seg.base+seg.cap-pos) }); err != nil {
				refuse(items, i, err)
				return
			}
			pos, seg = s.writePos.Load(), s.active()
		}
		g.lo, g.hi, g.pos, g.first, g.seg = it.off, it.off, pos, i, seg
	}
	b := g.buf[it.off : it.off+int(n)]
	base := p.nextOffset // the run holds no other batch of p
	binary.BigEndian.PutUint64(b[entryHeaderSize+bOffBaseOffset:], uint64(base))
	binary.BigEndian.PutUint32(b[entryHeaderSize+bOffLeaderEpoch:], uint32(g.epoch))
	it.h = entryHeader{
		length:      uint32(n),
		typ:         entryBatch,
		topic:       p.key.topic,
		partition:   p.key.part,
		baseOffset:  base,
		storeTime:   g.storeTime,
		leaderEpoch: g.epoch,
	}
	putEntryHeader(b, &it.h)
	p.inRun = s.runGen
	g.last = i
	g.hi += int(n)
}

// fits reports whether an entry of n bytes may be written at pos of seg:
// it must fill the segment exactly or leave room for the pad that marks
// the segment's end.
func fits(seg *segment, pos, n int64) bool {
	rem := seg.base + seg.cap - pos
	return n == rem || n+entryHeaderSize <= rem
}

// flush writes the run with one write and dispatches its batches.
func (g *appendGroup) flush(items []BatchAppend) {
	s := g.s
	s.runGen++
	if g.first < 0 {
		return
	}
	first, last := g.first, g.last
	g.first = -1
	done := first // the items before done are dispatched
	err := s.breakOnPanic(func() error {
		if err := s.writeAt(g.seg, g.buf[g.lo:g.hi], g.pos); err != nil {
			return err
		}
		s.writePos.Store(g.pos + int64(g.hi-g.lo))
		for ; done <= last; done++ {
			it := &items[done]
			if it.off < 0 {
				continue
			}
			pos := g.pos + int64(it.off-g.lo)
			it.P.dispatchParsed(pos, &it.h, g.buf[it.off+entryHeaderSize:it.off+int(it.h.length)], &it.bi)
			it.Result = AppendResult{BaseOffset: it.h.baseOffset, LogStartOffset: it.P.logStart}
		}
		return nil
	})
	if err != nil {
		for i := done; i <= last; i++ {
			if items[i].off >= 0 {
				refuse(items, i, err)
			}
		}
	}
}
