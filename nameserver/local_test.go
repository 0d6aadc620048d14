package nameserver

import (
	"context"
	"testing"
)

// Local answers like a NameServer: a registration shows in the routes with
// its topics, and unregistering removes it.
func TestLocal(t *testing.T) {
	l := NewLocal()
	ctx := context.Background()
	resp, err := l.Register(ctx, Registration{Cluster: "c", BrokerName: "a", NodeID: 7,
		Topics: []TopicRoute{{Name: "t", ID: "3f1b2c3d-0000-4000-8000-000000000001", Partitions: 2, Owned: []int32{0, 1}}}})
	if err != nil || resp.MasterNodeID != 7 {
		t.Fatalf("register: %+v %v", resp, err)
	}
	if _, err := l.Register(ctx, Registration{BrokerName: "x"}); err == nil {
		t.Fatal("a registration without a cluster was taken")
	}
	r, err := l.Routes(ctx)
	if err != nil || len(r.Brokers) != 1 || r.Brokers[0].Role != RoleMaster || len(r.Topics) != 1 || r.Topics[0].Owners[1] != "a" {
		t.Fatalf("routes: %+v %v", r, err)
	}
	l.Unregister(ctx, "c", "a", 0)
	if r, _ := l.Routes(ctx); len(r.Brokers) != 0 || len(r.Topics) != 0 {
		t.Fatalf("after unregister: %+v", r)
	}
}
