package storage

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// replicate copies the master's commit log to the slave from the slave's
// end, the way replication does.
func replicate(t *testing.T, master, slave *Store, chunk int) {
	t.Helper()
	for {
		pos := slave.EndPosition()
		data, err := master.ReadRaw(pos, chunk)
		if err != nil {
			t.Fatalf("ReadRaw(%d): %v", pos, err)
		}
		if len(data) == 0 {
			return
		}
		if err := slave.AppendRaw(pos, data); err != nil {
			t.Fatalf("AppendRaw(%d): %v", pos, err)
		}
	}
}

// cqFiles reads every consume-queue file of a closed store.
func cqFiles(t *testing.T, dir string) map[string][]byte {
	out := map[string][]byte{}
	filepath.Walk(filepath.Join(dir, "consumequeue"), func(path string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			b, _ := os.ReadFile(path)
			rel, _ := filepath.Rel(dir, path)
			out[rel] = b
		}
		return nil
	})
	return out
}

// TestReplicationByteIdentical: a second store fed the first store's
// commit-log bytes derives byte-identical consume queues, the same offsets,
// key/values and producer state, in both flush modes and across segment
// rolls and chunk sizes.
func TestReplicationByteIdentical(t *testing.T) {
	for _, chunk := range []int{1, 300, 1 << 20} {
		t.Run(fmt.Sprint("chunk", chunk), func(t *testing.T) {
			mcfg := testConfig(t, t.TempDir())
			mcfg.SegmentBytes = 8 << 10
			scfg := mcfg
			scfg.Dir = t.TempDir()
			scfg.FlushMode = FlushSync
			m := mustOpen(t, mcfg)
			sl := mustOpen(t, scfg)
			ps := []*Partition{}
			for i := 0; i < 4; i++ {
				p, _ := m.CreatePartition(tid(9), int32(i))
				ps = append(ps, p)
			}
			gone, _ := m.CreatePartition(tid(8), 0)
			gone.Append(writerBatch(1, 1), 0)
			// 300: each partition fills a consume-queue block, so each
			// has a file to compare (the tail is in the checkpoint).
			for b := 0; b < 300; b++ {
				p := ps[b%4]
				if b%7 == 0 {
					p.Append(idemBatch(int64(b%4), 0, int32(b/4), 2), int32(b/50))
				} else {
					p.Append(writerBatch(b%4, b), int32(b/50))
				}
				if b == 60 {
					replicate(t, m, sl, chunk) // part of the way, then more
					m.PutKV("offsets", KV{Key: []byte("g"), Value: []byte("1")})
					m.DeleteTopic(tid(8))
					ps[1].DeleteRecordsBefore(3)
				}
			}
			replicate(t, m, sl, chunk)
			if m.EndPosition() != sl.EndPosition() {
				t.Fatalf("end %d vs %d", m.EndPosition(), sl.EndPosition())
			}
			for i := int32(0); i < 4; i++ {
				mp, sp := m.Partition(tid(9), i), sl.Partition(tid(9), i)
				if sp == nil {
					t.Fatalf("slave lacks partition %d", i)
				}
				if mp.HighWatermark() != sp.HighWatermark() || mp.LogStartOffset() != sp.LogStartOffset() || mp.Size() != sp.Size() {
					t.Fatalf("p%d: hwm %d/%d start %d/%d", i, mp.HighWatermark(), sp.HighWatermark(), mp.LogStartOffset(), sp.LogStartOffset())
				}
				mr, sr := readAll(t, mp, mp.LogStartOffset()), readAll(t, sp, sp.LogStartOffset())
				if fmt.Sprint(mr) != fmt.Sprint(sr) {
					t.Fatalf("p%d records differ", i)
				}
				me, mo, _ := mp.ProducerState(int64(i))
				se, so, _ := sp.ProducerState(int64(i))
				if me != se || mo != so {
					t.Fatalf("p%d producer state differs", i)
				}
				for e := int32(0); e < 4; e++ {
					a1, b1 := mp.EndOffsetForEpoch(e)
					a2, b2 := sp.EndOffsetForEpoch(e)
					if a1 != a2 || b1 != b2 {
						t.Fatalf("p%d epoch %d: %d,%d vs %d,%d", i, e, a1, b1, a2, b2)
					}
				}
			}
			if sl.Partition(tid(8), 0) != nil {
				t.Fatal("slave kept the deleted topic")
			}
			if v, ok := sl.GetKV("offsets", []byte("g")); !ok || string(v) != "1" {
				t.Fatal("slave lacks the KV")
			}
			m.Close()
			sl.Close()
			mf, sf := cqFiles(t, mcfg.Dir), cqFiles(t, scfg.Dir)
			if len(mf) != 4 || len(mf) != len(sf) {
				t.Fatalf("%d vs %d consume-queue files", len(mf), len(sf))
			}
			for name, b := range mf {
				if !bytes.Equal(b, sf[name]) {
					t.Fatalf("%s differs", name)
				}
			}
			// Commit logs are byte-identical too.
			for _, seg := range []string{segmentName(0), segmentName(8 << 10)} {
				a, _ := os.ReadFile(filepath.Join(mcfg.Dir, "commitlog", seg))
				b, _ := os.ReadFile(filepath.Join(scfg.Dir, "commitlog", seg))
				if !bytes.Equal(a, b) {
					t.Fatalf("segment %s differs", seg)
				}
			}
		})
	}
}

func TestAppendRawRejects(t *testing.T) {
	m := mustOpen(t, testConfig(t, t.TempDir()))
	defer m.Close()
	sl := mustOpen(t, testConfig(t, t.TempDir()))
	defer sl.Close()
	p, _ := m.CreatePartition(tid(9), 0)
	p.Append(writerBatch(0, 0), 0)
	data, _ := m.ReadRaw(0, 1<<20)
	if err := sl.AppendRaw(5, data); !errors.Is(err, ErrPositionMismatch) {
		t.Fatalf("wrong position: %v", err)
	}
	bad := append([]byte(nil), data...)
	bad[len(bad)-1] ^= 1
	if err := sl.AppendRaw(0, bad); err == nil {
		t.Fatal("corrupt raw data accepted")
	}
	// The valid first entry (the partition creation) was applied.
	if sl.Partition(tid(9), 0) == nil || sl.Partition(tid(9), 0).HighWatermark() != 0 {
		t.Fatal("entries before the corrupt one not applied")
	}
	if _, err := m.ReadRaw(m.EndPosition()+1, 10); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read past end: %v", err)
	}
}

// TestSlaveBootstrapAfterRetention: a new slave of a master whose first
// segments are gone installs the master's bootstrap state and follows from
// its first retained segment: same records from the log start, offsets,
// log-end, epochs, producer state and key/values, and it survives a
// restart.
func TestSlaveBootstrapAfterRetention(t *testing.T) {
	mcfg := testConfig(t, t.TempDir())
	mcfg.SegmentBytes = 8 << 10
	scfg := mcfg
	scfg.Dir = t.TempDir()
	m := mustOpen(t, mcfg)
	defer m.Close()
	m.PutKV("offsets", KV{Key: []byte("g"), Value: []byte("7")})
	p, _ := m.CreatePartition(tid(9), 0)
	for b := 0; b < 200; b++ {
		if b%10 == 0 {
			p.Append(idemBatch(4, 1, int32(b/10), 1), 3)
		} else {
			p.Append(writerBatch(0, b), 3)
		}
	}
	p.SetRetention(RetentionPolicy{Ms: -1, Bytes: 3000})
	m.RunRetention()
	if _, err := m.ReadRaw(0, 100); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("master still has position 0: %v", err)
	}
	sl := mustOpen(t, scfg)
	pos, snap, err := m.ReadBootstrap()
	if err != nil {
		t.Fatal(err)
	}
	if err := sl.InstallBootstrap(pos, snap); err != nil {
		t.Fatal(err)
	}
	// More traffic, across segment rolls, then catch up.
	for b := 200; b < 320; b++ {
		p.Append(writerBatch(0, b), 4)
	}
	replicate(t, m, sl, 5000)
	check := func(sl *Store, how string) {
		sp := sl.Partition(tid(9), 0)
		if sp == nil || sp.HighWatermark() != p.HighWatermark() {
			t.Fatalf("%s: slave partition %v", how, sp)
		}
		if v, ok := sl.GetKV("offsets", []byte("g")); !ok || string(v) != "7" {
			t.Fatalf("%s: KV %q", how, v)
		}
		if e, seq, ok := sp.ProducerState(4); !ok || e != 1 || seq != 19 {
			t.Fatalf("%s: producer state %d %d %v", how, e, seq, ok)
		}
		if e, o := sp.EndOffsetForEpoch(3); e != 3 {
			t.Fatalf("%s: epochs %d %d", how, e, o)
		}
		got, want := readAll(t, sp, sp.LogStartOffset()), readAll(t, p, sp.LogStartOffset())
		if len(got) == 0 || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%s: slave records differ (%d vs %d)", how, len(got), len(want))
		}
	}
	check(sl, "live")
	if sl.EndPosition() != m.EndPosition() {
		t.Fatalf("end %d vs %d", sl.EndPosition(), m.EndPosition())
	}
	sl.Close()
	sl = mustOpen(t, scfg)
	check(sl, "reopened")
	p.Append(writerBatch(0, 320), 4)
	replicate(t, m, sl, 1<<20)
	check(sl, "after reopen")
	sl.Close()
}
