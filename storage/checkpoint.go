package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
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
	checkpointVersion = 2          // 2 adds transaction state (txn.go); 1 is still read
)

var errBadCheckpoint = errors.New("storage: corrupt checkpoint")

type checkpointData struct {
	pos   int64
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

// encodeCheckpointLocked snapshots the derived state at pos; under s.mu.
func (s *Store) encodeCheckpointLocked(pos int64) ([]byte, []trimMark) {
	var marks []trimMark
	e := &enc{b: make([]byte, 0, 1<<16)}
	e.u32(checkpointMagic)
	e.u32(checkpointVersion)
	e.i64(pos)
	e.i64(time.Now().UnixMilli())
	parts := s.Partitions()
	e.u32(uint32(len(parts)))
	for _, p := range parts {
		p.mu.RLock()
		e.b = append(e.b, p.key.topic[:]...)
		e.u32(uint32(p.key.part))
		e.i64(p.count)
		e.i64(p.nextOffset)
		e.i64(p.logStart)
		e.i64(p.startIdx)
		e.i64(p.startCum)
		e.i64(p.totalBytes)
		e.i64(p.maxTs)
		e.i64(p.maxTsOff)
		marks = append(marks, trimMark{p, p.startIdx})
		e.i64(p.blocksBase)
		e.u32(uint32(len(p.blocks)))
		for _, b := range p.blocks {
			e.i64(b.firstBase)
			e.i64(b.firstRunTs)
			e.i64(b.firstCum)
		}
		encodeEpochsProducers(e, p)
		p.mu.RUnlock()
	}
	encodeKVs(e, s)
	e.u32(crc32.Checksum(e.b, castagnoli))
	return e.b, marks
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
	if version != 1 && version != checkpointVersion {
		return nil, errBadCheckpoint
	}
	ck := &checkpointData{pos: d.i64(), time: d.i64()}
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
		p.tailStart = cp.count / cqBlock * cqBlock
		p.flushed = cp.count
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
	s.mu.Lock()
	pos := s.writePos.Load()
	data, marks := s.encodeCheckpointLocked(pos)
	s.mu.Unlock()

	if err := s.syncCommitLog(pos); err != nil {
		return err
	}
	for _, p := range s.Partitions() {
		if err := p.flushTail(); err != nil {
			return fmt.Errorf("storage: checkpoint: %w", err)
		}
	}
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
