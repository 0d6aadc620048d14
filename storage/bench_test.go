package storage

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
)

// benchBatch is a batch of n records whose total size is about size bytes.
func benchBatch(size int) []byte {
	const perRec = 100
	n := max(size/(perRec+8), 1)
	recs := make([]testRecord, n)
	v := make([]byte, perRec)
	for i := range v {
		v[i] = byte('a' + i%26)
	}
	for i := range recs {
		recs[i] = testRecord{value: v, tsDelta: int64(i)}
	}
	return makeBatch(batchOpts{firstTs: time.Now().UnixMilli(), producerID: -1, epoch: -1, seq: -1}, recs...)
}

// rawFile is the plain file the append benchmark compares with.
type rawFile struct {
	f   *os.File
	off int64
	buf []byte
}

func newRawFile(b *testing.B, dir string, n int) *rawFile {
	f, err := os.Create(filepath.Join(dir, "raw"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	return &rawFile{f: f, buf: make([]byte, n)}
}

func (r *rawFile) write(b *testing.B, n int) (wall, cpu time.Duration) {
	start, c0 := time.Now(), threadDur(b)
	for i := 0; i < n; i++ {
		if _, err := r.f.WriteAt(r.buf, r.off); err != nil {
			b.Fatal(err)
		}
		r.off += int64(len(r.buf))
	}
	return time.Since(start), threadDur(b) - c0
}

// threadDur is threadCPU (ckpt_bench_test.go) as a Duration: the CPU
// time of the calling OS thread (the caller locks its goroutine to the
// thread), which other processes on a shared machine barely move.
func threadDur(b *testing.B) time.Duration { return time.Duration(threadCPU(b)) }

// BenchmarkAppend measures append throughput (async flush, the Kafka
// default) for 16 and 10,000 partitions and, in the same run, a plain
// sequential file written with the same bytes in the same write sizes; the
// throughput ratio store/raw is reported. Both include their final fsync.
// store/raw-cpu is the same ratio by the appending thread's CPU time
// (RUSAGE_THREAD, fsyncs excluded), the figure a machine shared with other
// jobs moves least: the store's bookkeeping against the write itself.
//
//	go test ./storage -run NONE -bench BenchmarkAppend -benchtime 200000x -cpu 1
func BenchmarkAppend(b *testing.B) {
	for _, size := range []int{1 << 10, 16 << 10} {
		for _, parts := range []int{16, 10000} {
			b.Run(fmt.Sprintf("batch=%d/partitions=%d", size, parts), func(b *testing.B) {
				dir := b.TempDir()
				s, err := Open(Config{Dir: dir, Logger: zap.NewNop(), FlushInterval: time.Second, CheckpointInterval: time.Hour})
				if err != nil {
					b.Fatal(err)
				}
				ps := make([]*Partition, parts)
				for i := range ps {
					if ps[i], err = s.CreatePartition(tid(1), int32(i)); err != nil {
						b.Fatal(err)
					}
				}
				batch := benchBatch(size)
				// The store and a plain file take turns in slices of 256
				// writes of the same bytes, so both see the same disk (it
				// is shared); each side's time is summed, final fsync
				// included.
				raw := newRawFile(b, dir, len(batch)+entryHeaderSize)
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				var tStore, tRaw, cStore, cRaw time.Duration
				b.SetBytes(int64(len(batch)))
				b.ResetTimer()
				for done := 0; done < b.N; {
					n := min(256, b.N-done)
					start, c0 := time.Now(), threadDur(b)
					for i := done; i < done+n; i++ {
						if _, err := ps[i%parts].Append(batch, 0); err != nil {
							b.Fatal(err)
						}
					}
					tStore += time.Since(start)
					cStore += threadDur(b) - c0
					b.StopTimer()
					w, c := raw.write(b, n)
					tRaw, cRaw = tRaw+w, cRaw+c
					b.StartTimer()
					done += n
				}
				start := time.Now()
				s.syncTo(s.EndPosition())
				tStore += time.Since(start)
				b.StopTimer()
				start = time.Now()
				raw.f.Sync()
				tRaw += time.Since(start)
				bytes := float64(b.N) * float64(len(batch)+entryHeaderSize)
				b.ReportMetric(bytes/tRaw.Seconds()/1e6, "raw-MB/s")
				b.ReportMetric(tRaw.Seconds()/tStore.Seconds(), "store/raw")
				if cStore > 0 {
					b.ReportMetric(cRaw.Seconds()/cStore.Seconds(), "store/raw-cpu")
					b.ReportMetric(float64(cStore.Nanoseconds())/float64(b.N), "store-cpu-ns/op")
					b.ReportMetric(float64(cRaw.Nanoseconds())/float64(b.N), "raw-cpu-ns/op")
				}
				s.Close()
			})
		}
	}
}

// BenchmarkRead measures sequential fetch throughput: Read of 1 MiB and
// copying every chunk out of the file (what a non-sendfile fetch does).
func BenchmarkRead(b *testing.B) {
	dir := b.TempDir()
	s, err := Open(Config{Dir: dir, Logger: zap.NewNop(), CheckpointInterval: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	p, _ := s.CreatePartition(tid(1), 0)
	batch := benchBatch(16 << 10)
	const n = 8192 // 128 MiB
	for i := 0; i < n; i++ {
		p.Append(batch, 0)
	}
	buf := make([]byte, 2<<20)
	b.SetBytes(int64(len(batch)) * n)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for off := int64(0); off < p.HighWatermark(); {
			res, err := p.Read(off, 1<<20)
			if err != nil {
				b.Fatal(err)
			}
			for _, c := range res.Chunks {
				if _, err := c.File.ReadAt(buf[:c.Len], c.Pos); err != nil {
					b.Fatal(err)
				}
				off = c.LastOffset + 1
			}
			res.Release()
		}
	}
}

// BenchmarkRecovery measures Open on a 1 GiB commit log: after a clean
// Close (checkpoint: no re-scan) and after a crash with no usable
// checkpoint (full validation and re-dispatch of the whole log).
//
//	go test ./storage -run NONE -bench BenchmarkRecovery -benchtime 3x
func BenchmarkRecovery(b *testing.B) {
	dir := b.TempDir()
	cfg := Config{Dir: dir, Logger: zap.NewNop(), CheckpointInterval: time.Hour}
	s, err := Open(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ps := make([]*Partition, 16)
	for i := range ps {
		ps[i], _ = s.CreatePartition(tid(1), int32(i))
	}
	batch := benchBatch(16 << 10)
	for i := 0; s.EndPosition() < 1<<30-(1<<20); i++ {
		if _, err := ps[i%16].Append(batch, 0); err != nil {
			b.Fatal(err)
		}
	}
	s.Close()
	b.Run("clean", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			s, err := Open(cfg)
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			s.Close()
			b.StartTimer()
		}
	})
	b.Run("crash-full-rescan", func(b *testing.B) {
		b.SetBytes(1 << 30)
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			os.Remove(filepath.Join(dir, checkpointName))
			b.StartTimer()
			s, err := Open(cfg)
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			if got := s.Partition(tid(1), 0).HighWatermark(); got == 0 {
				b.Fatal("nothing recovered")
			}
			s.Close()
			b.StartTimer()
		}
	})
}

// BenchmarkAppendSync measures sync-flush appends (acknowledged after
// fsync) from many concurrent producers sharing group commits.
func BenchmarkAppendSync(b *testing.B) {
	for _, writers := range []int{1, 64} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			s, err := Open(Config{Dir: b.TempDir(), Logger: zap.NewNop(), FlushMode: FlushSync, CheckpointInterval: time.Hour})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			ps := make([]*Partition, 16)
			for i := range ps {
				ps[i], _ = s.CreatePartition(tid(1), int32(i))
			}
			batch := benchBatch(4 << 10)
			b.SetBytes(int64(len(batch)))
			b.SetParallelism((writers + 1) / 2) // GOMAXPROCS is 2 here
			var next atomic.Int64
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				p := ps[next.Add(1)%16]
				for pb.Next() {
					if _, err := p.Append(batch, 0); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkAppendAcrossRolls measures per-append latency (p50, p99, p99.9,
// max) while small segments force a roll every 1 MiB: four producers
// append 4 KiB batches to their own partitions. A roll that creates,
// preallocates and fsyncs files under the writer lock shows up in p99.9.
//
//	go test ./storage -run NONE -bench BenchmarkAppendAcrossRolls -benchtime 10000x -count 4
func BenchmarkAppendAcrossRolls(b *testing.B) {
	for _, mode := range []FlushMode{FlushAsync, FlushSync} {
		name := map[FlushMode]string{FlushAsync: "async", FlushSync: "sync"}[mode]
		b.Run("flush="+name, func(b *testing.B) {
			s, err := Open(Config{Dir: b.TempDir(), Logger: zap.NewNop(), FlushMode: mode,
				SegmentBytes: 1 << 20, CheckpointInterval: time.Hour, RetentionInterval: time.Hour})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			const writers = 4
			ps := make([]*Partition, writers)
			for i := range ps {
				ps[i], _ = s.CreatePartition(tid(1), int32(i))
			}
			batch := benchBatch(4 << 10)
			lat := make([]time.Duration, b.N)
			var next atomic.Int64
			start := s.EndPosition()
			b.SetBytes(int64(len(batch)))
			b.ResetTimer()
			done := make(chan struct{})
			for w := 0; w < writers; w++ {
				go func() {
					defer func() { done <- struct{}{} }()
					for {
						i := next.Add(1) - 1
						if i >= int64(b.N) {
							return
						}
						t0 := time.Now()
						if _, err := ps[w].Append(batch, 0); err != nil {
							b.Error(err)
							return
						}
						lat[i] = time.Since(t0)
					}
				}()
			}
			for w := 0; w < writers; w++ {
				<-done
			}
			b.StopTimer()
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			q := func(f float64) float64 { return float64(lat[min(int(f*float64(len(lat))), len(lat)-1)].Microseconds()) }
			b.ReportMetric(q(0.5), "p50-µs")
			b.ReportMetric(q(0.99), "p99-µs")
			b.ReportMetric(q(0.999), "p99.9-µs")
			b.ReportMetric(q(1), "max-µs")
			b.ReportMetric(float64((s.EndPosition()-start)>>20), "rolls")
		})
	}
}

// BenchmarkReplicate measures the storage side of a slave's catch-up:
// ReadRaw of 1 MiB from a master holding 128 MiB of 16 KiB batches over 16
// partitions, AppendRaw into a new slave (async flush, its own dispatcher
// building consume queues), until it has the master's end; the rate is
// master bytes per second. The slave's segments are the master's size, or
// a different size (its segments then end where the master's pads say, or
// before an entry that does not fit). raw-MB/s is a plain file written
// with the same bytes in 1 MiB writes and fsynced, in the same run.
//
//	go test ./storage -run NONE -bench BenchmarkReplicate -benchtime 3x
func BenchmarkReplicate(b *testing.B) {
	mdir := b.TempDir()
	m, err := Open(Config{Dir: mdir, Logger: zap.NewNop(), SegmentBytes: 64 << 20, CheckpointInterval: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	ps := make([]*Partition, 16)
	for i := range ps {
		ps[i], _ = m.CreatePartition(tid(1), int32(i))
	}
	batch := benchBatch(16 << 10)
	for i := 0; m.EndPosition() < 128<<20; i++ {
		if _, err := ps[i%16].Append(batch, 0); err != nil {
			b.Fatal(err)
		}
	}
	end := m.EndPosition()
	// The disk's own pace in this run: the same bytes to a plain file in
	// 1 MiB writes, then fsync.
	raw := newRawFile(b, b.TempDir(), 1<<20)
	start := time.Now()
	raw.write(b, int(end>>20))
	raw.f.Sync()
	rawRate := float64(end>>20<<20) / time.Since(start).Seconds() / 1e6
	for _, seg := range []int64{64 << 20, 48 << 20} {
		b.Run(fmt.Sprintf("slaveSegment=%dMiB", seg>>20), func(b *testing.B) {
			b.SetBytes(end)
			var took time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				sl, err := Open(Config{Dir: b.TempDir(), Logger: zap.NewNop(), SegmentBytes: seg, CheckpointInterval: time.Hour})
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				start := time.Now()
				for pos := int64(0); pos < end; {
					data, err := m.ReadRaw(pos, 1<<20)
					if err != nil {
						b.Fatal(err)
					}
					if err := sl.AppendRaw(pos, data); err != nil {
						b.Fatal(err)
					}
					pos = sl.EndPosition()
				}
				sl.syncTo(sl.EndPosition())
				took += time.Since(start)
				b.StopTimer()
				if sl.EndPosition() != end {
					b.Fatalf("slave end %d, master %d", sl.EndPosition(), end)
				}
				sl.Close()
				b.StartTimer()
			}
			b.ReportMetric(rawRate, "raw-MB/s")
			b.ReportMetric(float64(end)*float64(b.N)/took.Seconds()/1e6/rawRate, "store/raw")
		})
	}
}

// BenchmarkReadTail is a caught-up consumer's read: the last batch, from
// the consume-queue entries still in memory (the tail). Each read used to
// copy the whole tail (up to a block of entries).
//
//	go test ./storage -run NONE -bench BenchmarkReadTail -benchmem
func BenchmarkReadTail(b *testing.B) {
	s, err := Open(Config{Dir: b.TempDir(), Logger: zap.NewNop(), CheckpointInterval: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	p, _ := s.CreatePartition(tid(1), 0)
	batch := benchBatch(1 << 10)
	for range cqBlock + cqBlock/2 - 1 { // half a block in the tail
		p.Append(batch, 0)
	}
	b.ResetTimer()
	for range b.N {
		res, err := p.Read(p.HighWatermark()-1, 1<<20)
		if err != nil || len(res.Chunks) != 1 {
			b.Fatal(err, len(res.Chunks))
		}
		res.Release()
	}
}
