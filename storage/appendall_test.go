package storage

import (
	"fmt"
	"testing"
)

// TestAppendAll appends the batches of many "requests" for three partitions
// with Store.AppendAll, in one write when it can and one by one when a
// partition repeats or the segment is full, and checks offsets, content
// and order, before and after a restart.
func TestAppendAll(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	cfg.SegmentBytes = 16 << 10 // rolls happen between and inside requests
	s := mustOpen(t, cfg)
	var ps [3]*Partition
	for i := range ps {
		p, err := s.CreatePartition(tid(2), int32(i))
		if err != nil {
			t.Fatal(err)
		}
		ps[i] = p
	}
	var want [3][]string
	for r := 0; r < 200; r++ {
		parts := []int{0, 1, 2}
		if r%7 == 3 {
			parts = []int{2, 0, 2} // the same partition twice: one by one
		}
		var items []Appending
		for k, pi := range parts {
			tag := fmt.Sprintf("r%d.%d", r, k)
			items = append(items, Appending{P: ps[pi], Batch: simpleBatch(tag, 1+(r+k)%4, int64(r)), LeaderEpoch: 5})
		}
		if end := s.AppendAll(items); end < 0 {
			t.Fatalf("request %d: end %d", r, end)
		}
		for k, it := range items {
			pi := parts[k]
			if it.Err != nil || it.Result.BaseOffset != int64(len(want[pi])) {
				t.Fatalf("request %d item %d: %+v, want base %d", r, k, it, len(want[pi]))
			}
			for j := 0; j < 1+(r+k)%4; j++ {
				want[pi] = append(want[pi], fmt.Sprintf("r%d.%d-%d", r, k, j))
			}
		}
	}
	check := func(s *Store) {
		t.Helper()
		for pi := range ps {
			p := s.Partition(tid(2), int32(pi))
			got := readAll(t, p, 0)
			if len(got) != len(want[pi]) || p.HighWatermark() != int64(len(want[pi])) {
				t.Fatalf("partition %d: %d records, hwm %d, want %d", pi, len(got), p.HighWatermark(), len(want[pi]))
			}
			for i, rec := range got {
				if rec.offset != int64(i) || rec.value != want[pi][i] || rec.key != fmt.Sprintf("k%d", i-int(firstOf(want[pi], i))) {
					t.Fatalf("partition %d record %d = %+v, want value %q", pi, i, rec, want[pi][i])
				}
			}
			if e := p.LeaderEpoch(); e != 5 {
				t.Fatalf("partition %d leader epoch %d", pi, e)
			}
		}
	}
	check(s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, cfg)
	defer s.Close()
	check(s)
}

// firstOf is the index of the first record of the batch holding record i
// (values are "<tag>-<j>", j counting from 0 in each batch).
func firstOf(vals []string, i int) int {
	var j int
	fmt.Sscanf(vals[i][len(vals[i])-1:], "%d", &j)
	return i - j
}

// TestAppendAllDuplicate: a retried idempotent batch in a request is
// answered with its first offsets and stored once, the others of the
// request stored.
func TestAppendAllDuplicate(t *testing.T) {
	s := mustOpen(t, testConfig(t, t.TempDir()))
	defer s.Close()
	p, _ := s.CreatePartition(tid(3), 0)
	q, _ := s.CreatePartition(tid(3), 1)
	idem := makeBatch(batchOpts{firstTs: 1, producerID: 7, epoch: 0, seq: 0}, testRecord{value: []byte("once")}, testRecord{value: []byte("twice")})
	first := []Appending{{P: p, Batch: idem}, {P: q, Batch: simpleBatch("a", 2, 1)}}
	if end := s.AppendAll(first); end < 0 || first[0].Err != nil || first[1].Err != nil || first[0].Result.BaseOffset != 0 || first[1].Result.BaseOffset != 0 {
		t.Fatalf("first: end %d %+v", end, first)
	}
	again := []Appending{{P: q, Batch: simpleBatch("b", 1, 2)}, {P: p, Batch: idem}}
	if end := s.AppendAll(again); end < 0 || again[0].Err != nil || again[0].Result.BaseOffset != 2 ||
		again[1].Err != nil || !again[1].Result.Duplicate || again[1].Result.BaseOffset != 0 {
		t.Fatalf("again: end %d %+v", end, again)
	}
	if got := readAll(t, p, 0); len(got) != 2 || got[0].value != "once" || got[1].value != "twice" {
		t.Fatalf("p: %+v", got)
	}
	if got := readAll(t, q, 0); len(got) != 3 || got[0].value != "a-0" || got[1].value != "a-1" || got[2].value != "b-0" || got[2].offset != 2 {
		t.Fatalf("q: %+v", got)
	}
}
