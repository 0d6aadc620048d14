package cluster_test

// Fetch's total max_bytes (KIP-74, issue 18 item 1) on a slave: a slave
// serves fetches (read from slave, KIP-392) through the same path as its
// master, so a response's record bytes stay within the request's MaxBytes
// across partitions there too.

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestSlaveFetchWithinMaxBytes(t *testing.T) {
	g := startReplGroup(t, 90, 2)
	m, s := g.members[0], g.members[1]
	m.start()
	g.waitRole(0, "master", 0)
	s.start()
	const tp, parts = "fetchmax", 4
	if code, msg := createTopic(t, m.addr, tp, parts, -1, nil); code != 0 {
		t.Fatalf("create: %v %s", kerr.ErrorForCode(code), msg)
	}
	g.waitISR(m.addr, tp, 1, 2)
	// Four batches of four 200 KB records per partition: 3.2 MB each.
	cl, err := kgo.NewClient(kgo.SeedBrokers(m.addr), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerBatchMaxBytes(1<<20-1<<10), kgo.ProducerLinger(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for b := 0; b < 4; b++ {
		var rs []*kgo.Record
		for p := int32(0); p < parts; p++ {
			for i := 0; i < 4; i++ {
				v := make([]byte, 200<<10)
				rand.Read(v)
				rs = append(rs, &kgo.Record{Topic: tp, Partition: p, Value: v})
			}
		}
		if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	g.waitIdentical(m.addr, s.addr, tp, parts, 16)
	id, err := topicIDOf(m.addr, tp)
	if err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{s.addr, m.addr} {
		total, per := fetchAllParts(t, addr, tp, id, parts, 1<<20, 20<<20)
		t.Logf("%s: record bytes per partition %v", addr, per)
		if total == 0 || total > 1<<20 {
			t.Errorf("fetch from %s: %d record bytes, want 1..%d (the request's MaxBytes)", addr, total, 1<<20)
		}
	}
}

// fetchAllParts fetches every partition from offset 0 from addr and
// returns the record bytes in the response, in total and per partition.
func fetchAllParts(t *testing.T, addr, topic string, id [16]byte, parts int32, maxBytes, partMax int32) (int, map[int32]int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes, req.SessionEpoch = -1, 500, 1, maxBytes, -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = topic, id
	for p := int32(0); p < parts; p++ {
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch, rp.LastFetchedEpoch, rp.LogStartOffset = p, partMax, -1, -1, -1
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = []kmsg.FetchRequestTopic{rt}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := cl.SeedBrokers()[0].Request(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	total, per := 0, map[int32]int{}
	for _, t2 := range resp.(*kmsg.FetchResponse).Topics {
		for _, p := range t2.Partitions {
			if p.ErrorCode != 0 {
				t.Fatalf("fetch %s/%d from %s: %v", topic, p.Partition, addr, kerr.ErrorForCode(p.ErrorCode))
			}
			if n := len(p.RecordBatches); n > 0 {
				per[p.Partition] = n
				total += n
			}
		}
	}
	return total, per
}
