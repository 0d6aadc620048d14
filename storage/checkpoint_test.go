package storage

import (
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestCheckpointWhileWriting: checkpoints taken while writers append
// (idempotent producers, so producer state changes with every batch) each
// describe the state of the commit log exactly up to their position:
// every partition's entry count, next offset and each producer's last
// sequence equal what a scan of the log up to the position gives. A
// snapshot taken outside the writer lock, or a copy that shares state the
// writers change in place, shows entries or sequences past the position.
func TestCheckpointWhileWriting(t *testing.T) {
	cfg := testConfig(t, "/ck")
	cfg.FS = newMemFS() // cheap checkpoints: many of them overlap the writes
	s := mustOpen(t, cfg)
	defer s.Close()
	const parts, writers, per = 64, 4, 500
	ps := make([]*Partition, parts)
	for i := range ps {
		ps[i], _ = s.CreatePartition(tid(3), int32(i))
	}
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for b := 0; b < per; b++ {
				// Producer w writes batch b of 2 records to every
				// partition w+k*writers.
				for i := w; i < parts; i += writers {
					if _, err := ps[i].Append(idemBatch(int64(100+w), 0, int32(2*b), 2), 0); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}(w)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	checked := 0
	for stop := false; !stop; {
		select {
		case <-done:
			stop = true
		default:
		}
		if err := s.checkpoint(); err != nil {
			t.Fatal(err)
		}
		b, err := readWholeFile(s.fs, filepath.Join(cfg.Dir, checkpointName))
		if err != nil {
			t.Fatal(err)
		}
		ck, err := decodeCheckpoint(b)
		if err != nil {
			t.Fatal(err)
		}
		checkCheckpointAgainstLog(t, s, ck)
		checked++
	}
	t.Logf("%d checkpoints checked against the log", checked)
}

// checkCheckpointAgainstLog scans the commit log up to ck.pos and compares
// each partition's entries, next offset, producers' last sequences and the
// consume-queue tail the checkpoint carries (the entries after the last
// full block: a block write that reused the array a snapshot still
// encoded shows later entries there).
func checkCheckpointAgainstLog(t *testing.T, s *Store, ck *checkpointData) {
	t.Helper()
	type want struct {
		count, next int64
		lastSeq     map[int64]int32
		pos, base   []int64 // of every entry, in order
	}
	ws := map[pkey]*want{}
	sc := s.newScanner(0)
	for sc.pos < ck.pos {
		h, b, pos, ok := sc.next()
		if !ok {
			t.Fatalf("scan stopped at %d before the checkpoint's %d: %v", sc.pos, ck.pos, sc.err)
		}
		if h.typ != entryBatch {
			continue
		}
		k := pkey{h.topic, h.partition}
		w := ws[k]
		if w == nil {
			w = &want{lastSeq: map[int64]int32{}}
			ws[k] = w
		}
		bi, err := parseBatch(b[entryHeaderSize:h.length])
		if err != nil {
			t.Fatal(err)
		}
		w.count++
		w.next = h.baseOffset + int64(bi.lastDelta) + 1
		w.lastSeq[bi.producerID] = bi.baseSequence + bi.lastDelta
		w.pos = append(w.pos, pos+entryHeaderSize)
		w.base = append(w.base, h.baseOffset)
	}
	for _, cp := range ck.parts {
		w := ws[cp.key]
		if w == nil {
			w = &want{lastSeq: map[int64]int32{}}
		}
		if cp.count != w.count || cp.nextOffset != w.next {
			t.Fatalf("checkpoint at %d: partition %d has %d entries, next offset %d; the log up to there has %d, %d",
				ck.pos, cp.key.part, cp.count, cp.nextOffset, w.count, w.next)
		}
		if !cp.tailLoaded || cp.tailStart != cp.count/cqBlock*cqBlock || cp.tailStart+int64(len(cp.tail)) != cp.count {
			t.Fatalf("checkpoint at %d: partition %d: tail loaded %v, from %d, %d entries; %d entries in all",
				ck.pos, cp.key.part, cp.tailLoaded, cp.tailStart, len(cp.tail), cp.count)
		}
		for i, e := range cp.tail {
			if j := cp.tailStart + int64(i); e.pos != w.pos[j] || e.baseOffset != w.base[j] {
				t.Fatalf("checkpoint at %d: partition %d tail entry %d at %d, base offset %d; the log's at %d, %d",
					ck.pos, cp.key.part, j, e.pos, e.baseOffset, w.pos[j], w.base[j])
			}
		}
		if len(cp.producers) != len(w.lastSeq) {
			t.Fatalf("checkpoint at %d: partition %d has %d producers, the log %d", ck.pos, cp.key.part, len(cp.producers), len(w.lastSeq))
		}
		for id, st := range cp.producers {
			if n := len(st.batches); n == 0 || st.batches[n-1].lastSeq != w.lastSeq[id] {
				t.Fatalf("checkpoint at %d: partition %d producer %d state %+v; the log's last sequence is %d",
					ck.pos, cp.key.part, id, st.batches, w.lastSeq[id])
			}
		}
	}
}

// TestCheckpointByBytes: with a checkpoint interval far away, a log that
// grows by CheckpointBytes gets a checkpoint anyway (bounding what a crash
// re-scans however fast the log is written).
func TestCheckpointByBytes(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.CheckpointInterval = time.Hour
	cfg.CheckpointBytes = 64 << 10
	s := mustOpen(t, cfg)
	defer s.Close()
	p, _ := s.CreatePartition(tid(3), 0)
	start := s.ckptPos.Load()
	for b := 0; s.EndPosition()-start < 2*cfg.CheckpointBytes; b++ {
		if _, err := p.Append(writerBatch(0, b), 0); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for s.ckptPos.Load() < start+cfg.CheckpointBytes {
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint past %d 30 s after writing %d bytes (last at %d)", start+cfg.CheckpointBytes, s.EndPosition()-start, s.ckptPos.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
