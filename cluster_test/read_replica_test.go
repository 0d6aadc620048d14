package cluster_test

// Read from slave (KIP-392): the master names the slave as preferred read
// replica for a consumer in the slave's rack, and for one reading far
// behind the end; a franz-go consumer in that rack reads everything (from
// the slave), and the slave's Fetch counter shows it served it.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestReadFromSlave(t *testing.T) {
	g := startReplGroup(t, 70, 2)
	m, s := g.members[0], g.members[1]
	m.args = append(m.args, "--broker.rack", "r1", "--replica.read.far.behind.bytes", "100")
	s.args = append(s.args, "--broker.rack", "r2")
	m.start()
	g.waitRole(0, "master", 0)
	s.start()
	const tp = "rack"
	if code, msg := createTopic(t, m.addr, tp, 1, -1, nil); code != 0 {
		t.Fatalf("create: %v %s", kerr.ErrorForCode(code), msg)
	}
	g.waitISR(m.addr, tp, 1, 2)
	produceN(t, g.addrs(0), tp, 1, 0, 200)
	g.waitIdentical(m.addr, s.addr, tp, 1, 200)
	id, err := topicIDOf(m.addr, tp)
	if err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		name   string
		rack   string
		offset int64
		want   int32
	}{
		{"rack of the slave", "r2", 199, 2},
		{"rack of the master", "r1", 199, -1},
		{"no rack, near the end", "", 199, -1},
		{"no rack, far behind", "", 0, 2},
	} {
		if got := preferredReplica(t, m.addr, tp, id, c.rack, c.offset); got != c.want {
			t.Errorf("%s: preferred read replica %d, want %d", c.name, got, c.want)
		}
	}

	before := fetchCount(t, s.http)
	cl, err := kgo.NewClient(kgo.SeedBrokers(m.addr), kgo.Rack("r2"),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{tp: {0: kgo.NewOffset().AtStart()}}))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	n := 0
	for n < 200 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of 200", n)
		}
		n += fs.NumRecords()
	}
	if after := fetchCount(t, s.http); after <= before {
		t.Fatalf("the slave served no Fetch (%v before, %v after)", before, after)
	}
}

// preferredReplica sends a Fetch v11+ for offset with rack to addr and
// returns the partition's preferred read replica.
func preferredReplica(t testing.TB, addr, topic string, id [16]byte, rack string, offset int64) int32 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID, req.MaxWaitMillis, req.MaxBytes, req.Rack = -1, 10, 1<<20, rack
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = topic, id
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch, rp.LastFetchedEpoch = offset, 1<<20, -1, -1
	rt.Partitions = []kmsg.FetchRequestTopicPartition{rp}
	req.Topics = []kmsg.FetchRequestTopic{rt}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := cl.SeedBrokers()[0].Request(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	sp := resp.(*kmsg.FetchResponse).Topics[0].Partitions[0]
	if sp.ErrorCode != 0 {
		t.Fatalf("fetch: %v", kerr.ErrorForCode(sp.ErrorCode))
	}
	if sp.PreferredReadReplica >= 0 && len(sp.RecordBatches) > 0 {
		t.Fatal("records returned with a preferred read replica")
	}
	return sp.PreferredReadReplica
}

var fetchOK = regexp.MustCompile(`gregor_requests_total\{api="Fetch",result="ok"\} (\d+)`)

// fetchCount reads the Fetch requests a broker served from its /metrics.
func fetchCount(t testing.TB, httpAddr string) float64 {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://%s/metrics", httpAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := fetchOK.FindSubmatch(b)
	if m == nil {
		return 0
	}
	n, _ := strconv.ParseFloat(string(m[1]), 64)
	return n
}

// metricValue reads one series (name with its labels, as /metrics prints
// it) from a broker's /metrics; ok false when absent.
func metricValue(t testing.TB, httpAddr, series string) (float64, bool) {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://%s/metrics", httpAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	re := regexp.MustCompile("(?m)^" + regexp.QuoteMeta(series) + " (\\S+)$")
	m := re.FindSubmatch(b)
	if m == nil {
		return 0, false
	}
	n, err := strconv.ParseFloat(string(m[1]), 64)
	return n, err == nil
}
