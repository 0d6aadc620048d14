package broker

// Produce batch validation.
//
// A produced partition must hold exactly one Kafka v2 RecordBatch. The
// checks and the codes they give follow Kafka 4 (ProduceRequest.validateRecords,
// UnifiedLog.analyzeAndValidateRecords, LogValidator, DefaultRecord.readFrom):
//
//	no complete batch, or more than one          INVALID_RECORD
//	batch length under the v0 record overhead     CORRUPT_MESSAGE
//	magic outside 0..2                            CORRUPT_MESSAGE
//	magic 0 or 1                                  INVALID_RECORD
//	base offset not 0 (clients always send 0)     INVALID_RECORD
//	batch larger than max.message.bytes           MESSAGE_TOO_LARGE
//	shorter than the 61-byte v2 header, bad CRC   CORRUPT_MESSAGE
//	control batch, unknown codec, count mismatch  INVALID_RECORD
//	zstd in Produce before v7                     UNSUPPORTED_COMPRESSION_TYPE
//	transactional batch (no transactions yet)     INVALID_TXN_STATE
//	a record that does not parse, or bytes left   INVALID_RECORD
//	CreateTime timestamp more than message.timestamp.after.max.ms (default
//	1 h, Kafka 4) ahead or .before.max.ms behind  INVALID_TIMESTAMP
//
// The fields the broker owns (base offset, partition leader epoch) lie
// outside the CRC and are overwritten by the store, so any value the
// producer put there is accepted (sarama sends epoch 0).
//
// Compressed batches are stored exactly as sent (never recompressed).
// Kafka decompresses them to validate every record; gregor does the same
// (validateCompressed is always on in 00_produce.go) because a batch whose
// records do not parse would otherwise reach every consumer and fail there,
// where nothing can repair it. Decompression is capped (4 x
// socket.request.max.bytes) so a small "zip bomb" cannot exhaust memory.
//
// The cost, from BenchmarkValidateBatch (go test ./broker -run XXX -bench
// ValidateBatch -benchtime 300x -count 3) on this machine (2 cores shared
// with other jobs), 1 MiB batches of 1 KiB JSON-like records, MB/s of
// uncompressed record bytes, range of three runs:
//
//	codec    header+CRC only    full validation (decompress + walk records)
//	none     —                  8100–9300
//	gzip     650000+            1900–2100
//	snappy   230000+            4800–5200
//	lz4      690000+            2300–3200
//	zstd     470000+            3500–4100
//
// Header+CRC alone is nearly free (the CRC covers the small compressed
// bytes); full validation costs about 0.2–0.5 ms of one core per MiB
// produced, well below what the network and the fsync cost, so gregor
// pays it.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/twmb/franz-go/pkg/kerr"
)

// Offsets of the v2 RecordBatch header fields (frozen by the Kafka format).
const (
	bBaseOffset      = 0
	bLength          = 8
	bLeaderEpoch     = 12
	bMagic           = 16
	bCRC             = 17
	bAttributes      = 21
	bLastOffsetDelta = 23
	bBaseTimestamp   = 27
	bMaxTimestamp    = 35
	bProducerID      = 43
	bProducerEpoch   = 51
	bBaseSequence    = 53
	bRecordCount     = 57
	batchHeaderLen   = 61

	recordOverheadV0 = 14 // smallest legacy record; Kafka's first size check

	attrCodecMask     = 0x07
	attrLogAppendTime = 0x08
	attrTransactional = 0x10
	attrControl       = 0x20

	codecNone   = 0
	codecGzip   = 1
	codecSnappy = 2
	codecLZ4    = 3
	codecZstd   = 4
)

var crc32c = crc32.MakeTable(crc32.Castagnoli)

// batchError is a rejected batch: the Kafka code and a message for the
// response's ErrorMessage.
type batchError struct {
	code int16
	msg  string
}

func (e *batchError) Error() string { return e.msg }

func reject(code int16, format string, args ...any) *batchError {
	return &batchError{code: code, msg: fmt.Sprintf(format, args...)}
}

// batchLimits are the settings validation depends on.
type batchLimits struct {
	maxMessageBytes    int32
	produceVersion     int16
	validateCompressed bool
	// maxDecompressed caps what a compressed batch may inflate to, so a
	// small "zip bomb" cannot exhaust memory.
	maxDecompressed int
	// Timestamp bounds of a CreateTime topic (message.timestamp.before/
	// after.max.ms), checked against now for every record; zero
	// timestamps means no check (LogAppendTime topics).
	timestamps *timestampBounds
}

// timestampBounds is the window a CreateTime record timestamp must lie in.
type timestampBounds struct {
	now, beforeMax, afterMax int64
}

// errTimestamp carries an out-of-range record timestamp up from the walk.
type errTimestamp struct{ ts, offset int64 }

func (e *errTimestamp) Error() string {
	return fmt.Sprintf("timestamp %d of the record at offset delta %d is out of range", e.ts, e.offset)
}

// validateBatch checks one produced partition's records (see the file
// comment for the rules) and returns nil when the store may append it.
func validateBatch(b []byte, lim batchLimits) *batchError {
	if len(b) < 12 {
		return reject(kerr.InvalidRecord.Code, "produce requests with version %d must have at least one record batch per partition", lim.produceVersion)
	}
	length := int32(binary.BigEndian.Uint32(b[bLength:]))
	if length < recordOverheadV0 {
		return reject(kerr.CorruptMessage.Code, "record batch size %d is less than the minimum record overhead (%d)", length, recordOverheadV0)
	}
	if len(b) < bMagic+1 || int64(length)+12 > int64(len(b)) {
		return reject(kerr.InvalidRecord.Code, "produce requests with version %d must have at least one record batch per partition", lim.produceVersion)
	}
	switch magic := int8(b[bMagic]); {
	case magic < 0 || magic > 2:
		return reject(kerr.CorruptMessage.Code, "invalid magic byte %d", magic)
	case magic != 2:
		return reject(kerr.InvalidRecord.Code, "produce requests with version %d are only allowed to contain record batches with magic version 2", lim.produceVersion)
	}
	if int(length)+12 != len(b) {
		return reject(kerr.InvalidRecord.Code, "produce requests with version %d are only allowed to contain exactly one record batch per partition", lim.produceVersion)
	}
	if len(b) < batchHeaderLen {
		return reject(kerr.CorruptMessage.Code, "record batch is corrupt: size %d is smaller than the minimum allowed overhead %d", len(b), batchHeaderLen)
	}
	if base := int64(binary.BigEndian.Uint64(b[bBaseOffset:])); base != 0 {
		return reject(kerr.InvalidRecord.Code, "the baseOffset of the record batch should be 0, but it is %d", base)
	}
	if lim.maxMessageBytes > 0 && len(b) > int(lim.maxMessageBytes) {
		return reject(kerr.MessageTooLarge.Code, "the record batch is %d bytes, larger than max.message.bytes (%d)", len(b), lim.maxMessageBytes)
	}
	if stored, computed := binary.BigEndian.Uint32(b[bCRC:]), crc32.Checksum(b[bAttributes:], crc32c); stored != computed {
		return reject(kerr.CorruptMessage.Code, "record batch is corrupt: stored crc %d, computed crc %d", stored, computed)
	}
	attrs := binary.BigEndian.Uint16(b[bAttributes:])
	codec := attrs & attrCodecMask
	switch {
	case attrs&attrControl != 0:
		return reject(kerr.InvalidRecord.Code, "clients are not allowed to write control records")
	case codec > codecZstd:
		return reject(kerr.InvalidRecord.Code, "unknown compression type id %d", codec)
	case codec == codecZstd && lim.produceVersion < 7:
		return reject(kerr.UnsupportedCompressionType.Code, "produce requests before version 7 may not use zstd")
	case attrs&attrTransactional != 0:
		return reject(kerr.InvalidTxnState.Code, "transactional produce is not supported by gregor yet")
	}
	lastDelta := int32(binary.BigEndian.Uint32(b[bLastOffsetDelta:]))
	count := int32(binary.BigEndian.Uint32(b[bRecordCount:]))
	switch {
	case int64(lastDelta)+1 <= 0:
		return reject(kerr.InvalidRecord.Code, "batch has an invalid offset range: last offset delta %d", lastDelta)
	case count <= 0:
		return reject(kerr.InvalidRecord.Code, "invalid reported count for record batch: %d", count)
	case int64(count) != int64(lastDelta)+1:
		return reject(kerr.InvalidRecord.Code, "inconsistent batch offset range: %d records, last offset delta %d", count, lastDelta)
	}
	records := b[batchHeaderLen:]
	if codec != codecNone {
		if !lim.validateCompressed {
			return nil
		}
		bp := bufPool.Get().(*[]byte)
		var err error
		records, err = decompress(codec, records, (*bp)[:0], lim.maxDecompressed)
		defer func() {
			// Keep the grown buffer for the next batch, unless huge.
			if cap(records) <= 8<<20 && cap(records) > cap(*bp) {
				*bp = records[:0]
			}
			bufPool.Put(bp)
		}()
		if err != nil {
			return reject(kerr.InvalidRecord.Code, "decompressing record batch: %v", err)
		}
	}
	baseTS := int64(binary.BigEndian.Uint64(b[bBaseTimestamp:]))
	if err := walkRecords(records, count, baseTS, lim.timestamps); err != nil {
		var te *errTimestamp
		if errors.As(err, &te) {
			tb := lim.timestamps
			return reject(kerr.InvalidTimestamp.Code, "%v: it must be within [%d, %d]", err, tb.now-tb.beforeMax, tb.now+tb.afterMax)
		}
		return reject(kerr.InvalidRecord.Code, "%v", err)
	}
	return nil
}

// walkRecords checks that recs holds exactly count well-formed v2 records,
// and when tb is set that each timestamp (baseTS + delta; -1 means none)
// lies within tb.
func walkRecords(recs []byte, count int32, baseTS int64, tb *timestampBounds) error {
	for i := int32(0); i < count; i++ {
		size, n := binary.Varint(recs)
		if n <= 0 || size < 0 || size > int64(len(recs)-n) {
			return fmt.Errorf("record %d: incorrect declared size, premature end of batch", i)
		}
		rec := recs[n : n+int(size)]
		if err := checkRecord(rec); err != nil {
			return fmt.Errorf("record %d: %v", i, err)
		}
		if tb != nil {
			delta, _ := binary.Varint(rec[1:]) // checkRecord proved it parses
			ts := baseTS + delta
			if ts != -1 && (ts > tb.now && ts-tb.now > tb.afterMax || ts < tb.now && tb.now-ts > tb.beforeMax) {
				return &errTimestamp{ts: ts, offset: int64(i)}
			}
		}
		recs = recs[n+int(size):]
	}
	if len(recs) != 0 {
		return fmt.Errorf("incorrect declared batch size, %d bytes remain after %d records", len(recs), count)
	}
	return nil
}

// checkRecord parses one record body (attributes, timestamp delta, offset
// delta, key, value, headers) and requires it to fill rec exactly.
func checkRecord(rec []byte) error {
	if len(rec) < 1 {
		return errors.New("empty record")
	}
	r := rec[1:] // attributes: unused, any value
	var ok bool
	if r, ok = skipVarint(r, 1<<63-1); !ok {
		return errors.New("bad timestamp delta")
	}
	if r, ok = skipVarint(r, 1<<31-1); !ok {
		return errors.New("bad offset delta")
	}
	if r, ok = skipField(r, true); !ok {
		return errors.New("bad key")
	}
	if r, ok = skipField(r, true); !ok {
		return errors.New("bad value")
	}
	nh, n := binary.Varint(r)
	if n <= 0 || nh < 0 || nh > 1<<31-1 {
		return errors.New("bad header count")
	}
	r = r[n:]
	for h := int64(0); h < nh; h++ {
		if r, ok = skipField(r, false); !ok {
			return fmt.Errorf("header %d: bad key", h)
		}
		if r, ok = skipField(r, true); !ok {
			return fmt.Errorf("header %d: bad value", h)
		}
	}
	if len(r) != 0 {
		return fmt.Errorf("%d bytes left over in record", len(r))
	}
	return nil
}

// skipVarint skips a zigzag varint whose value lies within ±max.
func skipVarint(r []byte, max int64) ([]byte, bool) {
	v, n := binary.Varint(r)
	if n <= 0 || v > max || v < -max-1 {
		return r, false
	}
	return r[n:], true
}

// skipField skips a varint-length-prefixed byte string; -1 is null, which
// only nullable fields may be.
func skipField(r []byte, nullable bool) ([]byte, bool) {
	l, n := binary.Varint(r)
	if n <= 0 || l < -1 || l > int64(len(r)-n) || (l == -1 && !nullable) {
		return r, false
	}
	if l < 0 {
		return r[n:], true
	}
	return r[n+int(l):], true
}

// bufPool holds decompression buffers.
var bufPool = sync.Pool{New: func() any { return new([]byte) }}

var (
	zstdOnce sync.Once
	zstdDec  *zstd.Decoder
)

// decompressRecords is storage.Config.Decompress: a fresh slice the store
// may keep, capped like a produced batch.
func decompressRecords(codec int8, records []byte) ([]byte, error) {
	return decompress(uint16(codec), records, nil, 256<<20)
}

// xerialMagic starts snappy data framed the way the Java client frames it.
var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

// errTooBig reports a batch that inflates past the cap.
var errTooBig = errors.New("decompressed size exceeds the limit")

// decompress inflates a compressed records section, appending to dst.
func decompress(codec uint16, src []byte, dst []byte, max int) ([]byte, error) {
	if max <= 0 {
		max = 256 << 20
	}
	var r io.Reader
	switch codec {
	case codecGzip:
		zr, err := gzip.NewReader(bytes.NewReader(src))
		if err != nil {
			return nil, err
		}
		r = zr
	case codecLZ4:
		r = lz4.NewReader(bytes.NewReader(src))
	case codecZstd:
		zstdOnce.Do(func() {
			zstdDec, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(1<<30))
		})
		out, err := zstdDec.DecodeAll(src, dst)
		if err != nil {
			return nil, err
		}
		if len(out) > max {
			return nil, errTooBig
		}
		return out, nil
	case codecSnappy:
		return unsnappy(src, dst, max)
	default:
		return nil, fmt.Errorf("unknown codec %d", codec)
	}
	buf := bytes.NewBuffer(dst)
	n, err := buf.ReadFrom(io.LimitReader(r, int64(max)+1))
	if err != nil {
		return nil, err
	}
	if n > int64(max) {
		return nil, errTooBig
	}
	return buf.Bytes(), nil
}

// unsnappy decodes raw snappy or the xerial framing (magic, version,
// compatible version, then length-prefixed snappy blocks).
func unsnappy(src []byte, dst []byte, max int) ([]byte, error) {
	if !bytes.HasPrefix(src, xerialMagic) {
		n, err := snappy.DecodedLen(src)
		if err != nil {
			return nil, err
		}
		if n > max {
			return nil, errTooBig
		}
		return snappy.Decode(dst[:cap(dst)], src)
	}
	if len(src) < 16 {
		return nil, errors.New("short xerial snappy header")
	}
	src = src[16:]
	out := dst
	for len(src) > 0 {
		if len(src) < 4 {
			return nil, errors.New("truncated xerial snappy chunk")
		}
		l := binary.BigEndian.Uint32(src)
		src = src[4:]
		if uint64(l) > uint64(len(src)) {
			return nil, errors.New("xerial snappy chunk past the end")
		}
		n, err := snappy.DecodedLen(src[:l])
		if err != nil {
			return nil, err
		}
		if len(out)+n > max {
			return nil, errTooBig
		}
		start := len(out)
		out = slices.Grow(out, n)[:start+n]
		if _, err := snappy.Decode(out[start:], src[:l]); err != nil {
			return nil, err
		}
		src = src[l:]
	}
	return out, nil
}
