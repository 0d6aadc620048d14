package broker

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/twmb/franz-go/pkg/kerr"
)

// compressBatch re-encodes an uncompressed batch's records with codec.
func compressBatch(t testing.TB, plain []byte, codec uint16, xerial bool) []byte {
	t.Helper()
	recs := plain[batchHeaderLen:]
	var z []byte
	switch codec {
	case codecGzip:
		var buf bytes.Buffer
		w := gzip.NewWriter(&buf)
		w.Write(recs)
		w.Close()
		z = buf.Bytes()
	case codecSnappy:
		block := s2.EncodeSnappy(nil, recs)
		if !xerial {
			z = block
			break
		}
		z = append(append([]byte(nil), xerialMagic...), 0, 0, 0, 1, 0, 0, 0, 1)
		z = binary.BigEndian.AppendUint32(z, uint32(len(block)))
		z = append(z, block...)
	case codecLZ4:
		var buf bytes.Buffer
		w := lz4.NewWriter(&buf)
		w.Write(recs)
		w.Close()
		z = buf.Bytes()
	case codecZstd:
		enc, _ := zstd.NewWriter(nil)
		z = enc.EncodeAll(recs, nil)
	}
	b := append(append([]byte(nil), plain[:batchHeaderLen]...), z...)
	binary.BigEndian.PutUint32(b[bLength:], uint32(len(b)-12))
	attrs := binary.BigEndian.Uint16(b[bAttributes:])
	binary.BigEndian.PutUint16(b[bAttributes:], attrs|codec)
	binary.BigEndian.PutUint32(b[bCRC:], crc32.Checksum(b[bAttributes:], crc32c))
	return b
}

var testLimits = batchLimits{maxMessageBytes: 10 << 20, produceVersion: 9, validateCompressed: true}

// Compressed batches are decompressed and their records checked: valid
// ones pass for every codec (snappy raw and xerial-framed), and a batch
// whose compressed records are broken is INVALID_RECORD.
func TestCoreValidateCompressed(t *testing.T) {
	plain := coreBatch(1, -1, -1, -1, coreRecs(50, "compressed")...)
	if err := validateBatch(plain, testLimits); err != nil {
		t.Fatalf("plain: %v", err)
	}
	for _, c := range []struct {
		name   string
		codec  uint16
		xerial bool
	}{{"gzip", codecGzip, false}, {"snappy", codecSnappy, false}, {"snappy-xerial", codecSnappy, true}, {"lz4", codecLZ4, false}, {"zstd", codecZstd, false}} {
		t.Run(c.name, func(t *testing.T) {
			b := compressBatch(t, plain, c.codec, c.xerial)
			if err := validateBatch(b, testLimits); err != nil {
				t.Fatalf("valid batch rejected: %v", err)
			}
			// Records that do not fill the count: one record fewer.
			short := append([]byte(nil), plain...)
			binary.BigEndian.PutUint32(short[bRecordCount:], 51)
			binary.BigEndian.PutUint32(short[bLastOffsetDelta:], 50)
			b = compressBatch(t, short, c.codec, c.xerial)
			if err := validateBatch(b, testLimits); err == nil || err.code != kerr.InvalidRecord.Code {
				t.Fatalf("short records: %v", err)
			}
			// Garbage instead of compressed data.
			b = compressBatch(t, plain, c.codec, c.xerial)
			for i := batchHeaderLen; i < len(b); i++ {
				b[i] = 0xA5
			}
			binary.BigEndian.PutUint32(b[bCRC:], crc32.Checksum(b[bAttributes:], crc32c))
			if err := validateBatch(b, testLimits); err == nil || err.code != kerr.InvalidRecord.Code {
				t.Fatalf("garbage: %v", err)
			}
			// Without decompression the garbage is only header-checked.
			lim := testLimits
			lim.validateCompressed = false
			if err := validateBatch(b, lim); err != nil {
				t.Fatalf("header-only validation: %v", err)
			}
		})
	}
	// A zip bomb beyond the cap is refused as too large.
	bomb := coreBatch(1, -1, -1, -1, coreRecord{value: make([]byte, 4<<20)})
	lim := testLimits
	lim.maxDecompressed = 1 << 20
	for _, codec := range []uint16{codecGzip, codecSnappy, codecLZ4, codecZstd} {
		if err := validateBatch(compressBatch(t, bomb, codec, false), lim); err == nil || err.code != kerr.MessageTooLarge.Code {
			t.Fatalf("codec %d bomb: %v", codec, err)
		}
	}
}

// Records with every optional shape: null key, null value, headers with a
// null value, negative timestamp deltas.
func TestCoreValidateRecordShapes(t *testing.T) {
	b := coreBatch(1000, -1, -1, -1,
		coreRecord{key: nil, value: nil},
		coreRecord{key: []byte{}, value: []byte{}, tsDelta: -5, headers: [][2]string{{"a", ""}, {"", "b"}}},
	)
	if err := validateBatch(b, testLimits); err != nil {
		t.Fatal(err)
	}
	// A header with a null key is invalid.
	rec := []byte{0, 0, 0, 1, 'k', 1, 'v', 1, 1 /* key len -1 */, 0}
	rec = append(binary.AppendVarint(nil, int64(len(rec))), rec...)
	if err := walkRecords(&recordReader{buf: rec}, 1, 0, nil); err == nil {
		t.Fatal("null header key accepted")
	}
}

// FuzzValidateBatch: any bytes give nil or a rejection with a Kafka code,
// never a panic; the seed corpus holds real batches kgo produced
// (testdata/fuzz/batches, see TestCoreCaptureRequests) and mutations.
func FuzzValidateBatch(f *testing.F) {
	plain := coreBatch(1, 7, 0, 0, coreRecs(5, "fuzz")...)
	f.Add(plain)
	f.Add(compressBatch(f, plain, codecGzip, false))
	f.Add(compressBatch(f, plain, codecSnappy, true))
	f.Add(compressBatch(f, plain, codecLZ4, false))
	f.Add(compressBatch(f, plain, codecZstd, false))
	seeds, _ := filepath.Glob(filepath.Join("testdata", "fuzz", "batches", "*.bin"))
	for _, s := range seeds {
		if b, err := os.ReadFile(s); err == nil {
			f.Add(b)
		}
	}
	lim := testLimits
	lim.maxDecompressed = 1 << 20
	f.Fuzz(func(t *testing.T, b []byte) {
		err := validateBatch(b, lim)
		if err == nil {
			return
		}
		switch err.code {
		case kerr.InvalidRecord.Code, kerr.CorruptMessage.Code, kerr.MessageTooLarge.Code,
			kerr.UnsupportedCompressionType.Code, kerr.InvalidTxnState.Code:
		default:
			t.Fatalf("unexpected code %d: %v", err.code, err)
		}
	})
}

// BenchmarkValidateBatch measures validation of a 1 MiB batch of 1 KiB
// text-like records: header+CRC only, and full validation (decompressing
// compressed batches) for each codec. The numbers are in batch.go.
func BenchmarkValidateBatch(b *testing.B) {
	var recs []coreRecord
	size := 0
	for i := 0; size < 1<<20; i++ {
		v := []byte(fmt.Sprintf("%08d {\"user\":\"u%d\",\"event\":\"click\",\"page\":\"/products/%d\",\"pad\":\"", i, i%977, i%131))
		for len(v) < 1020 {
			v = append(v, byte('a'+len(v)%26))
		}
		v = append(v, "\"}"...)
		recs = append(recs, coreRecord{key: []byte(fmt.Sprint(i)), value: v})
		size += len(v)
	}
	plain := coreBatch(1, -1, -1, -1, recs...)
	for _, c := range []struct {
		name  string
		codec uint16
	}{{"none", codecNone}, {"gzip", codecGzip}, {"snappy", codecSnappy}, {"lz4", codecLZ4}, {"zstd", codecZstd}} {
		batch := plain
		if c.codec != codecNone {
			batch = compressBatch(b, plain, c.codec, true)
		}
		for _, full := range []bool{false, true} {
			mode := "header+crc"
			if full {
				mode = "full"
			}
			if c.codec == codecNone && !full {
				continue
			}
			b.Run(c.name+"/"+mode, func(b *testing.B) {
				lim := testLimits
				lim.validateCompressed = full
				// Bytes of records validated, so codecs compare per
				// uncompressed byte.
				b.SetBytes(int64(len(plain)))
				b.ReportAllocs()
				for i := 0; i < b.N; i++ {
					if err := validateBatch(batch, lim); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// max.decompressed.message.bytes bounds each record of a compressed batch
// after decompression; an uncompressed batch is bounded by max.message.bytes.
func TestMaxDecompressedRecordBytes(t *testing.T) {
	plain := coreBatch(1000, -1, -1, -1, coreRecord{value: []byte("small")}, coreRecord{value: bytes.Repeat([]byte("z"), 500)})
	lim := testLimits
	lim.maxRecordBytes = 100
	if err := validateBatch(plain, lim); err != nil {
		t.Fatalf("uncompressed batch: %v", err)
	}
	for _, codec := range []uint16{codecGzip, codecLZ4, codecZstd} {
		b := compressBatch(t, plain, codec, false)
		err := validateBatch(b, lim)
		if err == nil || err.code != kerr.InvalidRecord.Code || !strings.Contains(err.msg, "max.decompressed.message.bytes") {
			t.Fatalf("codec %d, a 500-byte record with a 100-byte limit: %+v, want INVALID_RECORD naming the setting", codec, err)
		}
		lim2 := lim
		lim2.maxRecordBytes = 1000
		if err := validateBatch(b, lim2); err != nil {
			t.Fatalf("codec %d under the limit: %v", codec, err)
		}
	}
}

// validateBatchMaxTs finds what the store's consume queue needs and would
// otherwise walk the records again for: the offset delta of the first
// record holding the batch's max timestamp (the last offset delta when the
// header names a max no record holds); -1 for compressed records.
func TestValidateBatchMaxTimestampDelta(t *testing.T) {
	for _, c := range []struct {
		deltas []int64
		want   int32
	}{
		{[]int64{0}, 0},
		{[]int64{0, 5, 3}, 1},
		{[]int64{0, 5, 5, 2}, 1},
		{[]int64{2, 1, 0}, 0},
		{[]int64{0, 1, 2, 3}, 3},
		{[]int64{3, 3, 3}, 0},
	} {
		recs := make([]coreRecord, len(c.deltas))
		for i, d := range c.deltas {
			recs[i] = coreRecord{value: []byte("v"), tsDelta: d}
		}
		b := coreBatch(time.Now().UnixMilli(), -1, -1, -1, recs...)
		got, err := validateBatchMaxTs(b, testLimits)
		if err != nil || got != c.want {
			t.Fatalf("timestamp deltas %v: max-timestamp delta %d (%v), want %d", c.deltas, got, err, c.want)
		}
	}
	recs := []coreRecord{{value: []byte("a"), tsDelta: 0}, {value: []byte("b"), tsDelta: 4}, {value: []byte("c"), tsDelta: 1}}
	b := coreBatch(time.Now().UnixMilli(), -1, -1, -1, recs...)
	// A header max timestamp no record holds: the last offset delta, as
	// the store's own walk gives.
	binary.BigEndian.PutUint64(b[bMaxTimestamp:], binary.BigEndian.Uint64(b[bMaxTimestamp:])+1)
	binary.BigEndian.PutUint32(b[bCRC:], crc32.Checksum(b[bAttributes:], crc32c))
	if got, err := validateBatchMaxTs(b, testLimits); err != nil || got != 2 {
		t.Fatalf("max timestamp held by no record: %d (%v), want 2", got, err)
	}
	if got, err := validateBatchMaxTs(compressBatch(t, coreBatch(time.Now().UnixMilli(), -1, -1, -1, recs...), codecLZ4, false), testLimits); err != nil || got != -1 {
		t.Fatalf("compressed: %d (%v), want -1", got, err)
	}
}
