package broker

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"io"
	"runtime"
	rtmetrics "runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/twmb/franz-go/pkg/kerr"
)

// bombBatch is a batch of one record whose value is n zero bytes, its
// records section compressed with codec as it is produced (the plain
// records never exist in memory).
func bombBatch(t testing.TB, codec uint16, xerial bool, n int) []byte {
	t.Helper()
	var head []byte
	head = append(head, 0)               // attributes
	head = binary.AppendVarint(head, 0)  // timestamp delta
	head = binary.AppendVarint(head, 0)  // offset delta
	head = binary.AppendVarint(head, -1) // null key
	head = binary.AppendVarint(head, int64(n))
	tail := binary.AppendVarint(nil, 0) // no headers
	size := len(head) + n + len(tail)
	plain := io.MultiReader(bytes.NewReader(binary.AppendVarint(nil, int64(size))), bytes.NewReader(head),
		io.LimitReader(zeroReader{}, int64(n)), bytes.NewReader(tail))

	var z bytes.Buffer
	switch codec {
	case codecGzip:
		w, _ := gzip.NewWriterLevel(&z, gzip.BestCompression)
		io.Copy(w, plain)
		w.Close()
	case codecLZ4:
		w := lz4.NewWriter(&z)
		io.CopyBuffer(struct{ io.Writer }{w}, plain, make([]byte, 1<<20))
		w.Close()
	case codecZstd:
		w, _ := zstd.NewWriter(&z, zstd.WithWindowSize(1<<20))
		io.Copy(w, plain)
		w.Close()
	case codecSnappy:
		all, _ := io.ReadAll(plain)
		if !xerial {
			z.Write(s2.EncodeSnappy(nil, all))
			break
		}
		z.Write(xerialMagic)
		z.Write([]byte{0, 0, 0, 1, 0, 0, 0, 1})
		for len(all) > 0 {
			c := all[:min(len(all), 32<<10)]
			all = all[len(c):]
			block := s2.EncodeSnappy(nil, c)
			z.Write(binary.BigEndian.AppendUint32(nil, uint32(len(block))))
			z.Write(block)
		}
	}
	hdr := coreBatch(1, -1, -1, -1, coreRecord{})[:batchHeaderLen]
	b := append(append([]byte(nil), hdr...), z.Bytes()...)
	binary.BigEndian.PutUint32(b[bLength:], uint32(len(b)-12))
	binary.BigEndian.PutUint16(b[bAttributes:], binary.BigEndian.Uint16(b[bAttributes:])|codec)
	binary.BigEndian.PutUint32(b[bCRC:], crc32.Checksum(b[bAttributes:], crc32c))
	return b
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// heapPeak samples the live heap every millisecond until stop is closed and
// returns the largest value seen.
func heapPeak(stop chan struct{}) func() uint64 {
	var peak atomic.Uint64
	done := make(chan struct{})
	go func() {
		defer close(done)
		s := []rtmetrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		tk := time.NewTicker(time.Millisecond)
		defer tk.Stop()
		for {
			rtmetrics.Read(s)
			if v := s[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-stop:
				return
			case <-tk.C:
			}
		}
	}()
	return func() uint64 { <-done; return peak.Load() }
}

// A hostile batch of each codec, its records inflating far past the cap
// (a few KiB to a few MiB that inflate to 64 MiB of one zero-filled
// record), is refused with MESSAGE_TOO_LARGE at a bounded cost: validation
// streams the records through a 64 KiB window and stops at the cap, so the
// bytes allocated per batch do not grow with what the batch inflates to,
// and 32 such batches validated at once keep the live heap within a bound
// (at most GOMAXPROCS decompress at a time). Before, each batch inflated
// whole into memory (up to 4 x socket.request.max.bytes).
func TestCoreCompressedBombsBoundedMemory(t *testing.T) {
	const (
		inflated = 64 << 20
		capBytes = 8 << 20 // 100 MiB by default (socket.request.max.bytes)
		parallel = 32
		rounds   = 1
	)
	lim := batchLimits{maxMessageBytes: 16 << 20, produceVersion: 9, validateCompressed: true, maxDecompressed: capBytes}
	for _, c := range []struct {
		name   string
		codec  uint16
		xerial bool
		perOp  uint64 // bytes allocated per validation at most
	}{
		{"gzip", codecGzip, false, 256 << 10},
		{"lz4", codecLZ4, false, 2 << 20}, // a block buffer of up to 4 MiB, pooled
		{"zstd", codecZstd, false, 256 << 10},
		{"snappy-xerial", codecSnappy, true, 256 << 10},
		// Raw snappy is one block whose output the format needs whole;
		// its declared length is refused beyond the cap before any
		// allocation.
		{"snappy-raw", codecSnappy, false, 256 << 10},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := bombBatch(t, c.codec, c.xerial, inflated)
			if err := validateBatch(b, lim); err == nil || err.code != kerr.MessageTooLarge.Code {
				t.Fatalf("bomb of %d bytes: %v, want MESSAGE_TOO_LARGE", len(b), err)
			}
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			stop := make(chan struct{})
			peak := heapPeak(stop)
			var wg sync.WaitGroup
			for range parallel {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range rounds {
						if err := validateBatch(b, lim); err == nil || err.code != kerr.MessageTooLarge.Code {
							t.Errorf("bomb: %v", err)
						}
					}
				}()
			}
			wg.Wait()
			close(stop)
			runtime.ReadMemStats(&after)
			p := peak()
			perOp := (after.TotalAlloc - before.TotalAlloc) / (parallel * rounds)
			live := int64(p) - int64(before.HeapAlloc)
			t.Logf("%s: %d KiB batch inflating to %d MiB: %d KiB allocated per validation, live heap +%d KiB at peak with %d at once",
				c.name, len(b)>>10, inflated>>20, perOp>>10, live>>10, parallel)
			if perOp > c.perOp {
				t.Errorf("%d KiB allocated per validation, want at most %d KiB", perOp>>10, c.perOp>>10)
			}
			if limit := int64(runtime.GOMAXPROCS(0))*(16<<20) + 32<<20; live > limit {
				t.Errorf("live heap grew by %d MiB with %d bombs at once, want at most %d MiB", live>>20, parallel, limit>>20)
			}
		})
	}
}

// zstd frames whose header asks for a huge window (2 GiB), or a single
// segment of 1 GiB (its window is the whole content), are refused before
// the decoder allocates it.
func TestCoreZstdHostileWindow(t *testing.T) {
	hdr := coreBatch(1, -1, -1, -1, coreRecord{})[:batchHeaderLen]
	lastRawEmpty := []byte{0x01, 0, 0}
	for _, c := range []struct {
		name  string
		frame []byte
	}{
		{"window 2 GiB", append([]byte{0x28, 0xB5, 0x2F, 0xFD, 0x00, 21 << 3}, lastRawEmpty...)},
		{"single segment 1 GiB", append([]byte{0x28, 0xB5, 0x2F, 0xFD, 0xE0, 0, 0, 0, 0x40, 0, 0, 0, 0}, lastRawEmpty...)},
	} {
		b := append(append([]byte(nil), hdr...), c.frame...)
		binary.BigEndian.PutUint32(b[bLength:], uint32(len(b)-12))
		binary.BigEndian.PutUint16(b[bAttributes:], binary.BigEndian.Uint16(b[bAttributes:])|codecZstd)
		binary.BigEndian.PutUint32(b[bCRC:], crc32.Checksum(b[bAttributes:], crc32c))
		lim := batchLimits{maxMessageBytes: 1 << 20, produceVersion: 9, validateCompressed: true, maxDecompressed: 100 << 20}
		err := validateBatch(b, lim)
		if err == nil || err.code != kerr.MessageTooLarge.Code {
			t.Fatalf("%s: %v, want MESSAGE_TOO_LARGE", c.name, err)
		}
		const runs = 100
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range runs {
			validateBatch(b, lim)
		}
		runtime.ReadMemStats(&after)
		if per := (after.TotalAlloc - before.TotalAlloc) / runs; per > 64<<10 {
			t.Fatalf("%s: %d bytes allocated per validation", c.name, per)
		} else {
			t.Logf("%s: %v; %d bytes allocated per validation", c.name, err, per)
		}
	}
}
