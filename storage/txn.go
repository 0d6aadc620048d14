package storage

// Transactions (Kafka KIP-98) as the store sees them: a partition's open
// transactions, its last stable offset and its aborted-transaction index,
// all derived by the dispatcher from the batches in the commit log, so they
// are rebuilt on restart, identical on a slave, and kept in every
// checkpoint and bootstrap (encodeTxnIndex).
//
// A transactional data batch (attributes bit 4) opens a transaction of its
// producer id on the partition at its base offset, unless one is open. A
// control batch (bit 5, written by the broker for the transaction
// coordinator) closes it: its single record's key is int16 version 0 and
// int16 type (0 abort, 1 commit). An abort adds (producer id, first offset,
// marker offset) to the aborted index, which read_committed fetches return
// so the client drops the aborted records; a commit just closes.
//
// The last stable offset is the high watermark, or the first offset of the
// earliest transaction still open if that is lower: read_committed readers
// never read at or past it, so they never see a batch whose fate is not
// yet decided.

import (
	"encoding/binary"
	"sort"
)

// Batch attribute bits the store reads (Kafka's RecordBatch).
const (
	attrTransactional = 0x10
	attrControl       = 0x20
)

// Control record types (key: int16 version, int16 type).
const (
	ControlAbort  = 0
	ControlCommit = 1
)

// AbortedTxn is one aborted transaction on a partition: its producer's
// records in [FirstOffset, LastOffset] (LastOffset is the abort marker's)
// are to be dropped by read_committed readers.
type AbortedTxn struct {
	ProducerID  int64
	FirstOffset int64
	LastOffset  int64
}

// txnIndex is a partition's transaction state; under p.mu.
type txnIndex struct {
	open    map[int64]int64 // producer id -> first offset of its open transaction
	aborted []AbortedTxn    // by LastOffset
}

// dispatchTxnLocked updates the transaction state for a stored batch at
// base (dispatcher, under p.mu). Markers carry the producer's epoch: one
// with a newer epoch than the idempotence state holds (the coordinator
// fenced the producer) resets that state, so the fenced epoch's batches
// are refused from then on.
func (p *Partition) dispatchTxnLocked(bi *batchInfo, batch []byte, base int64) {
	if bi.producerID < 0 || bi.attributes&attrTransactional == 0 {
		return
	}
	t := &p.txn
	if bi.attributes&attrControl == 0 {
		if t.open == nil {
			t.open = make(map[int64]int64)
		}
		if _, ok := t.open[bi.producerID]; !ok {
			t.open[bi.producerID] = base
		}
		return
	}
	if st := p.producers[bi.producerID]; st != nil && bi.producerEpoch > st.epoch {
		p.producers[bi.producerID] = &producerState{epoch: bi.producerEpoch, lastSeen: st.lastSeen}
	} else if st == nil {
		p.producers[bi.producerID] = &producerState{epoch: bi.producerEpoch}
	}
	first, ok := t.open[bi.producerID]
	if !ok {
		return // a marker for a transaction with no data here
	}
	delete(t.open, bi.producerID)
	if controlType(batch) != ControlAbort {
		return
	}
	// Entries wholly below the log start are of no use to any reader.
	i := 0
	for i < len(t.aborted) && t.aborted[i].LastOffset < p.logStart {
		i++
	}
	t.aborted = append(t.aborted[i:], AbortedTxn{ProducerID: bi.producerID, FirstOffset: first, LastOffset: base})
}

// controlType reads a control batch's record type; -1 when unreadable.
// The record: varint length, int8 attributes, varint timestamp delta,
// varint offset delta, varint key length, key (int16 version, int16 type).
func controlType(batch []byte) int {
	if len(batch) <= batchHeaderSize {
		return -1
	}
	r := batch[batchHeaderSize:]
	if _, n := binary.Varint(r); n > 0 {
		r = r[n:]
	} else {
		return -1
	}
	if len(r) < 1 {
		return -1
	}
	r = r[1:]
	for range 2 {
		if _, n := binary.Varint(r); n > 0 {
			r = r[n:]
		} else {
			return -1
		}
	}
	kl, n := binary.Varint(r)
	if n <= 0 || kl < 4 || len(r[n:]) < 4 {
		return -1
	}
	r = r[n:]
	return int(int16(binary.BigEndian.Uint16(r[2:])))
}

// lsoLocked is the last stable offset; under p.mu.
func (p *Partition) lsoLocked() int64 {
	lso := p.hwm
	for _, first := range p.txn.open {
		lso = min(lso, first)
	}
	return lso
}

// LastStableOffset is the offset below which every transaction is decided:
// the high watermark, or the first offset of the earliest open transaction.
func (p *Partition) LastStableOffset() int64 {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.lsoLocked()
}

// AbortedTxns returns the aborted transactions a read_committed read of
// [from, to) must know: those ending at or after from and starting before
// to, in marker order. The slice is the caller's.
func (p *Partition) AbortedTxns(from, to int64) []AbortedTxn {
	p.mu.RLock()
	defer p.mu.RUnlock()
	a := p.txn.aborted
	i := sort.Search(len(a), func(i int) bool { return a[i].LastOffset >= from })
	var out []AbortedTxn
	for _, t := range a[i:] {
		if t.FirstOffset < to {
			out = append(out, t)
		}
	}
	return out
}

// OpenTxn reports the first offset of producerID's open transaction on the
// partition (DescribeProducers); ok is false when none is open.
func (p *Partition) OpenTxn(producerID int64) (first int64, ok bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	first, ok = p.txn.open[producerID]
	return first, ok
}

// ProducerEpoch reports the epoch the partition holds for producerID, from
// its last batch or transaction marker (a marker resets the state to its
// own epoch); ok is false when it holds none. Markers are checked against
// it (WriteTxnMarkers).
func (p *Partition) ProducerEpoch(producerID int64) (epoch int16, ok bool) {
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	st := p.producers[producerID]
	if st == nil {
		return 0, false
	}
	return st.epoch, true
}

// ProducerInfo is what DescribeProducers reports for a producer id.
type ProducerInfo struct {
	ProducerID    int64
	Epoch         int16
	LastSequence  int32
	LastTimestamp int64 // store time (ms) of its last batch
	TxnStart      int64 // first offset of its open transaction, -1 if none
}

// Producers lists the partition's producer state.
func (p *Partition) Producers() []ProducerInfo {
	p.mu.RLock()
	defer p.mu.RUnlock()
	var out []ProducerInfo
	for id, st := range p.producers {
		pi := ProducerInfo{ProducerID: id, Epoch: st.epoch, LastSequence: -1, LastTimestamp: st.lastSeen, TxnStart: -1}
		if n := len(st.batches); n > 0 {
			pi.LastSequence = st.batches[n-1].lastSeq
		}
		if first, ok := p.txn.open[id]; ok {
			pi.TxnStart = first
		}
		out = append(out, pi)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ProducerID < out[j].ProducerID })
	return out
}

// encodeTxnIndex and decodeTxnIndex add a partition's transaction state to
// the checkpoint and bootstrap layouts (version 2):
//
//	uint32 open transactions, each int64 producer id, int64 first offset
//	uint32 aborted transactions, each int64 producer id, int64 first
//	  offset, int64 last offset
func encodeTxnIndex(e *enc, p *Partition) {
	e.u32(uint32(len(p.txn.open)))
	for id, first := range p.txn.open {
		e.i64(id)
		e.i64(first)
	}
	e.u32(uint32(len(p.txn.aborted)))
	for _, a := range p.txn.aborted {
		e.i64(a.ProducerID)
		e.i64(a.FirstOffset)
		e.i64(a.LastOffset)
	}
}

func decodeTxnIndex(d *dec, p *Partition) {
	n := d.count(16)
	for i := 0; i < n && !d.bad; i++ {
		if p.txn.open == nil {
			p.txn.open = make(map[int64]int64, n)
		}
		id := d.i64()
		p.txn.open[id] = d.i64()
	}
	n = d.count(24)
	for i := 0; i < n && !d.bad; i++ {
		p.txn.aborted = append(p.txn.aborted, AbortedTxn{ProducerID: d.i64(), FirstOffset: d.i64(), LastOffset: d.i64()})
	}
}
