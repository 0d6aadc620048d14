package storage

import (
	"encoding/binary"
	"testing"
)

// FuzzCompactBatch feeds the cleaner's record walk and batch rewrite
// arbitrary batch bytes (they come from disk, checked by CRC, but a bug
// or a later release's data must not crash a round): no panic, and a
// rewritten batch parses, has a good CRC, the same base offset and last
// offset delta, and no more records than it had. The committed-state
// decoder gets the same bytes.
func FuzzCompactBatch(f *testing.F) {
	f.Add(simpleBatch("v", 3, 1000))
	f.Add(makeBatch(batchOpts{firstTs: 1, producerID: -1, epoch: -1, seq: -1},
		testRecord{key: []byte("a"), value: []byte("1")}, testRecord{key: nil, value: []byte("2")}, testRecord{key: []byte("a"), value: nil}))
	f.Add(compactState{cleanEnd: 5, from: 1, to: 9, copies: 2, round: 7}.encode())
	p := &Partition{s: &Store{}}
	f.Fuzz(func(t *testing.T, b []byte) {
		decodeCompactState(b)
		bi, err := parseBatch(b)
		if err != nil {
			return
		}
		latest := map[[16]byte]int64{}
		base := int64(binary.BigEndian.Uint64(b[bOffBaseOffset:]))
		if recs, bi2, ok := p.batchRecords(b); ok {
			n := 0
			walkFullRecords(recs, bi2.recordCount, func(r fullRecord) {
				n++
				if !r.keyNull && n%2 == 1 {
					latest[keyHash(r.key)] = base + r.offDelta
				}
			})
		}
		for _, expired := range []int64{0, 1 << 62} {
			out, _ := p.cleanBatch(b, 0, latest, CompactionPolicy{DeleteRetentionMs: expired}, 1)
			if out == nil {
				continue
			}
			ob, err := parseBatch(out)
			switch {
			case err != nil:
				t.Fatalf("rewritten batch does not parse: %v", err)
			case !batchCRCOK(out) && batchCRCOK(b):
				t.Fatal("rewritten batch has a bad CRC")
			case int64(binary.BigEndian.Uint64(out[bOffBaseOffset:])) != base || ob.lastDelta != bi.lastDelta:
				t.Fatal("rewritten batch moved its offsets")
			case ob.recordCount > bi.recordCount:
				t.Fatalf("rewritten batch has %d records, had %d", ob.recordCount, bi.recordCount)
			}
		}
	})
}
