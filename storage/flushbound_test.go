package storage

import (
	"math/rand"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestAsyncFlushLossBound: under async flush a power loss loses at most
// what was written in the last FlushInterval, plus what was written during
// the fsync in flight. SIGKILL cannot show this (the page cache survives
// it), so the power is cut through the filesystem seam: only fsynced bytes
// survive, plus a random prefix of the rest.
//
// The flusher's ticker is replaced by a channel the test drives, each tick
// standing for one FlushInterval. The channel is unbuffered, so when the
// send of tick k returns, the flush of tick k-1 has finished (the flusher
// came back for the next tick), and that flush synced everything written
// before tick k-1 was sent. So every batch acknowledged before tick k-1
// was sent must survive a power loss at any moment after tick k was sent:
// what may be lost was written after tick k-1, i.e. within the last
// interval and the flush in flight. Segments of 16 KiB make rolls frequent,
// so segments closed since the last flush are covered too.
func TestAsyncFlushLossBound(t *testing.T) {
	iters := 20
	if testing.Short() {
		iters = 5
	}
	for it := 0; it < iters; it++ {
		rng := rand.New(rand.NewSource(int64(it)))
		fs := newMemFS()
		ticks := make(chan time.Time)
		cfg := testConfig(t, "/data")
		cfg.FS = fs
		cfg.FlushMode = FlushAsync
		cfg.SegmentBytes = 16 << 10
		cfg.CheckpointInterval = time.Hour
		cfg.flushTicks = ticks
		s := mustOpen(t, cfg)
		p, _ := s.CreatePartition(tid(9), 0)

		var sent atomic.Int64 // ticks whose send has begun
		var mu sync.Mutex
		var phase []int64 // phase[b]: ticks begun when batch b was acknowledged
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			for b := 0; ; b++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := p.Append(writerBatch(0, b), 0); err != nil {
					t.Error(err)
					return
				}
				ph := sent.Load()
				mu.Lock()
				phase = append(phase, ph)
				mu.Unlock()
			}
		}()
		acked := func() int {
			mu.Lock()
			defer mu.Unlock()
			return len(phase)
		}
		waitAcks := func(n int) {
			for want := acked() + n; acked() < want; {
				time.Sleep(50 * time.Microsecond)
			}
		}
		k := int64(3 + rng.Intn(6))
		for i := int64(1); i <= k; i++ {
			waitAcks(1 + rng.Intn(40))
			sent.Add(1)
			ticks <- time.Now()
		}
		waitAcks(rng.Intn(40)) // written after the last tick: may be lost
		crashed := fs.crash(rng)
		close(stop)
		<-done
		s.Close()

		mu.Lock()
		mustKeep := 0 // batches acknowledged before tick k-1 was sent
		for mustKeep < len(phase) && phase[mustKeep] <= k-2 {
			mustKeep++
		}
		total := len(phase)
		mu.Unlock()
		cfg.FS = crashed
		cfg.flushTicks = nil
		s = mustOpen(t, cfg)
		m := checkPrefix(t, s, 0) // a clean prefix, byte for byte
		s.Close()
		if m < mustKeep {
			t.Fatalf("iteration %d: %d batches survived a power loss after %d flush intervals; %d were acknowledged "+
				"before the last complete flush began and must survive (%d acknowledged in all)", it, m, k, mustKeep, total)
		}
		if mustKeep == 0 {
			t.Fatalf("iteration %d: nothing acknowledged before the last complete flush; the test proves nothing", it)
		}
	}
}
