package nameserver

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	"go.uber.org/zap"
)

func deltaReg(name string, id int64, topic string, owned ...int32) Registration {
	return Registration{
		Cluster: "c", BrokerName: name, BrokerID: id, NodeID: int32(id) + 1,
		Endpoints: []Endpoint{{Listener: "PLAINTEXT", Host: "h-" + name, Port: 9092}},
		LogEnd:    100, DataVersion: 1,
		Topics: []TopicRoute{{Name: topic, ID: "3f1b2c3d-0000-4000-8000-000000000001", Partitions: 4, Owned: owned}},
	}
}

func deltaNames(d RoutesDelta) (brokers, removed []string) {
	for _, b := range d.Brokers {
		brokers = append(brokers, fmt.Sprintf("%s/%d", b.BrokerName, b.BrokerID))
	}
	for _, m := range d.Removed {
		removed = append(removed, fmt.Sprintf("%s/%d", m.BrokerName, m.BrokerID))
	}
	return
}

// TestRoutesSince: a heartbeat that changes only the log end, lag figures
// or the time gives a delta reader nothing; a routing change gives the
// member whole; a member leaving is listed as removed (unless it came
// back); another instance or a generation older than the removals kept
// gets the whole table.
func TestRoutesSince(t *testing.T) {
	r := NewRegistry(nil)
	must := func(reg Registration) {
		t.Helper()
		if _, err := r.Register(reg); err != nil {
			t.Fatal(err)
		}
	}
	a, b := deltaReg("a", 0, "t", 0, 1), deltaReg("b", 0, "t", 2, 3)
	a.Slaves = []SlaveState{{Member: 1, InSync: true, LagBytes: 5}}
	must(a)
	must(b)
	d := r.RoutesSince("", 0)
	if !d.Full || len(d.Brokers) != 2 || d.Instance == "" {
		t.Fatalf("first read: %+v", d)
	}
	inst, gen := d.Instance, d.Gen

	// Heartbeats: log end, lag and time move, routing does not.
	a.LogEnd, a.Slaves[0].LagBytes, a.Slaves[0].LagMs = 5000, 77, 9
	must(a)
	must(b)
	if d := r.RoutesSince(inst, gen); d.Full || len(d.Brokers) != 0 || len(d.Removed) != 0 || d.Gen != gen {
		t.Fatalf("after heartbeats: %+v", d)
	}

	// A routing change: b takes partition 1 from a.
	a.Topics = []TopicRoute{{Name: "t", ID: a.Topics[0].ID, Partitions: 4, Owned: []int32{0}}}
	b.Topics = []TopicRoute{{Name: "t", ID: b.Topics[0].ID, Partitions: 4, Owned: []int32{1, 2, 3}}}
	must(a)
	must(b)
	d = r.RoutesSince(inst, gen)
	if got, _ := deltaNames(d); d.Full || fmt.Sprint(got) != "[a/0 b/0]" && fmt.Sprint(got) != "[b/0 a/0]" {
		t.Fatalf("after a move: %v (%+v)", got, d)
	}
	gen = d.Gen
	// Every routing field counts: an in-sync set, a slave joining.
	a.InSync = []int64{0, 1}
	must(a)
	if got, _ := deltaNames(r.RoutesSince(inst, gen)); fmt.Sprint(got) != "[a/0]" {
		t.Fatalf("after an ISR change: %v", got)
	}
	gen = r.Gen()

	// Leaving, and leaving then coming back.
	must(deltaReg("c", 0, "u", 0))
	r.Unregister("b", 0)
	r.Unregister("c", 0)
	must(deltaReg("c", 0, "u", 0))
	d = r.RoutesSince(inst, gen)
	if got, gone := deltaNames(d); fmt.Sprint(got) != "[c/0]" || fmt.Sprint(gone) != "[b/0]" {
		t.Fatalf("after leaving: brokers %v removed %v", got, gone)
	}

	// Another instance (a restarted NameServer) or a generation from the
	// future: the whole table.
	if d := r.RoutesSince("other", gen); !d.Full || len(d.Brokers) != 2 {
		t.Fatalf("other instance: %+v", d)
	}
	if d := r.RoutesSince(inst, r.Gen()+1); !d.Full {
		t.Fatalf("a generation from the future: %+v", d)
	}
	// Past the removals remembered: the whole table.
	old := r.Gen()
	for i := 0; i <= maxTombs; i++ {
		must(deltaReg("x", 0, "u", 0))
		r.Unregister("x", 0)
	}
	if d := r.RoutesSince(inst, old); !d.Full {
		t.Fatalf("older than the removals kept: not full (%d brokers, %d removed)", len(d.Brokers), len(d.Removed))
	}
	if d := r.RoutesSince(inst, r.Gen()-2); d.Full || len(d.Removed) != 1 {
		t.Fatalf("recent generation: %+v", d)
	}
}

// TestPollRoutes reads through the HTTP API with Client.PollRoutes: the
// same answer and changed=false while only heartbeats arrive, the change
// itself as soon as a registration moves a partition or a member leaves,
// and the same table Routes reads; a restarted NameServer (new instance)
// is read whole again.
func TestPollRoutes(t *testing.T) {
	start := func() *Server {
		srv, err := NewServer(Config{Listen: "127.0.0.1:0", Logger: zap.NewNop()})
		if err != nil {
			t.Fatal(err)
		}
		go srv.Serve()
		t.Cleanup(func() { srv.Shutdown(context.Background()) })
		return srv
	}
	srv := start()
	ctx := context.Background()
	cl := NewClient([]string{srv.Addr().String()})
	a, b := deltaReg("a", 0, "t", 0, 1), deltaReg("b", 0, "t", 2, 3)
	for _, r := range []Registration{a, b} {
		if _, err := cl.Register(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	var ver uint64
	poll := func(want bool) Routes {
		t.Helper()
		r, v, err := cl.PollRoutes(ctx)
		if changed := v != ver; err != nil || changed != want {
			t.Fatalf("PollRoutes: changed %v (want %v), %v", changed, want, err)
		}
		ver = v
		return r
	}
	owner := func(r Routes, p int32) string {
		for _, tp := range r.Topics {
			if tp.Name == "t" {
				return tp.Owners[p]
			}
		}
		return ""
	}
	if r := poll(true); owner(r, 1) != "a" || len(r.Brokers) != 2 {
		t.Fatalf("first poll: %+v", r)
	}
	a.LogEnd = 1 << 20
	cl.Register(ctx, a)
	poll(false)
	a.Topics[0].Owned = []int32{0}
	b.Topics[0].Owned = []int32{1, 2, 3}
	cl.Register(ctx, a)
	cl.Register(ctx, b)
	r := poll(true)
	if owner(r, 1) != "b" {
		t.Fatalf("partition 1 after the move: owner %q", owner(r, 1))
	}
	whole, err := cl.Routes(ctx)
	if err != nil || fmt.Sprint(whole.Topics) != fmt.Sprint(r.Topics) {
		t.Fatalf("Routes and PollRoutes disagree: %v / %v (%v)", whole.Topics, r.Topics, err)
	}
	poll(false)
	cl.Unregister(ctx, "c", "b", 0)
	if r := poll(true); len(r.Brokers) != 1 || owner(r, 2) != "" {
		t.Fatalf("after b left: %d brokers, partition 2 owned by %q", len(r.Brokers), owner(r, 2))
	}

	// A restarted NameServer at the same address would start its
	// generations over; its instance differs, so the reader takes the
	// whole table (here: a fresh server behind a fresh client's held
	// state of the old one).
	srv2 := start()
	cl.Register(ctx, a) // to the old one only
	cl2 := NewClient([]string{srv2.Addr().String()})
	cl2.Register(ctx, b)
	cl.held[srv2.Addr().String()] = cl.held[srv.Addr().String()]
	cl.addrs = []string{srv2.Addr().String()}
	if r := poll(true); len(r.Brokers) != 1 || r.Brokers[0].BrokerName != "b" {
		t.Fatalf("after the NameServer changed: %+v", r.Brokers)
	}
}

// TestSameRouteEveryField: every field of a registration counts as routing
// content except the log end and the slaves' lag figures, including
// fields added to Registration later.
func TestSameRouteEveryField(t *testing.T) {
	base := deltaReg("a", 0, "t", 0)
	base.Slaves = []SlaveState{{Member: 1}}
	rt := reflect.TypeOf(base)
	for i := 0; i < rt.NumField(); i++ {
		f := rt.Field(i)
		changed := base
		changed.Slaves = []SlaveState{{Member: 1}}
		v := reflect.ValueOf(&changed).Elem().Field(i)
		switch v.Kind() {
		case reflect.String:
			v.SetString(v.String() + "x")
		case reflect.Int, reflect.Int32, reflect.Int64:
			v.SetInt(v.Int() + 1)
		case reflect.Slice:
			v.Set(reflect.Append(v, reflect.New(v.Type().Elem()).Elem()))
		default:
			t.Fatalf("field %s: kind %v not covered by this test", f.Name, v.Kind())
		}
		if same := sameRoute(&base, &changed); same != (f.Name == "LogEnd") {
			t.Errorf("field %s changed: sameRoute %v", f.Name, same)
		}
	}
	lag := base
	lag.Slaves = []SlaveState{{Member: 1, LagBytes: 9, LagMs: 3}}
	if !sameRoute(&base, &lag) {
		t.Error("a lag change counts as a routing change")
	}
}
