package storage

import (
	"bytes"
	"fmt"
	"reflect"
	"sort"
	"testing"
)

// rawBytes reads the commit log of s from pos to its end with ReadRaw.
func rawBytes(t *testing.T, s *Store, pos int64) []byte {
	t.Helper()
	var out []byte
	for pos < s.EndPosition() {
		b, err := s.ReadRaw(pos, 1<<16)
		if err != nil {
			t.Fatalf("ReadRaw(%d): %v", pos, err)
		}
		out = append(out, b...)
		for len(b) > 0 {
			h, err := decodeEntryHeader(b, maxRawEntry)
			if err != nil {
				t.Fatalf("ReadRaw(%d) returned a bad entry: %v", pos, err)
			}
			n := int(h.length)
			if h.typ == entryPad {
				n = entryHeaderSize
			}
			pos += int64(h.length)
			b = b[n:]
		}
	}
	return out
}

// rawBatches reads every stored batch of p from its log start, byte for
// byte.
func rawBatches(t *testing.T, p *Partition) [][]byte {
	t.Helper()
	var out [][]byte
	off := p.LogStartOffset()
	for {
		res, err := p.Read(off, 1<<20)
		if err != nil {
			t.Fatalf("read at %d: %v", off, err)
		}
		if len(res.Chunks) == 0 {
			res.Release()
			return out
		}
		for _, c := range res.Chunks {
			buf := make([]byte, c.Len)
			if _, err := c.File.ReadAt(buf, c.Pos); err != nil {
				t.Fatalf("read chunk: %v", err)
			}
			out = append(out, buf)
			off = c.LastOffset + 1
		}
		res.Release()
	}
}

// partitionState is what a slave must derive identically to its master.
type partitionState struct {
	Key                 pkey
	HWM, LEO, LogStart  int64
	Size                int64
	MaxTs, MaxTsOff     int64
	Epochs              []epochStart
	Producers           map[int64]producerState
	OffsetForTime       [3]int64
	EndOffsetForEpochs  [][2]int64
	NumBatches, Deleted int
}

func stateOf(t *testing.T, p *Partition) (partitionState, [][]byte) {
	t.Helper()
	p.ensureTail()
	bs := rawBatches(t, p)
	st := partitionState{Key: p.key, HWM: p.HighWatermark(), LEO: p.LogEndOffset(), LogStart: p.LogStartOffset(),
		Size: p.Size(), Producers: map[int64]producerState{}, NumBatches: len(bs)}
	st.MaxTs, st.MaxTsOff = p.MaxTimestamp()
	off, ts, ok := p.OffsetForTime(1005)
	st.OffsetForTime = [3]int64{off, ts, map[bool]int64{true: 1}[ok]}
	p.mu.RLock()
	st.Epochs = append([]epochStart(nil), p.epochs...)
	for id, ps := range p.producers {
		st.Producers[id] = producerState{epoch: ps.epoch, batches: append([]seqBatch(nil), ps.batches...), lastSeen: ps.lastSeen}
	}
	p.mu.RUnlock()
	for e := int32(-1); e < 6; e++ {
		a, b := p.EndOffsetForEpoch(e)
		st.EndOffsetForEpochs = append(st.EndOffsetForEpochs, [2]int64{int64(a), b})
	}
	return st, bs
}

// sameState fails unless slave holds what master holds: the same
// partitions with the same offsets, log starts, high watermarks, epochs,
// producer state and byte-identical batches from each log start; the same
// key/values and terms; and, from the later first position of the two, the
// same commit-log bytes.
func sameState(t *testing.T, m, sl *Store) {
	t.Helper()
	if m.EndPosition() != sl.EndPosition() {
		t.Fatalf("end %d vs %d", m.EndPosition(), sl.EndPosition())
	}
	mp, sp := m.Partitions(), sl.Partitions()
	if len(mp) != len(sp) {
		t.Fatalf("%d partitions vs %d", len(mp), len(sp))
	}
	for i := range mp {
		ms, mb := stateOf(t, mp[i])
		ss, sb := stateOf(t, sp[i])
		if !reflect.DeepEqual(ms, ss) {
			t.Fatalf("partition %x/%d differs:\nmaster %+v\nslave  %+v", ms.Key.topic[:1], ms.Key.part, ms, ss)
		}
		for j := range mb {
			if !bytes.Equal(mb[j], sb[j]) {
				t.Fatalf("partition %x/%d batch %d differs", ms.Key.topic[:1], ms.Key.part, j)
			}
		}
	}
	if !reflect.DeepEqual(kvDump(m), kvDump(sl)) {
		t.Fatalf("key/values differ:\n%v\n%v", kvDump(m), kvDump(sl))
	}
	if fmt.Sprint(m.Terms()) != fmt.Sprint(sl.Terms()) {
		t.Fatalf("terms %v vs %v", m.Terms(), sl.Terms())
	}
	from := max(m.FirstPosition(), sl.FirstPosition())
	if !bytes.Equal(rawBytes(t, m, from), rawBytes(t, sl, from)) {
		t.Fatalf("raw commit log from %d differs", from)
	}
}

func kvDump(s *Store) []string {
	s.kvMu.RLock()
	defer s.kvMu.RUnlock()
	var out []string
	for ns, m := range s.kv {
		for k, v := range m {
			out = append(out, fmt.Sprintf("%s/%x=%x", ns, k, v))
		}
	}
	sort.Strings(out)
	return out
}

// workload drives a master through everything the dispatcher derives
// state from: creations, plain and idempotent batches with rising leader
// epochs, key/values set and deleted, a topic deleted, DeleteRecords and
// retention.bytes moves of log starts, and terms.
func workload(t *testing.T, m *Store, from, to int) {
	t.Helper()
	seq := map[int64]int32{}
	for _, p := range m.Partitions() {
		p.mu.RLock()
		for id, st := range p.producers {
			seq[id] = st.batches[len(st.batches)-1].lastSeq + 1
		}
		p.mu.RUnlock()
	}
	for b := from; b < to; b++ {
		part := int32(b % 3)
		p, err := m.CreatePartition(tid(9), part)
		if err != nil {
			t.Fatal(err)
		}
		epoch := int32(b / 40)
		var batch []byte
		if b%5 == 0 {
			batch = idemBatch(int64(part)+1, 0, seq[int64(part)+1], 2)
			seq[int64(part)+1] += 2
		} else {
			batch = writerBatch(int(part), b)
		}
		if _, err := p.Append(batch, epoch); err != nil {
			t.Fatal(err)
		}
		switch b % 37 {
		case 3:
			m.PutKV("offsets", KV{Key: fmt.Appendf(nil, "g%d", b%4), Value: fmt.Appendf(nil, "%d", b)})
		case 9:
			m.PutKV("offsets", KV{Key: fmt.Appendf(nil, "g%d", (b+1)%4)})
		case 17:
			x, _ := m.CreatePartition(tid(byte(100+b%7)), 0)
			x.Append(writerBatch(0, b), epoch)
		case 23:
			m.DeleteTopic(tid(byte(100 + (b+3)%7)))
		case 29:
			p.DeleteRecordsBefore(p.HighWatermark() - 1)
		case 31:
			ts := m.Terms()
			next := int32(0)
			if len(ts) > 0 {
				next = ts[len(ts)-1].Epoch + 1
			}
			if _, err := m.BeginTerm(next, int64(b)); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestAppendRawSegmentSizes: master and slave with different SegmentBytes
// (smaller, larger, and a slave whose segments cannot hold the master's
// largest entry) end up with the same positions and byte-identical raw
// entries, the same derived state, and keep it across a slave restart.
func TestAppendRawSegmentSizes(t *testing.T) {
	for _, slaveSeg := range []int64{4096, 5000, 20 << 10} {
		t.Run(fmt.Sprint("slave", slaveSeg), func(t *testing.T) {
			mcfg := testConfig(t, t.TempDir())
			mcfg.SegmentBytes = 8 << 10
			scfg := testConfig(t, t.TempDir())
			scfg.SegmentBytes = slaveSeg
			var applied []string
			scfg.OnApply = func(k EntryKind, ns string) {
				if k != EntryBatch {
					applied = append(applied, fmt.Sprint(k, ns))
				}
			}
			m, sl := mustOpen(t, mcfg), mustOpen(t, scfg)
			defer func() { m.Close(); sl.Close() }()
			workload(t, m, 0, 60)
			// An entry larger than the slave's segments.
			big, _ := m.CreatePartition(tid(7), 0)
			if _, err := big.Append(simpleBatch("big", 280, 1000), 1); err != nil {
				t.Fatal(err)
			}
			replicate(t, m, sl, 700)
			sameState(t, m, sl)
			workload(t, m, 60, 200)
			replicate(t, m, sl, 1<<20)
			sameState(t, m, sl)
			if !containsAll(applied, fmt.Sprint(EntryTerm, TermNamespace), fmt.Sprint(EntryKV, "offsets"),
				fmt.Sprint(EntryDeleteTopic, ""), fmt.Sprint(EntryCreatePartition, ""), fmt.Sprint(EntryLogStart, "")) {
				t.Fatalf("OnApply saw %v", applied)
			}
			sl.Close()
			sl = mustOpen(t, scfg)
			workload(t, m, 200, 260)
			replicate(t, m, sl, 3000)
			sameState(t, m, sl)
		})
	}
}

func containsAll(have []string, want ...string) bool {
	for _, w := range want {
		found := false
		for _, h := range have {
			found = found || h == w
		}
		if !found {
			return false
		}
	}
	return true
}
