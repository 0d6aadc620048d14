package storage

import (
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"testing"
	"time"
)

// TestAppendBatchesMatchesOneByOne appends the same batches to two stores,
// one request's worth at a time with AppendBatches and one batch at a
// time with Append, across segment rolls (4 KiB segments), with a
// partition twice in one call, a producer's retried duplicate and an
// out-of-order batch in the middle of a call: every batch must get the
// same offsets, the same duplicate flag or error, and land at the same
// commit-log position; the records read back (before and after a
// restart) must be the same.
func TestAppendBatchesMatchesOneByOne(t *testing.T) {
	open := func(dir string) *Store {
		cfg := testConfig(t, dir)
		cfg.SegmentBytes = 4096
		return mustOpen(t, cfg)
	}
	dirA, dirB := t.TempDir(), t.TempDir()
	a, b := open(dirA), open(dirB)
	const parts = 5
	for i := int32(0); i < parts; i++ {
		for _, s := range []*Store{a, b} {
			if _, err := s.CreatePartition(tid(1), i); err != nil {
				t.Fatal(err)
			}
		}
	}
	idem := func(seq int32, n int) []byte {
		recs := make([]testRecord, n)
		for i := range recs {
			recs[i] = testRecord{key: []byte("k"), value: fmt.Appendf(nil, "idem-%d", int(seq)+i)}
		}
		return makeBatch(batchOpts{firstTs: 1000, producerID: 7, epoch: 0, seq: seq}, recs...)
	}
	type item struct {
		part  int32
		batch []byte
	}
	var calls [][]item
	seq := int32(0)
	for c := 0; c < 40; c++ {
		var call []item
		for i := 0; i < 6; i++ {
			part := int32((c + i) % parts)
			if i == 3 {
				part = int32(c % parts) // the first item's partition again
			}
			call = append(call, item{part, simpleBatch(fmt.Sprintf("c%d-i%d", c, i), 1+(c*7+i)%9, int64(1000+c))})
		}
		// An idempotent producer on partition 0: a new batch, its retry,
		// and every fifth call a batch that skips a sequence.
		call = append(call, item{0, idem(seq, 2)}, item{1, simpleBatch("mid", 3, 5)}, item{0, idem(seq, 2)})
		seq += 2
		if c%5 == 4 {
			call = append(call, item{0, idem(seq+1, 1)})
		}
		call = append(call, item{2, simpleBatch("after", 2, 5)})
		calls = append(calls, call)
	}

	type outcome struct {
		res AppendResult
		err string
		pos int64
	}
	for ci, call := range calls {
		items := make([]BatchAppend, len(call))
		for i, it := range call {
			items[i] = BatchAppend{P: a.Partition(tid(1), it.part), Batch: append([]byte(nil), it.batch...)}
		}
		a.AppendBatches(items, 3)
		for i, it := range call {
			res, err := b.Partition(tid(1), it.part).Append(append([]byte(nil), it.batch...), 3)
			want := outcome{res: res}
			if err != nil {
				want = outcome{err: err.Error()}
			} else if !res.Duplicate {
				want.pos = entryPosOf(t, b, it.part, res.BaseOffset)
			}
			got := outcome{res: items[i].Result}
			if items[i].Err != nil {
				got = outcome{err: items[i].Err.Error()}
			} else if !got.res.Duplicate {
				got.pos = entryPosOf(t, a, it.part, got.res.BaseOffset)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("call %d item %d (partition %d): AppendBatches %+v, one by one %+v", ci, i, it.part, got, want)
			}
		}
	}
	if a.EndPosition() != b.EndPosition() {
		t.Fatalf("commit-log end: %d with AppendBatches, %d one by one", a.EndPosition(), b.EndPosition())
	}
	if segs := len(a.segs); segs < 10 {
		t.Fatalf("only %d segments: the test should cross many rolls", segs)
	}
	check := func(when string) {
		for i := int32(0); i < parts; i++ {
			ra, rb := readAll(t, a.Partition(tid(1), i), 0), readAll(t, b.Partition(tid(1), i), 0)
			if !reflect.DeepEqual(ra, rb) {
				t.Fatalf("%s: partition %d reads %d records with AppendBatches, %d one by one", when, i, len(ra), len(rb))
			}
		}
	}
	check("live")
	a.Close()
	a = open(dirA)
	defer a.Close()
	defer b.Close()
	check("after a restart")
}

// entryPosOf is the commit-log position of the entry holding the batch
// with base offset base.
func entryPosOf(t *testing.T, s *Store, part int32, base int64) int64 {
	t.Helper()
	p := s.Partition(tid(1), part)
	p.mu.RLock()
	v := p.viewLocked()
	p.mu.RUnlock()
	idx, err := v.find(base)
	if err != nil {
		t.Fatal(err)
	}
	e, err := v.entry(idx)
	if err != nil || e.baseOffset != base {
		t.Fatalf("no entry at offset %d: %v", base, err)
	}
	return e.pos
}

// TestAppendBatchesRefusals: a batch too large for a segment, an unparsable
// batch and a deleted partition are refused one by one while the others of
// the call are appended.
func TestAppendBatchesRefusals(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.SegmentBytes = 4096
	s := mustOpen(t, cfg)
	defer s.Close()
	p0, _ := s.CreatePartition(tid(1), 0)
	p1, _ := s.CreatePartition(tid(2), 0)
	if err := s.DeleteTopic(tid(2)); err != nil {
		t.Fatal(err)
	}
	big := makeBatch(batchOpts{firstTs: 1, producerID: -1, epoch: -1, seq: -1}, testRecord{value: make([]byte, 5000)})
	items := []BatchAppend{
		{P: p0, Batch: simpleBatch("a", 2, 1)},
		{P: p0, Batch: big},
		{P: p0, Batch: []byte("short")},
		{P: p1, Batch: simpleBatch("b", 1, 1)},
		{P: nil, Batch: simpleBatch("c", 1, 1)},
		{P: p0, Batch: simpleBatch("d", 3, 1)},
	}
	s.AppendBatches(items, 0)
	wantErr := []error{nil, ErrBatchTooLarge, ErrCorruptBatch, ErrUnknownPartition, ErrUnknownPartition, nil}
	for i, it := range items {
		if !errors.Is(it.Err, wantErr[i]) || it.Err == nil && wantErr[i] != nil {
			t.Errorf("item %d: error %v, want %v", i, it.Err, wantErr[i])
		}
	}
	if items[0].Result.BaseOffset != 0 || items[5].Result.BaseOffset != 2 {
		t.Fatalf("base offsets %d and %d, want 0 and 2", items[0].Result.BaseOffset, items[5].Result.BaseOffset)
	}
	if got := readAll(t, p0, 0); len(got) != 5 {
		t.Fatalf("read %d records, want 5", len(got))
	}
}

// An entry buffer given back survives garbage collections (entryReserve):
// with a sync.Pool alone it was gone after two, and the next request's
// buffer was fresh memory for the kernel to fault in and zero.
func TestEntryBufReserveSurvivesGC(t *testing.T) {
	bp := getEntryBuf(200 << 10)
	putEntryBuf(bp)
	runtime.GC()
	runtime.GC()
	again := getEntryBuf(150 << 10)
	defer putEntryBuf(again)
	if again != bp || len(*again) != 150<<10 {
		t.Fatal("the buffer given back before two collections was not reused")
	}
}

// BatchAppend.MaxTimestampDelta stands in for the records walk that finds
// the consume queue's max-timestamp offset: given (the broker's validation
// found it), it is what the consume queue records; absent, the walk
// finds the same offset; and it is ignored where no walk would run (all
// records share the max timestamp).
func TestAppendBatchesMaxTimestampDelta(t *testing.T) {
	s, err := Open(testConfig(t, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ts := time.Now().UnixMilli()
	recs := func(deltas ...int64) []testRecord {
		r := make([]testRecord, len(deltas))
		for i, d := range deltas {
			r[i] = testRecord{value: []byte("v"), tsDelta: d}
		}
		return r
	}
	for i, c := range []struct {
		deltas   []int64
		hint     int32
		has      bool
		wantOff  int64
		scenario string
	}{
		{[]int64{0, 5, 3}, 0, false, 1, "no hint: the walk"},
		{[]int64{0, 5, 3}, 1, true, 1, "the hint the walk agrees with"},
		{[]int64{0, 5, 3}, 2, true, 2, "a hint is taken as given (the caller's walk found it)"},
		{[]int64{0, 0}, 1, true, 0, "every record holds the max: the first, hint or not"},
	} {
		p, err := s.CreatePartition(tid(9), int32(i))
		if err != nil {
			t.Fatal(err)
		}
		b := makeBatch(batchOpts{firstTs: ts, producerID: -1, epoch: -1, seq: -1}, recs(c.deltas...)...)
		items := []BatchAppend{{P: p, Batch: b, MaxTimestampDelta: c.hint, HasMaxTimestampDelta: c.has}}
		s.AppendBatches(items, 0)
		if items[0].Err != nil {
			t.Fatal(items[0].Err)
		}
		if _, off := p.MaxTimestamp(); off != c.wantOff {
			t.Fatalf("%s: max-timestamp offset %d, want %d", c.scenario, off, c.wantOff)
		}
	}
}
