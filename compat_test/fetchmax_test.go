package compat

import (
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Fetch's total max_bytes (KIP-74, issue 18 item 1): the record bytes of one
// response stay within the request's MaxBytes, whatever each partition's
// limit, except that the first batch of the first partition with data comes
// whole even when it alone is larger.

const (
	fmRecord    = 200 << 10 // one record's value
	fmPerBatch  = 4         // records per produced batch (~800 KB)
	fmBatches   = 4         // batches per partition (~3.2 MB)
	fmParts     = 4
	fmFetchMax  = 1 << 20  // the consumers' fetch.max.bytes
	fmPartMax   = 20 << 20 // and max.partition.fetch.bytes
	fmReadSlack = 512      // librdkafka's receive.message.max.bytes - fetch.max.bytes minimum
)

// fmTopic creates a topic of fmParts partitions, each holding fmBatches
// batches of fmPerBatch incompressible records, and returns it with every
// record.
func fmTopic(t *testing.T, tg *target) (string, []rec) {
	t.Helper()
	topic := newTopic(t, tg, "fetchmax", fmParts)
	cl := newClient(t, tg, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerBatchMaxBytes(1<<20-1<<10),
		kgo.ProducerLinger(50*time.Millisecond))
	var all []rec
	for b := 0; b < fmBatches; b++ {
		var rs []*kgo.Record
		for p := int32(0); p < fmParts; p++ {
			for i := 0; i < fmPerBatch; i++ {
				v := make([]byte, fmRecord)
				rand.Read(v)
				rs = append(rs, &kgo.Record{Partition: p, Key: []byte(fmt.Sprintf("p%d-b%d-%d", p, b, i)), Value: v})
			}
		}
		if err := cl.ProduceSync(ctxT(t, 60*time.Second), rs...).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
		for _, r := range rs {
			all = append(all, rec{P: r.Partition, O: r.Offset, K: string(r.Key), V: fmt.Sprintf("%x", r.Value[:16]), H: map[string]string{}})
		}
	}
	return topic, all
}

// fmRec is the rec the fmTopic records are compared by (value: its first
// 16 bytes in hex).
func fmRec(p int32, o int64, k, v []byte) rec {
	return rec{P: p, O: o, K: string(k), V: fmt.Sprintf("%x", v[:min(16, len(v))]), H: map[string]string{}}
}

// fmResponseBytes fetches every partition of topic from offset 0 with
// kmsg and returns the record bytes of each partition in the response.
func fmResponseBytes(t *testing.T, tg *target, topic string, parts int32, maxBytes, partMax int32) map[int32]int {
	t.Helper()
	cl := newClient(t, tg)
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID = -1
	req.MaxWaitMillis = 500
	req.MinBytes = 1
	req.MaxBytes = maxBytes
	req.SessionEpoch = -1 // no session
	td, err := newAdmin(t, tg).ListTopics(ctxT(t, 20*time.Second), topic)
	if err != nil {
		t.Fatalf("metadata: %v", err)
	}
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = topic, td[topic].ID // kgo sends the newest version both serve
	for p := int32(0); p < parts; p++ {
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes, rp.LogStartOffset = p, 0, partMax, -1
		rp.CurrentLeaderEpoch = -1
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctxT(t, 20*time.Second), cl)
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	out := map[int32]int{}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			if rp.ErrorCode != 0 {
				t.Fatalf("fetch %s/%d: error %d", topic, rp.Partition, rp.ErrorCode)
			}
			if len(rp.RecordBatches) > 0 {
				out[rp.Partition] = len(rp.RecordBatches)
			}
		}
	}
	return out
}

func TestFetchMaxBytes(t *testing.T) {
	matrixGo(t, "kmsg", "Fetch within the request's max bytes (KIP-74), many partitions", apisData, func(t *testing.T, tg *target) {
		topic, _ := fmTopic(t, tg)
		got := fmResponseBytes(t, tg, topic, fmParts, fmFetchMax, fmPartMax)
		total := 0
		for _, n := range got {
			total += n
		}
		t.Logf("%s: record bytes per partition %v, total %d (max %d)", tg.name, got, total, fmFetchMax)
		if total == 0 {
			t.Fatalf("no records returned")
		}
		if total > fmFetchMax {
			t.Errorf("response carries %d record bytes, more than the request's MaxBytes %d", total, fmFetchMax)
		}
	})

	matrixGo(t, "kmsg", "Fetch returns a first batch larger than max bytes whole, alone (KIP-74)", apisData, func(t *testing.T, tg *target) {
		adm := newAdmin(t, tg)
		topic := uniq("fetchmax-big")
		mmb := "3000000"
		if r, err := adm.CreateTopic(ctxT(t, 20*time.Second), 3, 1, map[string]*string{"max.message.bytes": &mmb}, topic); err != nil || r.Err != nil {
			t.Fatalf("create: %v %v", err, r.Err)
		}
		waitTopic(t, tg, topic, 3)
		// Partition 0 stays empty; 1 and 2 hold one 1.5 MB batch each.
		cl := newClient(t, tg, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()),
			kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerBatchMaxBytes(3000000))
		for p := int32(1); p < 3; p++ {
			v := make([]byte, 1500<<10)
			rand.Read(v)
			if err := cl.ProduceSync(ctxT(t, 30*time.Second), &kgo.Record{Partition: p, Value: v}).FirstErr(); err != nil {
				t.Fatalf("produce: %v", err)
			}
		}
		got := fmResponseBytes(t, tg, topic, 3, 512<<10, 512<<10)
		t.Logf("%s: record bytes per partition %v", tg.name, got)
		if len(got) != 1 || got[1] < 1500<<10 || got[1] > 1500<<10+1024 {
			t.Errorf("record bytes per partition %v, want only partition 1's whole batch (~%d bytes)", got, 1500<<10)
		}
	})

	matrixGo(t, "franz-go", "consume with fetch.max.bytes below the partitions' limit (sessions, read cap)", apisData, func(t *testing.T, tg *target) {
		topic, want := fmTopic(t, tg)
		// A response above BrokerMaxReadBytes is a read error to
		// franz-go: the consumer retries it forever and never progresses.
		cl := newClient(t, tg, kgo.FetchMaxBytes(fmFetchMax), kgo.BrokerMaxReadBytes(fmFetchMax+64<<10),
			kgo.FetchMaxWait(200*time.Millisecond), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		// The option clamps the partitions' limit to FetchMaxBytes (for
		// brokers that ignore MaxBytes); this sets it as other clients do.
		cl.UpdateFetchMaxBytes(fmFetchMax, fmPartMax)
		var got []rec
		var lastErr error
		ctx := ctxT(t, 30*time.Second)
		for len(got) < len(want) {
			fs := cl.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("got %d of %d records before timeout (last error: %v)", len(got), len(want), lastErr)
			}
			fs.EachError(func(_ string, _ int32, err error) { lastErr = err })
			fs.EachRecord(func(r *kgo.Record) { got = append(got, fmRec(r.Partition, r.Offset, r.Key, r.Value)) })
		}
		checkConsumed(t, got, want)
	})

	matrixGo(t, "confluent-kafka-go", "consume with receive.message.max.bytes just above fetch.max.bytes", apisData, func(t *testing.T, tg *target) {
		topic, want := fmTopic(t, tg)
		// librdkafka's documented setting: receive.message.max.bytes at
		// least fetch.max.bytes + 512. A larger response drops the
		// connection, and the consumer never progresses.
		c, err := kafka.NewConsumer(&kafka.ConfigMap{"bootstrap.servers": tg.addr, "client.id": "compat-ckg-fetchmax",
			"group.id": uniq("g-fetchmax"), "auto.offset.reset": "earliest", "enable.auto.commit": false,
			"fetch.max.bytes": fmFetchMax, "max.partition.fetch.bytes": fmPartMax,
			"receive.message.max.bytes": fmFetchMax + fmReadSlack, "fetch.wait.max.ms": 200})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		var tps []kafka.TopicPartition
		for p := int32(0); p < fmParts; p++ {
			tps = append(tps, kafka.TopicPartition{Topic: &topic, Partition: p, Offset: kafka.OffsetBeginning})
		}
		if err := c.Assign(tps); err != nil {
			t.Fatal(err)
		}
		var got []rec
		var lastErr error
		deadline := time.Now().Add(30 * time.Second)
		for len(got) < len(want) && time.Now().Before(deadline) {
			ev := c.Poll(200)
			switch e := ev.(type) {
			case *kafka.Message:
				got = append(got, fmRec(e.TopicPartition.Partition, int64(e.TopicPartition.Offset), e.Key, e.Value))
			case kafka.Error:
				lastErr = e
			}
		}
		if len(got) < len(want) {
			t.Fatalf("consumed %d of %d records in 30s (last error: %v)", len(got), len(want), lastErr)
		}
		checkConsumed(t, got, want)
	})
}
