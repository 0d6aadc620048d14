package storage

import (
	"math"
	"slices"
	"sort"
)

// The visibility fence. A batch becomes visible (its partition's high
// watermark moves past it) once its commit-log entry ends at or below the
// frontier: min(commit limit, durable position under sync flush). The
// commit limit is set by replication (the master: the lowest end the
// in-sync members acknowledged; a slave: the master's high-watermark
// position); never set, it is no limit and appends behave as they always
// did. Batches above the frontier wait in Store.pending, ordered by the
// position their entry ends at.

// noLimit is the commit limit of a store on which SetCommitLimit was never
// called.
const noLimit = math.MaxInt64

// SetCommitLimit fences visibility at commit-log position pos: no
// partition's HighWatermark covers a batch whose entry ends beyond pos (a
// batch ending exactly at pos is visible). Raising it makes the batches up
// to the new limit visible and calls their partitions' Watch callbacks;
// lowering it takes the high watermarks back (a slave told a lower
// high-watermark position by its master, or one that opened with more than
// its master has committed). LogEndOffset is unaffected. Under FlushSync a
// batch also waits for the fsync that covers it.
func (s *Store) SetCommitLimit(pos int64) {
	s.flushMu.Lock()
	if pos >= s.limit.Load() {
		s.limit.Store(pos)
		take := s.takeVisibleLocked()
		s.flushMu.Unlock()
		for _, fn := range s.makeVisible(take) {
			fn()
		}
		return
	}
	s.flushMu.Unlock()
	// Lowering: s.mu keeps the dispatcher (which publishes under it) from
	// running while high watermarks are taken back, so a batch dispatched
	// now sees either the old limit and is hidden below, or the new one.
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flushMu.Lock()
	s.limit.Store(pos)
	s.flushMu.Unlock()
	for _, p := range s.Partitions() {
		p.mu.Lock()
		p.hideAboveLocked(pos)
		p.mu.Unlock()
	}
}

// CommitLimit is the current commit limit; math.MaxInt64 when there is
// none.
func (s *Store) CommitLimit() int64 { return s.limit.Load() }

// DurablePosition is the commit-log position known to be fsynced.
func (s *Store) DurablePosition() int64 {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	return s.durable
}

// frontierLocked is the position up to which batches are visible; under
// flushMu.
func (s *Store) frontierLocked() int64 {
	f := s.limit.Load()
	if s.cfg.FlushMode == FlushSync && !s.replaying {
		f = min(f, s.durable)
	}
	return f
}

// takeVisibleLocked removes and returns the pending batches at or below the
// frontier; under flushMu.
func (s *Store) takeVisibleLocked() []pendingVis {
	f := s.frontierLocked()
	i := 0
	for i < len(s.pending) && s.pending[i].pos <= f {
		i++
	}
	if i == 0 {
		return nil
	}
	take := append([]pendingVis(nil), s.pending[:i]...)
	s.pending = s.pending[i:]
	return take
}

// addPendingLocked queues a batch until the frontier reaches pos, keeping
// the queue ordered (appends come in position order; only batches hidden
// again by a lowered limit go in the middle); under flushMu.
func (s *Store) addPendingLocked(pv pendingVis) {
	n := len(s.pending)
	if n == 0 || s.pending[n-1].pos <= pv.pos {
		s.pending = append(s.pending, pv)
		return
	}
	i := sort.Search(n, func(i int) bool { return s.pending[i].pos > pv.pos })
	s.pending = append(s.pending, pendingVis{})
	copy(s.pending[i+1:], s.pending[i:])
	s.pending[i] = pv
}

// makeVisible moves the high watermarks of batches taken from the queue
// and returns the watchers to call. A batch taken under a limit that was lowered
// before its partition lock was acquired is queued again (the lowering
// stores the limit before it takes any partition lock, so the check under
// the partition lock sees it).
func (s *Store) makeVisible(take []pendingVis) []func() {
	var fns []func()
	for _, pv := range take {
		pv.p.mu.Lock()
		if pv.pos > s.limit.Load() {
			s.flushMu.Lock()
			s.addPendingLocked(pv)
			s.flushMu.Unlock()
		} else {
			fns = append(fns, pv.p.setHWMLocked(pv.hwm)...)
		}
		pv.p.mu.Unlock()
	}
	return fns
}

// hideAboveLocked takes the high watermark back below every batch whose
// entry ends beyond limit and queues those batches again; under s.mu and
// p.mu (write).
func (p *Partition) hideAboveLocked(limit int64) {
	if p.deleted {
		return
	}
	p.ensureTailLocked()
	if p.count == p.startIdx || p.hwm <= p.logStart {
		return
	}
	v := p.viewLocked()
	var hidden []pendingVis
	newHWM := p.hwm
	for idx := p.count - 1; idx >= p.startIdx; idx-- {
		e, err := v.entry(idx)
		if err != nil {
			break
		}
		if e.baseOffset >= p.hwm {
			continue // not visible yet: already queued
		}
		end := e.pos + int64(e.size)
		if end <= limit {
			break
		}
		hidden = append(hidden, pendingVis{pos: end, p: p, hwm: e.lastOffset() + 1})
		newHWM = e.baseOffset
	}
	if len(hidden) == 0 {
		return
	}
	p.hwm = max(newHWM, p.logStart)
	slices.Reverse(hidden) // by position
	s := p.s
	s.flushMu.Lock()
	s.mergePendingLocked(hidden)
	s.flushMu.Unlock()
}

// mergePendingLocked queues batches (ordered by position) hidden again by a
// lowered limit, in one merge with the queue. Inserted one by one they cost
// a copy of the queue each, as one partition's batches interleave with the
// others' already queued: quadratic in the batches hidden, which made a
// restarted slave (fenceUncommitted hides its whole log) take 93 s to start
// after 12 minutes of TestJepsen's load. Under flushMu.
func (s *Store) mergePendingLocked(batches []pendingVis) {
	if len(batches) == 0 {
		return
	}
	if n := len(s.pending); n == 0 || s.pending[n-1].pos <= batches[0].pos {
		s.pending = append(s.pending, batches...)
		return
	}
	merged := make([]pendingVis, 0, len(s.pending)+len(batches))
	i, j := 0, 0
	for i < len(s.pending) && j < len(batches) {
		if s.pending[i].pos <= batches[j].pos { // equal: queued first stays first
			merged = append(merged, s.pending[i])
			i++
		} else {
			merged = append(merged, batches[j])
			j++
		}
	}
	merged = append(merged, s.pending[i:]...)
	s.pending = append(merged, batches[j:]...)
}
