package nameserver

import (
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"
)

// Role is a broker's role in its group.
type Role string

const (
	RoleMaster Role = "master"
	RoleSlave  Role = "slave"
)

// Endpoint is one advertised Kafka listener of a broker.
type Endpoint struct {
	Listener string `json:"listener"`
	Host     string `json:"host"`
	Port     int32  `json:"port"`
}

// TopicRoute is what a broker group says about one topic it owns
// partitions of.
type TopicRoute struct {
	Name string `json:"name"`
	// ID is the topic's UUID in its canonical text form.
	ID string `json:"id"`
	// Partitions is the topic's total partition count, so a reader can tell
	// an unowned partition from one that does not exist.
	Partitions int32 `json:"partitions"`
	// Owned lists the partitions this broker's group owns.
	Owned []int32 `json:"owned"`
	// Internal marks topics such as __consumer_offsets.
	Internal bool `json:"internal,omitempty"`
}

// Registration is one broker's heartbeat: who it is, where it listens and
// what it owns. It replaces the broker's previous registration whole.
type Registration struct {
	Cluster    string     `json:"cluster"`
	BrokerName string     `json:"broker_name"`
	BrokerID   int64      `json:"broker_id"` // 0 = master
	NodeID     int32      `json:"node_id"`   // cluster-unique Kafka node.id
	Role       Role       `json:"role"`
	Rack       string     `json:"rack,omitempty"`
	Endpoints  []Endpoint `json:"endpoints"`
	// ReplicationAddr is host:port of the master's replication listener.
	ReplicationAddr string `json:"replication_addr,omitempty"`
	// LogEnd is how far the broker's commit log reaches (replication
	// progress; slaves compare theirs with the master's).
	LogEnd int64 `json:"log_end"`
	// MasterEpoch is the group's master epoch (the Kafka leader epoch).
	MasterEpoch int32 `json:"master_epoch"`
	// DataVersion grows whenever the broker's topic table changes.
	DataVersion int64        `json:"data_version"`
	Topics      []TopicRoute `json:"topics"`
	// HTTPAddr is host:port of the broker's HTTP listener (admin
	// endpoints such as a promotion reach the members there).
	HTTPAddr string `json:"http_addr,omitempty"`
	// InSync lists, in a master's registration, the member ids of its
	// group's in-sync replicas (itself first), as its replication
	// connections show them.
	InSync []int64 `json:"in_sync,omitempty"`
	// Slaves is a master's view of each slave it replicates to.
	Slaves []SlaveState `json:"slaves,omitempty"`
	// ClusterID is the broker's Kafka cluster id, and ClusterIDSince when
	// it was first stored (Unix ms; 0 for a configured id, or one stored
	// before this was recorded). Every group of a cluster name reports the
	// oldest one it sees, adopting it durably (broker/cluster_id.go), so
	// the groups of one cluster answer with one cluster id.
	ClusterID      string `json:"cluster_id,omitempty"`
	ClusterIDSince int64  `json:"cluster_id_since,omitempty"`
}

// SlaveState is one slave as its master's replication sees it.
type SlaveState struct {
	Member   int64 `json:"member"`
	InSync   bool  `json:"in_sync"`
	LagBytes int64 `json:"lag_bytes"`
	LagMs    int64 `json:"lag_ms"`
}

// RegisterResponse answers a registration.
type RegisterResponse struct {
	// MasterAddr is the replication address of the group's master, for a
	// slave to follow (empty when the group has no live master).
	MasterAddr string `json:"master_addr,omitempty"`
	// MasterNodeID is the group's live master's node id, or -1.
	MasterNodeID int32 `json:"master_node_id"`
	// MasterEpoch is that master's epoch.
	MasterEpoch int32 `json:"master_epoch,omitempty"`
}

// Broker is one live broker as the registry reports it.
type Broker struct {
	Registration
	LastHeartbeat time.Time `json:"last_heartbeat"`
	// changed is the registry generation of the member's last routing
	// change (delta.go).
	changed uint64
}

// Routes is a snapshot of the whole registry.
type Routes struct {
	Brokers []Broker `json:"brokers"`
	// Topics merges every group's TopicRoute: partition → owning broker name.
	Topics []Topic `json:"topics"`
}

// Topic is one topic across the cluster.
type Topic struct {
	Name       string `json:"name"`
	ID         string `json:"id"`
	Partitions int32  `json:"partitions"`
	Internal   bool   `json:"internal,omitempty"`
	// Owners maps a partition to the broker name (group) that owns it.
	Owners map[int32]string `json:"owners"`
}

type brokerKey struct {
	name string
	id   int64
}

// Registry is the in-memory route table. It is safe for concurrent use.
type Registry struct {
	mu      sync.RWMutex
	brokers map[brokerKey]*Broker
	// holders indexes brokers by the topics they register: topic name →
	// the members whose Topics hold it (and where), so a per-topic read
	// (TopicRoutes) looks at those members only, not at the whole table.
	// Kept in step with brokers by setLocked and dropLocked.
	holders map[string]map[brokerKey]int
	// groups indexes the members by group (broker name), so what concerns
	// one group (its master, the members of a topic's owners) does not
	// look at every member. Kept in step with brokers like holders.
	groups map[string][]brokerKey
	now    func() time.Time
	// bytes is the sum of the members' routesBytes: what a routes answer
	// can take, kept under MaxRoutesBytes.
	bytes int
	// Delta reads (delta.go): the routing generation, this registry's
	// instance id, and the removals remembered since tombFloor.
	gen       uint64
	instance  string
	tombs     []tomb
	tombFloor uint64
}

// NewRegistry returns an empty registry; now is the clock (nil = time.Now).
func NewRegistry(now func() time.Time) *Registry {
	if now == nil {
		now = time.Now
	}
	return &Registry{brokers: make(map[brokerKey]*Broker), holders: make(map[string]map[brokerKey]int), groups: make(map[string][]brokerKey), now: now, instance: newInstance()}
}

// setLocked puts b in the table under k, replacing what k had; under r.mu.
func (r *Registry) setLocked(k brokerKey, b *Broker) {
	r.dropLocked(k)
	r.brokers[k] = b
	r.groups[k.name] = append(r.groups[k.name], k)
	for i, t := range b.Topics {
		h := r.holders[t.Name]
		if h == nil {
			h = make(map[brokerKey]int)
			r.holders[t.Name] = h
		}
		h[k] = i
	}
}

// dropLocked removes k from the table; under r.mu.
func (r *Registry) dropLocked(k brokerKey) {
	b, ok := r.brokers[k]
	if !ok {
		return
	}
	for _, t := range b.Topics {
		if h := r.holders[t.Name]; h != nil {
			delete(h, k)
			if len(h) == 0 {
				delete(r.holders, t.Name)
			}
		}
	}
	delete(r.brokers, k)
	g := r.groups[k.name]
	if i := slices.Index(g, k); i >= 0 {
		g = slices.Delete(g, i, i+1)
	}
	if len(g) == 0 {
		delete(r.groups, k.name)
	} else {
		r.groups[k.name] = g
	}
}

// Register records a heartbeat, replacing the broker's previous one. It
// refuses (ErrInvalidRegistration) a registration that Validate refuses, a
// new member past MaxBrokers, and one that would take the routes answer
// past MaxRoutesBytes (validate.go).
func (r *Registry) Register(reg Registration) (RegisterResponse, error) {
	if err := reg.Validate(); err != nil {
		return RegisterResponse{}, err
	}
	if reg.Role == "" {
		reg.Role = RoleSlave
		if reg.BrokerID == 0 {
			reg.Role = RoleMaster
		}
	}
	reg.Endpoints = append([]Endpoint(nil), reg.Endpoints...)
	reg.Topics = append([]TopicRoute(nil), reg.Topics...)
	size := reg.routesBytes()
	r.mu.Lock()
	defer r.mu.Unlock()
	k := brokerKey{reg.BrokerName, reg.BrokerID}
	old := 0
	if b, ok := r.brokers[k]; ok {
		old = b.routesBytes()
	} else if len(r.brokers) >= MaxBrokers {
		return RegisterResponse{}, invalid("the table holds %d members, at most %d", len(r.brokers), MaxBrokers)
	}
	if r.bytes-old+size > MaxRoutesBytes {
		return RegisterResponse{}, invalid("the route table would grow past %d bytes", MaxRoutesBytes)
	}
	r.bytes += size - old
	nb := &Broker{Registration: reg, LastHeartbeat: r.now()}
	if prev, ok := r.brokers[k]; ok && sameRoute(&prev.Registration, &reg) {
		nb.changed = prev.changed // a heartbeat: nothing for delta readers
	} else {
		r.gen++
		nb.changed = r.gen
	}
	r.setLocked(k, nb)
	return r.masterOfLocked(reg.BrokerName), nil
}

func (r *Registry) masterOfLocked(name string) RegisterResponse {
	// During a change of term two members may both say master for a
	// moment; the later epoch is the master.
	resp := RegisterResponse{MasterNodeID: -1}
	for _, k := range r.groups[name] {
		if b := r.brokers[k]; b.Role == RoleMaster && (resp.MasterNodeID == -1 || b.MasterEpoch > resp.MasterEpoch) {
			resp.MasterAddr = b.ReplicationAddr
			resp.MasterNodeID = b.NodeID
			resp.MasterEpoch = b.MasterEpoch
		}
	}
	return resp
}

// Unregister drops a broker at once (clean shutdown); it reports whether the
// broker was known.
func (r *Registry) Unregister(brokerName string, brokerID int64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := brokerKey{brokerName, brokerID}
	b, ok := r.brokers[k]
	if ok {
		r.bytes -= b.routesBytes()
		r.dropLocked(k)
		r.removedLocked(k)
	}
	return ok
}

// Expire drops every broker whose last heartbeat is older than maxAge and
// returns their names ("name/id"), for the log.
func (r *Registry) Expire(maxAge time.Duration) []string {
	cutoff := r.now().Add(-maxAge)
	r.mu.Lock()
	defer r.mu.Unlock()
	var gone []string
	for k, b := range r.brokers {
		if b.LastHeartbeat.Before(cutoff) {
			r.bytes -= b.routesBytes()
			r.dropLocked(k)
			r.removedLocked(k)
			gone = append(gone, b.BrokerName+"/"+strconv.FormatInt(b.BrokerID, 10))
		}
	}
	sort.Strings(gone)
	return gone
}

// Routes returns a snapshot: live brokers sorted by (name, id), and topics
// sorted by name. A partition is owned by the group that claims it; when two
// groups claim the same partition (only during a misconfiguration), the
// master with the higher data version wins, so the answer is stable.
func (r *Registry) Routes() Routes {
	// Records are replaced whole, never modified, so the lock is held
	// only to take the pointers: building the answer (a few ms at 100,000
	// partitions) does not hold up registrations and, behind a waiting
	// registration, every other reader.
	r.mu.RLock()
	all := make([]*Broker, 0, len(r.brokers))
	for _, b := range r.brokers {
		all = append(all, b)
	}
	r.mu.RUnlock()
	var out Routes
	type claim struct {
		owner   string
		version int64
	}
	topics := make(map[string]*Topic)
	claims := make(map[string]map[int32]claim)
	for _, b := range all {
		cp := *b
		cp.Endpoints = append([]Endpoint(nil), b.Endpoints...)
		cp.Topics = append([]TopicRoute(nil), b.Topics...)
		cp.InSync = append([]int64(nil), b.InSync...)
		cp.Slaves = append([]SlaveState(nil), b.Slaves...)
		out.Brokers = append(out.Brokers, cp)
		// Slaves report what they replicate; ownership comes from masters,
		// but a group whose master is gone still shows its partitions
		// through the slaves so clients see "no leader", not "no topic".
		for _, t := range b.Topics {
			tp := topics[t.Name]
			if tp == nil {
				tp = &Topic{Name: t.Name, ID: t.ID, Internal: t.Internal, Owners: map[int32]string{}}
				topics[t.Name] = tp
				claims[t.Name] = map[int32]claim{}
			}
			if t.Partitions > tp.Partitions {
				tp.Partitions = t.Partitions
				tp.ID = t.ID
			}
			for _, p := range t.Owned {
				c, ok := claims[t.Name][p]
				if !ok || (c.owner != b.BrokerName && b.Role == RoleMaster && b.DataVersion > c.version) {
					claims[t.Name][p] = claim{b.BrokerName, b.DataVersion}
					tp.Owners[p] = b.BrokerName
				}
			}
		}
	}
	sort.Slice(out.Brokers, func(i, j int) bool {
		a, b := out.Brokers[i], out.Brokers[j]
		if a.BrokerName != b.BrokerName {
			return a.BrokerName < b.BrokerName
		}
		return a.BrokerID < b.BrokerID
	})
	for _, t := range topics {
		out.Topics = append(out.Topics, *t)
	}
	sort.Slice(out.Topics, func(i, j int) bool { return out.Topics[i].Name < out.Topics[j].Name })
	return out
}

// TopicRoutes is the route of one topic: the topic as Routes merges it
// and the live members that register it or belong to a group owning one
// of its partitions, sorted by (name, id), each with only this topic in
// its Topics (so several NameServers' answers merge like whole tables:
// MergeTopic). Found is false when no live broker registers the topic.
type TopicRoutes struct {
	Found   bool     `json:"found"`
	Topic   Topic    `json:"topic"`
	Brokers []Broker `json:"brokers"`
}

// TopicRoutes answers a per-topic read from the holders index: it looks
// at the members that register the topic and the members of the groups
// owning its partitions, never at every topic of the table, so its cost
// does not grow with the cluster (a whole-table read of 1,000 brokers and
// 100,000 partitions is several MB). Ownership follows Routes' rules.
func (r *Registry) TopicRoutes(name string) TopicRoutes {
	tr, _ := r.topicRoutesGen(name)
	return tr
}

// topicRoutesGen is TopicRoutes with the routing generation it reflects.
func (r *Registry) topicRoutesGen(name string) (TopicRoutes, uint64) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.topicRoutesLocked(name), r.gen
}

func (r *Registry) topicRoutesLocked(name string) TopicRoutes {
	h := r.holders[name]
	if len(h) == 0 {
		return TopicRoutes{}
	}
	// Members in (name, id) order, as Routes answers them.
	keys := make([]brokerKey, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sortKeys(keys)
	out := TopicRoutes{Found: true, Topic: Topic{Name: name, Owners: map[int32]string{}}}
	type claim struct {
		owner   string
		version int64
	}
	claims := map[int32]claim{}
	for _, k := range keys {
		b := r.brokers[k]
		t := b.Topics[h[k]]
		if out.Topic.ID == "" {
			out.Topic.ID, out.Topic.Internal = t.ID, t.Internal
		}
		if t.Partitions > out.Topic.Partitions {
			out.Topic.Partitions = t.Partitions
			out.Topic.ID = t.ID
		}
		for _, p := range t.Owned {
			c, ok := claims[p]
			if !ok || (c.owner != b.BrokerName && b.Role == RoleMaster && b.DataVersion > c.version) {
				claims[p] = claim{b.BrokerName, b.DataVersion}
				out.Topic.Owners[p] = b.BrokerName
			}
		}
	}
	members := keys
	seen := map[string]bool{}
	for _, g := range out.Topic.Owners {
		if !seen[g] {
			seen[g] = true
			for _, k := range r.groups[g] {
				if _, holds := h[k]; !holds {
					members = append(members, k)
				}
			}
		}
	}
	for _, k := range members {
		b := r.brokers[k]
		i, holds := h[k]
		cp := *b
		cp.Topics = nil
		if holds {
			t := b.Topics[i]
			t.Owned = append([]int32(nil), t.Owned...)
			cp.Topics = []TopicRoute{t}
		}
		cp.Endpoints = append([]Endpoint(nil), b.Endpoints...)
		cp.InSync = append([]int64(nil), b.InSync...)
		cp.Slaves = append([]SlaveState(nil), b.Slaves...)
		out.Brokers = append(out.Brokers, cp)
	}
	sort.Slice(out.Brokers, func(i, j int) bool {
		a, b := out.Brokers[i], out.Brokers[j]
		if a.BrokerName != b.BrokerName {
			return a.BrokerName < b.BrokerName
		}
		return a.BrokerID < b.BrokerID
	})
	return out
}

func sortKeys(keys []brokerKey) {
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].name != keys[j].name {
			return keys[i].name < keys[j].name
		}
		return keys[i].id < keys[j].id
	})
}

// Len is the number of live members.
func (r *Registry) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.brokers)
}
