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
