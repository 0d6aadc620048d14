package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"

	"go.uber.org/zap"
)

// Bootstrap of a new or wiped slave (see "Replication" in doc.go). The
// master sends its derived state as of its end E and the position pos its
// oldest retained segment starts at; the slave installs that state with an
// empty commit log starting at pos and then receives [pos, E) and beyond
// through AppendRaw. Entries below E only build the slave's consume
// queues: everything else they would apply (key/values, terms, producer
// state, leader epochs, log-start moves, creations and deletions) is
// already in the installed state. From E on entries apply as usual. Each
// partition indexes its batches from the master's first retained one, with
// the master's running max timestamp there, so the slave's queue holds
// exactly the master's retained entries.
//
// The state lives in <Dir>/bootstrap until a checkpoint at or past E makes
// it unnecessary, so a slave restarted during the catch-up goes on with it.

const (
	bootstrapName    = "bootstrap"
	bootstrapMagic   = 0x47524253 // "GRBS"
	bootstrapVersion = 2          // 2 adds transaction state (txn.go); 1 is still read
)

var errBadBootstrap = errors.New("storage: corrupt bootstrap state")

// bootState is a decoded bootstrap state.
type bootState struct {
	pos, end int64
	parts    []*Partition // detached, like a checkpoint's
	seeds    map[pkey]bootSeed
	kv       map[string]map[string][]byte
}

// bootSeed is where a partition's retained batches start on the master
// and the running max timestamp of the first one.
type bootSeed struct {
	indexFrom int64
	runMax    int64
}

// ReadBootstrap returns the position a new slave streams from (the start
// of the oldest retained segment, so it receives every retained record)
// and the master's derived state, for InstallBootstrap. Streaming fails
// with ErrOffsetOutOfRange if retention deletes that segment before the
// slave read it; the slave then bootstraps again.
func (s *Store) ReadBootstrap() (pos int64, state []byte, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, nil, ErrClosed
	}
	if s.boot != nil && s.writePos.Load() < s.boot.end {
		return 0, nil, fmt.Errorf("storage: still catching up after a bootstrap (until %d)", s.boot.end)
	}
	end := s.writePos.Load()
	pos = s.FirstPosition()
	e := &enc{}
	e.u32(bootstrapMagic)
	e.u32(bootstrapVersion)
	e.i64(pos)
	e.i64(end)
	parts := s.Partitions()
	e.u32(uint32(len(parts)))
	for _, p := range parts {
		cseed, clow, compacted := p.bootSeedCompacted(end)
		p.mu.Lock()
		p.ensureTailLocked()
		seed := bootSeed{indexFrom: end, runMax: -1}
		if compacted {
			seed = cseed
			pos = min(pos, clow)
		} else if p.startIdx < p.count {
			ce, err := p.viewLocked().entry(p.startIdx)
			if err != nil {
				p.mu.Unlock()
				return 0, nil, fmt.Errorf("storage: bootstrap: %w", err)
			}
			seed = bootSeed{indexFrom: ce.pos - entryHeaderSize, runMax: ce.runMaxTs}
		}
		e.b = append(e.b, p.key.topic[:]...)
		e.u32(uint32(p.key.part))
		e.i64(p.nextOffset)
		e.i64(p.logStart)
		e.i64(p.maxTs)
		e.i64(p.maxTsOff)
		e.i64(seed.indexFrom)
		e.i64(seed.runMax)
		encodeEpochsProducers(e, p)
		p.mu.Unlock()
		pos = min(pos, seed.indexFrom)
	}
	encodeKVs(e, s)
	binary.BigEndian.PutUint64(e.b[8:], uint64(pos)) // lowered by a seed, if ever
	e.u32(crc32.Checksum(e.b, castagnoli))
	return pos, e.b, nil
}

func decodeBootstrap(b []byte) (*bootState, error) {
	if len(b) < 32 {
		return nil, errBadBootstrap
	}
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return nil, errBadBootstrap
	}
	d := &dec{b: body}
	if d.u32() != bootstrapMagic {
		return nil, errBadBootstrap
	}
	version := d.u32()
	if version != 1 && version != bootstrapVersion {
		return nil, errBadBootstrap
	}
	bs := &bootState{pos: d.i64(), end: d.i64(), seeds: map[pkey]bootSeed{}}
	if bs.pos < 0 || bs.end < bs.pos {
		return nil, errBadBootstrap
	}
	np := d.count(16 + 4 + 6*8 + 8)
	for i := 0; i < np && !d.bad; i++ {
		p := &Partition{producers: make(map[int64]*producerState), maxTs: -1, maxTsOff: -1}
		copy(p.key.topic[:], d.take(16))
		p.key.part = int32(d.u32())
		p.nextOffset = d.i64()
		p.logStart = d.i64()
		p.maxTs = d.i64()
		p.maxTsOff = d.i64()
		seed := bootSeed{indexFrom: d.i64(), runMax: d.i64()}
		decodeEpochsProducers(d, p, version >= 2)
		if p.key.part < 0 || p.logStart < 0 || p.logStart > p.nextOffset || seed.indexFrom < bs.pos {
			d.bad = true
		}
		bs.parts = append(bs.parts, p)
		bs.seeds[p.key] = seed
	}
	bs.kv = decodeKVs(d)
	if d.bad || len(d.b) != 0 {
		return nil, errBadBootstrap
	}
	return bs, nil
}

// InstallBootstrap discards everything this store holds and makes it a
// slave whose commit log starts at pos, with the master's state from
// ReadBootstrap; it then follows with AppendRaw from pos. Partitions that
// exist before and after keep their *Partition (and watchers); the others
// are dropped. Reads in flight on the old log fail.
func (s *Store) InstallBootstrap(pos int64, state []byte) error {
	bs, err := decodeBootstrap(state)
	if err != nil {
		return err
	}
	if bs.pos != pos {
		return fmt.Errorf("%w: state starts at %d, not %d", errBadBootstrap, bs.pos, pos)
	}
	s.retMu.Lock()
	defer s.retMu.Unlock()
	s.ckptMu.Lock()
	defer s.ckptMu.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	if err := s.brokenErr(); err != nil {
		s.mu.Unlock()
		return err
	}
	fns, err := s.installBootstrapLocked(bs, state)
	s.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
	if err != nil {
		return err
	}
	if err := s.checkpointCk(); err != nil {
		return err
	}
	return s.keepCheckpointCk()
}

func (s *Store) installBootstrapLocked(bs *bootState, raw []byte) ([]func(), error) {
	// The old checkpoints go first: a crash before the new one is written
	// must not find one describing the old log (it could fall inside the
	// new one's positions).
	if err := s.fs.Remove(filepath.Join(s.cfg.Dir, checkpointName)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, s.fail(err)
	}
	if err := s.removeKeptCheckpoints(-1); err != nil {
		return nil, s.fail(err)
	}
	if err := s.fs.SyncDir(s.cfg.Dir); err != nil {
		return nil, s.fail(err)
	}
	// The old commit log and consume queues go. syncMu: no fsync of a
	// segment is in flight while it is closed (the flusher runs apart).
	s.syncMu.Lock()
	s.segMu.Lock()
	for _, seg := range s.segs {
		seg.deleted = true
		seg.f.Close()
		if err := s.fs.Remove(seg.path); err != nil {
			s.segMu.Unlock()
			s.syncMu.Unlock()
			return nil, s.fail(err)
		}
	}
	s.segs = nil
	s.diskBytes.Store(0)
	s.segMu.Unlock()
	s.syncMu.Unlock()
	s.cache.closeAll()
	if err := s.fs.RemoveAll(s.cqDir); err != nil {
		return nil, s.fail(err)
	}
	if err := s.fs.MkdirAll(s.cqDir, 0o755); err != nil {
		return nil, s.fail(err)
	}
	if err := writeFileAtomic(s.fs, filepath.Join(s.cfg.Dir, bootstrapName), raw); err != nil {
		return nil, s.fail(err)
	}
	seg, err := s.createSegment(bs.pos)
	if err != nil {
		return nil, s.fail(err)
	}
	s.segMu.Lock()
	s.segs = []*segment{seg}
	s.diskBytes.Store(seg.cap)
	s.segMu.Unlock()
	s.writePos.Store(bs.pos)
	s.flushMu.Lock()
	s.durable, s.published, s.pending = bs.pos, bs.pos, nil
	s.flushMu.Unlock()

	for _, bp := range bs.parts {
		// Nothing indexed yet: visible up to the log start, or the log end
		// when nothing is retained.
		bp.tailLoaded = true
		bp.hwm = bp.logStart
		if bs.seeds[bp.key].indexFrom >= bs.end {
			bp.hwm = bp.nextOffset
		}
	}
	fns := s.replacePartitionsLocked(bs.parts, true)
	s.kvMu.Lock()
	s.kv = bs.kv
	s.kvMu.Unlock()
	s.boot = bs
	s.following.Store(true)
	s.ckptPos.Store(-1)
	s.openCkptPos = bs.pos
	return fns, nil
}

// loadBootstrap reads <Dir>/bootstrap at Open; nil when there is none or
// the checkpoint at ckptPos is already past its end (then it is removed).
func (s *Store) loadBootstrap(ckptPos int64) (*bootState, error) {
	name := filepath.Join(s.cfg.Dir, bootstrapName)
	b, err := readWholeFile(s.fs, name)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	bs, err := decodeBootstrap(b)
	if err != nil {
		s.log.Error("storage: ignoring a corrupt bootstrap state", zap.Error(err))
		return nil, nil
	}
	if ckptPos >= bs.end {
		return nil, s.fs.Remove(name)
	}
	return bs, nil
}

// applyCatchUp dispatches an entry below the bootstrap's end: a batch of a
// partition at or after its first retained batch gets its consume-queue
// entry and becomes visible; nothing else changes (the installed state has
// it already). Under s.mu.
func (s *Store) applyCatchUp(pos int64, h *entryHeader, b []byte) {
	if h.typ != entryBatch {
		return
	}
	p := s.lookup(pkey{h.topic, h.partition})
	if p == nil || pos < s.boot.seeds[p.key].indexFrom {
		return
	}
	batch := b[entryHeaderSize:h.length]
	bi, err := parseBatch(batch)
	if err != nil {
		return
	}
	p.mu.Lock()
	p.ensureTailLocked()
	runMax := s.boot.seeds[p.key].runMax
	if p.count > 0 {
		if n := len(p.tail); n > 0 {
			runMax = p.tail[n-1].runMaxTs
		} else if es, err := p.readEntries(p.count-1, 1); err == nil {
			runMax = es[0].runMaxTs
		}
	}
	e := newCQEntry(pos, h, batch, &bi, runMax)
	p.addEntryLocked(e)
	fns := s.publishLocked(p, e.lastOffset()+1, pos+int64(h.length))
	p.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
}

// encodeEpochsProducers and decodeEpochsProducers share the checkpoint's
// layout for a partition's leader epochs and producer state.
func encodeEpochsProducers(e *enc, p *Partition) {
	encodeEpochs(e, p.epochs)
	encodeProducers(e, p.producers)
	encodeTxnIndex(e, p)
}

func encodeEpochs(e *enc, epochs []epochStart) {
	e.u32(uint32(len(epochs)))
	for _, ep := range epochs {
		e.u32(uint32(ep.epoch))
		e.i64(ep.start)
	}
}

func encodeProducers(e *enc, prods map[int64]*producerState) {
	e.u32(uint32(len(prods)))
	for id, st := range prods {
		// One append per producer, filled in place: this runs under the
		// writer lock for every partition at each checkpoint.
		n := len(e.b)
		e.b = append(e.b, make([]byte, 19+24*len(st.batches))...)
		b := e.b[n:]
		binary.BigEndian.PutUint64(b, uint64(id))
		binary.BigEndian.PutUint16(b[8:], uint16(st.epoch))
		binary.BigEndian.PutUint64(b[10:], uint64(st.lastSeen))
		b[18] = uint8(len(st.batches))
		b = b[19:]
		for _, sb := range st.batches {
			binary.BigEndian.PutUint32(b, uint32(sb.firstSeq))
			binary.BigEndian.PutUint32(b[4:], uint32(sb.lastSeq))
			binary.BigEndian.PutUint64(b[8:], uint64(sb.base))
			binary.BigEndian.PutUint64(b[16:], uint64(sb.last))
			b = b[24:]
		}
	}
}

func decodeEpochsProducers(d *dec, p *Partition, withTxn bool) {
	ne := d.count(12)
	p.epochs = make([]epochStart, ne)
	for j := range p.epochs {
		p.epochs[j] = epochStart{epoch: int32(d.u32()), start: d.i64()}
	}
	npr := d.count(19)
	for j := 0; j < npr && !d.bad; j++ {
		id := d.i64()
		st := &producerState{epoch: int16(d.u16()), lastSeen: d.i64()}
		n := int(d.u8())
		if n > producerWindow {
			d.bad = true
			return
		}
		for k := 0; k < n; k++ {
			st.batches = append(st.batches, seqBatch{firstSeq: int32(d.u32()), lastSeq: int32(d.u32()), base: d.i64(), last: d.i64()})
		}
		p.producers[id] = st
	}
	if withTxn {
		decodeTxnIndex(d, p)
	}
}

func encodeKVs(e *enc, s *Store) { encodeKVSnap(e, s.snapshotKVs()) }

func encodeKVSnap(e *enc, kvs []kvSnap) {
	e.u32(uint32(len(kvs)))
	for _, k := range kvs {
		e.bytes([]byte(k.ns))
		e.u32(uint32(len(k.keys)))
		for i, key := range k.keys {
			e.bytes([]byte(key))
			e.bytes(k.vals[i])
		}
	}
}

func decodeKVs(d *dec) map[string]map[string][]byte {
	kv := make(map[string]map[string][]byte)
	nns := d.count(8)
	for i := 0; i < nns && !d.bad; i++ {
		ns := string(d.bytes())
		nk := d.count(8)
		m := make(map[string][]byte, nk)
		for j := 0; j < nk && !d.bad; j++ {
			k := string(d.bytes())
			m[k] = d.bytes()
		}
		kv[ns] = m
	}
	return kv
}

// bootstrapBase installs at Open, when there is no usable checkpoint, the
// state of a bootstrap not yet caught up, as the base the log is
// re-dispatched from (consume queues rebuilt); it returns a stand-in
// checkpoint at the bootstrap's position, or nil when there is none or
// its position is gone.
func (s *Store) bootstrapBase() (*checkpointData, error) {
	bs, err := s.loadBootstrap(-1)
	if err != nil || bs == nil || bs.pos < s.segs[0].base {
		return nil, err
	}
	s.log.Error("storage: no usable checkpoint; starting again from the bootstrap state", zap.Int64("position", bs.pos))
	s.fs.RemoveAll(s.cqDir)
	if err := s.fs.MkdirAll(s.cqDir, 0o755); err != nil {
		return nil, err
	}
	for _, bp := range bs.parts {
		bp.hwm = bp.logStart
		if bs.seeds[bp.key].indexFrom >= bs.end {
			bp.hwm = bp.nextOffset
		}
		p := newPartition(s, bp.key)
		p.resetLocked(bp, true)
		s.parts[p.key] = p
	}
	s.kv = bs.kv
	s.boot = bs
	s.openCkptPos = bs.pos
	return &checkpointData{pos: bs.pos, maxAt: bs.pos}, nil
}
