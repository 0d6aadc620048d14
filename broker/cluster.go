package broker

// Cluster membership: registration with the NameServers and the route table
// read back from them (DESIGN: Roles and processes).
//
// Every broker registers with every NameServer every RegisterInterval (3 s;
// RocketMQ's is 30 s) and at once after any change of its topic table or
// role; it reads the route table every RouteRefreshInterval (2 s; RocketMQ's
// pollNameServerInterval is 30 s) and at once after a change it made or
// forwarded. The short defaults are fail-over's: a new master's clients
// and the other brokers learn of it within 10 s of the old one's death
// (docs/replication.md).
// A single-node gregor is the same code: with no NameServer configured the
// broker registers with an in-process Registry (nameserver.Local) through
// the same interface, so the standalone default and a cluster member answer
// Metadata, FindCoordinator and the data path alike.
//
// What a broker believes about the cluster (its view, routes.go) is the
// last route table merged with its own current registration, so its own
// changes are visible to its clients at once, whatever the NameServers'
// delay. Clients never talk to a NameServer.
//
// Failure behaviour:
//   - A NameServer dies: registration and route reads go to the others
//     (nameserver.Client succeeds when one answers); clients see nothing.
//     A restarted NameServer is refilled by the next heartbeats.
//   - Every NameServer is unreachable: the broker keeps serving with its
//     last route table and keeps trying.
//   - A broker group dies: the NameServers expire it after BrokerExpiry;
//     the other brokers keep remembering which partitions it owned and
//     report them without a leader (LEADER_NOT_AVAILABLE), and answer
//     NOT_LEADER_OR_FOLLOWER for them, while serving their own. When the
//     group re-registers, its partitions (on its disk) are served again.
//   - A clean shutdown unregisters at once, so clients move on without
//     waiting for the expiry.

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/gregor-broker/gregor/nameserver"
	"github.com/gregor-broker/gregor/nameserver/lease"
	"github.com/gregor-broker/gregor/protocol"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
)

// NameServers is how a broker reaches its registry: *nameserver.Client for
// NameServers over the network, *nameserver.Local for an in-process one.
type NameServers interface {
	Register(ctx context.Context, reg nameserver.Registration) (nameserver.RegisterResponse, error)
	Unregister(ctx context.Context, cluster, brokerName string, brokerID int64)
	Routes(ctx context.Context) (nameserver.Routes, error)
}

// ClusterConfig places a broker in a cluster of broker groups (RocketMQ's
// brokerClusterName, brokerName, brokerId and namesrvAddr).
type ClusterConfig struct {
	// Name is the cluster name; default "DefaultCluster" (RocketMQ's).
	Name string
	// BrokerName names the broker group; default "broker-<node id>".
	BrokerName string
	// BrokerID is the broker's id in its group: 0 is the master.
	BrokerID int64
	// NameServers are host:port of every NameServer. Empty: an in-process
	// registry (the single-node default), unless Client is set.
	NameServers []string
	// Client overrides NameServers (an in-process NameServer shared by
	// several brokers of one process, or tests).
	Client NameServers
	// RegisterInterval is the heartbeat period (3 s).
	RegisterInterval time.Duration
	// RouteRefreshInterval is how often routes are read (2 s).
	RouteRefreshInterval time.Duration
	// Rack is reported with the registration (broker.rack).
	Rack string

	// Fail-over (lease.go). FailoverDisabled keeps the master a master
	// without a lease (no slave ever takes over); UncleanElection is
	// unclean.leader.election.enable; LeaseInterval overrides the renewal
	// period (a quarter of the NameServers' lease); LeaseGranters replaces
	// the NameServers' lease tables (tests, in-process registries).
	FailoverDisabled bool
	UncleanElection  bool
	LeaseInterval    time.Duration
	LeaseGranters    []lease.Granter
	// HTTPAddr is host:port of this broker's HTTP listener, registered so
	// a promotion can reach the members of the group (promote.go).
	HTTPAddr string
	// Secret is cluster.secret: sent to the NameServers with every request
	// and proven on the replication port (nameserver/auth.go,
	// replication/auth.go), and to the members' HTTP ports.
	Secret string
	// HTTPTLS, when set, is the client TLS configuration of the members'
	// HTTP ports (http.ssl.enable): promote.go calls them over https.
	HTTPTLS *tls.Config
	// NameServerTLS, when set, is the client TLS configuration of the
	// NameServers' port (nameserver.ssl.enable): they are called over https.
	NameServerTLS *tls.Config
}

// DefaultNameServer is where `gregor broker` registers when no NameServer
// is named (RocketMQ's port on this host).
const DefaultNameServer = "127.0.0.1:9876"

// Cluster defaults (RocketMQ's name, intervals for fail-over).
const (
	defaultClusterName     = "DefaultCluster"
	defaultRegisterPeriod  = 3 * time.Second // fail-over: clients learn a new master within 10 s
	defaultRefreshPeriod   = 2 * time.Second
	nameServerCallTimeout  = 5 * time.Second
	interBrokerCallTimeout = 30 * time.Second
)

// EnsureDefaults fills every zero field that has a default; nodeID names
// the default broker group. It is the one place the cluster defaults live
// (cmd/gregor's settings table reads them from here). NameServers stays
// empty (an in-process registry); `gregor broker` defaults it to
// DefaultNameServer.
func (c *ClusterConfig) EnsureDefaults(nodeID int32) {
	if c.Name == "" {
		c.Name = defaultClusterName
	}
	if c.BrokerName == "" {
		c.BrokerName = fmt.Sprintf("broker-%d", nodeID)
	}
	if c.RegisterInterval == 0 {
		c.RegisterInterval = defaultRegisterPeriod
	}
	if c.RouteRefreshInterval == 0 {
		c.RouteRefreshInterval = defaultRefreshPeriod
	}
}

// Validate fills defaults (EnsureDefaults) and rejects values that cannot
// work; nodeID names the default broker group.
func (c *ClusterConfig) Validate(nodeID int32) error {
	c.EnsureDefaults(nodeID)
	if c.BrokerID < 0 {
		return fmt.Errorf("broker id must be 0 (master) or positive (slave), got %d", c.BrokerID)
	}
	if c.RegisterInterval < 0 || c.RouteRefreshInterval < 0 {
		return errors.New("register and route refresh intervals must be positive")
	}
	for _, a := range c.NameServers {
		if _, _, err := splitHostPort(a); err != nil {
			return fmt.Errorf("NameServer address %q: %v", a, err)
		}
	}
	return nil
}

// cluster is a broker's membership: its registration loop, the route table
// and the clients it forwards admin requests with.
//
// Locks: regMu serialises registrations; mu guards routes, known and the
// cached view; placeMu serialises the topic placements this broker decides
// (placement.go); peersMu the inter-broker clients. Order: placeMu, regMu,
// mu; peersMu alone.
type cluster struct {
	b   *Broker
	cfg ClusterConfig
	ns  NameServers
	log *zap.Logger

	version atomic.Int64 // local data version, bumped on every topic change
	kick    chan struct{}
	stop    chan struct{}
	done    chan struct{}

	regMu sync.Mutex

	mu       sync.Mutex
	routes   nameserver.Routes
	routesAt int64 // bumped on every route read that changed the routes
	// routesVer is the routePoller version c.routes came with.
	routesVer uint64
	readAt    time.Time
	uncached  bool // rebuild the view on every call (a Broker without New, in tests)
	known     map[string]*knownTopic
	view      *view
	viewKey   [2]int64

	placeMu sync.Mutex
	decided map[string]storage16 // topics this broker placed, by name → id

	peersMu sync.Mutex
	peers   map[string]*kgo.Client

	nodesMu sync.Mutex
	nodes   map[string]int32 // "group/member" → node id last seen

	// Metrics, registered on the broker's Registerer while it runs.
	registrations *prometheus.CounterVec // by result
	routeReads    *prometheus.CounterVec // by result
	collectors    []prometheus.Collector
}

// storage16 is a topic id as the view keeps it.
type storage16 = [16]byte

// newCluster builds the membership of b from cfg (validated by the caller).
func newCluster(b *Broker, cfg ClusterConfig, log *zap.Logger) *cluster {
	ns := cfg.Client
	if ns == nil {
		if len(cfg.NameServers) > 0 {
			ns = nameserver.NewClient(cfg.NameServers).WithSecret(cfg.Secret).WithTLS(cfg.NameServerTLS)
		} else {
			ns = nameserver.NewLocal()
		}
	}
	c := &cluster{
		b:       b,
		cfg:     cfg,
		ns:      ns,
		log:     log,
		kick:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		known:   map[string]*knownTopic{},
		decided: map[string]storage16{},
		peers:   map[string]*kgo.Client{},
		registrations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gregor_cluster_registrations_total",
			Help: "Registrations sent to the NameServers, by result (ok: every NameServer took it, partial: some did, failed: none).",
		}, []string{"result"}),
		routeReads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gregor_cluster_route_reads_total",
			Help: "Route table reads from the NameServers, by result.",
		}, []string{"result"}),
	}
	c.collectors = []prometheus.Collector{c.registrations, c.routeReads,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "gregor_cluster_live_brokers",
			Help: "Live brokers in this broker's view of the cluster.",
		}, func() float64 { return float64(len(c.currentView().brokers)) }),
	}
	return c
}

// rememberNode notes the node id of a group member, so a slave that is
// down is still listed (as an offline replica) by its node id.
func (c *cluster) rememberNode(group string, member int64, node int32) {
	c.nodesMu.Lock()
	defer c.nodesMu.Unlock()
	if c.nodes == nil {
		c.nodes = map[string]int32{}
	}
	c.nodes[fmt.Sprintf("%s/%d", group, member)] = node
}

// nodeOf returns the node id a group member was last seen with.
func (c *cluster) nodeOf(group string, member int64) (int32, bool) {
	c.nodesMu.Lock()
	defer c.nodesMu.Unlock()
	n, ok := c.nodes[fmt.Sprintf("%s/%d", group, member)]
	return n, ok
}

// membersSeen lists the member ids of group this broker has seen, sorted.
func (c *cluster) membersSeen(group string) []int64 {
	c.nodesMu.Lock()
	defer c.nodesMu.Unlock()
	var out []int64
	for k := range c.nodes {
		g, m, ok := strings.Cut(k, "/")
		if !ok || g != group {
			continue
		}
		if id, err := strconv.ParseInt(m, 10, 64); err == nil {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// cl returns the broker's cluster membership, built by New.
func (b *Broker) cl() *cluster { return b.cluster }

// isMaster reports whether this broker is its group's master (by term,
// role.go).
func (c *cluster) isMaster() bool { return c.b.isMaster() }

// start registers once and reads the routes once (so the first Metadata
// already describes the cluster), then runs the loop in the background.
// Unreachable NameServers are logged, not fatal: the loop keeps trying.
func (c *cluster) start() {
	if reg := c.b.cfg.Registerer; reg != nil {
		for _, col := range c.collectors {
			if err := reg.Register(col); err != nil {
				c.log.Warn("cluster metric not registered", zap.Error(err))
			}
		}
	}
	c.registerNow()
	c.refreshNow()
	go c.run()
}

// changed is called after every local topic change: the new table is
// registered at once (RocketMQ registers on every topic config change).
func (c *cluster) changed() {
	c.version.Add(1)
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *cluster) run() {
	defer close(c.done)
	reg := time.NewTicker(c.cfg.RegisterInterval)
	defer reg.Stop()
	ref := time.NewTicker(c.cfg.RouteRefreshInterval)
	defer ref.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-reg.C:
			c.registerNow()
		case <-c.kick:
			c.registerNow()
			c.refreshNow()
			c.b.checkRole()
		case <-ref.C:
			c.refreshNow()
			c.b.checkRole()
		}
	}
}

// shutdown stops the loop and unregisters, so clients learn at once that
// this broker's partitions have no leader.
func (c *cluster) shutdown(ctx context.Context) {
	select {
	case <-c.stop:
		return
	default:
		close(c.stop)
	}
	select {
	case <-c.done:
	case <-ctx.Done():
	}
	uctx, cancel := context.WithTimeout(ctx, nameServerCallTimeout)
	defer cancel()
	c.ns.Unregister(uctx, c.cfg.Name, c.cfg.BrokerName, c.cfg.BrokerID)
	if reg := c.b.cfg.Registerer; reg != nil {
		for _, col := range c.collectors {
			reg.Unregister(col)
		}
	}
	c.peersMu.Lock()
	for _, p := range c.peers {
		p.Close()
	}
	c.peers = map[string]*kgo.Client{}
	c.peersMu.Unlock()
}

// registerNow sends this broker's registration to every NameServer.
func (c *cluster) registerNow() {
	c.regMu.Lock()
	defer c.regMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), nameServerCallTimeout)
	defer cancel()
	_, err := c.ns.Register(ctx, c.registration())
	switch {
	case err == nil:
		c.registrations.WithLabelValues("ok").Inc()
	case strings.Contains(err.Error(), "some NameServers failed"):
		// One NameServer down: the others have it (nameserver.Client).
		c.registrations.WithLabelValues("partial").Inc()
		c.log.Warn("registering with the NameServers", zap.Error(err))
	default:
		c.registrations.WithLabelValues("failed").Inc()
		c.log.Warn("registering with the NameServers", zap.Error(err))
	}
}

// routePoller is a NameServers that reads only what changed since its
// last read (nameserver.Client: delta route reads; an in-process Local is
// read whole); the version it returns changes whenever the routes do.
type routePoller interface {
	PollRoutes(ctx context.Context) (nameserver.Routes, uint64, error)
}

// refreshNow reads the route table; on failure the last one stays. With a
// routePoller an unchanged table costs a small answer and leaves the view
// as it is (it is rebuilt only when the routes changed).
func (c *cluster) refreshNow() {
	ctx, cancel := context.WithTimeout(context.Background(), nameServerCallTimeout)
	defer cancel()
	var r nameserver.Routes
	var ver uint64 // 0: a whole read, always applied
	var err error
	if p, ok := c.ns.(routePoller); ok {
		r, ver, err = p.PollRoutes(ctx)
	} else {
		r, err = c.ns.Routes(ctx)
	}
	if err != nil {
		c.routeReads.WithLabelValues("failed").Inc()
		c.log.Warn("reading routes from the NameServers; keeping the last table", zap.Error(err))
		return
	}
	c.mu.Lock()
	changed := ver == 0 || ver != c.routesVer
	if changed {
		c.routes = r
		c.routesAt++
		c.routesVer = ver
	}
	c.readAt = time.Now()
	c.mu.Unlock()
	if changed {
		c.routeReads.WithLabelValues("ok").Inc()
	} else {
		c.routeReads.WithLabelValues("unchanged").Inc()
	}
	c.b.adoptClusterID(r)
}

// refreshSoon reads the routes unless they were read in the last 100 ms: a
// name this broker does not know may have been created through another
// broker a moment ago. The bound keeps clients that ask again and again
// for a missing topic from turning into NameServer traffic.
func (c *cluster) refreshSoon() {
	c.mu.Lock()
	fresh := time.Since(c.readAt) < 100*time.Millisecond
	c.mu.Unlock()
	if !fresh {
		c.refreshNow()
	}
}

// registration describes this broker as it is now.
func (c *cluster) registration() nameserver.Registration {
	b := c.b
	reg := nameserver.Registration{
		Cluster:     c.cfg.Name,
		BrokerName:  c.cfg.BrokerName,
		BrokerID:    c.cfg.BrokerID,
		NodeID:      b.cfg.NodeID,
		Role:        nameserver.RoleSlave,
		Rack:        c.cfg.Rack,
		MasterEpoch: b.leaderEpoch(),
		DataVersion: c.version.Load(),
		LogEnd:      b.store.EndPosition(),
		HTTPAddr:    c.cfg.HTTPAddr,
	}
	if b.store != nil {
		reg.ClusterID, reg.ClusterIDSince = b.ClusterID(), b.clusterIDSince()
	}
	if c.isMaster() {
		reg.Role = nameserver.RoleMaster
		reg.ReplicationAddr = b.replicationAdvertised()
		// The ISR as the master's replication connections show it, so
		// every broker answers Metadata with the same truth.
		reg.InSync = b.inSyncMembers()
		for _, sp := range b.slaveProgress() {
			reg.Slaves = append(reg.Slaves, nameserver.SlaveState{Member: sp.Member, InSync: sp.InSync, LagBytes: sp.LagBytes, LagMs: sp.LagTime.Milliseconds()})
		}
	}
	for _, l := range b.cfg.Listeners {
		host, port := b.advertised(&protocol.ConnInfo{Listener: l.Name})
		reg.Endpoints = append(reg.Endpoints, nameserver.Endpoint{Listener: l.Name, Host: host, Port: port})
	}
	for _, t := range b.topics.List() {
		reg.Topics = append(reg.Topics, nameserver.TopicRoute{
			Name:       t.Name,
			ID:         uuid.UUID(t.ID).String(),
			Partitions: t.Partitions,
			Owned:      ownedPartitions(t),
			Internal:   t.Internal,
		})
	}
	return reg
}

// ownedPartitions lists the partitions of t this broker's group owns; a
// topic without an explicit list (created before clustering, or by a
// single node) owns them all.
func ownedPartitions(t *Topic) []int32 {
	if t.Owned != nil {
		return slices.Clone(t.Owned)
	}
	out := make([]int32, t.Partitions)
	for p := range out {
		out[p] = int32(p)
	}
	return out
}

// self is this broker as the view lists it: its current registration.
func (c *cluster) self() nameserver.Broker {
	return nameserver.Broker{Registration: c.registration(), LastHeartbeat: time.Now()}
}
