package broker

// In-process clusters: several brokers sharing one in-process NameServer
// (nameserver.Local), each with its own store. The multi-process tests with
// real NameServers and kills are in cluster_test/.

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/nameserver"
	"github.com/gregor-broker/gregor/protocol"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// clusterStart starts n master groups registered with one shared registry.
func clusterStart(t *testing.T, n int) ([]*coreBroker, *nameserver.Local) {
	t.Helper()
	ns := nameserver.NewLocal()
	var out []*coreBroker
	for i := 0; i < n; i++ {
		out = append(out, coreStart(t, "", func(c *Config) {
			c.NodeID = int32(i + 1)
			c.Cluster = ClusterConfig{
				Name:                 "test",
				BrokerName:           fmt.Sprintf("broker-%c", 'a'+i),
				Client:               ns,
				RegisterInterval:     50 * time.Millisecond,
				RouteRefreshInterval: 50 * time.Millisecond,
			}
		}))
	}
	// Every broker reads the routes once all are registered.
	for _, cb := range out {
		cb.b.cl().refreshNow()
	}
	return out, ns
}

func clusterSeeds(bs []*coreBroker) []string {
	var out []string
	for _, cb := range bs {
		if cb.b != nil {
			out = append(out, cb.addr)
		}
	}
	return out
}

func clusterLeaders(t *testing.T, cb *coreBroker, topic string) ([]int32, []int16) {
	t.Helper()
	v := cb.b.cl().currentView()
	vt := v.byName[topic]
	if vt == nil {
		t.Fatalf("%s does not know %s", cb.b.cl().cfg.BrokerName, topic)
	}
	m := cb.b.viewTopicMetadata(v, vt)
	var lead []int32
	var codes []int16
	for _, p := range m.Partitions {
		lead = append(lead, p.Leader)
		codes = append(codes, p.ErrorCode)
	}
	return lead, codes
}

// A topic created through any broker is placed over all groups, balanced,
// with one id; every broker reports the same leaders; clients produce and
// consume across the groups; other groups answer NOT_LEADER_OR_FOLLOWER.
func TestClusterPlacementAndData(t *testing.T) {
	bs, _ := clusterStart(t, 3)
	ctx := coreCtx(t)
	adm := kadm.NewClient(bs[1].client())
	if res, err := adm.CreateTopic(ctx, 6, 1, nil, "spread"); err != nil || res.Err != nil {
		t.Fatalf("create: %v %v", err, res.Err)
	}
	for _, cb := range bs {
		cb.b.cl().refreshNow()
	}
	want, _ := clusterLeaders(t, bs[0], "spread")
	per := map[int32]int{}
	for _, l := range want {
		per[l]++
	}
	if len(want) != 6 || per[1] != 2 || per[2] != 2 || per[3] != 2 {
		t.Fatalf("leaders %v, want two partitions on each of nodes 1-3", want)
	}
	var id [16]byte
	for _, cb := range bs {
		got, codes := clusterLeaders(t, cb, "spread")
		if fmt.Sprint(got) != fmt.Sprint(want) || fmt.Sprint(codes) != "[0 0 0 0 0 0]" {
			t.Fatalf("%s: leaders %v codes %v, want %v", cb.b.cl().cfg.BrokerName, got, codes, want)
		}
		vt := cb.b.cl().currentView().byName["spread"]
		if id == ([16]byte{}) {
			id = vt.ID
		} else if vt.ID != id {
			t.Fatal("brokers disagree on the topic id")
		}
		local, ok := cb.b.topics.Get("spread")
		if !ok || len(local.Owned) != 2 || local.Partitions != 6 || local.ID != id {
			t.Fatalf("%s's local share: %+v", cb.b.cl().cfg.BrokerName, local)
		}
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(clusterSeeds(bs)...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.DefaultProduceTopic("spread"), kgo.MetadataMinAge(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for i := 0; i < 30; i++ {
		r := &kgo.Record{Partition: int32(i % 6), Key: []byte(fmt.Sprint(i)), Value: []byte(fmt.Sprintf("v%d", i))}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if r.Offset != int64(i/6) {
			t.Fatalf("record %d at offset %d", i, r.Offset)
		}
	}
	recs := bs[0].consume(30, kgo.SeedBrokers(clusterSeeds(bs)...), kgo.ConsumeTopics("spread"))
	byPart := map[int32][]string{}
	for _, r := range recs {
		byPart[r.Partition] = append(byPart[r.Partition], string(r.Value))
	}
	for p := int32(0); p < 6; p++ {
		if fmt.Sprint(byPart[p]) != fmt.Sprintf("[v%d v%d v%d v%d v%d]", p, p+6, p+12, p+18, p+24) {
			t.Fatalf("partition %d: %v", p, byPart[p])
		}
	}

	// A partition led elsewhere: NOT_LEADER_OR_FOLLOWER on every data API.
	for p, leader := range want {
		for _, cb := range bs {
			if cb.b.cfg.NodeID == leader {
				continue
			}
			rc := cb.raw()
			pr := producePart(rc.do(produceReq(9, -1, "spread", int32(p), coreBatch(time.Now().UnixMilli(), -1, -1, -1, coreRecs(1, "x")...))))
			lo := kmsg.NewPtrListOffsetsRequest()
			lo.Version = 7
			lt := kmsg.NewListOffsetsRequestTopic()
			lt.Topic = "spread"
			lp := kmsg.NewListOffsetsRequestTopicPartition()
			lp.Partition, lp.Timestamp = int32(p), -1
			lt.Partitions = append(lt.Partitions, lp)
			lo.Topics = append(lo.Topics, lt)
			lr := rc.do(lo).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]
			fr := rc.do(fetchReq(12, "spread", [16]byte{}, int32(p), 0)).(*kmsg.FetchResponse).Topics[0].Partitions[0]
			oe := kmsg.NewPtrOffsetForLeaderEpochRequest()
			oe.Version = 3
			ot := kmsg.NewOffsetForLeaderEpochRequestTopic()
			ot.Topic = "spread"
			op := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
			op.Partition, op.CurrentLeaderEpoch, op.LeaderEpoch = int32(p), -1, 0
			ot.Partitions = append(ot.Partitions, op)
			oe.Topics = append(oe.Topics, ot)
			or := rc.do(oe).(*kmsg.OffsetForLeaderEpochResponse).Topics[0].Partitions[0]
			nl := kerr.NotLeaderForPartition.Code
			if pr.ErrorCode != nl || lr.ErrorCode != nl || fr.ErrorCode != nl || or.ErrorCode != nl {
				t.Fatalf("partition %d on node %d: produce %d list %d fetch %d epoch %d, want %d", p, cb.b.cfg.NodeID, pr.ErrorCode, lr.ErrorCode, fr.ErrorCode, or.ErrorCode, nl)
			}
		}
	}
}

// Creating one name through every broker at once creates it once.
func TestClusterConcurrentCreate(t *testing.T) {
	bs, _ := clusterStart(t, 3)
	codes := make(chan int16, len(bs))
	for _, cb := range bs {
		go func() {
			req := kmsg.NewPtrCreateTopicsRequest()
			req.Version = 7
			req.TimeoutMillis = 10000
			rt := kmsg.NewCreateTopicsRequestTopic()
			rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "once", 3, -1
			req.Topics = append(req.Topics, rt)
			rc := cb.raw()
			codes <- rc.do(req).(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode
		}()
	}
	ok, exists := 0, 0
	for range bs {
		switch <-codes {
		case 0:
			ok++
		case kerr.TopicAlreadyExists.Code:
			exists++
		}
	}
	if ok != 1 || exists != 2 {
		t.Fatalf("%d created, %d TOPIC_ALREADY_EXISTS; want 1 and 2", ok, exists)
	}
}

// A group that leaves: its partitions are reported without a leader, the
// others still serve; back, it serves its partitions with their data.
func TestClusterGroupGoneAndBack(t *testing.T) {
	bs, _ := clusterStart(t, 3)
	ctx := coreCtx(t)
	adm := kadm.NewClient(bs[0].client())
	if res, err := adm.CreateTopic(ctx, 3, 1, nil, "t"); err != nil || res.Err != nil {
		t.Fatalf("create: %v %v", err, res.Err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(clusterSeeds(bs)...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.DefaultProduceTopic("t"), kgo.MetadataMinAge(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	for p := int32(0); p < 3; p++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Partition: p, Value: []byte(fmt.Sprint("before-", p))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	cl.Close()
	for _, cb := range bs {
		cb.b.cl().refreshNow()
	}
	lead, _ := clusterLeaders(t, bs[0], "t")
	bs[2].stop() // unregisters
	bs[0].b.cl().refreshNow()
	got, codes := clusterLeaders(t, bs[0], "t")
	for p := range lead {
		if lead[p] == 3 {
			if got[p] != -1 || codes[p] != kerr.LeaderNotAvailable.Code {
				t.Fatalf("partition %d of the gone group: leader %d code %d", p, got[p], codes[p])
			}
		} else if got[p] != lead[p] || codes[p] != 0 {
			t.Fatalf("partition %d: leader %d code %d, want %d", p, got[p], codes[p], lead[p])
		}
	}
	if n := len(bs[0].b.metadataBrokers(bs[0].b.cl().currentView(), nil)); n != 2 {
		t.Fatalf("%d brokers listed, want 2", n)
	}
	bs[2].start()
	bs[0].b.cl().refreshNow()
	got, codes = clusterLeaders(t, bs[0], "t")
	if fmt.Sprint(got) != fmt.Sprint(lead) || fmt.Sprint(codes) != "[0 0 0]" {
		t.Fatalf("after the group's return: leaders %v codes %v, want %v", got, codes, lead)
	}
	recs := bs[0].consume(3, kgo.SeedBrokers(clusterSeeds(bs)...), kgo.ConsumeTopics("t"))
	seen := map[string]bool{}
	for _, r := range recs {
		seen[string(r.Value)] = true
	}
	if len(seen) != 3 || !seen["before-0"] || !seen["before-1"] || !seen["before-2"] {
		t.Fatalf("records after the return: %v", seen)
	}
}

// Every broker names the same coordinator for a group; the others answer
// NOT_COORDINATOR for its group requests.
func TestClusterCoordinator(t *testing.T) {
	bs, _ := clusterStart(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	owners := map[int32]bool{}
	for g := 0; g < 12; g++ {
		group := fmt.Sprintf("group-%d", g)
		var first *int32
		for _, cb := range bs {
			m, code := cb.b.coordinator(ctx, group, true)
			if code != 0 || m == nil {
				t.Fatalf("%s on %s: code %d", group, cb.b.cl().cfg.BrokerName, code)
			}
			if first == nil {
				first = &m.NodeID
			} else if *first != m.NodeID {
				t.Fatalf("%s: coordinators %d and %d", group, *first, m.NodeID)
			}
			if _, code := cb.b.validateGroup(ctx, group); (code == 0) != (m.NodeID == cb.b.cfg.NodeID) {
				t.Fatalf("%s on node %d: validateGroup code %d disagrees with coordinator %d", group, cb.b.cfg.NodeID, code, m.NodeID)
			}
		}
		owners[*first] = true
	}
	if len(owners) < 2 {
		t.Fatalf("12 groups all coordinated by %v", owners)
	}
	vt := bs[0].b.cl().currentView().byName[offsetsTopic]
	if vt == nil || vt.Partitions != offsetsPartitions || !vt.Internal {
		t.Fatalf("__consumer_offsets: %+v", vt)
	}
}

// A group's coordinator is the leader of the __consumer_offsets partition
// Kafka files the group under (Utils.abs(hashCode) % 50, values printed by
// Kafka's own code), also for names whose Java hash is negative or
// Integer.MIN_VALUE; placement once masked the sign bit instead and picked
// partition 44 for "consumer-group-negative", whose leader is another group.
func TestClusterCoordinatorKafkaPartition(t *testing.T) {
	bs, _ := clusterStart(t, 3)
	ctx := coreCtx(t)
	for _, c := range []struct {
		group string
		p     int32
	}{{"g1", 42}, {"consumer-group-negative", 4}, {"zzzzzzzz", 12}, {"polygenelubricants", 0}} {
		m, code := bs[0].b.coordinator(ctx, c.group, true)
		if code != 0 || m == nil {
			t.Fatalf("%s: code %d", c.group, code)
		}
		lead, _ := clusterLeaders(t, bs[0], offsetsTopic)
		if lead[c.p] != m.NodeID {
			t.Errorf("%s: coordinator node %d, but partition %d of %s is led by node %d", c.group, m.NodeID, c.p, offsetsTopic, lead[c.p])
		}
		if got := bs[0].b.groups.Partition(c.group); got != c.p {
			t.Errorf("%s: the coordinator files it under partition %d, want %d", c.group, got, c.p)
		}
	}
}

// A group's coordinator takes commits for a topic other groups own all of;
// a broker that is not the coordinator answers NOT_COORDINATOR.
func TestClusterCommitElsewhere(t *testing.T) {
	bs, _ := clusterStart(t, 3)
	ctx := coreCtx(t)
	if res, err := kadm.NewClient(bs[0].client()).CreateTopic(ctx, 1, 1, nil, "solo"); err != nil || res.Err != nil {
		t.Fatalf("create: %v %v", err, res.Err)
	}
	for _, cb := range bs {
		cb.b.cluster.refreshNow()
	}
	lead, _ := clusterLeaders(t, bs[0], "solo")
	var group string
	var coord *coreBroker
	for i := 0; i < 100 && coord == nil; i++ {
		group = fmt.Sprintf("cg-%d", i)
		m, code := bs[0].b.coordinator(ctx, group, true)
		if code == 0 && m.NodeID != lead[0] {
			coord = bs[m.NodeID-1]
		}
	}
	if coord == nil {
		t.Fatal("no group coordinated away from the topic's owner")
	}
	for _, cb := range bs {
		cb.b.cluster.refreshNow()
	}
	commit := func(cb *coreBroker) int16 {
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Version = 8
		req.Group, req.Generation, req.MemberID = group, -1, ""
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = "solo"
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset, rp.LeaderEpoch = 0, 42, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return cb.raw().do(req).(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode
	}
	if code := commit(coord); code != 0 {
		t.Fatalf("commit on the coordinator (node %d): code %d", coord.b.cfg.NodeID, code)
	}
	for _, cb := range bs {
		if cb != coord {
			if code := commit(cb); code != kerr.NotCoordinator.Code {
				t.Fatalf("commit on node %d (coordinator %d): code %d, want NOT_COORDINATOR", cb.b.cfg.NodeID, coord.b.cfg.NodeID, code)
			}
			od := kmsg.NewPtrOffsetDeleteRequest()
			od.Group = group
			if code := cb.raw().do(od).(*kmsg.OffsetDeleteResponse).ErrorCode; code != kerr.NotCoordinator.Code {
				t.Fatalf("OffsetDelete on node %d (coordinator %d): code %d, want NOT_COORDINATOR", cb.b.cfg.NodeID, coord.b.cfg.NodeID, code)
			}
		}
		if cb.b.cfg.NodeID != lead[0] {
			// DeleteRecords on a broker with none of the topic.
			dr := kmsg.NewPtrDeleteRecordsRequest()
			dr.Version, dr.TimeoutMillis = 2, 5000
			dt := kmsg.NewDeleteRecordsRequestTopic()
			dt.Topic = "solo"
			dp := kmsg.NewDeleteRecordsRequestTopicPartition()
			dp.Partition, dp.Offset = 0, -1
			dt.Partitions = append(dt.Partitions, dp)
			dr.Topics = append(dr.Topics, dt)
			if code := cb.raw().do(dr).(*kmsg.DeleteRecordsResponse).Topics[0].Partitions[0].ErrorCode; code != kerr.NotLeaderForPartition.Code {
				t.Fatalf("DeleteRecords on node %d (leader %d): code %d, want NOT_LEADER_OR_FOLLOWER", cb.b.cfg.NodeID, lead[0], code)
			}
		}
	}
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version = 7
	req.Group = group
	rt := kmsg.NewOffsetFetchRequestTopic()
	rt.Topic, rt.Partitions = "solo", []int32{0}
	req.Topics = append(req.Topics, rt)
	resp := coord.raw().do(req).(*kmsg.OffsetFetchResponse)
	if resp.ErrorCode != 0 || len(resp.Topics) != 1 || resp.Topics[0].Partitions[0].Offset != 42 {
		t.Fatalf("offset fetch: %+v", resp)
	}
}

// The cluster's metrics: live brokers in the view, registrations and
// route reads by result.
func TestClusterMetrics(t *testing.T) {
	ns := nameserver.NewLocal()
	reg := prometheus.NewRegistry()
	var bs []*coreBroker
	for i := 0; i < 2; i++ {
		bs = append(bs, coreStart(t, "", func(c *Config) {
			c.NodeID = int32(i + 1)
			if i == 0 {
				c.Registerer = reg
			}
			c.Cluster = ClusterConfig{BrokerName: fmt.Sprintf("g%d", i), Client: ns}
		}))
	}
	bs[0].b.cluster.registerNow()
	bs[0].b.cluster.refreshNow()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.Metric {
			key := mf.GetName()
			for _, l := range m.Label {
				key += "," + l.GetValue()
			}
			if m.Counter != nil {
				got[key] = m.Counter.GetValue()
			} else if m.Gauge != nil {
				got[key] = m.Gauge.GetValue()
			}
		}
	}
	if got["gregor_cluster_live_brokers"] != 2 || got["gregor_cluster_registrations_total,ok"] < 2 || got["gregor_cluster_route_reads_total,ok"] < 2 {
		t.Fatalf("cluster metrics: live %v registrations %v route reads %v", got["gregor_cluster_live_brokers"],
			got["gregor_cluster_registrations_total,ok"], got["gregor_cluster_route_reads_total,ok"])
	}
}

// A single node creates __consumer_offsets at the first FindCoordinator, as
// Kafka does, all 50 partitions its own, and coordinates every group.
func TestStandaloneOffsetsTopic(t *testing.T) {
	cb := coreStart(t, "", nil)
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.Version = 3
	req.CoordinatorKey = "g"
	if r := cb.raw().do(req).(*kmsg.FindCoordinatorResponse); r.ErrorCode != 0 || r.NodeID != 1 {
		t.Fatalf("FindCoordinator: %+v", r)
	}
	tp, ok := cb.b.topics.Get(offsetsTopic)
	if !ok || tp.Partitions != offsetsPartitions || !tp.Internal || len(ownedPartitions(tp)) != offsetsPartitions {
		t.Fatalf("__consumer_offsets: %+v", tp)
	}
}

// A creation forwarded by another broker is decided where it lands, even
// when this broker's view names another decider (views disagree for a
// moment while a group expires): forwarding it again could ping-pong.
func TestClusterForwardedCreateDecidedHere(t *testing.T) {
	bs, _ := clusterStart(t, 3)
	name := ""
	var at *coreBroker
	for i := 0; i < 50 && at == nil; i++ {
		name = fmt.Sprintf("fwd-%d", i)
		d := bs[0].b.cluster.currentView().decider(name)
		for _, cb := range bs {
			if !cb.b.cluster.isSelf(d) {
				at = cb
				break
			}
		}
	}
	req := kmsg.NewPtrCreateTopicsRequest()
	req.Version, req.TimeoutMillis = 7, 10000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, 3, -1
	req.Topics = append(req.Topics, rt)
	id := interBrokerClientID
	resp, err := at.b.Handle(context.Background(), &protocol.Request{
		Header: protocol.Header{Key: int16(kmsg.CreateTopics), Version: 7, ClientID: &id},
		Body:   req,
	})
	if err != nil || resp.(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode != 0 {
		t.Fatalf("forwarded create: %v %+v", err, resp)
	}
	if _, ok := at.b.cluster.decided[name]; !ok {
		t.Fatalf("%s did not decide the forwarded creation itself", at.b.cluster.cfg.BrokerName)
	}
}
