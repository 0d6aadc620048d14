package compat

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeConfigs and Alter(Incremental)Configs of BROKER and GROUP
// resources as Kafka 4.1 answers them (issue 18 items 2 and 3).
//
// The expectations come from the reference broker itself:
//
//	COMPAT_TARGETS=kafka go test -count=1 ./compat_test -run TestBrokerConfigs -update-configs
//
// describes Kafka's broker and group configs (name, type, default,
// read-only and sensitive flags, documentation), probes with validate_only
// which dynamic broker configs Kafka takes only per broker or only per
// listener, and writes compat_test/testdata/kafka-configs.json (what the
// tests compare with) and broker/kafka_configs.json (the table gregor
// embeds). Nothing is copied by hand.

var updateConfigs = flag.Bool("update-configs", false, "regenerate the Kafka config tables from the kafka target")

// kafkaConfigTable is the format of both generated files.
type kafkaConfigTable struct {
	Kafka  string              `json:"kafka"`
	Broker []kafkaConfigRecord `json:"broker"`
	Group  []kafkaConfigRecord `json:"group"`
	Topic  []kafkaConfigRecord `json:"topic"`
}

type kafkaConfigRecord struct {
	Name      string  `json:"name"`
	Type      string  `json:"type"`
	Default   *string `json:"default"` // null: Kafka has no default (or hides it)
	ReadOnly  bool    `json:"readOnly,omitempty"`
	Sensitive bool    `json:"sensitive,omitempty"`
	// Scope of a dynamic broker config: "" for any resource, "broker"
	// when Kafka refuses it cluster-wide, "listener" when only a
	// listener-prefixed name may be set.
	Scope string `json:"scope,omitempty"`
	// Bare: at its default, Kafka lists the value without a synonym
	// (topic configs whose broker synonym has no default, or none).
	Bare bool   `json:"bare,omitempty"`
	Doc  string `json:"doc,omitempty"`
}

func configsGolden(t *testing.T) *kafkaConfigTable {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "compat_test", "testdata", "kafka-configs.json"))
	if err != nil {
		t.Fatalf("read golden configs (regenerate with -update-configs): %v", err)
	}
	var tab kafkaConfigTable
	if err := json.Unmarshal(b, &tab); err != nil {
		t.Fatal(err)
	}
	return &tab
}

// brokerID is the node id the target answers for (DescribeCluster).
func brokerID(t *testing.T, cl *kgo.Client) string {
	t.Helper()
	r, err := kmsg.NewPtrDescribeClusterRequest().RequestWith(ctxT(t, 20*time.Second), cl)
	if err != nil || len(r.Brokers) == 0 {
		t.Fatalf("describe cluster: %v %+v", err, r)
	}
	return strconv.Itoa(int(r.Brokers[0].NodeID))
}

func describeRaw(t *testing.T, cl *kgo.Client, typ kmsg.ConfigResourceType, name string, names ...string) kmsg.DescribeConfigsResponseResource {
	t.Helper()
	req := kmsg.NewPtrDescribeConfigsRequest()
	req.IncludeSynonyms, req.IncludeDocumentation = true, true
	rr := kmsg.NewDescribeConfigsRequestResource()
	rr.ResourceType, rr.ResourceName, rr.ConfigNames = typ, name, names
	req.Resources = append(req.Resources, rr)
	resp, err := req.RequestWith(ctxT(t, 20*time.Second), cl)
	if err != nil || len(resp.Resources) != 1 {
		t.Fatalf("describe configs %v %q: %v", typ, name, err)
	}
	return resp.Resources[0]
}

func deref(s *string) string {
	if s == nil {
		return "<null>"
	}
	return *s
}

// checkDescribed compares one described resource with Kafka's records:
// every config present with Kafka's type and flags, documentation where
// Kafka has some, and Kafka's default where the target reports the default.
func checkDescribed(t *testing.T, what string, got []kmsg.DescribeConfigsResponseResourceConfig, want []kafkaConfigRecord) {
	t.Helper()
	byName := map[string]kmsg.DescribeConfigsResponseResourceConfig{}
	for _, c := range got {
		byName[c.Name] = c
	}
	var missing []string
	for _, w := range want {
		c, ok := byName[w.Name]
		if !ok {
			missing = append(missing, w.Name)
			continue
		}
		if c.ConfigType.String() != w.Type || c.ReadOnly != w.ReadOnly || c.IsSensitive != w.Sensitive {
			t.Errorf("%s %s: type %v read-only %v sensitive %v, Kafka: %s %v %v", what, w.Name, c.ConfigType, c.ReadOnly, c.IsSensitive,
				w.Type, w.ReadOnly, w.Sensitive)
		}
		if c.Source == kmsg.ConfigSourceDefaultConfig && deref(c.Value) != deref(w.Default) {
			t.Errorf("%s %s: default %s, Kafka's %s", what, w.Name, deref(c.Value), deref(w.Default))
		}
		if (w.Doc != "") != (c.Documentation != nil && *c.Documentation != "") {
			t.Errorf("%s %s: documentation %q, Kafka has %q", what, w.Name, deref(c.Documentation), w.Doc)
		}
		// A default config lists its default as its one synonym, none
		// when the default is null or Kafka lists it bare.
		if wantSyn := 0; c.Source == kmsg.ConfigSourceDefaultConfig {
			if w.Default != nil && !w.Bare {
				wantSyn = 1
			}
			if len(c.ConfigSynonyms) != wantSyn || (wantSyn == 1 && c.ConfigSynonyms[0].Source != kmsg.ConfigSourceDefaultConfig) {
				t.Errorf("%s %s: synonyms %+v, want %d DEFAULT_CONFIG", what, w.Name, c.ConfigSynonyms, wantSyn)
			}
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		t.Errorf("%s: %d of Kafka's %d configs not described: %s", what, len(missing), len(want), strings.Join(missing[:min(len(missing), 40)], ", "))
	}
}

func TestBrokerConfigs(t *testing.T) {
	if *updateConfigs {
		for _, tg := range targets {
			if tg.name == "kafka" {
				writeConfigTables(t, tg)
				return
			}
		}
		t.Fatal("-update-configs needs the kafka target")
	}
	golden := configsGolden(t)

	matrixGo(t, "kmsg", "DescribeConfigs BROKER: Kafka's full set, types, flags, defaults", []kmsg.Key{kmsg.DescribeConfigs, kmsg.DescribeCluster}, func(t *testing.T, tg *target) {
		cl := newClient(t, tg)
		res := describeRaw(t, cl, kmsg.ConfigResourceTypeBroker, brokerID(t, cl))
		if res.ErrorCode != 0 {
			t.Fatalf("describe broker: error %d %s", res.ErrorCode, deref(res.ErrorMessage))
		}
		checkDescribed(t, "broker", res.Configs, golden.Broker)
	})

	matrixGo(t, "kmsg", "DescribeConfigs TOPIC: Kafka's full set, types, flags, defaults", []kmsg.Key{kmsg.DescribeConfigs, kmsg.CreateTopics}, func(t *testing.T, tg *target) {
		res := describeRaw(t, newClient(t, tg), kmsg.ConfigResourceTypeTopic, newTopic(t, tg, "cfg-topic", 1))
		if res.ErrorCode != 0 {
			t.Fatalf("describe topic: error %d %s", res.ErrorCode, deref(res.ErrorMessage))
		}
		checkDescribed(t, "topic", res.Configs, golden.Topic)
	})

	matrixGo(t, "kmsg", "DescribeConfigs GROUP: the group configs with their defaults", []kmsg.Key{kmsg.DescribeConfigs}, func(t *testing.T, tg *target) {
		cl := newClient(t, tg)
		res := describeRaw(t, cl, kmsg.ConfigResourceTypeGroupConfig, uniq("g-cfg"))
		if res.ErrorCode != 0 {
			t.Fatalf("describe group: error %d %s", res.ErrorCode, deref(res.ErrorMessage))
		}
		checkDescribed(t, "group", res.Configs, golden.Group)
		if len(res.Configs) != len(golden.Group) {
			t.Errorf("group: %d configs, Kafka describes %d", len(res.Configs), len(golden.Group))
		}
	})

	matrixGo(t, "kmsg", "DescribeConfigs BROKER_LOGGER: loggers as Kafka marks them", []kmsg.Key{kmsg.DescribeConfigs, kmsg.DescribeCluster}, func(t *testing.T, tg *target) {
		cl := newClient(t, tg)
		res := describeRaw(t, cl, kmsg.ConfigResourceTypeBrokerLogger, brokerID(t, cl))
		if res.ErrorCode != 0 {
			t.Fatalf("describe loggers: error %d %s", res.ErrorCode, deref(res.ErrorMessage))
		}
		var root *kmsg.DescribeConfigsResponseResourceConfig
		for i, c := range res.Configs {
			if c.Name == "root" {
				root = &res.Configs[i]
			}
			if c.ReadOnly || c.IsSensitive || c.Source != kmsg.ConfigSourceDynamicBrokerLoggerConfig || c.ConfigType != kmsg.ConfigTypeUnknown || len(c.ConfigSynonyms) != 0 {
				t.Errorf("logger %s: read-only %v sensitive %v source %v type %v synonyms %d; Kafka: false false DYNAMIC_BROKER_LOGGER_CONFIG UNKNOWN 0",
					c.Name, c.ReadOnly, c.IsSensitive, c.Source, c.ConfigType, len(c.ConfigSynonyms))
			}
		}
		if root == nil {
			t.Fatalf("no root logger among %d", len(res.Configs))
		}
		switch deref(root.Value) {
		case "TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL", "OFF":
		default:
			t.Errorf("root logger level %q", deref(root.Value))
		}
	})

	matrixGo(t, "confluent-kafka-go", "DescribeConfigs BROKER and GROUP", []kmsg.Key{kmsg.DescribeConfigs, kmsg.DescribeCluster}, func(t *testing.T, tg *target) {
		id := brokerID(t, newClient(t, tg))
		ad, err := kafka.NewAdminClient(&kafka.ConfigMap{"bootstrap.servers": tg.addr, "client.id": "compat-ckg-configs"})
		if err != nil {
			t.Fatal(err)
		}
		defer ad.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		group := uniq("g-ckg-cfg")
		rs, err := ad.DescribeConfigs(ctx, []kafka.ConfigResource{{Type: kafka.ResourceBroker, Name: id}, {Type: kafka.ResourceGroup, Name: group}})
		if err != nil || len(rs) != 2 {
			t.Fatalf("describe configs: %v %+v", err, rs)
		}
		for i, want := range [][]kafkaConfigRecord{golden.Broker, golden.Group} {
			r := rs[i]
			if r.Error.Code() != kafka.ErrNoError {
				t.Errorf("%v %s: %v", r.Type, r.Name, r.Error)
				continue
			}
			var missing []string
			for _, w := range want {
				c, ok := r.Config[w.Name]
				switch {
				case !ok:
					missing = append(missing, w.Name)
				case c.IsReadOnly != w.ReadOnly || c.IsSensitive != w.Sensitive:
					t.Errorf("%v %s: read-only %v sensitive %v, Kafka: %v %v", r.Type, w.Name, c.IsReadOnly, c.IsSensitive, w.ReadOnly, w.Sensitive)
				case c.Source == kafka.ConfigSourceDefault && w.Default != nil && c.Value != *w.Default:
					t.Errorf("%v %s: default %q, Kafka's %q", r.Type, w.Name, c.Value, *w.Default)
				}
			}
			if len(missing) > 0 {
				t.Errorf("%v %s: %d of Kafka's %d configs missing, e.g. %s", r.Type, r.Name, len(missing), len(want),
					strings.Join(missing[:min(len(missing), 10)], ", "))
			}
		}
	})
}

// writeConfigTables regenerates both config tables from the Kafka target.
func writeConfigTables(t *testing.T, tg *target) {
	cl := newClient(t, tg)
	id := brokerID(t, cl)
	tab := kafkaConfigTable{Kafka: kafkaVersion(t)}
	record := func(c kmsg.DescribeConfigsResponseResourceConfig) kafkaConfigRecord {
		r := kafkaConfigRecord{Name: c.Name, Type: c.ConfigType.String(), ReadOnly: c.ReadOnly, Sensitive: c.IsSensitive, Doc: deref(c.Documentation)}
		if c.Documentation == nil {
			r.Doc = ""
		}
		for _, s := range c.ConfigSynonyms {
			if s.Source == kmsg.ConfigSourceDefaultConfig {
				r.Default = s.Value
			}
		}
		if r.Default == nil && c.Source == kmsg.ConfigSourceDefaultConfig && c.Value != nil {
			r.Default, r.Bare = c.Value, true
		}
		return r
	}
	broker := describeRaw(t, cl, kmsg.ConfigResourceTypeBroker, id)
	for _, c := range broker.Configs {
		r := record(c)
		if !r.ReadOnly {
			r.Scope = dynamicScope(t, cl, c)
		}
		tab.Broker = append(tab.Broker, r)
	}
	for _, c := range describeRaw(t, cl, kmsg.ConfigResourceTypeGroupConfig, "any-group").Configs {
		tab.Group = append(tab.Group, record(c))
	}
	for _, c := range describeRaw(t, cl, kmsg.ConfigResourceTypeTopic, newTopic(t, tg, "cfg-table", 1)).Configs {
		tab.Topic = append(tab.Topic, record(c))
	}
	sort.Slice(tab.Topic, func(i, j int) bool { return tab.Topic[i].Name < tab.Topic[j].Name })
	sort.Slice(tab.Broker, func(i, j int) bool { return tab.Broker[i].Name < tab.Broker[j].Name })
	sort.Slice(tab.Group, func(i, j int) bool { return tab.Group[i].Name < tab.Group[j].Name })
	b, err := json.MarshalIndent(tab, "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, '\n')
	for _, p := range []string{"compat_test/testdata/kafka-configs.json", "broker/kafka_configs.json"} {
		if err := os.WriteFile(filepath.Join(repoRoot, p), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("wrote %d broker and %d group configs", len(tab.Broker), len(tab.Group))
}

// dynamicScope asks Kafka, with validate_only, whether it takes a dynamic
// broker config cluster-wide ("") or only per broker or per listener.
func dynamicScope(t *testing.T, cl *kgo.Client, c kmsg.DescribeConfigsResponseResourceConfig) string {
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	req.ValidateOnly = true
	rr := kmsg.NewIncrementalAlterConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeBroker, ""
	rc := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	rc.Name, rc.Value = c.Name, kmsg.StringPtr(fmt.Sprint(deref(c.Value)))
	rr.Configs = append(rr.Configs, rc)
	req.Resources = append(req.Resources, rr)
	resp, err := req.RequestWith(ctxT(t, 20*time.Second), cl)
	if err != nil {
		t.Fatal(err)
	}
	msg := deref(resp.Resources[0].ErrorMessage)
	switch {
	case strings.Contains(msg, "broker id must be specified"):
		return "broker"
	case strings.Contains(msg, "only per-listener"):
		return "listener"
	}
	return ""
}

// alterCase is one IncrementalAlterConfigs (or, legacy, AlterConfigs) of
// one resource and Kafka's answer.
type alterCase struct {
	typ      kmsg.ConfigResourceType
	resource string // "<id>" is the broker's id
	legacy   bool
	ops      []kmsg.IncrementalAlterConfigsRequestResourceConfig
	code     int16
	msg      string
}

func setOp(name, value string) kmsg.IncrementalAlterConfigsRequestResourceConfig {
	c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	c.Name, c.Value, c.Op = name, kmsg.StringPtr(value), kmsg.IncrementalAlterConfigOpSet
	return c
}

func delOp(name string) kmsg.IncrementalAlterConfigsRequestResourceConfig {
	c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	c.Name, c.Op = name, kmsg.IncrementalAlterConfigOpDelete
	return c
}

func appendOp(name, value string) kmsg.IncrementalAlterConfigsRequestResourceConfig {
	c := setOp(name, value)
	c.Op = kmsg.IncrementalAlterConfigOpAppend
	return c
}

// alter sends one case and returns the resource's code and message.
func alter(t *testing.T, cl *kgo.Client, c alterCase, validateOnly bool) (int16, string) {
	t.Helper()
	ctx := ctxT(t, 20*time.Second)
	if c.legacy {
		req := kmsg.NewPtrAlterConfigsRequest()
		req.ValidateOnly = validateOnly
		rr := kmsg.NewAlterConfigsRequestResource()
		rr.ResourceType, rr.ResourceName = c.typ, c.resource
		for _, o := range c.ops {
			rc := kmsg.NewAlterConfigsRequestResourceConfig()
			rc.Name, rc.Value = o.Name, o.Value
			rr.Configs = append(rr.Configs, rc)
		}
		req.Resources = append(req.Resources, rr)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil || len(resp.Resources) != 1 {
			t.Fatalf("alter configs: %v", err)
		}
		return resp.Resources[0].ErrorCode, deref(resp.Resources[0].ErrorMessage)
	}
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	req.ValidateOnly = validateOnly
	rr := kmsg.NewIncrementalAlterConfigsRequestResource()
	rr.ResourceType, rr.ResourceName, rr.Configs = c.typ, c.resource, c.ops
	req.Resources = append(req.Resources, rr)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil || len(resp.Resources) != 1 {
		t.Fatalf("incremental alter configs: %v", err)
	}
	return resp.Resources[0].ErrorCode, deref(resp.Resources[0].ErrorMessage)
}

// describedAs waits until one config of a resource shows value from src,
// with the synonyms given as "source=value" (Kafka applies alters through
// its metadata log, a moment later).
func describedAs(t *testing.T, cl *kgo.Client, typ kmsg.ConfigResourceType, resource, name, value string, src kmsg.ConfigSource, synonyms ...string) {
	t.Helper()
	var last string
	eventually(t, fmt.Sprintf("%s to be %s (%v)", name, value, src), func() bool {
		res := describeRaw(t, cl, typ, resource, name)
		if len(res.Configs) != 1 {
			last = fmt.Sprintf("error %d %s, %d configs", res.ErrorCode, deref(res.ErrorMessage), len(res.Configs))
			return false
		}
		c := res.Configs[0]
		var syn []string
		for _, s := range c.ConfigSynonyms {
			syn = append(syn, s.Source.String()+"="+deref(s.Value))
		}
		last = fmt.Sprintf("%s (%v) synonyms %v", deref(c.Value), c.Source, syn)
		return deref(c.Value) == value && c.Source == src && strings.Join(syn, " ") == strings.Join(synonyms, " ")
	})
	if t.Failed() {
		t.Logf("%s on %v %q: %s", name, typ, resource, last)
	}
}

func TestBrokerConfigAlter(t *testing.T) {
	const (
		brokerT = kmsg.ConfigResourceTypeBroker
		groupT  = kmsg.ConfigResourceTypeGroupConfig
		loggerT = kmsg.ConfigResourceTypeBrokerLogger
	)
	refusals := []alterCase{
		{typ: brokerT, resource: "", ops: []kmsg.IncrementalAlterConfigsRequestResourceConfig{setOp("sasl.kerberos.min.time.before.relogin", "61000")},
			code: 42, msg: "Cannot update these configs at default cluster level, broker id must be specified: [sasl.kerberos.min.time.before.relogin]"},
		{typ: brokerT, resource: "<id>", ops: []kmsg.IncrementalAlterConfigsRequestResourceConfig{setOp("broker.id", "5")},
			code: 42, msg: "Cannot update these configs dynamically: [broker.id]"},
		{typ: brokerT, resource: "", ops: []kmsg.IncrementalAlterConfigsRequestResourceConfig{setOp("log.dirs", "/tmp/elsewhere")},
			code: 42, msg: "Cannot update these configs dynamically: [log.dirs]"},
		{typ: brokerT, resource: "<id>", ops: []kmsg.IncrementalAlterConfigsRequestResourceConfig{setOp("log.cleaner.threads", "abc")},
			code: 42, msg: "Invalid value abc for configuration log.cleaner.threads: Not a number of type INT"},
		{typ: brokerT, resource: "<id>", ops: []kmsg.IncrementalAlterConfigsRequestResourceConfig{setOp("background.threads", "0")},
			code: 42, msg: "Invalid value 0 for configuration background.threads: Value must be at least 1"},
		{typ: brokerT, resource: "<id>", ops: []kmsg.IncrementalAlterConfigsRequestResourceConfig{setOp("message.max.bytes", "-5")},
			code: 42, msg: "Invalid value -5 for configuration message.max.bytes: Value must be at least 0"},
		{typ: brokerT, resource: "<id>", ops: []kmsg.IncrementalAlterConfigsRequestResourceConfig{appendOp("log.retention.ms", "5")},
			code: 40, msg: "Config value append is not allowed for config key: log.retention.ms"},
		{typ: brokerT, resource: "<id>", ops: []kmsg.IncrementalAlterConfigsRequestResourceConfig{setOp("ssl.keystore.type", "PKCS12")},
			code: 42, msg: "These security configs can be dynamically updated only per-listener using the listener prefix: [ssl.keystore.type]"},
		{typ: brokerT, resource: "<id>", legacy: true, ops: []kmsg.IncrementalAlterConfigsRequestResourceConfig{setOp("sasl.kerberos.min.time.before.relogin", "61000")}},
		{typ: brokerT, resource: "", legacy: true, ops: []kmsg.IncrementalAlterConfigsRequestResourceConfig{setOp("sasl.kerberos.min.time.before.relogin", "61000")},
			code: 42, msg: "Cannot update these configs at default cluster level, broker id must be specified: [sasl.kerberos.min.time.before.relogin]"},
		{typ: brokerT, resource: "", ops: []kmsg.IncrementalAlterConfigsRequestResourceConfig{setOp("num.io.threads", "9"), setOp("log.cleaner.backoff.ms", "16000")}},
		{typ: groupT, resource: "g", ops: []kmsg.IncrementalAlterConfigsRequestResourceConfig{setOp("consumer.session.timeout.ms", "500")},
			code: 40, msg: "consumer.session.timeout.ms must be in the range 1000 to 60000 inclusive."},
		{typ: groupT, resource: "g", ops: []kmsg.IncrementalAlterConfigsRequestResourceConfig{setOp("consumer.session.timeout.ms", "70000")},
			code: 40, msg: "consumer.session.timeout.ms must be in the range 1000 to 60000 inclusive."},
		{typ: groupT, resource: "g", ops: []kmsg.IncrementalAlterConfigsRequestResourceConfig{setOp("consumer.heartbeat.interval.ms", "60000")},
			code: 40, msg: "consumer.heartbeat.interval.ms must be in the range 100 to 15000 inclusive."},
		{typ: groupT, resource: "g", ops: []kmsg.IncrementalAlterConfigsRequestResourceConfig{setOp("consumer.session.timeout.ms", "abc")},
			code: 40, msg: "Invalid value abc for configuration consumer.session.timeout.ms: Not a number of type INT"},
		{typ: groupT, resource: "g", ops: []kmsg.IncrementalAlterConfigsRequestResourceConfig{setOp("share.isolation.level", "bogus")},
			code: 40, msg: "Invalid value bogus for configuration share.isolation.level: String must be one of: read_committed, read_uncommitted"},
		{typ: groupT, resource: "g", ops: []kmsg.IncrementalAlterConfigsRequestResourceConfig{setOp("foo.unknown", "1")},
			code: 40, msg: "Unknown group config name: foo.unknown"},
		{typ: groupT, resource: "g", ops: []kmsg.IncrementalAlterConfigsRequestResourceConfig{appendOp("consumer.session.timeout.ms", "1")},
			code: 40, msg: "Can't APPEND to key consumer.session.timeout.ms because its type is not LIST."},
		{typ: groupT, resource: "", ops: []kmsg.IncrementalAlterConfigsRequestResourceConfig{setOp("consumer.session.timeout.ms", "50000")},
			code: 42, msg: "Default group resources are not allowed."},
		{typ: groupT, resource: "g", legacy: true, ops: []kmsg.IncrementalAlterConfigsRequestResourceConfig{setOp("consumer.session.timeout.ms", "500")},
			code: 40, msg: "consumer.session.timeout.ms must be in the range 1000 to 60000 inclusive."},
		{typ: groupT, resource: "g", legacy: true, ops: []kmsg.IncrementalAlterConfigsRequestResourceConfig{setOp("consumer.session.timeout.ms", "50000")}},
		{typ: brokerT, resource: "<id>", ops: []kmsg.IncrementalAlterConfigsRequestResourceConfig{setOp("num.io.threads", "17")},
			code: 42, msg: "Invalid value org.apache.kafka.common.config.ConfigException: Dynamic thread count update validation failed for num.io.threads=17, value should not be greater than double the current value 8 for configuration Invalid dynamic configuration"},
		{typ: brokerT, resource: "<id>", ops: []kmsg.IncrementalAlterConfigsRequestResourceConfig{setOp("num.io.threads", "3")},
			code: 42, msg: "Invalid value org.apache.kafka.common.config.ConfigException: Dynamic thread count update validation failed for num.io.threads=3, value should be at least half the current value 8 for configuration Invalid dynamic configuration"},
		{typ: brokerT, resource: "", ops: []kmsg.IncrementalAlterConfigsRequestResourceConfig{setOp("background.threads", "21")},
			code: 42, msg: "Invalid value org.apache.kafka.common.config.ConfigException: Dynamic thread count update validation failed for background.threads=21, value should not be greater than double the current value 10 for configuration Invalid dynamic configuration"},
		{typ: brokerT, resource: "<id>", ops: []kmsg.IncrementalAlterConfigsRequestResourceConfig{setOp("log.cleaner.threads", "3")},
			code: 42, msg: "Invalid value org.apache.kafka.common.config.ConfigException: Log cleaner threads cannot be increased to more than double the current value 1 for configuration Invalid dynamic configuration"},
		{typ: brokerT, resource: "<id>", ops: []kmsg.IncrementalAlterConfigsRequestResourceConfig{setOp("num.network.threads", "6")}},
		{typ: loggerT, resource: "<id>", ops: []kmsg.IncrementalAlterConfigsRequestResourceConfig{setOp("root", "INFO")}},
		{typ: loggerT, resource: "<id>", ops: []kmsg.IncrementalAlterConfigsRequestResourceConfig{setOp("root", "debug")},
			code: 40, msg: "Cannot set the log level of root to debug as it is not a supported log level. Valid log levels are DEBUG, ERROR, FATAL, INFO, TRACE, WARN"},
		{typ: loggerT, resource: "<id>", ops: []kmsg.IncrementalAlterConfigsRequestResourceConfig{setOp("no.such.logger", "DEBUG")},
			code: 40, msg: "Logger no.such.logger does not exist!"},
		{typ: loggerT, resource: "<id>", ops: []kmsg.IncrementalAlterConfigsRequestResourceConfig{delOp("root")},
			code: 42, msg: "Removing the log level of the root logger is not allowed"},
		{typ: loggerT, resource: "<id>", ops: []kmsg.IncrementalAlterConfigsRequestResourceConfig{appendOp("root", "DEBUG")},
			code: 42, msg: "APPEND operation is not allowed for the BROKER_LOGGER resource"},
	}
	matrixGo(t, "kmsg", "Alter(Incremental)Configs BROKER, GROUP, BROKER_LOGGER: Kafka's answers (validate_only)",
		[]kmsg.Key{kmsg.IncrementalAlterConfigs, kmsg.AlterConfigs, kmsg.DescribeCluster}, func(t *testing.T, tg *target) {
			cl := newClient(t, tg)
			id := brokerID(t, cl)
			for _, c := range refusals {
				if c.resource == "<id>" {
					c.resource = id
				}
				code, msg := alter(t, cl, c, true)
				if code != c.code || (c.code != 0 && msg != c.msg) {
					t.Errorf("%v %q legacy=%v %s=%s: %d %q, Kafka: %d %q", c.typ, c.resource, c.legacy, c.ops[0].Name, deref(c.ops[0].Value), code, msg, c.code, c.msg)
				}
			}
		})

	matrixGo(t, "kmsg", "IncrementalAlterConfigs BROKER and GROUP: set, described, deleted", []kmsg.Key{kmsg.IncrementalAlterConfigs, kmsg.DescribeConfigs, kmsg.DescribeCluster}, func(t *testing.T, tg *target) {
		cl := newClient(t, tg)
		id := brokerID(t, cl)
		run := func(c alterCase) {
			t.Helper()
			if code, msg := alter(t, cl, c, false); code != 0 {
				t.Fatalf("%v %q %s: %d %s", c.typ, c.resource, c.ops[0].Name, code, msg)
			}
		}
		// A dynamic per-broker config that gregor does not use: stored
		// and described, then back to Kafka's default.
		const relogin = "sasl.kerberos.min.time.before.relogin"
		run(alterCase{typ: brokerT, resource: id, ops: []kmsg.IncrementalAlterConfigsRequestResourceConfig{setOp(relogin, "61000")}})
		describedAs(t, cl, brokerT, id, relogin, "61000", kmsg.ConfigSourceDynamicBrokerConfig, "DYNAMIC_BROKER_CONFIG=61000", "DEFAULT_CONFIG=60000")
		run(alterCase{typ: brokerT, resource: id, ops: []kmsg.IncrementalAlterConfigsRequestResourceConfig{delOp(relogin)}})
		describedAs(t, cl, brokerT, id, relogin, "60000", kmsg.ConfigSourceDefaultConfig, "DEFAULT_CONFIG=60000")
		// A cluster-wide one: on "" and under the broker's id.
		run(alterCase{typ: brokerT, resource: "", ops: []kmsg.IncrementalAlterConfigsRequestResourceConfig{setOp("log.cleaner.backoff.ms", "16000")}})
		describedAs(t, cl, brokerT, "", "log.cleaner.backoff.ms", "16000", kmsg.ConfigSourceDynamicDefaultBrokerConfig, "DYNAMIC_DEFAULT_BROKER_CONFIG=16000")
		describedAs(t, cl, brokerT, id, "log.cleaner.backoff.ms", "16000", kmsg.ConfigSourceDynamicDefaultBrokerConfig,
			"DYNAMIC_DEFAULT_BROKER_CONFIG=16000", "DEFAULT_CONFIG=15000")
		run(alterCase{typ: brokerT, resource: "", ops: []kmsg.IncrementalAlterConfigsRequestResourceConfig{delOp("log.cleaner.backoff.ms")}})
		describedAs(t, cl, brokerT, id, "log.cleaner.backoff.ms", "15000", kmsg.ConfigSourceDefaultConfig, "DEFAULT_CONFIG=15000")
		// A group config. Both brokers run with the KIP-848 timings of
		// scripts/kafka.sh (group.consumer.session.timeout.ms=10000 and
		// heartbeat 500 ms, minimums 1000 and 100), so those are the
		// static values a group config overrides and falls back to.
		group := uniq("g-cfg-alter")
		run(alterCase{typ: groupT, resource: group, ops: []kmsg.IncrementalAlterConfigsRequestResourceConfig{setOp("consumer.session.timeout.ms", "50000")}})
		describedAs(t, cl, groupT, group, "consumer.session.timeout.ms", "50000", kmsg.ConfigSourceGroupConfig, "GROUP_CONFIG=50000", "STATIC_BROKER_CONFIG=10000", "DEFAULT_CONFIG=45000")
		describedAs(t, cl, groupT, group, "consumer.heartbeat.interval.ms", "500", kmsg.ConfigSourceStaticBrokerConfig, "STATIC_BROKER_CONFIG=500", "DEFAULT_CONFIG=5000")
		run(alterCase{typ: groupT, resource: group, ops: []kmsg.IncrementalAlterConfigsRequestResourceConfig{delOp("consumer.session.timeout.ms")}})
		describedAs(t, cl, groupT, group, "consumer.session.timeout.ms", "10000", kmsg.ConfigSourceStaticBrokerConfig, "STATIC_BROKER_CONFIG=10000", "DEFAULT_CONFIG=45000")
		// The root logger's level, set to the one it has (the reference
		// broker's log stays as it is).
		var level string
		for _, c := range describeRaw(t, cl, loggerT, id, "root").Configs {
			level = deref(c.Value)
		}
		if level != "OFF" { // not a log4j level one can set
			run(alterCase{typ: loggerT, resource: id, ops: []kmsg.IncrementalAlterConfigsRequestResourceConfig{setOp("root", level)}})
			describedAs(t, cl, loggerT, id, "root", level, kmsg.ConfigSourceDynamicBrokerLoggerConfig)
		}
	})

	matrixGo(t, "confluent-kafka-go", "IncrementalAlterConfigs BROKER and GROUP", []kmsg.Key{kmsg.IncrementalAlterConfigs, kmsg.DescribeConfigs, kmsg.DescribeCluster}, func(t *testing.T, tg *target) {
		id := brokerID(t, newClient(t, tg))
		ad, err := kafka.NewAdminClient(&kafka.ConfigMap{"bootstrap.servers": tg.addr, "client.id": "compat-ckg-alter"})
		if err != nil {
			t.Fatal(err)
		}
		defer ad.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		group := uniq("g-ckg-alter")
		const relogin = "sasl.kerberos.min.time.before.relogin"
		incr := func(typ kafka.ResourceType, name string, op kafka.AlterConfigOpType, k, v string) kafka.Error {
			t.Helper()
			rs, err := ad.IncrementalAlterConfigs(ctx, []kafka.ConfigResource{{Type: typ, Name: name,
				Config: []kafka.ConfigEntry{{Name: k, Value: v, IncrementalOperation: op}}}})
			if err != nil || len(rs) != 1 {
				t.Fatalf("incremental alter %v %s: %v", typ, name, err)
			}
			return rs[0].Error
		}
		describe := func(typ kafka.ResourceType, name, key string) kafka.ConfigEntryResult {
			t.Helper()
			rs, err := ad.DescribeConfigs(ctx, []kafka.ConfigResource{{Type: typ, Name: name}})
			if err != nil || len(rs) != 1 || rs[0].Error.Code() != kafka.ErrNoError {
				t.Fatalf("describe %v %s: %v %+v", typ, name, err, rs)
			}
			return rs[0].Config[key]
		}
		if e := incr(kafka.ResourceBroker, id, kafka.AlterConfigOpTypeSet, relogin, "62000"); e.Code() != kafka.ErrNoError {
			t.Fatalf("set %s: %v", relogin, e)
		}
		eventually(t, relogin+" to be 62000 (dynamic broker config)", func() bool {
			c := describe(kafka.ResourceBroker, id, relogin)
			return c.Value == "62000" && c.Source == kafka.ConfigSourceDynamicBroker
		})
		if e := incr(kafka.ResourceBroker, id, kafka.AlterConfigOpTypeDelete, relogin, ""); e.Code() != kafka.ErrNoError {
			t.Fatalf("delete %s: %v", relogin, e)
		}
		if e := incr(kafka.ResourceBroker, id, kafka.AlterConfigOpTypeSet, "broker.id", "7"); e.Code() != kafka.ErrInvalidRequest ||
			e.String() != "Cannot update these configs dynamically: [broker.id]" {
			t.Errorf("set broker.id: %v (%d), want INVALID_REQUEST Cannot update these configs dynamically: [broker.id]", e, e.Code())
		}
		if e := incr(kafka.ResourceGroup, group, kafka.AlterConfigOpTypeSet, "consumer.session.timeout.ms", "55000"); e.Code() != kafka.ErrNoError {
			t.Fatalf("set group config: %v", e)
		}
		eventually(t, "consumer.session.timeout.ms to be 55000", func() bool {
			return describe(kafka.ResourceGroup, group, "consumer.session.timeout.ms").Value == "55000"
		})
		if e := incr(kafka.ResourceGroup, group, kafka.AlterConfigOpTypeSet, "consumer.session.timeout.ms", "500"); e.Code() != kafka.ErrInvalidConfig {
			t.Errorf("group config below the broker's bound: %v, want INVALID_CONFIG", e)
		}
	})
}

// kafkaVersion is the reference broker's version, as scripts/kafka.sh
// names it.
func kafkaVersion(t *testing.T) string {
	out, err := exec.Command("bash", filepath.Join(repoRoot, "scripts", "kafka.sh"), "version").Output()
	if err != nil {
		t.Fatalf("scripts/kafka.sh version: %v", err)
	}
	return strings.TrimSpace(string(out))
}
