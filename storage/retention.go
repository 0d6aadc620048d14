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
			if s.cfg.MaxDiskBytes <= 0 || disk <= s.cfg.MaxDiskBytes {
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
