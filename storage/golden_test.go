package storage

import (
	"encoding/binary"
	"encoding/hex"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/format.golden")

// TestFormatGolden pins the frozen on-disk encodings (entry header, consume
// queue entry, key/value payload) to bytes in testdata/format.golden, so an
// accidental format change fails loudly. Regenerate with -update only for
// a deliberate, versioned change.
func TestFormatGolden(t *testing.T) {
	var out strings.Builder
	dump := func(name string, b []byte) {
		out.WriteString(name + "\n" + hex.Dump(b))
	}
	batch := makeBatch(batchOpts{firstTs: 1700000000000, producerID: 42, epoch: 3, seq: 7},
		testRecord{key: []byte("k"), value: []byte("value"), headers: [][2][]byte{{[]byte("h"), []byte("v")}}},
		testRecord{value: []byte("second"), tsDelta: 5})
	e := make([]byte, entryHeaderSize+len(batch))
	copy(e[entryHeaderSize:], batch)
	// As Append stores it: base offset and leader epoch written in.
	binary.BigEndian.PutUint64(e[entryHeaderSize:], 1000)
	binary.BigEndian.PutUint32(e[entryHeaderSize+bOffLeaderEpoch:], 5)
	h := entryHeader{length: uint32(len(e)), typ: entryBatch, topic: TopicID{0xde, 0xad, 0xbe, 0xef}, partition: 7,
		baseOffset: 1000, storeTime: 1700000000123, leaderEpoch: 5}
	putEntryHeader(e, &h)
	dump("batch entry", e)
	pad := make([]byte, entryHeaderSize)
	putEntryHeader(pad, &entryHeader{length: 4000, typ: entryPad})
	dump("pad entry header", pad)
	cq := make([]byte, cqEntrySize)
	putCQEntry(cq, &cqEntry{pos: 123456, size: int32(len(batch)), leaderEpoch: 5, baseOffset: 1000, lastDelta: 1,
		attributes: 0, maxTs: 1700000000005, maxTsOffset: 1001, runMaxTs: 1700000000005})
	dump("consume-queue entry", cq)
	kvPayload, _ := encodeKV("offsets", []KV{{Key: []byte("g"), Value: []byte("1")}, {Key: []byte("gone")}})
	dump("key/value payload", kvPayload)

	path := filepath.Join("testdata", "format.golden")
	if *update {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(path, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update once)", err)
	}
	if string(want) != out.String() {
		t.Fatalf("on-disk format changed:\n%s\nwant:\n%s", out.String(), want)
	}
	// And the decoders read them back.
	if hd, err := decodeEntryHeader(e, 1<<20); err != nil || hd != h || !checkEntry(e, &hd) {
		t.Fatalf("entry decode: %+v %v", hd, err)
	}
	if ce, err := decodeCQEntry(cq); err != nil || ce.pos != 123456 || ce.maxTsOffset != 1001 {
		t.Fatalf("cq decode: %+v %v", ce, err)
	}
	if ns, kvs, ok := decodeKV(kvPayload); !ok || ns != "offsets" || len(kvs) != 2 || kvs[1].Value != nil || string(kvs[0].Value) != "1" {
		t.Fatalf("kv decode: %q %+v %v", ns, kvs, ok)
	}
}
