package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
)

// The on-disk formats are described with byte diagrams in doc.go. Every
// constant in this block is FROZEN: changing one makes existing data
// unreadable.
const (
	entryMagic      uint32 = 0x47524731 // "GRG1"
	entryHeaderSize        = 56

	// Entry types.
	entryBatch  byte = 1 // a Kafka v2 RecordBatch of a partition
	entryCreate byte = 2 // a partition was created
	entryDelete byte = 3 // every partition of a topic was deleted
	entryKV     byte = 4 // internal key/values of one namespace
	entryPad    byte = 5 // the rest of the segment is unused
	// entryLogStart moves a partition's log-start offset (DeleteRecords).
	entryLogStart byte = 6

	cqEntrySize  = 64 // consume-queue entry
	cqBlock      = 64 // consume-queue entries per block (4 KiB)
	cqBlockBytes = cqEntrySize * cqBlock

	// Kafka v2 RecordBatch header fields read by the store.
	batchHeaderSize     = 61
	bOffBaseOffset      = 0
	bOffLength          = 8
	bOffLeaderEpoch     = 12
	bOffMagic           = 16
	bOffCRC             = 17
	bOffAttributes      = 21
	bOffLastOffsetDelta = 23
	bOffFirstTimestamp  = 27
	bOffMaxTimestamp    = 35
	bOffProducerID      = 43
	bOffProducerEpoch   = 51
	bOffBaseSequence    = 53
	bOffRecordCount     = 57
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var errBadEntry = errors.New("storage: invalid commit-log entry")

// errUnknownEntryType is a header with the right magic and a type this
// release does not know: a later release wrote it. It is never taken for a
// torn entry (see recovery.go).
var errUnknownEntryType = fmt.Errorf("%w: unknown entry type", errBadEntry)

// maxEntryType is the highest entry type this release reads.
const maxEntryType = entryCompacted

// entryHeader is the decoded gregor header of a commit-log entry.
type entryHeader struct {
	length      uint32 // whole entry, header included
	typ         byte
	flags       byte
	topic       TopicID
	partition   int32
	baseOffset  int64
	storeTime   int64 // ms since the epoch, broker clock
	leaderEpoch int32
}

// putEntryHeader writes h into b[:entryHeaderSize] and the CRC over the rest
// of the header and payload; payload is b[entryHeaderSize:h.length] except
// for pad entries, whose CRC covers the header only.
func putEntryHeader(b []byte, h *entryHeader) {
	binary.BigEndian.PutUint32(b[0:], h.length)
	binary.BigEndian.PutUint32(b[4:], entryMagic)
	b[12] = h.typ
	b[13] = h.flags
	b[14], b[15] = 0, 0
	copy(b[16:32], h.topic[:])
	binary.BigEndian.PutUint32(b[32:], uint32(h.partition))
	binary.BigEndian.PutUint64(b[36:], uint64(h.baseOffset))
	binary.BigEndian.PutUint64(b[44:], uint64(h.storeTime))
	binary.BigEndian.PutUint32(b[52:], uint32(h.leaderEpoch))
	binary.BigEndian.PutUint32(b[8:], entryCRC(b, h))
}

// entryCRC is the CRC stored in an entry header. For a batch it covers the
// header and the batch's first 21 bytes (base offset, length, leader epoch,
// magic, batch CRC), since the batch's own CRC-32C already covers the rest:
// the hot path never checksums a batch twice. For a pad it covers the
// header alone; for the other types the whole entry.
func entryCRC(b []byte, h *entryHeader) uint32 {
	switch h.typ {
	case entryPad:
		return crc32.Checksum(b[12:entryHeaderSize], castagnoli)
	case entryBatch:
		return crc32.Checksum(b[12:entryHeaderSize+bOffAttributes], castagnoli)
	}
	return crc32.Checksum(b[12:h.length], castagnoli)
}

// decodeEntryHeader decodes and checks the fixed part of a header: magic,
// a known type and a plausible length (at most maxLen). It does not check
// the CRC (see checkEntry), since the payload may not be read yet.
func decodeEntryHeader(b []byte, maxLen int64) (entryHeader, error) {
	var h entryHeader
	if len(b) < entryHeaderSize {
		return h, errBadEntry
	}
	h.length = binary.BigEndian.Uint32(b[0:])
	if binary.BigEndian.Uint32(b[4:]) != entryMagic {
		return h, errBadEntry
	}
	h.typ = b[12]
	h.flags = b[13]
	if h.typ == 0 {
		return h, errBadEntry
	}
	if h.typ > maxEntryType {
		return h, errUnknownEntryType
	}
	if int64(h.length) < entryHeaderSize || int64(h.length) > maxLen {
		return h, errBadEntry
	}
	if h.typ == entryBatch && h.length < entryHeaderSize+batchHeaderSize {
		return h, errBadEntry
	}
	copy(h.topic[:], b[16:32])
	h.partition = int32(binary.BigEndian.Uint32(b[32:]))
	h.baseOffset = int64(binary.BigEndian.Uint64(b[36:]))
	h.storeTime = int64(binary.BigEndian.Uint64(b[44:]))
	h.leaderEpoch = int32(binary.BigEndian.Uint32(b[52:]))
	return h, nil
}

// checkEntry verifies an entry whose bytes (header and payload, or the
// header alone for a pad) are in b: its CRC and, for a batch, the batch's
// own CRC, so a torn or corrupt batch is caught too.
func checkEntry(b []byte, h *entryHeader) bool {
	n := int(h.length)
	if h.typ == entryPad {
		n = entryHeaderSize
	}
	if len(b) < n {
		return false
	}
	if binary.BigEndian.Uint32(b[8:]) != entryCRC(b, h) {
		return false
	}
	return h.typ != entryBatch || batchCRCOK(b[entryHeaderSize:n])
}

// cqEntry is one consume-queue entry: where a stored batch is and what the
// searches by offset and time need.
type cqEntry struct {
	pos         int64 // commit-log position of the batch bytes
	size        int32 // batch length
	leaderEpoch int32
	baseOffset  int64
	lastDelta   int32
	attributes  int16
	maxTs       int64 // the batch's max timestamp
	maxTsOffset int64 // offset of the record holding it
	runMaxTs    int64 // max timestamp over this and every earlier batch
}

func (e *cqEntry) lastOffset() int64 { return e.baseOffset + int64(e.lastDelta) }

func putCQEntry(b []byte, e *cqEntry) {
	_ = b[cqEntrySize-1]
	binary.BigEndian.PutUint64(b[0:], uint64(e.pos))
	binary.BigEndian.PutUint32(b[8:], uint32(e.size))
	binary.BigEndian.PutUint32(b[12:], uint32(e.leaderEpoch))
	binary.BigEndian.PutUint64(b[16:], uint64(e.baseOffset))
	binary.BigEndian.PutUint32(b[24:], uint32(e.lastDelta))
	binary.BigEndian.PutUint16(b[28:], uint16(e.attributes))
	b[30], b[31] = 0, 0
	binary.BigEndian.PutUint64(b[32:], uint64(e.maxTs))
	binary.BigEndian.PutUint64(b[40:], uint64(e.maxTsOffset))
	binary.BigEndian.PutUint64(b[48:], uint64(e.runMaxTs))
	binary.BigEndian.PutUint32(b[56:], 0)
	binary.BigEndian.PutUint32(b[60:], crc32.Checksum(b[:60], castagnoli))
}

var errBadCQEntry = errors.New("storage: corrupt consume-queue entry")

func decodeCQEntry(b []byte) (cqEntry, error) {
	var e cqEntry
	if len(b) < cqEntrySize {
		return e, errBadCQEntry
	}
	if binary.BigEndian.Uint32(b[60:]) != crc32.Checksum(b[:60], castagnoli) {
		return e, errBadCQEntry
	}
	e.pos = int64(binary.BigEndian.Uint64(b[0:]))
	e.size = int32(binary.BigEndian.Uint32(b[8:]))
	e.leaderEpoch = int32(binary.BigEndian.Uint32(b[12:]))
	e.baseOffset = int64(binary.BigEndian.Uint64(b[16:]))
	e.lastDelta = int32(binary.BigEndian.Uint32(b[24:]))
	e.attributes = int16(binary.BigEndian.Uint16(b[28:]))
	e.maxTs = int64(binary.BigEndian.Uint64(b[32:]))
	e.maxTsOffset = int64(binary.BigEndian.Uint64(b[40:]))
	e.runMaxTs = int64(binary.BigEndian.Uint64(b[48:]))
	if e.pos < 0 || e.size < batchHeaderSize || e.lastDelta < 0 || e.baseOffset < 0 {
		return e, errBadCQEntry
	}
	return e, nil
}

// batchInfo holds the RecordBatch header fields the store uses.
type batchInfo struct {
	lastDelta     int32
	attributes    int16
	firstTs       int64
	maxTs         int64
	producerID    int64
	producerEpoch int16
	baseSequence  int32
	recordCount   int32
	// maxTsDelta is the offset delta of the first record holding maxTs
	// when the appender's validation found it (maxTsKnown;
	// BatchAppend.MaxTimestampDelta), else the records are walked.
	maxTsDelta int32
	maxTsKnown bool
}

// parseBatch reads the header of a Kafka v2 RecordBatch. It checks what the
// store relies on (size, length field, magic, counts); the CRC is the
// caller's job (the broker validates it on produce).
func parseBatch(b []byte) (batchInfo, error) {
	var bi batchInfo
	if len(b) < batchHeaderSize {
		return bi, ErrCorruptBatch
	}
	if int64(int32(binary.BigEndian.Uint32(b[bOffLength:])))+12 != int64(len(b)) {
		return bi, ErrCorruptBatch
	}
	if b[bOffMagic] != 2 {
		return bi, ErrCorruptBatch
	}
	bi.attributes = int16(binary.BigEndian.Uint16(b[bOffAttributes:]))
	bi.lastDelta = int32(binary.BigEndian.Uint32(b[bOffLastOffsetDelta:]))
	bi.firstTs = int64(binary.BigEndian.Uint64(b[bOffFirstTimestamp:]))
	bi.maxTs = int64(binary.BigEndian.Uint64(b[bOffMaxTimestamp:]))
	bi.producerID = int64(binary.BigEndian.Uint64(b[bOffProducerID:]))
	bi.producerEpoch = int16(binary.BigEndian.Uint16(b[bOffProducerEpoch:]))
	bi.baseSequence = int32(binary.BigEndian.Uint32(b[bOffBaseSequence:]))
	bi.recordCount = int32(binary.BigEndian.Uint32(b[bOffRecordCount:]))
	if bi.lastDelta < 0 {
		return bi, ErrCorruptBatch
	}
	return bi, nil
}

// batchCRCOK reports whether the batch's CRC-32C (over attributes..end)
// matches the stored one.
func batchCRCOK(b []byte) bool {
	return len(b) >= batchHeaderSize &&
		binary.BigEndian.Uint32(b[bOffCRC:]) == crc32.Checksum(b[bOffAttributes:], castagnoli)
}

// lastSequence is the sequence of a batch's last record; sequences wrap at
// int32 max to 0.
func lastSequence(first int32, delta int32) int32 {
	s := int64(first) + int64(delta)
	if s > math.MaxInt32 {
		s -= math.MaxInt32 + 1
	}
	return int32(s)
}

// nextSequence is the sequence that follows s.
func nextSequence(s int32) int32 {
	if s == math.MaxInt32 {
		return 0
	}
	return s + 1
}

// walkRecords calls fn with the offset and timestamp deltas of each record
// of an uncompressed records section (the batch bytes after the header)
// until fn returns false; ok is false if the records are malformed.
func walkRecords(p []byte, count int32, fn func(offDelta, tsDelta int64) bool) bool {
	for i := int32(0); i < count; i++ {
		l, n := binary.Varint(p)
		if n <= 0 || l < 1 || int64(len(p)-n) < l {
			return false
		}
		rec := p[n+1 : n+int(l)] // after the attributes byte
		p = p[n+int(l):]
		tsd, m := binary.Varint(rec)
		if m <= 0 {
			return false
		}
		od, k := binary.Varint(rec[m:])
		if k <= 0 {
			return false
		}
		if !fn(od, tsd) {
			return true
		}
	}
	return true
}

// records returns a batch's records section, decompressed with dec when
// the batch is compressed; nil when it cannot.
func records(b []byte, bi *batchInfo, dec func(codec int8, data []byte) ([]byte, error)) []byte {
	codec := int8(bi.attributes & 0x07)
	if codec == 0 {
		return b[batchHeaderSize:]
	}
	if dec == nil {
		return nil
	}
	out, err := dec(codec, b[batchHeaderSize:])
	if err != nil {
		return nil
	}
	return out
}

// maxTimestampOffset finds the offset of the record holding the batch's
// max timestamp by walking its records (the timestamp delta is the second
// varint of a record). A compressed batch is not decompressed on the append
// path: its last offset stands in, and MaxTimestamp refines it on demand.
func maxTimestampOffset(b []byte, bi *batchInfo, base int64) int64 {
	if bi.firstTs == bi.maxTs || bi.attributes&0x08 != 0 {
		// All records share it, or LogAppendTime: the first has it.
		return base
	}
	if bi.maxTsKnown && bi.attributes&0x07 == 0 {
		return base + int64(bi.maxTsDelta)
	}
	return exactMaxTimestampOffset(b, bi, base, nil)
}

// exactMaxTimestampOffset walks the records (decompressing with dec) for
// the first one holding the max timestamp; the last offset when it cannot.
func exactMaxTimestampOffset(b []byte, bi *batchInfo, base int64, dec func(int8, []byte) ([]byte, error)) int64 {
	found := base + int64(bi.lastDelta)
	if recs := records(b, bi, dec); recs != nil {
		walkRecords(recs, bi.recordCount, func(od, tsd int64) bool {
			if bi.firstTs+tsd == bi.maxTs {
				found = base + od
				return false
			}
			return true
		})
	}
	return found
}

// firstOffsetAtOrAfter returns the offset and timestamp of the first record
// of a batch with timestamp >= ts; ok is false when the batch has none or
// its records cannot be read (compressed without dec).
func firstOffsetAtOrAfter(b []byte, bi *batchInfo, base, ts int64, dec func(int8, []byte) ([]byte, error)) (int64, int64, bool) {
	if bi.attributes&0x08 != 0 {
		return base, bi.maxTs, bi.maxTs >= ts
	}
	recs := records(b, bi, dec)
	if recs == nil {
		return 0, 0, false
	}
	var off, t int64
	ok := false
	walkRecords(recs, bi.recordCount, func(od, tsd int64) bool {
		if bi.firstTs+tsd >= ts {
			off, t, ok = base+od, bi.firstTs+tsd, true
			return false
		}
		return true
	})
	return off, t, ok
}
