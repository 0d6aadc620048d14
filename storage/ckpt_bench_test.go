package storage

import (
	"fmt"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// BenchmarkAppendDuringCheckpoint measures whether a checkpoint stalls
// writers (issue 14 item 6): two writers append 1 KiB batches round-robin
// over 10,000 partitions (each already holding a few consume-queue blocks,
// so every checkpoint has every partition's tail to write), while a
// checkpoint runs back to back (ckpt=loop) or never (ckpt=none, the same
// run's baseline). It reports the longest single Append, p99.9, the mean
// checkpoint duration and the longest time a checkpoint held the writer
// lock (lock-max-µs: the stall a checkpoint itself causes every writer).
// Only the comparison within one run means anything on a shared machine.
//
//	go test ./storage -run NONE -bench BenchmarkAppendDuringCheckpoint -benchtime 200000x
func BenchmarkAppendDuringCheckpoint(b *testing.B) {
	const parts = 10000
	for _, mode := range []string{"none", "loop"} {
		b.Run("partitions=10000/ckpt="+mode, func(b *testing.B) {
			s, err := Open(Config{Dir: b.TempDir(), Logger: zap.NewNop(), SegmentBytes: 256 << 20,
				CheckpointInterval: time.Hour, RetentionInterval: time.Hour, CompactionInterval: time.Hour})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			ps := make([]*Partition, parts)
			for i := range ps {
				if ps[i], err = s.CreatePartition(tid(1), int32(i)); err != nil {
					b.Fatal(err)
				}
			}
			batch := benchBatch(1 << 10)
			// Fill: 70 entries per partition (one full block written out,
			// a tail of 6 in memory).
			for i := 0; i < 70*parts; i++ {
				if _, err := ps[i%parts].Append(batch, 0); err != nil {
					b.Fatal(err)
				}
			}
			if err := s.checkpoint(); err != nil {
				b.Fatal(err)
			}
			stop := make(chan struct{})
			var ckWG sync.WaitGroup
			var ckN atomic.Int64
			var ckTime, ckHeld atomic.Int64
			if mode == "loop" {
				ckWG.Add(1)
				go func() {
					defer ckWG.Done()
					for {
						select {
						case <-stop:
							return
						default:
						}
						t0 := time.Now()
						if err := s.checkpoint(); err != nil {
							b.Error(err)
							return
						}
						ckTime.Add(int64(time.Since(t0)))
						ckHeld.Store(max(ckHeld.Load(), s.ckptHeld.Load()))
						ckN.Add(1)
					}
				}()
			}
			const writers = 2
			lat := make([]time.Duration, b.N)
			var next atomic.Int64
			var wg sync.WaitGroup
			b.SetBytes(int64(len(batch)))
			b.ResetTimer()
			for w := 0; w < writers; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := next.Add(1) - 1
						if i >= int64(b.N) {
							return
						}
						t0 := time.Now()
						if _, err := ps[i%parts].Append(batch, 0); err != nil {
							b.Error(err)
							return
						}
						lat[i] = time.Since(t0)
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			close(stop)
			ckWG.Wait()
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			q := func(f float64) float64 { return float64(lat[min(int(f*float64(len(lat))), len(lat)-1)].Microseconds()) }
			b.ReportMetric(q(0.99), "p99-µs")
			b.ReportMetric(q(0.999), "p99.9-µs")
			b.ReportMetric(q(1), "max-µs")
			if n := ckN.Load(); n > 0 {
				b.ReportMetric(float64(n), "ckpts")
				b.ReportMetric(float64(ckTime.Load())/float64(n)/1e6, "ckpt-ms")
				b.ReportMetric(float64(ckHeld.Load())/1e3, "lock-max-µs")
			}
		})
	}
}

// BenchmarkCheckpointWriterLock measures what a checkpoint holds the writer
// lock (s.mu) for, at 10,000 partitions shaped like a 10 GiB log of 1 KiB
// batches (about 1,000 consume-queue entries, so 16 in-memory blocks, per
// partition; two idempotent producers each; 10,000 committed offsets in the
// key/values): held=snapshot is the copy checkpointCk takes under s.mu;
// held=encode is snapshot plus encoding (1.6-4 MB), which the checkpoint
// held before the encoding moved out of the lock. cpu-µs is the thread's
// CPU time per op (getrusage), which a loaded machine inflates far less
// than wall time.
//
//	go test ./storage -run NONE -bench BenchmarkCheckpointWriterLock
func BenchmarkCheckpointWriterLock(b *testing.B) {
	s, err := Open(Config{Dir: b.TempDir(), Logger: zap.NewNop(), FS: newMemFS(),
		CheckpointInterval: time.Hour, RetentionInterval: time.Hour, CompactionInterval: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const parts, blocks = 10000, 16
	s.mu.Lock()
	for i := 0; i < parts; i++ {
		p := s.createLocked(pkey{tid(1), int32(i)})
		p.count = blocks*cqBlock - 10
		p.nextOffset = p.count * 10
		p.totalBytes = p.count * 1024
		p.blocks = make([]blockInfo, blocks)
		p.epochs = []epochStart{{epoch: 0, start: 0}}
		for id := int64(0); id < 2; id++ {
			p.producers[int64(i)*2+id] = &producerState{batches: make([]seqBatch, producerWindow)}
		}
	}
	s.kvMu.Lock()
	m := make(map[string][]byte, parts)
	for i := 0; i < parts; i++ {
		m[fmt.Sprintf("offset/topic-%d", i)] = make([]byte, 24)
	}
	s.kv["group.bench"] = m
	s.kvMu.Unlock()
	s.mu.Unlock()
	for _, held := range []string{"snapshot", "encode"} {
		b.Run("partitions=10000/held="+held, func(b *testing.B) {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			cpu0 := threadCPU(b)
			var size int
			for i := 0; i < b.N; i++ {
				s.mu.Lock()
				sn := s.snapshotLocked(s.writePos.Load())
				if held == "encode" {
					data, _ := sn.encode()
					size = len(data)
				}
				s.mu.Unlock()
			}
			b.ReportMetric(float64(threadCPU(b)-cpu0)/float64(b.N)/1e3, "cpu-µs")
			if size > 0 {
				b.ReportMetric(float64(size), "ckpt-bytes")
			}
		})
	}
}

// threadCPU is the calling thread's user+system CPU time in ns.
func threadCPU(b *testing.B) int64 {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
