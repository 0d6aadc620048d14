package nameserver

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"
)

// idT is a topic id in the canonical text form registrations must use.
const idT = "3f1b2c3d-0000-4000-8000-000000000001"

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func reg(name string, id int64, node int32, topics ...TopicRoute) Registration {
	return Registration{
		Cluster: "c", BrokerName: name, BrokerID: id, NodeID: node,
		Endpoints:       []Endpoint{{Listener: "PLAINTEXT", Host: "127.0.0.1", Port: 9000 + node}},
		ReplicationAddr: "127.0.0.1:1091" + string(rune('0'+node)),
		Topics:          topics,
	}
}

func TestRegistryRoutesAndExpiry(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	r := NewRegistry(clk.now)
	if _, err := r.Register(Registration{BrokerName: "x"}); !errors.Is(err, ErrInvalidRegistration) {
		t.Fatalf("registration without cluster: got %v", err)
	}
	a := reg("broker-a", 0, 1, TopicRoute{Name: "t", ID: idT, Partitions: 3, Owned: []int32{0, 2}})
	b := reg("broker-b", 0, 2, TopicRoute{Name: "t", ID: idT, Partitions: 3, Owned: []int32{1}})
	aSlave := reg("broker-a", 1, 3, TopicRoute{Name: "t", ID: idT, Partitions: 3, Owned: []int32{0, 2}})
	for _, x := range []Registration{a, b} {
		if _, err := r.Register(x); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := r.Register(aSlave)
	if err != nil {
		t.Fatal(err)
	}
	if resp.MasterNodeID != 1 || resp.MasterAddr != a.ReplicationAddr {
		t.Fatalf("slave told master %+v, want node 1 at %s", resp, a.ReplicationAddr)
	}

	routes := r.Routes()
	if got := len(routes.Brokers); got != 3 {
		t.Fatalf("brokers = %d, want 3", got)
	}
	if len(routes.Topics) != 1 || !reflect.DeepEqual(routes.Topics[0].Owners, map[int32]string{0: "broker-a", 1: "broker-b", 2: "broker-a"}) {
		t.Fatalf("topics = %+v", routes.Topics)
	}
	leader, members, ok := routes.Leader("t", 2)
	if !ok || leader == nil || leader.NodeID != 1 || len(members) != 2 || members[0].NodeID != 1 || members[1].NodeID != 3 {
		t.Fatalf("leader of t/2 = %v %v %v", leader, members, ok)
	}
	if _, _, ok := routes.Leader("t", 7); ok {
		t.Fatal("partition 7 does not exist but has an owner")
	}

	// broker-b and the slave keep heartbeating; broker-a's master falls silent.
	clk.add(100 * time.Second)
	r.Register(b)
	r.Register(aSlave)
	clk.add(30 * time.Second)
	if gone := r.Expire(120 * time.Second); !reflect.DeepEqual(gone, []string{"broker-a/0"}) {
		t.Fatalf("expired %v, want [broker-a/0]", gone)
	}
	routes = r.Routes()
	leader, members, ok = routes.Leader("t", 0)
	if !ok || leader != nil || len(members) != 1 {
		t.Fatalf("t/0 after master loss: leader %v members %v ok %v; want owned, no leader, slave alive", leader, members, ok)
	}
	if l, _, _ := routes.Leader("t", 1); l == nil || l.NodeID != 2 {
		t.Fatalf("t/1 must still be led by broker-b, got %v", l)
	}

	if !r.Unregister("broker-b", 0) || r.Unregister("broker-b", 0) {
		t.Fatal("unregister must report whether the broker was known")
	}
}

func startServer(t *testing.T, addr string) *Server {
	t.Helper()
	s, err := NewServer(Config{Listen: addr, ScanInterval: 20 * time.Millisecond, BrokerExpiry: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	return s
}

// Two NameServers, one killed and restarted: the client keeps working through
// the other, and the restarted one refills from the next heartbeat.
func TestClientSurvivesNameServerLoss(t *testing.T) {
	ctx := context.Background()
	ns1 := startServer(t, "127.0.0.1:0")
	ns2 := startServer(t, "127.0.0.1:0")
	addr2 := ns2.Addr().String()
	c := NewClient([]string{ns1.Addr().String(), addr2})

	a := reg("broker-a", 0, 1, TopicRoute{Name: "orders", ID: idT, Partitions: 2, Owned: []int32{0, 1}})
	if _, err := c.Register(ctx, a); err != nil {
		t.Fatal(err)
	}
	ns2.Shutdown(ctx)
	if _, err := c.Register(ctx, a); err == nil {
		t.Fatal("registration with one NameServer down must report it")
	}
	routes, err := c.Routes(ctx)
	if err != nil {
		t.Fatalf("routes with one NameServer down: %v", err)
	}
	if l, _, ok := routes.Leader("orders", 1); !ok || l == nil || l.NodeID != 1 {
		t.Fatalf("orders/1 leader = %v", l)
	}

	ns2 = startServer(t, addr2)
	if got := len(ns2.Registry().Routes().Brokers); got != 0 {
		t.Fatalf("a restarted NameServer starts empty, has %d brokers", got)
	}
	if _, err := c.Register(ctx, a); err != nil {
		t.Fatalf("registration after restart: %v", err)
	}
	if got := len(ns2.Registry().Routes().Brokers); got != 1 {
		t.Fatalf("restarted NameServer has %d brokers after one heartbeat, want 1", got)
	}

	// Silence: the scan drops the broker on both servers.
	deadline := time.Now().Add(5 * time.Second)
	for len(ns1.Registry().Routes().Brokers)+len(ns2.Registry().Routes().Brokers) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("silent broker never expired")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestMergeKeepsNewestHeartbeat(t *testing.T) {
	old := Broker{Registration: reg("broker-a", 0, 1), LastHeartbeat: time.Unix(10, 0)}
	nw := Broker{Registration: reg("broker-a", 0, 1, TopicRoute{Name: "t", ID: idT, Partitions: 1, Owned: []int32{0}}), LastHeartbeat: time.Unix(20, 0)}
	m := Merge(Routes{Brokers: []Broker{nw}}, Routes{Brokers: []Broker{old}})
	if len(m.Brokers) != 1 || len(m.Topics) != 1 || m.Topics[0].Owners[0] != "broker-a" {
		t.Fatalf("merge = %+v", m)
	}
}
