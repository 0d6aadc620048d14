package broker

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/nameserver"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// hidingNameServers hides the cluster ids other brokers register while
// hide is set, as NameServers out of reach at a group's first start would.
type hidingNameServers struct {
	*nameserver.Local
	hide atomic.Bool
}

func (h *hidingNameServers) Routes(ctx context.Context) (nameserver.Routes, error) {
	r, err := h.Local.Routes(ctx)
	if err != nil || !h.hide.Load() {
		return r, err
	}
	out := r
	out.Brokers = make([]nameserver.Broker, len(r.Brokers))
	for i, br := range r.Brokers {
		br.ClusterID, br.ClusterIDSince = "", 0
		out.Brokers[i] = br
	}
	return out, nil
}

// reportedClusterIDs asks one broker for the cluster id through Metadata
// and DescribeCluster.
func reportedClusterIDs(t *testing.T, addr string) (metadata, describe string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	md, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
	if err != nil || md.ClusterID == nil {
		t.Fatalf("Metadata from %s: %v", addr, err)
	}
	dc, err := kmsg.NewPtrDescribeClusterRequest().RequestWith(ctx, cl)
	if err != nil || dc.ErrorCode != 0 {
		t.Fatalf("DescribeCluster from %s: %v %+v", addr, err, dc)
	}
	return *md.ClusterID, dc.ClusterID
}

// TestClusterIDOneForAllGroups: broker groups of one cluster without
// cluster.id answer Metadata and DescribeCluster with one cluster id: two
// groups that each made their own (their NameServers showed no other)
// converge on the older one, durably (a restart keeps it); a group that
// joins later takes it at its first start; a configured cluster.id is kept.
func TestClusterIDOneForAllGroups(t *testing.T) {
	ns := &hidingNameServers{Local: nameserver.NewLocal()}
	ns.hide.Store(true)
	start := func(i int, dir string, configured string) *coreBroker {
		return coreStart(t, dir, func(c *Config) {
			c.NodeID = int32(i + 1)
			c.ClusterID = configured
			c.Cluster = ClusterConfig{
				Name:                 "test",
				BrokerName:           fmt.Sprintf("broker-%c", 'a'+i),
				Client:               ns,
				RegisterInterval:     50 * time.Millisecond,
				RouteRefreshInterval: 50 * time.Millisecond,
			}
		})
	}
	a := start(0, "", "")
	b := start(1, "", "")
	idA, _ := reportedClusterIDs(t, a.addr)
	idB, _ := reportedClusterIDs(t, b.addr)
	if idA == idB {
		t.Fatalf("both groups made %s while hidden from each other; the test needs two ids", idA)
	}
	// The older: a's, unless both were made in the same millisecond and
	// b's text sorts first.
	want := clusterIDOf{idA, a.b.clusterIDSince()}
	if ob := (clusterIDOf{idB, b.b.clusterIDSince()}); ob.older(want) {
		want = ob
	}
	oldest := want.id

	// The NameServers show every id now: both report the older.
	ns.hide.Store(false)
	converged := func(want string, bs ...*coreBroker) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			same := true
			var got []string
			for _, cb := range bs {
				m, d := reportedClusterIDs(t, cb.addr)
				got = append(got, m, d)
				same = same && m == want && d == want
			}
			if same {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("cluster ids (Metadata, DescribeCluster per group) %v, want all %s", got, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	converged(oldest, a, b)

	// Durable: b restarted with the NameServers hiding the others keeps it.
	ns.hide.Store(true)
	b.stop()
	b.start()
	if m, _ := reportedClusterIDs(t, b.addr); m != oldest {
		t.Fatalf("after a restart b reports %s, want %s", m, oldest)
	}

	// A group joining later takes the cluster's id at its first start.
	ns.hide.Store(false)
	c := start(2, "", "")
	if m, d := reportedClusterIDs(t, c.addr); m != oldest || d != oldest {
		t.Fatalf("a joining group reports %s/%s, want %s", m, d, oldest)
	}

	// A configured cluster.id is never replaced, and it is the oldest
	// (since 0): a cluster where one group configures it takes it.
	d := start(3, "", "configured-id")
	converged("configured-id", a, b, c, d)
}
