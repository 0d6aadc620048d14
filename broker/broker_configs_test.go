package broker

import (
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Dynamic broker configs gregor only stores, custom ones and group configs
// survive a restart, described with their sources as before.
func TestBrokerAndGroupConfigsSurviveRestart(t *testing.T) {
	cb := coreStart(t, "", nil)
	cl := cb.client()
	ctx := coreCtx(t)
	inc := kmsg.NewPtrIncrementalAlterConfigsRequest()
	add := func(typ kmsg.ConfigResourceType, name string, kv ...string) {
		rr := kmsg.NewIncrementalAlterConfigsRequestResource()
		rr.ResourceType, rr.ResourceName = typ, name
		for i := 0; i < len(kv); i += 2 {
			c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
			c.Name, c.Value = kv[i], kmsg.StringPtr(kv[i+1])
			rr.Configs = append(rr.Configs, c)
		}
		inc.Resources = append(inc.Resources, rr)
	}
	add(kmsg.ConfigResourceTypeBroker, "1", "sasl.kerberos.min.time.before.relogin", "61000", "my.custom.setting", "x")
	add(kmsg.ConfigResourceTypeBroker, "", "num.io.threads", "9")
	add(kmsg.ConfigResourceTypeGroupConfig, "g1", "consumer.session.timeout.ms", "50000")
	resp, err := inc.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range resp.Resources {
		if r.ErrorCode != 0 {
			t.Fatalf("%v %q: %d %v", r.ResourceType, r.ResourceName, r.ErrorCode, admStr(r.ErrorMessage))
		}
	}
	check := func(when string) {
		t.Helper()
		req := kmsg.NewPtrDescribeConfigsRequest()
		req.IncludeSynonyms = true
		for _, r := range []struct {
			typ  kmsg.ConfigResourceType
			name string
		}{{kmsg.ConfigResourceTypeBroker, "1"}, {kmsg.ConfigResourceTypeGroupConfig, "g1"}} {
			rr := kmsg.NewDescribeConfigsRequestResource()
			rr.ResourceType, rr.ResourceName = r.typ, r.name
			req.Resources = append(req.Resources, rr)
		}
		resp, err := req.RequestWith(coreCtx(t), cb.client())
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]kmsg.DescribeConfigsResponseResourceConfig{}
		for _, r := range resp.Resources {
			for _, c := range r.Configs {
				got[c.Name] = c
			}
		}
		for name, want := range map[string]struct {
			value string
			src   kmsg.ConfigSource
			sens  bool
		}{
			"sasl.kerberos.min.time.before.relogin": {"61000", kmsg.ConfigSourceDynamicBrokerConfig, false},
			"num.io.threads":                        {"9", kmsg.ConfigSourceDynamicDefaultBrokerConfig, false},
			"my.custom.setting":                     {"<nil>", kmsg.ConfigSourceDynamicBrokerConfig, true}, // value hidden, as Kafka
			"consumer.session.timeout.ms":           {"50000", kmsg.ConfigSourceGroupConfig, false},
		} {
			c, ok := got[name]
			if !ok || admStr(c.Value) != want.value || c.Source != want.src || c.IsSensitive != want.sens {
				t.Errorf("%s: %s = %q (%v, sensitive %v), want %q (%v)", when, name, admStr(c.Value), c.Source, c.IsSensitive, want.value, want.src)
			}
		}
	}
	check("before restart")
	cb.restart()
	check("after restart")
}

// IncrementalAlterConfigs on BROKER_LOGGER changes the level of the logger
// the broker was given, and DescribeConfigs shows it.
func TestBrokerLoggerLevelAlter(t *testing.T) {
	level := zap.NewAtomicLevelAt(zapcore.InfoLevel)
	cb := coreStart(t, "", func(c *Config) {
		c.Logger = zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(io.Discard), level))
		c.LogLevel = &level
	})
	cl := cb.client()
	set := func(v string) int16 {
		req := kmsg.NewPtrIncrementalAlterConfigsRequest()
		rr := kmsg.NewIncrementalAlterConfigsRequestResource()
		rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeBrokerLogger, "1"
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Name, c.Value = "root", kmsg.StringPtr(v)
		rr.Configs = append(rr.Configs, c)
		req.Resources = append(req.Resources, rr)
		resp, err := req.RequestWith(coreCtx(t), cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Resources[0].ErrorCode
	}
	described := func() string {
		req := kmsg.NewPtrDescribeConfigsRequest()
		rr := kmsg.NewDescribeConfigsRequestResource()
		rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeBrokerLogger, "1"
		req.Resources = append(req.Resources, rr)
		resp, err := req.RequestWith(coreCtx(t), cl)
		if err != nil || len(resp.Resources[0].Configs) != 1 {
			t.Fatalf("%v %+v", err, resp)
		}
		return admStr(resp.Resources[0].Configs[0].Value)
	}
	if code := set("DEBUG"); code != 0 || level.Level() != zapcore.DebugLevel || described() != "DEBUG" {
		t.Fatalf("SET root=DEBUG: code %d, level %v, described %s", code, level.Level(), described())
	}
	if code := set("verbose"); code != 40 || level.Level() != zapcore.DebugLevel {
		t.Fatalf("SET root=verbose: code %d, level %v; want INVALID_CONFIG and no change", code, level.Level())
	}
	if code := set("WARN"); code != 0 || described() != "WARN" {
		t.Fatalf("SET root=WARN: code %d, described %s", code, described())
	}
}

// In a cluster of several broker groups a group's configs live with its
// coordinator: set through one broker, every broker describes them.
func TestClusterGroupConfigsAtTheCoordinator(t *testing.T) {
	bs, _ := clusterStart(t, 3)
	ctx := coreCtx(t)
	// __consumer_offsets is placed at the first FindCoordinator.
	if _, code := bs[0].b.coordinator(ctx, "any", true); code != 0 {
		t.Fatalf("coordinator: %d", code)
	}
	for _, cb := range bs {
		cb.b.cl().refreshNow()
	}
	// A group coordinated by broker-b, altered through broker-a.
	var group string
	for i := 0; group == ""; i++ {
		g := fmt.Sprintf("cfg-group-%d", i)
		if m, _ := bs[0].b.coordinator(ctx, g, false); m != nil && m.NodeID == bs[1].b.cfg.NodeID {
			group = g
		}
	}
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	rr := kmsg.NewIncrementalAlterConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeGroupConfig, group
	c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	c.Name, c.Value = "consumer.session.timeout.ms", kmsg.StringPtr("50000")
	rr.Configs = append(rr.Configs, c)
	req.Resources = append(req.Resources, rr)
	resp, err := req.RequestWith(ctx, bs[0].client())
	if err != nil || resp.Resources[0].ErrorCode != 0 {
		t.Fatalf("alter through broker-a: %v %+v", err, resp)
	}
	for _, cb := range bs {
		d := kmsg.NewPtrDescribeConfigsRequest()
		dr := kmsg.NewDescribeConfigsRequestResource()
		dr.ResourceType, dr.ResourceName, dr.ConfigNames = kmsg.ConfigResourceTypeGroupConfig, group, []string{"consumer.session.timeout.ms"}
		d.Resources = append(d.Resources, dr)
		out, err := d.RequestWith(ctx, cb.client())
		if err != nil || len(out.Resources) != 1 || len(out.Resources[0].Configs) != 1 {
			t.Fatalf("describe through %s: %v %+v", cb.b.cl().cfg.BrokerName, err, out)
		}
		if got := out.Resources[0].Configs[0]; admStr(got.Value) != "50000" || got.Source != kmsg.ConfigSourceGroupConfig {
			t.Errorf("through %s: %s (%v), want 50000 (GROUP_CONFIG)", cb.b.cl().cfg.BrokerName, admStr(got.Value), got.Source)
		}
	}
	if _, ok := bs[0].b.store.GetKV(groupConfigsNamespace, []byte(group)); ok {
		t.Errorf("broker-a kept the configs of a group broker-b coordinates")
	}
}

// A group config's default comes as Kafka names it: a DEFAULT_CONFIG synonym
// named after the broker setting that supplies it (kafka-configs --describe
// --entity-type groups prints it), or the config's own name where the broker
// has none.
func TestGroupConfigDefaultSynonyms(t *testing.T) {
	cb := coreStart(t, "", func(c *Config) {
		c.Group.ConsumerSessionTimeout, c.Group.ConsumerMinSessionTimeout = 10*time.Second, time.Second
	})
	req := kmsg.NewPtrDescribeConfigsRequest()
	req.IncludeSynonyms = true
	rr := kmsg.NewDescribeConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeGroupConfig, "g1"
	req.Resources = append(req.Resources, rr)
	resp, err := req.RequestWith(coreCtx(t), cb.client())
	if err != nil || len(resp.Resources) != 1 {
		t.Fatalf("%v %+v", err, resp)
	}
	got := map[string]string{}
	for _, c := range resp.Resources[0].Configs {
		for _, s := range c.ConfigSynonyms {
			if s.Source == kmsg.ConfigSourceDefaultConfig {
				got[c.Name] = s.Name + "=" + admStr(s.Value)
			}
		}
		// The broker's own setting comes before the default and is
		// the value, as Kafka lists a STATIC_BROKER_CONFIG.
		if c.Name == "consumer.session.timeout.ms" {
			var syn []string
			for _, s := range c.ConfigSynonyms {
				syn = append(syn, fmt.Sprintf("%v:%s=%s", s.Source, s.Name, admStr(s.Value)))
			}
			if admStr(c.Value) != "10000" || fmt.Sprint(syn) != "[STATIC_BROKER_CONFIG:group.consumer.session.timeout.ms=10000 DEFAULT_CONFIG:group.consumer.session.timeout.ms=45000]" {
				t.Errorf("consumer.session.timeout.ms = %s with synonyms %v, want 10000 from the broker's setting", admStr(c.Value), syn)
			}
		}
	}
	for name, want := range map[string]string{ // as Kafka 4.4.0 describes them
		"consumer.session.timeout.ms":       "group.consumer.session.timeout.ms=45000",
		"share.delivery.count.limit":        "group.share.delivery.count.limit=5",
		"streams.assignor.name":             "group.streams.assignors=sticky",
		"share.auto.offset.reset":           "share.auto.offset.reset=latest",
		"errors.deadletterqueue.topic.name": "errors.deadletterqueue.topic.name=",
	} {
		if got[name] != want {
			t.Errorf("%s: DEFAULT_CONFIG synonym %q, want %q", name, got[name], want)
		}
	}
}
