package storage

// Idempotent producers (Kafka KIP-98): per producer id and partition the
// store remembers the epoch and the sequence ranges of the last five
// batches. The state is derived from the batches in the commit log by the
// dispatcher, so it is rebuilt on restart, identical on a slave, and kept in
// every checkpoint so retention never loses it.

const producerWindow = 5

type seqBatch struct {
	firstSeq, lastSeq int32
	base, last        int64
}

type producerState struct {
	epoch    int16
	batches  []seqBatch // oldest first, at most producerWindow
	lastSeen int64      // store time (ms) of the last batch
}

// checkSequence applies Kafka's rules to a batch of an idempotent producer:
// a repeat of one of the last five batches is a duplicate (its base offset
// is returned); an older epoch is fenced; a new epoch must start at 0; in
// the same epoch the sequence must follow the last one. A producer with no
// state (new, or expired) may start anywhere. Under s.mu.
func (p *Partition) checkSequence(bi *batchInfo) (dupBase int64, dup bool, err error) {
	st := p.producers[bi.producerID]
	if st == nil {
		return 0, false, nil
	}
	if bi.producerEpoch < st.epoch {
		return 0, false, ErrInvalidProducerEpoch
	}
	lastSeq := lastSequence(bi.baseSequence, bi.lastDelta)
	if bi.producerEpoch != st.epoch {
		if bi.baseSequence != 0 {
			return 0, false, ErrOutOfOrderSequence
		}
		return 0, false, nil
	}
	for _, b := range st.batches {
		if b.firstSeq == bi.baseSequence && b.lastSeq == lastSeq {
			return b.base, true, nil
		}
	}
	if n := len(st.batches); n > 0 && bi.baseSequence != nextSequence(st.batches[n-1].lastSeq) {
		return 0, false, ErrOutOfOrderSequence
	}
	return 0, false, nil
}

// updateProducerLocked records a stored batch (dispatcher); under p.mu.
func (p *Partition) updateProducerLocked(bi *batchInfo, base, storeTime int64) {
	st := p.producers[bi.producerID]
	if st == nil || bi.producerEpoch != st.epoch {
		if st != nil && bi.producerEpoch < st.epoch {
			return
		}
		st = &producerState{epoch: bi.producerEpoch}
		p.producers[bi.producerID] = st
	}
	if len(st.batches) == producerWindow {
		copy(st.batches, st.batches[1:])
		st.batches = st.batches[:producerWindow-1]
	}
	st.batches = append(st.batches, seqBatch{
		firstSeq: bi.baseSequence,
		lastSeq:  lastSequence(bi.baseSequence, bi.lastDelta),
		base:     base,
		last:     base + int64(bi.lastDelta),
	})
	st.lastSeen = storeTime
}

// expireProducersLocked drops producers idle since before cutoff (ms);
// under s.mu and p.mu.
func (p *Partition) expireProducersLocked(cutoff int64) {
	for id, st := range p.producers {
		if st.lastSeen < cutoff {
			delete(p.producers, id)
		}
	}
}

// ProducerState reports the epoch and last sequence the store holds for a
// producer id; ok is false when it has none (tests and diagnostics).
func (p *Partition) ProducerState(producerID int64) (epoch int16, lastSeq int32, ok bool) {
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	st := p.producers[producerID]
	if st == nil || len(st.batches) == 0 {
		return 0, 0, false
	}
	return st.epoch, st.batches[len(st.batches)-1].lastSeq, true
}
