package broker

// Compacted topics through the broker: keyless records refused as Kafka 4
// refuses them, a compacted topic read from the start by a kgo consumer,
// cleanup.policy changed by AlterConfigs, DeleteRecords refused without
// delete in the policy.

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestCompactedTopicRefusesKeylessRecords: a batch with keyless records on
// a compacted topic gets INVALID_RECORD with one record error per keyless
// record and Kafka 4.1's message; the same batch is fine elsewhere.
func TestCompactedTopicRefusesKeylessRecords(t *testing.T) {
	cb := coreStart(t, "", nil)
	cb.topic("cmp", 1, map[string]string{"cleanup.policy": "compact"})
	cb.topic("del", 1, nil)
	now := time.Now().UnixMilli()
	batch := coreBatch(now, -1, -1, -1,
		coreRecord{key: []byte("a"), value: []byte("1")},
		coreRecord{key: nil, value: []byte("2"), tsDelta: 1},
		coreRecord{key: []byte("c"), value: []byte("3"), tsDelta: 2},
		coreRecord{key: nil, value: nil, tsDelta: 3})
	rc := cb.raw()
	pr := producePart(rc.do(produceReq(11, -1, "cmp", 0, batch)))
	const rec = "Compacted topic cannot accept message without key in topic partition cmp-0"
	want := "One or more records have been rejected due to 2 record errors in total, and only showing the first three errors at most: " +
		"[RecordError(batchIndex=1, message='" + rec + "'), RecordError(batchIndex=3, message='" + rec + "')]"
	if pr.ErrorCode != kerr.InvalidRecord.Code || pr.ErrorMessage == nil || *pr.ErrorMessage != want || pr.LogStartOffset != 0 {
		t.Fatalf("keyless on a compacted topic: code %d, message %v, log start %d", pr.ErrorCode, admStr(pr.ErrorMessage), pr.LogStartOffset)
	}
	if len(pr.ErrorRecords) != 2 || pr.ErrorRecords[0].RelativeOffset != 1 || pr.ErrorRecords[1].RelativeOffset != 3 ||
		admStr(pr.ErrorRecords[0].ErrorMessage) != rec {
		t.Fatalf("record errors: %+v", pr.ErrorRecords)
	}
	if pr := producePart(rc.do(produceReq(11, -1, "del", 0, batch))); pr.ErrorCode != 0 {
		t.Fatalf("keyless on a delete topic: code %d", pr.ErrorCode)
	}
	if pr := producePart(rc.do(produceReq(11, -1, "cmp", 0, coreBatch(now, -1, -1, -1, coreRecs(3, "x")...)))); pr.ErrorCode != 0 {
		t.Fatalf("keyed records on a compacted topic: code %d", pr.ErrorCode)
	}
}

// TestCompactedTopicConsumed: a compacted topic overwritten many times is
// cleaned by the store, and a kgo consumer from the start reads each
// key's latest value at the offset it was written at. AlterConfigs turns
// compaction off and on; DeleteRecords needs delete in the policy.
func TestCompactedTopicConsumed(t *testing.T) {
	cb := coreStart(t, "", nil)
	cl := cb.client()
	adm := kadm.NewClient(cl)
	ctx := coreCtx(t)
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{
		"cleanup.policy": kadm.StringPtr("compact"), "segment.ms": kadm.StringPtr("1"),
		"min.cleanable.dirty.ratio": kadm.StringPtr("0.01"),
	}, "cmp"); err != nil {
		t.Fatal(err)
	}
	produce := func(rounds int) map[string]int64 {
		latest := map[string]int64{}
		for r := 0; r < rounds; r++ {
			var recs []*kgo.Record
			for k := 0; k < 10; k++ {
				recs = append(recs, &kgo.Record{Topic: "cmp", Key: []byte(fmt.Sprintf("k%d", k)), Value: []byte(fmt.Sprintf("r%d", r))})
			}
			res := cl.ProduceSync(ctx, recs...)
			if err := res.FirstErr(); err != nil {
				t.Fatal(err)
			}
			for _, pr := range res {
				latest[string(pr.Record.Key)] = pr.Record.Offset
			}
		}
		return latest
	}
	latest := produce(30)
	time.Sleep(5 * time.Millisecond) // past segment.ms
	if err := cb.b.store.RunRetention(); err != nil {
		t.Fatal(err)
	}
	read := func() (int, map[string]int64) {
		t.Helper()
		hwm := cb.b.store.Partition(cmpTopic(t, cb.b, "cmp").ID, 0).HighWatermark()
		c := cb.client(kgo.ConsumeTopics("cmp"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		seen := map[string]int64{}
		n := 0
		for {
			fs := c.PollFetches(ctx)
			if err := ctx.Err(); err != nil {
				t.Fatalf("consuming: %v", err)
			}
			fs.EachError(func(_ string, _ int32, err error) { t.Fatal(err) })
			done := false
			fs.EachRecord(func(r *kgo.Record) {
				n++
				seen[string(r.Key)] = r.Offset
				done = done || r.Offset == hwm-1
			})
			if done {
				return n, seen
			}
		}
	}
	n, seen := read()
	if n > 20 || fmt.Sprint(seen) != fmt.Sprint(latest) {
		t.Fatalf("read %d records; latest offsets %v, want %v", n, seen, latest)
	}

	// DeleteRecords: refused under compact alone, as in Kafka.
	dr, err := adm.DeleteRecords(ctx, cmpOffsets("cmp", 1))
	if err != nil || !errors.Is(dr.Sorted()[0].Err, kerr.PolicyViolation) {
		t.Fatalf("DeleteRecords on a compacted topic: %+v %v", dr, err)
	}

	// Off: more overwrites stay.
	if r, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "cleanup.policy", Value: kadm.StringPtr("delete")}}, "cmp"); err != nil || r[0].Err != nil {
		t.Fatalf("alter to delete: %+v %v", r, err)
	}
	latest = produce(5)
	time.Sleep(5 * time.Millisecond)
	if err := cb.b.store.RunRetention(); err != nil {
		t.Fatal(err)
	}
	if n, _ = read(); n < 50 {
		t.Fatalf("cleanup.policy=delete: %d records read after 50 more", n)
	}
	// On again, as compact,delete: cleaned at the next round.
	if r, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "cleanup.policy", Value: kadm.StringPtr("compact,delete")},
		{Op: kadm.SetConfig, Name: "segment.ms", Value: kadm.StringPtr("1")},
		{Op: kadm.SetConfig, Name: "min.cleanable.dirty.ratio", Value: kadm.StringPtr("0.01")},
	}, "cmp"); err != nil || r[0].Err != nil {
		t.Fatalf("alter to compact,delete: %+v %v", r, err)
	}
	if err := cb.b.store.RunRetention(); err != nil {
		t.Fatal(err)
	}
	n, seen = read()
	for k, off := range latest {
		if seen[k] != off {
			t.Fatalf("key %s last read at %d, written last at %d", k, seen[k], off)
		}
	}
	if n > 20 {
		t.Fatalf("compact,delete: %d records read", n)
	}
}

func cmpTopic(t *testing.T, b *Broker, name string) *Topic {
	t.Helper()
	tp, ok := b.topics.Get(name)
	if !ok {
		t.Fatalf("no topic %s", name)
	}
	return tp
}

func cmpOffsets(topic string, at int64) kadm.Offsets {
	os := kadm.Offsets{}
	os.Add(kadm.Offset{Topic: topic, Partition: 0, At: at})
	return os
}

// TestCompactionBrokerDefaults: the dynamic log.cleaner.* broker configs
// are the defaults of a compacted topic's settings, as in Kafka, and
// DescribeConfigs says where each value comes from.
func TestCompactionBrokerDefaults(t *testing.T) {
	cb := coreStart(t, "", nil)
	adm := kadm.NewClient(cb.client())
	ctx := coreCtx(t)
	r, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "log.cleaner.min.cleanable.ratio", Value: kadm.StringPtr("0.9")},
		{Op: kadm.SetConfig, Name: "log.cleaner.delete.retention.ms", Value: kadm.StringPtr("1234")},
	})
	if err != nil || len(r) == 0 || r[0].Err != nil {
		t.Fatalf("alter broker configs: %+v %v", r, err)
	}
	cb.topic("cmp", 1, map[string]string{"cleanup.policy": "compact"})
	cb.topic("own", 1, map[string]string{"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.2"})
	if pol := cmpTopic(t, cb.b, "cmp").Compaction; pol.MinCleanableRatio != 0.9 || pol.DeleteRetentionMs != 1234 || pol.MaxLagMs != 1<<63-1 {
		t.Errorf("topic following the broker defaults: %+v", pol)
	}
	if pol := cmpTopic(t, cb.b, "own").Compaction; pol.MinCleanableRatio != 0.2 || pol.DeleteRetentionMs != 1234 {
		t.Errorf("topic with its own ratio: %+v", pol)
	}
	rc, err := adm.DescribeTopicConfigs(ctx, "cmp")
	if err != nil {
		t.Fatal(err)
	}
	c, err := rc.On("cmp", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range c.Configs {
		if kv.Key == "min.cleanable.dirty.ratio" && (kv.MaybeValue() != "0.9" || kv.Source != kmsg.ConfigSourceDynamicDefaultBrokerConfig) {
			t.Errorf("described: %s=%s from %v", kv.Key, kv.MaybeValue(), kv.Source)
		}
	}
	// Back to Kafka's default when the broker config goes.
	if _, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: kadm.DeleteConfig, Name: "log.cleaner.min.cleanable.ratio"}}); err != nil {
		t.Fatal(err)
	}
	if pol := cmpTopic(t, cb.b, "cmp").Compaction; pol.MinCleanableRatio != 0.5 {
		t.Errorf("after the broker default was removed: %+v", pol)
	}
}
