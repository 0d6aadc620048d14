package repltest

import (
	"context"
	"encoding/binary"
	"hash/crc32"
	"time"

	"github.com/gregor-broker/gregor/internal/kafkadiff"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Produce sends one record with value v to partition p of topic on the
// broker at addr itself (no metadata routing), with acks and the request's
// timeout, and returns the partition's error code: what a test needs to see
// a slave's or a starved master's answer to a write.
func Produce(addr, topic string, p int32, acks int16, timeout time.Duration, v []byte) (int16, error) {
	// kgo writes its configured acks into every ProduceRequest it sends.
	opts := []kgo.Opt{kgo.SeedBrokers(addr)}
	if acks != -1 {
		opts = append(opts, kgo.DisableIdempotentWrite())
		switch acks {
		case 0:
			opts = append(opts, kgo.RequiredAcks(kgo.NoAck()))
		case 1:
			opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()))
		}
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout+10*time.Second)
	defer cancel()
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = acks, int32(timeout.Milliseconds())
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rt.TopicID = kafkadiff.TopicID(ctx, cl, topic) // kgo sends v13, which names topics by id
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = p, OneBatch(v)
	rt.Partitions = []kmsg.ProduceRequestTopicPartition{rp}
	req.Topics = []kmsg.ProduceRequestTopic{rt}
	resp, err := cl.SeedBrokers()[0].Request(ctx, req)
	if err != nil {
		return 0, err
	}
	return resp.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode, nil
}

// OneBatch encodes a v2 record batch of one record with value v and no key.
func OneBatch(v []byte) []byte {
	var body []byte
	body = append(body, 0)               // attributes
	body = binary.AppendVarint(body, 0)  // timestamp delta
	body = binary.AppendVarint(body, 0)  // offset delta
	body = binary.AppendVarint(body, -1) // null key
	body = binary.AppendVarint(body, int64(len(v)))
	body = append(body, v...)
	body = binary.AppendVarint(body, 0) // no headers
	rec := binary.AppendVarint(nil, int64(len(body)))
	rec = append(rec, body...)
	now := time.Now().UnixMilli()
	b := kmsg.RecordBatch{
		PartitionLeaderEpoch: -1, Magic: 2,
		FirstTimestamp: now, MaxTimestamp: now,
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1,
		NumRecords: 1, Records: rec,
	}
	raw := b.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[8:], uint32(len(raw)-12))
	binary.BigEndian.PutUint32(raw[17:], crc32.Checksum(raw[21:], crc32.MakeTable(crc32.Castagnoli)))
	return raw
}
