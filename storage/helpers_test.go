package storage

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
)

// testRecord is one record of a test batch.
type testRecord struct {
	key, value []byte
	headers    [][2][]byte
	tsDelta    int64
}

// batchOpts are the header fields of a test batch.
type batchOpts struct {
	firstTs    int64
	producerID int64
	epoch      int16
	seq        int32
	attributes int16
}

// makeBatch encodes a Kafka v2 RecordBatch (uncompressed) with a correct
// CRC-32C, as a producer would send it (base offset 0, leader epoch -1).
func makeBatch(o batchOpts, recs ...testRecord) []byte {
	var body []byte
	maxTs := o.firstTs
	for i, r := range recs {
		var rec []byte
		rec = append(rec, 0)
		rec = binary.AppendVarint(rec, r.tsDelta)
		rec = binary.AppendVarint(rec, int64(i))
		if r.key == nil {
			rec = binary.AppendVarint(rec, -1)
		} else {
			rec = binary.AppendVarint(rec, int64(len(r.key)))
			rec = append(rec, r.key...)
		}
		rec = binary.AppendVarint(rec, int64(len(r.value)))
		rec = append(rec, r.value...)
		rec = binary.AppendVarint(rec, int64(len(r.headers)))
		for _, h := range r.headers {
			rec = binary.AppendVarint(rec, int64(len(h[0])))
			rec = append(rec, h[0]...)
			rec = binary.AppendVarint(rec, int64(len(h[1])))
			rec = append(rec, h[1]...)
		}
		body = binary.AppendVarint(body, int64(len(rec)))
		body = append(body, rec...)
		maxTs = max(maxTs, o.firstTs+r.tsDelta)
	}
	b := make([]byte, batchHeaderSize, batchHeaderSize+len(body))
	binary.BigEndian.PutUint64(b[0:], 0)
	binary.BigEndian.PutUint32(b[8:], uint32(batchHeaderSize+len(body)-12))
	binary.BigEndian.PutUint32(b[12:], 0xffffffff)
	b[16] = 2
	binary.BigEndian.PutUint16(b[21:], uint16(o.attributes))
	binary.BigEndian.PutUint32(b[23:], uint32(len(recs)-1))
	binary.BigEndian.PutUint64(b[27:], uint64(o.firstTs))
	binary.BigEndian.PutUint64(b[35:], uint64(maxTs))
	binary.BigEndian.PutUint64(b[43:], uint64(o.producerID))
	binary.BigEndian.PutUint16(b[51:], uint16(o.epoch))
	binary.BigEndian.PutUint32(b[53:], uint32(o.seq))
	binary.BigEndian.PutUint32(b[57:], uint32(len(recs)))
	b = append(b, body...)
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], castagnoli))
	return b
}

// simpleBatch has n records with values "<tag>-<i>" and keys "k<i>".
func simpleBatch(tag string, n int, ts int64) []byte {
	recs := make([]testRecord, n)
	for i := range recs {
		recs[i] = testRecord{key: fmt.Appendf(nil, "k%d", i), value: fmt.Appendf(nil, "%s-%d", tag, i), tsDelta: int64(i)}
	}
	return makeBatch(batchOpts{firstTs: ts, producerID: -1, epoch: -1, seq: -1}, recs...)
}

// decodedRecord is a record read back from a stored batch.
type decodedRecord struct {
	offset     int64
	ts         int64
	key, value string
	headers    []string
}

// decodeBatch parses a stored batch back into records, checking its CRC.
func decodeBatch(t testing.TB, b []byte) []decodedRecord {
	t.Helper()
	if !batchCRCOK(b) {
		t.Fatalf("stored batch has a bad CRC")
	}
	bi, err := parseBatch(b)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	base := int64(binary.BigEndian.Uint64(b[0:]))
	var out []decodedRecord
	p := b[batchHeaderSize:]
	rd := func() int64 {
		v, n := binary.Varint(p)
		if n <= 0 {
			t.Fatalf("bad varint")
		}
		p = p[n:]
		return v
	}
	str := func() string {
		l := rd()
		if l < 0 {
			return "<nil>"
		}
		s := string(p[:l])
		p = p[l:]
		return s
	}
	for i := int32(0); i < bi.recordCount; i++ {
		rd()
		p = p[1:]
		var r decodedRecord
		r.ts = bi.firstTs + rd()
		r.offset = base + rd()
		r.key = str()
		r.value = str()
		nh := rd()
		for j := int64(0); j < nh; j++ {
			r.headers = append(r.headers, str()+"="+str())
		}
		out = append(out, r)
	}
	return out
}

// readAll reads every record of p from offset, following the chunks.
func readAll(t testing.TB, p *Partition, from int64) []decodedRecord {
	t.Helper()
	var out []decodedRecord
	off := from
	for {
		res, err := p.Read(off, 1<<20)
		if err != nil {
			t.Fatalf("read at %d: %v", off, err)
		}
		if len(res.Chunks) == 0 {
			res.Release()
			return out
		}
		for _, c := range res.Chunks {
			buf := make([]byte, c.Len)
			if _, err := c.File.ReadAt(buf, c.Pos); err != nil {
				t.Fatalf("read chunk: %v", err)
			}
			for _, r := range decodeBatch(t, buf) {
				if r.offset >= off {
					out = append(out, r)
				}
			}
			off = c.LastOffset + 1
		}
		res.Release()
	}
}

func testConfig(t testing.TB, dir string) Config {
	return Config{
		Dir:                dir,
		SegmentBytes:       1 << 20,
		FlushInterval:      10 * time.Millisecond,
		CheckpointInterval: time.Hour,
		RetentionInterval:  time.Hour,
		Logger:             zaptest.NewLogger(t),
	}
}

func mustOpen(t testing.TB, cfg Config) *Store {
	t.Helper()
	s, err := Open(cfg)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return s
}

func tid(n byte) TopicID { return TopicID{n, 1, 2, 3} }
