package broker

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/gregor-broker/gregor/protocol"
	"github.com/gregor-broker/gregor/storage"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// BenchmarkCoreProduce sends Produce requests (acks=1, one uncompressed
// batch of ~64 KiB per request) over TCP and waits for each response:
// framing, validation (CRC + record walk), append, response.
func BenchmarkCoreProduce(b *testing.B) {
	for _, size := range []int{100, 1 << 10, 16 << 10} {
		b.Run(fmt.Sprintf("record=%d", size), func(b *testing.B) {
			cb := coreStart(b, "", nil)
			cb.topic("bench", 1, nil)
			n := max(1, (64<<10)/size)
			recs := make([]coreRecord, n)
			for i := range recs {
				recs[i] = coreRecord{key: []byte(fmt.Sprint(i)), value: bytes.Repeat([]byte{'v'}, size)}
			}
			batch := coreBatch(1, -1, -1, -1, recs...)
			rc := cb.raw()
			req := produceReq(9, 1, "bench", 0, batch)
			b.SetBytes(int64(len(batch)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if p := producePart(rc.do(req)); p.ErrorCode != 0 {
					b.Fatalf("error %d", p.ErrorCode)
				}
			}
		})
	}
}

// BenchmarkCoreFetch reads a preloaded partition with Fetch requests of
// up to maxBytes over TCP (records sent with sendfile), the client reading
// each whole response frame.
func BenchmarkCoreFetch(b *testing.B) {
	for _, maxBytes := range []int32{64 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("maxBytes=%d", maxBytes), func(b *testing.B) {
			cb := coreStart(b, "", nil)
			tp := cb.topic("bench", 1, nil)
			recs := make([]coreRecord, 64)
			for i := range recs {
				recs[i] = coreRecord{value: bytes.Repeat([]byte{'f'}, 1000)}
			}
			batch := coreBatch(1, -1, -1, -1, recs...)
			rc := cb.raw()
			for i := 0; i < 512; i++ { // 32 MiB
				if p := producePart(rc.do(produceReq(9, 1, "bench", 0, batch))); p.ErrorCode != 0 {
					b.Fatalf("error %d", p.ErrorCode)
				}
			}
			hwm := cb.b.store.Partition(tp.ID, 0).HighWatermark()
			req := fetchReq(12, "bench", tp.ID, 0, 0)
			req.MaxBytes, req.Topics[0].Partitions[0].PartitionMaxBytes = maxBytes, maxBytes
			var total int64
			b.ResetTimer()
			offset := int64(0)
			for i := 0; i < b.N; i++ {
				if offset >= hwm {
					offset = 0
				}
				req.Topics[0].Partitions[0].FetchOffset = offset
				corr := rc.send(req)
				frame, err := protocol.ReadFrame(rc.br, 1<<30)
				if err != nil || int32(frame[0])<<24|int32(frame[1])<<16|int32(frame[2])<<8|int32(frame[3]) != corr {
					b.Fatalf("response: %v", err)
				}
				total += int64(len(frame))
				// Advance by the batches returned (64 records each).
				offset += int64(64 * max(1, len(frame)/len(batch)))
			}
			b.SetBytes(total / int64(b.N))
		})
	}
}

var _ = kmsg.Fetch

// BenchmarkCoreProduceSyncFlush sends one request with a 16 KiB batch for
// each of 16 partitions under log.flush.mode=sync: the appends of one
// request share group-commit fsyncs.
func BenchmarkCoreProduceSyncFlush(b *testing.B) {
	cb := coreStart(b, "", func(c *Config) { c.Store.FlushMode = storage.FlushSync })
	cb.topic("sync", 16, nil)
	recs := make([]coreRecord, 16)
	for i := range recs {
		recs[i] = coreRecord{value: bytes.Repeat([]byte{'s'}, 1000)}
	}
	batch := coreBatch(1, -1, -1, -1, recs...)
	req := produceReq(9, -1, "sync", 0, batch)
	for p := int32(1); p < 16; p++ {
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition, rp.Records = p, batch
		req.Topics[0].Partitions = append(req.Topics[0].Partitions, rp)
	}
	rc := cb.raw()
	b.SetBytes(int64(16 * len(batch)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, p := range rc.do(req).(*kmsg.ProduceResponse).Topics[0].Partitions {
			if p.ErrorCode != 0 {
				b.Fatalf("partition %d: error %d", p.Partition, p.ErrorCode)
			}
		}
	}
}
