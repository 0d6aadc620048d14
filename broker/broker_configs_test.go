package broker

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
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
