package broker

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestQuotaPrecedence: each of Kafka's eight entity levels wins over the
// ones below it, per quota key, and decides who shares the rate.
func TestQuotaPrecedence(t *testing.T) {
	u := func(n string) quotaEntity { return quotaEntity{hasUser: true, user: n} }
	ud := quotaEntity{hasUser: true, userDefault: true}
	with := func(e quotaEntity, c string, def bool) quotaEntity {
		e.hasClient, e.client, e.clientDefault = true, c, def
		return e
	}
	levels := []struct {
		e          quotaEntity
		user, clnt string // the bucket's tags for alice/app
	}{
		{with(u("alice"), "app", false), "alice", "app"},
		{with(u("alice"), "", true), "alice", "app"},
		{u("alice"), "alice", ""},
		{with(ud, "app", false), "alice", "app"},
		{with(ud, "", true), "alice", "app"},
		{ud, "alice", ""},
		{with(quotaEntity{}, "app", false), "", "app"},
		{with(quotaEntity{}, "", true), "", "app"},
	}
	// With levels i..7 configured, level i must win.
	for i := range levels {
		s := &quotaSet{all: map[quotaEntity]map[string]float64{}}
		for j := i; j < len(levels); j++ {
			s.all[levels[j].e] = map[string]float64{quotaProducerByteRate: float64(100 + j)}
		}
		bound, bk, ok := s.resolve(quotaProducerByteRate, "alice", "app")
		if !ok || bound != float64(100+i) || bk.user != levels[i].user || bk.client != levels[i].clnt {
			t.Errorf("levels %d..: got %v %+v %v, want %d from level %d", i, bound, bk, ok, 100+i, i)
		}
		if _, _, ok := s.resolve(quotaConsumerByteRate, "alice", "app"); ok {
			t.Errorf("levels %d..: a consumer quota resolved where only producer quotas are set", i)
		}
	}
	// Another user's named entity never applies.
	s := &quotaSet{all: map[quotaEntity]map[string]float64{u("bob"): {quotaProducerByteRate: 1}}}
	if _, _, ok := s.resolve(quotaProducerByteRate, "alice", "app"); ok {
		t.Error("bob's quota applied to alice")
	}
}

// TestQuotaRateThrottleTime: the throttle time is Kafka's: what the rate
// needs to fall back to the bound, measured over at least n-1 windows.
func TestQuotaRateThrottleTime(t *testing.T) {
	r := newSampledRate(11, time.Second)
	now := time.Unix(1000, 0)
	if d := r.record(10, now, 1); d != 0 {
		t.Fatalf("10 bytes over a 10 s window at 1 B/s: throttled %v", d)
	}
	// 20 bytes over 10 s is 2 B/s: 10 s more at 1 B/s brings it back.
	if d := r.record(10, now, 1); d != 10*time.Second {
		t.Fatalf("throttle %v, want 10s", d)
	}
	// Eleven windows later the samples have expired.
	if d := r.record(1, now.Add(12*time.Second), 1); d != 0 {
		t.Fatalf("after the window: throttled %v", d)
	}
}

// TestClientQuotasAlterDescribe: AlterClientQuotas validates as Kafka,
// validateOnly stores nothing, the quotas survive a restart (commit log),
// and DescribeClientQuotas filters as Kafka's image does.
func TestClientQuotasAlterDescribe(t *testing.T) {
	cb := coreStart(t, "", func(c *Config) { c.Store.SegmentBytes = 4 << 20 })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	alice, app := "alice", "app"
	set := func(validate bool, alts ...kadm.AlterClientQuotaEntry) kadm.AlteredClientQuotas {
		t.Helper()
		adm := kadm.NewClient(cb.client())
		var res kadm.AlteredClientQuotas
		var err error
		if validate {
			res, err = adm.ValidateAlterClientQuotas(ctx, alts)
		} else {
			res, err = adm.AlterClientQuotas(ctx, alts)
		}
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	entry := func(ops []kadm.AlterClientQuotaOp, comps ...kadm.ClientQuotaEntityComponent) kadm.AlterClientQuotaEntry {
		return kadm.AlterClientQuotaEntry{Entity: comps, Ops: ops}
	}
	user := kadm.ClientQuotaEntityComponent{Type: "user", Name: &alice}
	client := kadm.ClientQuotaEntityComponent{Type: "client-id", Name: &app}
	userDefault := kadm.ClientQuotaEntityComponent{Type: "user"}
	op := func(k string, v float64) kadm.AlterClientQuotaOp { return kadm.AlterClientQuotaOp{Key: k, Value: v} }
	describe := func(strict bool, comps ...kadm.DescribeClientQuotaComponent) kadm.DescribedClientQuotas {
		t.Helper()
		got, err := kadm.NewClient(cb.client()).DescribeClientQuotas(ctx, strict, comps)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}

	// Refusals, each on its entry, with Kafka's messages.
	bad := []struct {
		e    kadm.AlterClientQuotaEntry
		want string
	}{
		{entry([]kadm.AlterClientQuotaOp{op("producer_byte_rate", 1.5)}, user), "producer_byte_rate cannot be a fractional value."},
		{entry([]kadm.AlterClientQuotaOp{op("consumer_byte_rate", 0)}, user), "Quota consumer_byte_rate must be greater than 0"},
		{entry([]kadm.AlterClientQuotaOp{op("nonsense", 1)}, user), "Invalid configuration key nonsense"},
		{entry([]kadm.AlterClientQuotaOp{op("controller_mutation_rate", 1)}, user), "gregor does not enforce controller_mutation_rate"},
		{entry([]kadm.AlterClientQuotaOp{op("producer_byte_rate", 1)}, kadm.ClientQuotaEntityComponent{Type: "group", Name: &app}), "Unhandled client quota entity type: group"},
		{entry([]kadm.AlterClientQuotaOp{op("producer_byte_rate", 1)}), "Invalid empty client quota entity"},
	}
	for _, c := range bad {
		res := set(false, c.e)
		if len(res) != 1 || res[0].Err == nil || res[0].Err != kerr.InvalidRequest || !strings.Contains(res[0].ErrMessage, c.want) {
			t.Errorf("%+v: got %+v, want INVALID_REQUEST %q", c.e, res, c.want)
		}
	}

	// validateOnly: accepted, not stored.
	if res := set(true, entry([]kadm.AlterClientQuotaOp{op("producer_byte_rate", 1024)}, user, client)); res[0].Err != nil {
		t.Fatalf("validateOnly: %+v", res)
	}
	if got := describe(false); len(got) != 0 {
		t.Fatalf("validateOnly stored %+v", got)
	}

	for _, res := range set(false,
		entry([]kadm.AlterClientQuotaOp{op("producer_byte_rate", 1024), op("request_percentage", 12.5)}, user, client),
		entry([]kadm.AlterClientQuotaOp{op("consumer_byte_rate", 2048)}, userDefault),
		entry([]kadm.AlterClientQuotaOp{op("producer_byte_rate", 4096)}, client),
	) {
		if res.Err != nil {
			t.Fatalf("alter: %+v", res)
		}
	}
	cb.restart() // from the commit log
	if got := describe(false); len(got) != 3 {
		t.Fatalf("all: %+v", got)
	}
	got := describe(true, kadm.DescribeClientQuotaComponent{Type: "user", MatchName: &alice}, kadm.DescribeClientQuotaComponent{Type: "client-id", MatchName: &app})
	if len(got) != 1 || len(got[0].Values) != 2 || got[0].Values[0].Key != "producer_byte_rate" || got[0].Values[0].Value != 1024 || got[0].Values[1].Value != 12.5 {
		t.Fatalf("alice/app: %+v", got)
	}
	if got := describe(false, kadm.DescribeClientQuotaComponent{Type: "user", MatchType: 1}); len(got) != 1 || got[0].Entity[0].Name != nil {
		t.Fatalf("default user: %+v", got)
	}
	if got := describe(false, kadm.DescribeClientQuotaComponent{Type: "client-id", MatchType: 2}); len(got) != 2 {
		t.Fatalf("any client-id: %+v", got)
	}
	if got := describe(true, kadm.DescribeClientQuotaComponent{Type: "client-id", MatchType: 2}); len(got) != 1 {
		t.Fatalf("strict client-id only: %+v", got)
	}

	// Removal.
	set(false, kadm.AlterClientQuotaEntry{Entity: []kadm.ClientQuotaEntityComponent{client}, Ops: []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Remove: true}}})
	if got := describe(false); len(got) != 2 {
		t.Fatalf("after removal: %+v", got)
	}
}

// TestQuotaThrottlesProduce: a client over its producer_byte_rate gets a
// ThrottleMillis in its Produce answer and the throttle is counted in the
// metrics; an older Produce version (before KIP-219) gets it too.
func TestQuotaThrottlesProduce(t *testing.T) {
	reg := prometheus.NewRegistry()
	cb := coreStart(t, "", func(c *Config) { c.Registerer = reg; c.Store.SegmentBytes = 4 << 20 })
	cb.topic("q", 1, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	core := "core" // the raw connection's client id
	res, err := kadm.NewClient(cb.client()).AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{{
		Entity: []kadm.ClientQuotaEntityComponent{{Type: "client-id", Name: &core}},
		Ops:    []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: 100}},
	}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("alter: %v %+v", err, res)
	}
	rc := cb.raw()
	// 100 B/s over a 10 s window allows about 1000 bytes before throttling.
	var throttle int32
	for i := 0; i < 20 && throttle == 0; i++ {
		resp := rc.do(produceReq(9, -1, "q", 0, coreBatch(1, -1, -1, -1, coreRecs(10, "quota-payload-quota-payload")...))).(*kmsg.ProduceResponse)
		if code := resp.Topics[0].Partitions[0].ErrorCode; code != 0 {
			t.Fatalf("produce: %v", kerr.ErrorForCode(code))
		}
		throttle = resp.ThrottleMillis
	}
	if throttle <= 0 {
		t.Fatal("no throttle time after 20 batches over the quota")
	}
	// Produce v5 (throttled by the broker, not the client) gets it too.
	if resp := rc.do(produceReq(5, -1, "q", 0, coreBatch(1, -1, -1, -1, coreRecs(1, "x")...))).(*kmsg.ProduceResponse); resp.ThrottleMillis <= 0 {
		t.Fatalf("v5: throttle %d", resp.ThrottleMillis)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, mf := range mfs {
		if mf.GetName() == "gregor_quota_throttled_requests_total" {
			for _, m := range mf.Metric {
				if m.Counter.GetValue() > 0 {
					found = true
				}
			}
		}
	}
	if !found {
		t.Fatal("gregor_quota_throttled_requests_total not counted")
	}
}

// TestQuotasReplicate: quotas set on the master reach the slave through the
// commit log (it describes and enforces them), and a quota altered through
// the slave is forwarded to the master.
func TestQuotasReplicate(t *testing.T) {
	g := startElectGroup(t, 2, 0)
	master, slave := g[0], g[1]
	if !master.b.isMaster() || slave.b.isMaster() {
		t.Fatal("member 0 is not the master")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	app, other := "app", "other"
	alter := func(cb *coreBroker, client string, v float64) {
		t.Helper()
		for {
			res, err := kadm.NewClient(cb.client()).AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{{
				Entity: []kadm.ClientQuotaEntityComponent{{Type: "client-id", Name: &client}},
				Ops:    []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: v}},
			}})
			if err == nil && res[0].Err == nil {
				return
			}
			if ctx.Err() != nil {
				t.Fatalf("alter through %d: %v %+v", cb.b.cfg.NodeID, err, res)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	has := func(cb *coreBroker, client string, v float64) bool {
		bound, _, ok := cb.b.quotas().resolve(quotaProducerByteRate, "ANONYMOUS", client)
		return ok && bound == v
	}
	alter(master, app, 1000)
	eventuallyTrue(t, "the slave has the master's quota", func() bool { return has(slave, app, 1000) })
	alter(slave, other, 2000) // forwarded
	eventuallyTrue(t, "a quota altered through the slave reaches both", func() bool { return has(master, other, 2000) && has(slave, other, 2000) })
}
