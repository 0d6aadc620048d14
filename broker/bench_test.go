package broker

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"syscall"
	"testing"
	"time"

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

// BenchmarkCoreProduceManyPartitions sends acks=-1 Produce requests that
// carry one ~64 KiB batch (63 records of 1 KiB) for each of 16 partitions,
// the shape franz-go sends with 10,000 partitions (issue 7), where
// per-batch and per-partition costs weigh more than with few large
// batches. partitions=10000 moves on to the next 16 partitions every
// request; partitions=16 sends the same 16 every time.
func BenchmarkCoreProduceManyPartitions(b *testing.B) {
	for _, parts := range []int32{16, 10000} {
		b.Run(fmt.Sprintf("partitions=%d", parts), func(b *testing.B) {
			benchProduceSpread(b, parts)
		})
	}
}

func benchProduceSpread(b *testing.B, parts int32) {
	const perReq = 16
	cb := coreStart(b, "", nil)
	cb.topic("many", parts, nil)
	recs := make([]coreRecord, 63)
	for i := range recs {
		recs[i] = coreRecord{value: bytes.Repeat([]byte{'m'}, 1000)}
	}
	batch := coreBatch(1, -1, -1, -1, recs...)
	// One frame is encoded (the client's encoding would otherwise outweigh
	// the broker) with marker partition numbers, whose places are then
	// patched before each send, as is the correlation id.
	const marker = 0x7a7a0000
	req := produceReq(9, -1, "many", marker, batch)
	for p := int32(1); p < perReq; p++ {
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition, rp.Records = marker+p, batch
		req.Topics[0].Partitions = append(req.Topics[0].Partitions, rp)
	}
	frame := coreFrame(req, 0)
	var at [perReq]int
	for p := range at {
		var m [4]byte
		binary.BigEndian.PutUint32(m[:], uint32(marker+p))
		at[p] = bytes.Index(frame, m[:])
		if at[p] < 0 {
			b.Fatal("marker not found")
		}
	}
	rc := cb.raw()
	b.SetBytes(int64(perReq * len(batch)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		first := int32(i*perReq) % parts
		for p, off := range at {
			binary.BigEndian.PutUint32(frame[off:], uint32(first+int32(p)))
		}
		rc.corr++
		binary.BigEndian.PutUint32(frame[8:], uint32(rc.corr))
		if _, err := rc.c.Write(frame); err != nil {
			b.Fatal(err)
		}
		for _, p := range rc.recv(req, rc.corr).(*kmsg.ProduceResponse).Topics[0].Partitions {
			if p.ErrorCode != 0 {
				b.Fatalf("partition %d: error %d", p.Partition, p.ErrorCode)
			}
		}
	}
}

// BenchmarkCoreProduceSmallBatches is the round-robin shape at 10,000
// partitions (issue 14 item 2): each acks=-1 request carries a
// one-record batch of 1 KiB for each of 250 consecutive partitions, from
// an idempotent producer (each partition's sequence advances every visit),
// so per-batch costs decide. The frame is encoded once; partition numbers,
// sequences and batch CRCs are patched before each send. cpu-ns/batch is
// the process's CPU time (getrusage: broker and the thin client) per
// batch, which a busy machine disturbs less than ns/op.
//
//	go test ./broker -run NONE -bench CoreProduceSmallBatches -benchtime 2000x -cpu 1 -benchmem
func BenchmarkCoreProduceSmallBatches(b *testing.B) {
	const (
		parts  = 10000
		perReq = 250
		marker = 0x7a7a0000
		pid    = 4242
	)
	cb := coreStart(b, "", nil)
	cb.topic("rr", parts, nil)
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis = 9, -1, 10000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "rr"
	for p := int32(0); p < perReq; p++ {
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition = marker + p
		rp.Records = coreBatch(time.Now().UnixMilli(), pid, 0, 0, coreRecord{value: fmt.Appendf(bytes.Repeat([]byte{'r'}, 1000), "batch-%06d", p)})
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = []kmsg.ProduceRequestTopic{rt}
	frame := coreFrame(req, 0)
	var partAt, batchAt [perReq]int
	for p := range perReq {
		var m [4]byte
		binary.BigEndian.PutUint32(m[:], uint32(marker+p))
		partAt[p] = bytes.Index(frame, m[:])
		batchAt[p] = bytes.Index(frame, rt.Partitions[p].Records)
		if partAt[p] < 0 || batchAt[p] < 0 {
			b.Fatal("marker not found")
		}
	}
	var seq [parts]int32
	rc := cb.raw()
	var ru0, ru1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	b.SetBytes(int64(len(frame)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		first := int32(i*perReq) % parts
		for p := range perReq {
			part := first + int32(p)
			binary.BigEndian.PutUint32(frame[partAt[p]:], uint32(part))
			batch := frame[batchAt[p] : batchAt[p]+len(rt.Partitions[p].Records)]
			binary.BigEndian.PutUint32(batch[bBaseSequence:], uint32(seq[part]))
			binary.BigEndian.PutUint32(batch[bCRC:], crc32.Checksum(batch[bAttributes:], crc32c))
			seq[part]++
		}
		rc.corr++
		binary.BigEndian.PutUint32(frame[8:], uint32(rc.corr))
		if _, err := rc.c.Write(frame); err != nil {
			b.Fatal(err)
		}
		for _, p := range rc.recv(req, rc.corr).(*kmsg.ProduceResponse).Topics[0].Partitions {
			if p.ErrorCode != 0 {
				b.Fatalf("partition %d: error %d", p.Partition, p.ErrorCode)
			}
		}
	}
	b.StopTimer()
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	cpu := time.Duration(ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano())
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*perReq), "cpu-ns/batch")
}
