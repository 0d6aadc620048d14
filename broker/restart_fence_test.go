package broker

import (
	"testing"
	"time"

	"github.com/gregor-broker/gregor/nameserver"
)

// A member that starts as a slave hides everything it cannot know is
// committed until its master's first frame: its commit limit is not
// durable, and its log may hold records the master never committed (or,
// for a restarted old master, a tail nobody else has).
func TestSlaveStartsFenced(t *testing.T) {
	ns := nameserver.NewLocal()
	member := func(id int64) *coreBroker {
		return coreStart(t, "", func(c *Config) {
			c.NodeID = int32(id + 1)
			c.Cluster = ClusterConfig{Name: "test", BrokerName: "g", BrokerID: id, Client: ns,
				RegisterInterval: 50 * time.Millisecond, RouteRefreshInterval: 50 * time.Millisecond}
			c.Replication = ReplicationConfig{Listener: "127.0.0.1:0", Mode: ReplicationAsync, LagTimeMax: 2 * time.Second}
		})
	}
	m, s := member(0), member(1)
	m.topic("t", 1, nil)
	for range 5 {
		if sp := produceCode(t, m, 1, time.Second); sp.ErrorCode != 0 {
			t.Fatalf("produce: %d", sp.ErrorCode)
		}
	}
	hw := func(cb *coreBroker) int64 {
		tp, ok := cb.b.topics.Get("t")
		if !ok {
			return -1
		}
		p := cb.b.store.Partition(tp.ID, 0)
		if p == nil {
			return -1
		}
		return p.HighWatermark()
	}
	waitCond(t, "the slave sees the 5 records", func() bool { return hw(s) == 5 })
	m.stop()
	s.restart()
	if !s.b.isMaster() && hw(s) != 0 {
		t.Fatalf("restarted slave with its master down: high watermark %d, want 0 until the master's first frame", hw(s))
	}
	if s.b.isMaster() {
		t.Fatal("the slave became master")
	}
	m.start()
	waitCond(t, "the slave's high watermark back at 5", func() bool { return hw(s) == 5 })
}
