package storage

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOffsetForTimeAndMaxTimestamp: ListOffsets by time finds the first
// record with timestamp >= ts using record timestamps (never store time),
// including inside a batch and across many consume-queue blocks.
func TestOffsetForTimeAndMaxTimestamp(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	s := mustOpen(t, cfg)
	p, _ := s.CreatePartition(tid(1), 0)
	if ts, off := p.MaxTimestamp(); ts != -1 || off != -1 {
		t.Fatalf("empty: %d %d", ts, off)
	}
	if _, _, ok := p.OffsetForTime(0); ok {
		t.Fatal("empty partition found an offset")
	}
	// Batch i (3 records) has timestamps 1000+10i, +1, +2 except batch 5
	// whose middle record is the partition's max (out of order).
	for i := 0; i < 200; i++ {
		recs := []testRecord{{value: []byte("a"), tsDelta: 0}, {value: []byte("b"), tsDelta: 1}, {value: []byte("c"), tsDelta: 2}}
		if i == 5 {
			recs[1].tsDelta = 100000
		}
		if _, err := p.Append(makeBatch(batchOpts{firstTs: int64(1000 + 10*i), producerID: -1, epoch: -1, seq: -1}, recs...), 0); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		ts       int64
		off, got int64
		ok       bool
	}{
		{ts: 0, off: 0, got: 1000, ok: true},
		{ts: 1000, off: 0, got: 1000, ok: true},
		{ts: 1001, off: 1, got: 1001, ok: true},
		{ts: 1003, off: 3, got: 1010, ok: true},
		{ts: 1012, off: 5, got: 1012, ok: true},
		{ts: 1051, off: 16, got: 101050, ok: true}, // the out-of-order max in batch 5
		{ts: 101050, off: 16, got: 101050, ok: true},
		{ts: 101051, ok: false},
	}
	check := func(s *Store) {
		p := s.Partition(tid(1), 0)
		for _, c := range cases {
			off, got, ok := p.OffsetForTime(c.ts)
			if ok != c.ok || (ok && (off != c.off || got != c.got)) {
				t.Fatalf("OffsetForTime(%d) = %d %d %v, want %d %d %v", c.ts, off, got, ok, c.off, c.got, c.ok)
			}
		}
		if ts, off := p.MaxTimestamp(); ts != 101050 || off != 16 {
			t.Fatalf("MaxTimestamp = %d %d", ts, off)
		}
	}
	check(s)
	s.Close()
	s = mustOpen(t, cfg)
	check(s)
	s.Close()
}

// TestReadLimits: maxBytes gives whole batches, always at least one; reads
// at and beyond the end; an unknown or deleted partition.
func TestReadLimits(t *testing.T) {
	s := mustOpen(t, testConfig(t, t.TempDir()))
	defer s.Close()
	p, _ := s.CreatePartition(tid(1), 0)
	sizes := []int32{}
	for i := 0; i < 10; i++ {
		b := simpleBatch(fmt.Sprint(i), 2, 1)
		sizes = append(sizes, int32(len(b)))
		p.Append(b, 0)
	}
	cases := []struct {
		off     int64
		max     int32
		batches int
		first   int64
		err     error
	}{
		{off: 0, max: 0, batches: 1, first: 0},
		{off: 0, max: sizes[0], batches: 1, first: 0},
		{off: 0, max: sizes[0] + sizes[1], batches: 2, first: 0},
		{off: 0, max: sizes[0] + sizes[1] - 1, batches: 1, first: 0},
		{off: 5, max: 1 << 20, batches: 8, first: 4},
		{off: 19, max: 1, batches: 1, first: 18},
		{off: 20, max: 100, batches: 0},
		{off: 21, max: 100, err: ErrOffsetOutOfRange},
		{off: -1, max: 100, err: ErrOffsetOutOfRange},
	}
	for _, c := range cases {
		res, err := p.Read(c.off, c.max)
		if !errors.Is(err, c.err) {
			t.Fatalf("Read(%d,%d): %v want %v", c.off, c.max, err, c.err)
		}
		if err != nil {
			continue
		}
		if len(res.Chunks) != c.batches || (c.batches > 0 && res.Chunks[0].BaseOffset != c.first) {
			t.Fatalf("Read(%d,%d): %d chunks %+v", c.off, c.max, len(res.Chunks), res.Chunks)
		}
		if res.HighWatermark != 20 || res.LogStartOffset != 0 {
			t.Fatalf("Read: hwm %d start %d", res.HighWatermark, res.LogStartOffset)
		}
		res.Release()
	}
	if s.Partition(tid(1), 1) != nil || s.Partition(tid(2), 0) != nil {
		t.Fatal("unknown partition exists")
	}
	if _, err := s.CreatePartition(tid(1), -1); !errors.Is(err, ErrUnknownPartition) {
		t.Fatalf("negative partition: %v", err)
	}
	again, _ := s.CreatePartition(tid(1), 0)
	if again != p {
		t.Fatal("CreatePartition not idempotent")
	}
	fired := make(chan struct{}, 10)
	cancel := p.Watch(func() { fired <- struct{}{} })
	s.DeleteTopic(tid(1))
	<-fired // deletion wakes watchers
	cancel()
	if _, err := p.Read(0, 100); !errors.Is(err, ErrUnknownPartition) {
		t.Fatalf("read deleted: %v", err)
	}
}

// TestBadBatches: malformed batches are refused with ErrCorruptBatch or
// ErrBatchTooLarge, never a panic, and consume no offsets.
func TestBadBatches(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.SegmentBytes = 4096
	s := mustOpen(t, cfg)
	defer s.Close()
	p, _ := s.CreatePartition(tid(1), 0)
	good := simpleBatch("g", 2, 1)
	wrongLen := append([]byte(nil), good...)
	wrongLen[11]++
	magic1 := append([]byte(nil), good...)
	magic1[bOffMagic] = 1
	negDelta := append([]byte(nil), good...)
	negDelta[bOffLastOffsetDelta] = 0xff
	big := simpleBatch(strings.Repeat("x", 5000), 1, 1)
	for name, c := range map[string]struct {
		b   []byte
		err error
	}{
		"empty":        {nil, ErrCorruptBatch},
		"short":        {good[:40], ErrCorruptBatch},
		"length field": {wrongLen, ErrCorruptBatch},
		"magic 1":      {magic1, ErrCorruptBatch},
		"neg delta":    {negDelta, ErrCorruptBatch},
		"too large":    {big, ErrBatchTooLarge},
	} {
		if _, err := p.Append(c.b, 0); !errors.Is(err, c.err) {
			t.Fatalf("%s: %v want %v", name, err, c.err)
		}
	}
	if r, err := p.Append(good, 0); err != nil || r.BaseOffset != 0 {
		t.Fatalf("good after bad: %+v %v", r, err)
	}
}

// TestLeaderEpochs: KIP-101 lookups.
func TestLeaderEpochs(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	s := mustOpen(t, cfg)
	p, _ := s.CreatePartition(tid(1), 0)
	if p.LeaderEpoch() != -1 {
		t.Fatal("epoch of empty partition")
	}
	if e, o := p.EndOffsetForEpoch(0); e != -1 || o != -1 {
		t.Fatalf("empty: %d %d", e, o)
	}
	// epoch 2: offsets 0..3, epoch 5: 4..7, epoch 6: 8..9
	for _, ep := range []int32{2, 2, 5, 5, 6} {
		p.Append(simpleBatch("x", 2, 1), ep)
	}
	check := func(p *Partition) {
		for _, c := range [][3]int64{{1, 1, 0}, {2, 2, 4}, {3, 2, 4}, {4, 2, 4}, {5, 5, 8}, {6, 6, 10}, {7, -1, -1}} {
			e, o := p.EndOffsetForEpoch(int32(c[0]))
			if int64(e) != c[1] || o != c[2] {
				t.Fatalf("EndOffsetForEpoch(%d) = %d %d want %d %d", c[0], e, o, c[1], c[2])
			}
		}
		if p.LeaderEpoch() != 6 {
			t.Fatal("latest epoch")
		}
		// The stored batch carries the epoch the store wrote.
		res, _ := p.Read(4, 1)
		buf := make([]byte, res.Chunks[0].Len)
		res.Chunks[0].File.ReadAt(buf, res.Chunks[0].Pos)
		res.Release()
		if buf[12] != 0 || buf[15] != 5 || buf[7] != 4 {
			t.Fatalf("stored header %x", buf[:16])
		}
	}
	check(p)
	s.Close()
	os.Remove(filepath.Join(cfg.Dir, checkpointName))
	s = mustOpen(t, cfg)
	check(s.Partition(tid(1), 0))
	s.Close()
}

// TestManyPartitionsBoundedFiles: thousands of partitions with full
// consume-queue blocks stay within MaxOpenFiles descriptors.
func TestManyPartitionsBoundedFiles(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.MaxOpenFiles = 16
	s := mustOpen(t, cfg)
	const parts = 300
	ps := make([]*Partition, parts)
	for i := range ps {
		ps[i], _ = s.CreatePartition(tid(1), int32(i))
	}
	fds := func() int {
		es, _ := os.ReadDir("/proc/self/fd")
		return len(es)
	}
	before := fds()
	b := simpleBatch("x", 1, 1)
	for round := 0; round < cqBlock+5; round++ {
		for _, p := range ps {
			if _, err := p.Append(b, 0); err != nil {
				t.Fatal(err)
			}
		}
	}
	// +3: new commit-log segments, and the next one the allocator keeps
	// ready (its file may open after before was counted).
	if n := fds(); n > before+cfg.MaxOpenFiles+3 {
		t.Fatalf("%d open files, was %d, cap %d", n, before, cfg.MaxOpenFiles)
	}
	s.Close()
	s = mustOpen(t, cfg)
	defer s.Close()
	for _, i := range []int{0, 150, 299} {
		got := readAll(t, s.Partition(tid(1), int32(i)), 0)
		if len(got) != cqBlock+5 || got[cqBlock].offset != cqBlock {
			t.Fatalf("p%d: %d records", i, len(got))
		}
	}
}

// TestCorruptConsumeQueue: a consume-queue file that fails its CRCs (in a
// full block met by a read) or is missing is rebuilt from the commit log,
// with log start and offsets intact. The tail (entries after the last
// full block) is in the checkpoint, not the file: garbage where it would
// be in the file is never read.
func TestCorruptConsumeQueue(t *testing.T) {
	for _, where := range []string{"tail", "block", "missing"} {
		t.Run(where, func(t *testing.T) {
			cfg := testConfig(t, t.TempDir())
			cfg.SegmentBytes = 8 << 10
			s := mustOpen(t, cfg)
			p, _ := s.CreatePartition(tid(9), 0)
			q, _ := s.CreatePartition(tid(9), 1)
			for b := 0; b < cqBlock+10; b++ {
				p.Append(writerBatch(0, b), 0)
				q.Append(writerBatch(1, b), 0)
			}
			p.DeleteRecordsBefore(5)
			path := p.cqFile(0)
			s.Close()
			data, _ := os.ReadFile(path)
			switch where {
			case "tail":
				if len(data) != cqBlock*cqEntrySize {
					t.Fatalf("consume-queue file of %d bytes; want only the full block (%d)", len(data), cqBlock*cqEntrySize)
				}
				data = append(data, bytes.Repeat([]byte{0xa5}, 10*cqEntrySize)...)
				os.WriteFile(path, data, 0o644)
			case "block":
				data[3*cqEntrySize+5] ^= 0xff
				os.WriteFile(path, data, 0o644)
			case "missing":
				os.Remove(path)
			}
			s = mustOpen(t, cfg)
			defer s.Close()
			p = s.Partition(tid(9), 0)
			p.Append(writerBatch(0, cqBlock+10), 0) // forces the tail load

			if p.LogStartOffset() != 5 {
				t.Fatalf("log start %d", p.LogStartOffset())
			}
			got := readAll(t, p, 5)
			if got[0].offset != 5 || got[len(got)-1].offset != p.HighWatermark()-1 {
				t.Fatalf("rebuilt: %d records", len(got))
			}
			if checkPrefix(t, s, 1) != cqBlock+10 {
				t.Fatal("other partition damaged")
			}
			if where == "tail" {
				// Not rebuilt (a rebuild rewrites the file without the garbage).
				if got, _ := os.ReadFile(path); !bytes.Equal(got, data) {
					t.Fatalf("consume-queue file rewritten (%d bytes): the tail was read from it", len(got))
				}
			}
		})
	}
}

// TestCompressedTimestamps: inside compressed batches the exact record is
// found through Config.Decompress; without it the batch stands in. (The
// test "codec" is the identity, so the batch needs no real compression.)
func TestCompressedTimestamps(t *testing.T) {
	for _, withDec := range []bool{true, false} {
		t.Run(fmt.Sprint(withDec), func(t *testing.T) {
			cfg := testConfig(t, t.TempDir())
			calls := 0
			if withDec {
				cfg.Decompress = func(codec int8, b []byte) ([]byte, error) {
					calls++
					if codec != 4 {
						return nil, errors.New("unexpected codec")
					}
					return b, nil
				}
			}
			s := mustOpen(t, cfg)
			defer s.Close()
			p, _ := s.CreatePartition(tid(1), 0)
			recs := []testRecord{{value: []byte("a")}, {value: []byte("b"), tsDelta: 50}, {value: []byte("c"), tsDelta: 10}}
			p.Append(makeBatch(batchOpts{firstTs: 1000, producerID: -1, epoch: -1, seq: -1, attributes: 4}, recs...), 0)
			off, ts, ok := p.OffsetForTime(1005)
			mts, moff := p.MaxTimestamp()
			if withDec {
				if !ok || off != 1 || ts != 1050 || mts != 1050 || moff != 1 || calls == 0 {
					t.Fatalf("by time %d %d %v, max %d@%d, calls %d", off, ts, ok, mts, moff, calls)
				}
			} else if !ok || off != 0 || ts != 1050 || mts != 1050 || moff != 2 {
				t.Fatalf("without decompressor: by time %d %d %v, max %d@%d", off, ts, ok, mts, moff)
			}
		})
	}
}

// TestCorruptBlockRepairedOnRead: a full consume-queue block that goes bad
// while the store runs is rebuilt by the read that meets it.
func TestCorruptBlockRepairedOnRead(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	s := mustOpen(t, cfg)
	defer s.Close()
	p, _ := s.CreatePartition(tid(9), 0)
	for b := 0; b < 3*cqBlock; b++ {
		p.Append(writerBatch(0, b), 0)
	}
	f, err := os.OpenFile(p.cqFile(0), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte{0xff, 0xff}, 5*cqEntrySize+20)
	f.Close()
	if m := checkPrefix(t, s, 0); m != 3*cqBlock {
		t.Fatalf("%d batches after repair", m)
	}
	if _, err := p.Append(writerBatch(0, 3*cqBlock), 0); err != nil || checkPrefix(t, s, 0) != 3*cqBlock+1 {
		t.Fatalf("append after repair: %v", err)
	}
}
