package storage

// How retention, the disk cap and a bootstrap treat a compacted partition:
// below its clean end its data is the copies, not the consume-queue
// entries (which still list the superseded originals).

// applyRetentionCompacted is applyRetention for a partition with a
// committed compaction (cleanup.policy=compact,delete): retention.ms and
// retention.bytes count the copies and the dirty batches, never the
// superseded originals. It returns false when the partition has none.
func (p *Partition) applyRetentionCompacted(now int64, r RetentionPolicy) bool {
	_, first, ok := p.compactPin()
	if !ok {
		return false
	}
	cv, err := p.compactedView()
	if err != nil || cv == nil {
		return true // cannot tell now: move nothing
	}
	p.mu.RLock()
	v := p.viewLocked()
	p.mu.RUnlock()
	var dirty []cqEntry
	if first != nil {
		idx, err := v.find(first.baseOffset)
		if err != nil {
			return true
		}
		for ; idx < v.count; idx++ {
			e, err := v.entry(idx)
			if err != nil {
				return true
			}
			dirty = append(dirty, e)
		}
	}
	type span struct {
		last, maxTs int64
		size        int64
	}
	var all []span
	var retained int64
	for _, c := range cv.copies {
		if c.last >= v.logStart {
			all = append(all, span{c.last, c.maxTs, int64(c.size)})
			retained += int64(c.size)
		}
	}
	for _, e := range dirty {
		all = append(all, span{e.lastOffset(), e.maxTs, int64(e.size)})
		retained += int64(e.size)
	}
	target := v.logStart
	for _, sp := range all {
		old := r.Ms >= 0 && sp.maxTs < now-r.Ms
		big := r.Bytes >= 0 && retained > r.Bytes
		if !old && !big {
			break
		}
		retained -= sp.size
		target = max(target, sp.last+1)
	}
	if target > v.logStart {
		p.moveLogStart(target)
	}
	return true
}

// evictCompacted is evictBefore for a compacted partition: it returns the
// log start that evicting everything below pos needs (the clean end when
// the copies lie below pos, past the dirty batches below pos), and false
// for a partition without committed compaction.
func (p *Partition) evictCompacted(pos int64) (int64, bool) {
	pin, first, ok := p.compactPin()
	if !ok {
		return 0, false
	}
	cv, err := p.compactedView()
	p.mu.RLock()
	v := p.viewLocked()
	p.mu.RUnlock()
	target := v.logStart
	if err != nil || cv == nil || pin >= pos {
		return target, true
	}
	if cv.st.from < pos {
		target = max(target, cv.st.cleanEnd)
	}
	if first != nil {
		idx, err := v.find(first.baseOffset)
		if err != nil {
			return target, true
		}
		for ; idx < v.count; idx++ {
			e, err := v.entry(idx)
			if err != nil || e.pos >= pos {
				break
			}
			target = max(target, e.lastOffset()+1)
		}
	}
	return target, true
}

// bootSeedCompacted is the bootstrap seed of a compacted partition: its
// consume queue is indexed on the slave from its first batch at or past
// the clean end (the copies below come through the log and the committed
// state); low is the lowest position the slave must stream from.
func (p *Partition) bootSeedCompacted(end int64) (seed bootSeed, low int64, ok bool) {
	pin, first, ok := p.compactPin()
	if !ok {
		return bootSeed{}, 0, false
	}
	seed = bootSeed{indexFrom: end, runMax: -1}
	if first != nil {
		seed = bootSeed{indexFrom: first.pos - entryHeaderSize, runMax: first.runMaxTs}
	}
	return seed, pin, true
}
