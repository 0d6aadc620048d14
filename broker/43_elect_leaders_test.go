package broker

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/nameserver"
	"github.com/gregor-broker/gregor/nameserver/lease"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// startElectGroup starts a broker group of n members on a shared
// in-process registry, each with its HTTP admin port (promotions travel
// there), in sync mode; with leases (d > 0) each member reaches 3
// in-process lease tables, else the group changes term only by hand.
func startElectGroup(t *testing.T, n int, d time.Duration, mods ...func(i int, c *Config)) []*coreBroker {
	ns := nameserver.NewLocal()
	var tables []*nameserver.Leases
	if d > 0 {
		for range 3 {
			tables = append(tables, nameserver.NewLeases(d, nil))
		}
	}
	var out []*coreBroker
	for i := range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var gs []lease.Granter
		for _, l := range tables {
			gs = append(gs, l)
		}
		cb := coreStart(t, "", func(c *Config) {
			c.NodeID = int32(i + 1)
			c.Cluster = ClusterConfig{Name: "test", BrokerName: "g", BrokerID: int64(i), Client: ns,
				RegisterInterval: 50 * time.Millisecond, RouteRefreshInterval: 50 * time.Millisecond,
				LeaseGranters: gs, LeaseInterval: d / 8, HTTPAddr: ln.Addr().String()}
			c.Replication = ReplicationConfig{Listener: "127.0.0.1:0", Mode: ReplicationSync, LagTimeMax: 2 * time.Second}
			c.Store.SegmentBytes = 4 << 20 // not 1 GiB preallocated per member (twice)
			for _, mod := range mods {
				mod(i, c)
			}
		})
		srv := &http.Server{Handler: cb.b.AdminHandler()}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
		out = append(out, cb)
	}
	return out
}

// electMaster returns the member that is master (with a valid lease under
// leases), nil when none is.
func electMaster(g []*coreBroker) *coreBroker {
	for _, cb := range g {
		if cb.b != nil && cb.b.isMaster() && cb.b.leaseValid() {
			return cb
		}
	}
	return nil
}

// leaderOf asks addr's Metadata for topic's partition 0: leader node and
// replicas.
func leaderOf(t *testing.T, addr, topic string) (int32, []int32) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := cl.SeedBrokers()[0].Request(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	p := resp.(*kmsg.MetadataResponse).Topics[0].Partitions[0]
	return p.Leader, p.Replicas
}

// electResult is one partition's answer as kadm gives it.
func electResult(t *testing.T, rs kadm.ElectLeadersResults, topic string, p int32) error {
	t.Helper()
	r, ok := rs[topic][p]
	if !ok {
		t.Fatalf("no result for %s-%d in %+v", topic, p, rs)
	}
	return r.Err
}

// ElectLeaders through kadm on a group of master + 2 slaves under leases:
// PREFERRED (member 0, the first replica) and UNCLEAN are not needed while
// member 0 leads; after a hand-over to member 1 the first replica is still
// member 0's node, and a PREFERRED election for all partitions hands
// mastership back with nothing acknowledged lost, the answering broker's
// Metadata naming the new leader at once; with member 0 down, PREFERRED is
// not available. Unknown partitions and election types get Kafka's codes.
func TestElectLeadersPreferred(t *testing.T) {
	g := startElectGroup(t, 3, 2*time.Second)
	waitCond(t, "member 0 master with both slaves in sync", func() bool {
		return electMaster(g) == g[0] && len(g[0].b.inSyncMembers()) == 3
	})
	g[0].topic("el", 2, nil)
	waitCond(t, "the topic on the slaves", func() bool {
		for _, cb := range g {
			if _, ok := cb.b.topics.Get("el"); !ok {
				return false
			}
		}
		return true
	})
	produce := func(cb *coreBroker, p int32, prefix string) int16 {
		return producePart(cb.raw().do(produceReq(9, -1, "el", p, coreBatch(time.Now().UnixMilli(), -1, -1, -1, coreRecs(5, prefix)...)))).ErrorCode
	}
	if code := produce(g[0], 0, "one"); code != 0 {
		t.Fatalf("produce: %v", kerr.ErrorForCode(code))
	}

	// The admin client talks to member 2 only (a slave): any broker answers.
	adm := kadm.NewClient(g[2].client())
	ctx := context.Background()
	el0 := kadm.TopicsSet{"el": {0: {}}}
	for _, how := range []kadm.ElectLeadersHow{kadm.ElectPreferredReplica, kadm.ElectLiveReplica} {
		rs, err := adm.ElectLeaders(ctx, how, el0)
		if err != nil {
			t.Fatal(err)
		}
		if err := electResult(t, rs, "el", 0); err != kerr.ElectionNotNeeded {
			t.Fatalf("election %d while member 0 leads: %v", how, err)
		}
	}
	rs, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs["el"]) != 0 {
		t.Fatalf("all partitions, none needing an election: %+v", rs)
	}
	rs, err = adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, kadm.TopicsSet{"el": {7: {}}, "nope": {0: {}}})
	if err != nil {
		t.Fatal(err)
	}
	if electResult(t, rs, "el", 7) != kerr.UnknownTopicOrPartition || electResult(t, rs, "nope", 0) != kerr.UnknownTopicOrPartition {
		t.Fatalf("unknown partitions: %+v", rs)
	}
	req := kmsg.NewPtrElectLeadersRequest()
	req.ElectionType = 5
	req.Topics = []kmsg.ElectLeadersRequestTopic{{Topic: "el", Partitions: []int32{0}}}
	kr, err := req.RequestWith(ctx, g[2].client())
	if err != nil {
		t.Fatal(err)
	}
	if kr.ErrorCode != kerr.InvalidRequest.Code || kr.Topics[0].Partitions[0].ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("election type 5: %+v", kr)
	}

	// Hand mastership to member 1 (through member 2's HTTP port, which
	// forwards it), as `gregor cluster promote --member 1` does.
	resp, err := http.Post(fmt.Sprintf("http://%s/cluster/promote?member=1", g[2].b.cfg.Cluster.HTTPAddr), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("promote member 1: %s %s", resp.Status, body)
	}
	waitCond(t, "member 1 master", func() bool { return electMaster(g) == g[1] })
	if code := produce(g[1], 1, "two"); code != 0 {
		t.Fatalf("produce on member 1: %v", kerr.ErrorForCode(code))
	}
	// Member 2 answers the election and member 0 checks it is in sync,
	// each from its own routes.
	waitCond(t, "members 0's and 2's routes naming member 1 master, member 0 in sync", func() bool {
		for _, cb := range []*coreBroker{g[0], g[2]} {
			m := cb.b.cl().currentView().masters["g"]
			if m == nil || m.BrokerID != 1 || len(m.InSync) != 3 {
				return false
			}
		}
		return true
	})
	if leader, replicas := leaderOf(t, g[2].addr, "el"); leader != 2 || len(replicas) != 3 || replicas[0] != 1 {
		t.Fatalf("after the hand-over: leader %d replicas %v, want leader 2, first replica 1 (member 0)", leader, replicas)
	}

	// PREFERRED for all partitions moves the group back to member 0.
	rs, err = adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs["el"]) != 2 || electResult(t, rs, "el", 0) != nil || electResult(t, rs, "el", 1) != nil {
		t.Fatalf("preferred election: %+v", rs)
	}
	if leader, _ := leaderOf(t, g[2].addr, "el"); leader != 1 {
		t.Fatalf("the answering broker's Metadata after the election: leader %d, want 1 (member 0)", leader)
	}
	waitCond(t, "member 0 master", func() bool { return electMaster(g) == g[0] })
	waitCond(t, "writes on member 0", func() bool { return produce(g[0], 0, "three") == 0 })
	id := mustTopic(t, g[0], "el").ID
	for p, want := range map[int32]int64{0: 10, 1: 5} {
		part := g[0].b.store.Partition(id, p)
		waitCond(t, "the high watermark", func() bool { return part.HighWatermark() >= want })
		if hw := part.HighWatermark(); hw != want {
			t.Fatalf("partition %d holds %d records on member 0, want %d", p, hw, want)
		}
	}

	// Member 0 gone: a slave takes over; PREFERRED is not available.
	g[0].stop()
	waitCond(t, "a take-over", func() bool { m := electMaster(g); return m != nil && m != g[0] })
	waitCond(t, "member 2's routes without member 0", func() bool {
		v := g[2].b.cl().currentView()
		if v.masters["g"] == nil {
			return false
		}
		for _, m := range v.members["g"] {
			if m.BrokerID == 0 {
				return false
			}
		}
		return true
	})
	rs, err = adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, el0)
	if err != nil {
		t.Fatal(err)
	}
	if err := electResult(t, rs, "el", 0); err != kerr.PreferredLeaderNotAvailable || !strings.Contains(rs["el"][0].ErrMessage, "not live") {
		t.Fatalf("preferred election with member 0 down: %v %q", err, rs["el"][0].ErrMessage)
	}
}

// UNCLEAN election for a group without a master (no leases: fewer than 3
// NameServers, so nobody takes over by itself): the live member whose
// log reaches furthest becomes master; PREFERRED is not available while
// the group has no master.
func TestElectLeadersUnclean(t *testing.T) {
	g := startElectGroup(t, 3, 0)
	waitCond(t, "member 0 master with both slaves in sync", func() bool {
		return electMaster(g) == g[0] && len(g[0].b.inSyncMembers()) == 3
	})
	g[0].topic("un", 1, nil)
	waitCond(t, "the topic on the slaves", func() bool {
		for _, cb := range g {
			if _, ok := cb.b.topics.Get("un"); !ok {
				return false
			}
		}
		return true
	})
	if code := producePart(g[0].raw().do(produceReq(9, -1, "un", 0, coreBatch(time.Now().UnixMilli(), -1, -1, -1, coreRecs(5, "x")...)))).ErrorCode; code != 0 {
		t.Fatalf("produce: %v", kerr.ErrorForCode(code))
	}
	waitCond(t, "the slaves caught up", func() bool {
		return g[1].b.store.EndPosition() == g[0].b.store.EndPosition() && g[2].b.store.EndPosition() == g[0].b.store.EndPosition()
	})
	g[0].stop()
	waitCond(t, "member 1's routes without a master", func() bool { return g[1].b.cl().currentView().masters["g"] == nil })

	adm := kadm.NewClient(g[1].client())
	ctx := context.Background()
	un0 := kadm.TopicsSet{"un": {0: {}}}
	rs, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, un0)
	if err != nil {
		t.Fatal(err)
	}
	if err := electResult(t, rs, "un", 0); err != kerr.PreferredLeaderNotAvailable {
		t.Fatalf("preferred election without a master: %v", err)
	}
	rs, err = adm.ElectLeaders(ctx, kadm.ElectLiveReplica, un0)
	if err != nil {
		t.Fatal(err)
	}
	if err := electResult(t, rs, "un", 0); err != nil {
		t.Fatalf("unclean election: %v (%s)", err, rs["un"][0].ErrMessage)
	}
	m := electMaster(g)
	if m == nil || m == g[0] {
		t.Fatal("no new master after the unclean election")
	}
	if hw := m.b.store.Partition(mustTopic(t, m, "un").ID, 0).HighWatermark(); hw < 5 {
		t.Fatalf("new master holds %d records, want 5", hw)
	}
	rs, err = adm.ElectLeaders(ctx, kadm.ElectLiveReplica, un0)
	if err != nil {
		t.Fatal(err)
	}
	if err := electResult(t, rs, "un", 0); err != kerr.ElectionNotNeeded {
		t.Fatalf("unclean election with a master: %v", err)
	}
}

// A hand-over (here ElectLeaders PREFERRED) waits until the member it
// promotes holds the master's whole log: in async mode, with member 0's
// replication throttled to 8 kB/s, a 40 kB burst acknowledged by the
// master (acks=1) a moment before the election is on member 0 when it
// becomes master, not lost with the old master's tail. (Without promote's
// catch-up wait member 0 begins its term a few kB short, and the old
// master truncates the rest when it follows.)
func TestElectLeadersWaitsForCatchUp(t *testing.T) {
	g := startElectGroup(t, 3, 0, func(i int, c *Config) {
		c.Replication.Mode = ReplicationAsync
		if i == 0 {
			c.Replication.FollowerThrottle = 8000
		}
	})
	waitCond(t, "member 0 master with both slaves in sync", func() bool {
		return electMaster(g) == g[0] && len(g[0].b.inSyncMembers()) == 3
	})
	g[0].topic("cu", 1, nil)
	waitCond(t, "the topic on the slaves", func() bool {
		for _, cb := range g {
			if _, ok := cb.b.topics.Get("cu"); !ok {
				return false
			}
		}
		return true
	})
	if _, err := g[1].b.promote(context.Background(), false); err != nil {
		t.Fatalf("promote member 1: %v", err)
	}
	waitCond(t, "member 1 master, member 0 in sync in every member's routes", func() bool {
		if electMaster(g) != g[1] || len(g[1].b.inSyncMembers()) != 3 {
			return false
		}
		for _, cb := range g {
			m := cb.b.cl().currentView().masters["g"]
			if m == nil || m.BrokerID != 1 || len(m.InSync) != 3 {
				return false
			}
		}
		return true
	})
	const n = 40
	if code := producePart(g[1].raw().do(produceReq(9, 1, "cu", 0, coreBatch(time.Now().UnixMilli(), -1, -1, -1, coreRecs(n, strings.Repeat("x", 1000))...)))).ErrorCode; code != 0 {
		t.Fatalf("produce: %v", kerr.ErrorForCode(code))
	}
	if behind := g[1].b.store.EndPosition() - g[0].b.store.EndPosition(); behind < 8000 {
		t.Fatalf("member 0 only %d bytes behind: the throttle does not hold it back", behind)
	}
	rs, err := kadm.NewClient(g[2].client()).ElectLeaders(context.Background(), kadm.ElectPreferredReplica, kadm.TopicsSet{"cu": {0: {}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := electResult(t, rs, "cu", 0); err != nil {
		t.Fatalf("preferred election: %v (%s)", err, rs["cu"][0].ErrMessage)
	}
	waitCond(t, "member 0 master", func() bool { return electMaster(g) == g[0] })
	part := g[0].b.store.Partition(mustTopic(t, g[0], "cu").ID, 0)
	waitCond(t, "member 0's high watermark", func() bool { return part.HighWatermark() >= n })
	waitCond(t, "member 1 following member 0", func() bool { return !g[1].b.isMaster() && g[1].b.leaderEpoch() == g[0].b.leaderEpoch() })
	if code := producePart(g[0].raw().do(produceReq(9, 1, "cu", 0, coreBatch(time.Now().UnixMilli(), -1, -1, -1, coreRecs(1, "after")...)))).ErrorCode; code != 0 {
		t.Fatalf("produce on member 0: %v", kerr.ErrorForCode(code))
	}
	waitCond(t, "member 0's high watermark after one more", func() bool { return part.HighWatermark() >= n+1 })
	if hw := part.HighWatermark(); hw != n+1 {
		t.Fatalf("member 0 holds %d records, want %d", hw, n+1)
	}
}
