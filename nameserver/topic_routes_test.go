package nameserver

import (
	"context"
	"reflect"
	"testing"
	"time"
)

const idU = "3f1b2c3d-0000-4000-8000-000000000002"

// TestTopicRoutesMatchesRoutes: the per-topic read answers each topic as
// the whole table does (owners, partition count, id, the owning groups'
// members), including a partition two masters claim, and stays right as
// members re-register with other topics, unregister and expire (the
// holders index follows every change).
func TestTopicRoutesMatchesRoutes(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	r := NewRegistry(clk.now)
	a := reg("broker-a", 0, 1, TopicRoute{Name: "t", ID: idT, Partitions: 4, Owned: []int32{0, 2}},
		TopicRoute{Name: "u", ID: idU, Partitions: 2, Owned: []int32{0}})
	aSlave := reg("broker-a", 1, 3, a.Topics...)
	b := reg("broker-b", 0, 2, TopicRoute{Name: "t", ID: idT, Partitions: 4, Owned: []int32{1, 2}})
	b.DataVersion = 7 // wins partition 2 over broker-a's version 0
	c := reg("broker-c", 0, 4, TopicRoute{Name: "v", ID: idU, Partitions: 1, Owned: []int32{0}})
	for _, x := range []Registration{a, aSlave, b, c} {
		if _, err := r.Register(x); err != nil {
			t.Fatal(err)
		}
	}
	check := func(step string) {
		t.Helper()
		whole := r.Routes()
		names := map[string]bool{"t": true, "u": true, "v": true, "w": true}
		for name := range names {
			got := r.TopicRoutes(name)
			var want *Topic
			for i := range whole.Topics {
				if whole.Topics[i].Name == name {
					want = &whole.Topics[i]
				}
			}
			if want == nil {
				if got.Found {
					t.Fatalf("%s: topic %s found by TopicRoutes, not in Routes", step, name)
				}
				continue
			}
			if !got.Found || !reflect.DeepEqual(got.Topic, *want) {
				t.Fatalf("%s: topic %s: TopicRoutes %+v, Routes %+v", step, name, got.Topic, *want)
			}
			// Every member of an owning group is in the answer.
			for _, o := range want.Owners {
				for _, wb := range whole.Brokers {
					if wb.BrokerName != o {
						continue
					}
					found := false
					for _, gb := range got.Brokers {
						found = found || (gb.BrokerName == wb.BrokerName && gb.BrokerID == wb.BrokerID)
					}
					if !found {
						t.Fatalf("%s: topic %s: member %s/%d of owning group missing", step, name, wb.BrokerName, wb.BrokerID)
					}
				}
			}
		}
	}
	check("registered")
	if got := r.TopicRoutes("t").Topic.Owners[2]; got != "broker-b" {
		t.Fatalf("partition 2 owned by %q, want broker-b (higher data version)", got)
	}
	// broker-a drops topic u and takes w.
	a.Topics = []TopicRoute{a.Topics[0], {Name: "w", ID: idU, Partitions: 1, Owned: []int32{0}}}
	aSlave.Topics = a.Topics
	r.Register(a)
	r.Register(aSlave)
	check("re-registered")
	if r.TopicRoutes("u").Found {
		t.Fatal("topic u still found after its only holders dropped it")
	}
	r.Unregister("broker-b", 0)
	check("unregistered")
	clk.add(time.Minute)
	r.Register(c)
	r.Expire(30 * time.Second)
	check("expired")
	if r.TopicRoutes("t").Found || !r.TopicRoutes("v").Found {
		t.Fatalf("after expiry: t found %v (want false), v found %v (want true)", r.TopicRoutes("t").Found, r.TopicRoutes("v").Found)
	}
	if len(r.holders) != 1 {
		t.Fatalf("holders index keeps %d topics, want 1 (v)", len(r.holders))
	}
}

// TestClientTopicRoutes reads one topic over HTTP from two NameServers,
// one of which has an older registration: the newest wins, as in Routes.
func TestClientTopicRoutes(t *testing.T) {
	var addrs []string
	var regs []*Registry
	for i := 0; i < 2; i++ {
		s, err := NewServer(Config{Listen: "127.0.0.1:0"})
		if err != nil {
			t.Fatal(err)
		}
		go s.Serve()
		t.Cleanup(func() { s.Shutdown(context.Background()) })
		addrs = append(addrs, s.Addr().String())
		regs = append(regs, s.Registry())
	}
	old := reg("broker-a", 0, 1, TopicRoute{Name: "t", ID: idT, Partitions: 2, Owned: []int32{0}})
	if _, err := regs[0].Register(old); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond)
	cur := reg("broker-a", 0, 1, TopicRoute{Name: "t", ID: idT, Partitions: 2, Owned: []int32{0, 1}})
	if _, err := regs[1].Register(cur); err != nil {
		t.Fatal(err)
	}
	cl := NewClient(addrs)
	got, err := cl.TopicRoutes(context.Background(), "t")
	if err != nil {
		t.Fatal(err)
	}
	if !got.Found || len(got.Topic.Owners) != 2 || len(got.Brokers) != 1 {
		t.Fatalf("TopicRoutes = %+v, want both partitions owned by broker-a from the newer registration", got)
	}
	if got, err := cl.TopicRoutes(context.Background(), "nope"); err != nil || got.Found {
		t.Fatalf("unknown topic: %+v, %v", got, err)
	}
	if _, err := cl.TopicRoutes(context.Background(), ""); err == nil {
		t.Fatal("empty topic name accepted")
	}
}
