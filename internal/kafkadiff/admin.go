// Package kafkadiff holds the admin requests that the differential tests
// send both to Apache Kafka and to gregor, comparing the error codes: the
// broker package's TestAdminMatchesKafka (against a Kafka named by
// GREGOR_REFERENCE_KAFKA) and compat_test's TestAdminMatchesKafka (against
// the reference Kafka the client matrix starts, in every `make test`).
// Test code only.
package kafkadiff

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// IntendedDifferences are the cases where gregor answers differently
// from Kafka on purpose.
var IntendedDifferences = map[string]string{}

// AdminCases sends every case to node 1 of the broker behind cl and returns
// one line per answer, "case[/entity] code", in a fixed order. Topic names
// starting with "d-" get prefix, so a broker that already holds topics of
// an earlier run gets fresh ones. The cases alter broker-level configs of
// node 1 and the cluster default and remove them again.
func AdminCases(t testing.TB, cl *kgo.Client, prefix string) []string {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Everything goes to node 1 itself: kgo would route BROKER resources
	// by their name, and "77" names no broker.
	if _, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl); err != nil {
		t.Fatal(err)
	}
	br := cl.Broker(1)
	var out []string
	line := func(label string, code int16) { out = append(out, fmt.Sprintf("%s %d", label, code)) }
	name := func(n string) string {
		if strings.HasPrefix(n, "d-") {
			return prefix + n
		}
		return n
	}
	topic := func(n string, parts int32, rf int16, kv ...string) kmsg.CreateTopicsRequestTopic {
		tp := kmsg.NewCreateTopicsRequestTopic()
		tp.Topic, tp.NumPartitions, tp.ReplicationFactor = name(n), parts, rf
		for i := 0; i+1 < len(kv); i += 2 {
			c := kmsg.NewCreateTopicsRequestTopicConfig()
			c.Name, c.Value = kv[i], kmsg.StringPtr(kv[i+1])
			if kv[i+1] == "<nil>" {
				c.Value = nil
			}
			tp.Configs = append(tp.Configs, c)
		}
		return tp
	}
	create := func(label string, validate bool, timeout int32, topics ...kmsg.CreateTopicsRequestTopic) {
		r := kmsg.NewPtrCreateTopicsRequest()
		r.ValidateOnly, r.Topics, r.TimeoutMillis = validate, topics, timeout
		resp, err := send[*kmsg.CreateTopicsResponse](ctx, br, r)
		if err != nil {
			t.Fatalf("%s: %v", label, err)
		}
		for i, tp := range resp.Topics {
			line(fmt.Sprintf("create %s/%d", label, i), tp.ErrorCode)
		}
	}
	create("ok", false, 5000, topic("d-ok", 2, 1, "retention.ms", "60000"))
	create("exists", false, 5000, topic("d-ok", 2, 1))
	create("validate", true, 5000, topic("d-val", 2, 1))
	create("bad name", false, 5000, topic("a b", 1, 1))
	create("dotdot", false, 5000, topic("..", 1, 1))
	create("empty", false, 5000, topic("", 1, 1))
	create("long", false, 5000, topic(strings.Repeat("x", 250), 1, 1))
	create("null config", false, 5000, topic("d-null", 1, 1, "retention.ms", "<nil>"))
	create("unknown config", false, 5000, topic("d-unk", 1, 1, "no.such", "1"))
	create("bad value", false, 5000, topic("d-bad", 1, 1, "retention.ms", "x"))
	create("retention -2", false, 5000, topic("d-negret", 1, 1, "retention.ms", "-2"))
	create("cleanup list", false, 5000, topic("d-cp", 1, 1, "cleanup.policy", "delete,"))
	create("partitions 0", false, 5000, topic("d-p0", 0, 1))
	create("rf 0", false, 5000, topic("d-rf0", 1, 0))
	create("rf 3", false, 5000, topic("d-rf3", 1, 3))
	create("rf 0 partitions 0", false, 5000, topic("d-rf0p0", 0, 0))
	create("duplicate", false, 5000, topic("d-dup", 1, 1), topic("d-dup", 1, 1))
	create("timeout 0", false, 0, topic("d-t0", 1, 1))
	create("timeout -1 validate", true, -1, topic("d-t1", 1, 1))
	create("metadata topic", false, 5000, topic("__cluster_metadata", 1, 1))
	a := topic("d-assign", -1, -1)
	a.ReplicaAssignment = []kmsg.CreateTopicsRequestTopicReplicaAssignment{{Partition: 0, Replicas: []int32{1}}}
	create("assignment", false, 5000, a)
	a = topic("d-assign2", 1, -1)
	a.ReplicaAssignment = []kmsg.CreateTopicsRequestTopicReplicaAssignment{{Partition: 0, Replicas: []int32{1}}}
	create("assignment with count", false, 5000, a)
	a = topic("d-assign3", -1, -1)
	a.ReplicaAssignment = []kmsg.CreateTopicsRequestTopicReplicaAssignment{{Partition: 0, Replicas: []int32{77}}}
	create("assignment unknown broker", false, 5000, a)

	cp := func(label string, timeout int32, n string, count int32, assign ...[]int32) {
		r := kmsg.NewPtrCreatePartitionsRequest()
		r.TimeoutMillis = timeout
		rt := kmsg.CreatePartitionsRequestTopic{Topic: name(n), Count: count}
		for _, as := range assign {
			rt.Assignment = append(rt.Assignment, kmsg.CreatePartitionsRequestTopicAssignment{Replicas: as})
		}
		r.Topics = []kmsg.CreatePartitionsRequestTopic{rt}
		resp, err := send[*kmsg.CreatePartitionsResponse](ctx, br, r)
		if err != nil {
			t.Fatalf("%s: %v", label, err)
		}
		line("partitions "+label, resp.Topics[0].ErrorCode)
	}
	cp("grow", 5000, "d-ok", 3)
	cp("same", 5000, "d-ok", 3)
	cp("shrink", 5000, "d-ok", 2)
	cp("unknown", 5000, "d-nope", 2)
	cp("timeout 0", 0, "d-ok", 5)
	cp("short assignment", 5000, "d-ok", 5, []int32{1})
	cp("duplicate replica", 5000, "d-ok", 4, []int32{1, 1})

	describe := func(label string, typ kmsg.ConfigResourceType, n string) {
		r := kmsg.NewPtrDescribeConfigsRequest()
		r.Resources = []kmsg.DescribeConfigsRequestResource{{ResourceType: typ, ResourceName: name(n)}}
		resp, err := send[*kmsg.DescribeConfigsResponse](ctx, br, r)
		if err != nil {
			t.Fatalf("%s: %v", label, err)
		}
		line("describe "+label, resp.Resources[0].ErrorCode)
	}
	describe("topic", kmsg.ConfigResourceTypeTopic, "d-ok")
	describe("unknown topic", kmsg.ConfigResourceTypeTopic, "d-nope")
	describe("bad topic", kmsg.ConfigResourceTypeTopic, "a b")
	describe("other broker", kmsg.ConfigResourceTypeBroker, "77")
	describe("broker nan", kmsg.ConfigResourceTypeBroker, "one")
	describe("broker default", kmsg.ConfigResourceTypeBroker, "")
	describe("broker", kmsg.ConfigResourceTypeBroker, "1")
	describe("broker logger", kmsg.ConfigResourceTypeBrokerLogger, "1")
	describe("type 1", kmsg.ConfigResourceType(1), "x")

	T, B := kmsg.ConfigResourceTypeTopic, kmsg.ConfigResourceTypeBroker
	op := func(n string, o kmsg.IncrementalAlterConfigOp, v string) kmsg.IncrementalAlterConfigsRequestResourceConfig {
		c := kmsg.IncrementalAlterConfigsRequestResourceConfig{Name: n, Op: o, Value: kmsg.StringPtr(v)}
		if v == "<nil>" {
			c.Value = nil
		}
		return c
	}
	iac := func(label string, typ kmsg.ConfigResourceType, n string, ops ...kmsg.IncrementalAlterConfigsRequestResourceConfig) {
		r := kmsg.NewPtrIncrementalAlterConfigsRequest()
		r.Resources = []kmsg.IncrementalAlterConfigsRequestResource{{ResourceType: typ, ResourceName: name(n), Configs: ops}}
		resp, err := send[*kmsg.IncrementalAlterConfigsResponse](ctx, br, r)
		if err != nil {
			t.Fatalf("%s: %v", label, err)
		}
		line("iac "+label, resp.Resources[0].ErrorCode)
	}
	iac("set", T, "d-ok", op("retention.bytes", 0, "1000"))
	iac("unknown topic", T, "d-nope", op("retention.bytes", 0, "1000"))
	iac("unknown config", T, "d-ok", op("no.such", 0, "1"))
	iac("bad value", T, "d-ok", op("retention.ms", 0, "x"))
	iac("append to long", T, "d-ok", op("retention.ms", 2, "1"))
	iac("duplicate keys", T, "d-ok", op("retention.ms", 0, "1"), op("retention.ms", 1, "<nil>"))
	iac("set null", T, "d-ok", op("retention.ms", 0, "<nil>"))
	iac("unknown op", T, "d-ok", op("retention.ms", 9, "1"))
	iac("compact", T, "d-ok", op("cleanup.policy", 0, "compact"))
	iac("append cleanup", T, "d-ok", op("cleanup.policy", 2, "delete"))
	iac("delete unset", T, "d-ok", op("segment.ms", 1, "<nil>"))
	iac("bad topic", T, "a b", op("retention.ms", 0, "1"))
	iac("type 1", kmsg.ConfigResourceType(1), "x")
	iac("broker static", B, "1", op("num.partitions", 0, "3"))
	iac("broker dynamic", B, "1", op("log.retention.ms", 0, "3600000"))
	iac("broker bad value", B, "1", op("log.retention.ms", 0, "x"))
	iac("broker append", B, "1", op("message.max.bytes", 2, "1"))
	iac("broker other", B, "77", op("log.retention.ms", 0, "1"))
	iac("broker default", B, "", op("log.retention.bytes", 0, "1000000"))
	iac("broker unknown", B, "1", op("no.such.broker.config", 0, "1"))
	iac("broker delete", B, "1", op("log.retention.ms", 1, "<nil>"))
	iac("broker default delete", B, "", op("log.retention.bytes", 1, "<nil>"))

	ac := func(label string, typ kmsg.ConfigResourceType, n string, kv ...string) {
		r := kmsg.NewPtrAlterConfigsRequest()
		res := kmsg.AlterConfigsRequestResource{ResourceType: typ, ResourceName: name(n)}
		for i := 0; i+1 < len(kv); i += 2 {
			c := kmsg.AlterConfigsRequestResourceConfig{Name: kv[i], Value: kmsg.StringPtr(kv[i+1])}
			if kv[i+1] == "<nil>" {
				c.Value = nil
			}
			res.Configs = append(res.Configs, c)
		}
		r.Resources = []kmsg.AlterConfigsRequestResource{res}
		resp, err := send[*kmsg.AlterConfigsResponse](ctx, br, r)
		if err != nil {
			t.Fatalf("%s: %v", label, err)
		}
		line("alter "+label, resp.Resources[0].ErrorCode)
	}
	ac("set", T, "d-ok", "retention.ms", "5000")
	ac("null", T, "d-ok", "retention.ms", "<nil>")
	ac("duplicate keys", T, "d-ok", "retention.ms", "1", "retention.ms", "2")
	ac("unknown config", T, "d-ok", "no.such", "1")
	ac("unknown topic", T, "d-nope", "retention.ms", "1")
	ac("broker static", B, "1", "num.partitions", "3")
	ac("broker empty", B, "1")

	dr := func(label, n string, part int32, off int64) {
		r := kmsg.NewPtrDeleteRecordsRequest()
		r.TimeoutMillis = 5000
		r.Topics = []kmsg.DeleteRecordsRequestTopic{{Topic: name(n), Partitions: []kmsg.DeleteRecordsRequestTopicPartition{{Partition: part, Offset: off}}}}
		resp, err := send[*kmsg.DeleteRecordsResponse](ctx, br, r)
		if err != nil {
			t.Fatalf("%s: %v", label, err)
		}
		p := resp.Topics[0].Partitions[0]
		line(fmt.Sprintf("records %s low=%d", label, p.LowWatermark), p.ErrorCode)
	}
	dr("high watermark", "d-ok", 0, -1)
	dr("zero", "d-ok", 0, 0)
	dr("past", "d-ok", 0, 5)
	dr("negative", "d-ok", 0, -3)
	dr("bad partition", "d-ok", 9, 0)
	dr("unknown topic", "d-nope", 0, 0)

	dt := func(label string, timeout int32, topics ...kmsg.DeleteTopicsRequestTopic) {
		r := kmsg.NewPtrDeleteTopicsRequest()
		r.TimeoutMillis, r.Topics = timeout, topics
		resp, err := send[*kmsg.DeleteTopicsResponse](ctx, br, r)
		if err != nil {
			t.Fatalf("%s: %v", label, err)
		}
		for i, tp := range resp.Topics {
			line(fmt.Sprintf("delete %s/%d", label, i), tp.ErrorCode)
		}
	}
	dt("timeout 0", 0, kmsg.DeleteTopicsRequestTopic{Topic: kmsg.StringPtr(name("d-ok"))})
	dt("unknown", 5000, kmsg.DeleteTopicsRequestTopic{Topic: kmsg.StringPtr(name("d-nope"))})
	dt("unknown id", 5000, kmsg.DeleteTopicsRequestTopic{TopicID: [16]byte{1, 2, 3}})
	dt("both", 5000, kmsg.DeleteTopicsRequestTopic{Topic: kmsg.StringPtr(name("d-ok")), TopicID: [16]byte{1}})
	dt("ok", 5000, kmsg.DeleteTopicsRequestTopic{Topic: kmsg.StringPtr(name("d-ok"))}, kmsg.DeleteTopicsRequestTopic{Topic: kmsg.StringPtr(name("d-assign"))})

	// Groups: "d-g" has a committed offset and no members, "d-nog" never
	// existed. These go through cl, which finds the coordinator.
	create("group topic", false, 5000, topic("d-grp", 2, 1))
	g, nog := name("d-g"), name("d-nog")
	commit := func(label, group, tp string, part int32) {
		r := kmsg.NewPtrOffsetCommitRequest()
		r.Group, r.Generation = group, -1
		r.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: name(tp), TopicID: TopicID(ctx, cl, name(tp)),
			Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: part, Offset: 1, LeaderEpoch: -1}}}}
		resp, err := r.RequestWith(ctx, cl)
		if err != nil {
			t.Fatalf("%s: %v", label, err)
		}
		line("commit "+label, resp.Topics[0].Partitions[0].ErrorCode)
	}
	commit("ok", g, "d-grp", 0)
	commit("unknown topic", g, "d-nope", 0)
	commit("bad partition", g, "d-grp", 9)
	fetch := func(label, group string) {
		r := kmsg.NewPtrOffsetFetchRequest()
		r.Group = group
		r.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: name("d-grp"), Partitions: []int32{0, 1}}}
		resp, err := r.RequestWith(ctx, cl)
		if err != nil {
			t.Fatalf("%s: %v", label, err)
		}
		for _, rt := range resp.Topics {
			for _, rp := range rt.Partitions {
				line(fmt.Sprintf("fetch %s/%d at=%d", label, rp.Partition, rp.Offset), rp.ErrorCode)
			}
		}
		line("fetch "+label, resp.ErrorCode)
	}
	fetch("committed", g)
	fetch("unknown group", nog)
	// DescribeGroups at v5, the highest both serve: v6 (KIP-1043, Kafka
	// 4.0) answers GROUP_ID_NOT_FOUND for a group that does not exist, v5
	// and before a Dead group without an error; gregor serves up to v5.
	seeds, _ := cl.OptValue(kgo.SeedBrokers).([]string)
	v5 := kversion.Stable()
	v5.SetMaxKeyVersion(int16(kmsg.DescribeGroups), 5)
	pcl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.MaxVersions(v5))
	if err != nil {
		t.Fatal(err)
	}
	defer pcl.Close()
	dg := kmsg.NewPtrDescribeGroupsRequest()
	dg.Groups = []string{g, nog}
	if resp, err := dg.RequestWith(ctx, pcl); err != nil {
		t.Fatalf("describe groups: %v", err)
	} else {
		// Kafka 4 answers in its coordinator's order, not the request's
		// (clients match answers by group id): compare in one order.
		sort.Slice(resp.Groups, func(i, j int) bool {
			return (resp.Groups[i].Group == nog) != (resp.Groups[j].Group == nog) && resp.Groups[j].Group == nog
		})
		for _, d := range resp.Groups {
			label := "committed"
			if d.Group == nog {
				label = "unknown"
			}
			line(fmt.Sprintf("describe group (v5) %s state=%s members=%d", label, d.State, len(d.Members)), d.ErrorCode)
		}
	}
	od := func(label, group string) {
		r := kmsg.NewPtrOffsetDeleteRequest()
		r.Group = group
		r.Topics = []kmsg.OffsetDeleteRequestTopic{{Topic: name("d-grp"), Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}}}
		resp, err := r.RequestWith(ctx, cl)
		if err != nil {
			t.Fatalf("%s: %v", label, err)
		}
		code := resp.ErrorCode
		if code == 0 && len(resp.Topics) == 1 && len(resp.Topics[0].Partitions) == 1 {
			code = resp.Topics[0].Partitions[0].ErrorCode
		}
		line("offset delete "+label, code)
	}
	od("committed", g)
	od("unknown group", nog)
	del := func(label, group string) {
		r := kmsg.NewPtrDeleteGroupsRequest()
		r.Groups = []string{group}
		resp, err := r.RequestWith(ctx, cl)
		if err != nil {
			t.Fatalf("%s: %v", label, err)
		}
		line("delete group "+label, resp.Groups[0].ErrorCode)
	}
	del("unknown", nog)
	commit("again", g, "d-grp", 1)
	del("empty with offsets", g)
	del("deleted", g)

	dcl := kmsg.NewPtrDescribeClusterRequest()
	for _, et := range []int8{1, 2, 7} {
		dcl.EndpointType = et
		resp, err := send[*kmsg.DescribeClusterResponse](ctx, br, dcl)
		if err != nil {
			t.Fatal(err)
		}
		line(fmt.Sprintf("cluster endpoint %d", et), resp.ErrorCode)
	}
	return out
}

// send sends req to br and returns its typed response.
func send[R kmsg.Response](ctx context.Context, br *kgo.Broker, req kmsg.Request) (R, error) {
	var zero R
	resp, err := br.Request(ctx, req)
	if err != nil {
		return zero, err
	}
	return resp.(R), nil
}

// Compare checks gregor's answers got against Kafka's want line by line; a
// difference fails t unless IntendedDifferences names its case. It returns
// how many answers were identical.
func Compare(t testing.TB, want, got []string) int {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("gregor answered %d entries, Kafka %d:\n%v\n%v", len(got), len(want), got, want)
	}
	same := 0
	for i := range want {
		label := want[i][:strings.LastIndexByte(want[i], ' ')]
		if got[i] == want[i] {
			same++
			continue
		}
		if why, ok := IntendedDifferences[label]; ok {
			t.Logf("%q: Kafka %q, gregor %q (intended: %s)", label, want[i], got[i], why)
			continue
		}
		t.Errorf("Kafka %q, gregor %q", want[i], got[i])
	}
	return same
}

// TopicID returns topic's id as the broker behind cl has it (zero when it
// does not know the topic). OffsetCommit and OffsetFetch v10 (Kafka 4.4)
// name topics by id only, so a request built by name needs it.
func TopicID(ctx context.Context, cl *kgo.Client, topic string) [16]byte {
	// A topic created a moment ago may still answer LEADER_NOT_AVAILABLE
	// (with its id) or not be known yet: a few tries.
	for try := 0; ; try++ {
		req := kmsg.NewPtrMetadataRequest()
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(topic)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err == nil && len(resp.Topics) == 1 && resp.Topics[0].TopicID != ([16]byte{}) {
			return resp.Topics[0].TopicID
		}
		if try == 10 || ctx.Err() != nil {
			return [16]byte{}
		}
		time.Sleep(100 * time.Millisecond)
	}
}
