package broker

import (
	"fmt"
	"testing"

	"github.com/google/uuid"
	"github.com/gregor-broker/gregor/nameserver"
)

// routesOf builds a merged route table: live masters, and topic → owner
// group per partition.
func routesOf(masters []string, topics map[string][]string, ids map[string]uuid.UUID) nameserver.Routes {
	var regs []nameserver.Broker
	for i, m := range masters {
		reg := nameserver.Registration{Cluster: "c", BrokerName: m, NodeID: int32(i + 1), Role: nameserver.RoleMaster}
		for name, owners := range topics {
			tr := nameserver.TopicRoute{Name: name, ID: ids[name].String(), Partitions: int32(len(owners))}
			for p, o := range owners {
				if o == m {
					tr.Owned = append(tr.Owned, int32(p))
				}
			}
			if len(tr.Owned) > 0 {
				reg.Topics = append(reg.Topics, tr)
			}
		}
		regs = append(regs, nameserver.Broker{Registration: reg})
	}
	return nameserver.Merge(nameserver.Routes{Brokers: regs})
}

// The memory of placements: a group gone keeps its partitions (without a
// leader); a live group that stops claiming a partition has deleted it; a
// topic re-created under a new id starts afresh.
func TestViewRemembersGoneGroups(t *testing.T) {
	c := &cluster{known: map[string]*knownTopic{}}
	ids := map[string]uuid.UUID{"t": uuid.New()}
	all := map[string][]string{"t": {"a", "b", "c", "a"}}
	c.remember(routesOf([]string{"a", "b", "c"}, all, ids))
	v := buildView(routesOf([]string{"a", "b"}, all, ids), c.known)
	// c is gone: the routes lack its partition, the memory keeps it.
	c.remember(routesOf([]string{"a", "b"}, all, ids))
	v = buildView(routesOf([]string{"a", "b"}, all, ids), c.known)
	vt := v.byName["t"]
	if vt == nil || vt.Partitions != 4 || fmt.Sprint(vt.Owners) != "[a b c a]" {
		t.Fatalf("after c left: %+v", vt)
	}
	if g, m := v.owner(vt, 2); g != "c" || m != nil {
		t.Fatalf("partition 2: owner %q master %v, want c without a master", g, m)
	}
	if _, m := v.owner(vt, 1); m == nil || m.BrokerName != "b" {
		t.Fatalf("partition 1: master %v", m)
	}
	// The topic deleted on a and b while c is away: c's share stays known.
	c.remember(routesOf([]string{"a", "b"}, nil, ids))
	v = buildView(routesOf([]string{"a", "b"}, nil, ids), c.known)
	if vt := v.byName["t"]; vt == nil || fmt.Sprint(vt.Owners) != "[  c ]" {
		t.Fatalf("after deletion on the live groups: %+v", vt)
	}
	// c back without the topic: gone everywhere.
	c.remember(routesOf([]string{"a", "b", "c"}, nil, ids))
	if v := buildView(routesOf([]string{"a", "b", "c"}, nil, ids), c.known); len(v.topics) != 0 {
		t.Fatalf("topics after c returned without it: %v", v.topics)
	}
	// Re-created under a new id: nothing of the old placement survives.
	c.remember(routesOf([]string{"a", "b", "c"}, all, ids))
	ids["t"] = uuid.New()
	two := map[string][]string{"t": {"b", "b"}}
	c.remember(routesOf([]string{"a", "b", "c"}, two, ids))
	v = buildView(routesOf([]string{"a", "b", "c"}, two, ids), c.known)
	if vt := v.byName["t"]; vt == nil || vt.ID != ids["t"] || vt.Partitions != 2 || fmt.Sprint(vt.Owners) != "[b b]" {
		t.Fatalf("after re-creation: %+v", vt)
	}
}

// Placement gives each new partition to the group with the fewest so far
// (ties by name), counting every topic, and the decider is one of the live
// masters, the same for a name whatever broker asks.
func TestViewPlace(t *testing.T) {
	ids := map[string]uuid.UUID{"old": uuid.New()}
	r := routesOf([]string{"a", "b", "c"}, map[string][]string{"old": {"a", "a", "b"}}, ids)
	c := &cluster{known: map[string]*knownTopic{}}
	c.remember(r)
	v := buildView(r, c.known)
	got := v.place(0, 6)
	if fmt.Sprint(got["a"], got["b"], got["c"]) != "[3] [1 4] [0 2 5]" {
		t.Fatalf("placement %v", got)
	}
	d := v.decider("orders")
	if d == nil || d != v.decider("orders") {
		t.Fatal("no stable decider")
	}
	if buildView(routesOf(nil, nil, nil), nil).decider("x") != nil {
		t.Fatal("a decider without live masters")
	}
}

// A slave is in the ISR only when its master's replication lists it
// (registered InSync), never because of a log end it registered itself:
// a slave registering the master's very end but not listed is out.
func TestViewISR(t *testing.T) {
	master := &nameserver.Broker{Registration: nameserver.Registration{BrokerName: "a", NodeID: 1, Role: nameserver.RoleMaster, LogEnd: 10 << 20, InSync: []int64{0, 1}}}
	listed := &nameserver.Broker{Registration: nameserver.Registration{BrokerName: "a", BrokerID: 1, NodeID: 2, Role: nameserver.RoleSlave, LogEnd: 1 << 20}}
	claims := &nameserver.Broker{Registration: nameserver.Registration{BrokerName: "a", BrokerID: 2, NodeID: 3, Role: nameserver.RoleSlave, LogEnd: 10 << 20}}
	if !inSync(master, master) || !inSync(master, listed) || inSync(master, claims) {
		t.Fatal("ISR: want the master and the slave its replication lists, not the one that only registered the master's end")
	}
	// The view's master of a group is the claimant with the latest epoch.
	old := nameserver.Broker{Registration: nameserver.Registration{BrokerName: "a", NodeID: 1, Role: nameserver.RoleMaster, MasterEpoch: 3}}
	cur := nameserver.Broker{Registration: nameserver.Registration{BrokerName: "a", BrokerID: 1, NodeID: 2, Role: nameserver.RoleMaster, MasterEpoch: 4}}
	v := buildView(nameserver.Routes{Brokers: []nameserver.Broker{cur, old}}, nil)
	if m := v.masters["a"]; m == nil || m.NodeID != 2 {
		t.Fatalf("master of a = %+v, want node 2 (epoch 4)", m)
	}
	if ms := v.members["a"]; len(ms) != 2 || ms[0].NodeID != 2 {
		t.Fatalf("members of a: want the master first, got %d", len(ms))
	}
}
