package broker

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/nameserver"
	"github.com/gregor-broker/gregor/nameserver/lease"
	"github.com/twmb/franz-go/pkg/kerr"
)

// cuttable is an in-process lease table a test can cut the broker off from.
type cuttable struct {
	l   *nameserver.Leases
	cut *atomic.Bool
}

func (c cuttable) Lease(ctx context.Context, req nameserver.LeaseRequest) (nameserver.LeaseResponse, error) {
	if c.cut.Load() {
		return nameserver.LeaseResponse{}, errors.New("cut off")
	}
	return c.l.Lease(ctx, req)
}

// waitCond polls cond until it holds, failing the test after 10 s.
func waitCond(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A master acknowledges writes only while it holds the lease: before the
// first grant and after it is cut off from the NameServers, Produce gets
// NOT_LEADER_OR_FOLLOWER and the broker steps down; once it may renew
// again (no slave took over) it is master of its term again.
func TestProduceNeedsLease(t *testing.T) {
	const d = 200 * time.Millisecond
	cut := &atomic.Bool{}
	cut.Store(true)
	var gs []lease.Granter
	for range 3 {
		gs = append(gs, cuttable{nameserver.NewLeases(d, nil), cut})
	}
	cb := coreStart(t, "", func(c *Config) {
		c.Cluster = ClusterConfig{Name: "test", BrokerName: "g", Client: nameserver.NewLocal(),
			LeaseGranters: gs, LeaseInterval: d / 8}
	})
	cb.topic("leased", 1, nil)
	produce := func() int16 {
		return producePart(cb.raw().do(produceReq(9, -1, "leased", 0, coreBatch(time.Now().UnixMilli(), -1, -1, -1, coreRecs(1, "x")...)))).ErrorCode
	}
	if code := produce(); code != kerr.NotLeaderForPartition.Code {
		t.Fatalf("produce without a lease: %v", kerr.ErrorForCode(code))
	}
	if st := cb.b.status().Lease; st == nil || st.Valid {
		t.Fatalf("status without a lease: %+v", st)
	}
	cut.Store(false)
	waitCond(t, "the lease", cb.b.leaseValid)
	if st := cb.b.status().Lease; st == nil || !st.Valid || st.Until == "" || !strings.Contains(st.State, "renewed epoch 0") {
		t.Fatalf("status with the lease: %+v", st)
	}
	if code := produce(); code != 0 {
		t.Fatalf("produce with the lease: %v", kerr.ErrorForCode(code))
	}
	cut.Store(true)
	waitCond(t, "the step-down", func() bool { return cb.b.roleName() == "stepping-down" })
	if cb.b.leaseValid() {
		t.Fatal("stepped down with a valid lease")
	}
	if code := produce(); code != kerr.NotLeaderForPartition.Code {
		t.Fatalf("produce after the lease ran out: %v", kerr.ErrorForCode(code))
	}
	cut.Store(false)
	waitCond(t, "master again", func() bool { return cb.b.isMaster() && cb.b.leaseValid() })
	if code := produce(); code != 0 {
		t.Fatalf("produce with the lease regained: %v", kerr.ErrorForCode(code))
	}
}

// leaseGroup is one broker group of n members on a shared in-process
// registry, each reaching 3 in-process lease tables through its own cut.
type leaseGroup struct {
	t       *testing.T
	members []*coreBroker
	cuts    []*atomic.Bool
}

func startLeaseGroup(t *testing.T, n int, d time.Duration) *leaseGroup {
	ns := nameserver.NewLocal()
	var tables []*nameserver.Leases
	for range 3 {
		tables = append(tables, nameserver.NewLeases(d, nil))
	}
	g := &leaseGroup{t: t}
	for i := range n {
		cut := &atomic.Bool{}
		var gs []lease.Granter
		for _, l := range tables {
			gs = append(gs, cuttable{l, cut})
		}
		g.cuts = append(g.cuts, cut)
		g.members = append(g.members, coreStart(t, "", func(c *Config) {
			c.NodeID = int32(i + 1)
			c.Cluster = ClusterConfig{Name: "test", BrokerName: "g", BrokerID: int64(i), Client: ns,
				RegisterInterval: 50 * time.Millisecond, RouteRefreshInterval: 50 * time.Millisecond,
				LeaseGranters: gs, LeaseInterval: d / 8}
			c.Replication = ReplicationConfig{Listener: "127.0.0.1:0", Mode: ReplicationSync, LagTimeMax: 2 * time.Second}
		}))
	}
	return g
}

// master returns the member that is master with a valid lease, checking
// that there is at most one.
func (g *leaseGroup) master() *coreBroker {
	var m *coreBroker
	for _, cb := range g.members {
		if cb.b != nil && cb.b.isMaster() && cb.b.leaseValid() {
			if m != nil {
				g.t.Fatalf("members %d and %d both master with a valid lease", m.b.memberID(), cb.b.memberID())
			}
			m = cb
		}
	}
	return m
}

func (g *leaseGroup) produce(cb *coreBroker, n int, prefix string) int16 {
	return producePart(cb.raw().do(produceReq(9, -1, "fo", 0, coreBatch(time.Now().UnixMilli(), -1, -1, -1, coreRecs(n, prefix)...)))).ErrorCode
}

// A master cut off from the NameServers (still reachable by clients and
// its slaves) steps down; an in-sync slave takes over with epoch 1 and
// holds everything acknowledged before; the other slave follows it;
// healed, the old master rejoins as a slave of the new term. Then the new
// master shuts down: the lease is released and the next takes over.
func TestFailoverInProcess(t *testing.T) {
	// 1 s: a loaded machine can starve a renewal for a few hundred ms,
	// and a lapse before the cut would fail over early.
	const d = time.Second
	g := startLeaseGroup(t, 3, d)
	var old *coreBroker // member 0, unless its first lease lapsed under load
	waitCond(t, "a master with both slaves in sync", func() bool {
		old = g.master()
		return old != nil && len(old.b.inSyncMembers()) == 3
	})
	old.topic("fo", 1, nil)
	waitCond(t, "the topic on the slaves", func() bool {
		for _, cb := range g.members {
			if _, ok := cb.b.topics.Get("fo"); !ok {
				return false
			}
		}
		return true
	})
	if code := g.produce(old, 5, "before"); code != 0 {
		t.Fatalf("produce before: %v", kerr.ErrorForCode(code))
	}

	oldIdx := 0
	for i, cb := range g.members {
		if cb == old {
			oldIdx = i
		}
	}
	g.cuts[oldIdx].Store(true)
	var next *coreBroker
	waitCond(t, "a slave to take over", func() bool {
		next = g.master()
		return next != nil && next != old
	})
	// Epoch 1 unless a candidate took the lease from a minority first
	// and released it (under load the turns, a round apart, overlap):
	// that epoch is spent, the next attempt takes a later one.
	firstEpoch := next.b.leaderEpoch()
	if firstEpoch < 1 {
		t.Fatalf("new master's epoch %d, want a new term (>= 1)", firstEpoch)
	}
	if old.b.isMaster() {
		t.Fatal("old master still master")
	}
	if code := g.produce(old, 1, "stale"); code != kerr.NotLeaderForPartition.Code {
		t.Fatalf("produce to the old master: %v", kerr.ErrorForCode(code))
	}
	var other *coreBroker
	for _, cb := range g.members {
		if cb != next && cb != old {
			other = cb
		}
	}
	waitCond(t, "the new master to accept writes (the other slave following it)", func() bool {
		g.master()
		return g.produce(next, 5, "after") == 0
	})
	np := next.b.store.Partition(mustTopic(t, next, "fo").ID, 0)
	for deadline := time.Now().Add(10 * time.Second); np.HighWatermark() < 10 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond) // the high watermark follows the ack
	}
	if end := np.HighWatermark(); end < 10 {
		t.Fatalf("new master holds %d records, want at least 10", end)
	}

	g.cuts[oldIdx].Store(false)
	waitCond(t, "the old master to rejoin as a slave of epoch 1", func() bool {
		g.master()
		return !old.b.isMaster() && old.b.leaderEpoch() == firstEpoch
	})

	// A clean shutdown releases the lease: a slave takes over at once.
	next.stop()
	var last *coreBroker
	waitCond(t, "a take-over after the master's shutdown", func() bool {
		last = g.master()
		return last != nil && (last == old || last == other)
	})
	if e := last.b.leaderEpoch(); e <= firstEpoch {
		t.Fatalf("epoch after the second fail-over %d, want more than %d", e, firstEpoch)
	}
	// Nothing acknowledged is lost: the 5 records before the first
	// fail-over, the 5 after it, and one more now.
	waitCond(t, "writes on the third master", func() bool { return g.produce(last, 1, "third") == 0 })
	// The acknowledgement can precede the high watermark's move by a
	// moment (the commit limit follows the acks asynchronously).
	p := last.b.store.Partition(mustTopic(t, last, "fo").ID, 0)
	deadline := time.Now().Add(10 * time.Second)
	for p.HighWatermark() < 11 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if hw := p.HighWatermark(); hw != 11 {
		t.Fatalf("third master holds %d records, want 11", hw)
	}
}

func mustTopic(t *testing.T, cb *coreBroker, name string) *Topic {
	t.Helper()
	tp, ok := cb.b.topics.Get(name)
	if !ok {
		t.Fatalf("no topic %s", name)
	}
	return tp
}

// unclean.leader.election.enable is the broker's: a topic may only keep
// the default false.
func TestUncleanElectionTopicLevelRefused(t *testing.T) {
	cb := coreStart(t, "", nil)
	if _, err := cb.b.topics.Create("u1", 1, map[string]string{"unclean.leader.election.enable": "true"}); err == nil {
		t.Fatal("topic-level unclean.leader.election.enable=true accepted")
	}
	if _, err := cb.b.topics.Create("u2", 1, map[string]string{"unclean.leader.election.enable": "false"}); err != nil {
		t.Fatalf("topic-level false: %v", err)
	}
}

// A manual promotion under leases: the master steps down and yields the
// lease (as POST /cluster/step-down does), the chosen slave takes it for
// the next epoch and begins the term at once — not a lease later — and
// the old master follows it.
func TestPromoteUnderLease(t *testing.T) {
	const d = 2 * time.Second // long: the hand-over must not wait for it
	g := startLeaseGroup(t, 3, d)
	old, next := g.members[0], g.members[1]
	waitCond(t, "member 0 master with both slaves in sync", func() bool {
		return g.master() == old && len(old.b.inSyncMembers()) == 3
	})
	old.topic("fo", 1, nil)
	waitCond(t, "the topic on the slaves", func() bool {
		_, ok := next.b.topics.Get("fo")
		return ok
	})
	if code := g.produce(old, 5, "before"); code != 0 {
		t.Fatalf("produce before: %v", kerr.ErrorForCode(code))
	}
	waitCond(t, "the slave caught up", func() bool { return next.b.store.EndPosition() == old.b.store.EndPosition() })
	if _, err := old.b.stepDown(); err != nil {
		t.Fatal(err)
	}
	old.b.yieldLease()
	// TakeOver does not wait: it fails while the old lease is held, so
	// success shows the lease was yielded.
	tm, err := next.b.promote(context.Background(), true)
	if err != nil {
		t.Fatalf("promote: %v", err)
	}
	if tm.Epoch != 1 || !next.b.isMaster() || !next.b.leaseValid() {
		t.Fatalf("promoted to %+v: master %v, lease %v", tm, next.b.isMaster(), next.b.leaseValid())
	}
	waitCond(t, "writes on the promoted master", func() bool { return g.produce(next, 1, "after") == 0 })
	waitCond(t, "the old master following", func() bool {
		g.master()
		return !old.b.isMaster() && old.b.leaderEpoch() == 1
	})
}
