package storage

import (
	"bytes"
	"testing"
)

// FuzzEntryHeader: decoding arbitrary bytes as a commit-log entry never
// panics, and a valid entry round-trips.
func FuzzEntryHeader(f *testing.F) {
	b := make([]byte, entryHeaderSize+len(simpleBatch("x", 2, 1)))
	copy(b[entryHeaderSize:], simpleBatch("x", 2, 1))
	h := entryHeader{length: uint32(len(b)), typ: entryBatch, topic: tid(1), partition: 3, baseOffset: 9, storeTime: 5, leaderEpoch: 2}
	putEntryHeader(b, &h)
	f.Add(b)
	pad := make([]byte, entryHeaderSize)
	putEntryHeader(pad, &entryHeader{length: 4096, typ: entryPad})
	f.Add(pad)
	f.Add(make([]byte, 60))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := decodeEntryHeader(b, 1<<20)
		if err != nil {
			return
		}
		if !checkEntry(b, &h) {
			return
		}
		// A valid entry re-encodes to the same header bytes.
		c := append([]byte(nil), b...)
		putEntryHeader(c, &h)
		if !bytes.Equal(c[:entryHeaderSize], b[:entryHeaderSize]) && b[14] == 0 && b[15] == 0 {
			t.Fatalf("header does not round-trip")
		}
		if h.typ == entryBatch {
			parseBatch(b[entryHeaderSize:h.length])
		}
		if h.typ == entryKV {
			decodeKV(b[entryHeaderSize:h.length])
		}
	})
}

// FuzzCQEntry: consume-queue entries never panic the decoder and valid
// ones round-trip.
func FuzzCQEntry(f *testing.F) {
	b := make([]byte, cqEntrySize)
	putCQEntry(b, &cqEntry{pos: 100, size: 70, leaderEpoch: 1, baseOffset: 5, lastDelta: 2, attributes: 0, maxTs: 10, maxTsOffset: 6, runMaxTs: 10})
	f.Add(b)
	f.Add(make([]byte, cqEntrySize))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decodeCQEntry(b)
		if err != nil {
			return
		}
		c := make([]byte, cqEntrySize)
		putCQEntry(c, &e)
		if !bytes.Equal(c, b[:cqEntrySize]) && b[30] == 0 && b[31] == 0 && b[56] == 0 && b[57] == 0 && b[58] == 0 && b[59] == 0 {
			t.Fatalf("cq entry does not round-trip")
		}
	})
}

// FuzzBatchHeader: batch header parsing and the record walks used for
// timestamps never panic on any bytes.
func FuzzBatchHeader(f *testing.F) {
	f.Add(simpleBatch("a", 3, 7), int64(8))
	f.Add(makeBatch(batchOpts{firstTs: 1, producerID: 4, epoch: 1, seq: 0}, testRecord{value: []byte("v"), tsDelta: 5}, testRecord{tsDelta: 2}), int64(3))
	f.Add(make([]byte, 61), int64(0))
	f.Fuzz(func(t *testing.T, b []byte, ts int64) {
		bi, err := parseBatch(b)
		if err != nil {
			return
		}
		maxTimestampOffset(b, &bi, 0)
		firstOffsetAtOrAfter(b, &bi, 0, ts, nil)
		exactMaxTimestampOffset(b, &bi, 0, func(int8, []byte) ([]byte, error) { return b, nil })
		batchCRCOK(b)
	})
}

// FuzzCheckpoint: any bytes as a checkpoint file either decode or are
// rejected, never panic or allocate without bound; a real checkpoint
// round-trips.
func FuzzCheckpoint(f *testing.F) {
	s := mustOpen(f, testConfig(f, f.TempDir()))
	p, _ := s.CreatePartition(tid(1), 0)
	p.Append(idemBatch(3, 0, 0, 2), 1)
	p.Append(simpleBatch("x", 1, 5), 2)
	s.PutKV("ns", KV{Key: []byte("k"), Value: []byte("v")})
	s.mu.Lock()
	good, _ := s.encodeCheckpointLocked(s.writePos.Load())
	s.mu.Unlock()
	s.Close()
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Fuzz(func(t *testing.T, b []byte) {
		ck, err := decodeCheckpoint(b)
		if err != nil {
			return
		}
		if ck.pos < 0 {
			t.Fatal("negative position accepted")
		}
	})
}

// FuzzKV: the KV payload decoder.
func FuzzKV(f *testing.F) {
	f.Add([]byte{0, 1, 'n', 0, 0, 0, 1, 0, 0, 0, 1, 'k', 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) { decodeKV(b) })
}

// FuzzRecoverCommitLog: a store opened on a commit log with arbitrary
// bytes after valid entries recovers the valid prefix without panicking.
func FuzzRecoverCommitLog(f *testing.F) {
	f.Add([]byte("garbage"), uint16(0))
	f.Add(make([]byte, 200), uint16(10))
	f.Fuzz(func(t *testing.T, tail []byte, cut uint16) {
		fs := newMemFS()
		cfg := Config{Dir: "/d", SegmentBytes: 8 << 10, FS: fs}
		s, err := Open(cfg)
		if err != nil {
			t.Fatal(err)
		}
		p, _ := s.CreatePartition(tid(9), 0)
		p.Append(writerBatch(0, 0), 0)
		p.Append(writerBatch(0, 1), 0)
		end := s.EndPosition()
		s.Close()
		seg := fs.root.names["d"].(*memDir).names["commitlog"].(*memDir).names[segmentName(0)].(*memNode)
		at := end - int64(cut)%64
		seg.data = append(seg.data[:at], tail...)
		fs.root.names["d"].(*memDir).names[checkpointName] = nil
		delete(fs.root.names["d"].(*memDir).names, checkpointName)
		s, err = Open(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if p := s.Partition(tid(9), 0); p != nil {
			readAll(t, p, p.LogStartOffset())
		}
	})
}
