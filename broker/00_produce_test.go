package broker

import (
	"fmt"
	"strconv"
	"testing"
	"time"

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
