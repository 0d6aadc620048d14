package broker

// The table of bad inputs tried over raw TCP, with the Kafka 4 error code
// (or connection close) each one gets.

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// mutate copies a valid batch, applies f, and optionally re-seals the CRC.
func mutate(b []byte, reseal bool, f func([]byte) []byte) []byte {
	c := f(append([]byte(nil), b...))
	if reseal && len(c) >= batchHeaderLen {
		binary.BigEndian.PutUint32(c[bCRC:], crc32.Checksum(c[bAttributes:], crc32c))
	}
	return c
}

func TestCoreBadInputs(t *testing.T) {
	cb := coreStart(t, "", nil)
	cb.topic("bad", 1, map[string]string{"max.message.bytes": "2000"})
	cb.topic("__consumer_offsets", 1, nil)
	cb.topic("recent", 1, map[string]string{"message.timestamp.before.max.ms": "60000"})
	now := time.Now().UnixMilli()
	good := coreBatch(1000, -1, -1, -1, coreRecs(3, "v")...)
	put32 := func(off int, v uint32) func([]byte) []byte {
		return func(b []byte) []byte { binary.BigEndian.PutUint32(b[off:], v); return b }
	}
	big := coreBatch(1000, -1, -1, -1, coreRecord{value: bytes.Repeat([]byte("z"), 3000)})

	produceCases := []struct {
		name    string
		version int16
		acks    int16
		topic   string
		part    int32
		batch   []byte
		code    int16
	}{
		{"valid batch", 9, -1, "bad", 0, good, 0},
		{"acks=2", 9, 2, "bad", 0, good, kerr.InvalidRequiredAcks.Code},
		{"unknown topic", 9, 1, "nope", 0, good, kerr.UnknownTopicOrPartition.Code},
		{"unknown partition", 9, 1, "bad", 4, good, kerr.UnknownTopicOrPartition.Code},
		{"internal topic", 9, 1, "__consumer_offsets", 0, good, kerr.InvalidTopicException.Code},
		{"null records", 9, 1, "bad", 0, nil, kerr.InvalidRecord.Code},
		{"4 bytes of records", 9, 1, "bad", 0, good[:4], kerr.InvalidRecord.Code},
		{"truncated batch", 9, 1, "bad", 0, good[:len(good)-3], kerr.InvalidRecord.Code},
		{"two batches", 9, 1, "bad", 0, append(append([]byte(nil), good...), good...), kerr.InvalidRecord.Code},
		{"length below record overhead", 9, 1, "bad", 0, mutate(good, false, put32(bLength, 5)), kerr.CorruptMessage.Code},
		{"magic 1", 9, 1, "bad", 0, mutate(good, false, func(b []byte) []byte { b[bMagic] = 1; return b }), kerr.InvalidRecord.Code},
		{"magic 7", 9, 1, "bad", 0, mutate(good, false, func(b []byte) []byte { b[bMagic] = 7; return b }), kerr.CorruptMessage.Code},
		{"bad crc", 9, 1, "bad", 0, mutate(good, false, func(b []byte) []byte { b[len(b)-1] ^= 0xff; return b }), kerr.CorruptMessage.Code},
		{"header shorter than 61", 9, 1, "bad", 0, mutate(good[:40], false, put32(bLength, 28)), kerr.CorruptMessage.Code},
		{"nonzero base offset", 9, 1, "bad", 0, mutate(good, true, func(b []byte) []byte { b[7] = 9; return b }), kerr.InvalidRecord.Code},
		{"larger than max.message.bytes", 9, 1, "bad", 0, big, kerr.MessageTooLarge.Code},
		{"count disagrees with last offset delta", 9, 1, "bad", 0, mutate(good, true, put32(bRecordCount, 2)), kerr.InvalidRecord.Code},
		{"count and delta agree, records do not", 9, 1, "bad", 0,
			mutate(good, true, func(b []byte) []byte { put32(bRecordCount, 4)(b); return put32(bLastOffsetDelta, 3)(b) }), kerr.InvalidRecord.Code},
		{"zero records", 9, 1, "bad", 0,
			mutate(good, true, func(b []byte) []byte { put32(bRecordCount, 0)(b); return put32(bLastOffsetDelta, 0xffffffff)(b) }), kerr.InvalidRecord.Code},
		{"record length past the end", 9, 1, "bad", 0, mutate(good, true, func(b []byte) []byte { b[batchHeaderLen] = 0x7e; return b }), kerr.InvalidRecord.Code},
		{"control batch", 9, 1, "bad", 0, mutate(good, true, func(b []byte) []byte { b[bAttributes+1] |= attrControl; return b }), kerr.InvalidRecord.Code},
		{"transactional batch", 9, 1, "bad", 0, mutate(good, true, func(b []byte) []byte { b[bAttributes+1] |= attrTransactional; return b }), kerr.TransactionalIDAuthorizationFailed.Code},
		{"codec 6", 9, 1, "bad", 0, mutate(good, true, func(b []byte) []byte { b[bAttributes+1] |= 6; return b }), kerr.InvalidRecord.Code},
		{"gzip flag on plain records", 9, 1, "bad", 0, mutate(good, true, func(b []byte) []byte { b[bAttributes+1] |= codecGzip; return b }), kerr.InvalidRecord.Code},
		{"zstd before produce v7", 6, 1, "bad", 0, mutate(good, true, func(b []byte) []byte { b[bAttributes+1] |= codecZstd; return b }), kerr.UnsupportedCompressionType.Code},
		{"timestamp 2 h ahead (after.max.ms default 1 h)", 9, 1, "bad", 0, coreBatch(now+2*3600*1000, -1, -1, -1, coreRecs(2, "f")...), kerr.InvalidTimestamp.Code},
		{"one record 2 h ahead by its delta", 9, 1, "bad", 0, coreBatch(now, -1, -1, -1, coreRecord{value: []byte("a")}, coreRecord{value: []byte("b"), tsDelta: 2 * 3600 * 1000}), kerr.InvalidTimestamp.Code},
		{"timestamp 10 min ahead", 9, 1, "recent", 0, coreBatch(now+600*1000, -1, -1, -1, coreRecs(1, "f")...), 0},
		{"timestamp older than before.max.ms", 9, 1, "recent", 0, coreBatch(now-3600*1000, -1, -1, -1, coreRecs(1, "o")...), kerr.InvalidTimestamp.Code},
		{"no timestamp (-1)", 9, 1, "recent", 0, coreBatch(-1, -1, -1, -1, coreRecord{value: []byte("n")}), 0},
		{"valid batch after all that", 3, 1, "bad", 0, good, 0},
	}
	rc := cb.raw()
	for _, c := range produceCases {
		t.Run("produce/"+c.name, func(t *testing.T) {
			p := producePart(rc.do(produceReq(c.version, c.acks, c.topic, c.part, c.batch)))
			if p.ErrorCode != c.code {
				msg := ""
				if p.ErrorMessage != nil {
					msg = *p.ErrorMessage
				}
				t.Fatalf("error %d (%s), want %d", p.ErrorCode, msg, c.code)
			}
			if c.code != 0 && p.BaseOffset != -1 {
				t.Fatalf("rejected batch got offset %d", p.BaseOffset)
			}
		})
	}
	// Only the two valid batches were stored: 6 records.
	tp, _ := cb.b.topics.Get("bad")
	if hwm := cb.b.store.Partition(tp.ID, 0).HighWatermark(); hwm != 6 {
		t.Fatalf("high watermark %d, want 6", hwm)
	}

	t.Run("produce v0-v2 close the connection (Kafka 4)", func(t *testing.T) {
		for v := int16(0); v <= 2; v++ {
			rc := cb.raw()
			rc.send(produceReq(v, 1, "bad", 0, good))
			if !rc.closed() {
				t.Fatalf("produce v%d: connection still open", v)
			}
		}
	})
	t.Run("acks=0 with an error closes the connection", func(t *testing.T) {
		rc := cb.raw()
		rc.send(produceReq(9, 0, "nope", 0, good))
		if !rc.closed() {
			t.Fatal("connection still open")
		}
	})
	t.Run("acks=0 success writes nothing and keeps order", func(t *testing.T) {
		rc := cb.raw()
		rc.send(produceReq(9, 0, "bad", 0, good))
		md := kmsg.NewPtrMetadataRequest()
		md.Version = 12
		resp := rc.do(md).(*kmsg.MetadataResponse) // fails on a stray response
		if len(resp.Brokers) != 1 {
			t.Fatalf("brokers %+v", resp.Brokers)
		}
	})

	metaCases := []struct {
		name  string
		topic string
		code  int16
	}{
		{"empty name", "", kerr.InvalidTopicException.Code},
		{"dot", ".", kerr.InvalidTopicException.Code},
		{"slash", "a/b", kerr.InvalidTopicException.Code},
		{"too long", string(bytes.Repeat([]byte("a"), 250)), kerr.InvalidTopicException.Code},
	}
	for _, c := range metaCases {
		t.Run("metadata/"+c.name, func(t *testing.T) {
			md := kmsg.NewPtrMetadataRequest()
			md.Version, md.AllowAutoTopicCreation = 12, true
			md.Topics = []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr(c.topic)}}
			if got := rc.do(md).(*kmsg.MetadataResponse).Topics[0].ErrorCode; got != c.code {
				t.Fatalf("error %d, want %d", got, c.code)
			}
		})
	}

	t.Run("api versions: bad client software name", func(t *testing.T) {
		av := kmsg.NewPtrApiVersionsRequest()
		av.Version, av.ClientSoftwareName, av.ClientSoftwareVersion = 3, "-bad name", "1.0"
		if got := rc.do(av).(*kmsg.ApiVersionsResponse).ErrorCode; got != kerr.InvalidRequest.Code {
			t.Fatalf("error %d", got)
		}
	})

	closeCases := map[string]func() []byte{
		"fetch v3 (below our minimum)": func() []byte { r := fetchReq(4, "bad", [16]byte{}, 0, 0); r.Version = 3; return coreFrame(r, 1) },
		"produce v14 (above our maximum)": func() []byte {
			f := coreFrame(produceReq(12, 1, "bad", 0, good), 1)
			binary.BigEndian.PutUint16(f[6:], 14)
			return f
		},
		"unknown api key 9999": func() []byte {
			f := coreFrame(kmsg.NewPtrMetadataRequest(), 1)
			binary.BigEndian.PutUint16(f[4:], 9999)
			return f
		},
		"frame over socket.request.max.bytes": func() []byte { return []byte{0x7f, 0, 0, 0} },
		"garbage body": func() []byte {
			f := coreFrame(produceReq(9, 1, "bad", 0, good), 1)
			return append(f[:20], 0xff, 0xff, 0xff)
		},
	}
	for name, frame := range closeCases {
		t.Run("close/"+name, func(t *testing.T) {
			rc := cb.raw()
			f := frame()
			if name == "garbage body" {
				binary.BigEndian.PutUint32(f, uint32(len(f)-4))
			}
			rc.c.Write(f)
			if !rc.closed() {
				t.Fatal("connection still open")
			}
		})
	}
	// The broker still serves after all of it.
	if p := producePart(cb.raw().do(produceReq(9, -1, "bad", 0, good))); p.ErrorCode != 0 || p.BaseOffset != 9 {
		t.Fatalf("final produce %+v", p)
	}
}
