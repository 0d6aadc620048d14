package broker

import (
	"context"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/nameserver"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"
)

// TestRoutePollDelta runs a broker against a real NameServer over HTTP
// (delta route reads, nameserver/delta.go): polls of an unchanged table
// leave the view as it is (no rebuild; counted "unchanged"), and the first
// poll after another group registers a new topic has it, so a broker
// picks up a route change within one poll interval. Polls are driven by
// hand (the loop's intervals are an hour) so the count is exact; a second
// broker with the loop at 20 ms sees a later change on its own.
func TestRoutePollDelta(t *testing.T) {
	srv, err := nameserver.NewServer(nameserver.Config{Listen: "127.0.0.1:0", Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve()
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	addr := srv.Addr().String()
	start := func(node int32, name string, every time.Duration) *coreBroker {
		return coreStart(t, "", func(c *Config) {
			c.NodeID = node
			c.Cluster = ClusterConfig{
				Name: "test", BrokerName: name, NameServers: []string{addr},
				RegisterInterval: every, RouteRefreshInterval: every,
			}
		})
	}
	cb := start(1, "g1", time.Hour)
	c := cb.b.cl()
	ctx := context.Background()
	other := nameserver.NewClient([]string{addr})
	reg := nameserver.Registration{
		Cluster: "test", BrokerName: "other", NodeID: 9, Role: nameserver.RoleMaster,
		Endpoints: []nameserver.Endpoint{{Listener: "PLAINTEXT", Host: "127.0.0.1", Port: 1}},
		Topics:    []nameserver.TopicRoute{{Name: "first", ID: "3f1b2c3d-0000-4000-8000-000000000001", Partitions: 2, Owned: []int32{0, 1}}},
	}
	if _, err := other.Register(ctx, reg); err != nil {
		t.Fatal(err)
	}
	c.refreshNow()
	if c.currentView().byName["first"] == nil {
		t.Fatal("the first poll after the registration does not have its topic")
	}

	// Unchanged: heartbeats (a moved log end included) change nothing a
	// poll brings, and the view is not rebuilt.
	v := c.currentView()
	c.mu.Lock()
	at := c.routesAt
	c.mu.Unlock()
	unchanged := readsOf(c, "unchanged")
	for i := 0; i < 3; i++ {
		reg.LogEnd += 1000
		other.Register(ctx, reg)
		c.registerNow()
		c.refreshNow()
	}
	c.mu.Lock()
	atNow := c.routesAt
	c.mu.Unlock()
	if got := readsOf(c, "unchanged") - unchanged; got != 3 || atNow != at || c.currentView() != v {
		t.Fatalf("3 polls of an unchanged table: %v counted unchanged, routes read %d -> %d, view rebuilt %v", got, at, atNow, c.currentView() != v)
	}

	// A change: the next poll has it.
	reg.DataVersion++
	reg.Topics = append(reg.Topics, nameserver.TopicRoute{Name: "second", ID: "3f1b2c3d-0000-4000-8000-000000000002", Partitions: 1, Owned: []int32{0}})
	if _, err := other.Register(ctx, reg); err != nil {
		t.Fatal(err)
	}
	c.refreshNow()
	if vt := c.currentView().byName["second"]; vt == nil || vt.Owners[0] != "other" {
		t.Fatalf("the first poll after the change: topic second %+v", vt)
	}

	// The poll loop of another broker picks up a change by itself.
	cb2 := start(2, "g2", 20*time.Millisecond)
	reg.DataVersion++
	reg.Topics = append(reg.Topics, nameserver.TopicRoute{Name: "third", ID: "3f1b2c3d-0000-4000-8000-000000000003", Partitions: 1, Owned: []int32{0}})
	if _, err := other.Register(ctx, reg); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); cb2.b.cl().currentView().byName["third"] == nil; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the polling broker never saw topic third")
		}
	}
}

// readsOf is the route-read counter of a result.
func readsOf(c *cluster, result string) float64 {
	var m dto.Metric
	c.routeReads.WithLabelValues(result).Write(&m)
	return m.GetCounter().GetValue()
}
