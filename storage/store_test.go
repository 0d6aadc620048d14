package storage

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

func TestAppendReadRestart(t *testing.T) {
	for _, mode := range []FlushMode{FlushAsync, FlushSync} {
		t.Run(fmt.Sprint("mode", mode), func(t *testing.T) {
			dir := t.TempDir()
			cfg := testConfig(t, dir)
			cfg.FlushMode = mode
			cfg.SegmentBytes = 64 << 10 // several segments
			s := mustOpen(t, cfg)
			p, err := s.CreatePartition(tid(1), 0)
			if err != nil {
				t.Fatal(err)
			}
			q, _ := s.CreatePartition(tid(1), 1)
			var want, wantQ []string
			for i := 0; i < 300; i++ {
				n := 1 + i%5
				r, err := p.Append(simpleBatch(fmt.Sprint("p", i), n, int64(1000+i)), 3)
				if err != nil {
					t.Fatal(err)
				}
				if r.BaseOffset != int64(len(want)) {
					t.Fatalf("batch %d base %d want %d", i, r.BaseOffset, len(want))
				}
				for j := 0; j < n; j++ {
					want = append(want, fmt.Sprintf("p%d-%d", i, j))
				}
				if i%3 == 0 {
					if _, err := q.Append(simpleBatch(fmt.Sprint("q", i), 2, 5), 0); err != nil {
						t.Fatal(err)
					}
					wantQ = append(wantQ, fmt.Sprintf("q%d-0", i), fmt.Sprintf("q%d-1", i))
				}
			}
			check := func(s *Store) {
				p := s.Partition(tid(1), 0)
				q := s.Partition(tid(1), 1)
				if p == nil || q == nil {
					t.Fatal("partition missing")
				}
				if p.HighWatermark() != int64(len(want)) {
					t.Fatalf("hwm %d want %d", p.HighWatermark(), len(want))
				}
				got := readAll(t, p, 0)
				if len(got) != len(want) {
					t.Fatalf("read %d records want %d", len(got), len(want))
				}
				for i, r := range got {
					if r.offset != int64(i) || r.value != want[i] {
						t.Fatalf("record %d: offset %d value %q want %q", i, r.offset, r.value, want[i])
					}
				}
				gq := readAll(t, q, 0)
				if len(gq) != len(wantQ) {
					t.Fatalf("q: %d records want %d", len(gq), len(wantQ))
				}
				for i, r := range gq {
					if r.value != wantQ[i] || r.key != fmt.Sprintf("k%d", i%2) {
						t.Fatalf("q record %d = %+v", i, r)
					}
				}
				// Mid-batch read returns the whole batch holding the offset.
				res, err := p.Read(7, 1)
				if err != nil || len(res.Chunks) != 1 || res.Chunks[0].BaseOffset > 7 || res.Chunks[0].LastOffset < 7 {
					t.Fatalf("mid-batch read: %v %+v", err, res)
				}
				res.Release()
				if _, err := p.Read(int64(len(want))+1, 100); !errors.Is(err, ErrOffsetOutOfRange) {
					t.Fatalf("read past end: %v", err)
				}
				if e := p.LeaderEpoch(); e != 3 {
					t.Fatalf("epoch %d", e)
				}
			}
			check(s)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = mustOpen(t, cfg)
			check(s)
			s.Close()
		})
	}
}

func TestConcurrentAppendRead(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.FlushMode = FlushSync
	s := mustOpen(t, cfg)
	defer s.Close()
	const writers, per = 4, 50
	ps := make([]*Partition, writers)
	for i := range ps {
		ps[i], _ = s.CreatePartition(tid(2), int32(i))
	}
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(2)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < per; i++ {
				if _, err := ps[w].Append(simpleBatch(fmt.Sprintf("w%d.%d", w, i), 3, 1), 0); err != nil {
					t.Error(err)
					return
				}
			}
		}(w)
		go func(w int) {
			defer wg.Done()
			ch := make(chan struct{}, 1)
			cancel := ps[w].Watch(func() {
				select {
				case ch <- struct{}{}:
				default:
				}
			})
			defer cancel()
			off := int64(0)
			for off < per*3 {
				res, err := ps[w].Read(off, 1000)
				if err != nil {
					t.Error(err)
					return
				}
				if len(res.Chunks) == 0 {
					<-ch
				}
				for _, c := range res.Chunks {
					if c.BaseOffset != off {
						t.Errorf("gap: chunk at %d want %d", c.BaseOffset, off)
					}
					off = c.LastOffset + 1
				}
				res.Release()
			}
		}(w)
	}
	wg.Wait()
	for w, p := range ps {
		got := readAll(t, p, 0)
		if len(got) != per*3 {
			t.Fatalf("w%d: %d records", w, len(got))
		}
		for i, r := range got {
			if want := fmt.Sprintf("w%d.%d-%d", w, i/3, i%3); r.value != want || r.offset != int64(i) {
				t.Fatalf("w%d record %d = %+v want %s", w, i, r, want)
			}
		}
	}
}

func TestKVAndDelete(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	s := mustOpen(t, cfg)
	if err := s.PutKV("offsets", KV{Key: []byte("g1"), Value: []byte("v1")}, KV{Key: []byte("g2"), Value: []byte("v2")}); err != nil {
		t.Fatal(err)
	}
	s.PutKV("offsets", KV{Key: []byte("g1")})
	s.PutKV("meta", KV{Key: []byte("t"), Value: []byte("x")})
	p, _ := s.CreatePartition(tid(3), 0)
	p.Append(simpleBatch("a", 2, 1), 0)
	s.CreatePartition(tid(4), 0)
	if err := s.DeleteTopic(tid(3)); err != nil {
		t.Fatal(err)
	}
	if s.Partition(tid(3), 0) != nil {
		t.Fatal("deleted partition still there")
	}
	if _, err := p.Append(simpleBatch("a", 1, 1), 0); !errors.Is(err, ErrUnknownPartition) {
		t.Fatalf("append to deleted: %v", err)
	}
	check := func(s *Store) {
		if _, ok := s.GetKV("offsets", []byte("g1")); ok {
			t.Fatal("g1 not deleted")
		}
		if v, ok := s.GetKV("offsets", []byte("g2")); !ok || string(v) != "v2" {
			t.Fatalf("g2 = %q %v", v, ok)
		}
		var keys []string
		s.RangeKV("meta", func(k, v []byte) bool { keys = append(keys, string(k)+"="+string(v)); return true })
		if fmt.Sprint(keys) != "[t=x]" {
			t.Fatalf("meta = %v", keys)
		}
		if s.Partition(tid(3), 0) != nil || s.Partition(tid(4), 0) == nil {
			t.Fatal("partitions wrong after restart")
		}
	}
	check(s)
	s.Close()
	s = mustOpen(t, cfg)
	check(s)
	s.Close()
}

// TestDirectoryLock: a second Open of a directory in use fails plainly;
// after Close it opens.
func TestDirectoryLock(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	s := mustOpen(t, cfg)
	if _, err := Open(cfg); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second open: %v", err)
	}
	s.Close()
	s = mustOpen(t, cfg)
	s.Close()
}
