package storage

import (
	"time"

	"go.uber.org/zap"
)

// RunRetention applies every partition's retention policy, expires idle
// producers, and deletes the commit-log segments nothing retains any more
// (and, over MaxDiskBytes, the oldest segments even so). It runs
// periodically; tests and operators may call it directly.
func (s *Store) RunRetention() error {
	s.retMu.Lock()
	defer s.retMu.Unlock()
	if _, err := s.runCompaction(); err != nil {
		return err
	}
	return s.runRetentionLocked()
}

// runRetentionLocked is RunRetention after its compaction; under retMu.
func (s *Store) runRetentionLocked() error {
	now := time.Now().UnixMilli()
	for _, p := range s.Partitions() {
		p.applyRetention(now)
	}
	s.mu.Lock()
	cutoff := now - s.cfg.ProducerIDExpiration.Milliseconds()
	for _, p := range s.Partitions() {
		p.mu.Lock()
		p.expireProducersLocked(cutoff)
		p.mu.Unlock()
	}
	s.mu.Unlock()
	if err := s.deleteSegments(); err != nil {
		return err
	}
	// Consume-queue files can go once a checkpoint has the log starts
	// that made them useless; write one if that is all that holds them.
	need := false
	for _, p := range s.Partitions() {
		p.mu.RLock()
		f := p.startIdx / cqFileEntries * cqFileEntries
		need = need || (f > p.cqFirstFile && p.trimmable < f)
		p.mu.RUnlock()
	}
	if need && s.brokenErr() == nil {
		if err := s.checkpoint(); err != nil {
			return err
		}
	}
	for _, p := range s.Partitions() {
		p.mu.Lock()
		p.trimLocked()
		p.mu.Unlock()
	}
	return nil
}

// applyRetention moves the log start past batches older than retention.ms
// and past what exceeds retention.bytes. The move is written to the commit
// log like DeleteRecords, so it survives a crash and reaches slaves.
func (p *Partition) applyRetention(now int64) {
	p.ensureTail()
	p.mu.RLock()
	r := p.retention
	if p.deleted || (r.Ms < 0 && r.Bytes < 0) {
		p.mu.RUnlock()
		return
	}
	p.mu.RUnlock()
	if p.applyRetentionCompacted(now, r) {
		return
	}
	p.mu.RLock()
	v := p.viewLocked()
	p.mu.RUnlock()
	target := v.logStart
	retained := v.total - v.startCum
	for idx := v.startIdx; idx < v.count; idx++ {
		e, err := v.entry(idx)
		if err != nil {
			break
		}
		old := r.Ms >= 0 && e.maxTs < now-r.Ms
		big := r.Bytes >= 0 && retained > r.Bytes
		if !old && !big {
			break
		}
		retained -= int64(e.size)
		target = max(target, e.lastOffset()+1)
	}
	if target > v.logStart {
		p.moveLogStart(target)
	}
}

// moveLogStart records a new log start in the commit log.
func (p *Partition) moveLogStart(offset int64) {
	if p.s.following.Load() {
		return // a slave's log starts move with its master's entries
	}
	err := p.s.appendEntry(entryHeader{typ: entryLogStart, topic: p.key.topic, partition: p.key.part, baseOffset: offset}, nil)
	if err != nil {
		p.s.log.Warn("storage: moving a log start", zap.Error(err))
	}
}

// minRetainedPos is the lowest commit-log position some partition still
// needs.
func (s *Store) minRetainedPos() int64 {
	low := s.writePos.Load()
	for _, p := range s.Partitions() {
		if pin, _, ok := p.compactPin(); ok {
			low = min(low, pin)
			continue
		}
		p.ensureTail()
		p.mu.RLock()
		idx, has, tailStart := p.startIdx, p.startIdx < p.count, p.tailStart
		var e cqEntry
		if has && idx >= tailStart {
			e = p.tail[idx-tailStart]
		}
		p.mu.RUnlock()
		if !has {
			continue
		}
		if idx < tailStart {
			es, err := p.readEntries(idx, 1)
			if err != nil {
				return 0 // cannot tell: delete nothing
			}
			e = es[0]
		}
		low = min(low, e.pos)
	}
	return low
}

// deleteSegments removes whole segments below every partition's retained
// data, never the active one nor one a reader holds. Over MaxDiskBytes the
// oldest segments go even if partitions retain data in them: their log
// starts move past it. A checkpoint is written first, so the derived state
// and the moved log starts never refer to a deleted segment.
func (s *Store) deleteSegments() error {
	low := s.minRetainedPos()
	s.segMu.RLock()
	segs := append([]*segment(nil), s.segs...)
	s.segMu.RUnlock()
	disk := s.diskBytes.Load()
	var victims []*segment
	for _, seg := range segs[:len(segs)-1] {
		end := seg.base + seg.cap
		if seg.readers.Load() > 0 {
			break
		}
		if end > low {
			if s.cfg.MaxDiskBytes <= 0 || disk <= s.cfg.MaxDiskBytes || s.following.Load() {
				break
			}
			s.evictBefore(end)
			low = s.minRetainedPos()
		}
		victims = append(victims, seg)
		disk -= seg.cap
	}
	if len(victims) == 0 {
		return nil
	}
	if err := s.checkpoint(); err != nil {
		return err
	}
	for _, seg := range victims {
		s.segMu.Lock()
		if seg.readers.Load() > 0 || len(s.segs) < 2 || s.segs[0] != seg {
			s.segMu.Unlock()
			return nil
		}
		seg.deleted = true
		s.segs = s.segs[1:]
		s.diskBytes.Add(-seg.cap)
		s.segMu.Unlock()
		s.log.Info("storage: deleting commit-log segment", zap.String("file", seg.path))
		seg.f.Close()
		if err := s.fs.Remove(seg.path); err != nil {
			return err
		}
	}
	return s.fs.SyncDir(s.clDir)
}

// evictBefore moves every partition's log start past data below pos (disk
// cap).
func (s *Store) evictBefore(pos int64) {
	for _, p := range s.Partitions() {
		if target, ok := p.evictCompacted(pos); ok {
			if target > p.LogStartOffset() {
				p.moveLogStart(target)
			}
			continue
		}
		p.ensureTail()
		p.mu.RLock()
		v := p.viewLocked()
		p.mu.RUnlock()
		target := v.logStart
		for idx := v.startIdx; idx < v.count; idx++ {
			e, err := v.entry(idx)
			if err != nil || e.pos >= pos {
				break
			}
			target = max(target, e.lastOffset()+1)
		}
		if target > v.logStart {
			p.moveLogStart(target)
		}
	}
}
