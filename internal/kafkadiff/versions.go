package kafkadiff

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Answer is one whole response of VersionCases, normalized (Mask) and
// encoded as JSON.
type Answer struct {
	Case string
	JSON string
}

// IntendedVersionDifferences are the VersionCases answers where gregor
// differs from Kafka on purpose.
var IntendedVersionDifferences = map[string]string{
	"ApiVersions v5 no cluster": "metadata.version: gregor supports only level 33 (4.4-IV2), the level of the API versions it serves; " +
		"Kafka 4.4 supports 7-33 (it has a metadata log to run at older levels)",
	"ApiVersions v5 this cluster and node": "metadata.version: as in the case before",
}

// pinned sends a request at exactly its version: kgo caps the version at
// MaxVersion.
type pinned struct{ kmsg.Request }

func (p pinned) MaxVersion() int16 { return p.GetVersion() }

// VersionCases sends requests at the newest versions Kafka 4.4 serves
// (ApiVersions v5, Metadata v13, DescribeTopicPartitions v0, Produce v13,
// Fetch v17 and v18, ListOffsets v11, OffsetCommit v10, OffsetFetch v10,
// DescribeGroups v6, DeleteGroups v3, DescribeLogDirs v5,
// ListConfigResources v0 and v1), each with the fields that version added,
// to the broker cl was seeded with, and returns every whole answer,
// normalized by Mask, in a fixed order. Topic and group names get prefix.
func VersionCases(t testing.TB, cl *kgo.Client, prefix string) []Answer {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	br := cl.SeedBrokers()[0]
	var out []Answer
	send := func(label string, req kmsg.Request, v int16) kmsg.Response {
		t.Helper()
		req.SetVersion(v)
		resp, err := br.Request(ctx, pinned{req})
		if err != nil {
			t.Fatalf("%s: %v", label, err)
		}
		if resp.GetVersion() != v {
			t.Fatalf("%s: answered at v%d", label, resp.GetVersion())
		}
		return resp
	}
	record := func(label string, resp kmsg.Response) {
		out = append(out, Answer{Case: label, JSON: Mask(resp)})
	}
	meta := kmsg.NewPtrMetadataRequest()
	mresp := send("metadata", meta, 12).(*kmsg.MetadataResponse)
	if len(mresp.Brokers) == 0 || mresp.ClusterID == nil {
		t.Fatalf("metadata: no broker or cluster id")
	}
	node, cluster := mresp.Brokers[0].NodeID, *mresp.ClusterID

	// ApiVersions v5 (KIP-1102): the cluster and node a client expects.
	av := func(label string, cid *string, nid int32) {
		r := kmsg.NewPtrApiVersionsRequest()
		r.ClientSoftwareName, r.ClientSoftwareVersion = "kafkadiff", "1"
		r.ClusterID, r.NodeID = cid, nid
		resp := send(label, r, 5).(*kmsg.ApiVersionsResponse)
		resp.ApiKeys = nil // compared range by range in the results table
		keep := func(n string) bool { return n == "metadata.version" }
		var sf []kmsg.ApiVersionsResponseSupportedFeature
		for _, f := range resp.SupportedFeatures {
			if keep(f.Name) {
				sf = append(sf, f)
			}
		}
		var ff []kmsg.ApiVersionsResponseFinalizedFeature
		for _, f := range resp.FinalizedFeatures {
			if keep(f.Name) {
				ff = append(ff, f)
			}
		}
		resp.SupportedFeatures, resp.FinalizedFeatures = sf, ff
		record(label, resp)
	}
	av("ApiVersions v5 no cluster", nil, -1)
	av("ApiVersions v5 this cluster and node", &cluster, node)
	other := "not-this-cluster"
	av("ApiVersions v5 another cluster", &other, node)
	av("ApiVersions v5 another node", &cluster, node+100)
	av("ApiVersions v5 cluster without node", &cluster, -1)

	// Topics: a (3 partitions), b (1).
	a, b := prefix+"v-a", prefix+"v-b"
	ct := kmsg.NewPtrCreateTopicsRequest()
	ct.TimeoutMillis = 5000
	for _, tp := range []struct {
		n string
		p int32
	}{{a, 3}, {b, 1}} {
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = tp.n, tp.p, 1
		ct.Topics = append(ct.Topics, rt)
	}
	if _, err := ct.RequestWith(ctx, cl); err != nil {
		t.Fatal(err)
	}
	aid, bid := TopicID(ctx, cl, a), TopicID(ctx, cl, b)
	if aid == ([16]byte{}) || bid == ([16]byte{}) {
		t.Fatalf("no topic ids for %s, %s", a, b)
	}
	// Kafka leads a new partition a moment after creating it.
	eventually := func(what string, ok func() bool) {
		t.Helper()
		for i := 0; !ok(); i++ {
			if i == 100 {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	for _, tp := range []struct {
		n string
		p int32
	}{{a, 0}, {a, 1}, {a, 2}, {b, 0}} {
		eventually("a leader of "+tp.n, func() bool {
			lo := kmsg.NewPtrListOffsetsRequest()
			lo.Topics = []kmsg.ListOffsetsRequestTopic{{Topic: tp.n, Partitions: []kmsg.ListOffsetsRequestTopicPartition{{Partition: tp.p, Timestamp: -1, CurrentLeaderEpoch: -1}}}}
			resp, err := br.Request(ctx, lo)
			return err == nil && resp.(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0].ErrorCode == 0
		})
	}
	nope := [16]byte{0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}

	// Metadata v13 (KIP-1102 top-level error code).
	md := kmsg.NewPtrMetadataRequest()
	for _, n := range []string{a, prefix + "v-nope"} {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(n)
		md.Topics = append(md.Topics, rt)
	}
	record("Metadata v13 by name", send("metadata v13", md, 13))
	md = kmsg.NewPtrMetadataRequest()
	for _, id := range [][16]byte{bid, nope} {
		rt := kmsg.NewMetadataRequestTopic()
		rt.TopicID = id
		md.Topics = append(md.Topics, rt)
	}
	record("Metadata v13 by id", send("metadata v13 ids", md, 13))

	// DescribeTopicPartitions v0 (KIP-966).
	dtp := func(label string, limit int32, cursor *kmsg.DescribeTopicPartitionsRequestCursor, names ...string) {
		r := kmsg.NewPtrDescribeTopicPartitionsRequest()
		r.ResponsePartitionLimit, r.Cursor = limit, cursor
		for _, n := range names {
			r.Topics = append(r.Topics, kmsg.DescribeTopicPartitionsRequestTopic{Topic: n})
		}
		record(label, send(label, r, 0))
	}
	dtp("DescribeTopicPartitions v0", 2000, nil, b, a, prefix+"v-nope", "a b", a)
	dtp("DescribeTopicPartitions v0 limit 1", 1, nil, a, b)
	dtp("DescribeTopicPartitions v0 limit at a topic's end", 3, nil, b, a)
	dtp("DescribeTopicPartitions v0 cursor", 3, &kmsg.DescribeTopicPartitionsRequestCursor{Topic: a, Partition: 1}, a, b)
	dtp("DescribeTopicPartitions v0 cursor past the end", 5, &kmsg.DescribeTopicPartitionsRequestCursor{Topic: a, Partition: 7}, a, b)
	dtp("DescribeTopicPartitions v0 cursor not listed", 5, &kmsg.DescribeTopicPartitionsRequestCursor{Topic: a, Partition: 0}, b)

	// Produce v13 (KIP-516: topics by id).
	const ts = 1700000000000
	pr := kmsg.NewPtrProduceRequest()
	pr.Acks, pr.TimeoutMillis = -1, 5000
	for _, x := range []struct {
		id [16]byte
		ps []int32
	}{{aid, []int32{0, 9}}, {nope, []int32{0}}} {
		rt := kmsg.NewProduceRequestTopic()
		rt.TopicID = x.id
		for _, p := range x.ps {
			rp := kmsg.NewProduceRequestTopicPartition()
			rp.Partition, rp.Records = p, Batch(ts, "k0", "v0", "k1", "v1")
			rt.Partitions = append(rt.Partitions, rp)
		}
		pr.Topics = append(pr.Topics, rt)
	}
	prr := send("produce v13", pr, 13).(*kmsg.ProduceResponse)
	for _, rt := range prr.Topics { // Kafka answers a topic's partitions in its maps' order
		sort.Slice(rt.Partitions, func(i, j int) bool { return rt.Partitions[i].Partition < rt.Partitions[j].Partition })
	}
	record("Produce v13", prr)

	// Fetch v17 and v18 (topic ids since v13; the new fields are the
	// followers').
	for _, v := range []int16{17, 18} {
		fr := kmsg.NewPtrFetchRequest()
		fr.MaxWaitMillis, fr.MinBytes, fr.MaxBytes, fr.SessionEpoch = 100, 1, 1<<20, -1
		for _, x := range []struct {
			id  [16]byte
			p   int32
			off int64
		}{{aid, 0, 1}, {aid, 1, 0}, {aid, 2, 100}, {nope, 0, 0}} {
			rt := kmsg.NewFetchRequestTopic()
			rt.TopicID = x.id
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = x.p, x.off, 1<<20
			rt.Partitions = append(rt.Partitions, rp)
			fr.Topics = append(fr.Topics, rt)
		}
		record(fmt.Sprintf("Fetch v%d", v), send("fetch", fr, v))
	}

	// ListOffsets v11 (KIP-1023 timestamp -6), every special timestamp.
	for _, x := range []int64{-1, -2, -3, -4, -5, -6, -7, ts, ts + 1} {
		lo := kmsg.NewPtrListOffsetsRequest()
		lo.ReplicaID, lo.TimeoutMillis = -1, 5000
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = a
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition, rp.Timestamp, rp.CurrentLeaderEpoch = 0, x, -1
		rt.Partitions = append(rt.Partitions, rp)
		lo.Topics = append(lo.Topics, rt)
		record(fmt.Sprintf("ListOffsets v11 timestamp %d", x), send("list offsets", lo, 11))
	}

	// Groups: g gets offsets (OffsetCommit v10, by topic id), g2 a config.
	g, g2, nog := prefix+"v-g", prefix+"v-g2", prefix+"v-nog"
	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.CoordinatorKeys = []string{g}
	for i := 0; ; i++ { // Kafka creates __consumer_offsets on the first ask
		resp, err := fc.RequestWith(ctx, cl)
		if err == nil && len(resp.Coordinators) == 1 && resp.Coordinators[0].ErrorCode == 0 {
			break
		}
		if i == 50 {
			t.Fatalf("no coordinator: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	eventually("the coordinator of "+g+" loaded", func() bool {
		of := kmsg.NewPtrOffsetFetchRequest()
		of.Groups = []kmsg.OffsetFetchRequestGroup{{Group: g}}
		resp, err := br.Request(ctx, of)
		return err == nil && resp.(*kmsg.OffsetFetchResponse).Groups[0].ErrorCode == 0
	})
	oc := kmsg.NewPtrOffsetCommitRequest()
	oc.Group, oc.Generation = g, -1
	for _, x := range []struct {
		id [16]byte
		ps []int32
	}{{aid, []int32{0, 9}}, {nope, []int32{0}}} {
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.TopicID = x.id
		for _, p := range x.ps {
			rp := kmsg.NewOffsetCommitRequestTopicPartition()
			rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata = p, 1, -1, kmsg.StringPtr("m")
			rt.Partitions = append(rt.Partitions, rp)
		}
		oc.Topics = append(oc.Topics, rt)
	}
	ocr := send("offset commit", oc, 10).(*kmsg.OffsetCommitResponse)
	for _, rt := range ocr.Topics {
		sort.Slice(rt.Partitions, func(i, j int) bool { return rt.Partitions[i].Partition < rt.Partitions[j].Partition })
	}
	record("OffsetCommit v10", ocr)
	of := kmsg.NewPtrOffsetFetchRequest()
	og := kmsg.NewOffsetFetchRequestGroup()
	og.Group = g
	og.Topics = []kmsg.OffsetFetchRequestGroupTopic{{TopicID: aid, Partitions: []int32{0, 1}}, {TopicID: nope, Partitions: []int32{0}}}
	of.Groups = append(of.Groups, og)
	og = kmsg.NewOffsetFetchRequestGroup()
	og.Group = nog
	og.Topics = []kmsg.OffsetFetchRequestGroupTopic{{TopicID: aid, Partitions: []int32{0}}}
	of.Groups = append(of.Groups, og)
	record("OffsetFetch v10", send("offset fetch", of, 10))
	of = kmsg.NewPtrOffsetFetchRequest()
	og = kmsg.NewOffsetFetchRequestGroup()
	og.Group = g // null topics: all of them
	of.Groups = append(of.Groups, og)
	record("OffsetFetch v10 all topics", send("offset fetch all", of, 10))

	dg := kmsg.NewPtrDescribeGroupsRequest()
	dg.Groups = []string{g, nog}
	dgr := send("describe groups", dg, 6).(*kmsg.DescribeGroupsResponse)
	// Kafka answers in its coordinator's order: compare in one order.
	sort.Slice(dgr.Groups, func(i, j int) bool { return dgr.Groups[i].Group < dgr.Groups[j].Group })
	record("DescribeGroups v6", dgr)

	ia := kmsg.NewPtrIncrementalAlterConfigsRequest()
	ia.Resources = []kmsg.IncrementalAlterConfigsRequestResource{{ResourceType: kmsg.ConfigResourceTypeGroupConfig, ResourceName: g2,
		Configs: []kmsg.IncrementalAlterConfigsRequestResourceConfig{{Name: "consumer.session.timeout.ms", Value: kmsg.StringPtr("50000")}}}}
	if resp, err := ia.RequestWith(ctx, cl); err != nil || resp.Resources[0].ErrorCode != 0 {
		t.Fatalf("group config: %v %+v", err, resp)
	}
	eventually("the configs of "+g2+" listed", func() bool { // Kafka's metadata log is applied a moment later
		r := kmsg.NewPtrListConfigResourcesRequest()
		r.Version, r.ResourceTypes = 1, []int8{int8(kmsg.ConfigResourceTypeGroupConfig)}
		resp, err := br.Request(ctx, pinned{r})
		if err != nil {
			return false
		}
		for _, c := range resp.(*kmsg.ListConfigResourcesResponse).ConfigResources {
			if c.Name == g2 {
				return true
			}
		}
		return false
	})
	lcr := func(label string, v int16, types ...int8) {
		r := kmsg.NewPtrListConfigResourcesRequest()
		r.ResourceTypes = types
		resp := send(label, r, v).(*kmsg.ListConfigResourcesResponse)
		// Only this run's topics and groups: the brokers hold others.
		var keep []kmsg.ListConfigResourcesResponseConfigResource
		for _, c := range resp.ConfigResources {
			if strings.HasPrefix(c.Name, prefix) || c.Type == int8(kmsg.ConfigResourceTypeBroker) || c.Type == int8(kmsg.ConfigResourceTypeBrokerLogger) {
				keep = append(keep, c)
			}
		}
		resp.ConfigResources = keep
		record(label, resp)
	}
	lcr("ListConfigResources v0", 0)
	lcr("ListConfigResources v1 every type", 1)
	lcr("ListConfigResources v1 topics and groups", 1, 2, 32)
	lcr("ListConfigResources v1 brokers", 1, 4, 8)
	lcr("ListConfigResources v1 unknown type", 1, 99)

	dl := kmsg.NewPtrDeleteGroupsRequest()
	dl.Groups = []string{nog, g}
	dlr := send("delete groups", dl, 3).(*kmsg.DeleteGroupsResponse)
	sort.Slice(dlr.Groups, func(i, j int) bool { return dlr.Groups[i].Group < dlr.Groups[j].Group })
	record("DeleteGroups v3", dlr)

	ld := kmsg.NewPtrDescribeLogDirsRequest()
	ld.Topics = []kmsg.DescribeLogDirsRequestTopic{{Topic: a, Partitions: []int32{0, 1, 7}}, {Topic: prefix + "v-nope", Partitions: []int32{0}}}
	ldr := send("describe log dirs", ld, 5).(*kmsg.DescribeLogDirsResponse)
	for _, d := range ldr.Dirs { // Kafka lists partitions in its maps' order
		for _, tp := range d.Topics {
			sort.Slice(tp.Partitions, func(i, j int) bool { return tp.Partitions[i].Partition < tp.Partitions[j].Partition })
		}
	}
	record("DescribeLogDirs v5", ldr)
	return out
}

// CompareAnswers checks gregor's answers got against Kafka's want; a
// difference fails t unless IntendedVersionDifferences names the case. It
// returns how many answers were identical.
func CompareAnswers(t testing.TB, want, got []Answer) int {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("gregor answered %d cases, Kafka %d", len(got), len(want))
	}
	same := 0
	for i := range want {
		switch {
		case got[i].JSON == want[i].JSON:
			same++
		case IntendedVersionDifferences[want[i].Case] != "":
			t.Logf("%s: differs as intended (%s):\nKafka  %s\ngregor %s", want[i].Case, IntendedVersionDifferences[want[i].Case], want[i].JSON, got[i].JSON)
		default:
			t.Errorf("%s:\nKafka  %s\ngregor %s", want[i].Case, want[i].JSON, got[i].JSON)
		}
	}
	return same
}

// Mask encodes resp as JSON with what legitimately differs between two
// brokers replaced by a placeholder: node ids, hosts and ports, cluster
// and topic ids (zero ids stay zero), session ids, leader epochs (Kafka's
// per partition, gregor's per broker group: docs/replication.md), data
// directories and their byte counts, member ids and hosts, the feature
// epoch and throttle times. Record batches keep their bytes but for the
// partition leader epoch the broker writes into them.
func Mask(resp kmsg.Response) string {
	b, err := json.Marshal(resp)
	if err != nil {
		return "unencodable: " + err.Error()
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return "undecodable: " + err.Error()
	}
	v = mask("", v)
	b, _ = json.Marshal(v)
	return string(b)
}

func mask(key string, v any) any {
	switch x := v.(type) {
	case map[string]any:
		delete(x, "UnknownTags")
		for k, e := range x {
			x[k] = mask(k, e)
		}
		return x
	case []any:
		if key == "TopicID" {
			for _, e := range x {
				if f, ok := e.(float64); !ok || f != 0 {
					return "<topic id>"
				}
			}
			return x
		}
		for i, e := range x {
			x[i] = mask(key, e)
		}
		return x
	case float64:
		switch key {
		case "NodeID", "Leader", "LeaderID", "ControllerID", "Replicas", "ISR", "OfflineReplicas",
			"EligibleLeaderReplicas", "LastKnownELR", "LeaderEpoch", "CurrentLeaderEpoch":
			if x >= 0 {
				return "<" + key + ">"
			}
		case "Port", "SessionID", "TotalBytes", "UsableBytes", "Size", "FinalizedFeaturesEpoch":
			return "<" + key + ">"
		case "ThrottleMillis":
			return 0
		}
		return x
	case string:
		switch key {
		case "Host", "ClusterID", "Dir", "MemberID", "ClientHost":
			if x != "" {
				return "<" + key + ">"
			}
		case "RecordBatches":
			raw, err := base64.StdEncoding.DecodeString(x)
			if err != nil {
				return x
			}
			for p := 0; p+17 <= len(raw); {
				n := int(binary.BigEndian.Uint32(raw[p+8:]))
				binary.BigEndian.PutUint32(raw[p+12:], 0) // partition leader epoch
				p += 12 + n
			}
			return base64.StdEncoding.EncodeToString(raw)
		}
		return x
	}
	return v
}

// Batch builds a magic-2 record batch of key/value pairs at timestamp ts,
// with no producer id, as a plain (non-idempotent) producer sends it.
func Batch(ts int64, kv ...string) []byte {
	var recs []byte
	for i := 0; i+1 < len(kv); i += 2 {
		var r []byte
		r = append(r, 0)                       // attributes
		r = binary.AppendVarint(r, 0)          // timestamp delta
		r = binary.AppendVarint(r, int64(i/2)) // offset delta
		r = binary.AppendVarint(r, int64(len(kv[i])))
		r = append(r, kv[i]...)
		r = binary.AppendVarint(r, int64(len(kv[i+1])))
		r = append(r, kv[i+1]...)
		r = binary.AppendVarint(r, 0) // headers
		recs = binary.AppendVarint(recs, int64(len(r)))
		recs = append(recs, r...)
	}
	n := len(kv) / 2
	var body []byte // attributes .. records, under the CRC
	body = binary.BigEndian.AppendUint16(body, 0)
	body = binary.BigEndian.AppendUint32(body, uint32(n-1))
	body = binary.BigEndian.AppendUint64(body, uint64(ts))
	body = binary.BigEndian.AppendUint64(body, uint64(ts))
	body = binary.BigEndian.AppendUint64(body, ^uint64(0)) // producer id -1
	body = binary.BigEndian.AppendUint16(body, 0xffff)     // producer epoch -1
	body = binary.BigEndian.AppendUint32(body, 0xffffffff) // base sequence -1
	body = binary.BigEndian.AppendUint32(body, uint32(n))
	body = append(body, recs...)
	var out []byte
	out = binary.BigEndian.AppendUint64(out, 0)                       // base offset
	out = binary.BigEndian.AppendUint32(out, uint32(4+1+4+len(body))) // length
	out = binary.BigEndian.AppendUint32(out, 0)                       // partition leader epoch
	out = append(out, 2)                                              // magic
	out = binary.BigEndian.AppendUint32(out, crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli)))
	return append(out, body...)
}
