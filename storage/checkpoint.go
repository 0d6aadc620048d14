package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"time"

	"go.uber.org/zap"
)

// The checkpoint file holds everything the dispatcher derived from the
// commit log up to a position: partitions and the in-memory index of their
// consume queues, leader epochs, producer state and internal key/values.
// Recovery loads it and re-dispatches the commit log from its position, and
// retention deletes only segments the checkpoint covers, so derived state
// never depends on a deleted segment. Layout in doc.go; constants FROZEN.
const (
	checkpointName    = "checkpoint"
	checkpointMagic   = 0x47524350 // "GRCP"
	checkpointVersion = 4          // 4 adds each partition's position, 3 consume-queue tails, 2 transaction state (txn.go); 1-3 are still read
)

var errBadCheckpoint = errors.New("storage: corrupt checkpoint")

type checkpointData struct {
	pos   int64
	maxAt int64 // the highest position a partition's state is taken at (>= pos)
	time  int64
	parts []*Partition
	kv    map[string]map[string][]byte
}

type enc struct{ b []byte }

func (e *enc) u8(v uint8)     { e.b = append(e.b, v) }
func (e *enc) u16(v uint16)   { e.b = binary.BigEndian.AppendUint16(e.b, v) }
func (e *enc) u32(v uint32)   { e.b = binary.BigEndian.AppendUint32(e.b, v) }
func (e *enc) i64(v int64)    { e.b = binary.BigEndian.AppendUint64(e.b, uint64(v)) }
func (e *enc) bytes(v []byte) { e.u32(uint32(len(v))); e.b = append(e.b, v...) }

type dec struct {
	b   []byte
	bad bool
}

func (d *dec) take(n int) []byte {
	if d.bad || n < 0 || len(d.b) < n {
		d.bad = true
		return make([]byte, max(n, 0))
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}
func (d *dec) u8() uint8   { return d.take(1)[0] }
func (d *dec) u16() uint16 { return binary.BigEndian.Uint16(d.take(2)) }
func (d *dec) u32() uint32 { return binary.BigEndian.Uint32(d.take(4)) }
func (d *dec) i64() int64  { return int64(binary.BigEndian.Uint64(d.take(8))) }

// count reads a count of items of at least minSize bytes each, rejecting
// counts the remaining bytes cannot hold (no huge allocations on garbage).
func (d *dec) count(minSize int) int {
	n := d.u32()
	if d.bad || uint64(n)*uint64(minSize) > uint64(len(d.b)) {
		d.bad = true
		return 0
	}
	return int(n)
}
func (d *dec) bytes() []byte { return append([]byte{}, d.take(d.count(1))...) }

// ckptSnap is the derived state a checkpoint holds, taken under s.mu and
// encoded after s.mu is released, so writers wait only for the copy
// (O(partitions + producers + keys)), not for the encoding, the sort or
// anything proportional to the consume queues' length.
type ckptSnap struct {
	pos   int64
	maxAt int64 // the last chunk's position: the commit log is synced up to it
	parts []partSnap
	prod  []byte // encoded producer state and transaction index of every partition
	kvs   []kvSnap
}

// partSnap is one partition's checkpointed fields. blocks and epochs share
// the partition's arrays: both only ever grow by append (elements below
// their length never change) or are replaced by a new slice (trimLocked,
// Truncate), so a capped view is a stable copy. Producer state is changed
// in place (updateProducerLocked), so it is encoded at once, with the
// transaction index, into ckptSnap.prod[prodLo:prodHi] (one buffer for
// all partitions: no allocation per producer under the lock).
type partSnap struct {
	p                                     *Partition
	at                                    int64 // the log position the state is that of
	count, nextOffset, logStart, startIdx int64
	startCum, totalBytes, maxTs, maxTsOff int64
	blocksBase                            int64
	blocks                                []blockInfo
	epochs                                []epochStart
	prodLo, prodHi                        int
	// tail is the consume-queue entries not in a full block (nil with
	// inFile: a tail never loaded since a version-2 checkpoint is in the
	// file, written and synced by the checkpoint that covered it). A
	// capped view: the partition never changes tail entries in place
	// while tailShared is set (writeFullBlocksLocked).
	tail   []cqEntry
	inFile bool
}

// kvSnap is one namespace's keys and values: values are never changed in
// place (applyKV stores a new slice), so references are a stable copy.
type kvSnap struct {
	ns   string
	keys []string
	vals [][]byte
}

// ckptChunk is how many partitions a checkpoint snapshots per hold of the
// writer lock: at 10,000 partitions one hold for all of them took 96 ms of
// wall time on a loaded machine (BenchmarkAppendDuringCheckpoint,
// lock-max-µs), a stall of every writer. A variable only so tests can use
// small chunks.
var ckptChunk = 256

// snapshot copies the derived state in chunks of ckptChunk partitions,
// each under s.mu (which every dispatch holds, so a partition's state is
// exactly that of the log up to the position its chunk was taken at,
// partSnap.at). The key/values and the list of partitions are taken with
// the first chunk, at pos: recovery re-dispatches from pos, skipping for
// each partition what its state already holds (Partition.covered), and
// creates the partitions created since. It returns the longest hold.
func (s *Store) snapshot() (*ckptSnap, time.Duration) {
	s.mu.Lock()
	t0 := time.Now()
	pos := s.writePos.Load()
	ps := s.partitionList()
	sn := &ckptSnap{pos: pos, parts: make([]partSnap, 0, len(ps)), kvs: s.snapshotKVs()}
	pe := &enc{b: make([]byte, 0, max(4*len(ps), int(s.ckptProdSize.Load())*9/8))}
	var held time.Duration
	for i := 0; ; {
		n := min(i+ckptChunk, len(ps))
		sn.maxAt = s.writePos.Load()
		s.snapshotPartsLocked(sn, pe, ps[i:n], sn.maxAt)
		held = max(held, time.Since(t0))
		s.mu.Unlock()
		if i = n; i >= len(ps) {
			break
		}
		runtime.Gosched() // let waiting writers in before the next chunk
		s.mu.Lock()
		t0 = time.Now()
	}
	sn.prod = pe.b
	s.ckptProdSize.Store(int64(len(pe.b)))
	return sn, held
}

// partitionList returns every partition, in no order.
func (s *Store) partitionList() []*Partition {
	s.partsMu.RLock()
	defer s.partsMu.RUnlock()
	ps := make([]*Partition, 0, len(s.parts))
	for _, p := range s.parts {
		ps = append(ps, p)
	}
	return ps
}

// snapshotLocked copies the whole derived state at pos in one hold of
// s.mu; under s.mu.
func (s *Store) snapshotLocked(pos int64) *ckptSnap {
	ps := s.partitionList()
	sn := &ckptSnap{pos: pos, maxAt: pos, parts: make([]partSnap, 0, len(ps)), kvs: s.snapshotKVs()}
	pe := &enc{b: make([]byte, 0, max(4*len(ps), int(s.ckptProdSize.Load())*9/8))}
	s.snapshotPartsLocked(sn, pe, ps, pos)
	sn.prod = pe.b
	s.ckptProdSize.Store(int64(len(pe.b)))
	return sn
}

// snapshotPartsLocked appends the state of ps, at position at, to sn (a
// partition deleted meanwhile is left out: its deletion follows sn.pos in
// the log); under s.mu.
func (s *Store) snapshotPartsLocked(sn *ckptSnap, pe *enc, ps []*Partition, at int64) {
	for _, p := range ps {
		p.mu.RLock()
		if p.deleted {
			p.mu.RUnlock()
			continue
		}
		lo := len(pe.b)
		encodeProducers(pe, p.producers)
		encodeTxnIndex(pe, p)
		sn.parts = append(sn.parts, partSnap{
			p: p, at: at, count: p.count, nextOffset: p.nextOffset, logStart: p.logStart, startIdx: p.startIdx,
			startCum: p.startCum, totalBytes: p.totalBytes, maxTs: p.maxTs, maxTsOff: p.maxTsOff,
			blocksBase: p.blocksBase,
			blocks:     p.blocks[:len(p.blocks):len(p.blocks)],
			epochs:     p.epochs[:len(p.epochs):len(p.epochs)],
			prodLo:     lo, prodHi: len(pe.b),
			tail:   p.tail[:len(p.tail):len(p.tail)],
			inFile: !p.tailLoaded,
		})
		p.tailShared.Store(true)
		p.mu.RUnlock()
	}
}

// snapshotKVs copies references to every key/value (see kvSnap).
func (s *Store) snapshotKVs() []kvSnap {
	s.kvMu.RLock()
	defer s.kvMu.RUnlock()
	out := make([]kvSnap, 0, len(s.kv))
	for ns, m := range s.kv {
		k := kvSnap{ns: ns, keys: make([]string, 0, len(m)), vals: make([][]byte, 0, len(m))}
		for key, v := range m {
			k.keys = append(k.keys, key)
			k.vals = append(k.vals, v)
		}
		out = append(out, k)
	}
	return out
}

// encode writes the checkpoint file's bytes (layout in doc.go), partitions
// in (topic, partition) order, and the trim marks to apply once it is
// written.
func (sn *ckptSnap) encode() ([]byte, []trimMark) {
	sort.Slice(sn.parts, func(i, j int) bool {
		a, b := sn.parts[i].p.key, sn.parts[j].p.key
		if a.topic != b.topic {
			return string(a.topic[:]) < string(b.topic[:])
		}
		return a.part < b.part
	})
	n := 32
	for i := range sn.parts {
		n += 136 + 24*len(sn.parts[i].blocks) + 12*len(sn.parts[i].epochs) + cqEntrySize*len(sn.parts[i].tail)
	}
	n += len(sn.prod)
	marks := make([]trimMark, 0, len(sn.parts))
	e := &enc{b: make([]byte, 0, n)}
	e.u32(checkpointMagic)
	e.u32(checkpointVersion)
	e.i64(sn.pos)
	e.i64(time.Now().UnixMilli())
	e.u32(uint32(len(sn.parts)))
	for i := range sn.parts {
		ps := &sn.parts[i]
		e.b = append(e.b, ps.p.key.topic[:]...)
		e.u32(uint32(ps.p.key.part))
		e.i64(ps.count)
		e.i64(ps.nextOffset)
		e.i64(ps.logStart)
		e.i64(ps.startIdx)
		e.i64(ps.startCum)
		e.i64(ps.totalBytes)
		e.i64(ps.maxTs)
		e.i64(ps.maxTsOff)
		marks = append(marks, trimMark{ps.p, ps.startIdx})
		e.i64(ps.blocksBase)
		e.u32(uint32(len(ps.blocks)))
		for _, b := range ps.blocks {
			e.i64(b.firstBase)
			e.i64(b.firstRunTs)
			e.i64(b.firstCum)
		}
		encodeEpochs(e, ps.epochs)
		e.b = append(e.b, sn.prod[ps.prodLo:ps.prodHi]...)
		encodeTail(e, ps)
		e.i64(ps.at)
	}
	encodeKVSnap(e, sn.kvs)
	e.u32(crc32.Checksum(e.b, castagnoli))
	return e.b, marks
}

// encodeTail writes a partition's consume-queue tail (version 3): uint8
// 1 and the entries, or uint8 0 when the tail is in the file.
func encodeTail(e *enc, ps *partSnap) {
	if ps.inFile {
		e.u8(0)
		return
	}
	e.u8(1)
	e.u32(uint32(len(ps.tail)))
	at := len(e.b)
	e.b = append(e.b, make([]byte, cqEntrySize*len(ps.tail))...)
	for i := range ps.tail {
		putCQEntry(e.b[at+i*cqEntrySize:], &ps.tail[i])
	}
}

// decodeTail reads what encodeTail wrote into p (tailLoaded set when the
// tail is in the checkpoint).
func decodeTail(d *dec, p *Partition) {
	if d.u8() == 0 {
		return
	}
	n := d.count(cqEntrySize)
	p.tail = make([]cqEntry, n)
	for i := range p.tail {
		e, err := decodeCQEntry(d.take(cqEntrySize))
		if err != nil {
			d.bad = true
			return
		}
		p.tail[i] = e
	}
	p.tailLoaded = true
}

// encodeCheckpointLocked snapshots and encodes the derived state at pos;
// under s.mu.
func (s *Store) encodeCheckpointLocked(pos int64) ([]byte, []trimMark) {
	return s.snapshotLocked(pos).encode()
}

// trimMark is a partition's first retained entry in a checkpoint: once the
// checkpoint is written, consume-queue files below it are not needed.
type trimMark struct {
	p   *Partition
	idx int64
}

// decodeCheckpoint parses a checkpoint file; partitions come back detached
// (their store is set by applyCheckpoint).
func decodeCheckpoint(b []byte) (*checkpointData, error) {
	if len(b) < 28 {
		return nil, errBadCheckpoint
	}
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return nil, errBadCheckpoint
	}
	d := &dec{b: body}
	if d.u32() != checkpointMagic {
		return nil, errBadCheckpoint
	}
	version := d.u32()
	if version < 1 || version > checkpointVersion {
		return nil, errBadCheckpoint
	}
	ck := &checkpointData{pos: d.i64(), time: d.i64()}
	ck.maxAt = ck.pos
	if ck.pos < 0 {
		return nil, errBadCheckpoint
	}
	np := d.count(16 + 4 + 9*8 + 12)
	for i := 0; i < np && !d.bad; i++ {
		p := &Partition{producers: make(map[int64]*producerState)}
		copy(p.key.topic[:], d.take(16))
		p.key.part = int32(d.u32())
		p.count = d.i64()
		p.nextOffset = d.i64()
		p.logStart = d.i64()
		p.startIdx = d.i64()
		p.startCum = d.i64()
		p.totalBytes = d.i64()
		p.maxTs = d.i64()
		p.maxTsOff = d.i64()
		p.blocksBase = d.i64()
		nb := d.count(24)
		p.blocks = make([]blockInfo, nb)
		for j := range p.blocks {
			p.blocks[j] = blockInfo{firstBase: d.i64(), firstRunTs: d.i64(), firstCum: d.i64()}
		}
		decodeEpochsProducers(d, p, version >= 2)
		p.tailStart = p.count / cqBlock * cqBlock
		if version >= 3 {
			decodeTail(d, p)
			if p.tailLoaded {
				// More than a block's worth: a block write failed and
				// kept its entries in memory (writeFullBlocksLocked).
				p.tailStart = p.count - int64(len(p.tail))
				if p.tailStart < 0 || p.tailStart%cqBlock != 0 {
					d.bad = true
				}
			}
		}
		p.covered = ck.pos
		if version >= 4 {
			if p.covered = d.i64(); p.covered < ck.pos {
				d.bad = true
			}
			ck.maxAt = max(ck.maxAt, p.covered)
		}
		if p.key.part < 0 || p.count < 0 || p.startIdx < 0 || p.startIdx > p.count ||
			p.logStart < 0 || p.logStart > p.nextOffset || p.startCum < 0 || p.startCum > p.totalBytes ||
			p.blocksBase < 0 || p.blocksBase*cqBlock > p.startIdx ||
			p.blocksBase+int64(len(p.blocks)) != (p.count+cqBlock-1)/cqBlock {
			d.bad = true
		}
		ck.parts = append(ck.parts, p)
	}
	ck.kv = decodeKVs(d)
	if d.bad || len(d.b) != 0 {
		return nil, errBadCheckpoint
	}
	return ck, nil
}

// loadCheckpoint reads the checkpoint; nil when there is none or it is
// unreadable (then the commit log is re-dispatched from its start).
func (s *Store) loadCheckpoint() (*checkpointData, error) {
	b, err := readWholeFile(s.fs, filepath.Join(s.cfg.Dir, checkpointName))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	ck, err := decodeCheckpoint(b)
	if err != nil {
		s.log.Error("storage: ignoring a corrupt checkpoint; rebuilding from the commit log", zap.Error(err))
		return nil, nil
	}
	return ck, nil
}

// applyCheckpoint installs the checkpoint's state (at Open, single-threaded).
func (s *Store) applyCheckpoint(ck *checkpointData) {
	for _, cp := range ck.parts {
		p := newPartition(s, cp.key)
		p.count = cp.count
		p.tailStart = cp.tailStart
		p.tail, p.tailLoaded = cp.tail, cp.tailLoaded
		p.covered = cp.covered
		p.blocks = cp.blocks
		p.blocksBase = cp.blocksBase
		p.trimmable = cp.startIdx
		p.nextOffset = cp.nextOffset
		p.hwm = cp.nextOffset
		p.logStart = cp.logStart
		p.startIdx = cp.startIdx
		p.startCum, p.totalBytes = cp.startCum, cp.totalBytes
		p.maxTs, p.maxTsOff = cp.maxTs, cp.maxTsOff
		p.epochs = cp.epochs
		p.producers = cp.producers
		p.txn = cp.txn
		s.parts[p.key] = p
	}
	s.kv = ck.kv
	s.ckptPos.Store(ck.pos)
}

// checkpoint makes the derived state durable up to the current end of the
// commit log: commit log synced, consume-queue entries written and synced,
// then the checkpoint file replaced atomically.
func (s *Store) checkpoint() error {
	s.ckptMu.Lock()
	defer s.ckptMu.Unlock()
	return s.checkpointCk()
}

// checkpointCk is checkpoint under ckptMu. A checkpoint at or past the end
// of a bootstrap's catch-up makes the bootstrap state unnecessary.
func (s *Store) checkpointCk() error {
	sn, held := s.snapshot()
	s.ckptHeld.Store(int64(held))
	pos := sn.pos
	data, marks := sn.encode()

	if err := s.syncCommitLog(sn.maxAt); err != nil {
		return err
	}
	// The full blocks the appends wrote since the last checkpoint; the
	// tails are in the checkpoint itself, so no consume-queue file is
	// opened or written here.
	if err := s.fs.SyncAll(s.cqDir); err != nil {
		return fmt.Errorf("storage: checkpoint: %w", err)
	}
	if err := writeFileAtomic(s.fs, filepath.Join(s.cfg.Dir, checkpointName), data); err != nil {
		return fmt.Errorf("storage: checkpoint: %w", err)
	}
	s.ckptPos.Store(pos)
	for _, m := range marks {
		m.p.mu.Lock()
		m.p.trimmable = max(m.p.trimmable, m.idx)
		m.p.mu.Unlock()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.boot != nil && pos >= s.boot.end {
		s.boot = nil
		if err := s.fs.Remove(filepath.Join(s.cfg.Dir, bootstrapName)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("storage: checkpoint: %w", err)
		}
	}
	return nil
}

// syncCommitLog makes the commit log durable up to pos.
func (s *Store) syncCommitLog(pos int64) error {
	s.syncTo(pos)
	if err := s.brokenErr(); err != nil {
		return err
	}
	s.flushMu.Lock()
	ok := s.published >= pos
	s.flushMu.Unlock()
	if !ok {
		return fmt.Errorf("storage: commit log not durable up to %d", pos)
	}
	return nil
}
