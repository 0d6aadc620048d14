package broker

// Broker configs as DescribeConfigs and Alter(Incremental)Configs see them.
//
// A BROKER resource named by this broker's id lists every config Kafka 4.1
// lists (kafka_configs.go), with Kafka's type, read-only and sensitive
// flags and documentation, plus gregor's own (log.flush.mode). A value's
// source, most specific first: this broker's dynamic value
// (DYNAMIC_BROKER_CONFIG), the cluster-wide one (DYNAMIC_DEFAULT_BROKER_CONFIG),
// the value gregor runs with when it differs from Kafka's default
// (STATIC_BROKER_CONFIG: gregor's config struct cannot tell "set to the
// default" from "not set"), Kafka's default (DEFAULT_CONFIG). The resource
// "" lists the cluster-wide dynamic values that are set.
//
// Dynamic configs are the ones Kafka marks not read-only. gregor applies
// those it uses (appliedDynamicBrokerConfigs, at once to every topic that
// does not set its own value) and stores and describes the rest, durably
// (topics.go, namespace broker-configs), as Kafka stores them. As Kafka:
// a read-only config gets INVALID_REQUEST "Cannot update these configs
// dynamically"; one Kafka takes only per broker, at the resource "",
// "…broker id must be specified"; the per-listener SSL settings "…only
// per-listener using the listener prefix"; a value of the wrong type or
// out of range INVALID_REQUEST "Invalid value …" (KAFKA-13609); a name
// Kafka does not know is stored as given (Kafka keeps custom configs) and
// described as Kafka does, sensitive and without a value; a thread count
// may at most halve or double at once, as in Kafka (gregor has no such
// pools: the counts are stored only). Where gregor would not do what a
// value says it refuses it (log.cleanup.policy=compact).

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gregor-broker/gregor/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// appliedDynamicBrokerConfigs are the dynamic broker configs gregor applies
// at runtime (TopicDefaults.with); topics follow them.
var appliedDynamicBrokerConfigs = map[string]bool{
	"log.message.timestamp.type": true,
	"log.retention.bytes":        true,
	"log.retention.ms":           true,
	"message.max.bytes":          true,
	// The defaults of a compacted topic's settings (compactionPolicy).
	"log.cleaner.min.cleanable.ratio":   true,
	"log.cleaner.min.compaction.lag.ms": true,
	"log.cleaner.max.compaction.lag.ms": true,
	"log.cleaner.delete.retention.ms":   true,
}

// gregorBrokerConfigs are gregor's own broker configs, which Kafka does not
// have; read-only.
var gregorBrokerConfigs = map[string]*kafkaConfig{
	"log.flush.mode": {Name: "log.flush.mode", typ: kmsg.ConfigTypeString, ReadOnly: true, Default: kmsg.StringPtr("async"),
		Doc: "gregor: async acknowledges from the page cache; sync acknowledges after fsync (group commit)."},
}

// topicSpecBySynonym maps a broker config to the topic config it is the
// default of.
var topicSpecBySynonym = func() map[string]*configSpec {
	m := map[string]*configSpec{}
	for _, s := range topicConfigSpecs {
		if s.synonym != "" {
			m[s.synonym] = s
		}
	}
	return m
}()

// brokerConfigCheck returns Kafka's validator of a broker config beyond its
// type, where gregor knows it; nil when there is none.
func brokerConfigCheck(name string) func(string) error {
	switch name {
	case "background.threads", "num.io.threads", "num.network.threads", "num.replica.fetchers",
		"log.cleaner.threads", "num.recovery.threads.per.data.dir":
		return checkAtLeast(1)
	case "log.cleanup.policy":
		return checkBrokerCleanupPolicy
	}
	if spec := topicSpecBySynonym[name]; spec != nil && !spec.nullSynonymDefault {
		// The topic config's rules (gregor's refusals included); the
		// broker configs with a null default (log.retention.ms, …) are
		// looser in Kafka (log.retention.ms=-7 means unlimited).
		return spec.check
	}
	return nil
}

// checkBrokerCleanupPolicy refuses a broker-wide compact policy: topics
// follow only appliedDynamicBrokerConfigs, so a topic without its own
// cleanup.policy would not be compacted; compaction is set per topic.
func checkBrokerCleanupPolicy(v string) error {
	if err := checkCleanupPolicy(v); err != nil {
		return err
	}
	for _, p := range splitList(v) {
		if p == "compact" {
			return fmt.Errorf("gregor compacts the topics whose own cleanup.policy says so; a broker-wide default of compact is not applied to topics, so it is refused")
		}
	}
	return nil
}

// lookupBrokerConfig returns Kafka's (or gregor's own) record of a broker
// config, nil for a name neither knows.
func lookupBrokerConfig(name string) *kafkaConfig {
	if c := kafkaBrokerConfigs[name]; c != nil {
		return c
	}
	return gregorBrokerConfigs[name]
}

// validateDynamicBrokerConfigs checks a set of dynamic broker configs:
// read-only ones refused, values of known ones parsed and checked. Kafka
// answers both with INVALID_REQUEST (KAFKA-13609).
func validateDynamicBrokerConfigs(configs map[string]string) error {
	names := make([]string, 0, len(configs))
	var static []string
	for n := range configs {
		names = append(names, n)
		if c := lookupBrokerConfig(n); c != nil && c.ReadOnly {
			static = append(static, n)
		}
	}
	sort.Strings(names)
	sort.Strings(static)
	if len(static) > 0 {
		return apiErrorf(kerr.InvalidRequest, "Cannot update these configs dynamically: [%s]", strings.Join(static, ", "))
	}
	for _, n := range names {
		c := lookupBrokerConfig(n)
		if c == nil {
			continue // a custom config: Kafka stores it as given
		}
		v := configs[n]
		err := checkType(c.typ, v)
		if check := brokerConfigCheck(n); err == nil && check != nil {
			err = check(v)
		}
		if err != nil {
			return apiErrorf(kerr.InvalidRequest, "Invalid value %s for configuration %s: %v", v, n, err)
		}
	}
	return nil
}

// validateBrokerConfigScope checks that the configs named may be altered on
// resource ("" = cluster-wide), with Kafka's answers.
func validateBrokerConfigScope(resource string, names []string) error {
	var perBroker, perListener []string
	for _, n := range names {
		c := kafkaBrokerConfigs[n]
		switch {
		case c == nil:
		case c.Scope == scopeListener:
			perListener = append(perListener, n)
		case c.Scope == scopeBroker && resource == "":
			perBroker = append(perBroker, n)
		}
	}
	sort.Strings(perBroker)
	sort.Strings(perListener)
	switch {
	case len(perListener) > 0:
		return apiErrorf(kerr.InvalidRequest, "These security configs can be dynamically updated only per-listener using the listener prefix: [%s]", strings.Join(perListener, ", "))
	case len(perBroker) > 0:
		return apiErrorf(kerr.InvalidRequest, "Cannot update these configs at default cluster level, broker id must be specified: [%s]", strings.Join(perBroker, ", "))
	}
	for _, n := range names {
		if n == "min.insync.replicas" && resource != "" {
			// Kafka 4.1 with eligible leader replicas (its default).
			return apiErrorf(kerr.InvalidConfig, "Broker-level min.insync.replicas cannot be altered while ELR is enabled.")
		}
	}
	return nil
}

// isBrokerListConfig reports whether APPEND and SUBTRACT apply to a broker
// config.
func isBrokerListConfig(name string) bool {
	c := lookupBrokerConfig(name)
	return c != nil && c.typ == kmsg.ConfigTypeList
}

// gregorBrokerValues returns the values gregor runs with, by Kafka's name,
// for the broker configs whose value differs from Kafka's default (their
// STATIC_BROKER_CONFIG layer), and the set of broker configs gregor uses.
func gregorBrokerValues(b *Broker) (static map[string]string, used map[string]bool) {
	def := b.topics.Defaults()
	var listeners, advertised []string
	for _, l := range b.cfg.Listeners {
		listeners = append(listeners, l.Name+"://"+l.Address)
		adv := l.Advertised
		if adv == "" {
			adv = l.Address
		}
		advertised = append(advertised, l.Name+"://"+adv)
	}
	segment := b.cfg.Store.SegmentBytes
	if segment <= 0 {
		segment = 1 << 30
	}
	flushMs := b.cfg.Store.FlushInterval.Milliseconds()
	if flushMs <= 0 {
		flushMs = 500
	}
	flushMode := "async"
	if b.cfg.Store.FlushMode == storage.FlushSync {
		flushMode = "sync"
	}
	g := b.cfg.Group
	ms := func(d, zero time.Duration) string {
		switch {
		case d < 0:
			d = 0
		case d == 0:
			d = zero
		}
		return strconv.FormatInt(d.Milliseconds(), 10)
	}
	orInt := func(v, zero int) string {
		if v == 0 {
			v = zero
		}
		return strconv.Itoa(v)
	}
	orStr := func(v, zero string) string {
		if v == "" {
			return zero
		}
		return v
	}
	orList := func(v []string, zero ...string) []string {
		if len(v) == 0 {
			return zero
		}
		return v
	}
	retention := g.OffsetsRetention
	if retention == 0 {
		retention = 7 * 24 * time.Hour
	}
	node := strconv.Itoa(int(b.cfg.NodeID))
	values := map[string]string{
		"advertised.listeners":                     strings.Join(advertised, ","),
		"auto.create.topics.enable":                strconv.FormatBool(def.AutoCreate),
		"broker.id":                                node,
		"default.replication.factor":               strconv.Itoa(int(def.DefaultReplicationFactor)),
		"delete.topic.enable":                      "true",
		"group.consumer.assignors":                 strings.Join(orList(g.ConsumerAssignors, "uniform", "range"), ","),
		"group.consumer.heartbeat.interval.ms":     ms(g.ConsumerHeartbeatInterval, 5*time.Second),
		"group.consumer.max.size":                  orInt(g.ConsumerMaxSize, math.MaxInt32),
		"group.consumer.min.session.timeout.ms":    ms(g.ConsumerMinSessionTimeout, 45*time.Second),
		"group.consumer.max.session.timeout.ms":    ms(g.ConsumerMaxSessionTimeout, 60*time.Second),
		"group.consumer.min.heartbeat.interval.ms": ms(g.ConsumerMinHeartbeatInterval, 5*time.Second),
		"group.consumer.max.heartbeat.interval.ms": ms(g.ConsumerMaxHeartbeatInterval, 15*time.Second),
		// broker/group/consumer_migrate.go: online moves between protocols.
		"group.consumer.migration.policy":     orStr(g.ConsumerMigrationPolicy, "bidirectional"),
		"group.consumer.session.timeout.ms":   ms(g.ConsumerSessionTimeout, 45*time.Second),
		"group.initial.rebalance.delay.ms":    ms(g.InitialRebalanceDelay, 3*time.Second),
		"group.max.session.timeout.ms":        ms(g.MaxSessionTimeout, 30*time.Minute),
		"group.max.size":                      orInt(g.MaxSize, math.MaxInt32),
		"group.min.session.timeout.ms":        ms(g.MinSessionTimeout, 6*time.Second),
		"listeners":                           strings.Join(listeners, ","),
		"log.dirs":                            b.cfg.Store.Dir,
		"log.flush.interval.ms":               strconv.FormatInt(flushMs, 10),
		"log.flush.mode":                      flushMode,
		"log.segment.bytes":                   strconv.FormatInt(segment, 10),
		"node.id":                             node,
		"num.partitions":                      strconv.Itoa(int(def.NumPartitions)),
		"offset.metadata.max.bytes":           orInt(g.OffsetMetadataMaxBytes, 4096),
		"offsets.retention.check.interval.ms": ms(g.OffsetsRetentionCheckInterval, 10*time.Minute),
		"offsets.retention.minutes":           strconv.FormatInt(int64(retention/time.Minute), 10),
		"offsets.topic.num.partitions":        orInt(int(g.OffsetsTopicNumPartitions), 50),
		"socket.request.max.bytes":            strconv.Itoa(int(b.cfg.SocketRequestMaxBytes)),
	}
	used = map[string]bool{}
	static = map[string]string{}
	for n, v := range values {
		used[n] = true
		if c := lookupBrokerConfig(n); c == nil || c.Default == nil || *c.Default != v {
			static[n] = v
		}
	}
	for n, v := range b.topics.staticDefaults().staticBrokerValues() {
		static[n] = v
	}
	for _, s := range topicConfigSpecs {
		if s.synonym != "" && s.honoured {
			used[s.synonym] = true
		}
	}
	for n := range appliedDynamicBrokerConfigs {
		used[n] = true
	}
	return static, used
}

// unusedNote ends the documentation of a config gregor accepts but does not
// apply.
const unusedNote = " (gregor accepts and describes this setting but does not apply it.)"

// brokerConfigValues lists the configs of this broker's BROKER resource,
// sorted by name.
func brokerConfigValues(b *Broker) []configValue {
	static, used := gregorBrokerValues(b)
	cluster := b.topics.brokerConfigs("")
	own := b.topics.brokerConfigs(strconv.Itoa(int(b.cfg.NodeID)))
	seen := map[string]bool{}
	var names []string
	addName := func(n string) {
		if !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	for _, n := range kafkaBrokerConfigNames {
		addName(n)
	}
	for n := range gregorBrokerConfigs {
		addName(n)
	}
	for _, n := range sortedKeys(cluster) {
		addName(n)
	}
	for _, n := range sortedKeys(own) {
		addName(n)
	}
	sort.Strings(names)
	out := make([]configValue, 0, len(names))
	for _, n := range names {
		cv := describedBrokerConfig(n, used[n])
		layer := func(m map[string]string, src kmsg.ConfigSource) {
			if v, ok := m[n]; ok {
				cv.synonyms = append(cv.synonyms, configSynonym{n, &v, src})
			}
		}
		layer(own, kmsg.ConfigSourceDynamicBrokerConfig)
		layer(cluster, kmsg.ConfigSourceDynamicDefaultBrokerConfig)
		layer(static, kmsg.ConfigSourceStaticBrokerConfig)
		if c := lookupBrokerConfig(n); c != nil && c.Default != nil {
			d := *c.Default
			cv.synonyms = append(cv.synonyms, configSynonym{n, &d, kmsg.ConfigSourceDefaultConfig})
		}
		cv.source = kmsg.ConfigSourceDefaultConfig
		if len(cv.synonyms) > 0 {
			cv.value, cv.source = cv.synonyms[0].value, cv.synonyms[0].source
		}
		out = append(out, cv)
	}
	return out
}

// describedBrokerConfig is a broker config's description without its value.
func describedBrokerConfig(name string, used bool) configValue {
	c := lookupBrokerConfig(name)
	if c == nil {
		// A custom config: Kafka describes it as sensitive, read-only,
		// of unknown type and without documentation.
		return configValue{name: name, typ: kmsg.ConfigTypeUnknown, readOnly: true, sensitive: true, noDoc: true}
	}
	cv := configValue{name: name, typ: c.typ, readOnly: c.ReadOnly, sensitive: c.Sensitive, doc: c.Doc}
	if !used && gregorBrokerConfigs[name] == nil {
		cv.doc += unusedNote
	}
	return cv
}

// clusterDefaultConfigValues lists the cluster-wide dynamic broker configs
// that are set (DescribeConfigs on the BROKER resource ""), each with its
// one synonym, as Kafka does.
func clusterDefaultConfigValues(b *Broker) []configValue {
	_, used := gregorBrokerValues(b)
	cluster := b.topics.brokerConfigs("")
	out := make([]configValue, 0, len(cluster))
	for _, n := range sortedKeys(cluster) {
		cv := describedBrokerConfig(n, used[n])
		v := cluster[n]
		cv.value, cv.source = &v, kmsg.ConfigSourceDynamicDefaultBrokerConfig
		cv.synonyms = []configSynonym{{n, &v, cv.source}}
		out = append(out, cv)
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// brokerLoggerValues describes gregor's logger as Kafka describes its
// log4j loggers (BROKER_LOGGER): one "root" logger with its level, not
// read-only, of unknown type, without synonyms or documentation text.
// gregor logs through one zap logger, so there is nothing finer to list.
func brokerLoggerValues(b *Broker) []configValue {
	level := "INFO"
	if b.log != nil {
		switch l := b.log.Level(); {
		case l <= zapcore.DebugLevel:
			level = "DEBUG"
		case l == zapcore.InfoLevel:
			level = "INFO"
		case l == zapcore.WarnLevel:
			level = "WARN"
		case l == zapcore.ErrorLevel:
			level = "ERROR"
		case l <= zapcore.FatalLevel:
			level = "FATAL"
		default:
			level = "OFF" // a no-op logger logs nothing
		}
	}
	return []configValue{{name: "root", value: &level, source: kmsg.ConfigSourceDynamicBrokerLoggerConfig, typ: kmsg.ConfigTypeUnknown}}
}

// brokerConfigOps applies IncrementalAlterConfigs operations to a BROKER
// resource's dynamic configs: SET and DELETE, APPEND and SUBTRACT on LIST
// configs (from the current value, else Kafka's default).
func brokerConfigOps(configs map[string]string, ops []kmsg.IncrementalAlterConfigsRequestResourceConfig) error {
	for _, c := range ops {
		switch c.Op {
		case kmsg.IncrementalAlterConfigOpSet:
			if c.Value == nil {
				return apiErrorf(kerr.InvalidRequest, "Null value not supported for : %s", c.Name)
			}
			configs[c.Name] = *c.Value
		case kmsg.IncrementalAlterConfigOpDelete:
			// Deleting a config that has no dynamic value changes
			// nothing, as in Kafka.
			delete(configs, c.Name)
		default:
			if !isBrokerListConfig(c.Name) {
				op := "append"
				if c.Op == kmsg.IncrementalAlterConfigOpSubtract {
					op = "subtract"
				}
				return apiErrorf(kerr.InvalidConfig, "Config value %s is not allowed for config key: %s", op, c.Name)
			}
			base, ok := configs[c.Name]
			if !ok {
				if d := lookupBrokerConfig(c.Name).Default; d != nil {
					base = *d
				}
			}
			configs[c.Name] = listOp(base, c.Op, c.Value)
		}
	}
	return nil
}

// changedNames lists the config names of IncrementalAlterConfigs operations
// that set a value.
func changedNames(ops []kmsg.IncrementalAlterConfigsRequestResourceConfig) []string {
	var out []string
	for _, c := range ops {
		if c.Op != kmsg.IncrementalAlterConfigOpDelete {
			out = append(out, c.Name)
		}
	}
	return out
}

// validateBrokerAlter checks the configs a request sets on a BROKER
// resource before they are merged: read-only, type and range first, then
// where they may be set, then Kafka's rule for thread counts.
func (b *Broker) validateBrokerAlter(resource string, set map[string]string) error {
	if err := validateDynamicBrokerConfigs(set); err != nil {
		return err
	}
	if err := validateBrokerConfigScope(resource, sortedKeys(set)); err != nil {
		return err
	}
	var current map[string]*string
	for _, n := range sortedKeys(set) {
		if !threadCountConfigs[n] {
			continue
		}
		if current == nil {
			current = map[string]*string{}
			for _, cv := range brokerConfigValues(b) {
				current[cv.name] = cv.value
			}
		}
		if cur := current[n]; cur != nil {
			if err := checkThreadCount(n, set[n], parseLong(*cur)); err != nil {
				return err
			}
		}
	}
	return nil
}

// threadCountConfigs are the broker's thread counts, which Kafka lets a
// dynamic update halve or double at most.
var threadCountConfigs = map[string]bool{
	"background.threads": true, "log.cleaner.threads": true, "num.io.threads": true, "num.network.threads": true,
	"num.recovery.threads.per.data.dir": true, "num.replica.fetchers": true, "remote.log.reader.threads": true,
	"remote.log.manager.copier.thread.pool.size": true, "remote.log.manager.expiration.thread.pool.size": true,
}

// checkThreadCount is Kafka's check of a thread count against the current
// one, with its messages (the log cleaner words its own).
func checkThreadCount(name, value string, current int64) error {
	n := parseLong(value)
	const pre, post = "Invalid value org.apache.kafka.common.config.ConfigException: ", " for configuration Invalid dynamic configuration"
	var why string
	switch {
	case n < current/2 && name == "log.cleaner.threads":
		why = fmt.Sprintf("Log cleaner threads cannot be reduced to less than half the current value %d", current)
	case n > current*2 && name == "log.cleaner.threads":
		why = fmt.Sprintf("Log cleaner threads cannot be increased to more than double the current value %d", current)
	case n < current/2:
		why = fmt.Sprintf("Dynamic thread count update validation failed for %s=%s, value should be at least half the current value %d", name, value, current)
	case n > current*2:
		why = fmt.Sprintf("Dynamic thread count update validation failed for %s=%s, value should not be greater than double the current value %d", name, value, current)
	default:
		return nil
	}
	return apiErrorf(kerr.InvalidRequest, "%s%s%s", pre, why, post)
}

// kafkaLogLevels maps the log4j levels Kafka accepts for a logger to zap's.
var kafkaLogLevels = map[string]zapcore.Level{
	"TRACE": zapcore.DebugLevel, "DEBUG": zapcore.DebugLevel, "INFO": zapcore.InfoLevel,
	"WARN": zapcore.WarnLevel, "ERROR": zapcore.ErrorLevel, "FATAL": zapcore.FatalLevel,
}

// alterBrokerLogger applies IncrementalAlterConfigs to the BROKER_LOGGER
// resource, with Kafka's answers: only the "root" logger exists, SET takes
// a log4j level, DELETE of root and APPEND/SUBTRACT are refused. The level
// changes when the broker was given its logger's level (Config.LogLevel).
func (b *Broker) alterBrokerLogger(resource string, ops []kmsg.IncrementalAlterConfigsRequestResourceConfig, validateOnly bool) error {
	id, err := strconv.ParseInt(resource, 10, 32)
	if err != nil {
		return apiErrorf(kerr.InvalidRequest, "Node id must be an integer, but it is: %s", resource)
	}
	if int32(id) != b.cfg.NodeID {
		return apiErrorf(kerr.InvalidRequest, "Unexpected node id. Expected %d, but received %d", b.cfg.NodeID, id)
	}
	var set *zapcore.Level
	for _, c := range ops {
		switch c.Op {
		case kmsg.IncrementalAlterConfigOpSet, kmsg.IncrementalAlterConfigOpDelete:
		default:
			return apiErrorf(kerr.InvalidRequest, "%s operation is not allowed for the BROKER_LOGGER resource", c.Op)
		}
		if c.Name != "root" {
			return apiErrorf(kerr.InvalidConfig, "Logger %s does not exist!", c.Name)
		}
		if c.Op == kmsg.IncrementalAlterConfigOpDelete {
			return apiErrorf(kerr.InvalidRequest, "Removing the log level of the root logger is not allowed")
		}
		l, ok := kafkaLogLevels[*c.Value]
		if !ok {
			return apiErrorf(kerr.InvalidConfig, "Cannot set the log level of root to %s as it is not a supported log level. Valid log levels are DEBUG, ERROR, FATAL, INFO, TRACE, WARN", *c.Value)
		}
		set = &l
	}
	if validateOnly || set == nil || b.cfg.LogLevel == nil {
		return nil
	}
	b.cfg.LogLevel.SetLevel(*set)
	b.log.Info("log level altered", zap.Stringer("level", *set))
	return nil
}
