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
	// Segments can only go once a checkpoint covers them (derived state
	// must not need them); write one if the oldest is not yet covered.
	s.segMu.RLock()
	need := len(s.segs) > 1 && s.segs[0].base+s.segs[0].cap > s.ckptPos.Load()
	s.segMu.RUnlock()
	if need && s.brokenErr() == nil {
		if err := s.checkpoint(); err != nil {
			return err
		}
	}
	return s.deleteSegments()
}

// applyRetention moves the log start past batches older than retention.ms
// and past what exceeds retention.bytes.
func (p *Partition) applyRetention(now int64) {
	p.ensureTail()
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.retention
	if p.deleted || (r.Ms < 0 && r.Bytes < 0) {
		return
	}
	for p.startIdx < p.count {
		e, err := p.entryLocked(p.startIdx)
		if err != nil {
			return
		}
		old := r.Ms >= 0 && e.maxTs < now-r.Ms
		big := r.Bytes >= 0 && p.retained > r.Bytes
		if !old && !big {
			return
		}
		p.retained -= int64(e.size)
		p.startIdx++
		p.logStart = max(p.logStart, e.lastOffset()+1)
	}
}

// minRetainedPos is the lowest commit-log position some partition still
// needs.
func (s *Store) minRetainedPos() int64 {
	low := s.writePos.Load()
	for _, p := range s.Partitions() {
		p.ensureTail()
		p.mu.RLock()
		if p.startIdx < p.count {
			if e, err := p.entryLocked(p.startIdx); err == nil {
				low = min(low, e.pos)
			} else {
				low = 0
			}
		}
		p.mu.RUnlock()
	}
	return low
}

// deleteSegments removes whole segments below every partition's retained
// data and below the last checkpoint, never the active one nor one a reader
// holds. Over MaxDiskBytes, the oldest segments go even if partitions
// retain data in them: those partitions' log starts move past it.
func (s *Store) deleteSegments() error {
	for {
		ck := s.ckptPos.Load()
		low := s.minRetainedPos()
		s.segMu.Lock()
		if len(s.segs) < 2 {
			s.segMu.Unlock()
			return nil
		}
		seg := s.segs[0]
		end := seg.base + seg.cap
		force := s.cfg.MaxDiskBytes > 0 && s.diskBytes.Load() > s.cfg.MaxDiskBytes
		if end > ck || seg.readers.Load() > 0 || (end > low && !force) {
			s.segMu.Unlock()
			if force && end <= ck && seg.readers.Load() == 0 {
				s.evictBefore(end)
				continue
			}
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
		if err := s.fs.SyncDir(s.clDir); err != nil {
			return err
		}
	}
}

// evictBefore moves every partition's log start past data below pos (disk
// cap).
func (s *Store) evictBefore(pos int64) {
	for _, p := range s.Partitions() {
		p.ensureTail()
		p.mu.Lock()
		for p.startIdx < p.count {
			e, err := p.entryLocked(p.startIdx)
			if err != nil || e.pos >= pos {
				break
			}
			p.retained -= int64(e.size)
			p.startIdx++
			p.logStart = max(p.logStart, e.lastOffset()+1)
		}
		p.mu.Unlock()
	}
}
