package storage

import (
	"fmt"
	"math"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkAppendDuringCompaction measures what compaction costs producers:
// 4 writers append 16 KiB batches (16 records of 1,000 keys) to a compacted
// partition, with no compaction ("idle") and with cleaning rounds running
// back to back beside them ("compacting", min.cleanable.dirty.ratio 0, so
// a round starts as soon as the last one committed). It reports the
// append latency percentiles and the rounds committed.
//
//	go test ./storage -run NONE -bench BenchmarkAppendDuringCompaction -benchtime 20000x
func BenchmarkAppendDuringCompaction(b *testing.B) {
	for _, mode := range []string{"idle", "compacting"} {
		b.Run(mode, func(b *testing.B) {
			cfg := testConfig(b, b.TempDir())
			cfg.SegmentBytes = 16 << 20
			cfg.Logger = nil
			s := mustOpen(b, cfg)
			defer s.Close()
			p, _ := s.CreatePartition(tid(1), 0)
			pol := compactPolicy(math.MaxInt64 / 2)
			pol.SegmentMs = 0
			p.SetCompaction(pol)
			batches := make([][]byte, 64)
			for i := range batches {
				recs := make([]testRecord, 16)
				for j := range recs {
					recs[j] = testRecord{key: fmt.Appendf(nil, "key-%04d", (i*16+j)%1000), value: make([]byte, 1000)}
				}
				batches[i] = makeBatch(batchOpts{firstTs: time.Now().UnixMilli() - 60000, producerID: -1, epoch: -1, seq: -1}, recs...)
			}
			// A first live set, so rounds have something to copy.
			for i := 0; i < 64; i++ {
				p.Append(batches[i], 1)
			}
			stop := make(chan struct{})
			var rounds atomic.Int64
			var bg sync.WaitGroup
			if mode == "compacting" {
				bg.Add(1)
				go func() {
					defer bg.Done()
					for {
						select {
						case <-stop:
							return
						default:
						}
						s.retMu.Lock()
						n, _ := s.runCompaction()
						s.retMu.Unlock()
						if n > 0 {
							rounds.Add(1)
							s.RunRetention()
						}
					}
				}()
			}
			const writers = 4
			lat := make([][]time.Duration, writers)
			var next atomic.Int64
			b.SetBytes(int64(len(batches[0])))
			b.ResetTimer()
			var wg sync.WaitGroup
			for w := 0; w < writers; w++ {
				wg.Add(1)
				go func(w int) {
					defer wg.Done()
					for {
						i := next.Add(1)
						if i > int64(b.N) {
							return
						}
						t0 := time.Now()
						if _, err := p.Append(batches[i%int64(len(batches))], 1); err != nil {
							b.Error(err)
							return
						}
						lat[w] = append(lat[w], time.Since(t0))
					}
				}(w)
			}
			wg.Wait()
			b.StopTimer()
			close(stop)
			bg.Wait()
			var all []time.Duration
			for _, l := range lat {
				all = append(all, l...)
			}
			sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
			q := func(f float64) float64 { return float64(all[int(f*float64(len(all)-1))].Microseconds()) }
			b.ReportMetric(q(0.5), "p50-µs")
			b.ReportMetric(q(0.99), "p99-µs")
			b.ReportMetric(q(0.999), "p99.9-µs")
			b.ReportMetric(float64(rounds.Load()), "rounds")
		})
	}
}
