package storage

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// compactPolicy cleans at once: any dirty ratio, no lag, tombstones kept
// for tombMs.
func compactPolicy(tombMs int64) CompactionPolicy {
	return CompactionPolicy{Enabled: true, MinCleanableRatio: 0, MaxLagMs: math.MaxInt64,
		DeleteRetentionMs: tombMs, SegmentMs: 0}
}

// keyedWriter appends batches of keyed records whose values name their own
// offset ("<key>@<offset>", or a tombstone), and remembers each key's
// latest value.
type keyedWriter struct {
	t      testing.TB
	p      *Partition
	next   int64
	latest map[string]string // key -> value; "" for a tombstone
	pad    []byte
	ts     int64 // first timestamp of the next batch (+10 each); 0: a minute ago
}

func newKeyedWriter(t testing.TB, p *Partition, valueBytes int) *keyedWriter {
	return &keyedWriter{t: t, p: p, next: p.LogEndOffset(), latest: map[string]string{}, pad: make([]byte, valueBytes)}
}

// write appends one batch with the given keys; a key prefixed "-" is a
// tombstone for it.
func (w *keyedWriter) write(keys ...string) {
	w.t.Helper()
	recs := make([]testRecord, len(keys))
	for i, k := range keys {
		off := w.next + int64(i)
		if strings.HasPrefix(k, "-") {
			recs[i] = testRecord{key: []byte(k[1:]), value: nil, tsDelta: int64(i)}
			w.latest[k[1:]] = ""
			continue
		}
		v := fmt.Sprintf("%s@%d:", k, off)
		recs[i] = testRecord{key: []byte(k), value: append([]byte(v), w.pad...), tsDelta: int64(i)}
		w.latest[k] = v
	}
	ts := time.Now().UnixMilli() - 60000
	if w.ts != 0 {
		ts = w.ts
		w.ts += 10
	}
	b := makeBatch(batchOpts{firstTs: ts, producerID: -1, epoch: -1, seq: -1}, recs...)
	res, err := w.p.Append(tombstoneNil(b, recs), 1)
	if err != nil {
		w.t.Fatal(err)
	}
	if res.BaseOffset != w.next {
		w.t.Fatalf("base offset %d, want %d", res.BaseOffset, w.next)
	}
	w.next += int64(len(keys))
}

// tombstoneNil rebuilds b with null values for the records whose value is
// nil (makeBatch writes an empty value for them).
func tombstoneNil(b []byte, recs []testRecord) []byte {
	has := false
	for _, r := range recs {
		has = has || r.value == nil
	}
	if !has {
		return b
	}
	bi, _ := parseBatch(b)
	var body []byte
	for i, r := range recs {
		var rec []byte
		rec = append(rec, 0)
		rec = binary.AppendVarint(rec, r.tsDelta)
		rec = binary.AppendVarint(rec, int64(i))
		rec = binary.AppendVarint(rec, int64(len(r.key)))
		rec = append(rec, r.key...)
		if r.value == nil {
			rec = binary.AppendVarint(rec, -1)
		} else {
			rec = binary.AppendVarint(rec, int64(len(r.value)))
			rec = append(rec, r.value...)
		}
		rec = binary.AppendVarint(rec, 0)
		body = binary.AppendVarint(body, int64(len(rec)))
		body = append(body, rec...)
	}
	out := append(append([]byte{}, b[:batchHeaderSize]...), body...)
	binary.BigEndian.PutUint32(out[bOffLength:], uint32(len(out)-12))
	binary.BigEndian.PutUint32(out[bOffRecordCount:], uint32(bi.recordCount))
	binary.BigEndian.PutUint32(out[bOffCRC:], crc32.Checksum(out[bOffAttributes:], castagnoli))
	return out
}

// checkCompacted reads p from offset 0 and checks the consistent view:
// offsets only increase and are the ones the records were written at
// (never renumbered), and the last value read for each key is its latest.
// It returns the number of records read.
func checkCompacted(t *testing.T, p *Partition, want map[string]string) int {
	t.Helper()
	recs := readAll(t, p, 0)
	got := map[string]string{}
	last := int64(-1)
	for _, r := range recs {
		if r.offset <= last {
			t.Fatalf("offset %d after %d", r.offset, last)
		}
		last = r.offset
		if r.value == "<nil>" {
			got[r.key] = ""
			continue
		}
		v := r.value[:strings.IndexByte(r.value, ':')+1]
		if v != fmt.Sprintf("%s@%d:", r.key, r.offset) {
			t.Fatalf("record at offset %d holds %q: renumbered", r.offset, v)
		}
		got[r.key] = v
	}
	for k, v := range want {
		g, ok := got[k]
		if v == "" {
			// A tombstone may be read or be gone already.
			if ok && g != "" {
				t.Fatalf("key %s: read %q after its tombstone", k, g)
			}
			continue
		}
		if g != v {
			t.Fatalf("key %s: last read %q, want %q", k, g, v)
		}
	}
	if len(got) > len(want) {
		t.Fatalf("read %d keys, wrote %d", len(got), len(want))
	}
	return len(recs)
}

// TestCompactionKeepsLatest: a round keeps the latest record of each key at
// its offset, drops the rest, and a consumer from offset 0 sees the final
// value of every key; a restart, a replicated slave and a slave
// bootstrapped after the originals' segments were deleted serve the same.
func TestCompactionKeepsLatest(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.SegmentBytes = 64 << 10
	m := mustOpen(t, cfg)
	defer func() { m.Close() }()
	p, _ := m.CreatePartition(tid(1), 0)
	other, _ := m.CreatePartition(tid(2), 0)
	other.SetRetention(RetentionPolicy{Ms: 0, Bytes: -1})
	w := newKeyedWriter(t, p, 200)
	for i := 0; i < 400; i++ {
		w.write(fmt.Sprintf("k%d", i%10), fmt.Sprintf("k%d", (i+3)%10))
		other.Append(simpleBatch("o", 8, time.Now().UnixMilli()-60000), 1)
	}
	w.write("k0") // the last batch stays dirty
	before := checkCompacted(t, p, w.latest)
	p.SetCompaction(compactPolicy(math.MaxInt64 / 2))
	if err := m.RunRetention(); err != nil {
		t.Fatal(err)
	}
	after := checkCompacted(t, p, w.latest)
	if after > 12 || after >= before {
		t.Fatalf("%d records before compaction, %d after (10 keys)", before, after)
	}
	if m.FirstPosition() == 0 {
		t.Fatal("no segment was reclaimed")
	}
	// Another round over the copies and new dirty data.
	for i := 0; i < 50; i++ {
		w.write(fmt.Sprintf("k%d", i%7))
	}
	w.write("k1")
	if err := m.RunRetention(); err != nil {
		t.Fatal(err)
	}
	checkCompacted(t, p, w.latest)
	mv := readAll(t, p, 0)

	// A slave fed the master's log from its first retained segment by a
	// bootstrap, then a restart of both.
	scfg := testConfig(t, t.TempDir())
	scfg.SegmentBytes = 48 << 10
	sl := mustOpen(t, scfg)
	defer func() { sl.Close() }()
	pos, state, err := m.ReadBootstrap()
	if err != nil {
		t.Fatal(err)
	}
	if err := sl.InstallBootstrap(pos, state); err != nil {
		t.Fatal(err)
	}
	replicate(t, m, sl, 1<<20)
	sp := sl.Partition(tid(1), 0)
	if got := readAll(t, sp, 0); fmt.Sprint(got) != fmt.Sprint(mv) {
		t.Fatalf("bootstrapped slave reads\n%v\nmaster\n%v", got, mv)
	}
	// The master compacts again; the slave follows through its log.
	for i := 0; i < 30; i++ {
		w.write(fmt.Sprintf("k%d", i%4))
	}
	w.write("-k5", "k2")
	if err := m.RunRetention(); err != nil {
		t.Fatal(err)
	}
	replicate(t, m, sl, 7000)
	mv = readAll(t, p, 0)
	checkCompacted(t, p, w.latest)
	if got := readAll(t, sp, 0); fmt.Sprint(got) != fmt.Sprint(mv) {
		t.Fatalf("slave reads\n%v\nmaster\n%v", got, mv)
	}
	m.Close()
	sl.Close()
	m = mustOpen(t, cfg)
	sl = mustOpen(t, scfg)
	p = m.Partition(tid(1), 0)
	if got := readAll(t, p, 0); fmt.Sprint(got) != fmt.Sprint(mv) {
		t.Fatalf("after a restart the master reads\n%v\nbefore\n%v", got, mv)
	}
	if got := readAll(t, sl.Partition(tid(1), 0), 0); fmt.Sprint(got) != fmt.Sprint(mv) {
		t.Fatalf("after a restart the slave reads\n%v\nbefore\n%v", got, mv)
	}
}

// TestCompactionTombstones: a tombstone outlives the round while
// delete.retention.ms has not passed since it was appended, and goes at
// the first round after; records older than it for the key go at once.
func TestCompactionTombstones(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	s := mustOpen(t, cfg)
	defer s.Close()
	p, _ := s.CreatePartition(tid(1), 0)
	w := newKeyedWriter(t, p, 10)
	w.write("a", "b", "c")
	w.write("a", "-b")
	w.write("c")
	w.write("z") // the last batch stays dirty
	pol := compactPolicy(math.MaxInt64 / 2)
	p.SetCompaction(pol)
	if err := s.RunCompaction(); err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, r := range readAll(t, p, 0) {
		got[r.key+"="+r.value[:min(len(r.value), 1)]]++
	}
	if got["b=<"] != 1 || len(readAll(t, p, 0)) != 4 {
		t.Fatalf("after the first round: %v (want a, the tombstone of b, c, z)", readAll(t, p, 0))
	}
	checkCompacted(t, p, w.latest)
	pol.DeleteRetentionMs = 0
	p.SetCompaction(pol)
	if err := s.RunCompaction(); err != nil {
		t.Fatal(err)
	}
	for _, r := range readAll(t, p, 0) {
		if r.key == "b" {
			t.Fatalf("tombstone of b still read after delete.retention.ms: %v", readAll(t, p, 0))
		}
	}
	checkCompacted(t, p, w.latest)
}

// TestCompactionLags: min.compaction.lag.ms, the active segment and the
// dirty ratio hold a round back.
func TestCompactionLags(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	s := mustOpen(t, cfg)
	defer s.Close()
	p, _ := s.CreatePartition(tid(1), 0)
	w := newKeyedWriter(t, p, 10)
	for i := 0; i < 20; i++ {
		w.write("a", "b")
	}
	n := len(readAll(t, p, 0))
	for name, pol := range map[string]CompactionPolicy{
		"min.compaction.lag.ms": {Enabled: true, MinLagMs: 3600000, MaxLagMs: math.MaxInt64, SegmentMs: 0},
		"segment.ms":            {Enabled: true, MaxLagMs: math.MaxInt64, SegmentMs: 3600000},
	} {
		p.SetCompaction(pol)
		if err := s.RunCompaction(); err != nil {
			t.Fatal(err)
		}
		if got := len(readAll(t, p, 0)); got != n {
			t.Fatalf("%s: compacted %d records to %d", name, n, got)
		}
	}
	p.SetCompaction(compactPolicy(0))
	if err := s.RunCompaction(); err != nil {
		t.Fatal(err)
	}
	checkCompacted(t, p, w.latest)
	// One new dirty batch over 2 clean records' batches: ratio 1/2.
	w.write("a", "b")
	w.write("b")
	clean := len(readAll(t, p, 0))
	p.SetCompaction(CompactionPolicy{Enabled: true, MinCleanableRatio: 0.9, MaxLagMs: math.MaxInt64})
	if err := s.RunCompaction(); err != nil {
		t.Fatal(err)
	}
	if got := len(readAll(t, p, 0)); got != clean {
		t.Fatalf("min.cleanable.dirty.ratio 0.9: compacted %d records to %d", clean, got)
	}
	p.SetCompaction(CompactionPolicy{Enabled: true, MinCleanableRatio: 0.9, MaxLagMs: 1})
	if err := s.RunCompaction(); err != nil {
		t.Fatal(err)
	}
	if got := len(readAll(t, p, 0)); got >= clean {
		t.Fatalf("max.compaction.lag.ms 1: still %d records", got)
	}
	checkCompacted(t, p, w.latest)
}

// TestCompactionCrash: a round cut short anywhere (copies written, no
// commit) loses nothing: after a power loss the partition reads as before
// the round, and the next round completes.
func TestCompactionCrash(t *testing.T) {
	fs := newMemFS()
	cfg := testConfig(t, "/data")
	cfg.FS = fs
	cfg.SegmentBytes = 16 << 10
	cfg.FlushMode = FlushSync
	s := mustOpen(t, cfg)
	p, _ := s.CreatePartition(tid(1), 0)
	w := newKeyedWriter(t, p, 100)
	for i := 0; i < 100; i++ {
		w.write(fmt.Sprintf("k%d", i%5))
	}
	p.SetCompaction(compactPolicy(math.MaxInt64 / 2))
	if err := s.RunCompaction(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		w.write(fmt.Sprintf("k%d", i%6))
	}
	want := readAll(t, p, 0)
	// Every write of the next round fails in turn: the store breaks there
	// (a failed write breaks it), then power is lost.
	for failAt := 1; ; failAt++ {
		writes := 0
		fs.setFault(func(op, name string) error {
			if op == "write" && strings.HasSuffix(name, ".log") {
				writes++
				if writes == failAt {
					return fmt.Errorf("injected")
				}
			}
			return nil
		})
		err := s.RunCompaction()
		fs.setFault(nil)
		crashed := fs.crash(rand.New(rand.NewSource(int64(failAt))))
		s.Close()
		cfg.FS = crashed
		fs = crashed
		s = mustOpen(t, cfg)
		p = s.Partition(tid(1), 0)
		got := readAll(t, p, 0)
		if writes < failAt {
			// The round completed without reaching the fault.
			checkCompacted(t, p, w.latest)
			if len(got) >= len(want) {
				t.Fatalf("the completed round compacted nothing")
			}
			break
		}
		_ = err
		if fmt.Sprint(got) != fmt.Sprint(want) {
			if len(got) < len(want) {
				checkCompacted(t, p, w.latest) // a committed round is fine too
			} else {
				t.Fatalf("write %d failed: read\n%v\nwant\n%v", failAt, got, want)
			}
		}
		p.SetCompaction(compactPolicy(math.MaxInt64 / 2))
		if failAt > 200 {
			t.Fatal("the round never completed")
		}
	}
	s.Close()
}

// diskUse is the bytes allocated to the files under dir.
func diskUse(t testing.TB, dir string) int64 {
	var total int64
	filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return nil
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			total += st.Blocks * 512
		}
		return nil
	})
	return total
}

// TestCompactionReclaimsDisk overwrites 1,000 keys with GREGOR_COMPACT_BYTES
// of records (default 48 MiB; `make compaction-1g` writes 1 GiB) beside a
// topic with a short retention, running retention (which cleans first)
// every few MiB, and checks that the data directory's allocated disk is
// within 2 x the live data plus one segment at the end. Live data = the
// batch bytes a consumer reads from offset 0.
func TestCompactionReclaimsDisk(t *testing.T) {
	total := int64(48 << 20)
	if v := os.Getenv("GREGOR_COMPACT_BYTES"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		total = n
	}
	cfg := testConfig(t, t.TempDir())
	cfg.SegmentBytes = 1 << 20
	s := mustOpen(t, cfg)
	defer s.Close()
	p, _ := s.CreatePartition(tid(1), 0)
	other, _ := s.CreatePartition(tid(2), 0)
	other.SetRetention(RetentionPolicy{Ms: 0, Bytes: -1})
	pol := compactPolicy(math.MaxInt64 / 2)
	pol.MinCleanableRatio = 0.5
	p.SetCompaction(pol)
	const keys, valueBytes, perBatch = 1000, 8 << 10, 8
	w := newKeyedWriter(t, p, valueBytes)
	filler := simpleBatch(strings.Repeat("o", 4000), 16, time.Now().UnixMilli()-60000)
	var written, peak int64
	k := 0
	start := time.Now()
	for written < total {
		names := make([]string, perBatch)
		for i := range names {
			names[i] = fmt.Sprintf("key-%04d", k%keys)
			k++
		}
		w.write(names...)
		written += perBatch * valueBytes
		if k%(perBatch*4) == 0 {
			if _, err := other.Append(filler, 1); err != nil {
				t.Fatal(err)
			}
		}
		if k%(4<<20/valueBytes) == 0 {
			if err := s.RunRetention(); err != nil {
				t.Fatal(err)
			}
			peak = max(peak, diskUse(t, cfg.Dir))
		}
	}
	for i := 0; i < 2; i++ {
		if err := s.RunRetention(); err != nil {
			t.Fatal(err)
		}
	}
	var live int64
	off := int64(0)
	for {
		res, err := p.Read(off, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Chunks) == 0 {
			res.Release()
			break
		}
		for _, c := range res.Chunks {
			live += int64(c.Len)
			off = c.LastOffset + 1
		}
		res.Release()
	}
	checkCompacted(t, p, w.latest)
	use := diskUse(t, cfg.Dir)
	budget := 2*live + cfg.SegmentBytes
	t.Logf("wrote %d MiB to 1000 keys in %v; live %.1f MiB; disk %.1f MiB at the end (budget %.1f MiB), peak %.1f MiB between rounds",
		written>>20, time.Since(start).Round(time.Millisecond), float64(live)/(1<<20), float64(use)/(1<<20),
		float64(budget)/(1<<20), float64(peak)/(1<<20))
	if use > budget {
		t.Fatalf("disk use %d bytes > 2 x live %d + segment %d", use, live, cfg.SegmentBytes)
	}
}

// TestCompactionOffsetForTime: ListOffsets by time on a compacted
// partition finds the first retained record at or after the time, never a
// cleaned one.
func TestCompactionOffsetForTime(t *testing.T) {
	s := mustOpen(t, testConfig(t, t.TempDir()))
	defer s.Close()
	p, _ := s.CreatePartition(tid(1), 0)
	w := newKeyedWriter(t, p, 10)
	w.ts = 1000
	w.write("a", "b") // 1000: offsets 0, 1 (both overwritten below)
	w.write("a")      // 1010: 2
	w.write("b")      // 1020: 3
	w.write("c")      // 1030: 4
	w.write("z")      // 1040: 5, the last batch stays dirty
	p.SetCompaction(compactPolicy(math.MaxInt64 / 2))
	if err := s.RunCompaction(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ ts, off, at int64 }{{900, 2, 1010}, {1000, 2, 1010}, {1011, 3, 1020}, {1035, 5, 1040}} {
		off, at, ok := p.OffsetForTime(c.ts)
		if !ok || off != c.off || at != c.at {
			t.Errorf("OffsetForTime(%d) = %d at %d (%v), want %d at %d", c.ts, off, at, ok, c.off, c.at)
		}
	}
	if _, _, ok := p.OffsetForTime(2000); ok {
		t.Errorf("OffsetForTime past the last record found one")
	}
}

// TestCompactionStateDroppedWithTopic: a deleted topic's committed
// compaction state leaves the store at the next round.
func TestCompactionStateDroppedWithTopic(t *testing.T) {
	s := mustOpen(t, testConfig(t, t.TempDir()))
	defer s.Close()
	p, _ := s.CreatePartition(tid(1), 0)
	w := newKeyedWriter(t, p, 10)
	w.write("a")
	w.write("a")
	w.write("b")
	p.SetCompaction(compactPolicy(math.MaxInt64 / 2))
	if err := s.RunCompaction(); err != nil {
		t.Fatal(err)
	}
	key := compactKey(pkey{tid(1), 0})
	if _, ok := s.GetKV(CompactNamespace, key); !ok {
		t.Fatal("no committed state after a round")
	}
	if err := s.DeleteTopic(tid(1)); err != nil {
		t.Fatal(err)
	}
	if err := s.RunCompaction(); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.GetKV(CompactNamespace, key); ok {
		t.Fatal("the deleted topic's compaction state stayed")
	}
}

// TestCompactionTransactions: a round cleans only below the last stable
// offset, and the records of an aborted transaction neither survive nor
// count as their key's latest (a committed older value stays).
func TestCompactionTransactions(t *testing.T) {
	s := mustOpen(t, testConfig(t, t.TempDir()))
	defer s.Close()
	p, _ := s.CreatePartition(tid(1), 0)
	w := newKeyedWriter(t, p, 10)
	app := func(b []byte) {
		t.Helper()
		if _, err := p.Append(b, 0); err != nil {
			t.Fatal(err)
		}
		w.next = p.LogEndOffset()
	}
	txn := func(pid int64, key, value string) []byte {
		return makeBatch(batchOpts{firstTs: 1, producerID: pid, epoch: 0, seq: 0, attributes: attrTransactional},
			testRecord{key: []byte(key), value: []byte(value)})
	}
	w.write("a")                         // 0: a@0, committed outside transactions
	app(txn(1, "a", "aborted"))          // 1: producer 1, to be aborted
	app(txn(2, "b", "b@2:"))             // 2: producer 2, left open for now
	app(markerBatch(1, 0, ControlAbort)) // 3
	w.write("c")                         // 4
	w.write("z")                         // 5
	p.SetCompaction(compactPolicy(math.MaxInt64 / 2))
	if err := s.RunCompaction(); err != nil {
		t.Fatal(err)
	}
	if n := len(readAll(t, p, 0)); n != 6 {
		t.Fatalf("%d records after a round below the open transaction at 2, want all 6", n)
	}
	app(markerBatch(2, 0, ControlCommit)) // 6
	w.write("y")                          // 7
	if err := s.RunCompaction(); err != nil {
		t.Fatal(err)
	}
	got := map[int64]string{}
	for _, r := range readAll(t, p, 0) {
		got[r.offset] = r.key + "=" + r.value
	}
	if _, ok := got[1]; ok || !strings.HasPrefix(got[0], "a=a@0:") || got[2] != "b=b@2:" || len(got) != 7 {
		t.Fatalf("after the transactions were decided: %v (want a@0, b@2, both markers, c, z, y; not the aborted a@1)", got)
	}
}
