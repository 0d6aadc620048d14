package broker

import (
	"context"
	"net"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/protocol"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A restarted broker has every record, the same cluster id and topic ids,
// and continues offsets where they were.
func TestCoreRestartKeepsData(t *testing.T) {
	cb := coreStart(t, "", nil)
	cb.topic("keep", 2, nil)
	cl := cb.client(kgo.DefaultProduceTopic("keep"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ctx := coreCtx(t)
	for i := 0; i < 50; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Partition: int32(i % 2), Key: []byte(strconv.Itoa(i)), Value: []byte("v" + strconv.Itoa(i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	clusterID := cb.b.ClusterID()
	tp, _ := cb.b.topics.Get("keep")
	cl.Close()
	cb.restart()
	if cb.b.ClusterID() != clusterID {
		t.Fatalf("cluster id %q after restart, was %q", cb.b.ClusterID(), clusterID)
	}
	if tp2, ok := cb.b.topics.Get("keep"); !ok || tp2.ID != tp.ID || tp2.Partitions != 2 {
		t.Fatalf("topic after restart: %+v", tp2)
	}
	cl = cb.client(kgo.DefaultProduceTopic("keep"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	r := cl.ProduceSync(ctx, &kgo.Record{Partition: 0, Value: []byte("after")})
	if r.FirstErr() != nil || r[0].Record.Offset != 25 {
		t.Fatalf("produce after restart: offset %d err %v", r[0].Record.Offset, r.FirstErr())
	}
	recs := cb.consume(51, kgo.ConsumeTopics("keep"))
	byPart := map[int32][]string{}
	for _, r := range recs {
		byPart[r.Partition] = append(byPart[r.Partition], string(r.Value))
	}
	if len(byPart[0]) != 26 || len(byPart[1]) != 25 || byPart[0][25] != "after" || byPart[1][24] != "v49" || byPart[0][0] != "v0" {
		t.Fatalf("partition 0: %v\npartition 1: %v", byPart[0], byPart[1])
	}
}

// A configured cluster id is kept; a different one later is refused.
func TestCoreClusterIDConfigured(t *testing.T) {
	dir := t.TempDir()
	cb := coreStart(t, dir, func(c *Config) { c.ClusterID = "MkU3OEVBNTcwNTJENDM2Qk" })
	if cb.b.ClusterID() != "MkU3OEVBNTcwNTJENDM2Qk" {
		t.Fatalf("cluster id %q", cb.b.ClusterID())
	}
	cb.stop()
	cfg := Config{Listeners: []Listener{{Address: "127.0.0.1:0"}}, ClusterID: "other"}
	cfg.Store.Dir = dir
	if b, err := New(cfg); err == nil {
		b.Shutdown(context.Background())
		t.Fatal("a data dir of another cluster was accepted")
	}
}

// ApiVersions lists exactly the registered APIs, Produce from v0, for
// every version 0–4.
func TestCoreApiVersions(t *testing.T) {
	cb := coreStart(t, "", nil)
	rc := cb.raw()
	for v := int16(0); v <= 4; v++ {
		req := kmsg.NewPtrApiVersionsRequest()
		req.Version, req.ClientSoftwareName, req.ClientSoftwareVersion = v, "gregor-test", "1.0"
		resp := rc.do(req).(*kmsg.ApiVersionsResponse)
		if resp.ErrorCode != 0 || len(resp.ApiKeys) != len(apis) {
			t.Fatalf("v%d: error %d, %d keys, want %d", v, resp.ErrorCode, len(resp.ApiKeys), len(apis))
		}
		if !sort.SliceIsSorted(resp.ApiKeys, func(i, j int) bool { return resp.ApiKeys[i].ApiKey < resp.ApiKeys[j].ApiKey }) {
			t.Fatal("keys not sorted")
		}
		for _, k := range resp.ApiKeys {
			a := apis[k.ApiKey]
			if a.fn == nil || k.MinVersion != a.min || k.MaxVersion != a.max {
				t.Fatalf("key %d: %d–%d", k.ApiKey, k.MinVersion, k.MaxVersion)
			}
		}
	}
	want := map[kmsg.Key][2]int16{kmsg.Produce: {0, 13}, kmsg.Fetch: {4, 18}, kmsg.ListOffsets: {1, 11},
		kmsg.Metadata: {0, 13}, kmsg.ApiVersions: {0, 5}, kmsg.OffsetForLeaderEpoch: {2, 4},
		kmsg.OffsetCommit: {2, 10}, kmsg.OffsetFetch: {1, 10}, kmsg.DescribeGroups: {0, 6}, kmsg.DeleteGroups: {0, 3},
		kmsg.DescribeLogDirs: {1, 5}, kmsg.ListConfigResources: {0, 1}, kmsg.DescribeTopicPartitions: {0, 0}}
	for k, r := range want {
		if a := apis[int16(k)]; a.min != r[0] || a.max != r[1] {
			t.Errorf("%s: %d–%d, want %d–%d", k.Name(), a.min, a.max, r[0], r[1])
		}
	}
	// kgo negotiates and works.
	if _, err := kadm.NewClient(cb.client()).ApiVersions(coreCtx(t)); err != nil {
		t.Fatal(err)
	}
}

// Metadata for every version: this broker at the address the client used,
// the cluster id, topic ids, auto-creation on and off.
func TestCoreMetadata(t *testing.T) {
	cb := coreStart(t, "", nil)
	tp := cb.topic("md", 3, nil)
	rc := cb.raw()
	host, port, _ := net.SplitHostPort(cb.addr)
	for v := int16(0); v <= 12; v++ {
		req := kmsg.NewPtrMetadataRequest()
		req.Version = v
		req.Topics = []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr("md")}}
		resp := rc.do(req).(*kmsg.MetadataResponse)
		if len(resp.Brokers) != 1 || resp.Brokers[0].Host != host || strconv.Itoa(int(resp.Brokers[0].Port)) != port || resp.Brokers[0].NodeID != 1 {
			t.Fatalf("v%d brokers %+v", v, resp.Brokers)
		}
		if v >= 2 && (resp.ClusterID == nil || *resp.ClusterID != cb.b.ClusterID()) {
			t.Fatalf("v%d cluster id %v", v, resp.ClusterID)
		}
		if v >= 1 && resp.ControllerID != 1 {
			t.Fatalf("v%d controller %d", v, resp.ControllerID)
		}
		if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 || len(resp.Topics[0].Partitions) != 3 {
			t.Fatalf("v%d topics %+v", v, resp.Topics)
		}
		if v >= 10 && resp.Topics[0].TopicID != tp.ID {
			t.Fatalf("v%d topic id", v)
		}
		for i, p := range resp.Topics[0].Partitions {
			if p.Partition != int32(i) || p.Leader != 1 || len(p.Replicas) != 1 || len(p.ISR) != 1 {
				t.Fatalf("v%d partition %+v", v, p)
			}
		}
	}
	// By id (v12), and an unknown id.
	req := kmsg.NewPtrMetadataRequest()
	req.Version = 12
	req.Topics = []kmsg.MetadataRequestTopic{{TopicID: tp.ID}, {TopicID: [16]byte{9}}}
	resp := rc.do(req).(*kmsg.MetadataResponse)
	// Kafka lists the unknown ids first (seen on 4.4.0).
	if len(resp.Topics) != 2 || resp.Topics[0].ErrorCode != kerr.UnknownTopicID.Code || resp.Topics[1].Topic == nil || *resp.Topics[1].Topic != "md" {
		t.Fatalf("by id: %+v", resp.Topics)
	}
	// Auto-creation: allowed by the request → created; refused → unknown.
	req.Topics = []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr("auto-yes")}}
	req.AllowAutoTopicCreation = true
	if resp := rc.do(req).(*kmsg.MetadataResponse); resp.Topics[0].ErrorCode != 0 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("auto-create: %+v", resp.Topics[0])
	}
	req.Topics = []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr("auto-no")}}
	req.AllowAutoTopicCreation = false
	if resp := rc.do(req).(*kmsg.MetadataResponse); resp.Topics[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("no auto-create: %+v", resp.Topics[0])
	}
	// All topics (null list).
	req.Topics = nil
	resp = rc.do(req).(*kmsg.MetadataResponse)
	var names []string
	for _, t := range resp.Topics {
		names = append(names, *t.Topic)
	}
	if strings.Join(names, ",") != "auto-yes,md" {
		t.Fatalf("all topics: %v", names)
	}
	// A kgo producer to a new topic relies on auto-creation.
	cl := cb.client(kgo.AllowAutoTopicCreation())
	if err := cl.ProduceSync(coreCtx(t), &kgo.Record{Topic: "auto-kgo", Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// With auto.create.topics.enable off nothing is created.
func TestCoreMetadataAutoCreateOff(t *testing.T) {
	cb := coreStart(t, "", func(c *Config) { c.Topics.AutoCreate = false })
	req := kmsg.NewPtrMetadataRequest()
	req.Version, req.AllowAutoTopicCreation = 12, true
	req.Topics = []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr("x")}}
	if resp := cb.raw().do(req).(*kmsg.MetadataResponse); resp.Topics[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("%+v", resp.Topics[0])
	}
	if _, ok := cb.b.topics.Get("x"); ok {
		t.Fatal("topic created")
	}
}

// Advertised addresses: configured ones win; a wildcard bind tells the
// client the address it connected to; each listener answers with its own.
func TestCoreAdvertised(t *testing.T) {
	cb := coreStart(t, "", func(c *Config) {
		c.Listeners = []Listener{
			{Name: "INTERNAL", Address: "127.0.0.1:0", Advertised: "broker:19092"},
			{Name: "EXTERNAL", Address: "0.0.0.0:0"},
		}
	})
	addrs := cb.b.Addrs()
	if len(addrs) != 2 {
		t.Fatalf("addrs %v", addrs)
	}
	h, p := cb.b.advertised(&protocol.ConnInfo{Listener: "INTERNAL"})
	if h != "broker" || p != 19092 {
		t.Fatalf("INTERNAL advertised %s:%d", h, p)
	}
	_, extPort, _ := net.SplitHostPort(addrs[1].String())
	local := &net.TCPAddr{IP: net.ParseIP("10.1.2.3"), Port: 1}
	h, p = cb.b.advertised(&protocol.ConnInfo{Listener: "EXTERNAL", Local: local})
	if h != "10.1.2.3" || strconv.Itoa(int(p)) != extPort {
		t.Fatalf("EXTERNAL advertised %s:%d, want 10.1.2.3:%s", h, p, extPort)
	}
	// Over the wire, through the EXTERNAL listener.
	cb.addr = net.JoinHostPort("127.0.0.1", extPort)
	req := kmsg.NewPtrMetadataRequest()
	req.Version = 12
	resp := cb.raw().do(req).(*kmsg.MetadataResponse)
	if resp.Brokers[0].Host != "127.0.0.1" || strconv.Itoa(int(resp.Brokers[0].Port)) != extPort {
		t.Fatalf("brokers %+v", resp.Brokers)
	}
}

func TestCoreConfigValidate(t *testing.T) {
	for name, cfg := range map[string]Config{
		"negative node id":       {NodeID: -1},
		"bad listener":           {Listeners: []Listener{{Address: "nope"}}},
		"duplicate listener":     {Listeners: []Listener{{Name: "A", Address: ":1"}, {Name: "A", Address: ":2"}}},
		"bad advertised port":    {Listeners: []Listener{{Address: ":1", Advertised: "h:99999"}}},
		"tiny request max":       {SocketRequestMaxBytes: 10},
		"negative session slots": {FetchSessionCacheSlots: -1},
	} {
		if err := cfg.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	var c Config
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.NodeID != 1 || c.Listeners[0].Address != "localhost:9092" || c.Listeners[0].Name != "PLAINTEXT" ||
		c.SocketRequestMaxBytes != 100<<20 || c.FetchSessionCacheSlots != 1000 {
		t.Fatalf("defaults %+v", c)
	}
}

// Metrics are registered on the Registerer and count requests and bytes.
func TestCoreMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	cb := coreStart(t, "", func(c *Config) { c.Registerer = reg })
	cb.topic("m", 2, nil)
	cb.raw().do(produceReq(9, -1, "m", 0, coreBatch(1, -1, -1, -1, coreRecs(2, "a")...)))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.Metric {
			key := mf.GetName()
			for _, l := range m.Label {
				key += "," + l.GetName() + "=" + l.GetValue()
			}
			switch {
			case m.Counter != nil:
				got[key] = m.Counter.GetValue()
			case m.Gauge != nil:
				got[key] = m.Gauge.GetValue()
			case m.Histogram != nil:
				got[key] = float64(m.Histogram.GetSampleCount())
			}
		}
	}
	if got["gregor_requests_total,api=Produce,result=ok"] != 1 || got["gregor_request_duration_seconds,api=Produce"] != 1 {
		t.Fatalf("produce counters: %v", got)
	}
	if got["gregor_partitions"] != 2 || got["gregor_log_size_bytes"] <= 0 || got["gregor_network_bytes_in_total"] <= 0 || got["gregor_network_bytes_out_total"] <= 0 {
		t.Fatalf("gauges: %v", got)
	}
	// A restarted broker registers again on the same registry.
	cb.restart()
	if _, err := reg.Gather(); err != nil {
		t.Fatal(err)
	}
	_ = time.Second
}

// Shutdown leaves no goroutine of the broker behind, even with a parked
// fetch and open connections.
func TestCoreShutdownLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	cb := coreStart(t, "", nil)
	tp := cb.topic("gone", 2, nil)
	rc := cb.raw()
	req := fetchReq(12, "gone", tp.ID, 0, 0)
	req.MinBytes, req.MaxWaitMillis = 1, 10*60*1000
	rc.send(req)
	cb.raw().do(produceReq(9, -1, "gone", 1, coreBatch(1, -1, -1, -1, coreRecs(1, "x")...)))
	cb.stop()
	rc.c.Close()
	deadline := time.Now().Add(20 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines before, %d after shutdown:\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}
