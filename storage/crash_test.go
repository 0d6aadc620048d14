package storage

import (
	"fmt"
	"math/rand"
	"sync"
	"testing"
	"time"
)

// batchValue names record r of batch b of partition p.
func batchValue(p, b, r int) string { return fmt.Sprintf("%d.%d-%d", p, b, r) }

func writerBatch(p, b int) []byte {
	n := 1 + (p+b)%4
	recs := make([]testRecord, n)
	for r := range recs {
		recs[r] = testRecord{key: fmt.Appendf(nil, "k%d", b), value: []byte(batchValue(p, b, r)), tsDelta: int64(r),
			headers: [][2][]byte{{[]byte("h"), fmt.Appendf(nil, "%d", b)}}}
	}
	return makeBatch(batchOpts{firstTs: int64(1000 + b), producerID: -1, epoch: -1, seq: -1}, recs...)
}

// checkPrefix verifies that partition p of s holds exactly batches 0..m-1
// of writerBatch (byte for byte, offsets contiguous from 0) and returns m.
func checkPrefix(t *testing.T, s *Store, part int) int {
	t.Helper()
	p := s.Partition(tid(9), int32(part))
	if p == nil {
		return 0
	}
	res := []Chunk{}
	off := int64(0)
	for {
		r, err := p.Read(off, 1<<16)
		if err != nil {
			t.Fatalf("p%d read %d: %v", part, off, err)
		}
		if len(r.Chunks) == 0 {
			r.Release()
			break
		}
		res = append(res, r.Chunks...)
		off = r.Chunks[len(r.Chunks)-1].LastOffset + 1
		r.Release()
	}
	next := int64(0)
	for b, c := range res {
		buf := make([]byte, c.Len)
		if _, err := c.File.ReadAt(buf, c.Pos); err != nil {
			t.Fatal(err)
		}
		want := writerBatch(part, b)
		// The store wrote base offset and leader epoch (outside the CRC).
		if c.BaseOffset != next || string(buf[bOffMagic:]) != string(want[bOffMagic:]) {
			t.Fatalf("p%d batch %d: base %d want %d, bytes equal %v", part, b, c.BaseOffset, next, string(buf[bOffMagic:]) == string(want[bOffMagic:]))
		}
		recs := decodeBatch(t, buf)
		for r, rec := range recs {
			if rec.value != batchValue(part, b, r) || rec.offset != next+int64(r) {
				t.Fatalf("p%d batch %d record %d = %+v", part, b, r, rec)
			}
		}
		next += int64(len(recs))
	}
	if hw := p.HighWatermark(); hw != next {
		t.Fatalf("p%d hwm %d, records end at %d", part, hw, next)
	}
	return len(res)
}

// TestPowerLoss runs writers against the in-memory FS, cuts the power at a
// random moment (everything not fsynced is lost, or a random prefix of it
// survives), reopens and checks: under sync flush every acknowledged
// append is there byte for byte; under either mode what is there is a
// prefix of what was written, with no gap, duplicate or corrupt batch.
func TestPowerLoss(t *testing.T) {
	// One partition per checkpoint chunk: writes land between chunks.
	defer func(n int) { ckptChunk = n }(ckptChunk)
	ckptChunk = 1
	iters := 25
	if testing.Short() {
		iters = 5
	}
	for _, mode := range []FlushMode{FlushSync, FlushAsync} {
		for it := 0; it < iters; it++ {
			seed := time.Now().UnixNano()
			rng := rand.New(rand.NewSource(seed))
			t.Run(fmt.Sprintf("mode%d/%d", mode, it), func(t *testing.T) {
				fs := newMemFS()
				cfg := testConfig(t, "/data")
				cfg.FS = fs
				cfg.FlushMode = mode
				cfg.SegmentBytes = 8 << 10
				cfg.FlushInterval = time.Millisecond
				cfg.CheckpointInterval = time.Duration(1+rng.Intn(10)) * time.Millisecond
				s := mustOpen(t, cfg)
				const parts = 3
				var ackMu sync.Mutex
				acked := make([]int, parts)
				stop := make(chan struct{})
				var wg sync.WaitGroup
				for pi := 0; pi < parts; pi++ {
					wg.Add(1)
					go func(pi int) {
						defer wg.Done()
						p, err := s.CreatePartition(tid(9), int32(pi))
						if err != nil {
							return
						}
						for b := 0; ; b++ {
							select {
							case <-stop:
								return
							default:
							}
							if _, err := p.Append(writerBatch(pi, b), 1); err != nil {
								return
							}
							ackMu.Lock()
							acked[pi] = b + 1
							ackMu.Unlock()
						}
					}(pi)
				}
				time.Sleep(time.Duration(rng.Intn(40)) * time.Millisecond)
				ackMu.Lock()
				var torn *rand.Rand
				if rng.Intn(2) == 0 {
					torn = rng
				}
				after := fs.crash(torn)
				ack := append([]int(nil), acked...)
				ackMu.Unlock()
				close(stop)
				wg.Wait()
				s.Close()

				cfg.FS = after
				s2 := mustOpen(t, cfg)
				for pi := 0; pi < parts; pi++ {
					m := checkPrefix(t, s2, pi)
					if mode == FlushSync && m < ack[pi] {
						t.Fatalf("seed %d: p%d has %d batches, %d were acknowledged", seed, pi, m, ack[pi])
					}
				}
				// The recovered store keeps working and survives a
				// second crash after a clean point.
				if p := s2.Partition(tid(9), 0); p != nil {
					m := checkPrefix(t, s2, 0)
					if _, err := p.Append(writerBatch(0, m), 1); err != nil {
						t.Fatal(err)
					}
					if got := checkPrefix(t, s2, 0); got != m+1 {
						t.Fatalf("after recovery append: %d batches want %d", got, m+1)
					}
				}
				if err := s2.Close(); err != nil {
					t.Fatal(err)
				}
				cfg.FS = after.crash(nil)
				s3 := mustOpen(t, cfg)
				for pi := 0; pi < parts; pi++ {
					checkPrefix(t, s3, pi)
				}
				s3.Close()
			})
		}
	}
}

// TestRecoveryMakesReplayedDurable: after a process crash (the page cache
// survives, the process does not) recovery re-dispatches what the flusher
// had not synced and counts it durable, so it syncs it first: a power loss
// right after the restart keeps everything up to the durable position the
// recovered store claimed, although no checkpoint was written yet (the
// housekeeper writes it after Open).
func TestRecoveryMakesReplayedDurable(t *testing.T) {
	fs := newMemFS()
	cfg := testConfig(t, "/data")
	cfg.FS = fs
	cfg.FlushMode = FlushAsync
	cfg.SegmentBytes = 8 << 10
	cfg.FlushInterval = time.Hour
	cfg.CheckpointInterval = time.Hour
	s1 := mustOpen(t, cfg)
	p, _ := s1.CreatePartition(tid(9), 0)
	for b := 0; b < 40; b++ {
		if _, err := p.Append(writerBatch(0, b), 1); err != nil {
			t.Fatal(err)
		}
	}
	// s1 "dies": never used again; s2 opens the same files (memFS has no
	// locks), as a restarted process would after SIGKILL.
	s2 := mustOpen(t, cfg)
	t.Cleanup(func() { s2.Close(); s1.Close() })
	if n := checkPrefix(t, s2, 0); n != 40 {
		t.Fatalf("recovered %d batches, want 40", n)
	}
	s2.flushMu.Lock()
	durable := s2.durable
	s2.flushMu.Unlock()
	cfg.FS = fs.crash(nil) // the power goes before any checkpoint or flush
	s3 := mustOpen(t, cfg)
	defer s3.Close()
	if end := s3.EndPosition(); end < durable {
		t.Fatalf("after the power loss the log ends at %d; the recovered store called %d durable", end, durable)
	}
	if n := checkPrefix(t, s3, 0); n != 40 {
		t.Fatalf("%d batches after the power loss, want 40", n)
	}
}
