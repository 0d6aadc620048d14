package broker

import (
	"errors"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestValidateTopicConfig is the table of topic config values tried, with the
// Kafka error each gets.
func TestValidateTopicConfig(t *testing.T) {
	cases := []struct {
		name, value string
		want        *kerr.Error // nil = accepted
		msg         string      // part of the message
	}{
		{"retention.ms", "1000", nil, ""},
		{"retention.ms", "-1", nil, ""},
		{"retention.ms", "-2", kerr.InvalidConfig, "Value must be at least -1"},
		{"retention.ms", "abc", kerr.InvalidConfig, "Not a number of type LONG"},
		{"retention.ms", "", kerr.InvalidConfig, "Not a number of type LONG"},
		{"retention.bytes", "-5", nil, ""},
		{"retention.bytes", "1.5", kerr.InvalidConfig, "Not a number of type LONG"},
		{"max.message.bytes", "2147483647", nil, ""},
		{"max.message.bytes", "2147483648", kerr.InvalidConfig, "Not a number of type INT"},
		{"max.message.bytes", "-1", kerr.InvalidConfig, "Value must be at least 0"},
		{"cleanup.policy", "delete", nil, ""},
		{"cleanup.policy", "compact", nil, ""},
		{"cleanup.policy", "delete,compact", nil, ""},
		{"cleanup.policy", "shred", kerr.InvalidConfig, "String must be one of: compact, delete"},
		{"cleanup.policy", "", nil, ""},
		{"cleanup.policy", " delete ", nil, ""},
		{"cleanup.policy", "delete,delete", nil, ""},
		{"cleanup.policy", "delete,", kerr.InvalidConfig, "String must be one of: compact, delete"},
		{"cleanup.policy", "Delete", kerr.InvalidConfig, "String must be one of: compact, delete"},
		{"message.timestamp.type", "LogAppendTime", nil, ""},
		{"message.timestamp.type", "logappendtime", kerr.InvalidConfig, "String must be one of: CreateTime, LogAppendTime"},
		{"compression.type", "zstd", nil, ""},
		{"compression.type", "brotli", kerr.InvalidConfig, "String must be one of"},
		{"min.insync.replicas", "0", kerr.InvalidConfig, "Value must be at least 1"},
		{"min.cleanable.dirty.ratio", "1.5", kerr.InvalidConfig, "Value must be between 0 and 1"},
		{"min.cleanable.dirty.ratio", "0.2", nil, ""},
		{"preallocate", "yes", kerr.InvalidConfig, "Expected value to be either true or false"},
		{"preallocate", "TRUE", nil, ""},
		{"segment.bytes", "1000", kerr.InvalidConfig, "Value must be at least 1048576"},
		{"compression.gzip.level", "-1", nil, ""},
		{"compression.gzip.level", "0", kerr.InvalidConfig, "between 1 and 9 or -1"},
		{"remote.storage.enable", "true", kerr.InvalidConfig, "Tiered Storage functionality is disabled"},
		{"remote.storage.enable", "false", nil, ""},
		{"no.such.config", "1", kerr.InvalidConfig, "Unknown topic config name: no.such.config"},
		{"log.retention.ms", "1", kerr.InvalidConfig, "Unknown topic config name"}, // a broker name, not a topic one
	}
	for _, c := range cases {
		err := validateTopicConfig(c.name, c.value)
		if c.want == nil {
			if err != nil {
				t.Errorf("%s=%q: unexpected error %v", c.name, c.value, err)
			}
			continue
		}
		if !errors.Is(err, c.want) {
			t.Errorf("%s=%q: got %v, want %s", c.name, c.value, err, c.want.Message)
			continue
		}
		if !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s=%q: message %q lacks %q", c.name, c.value, err.Error(), c.msg)
		}
	}
}

func TestValidateTopicName(t *testing.T) {
	ok := []string{"a", "A-b_c.9", strings.Repeat("x", 249)}
	bad := []string{"", ".", "..", strings.Repeat("x", 250), "a b", "a/b", "ä", "a\x00"}
	for _, n := range ok {
		if err := validateTopicName(n); err != nil {
			t.Errorf("%q: %v", n, err)
		}
	}
	for _, n := range bad {
		if err := validateTopicName(n); !errors.Is(err, kerr.InvalidTopicException) {
			t.Errorf("%q: got %v, want INVALID_TOPIC_EXCEPTION", n, err)
		}
	}
}

func TestEffectiveTopicConfigsSources(t *testing.T) {
	def := TopicDefaults{RetentionMs: 3600000} // differs from Kafka's default
	if err := def.Validate(); err != nil {
		t.Fatal(err)
	}
	got := effectiveTopicConfigs(map[string]string{"max.message.bytes": "5000"}, brokerSynonyms(def, nil, nil))
	if len(got) != len(topicConfigSpecs) {
		t.Fatalf("got %d configs, want %d", len(got), len(topicConfigSpecs))
	}
	for i := 1; i < len(got); i++ {
		if got[i-1].name >= got[i].name {
			t.Fatalf("not sorted: %s before %s", got[i-1].name, got[i].name)
		}
	}
	by := map[string]configValue{}
	for _, cv := range got {
		by[cv.name] = cv
	}
	type want struct {
		value    string
		source   kmsg.ConfigSource
		synonyms []string // name:source
	}
	for name, w := range map[string]want{
		"max.message.bytes": {"5000", kmsg.ConfigSourceDynamicTopicConfig, []string{"max.message.bytes:DYNAMIC_TOPIC_CONFIG", "message.max.bytes:DEFAULT_CONFIG"}},
		"retention.ms":      {"3600000", kmsg.ConfigSourceStaticBrokerConfig, []string{"log.retention.ms:STATIC_BROKER_CONFIG"}},
		"retention.bytes":   {"-1", kmsg.ConfigSourceDefaultConfig, []string{"log.retention.bytes:DEFAULT_CONFIG"}},
		"cleanup.policy":    {"delete", kmsg.ConfigSourceDefaultConfig, []string{"log.cleanup.policy:DEFAULT_CONFIG"}},
		// No broker synonym: Kafka 4.1.1 lists the value without synonyms.
		"leader.replication.throttled.replicas": {"", kmsg.ConfigSourceDefaultConfig, nil},
	} {
		cv := by[name]
		if cv.value == nil || *cv.value != w.value || cv.source != w.source {
			t.Errorf("%s: got %v/%s, want %q/%s", name, admStr(cv.value), cv.source, w.value, w.source)
		}
		var syn []string
		for _, s := range cv.synonyms {
			syn = append(syn, s.name+":"+s.source.String())
		}
		if strings.Join(syn, " ") != strings.Join(w.synonyms, " ") {
			t.Errorf("%s synonyms: got %v, want %v", name, syn, w.synonyms)
		}
		if cv.readOnly || cv.sensitive {
			t.Errorf("%s: topic configs are neither read-only nor sensitive", name)
		}
	}
	if !strings.Contains(by["segment.bytes"].doc, "does not apply") || strings.Contains(by["retention.ms"].doc, "does not apply") {
		t.Errorf("documentation does not say which configs gregor applies")
	}
}

func TestApplyConfigOps(t *testing.T) {
	set, del, app, sub := kmsg.IncrementalAlterConfigOpSet, kmsg.IncrementalAlterConfigOpDelete, kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract
	op := func(name string, o kmsg.IncrementalAlterConfigOp, v *string) kmsg.IncrementalAlterConfigsRequestResourceConfig {
		return kmsg.IncrementalAlterConfigsRequestResourceConfig{Name: name, Op: o, Value: v}
	}
	cur := map[string]string{"retention.ms": "1", "segment.ms": "5"}
	got, err := applyConfigOps(cur, []kmsg.IncrementalAlterConfigsRequestResourceConfig{
		op("retention.ms", set, kmsg.StringPtr("2")),
		op("segment.ms", del, nil),
		op("leader.replication.throttled.replicas", app, kmsg.StringPtr("0:1,1:1")),
		op("leader.replication.throttled.replicas", app, kmsg.StringPtr("1:1,2:1")),
		op("leader.replication.throttled.replicas", sub, kmsg.StringPtr("0:1")),
		op("cleanup.policy", app, kmsg.StringPtr("delete")),
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"retention.ms": "2", "leader.replication.throttled.replicas": "1:1,2:1", "cleanup.policy": "delete"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %q, want %q", k, got[k], v)
		}
	}
	if cur["retention.ms"] != "1" || cur["segment.ms"] != "5" {
		t.Errorf("current configs modified: %v", cur)
	}
	_, err = applyConfigOps(cur, []kmsg.IncrementalAlterConfigsRequestResourceConfig{op("retention.ms", app, kmsg.StringPtr("1"))})
	if !errors.Is(err, kerr.InvalidConfig) || !strings.Contains(err.Error(), "Can't APPEND to key retention.ms because its type is not LIST.") {
		t.Errorf("append to a LONG: got %v", err)
	}
	_, err = applyConfigOps(cur, []kmsg.IncrementalAlterConfigsRequestResourceConfig{op("retention.ms", set, nil)})
	if !errors.Is(err, kerr.InvalidConfig) {
		t.Errorf("set null: got %v", err)
	}
}

func TestTopicDefaultsValidate(t *testing.T) {
	var d TopicDefaults
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	if d.NumPartitions != 1 || d.DefaultReplicationFactor != 1 || d.MaxMessageBytes != 1048588 ||
		d.RetentionMs != 604800000 || d.RetentionBytes != -1 || d.MessageTimestampType != "CreateTime" {
		t.Errorf("defaults: %+v", d)
	}
	for _, bad := range []TopicDefaults{{NumPartitions: -1}, {RetentionMs: -2}, {MessageTimestampType: "Now"}, {DefaultReplicationFactor: -3}} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func admStr(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}
