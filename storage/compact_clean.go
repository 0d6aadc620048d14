package storage

// The cleaner: one round per compacted partition copies the latest record
// of each key forward to the head of the commit log and commits the new
// state with one key/value entry (see "Compaction" in doc.go).

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"hash/fnv"
	"math/rand/v2"
	"time"

	"go.uber.org/zap"
)

// RunCompaction runs one cleaning round on every partition whose policy
// makes it due. Only a master cleans (a slave receives the copies and the
// commit through its log). It runs every CompactionInterval and before
// each retention pass; tests may call it directly.
func (s *Store) RunCompaction() error {
	s.retMu.Lock()
	defer s.retMu.Unlock()
	_, err := s.runCompaction()
	return err
}

// compactThenRetain is the housekeeper's compaction tick: a round, and
// retention at once when it cleaned something, so the disk it frees is
// reclaimed without waiting for RetentionInterval.
func (s *Store) compactThenRetain() error {
	s.retMu.Lock()
	defer s.retMu.Unlock()
	n, err := s.runCompaction()
	if err != nil || n == 0 {
		return err
	}
	return s.runRetentionLocked()
}

// runCompaction is RunCompaction under retMu (one round at a time, and
// never beside retention's deletions); it returns the partitions cleaned.
func (s *Store) runCompaction() (int, error) {
	if s.following.Load() {
		return 0, nil
	}
	now := time.Now().UnixMilli()
	n := 0
	for _, p := range s.Partitions() {
		pol := p.compaction.Load()
		if pol == nil {
			continue
		}
		cleaned, err := p.compactOnce(*pol, now)
		if err != nil {
			if errors.Is(err, ErrClosed) {
				return n, err
			}
			s.log.Warn("storage: compaction round failed", zap.String("dir", p.cqDir), zap.Error(err))
		}
		if cleaned {
			n++
		}
	}
	return n, s.dropDeletedCompactions()
}

// dropDeletedCompactions removes the committed state of partitions that
// no longer exist (their topic was deleted), so it does not stay in every
// checkpoint for ever.
func (s *Store) dropDeletedCompactions() error {
	var gone []KV
	s.RangeKV(CompactNamespace, func(key, _ []byte) bool {
		if len(key) == 20 {
			var k pkey
			copy(k.topic[:], key)
			k.part = int32(binary.BigEndian.Uint32(key[16:]))
			if s.lookup(k) == nil {
				gone = append(gone, KV{Key: key})
			}
		}
		return true
	})
	if len(gone) == 0 || s.following.Load() {
		return nil
	}
	payload, err := encodeKV(CompactNamespace, gone)
	if err != nil {
		return err
	}
	return s.appendEntry(entryHeader{typ: entryKV}, payload)
}

// cleanSource is one batch the round reads: a copy of the last round or a
// dirty batch of the consume queue.
type cleanSource struct {
	pos       int64 // batch bytes
	size      int32
	storeTime int64 // -1 until read from the entry header (dirty batches)
}

// errCleanAborted stops a round whose store became a slave.
var errCleanAborted = errors.New("storage: compaction round abandoned (the store follows a master now)")

// compactOnce cleans the partition if it is due under pol; true when a
// round was committed.
func (p *Partition) compactOnce(pol CompactionPolicy, now int64) (bool, error) {
	s := p.s
	cv, err := p.compactedView()
	if err != nil {
		return false, err
	}
	p.ensureTail()
	p.mu.RLock()
	if p.deleted {
		p.mu.RUnlock()
		return false, nil
	}
	v := p.viewLocked()
	// Only decided data is cleaned: up to the last stable offset, as
	// Kafka's cleaner stops at the first unstable offset (an open
	// transaction's records may still be aborted).
	hwm, logStart := p.lsoLocked(), p.logStart
	p.mu.RUnlock()

	cleanStart := logStart
	var old []copyRef
	var cleanBytes int64
	if cv != nil && cv.st.cleanEnd > logStart {
		cleanStart = cv.st.cleanEnd
		for _, c := range cv.copies {
			if c.last >= logStart {
				old = append(old, c)
				cleanBytes += int64(c.size)
			}
		}
	}
	// The dirty section: whole batches from the clean end that are
	// visible, old enough, out of the active segment (or older than
	// segment.ms), and never the partition's last batch.
	var dirty []cqEntry
	var dirtyBytes int64
	cleanEnd := cleanStart
	oldestDirty := int64(-1)
	if cleanStart < hwm && v.count > v.startIdx {
		idx, err := v.find(cleanStart)
		if err != nil {
			return false, err
		}
		active := s.active().base
		for ; idx < v.count; idx++ {
			e, err := v.entry(idx)
			if err != nil {
				return false, err
			}
			if e.lastOffset() < cleanStart {
				continue
			}
			if e.baseOffset < cleanStart {
				break // never expected: the clean end is a batch boundary
			}
			if e.lastOffset()+1 >= hwm {
				break // the last visible batch stays dirty
			}
			if e.maxTs > now-pol.MinLagMs {
				break
			}
			if e.pos >= active && e.maxTs > now-pol.SegmentMs {
				break
			}
			dirty = append(dirty, e)
			dirtyBytes += int64(e.size)
			cleanEnd = e.lastOffset() + 1
			if oldestDirty < 0 || e.maxTs < oldestDirty {
				oldestDirty = e.maxTs
			}
		}
	}
	tombstonesDue := false
	for _, c := range old {
		if c.tombstones && c.storeTime <= now-pol.DeleteRetentionMs {
			tombstonesDue = true
			break
		}
	}
	due := len(dirty) > 0 && (float64(dirtyBytes) >= pol.MinCleanableRatio*float64(dirtyBytes+cleanBytes) ||
		oldestDirty < now-pol.MaxLagMs)
	if !due && !tombstonesDue {
		return false, nil
	}

	// Records of aborted transactions go (the copies never hold any):
	// they neither count as a key's latest nor survive.
	aborted := p.AbortedTxns(cleanStart, cleanEnd)
	srcs := make([]cleanSource, 0, len(old)+len(dirty))
	for _, c := range old {
		srcs = append(srcs, cleanSource{pos: c.pos, size: c.size, storeTime: c.storeTime})
	}
	for _, e := range dirty {
		srcs = append(srcs, cleanSource{pos: e.pos, size: e.size, storeTime: -1})
	}

	// Pass 1: the latest offset of each key below the clean end.
	latest := make(map[[16]byte]int64)
	buf := make([]byte, 0, 64<<10)
	for i := range srcs {
		b, err := p.readSource(&srcs[i], buf)
		if err != nil {
			return false, err
		}
		buf = b[:0]
		recs, bi, ok := p.batchRecords(b)
		if !ok || abortedBatch(b, &bi, aborted) {
			continue // unreadable records: kept whole in pass 2, keys unknown
		}
		walkFullRecords(recs, bi.recordCount, func(r fullRecord) {
			if r.keyNull {
				return
			}
			latest[keyHash(r.key)] = int64(binary.BigEndian.Uint64(b[bOffBaseOffset:])) + r.offDelta
		})
	}

	// Pass 2: write the survivors forward, then commit.
	st := compactState{cleanEnd: cleanEnd, from: -1, round: rand.Uint64()}
	for i := range srcs {
		if s.following.Load() {
			return false, errCleanAborted
		}
		b, err := p.readSource(&srcs[i], buf)
		if err != nil {
			return false, err
		}
		buf = b[:0]
		if bi, err := parseBatch(b); err == nil && abortedBatch(b, &bi, aborted) {
			continue
		}
		out, tomb := p.cleanBatch(b, srcs[i].storeTime, latest, pol, now)
		if out == nil {
			continue
		}
		h := entryHeader{
			typ: entryCompacted, topic: p.key.topic, partition: p.key.part,
			baseOffset: int64(binary.BigEndian.Uint64(out[bOffBaseOffset:])), storeTime: srcs[i].storeTime,
			leaderEpoch: int32(binary.BigEndian.Uint32(out[bOffLeaderEpoch:])),
		}
		if tomb {
			h.flags = compactFlagTombstones
		}
		pos, end, err := s.appendCopy(h, out)
		if err != nil {
			return false, err
		}
		if st.from < 0 {
			st.from = pos
		}
		st.to = end
		st.copies++
	}
	if st.from < 0 {
		st.from, st.to = 0, 0
	}
	if s.following.Load() {
		return false, errCleanAborted
	}
	payload, err := encodeKV(CompactNamespace, []KV{{Key: compactKey(p.key), Value: st.encode()}})
	if err != nil {
		return false, err
	}
	if err := s.appendEntry(entryHeader{typ: entryKV}, payload); err != nil {
		return false, err
	}
	s.log.Debug("storage: compacted a partition", zap.String("dir", p.cqDir),
		zap.Int64("clean end", cleanEnd), zap.Int64("copies", st.copies),
		zap.Int64("dirty bytes", dirtyBytes), zap.Int64("clean bytes before", cleanBytes))
	return true, nil
}

// abortedBatch reports whether b is a data batch of an aborted transaction.
func abortedBatch(b []byte, bi *batchInfo, aborted []AbortedTxn) bool {
	if bi.attributes&attrTransactional == 0 || bi.attributes&attrControl != 0 {
		return false
	}
	base := int64(binary.BigEndian.Uint64(b[bOffBaseOffset:]))
	for _, a := range aborted {
		if a.ProducerID == bi.producerID && a.FirstOffset <= base && base <= a.LastOffset {
			return true
		}
	}
	return false
}

// readSource reads a source batch (into buf when it fits) and fills in
// its store time from the entry header when unknown (dirty batches).
func (p *Partition) readSource(src *cleanSource, buf []byte) ([]byte, error) {
	n := int(src.size)
	start := src.pos
	if src.storeTime < 0 {
		n += entryHeaderSize
		start -= entryHeaderSize
	}
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	b := buf[:n]
	if err := p.s.readAtPos(b, start); err != nil {
		return nil, err
	}
	if src.storeTime < 0 {
		h, err := decodeEntryHeader(b, int64(n))
		if err != nil {
			return nil, err
		}
		src.storeTime = h.storeTime
		b = b[entryHeaderSize:]
	}
	if !batchCRCOK(b) {
		return nil, ErrCorruptBatch
	}
	return b, nil
}

// batchRecords returns a batch's uncompressed records section; ok is
// false for a control batch or records that cannot be read.
func (p *Partition) batchRecords(b []byte) ([]byte, batchInfo, bool) {
	bi, err := parseBatch(b)
	if err != nil || bi.attributes&attrControl != 0 {
		return nil, bi, false
	}
	recs := records(b, &bi, p.s.cfg.Decompress)
	return recs, bi, recs != nil
}

// cleanBatch returns the batch with only the records to keep (the latest
// of their key; a tombstone only until delete.retention.ms after it was
// appended; keyless records go, as Kafka's cleaner drops them), nil when
// none is left. Base offset, last offset delta, timestamps, producer
// fields and leader epoch are kept; the records are written
// uncompressed. A control batch, or one whose records cannot be read, is
// kept whole.
func (p *Partition) cleanBatch(b []byte, storeTime int64, latest map[[16]byte]int64, pol CompactionPolicy, now int64) ([]byte, bool) {
	recs, bi, ok := p.batchRecords(b)
	if !ok {
		return append([]byte{}, b...), false
	}
	base := int64(binary.BigEndian.Uint64(b[bOffBaseOffset:]))
	expired := storeTime <= now-pol.DeleteRetentionMs
	var kept [][]byte
	n, size, tomb := 0, 0, false
	walkFullRecords(recs, bi.recordCount, func(r fullRecord) {
		n++
		if r.keyNull || latest[keyHash(r.key)] != base+r.offDelta {
			return
		}
		if r.valueNull {
			if expired {
				return
			}
			tomb = true
		}
		kept = append(kept, r.raw)
		size += len(r.raw)
	})
	if len(kept) == 0 {
		return nil, false
	}
	if len(kept) == n && bi.attributes&0x07 == 0 {
		return append([]byte{}, b...), tomb
	}
	out := make([]byte, batchHeaderSize, batchHeaderSize+size)
	copy(out, b[:batchHeaderSize])
	for _, r := range kept {
		out = append(out, r...)
	}
	binary.BigEndian.PutUint32(out[bOffLength:], uint32(len(out)-12))
	binary.BigEndian.PutUint16(out[bOffAttributes:], uint16(bi.attributes&^0x07))
	binary.BigEndian.PutUint32(out[bOffRecordCount:], uint32(len(kept)))
	binary.BigEndian.PutUint32(out[bOffCRC:], crc32.Checksum(out[bOffAttributes:], castagnoli))
	return out, tomb
}

// appendCopy writes a cleaned batch as an entryCompacted entry, keeping
// the header's store time (the tombstone clock). It returns the entry's
// position and the log end after it. The dispatcher ignores the entry:
// only the commit that lists its range makes it part of a partition.
func (s *Store) appendCopy(h entryHeader, batch []byte) (pos, end int64, err error) {
	b := make([]byte, entryHeaderSize+len(batch))
	copy(b[entryHeaderSize:], batch)
	h.length = uint32(len(b))
	putEntryHeader(b, &h)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, 0, ErrClosed
	}
	if err := s.brokenErr(); err != nil {
		return 0, 0, err
	}
	err = s.breakOnPanic(func() error {
		var err error
		pos, err = s.writeEntryLocked(b)
		return err
	})
	if err != nil {
		return 0, 0, err
	}
	return pos, s.writePos.Load(), nil
}

// fullRecord is one record of a v2 batch.
type fullRecord struct {
	raw       []byte // the whole record, length prefix included
	offDelta  int64
	key       []byte
	keyNull   bool
	valueNull bool
}

// walkFullRecords calls fn for each well-formed record of an uncompressed
// records section; it stops at the first malformed one.
func walkFullRecords(p []byte, count int32, fn func(fullRecord)) {
	for i := int32(0); i < count && len(p) > 0; i++ {
		l, n := binary.Varint(p)
		if n <= 0 || l < 1 || int64(len(p)-n) < l {
			return
		}
		r := fullRecord{raw: p[:n+int(l)]}
		rec := p[n+1 : n+int(l)] // after the attributes byte
		p = p[n+int(l):]
		_, m := binary.Varint(rec) // timestamp delta
		if m <= 0 {
			return
		}
		rec = rec[m:]
		od, m := binary.Varint(rec)
		if m <= 0 {
			return
		}
		r.offDelta = od
		rec = rec[m:]
		kl, m := binary.Varint(rec)
		if m <= 0 || kl < -1 || kl > int64(len(rec)-m) {
			return
		}
		rec = rec[m:]
		if kl < 0 {
			r.keyNull = true
		} else {
			r.key = rec[:kl]
			rec = rec[kl:]
		}
		vl, m := binary.Varint(rec)
		if m <= 0 || vl < -1 {
			return
		}
		r.valueNull = vl < 0
		fn(r)
	}
}

// keyHash is the cleaner's key identity (Kafka's cleaner keeps a digest
// of each key too): 128 bits, so a collision is not a practical concern.
func keyHash(k []byte) [16]byte {
	h := fnv.New128a()
	h.Write(k)
	var out [16]byte
	h.Sum(out[:0])
	return out
}
