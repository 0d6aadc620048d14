package broker

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var codecIDs = map[string]int{"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}

// Every codec round-trips: content, keys, headers, per-partition order and
// exact counts, over three partitions.
func TestCoreProduceConsumeCodecs(t *testing.T) {
	cb := coreStart(t, "", nil)
	codecs := map[string]kgo.CompressionCodec{
		"none": kgo.NoCompression(), "gzip": kgo.GzipCompression(), "snappy": kgo.SnappyCompression(),
		"lz4": kgo.Lz4Compression(), "zstd": kgo.ZstdCompression(),
	}
	for name, codec := range codecs {
		t.Run(name, func(t *testing.T) {
			topic := "codec-" + name
			cb.topic(topic, 3, nil)
			const n = 300
			cl := cb.client(kgo.ProducerBatchCompression(codec), kgo.ProducerLinger(5*time.Millisecond), kgo.RecordPartitioner(kgo.ManualPartitioner()))
			ctx := coreCtx(t)
			for i := 0; i < n; i++ {
				r := &kgo.Record{
					Topic: topic, Partition: int32(i % 3),
					Key:     []byte("key-" + strconv.Itoa(i)),
					Value:   []byte(fmt.Sprintf("value %d of %s %s", i, name, "padding padding padding padding")),
					Headers: []kgo.RecordHeader{{Key: "h", Value: []byte(strconv.Itoa(i))}, {Key: "codec", Value: []byte(name)}},
				}
				cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
					if err != nil {
						t.Errorf("produce: %v", err)
					}
				})
			}
			if err := cl.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			recs := cb.consume(n, kgo.ConsumeTopics(topic))
			next := map[int32]int64{}
			lastIdx := map[int32]int{-1: -1}
			seen := map[int]bool{}
			for _, r := range recs {
				if r.Offset != next[r.Partition] {
					t.Fatalf("partition %d: offset %d, want %d", r.Partition, r.Offset, next[r.Partition])
				}
				next[r.Partition]++
				i, err := strconv.Atoi(string(r.Key[len("key-"):]))
				if err != nil || i%3 != int(r.Partition) || seen[i] {
					t.Fatalf("record key %q in partition %d (duplicate %v)", r.Key, r.Partition, seen[i])
				}
				seen[i] = true
				if prev, ok := lastIdx[r.Partition]; ok && prev >= i {
					t.Fatalf("partition %d: record %d after %d", r.Partition, i, prev)
				}
				lastIdx[r.Partition] = i
				if want := fmt.Sprintf("value %d of %s %s", i, name, "padding padding padding padding"); string(r.Value) != want {
					t.Fatalf("value %q, want %q", r.Value, want)
				}
				if len(r.Headers) != 2 || r.Headers[0].Key != "h" || string(r.Headers[0].Value) != strconv.Itoa(i) ||
					r.Headers[1].Key != "codec" || string(r.Headers[1].Value) != name {
					t.Fatalf("headers %+v", r.Headers)
				}
			}
			// The batches are stored as sent: still compressed with the codec.
			tp, _ := cb.b.topics.Get(topic)
			fr := cb.raw().do(fetchReq(12, topic, tp.ID, 0, 0)).(*kmsg.FetchResponse)
			raw := fr.Topics[0].Partitions[0].RecordBatches
			for len(raw) > 0 {
				var rb kmsg.RecordBatch
				if err := rb.ReadFrom(raw); err != nil {
					t.Fatal(err)
				}
				if got := int(rb.Attributes & 7); got != codecIDs[name] {
					t.Fatalf("stored batch codec %d, want %d", got, codecIDs[name])
				}
				raw = raw[12+rb.Length:]
			}
			for p := int32(0); p < 3; p++ {
				if next[p] != n/3 {
					t.Fatalf("partition %d has %d records, want %d", p, next[p], n/3)
				}
			}
		})
	}
}

// acks 0, 1 and all all store every record exactly once.
func TestCoreProduceAcks(t *testing.T) {
	cb := coreStart(t, "", nil)
	for _, c := range []struct {
		name string
		acks kgo.Acks
	}{{"acks0", kgo.NoAck()}, {"acks1", kgo.LeaderAck()}, {"acksall", kgo.AllISRAcks()}} {
		t.Run(c.name, func(t *testing.T) {
			cb.topic(c.name, 1, nil)
			opts := []kgo.Opt{kgo.RequiredAcks(c.acks), kgo.DefaultProduceTopic(c.name)}
			if c.name != "acksall" {
				opts = append(opts, kgo.DisableIdempotentWrite())
			}
			cl := cb.client(opts...)
			ctx := coreCtx(t)
			for i := 0; i < 100; i++ {
				cl.Produce(ctx, &kgo.Record{Value: []byte(strconv.Itoa(i))}, func(_ *kgo.Record, err error) {
					if err != nil {
						t.Errorf("produce: %v", err)
					}
				})
			}
			if err := cl.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			if c.name == "acks0" {
				// Nothing acknowledges acks=0: wait until the store has
				// all of them (the consume below checks content and count).
				tp, _ := cb.b.topics.Get(c.name)
				for cb.b.store.Partition(tp.ID, 0).HighWatermark() < 100 && ctx.Err() == nil {
					time.Sleep(5 * time.Millisecond)
				}
			}
			recs := cb.consume(100, kgo.ConsumeTopics(c.name))
			for i, r := range recs {
				if string(r.Value) != strconv.Itoa(i) || r.Offset != int64(i) {
					t.Fatalf("record %d: offset %d value %q", i, r.Offset, r.Value)
				}
			}
		})
	}
}

// A LogAppendTime topic stamps batches with the broker's time, sets the
// timestamp-type bit and keeps a valid CRC; CreateTime keeps the client's.
func TestCoreProduceLogAppendTime(t *testing.T) {
	cb := coreStart(t, "", nil)
	cb.topic("lat", 1, map[string]string{"message.timestamp.type": "LogAppendTime"})
	cb.topic("ct", 1, nil)
	old := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	before := time.Now().UnixMilli()
	for _, topic := range []string{"lat", "ct"} {
		p := producePart(cb.raw().do(produceReq(9, -1, topic, 0, coreBatch(old.UnixMilli(), -1, -1, -1, coreRecs(2, topic)...))))
		if p.ErrorCode != 0 {
			t.Fatalf("%s: error %d", topic, p.ErrorCode)
		}
		if topic == "lat" && p.LogAppendTime < before {
			t.Fatalf("LogAppendTime %d in the response, want >= %d", p.LogAppendTime, before)
		}
		if topic == "ct" && p.LogAppendTime != -1 {
			t.Fatalf("CreateTime topic answered LogAppendTime %d", p.LogAppendTime)
		}
	}
	recs := cb.consume(2, kgo.ConsumeTopics("lat")) // kgo checks the CRC
	for _, r := range recs {
		if r.Attrs.TimestampType() != 1 || r.Timestamp.UnixMilli() < before {
			t.Fatalf("record timestamp %v type %d", r.Timestamp, r.Attrs.TimestampType())
		}
	}
	recs = cb.consume(2, kgo.ConsumeTopics("ct"))
	if recs[1].Attrs.TimestampType() != 0 || recs[1].Timestamp.UnixMilli() != old.UnixMilli()+1 {
		t.Fatalf("CreateTime record timestamp %v", recs[1].Timestamp)
	}
}

// Idempotent producers: a retried batch gets its original offset and is
// stored once; a sequence gap gets OUT_OF_ORDER_SEQUENCE_NUMBER; an old
// epoch INVALID_PRODUCER_EPOCH.
func TestCoreProduceIdempotence(t *testing.T) {
	cb := coreStart(t, "", nil)
	cb.topic("idem", 1, nil)
	rc := cb.raw()
	send := func(epoch int16, seq int32, n int) kmsg.ProduceResponseTopicPartition {
		return producePart(rc.do(produceReq(9, -1, "idem", 0, coreBatch(1, 777, epoch, seq, coreRecs(n, "i")...))))
	}
	if p := send(0, 0, 3); p.ErrorCode != 0 || p.BaseOffset != 0 {
		t.Fatalf("first: %+v", p)
	}
	if p := send(0, 3, 2); p.ErrorCode != 0 || p.BaseOffset != 3 {
		t.Fatalf("second: %+v", p)
	}
	if p := send(0, 0, 3); p.ErrorCode != 0 || p.BaseOffset != 0 {
		t.Fatalf("retry of the first: %+v", p)
	}
	if p := send(0, 9, 1); p.ErrorCode != kerr.OutOfOrderSequenceNumber.Code {
		t.Fatalf("gap: %+v", p)
	}
	if p := send(1, 0, 1); p.ErrorCode != 0 || p.BaseOffset != 5 {
		t.Fatalf("new epoch: %+v", p)
	}
	if p := send(0, 5, 1); p.ErrorCode != kerr.InvalidProducerEpoch.Code {
		t.Fatalf("old epoch: %+v", p)
	}
	if recs := cb.consume(6, kgo.ConsumeTopics("idem")); len(recs) != 6 {
		t.Fatalf("%d records", len(recs))
	}
}
