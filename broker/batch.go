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
//	a record that does not parse, or bytes left   INVALID_RECORD
//	compressed records that do not decode         INVALID_RECORD (Kafka 4.1:
//	                                              UNKNOWN_SERVER_ERROR)
//	records inflating past socket.request.max.bytes, a zstd window over
//	8 MiB                                         MESSAGE_TOO_LARGE (gregor's
//	                                              limits; Kafka has none)
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
// where nothing can repair it. Unlike Kafka (which stores a batch of any
// inflated size: 200 MiB of zeros in a 200 KiB gzip batch is accepted by
// Kafka 4.1.1), the records may inflate to at most socket.request.max.bytes
// (what one request could have carried uncompressed); more is refused with
// MESSAGE_TOO_LARGE. Validation streams: the records are read from the
// decompressor through a 64 KiB window, never inflated whole, so the memory
// a batch costs does not depend on what it inflates to (the codecs' own
// state is listed at recordWindow below), and at most GOMAXPROCS batches
// decompress at once however many requests arrive together
// (TestCoreCompressedBombsBoundedMemory: a 63 KiB gzip batch inflating to
// 64 MiB costs 4 KiB per validation; the whole-buffer version it replaced
// cost 32 MiB, and 32 at once grew the heap by 506 MiB).
//
// The cost, from BenchmarkValidateBatch (go test ./broker -run XXX -bench
// ValidateBatch -benchtime 300x -count 3) on this machine (2 cores shared
// with other jobs), 1 MiB batches of 1 KiB JSON-like records, MB/s of
// uncompressed record bytes, range of three runs (measured before the
// streaming rewrite; after it, the best of 2-4 runs on a machine busy with
// other tests was none 6050, gzip 1030, snappy 3570, lz4 3080, zstd 2210,
// the old code's best in the same minutes none 6470, gzip 1530, snappy 2860,
// lz4 1650, zstd 3370: within the noise):
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
	"runtime"
	"strings"
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
	// records are the indexes of the records at fault, each with
	// recordMsg (the response's per-record errors, v8+).
	records   []int32
	recordMsg string
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
	// maxRecordBytes caps each record of a compressed batch, decompressed
	// (the topic's max.decompressed.message.bytes, Kafka 4.4); 0 is none.
	maxRecordBytes int64
	// Timestamp bounds of a CreateTime topic (message.timestamp.before/
	// after.max.ms), checked against now for every record; zero
	// timestamps means no check (LogAppendTime topics).
	timestamps *timestampBounds
	// compactedTP names the partition ("topic-N") of a compacted topic,
	// whose records must have keys; "" for any other topic.
	compactedTP string
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
	_, berr := validateBatchMaxTs(b, lim)
	return berr
}

// validateBatchMaxTs is validateBatch that also returns, for a valid
// uncompressed batch, the offset delta of the first record whose timestamp
// is the header's max timestamp (the last offset delta when none is): the
// consume-queue field the store would otherwise find by walking the
// records a second time, by then out of the cache
// (storage.BatchAppend.MaxTimestampDelta). -1 when not known (compressed
// records, or the batch is refused).
func validateBatchMaxTs(b []byte, lim batchLimits) (int32, *batchError) {
	if len(b) < 12 {
		return -1, reject(kerr.InvalidRecord.Code, "produce requests with version %d must have at least one record batch per partition", lim.produceVersion)
	}
	length := int32(binary.BigEndian.Uint32(b[bLength:]))
	if length < recordOverheadV0 {
		return -1, reject(kerr.CorruptMessage.Code, "record batch size %d is less than the minimum record overhead (%d)", length, recordOverheadV0)
	}
	if len(b) < bMagic+1 || int64(length)+12 > int64(len(b)) {
		return -1, reject(kerr.InvalidRecord.Code, "produce requests with version %d must have at least one record batch per partition", lim.produceVersion)
	}
	switch magic := int8(b[bMagic]); {
	case magic < 0 || magic > 2:
		return -1, reject(kerr.CorruptMessage.Code, "invalid magic byte %d", magic)
	case magic != 2:
		return -1, reject(kerr.InvalidRecord.Code, "produce requests with version %d are only allowed to contain record batches with magic version 2", lim.produceVersion)
	}
	if int(length)+12 != len(b) {
		return -1, reject(kerr.InvalidRecord.Code, "produce requests with version %d are only allowed to contain exactly one record batch per partition", lim.produceVersion)
	}
	if len(b) < batchHeaderLen {
		return -1, reject(kerr.CorruptMessage.Code, "record batch is corrupt: size %d is smaller than the minimum allowed overhead %d", len(b), batchHeaderLen)
	}
	if base := int64(binary.BigEndian.Uint64(b[bBaseOffset:])); base != 0 {
		return -1, reject(kerr.InvalidRecord.Code, "the baseOffset of the record batch should be 0, but it is %d", base)
	}
	if lim.maxMessageBytes > 0 && len(b) > int(lim.maxMessageBytes) {
		return -1, reject(kerr.MessageTooLarge.Code, "the record batch is %d bytes, larger than max.message.bytes (%d)", len(b), lim.maxMessageBytes)
	}
	if stored, computed := binary.BigEndian.Uint32(b[bCRC:]), crc32.Checksum(b[bAttributes:], crc32c); stored != computed {
		return -1, reject(kerr.CorruptMessage.Code, "record batch is corrupt: stored crc %d, computed crc %d", stored, computed)
	}
	attrs := binary.BigEndian.Uint16(b[bAttributes:])
	codec := attrs & attrCodecMask
	switch {
	case attrs&attrControl != 0:
		return -1, reject(kerr.InvalidRecord.Code, "clients are not allowed to write control records")
	case codec > codecZstd:
		return -1, reject(kerr.InvalidRecord.Code, "unknown compression type id %d", codec)
	case codec == codecZstd && lim.produceVersion < 7:
		return -1, reject(kerr.UnsupportedCompressionType.Code, "produce requests before version 7 may not use zstd")
	}
	lastDelta := int32(binary.BigEndian.Uint32(b[bLastOffsetDelta:]))
	count := int32(binary.BigEndian.Uint32(b[bRecordCount:]))
	switch {
	case int64(lastDelta)+1 <= 0:
		return -1, reject(kerr.InvalidRecord.Code, "batch has an invalid offset range: last offset delta %d", lastDelta)
	case count <= 0:
		return -1, reject(kerr.InvalidRecord.Code, "invalid reported count for record batch: %d", count)
	case int64(count) != int64(lastDelta)+1:
		return -1, reject(kerr.InvalidRecord.Code, "inconsistent batch offset range: %d records, last offset delta %d", count, lastDelta)
	}
	baseTS := int64(binary.BigEndian.Uint64(b[bBaseTimestamp:]))
	var rr recordReader
	if codec == codecNone {
		rr.buf = b[batchHeaderLen:]
		rr.maxTS, rr.maxTSDelta = int64(binary.BigEndian.Uint64(b[bMaxTimestamp:])), -1
	} else {
		if !lim.validateCompressed {
			return -1, nil
		}
		// Decompression is CPU-bound: more at once than there are cores
		// gains nothing and would multiply the memory below.
		decompressSlots <- struct{}{}
		defer func() { <-decompressSlots }()
		limit := lim.maxDecompressed
		if limit <= 0 {
			limit = defaultRequestMaxBytes
		}
		src, release, err := openCodec(codec, b[batchHeaderLen:], limit)
		if err != nil {
			return -1, decompressError(err)
		}
		defer release()
		win := windowPool.Get().(*[]byte)
		defer windowPool.Put(win)
		rr.src, rr.win, rr.max = src, *win, int64(limit)
		rr.maxRecord = lim.maxRecordBytes
	}
	if err := walkRecords(&rr, count, baseTS, lim.timestamps); err != nil {
		var te *errTimestamp
		switch {
		case rr.err != nil && !errors.Is(rr.err, io.EOF):
			return -1, decompressError(rr.err)
		case errors.As(err, &te):
			tb := lim.timestamps
			return -1, reject(kerr.InvalidTimestamp.Code, "%v: it must be within [%d, %d]", err, tb.now-tb.beforeMax, tb.now+tb.afterMax)
		}
		return -1, reject(kerr.InvalidRecord.Code, "%v", err)
	}
	if lim.compactedTP != "" && len(rr.keyless) > 0 {
		return -1, keylessError(lim.compactedTP, rr.keyless)
	}
	if codec != codecNone {
		return -1, nil
	}
	if rr.maxTSDelta < 0 {
		return lastDelta, nil // no record holds the header's max timestamp
	}
	return int32(rr.maxTSDelta), nil
}

// keylessError is Kafka 4's answer to records without a key on a
// compacted topic (LogValidator.validateKey): INVALID_RECORD, one record
// error per keyless record, and a message quoting the first three.
func keylessError(tp string, idx []int32) *batchError {
	msg := "Compacted topic cannot accept message without key in topic partition " + tp
	quoted := make([]string, 0, 3)
	for _, i := range idx[:min(len(idx), 3)] {
		quoted = append(quoted, fmt.Sprintf("RecordError(batchIndex=%d, message='%s')", i, msg))
	}
	return &batchError{
		code: kerr.InvalidRecord.Code,
		msg: fmt.Sprintf("One or more records have been rejected due to %d record errors in total, and only showing the first three errors at most: [%s]",
			len(idx), strings.Join(quoted, ", ")),
		records:   idx,
		recordMsg: msg,
	}
}

// decompressError is the rejection of a batch whose compressed records
// could not be read: past gregor's limits (a zip bomb: MESSAGE_TOO_LARGE,
// the code of Kafka's own size limit), or not decodable (INVALID_RECORD,
// not retriable; Kafka 4.1 answers UNKNOWN_SERVER_ERROR).
func decompressError(err error) *batchError {
	if errors.Is(err, errTooBig) || errors.Is(err, zstd.ErrWindowSizeExceeded) || errors.Is(err, zstd.ErrDecoderSizeExceeded) {
		return reject(kerr.MessageTooLarge.Code, "decompressing record batch: %v", err)
	}
	return reject(kerr.InvalidRecord.Code, "decompressing record batch: %v", err)
}

// recordReader reads a batch's records section: straight from memory (src
// nil, buf is all of it), or from a decompressor through the fixed window
// win, so validating a batch of any size takes one window of memory plus
// what the codec itself needs. It stops with errTooBig once more than max
// bytes came out of the decompressor.
type recordReader struct {
	buf   []byte // unread bytes are buf[off:]
	off   int
	src   io.Reader
	win   []byte
	taken int64 // bytes read from src
	max   int64
	err   error // why src gave no more: io.EOF, errTooBig, a codec error
	// keyless lists the indexes of the records read without a key.
	keyless []int32
	// maxRecord, when positive, is the largest record size accepted.
	maxRecord int64
	// maxTS is the batch header's max timestamp; maxTSDelta is set (from
	// -1) to the offset delta of the first record found holding it. Only
	// for uncompressed batches (maxTSDelta stays 0 otherwise).
	maxTS      int64
	maxTSDelta int64
}

// fill makes n bytes (n <= len(win)) available at buf[off:] if it can.
func (r *recordReader) fill(n int) bool {
	return len(r.buf)-r.off >= n || r.refill(n)
}

// refill is fill's slow path: it reads from src into the window.
func (r *recordReader) refill(n int) bool {
	if r.src == nil || r.err != nil {
		return false
	}
	k := copy(r.win, r.buf[r.off:])
	r.buf, r.off = r.win[:k], 0
	for k < n && r.err == nil {
		m, err := r.src.Read(r.win[k:])
		k += m
		r.taken += int64(m)
		r.buf = r.win[:k]
		switch {
		case r.taken > r.max:
			r.err = fmt.Errorf("%w: records inflate past %d bytes", errTooBig, r.max)
		case err != nil:
			r.err = err
		}
	}
	return k >= n
}

// pos is how many bytes of the records section were consumed.
func (r *recordReader) pos() int64 {
	if r.src == nil {
		return int64(r.off)
	}
	return r.taken - int64(len(r.buf)-r.off)
}

// more reports whether any byte is left.
func (r *recordReader) more() bool { return r.fill(1) }

// varint reads a zigzag varint.
func (r *recordReader) varint() (int64, bool) {
	if len(r.buf)-r.off < binary.MaxVarintLen64 {
		r.refill(binary.MaxVarintLen64) // fewer at the end is fine
	}
	v, n := binary.Varint(r.buf[r.off:])
	if n <= 0 {
		return 0, false
	}
	r.off += n
	return v, true
}

// skip consumes n bytes.
func (r *recordReader) skip(n int64) bool {
	for n > 0 {
		if r.off == len(r.buf) && !r.refill(1) {
			return false
		}
		k := min(int64(len(r.buf)-r.off), n)
		r.off += int(k)
		n -= k
	}
	return true
}

// walkRecords checks that r holds exactly count well-formed v2 records
// (DefaultRecord: size, attributes, timestamp delta, offset delta, key,
// value, headers), each filling its declared size, and when tb is set
// that each timestamp (baseTS + delta; -1 means none) lies within tb.
func walkRecords(r *recordReader, count int32, baseTS int64, tb *timestampBounds) error {
	for i := int32(0); i < count; i++ {
		size, ok := r.varint()
		if !ok || size < 0 || r.src == nil && size > int64(len(r.buf)-r.off) {
			return fmt.Errorf("record %d: incorrect declared size, premature end of batch", i)
		}
		if r.maxRecord > 0 && size > r.maxRecord {
			return fmt.Errorf("record %d: decompressed size %d bytes is larger than max.decompressed.message.bytes (%d)", i, size, r.maxRecord)
		}
		end := r.pos() + size
		delta, offDelta, keyless, err := readRecord(r, end)
		if err != nil {
			return fmt.Errorf("record %d: %v", i, err)
		}
		if keyless {
			r.keyless = append(r.keyless, i)
		}
		if r.maxTSDelta < 0 && baseTS+delta == r.maxTS {
			r.maxTSDelta = offDelta
		}
		if tb != nil {
			ts := baseTS + delta
			if ts != -1 && (ts > tb.now && ts-tb.now > tb.afterMax || ts < tb.now && tb.now-ts > tb.beforeMax) {
				return &errTimestamp{ts: ts, offset: int64(i)}
			}
		}
	}
	if r.more() {
		return fmt.Errorf("incorrect declared batch size, bytes remain after %d records", count)
	}
	return nil
}

// readRecord reads one record body (attributes, timestamp delta, offset
// delta, key, value, headers), which must end exactly at end, and returns
// its timestamp and offset deltas and whether its key is null.
func readRecord(r *recordReader, end int64) (tsDelta, offDelta int64, keyless bool, err error) {
	if r.pos() >= end || !r.skip(1) { // attributes: unused, any value
		return 0, 0, false, errors.New("empty record")
	}
	tsDelta, ok := r.varint()
	if !ok || r.pos() > end {
		return 0, 0, false, errors.New("bad timestamp delta")
	}
	offDelta, ok = r.varint()
	if !ok || offDelta > 1<<31-1 || offDelta < -1<<31 || r.pos() > end {
		return 0, 0, false, errors.New("bad offset delta")
	}
	kl, ok := r.varint()
	if !ok || kl < -1 || kl > end-r.pos() || (kl > 0 && !r.skip(kl)) {
		return 0, 0, false, errors.New("bad key")
	}
	if !skipField(r, end, true) {
		return 0, 0, false, errors.New("bad value")
	}
	nh, ok := r.varint()
	if !ok || nh < 0 || nh > 1<<31-1 || r.pos() > end {
		return 0, 0, false, errors.New("bad header count")
	}
	for h := int64(0); h < nh; h++ {
		if !skipField(r, end, false) {
			return 0, 0, false, fmt.Errorf("header %d: bad key", h)
		}
		if !skipField(r, end, true) {
			return 0, 0, false, fmt.Errorf("header %d: bad value", h)
		}
	}
	if left := end - r.pos(); left != 0 {
		return 0, 0, false, fmt.Errorf("%d bytes left over in record", left)
	}
	return tsDelta, offDelta, kl < 0, nil
}

// skipField skips a varint-length-prefixed byte string that must end by
// end; -1 is null, which only nullable fields may be.
func skipField(r *recordReader, end int64, nullable bool) bool {
	l, ok := r.varint()
	if !ok || l < -1 || (l == -1 && !nullable) || l > end-r.pos() {
		return false
	}
	return l < 0 || r.skip(l)
}

// Memory of compressed-batch validation. Each batch being validated holds
// one window plus its codec's state, and at most decompressSlots batches
// are validated at once, however many requests arrive together:
//
//	gzip     32 KiB history (klauspost gzip reader, pooled)
//	lz4      the frame's block buffer, at most 4 MiB (pierrec lz4, pooled)
//	zstd     the frame's window, refused past zstdMaxWindow (8 MiB; every
//	         level up to 19 fits, and a one-segment frame of records up to
//	         8 MiB, which franz-go, sarama and kafka-go write)
//	snappy   one block's output: the whole records section for raw snappy
//	         (the format needs it), a chunk for xerial framing; a block may
//	         declare at most snappyMaxRatio times its compressed length
//	         (snappy cannot expand more) and at most the cap
const (
	recordWindow   = 64 << 10
	zstdMaxWindow  = 8 << 20
	snappyMaxRatio = 32
)

var (
	decompressSlots = make(chan struct{}, runtime.GOMAXPROCS(0))
	windowPool      = sync.Pool{New: func() any { b := make([]byte, recordWindow); return &b }}
	gzipPool        sync.Pool // *gzip.Reader
	lz4Pool         = sync.Pool{New: func() any { return lz4.NewReader(nil) }}
	zstdPool        = sync.Pool{New: func() any {
		d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(zstdMaxWindow))
		if err != nil {
			panic(err) // the options are constants
		}
		return d
	}}
	snappyPool sync.Pool // *snappyReader
)

// errTooBig reports records that inflate past the cap.
var errTooBig = errors.New("decompressed size exceeds the limit")

// openCodec returns a reader of the decompressed records section src and a
// function that returns the reader's resources to their pool (the reader
// must not be used after it). max bounds what a snappy block may declare.
func openCodec(codec uint16, src []byte, max int) (io.Reader, func(), error) {
	switch codec {
	case codecGzip:
		zr, _ := gzipPool.Get().(*gzip.Reader)
		var err error
		if zr == nil {
			zr, err = gzip.NewReader(bytes.NewReader(src))
		} else {
			err = zr.Reset(bytes.NewReader(src))
		}
		if err != nil {
			return nil, nil, err
		}
		return zr, func() { gzipPool.Put(zr) }, nil
	case codecLZ4:
		zr := lz4Pool.Get().(*lz4.Reader)
		zr.Reset(bytes.NewReader(src))
		return zr, func() { zr.Reset(nil); lz4Pool.Put(zr) }, nil
	case codecZstd:
		zr := zstdPool.Get().(*zstd.Decoder)
		if err := zr.Reset(bytes.NewReader(src)); err != nil {
			zstdPool.Put(zr)
			return nil, nil, err
		}
		return zr, func() { zr.Reset(nil); zstdPool.Put(zr) }, nil
	case codecSnappy:
		sr, _ := snappyPool.Get().(*snappyReader)
		if sr == nil {
			sr = new(snappyReader)
		}
		sr.reset(src, max)
		return sr, func() {
			sr.reset(nil, 0)
			if cap(sr.out) <= 8<<20 { // keep the buffer unless huge
				snappyPool.Put(sr)
			}
		}, nil
	default:
		return nil, nil, fmt.Errorf("unknown codec %d", codec)
	}
}

// decompressRecords is storage.Config.Decompress (ListOffsets by time looks
// into stored compressed batches): a fresh slice the store may keep. A
// stored batch inflated to at most socket.request.max.bytes when it was
// produced; the whole output is needed here, so these share the
// decompression slots with validation, bounding how many such outputs
// exist at once however many ListOffsets arrive together.
func decompressRecords(codec int8, records []byte) ([]byte, error) {
	const max = 256 << 20
	decompressSlots <- struct{}{}
	defer func() { <-decompressSlots }()
	r, release, err := openCodec(uint16(codec), records, max)
	if err != nil {
		return nil, err
	}
	defer release()
	out, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if len(out) > max {
		return nil, errTooBig
	}
	return out, nil
}

// xerialMagic starts snappy data framed the way the Java client frames it.
var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

// snappyReader decodes raw snappy (one block) or the xerial framing
// (magic, version, compatible version, then length-prefixed snappy
// blocks) one block at a time.
type snappyReader struct {
	src    []byte // blocks not decoded yet
	xerial bool
	max    int // cap on one block's declared length
	out    []byte
	off    int // unread output is out[off:]
	err    error
}

func (r *snappyReader) reset(src []byte, max int) {
	r.src, r.max, r.off, r.err = src, max, 0, nil
	r.out = r.out[:0]
	r.xerial = bytes.HasPrefix(src, xerialMagic)
	if r.xerial {
		if len(src) < 16 {
			r.err = errors.New("short xerial snappy header")
		}
		r.src = src[min(16, len(src)):]
	}
}

func (r *snappyReader) Read(p []byte) (int, error) {
	for r.off == len(r.out) {
		if r.err != nil {
			return 0, r.err
		}
		r.err = r.next()
	}
	n := copy(p, r.out[r.off:])
	r.off += n
	return n, nil
}

// next decodes the next block into out; io.EOF when none is left.
func (r *snappyReader) next() error {
	if len(r.src) == 0 && (r.xerial || r.src == nil) {
		return io.EOF
	}
	block := r.src
	if r.xerial {
		if len(r.src) < 4 {
			return errors.New("truncated xerial snappy chunk")
		}
		l := binary.BigEndian.Uint32(r.src)
		if uint64(l) > uint64(len(r.src)-4) {
			return errors.New("xerial snappy chunk past the end")
		}
		block, r.src = r.src[4:4+l], r.src[4+l:]
	} else {
		r.src = nil // a raw block is the whole section
	}
	n, err := snappy.DecodedLen(block)
	if err != nil {
		return err
	}
	if n > r.max || n > snappyMaxRatio*len(block)+64 {
		return fmt.Errorf("%w: a snappy block of %d bytes declares %d", errTooBig, len(block), n)
	}
	if cap(r.out) < n {
		r.out = make([]byte, n)
	}
	r.out, r.off = r.out[:n], 0
	_, err = snappy.Decode(r.out, block)
	return err
}
