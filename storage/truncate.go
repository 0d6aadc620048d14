package storage

import (
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"go.uber.org/zap"
)

// Truncation. A slave whose log diverged from its master's (it holds
// entries of an old term the new master never had) cuts its log at the
// common point and rebuilds all derived state as of that position: from
// the newest checkpoint at or below it, re-dispatching the log from the
// checkpoint up to the cut, exactly as recovery does after a crash.
//
// Besides the latest checkpoint the store keeps copies of the checkpoints
// written just before each term entry it writes or receives and at a
// bootstrap ("kept" checkpoints, <Dir>/checkpoint.<20-digit position>, the
// newest keptCheckpoints of them): a divergence never reaches below the
// start of the last term both sides share, so one of them is at or below
// any position a slave is asked to truncate to.

// keptCheckpoints is how many kept checkpoints remain at most (terms are
// rare; one below the first segment is useless and goes too).
const keptCheckpoints = 8

const keptPrefix = checkpointName + "."

// keptName names the kept checkpoint at pos, written when the oldest
// segment started at first: if no segment was deleted since, every batch a
// partition retained then is still in the log, so a partition dropped
// since can have its consume queue rebuilt from the log.
func keptName(pos, first int64) string { return fmt.Sprintf("%s%020d-%020d", keptPrefix, pos, first) }

type keptInfo struct{ pos, first int64 }

// keptList lists the kept checkpoints, ascending by position.
func (s *Store) keptList() []keptInfo {
	names, err := s.fs.ReadDir(s.cfg.Dir)
	if err != nil {
		return nil
	}
	var out []keptInfo
	for _, n := range names {
		if !strings.HasPrefix(n, keptPrefix) || len(n) != len(keptPrefix)+41 || n[len(keptPrefix)+20] != '-' {
			continue
		}
		pos, err1 := strconv.ParseInt(n[len(keptPrefix):len(keptPrefix)+20], 10, 64)
		first, err2 := strconv.ParseInt(n[len(keptPrefix)+21:], 10, 64)
		if err1 == nil && err2 == nil {
			out = append(out, keptInfo{pos, first})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].pos < out[j].pos })
	return out
}

// keepCheckpoint writes a checkpoint now and keeps a copy of it.
func (s *Store) keepCheckpoint() error {
	s.ckptMu.Lock()
	defer s.ckptMu.Unlock()
	if err := s.checkpointCk(); err != nil {
		return err
	}
	return s.keepCheckpointCk()
}

// keepCheckpointCk copies the latest checkpoint file to a kept one and
// drops the oldest beyond keptCheckpoints; under ckptMu.
func (s *Store) keepCheckpointCk() error {
	b, err := readWholeFile(s.fs, filepath.Join(s.cfg.Dir, checkpointName))
	if err != nil {
		return err
	}
	ck, err := decodeCheckpoint(b)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(s.fs, filepath.Join(s.cfg.Dir, keptName(ck.pos, s.FirstPosition())), b); err != nil {
		return err
	}
	kept := s.keptList()
	for len(kept) > keptCheckpoints || (len(kept) > 0 && kept[0].pos < s.FirstPosition()) {
		if err := s.fs.Remove(filepath.Join(s.cfg.Dir, keptName(kept[0].pos, kept[0].first))); err != nil {
			return err
		}
		kept = kept[1:]
	}
	return nil
}

// removeKeptCheckpoints removes the kept checkpoints above pos (all for
// -1).
func (s *Store) removeKeptCheckpoints(above int64) error {
	for _, k := range s.keptList() {
		if k.pos > above {
			if err := s.fs.Remove(filepath.Join(s.cfg.Dir, keptName(k.pos, k.first))); err != nil {
				return err
			}
		}
	}
	return nil
}

// Truncate cuts the commit log at pos, an entry boundary between
// FirstPosition and EndPosition, and rebuilds every derived state as of
// pos: partitions (their next offsets, consume queues, log starts, leader
// epochs, producer state), key/values and terms. It returns
// ErrNeedBootstrap when that cannot be done locally: pos below the first
// retained segment or inside a bootstrap's catch-up, no checkpoint at or
// below pos whose segments and consume queues are all still there, or a
// partition retaining data below the first segment as of pos. Partitions
// that exist before and after keep their *Partition and watchers (which
// are called); the others are dropped. High watermarks stay within the
// commit limit.
func (s *Store) Truncate(pos int64) error {
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
	end := s.writePos.Load()
	if pos == end {
		s.mu.Unlock()
		return nil
	}
	if pos > end || pos < 0 {
		s.mu.Unlock()
		return fmt.Errorf("%w: truncate to %d, end is %d", ErrOffsetOutOfRange, pos, end)
	}
	ck, raw, err := s.truncateBaseLocked(pos)
	if err == nil {
		err = s.checkBoundaryLocked(ck.pos, pos)
	}
	if err == nil {
		// Crash safety: before the log is cut, no checkpoint may describe
		// anything past the cut (Open would refuse a log shorter than its
		// checkpoint; a kept one would describe the divergent log once the
		// log grows past it again). A crash in between leaves the base
		// checkpoint and the uncut log: the truncation did not happen.
		if s.ckptPos.Load() != ck.pos {
			err = writeFileAtomic(s.fs, filepath.Join(s.cfg.Dir, checkpointName), raw)
		}
		if err == nil {
			err = s.removeKeptCheckpoints(pos)
		}
		if err != nil {
			err = s.fail(err)
		}
	}
	if err != nil {
		s.mu.Unlock()
		return err
	}
	s.following.Store(true)
	fns, err := s.truncateLocked(ck, pos)
	s.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
	if err != nil {
		return err
	}
	s.log.Warn("storage: truncated the commit log", zap.Int64("from", end), zap.Int64("to", pos), zap.Int64("checkpoint", ck.pos))
	return s.checkpointCk()
}

// truncateBaseLocked picks the newest usable checkpoint at or below pos.
func (s *Store) truncateBaseLocked(pos int64) (*checkpointData, []byte, error) {
	first := s.FirstPosition()
	if pos < first {
		return nil, nil, fmt.Errorf("%w: %d is below the first segment %d", ErrNeedBootstrap, pos, first)
	}
	if s.boot != nil && pos < s.boot.end {
		return nil, nil, fmt.Errorf("%w: %d is inside the catch-up of a bootstrap (until %d)", ErrNeedBootstrap, pos, s.boot.end)
	}
	// The latest checkpoint (the oldest segment when it was written is not
	// known), then the kept ones, newest first.
	cands := []keptInfo{{pos: -1, first: -1}}
	kept := s.keptList()
	for i := len(kept) - 1; i >= 0; i-- {
		cands = append(cands, kept[i])
	}
	var best *checkpointData
	var bestRaw []byte
	for _, c := range cands {
		name := checkpointName
		if c.pos >= 0 {
			name = keptName(c.pos, c.first)
		}
		b, err := readWholeFile(s.fs, filepath.Join(s.cfg.Dir, name))
		if err != nil {
			continue
		}
		ck, err := decodeCheckpoint(b)
		if err != nil || ck.maxAt > pos || ck.pos < first || (best != nil && ck.pos <= best.pos) {
			continue
		}
		if s.boot != nil && ck.pos < s.boot.end {
			continue // holds the bootstrap's state at its end, not at ck.pos
		}
		if s.usableLocked(ck, first, c.first == first) {
			best, bestRaw = ck, b
		}
	}
	if best == nil {
		return nil, nil, fmt.Errorf("%w: no usable checkpoint at or below %d", ErrNeedBootstrap, pos)
	}
	return best, bestRaw, nil
}

// usableLocked reports whether every partition of ck still has its
// consume queue from its first retained entry on, with that entry in a
// retained segment. A partition dropped since (its consume queue removed)
// is rebuilt from the log if no segment was deleted since ck (noneGone).
func (s *Store) usableLocked(ck *checkpointData, first int64, noneGone bool) bool {
	for _, cp := range ck.parts {
		live := s.lookup(cp.key)
		if live == nil {
			if !noneGone {
				return false
			}
			cp.rebuild = true
			continue
		}
		if cp.startIdx >= cp.count {
			continue
		}
		cp.s, cp.cqDir = s, live.cqDir
		if cp.tailLoaded && cp.startIdx >= cp.tailStart { // in the checkpoint (version 3)
			if cp.tail[cp.startIdx-cp.tailStart].pos < first {
				return false
			}
			continue
		}
		es, err := cp.readEntries(cp.startIdx, 1)
		if err != nil || es[0].pos < first {
			return false
		}
	}
	return true
}

// checkBoundaryLocked checks that pos is an entry boundary by walking the
// entries from from.
func (s *Store) checkBoundaryLocked(from, pos int64) error {
	sc := s.newScanner(from)
	for sc.pos < pos {
		if _, _, _, ok := sc.next(); !ok {
			return fmt.Errorf("storage: truncate: the commit log is unreadable at %d, before %d", sc.pos, pos)
		}
	}
	if sc.pos != pos {
		return fmt.Errorf("storage: truncate: %d is not an entry boundary (an entry spans it up to %d)", pos, sc.pos)
	}
	return nil
}

// truncateLocked does the cut: the log ends at pos (synced), the state is
// ck's, and [ck.pos, pos) is re-dispatched. Under ckptMu and s.mu.
func (s *Store) truncateLocked(ck *checkpointData, pos int64) ([]func(), error) {
	if err := s.cutLogLocked(pos); err != nil {
		return nil, s.fail(err)
	}
	s.flushMu.Lock()
	s.durable, s.published, s.pending = pos, pos, nil
	s.flushMu.Unlock()
	for _, cp := range ck.parts {
		cp.hwm = cp.nextOffset
	}
	s.openCkptPos = ck.pos
	fns := s.replacePartitionsLocked(ck.parts, false)
	s.kvMu.Lock()
	s.kv = ck.kv
	s.kvMu.Unlock()
	s.ckptPos.Store(-1)

	s.replaying = true
	sc := s.newScanner(ck.pos)
	for sc.pos < pos {
		h, b, p, ok := sc.next()
		if !ok {
			s.replaying = false
			return fns, s.fail(fmt.Errorf("storage: truncate: the commit log became unreadable at %d", p))
		}
		if h.typ != entryPad {
			s.apply(p, &h, b)
		}
	}
	s.replaying = false
	s.writePos.Store(pos)
	if lim := s.limit.Load(); lim != noLimit {
		for _, p := range s.Partitions() {
			p.mu.Lock()
			p.hideAboveLocked(lim)
			p.mu.Unlock()
		}
	}
	for _, p := range s.Partitions() {
		p.mu.RLock()
		fns = append(fns, p.watchersLocked()...)
		p.mu.RUnlock()
	}
	return fns, nil
}

// cutLogLocked makes pos the end of the commit log: later segments are
// removed, the rest of pos's segment is zeroed, and it is synced.
func (s *Store) cutLogLocked(pos int64) error {
	s.segMu.Lock()
	var keep, gone []*segment
	for _, seg := range s.segs {
		if seg.base > pos {
			gone = append(gone, seg)
			seg.deleted = true
			s.diskBytes.Add(-seg.cap)
			continue
		}
		keep = append(keep, seg)
	}
	s.segs = keep
	last := keep[len(keep)-1]
	s.segMu.Unlock()
	// The flusher may be fsyncing a segment that goes (syncTo took its
	// list before the cut): wait for it (syncMu) before closing.
	s.syncMu.Lock()
	for _, seg := range gone {
		seg.f.Close()
	}
	s.syncMu.Unlock()
	for _, seg := range gone {
		if err := s.fs.Remove(seg.path); err != nil {
			return err
		}
	}
	s.discardPrepared() // made for the old end
	if pos == last.base+last.cap {
		// The cut is a segment end: the next segment starts empty.
		seg, err := s.createSegment(pos)
		if err != nil {
			return err
		}
		s.segMu.Lock()
		s.segs = append(s.segs, seg)
		s.diskBytes.Add(seg.cap)
		s.segMu.Unlock()
	} else {
		if err := last.f.Truncate(pos - last.base); err != nil {
			return err
		}
		if err := last.f.Allocate(last.cap); err != nil {
			return err
		}
	}
	if err := s.syncSegment(last); err != nil {
		return err
	}
	return s.fs.SyncDir(s.clDir)
}

// replacePartitionsLocked makes parts (detached partitions decoded from a
// checkpoint or a bootstrap state, hwm set) the store's partitions. A
// partition that exists already keeps its *Partition, watchers and
// retention policy; the others are dropped (their consume queues removed
// unless fresh, when the whole directory was). Returns the watchers to
// call. Under s.mu.
func (s *Store) replacePartitionsLocked(parts []*Partition, fresh bool) []func() {
	next := make(map[pkey]*Partition, len(parts))
	s.partsMu.RLock()
	old := s.parts
	s.partsMu.RUnlock()
	pairs := make([][2]*Partition, 0, len(parts))
	for _, cp := range parts {
		p := old[cp.key]
		if p == nil {
			p = newPartition(s, cp.key)
		}
		next[cp.key] = p
		pairs = append(pairs, [2]*Partition{p, cp})
	}
	s.partsMu.Lock()
	s.parts = next
	s.partsMu.Unlock()
	var fns []func()
	for _, pc := range pairs {
		p, cp := pc[0], pc[1]
		p.mu.Lock()
		p.resetLocked(cp, fresh)
		if cp.rebuild {
			// Dropped after the checkpoint, consume queue and all.
			p.tailLoaded, p.dirMade = true, false
			p.rebuildCQLocked(max(s.openCkptPos, cp.covered))
		}
		fns = append(fns, p.watchersLocked()...)
		p.mu.Unlock()
	}
	for k, p := range old {
		if next[k] == p {
			continue
		}
		p.mu.Lock()
		p.deleted = true
		fns = append(fns, p.watchersLocked()...)
		p.mu.Unlock()
		if !fresh {
			s.cache.dropDir(p.cqDir)
			s.fs.RemoveAll(p.cqDir)
		}
	}
	return fns
}

// resetLocked replaces p's derived state with cp's. Under s.mu and p.mu.
func (p *Partition) resetLocked(cp *Partition, fresh bool) {
	p.deleted = false
	p.count = cp.count
	p.tailStart = cp.count / cqBlock * cqBlock
	p.tail = nil
	p.tailLoaded = fresh
	if cp.tailLoaded && !fresh { // the tail is in the checkpoint (version 3)
		p.tailStart, p.tail, p.tailLoaded = cp.tailStart, cp.tail, true
	}
	p.blocks, p.blocksBase = cp.blocks, cp.blocksBase
	p.trimmable = cp.startIdx
	if fresh {
		p.dirMade, p.cqFirstFile = false, 0
	}
	p.covered = cp.covered
	p.nextOffset, p.hwm, p.logStart = cp.nextOffset, cp.hwm, cp.logStart
	p.startIdx, p.startCum, p.totalBytes = cp.startIdx, cp.startCum, cp.totalBytes
	p.maxTs, p.maxTsOff = cp.maxTs, cp.maxTsOff
	p.epochs, p.producers, p.txn = cp.epochs, cp.producers, cp.txn
	if p.producers == nil {
		p.producers = make(map[int64]*producerState)
	}
}
