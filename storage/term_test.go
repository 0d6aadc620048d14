package storage

import (
	"errors"
	"fmt"
	"testing"
)

// TestTerms: BeginTerm records each term where it starts; epochs only
// increase; the terms replicate with the log and survive retention of the
// segments that held them and restarts, on master and slave.
func TestTerms(t *testing.T) {
	mcfg := testConfig(t, t.TempDir())
	mcfg.SegmentBytes = 8 << 10
	scfg := mcfg
	scfg.Dir = t.TempDir()
	m := mustOpen(t, mcfg)
	sl := mustOpen(t, scfg)
	defer func() { m.Close(); sl.Close() }()
	p, _ := m.CreatePartition(tid(9), 0)
	p.Append(writerBatch(0, 0), 0)
	t1, err := m.BeginTerm(1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if t1.Epoch != 1 || t1.Master != 0 || t1.Start == 0 || t1.Start >= m.EndPosition() {
		t.Fatalf("term %+v, end %d", t1, m.EndPosition())
	}
	for _, e := range []int32{1, 0, -1} {
		if _, err := m.BeginTerm(e, 5); !errors.Is(err, ErrStaleEpoch) {
			t.Fatalf("BeginTerm(%d) after 1: %v", e, err)
		}
	}
	if err := m.PutKV(TermNamespace, KV{Key: []byte("x"), Value: []byte("y")}); err == nil {
		t.Fatal("PutKV in the term namespace accepted")
	}
	p.Append(writerBatch(0, 1), 1)
	t3, err := m.BeginTerm(3, 7)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprint([]Term{t1, t3})
	if got := fmt.Sprint(m.Terms()); got != want {
		t.Fatalf("terms %s want %s", got, want)
	}
	replicate(t, m, sl, 100)
	if got := fmt.Sprint(sl.Terms()); got != want {
		t.Fatalf("slave terms %s want %s", got, want)
	}
	// Retention deletes the segments holding both term entries.
	for b := 2; b < 200; b++ {
		p.Append(writerBatch(0, b), 3)
	}
	replicate(t, m, sl, 1<<20)
	p.SetRetention(RetentionPolicy{Ms: -1, Bytes: 2000})
	if err := m.RunRetention(); err != nil {
		t.Fatal(err)
	}
	if m.FirstPosition() <= t3.Start {
		t.Fatalf("retention kept the term entries: first %d", m.FirstPosition())
	}
	replicate(t, m, sl, 1<<20)
	sl.RunRetention()
	if sl.FirstPosition() <= t3.Start {
		t.Fatalf("slave retention kept the term entries: first %d", sl.FirstPosition())
	}
	m.Close()
	sl.Close()
	m, sl = mustOpen(t, mcfg), mustOpen(t, scfg)
	for _, s := range []*Store{m, sl} {
		if got := fmt.Sprint(s.Terms()); got != want {
			t.Fatalf("after retention and restart: terms %s want %s", got, want)
		}
		if _, err := s.BeginTerm(3, 1); !errors.Is(err, ErrStaleEpoch) {
			t.Fatalf("BeginTerm(3) after restart: %v", err)
		}
	}
}
