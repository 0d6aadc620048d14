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
	defer func(n int) { ckptChunk = n }(ckptChunk)
	ckptChunk = 5 // writes land between a checkpoint's chunks
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
	checked, chunked := 0, 0
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
		if ck.maxAt > ck.pos {
			chunked++
		}
	}
	t.Logf("%d checkpoints checked against the log, %d with writes between their chunks", checked, chunked)
}

// checkCheckpointAgainstLog scans the commit log up to each partition's
// position in ck (a checkpoint snapshots partitions in chunks, each at the
// log position of its chunk) and compares its entries, next offset,
// producers' last sequences and the consume-queue tail the checkpoint
// carries (the entries after the last full block: a block write that
// reused the array a snapshot still encoded shows later entries there).
func checkCheckpointAgainstLog(t *testing.T, s *Store, ck *checkpointData) {
	t.Helper()
	type want struct {
		count, next int64
		lastSeq     map[int64]int32
		pos, base   []int64 // of every entry, in order
	}
	scans := map[int64]map[pkey]*want{}
	scan := func(limit int64) map[pkey]*want {
		if ws := scans[limit]; ws != nil {
			return ws
		}
		ws := map[pkey]*want{}
		sc := s.newScanner(0)
		for sc.pos < limit {
			h, b, pos, ok := sc.next()
			if !ok {
				t.Fatalf("scan stopped at %d before the checkpoint's %d: %v", sc.pos, limit, sc.err)
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
		scans[limit] = ws
		return ws
	}
	for _, cp := range ck.parts {
		if cp.covered < ck.pos || cp.covered > ck.maxAt {
			t.Fatalf("checkpoint at %d: partition %d taken at %d, outside [%d, %d]", ck.pos, cp.key.part, cp.covered, ck.pos, ck.maxAt)
		}
		w := scan(cp.covered)[cp.key]
		if w == nil {
			w = &want{lastSeq: map[int64]int32{}}
		}
		if cp.count != w.count || cp.nextOffset != w.next {
			t.Fatalf("checkpoint at %d: partition %d (taken at %d) has %d entries, next offset %d; the log up to there has %d, %d",
				ck.pos, cp.key.part, cp.covered, cp.count, cp.nextOffset, w.count, w.next)
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

// TestRecoveryFromChunkedCheckpoint: a checkpoint whose chunks were taken
// while writers appended holds partitions at different log positions;
// recovery re-dispatches from the first chunk's position and skips for
// each partition what its state already holds. A store reopened after a
// process crash (the same files, no Close) has every partition exactly as
// the crashed one had it: entry count, next offset, bytes, producers'
// sequences (re-dispatching an entry twice shows in each).
func TestRecoveryFromChunkedCheckpoint(t *testing.T) {
	defer func(n int) { ckptChunk = n }(ckptChunk)
	ckptChunk = 1
	fs := newMemFS()
	cfg := testConfig(t, "/ck")
	cfg.FS = fs
	cfg.CheckpointBytes = -1
	s := mustOpen(t, cfg)
	const parts, writers = 16, 4
	ps := make([]*Partition, parts)
	for i := range ps {
		ps[i], _ = s.CreatePartition(tid(3), int32(i))
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for b := 0; ; b++ {
				select {
				case <-stop:
					return
				default:
				}
				for i := w; i < parts; i += writers {
					if _, err := ps[i].Append(idemBatch(int64(100+w), 0, int32(2*b), 2), 0); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}(w)
	}
	chunked := false
	for tries := 0; !chunked && tries < 1000; tries++ {
		if err := s.checkpoint(); err != nil {
			t.Fatal(err)
		}
		b, err := readWholeFile(fs, filepath.Join(cfg.Dir, checkpointName))
		if err != nil {
			t.Fatal(err)
		}
		ck, err := decodeCheckpoint(b)
		if err != nil {
			t.Fatal(err)
		}
		chunked = ck.maxAt > ck.pos
	}
	// Writes after the checkpoint too, then the "crash".
	time.Sleep(20 * time.Millisecond)
	close(stop)
	wg.Wait()
	if !chunked {
		t.Skip("no checkpoint had writes between its chunks in 1,000 tries")
	}
	s2 := mustOpen(t, cfg) // memFS has no locks: as a restart after SIGKILL
	defer s2.Close()
	for i, p := range ps {
		q := s2.Partition(tid(3), int32(i))
		p.mu.RLock()
		q.mu.RLock()
		a := [3]int64{p.count, p.nextOffset, p.totalBytes}
		b := [3]int64{q.count, q.nextOffset, q.totalBytes}
		pp, qp := len(p.producers), len(q.producers)
		p.mu.RUnlock()
		q.mu.RUnlock()
		if a != b || pp != qp {
			t.Fatalf("partition %d: entries, next offset, bytes %v and %d producers before the crash; %v and %d after recovery",
				i, a, pp, b, qp)
		}
		for id := int64(100); id < 100+writers; id++ {
			pe, po, _ := p.ProducerState(id)
			qe, qo, _ := q.ProducerState(id)
			if pe != qe || po != qo {
				t.Fatalf("partition %d producer %d: %d,%d before, %d,%d after", i, id, pe, po, qe, qo)
			}
		}
	}
	t.Cleanup(func() { s.Close() })
}
