package broker

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/protocol"
	"github.com/gregor-broker/gregor/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func admCreateReq(version int16, validateOnly bool, topics ...kmsg.CreateTopicsRequestTopic) *kmsg.CreateTopicsRequest {
	r := kmsg.NewPtrCreateTopicsRequest()
	r.Version, r.ValidateOnly, r.Topics, r.TimeoutMillis = version, validateOnly, topics, 5000
	return r
}

func admTopic(name string, partitions int32, rf int16, configs ...string) kmsg.CreateTopicsRequestTopic {
	t := kmsg.NewCreateTopicsRequestTopic()
	t.Topic, t.NumPartitions, t.ReplicationFactor = name, partitions, rf
	for i := 0; i+1 < len(configs); i += 2 {
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = configs[i], kmsg.StringPtr(configs[i+1])
		t.Configs = append(t.Configs, c)
	}
	return t
}

func TestCreateTopics(t *testing.T) {
	b := admOpen(t, t.TempDir(), TopicDefaults{NumPartitions: 3})
	defer b.close()

	resp := b.call(admCreateReq(7, false,
		admTopic("orders", 2, 1, "retention.ms", "60000", "message.timestamp.type", "LogAppendTime"),
		admTopic("defaults", -1, -1),
	)).(*kmsg.CreateTopicsResponse)
	if len(resp.Topics) != 2 || resp.Topics[0].Topic != "orders" || resp.Topics[1].Topic != "defaults" {
		t.Fatalf("results: %+v", resp.Topics)
	}
	o := resp.Topics[0]
	if o.ErrorCode != 0 || o.NumPartitions != 2 || o.ReplicationFactor != 1 || o.TopicID == [16]byte{} {
		t.Fatalf("orders: %+v", o)
	}
	if len(o.Configs) != len(topicConfigSpecs) {
		t.Errorf("orders: %d configs, want %d", len(o.Configs), len(topicConfigSpecs))
	}
	for _, c := range o.Configs {
		switch c.Name {
		case "retention.ms":
			if admStr(c.Value) != "60000" || c.Source != int8(kmsg.ConfigSourceDynamicTopicConfig) {
				t.Errorf("retention.ms: %s source %d", admStr(c.Value), c.Source)
			}
		case "message.timestamp.type":
			if admStr(c.Value) != "LogAppendTime" || c.Source != int8(kmsg.ConfigSourceDynamicTopicConfig) {
				t.Errorf("message.timestamp.type: %s source %d", admStr(c.Value), c.Source)
			}
		case "retention.bytes":
			if admStr(c.Value) != "-1" || c.Source != int8(kmsg.ConfigSourceDefaultConfig) {
				t.Errorf("retention.bytes: %s source %d", admStr(c.Value), c.Source)
			}
		}
	}
	if d := resp.Topics[1]; d.ErrorCode != 0 || d.NumPartitions != 3 || d.ReplicationFactor != 1 {
		t.Errorf("defaults: %+v", d)
	}
	tp, ok := b.topics.Get("orders")
	if !ok || tp.ID != o.TopicID || tp.Partitions != 2 || !tp.LogAppendTime || tp.RetentionMs != 60000 {
		t.Fatalf("registry: %+v", tp)
	}
	for p := int32(0); p < 2; p++ {
		if b.store.Partition(tp.ID, p) == nil {
			t.Errorf("partition %d not in the store", p)
		}
	}

	// validate_only: the same checks, a result with an id, nothing created.
	resp = b.call(admCreateReq(7, true, admTopic("dry", 5, 1, "retention.bytes", "100"))).(*kmsg.CreateTopicsResponse)
	if r := resp.Topics[0]; r.ErrorCode != 0 || r.NumPartitions != 5 || r.TopicID == [16]byte{} {
		t.Errorf("validate only: %+v", r)
	}
	if _, ok := b.topics.Get("dry"); ok {
		t.Errorf("validate only created the topic")
	}

	// v4 has no v5 fields: the response decodes without them.
	resp = b.call(admCreateReq(4, false, admTopic("old", 1, 1))).(*kmsg.CreateTopicsResponse)
	if r := resp.Topics[0]; r.ErrorCode != 0 || r.Topic != "old" || r.TopicID != [16]byte{} {
		t.Errorf("v4: %+v", r)
	}
}

// TestCreateTopicsErrors is the table of bad CreateTopics input tried, with
// the code Kafka 4 returns for each.
func TestCreateTopicsErrors(t *testing.T) {
	b := admOpen(t, t.TempDir(), TopicDefaults{})
	defer b.close()
	if _, err := b.topics.Create("exists", 1, nil); err != nil {
		t.Fatal(err)
	}
	assign := func(tp kmsg.CreateTopicsRequestTopic, replicas ...[]int32) kmsg.CreateTopicsRequestTopic {
		for i, r := range replicas {
			tp.ReplicaAssignment = append(tp.ReplicaAssignment, kmsg.CreateTopicsRequestTopicReplicaAssignment{Partition: int32(i), Replicas: r})
		}
		return tp
	}
	nullConfig := admTopic("nullconf", 1, 1)
	nullConfig.Configs = []kmsg.CreateTopicsRequestTopicConfig{{Name: "retention.ms"}}
	gap := assign(admTopic("gap", -1, -1), []int32{1})
	gap.ReplicaAssignment[0].Partition = 1
	cases := []struct {
		topic kmsg.CreateTopicsRequestTopic
		code  *kerr.Error
		msg   string
	}{
		{admTopic("", 1, 1), kerr.InvalidTopicException, "Topic name is invalid: the empty string is not allowed"},
		{admTopic("..", 1, 1), kerr.InvalidTopicException, "Topic name is invalid: '..' is not allowed"},
		{admTopic("has space", 1, 1), kerr.InvalidTopicException, "Topic name is invalid: 'has space' contains one or more characters other than ASCII alphanumerics, '.', '_' and '-'"},
		{admTopic(strings.Repeat("a", 250), 1, 1), kerr.InvalidTopicException, "is longer than the max allowed length 249"},
		{admTopic("exists", 1, 1), kerr.TopicAlreadyExists, "Topic 'exists' already exists."},
		{admTopic("__cluster_metadata", 1, 1), kerr.InvalidRequest, "Creation of internal topic __cluster_metadata is prohibited."},
		{nullConfig, kerr.InvalidConfig, "Null value not supported for topic configs: retention.ms"},
		{admTopic("unknownconf", 1, 1, "no.such", "1"), kerr.InvalidConfig, "Unknown topic config name: no.such"},
		{admTopic("badvalue", 1, 1, "retention.ms", "soon"), kerr.InvalidConfig, "Not a number of type LONG"},
		{admTopic("lags", 1, 1, "min.compaction.lag.ms", "10", "max.compaction.lag.ms", "5"), kerr.InvalidConfig, "conflict topic config setting min.compaction.lag.ms (10) > max.compaction.lag.ms (5)"},
		{admTopic("tiered", 1, 1, "remote.storage.enable", "true"), kerr.InvalidConfig, "Tiered Storage"},
		{admTopic("zero", 0, 1), kerr.InvalidPartitions, "non-positive"},
		{admTopic("neg", -2, 1), kerr.InvalidPartitions, "non-positive"},
		{admTopic("huge", maxPartitionsPerTopic+1, 1), kerr.PolicyViolation, "excessively large batch"},
		{admTopic("rf0", 1, 0), kerr.InvalidReplicationFactor, "larger than 0"},
		{admTopic("rfneg", 1, -2), kerr.InvalidReplicationFactor, "larger than 0"},
		{admTopic("rf3", 1, 3), kerr.InvalidReplicationFactor, "only 1 broker(s) are registered"},
		{admTopic("rfzero-partzero", 0, 0), kerr.InvalidReplicationFactor, ""}, // replication factor is checked first
		{assign(admTopic("assign-n", 1, -1), []int32{1}), kerr.InvalidRequest, "numPartitions was not set to -1"},
		{assign(admTopic("assign-rf", -1, 1), []int32{1}), kerr.InvalidRequest, "replication factor was not set to -1"},
		{assign(admTopic("assign-empty", -1, -1), []int32{}), kerr.InvalidReplicaAssignment, "empty replica list"},
		{assign(admTopic("assign-unknown", -1, -1), []int32{7}), kerr.InvalidReplicaAssignment, "broker 7, but no such broker"},
		{assign(admTopic("assign-twice", -1, -1), []int32{1, 1}), kerr.InvalidReplicaAssignment, "more than once"},
		{gap, kerr.InvalidReplicaAssignment, "consecutive 0-based"},
	}
	for _, c := range cases {
		resp := b.call(admCreateReq(7, false, c.topic)).(*kmsg.CreateTopicsResponse)
		if len(resp.Topics) != 1 {
			t.Fatalf("%q: %d results", c.topic.Topic, len(resp.Topics))
		}
		r := resp.Topics[0]
		if r.Topic != c.topic.Topic || r.ErrorCode != c.code.Code || !strings.Contains(admStr(r.ErrorMessage), c.msg) {
			t.Errorf("%q: got %d %q, want %s containing %q", c.topic.Topic, r.ErrorCode, admStr(r.ErrorMessage), c.code.Message, c.msg)
		}
		if r.NumPartitions != -1 || r.ReplicationFactor != -1 || r.TopicID != [16]byte{} || len(r.Configs) != 0 {
			t.Errorf("%q: failed result carries %d/%d/%x/%d configs", c.topic.Topic, r.NumPartitions, r.ReplicationFactor, r.TopicID, len(r.Configs))
		}
	}
	if got := topicNames(b.topics.List()); !slices.Equal(got, []string{"exists"}) {
		t.Errorf("topics after failed creations: %v", got)
	}

	// A timeout of 0 or less: REQUEST_TIMED_OUT, nothing created, as in Kafka 4.
	for _, timeout := range []int32{0, -1} {
		req := admCreateReq(7, false, admTopic("late1", 1, 1), admTopic("late2", 1, 1))
		req.TimeoutMillis = timeout
		resp := b.call(req).(*kmsg.CreateTopicsResponse)
		if len(resp.Topics) != 2 || resp.Topics[0].ErrorCode != kerr.RequestTimedOut.Code || resp.Topics[1].ErrorCode != kerr.RequestTimedOut.Code ||
			resp.Topics[0].ErrorMessage != nil {
			t.Errorf("timeout %d: %+v", timeout, resp.Topics)
		}
		if _, ok := b.topics.Get("late1"); ok {
			t.Errorf("timeout %d created the topic", timeout)
		}
	}

	// More than 10000 partitions in one request: every topic refused.
	resp0 := b.call(admCreateReq(7, false, admTopic("big1", 6000, 1), admTopic("big2", 6000, 1))).(*kmsg.CreateTopicsResponse)
	if len(resp0.Topics) != 2 || resp0.Topics[0].ErrorCode != kerr.PolicyViolation.Code || resp0.Topics[1].ErrorCode != kerr.PolicyViolation.Code {
		t.Errorf("too many partitions: %+v", resp0.Topics)
	}

	// A manual assignment naming this broker is accepted.
	ok := assign(admTopic("assigned", -1, -1), []int32{1}, []int32{1})
	r := b.call(admCreateReq(7, false, ok)).(*kmsg.CreateTopicsResponse).Topics[0]
	if r.ErrorCode != 0 || r.NumPartitions != 2 || r.ReplicationFactor != 1 {
		t.Errorf("assigned: %+v", r)
	}

	// A name given twice is answered once, with INVALID_REQUEST, and not created.
	resp := b.call(admCreateReq(7, false, admTopic("twice", 1, 1), admTopic("once", 1, 1), admTopic("twice", 2, 1))).(*kmsg.CreateTopicsResponse)
	if len(resp.Topics) != 2 || resp.Topics[0].Topic != "twice" || resp.Topics[0].ErrorCode != kerr.InvalidRequest.Code ||
		admStr(resp.Topics[0].ErrorMessage) != "Duplicate topic name." || resp.Topics[1].Topic != "once" || resp.Topics[1].ErrorCode != 0 {
		t.Errorf("duplicates: %+v", resp.Topics)
	}
	if _, ok := b.topics.Get("twice"); ok {
		t.Errorf("duplicate name created")
	}
}

func TestDeleteTopics(t *testing.T) {
	b := admOpen(t, t.TempDir(), TopicDefaults{})
	defer b.close()
	mk := func(n string) *Topic {
		tp, err := b.topics.Create(n, 2, nil)
		if err != nil {
			t.Fatal(err)
		}
		return tp
	}
	a, bb, c := mk("a"), mk("b"), mk("c")

	// v1–v5: names.
	r5 := kmsg.NewPtrDeleteTopicsRequest()
	r5.Version, r5.TopicNames = 5, []string{"a", "nope", "c", "c"}
	resp := b.call(r5).(*kmsg.DeleteTopicsResponse)
	want := []struct {
		name string
		code int16
	}{{"a", 0}, {"nope", kerr.UnknownTopicOrPartition.Code}, {"c", kerr.InvalidRequest.Code}}
	if len(resp.Topics) != len(want) {
		t.Fatalf("v5: %+v", resp.Topics)
	}
	for i, w := range want {
		if admStr(resp.Topics[i].Topic) != w.name || resp.Topics[i].ErrorCode != w.code {
			t.Errorf("v5 result %d: %s %d, want %s %d", i, admStr(resp.Topics[i].Topic), resp.Topics[i].ErrorCode, w.name, w.code)
		}
	}
	if _, ok := b.topics.Get("a"); ok {
		t.Errorf("a not deleted")
	}
	if b.store.Partition(a.ID, 0) != nil {
		t.Errorf("a's partitions still in the store")
	}
	if _, ok := b.topics.Get("c"); !ok {
		t.Errorf("c deleted although named twice")
	}

	// A timeout of 0: REQUEST_TIMED_OUT, nothing deleted.
	r0 := kmsg.NewPtrDeleteTopicsRequest()
	r0.Version, r0.TopicNames, r0.TimeoutMillis = 5, []string{"c"}, 0
	if resp := b.call(r0).(*kmsg.DeleteTopicsResponse); len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != kerr.RequestTimedOut.Code {
		t.Errorf("timeout 0: %+v", resp.Topics)
	}
	if _, ok := b.topics.Get("c"); !ok {
		t.Errorf("timeout 0 deleted c")
	}

	// v6: ids and names.
	r6 := kmsg.NewPtrDeleteTopicsRequest()
	r6.Version = 6
	unknown := storage.TopicID{9, 9}
	r6.Topics = []kmsg.DeleteTopicsRequestTopic{
		{TopicID: bb.ID},
		{TopicID: unknown},
		{},
		{Topic: kmsg.StringPtr("c"), TopicID: c.ID},
		{Topic: kmsg.StringPtr("missing")},
	}
	resp = b.call(r6).(*kmsg.DeleteTopicsResponse)
	type res struct {
		name string
		id   storage.TopicID
		code int16
	}
	wantv6 := []res{
		{"b", bb.ID, 0},
		{"<nil>", unknown, kerr.UnknownTopicID.Code},
		{"<nil>", storage.TopicID{}, kerr.InvalidRequest.Code},
		{"c", c.ID, kerr.InvalidRequest.Code},
		{"missing", storage.TopicID{}, kerr.UnknownTopicOrPartition.Code},
	}
	if len(resp.Topics) != len(wantv6) {
		t.Fatalf("v6: %+v", resp.Topics)
	}
	for i, w := range wantv6 {
		g := resp.Topics[i]
		if admStr(g.Topic) != w.name || g.TopicID != w.id || g.ErrorCode != w.code {
			t.Errorf("v6 result %d: %s %x %d, want %s %x %d", i, admStr(g.Topic), g.TopicID, g.ErrorCode, w.name, w.id, w.code)
		}
	}
	if got := topicNames(b.topics.List()); !slices.Equal(got, []string{"c"}) {
		t.Errorf("topics left: %v", got)
	}
	// A re-created topic gets a new id.
	c2 := b.call(admCreateReq(7, false, admTopic("b", 1, 1))).(*kmsg.CreateTopicsResponse).Topics[0]
	if c2.ErrorCode != 0 || c2.TopicID == bb.ID {
		t.Errorf("re-created b: %+v (old id %x)", c2, bb.ID)
	}
}

func TestCreatePartitions(t *testing.T) {
	b := admOpen(t, t.TempDir(), TopicDefaults{})
	defer b.close()
	if _, err := b.topics.Create("grow", 2, nil); err != nil {
		t.Fatal(err)
	}
	req := func(validate bool, topics ...kmsg.CreatePartitionsRequestTopic) *kmsg.CreatePartitionsResponse {
		r := kmsg.NewPtrCreatePartitionsRequest()
		r.Version, r.ValidateOnly, r.Topics, r.TimeoutMillis = 3, validate, topics, 5000
		return b.call(r).(*kmsg.CreatePartitionsResponse)
	}
	top := func(n string, count int32, assign ...[]int32) kmsg.CreatePartitionsRequestTopic {
		t := kmsg.CreatePartitionsRequestTopic{Topic: n, Count: count}
		for _, a := range assign {
			t.Assignment = append(t.Assignment, kmsg.CreatePartitionsRequestTopicAssignment{Replicas: a})
		}
		return t
	}
	check := func(resp *kmsg.CreatePartitionsResponse, want ...any) {
		t.Helper()
		if len(resp.Topics) != len(want)/3 {
			t.Fatalf("results %+v", resp.Topics)
		}
		for i := range resp.Topics {
			g := resp.Topics[i]
			if g.Topic != want[3*i].(string) || g.ErrorCode != want[3*i+1].(*kerr.Error).Code || !strings.Contains(admStr(g.ErrorMessage), want[3*i+2].(string)) {
				t.Errorf("result %d: %s %d %q, want %v", i, g.Topic, g.ErrorCode, admStr(g.ErrorMessage), want[3*i:3*i+3])
			}
		}
	}
	none := &kerr.Error{Code: 0}
	check(req(true, top("grow", 5)), "grow", none, "<nil>")
	if tp, _ := b.topics.Get("grow"); tp.Partitions != 2 {
		t.Fatalf("validate only grew the topic to %d", tp.Partitions)
	}
	check(req(false, top("grow", 4), top("nope", 3)), "grow", none, "<nil>", "nope", kerr.UnknownTopicOrPartition, "<nil>")
	tp, _ := b.topics.Get("grow")
	if tp.Partitions != 4 || b.store.Partition(tp.ID, 3) == nil {
		t.Fatalf("after growing: %+v", tp)
	}
	check(req(false, top("grow", 4)), "grow", kerr.InvalidPartitions, "Topic already has 4 partition(s).")
	check(req(false, top("grow", 3)), "grow", kerr.InvalidPartitions, "The topic grow currently has 4 partition(s); 3 would not be an increase.")
	check(req(false, top("grow", 6, []int32{1})), "grow", kerr.InvalidReplicaAssignment, "Attempted to add 2 additional partition(s), but only 1 assignment(s) were specified.")
	check(req(false, top("grow", 5, []int32{2})), "grow", kerr.InvalidReplicaAssignment, "no such broker")
	check(req(false, top("grow", 6), top("grow", 7)), "grow", kerr.InvalidRequest, "Duplicate topic name.")
	check(req(false, top("grow", 10006)), "grow", kerr.PolicyViolation, "excessively large")
	r0 := kmsg.NewPtrCreatePartitionsRequest()
	r0.Version, r0.Topics, r0.TimeoutMillis = 3, []kmsg.CreatePartitionsRequestTopic{top("grow", 9)}, 0
	check(b.call(r0).(*kmsg.CreatePartitionsResponse), "grow", kerr.RequestTimedOut, "<nil>")
	if tp, _ := b.topics.Get("grow"); tp.Partitions != 4 {
		t.Errorf("timeout 0 grew the topic to %d", tp.Partitions)
	}
	check(req(false, top("grow", 5, []int32{1})), "grow", none, "<nil>")
	if tp, _ := b.topics.Get("grow"); tp.Partitions != 5 {
		t.Errorf("after assigned growth: %d partitions", tp.Partitions)
	}
}

func TestDeleteRecords(t *testing.T) {
	b := admOpen(t, t.TempDir(), TopicDefaults{})
	defer b.close()
	if _, err := b.topics.Create("recs", 2, nil); err != nil {
		t.Fatal(err)
	}
	b.produce("recs", 0, 1000, "a", "b", "c")
	b.produce("recs", 0, 1000, "d", "e")
	b.produce("recs", 1, 1000, "x")
	del := func(version int16, topic string, parts ...int64) []kmsg.DeleteRecordsResponseTopicPartition {
		r := kmsg.NewPtrDeleteRecordsRequest()
		r.Version = version
		rt := kmsg.DeleteRecordsRequestTopic{Topic: topic}
		for i := 0; i+1 < len(parts); i += 2 {
			rt.Partitions = append(rt.Partitions, kmsg.DeleteRecordsRequestTopicPartition{Partition: int32(parts[i]), Offset: parts[i+1]})
		}
		r.Topics = []kmsg.DeleteRecordsRequestTopic{rt}
		resp := b.call(r).(*kmsg.DeleteRecordsResponse)
		if len(resp.Topics) != 1 || resp.Topics[0].Topic != topic {
			t.Fatalf("topics %+v", resp.Topics)
		}
		return resp.Topics[0].Partitions
	}
	type pr struct {
		p    int32
		low  int64
		code int16
	}
	check := func(got []kmsg.DeleteRecordsResponseTopicPartition, want ...pr) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("got %+v, want %+v", got, want)
		}
		for i, w := range want {
			if got[i].Partition != w.p || got[i].LowWatermark != w.low || got[i].ErrorCode != w.code {
				t.Errorf("partition result %d: %+v, want %+v", i, got[i], w)
			}
		}
	}
	oor := kerr.OffsetOutOfRange.Code
	unk := kerr.UnknownTopicOrPartition.Code
	check(del(2, "recs", 0, -5), pr{0, -1, oor})
	check(del(2, "recs", 0, 4, 1, 2, 7, 0), pr{0, 4, 0}, pr{1, -1, oor}, pr{7, -1, unk})
	check(del(0, "recs", 0, 2), pr{0, 4, 0})  // below the log start: nothing changes
	check(del(1, "recs", 1, -1), pr{1, 1, 0}) // -1: the high watermark
	check(del(2, "gone", 0, 1, 1, 1), pr{0, -1, unk}, pr{1, -1, unk})
	check(del(2, "recs", 1, 0, 0, 4, 1, 9), pr{1, -1, oor}, pr{0, 4, 0}) // a partition named twice: once, last offset
	tp, _ := b.topics.Get("recs")
	if got := b.store.Partition(tp.ID, 0).LogStartOffset(); got != 4 {
		t.Errorf("recs-0 log start %d, want 4", got)
	}
}

func TestDescribeConfigs(t *testing.T) {
	b := admOpen(t, t.TempDir(), TopicDefaults{RetentionBytes: 1 << 30})
	defer b.close()
	if _, err := b.topics.Create("conf", 1, map[string]string{"retention.ms": "1000"}); err != nil {
		t.Fatal(err)
	}
	req := kmsg.NewPtrDescribeConfigsRequest()
	req.Version, req.IncludeSynonyms, req.IncludeDocumentation = 4, true, true
	res := func(typ kmsg.ConfigResourceType, name string, names ...string) kmsg.DescribeConfigsRequestResource {
		return kmsg.DescribeConfigsRequestResource{ResourceType: typ, ResourceName: name, ConfigNames: names}
	}
	req.Resources = []kmsg.DescribeConfigsRequestResource{
		res(kmsg.ConfigResourceTypeTopic, "conf"),
		res(kmsg.ConfigResourceTypeTopic, "conf", "retention.bytes", "no.such"),
		res(kmsg.ConfigResourceTypeTopic, "missing"),
		res(kmsg.ConfigResourceTypeTopic, "bad/name"),
		res(kmsg.ConfigResourceTypeBroker, "1"),
		res(kmsg.ConfigResourceTypeBroker, "2"),
		res(kmsg.ConfigResourceTypeBroker, "one"),
		res(kmsg.ConfigResourceTypeBroker, ""),
		res(kmsg.ConfigResourceTypeBrokerLogger, "1"),
		res(kmsg.ConfigResourceType(1), "x"),
	}
	resp := b.call(req).(*kmsg.DescribeConfigsResponse)
	codes := []int16{0, 0, kerr.UnknownTopicOrPartition.Code, kerr.InvalidTopicException.Code, 0, kerr.InvalidRequest.Code, kerr.InvalidRequest.Code, 0, 0, kerr.InvalidRequest.Code}
	if len(resp.Resources) != len(codes) {
		t.Fatalf("%d resources", len(resp.Resources))
	}
	for i, c := range codes {
		r := resp.Resources[i]
		if r.ErrorCode != c || r.ResourceName != req.Resources[i].ResourceName || r.ResourceType != req.Resources[i].ResourceType {
			t.Errorf("resource %d (%s %q): code %d %q, want %d", i, r.ResourceType, r.ResourceName, r.ErrorCode, admStr(r.ErrorMessage), c)
		}
	}
	all := resp.Resources[0].Configs
	if len(all) != len(topicConfigSpecs) {
		t.Fatalf("topic: %d configs, want %d", len(all), len(topicConfigSpecs))
	}
	by := map[string]kmsg.DescribeConfigsResponseResourceConfig{}
	for i, c := range all {
		if i > 0 && all[i-1].Name >= c.Name {
			t.Errorf("configs not sorted at %s", c.Name)
		}
		if c.Documentation == nil || *c.Documentation == "" || c.ConfigType == kmsg.ConfigTypeUnknown || c.ReadOnly || c.IsSensitive {
			t.Errorf("%s: doc %v type %s readOnly %v sensitive %v", c.Name, c.Documentation, c.ConfigType, c.ReadOnly, c.IsSensitive)
		}
		by[c.Name] = c
	}
	rms, rb, mmb := by["retention.ms"], by["retention.bytes"], by["max.message.bytes"]
	if admStr(rms.Value) != "1000" || rms.Source != kmsg.ConfigSourceDynamicTopicConfig || rms.ConfigType != kmsg.ConfigTypeLong ||
		// Kafka's log.retention.ms has a null default: no DEFAULT_CONFIG synonym.
		len(rms.ConfigSynonyms) != 1 || rms.ConfigSynonyms[0].Source != kmsg.ConfigSourceDynamicTopicConfig {
		t.Errorf("retention.ms: %+v", rms)
	}
	if admStr(rb.Value) != "1073741824" || rb.Source != kmsg.ConfigSourceStaticBrokerConfig || len(rb.ConfigSynonyms) != 2 ||
		rb.ConfigSynonyms[0].Name != "log.retention.bytes" || rb.ConfigSynonyms[0].Source != kmsg.ConfigSourceStaticBrokerConfig {
		t.Errorf("retention.bytes: %+v", rb)
	}
	if admStr(mmb.Value) != "1048588" || mmb.Source != kmsg.ConfigSourceDefaultConfig || mmb.ConfigType != kmsg.ConfigTypeInt {
		t.Errorf("max.message.bytes: %+v", mmb)
	}
	if f := resp.Resources[1].Configs; len(f) != 1 || f[0].Name != "retention.bytes" {
		t.Errorf("filtered: %+v", f)
	}
	broker := map[string]kmsg.DescribeConfigsResponseResourceConfig{}
	for _, c := range resp.Resources[4].Configs {
		if k := lookupBrokerConfig(c.Name); k == nil || c.ReadOnly != k.ReadOnly {
			t.Errorf("broker config %s: read-only %v, Kafka's table %+v", c.Name, c.ReadOnly, k)
		}
		broker[c.Name] = c
	}
	for name, v := range map[string]string{
		"node.id": "1", "broker.id": "1", "log.retention.bytes": "1073741824", "log.retention.hours": "168",
		"num.partitions": "1", "advertised.listeners": "PLAINTEXT://broker.example:19092", "log.cleanup.policy": "delete",
	} {
		if c, ok := broker[name]; !ok || admStr(c.Value) != v {
			t.Errorf("broker %s: %q, want %q", name, admStr(c.Value), v)
		}
	}
	if broker["log.retention.bytes"].Source != kmsg.ConfigSourceStaticBrokerConfig || broker["num.partitions"].Source != kmsg.ConfigSourceDefaultConfig {
		t.Errorf("broker sources: %s %s", broker["log.retention.bytes"].Source, broker["num.partitions"].Source)
	}
	if n := len(resp.Resources[7].Configs); n != 0 {
		t.Errorf("cluster-wide dynamic defaults: %d configs, want none", n)
	}
	if lg := resp.Resources[8].Configs; len(lg) != 1 || lg[0].Name != "root" || lg[0].Source != kmsg.ConfigSourceDynamicBrokerLoggerConfig || admStr(lg[0].Value) == "" {
		t.Errorf("broker logger: %+v", lg)
	}

	// An empty (not null) name list also means every config, as in Kafka.
	req.Resources = []kmsg.DescribeConfigsRequestResource{{ResourceType: kmsg.ConfigResourceTypeTopic, ResourceName: "conf", ConfigNames: []string{}}}
	if n := len(b.call(req).(*kmsg.DescribeConfigsResponse).Resources[0].Configs); n != len(topicConfigSpecs) {
		t.Errorf("empty name list: %d configs", n)
	}

	// Without synonyms and documentation, and at v1 (no type, no doc).
	req.Version, req.IncludeSynonyms, req.IncludeDocumentation = 1, false, false
	req.Resources = req.Resources[:1]
	c := b.call(req).(*kmsg.DescribeConfigsResponse).Resources[0].Configs[0]
	if len(c.ConfigSynonyms) != 0 || c.Documentation != nil || c.ConfigType != 0 {
		t.Errorf("v1 config: %+v", c)
	}
}

func TestAlterConfigs(t *testing.T) {
	b := admOpen(t, t.TempDir(), TopicDefaults{})
	defer b.close()
	if _, err := b.topics.Create("alt", 2, map[string]string{"retention.ms": "1000", "segment.ms": "5000"}); err != nil {
		t.Fatal(err)
	}
	alter := func(validate bool, rs ...kmsg.AlterConfigsRequestResource) []kmsg.AlterConfigsResponseResource {
		r := kmsg.NewPtrAlterConfigsRequest()
		r.Version, r.ValidateOnly, r.Resources = 2, validate, rs
		return b.call(r).(*kmsg.AlterConfigsResponse).Resources
	}
	topic := func(name string, kv ...string) kmsg.AlterConfigsRequestResource {
		r := kmsg.AlterConfigsRequestResource{ResourceType: kmsg.ConfigResourceTypeTopic, ResourceName: name}
		for i := 0; i+1 < len(kv); i += 2 {
			r.Configs = append(r.Configs, kmsg.AlterConfigsRequestResourceConfig{Name: kv[i], Value: kmsg.StringPtr(kv[i+1])})
		}
		return r
	}
	codes := func(rs []kmsg.AlterConfigsResponseResource) []int16 {
		var out []int16
		for _, r := range rs {
			out = append(out, r.ErrorCode)
		}
		return out
	}
	// validate only: nothing changes.
	if got := codes(alter(true, topic("alt", "max.message.bytes", "100"))); !slices.Equal(got, []int16{0}) {
		t.Fatalf("validate only: %v", got)
	}
	if tp, _ := b.topics.Get("alt"); tp.MaxMessageBytes != 1048588 || len(tp.Configs) != 2 {
		t.Fatalf("validate only applied: %+v", tp)
	}
	// Replace the whole set: retention.ms and segment.ms go back to defaults.
	if got := codes(alter(false, topic("alt", "max.message.bytes", "100", "message.timestamp.type", "LogAppendTime"))); !slices.Equal(got, []int16{0}) {
		t.Fatalf("alter: %v", got)
	}
	tp, _ := b.topics.Get("alt")
	if tp.MaxMessageBytes != 100 || !tp.LogAppendTime || tp.RetentionMs != 604800000 || len(tp.Configs) != 2 || tp.Configs["segment.ms"] != "" {
		t.Fatalf("after alter: %+v", tp)
	}
	nullValue := topic("alt")
	nullValue.Configs = []kmsg.AlterConfigsRequestResourceConfig{{Name: "retention.ms"}}
	broker := kmsg.AlterConfigsRequestResource{ResourceType: kmsg.ConfigResourceTypeBroker, ResourceName: "1",
		Configs: []kmsg.AlterConfigsRequestResourceConfig{{Name: "num.partitions", Value: kmsg.StringPtr("3")}}}
	// One resource per request: a resource named twice in one request
	// gets INVALID_REQUEST (checked last).
	var got []kmsg.AlterConfigsResponseResource
	for _, r := range []kmsg.AlterConfigsRequestResource{
		topic("missing", "retention.ms", "1"),
		topic("alt", "bogus", "1"),
		topic("alt", "cleanup.policy", "compact,shred"),
		topic("alt", "retention.ms", "1", "retention.ms", "2"),
		nullValue,
		broker,
		{ResourceType: kmsg.ConfigResourceTypeBroker, ResourceName: "1"},
	} {
		got = append(got, alter(false, r)...)
	}
	want := []int16{kerr.UnknownTopicOrPartition.Code, kerr.InvalidConfig.Code, kerr.InvalidConfig.Code, kerr.InvalidRequest.Code,
		kerr.InvalidRequest.Code, kerr.InvalidRequest.Code, 0}
	if !slices.Equal(codes(got), want) {
		t.Errorf("errors: got %v, want %v", codes(got), want)
	}
	if !strings.Contains(admStr(got[5].ErrorMessage), "Cannot update these configs dynamically: [num.partitions]") {
		t.Errorf("broker message: %q", admStr(got[5].ErrorMessage))
	}
	if tp2, _ := b.topics.Get("alt"); tp2.MaxMessageBytes != 100 || !tp2.LogAppendTime || len(tp2.Configs) != 2 {
		t.Errorf("failed alters changed the topic: %+v", tp2)
	}
	dup := alter(false, topic("alt", "retention.ms", "5"), topic("alt", "retention.ms", "6"))
	if !slices.Equal(codes(dup), []int16{kerr.InvalidRequest.Code, kerr.InvalidRequest.Code}) || admStr(dup[0].ErrorMessage) != "Duplicate resource." {
		t.Errorf("duplicate resources: %+v", dup)
	}
}

func TestIncrementalAlterConfigs(t *testing.T) {
	b := admOpen(t, t.TempDir(), TopicDefaults{})
	defer b.close()
	if _, err := b.topics.Create("inc", 1, map[string]string{"retention.ms": "1000", "segment.ms": "5000"}); err != nil {
		t.Fatal(err)
	}
	type op = kmsg.IncrementalAlterConfigsRequestResourceConfig
	alter := func(validate bool, rs ...kmsg.IncrementalAlterConfigsRequestResource) []kmsg.IncrementalAlterConfigsResponseResource {
		r := kmsg.NewPtrIncrementalAlterConfigsRequest()
		r.Version, r.ValidateOnly, r.Resources = 1, validate, rs
		return b.call(r).(*kmsg.IncrementalAlterConfigsResponse).Resources
	}
	res := func(typ kmsg.ConfigResourceType, name string, ops ...op) kmsg.IncrementalAlterConfigsRequestResource {
		return kmsg.IncrementalAlterConfigsRequestResource{ResourceType: typ, ResourceName: name, Configs: ops}
	}
	topicT := kmsg.ConfigResourceTypeTopic
	set, del, app, sub := kmsg.IncrementalAlterConfigOpSet, kmsg.IncrementalAlterConfigOpDelete, kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract
	got := alter(false, res(topicT, "inc",
		op{Name: "retention.bytes", Op: set, Value: kmsg.StringPtr("4096")},
		op{Name: "segment.ms", Op: del},
		op{Name: "cleanup.policy", Op: app, Value: kmsg.StringPtr("delete")},
	))
	if len(got) != 1 || got[0].ErrorCode != 0 || got[0].ResourceName != "inc" {
		t.Fatalf("alter: %+v", got)
	}
	tp, _ := b.topics.Get("inc")
	if tp.RetentionBytes != 4096 || tp.RetentionMs != 1000 || tp.Configs["cleanup.policy"] != "delete" || len(tp.Configs) != 3 {
		t.Fatalf("after alter: %+v", tp)
	}
	got = alter(true, res(topicT, "inc", op{Name: "retention.ms", Op: del}))
	if got[0].ErrorCode != 0 {
		t.Fatalf("validate only: %+v", got)
	}
	if tp2, _ := b.topics.Get("inc"); tp2 != tp {
		t.Errorf("validate only replaced the topic")
	}
	got = nil
	for _, r := range []kmsg.IncrementalAlterConfigsRequestResource{
		res(topicT, "inc", op{Name: "retention.ms", Op: app, Value: kmsg.StringPtr("5")}),
		res(topicT, "inc", op{Name: "cleanup.policy", Op: app, Value: kmsg.StringPtr("shred")}),
		res(topicT, "inc", op{Name: "retention.ms", Op: set, Value: kmsg.StringPtr("1")}, op{Name: "retention.ms", Op: del}),
		res(topicT, "inc", op{Name: "retention.ms", Op: 9, Value: kmsg.StringPtr("1")}),
		res(topicT, "nope", op{Name: "retention.ms", Op: set, Value: kmsg.StringPtr("1")}),
		res(topicT, "inc", op{Name: "what.ever", Op: set, Value: kmsg.StringPtr("1")}),
		res(kmsg.ConfigResourceTypeBroker, "1", op{Name: "num.partitions", Op: set, Value: kmsg.StringPtr("1")}),
		res(kmsg.ConfigResourceTypeBroker, "1", op{Name: "log.retention.ms", Op: del}),
		res(kmsg.ConfigResourceTypeBroker, "5", op{Name: "log.retention.ms", Op: del}),
	} {
		got = append(got, alter(false, r)...)
	}
	want := []int16{kerr.InvalidConfig.Code, kerr.InvalidConfig.Code, kerr.InvalidRequest.Code, kerr.UnknownServerError.Code,
		kerr.UnknownTopicOrPartition.Code, kerr.InvalidConfig.Code, kerr.InvalidRequest.Code, 0, kerr.InvalidRequest.Code}
	var codes []int16
	for _, r := range got {
		codes = append(codes, r.ErrorCode)
	}
	if !slices.Equal(codes, want) {
		t.Errorf("errors: got %v, want %v", codes, want)
	}
	if !strings.Contains(admStr(got[1].ErrorMessage), "String must be one of: compact, delete") {
		t.Errorf("cleanup.policy message: %q", admStr(got[1].ErrorMessage))
	}
	// cleanup.policy APPEND/SUBTRACT round trip.
	alter(false, res(topicT, "inc", op{Name: "cleanup.policy", Op: sub, Value: kmsg.StringPtr("delete")}))
	if tp, _ := b.topics.Get("inc"); tp.Configs["cleanup.policy"] != "" {
		t.Errorf("after subtract: %q", tp.Configs["cleanup.policy"])
	}
}

// TestDynamicBrokerConfigs checks the broker configs that change at
// runtime: per-broker over cluster-wide over static, applied to topics that
// do not set their own value, reported with their sources, durable.
func TestDynamicBrokerConfigs(t *testing.T) {
	dir := t.TempDir()
	b := admOpen(t, dir, TopicDefaults{RetentionMs: 86400000}) // static, differs from Kafka's default
	if _, err := b.topics.Create("follows", 1, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := b.topics.Create("own", 1, map[string]string{"retention.ms": "1000"}); err != nil {
		t.Fatal(err)
	}
	type op = kmsg.IncrementalAlterConfigsRequestResourceConfig
	set, del := kmsg.IncrementalAlterConfigOpSet, kmsg.IncrementalAlterConfigOpDelete
	alter := func(resource string, ops ...op) (int16, string) {
		r := kmsg.NewPtrIncrementalAlterConfigsRequest()
		r.Version = 1
		r.Resources = []kmsg.IncrementalAlterConfigsRequestResource{{ResourceType: kmsg.ConfigResourceTypeBroker, ResourceName: resource, Configs: ops}}
		res := b.call(r).(*kmsg.IncrementalAlterConfigsResponse).Resources[0]
		return res.ErrorCode, admStr(res.ErrorMessage)
	}
	describe := func(name string) kmsg.DescribeConfigsResponseResourceConfig {
		r := kmsg.NewPtrDescribeConfigsRequest()
		r.Version, r.IncludeSynonyms = 4, true
		r.Resources = []kmsg.DescribeConfigsRequestResource{{ResourceType: kmsg.ConfigResourceTypeTopic, ResourceName: "follows", ConfigNames: []string{name}}}
		return b.call(r).(*kmsg.DescribeConfigsResponse).Resources[0].Configs[0]
	}
	sources := func(c kmsg.DescribeConfigsResponseResourceConfig) []string {
		var out []string
		for _, s := range c.ConfigSynonyms {
			out = append(out, s.Name+"="+admStr(s.Value)+":"+s.Source.String())
		}
		return out
	}
	retention := func(n string) int64 { tp, _ := b.topics.Get(n); return tp.RetentionMs }

	if c := describe("retention.ms"); admStr(c.Value) != "86400000" || c.Source != kmsg.ConfigSourceStaticBrokerConfig {
		t.Errorf("static: %v", sources(c))
	}
	if code, msg := alter("", op{Name: "log.retention.ms", Op: set, Value: kmsg.StringPtr("7200000")}); code != 0 {
		t.Fatalf("cluster-wide: %d %s", code, msg)
	}
	if retention("follows") != 7200000 || retention("own") != 1000 {
		t.Errorf("after cluster-wide: follows %d, own %d", retention("follows"), retention("own"))
	}
	if code, msg := alter("1", op{Name: "log.retention.ms", Op: set, Value: kmsg.StringPtr("3600000")}, op{Name: "message.max.bytes", Op: set, Value: kmsg.StringPtr("5000")}); code != 0 {
		t.Fatalf("per broker: %d %s", code, msg)
	}
	tp, _ := b.topics.Get("follows")
	if tp.RetentionMs != 3600000 || tp.MaxMessageBytes != 5000 || retention("own") != 1000 {
		t.Errorf("after per-broker: %+v", tp)
	}
	want := []string{"log.retention.ms=3600000:DYNAMIC_BROKER_CONFIG", "log.retention.ms=7200000:DYNAMIC_DEFAULT_BROKER_CONFIG",
		"log.retention.ms=86400000:STATIC_BROKER_CONFIG"}
	if c := describe("retention.ms"); admStr(c.Value) != "3600000" || c.Source != kmsg.ConfigSourceDynamicBrokerConfig || !slices.Equal(sources(c), want) {
		t.Errorf("synonyms: %v, want %v", sources(c), want)
	}
	// Errors: a static broker config, a bad value, APPEND, another broker.
	for _, c := range []struct {
		resource string
		o        op
		code     int16
		msg      string
	}{
		{"1", op{Name: "num.partitions", Op: set, Value: kmsg.StringPtr("3")}, kerr.InvalidRequest.Code, "Cannot update these configs dynamically: [num.partitions]"},
		{"", op{Name: "log.retention.ms", Op: set, Value: kmsg.StringPtr("soon")}, kerr.InvalidRequest.Code, "Not a number of type LONG"},
		{"", op{Name: "message.max.bytes", Op: set, Value: kmsg.StringPtr("-1")}, kerr.InvalidRequest.Code, "Value must be at least 0"},
		{"", op{Name: "log.retention.ms", Op: set, Value: nil}, kerr.InvalidRequest.Code, "Null value not supported"},
		{"", op{Name: "message.max.bytes", Op: kmsg.IncrementalAlterConfigOpAppend, Value: kmsg.StringPtr("1")}, kerr.InvalidConfig.Code, "append is not allowed"},
		{"2", op{Name: "log.retention.ms", Op: set, Value: kmsg.StringPtr("1")}, kerr.InvalidRequest.Code, "Unexpected broker id"},
	} {
		if code, msg := alter(c.resource, c.o); code != c.code || !strings.Contains(msg, c.msg) {
			t.Errorf("%q %s: got %d %q, want %d %q", c.resource, c.o.Name, code, msg, c.code, c.msg)
		}
	}
	// DescribeConfigs on "" lists the cluster-wide values set.
	r := kmsg.NewPtrDescribeConfigsRequest()
	r.Version = 4
	r.Resources = []kmsg.DescribeConfigsRequestResource{{ResourceType: kmsg.ConfigResourceTypeBroker}}
	cl := b.call(r).(*kmsg.DescribeConfigsResponse).Resources[0]
	if cl.ErrorCode != 0 || len(cl.Configs) != 1 || cl.Configs[0].Name != "log.retention.ms" || admStr(cl.Configs[0].Value) != "7200000" ||
		cl.Configs[0].Source != kmsg.ConfigSourceDynamicDefaultBrokerConfig {
		t.Errorf("cluster-wide describe: %+v", cl)
	}

	// Durable.
	b.close()
	b = admOpen(t, dir, TopicDefaults{RetentionMs: 86400000})
	defer b.close()
	if tp, _ := b.topics.Get("follows"); tp.RetentionMs != 3600000 || tp.MaxMessageBytes != 5000 {
		t.Errorf("after restart: %+v", tp)
	}
	if code, _ := alter("1", op{Name: "log.retention.ms", Op: del}, op{Name: "message.max.bytes", Op: del}); code != 0 {
		t.Fatal(code)
	}
	if tp, _ := b.topics.Get("follows"); tp.RetentionMs != 7200000 || tp.MaxMessageBytes != 1048588 {
		t.Errorf("after deleting the per-broker values: %+v", tp)
	}
}

func TestDescribeLogDirs(t *testing.T) {
	dir := t.TempDir()
	b := admOpen(t, dir, TopicDefaults{})
	defer b.close()
	for _, n := range []string{"a", "b"} {
		if _, err := b.topics.Create(n, 2, nil); err != nil {
			t.Fatal(err)
		}
	}
	b.produce("a", 1, 1000, "hello", "world")
	r := kmsg.NewPtrDescribeLogDirsRequest()
	r.Version = 4
	resp := b.call(r).(*kmsg.DescribeLogDirsResponse)
	if resp.ErrorCode != 0 || len(resp.Dirs) != 1 {
		t.Fatalf("%+v", resp)
	}
	d := resp.Dirs[0]
	if d.Dir != dir || d.ErrorCode != 0 || d.TotalBytes <= 0 || d.UsableBytes <= 0 || d.UsableBytes > d.TotalBytes {
		t.Errorf("dir: %s %d total %d usable %d", d.Dir, d.ErrorCode, d.TotalBytes, d.UsableBytes)
	}
	if len(d.Topics) != 2 || d.Topics[0].Topic != "a" || d.Topics[1].Topic != "b" {
		t.Fatalf("topics: %+v", d.Topics)
	}
	a := d.Topics[0].Partitions
	if len(a) != 2 || a[0].Partition != 0 || a[0].Size != 0 || a[1].Partition != 1 || a[1].Size <= 0 || a[1].OffsetLag != 0 {
		t.Errorf("a partitions: %+v", a)
	}
	// Named topics only; unknown ones and partitions are left out.
	r.Version = 1
	r.Topics = []kmsg.DescribeLogDirsRequestTopic{{Topic: "b", Partitions: []int32{1, 9}}, {Topic: "zzz", Partitions: []int32{0}}}
	resp = b.call(r).(*kmsg.DescribeLogDirsResponse)
	if ts := resp.Dirs[0].Topics; len(ts) != 1 || ts[0].Topic != "b" || len(ts[0].Partitions) != 1 || ts[0].Partitions[0].Partition != 1 {
		t.Errorf("filtered: %+v", ts)
	}
}

func TestDescribeCluster(t *testing.T) {
	b := admOpen(t, t.TempDir(), TopicDefaults{})
	defer b.close()
	r := kmsg.NewPtrDescribeClusterRequest()
	r.Version, r.EndpointType, r.IncludeClusterAuthorizedOperations = 1, 1, true
	resp := b.call(r).(*kmsg.DescribeClusterResponse)
	if resp.ErrorCode != 0 || resp.ClusterID != "adm-cluster" || resp.ControllerID != 1 || resp.EndpointType != 1 ||
		len(resp.Brokers) != 1 || resp.Brokers[0].NodeID != 1 || resp.Brokers[0].Host != "broker.example" || resp.Brokers[0].Port != 19092 {
		t.Errorf("%+v", resp)
	}
	if resp.ClusterAuthorizedOperations&(1<<8) == 0 {
		t.Errorf("authorized operations lack DESCRIBE: %b", resp.ClusterAuthorizedOperations)
	}
	r.EndpointType = 2
	if resp := b.call(r).(*kmsg.DescribeClusterResponse); resp.ErrorCode != kerr.MismatchedEndpointType.Code || len(resp.Brokers) != 0 {
		t.Errorf("controller endpoint: %+v", resp)
	}
	r.EndpointType = 7
	if resp := b.call(r).(*kmsg.DescribeClusterResponse); resp.ErrorCode != kerr.UnsupportedEndpointType.Code || admStr(resp.ErrorMessage) != "Unsupported endpoint type 7" {
		t.Errorf("endpoint 7: %+v", resp)
	}
	r.Version, r.IncludeClusterAuthorizedOperations = 0, false
	if resp := b.call(r).(*kmsg.DescribeClusterResponse); resp.ErrorCode != 0 || len(resp.Brokers) != 1 || resp.ClusterAuthorizedOperations != -2147483648 {
		t.Errorf("v0: %+v", resp)
	}
}

// FuzzAdminRequests decodes arbitrary bytes as every admin request at every
// version it accepts and runs the handler: whatever decodes must be answered
// with a response that encodes, never a panic.
func FuzzAdminRequests(f *testing.F) {
	keys := []kmsg.Key{kmsg.CreateTopics, kmsg.DeleteTopics, kmsg.DeleteRecords, kmsg.DescribeConfigs, kmsg.AlterConfigs,
		kmsg.DescribeLogDirs, kmsg.CreatePartitions, kmsg.IncrementalAlterConfigs, kmsg.DescribeCluster}
	seed := func(r kmsg.Request) {
		for i, k := range keys {
			if int16(k) == r.Key() {
				f.Add(byte(i), byte(r.GetVersion()), r.AppendTo(nil))
			}
		}
	}
	seed(admCreateReq(7, false, admTopic("f1", 2, 1, "retention.ms", "100"), admTopic("", -1, -1)))
	seed(admCreateReq(2, true, admTopic("f2", 1, 1)))
	del := kmsg.NewPtrDeleteTopicsRequest()
	del.Version, del.Topics = 6, []kmsg.DeleteTopicsRequestTopic{{Topic: kmsg.StringPtr("f1")}, {TopicID: [16]byte{1}}}
	seed(del)
	dr := kmsg.NewPtrDeleteRecordsRequest()
	dr.Version, dr.Topics = 2, []kmsg.DeleteRecordsRequestTopic{{Topic: "f1", Partitions: []kmsg.DeleteRecordsRequestTopicPartition{{Partition: 0, Offset: -1}}}}
	seed(dr)
	dc := kmsg.NewPtrDescribeConfigsRequest()
	dc.Version, dc.IncludeSynonyms = 4, true
	dc.Resources = []kmsg.DescribeConfigsRequestResource{{ResourceType: kmsg.ConfigResourceTypeTopic, ResourceName: "f1"}, {ResourceType: kmsg.ConfigResourceTypeBroker, ResourceName: "1"}}
	seed(dc)
	ia := kmsg.NewPtrIncrementalAlterConfigsRequest()
	ia.Version = 1
	ia.Resources = []kmsg.IncrementalAlterConfigsRequestResource{{ResourceType: kmsg.ConfigResourceTypeTopic, ResourceName: "f1",
		Configs: []kmsg.IncrementalAlterConfigsRequestResourceConfig{{Name: "cleanup.policy", Op: kmsg.IncrementalAlterConfigOpAppend, Value: kmsg.StringPtr("delete")}}}}
	seed(ia)
	cp := kmsg.NewPtrCreatePartitionsRequest()
	cp.Version, cp.Topics = 3, []kmsg.CreatePartitionsRequestTopic{{Topic: "f1", Count: 3}}
	seed(cp)
	ld := kmsg.NewPtrDescribeLogDirsRequest()
	ld.Version = 4
	seed(ld)

	b := admOpen(f, f.TempDir(), TopicDefaults{})
	f.Cleanup(func() { b.store.Close() })
	f.Fuzz(func(t *testing.T, k, v byte, body []byte) {
		key := keys[int(k)%len(keys)]
		a := apis[int16(key)]
		version := a.min + int16(v)%(a.max-a.min+1)
		req := kmsg.RequestForKey(int16(key))
		req.SetVersion(version)
		if err := req.ReadFrom(body); err != nil {
			return
		}
		done := make(chan struct{})
		defer close(done)
		go func() {
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				buf := make([]byte, 1<<20)
				panic(fmt.Sprintf("%s v%d hangs:\n%s", key.Name(), version, buf[:runtime.Stack(buf, true)]))
			}
		}()
		resp, err := a.fn(context.Background(), b.Broker, &protocol.Request{
			Header: protocol.Header{Key: int16(key), Version: version}, Body: req, Conn: &protocol.ConnInfo{Listener: "PLAINTEXT"},
		})
		if err != nil {
			t.Fatalf("%s v%d: %v", key.Name(), version, err)
		}
		out := kmsg.ResponseForKey(int16(key))
		out.SetVersion(version)
		if err := out.ReadFrom(resp.AppendTo(nil)); err != nil {
			t.Fatalf("%s v%d: response does not decode: %v", key.Name(), version, err)
		}
	})
}
