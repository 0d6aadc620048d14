package broker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gregor-broker/gregor/broker/group"
	"github.com/gregor-broker/gregor/broker/security"
	"github.com/gregor-broker/gregor/nameserver"
	"github.com/gregor-broker/gregor/protocol"
	"github.com/gregor-broker/gregor/storage"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// Listener is one Kafka listener, as in listeners / advertised.listeners.
type Listener struct {
	Name       string // e.g. PLAINTEXT
	Address    string // host:port to bind
	Advertised string // host:port told to clients that arrive on this listener
	// Protocol is the listener's security protocol (PLAINTEXT, SSL,
	// SASL_PLAINTEXT, SASL_SSL; empty means PLAINTEXT), sasl_config.go.
	Protocol string
}

// Config is everything a broker needs; cmd/gregor builds it from viper.
type Config struct {
	NodeID    int32
	ClusterID string // stable cluster.id; made at first start when empty
	Listeners []Listener
	// SocketRequestMaxBytes caps a request frame (socket.request.max.bytes).
	SocketRequestMaxBytes int32
	// ConnectionsMaxIdle closes connections idle this long
	// (connections.max.idle.ms); default 10m.
	ConnectionsMaxIdle time.Duration
	// FetchSessionCacheSlots bounds the fetch sessions kept
	// (max.incremental.fetch.session.cache.slots); default 1000.
	FetchSessionCacheSlots int
	Store                  storage.Config
	Topics                 TopicDefaults // owned by topics.go
	Group                  group.Config  // owned by broker/group
	Registerer             prometheus.Registerer
	Logger                 *zap.Logger
	// LogLevel, when set, is the level Logger filters by: IncrementalAlterConfigs
	// on the BROKER_LOGGER resource changes it (broker_configs.go).
	LogLevel *zap.AtomicLevel

	// Cluster places the broker in a cluster registered with NameServers
	// (cluster.go); its zero value is a single node with an in-process
	// NameServer.
	Cluster ClusterConfig

	// Replication is the master→slave replication of the broker group
	// (replica_config.go).
	Replication ReplicationConfig

	// Security is the listeners' TLS and SASL settings (sasl_config.go).
	Security SecurityConfig

	// Quota is how client quotas are measured (quota.go).
	Quota QuotaConfig

	// Connections limits the client connections (quota_connections.go).
	Connections ConnectionLimits
}

// Defaults Kafka uses for the settings gregor shares with it.
const (
	// DefaultListener is listeners' default.
	DefaultListener        = "PLAINTEXT://localhost:9092"
	defaultRequestMaxBytes = 100 << 20 // socket.request.max.bytes
	defaultSessionSlots    = 1000      // max.incremental.fetch.session.cache.slots
)

// EnsureDefaults fills every zero field that has a default, its parts'
// included (Store, Topics, Group, Cluster, Replication). It is the one
// place the broker's defaults live (cmd/gregor's settings table reads them
// from here). Store.Dir has none.
func (c *Config) EnsureDefaults() {
	if c.NodeID == 0 {
		c.NodeID = 1
	}
	if len(c.Listeners) == 0 {
		c.Listeners = []Listener{{Name: "PLAINTEXT", Address: strings.TrimPrefix(DefaultListener, "PLAINTEXT://")}}
	}
	if c.SocketRequestMaxBytes == 0 {
		c.SocketRequestMaxBytes = defaultRequestMaxBytes
	}
	if c.ConnectionsMaxIdle == 0 {
		c.ConnectionsMaxIdle = 10 * time.Minute
	}
	if c.FetchSessionCacheSlots == 0 {
		c.FetchSessionCacheSlots = defaultSessionSlots
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.Store.Logger == nil {
		c.Store.Logger = c.Logger.Named("storage")
	}
	if c.Store.Decompress == nil {
		// The store knows no codecs; with the broker's it finds the exact
		// record inside compressed batches for ListOffsets by time and
		// max timestamp.
		c.Store.Decompress = decompressRecords
	}
	c.Store.EnsureDefaults()
	c.Topics.EnsureDefaults()
	c.Group.EnsureDefaults()
	c.Cluster.EnsureDefaults(c.NodeID)
	c.Replication.EnsureDefaults()
	c.Security.EnsureDefaults()
	c.Quota.EnsureDefaults()
}

// Validate fills defaults (EnsureDefaults) and rejects values that cannot
// work.
func (c *Config) Validate() error {
	c.EnsureDefaults()
	if c.NodeID < 0 {
		return fmt.Errorf("broker: node.id must not be negative, got %d", c.NodeID)
	}
	seen := map[string]bool{}
	for i := range c.Listeners {
		l := &c.Listeners[i]
		if l.Name == "" {
			l.Name = "PLAINTEXT"
		}
		if seen[l.Name] {
			return fmt.Errorf("broker: listener %s named twice", l.Name)
		}
		seen[l.Name] = true
		if _, _, err := net.SplitHostPort(l.Address); err != nil {
			return fmt.Errorf("broker: listener %s address %q: %v", l.Name, l.Address, err)
		}
		if l.Advertised != "" {
			if _, _, err := splitHostPort(l.Advertised); err != nil {
				return fmt.Errorf("broker: listener %s advertised address %q: %v", l.Name, l.Advertised, err)
			}
		}
	}
	if err := c.Security.validate(c.Listeners); err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	if c.SocketRequestMaxBytes < 1024 {
		return fmt.Errorf("broker: socket.request.max.bytes must be at least 1024, got %d", c.SocketRequestMaxBytes)
	}
	if c.ConnectionsMaxIdle < 0 {
		return fmt.Errorf("broker: connections.max.idle.ms must not be negative, got %v", c.ConnectionsMaxIdle)
	}
	if c.FetchSessionCacheSlots < 0 {
		return fmt.Errorf("broker: fetch session cache slots must not be negative, got %d", c.FetchSessionCacheSlots)
	}
	if err := c.Topics.Validate(); err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	if err := c.Cluster.Validate(c.NodeID); err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	if err := c.Replication.Validate(); err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	if err := c.Quota.Validate(); err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	if err := c.Connections.validate(); err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	return nil
}

// Broker is one running broker.
type Broker struct {
	cfg      Config
	aclc     aclCache     // the ACL bindings in force (acl.go)
	sec      secState     // the owner's ACLs and credentials, inter-broker TLS (acl_owner.go)
	quotac   quotaCache   // the client quotas in force (quota.go)
	qsensors quotaSensors // their measured rates (quota_throttle.go)
	connl    *connLimits  // connection limits (quota_connections.go)
	log      *zap.Logger
	store    *storage.Store
	topics   *Topics
	groups   *group.Coordinator
	metrics  *metrics
	sessions *fetchSessions
	cluster  *cluster // built by New

	// oauthV validates OAUTHBEARER tokens, built at first use (oauth.go).
	oauthOnce sync.Once
	oauthV    *oauthValidator

	// epoch is the master epoch of this broker group, which is every
	// partition's leader epoch (DESIGN: leader epoch = the group's master
	// epoch): the epoch of the last term in the store (role.go).
	epoch atomic.Int32

	// Role and replication (role.go, replica.go). roleMu serialises role
	// changes; gate orders appends against a step-down; replMu guards the
	// running replication side. Order: roleMu, gate, replMu.
	roleState atomic.Int32
	roleMu    sync.Mutex
	gate      writeGate
	terms     termLog
	repl      replicator
	replMu    sync.Mutex
	rmaster   replMaster
	rslave    replSlave
	following string                   // master replication address the slave side follows
	failover  *failover                // lease keeper (lease.go); nil without fail-over
	failoverP atomic.Pointer[failover] // the same, for the replication goroutines
	// restartTerm: restarted as master under leases, the new term is not
	// begun yet (role.go, restartMaster).
	restartTerm atomic.Bool

	replMetrics *replicaCollector // replica_metrics.go
	ops         *opsMetrics       // ops_metrics.go

	// A slave's replicated state (slave_apply.go).
	clusterID atomic.Value // string; set when replication brings it or the cluster's is adopted
	// clusterIDConfigured: cluster.id was set, never replaced by the
	// cluster's (cluster_id.go).
	clusterIDConfigured bool
	reloadKick          chan struct{}
	stopCh              chan struct{}

	mu      sync.Mutex
	servers []*protocol.Server
	addrs   []net.Addr // bound address of each listener, same order
	ready   atomic.Bool
	closed  bool
	serveWG sync.WaitGroup
}

// kvNamespace is the store's key/value namespace for broker-wide state.
const kvNamespace = "broker"

var clusterIDKey = []byte("cluster.id")

// New validates cfg, opens the store, builds the topic table and the group
// coordinator, and loads (or creates and keeps) the cluster id. It binds no
// port; Start does.
func New(cfg Config) (*Broker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	b := &Broker{cfg: cfg, log: cfg.Logger, reloadKick: make(chan struct{}, 1), stopCh: make(chan struct{}), clusterIDConfigured: cfg.ClusterID != ""}
	hookOnApply(&cfg.Store, b)
	b.ops = newOpsMetrics(&cfg.Store) // the fsync histogram hooks into the store's config
	st, err := storage.Open(cfg.Store)
	if err != nil {
		return nil, fmt.Errorf("broker: opening store: %w", err)
	}
	b.store = st
	b.terms = storeTerms(st)
	b.repl = newReplicator(cfg)
	b.cluster = newCluster(b, cfg.Cluster, cfg.Logger.Named("cluster"))
	// The role first: a slave writes nothing but what replication brings.
	var live []nameserver.Broker
	if len(cfg.Cluster.NameServers) > 0 || cfg.Cluster.Client != nil {
		live = b.cluster.liveGroupMembers()
	}
	if err := b.initRole(live); err != nil {
		st.Close()
		return nil, err
	}
	if err := b.loadClusterID(); err != nil {
		st.Close()
		return nil, err
	}
	if b.isMaster() {
		b.topics, err = newTopics(st, cfg.Topics, cfg.Logger.Named("topics"))
	} else if b.topics, err = readTopics(st, cfg.Topics, cfg.Logger.Named("topics")); err == nil {
		for _, tp := range b.topics.List() {
			b.topics.applyRetention(tp)
		}
	}
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("broker: loading topics: %w", err)
	}
	if b.isMaster() {
		gcfg := cfg.Group
		if gcfg.Registerer == nil {
			gcfg.Registerer = cfg.Registerer
		}
		if gcfg.ConsumerGroupConfig == nil {
			gcfg.ConsumerGroupConfig = b.consumerGroupTimeouts
		}
		b.groups, err = group.New(gcfg, st, cfg.Logger.Named("group"))
		if err != nil {
			st.Close()
			return nil, fmt.Errorf("broker: starting group coordinator: %w", err)
		}
	}
	// OnChange holds one function: add other listeners to topicsChanged.
	b.topics.OnChange(b.topicsChanged)
	b.sessions = newFetchSessions(cfg.FetchSessionCacheSlots)
	b.connl = newConnLimits(b)
	b.metrics = newMetrics(cfg.Registerer, b)
	if cfg.Registerer != nil {
		b.replMetrics = newReplicaCollector(b)
		_ = cfg.Registerer.Register(b.replMetrics) // a second broker in one process runs unexported
	}
	b.ops.register(cfg.Registerer, b)
	b.log.Info("role decided", zap.String("role", b.roleName()), zap.Int64("member", b.memberID()), zap.Int32("epoch", b.leaderEpoch()))
	return b, nil
}

// loadClusterID keeps the cluster id stable across restarts: the first
// start stores it (cfg.ClusterID, or the cluster's oldest, or a fresh
// Kafka-style base64 UUID: cluster_id.go), later starts read it back. A
// configured id that differs from the stored one is refused, as Kafka
// refuses a log dir formatted for another cluster.
func (b *Broker) loadClusterID() error {
	if stored, ok := b.store.GetKV(kvNamespace, clusterIDKey); ok {
		if b.cfg.ClusterID != "" && b.cfg.ClusterID != string(stored) {
			return fmt.Errorf("broker: data directory belongs to cluster %q, configured cluster.id is %q", stored, b.cfg.ClusterID)
		}
		b.cfg.ClusterID = string(stored)
		return nil
	}
	if !b.isMaster() {
		// A slave learns the cluster id through replication (onApply).
		return nil
	}
	c := clusterIDOf{id: b.cfg.ClusterID}
	if c.id == "" {
		c = b.newClusterID()
	}
	b.cfg.ClusterID = c.id
	if err := b.storeClusterID(c); err != nil {
		return fmt.Errorf("broker: storing cluster id: %w", err)
	}
	return nil
}

// leaderEpoch is the leader epoch of every partition this broker leads.
func (b *Broker) leaderEpoch() int32 { return b.epoch.Load() }

// ClusterID returns the stable cluster id.
func (b *Broker) ClusterID() string {
	if id, ok := b.clusterID.Load().(string); ok && id != "" {
		return id
	}
	return b.cfg.ClusterID
}

// Start binds every listener and serves them in the background.
func (b *Broker) Start() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return errors.New("broker: already shut down")
	}
	if len(b.servers) > 0 {
		return errors.New("broker: already started")
	}
	tlsCfg, err := b.tlsConfig()
	if err != nil {
		return err
	}
	mapper, err := security.ParseMappingRules(b.cfg.Security.TLS.PrincipalMappingRules)
	if err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	var lns []net.Listener
	for _, l := range b.cfg.Listeners {
		ln, err := net.Listen("tcp", l.Address)
		if err != nil {
			for _, ln := range lns {
				ln.Close()
			}
			return fmt.Errorf("broker: listener %s: %w", l.Name, err)
		}
		ln = b.connl.wrap(l.Name, ln) // connection limits (quota_connections.go)
		if isTLS(l.Protocol) {
			ln = tlsListener{ln, tlsCfg}
		}
		lns = append(lns, ln)
	}
	for i, l := range b.cfg.Listeners {
		srv, err := protocol.NewServer(protocol.ServerConfig{
			Listener:               l.Name,
			MaxFrameBytes:          b.cfg.SocketRequestMaxBytes,
			Handler:                b,
			Versions:               apiVersionRange,
			Concurrent:             concurrentAPI,
			Recycle:                recyclableAPI,
			IdleTimeout:            b.cfg.ConnectionsMaxIdle,
			ApiVersionsUnsupported: unsupportedApiVersions,
			BytesIn:                b.metrics.bytesIn,
			BytesOut:               b.metrics.bytesOut,
			OnConnect:              b.saslLimits(l.Protocol, onConnect(l.Protocol, mapper)),
			Logger:                 b.log.Named("conn").With(zap.String("listener", l.Name)),
		})
		if err != nil {
			return err
		}
		ln := lns[i]
		b.servers = append(b.servers, srv)
		b.addrs = append(b.addrs, ln.Addr())
		b.serveWG.Add(1)
		go func() {
			defer b.serveWG.Done()
			if err := srv.Serve(ln); err != nil {
				b.log.Error("listener stopped", zap.String("listener", l.Name), zap.Error(err))
			}
		}()
		b.log.Info("listening", zap.String("listener", l.Name), zap.Stringer("addr", ln.Addr()))
	}
	// Registration reads the bound addresses (advertised), which takes mu.
	b.mu.Unlock()
	if b.isMaster() {
		// Bound before the first registration, which carries its address.
		if err := b.startMasterSide(); err != nil {
			b.mu.Lock()
			return err
		}
	}
	b.cluster.start()
	b.checkRole() // a slave starts following the master it just read
	if err := b.startLease(); err != nil {
		b.mu.Lock()
		return err
	}
	if b.stopCh != nil {
		go b.reloadLoop(b.stopCh)
		// A group that does not own the ACLs follows the owner's (acl_owner.go).
		go b.ownerLoop(b.stopCh)
		b.txns() // its loop completes decided transactions and times out open ones (broker/txn)
	}
	b.mu.Lock()
	b.ready.Store(true)
	return nil
}

// Addrs returns the bound address of every listener, in configuration
// order (tests bind port 0 and read the real port here).
func (b *Broker) Addrs() []net.Addr {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]net.Addr(nil), b.addrs...)
}

// Ready reports whether the broker serves requests.
func (b *Broker) Ready() bool { return b.ready.Load() }

// Shutdown stops accepting, answers the requests already read (long polls
// return at once), then closes the group coordinator and the store. A
// second call does nothing.
func (b *Broker) Shutdown(ctx context.Context) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.ready.Store(false)
	servers := b.servers
	b.mu.Unlock()

	b.stopLease() // steps down and frees the lease for a slave at once
	if len(servers) > 0 {
		b.cluster.shutdown(ctx)
		close(b.stopCh)
	}
	var errs []error
	for _, s := range servers {
		if err := s.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	b.serveWG.Wait()
	b.stopReplication()
	if b.groups != nil {
		if err := b.groups.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := b.store.Close(); err != nil {
		errs = append(errs, err)
	}
	b.metrics.unregister()
	b.ops.unregister()
	if b.replMetrics != nil {
		b.cfg.Registerer.Unregister(b.replMetrics)
	}
	return errors.Join(errs...)
}

// advertised returns the address clients that arrived on conn's listener
// are told to use (see the package doc for wildcard binds).
func (b *Broker) advertised(conn *protocol.ConnInfo) (host string, port int32) {
	idx := 0
	if conn != nil {
		for i, l := range b.cfg.Listeners {
			if l.Name == conn.Listener {
				idx = i
				break
			}
		}
	}
	l := b.cfg.Listeners[idx]
	if l.Advertised != "" {
		h, p, err := splitHostPort(l.Advertised)
		if err == nil {
			return h, p
		}
	}
	b.mu.Lock()
	var bound net.Addr
	if idx < len(b.addrs) {
		bound = b.addrs[idx]
	}
	b.mu.Unlock()
	addr := l.Address
	if bound != nil {
		addr = bound.String()
	}
	h, p, _ := splitHostPort(addr)
	if ip := net.ParseIP(h); h == "" || (ip != nil && ip.IsUnspecified()) {
		h = "127.0.0.1"
		if conn != nil && conn.Local != nil {
			if lh, _, err := net.SplitHostPort(conn.Local.String()); err == nil {
				h = lh
			}
		}
	}
	return h, p
}

// splitHostPort parses host:port with a numeric port in 0..65535.
func splitHostPort(addr string) (string, int32, error) {
	h, ps, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	p, err := strconv.ParseUint(ps, 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("bad port %q", ps)
	}
	return h, int32(p), nil
}
