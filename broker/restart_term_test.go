package broker

import (
	"testing"
	"time"

	"github.com/gregor-broker/gregor/nameserver"
)

// A member that restarts as master begins a new term (Kafka bumps the
// leader epoch at every election), so a slave holding a tail the master
// lost truncates it by terms. A fresh group's member 0 begins term 0.
// Without leases the epoch is the last one + 1; under leases it comes
// from the NameServers (TakeOver), and no write is taken before it.
func TestRestartedMasterBeginsNewTerm(t *testing.T) {
	lastEpoch := func(cb *coreBroker) int32 {
		tm, ok := cb.b.lastTerm()
		if !ok {
			t.Fatal("no term")
		}
		if tm.Master != cb.b.memberID() {
			t.Fatalf("last term %+v is not this member's", tm)
		}
		return tm.Epoch
	}
	t.Run("without leases", func(t *testing.T) {
		ns := nameserver.NewLocal()
		cb := coreStart(t, "", func(c *Config) {
			c.Cluster = ClusterConfig{Name: "test", BrokerName: "g", BrokerID: 0, Client: ns,
				RegisterInterval: 50 * time.Millisecond, RouteRefreshInterval: 50 * time.Millisecond}
			c.Replication = ReplicationConfig{Listener: "127.0.0.1:0", Mode: ReplicationSync, LagTimeMax: 2 * time.Second}
		})
		cb.topic("rt", 1, nil)
		produce := func() int16 {
			return producePart(cb.raw().do(produceReq(9, -1, "rt", 0, coreBatch(time.Now().UnixMilli(), -1, -1, -1, coreRecs(1, "x")...)))).ErrorCode
		}
		if e := lastEpoch(cb); e != 0 || !cb.b.isMaster() {
			t.Fatalf("fresh group: epoch %d, master %v", e, cb.b.isMaster())
		}
		for want := int32(1); want <= 2; want++ {
			if code := produce(); code != 0 {
				t.Fatalf("produce in epoch %d: %d", want-1, code)
			}
			cb.restart()
			if e := lastEpoch(cb); e != want || !cb.b.isMaster() || cb.b.epoch.Load() != want {
				t.Fatalf("after restart %d: last term epoch %d (want %d), master %v, epoch %d", want, e, want, cb.b.isMaster(), cb.b.epoch.Load())
			}
		}
		if code := produce(); code != 0 {
			t.Fatalf("produce after the restarts: %d", code)
		}
	})
	t.Run("under leases", func(t *testing.T) {
		g := startLeaseGroup(t, 1, 200*time.Millisecond)
		cb := g.members[0]
		waitCond(t, "master with the lease", func() bool { return g.master() == cb })
		if e := lastEpoch(cb); e != 0 {
			t.Fatalf("fresh group: epoch %d", e)
		}
		cb.topic("fo", 1, nil)
		if code := g.produce(cb, 1, "a"); code != 0 {
			t.Fatalf("produce: %d", code)
		}
		cb.restart()
		waitCond(t, "master of a new term", func() bool {
			tm, ok := cb.b.lastTerm()
			return ok && tm.Epoch == 1 && g.master() == cb
		})
		if code := g.produce(cb, 1, "b"); code != 0 {
			t.Fatalf("produce in the new term: %d", code)
		}
	})
}
