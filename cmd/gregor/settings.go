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
	"sort"
	"strings"

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

// setting is one property gregor honours.
type setting struct {
	key   string
	kind  kind
	usage string
	// env lists extra environment variables read for the key, after
	// GREGOR_* and KAFKA_* (CLUSTER_ID, as the apache/kafka image has it).
	env []string
}

// settings is every property gregor honours. Defaults live in
// defaultConfig, not here, so that "was it set?" stays answerable (the
// log.retention.{ms,minutes,hours} precedence needs it).
var settings = []setting{
	{key: "node.id", kind: kindInt, usage: "this broker's Kafka node id (default 1)"},
	{key: "broker.id", kind: kindInt, usage: "older name of node.id"},
	{key: "cluster.id", kind: kindString, usage: "cluster id; made at first start and kept when empty", env: []string{"CLUSTER_ID"}},
	{key: "listeners", kind: kindList, usage: "Kafka listeners, NAME://host:port,… (default PLAINTEXT://localhost:9092)"},
	{key: "advertised.listeners", kind: kindList, usage: "addresses told to clients, NAME://host:port,… (default: from listeners)"},
	{key: "advertised.host.name", kind: kindString, usage: "host advertised for a listener on the any-address that advertised.listeners does not name (default: the machine's host name)"},
	{key: "listener.security.protocol.map", kind: kindList, usage: "NAME:PROTOCOL,…; gregor speaks PLAINTEXT only"},
	{key: "controller.listener.names", kind: kindList, usage: "listeners that belong to a KRaft controller; gregor skips them"},
	{key: "num.partitions", kind: kindInt, usage: "partitions of an auto-created topic (default 1)"},
	{key: "default.replication.factor", kind: kindInt, usage: "replication factor of an auto-created topic (default 1)"},
	{key: "auto.create.topics.enable", kind: kindBool, usage: "create a topic when a client asks for an unknown one (default true)"},
	{key: "log.retention.ms", kind: kindInt, usage: "how long records are kept, -1 = forever; outranks minutes and hours"},
	{key: "log.retention.minutes", kind: kindInt, usage: "log.retention.ms in minutes; outranks hours"},
	{key: "log.retention.hours", kind: kindInt, usage: "log.retention.ms in hours (default 168)"},
	{key: "log.retention.bytes", kind: kindInt, usage: "bytes kept per partition, -1 = no limit (default -1)"},
	{key: "log.message.timestamp.type", kind: kindString, usage: "CreateTime (the producer's timestamps) or LogAppendTime (the broker's) (default CreateTime)"},
	{key: "message.max.bytes", kind: kindInt, usage: "largest record batch accepted (default 1048588)"},
	{key: "socket.request.max.bytes", kind: kindInt, usage: "largest request frame accepted (default 104857600)"},
	{key: "log.dirs", kind: kindList, usage: "data directory (one; default ./data)"},
	{key: "log.dir", kind: kindString, usage: "data directory when log.dirs is unset"},
	{key: "log.segment.bytes", kind: kindInt, usage: "commit-log segment file size (default 1073741824)"},
	{key: "log.flush.mode", kind: kindString, usage: "async (page cache, periodic fsync) or sync (fsync before the ack) (default async)"},
	{key: "log.flush.interval.ms", kind: kindInt, usage: "async flush period (default 500)"},
	{key: "log.retention.check.interval.ms", kind: kindInt, usage: "how often retention deletes old data (default 30000)"},
	{key: "log.flush.offset.checkpoint.interval.ms", kind: kindInt, usage: "how often consume queues and derived state are checkpointed, bounding the commit log replayed after a crash (default 10000)"},
	{key: "log.max.disk.bytes", kind: kindInt, usage: "gregor's broker-wide cap on commit-log bytes; the oldest segments go first; 0 = none (default 0)"},
	{key: "max.incremental.fetch.session.cache.slots", kind: kindInt, usage: "fetch sessions (KIP-227) kept at once (default 1000)"},
	{key: "producer.id.expiration.ms", kind: kindInt, usage: "idle producer state is dropped after this (default 86400000)"},
	{key: "group.initial.rebalance.delay.ms", kind: kindInt, usage: "wait for more members before the first rebalance of an empty group (default 3000)"},
	{key: "group.min.session.timeout.ms", kind: kindInt, usage: "smallest session timeout a member may ask for (default 6000)"},
	{key: "group.max.session.timeout.ms", kind: kindInt, usage: "largest session timeout a member may ask for (default 1800000)"},
	{key: "offsets.retention.minutes", kind: kindInt, usage: "committed offsets of an empty group are kept this long (default 10080)"},
	{key: "offsets.retention.check.interval.ms", kind: kindInt, usage: "how often expired offsets are removed (default 600000)"},
	{key: "offset.metadata.max.bytes", kind: kindInt, usage: "largest metadata string of a committed offset (default 4096)"},
	{key: "group.max.size", kind: kindInt, usage: "most members a consumer group may have; more get GROUP_MAX_SIZE_REACHED (default 2147483647)"},
	{key: "nameservers", kind: kindList, usage: "NameServers host:port,… to register with (gregor broker: default 127.0.0.1:9876; standalone: an in-process one)"},
	{key: "broker.cluster.name", kind: kindString, usage: "cluster the broker registers under (default DefaultCluster)"},
	{key: "broker.name", kind: kindString, usage: "broker group (RocketMQ brokerName) (default broker-<node.id>)"},
	{key: "broker.member.id", kind: kindInt, usage: "identity in the broker group (RocketMQ brokerId); the group's current term decides who is master, member 0 begins term 0 of a fresh group (default 0)"},
	{key: "nameserver.register.interval.ms", kind: kindInt, usage: "heartbeat period to every NameServer; changes register at once (default 3000)"},
	{key: "nameserver.poll.interval.ms", kind: kindInt, usage: "how often the route table is read from the NameServers (default 2000)"},
	{key: "failover.enable", kind: kindBool, usage: "with 3 or more NameServers, a master holds a lease with a majority of them and an in-sync slave takes over when it runs out (docs/replication.md); false: no lease, fail-over only by hand (default true)"},
	{key: "unclean.leader.election.enable", kind: kindBool, usage: "a slave outside the last in-sync set may take over when no in-sync one can, losing acknowledged writes (default false)"},
	{key: "broker.rack", kind: kindString, usage: "rack of this broker; a consumer whose client.rack matches a slave's is sent to read there (KIP-392)"},
	{key: "replication.listener", kind: kindString, usage: "host:port a master listens on for its slaves (gregor broker: default :10912, RocketMQ's HA port; standalone: none unless set)"},
	{key: "replication.advertised.listener", kind: kindString, usage: "host:port slaves are told to connect to (default: replication.listener, with the advertised Kafka host for the any-address)"},
	{key: "replication.mode", kind: kindString, usage: "async (ack once the master has it) or sync (acks=all waits for every in-sync slave) (default async)"},
	{key: "replica.lag.time.max.ms", kind: kindInt, usage: "a slave that has not reached the master's end within this leaves the ISR (default 30000)"},
	{key: "min.insync.replicas", kind: kindInt, usage: "in-sync members (master included) acks=all needs in replication.mode=sync; fewer get NOT_ENOUGH_REPLICAS (default 1)"},
	{key: "leader.replication.throttled.rate", kind: kindInt, usage: "bytes/s a master streams to all its slaves, 0 = unlimited (default 0)"},
	{key: "follower.replication.throttled.rate", kind: kindInt, usage: "bytes/s a slave takes from its master, 0 = unlimited (default 0)"},
	{key: "replica.read.far.behind.bytes", kind: kindInt, usage: "a consumer reading more than this many commit-log bytes behind the end is sent to a slave (RocketMQ's cold-read rule), 0 = off (default 0)"},
	{key: "http.listener", kind: kindString, usage: "host:port of /metrics, /healthz, /readyz; empty disables (default 127.0.0.1:8080)"},
	{key: "http.pprof.enable", kind: kindBool, usage: "serve net/http/pprof under /debug/pprof/ on http.listener"},
	{key: "logger.level", kind: kindString, usage: "debug, info, warn or error (default info)"},
	{key: "logger.format", kind: kindString, usage: "console or json (default console)"},
}

// ignored are Kafka properties that mean nothing to gregor. Compose files
// written for the apache/kafka image set them; a drop-in accepts them and
// says in its log that it ignores them, rather than refusing to start.
var ignored = map[string]string{
	"process.roles":                                    "gregor standalone runs the NameServer and the broker in one process",
	"controller.quorum.voters":                         "gregor has no KRaft quorum; brokers register with NameServers",
	"controller.quorum.bootstrap.servers":              "gregor has no KRaft quorum",
	"inter.broker.listener.name":                       "brokers forward admin requests to each other on the peer's listener named like this broker's first",
	"inter.broker.protocol.version":                    "brokers do not talk Kafka to each other",
	"offsets.topic.replication.factor":                 "offsets live in the commit log and follow its replication",
	"offsets.topic.num.partitions":                     "the offsets partition count is fixed at 50 and never changes",
	"transaction.state.log.replication.factor":         "transactions are not supported",
	"transaction.state.log.min.isr":                    "transactions are not supported",
	"transaction.state.log.num.partitions":             "transactions are not supported",
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

// flagAliases are friendlier flag names for a few settings.
var flagAliases = map[string]string{
	"data-dir": "log.dirs",
	"pprof":    "http.pprof.enable",
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

// lookupSetting returns the setting named key.
func lookupSetting(key string) (setting, bool) {
	for _, s := range settings {
		if s.key == key {
			return s, true
		}
	}
	return setting{}, false
}

// addSettingFlags defines one flag per setting, named as the property
// (--num.partitions 3), plus the aliases. Every flag is text; parsing and
// its error messages happen in one place, parseConfig.
func addSettingFlags(fs *pflag.FlagSet) {
	fs.StringP("config", "c", "", "YAML file of settings (also GREGOR_CONFIG)")
	for _, s := range settings {
		fs.String(s.key, "", s.usage)
		if s.kind == kindBool {
			fs.Lookup(s.key).NoOptDefVal = "true"
		}
	}
	fs.String("data-dir", "", "data directory (same as --log.dirs)")
	fs.Bool("pprof", false, "serve net/http/pprof on http.listener (same as --http.pprof.enable)")
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
		for alias, k := range flagAliases {
			if k == key {
				if f := s.fs.Lookup(alias); f != nil && f.Changed {
					return "flag --" + alias
				}
			}
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
	unknown []string // KAFKA_* and GREGOR_* variables that name no setting
}

// load reads the settings through viper. fs holds the parsed flags; environ
// is os.Environ(), scanned for KAFKA_* and GREGOR_* variables that name no
// setting (viper itself reads the bound variables).
func load(fs *pflag.FlagSet, environ []string) (*loaded, error) {
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
			if _, ok := lookupSetting(k); ok {
				continue
			}
			if why, ok := ignored[k]; ok {
				out.ignored = append(out.ignored, fmt.Sprintf("%s (config file %s): %s", k, file, why))
				delete(fileValues, k)
				continue
			}
			problems = append(problems, k)
		}
		if len(problems) > 0 {
			sort.Strings(problems)
			return nil, fmt.Errorf("config file %s: unknown setting(s) %s (see `gregor standalone --help` for the names gregor knows)", file, strings.Join(problems, ", "))
		}
		if err := v.MergeConfigMap(fileValues); err != nil {
			return nil, fmt.Errorf("config file %s: %w", file, err)
		}
		src.file = file
	}

	// Environment: GREGOR_* first, then KAFKA_*, then the extra names.
	// viper takes the first variable that is set.
	for _, s := range settings {
		names := append([]string{envName("GREGOR_", s.key), envName("KAFKA_", s.key)}, s.env...)
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
		var prefix string
		switch {
		case strings.HasPrefix(name, "KAFKA_"):
			prefix = "KAFKA_"
		case strings.HasPrefix(name, "GREGOR_"):
			prefix = "GREGOR_"
		default:
			continue
		}
		prop := propertyName(strings.TrimPrefix(name, prefix))
		if _, ok := lookupSetting(prop); ok || prop == "config" || prop == "bootstrap.server" {
			continue
		}
		if why, ok := ignored[prop]; ok {
			out.ignored = append(out.ignored, fmt.Sprintf("%s (environment variable %s): %s", prop, name, why))
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
		if v.IsSet(s.key) {
			out.values[s.key] = text(v.Get(s.key))
		}
	}
	return out, nil
}

// aliasOf returns the changed alias flag of key, or nil.
func aliasOf(fs *pflag.FlagSet, key string) *pflag.Flag {
	if fs == nil {
		return nil
	}
	for alias, k := range flagAliases {
		if k == key {
			if f := fs.Lookup(alias); f != nil && f.Changed {
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
