package main

// The table of settings gregor reads, by their Kafka-style names, and how each
// one reaches viper: a YAML file (--config / GREGOR_CONFIG), GREGOR_* and
// KAFKA_* environment variables, and flags.
//
// Precedence, highest first:
//
//	--flag  >  GREGOR_*  >  KAFKA_* (and CLUSTER_ID)  >  YAML file  >  built-in default
//
// GREGOR_* outranks KAFKA_* because a compose file copied from the apache/kafka
// image brings KAFKA_* along, and a GREGOR_* set next to it is the deliberate
// choice. Both environment families use the apache/kafka image's rule for
// turning a variable into a property: drop the prefix, lower-case, then
// `___` → `_`, `__` → `-`, `_` → `.` (KAFKA_LOG_RETENTION_HOURS →
// log.retention.hours).

import (
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gregor-broker/gregor/broker"
	"github.com/gregor-broker/gregor/storage"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// kind says how a setting's text is parsed.
type kind int

const (
	kindString kind = iota
	kindInt
	kindBool
	kindList // comma-separated (a YAML list is accepted too)
)

// command is a subcommand that reads the settings table; each row says
// which ones have it.
type command uint8

const (
	cmdStandalone command = 1 << iota // gregor, gregor standalone, gregor healthcheck
	cmdBroker                         // gregor broker
	cmdNameServer                     // gregor nameserver

	// brokerProcess are the commands that run (or check) a broker; a row
	// with no cmds belongs to them.
	brokerProcess = cmdStandalone | cmdBroker
)

// setting is one property gregor honours.
type setting struct {
	key   string
	kind  kind
	usage string
	// cmds are the commands that read the setting; zero: brokerProcess.
	cmds command
	// env lists extra environment variables read for the key, after
	// GREGOR_* and KAFKA_* (CLUSTER_ID, as the apache/kafka image has it).
	env []string
	// def renders the default as the setting's text, read from the
	// command's default Config (defaultsFor), which holds the packages'
	// EnsureDefaults and the command's own constants; nil, or "" under a
	// command, when the default depends on other settings or there is none
	// (the usage says which). TestSettingDefaults holds every def to what
	// EnsureDefaults gives.
	def func(d *Config) string
}

// has reports whether the command c reads s.
func (s setting) has(c command) bool {
	cmds := s.cmds
	if cmds == 0 {
		cmds = brokerProcess
	}
	return cmds&c != 0
}

// settings is every property gregor honours. The defaults are read from
// the packages (defaultConfig), never written here; viper is given none,
// so that "was it set?" stays answerable (the log.retention.{ms,minutes,hours}
// precedence needs it).
var settings = []setting{
	{key: "node.id", kind: kindInt, usage: "this broker's Kafka node id", def: func(d *Config) string { return itoa(d.NodeID) }},
	{key: "broker.id", kind: kindInt, usage: "older name of node.id"},
	{key: "cluster.id", kind: kindString, usage: "cluster id; when empty, the cluster's (every broker group of a NameServer cluster takes the oldest id its brokers register) or one made at first start, then kept", env: []string{"CLUSTER_ID", "KAFKA_KRAFT_CLUSTER_ID"}},
	{key: "listeners", kind: kindList, usage: "Kafka listeners, NAME://host:port,…", def: func(*Config) string { return broker.DefaultListener }},
	{key: "advertised.listeners", kind: kindList, usage: "addresses told to clients, NAME://host:port,… (default: from listeners)"},
	{key: "advertised.host.name", kind: kindString, usage: "host advertised for a listener on the any-address that advertised.listeners does not name (default: the machine's host name)"},
	{key: "listener.security.protocol.map", kind: kindList, usage: "NAME:PROTOCOL,… with PROTOCOL one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL (default: each listener's name is its protocol)"},
	{key: "controller.listener.names", kind: kindList, usage: "listeners that belong to a KRaft controller; gregor skips them"},
	{key: "num.partitions", kind: kindInt, usage: "partitions of an auto-created topic", def: func(d *Config) string { return itoa(d.NumPartitions) }},
	{key: "default.replication.factor", kind: kindInt, usage: "replication factor of an auto-created topic", def: func(d *Config) string { return itoa(d.DefaultReplicationFactor) }},
	{key: "auto.create.topics.enable", kind: kindBool, usage: "create a topic when a client asks for an unknown one", def: func(d *Config) string { return strconv.FormatBool(d.AutoCreateTopics) }},
	{key: "log.retention.ms", kind: kindInt, usage: "how long records are kept, -1 = forever; outranks minutes and hours", def: func(d *Config) string { return itoa(d.RetentionMs) }},
	{key: "log.retention.minutes", kind: kindInt, usage: "log.retention.ms in minutes; outranks hours"},
	{key: "log.retention.hours", kind: kindInt, usage: "log.retention.ms in hours"},
	{key: "log.retention.bytes", kind: kindInt, usage: "bytes kept per partition, -1 = no limit", def: func(d *Config) string { return itoa(d.RetentionBytes) }},
	{key: "log.message.timestamp.type", kind: kindString, usage: "CreateTime (the producer's timestamps) or LogAppendTime (the broker's)", def: func(d *Config) string { return d.MessageTimestampType }},
	{key: "message.max.bytes", kind: kindInt, usage: "largest record batch accepted", def: func(d *Config) string { return itoa(d.MessageMaxBytes) }},
	{key: "socket.request.max.bytes", kind: kindInt, usage: "largest request frame accepted", def: func(d *Config) string { return itoa(d.SocketRequestMaxBytes) }},
	{key: "log.dirs", kind: kindList, usage: "data directory (one)", def: func(d *Config) string { return d.DataDir }},
	{key: "log.dir", kind: kindString, usage: "data directory when log.dirs is unset"},
	{key: "log.segment.bytes", kind: kindInt, usage: "commit-log segment file size", def: func(d *Config) string { return itoa(d.SegmentBytes) }},
	{key: "log.flush.mode", kind: kindString, usage: "async (page cache, periodic fsync) or sync (fsync before the ack)", def: func(d *Config) string { return flushModeName(d.FlushMode) }},
	{key: "log.flush.interval.ms", kind: kindInt, usage: "async flush period", def: func(d *Config) string { return ms(d.FlushInterval) }},
	{key: "log.retention.check.interval.ms", kind: kindInt, usage: "how often retention deletes old data", def: func(d *Config) string { return ms(d.RetentionCheckInterval) }},
	{key: "log.flush.offset.checkpoint.interval.ms", kind: kindInt, usage: "how often consume queues and derived state are checkpointed, bounding the commit log replayed after a crash", def: func(d *Config) string { return ms(d.CheckpointInterval) }},
	{key: "log.max.disk.bytes", kind: kindInt, usage: "gregor's broker-wide cap on commit-log bytes; the oldest segments go first; 0 = none", def: func(d *Config) string { return itoa(d.MaxDiskBytes) }},
	{key: "max.incremental.fetch.session.cache.slots", kind: kindInt, usage: "fetch sessions (KIP-227) kept at once", def: func(d *Config) string { return itoa(d.FetchSessionCacheSlots) }},
	{key: "producer.id.expiration.ms", kind: kindInt, usage: "idle producer state is dropped after this", def: func(d *Config) string { return ms(d.ProducerIDExpir) }},
	{key: "group.initial.rebalance.delay.ms", kind: kindInt, usage: "wait for more members before the first rebalance of an empty group", def: func(d *Config) string { return ms(d.Group.InitialRebalanceDelay) }},
	{key: "group.min.session.timeout.ms", kind: kindInt, usage: "smallest session timeout a member may ask for", def: func(d *Config) string { return ms(d.Group.MinSessionTimeout) }},
	{key: "group.max.session.timeout.ms", kind: kindInt, usage: "largest session timeout a member may ask for", def: func(d *Config) string { return ms(d.Group.MaxSessionTimeout) }},
	{key: "offsets.retention.minutes", kind: kindInt, usage: "committed offsets of an empty group are kept this long", def: func(d *Config) string { return itoa(int64(d.Group.OffsetsRetention / time.Minute)) }},
	{key: "offsets.retention.check.interval.ms", kind: kindInt, usage: "how often expired offsets are removed", def: func(d *Config) string { return ms(d.Group.OffsetsRetentionCheckInterval) }},
	{key: "offset.metadata.max.bytes", kind: kindInt, usage: "largest metadata string of a committed offset", def: func(d *Config) string { return itoa(d.Group.OffsetMetadataMaxBytes) }},
	{key: "group.max.size", kind: kindInt, usage: "most members a consumer group may have; more get GROUP_MAX_SIZE_REACHED", def: func(d *Config) string { return itoa(d.Group.MaxSize) }},
	{key: "group.consumer.session.timeout.ms", kind: kindInt, usage: "KIP-848 consumer groups: a member silent this long is removed", def: func(d *Config) string { return ms(d.Group.ConsumerSessionTimeout) }},
	{key: "group.consumer.heartbeat.interval.ms", kind: kindInt, usage: "KIP-848 consumer groups: the heartbeat interval given to members", def: func(d *Config) string { return ms(d.Group.ConsumerHeartbeatInterval) }},
	{key: "group.consumer.min.session.timeout.ms", kind: kindInt, usage: "KIP-848 consumer groups: the least consumer.session.timeout.ms a group config may set", def: func(d *Config) string { return ms(d.Group.ConsumerMinSessionTimeout) }},
	{key: "group.consumer.max.session.timeout.ms", kind: kindInt, usage: "KIP-848 consumer groups: the most consumer.session.timeout.ms a group config may set", def: func(d *Config) string { return ms(d.Group.ConsumerMaxSessionTimeout) }},
	{key: "group.consumer.min.heartbeat.interval.ms", kind: kindInt, usage: "KIP-848 consumer groups: the least consumer.heartbeat.interval.ms a group config may set", def: func(d *Config) string { return ms(d.Group.ConsumerMinHeartbeatInterval) }},
	{key: "group.consumer.max.heartbeat.interval.ms", kind: kindInt, usage: "KIP-848 consumer groups: the most consumer.heartbeat.interval.ms a group config may set", def: func(d *Config) string { return ms(d.Group.ConsumerMaxHeartbeatInterval) }},
	{key: "group.consumer.assignors", kind: kindList, usage: "KIP-848 consumer groups: server assignors offered (uniform, range), the first the default", def: func(d *Config) string { return strings.Join(d.Group.ConsumerAssignors, ",") }},
	{key: "group.consumer.migration.policy", kind: kindString, usage: "KIP-848: which groups with members move between the classic and consumer protocols online: bidirectional, upgrade, downgrade or disabled", def: func(d *Config) string { return d.Group.ConsumerMigrationPolicy }},
	{key: "group.consumer.max.size", kind: kindInt, usage: "KIP-848 consumer groups: most members; more get GROUP_MAX_SIZE_REACHED", def: func(d *Config) string { return itoa(d.Group.ConsumerMaxSize) }},
	{key: "nameservers", kind: kindList, usage: "NameServers host:port,… to register with (standalone: an in-process one)", def: func(d *Config) string { return strings.Join(d.Cluster.NameServers, ",") }},
	{key: "broker.cluster.name", kind: kindString, usage: "cluster the broker registers under", def: func(d *Config) string { return d.Cluster.Name }},
	{key: "broker.name", kind: kindString, usage: "broker group (RocketMQ brokerName) (default broker-<node.id>)"},
	{key: "broker.member.id", kind: kindInt, usage: "identity in the broker group (RocketMQ brokerId); the group's current term decides who is master, member 0 begins term 0 of a fresh group", def: func(d *Config) string { return itoa(d.Cluster.BrokerID) }},
	{key: "nameserver.register.interval.ms", kind: kindInt, usage: "heartbeat period to every NameServer; changes register at once", def: func(d *Config) string { return ms(d.Cluster.RegisterInterval) }},
	{key: "nameserver.poll.interval.ms", kind: kindInt, usage: "how often the route table is read from the NameServers", def: func(d *Config) string { return ms(d.Cluster.RouteRefreshInterval) }},
	{key: "failover.enable", kind: kindBool, usage: "with 3 or more NameServers, a master holds a lease with a majority of them and an in-sync slave takes over when it runs out (docs/replication.md); false: no lease, fail-over only by hand", def: func(d *Config) string { return strconv.FormatBool(!d.Cluster.FailoverDisabled) }},
	{key: "unclean.leader.election.enable", kind: kindBool, usage: "a slave outside the last in-sync set may take over when no in-sync one can, losing acknowledged writes", def: func(d *Config) string { return strconv.FormatBool(d.Cluster.UncleanElection) }},
	{key: "broker.rack", kind: kindString, usage: "rack of this broker; a consumer whose client.rack matches a slave's is sent to read there (KIP-392)"},
	{key: "replication.listener", kind: kindString, usage: "host:port a master listens on for its slaves (standalone: none unless set; gregor broker: RocketMQ's HA port)", def: func(d *Config) string { return d.Replication.Listener }},
	{key: "replication.advertised.listener", kind: kindString, usage: "host:port slaves are told to connect to (default: replication.listener, with the advertised Kafka host for the any-address)"},
	{key: "replication.mode", kind: kindString, usage: "async (ack once the master has it) or sync (acks=all waits for every in-sync slave)", def: func(d *Config) string { return d.Replication.Mode.String() }},
	{key: "replica.lag.time.max.ms", kind: kindInt, usage: "a slave that has not reached the master's end within this leaves the ISR", def: func(d *Config) string { return ms(d.Replication.LagTimeMax) }},
	{key: "min.insync.replicas", kind: kindInt, usage: "in-sync members (master included) acks=all needs in replication.mode=sync; fewer get NOT_ENOUGH_REPLICAS", def: func(d *Config) string { return itoa(d.Replication.MinInsyncReplicas) }},
	{key: "leader.replication.throttled.rate", kind: kindInt, usage: "bytes/s a master streams to all its slaves, 0 = unlimited", def: func(d *Config) string { return itoa(d.Replication.LeaderThrottle) }},
	{key: "follower.replication.throttled.rate", kind: kindInt, usage: "bytes/s a slave takes from its master, 0 = unlimited", def: func(d *Config) string { return itoa(d.Replication.FollowerThrottle) }},
	{key: "replica.read.far.behind.bytes", kind: kindInt, usage: "a consumer reading more than this many commit-log bytes behind the end is sent to a slave (RocketMQ's cold-read rule), 0 = off", def: func(d *Config) string { return itoa(d.Replication.FarBehindBytes) }},
	{key: "http.listener", kind: kindString, usage: "host:port of /metrics, /healthz, /readyz; empty disables", def: func(d *Config) string { return d.HTTPListener }},
	{key: "http.pprof.enable", kind: kindBool, usage: "serve net/http/pprof under /debug/pprof/ on http.listener", def: func(d *Config) string { return strconv.FormatBool(d.PProf) }},
	{key: "logger.level", kind: kindString, cmds: brokerProcess | cmdNameServer, usage: "debug, info, warn or error", def: func(d *Config) string { return d.LogLevel }},
	{key: "logger.format", kind: kindString, cmds: brokerProcess | cmdNameServer, usage: "console or json", def: func(d *Config) string { return d.LogFormat }},

	// gregor nameserver's own (nameserver.Config).
	{key: "nameserver.listener", kind: kindString, cmds: cmdNameServer, usage: "host:port of the NameServer's HTTP API (routes, /metrics, /healthz)", def: func(d *Config) string { return d.NameServer.Listen }},
	{key: "nameserver.scan.interval.ms", kind: kindInt, cmds: cmdNameServer, usage: "how often silent brokers are looked for", def: func(d *Config) string { return ms(d.NameServer.ScanInterval) }},
	{key: "nameserver.broker.expiry.ms", kind: kindInt, cmds: cmdNameServer, usage: "a broker silent this long is dropped", def: func(d *Config) string { return ms(d.NameServer.BrokerExpiry) }},
	{key: "nameserver.lease.duration.ms", kind: kindInt, cmds: cmdNameServer, usage: "a master lease's length (fail-over: a killed master's group gets a new master about this long after its last renewal); a started NameServer grants none for this long", def: func(d *Config) string { return ms(d.NameServer.LeaseDuration) }},
}

// ignored are Kafka properties that mean nothing to gregor. Compose files
// written for the apache/kafka image set them; a drop-in accepts them and
// says in its log that it ignores them, rather than refusing to start.
var ignored = map[string]string{
	"process.roles":                                    "gregor standalone runs the NameServer and the broker in one process",
	"controller.quorum.voters":                         "gregor has no KRaft quorum; brokers register with NameServers",
	"controller.quorum.bootstrap.servers":              "gregor has no KRaft quorum",
	"inter.broker.protocol.version":                    "brokers do not talk Kafka to each other",
	"offsets.topic.replication.factor":                 "offsets live in the commit log and follow its replication",
	"offsets.topic.num.partitions":                     "the offsets partition count is fixed at 50 and never changes",
	"transaction.state.log.replication.factor":         "transaction state lives in the commit log and follows its replication",
	"transaction.state.log.min.isr":                    "transaction state lives in the commit log and follows its replication",
	"transaction.state.log.num.partitions":             "the transaction state partition count is fixed at 50 and never changes",
	"num.network.threads":                              "one goroutine per connection",
	"num.io.threads":                                   "one goroutine per connection",
	"num.recovery.threads.per.data.dir":                "recovery replays one commit log",
	"num.replica.fetchers":                             "replication streams the commit log",
	"socket.send.buffer.bytes":                         "the OS default is used",
	"socket.receive.buffer.bytes":                      "the OS default is used",
	"metadata.log.dir":                                 "there is no KRaft metadata log",
	"zookeeper.connect":                                "there is no ZooKeeper",
	"group.coordinator.rebalance.protocols":            "the classic group protocol is served",
	"share.coordinator.state.topic.replication.factor": "share groups are not supported",
	"share.coordinator.state.topic.min.isr":            "share groups are not supported",
	"log.message.format.version":                       "record batches v2 only",
	"confluent.support.metrics.enable":                 "not Confluent Platform",
	"confluent.metrics.reporter.bootstrap.servers":     "not Confluent Platform",
	"jmx.port":             "metrics are on http.listener (/metrics)",
	"jmx.hostname":         "metrics are on http.listener (/metrics)",
	"jmx.opts":             "not a JVM",
	"heap.opts":            "not a JVM",
	"jvm.performance.opts": "not a JVM",
	"opts":                 "not a JVM",
	"log4j.opts":           "logging goes through zap (logger.level)",
	"log4j.loggers":        "logging goes through zap (logger.level)",
	"log4j.root.loglevel":  "logging goes through zap (logger.level)",
}

// flagAlias is a friendlier flag name for a setting: the same row, the same
// parsing and default, under the commands cmds (zero: brokerProcess). The
// `gregor broker` and `gregor nameserver` ones are the names RocketMQ users
// know and these commands have always had; an interval alias also takes a
// Go duration (3s), as those flags always have.
type flagAlias struct {
	name, key string
	cmds      command
}

// has reports whether the command c has the alias.
func (a flagAlias) has(c command) bool {
	cmds := a.cmds
	if cmds == 0 {
		cmds = brokerProcess
	}
	return cmds&c != 0
}

// flagAliases are the friendlier flag names.
var flagAliases = []flagAlias{
	{name: "data-dir", key: "log.dirs"},
	{name: "pprof", key: "http.pprof.enable"},
	{name: "node-id", key: "node.id", cmds: cmdBroker},
	{name: "cluster", key: "broker.cluster.name", cmds: cmdBroker},
	{name: "broker-name", key: "broker.name", cmds: cmdBroker},
	{name: "broker-id", key: "broker.member.id", cmds: cmdBroker},
	{name: "register-interval", key: "nameserver.register.interval.ms", cmds: cmdBroker},
	{name: "route-refresh-interval", key: "nameserver.poll.interval.ms", cmds: cmdBroker},
	{name: "listen", key: "nameserver.listener", cmds: cmdNameServer},
	{name: "scan-interval", key: "nameserver.scan.interval.ms", cmds: cmdNameServer},
	{name: "expiry", key: "nameserver.broker.expiry.ms", cmds: cmdNameServer},
	{name: "lease-duration", key: "nameserver.lease.duration.ms", cmds: cmdNameServer},
}

// envName is the environment variable name of key after prefix, the
// apache/kafka rule run backwards: `_` → `___`, `-` → `__`, `.` → `_`.
func envName(prefix, key string) string {
	r := strings.NewReplacer("_", "___", "-", "__", ".", "_")
	return prefix + strings.ToUpper(r.Replace(key))
}

// propertyName turns an environment variable without its prefix into a
// property name by the apache/kafka image's rule.
func propertyName(rest string) string {
	s := strings.ToLower(rest)
	s = strings.ReplaceAll(s, "___", "\x00")
	s = strings.ReplaceAll(s, "__", "-")
	s = strings.ReplaceAll(s, "_", ".")
	return strings.ReplaceAll(s, "\x00", "_")
}

// extraEnv reports whether name is a setting's extra variable (CLUSTER_ID …).
func extraEnv(name string) bool {
	for _, s := range settings {
		if slices.Contains(s.env, name) {
			return true
		}
	}
	return false
}

// lookupSetting returns the setting named key.
func lookupSetting(key string) (setting, bool) {
	for _, s := range settings {
		if s.key == key {
			return s, true
		}
	}
	return setting{}, false
}

// addSettingFlags defines the flags of the command c: one per setting it
// reads, named as the property (--num.partitions 3), plus its aliases. They
// are the command's only configuration flags. Every flag is text without a
// default of its own; parsing and its error messages happen in one place,
// parseConfigOver, and each usage ends with the setting's default as the
// packages give it (def over defaultsFor(c)).
func addSettingFlags(fs *pflag.FlagSet, c command) {
	fs.StringP("config", "c", "", "YAML file of settings (also GREGOR_CONFIG)")
	d := defaultsFor(c)
	for _, s := range settings {
		if !s.has(c) {
			continue
		}
		usage := s.usage
		if s.def != nil {
			if def := s.def(&d); def != "" {
				usage += fmt.Sprintf(" (default %s)", def)
			}
		}
		fs.String(s.key, "", usage)
		if s.kind == kindBool {
			fs.Lookup(s.key).NoOptDefVal = "true"
		}
	}
	for _, a := range flagAliases {
		if !a.has(c) {
			continue
		}
		usage := fmt.Sprintf("same as --%s", a.key)
		if strings.HasSuffix(a.key, ".ms") {
			usage += " (milliseconds, or a duration such as 3s)"
		}
		fs.String(a.name, "", usage)
		if s, _ := lookupSetting(a.key); s.kind == kindBool {
			fs.Lookup(a.name).NoOptDefVal = "true"
		}
	}
}

// itoa renders a whole number as a setting's text.
func itoa[T ~int | ~int16 | ~int32 | ~int64](n T) string { return strconv.FormatInt(int64(n), 10) }

// ms renders a duration as a *.ms setting's text.
func ms(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }

// flushModeName is log.flush.mode's text of m.
func flushModeName(m storage.FlushMode) string {
	if m == storage.FlushSync {
		return "sync"
	}
	return "async"
}

// sources says where each setting was supplied, for error messages.
type sources struct {
	fs    *pflag.FlagSet
	file  string
	inEnv map[string]string // key → variable that supplied it
}

func (s *sources) of(key string) string {
	if s.fs != nil {
		if f := s.fs.Lookup(key); f != nil && f.Changed {
			return "flag --" + key
		}
		if f := aliasOf(s.fs, key); f != nil {
			return "flag --" + f.Name
		}
	}
	if v, ok := s.inEnv[key]; ok {
		return "environment variable " + v
	}
	if s.file != "" {
		return "config file " + s.file
	}
	return "default"
}

// loaded is the raw result of reading every source: the text of each
// setting that was given, and the notes to log once a logger exists.
type loaded struct {
	values  map[string]string
	src     *sources
	ignored []string // "property (from …): why"
	// elsewhere are file keys of settings another command reads (the
	// image's file serves gregor nameserver too).
	elsewhere []string
	unknown   []string // KAFKA_* and GREGOR_* variables that name no setting
}

// load reads the settings of the command c through viper. fs holds the
// parsed flags; environ is os.Environ(), scanned for KAFKA_* and GREGOR_*
// variables that name no setting (viper itself reads the bound variables).
// Settings of other commands are not read: a file key of another command is
// noted as ignored (one file may serve a broker and a NameServer), a
// variable of another command passes in silence.
func load(fs *pflag.FlagSet, environ []string, c command) (*loaded, error) {
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}

	// "::" as key delimiter keeps Kafka's dotted names flat keys instead of
	// viper's nested maps; nested YAML is flattened below.
	v := viper.NewWithOptions(viper.KeyDelimiter("::"))
	src := &sources{fs: fs, inEnv: map[string]string{}}
	out := &loaded{values: map[string]string{}, src: src}

	file, _ := fs.GetString("config")
	if file == "" {
		file = env["GREGOR_CONFIG"]
	}
	if file != "" {
		fileValues, err := readFile(file)
		if err != nil {
			return nil, err
		}
		var problems []string
		for k := range fileValues {
			if s, ok := lookupSetting(k); ok {
				if !s.has(c) {
					out.elsewhere = append(out.elsewhere, fmt.Sprintf("%s (config file %s): a setting of %s", k, file, commandNames(s.cmds)))
					delete(fileValues, k)
				}
				continue
			}
			if why, ok := ignored[k]; ok {
				out.ignored = append(out.ignored, fmt.Sprintf("%s (config file %s): %s", k, file, why))
				delete(fileValues, k)
				continue
			}
			if listenerLimitKey(k) && c != cmdNameServer { // limits_settings.go
				out.values[k] = text(fileValues[k])
				delete(fileValues, k)
				continue
			}
			problems = append(problems, k)
		}
		if len(problems) > 0 {
			sort.Strings(problems)
			help := "gregor standalone"
			if c == cmdNameServer {
				help = "gregor nameserver"
			}
			return nil, fmt.Errorf("config file %s: unknown setting(s) %s (see `%s --help` for the names gregor knows)", file, strings.Join(problems, ", "), help)
		}
		if err := v.MergeConfigMap(fileValues); err != nil {
			return nil, fmt.Errorf("config file %s: %w", file, err)
		}
		src.file = file
	}

	// Environment: GREGOR_* first, then KAFKA_*, then the extra names.
	// viper takes the first variable that is set.
	for _, s := range settings {
		if !s.has(c) {
			continue
		}
		names := append([]string{envName("GREGOR_", s.key), envName("KAFKA_", s.key), bitnamiEnvName(s.key)}, s.env...)
		if err := v.BindEnv(append([]string{s.key}, names...)...); err != nil {
			return nil, err
		}
		for _, n := range names {
			if val, ok := env[n]; ok && val != "" { // viper skips empty ones too
				src.inEnv[s.key] = n
				break
			}
		}
	}
	// Note KAFKA_* and GREGOR_* variables that are not settings, for the log.
	for _, name := range sortedKeys(env) {
		if extraEnv(name) {
			continue
		}
		if why, ok := imageVariables[name]; ok {
			out.ignored = append(out.ignored, fmt.Sprintf("%s (environment variable): %s", name, why))
			continue
		}
		var prop string
		switch {
		case strings.HasPrefix(name, "KAFKA_CFG_"):
			prop = bitnamiPropertyName(strings.TrimPrefix(name, "KAFKA_CFG_"))
		case strings.HasPrefix(name, "KAFKA_"):
			prop = propertyName(strings.TrimPrefix(name, "KAFKA_"))
		case strings.HasPrefix(name, "GREGOR_"):
			prop = propertyName(strings.TrimPrefix(name, "GREGOR_"))
		default:
			continue
		}
		if _, ok := lookupSetting(prop); ok || prop == "config" || prop == "bootstrap.server" || prop == "container" || prop == "command.config" {
			continue
		}
		if why, ok := ignored[prop]; ok {
			out.ignored = append(out.ignored, fmt.Sprintf("%s (environment variable %s): %s", prop, name, why))
			continue
		}
		if listenerLimitKey(prop) && c != cmdNameServer { // limits_settings.go
			if prev := src.inEnv[prop]; !strings.HasPrefix(prev, "GREGOR_") && env[name] != "" {
				out.values[prop], src.inEnv[prop] = env[name], name
			}
			continue
		}
		// Not refused: GREGOR_* also names variables of scripts and tests
		// (GREGOR_CACHE, GREGOR_IMAGE, …) that share the environment.
		out.unknown = append(out.unknown, fmt.Sprintf("%s (%s)", name, prop))
	}

	// Flags, by their property names; an alias flag stands in for its
	// key's flag when only the alias was given.
	if fs != nil {
		for _, s := range settings {
			if !s.has(c) {
				continue
			}
			f := fs.Lookup(s.key)
			if a := aliasOf(fs, s.key); a != nil && (f == nil || !f.Changed) {
				f = a
			}
			if f == nil {
				continue
			}
			if err := v.BindPFlag(s.key, f); err != nil {
				return nil, err
			}
		}
	}

	// No viper defaults are set, so IsSet means "given somewhere".
	for _, s := range settings {
		if s.has(c) && v.IsSet(s.key) {
			out.values[s.key] = text(v.Get(s.key))
		}
	}
	// Inside the image, a Kafka image's mounted data volume outranks the
	// image file's log.dirs (conventions.go).
	if _, inImage := env[containerMarker]; inImage && c != cmdNameServer {
		_, byEnv := src.inEnv["log.dirs"]
		_, byEnvDir := src.inEnv["log.dir"]
		byFlag := fs != nil && ((fs.Lookup("log.dirs") != nil && fs.Lookup("log.dirs").Changed) ||
			(fs.Lookup("log.dir") != nil && fs.Lookup("log.dir").Changed) || aliasOf(fs, "log.dirs") != nil)
		if dir, image := imageDataDir(); dir != "" && !byEnv && !byEnvDir && !byFlag {
			out.values["log.dirs"] = dir
			src.inEnv["log.dirs"] = fmt.Sprintf("%s (%s's data volume is mounted)", containerMarker, image)
		}
	}
	return out, nil
}

// commandNames names the commands cmds (zero: brokerProcess), for messages.
func commandNames(cmds command) string {
	if cmds == 0 {
		cmds = brokerProcess
	}
	var names []string
	for _, n := range []struct {
		c    command
		name string
	}{{cmdStandalone, "gregor standalone"}, {cmdBroker, "gregor broker"}, {cmdNameServer, "gregor nameserver"}} {
		if cmds&n.c != 0 {
			names = append(names, n.name)
		}
	}
	return strings.Join(names, " and ")
}

// aliasOf returns the changed alias flag of key, or nil.
func aliasOf(fs *pflag.FlagSet, key string) *pflag.Flag {
	if fs == nil {
		return nil
	}
	for _, a := range flagAliases {
		if a.key == key {
			if f := fs.Lookup(a.name); f != nil && f.Changed {
				return f
			}
		}
	}
	return nil
}

// readFile reads a YAML settings file through viper and flattens nested
// maps into dotted names, so `log: {retention: {hours: 1}}` and
// `log.retention.hours: 1` mean the same.
func readFile(path string) (map[string]any, error) {
	fv := viper.NewWithOptions(viper.KeyDelimiter("::"))
	fv.SetConfigFile(path)
	fv.SetConfigType("yaml")
	if err := fv.ReadInConfig(); err != nil {
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("config file %s does not exist", path)
		}
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	out := map[string]any{}
	for _, k := range fv.AllKeys() {
		out[strings.ReplaceAll(k, "::", ".")] = fv.Get(k)
	}
	return out, nil
}

// text renders a value from YAML, the environment or a flag as the text
// parseConfig reads; YAML lists become comma-separated.
func text(v any) string {
	switch t := v.(type) {
	case nil:
		return ""
	case string:
		return strings.TrimSpace(t)
	case []any:
		parts := make([]string, len(t))
		for i, e := range t {
			parts[i] = text(e)
		}
		return strings.Join(parts, ",")
	case []string:
		return strings.Join(t, ",")
	case float64:
		if t == float64(int64(t)) {
			return fmt.Sprintf("%d", int64(t))
		}
		return fmt.Sprint(t)
	default:
		return fmt.Sprint(t)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
