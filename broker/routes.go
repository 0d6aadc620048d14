package broker

// The cluster as one broker sees it (its view): the route table last read
// from the NameServers, with this broker's own registration as it is now,
// plus the memory of partitions whose group has expired.
//
// The NameServers forget a group that stopped heartbeating, and with it the
// partitions it owned. A client must still see those partitions (without a
// leader, LEADER_NOT_AVAILABLE) rather than a topic that shrank or vanished,
// so each broker remembers the last owner of every partition (known) and
// keeps it while the owner is absent. An owner that is alive and no longer
// claims a partition has deleted it, so the memory drops it then.
//
// The view also answers the questions of the data path (does another group
// lead this partition?) and of Metadata and FindCoordinator.

import (
	"context"
	"slices"
	"sort"

	"github.com/google/uuid"
	"github.com/gregor-broker/gregor/nameserver"
	"github.com/gregor-broker/gregor/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// knownTopic is the remembered placement of one topic.
type knownTopic struct {
	id         [16]byte
	partitions int32
	internal   bool
	owners     map[int32]string // partition → broker group
}

// view is an immutable snapshot of the cluster.
type view struct {
	brokers []nameserver.Broker             // live brokers by (name, id)
	masters map[string]*nameserver.Broker   // group → its live master
	members map[string][]*nameserver.Broker // group → live members, master first
	topics  []*viewTopic                    // by name
	byName  map[string]*viewTopic
	byID    map[[16]byte]*viewTopic
}

// viewTopic is one topic across the cluster.
type viewTopic struct {
	Name       string
	ID         [16]byte
	Partitions int32
	Internal   bool
	Owners     []string // by partition; "" = no owner known
}

// currentView returns the view, rebuilt when the routes or the local topic
// table changed since the last call.
func (c *cluster) currentView() *view {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := [2]int64{c.routesAt, c.version.Load()}
	if c.view != nil && c.viewKey == key && !c.uncached {
		return c.view
	}
	self := c.self()
	brokers := make([]nameserver.Broker, 0, len(c.routes.Brokers)+1)
	for _, br := range c.routes.Brokers {
		if br.BrokerName == self.BrokerName {
			if br.BrokerID == self.BrokerID {
				continue
			}
			// The members of one group share one replicated topic table,
			// and this broker's own is fresher than a registration read a
			// moment ago: a topic deleted through the master must not
			// linger on its slave until the next route poll.
			br.Topics = nil
		}
		brokers = append(brokers, br)
	}
	brokers = append(brokers, self)
	merged := nameserver.Merge(nameserver.Routes{Brokers: brokers})
	c.remember(merged)
	c.view = buildView(merged, c.known)
	c.viewKey = key
	return c.view
}

// remember folds a merged route table into the known placements; under mu.
func (c *cluster) remember(r nameserver.Routes) {
	live := map[string]bool{}
	for _, br := range r.Brokers {
		live[br.BrokerName] = true
	}
	claimed := map[string]map[int32]string{}
	for _, t := range r.Topics {
		id, err := uuid.Parse(t.ID)
		if err != nil {
			continue
		}
		k := c.known[t.Name]
		if k == nil || k.id != [16]byte(id) {
			// New, or deleted and re-created under a new id.
			k = &knownTopic{id: id, owners: map[int32]string{}}
			c.known[t.Name] = k
		}
		k.partitions = max(k.partitions, t.Partitions)
		k.internal = t.Internal
		for p, owner := range t.Owners {
			k.owners[p] = owner
		}
		claimed[t.Name] = t.Owners
	}
	for name, k := range c.known {
		for p, owner := range k.owners {
			if live[owner] && claimed[name][p] != owner {
				delete(k.owners, p) // its live owner dropped it
			}
		}
		if len(k.owners) == 0 && claimed[name] == nil {
			delete(c.known, name)
		}
	}
}

// buildView assembles a view from the merged routes and the known
// placements (a superset of the routes' topics).
func buildView(r nameserver.Routes, known map[string]*knownTopic) *view {
	v := &view{
		brokers: r.Brokers,
		masters: map[string]*nameserver.Broker{},
		members: map[string][]*nameserver.Broker{},
		byName:  map[string]*viewTopic{},
		byID:    map[[16]byte]*viewTopic{},
	}
	// The master of a group is the member registered as master with the
	// highest epoch: during a change of term the old master may still be
	// registered as one for a moment.
	for i := range v.brokers {
		br := &v.brokers[i]
		if br.Role == nameserver.RoleMaster {
			if cur := v.masters[br.BrokerName]; cur == nil || br.MasterEpoch > cur.MasterEpoch {
				v.masters[br.BrokerName] = br
			}
		}
	}
	for i := range v.brokers {
		br := &v.brokers[i]
		if v.masters[br.BrokerName] == br {
			v.members[br.BrokerName] = append([]*nameserver.Broker{br}, v.members[br.BrokerName]...)
		} else {
			v.members[br.BrokerName] = append(v.members[br.BrokerName], br)
		}
	}
	for name, k := range known {
		t := &viewTopic{Name: name, ID: k.id, Partitions: k.partitions, Internal: k.internal || internalTopics[name]}
		t.Owners = make([]string, t.Partitions)
		for p, owner := range k.owners {
			if p >= 0 && p < t.Partitions {
				t.Owners[p] = owner
			}
		}
		v.topics = append(v.topics, t)
		v.byName[name] = t
		v.byID[t.ID] = t
	}
	sort.Slice(v.topics, func(i, j int) bool { return v.topics[i].Name < v.topics[j].Name })
	return v
}

// complete reports whether the owner of every partition of t is known; a
// topic just created through another broker may be known here only by
// this broker's own share until the next route read.
func (t *viewTopic) complete() bool {
	for _, o := range t.Owners {
		if o == "" {
			return false
		}
	}
	return true
}

// liveMasters returns the names of the groups with a live master, sorted.
func (v *view) liveMasters() []string {
	out := make([]string, 0, len(v.masters))
	for name := range v.masters {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// inSync reports whether member m of master's group is in the ISR: the
// master itself, or a slave the master's replication lists as in sync in
// its registration (never inferred from a registered log end).
func inSync(master, m *nameserver.Broker) bool {
	if m == master {
		return true
	}
	return slices.Contains(master.InSync, m.BrokerID)
}

// owner returns the group owning partition p of t and its live master (nil
// when the group has none).
func (v *view) owner(t *viewTopic, p int32) (string, *nameserver.Broker) {
	if p < 0 || p >= int32(len(t.Owners)) || t.Owners[p] == "" {
		return "", nil
	}
	return t.Owners[p], v.masters[t.Owners[p]]
}

// partitionCounts returns how many partitions each live master group owns,
// over every topic: the load placement balances.
func (v *view) partitionCounts() map[string]int {
	counts := map[string]int{}
	for name := range v.masters {
		counts[name] = 0
	}
	for _, t := range v.topics {
		for _, o := range t.Owners {
			if _, ok := counts[o]; ok {
				counts[o]++
			}
		}
	}
	return counts
}

// endpoint returns the address br advertises on the named listener, or on
// its first listener when it has none of that name.
func endpoint(br *nameserver.Broker, listener string) (string, int32, bool) {
	if len(br.Endpoints) == 0 {
		return "", 0, false
	}
	for _, e := range br.Endpoints {
		if e.Listener == listener {
			return e.Host, e.Port, true
		}
	}
	return br.Endpoints[0].Host, br.Endpoints[0].Port, true
}

// isSelf reports whether br is this broker.
func (c *cluster) isSelf(br *nameserver.Broker) bool {
	return br != nil && br.BrokerName == c.cfg.BrokerName && br.BrokerID == c.cfg.BrokerID
}

// notLeader reports whether a partition, known to the cluster, is one this
// broker does not lead: another group owns it, or its group has no live
// master. The data path answers NOT_LEADER_OR_FOLLOWER for it, so clients
// refresh their metadata and go to the leader. A topic is looked up by name,
// or by id when name is empty; a partition unknown to the whole cluster is
// not "elsewhere" (the caller answers UNKNOWN_TOPIC_OR_PARTITION).
func (b *Broker) notLeader(name string, id [16]byte, p int32) bool {
	var t *Topic
	var ok bool
	if name != "" {
		t, ok = b.topics.Get(name)
	} else {
		t, ok = b.topics.GetByID(id)
	}
	if ok && b.cl().isMaster() && t.hosts(p) {
		return false
	}
	v := b.cl().currentView()
	vt := v.byName[name]
	if name == "" {
		vt = v.byID[id]
	}
	return vt != nil && p >= 0 && p < vt.Partitions
}

// notHere reports whether a partition known to the cluster lives on
// another broker group: reads (ListOffsets, OffsetForLeaderEpoch, Fetch)
// are served by every member of the owning group, slaves included.
func (b *Broker) notHere(name string, id [16]byte, p int32) bool {
	var t *Topic
	var ok bool
	if name != "" {
		t, ok = b.topics.Get(name)
	} else {
		t, ok = b.topics.GetByID(id)
	}
	if ok && t.hosts(p) {
		return false
	}
	return b.notLeader(name, id, p)
}

// metadataBrokers lists every live broker, each with the address it
// advertises on the listener the request arrived on.
func (b *Broker) metadataBrokers(v *view, conn *protocol.ConnInfo) []kmsg.MetadataResponseBroker {
	listener := ""
	if conn != nil {
		listener = conn.Listener
	}
	var out []kmsg.MetadataResponseBroker
	for i := range v.brokers {
		br := &v.brokers[i]
		mb := kmsg.NewMetadataResponseBroker()
		mb.NodeID = br.NodeID
		if b.cl().isSelf(br) {
			mb.Host, mb.Port = b.advertised(conn)
		} else if h, p, ok := endpoint(br, listener); ok {
			mb.Host, mb.Port = h, p
		} else {
			continue
		}
		if br.Rack != "" {
			mb.Rack = kmsg.StringPtr(br.Rack)
		}
		out = append(out, mb)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].NodeID < out[j].NodeID })
	return out
}

// viewTopicMetadata describes one topic across the cluster: each
// partition's leader is its group's live master, replicas and ISR are the
// group's live members; a partition whose group has no live master gets
// LEADER_NOT_AVAILABLE with leader -1.
func (b *Broker) viewTopicMetadata(v *view, t *viewTopic) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	mt.Topic = kmsg.StringPtr(t.Name)
	mt.TopicID = t.ID
	mt.IsInternal = t.Internal
	local, _ := b.topics.Get(t.Name)
	for p := int32(0); p < t.Partitions; p++ {
		mp := kmsg.NewMetadataResponseTopicPartition()
		mp.Partition = p
		mp.OfflineReplicas = []int32{}
		group, master := v.owner(t, p)
		switch {
		case master == nil:
			mp.ErrorCode = kerr.LeaderNotAvailable.Code
			mp.Leader, mp.LeaderEpoch = -1, -1
			mp.Replicas, mp.ISR = []int32{}, []int32{}
		case b.cl().isSelf(master):
			mp.Leader = b.cfg.NodeID
			mp.LeaderEpoch = b.leaderEpoch()
			if local == nil || local.ID != t.ID || b.store.Partition(t.ID, p) == nil {
				mp.ErrorCode = kerr.LeaderNotAvailable.Code
			}
		default:
			mp.Leader = master.NodeID
			mp.LeaderEpoch = master.MasterEpoch
		}
		if master != nil {
			mp.Replicas, mp.ISR, mp.OfflineReplicas = b.groupReplicas(v, group, master)
		}
		mt.Partitions = append(mt.Partitions, mp)
	}
	return mt
}

// groupReplicas returns a group's replicas (its live members, the
// members its master's replication knows of and those this broker saw
// live before), ISR (the master and the
// slaves its replication lists as in sync, whether or not their own
// registration is still live: the replication connection decides, never
// the registry) and offline replicas (known members not live), as node ids.
// A member not live is listed by the node id it last registered with.
func (b *Broker) groupReplicas(v *view, group string, master *nameserver.Broker) (replicas, isr, offline []int32) {
	c := b.cl()
	live := map[int64]bool{}
	var ids []int64 // member id of each replica, to order them
	for _, m := range v.members[group] {
		live[m.BrokerID] = true
		c.rememberNode(group, m.BrokerID, m.NodeID)
		replicas = append(replicas, m.NodeID)
		ids = append(ids, m.BrokerID)
	}
	// Replicas by member id: the first is the preferred master
	// (ElectLeaders PREFERRED, 43_elect_leaders.go), whoever leads now.
	defer func() { replicas = sortedMemberNodes(ids, replicas) }()
	isr = []int32{master.NodeID}
	for _, id := range master.InSync {
		if id == master.BrokerID {
			continue
		}
		if node, ok := c.nodeOf(group, id); ok {
			isr = append(isr, node)
		}
	}
	offline = []int32{}
	known := append([]int64(nil), master.InSync...)
	for _, s := range master.Slaves {
		known = append(known, s.Member)
	}
	// Members seen live before (by this broker) stay replicas, offline
	// while they are down, as Kafka lists a dead broker's replicas.
	known = append(known, c.membersSeen(group)...)
	for _, id := range known {
		if live[id] {
			continue
		}
		live[id] = true // once
		if node, ok := c.nodeOf(group, id); ok {
			replicas = append(replicas, node)
			ids = append(ids, id)
			offline = append(offline, node)
		}
	}
	return replicas, isr, offline
}

// clusterTopic returns the id and partition count of a topic the cluster
// has, whether or not this broker's group owns part of it (a group's
// coordinator takes commits for every partition).
func (b *Broker) clusterTopic(name string) (id [16]byte, partitions int32, ok bool) {
	c := b.cl()
	vt := c.currentView().byName[name]
	if vt == nil {
		c.refreshSoon()
		vt = c.currentView().byName[name]
	}
	if vt == nil {
		return id, 0, false
	}
	return vt.ID, vt.Partitions, true
}

// freshMembers returns the live members of group with their LogEnd as
// registered last: the polled routes hold a member's LogEnd as of its last
// routing change (delta reads, nameserver/delta.go), so what compares log
// ends reads the whole table once. held is returned when no NameServer
// answers in time.
func (c *cluster) freshMembers(group string, held []*nameserver.Broker) []*nameserver.Broker {
	ctx, cancel := context.WithTimeout(context.Background(), nameServerCallTimeout)
	defer cancel()
	r, err := c.ns.Routes(ctx)
	if err != nil {
		return held
	}
	var out []*nameserver.Broker
	for i := range r.Brokers {
		if r.Brokers[i].BrokerName == group {
			out = append(out, &r.Brokers[i])
		}
	}
	if len(out) == 0 {
		return held
	}
	return out
}
