package storage

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"sync/atomic"
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
	OffsetForTime       [][3]int64
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
	for _, at := range []int64{0, 2, 1005, 1150, 1175, 1190, 1210, 1225, 5000} {
		off, ts, ok := p.OffsetForTime(at)
		st.OffsetForTime = append(st.OffsetForTime, [3]int64{off, ts, map[bool]int64{true: 1}[ok]})
	}
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

// replicateUntil copies the master's log to the slave in chunks until the
// slave's end reaches at least until (or the master's end).
func replicateUntil(t *testing.T, master, slave *Store, chunk int, until int64) {
	t.Helper()
	for slave.EndPosition() < until {
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

// TestBootstrapFromRetainedSegments: a slave holding unrelated data is
// wiped and bootstrapped from a master whose first segments retention has
// deleted. It streams from the master's first retained segment, restarts
// in the middle of the catch-up, and ends with the master's partitions,
// offsets, log starts, byte-identical batches from each log start,
// producer state, leader epochs, key/values and terms; then it follows
// new traffic, and a second slave can bootstrap from it.
func TestBootstrapFromRetainedSegments(t *testing.T) {
	mcfg := testConfig(t, t.TempDir())
	mcfg.SegmentBytes = 8 << 10
	scfg := testConfig(t, t.TempDir())
	scfg.SegmentBytes = 5000
	m, sl := mustOpen(t, mcfg), mustOpen(t, scfg)
	defer func() { m.Close(); sl.Close() }()
	// The slave's old life.
	old, _ := sl.CreatePartition(tid(50), 0)
	old.Append(writerBatch(0, 1), 0)
	sl.PutKV("offsets", KV{Key: []byte("stale"), Value: []byte("x")})
	sl.BeginTerm(9, 1)

	workload(t, m, 0, 150)
	for _, p := range m.Partitions() {
		if topic, _ := p.Topic(); topic == tid(9) {
			p.SetRetention(RetentionPolicy{Ms: -1, Bytes: 1500})
		} else {
			p.SetRetention(RetentionPolicy{Ms: -1, Bytes: 0})
		}
	}
	// One partition with nothing retained at all.
	empty, _ := m.CreatePartition(tid(60), 0)
	empty.Append(writerBatch(0, 2), 2)
	empty.DeleteRecordsBefore(-1)
	if err := m.RunRetention(); err != nil {
		t.Fatal(err)
	}
	workload(t, m, 150, 170)
	for _, p := range m.Partitions() {
		p.SetRetention(RetentionPolicy{Ms: -1, Bytes: -1})
	}
	if m.FirstPosition() == 0 {
		t.Fatal("retention deleted no segment")
	}
	pos, state, err := m.ReadBootstrap()
	if err != nil {
		t.Fatal(err)
	}
	if pos != m.FirstPosition() {
		t.Fatalf("bootstrap position %d, first segment %d", pos, m.FirstPosition())
	}
	end := m.EndPosition()
	if err := sl.InstallBootstrap(pos, state); err != nil {
		t.Fatal(err)
	}
	if sl.Partition(tid(50), 0) != nil || old.HighWatermark() != 1+1%4 && !old.isDeleted() {
		t.Fatal("the slave kept a partition of its old life")
	}
	// Part of the catch-up, then a restart in the middle of it.
	replicateUntil(t, m, sl, 2000, pos+(end-pos)/2)
	if sl.EndPosition() >= end {
		t.Fatalf("caught up in one go (%d of %d)", sl.EndPosition(), end)
	}
	if _, _, err := sl.ReadBootstrap(); err == nil {
		t.Fatal("a slave in the middle of its catch-up served a bootstrap")
	}
	sl.Close()
	sl = mustOpen(t, scfg)
	// And again with the checkpoint lost: the bootstrap state is the base.
	replicateUntil(t, m, sl, 2000, pos+3*(end-pos)/4)
	if sl.EndPosition() >= end {
		t.Fatalf("caught up too early (%d of %d)", sl.EndPosition(), end)
	}
	sl.Close()
	if err := os.Remove(filepath.Join(scfg.Dir, checkpointName)); err != nil {
		t.Fatal(err)
	}
	sl = mustOpen(t, scfg)
	workload(t, m, 170, 200)
	replicate(t, m, sl, 3000)
	sameState(t, m, sl)
	sl.Close()
	sl = mustOpen(t, scfg)
	sameState(t, m, sl)
	workload(t, m, 200, 230)
	replicate(t, m, sl, 1<<20)
	sameState(t, m, sl)

	// A second slave bootstraps from the first.
	s2cfg := testConfig(t, t.TempDir())
	s2 := mustOpen(t, s2cfg)
	defer s2.Close()
	pos2, state2, err := sl.ReadBootstrap()
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.InstallBootstrap(pos2, state2); err != nil {
		t.Fatal(err)
	}
	replicate(t, sl, s2, 4000)
	sameState(t, m, s2)
}

// TestTruncateDivergedSlave: the master of term 1 writes entries its slave
// never gets (batches, idempotent batches, key/values, a topic created and
// one deleted, a log-start move); the slave is promoted (term 2) and takes
// traffic; the old master truncates to where term 2 starts, follows the new
// master, and ends with its state — also after a restart.
func TestTruncateDivergedSlave(t *testing.T) {
	acfg := testConfig(t, t.TempDir())
	acfg.SegmentBytes = 8 << 10
	bcfg := testConfig(t, t.TempDir())
	bcfg.SegmentBytes = 6000
	a, b := mustOpen(t, acfg), mustOpen(t, bcfg)
	defer func() { a.Close(); b.Close() }()
	if _, err := a.BeginTerm(1, 0); err != nil {
		t.Fatal(err)
	}
	x, _ := a.CreatePartition(tid(70), 0) // dropped by a's divergent tail
	x.Append(writerBatch(0, 5), 1)
	workload(t, a, 0, 100)
	x.Append(writerBatch(0, 7), 1)
	replicate(t, a, b, 1500)
	sameState(t, a, b)
	common := a.EndPosition()

	// a's divergent tail (with terms of its own, from the workload).
	workload(t, a, 100, 180)
	a.DeleteTopic(tid(70))
	y, _ := a.CreatePartition(tid(71), 0)
	y.Append(writerBatch(0, 6), 1)
	a.PutKV("offsets", KV{Key: []byte("g0"), Value: []byte("divergent")})
	a.Partition(tid(9), 1).DeleteRecordsBefore(a.Partition(tid(9), 1).HighWatermark())
	a.checkpoint()

	// b is promoted and takes traffic.
	t2, err := b.BeginTerm(b.Terms()[len(b.Terms())-1].Epoch+1, 1)
	if err != nil {
		t.Fatal(err)
	}
	if t2.Start != common {
		t.Fatalf("term 2 starts at %d, not at the common end %d", t2.Start, common)
	}
	workload(t, b, 100, 150)

	if err := a.Truncate(common + 1); err == nil {
		t.Fatal("truncated inside an entry")
	}
	if err := a.Truncate(t2.Start); err != nil {
		t.Fatal(err)
	}
	if a.EndPosition() != t2.Start {
		t.Fatalf("end %d after truncating to %d", a.EndPosition(), t2.Start)
	}
	replicate(t, b, a, 2000)
	sameState(t, b, a)
	a.Close()
	a = mustOpen(t, acfg)
	sameState(t, b, a)
	workload(t, b, 150, 170)
	replicate(t, b, a, 1<<20)
	sameState(t, b, a)
	if _, err := a.ReadRaw(a.FirstPosition(), 10); err != nil {
		t.Fatal(err)
	}
}

// TestTruncateNeedsBootstrap: below the first segment, or with no
// checkpoint at or below the position, Truncate says ErrNeedBootstrap and
// changes nothing.
func TestTruncateNeedsBootstrap(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.SegmentBytes = 8 << 10
	s := mustOpen(t, cfg)
	defer s.Close()
	workload(t, s, 0, 30)
	mid := s.EndPosition()
	workload(t, s, 30, 150)
	s.checkpoint()
	end := s.EndPosition()
	if err := s.Truncate(mid); !errors.Is(err, ErrNeedBootstrap) {
		t.Fatalf("no checkpoint below: %v", err)
	}
	if s.EndPosition() != end {
		t.Fatal("a refused truncation changed the log")
	}
	for _, p := range s.Partitions() {
		p.SetRetention(RetentionPolicy{Ms: -1, Bytes: 0})
	}
	s.RunRetention()
	if s.FirstPosition() == 0 {
		t.Fatal("retention deleted no segment")
	}
	if err := s.Truncate(s.FirstPosition() - 1); !errors.Is(err, ErrNeedBootstrap) {
		t.Fatalf("below the first segment: %v", err)
	}
}

// TestFollowerRetentionWritesNothing: retention policies and the disk cap
// on a slave write no log-start moves of its own (its log would stop being
// the master's); it follows the master's moves and deletes the segments
// they free.
func TestFollowerRetentionWritesNothing(t *testing.T) {
	mcfg := testConfig(t, t.TempDir())
	mcfg.SegmentBytes = 8 << 10
	scfg := testConfig(t, t.TempDir())
	scfg.SegmentBytes = 8 << 10
	scfg.MaxDiskBytes = 3 * scfg.SegmentBytes
	m := mustOpen(t, mcfg)
	defer m.Close()
	sl := mustOpen(t, scfg)
	defer sl.Close()
	sl.SetFollower(true)
	workload(t, m, 0, 120)
	replicate(t, m, sl, 4000)
	for _, p := range sl.Partitions() {
		p.SetRetention(RetentionPolicy{Ms: 0, Bytes: 0})
	}
	end := sl.EndPosition()
	if err := sl.RunRetention(); err != nil {
		t.Fatal(err)
	}
	if sl.EndPosition() != end || sl.FirstPosition() != 0 {
		t.Fatalf("slave retention wrote or deleted: end %d->%d, first %d", end, sl.EndPosition(), sl.FirstPosition())
	}
	workload(t, m, 120, 150)
	replicate(t, m, sl, 4000)
	for _, p := range m.Partitions() {
		p.SetRetention(RetentionPolicy{Ms: -1, Bytes: 0})
	}
	m.RunRetention()
	replicate(t, m, sl, 4000)
	sl.RunRetention()
	if sl.FirstPosition() == 0 {
		t.Fatal("the slave kept segments its master's log starts freed")
	}
	sameState(t, m, sl)
}

// TestTruncateCrash: a power loss at any point of a truncation leaves a
// store that opens, and that, truncated again (what the replication
// client does after reconnecting) and fed the new master's log, holds the
// new master's state.
func TestTruncateCrash(t *testing.T) {
	fs := newMemFS()
	acfg := testConfig(t, "/a")
	acfg.FS = fs
	acfg.SegmentBytes = 4096
	bcfg := testConfig(t, t.TempDir())
	bcfg.SegmentBytes = 6000
	a, b := mustOpen(t, acfg), mustOpen(t, bcfg)
	defer b.Close()
	if _, err := a.BeginTerm(1, 0); err != nil {
		t.Fatal(err)
	}
	// Early segments deleted, so a lost checkpoint cannot be made up for
	// by re-reading the whole log.
	workload(t, a, 0, 30)
	replicate(t, a, b, 1500)
	for _, p := range a.Partitions() {
		p.SetRetention(RetentionPolicy{Ms: -1, Bytes: 0})
	}
	a.RunRetention()
	for _, p := range a.Partitions() {
		p.SetRetention(RetentionPolicy{Ms: -1, Bytes: -1})
	}
	if a.FirstPosition() == 0 {
		t.Fatal("retention deleted no segment")
	}
	workload(t, a, 30, 60)
	replicate(t, a, b, 1500)
	workload(t, a, 60, 100) // a's divergent tail
	a.checkpoint()
	tb, err := b.BeginTerm(b.Terms()[len(b.Terms())-1].Epoch+1, 1)
	if err != nil {
		t.Fatal(err)
	}
	workload(t, b, 60, 80)

	a.Close()
	base := fs.crash(nil) // a closed store: everything is durable

	// Count the mutating operations of the truncation, then, for each k,
	// fail the k-th (nothing after it reaches the disk: the store breaks)
	// and lose power.
	count := func(k int) (n int, after *memFS) {
		fsk := base.crash(nil)
		cfg := acfg
		cfg.FS = fsk
		x := mustOpen(t, cfg)
		var ops atomic.Int32
		fsk.setFault(func(op, name string) error {
			if op == "read" {
				return nil
			}
			if int(ops.Add(1)) == k {
				return errors.New("injected")
			}
			return nil
		})
		err := x.Truncate(tb.Start)
		if k == 0 && err != nil {
			t.Fatal(err)
		}
		after = fsk.crash(nil)
		fsk.setFault(nil)
		x.Close()
		return int(ops.Load()), after
	}
	n, _ := count(0)
	t.Logf("%d operations in a truncation", n)
	if n < 5 {
		t.Fatalf("only %d operations in a truncation", n)
	}
	for k := 1; k <= n; k++ {
		_, snap := count(k)
		cfg := acfg
		cfg.FS = snap
		x, err := Open(cfg)
		if err != nil {
			t.Fatalf("crash at operation %d of %d: open: %v", k, n, err)
		}
		if err := x.Truncate(tb.Start); err != nil {
			t.Fatalf("crash at operation %d of %d: truncate again: %v", k, n, err)
		}
		replicate(t, b, x, 3000)
		sameState(t, b, x)
		x.Close()
	}
}

// TestInstallBootstrapCrash: a power loss at any point of an
// InstallBootstrap leaves a store that opens; one that looks bootstrapped
// (its log starts at the bootstrap position) follows the master to its
// state without installing again, any other installs again and does.
func TestInstallBootstrapCrash(t *testing.T) {
	mcfg := testConfig(t, t.TempDir())
	mcfg.SegmentBytes = 4096
	m := mustOpen(t, mcfg)
	defer m.Close()
	workload(t, m, 0, 80)
	for _, p := range m.Partitions() {
		if topic, _ := p.Topic(); topic == tid(9) {
			p.SetRetention(RetentionPolicy{Ms: -1, Bytes: 600})
		} else {
			p.SetRetention(RetentionPolicy{Ms: -1, Bytes: 0})
		}
	}
	m.RunRetention()
	for _, p := range m.Partitions() {
		p.SetRetention(RetentionPolicy{Ms: -1, Bytes: -1})
	}
	workload(t, m, 80, 100)
	pos, state, err := m.ReadBootstrap()
	if err != nil {
		t.Fatal(err)
	}
	if pos == 0 {
		t.Fatal("retention deleted no segment")
	}

	fs := newMemFS()
	scfg := testConfig(t, "/s")
	scfg.FS = fs
	scfg.SegmentBytes = 5000
	sl := mustOpen(t, scfg)
	workload(t, sl, 0, 40) // its old life
	sl.Close()
	base := fs.crash(nil)

	install := func(k int) (n int, after *memFS) {
		fsk := base.crash(nil)
		cfg := scfg
		cfg.FS = fsk
		x := mustOpen(t, cfg)
		var ops atomic.Int32
		fsk.setFault(func(op, name string) error {
			if op != "read" && int(ops.Add(1)) == k {
				return errors.New("injected")
			}
			return nil
		})
		err := x.InstallBootstrap(pos, state)
		if k == 0 && err != nil {
			t.Fatal(err)
		}
		after = fsk.crash(nil)
		fsk.setFault(nil)
		x.Close()
		return int(ops.Load()), after
	}
	n, _ := install(0)
	t.Logf("%d operations in an install", n)
	for k := 1; k <= n; k++ {
		_, snap := install(k)
		cfg := scfg
		cfg.FS = snap
		x, err := Open(cfg)
		if err != nil {
			t.Fatalf("crash at operation %d of %d: open: %v", k, n, err)
		}
		if x.FirstPosition() != pos {
			if err := x.InstallBootstrap(pos, state); err != nil {
				t.Fatalf("crash at operation %d of %d: install again: %v", k, n, err)
			}
		}
		replicate(t, m, x, 3000)
		sameState(t, m, x)
		x.Close()
	}
}
