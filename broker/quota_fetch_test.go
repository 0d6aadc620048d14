package broker

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestQuotaThrottlesFetchAndRequestTime: a consumer over consumer_byte_rate
// gets a Fetch ThrottleMillis (and its MaxBytes capped at the quota's
// window), and a client over request_percentage gets throttled too.
func TestQuotaThrottlesFetchAndRequestTime(t *testing.T) {
	cb := coreStart(t, "", func(c *Config) { c.Store.SegmentBytes = 4 << 20; c.Quota.WindowNum = 2 })
	tp := cb.topic("qf", 1, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	core := "core"
	set := func(key string, v float64) {
		t.Helper()
		res, err := kadm.NewClient(cb.client()).AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{{
			Entity: []kadm.ClientQuotaEntityComponent{{Type: "client-id", Name: &core}},
			Ops:    []kadm.AlterClientQuotaOp{{Key: key, Value: v}},
		}})
		if err != nil || res[0].Err != nil {
			t.Fatalf("alter %s: %v %+v", key, err, res)
		}
	}
	rc := cb.raw()
	for range 5 {
		rc.do(produceReq(9, -1, "qf", 0, coreBatch(1, -1, -1, -1, coreRecs(50, "fetch-quota-payload-fetch-quota-payload")...)))
	}
	set("consumer_byte_rate", 1000)
	var throttle int32
	for i := 0; i < 10 && throttle == 0; i++ {
		fr := fetchReq(12, "qf", tp.ID, 0, 0)
		resp := rc.do(fr).(*kmsg.FetchResponse)
		throttle = resp.ThrottleMillis
	}
	if throttle <= 0 {
		t.Fatal("no Fetch throttle over consumer_byte_rate=1000")
	}

	set("request_percentage", 0.0001)
	throttle = 0
	for i := 0; i < 20 && throttle == 0; i++ {
		md := kmsg.NewPtrMetadataRequest()
		md.Version = 12
		throttle = rc.do(md).(*kmsg.MetadataResponse).ThrottleMillis
	}
	if throttle <= 0 {
		t.Fatal("no Metadata throttle over request_percentage")
	}
}

// TestQuotaThrottledFetchIsEmpty: a Fetch over consumer_byte_rate is
// answered as Kafka answers it, with its throttle time and no records (no
// partitions, session id 0, a session it opened closed again), and the
// next fetch reads from the same offset: every record is read once, in
// order, throttled or not.
func TestQuotaThrottledFetchIsEmpty(t *testing.T) {
	cb := coreStart(t, "", func(c *Config) { c.Store.SegmentBytes = 4 << 20; c.Quota.WindowNum = 2 })
	tp := cb.topic("qfe", 1, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rc := cb.raw()
	const batches, per = 8, 20
	for range batches {
		rc.do(produceReq(9, -1, "qfe", 0, coreBatch(1, -1, -1, -1, coreRecs(per, "throttled-fetch-payload")...)))
	}
	core := "core"
	res, err := kadm.NewClient(cb.client()).AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{{
		Entity: []kadm.ClientQuotaEntityComponent{{Type: "client-id", Name: &core}},
		Ops:    []kadm.AlterClientQuotaOp{{Key: "consumer_byte_rate", Value: 2000}},
	}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("alter: %v %+v", err, res)
	}
	sessions := cb.b.sessions.len()
	next, throttled, opened := int64(0), 0, 0
	for i := 0; next < batches*per && ctx.Err() == nil; i++ {
		fr := fetchReq(12, "qfe", tp.ID, 0, next)
		fr.SessionEpoch = -1
		if i%2 == 1 {
			fr.SessionEpoch = 0 // a full fetch opening a session
		}
		resp := rc.do(fr).(*kmsg.FetchResponse)
		if resp.ThrottleMillis > 0 {
			throttled++
			if len(resp.Topics) != 0 || resp.SessionID != 0 {
				t.Fatalf("a throttled fetch answered session %d and %d topics, want session 0 and none", resp.SessionID, len(resp.Topics))
			}
			continue
		}
		if resp.SessionID != 0 {
			opened++
		}
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("fetch at %d answered %+v", next, resp.Topics)
		}
		p := resp.Topics[0].Partitions[0]
		if p.ErrorCode != 0 {
			t.Fatalf("fetch at %d: error %d", next, p.ErrorCode)
		}
		for rec := p.RecordBatches; len(rec) > 0; {
			var rb kmsg.RecordBatch
			if err := rb.ReadFrom(rec); err != nil {
				t.Fatal(err)
			}
			if rb.FirstOffset != next {
				t.Fatalf("batch at %d, want %d", rb.FirstOffset, next)
			}
			next = rb.FirstOffset + int64(rb.LastOffsetDelta) + 1
			rec = rec[12+rb.Length:]
		}
	}
	if next != batches*per {
		t.Fatalf("read up to offset %d of %d", next, batches*per)
	}
	if throttled == 0 {
		t.Fatal("no fetch was throttled under consumer_byte_rate=2000")
	}
	if n := cb.b.sessions.len(); n != sessions+opened {
		t.Fatalf("%d fetch sessions open, want %d: the throttled fetches' must be closed", n, sessions+opened)
	}
	t.Logf("%d records read, %d fetches throttled", next, throttled)
}
