package cluster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	topic      = "orders"
	partitions = 6
	perPart    = 10
)

// TestCluster runs one cluster through its cases in order: placement,
// produce and consume with franz-go and kcat, concurrent creation,
// NOT_LEADER_OR_FOLLOWER, coordinators, then the failures (a NameServer
// killed and restarted, a whole broker group killed and restarted).
func TestCluster(t *testing.T) {
	if _, err := exec.LookPath("kcat"); err != nil {
		t.Fatal("kcat is needed (scripts/install-deps.sh installs it)")
	}
	c := startCluster(t)
	steps := []struct {
		name string
		fn   func(*testing.T, *cluster)
	}{
		{"placement", testPlacement},
		{"franz-go", testFranzProduceConsume},
		{"kcat", testKcat},
		{"concurrent-create", testConcurrentCreate},
		{"not-leader", testNotLeader},
		{"coordinator", testCoordinator},
		{"create-partitions", testCreatePartitions},
		{"delete", testDelete},
		{"configs", testConfigs},
		{"nameserver-killed", testNameServerKilled},
		{"group-killed", testGroupKilled},
	}
	for _, s := range steps {
		if !t.Run(s.name, func(t *testing.T) { c.t = t; s.fn(t, c) }) {
			return
		}
	}
}

func client(t testing.TB, c *cluster, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.bootstrap()...)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// testPlacement: a topic created through one broker is spread over the
// three groups, two partitions each, and every broker reports the same
// leaders and topic id.
func testPlacement(t *testing.T, c *cluster) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.nodes[0].addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	res, err := kadm.NewClient(cl).CreateTopic(ctx, partitions, 1, nil, topic)
	if err != nil || res.Err != nil {
		t.Fatalf("create: %v %v", err, res.Err)
	}
	var first map[int32]int32
	for _, n := range c.nodes {
		c.eventually(5*time.Second, func() error {
			lead, codes := leaders(t, n.addr, topic)
			if len(lead) != partitions {
				return fmt.Errorf("%s reports %d partitions", n.group, len(lead))
			}
			for p, code := range codes {
				if code != 0 {
					return fmt.Errorf("%s: partition %d error %d", n.group, p, code)
				}
			}
			if first == nil {
				first = lead
			} else if !mapsEqual(first, lead) {
				return fmt.Errorf("%s reports leaders %v, %s reported %v", n.group, lead, c.nodes[0].group, first)
			}
			return nil
		})
	}
	perNode := map[int32]int{}
	for _, l := range first {
		perNode[l]++
	}
	for _, n := range c.nodes {
		if perNode[n.nodeID] != 2 {
			t.Fatalf("leaders %v: node %d leads %d partitions, want 2", first, n.nodeID, perNode[n.nodeID])
		}
	}
}

func mapsEqual(a, b map[int32]int32) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func rec(p, i int) *kgo.Record {
	return &kgo.Record{Topic: topic, Partition: int32(p),
		Key:     []byte(fmt.Sprintf("k-%d-%d", p, i)),
		Value:   []byte(fmt.Sprintf("v-%d-%d", p, i)),
		Headers: []kgo.RecordHeader{{Key: "h", Value: []byte(fmt.Sprint(i))}}}
}

// produceRange writes records i in [from, to) to each partition in parts.
func produceRange(t testing.TB, c *cluster, parts []int, from, to int) {
	t.Helper()
	cl := client(t, c, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var recs []*kgo.Record
	for i := from; i < to; i++ {
		for _, p := range parts {
			recs = append(recs, rec(p, i))
		}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// consumeAll reads want records per partition in parts from the start and
// checks each one's offset, key, value and header, in order.
func consumeAll(t testing.TB, c *cluster, parts []int, want int) {
	t.Helper()
	offsets := map[string]map[int32]kgo.Offset{topic: {}}
	for _, p := range parts {
		offsets[topic][int32(p)] = kgo.NewOffset().AtStart()
	}
	cl := client(t, c, kgo.ConsumePartitions(offsets))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got := map[int32][]*kgo.Record{}
	total := 0
	for total < want*len(parts) {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records", total, want*len(parts))
		}
		fs.EachError(func(tp string, p int32, err error) { t.Logf("fetch %s/%d: %v", tp, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			got[r.Partition] = append(got[r.Partition], r)
			total++
		})
	}
	for _, p := range parts {
		rs := got[int32(p)]
		if len(rs) != want {
			t.Fatalf("partition %d: %d records, want %d", p, len(rs), want)
		}
		for i, r := range rs {
			w := rec(p, i)
			if r.Offset != int64(i) || string(r.Key) != string(w.Key) || string(r.Value) != string(w.Value) ||
				len(r.Headers) != 1 || string(r.Headers[0].Value) != string(w.Headers[0].Value) {
				t.Fatalf("partition %d record %d: offset %d key %q value %q headers %v", p, i, r.Offset, r.Key, r.Value, r.Headers)
			}
		}
	}
}

func allParts() []int {
	out := make([]int, partitions)
	for i := range out {
		out[i] = i
	}
	return out
}

// testFranzProduceConsume: franz-go writes to every partition (all three
// groups) and reads everything back, exactly.
func testFranzProduceConsume(t *testing.T, c *cluster) {
	produceRange(t, c, allParts(), 0, perPart)
	consumeAll(t, c, allParts(), perPart)

	// A measurement, not a check: 30000 records of 100 bytes over the
	// three groups, to a topic of their own.
	const mt, n = "measure", 30000
	cl := client(t, c, kgo.DefaultProduceTopic(mt), kgo.AllowAutoTopicCreation())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if res, err := kadm.NewClient(cl).CreateTopic(ctx, 6, 1, nil, mt); err != nil || res.Err != nil {
		t.Fatalf("create: %v %v", err, res.Err)
	}
	value := make([]byte, 100)
	start := time.Now()
	var wg sync.WaitGroup
	var failed error
	var mu sync.Mutex
	for i := 0; i < n; i++ {
		wg.Add(1)
		cl.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				failed = err
				mu.Unlock()
			}
			wg.Done()
		})
	}
	wg.Wait()
	if failed != nil {
		t.Fatal(failed)
	}
	took := time.Since(start)
	t.Logf("produced %d records of 100 B over 3 groups in %v: %.0f records/s", n, took, n/took.Seconds())
}

// testKcat: kcat produces keyed messages through one broker (its
// partitioner spreads them over every group) and consumes them back
// through another.
func testKcat(t *testing.T, c *cluster) {
	const kt = "kcat-topic"
	cl := client(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if res, err := kadm.NewClient(cl).CreateTopic(ctx, 6, 1, nil, kt); err != nil || res.Err != nil {
		t.Fatalf("create: %v %v", err, res.Err)
	}
	var in []string
	for i := 0; i < 60; i++ {
		in = append(in, fmt.Sprintf("key%d:value%d", i, i))
	}
	runKcat(t, strings.Join(in, "\n")+"\n", "-P", "-b", c.nodes[1].addr, "-t", kt, "-K", ":")
	out := runKcat(t, "", "-C", "-b", c.nodes[2].addr, "-t", kt, "-o", "beginning", "-e", "-q", "-f", "%p %k:%s\n")
	var got []string
	parts := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		p, kv, _ := strings.Cut(line, " ")
		parts[p] = true
		got = append(got, kv)
	}
	sort.Strings(got)
	want := slices.Clone(in)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Fatalf("kcat consumed %d messages:\n%v\nwant %d:\n%v", len(got), got, len(want), want)
	}
	lead, _ := leaders(t, c.nodes[0].addr, kt)
	groups := map[int32]bool{}
	for p := range parts {
		var n int32
		fmt.Sscan(p, &n)
		groups[lead[n]] = true
	}
	if len(groups) != 3 {
		t.Fatalf("kcat's messages landed on partitions %v led by %d groups, want 3", parts, len(groups))
	}
}

// testConcurrentCreate: the same topic created at once through all three
// brokers is created exactly once; everyone agrees on its id.
func testConcurrentCreate(t *testing.T, c *cluster) {
	for round := 0; round < 3; round++ {
		name := fmt.Sprintf("race-%d", round)
		codes := make([]int16, len(c.nodes))
		var wg sync.WaitGroup
		for i, n := range c.nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cl, err := kgo.NewClient(kgo.SeedBrokers(n.addr))
				if err != nil {
					codes[i] = -2
					return
				}
				defer cl.Close()
				req := kmsg.NewPtrCreateTopicsRequest()
				req.TimeoutMillis = 10000
				rt := kmsg.NewCreateTopicsRequestTopic()
				rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, 3, 1
				req.Topics = append(req.Topics, rt)
				ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
				defer cancel()
				resp, err := cl.SeedBrokers()[0].Request(ctx, req)
				if err != nil {
					codes[i] = -1
					return
				}
				codes[i] = resp.(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode
			}()
		}
		wg.Wait()
		ok, exists := 0, 0
		for _, code := range codes {
			switch code {
			case 0:
				ok++
			case kerr.TopicAlreadyExists.Code:
				exists++
			}
		}
		if ok != 1 || exists != 2 {
			t.Fatalf("%s: codes %v, want one success and two TOPIC_ALREADY_EXISTS", name, codes)
		}
		var id [16]byte
		for _, n := range c.nodes {
			c.eventually(5*time.Second, func() error {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				m, err := metadata(ctx, n.addr, name)
				if err != nil {
					return err
				}
				if len(m.Topics) != 1 || m.Topics[0].ErrorCode != 0 || len(m.Topics[0].Partitions) != 3 {
					return fmt.Errorf("%s: %+v", n.group, m.Topics)
				}
				if id == ([16]byte{}) {
					id = m.Topics[0].TopicID
				} else if m.Topics[0].TopicID != id {
					return fmt.Errorf("%s reports another topic id", n.group)
				}
				return nil
			})
		}
	}
}

// testNotLeader: ListOffsets and Fetch for a partition another group leads
// get NOT_LEADER_OR_FOLLOWER; the leader answers them.
func testNotLeader(t *testing.T, c *cluster) {
	lead, _ := leaders(t, c.nodes[0].addr, topic)
	mctx, mcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer mcancel()
	md, err := metadata(mctx, c.nodes[0].addr, topic)
	if err != nil {
		t.Fatal(err)
	}
	id := md.Topics[0].TopicID // kgo sends Fetch v13+, which names topics by id
	for p, leader := range lead {
		for _, n := range c.nodes {
			want := int16(0)
			if n.nodeID != leader {
				want = kerr.NotLeaderForPartition.Code
			}
			cl, err := kgo.NewClient(kgo.SeedBrokers(n.addr))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			lo := kmsg.NewPtrListOffsetsRequest()
			lt := kmsg.NewListOffsetsRequestTopic()
			lt.Topic = topic
			lp := kmsg.NewListOffsetsRequestTopicPartition()
			lp.Partition, lp.Timestamp = p, -1
			lt.Partitions = append(lt.Partitions, lp)
			lo.Topics = append(lo.Topics, lt)
			resp, err := cl.SeedBrokers()[0].Request(ctx, lo)
			if err != nil {
				t.Fatal(err)
			}
			got := resp.(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]
			if got.ErrorCode != want || (want == 0 && got.Offset != perPart) {
				t.Fatalf("ListOffsets %s/%d on node %d (leader %d): code %d offset %d", topic, p, n.nodeID, leader, got.ErrorCode, got.Offset)
			}
			fr := kmsg.NewPtrFetchRequest()
			fr.MaxWaitMillis, fr.MaxBytes, fr.SessionEpoch = 0, 1<<20, -1
			ft := kmsg.NewFetchRequestTopic()
			ft.Topic, ft.TopicID = topic, id
			fp := kmsg.NewFetchRequestTopicPartition()
			fp.Partition, fp.PartitionMaxBytes, fp.CurrentLeaderEpoch = p, 1<<20, -1
			ft.Partitions = append(ft.Partitions, fp)
			fr.Topics = append(fr.Topics, ft)
			fresp, err := cl.SeedBrokers()[0].Request(ctx, fr)
			cancel()
			cl.Close()
			if err != nil {
				t.Fatal(err)
			}
			fgot := fresp.(*kmsg.FetchResponse).Topics[0].Partitions[0]
			if fgot.ErrorCode != want || (want == 0 && fgot.HighWatermark != perPart) {
				t.Fatalf("Fetch %s/%d on node %d (leader %d): code %d hwm %d", topic, p, n.nodeID, leader, fgot.ErrorCode, fgot.HighWatermark)
			}
		}
	}
}

// testCoordinator: every broker names the same coordinator for a group;
// a consumer group reads everything and its commits are read back.
func testCoordinator(t *testing.T, c *cluster) {
	coords := map[string]int32{}
	for _, g := range []string{"g1", "g2", "g3", "g4", "g5", "g6"} {
		var first int32 = -2
		for _, n := range c.nodes {
			cl, err := kgo.NewClient(kgo.SeedBrokers(n.addr))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			req := kmsg.NewPtrFindCoordinatorRequest()
			req.CoordinatorKey = g            // v0-v3
			req.CoordinatorKeys = []string{g} // v4+, which kgo sends
			resp, err := cl.SeedBrokers()[0].Request(ctx, req)
			cancel()
			cl.Close()
			if err != nil {
				t.Fatal(err)
			}
			r := resp.(*kmsg.FindCoordinatorResponse)
			code, node := r.ErrorCode, r.NodeID
			if len(r.Coordinators) == 1 {
				code, node = r.Coordinators[0].ErrorCode, r.Coordinators[0].NodeID
			}
			if code != 0 || node < 1 {
				t.Fatalf("FindCoordinator %s on %s: code %d node %d", g, n.group, code, node)
			}
			if first == -2 {
				first = node
			} else if node != first {
				t.Fatalf("group %s: %s names node %d, another broker named %d", g, n.group, node, first)
			}
		}
		coords[g] = first
	}
	t.Logf("coordinators: %v", coords)
	nodes := map[int32]bool{}
	for _, n := range coords {
		nodes[n] = true
	}
	if len(nodes) < 2 {
		t.Fatalf("six groups all coordinated by %v: __consumer_offsets not spread", coords)
	}

	cl := client(t, c, kgo.ConsumerGroup("g1"), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n := 0
	for n < partitions*perPart {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("group consumed %d of %d", n, partitions*perPart)
		}
		n += fs.NumRecords()
	}
	if err := cl.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}
	adm := kadm.NewClient(client(t, c))
	offs, err := adm.FetchOffsets(ctx, "g1")
	if err != nil {
		t.Fatal(err)
	}
	for p := int32(0); p < partitions; p++ {
		o, ok := offs.Lookup(topic, p)
		if !ok || o.At != perPart {
			t.Fatalf("committed offset of %s/%d: %+v (found %v), want %d", topic, p, o, ok, perPart)
		}
	}
}

// testCreatePartitions: partitions added through a broker that does not
// decide for the topic land on the groups and are served.
func testCreatePartitions(t *testing.T, c *cluster) {
	const gt = "grow"
	cl := client(t, c)
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if res, err := adm.CreateTopic(ctx, 1, 1, nil, gt); err != nil || res.Err != nil {
		t.Fatalf("create: %v %v", err, res.Err)
	}
	for i, n := range c.nodes {
		ncl, err := kgo.NewClient(kgo.SeedBrokers(n.addr))
		if err != nil {
			t.Fatal(err)
		}
		req := kmsg.NewPtrCreatePartitionsRequest()
		req.TimeoutMillis = 10000
		rt := kmsg.NewCreatePartitionsRequestTopic()
		rt.Topic = gt
		rt.Count = int32(3 + 2*i) // 1 → 3 → 5 → 7, through a, b, c
		req.Topics = append(req.Topics, rt)
		resp, err := ncl.SeedBrokers()[0].Request(ctx, req)
		ncl.Close()
		if err != nil {
			t.Fatal(err)
		}
		if code := resp.(*kmsg.CreatePartitionsResponse).Topics[0].ErrorCode; code != 0 {
			t.Fatalf("CreatePartitions through %s to %d: code %d", n.group, rt.Count, code)
		}
	}
	c.eventually(5*time.Second, func() error {
		lead, codes := leaders(t, c.nodes[2].addr, gt)
		if len(lead) != 7 {
			return fmt.Errorf("%d partitions, want 7", len(lead))
		}
		per := map[int32]int{}
		for p, l := range lead {
			if codes[p] != 0 {
				return fmt.Errorf("partition %d: code %d", p, codes[p])
			}
			per[l]++
		}
		if len(per) != 3 {
			return fmt.Errorf("leaders %v: not spread over the three groups", lead)
		}
		return nil
	})
}

// testDelete: a topic spread over the groups, deleted through one broker,
// is gone from all; re-created under the same name it is new and empty.
func testDelete(t *testing.T, c *cluster) {
	const dt = "doomed"
	adm := kadm.NewClient(client(t, c))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := adm.CreateTopic(ctx, 6, 1, nil, dt)
	if err != nil || res.Err != nil {
		t.Fatalf("create: %v %v", err, res.Err)
	}
	oldID := res.ID
	cl := client(t, c, kgo.DefaultProduceTopic(dt))
	for i := 0; i < 12; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte(fmt.Sprint(i)), Value: []byte("x")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	bcl, err := kgo.NewClient(kgo.SeedBrokers(c.nodes[1].addr))
	if err != nil {
		t.Fatal(err)
	}
	defer bcl.Close()
	dres, err := kadm.NewClient(bcl).DeleteTopics(ctx, dt)
	if err != nil || dres[dt].Err != nil {
		t.Fatalf("delete through %s: %v %v", c.nodes[1].group, err, dres[dt].Err)
	}
	for _, n := range c.nodes {
		c.eventually(5*time.Second, func() error {
			m, err := metadata(ctx, n.addr, dt)
			if err != nil {
				return err
			}
			if len(m.Topics) != 1 || m.Topics[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
				return fmt.Errorf("%s still reports %s: %+v", n.group, dt, m.Topics)
			}
			return nil
		})
	}
	res, err = adm.CreateTopic(ctx, 6, 1, nil, dt)
	if err != nil || res.Err != nil {
		t.Fatalf("re-create: %v %v", err, res.Err)
	}
	if res.ID == oldID {
		t.Fatal("the re-created topic has the old id")
	}
	c.eventually(5*time.Second, func() error {
		ends, err := adm.ListEndOffsets(ctx, dt)
		if err != nil {
			return err
		}
		n := 0
		var bad error
		ends.Each(func(o kadm.ListedOffset) {
			n++
			if o.Err != nil || o.Offset != 0 {
				bad = fmt.Errorf("%s/%d: end %d err %v", dt, o.Partition, o.Offset, o.Err)
			}
		})
		if bad == nil && n != 6 {
			bad = fmt.Errorf("%d partitions listed", n)
		}
		return bad
	})
}

// testConfigs: a topic config altered through one broker holds on every
// group owning part of the topic, and a topic a broker has none of is
// described through its owner. Requests go to one broker each (kadm would
// pick any).
func testConfigs(t *testing.T, c *cluster) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const one = "single"
	if res, err := kadm.NewClient(client(t, c)).CreateTopic(ctx, 1, 1, nil, one); err != nil || res.Err != nil {
		t.Fatalf("create: %v %v", err, res.Err)
	}
	on := func(n *node, req kmsg.Request) kmsg.Response {
		cl, err := kgo.NewClient(kgo.SeedBrokers(n.addr))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		resp, err := cl.SeedBrokers()[0].Request(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	for i, n := range c.nodes {
		value := fmt.Sprint(3600000 * (i + 1))
		for _, tn := range []string{topic, one} {
			req := kmsg.NewPtrIncrementalAlterConfigsRequest()
			rr := kmsg.NewIncrementalAlterConfigsRequestResource()
			rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, tn
			rc := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
			rc.Name, rc.Op, rc.Value = "retention.ms", kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr(value)
			rr.Configs = append(rr.Configs, rc)
			req.Resources = append(req.Resources, rr)
			resp := on(n, req).(*kmsg.IncrementalAlterConfigsResponse)
			if len(resp.Resources) != 1 || resp.Resources[0].ErrorCode != 0 {
				t.Fatalf("alter %s through %s: %+v", tn, n.group, resp.Resources)
			}
		}
		for _, m := range c.nodes {
			for _, tn := range []string{topic, one} {
				req := kmsg.NewPtrDescribeConfigsRequest()
				rr := kmsg.NewDescribeConfigsRequestResource()
				rr.ResourceType, rr.ResourceName, rr.ConfigNames = kmsg.ConfigResourceTypeTopic, tn, []string{"retention.ms"}
				req.Resources = append(req.Resources, rr)
				resp := on(m, req).(*kmsg.DescribeConfigsResponse)
				if len(resp.Resources) != 1 || resp.Resources[0].ErrorCode != 0 || len(resp.Resources[0].Configs) != 1 ||
					resp.Resources[0].Configs[0].Value == nil || *resp.Resources[0].Configs[0].Value != value {
					t.Fatalf("%s retention.ms through %s after altering through %s: %+v, want %s", tn, m.group, n.group, resp.Resources, value)
				}
			}
		}
	}
}

// testNameServerKilled: one NameServer dies; clients notice nothing. It
// restarts and is refilled by the brokers' heartbeats within an interval
// or so.
func testNameServerKilled(t *testing.T, c *cluster) {
	c.ns[0].kill()
	time.Sleep(2 * brokerExpiry) // longer than an expiry: nothing must lapse
	for _, n := range c.nodes {
		c.waitBrokers(n, 3)
		_, codes := leaders(t, n.addr, topic)
		for p, code := range codes {
			if code != 0 {
				t.Fatalf("%s: partition %d code %d with one NameServer down", n.group, p, code)
			}
		}
	}
	produceRange(t, c, allParts(), perPart, perPart+5)
	consumeAll(t, c, allParts(), perPart+5)

	start := time.Now()
	c.ns[0].start()
	c.eventually(10*time.Second, func() error {
		resp, err := http.Get("http://" + c.nsAddrs[0] + "/v1/routes")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var routes struct {
			Brokers []json.RawMessage `json:"brokers"`
			Topics  []struct {
				Name   string            `json:"name"`
				Owners map[string]string `json:"owners"`
			} `json:"topics"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&routes); err != nil {
			return err
		}
		if len(routes.Brokers) != 3 {
			return fmt.Errorf("restarted NameServer knows %d brokers", len(routes.Brokers))
		}
		for _, tp := range routes.Topics {
			if tp.Name == topic && len(tp.Owners) == partitions {
				return nil
			}
		}
		return fmt.Errorf("restarted NameServer lacks %s's owners", topic)
	})
	t.Logf("restarted NameServer refilled %v after its start (register interval %v)", time.Since(start), registerInterval)
}

// findCoordinator asks the broker at addr for group's coordinator.
func findCoordinator(t testing.TB, addr, group string) (code int16, node int32) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.CoordinatorKey, req.CoordinatorKeys = group, []string{group}
	resp, err := cl.SeedBrokers()[0].Request(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	r := resp.(*kmsg.FindCoordinatorResponse)
	if len(r.Coordinators) == 1 {
		return r.Coordinators[0].ErrorCode, r.Coordinators[0].NodeID
	}
	return r.ErrorCode, r.NodeID
}

// testGroupKilled: broker-c is killed; within the expiry its partitions
// are reported without a leader while the other groups keep serving
// theirs. Restarted, it re-registers and serves its partitions again with
// nothing lost.
func testGroupKilled(t *testing.T, c *cluster) {
	victim := c.nodes[2]
	lead, _ := leaders(t, c.nodes[0].addr, topic)
	var theirs, ours []int
	for p, l := range lead {
		if l == victim.nodeID {
			theirs = append(theirs, int(p))
		} else {
			ours = append(ours, int(p))
		}
	}
	sort.Ints(theirs)
	sort.Ints(ours)
	before := map[string]int32{}
	for i := 0; i < 30; i++ {
		g := fmt.Sprintf("cg-%d", i)
		code, node := findCoordinator(t, c.nodes[0].addr, g)
		if code != 0 {
			t.Fatalf("FindCoordinator %s: code %d", g, code)
		}
		before[g] = node
	}
	killed := time.Now()
	victim.kill()
	c.eventually(brokerExpiry+5*time.Second, func() error {
		for _, n := range c.nodes[:2] {
			l, codes := leaders(t, n.addr, topic)
			if len(l) != partitions {
				return fmt.Errorf("%s reports %d partitions", n.group, len(l))
			}
			for _, p := range theirs {
				if l[int32(p)] != -1 || codes[int32(p)] != kerr.LeaderNotAvailable.Code {
					return fmt.Errorf("%s: partition %d leader %d code %d", n.group, p, l[int32(p)], codes[int32(p)])
				}
			}
			for _, p := range ours {
				if l[int32(p)] == -1 || codes[int32(p)] != 0 {
					return fmt.Errorf("%s: partition %d leader %d code %d", n.group, p, l[int32(p)], codes[int32(p)])
				}
			}
		}
		return nil
	})
	t.Logf("killed group's partitions reported unavailable %v after SIGKILL (expiry %v)", time.Since(killed), brokerExpiry)

	// The others keep serving produce and fetch for their partitions.
	produceRange(t, c, ours, perPart+5, perPart+10)
	c.nodes = c.nodes[:2]
	consumeAll(t, c, ours, perPart+10)

	// Groups the dead group coordinated get COORDINATOR_NOT_AVAILABLE;
	// the others keep their coordinator, and a consumer group there reads
	// every record of the live partitions.
	var liveGroup string
	for g, node := range before {
		code, now := findCoordinator(t, c.nodes[1].addr, g)
		switch {
		case node == victim.nodeID && code != kerr.CoordinatorNotAvailable.Code:
			t.Fatalf("group %s of the dead group: code %d node %d", g, code, now)
		case node != victim.nodeID && (code != 0 || now != node):
			t.Fatalf("group %s: code %d node %d, was node %d", g, code, now, node)
		case node != victim.nodeID:
			liveGroup = g
		}
	}
	gcl := client(t, c, kgo.ConsumerGroup(liveGroup), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	gctx, gcancel := context.WithTimeout(context.Background(), 30*time.Second)
	got := 0
	for got < len(ours)*(perPart+10) {
		fs := gcl.PollFetches(gctx)
		if gctx.Err() != nil {
			t.Fatalf("group %s read %d of %d records of the live partitions", liveGroup, got, len(ours)*(perPart+10))
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Partition == int32(theirs[0]) || (len(theirs) > 1 && r.Partition == int32(theirs[1])) {
				t.Errorf("record from partition %d of the dead group", r.Partition)
			}
			got++
		})
	}
	gcancel()
	gcl.Close()
	c.nodes = append(c.nodes, victim)

	restarted := time.Now()
	victim.start()
	for _, n := range c.nodes {
		c.waitBrokers(n, 3)
	}
	c.eventually(10*time.Second, func() error {
		l, codes := leaders(t, c.nodes[0].addr, topic)
		for _, p := range theirs {
			if l[int32(p)] != victim.nodeID || codes[int32(p)] != 0 {
				return fmt.Errorf("partition %d leader %d code %d", p, l[int32(p)], codes[int32(p)])
			}
		}
		return nil
	})
	t.Logf("restarted group served again %v after its start", time.Since(restarted))
	// Nothing lost: everything written before the kill is still there.
	consumeAll(t, c, theirs, perPart+5)
	produceRange(t, c, theirs, perPart+5, perPart+10)
	consumeAll(t, c, allParts(), perPart+10)
}
