package main

import (
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gregor-broker/gregor/broker"
	"github.com/gregor-broker/gregor/nameserver"
	"github.com/gregor-broker/gregor/storage"
	"go.uber.org/zap"
)

// Config is the gregor process's configuration as plain values, after every
// source has been read (settings.go). EnsureDefaults fills what is left
// empty; Validate does that and rejects what cannot work, in plain words.
type Config struct {
	NodeID    int32
	ClusterID string
	// Listeners are the Kafka listeners gregor serves (controller listeners
	// already skipped), each with its advertised address.
	Listeners []broker.Listener
	// SkippedListeners names controller listeners found in listeners.
	SkippedListeners []string
	// Security is the listeners' TLS and SASL settings (security_settings.go).
	Security broker.SecurityConfig
	// Quota is the client quotas' measurement (limits_settings.go).
	Quota broker.QuotaConfig
	// Connections and ConnectionsMaxIdle limit client connections
	// (limits_settings.go).
	Connections        broker.ConnectionLimits
	ConnectionsMaxIdle time.Duration

	DataDir         string
	SegmentBytes    int64
	FlushMode       storage.FlushMode
	FlushInterval   time.Duration
	ProducerIDExpir time.Duration
	// Zero: the store's defaults.
	RetentionCheckInterval time.Duration
	CheckpointInterval     time.Duration
	MaxDiskBytes           int64

	FetchSessionCacheSlots int // zero: the broker's default

	NumPartitions            int32
	DefaultReplicationFactor int16
	AutoCreateTopics         bool
	RetentionMs              int64 // -1 = forever
	RetentionBytes           int64 // -1 = no limit
	MessageTimestampType     string
	MessageMaxBytes          int32
	SocketRequestMaxBytes    int32

	Group GroupSettings

	HTTPListener string // empty: no HTTP server
	PProf        bool
	// HTTPAuth is http.auth (none or login) and HTTPTLS http.ssl.enable
	// (http.go, internal/httpauth).
	HTTPAuth string
	HTTPTLS  bool
	// Console is the web console's console.* settings (console_settings.go).
	Console ConsoleSettings
	// NameServerTLS is nameserver.ssl.enable and NameServerClientAuth
	// nameserver.ssl.client.auth (security_settings.go's nameServerTLS).
	NameServerTLS        bool
	NameServerClientAuth string

	LogLevel  string
	LogFormat string

	// Cluster is set by `gregor broker` (broker_cmd.go); empty, the broker
	// runs with an in-process NameServer (standalone).
	Cluster broker.ClusterConfig

	// Replication is the master→slave replication (broker/replica_config.go
	// holds its defaults and validation).
	Replication broker.ReplicationConfig

	// NameServer is `gregor nameserver`'s configuration
	// (nameServerDefaultConfig); the broker commands leave it zero.
	NameServer nameserver.Config
}

// GroupSettings are the group coordinator's settings (Kafka names); see
// groupConfig.
type GroupSettings struct {
	InitialRebalanceDelay time.Duration // group.initial.rebalance.delay.ms
	MinSessionTimeout     time.Duration // group.min.session.timeout.ms
	MaxSessionTimeout     time.Duration // group.max.session.timeout.ms
	OffsetsRetention      time.Duration // offsets.retention.minutes
	// OffsetsRetentionCheckInterval is offsets.retention.check.interval.ms.
	OffsetsRetentionCheckInterval time.Duration
	OffsetMetadataMaxBytes        int // offset.metadata.max.bytes
	MaxSize                       int // group.max.size
	// KIP-848 consumer groups.
	ConsumerSessionTimeout    time.Duration // group.consumer.session.timeout.ms
	ConsumerHeartbeatInterval time.Duration // group.consumer.heartbeat.interval.ms
	// group.consumer.min/max.session.timeout.ms and
	// group.consumer.min/max.heartbeat.interval.ms.
	ConsumerMinSessionTimeout, ConsumerMaxSessionTimeout       time.Duration
	ConsumerMinHeartbeatInterval, ConsumerMaxHeartbeatInterval time.Duration
	ConsumerAssignors                                          []string // group.consumer.assignors
	ConsumerMaxSize                                            int      // group.consumer.max.size
	ConsumerMigrationPolicy                                    string   // group.consumer.migration.policy
}

// Defaults only the command has; every other default is the packages'
// (EnsureDefaults), read by defaultConfig.
const (
	defaultHTTPListener = "127.0.0.1:8080"
	defaultDataDir      = "./data"
	defaultLogLevel     = "info"
	defaultLogFormat    = "console"
	// nameServerListen is `gregor nameserver`'s address: every interface,
	// on RocketMQ's port (the package's default is loopback).
	nameServerListen = ":9876"
)

// packageDefaults is the broker's configuration as its packages' own
// EnsureDefaults fill it (storage, topics, groups, cluster, replication).
func packageDefaults() broker.Config {
	bc := broker.Config{Topics: broker.TopicDefaults{AutoCreate: broker.DefaultAutoCreateTopics}}
	bc.EnsureDefaults()
	return bc
}

// defaultConfig is the configuration before any source is read: the
// packages' defaults (packageDefaults) and the command's own. Cluster holds
// only what does not depend on other settings (the broker group's default
// name follows node.id, so the broker fills it).
func defaultConfig() Config {
	d := packageDefaults()
	return Config{
		NodeID:                   d.NodeID,
		Security:                 d.Security,
		Quota:                    d.Quota,
		ConnectionsMaxIdle:       d.ConnectionsMaxIdle,
		DataDir:                  defaultDataDir,
		SegmentBytes:             d.Store.SegmentBytes,
		FlushMode:                d.Store.FlushMode,
		FlushInterval:            d.Store.FlushInterval,
		ProducerIDExpir:          d.Store.ProducerIDExpiration,
		RetentionCheckInterval:   d.Store.RetentionInterval,
		CheckpointInterval:       d.Store.CheckpointInterval,
		MaxDiskBytes:             d.Store.MaxDiskBytes,
		FetchSessionCacheSlots:   d.FetchSessionCacheSlots,
		NumPartitions:            d.Topics.NumPartitions,
		DefaultReplicationFactor: d.Topics.DefaultReplicationFactor,
		AutoCreateTopics:         d.Topics.AutoCreate,
		RetentionMs:              d.Topics.RetentionMs,
		RetentionBytes:           d.Topics.RetentionBytes,
		MessageTimestampType:     d.Topics.MessageTimestampType,
		MessageMaxBytes:          d.Topics.MaxMessageBytes,
		SocketRequestMaxBytes:    d.SocketRequestMaxBytes,
		Group: GroupSettings{
			InitialRebalanceDelay:         d.Group.InitialRebalanceDelay,
			MinSessionTimeout:             d.Group.MinSessionTimeout,
			MaxSessionTimeout:             d.Group.MaxSessionTimeout,
			OffsetsRetention:              d.Group.OffsetsRetention,
			OffsetsRetentionCheckInterval: d.Group.OffsetsRetentionCheckInterval,
			OffsetMetadataMaxBytes:        d.Group.OffsetMetadataMaxBytes,
			MaxSize:                       d.Group.MaxSize,
			ConsumerSessionTimeout:        d.Group.ConsumerSessionTimeout,
			ConsumerHeartbeatInterval:     d.Group.ConsumerHeartbeatInterval,
			ConsumerMinSessionTimeout:     d.Group.ConsumerMinSessionTimeout,
			ConsumerMaxSessionTimeout:     d.Group.ConsumerMaxSessionTimeout,
			ConsumerMinHeartbeatInterval:  d.Group.ConsumerMinHeartbeatInterval,
			ConsumerMaxHeartbeatInterval:  d.Group.ConsumerMaxHeartbeatInterval,
			ConsumerAssignors:             d.Group.ConsumerAssignors,
			ConsumerMaxSize:               d.Group.ConsumerMaxSize,
			ConsumerMigrationPolicy:       d.Group.ConsumerMigrationPolicy,
		},
		Cluster: broker.ClusterConfig{
			Name:                 d.Cluster.Name,
			BrokerID:             d.Cluster.BrokerID,
			RegisterInterval:     d.Cluster.RegisterInterval,
			RouteRefreshInterval: d.Cluster.RouteRefreshInterval,
			FailoverDisabled:     d.Cluster.FailoverDisabled,
			UncleanElection:      d.Cluster.UncleanElection,
		},
		Replication:  d.Replication,
		HTTPListener: defaultHTTPListener,
		LogLevel:     defaultLogLevel,
		LogFormat:    defaultLogFormat,
	}
}

// brokerDefaultConfig is defaultConfig under `gregor broker`: a broker of a
// cluster registers with a NameServer on this host and listens for its
// slaves on RocketMQ's HA port unless told otherwise.
func brokerDefaultConfig() Config {
	c := defaultConfig()
	c.Cluster.NameServers = []string{broker.DefaultNameServer}
	c.Replication.Listener = broker.DefaultReplicationListener
	return c
}

// defaultKafkaAddr is the Kafka address of the default listener
// (broker.DefaultListener), where the client commands look by default.
func defaultKafkaAddr() string {
	ls, err := parseListeners([]string{broker.DefaultListener})
	if err != nil || len(ls) == 0 {
		panic("broker.DefaultListener is not NAME://host:port: " + broker.DefaultListener)
	}
	return ls[0].addr()
}

// nameServerDefaultConfig is defaultConfig under `gregor nameserver`: the
// nameserver package's defaults, served on every interface.
func nameServerDefaultConfig() Config {
	c := defaultConfig()
	c.NameServer.Listen = nameServerListen
	c.NameServer.EnsureDefaults()
	c.NameServer.Logger = nil // the command names its own
	return c
}

// defaultsFor is the default configuration of the command c.
func defaultsFor(c command) Config {
	switch c {
	case cmdBroker:
		return brokerDefaultConfig()
	case cmdNameServer:
		return nameServerDefaultConfig()
	}
	return defaultConfig()
}

// parser turns setting texts into typed values and collects every problem,
// so a user sees all mistakes at once.
type parser struct {
	l    *loaded
	errs []error
}

func (p *parser) fail(key, format string, args ...any) {
	p.errs = append(p.errs, fmt.Errorf("%s (from %s): %s", key, p.l.src.of(key), fmt.Sprintf(format, args...)))
}

func (p *parser) str(key string) (string, bool) {
	v, ok := p.l.values[key]
	return v, ok
}

func (p *parser) int(key string, min, max int64) (int64, bool) {
	v, ok := p.l.values[key]
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		p.fail(key, "%q is not a whole number", v)
		return 0, false
	}
	if n < min || n > max {
		p.fail(key, "%d is out of range: it must be between %d and %d", n, min, max)
		return 0, false
	}
	return n, true
}

// ms reads a *.ms setting: a whole number of milliseconds, or a Go
// duration (3s), as the interval flags of `gregor broker` have always taken.
func (p *parser) ms(key string, min, max int64) (time.Duration, bool) {
	v, ok := p.l.values[key]
	if !ok {
		return 0, false
	}
	if _, err := strconv.ParseInt(v, 10, 64); err == nil {
		n, ok := p.int(key, min, max)
		return time.Duration(n) * time.Millisecond, ok
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		p.fail(key, "%q is neither a whole number of milliseconds nor a duration such as 3s", v)
		return 0, false
	}
	if n := d.Milliseconds(); n < min || n > max || d%time.Millisecond != 0 {
		p.fail(key, "%v is out of range: it must be a whole number of milliseconds between %d and %d", d, min, max)
		return 0, false
	}
	return d, true
}

func (p *parser) bool(key string) (bool, bool) {
	v, ok := p.l.values[key]
	if !ok {
		return false, false
	}
	switch strings.ToLower(v) {
	case "true", "1", "yes", "on":
		return true, true
	case "false", "0", "no", "off":
		return false, true
	}
	p.fail(key, "%q is neither true nor false", v)
	return false, false
}

func (p *parser) list(key string) ([]string, bool) {
	v, ok := p.l.values[key]
	if !ok {
		return nil, false
	}
	var out []string
	for _, e := range strings.Split(v, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out, true
}

// parseConfig builds a validated Config from what load read, over
// standalone's defaults.
func parseConfig(l *loaded) (Config, error) { return parseConfigOver(defaultConfig(), l) }

// parseConfigOver builds a validated Config from what load read, over the
// defaults c (defaultsFor the command that loaded).
func parseConfigOver(c Config, l *loaded) (Config, error) {
	p := &parser{l: l}

	if n, ok := p.int("broker.id", 0, math.MaxInt32); ok {
		c.NodeID = int32(n)
	}
	if n, ok := p.int("node.id", 0, math.MaxInt32); ok {
		c.NodeID = int32(n)
	}
	if v, ok := p.str("cluster.id"); ok {
		c.ClusterID = v
	}
	p.listeners(&c)
	p.oauth(&c) // before security, which checks the mechanisms
	p.security(&c)
	p.limits(&c)
	p.console(&c) // after security: it checks http.auth

	if dirs, ok := p.list("log.dirs"); ok {
		switch len(dirs) {
		case 0:
			p.fail("log.dirs", "is empty; give one directory")
		case 1:
			c.DataDir = dirs[0]
		default:
			p.fail("log.dirs", "names %d directories; gregor keeps one commit log per broker, so give one", len(dirs))
		}
	} else if v, ok := p.str("log.dir"); ok {
		c.DataDir = v
	}
	if n, ok := p.int("log.segment.bytes", 1<<20, math.MaxInt64); ok {
		c.SegmentBytes = n
	}
	if v, ok := p.str("log.flush.mode"); ok {
		switch strings.ToLower(v) {
		case "async":
			c.FlushMode = storage.FlushAsync
		case "sync":
			c.FlushMode = storage.FlushSync
		default:
			p.fail("log.flush.mode", "%q is neither async nor sync", v)
		}
	}
	if n, ok := p.int("log.flush.interval.ms", 1, math.MaxInt32); ok {
		c.FlushInterval = time.Duration(n) * time.Millisecond
	}
	if n, ok := p.int("log.retention.check.interval.ms", 1, math.MaxInt32); ok {
		c.RetentionCheckInterval = time.Duration(n) * time.Millisecond
	}
	if n, ok := p.int("log.flush.offset.checkpoint.interval.ms", 1, math.MaxInt32); ok {
		c.CheckpointInterval = time.Duration(n) * time.Millisecond
	}
	if n, ok := p.int("log.max.disk.bytes", 0, math.MaxInt64); ok {
		c.MaxDiskBytes = n
	}
	if n, ok := p.int("max.incremental.fetch.session.cache.slots", 1, math.MaxInt32); ok {
		c.FetchSessionCacheSlots = int(n)
	}
	if n, ok := p.int("producer.id.expiration.ms", 1, math.MaxInt64/int64(time.Millisecond)); ok {
		c.ProducerIDExpir = time.Duration(n) * time.Millisecond
	}

	if n, ok := p.int("num.partitions", 1, math.MaxInt32); ok {
		c.NumPartitions = int32(n)
	}
	if n, ok := p.int("default.replication.factor", 1, math.MaxInt16); ok {
		c.DefaultReplicationFactor = int16(n)
	}
	if b, ok := p.bool("auto.create.topics.enable"); ok {
		c.AutoCreateTopics = b
	}
	// Kafka's order: ms outranks minutes outranks hours; -1 means forever.
	if n, ok := p.int("log.retention.ms", -1, math.MaxInt64); ok {
		c.RetentionMs = n
	} else if n, ok := p.int("log.retention.minutes", -1, math.MaxInt32); ok {
		c.RetentionMs = retention(n, time.Minute)
	} else if n, ok := p.int("log.retention.hours", -1, math.MaxInt32); ok {
		c.RetentionMs = retention(n, time.Hour)
	}
	if c.RetentionMs == 0 {
		p.fail(retentionKey(l), "0 would delete records as soon as they are written; use -1 to keep them forever")
	}
	if n, ok := p.int("log.retention.bytes", -1, math.MaxInt64); ok {
		if n == 0 {
			p.fail("log.retention.bytes", "0 would keep no records; use -1 for no limit")
		}
		c.RetentionBytes = n
	}
	if v, ok := p.str("log.message.timestamp.type"); ok {
		switch strings.ToLower(v) {
		case "createtime":
			c.MessageTimestampType = "CreateTime"
		case "logappendtime":
			c.MessageTimestampType = "LogAppendTime"
		default:
			p.fail("log.message.timestamp.type", "%q is neither CreateTime nor LogAppendTime", v)
		}
	}
	if n, ok := p.int("message.max.bytes", 1, math.MaxInt32); ok {
		c.MessageMaxBytes = int32(n)
	}
	if n, ok := p.int("socket.request.max.bytes", 1, math.MaxInt32); ok {
		c.SocketRequestMaxBytes = int32(n)
	}

	ms := func(key string, dst *time.Duration) {
		if n, ok := p.int(key, 0, math.MaxInt32); ok {
			*dst = time.Duration(n) * time.Millisecond
		}
	}
	ms("group.initial.rebalance.delay.ms", &c.Group.InitialRebalanceDelay)
	ms("group.min.session.timeout.ms", &c.Group.MinSessionTimeout)
	ms("group.max.session.timeout.ms", &c.Group.MaxSessionTimeout)
	if n, ok := p.int("offsets.retention.check.interval.ms", 1, math.MaxInt32); ok {
		c.Group.OffsetsRetentionCheckInterval = time.Duration(n) * time.Millisecond
	}
	if n, ok := p.int("offset.metadata.max.bytes", 0, math.MaxInt32); ok {
		c.Group.OffsetMetadataMaxBytes = int(n)
	}
	if n, ok := p.int("offsets.retention.minutes", 1, math.MaxInt32); ok {
		c.Group.OffsetsRetention = time.Duration(n) * time.Minute
	}
	if n, ok := p.int("group.max.size", 1, math.MaxInt32); ok {
		c.Group.MaxSize = int(n)
	}
	if n, ok := p.int("group.consumer.session.timeout.ms", 1, math.MaxInt32); ok {
		c.Group.ConsumerSessionTimeout = time.Duration(n) * time.Millisecond
	}
	if n, ok := p.int("group.consumer.heartbeat.interval.ms", 1, math.MaxInt32); ok {
		c.Group.ConsumerHeartbeatInterval = time.Duration(n) * time.Millisecond
	}
	for _, d := range []struct {
		key string
		v   *time.Duration
	}{
		{"group.consumer.min.session.timeout.ms", &c.Group.ConsumerMinSessionTimeout},
		{"group.consumer.max.session.timeout.ms", &c.Group.ConsumerMaxSessionTimeout},
		{"group.consumer.min.heartbeat.interval.ms", &c.Group.ConsumerMinHeartbeatInterval},
		{"group.consumer.max.heartbeat.interval.ms", &c.Group.ConsumerMaxHeartbeatInterval},
	} {
		if n, ok := p.int(d.key, 1, math.MaxInt32); ok {
			*d.v = time.Duration(n) * time.Millisecond
		}
	}
	if v, ok := p.list("group.consumer.assignors"); ok {
		c.Group.ConsumerAssignors = v
	}
	if n, ok := p.int("group.consumer.max.size", 1, math.MaxInt32); ok {
		c.Group.ConsumerMaxSize = int(n)
	}
	if v, ok := p.str("group.consumer.migration.policy"); ok {
		c.Group.ConsumerMigrationPolicy = v
	}

	if v, ok := p.list("nameservers"); ok {
		c.Cluster.NameServers = v
	}
	if v, ok := p.str("broker.cluster.name"); ok {
		c.Cluster.Name = v
	}
	if v, ok := p.str("broker.name"); ok {
		c.Cluster.BrokerName = v
	}
	if n, ok := p.int("broker.member.id", 0, math.MaxInt32); ok {
		c.Cluster.BrokerID = n
	}
	if d, ok := p.ms("nameserver.register.interval.ms", 1, math.MaxInt32); ok {
		c.Cluster.RegisterInterval = d
	}
	if d, ok := p.ms("nameserver.poll.interval.ms", 1, math.MaxInt32); ok {
		c.Cluster.RouteRefreshInterval = d
	}
	if v, ok := p.bool("failover.enable"); ok {
		c.Cluster.FailoverDisabled = !v
	}
	if v, ok := p.bool("unclean.leader.election.enable"); ok {
		c.Cluster.UncleanElection = v
	}

	if v, ok := p.str("broker.rack"); ok {
		c.Cluster.Rack = v
	}
	if v, ok := p.str("replication.listener"); ok {
		c.Replication.Listener = v
	}
	if v, ok := p.str("replication.advertised.listener"); ok {
		c.Replication.Advertised = v
	}
	if v, ok := p.str("replication.mode"); ok {
		if m, err := broker.ParseReplicationMode(v); err != nil {
			p.fail("replication.mode", "%v", err)
		} else {
			c.Replication.Mode = m
		}
	}
	if n, ok := p.int("replica.lag.time.max.ms", 1, math.MaxInt32); ok {
		c.Replication.LagTimeMax = time.Duration(n) * time.Millisecond
	}
	if n, ok := p.int("min.insync.replicas", 1, math.MaxInt16); ok {
		c.Replication.MinInsyncReplicas = int(n)
	}
	if n, ok := p.int("leader.replication.throttled.rate", 0, math.MaxInt64); ok {
		c.Replication.LeaderThrottle = n
	}
	if n, ok := p.int("follower.replication.throttled.rate", 0, math.MaxInt64); ok {
		c.Replication.FollowerThrottle = n
	}
	if n, ok := p.int("replica.read.far.behind.bytes", 0, math.MaxInt64); ok {
		c.Replication.FarBehindBytes = n
	}
	if v, ok := p.str("http.listener"); ok {
		c.HTTPListener = v
	}
	if b, ok := p.bool("http.pprof.enable"); ok {
		c.PProf = b
	}
	if v, ok := p.str("logger.level"); ok {
		c.LogLevel = strings.ToLower(v)
	}
	if v, ok := p.str("logger.format"); ok {
		c.LogFormat = strings.ToLower(v)
	}

	if v, ok := p.str("nameserver.listener"); ok {
		c.NameServer.Listen = v
	}
	if d, ok := p.ms("nameserver.scan.interval.ms", 1, math.MaxInt32); ok {
		c.NameServer.ScanInterval = d
	}
	if d, ok := p.ms("nameserver.broker.expiry.ms", 1, math.MaxInt32); ok {
		c.NameServer.BrokerExpiry = d
	}
	if d, ok := p.ms("nameserver.lease.duration.ms", 1, math.MaxInt32); ok {
		c.NameServer.LeaseDuration = d
	}

	if len(p.errs) > 0 {
		return Config{}, errors.Join(p.errs...)
	}
	return c, c.Validate()
}

// retentionKey is the retention setting that decided log.retention.ms.
func retentionKey(l *loaded) string {
	for _, k := range []string{"log.retention.ms", "log.retention.minutes", "log.retention.hours"} {
		if _, ok := l.values[k]; ok {
			return k
		}
	}
	return "log.retention.ms"
}

func retention(n int64, unit time.Duration) int64 {
	if n < 0 {
		return -1
	}
	return n * unit.Milliseconds()
}

// listener is one NAME://host:port entry.
type listener struct {
	name, host, port string
}

func (l listener) addr() string { return net.JoinHostPort(l.host, l.port) }

// parseListeners parses "NAME://host:port,…".
func parseListeners(entries []string) ([]listener, error) {
	var out []listener
	seen := map[string]bool{}
	for _, e := range entries {
		name, hostport, ok := strings.Cut(e, "://")
		if !ok || name == "" {
			return nil, fmt.Errorf("%q is not NAME://host:port", e)
		}
		host, port, err := net.SplitHostPort(hostport)
		if err != nil {
			return nil, fmt.Errorf("%q is not NAME://host:port", e)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			return nil, fmt.Errorf("%q has no valid port", e)
		}
		name = strings.ToUpper(name)
		if seen[name] {
			return nil, fmt.Errorf("listener name %s appears twice", name)
		}
		seen[name] = true
		out = append(out, listener{name: name, host: host, port: port})
	}
	return out, nil
}

// securityProtocols are the protocols Kafka knows; gregor serves them all.
var securityProtocols = map[string]bool{"PLAINTEXT": true, "SSL": true, "SASL_PLAINTEXT": true, "SASL_SSL": true}

// listeners resolves listeners, advertised.listeners,
// listener.security.protocol.map and controller.listener.names into
// c.Listeners, as Kafka reads them.
func (p *parser) listeners(c *Config) {
	entries, ok := p.list("listeners")
	if !ok {
		entries = []string{broker.DefaultListener}
	}
	ls, err := parseListeners(entries)
	if err != nil {
		p.fail("listeners", "%v", err)
		return
	}
	if len(ls) == 0 {
		p.fail("listeners", "is empty; give at least one, e.g. PLAINTEXT://:9092")
		return
	}

	// The protocol map; without one, a listener's name is its protocol.
	protocols := map[string]string{}
	if m, ok := p.list("listener.security.protocol.map"); ok {
		for _, e := range m {
			name, proto, ok := strings.Cut(e, ":")
			proto = strings.ToUpper(strings.TrimSpace(proto))
			if !ok || !securityProtocols[proto] {
				p.fail("listener.security.protocol.map", "%q is not NAME:PROTOCOL with PROTOCOL one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL", e)
				return
			}
			protocols[strings.ToUpper(strings.TrimSpace(name))] = proto
		}
	} else {
		for proto := range securityProtocols {
			protocols[proto] = proto
		}
	}
	controllers := map[string]bool{}
	if names, ok := p.list("controller.listener.names"); ok {
		for _, n := range names {
			controllers[strings.ToUpper(n)] = true
		}
	}

	advHost, _ := p.str("advertised.host.name")
	served := map[string]int{} // name → index in c.Listeners
	ports := map[string]string{}
	c.Listeners = nil
	for _, l := range ls {
		// A KRaft controller listener belongs to a process gregor does
		// not have; compose files list it next to the broker's.
		if controllers[l.name] {
			c.SkippedListeners = append(c.SkippedListeners, l.name)
			continue
		}
		proto, ok := protocols[l.name]
		if !ok {
			p.fail("listener.security.protocol.map", "has no entry for listener %s; add %s:PLAINTEXT", l.name, l.name)
			continue
		}
		if other, dup := ports[l.port]; dup && l.port != "0" {
			p.fail("listeners", "listeners %s and %s both use port %s", other, l.name, l.port)
			continue
		}
		ports[l.port] = l.name
		served[l.name] = len(c.Listeners)
		c.Listeners = append(c.Listeners, broker.Listener{Name: l.name, Address: l.addr(), Advertised: advertisedDefault(l, advHost), Protocol: listenerProtocol(proto)})
	}
	if len(c.Listeners) == 0 && len(p.errs) == 0 {
		p.fail("listeners", "names only controller listeners (%s); add a broker listener such as PLAINTEXT://:9092", strings.Join(c.SkippedListeners, ", "))
		return
	}

	adv, ok := p.list("advertised.listeners")
	if !ok {
		return
	}
	als, err := parseListeners(adv)
	if err != nil {
		p.fail("advertised.listeners", "%v", err)
		return
	}
	for _, a := range als {
		if controllers[a.name] {
			continue // Kafka refuses these; compose files rarely have them
		}
		i, ok := served[a.name]
		if !ok {
			p.fail("advertised.listeners", "names listener %s, which is not in listeners", a.name)
			continue
		}
		if a.host == "" {
			// Kafka advertises the machine's host name for an empty
			// host; Bitnami's README writes PLAINTEXT://:9092. gregor
			// uses advertised.host.name first, as for listeners.
			c.Listeners[i].Advertised = advertisedDefault(a, advHost)
			continue
		}
		if a.host == "0.0.0.0" || a.host == "::" {
			p.fail("advertised.listeners", "listener %s advertises %q; give a host name clients can reach, not the any-address", a.name, a.host)
			continue
		}
		c.Listeners[i].Advertised = a.addr()
	}
}

// advertisedDefault is what a listener advertises when advertised.listeners
// does not name it: its own address, with advertised.host.name or else the
// machine's host name for the any-address (as Kafka does). The image sets
// advertised.host.name=localhost, so `docker run -p 9092:9092` works and a
// compose file's KAFKA_LISTENERS alone never clashes with an advertised
// listener list from the image.
func advertisedDefault(l listener, advHost string) string {
	host := l.host
	if host == "" || host == "0.0.0.0" || host == "::" {
		if advHost != "" {
			host = advHost
		} else if h, err := os.Hostname(); err == nil && h != "" {
			host = h
		} else {
			host = "localhost"
		}
	}
	return net.JoinHostPort(host, l.port)
}

// EnsureDefaults fills the empty values Validate's checks read with
// defaultConfig's; the rest the packages' EnsureDefaults fill when the
// broker starts.
func (c *Config) EnsureDefaults() {
	d := defaultConfig()
	if c.DataDir == "" {
		c.DataDir = d.DataDir
	}
	if c.SegmentBytes == 0 {
		c.SegmentBytes = d.SegmentBytes
	}
	if c.FlushInterval == 0 {
		c.FlushInterval = d.FlushInterval
	}
	if c.LogLevel == "" {
		c.LogLevel = d.LogLevel
	}
	if c.LogFormat == "" {
		c.LogFormat = d.LogFormat
	}
}

// Validate fills empty values with defaults (EnsureDefaults) and rejects
// combinations that cannot work, in plain words.
func (c *Config) Validate() error {
	c.EnsureDefaults()
	var errs []error
	if len(c.Listeners) == 0 {
		errs = append(errs, errors.New("listeners: gregor needs at least one listener"))
	}
	if c.MessageMaxBytes > c.SocketRequestMaxBytes {
		errs = append(errs, fmt.Errorf("message.max.bytes (%d) is larger than socket.request.max.bytes (%d): no request could carry such a batch", c.MessageMaxBytes, c.SocketRequestMaxBytes))
	}
	if int64(c.MessageMaxBytes) > c.SegmentBytes {
		errs = append(errs, fmt.Errorf("message.max.bytes (%d) is larger than log.segment.bytes (%d): a batch never straddles two segments", c.MessageMaxBytes, c.SegmentBytes))
	}
	if c.Group.MinSessionTimeout > c.Group.MaxSessionTimeout {
		errs = append(errs, fmt.Errorf("group.min.session.timeout.ms (%d) is larger than group.max.session.timeout.ms (%d)", c.Group.MinSessionTimeout.Milliseconds(), c.Group.MaxSessionTimeout.Milliseconds()))
	}
	cc := c.Cluster // a copy: Validate fills defaults, only its verdict counts here
	if err := cc.Validate(c.NodeID); err != nil {
		errs = append(errs, fmt.Errorf("nameservers, broker.*: %v", err))
	}
	rc := c.Replication // a copy, as above
	if err := rc.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.NameServer.Listen != "" {
		if _, _, err := net.SplitHostPort(c.NameServer.Listen); err != nil {
			errs = append(errs, fmt.Errorf("nameserver.listener: %q is not host:port (use :9876 for every interface)", c.NameServer.Listen))
		}
	}
	if c.HTTPListener != "" {
		if _, _, err := net.SplitHostPort(c.HTTPListener); err != nil {
			errs = append(errs, fmt.Errorf("http.listener: %q is not host:port (use :8080 for every interface)", c.HTTPListener))
		}
	}
	if _, err := zap.ParseAtomicLevel(c.LogLevel); err != nil {
		errs = append(errs, fmt.Errorf("logger.level: %q is none of debug, info, warn, error", c.LogLevel))
	}
	if c.LogFormat != "console" && c.LogFormat != "json" {
		errs = append(errs, fmt.Errorf("logger.format: %q is neither console nor json", c.LogFormat))
	}
	return errors.Join(errs...)
}

// brokerConfig is the broker's part of c.
func (c *Config) brokerConfig() broker.Config {
	return broker.Config{
		NodeID:                 c.NodeID,
		ClusterID:              c.ClusterID,
		Listeners:              c.Listeners,
		Security:               c.Security,
		Quota:                  c.Quota,
		Connections:            c.Connections,
		ConnectionsMaxIdle:     c.ConnectionsMaxIdle,
		SocketRequestMaxBytes:  c.SocketRequestMaxBytes,
		FetchSessionCacheSlots: c.FetchSessionCacheSlots,
		Store: storage.Config{
			Dir:                  c.DataDir,
			SegmentBytes:         c.SegmentBytes,
			FlushMode:            c.FlushMode,
			FlushInterval:        c.FlushInterval,
			ProducerIDExpiration: c.ProducerIDExpir,
			MaxDiskBytes:         c.MaxDiskBytes,
			CheckpointInterval:   c.CheckpointInterval,
			RetentionInterval:    c.RetentionCheckInterval,
		},
		Topics: broker.TopicDefaults{
			NumPartitions:            c.NumPartitions,
			DefaultReplicationFactor: c.DefaultReplicationFactor,
			AutoCreate:               c.AutoCreateTopics,
			MaxMessageBytes:          c.MessageMaxBytes,
			RetentionMs:              c.RetentionMs,
			RetentionBytes:           c.RetentionBytes,
			MessageTimestampType:     c.MessageTimestampType,
		},
		Group:       groupConfig(c.Group),
		Cluster:     c.Cluster,
		Replication: c.Replication,
	}
}
