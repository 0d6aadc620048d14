package broker

// The table of topic configs (Kafka 4's LogConfig names, types, defaults and
// validators) and how a topic's configs resolve against the broker's
// (broker_configs.go has the broker configs themselves).
//
// Every Kafka topic config is accepted, validated as Kafka validates it,
// stored with the topic and described, so that tools and scripts that set
// e.g. min.insync.replicas or segment.bytes keep working. The ones gregor
// applies are marked honoured; the documentation string of the others says
// that gregor accepts them without effect. remote.storage.enable=true (no
// tiered storage) changes what a topic means and is refused rather than
// accepted silently. cleanup.policy=compact and compact,delete are
// compacted topics (storage/doc.go, "Compaction"), with
// min.cleanable.dirty.ratio, min.compaction.lag.ms, max.compaction.lag.ms,
// delete.retention.ms and segment.ms honoured (compactionPolicy).

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/gregor-broker/gregor/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// configSpec describes one topic config.
type configSpec struct {
	name string
	typ  kmsg.ConfigType
	// def is Kafka's default, used when neither the topic nor the broker
	// sets the config.
	def string
	// synonym is the broker config that supplies the topic default (Kafka's
	// ServerTopicConfigSynonyms), "" when there is none.
	synonym string
	// check validates a value already known to parse as typ; nil accepts
	// any value of the type.
	check func(v string) error
	// honoured is true when gregor applies the config.
	honoured bool
	// nullSynonymDefault is true when the broker synonym's Kafka default
	// is null (log.retention.ms, log.roll.ms, log.flush.interval.ms: Kafka
	// derives them from other settings), so Kafka lists no DEFAULT_CONFIG
	// synonym for the topic config.
	nullSynonymDefault bool
	doc                string
}

// Kafka's defaults for the configs gregor resolves itself.
const (
	defaultMaxMessageBytes = 1048588   // message.max.bytes
	defaultRetentionMs     = 604800000 // log.retention.hours=168
	defaultRetentionBytes  = -1        // log.retention.bytes
	maxLong                = "9223372036854775807"
)

// topicConfigSpecs lists every topic config by name.
var topicConfigSpecs = func() map[string]*configSpec {
	specs := []*configSpec{
		{name: "cleanup.policy", typ: kmsg.ConfigTypeList, def: "delete", synonym: "log.cleanup.policy",
			check: checkCleanupPolicy, honoured: true,
			doc: "The retention policy: delete drops old data by retention.ms and retention.bytes; compact keeps the latest record of each key (records without a key are refused); compact,delete does both; an empty list keeps everything."},
		{name: "compression.gzip.level", typ: kmsg.ConfigTypeInt, def: "-1", synonym: "compression.gzip.level",
			check: checkGzipLevel, doc: "gzip level used when compression.type is gzip."},
		{name: "compression.lz4.level", typ: kmsg.ConfigTypeInt, def: "9", synonym: "compression.lz4.level",
			check: checkRange(1, 17), doc: "lz4 level used when compression.type is lz4."},
		{name: "compression.type", typ: kmsg.ConfigTypeString, def: "producer", synonym: "compression.type",
			check: checkOneOf("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"),
			doc:   "Final compression of the topic's batches. gregor always stores batches as the producer sent them (producer)."},
		{name: "compression.zstd.level", typ: kmsg.ConfigTypeInt, def: "3", synonym: "compression.zstd.level",
			check: checkRange(-131072, 22), doc: "zstd level used when compression.type is zstd."},
		{name: "delete.retention.ms", typ: kmsg.ConfigTypeLong, def: "86400000", synonym: "log.cleaner.delete.retention.ms",
			check: checkAtLeast(0), honoured: true, doc: "How long delete tombstones are kept on compacted topics (counted from the tombstone's append)."},
		{name: "errors.deadletterqueue.group.enable", typ: kmsg.ConfigTypeBoolean, def: "false",
			doc: "Lets share groups use the topic as a dead-letter queue (Kafka 4.4). gregor serves no share groups."},
		{name: "file.delete.delay.ms", typ: kmsg.ConfigTypeLong, def: "60000", synonym: "log.segment.delete.delay.ms",
			check: checkAtLeast(0), doc: "Delay before a deleted segment file is removed."},
		{name: "flush.messages", typ: kmsg.ConfigTypeLong, def: maxLong, synonym: "log.flush.interval.messages",
			check: checkPerTopicFlush("flush.messages"), honoured: true,
			doc: "Messages between forced fsyncs. gregor flushes the shared commit log by log.flush.mode; any value but the default is refused."},
		{name: "flush.ms", typ: kmsg.ConfigTypeLong, def: maxLong, synonym: "log.flush.interval.ms",
			check: checkPerTopicFlush("flush.ms"), honoured: true, nullSynonymDefault: true,
			doc: "Time between forced fsyncs. gregor flushes the shared commit log by log.flush.mode; any value but the default is refused."},
		{name: "follower.replication.throttled.replicas", typ: kmsg.ConfigTypeList, def: "",
			doc: "Replicas whose follower replication is throttled."},
		{name: "index.interval.bytes", typ: kmsg.ConfigTypeInt, def: "4096", synonym: "log.index.interval.bytes",
			check: checkAtLeast(0), doc: "Bytes between offset index entries. gregor indexes every batch."},
		{name: "leader.replication.throttled.replicas", typ: kmsg.ConfigTypeList, def: "",
			doc: "Replicas whose leader replication is throttled."},
		{name: "local.retention.bytes", typ: kmsg.ConfigTypeLong, def: "-2", synonym: "log.local.retention.bytes",
			check: checkAtLeast(-2), doc: "Local retention by size for tiered topics."},
		{name: "local.retention.ms", typ: kmsg.ConfigTypeLong, def: "-2", synonym: "log.local.retention.ms",
			check: checkAtLeast(-2), doc: "Local retention by time for tiered topics."},
		{name: "max.compaction.lag.ms", typ: kmsg.ConfigTypeLong, def: maxLong, synonym: "log.cleaner.max.compaction.lag.ms",
			check: checkAtLeast(1), honoured: true, doc: "Longest time a record stays uncompacted: older dirty data is cleaned whatever the dirty ratio."},
		{name: "max.decompressed.message.bytes", typ: kmsg.ConfigTypeInt, def: "2147483639", synonym: "max.decompressed.message.bytes",
			check: checkAtLeast(0), honoured: true,
			doc: "Largest decompressed record of a compressed batch accepted (Kafka 4.4); a larger one gets INVALID_RECORD. The whole batch is also bounded by socket.request.max.bytes."},
		{name: "max.message.bytes", typ: kmsg.ConfigTypeInt, def: strconv.Itoa(defaultMaxMessageBytes), synonym: "message.max.bytes",
			check: checkAtLeast(0), honoured: true,
			doc: "The largest record batch size allowed; larger produce batches get MESSAGE_TOO_LARGE."},
		{name: "message.timestamp.after.max.ms", typ: kmsg.ConfigTypeLong, def: "3600000", synonym: "log.message.timestamp.after.max.ms",
			check: checkAtLeast(0), honoured: true,
			doc: "How far in the future a CreateTime timestamp may be; later ones get INVALID_TIMESTAMP."},
		{name: "message.timestamp.before.max.ms", typ: kmsg.ConfigTypeLong, def: maxLong, synonym: "log.message.timestamp.before.max.ms",
			check: checkAtLeast(0), honoured: true,
			doc: "How far in the past a CreateTime timestamp may be; earlier ones get INVALID_TIMESTAMP."},
		{name: "message.timestamp.type", typ: kmsg.ConfigTypeString, def: "CreateTime", synonym: "log.message.timestamp.type",
			check: checkOneOf("CreateTime", "LogAppendTime"), honoured: true,
			doc: "CreateTime keeps the producer's timestamps; LogAppendTime stamps batches with the broker's time."},
		{name: "min.cleanable.dirty.ratio", typ: kmsg.ConfigTypeDouble, def: "0.5", synonym: "log.cleaner.min.cleanable.ratio",
			check: checkRatio, honoured: true, doc: "Dirty ratio (dirty bytes over clean plus dirty) that triggers compaction."},
		{name: "min.compaction.lag.ms", typ: kmsg.ConfigTypeLong, def: "0", synonym: "log.cleaner.min.compaction.lag.ms",
			check: checkAtLeast(0), honoured: true, doc: "Shortest time a record stays uncompacted (by its batch's max timestamp)."},
		{name: "min.insync.replicas", typ: kmsg.ConfigTypeInt, def: "1", synonym: "min.insync.replicas",
			check: checkAtLeast(1), honoured: true,
			doc: "Members of the broker group (master included) that must be in sync for acks=all to be accepted in replication.mode=sync; fewer get NOT_ENOUGH_REPLICAS."},
		{name: "preallocate", typ: kmsg.ConfigTypeBoolean, def: "false", synonym: "log.preallocate",
			doc: "Preallocate segment files. gregor's commit log is shared by all topics."},
		{name: "remote.copy.lag.bytes", typ: kmsg.ConfigTypeLong, def: "-1", synonym: "log.remote.copy.lag.bytes",
			doc: "Size lag before a segment is copied to tiered storage (Kafka 4.4). gregor has no tiered storage."},
		{name: "remote.copy.lag.ms", typ: kmsg.ConfigTypeLong, def: "0", synonym: "log.remote.copy.lag.ms",
			doc: "Time lag before a segment is copied to tiered storage (Kafka 4.4). gregor has no tiered storage."},
		{name: "remote.log.copy.disable", typ: kmsg.ConfigTypeBoolean, def: "false",
			doc: "Stop copying segments to tiered storage."},
		{name: "remote.log.delete.on.disable", typ: kmsg.ConfigTypeBoolean, def: "false",
			doc: "Delete tiered data when tiered storage is disabled."},
		{name: "remote.storage.enable", typ: kmsg.ConfigTypeBoolean, def: "false",
			check: checkNoTieredStorage, doc: "Tiered storage. gregor has none, so only false is accepted."},
		{name: "retention.bytes", typ: kmsg.ConfigTypeLong, def: strconv.Itoa(defaultRetentionBytes), synonym: "log.retention.bytes",
			honoured: true, doc: "Largest size a partition keeps before old data is deleted; -1 means no limit."},
		{name: "retention.ms", typ: kmsg.ConfigTypeLong, def: strconv.Itoa(defaultRetentionMs), synonym: "log.retention.ms",
			check: checkAtLeast(-1), honoured: true, nullSynonymDefault: true,
			doc: "Longest time a partition keeps data before it is deleted; -1 means no limit."},
		{name: "segment.bytes", typ: kmsg.ConfigTypeInt, def: "1073741824", synonym: "log.segment.bytes",
			check: checkAtLeast(1048576), doc: "Segment size. gregor's segments belong to the shared commit log (log.segment.bytes)."},
		{name: "segment.index.bytes", typ: kmsg.ConfigTypeInt, def: "10485760", synonym: "log.index.size.max.bytes",
			check: checkAtLeast(4), doc: "Size of the offset index per segment."},
		{name: "segment.jitter.ms", typ: kmsg.ConfigTypeLong, def: "0", synonym: "log.roll.jitter.ms",
			check: checkAtLeast(0), nullSynonymDefault: true, doc: "Random jitter subtracted from segment.ms."},
		{name: "segment.ms", typ: kmsg.ConfigTypeLong, def: "604800000", synonym: "log.roll.ms",
			check: checkAtLeast(1), nullSynonymDefault: true, honoured: true,
			doc: "Time after which a segment is rolled. gregor's segments belong to the shared commit log; on a compacted topic, data in the log's active segment becomes cleanable once its max timestamp is this old (Kafka never cleans the active segment)."},
		{name: "unclean.leader.election.enable", typ: kmsg.ConfigTypeBoolean, def: "false", synonym: "unclean.leader.election.enable",
			check: checkPerTopicUnclean,
			doc:   "Allow an out-of-sync replica to become leader. A broker group fails over as a whole, so this is the broker setting; a topic value other than false is refused."},
	}
	m := make(map[string]*configSpec, len(specs))
	for _, s := range specs {
		if !s.honoured {
			s.doc += " (accepted for compatibility; gregor does not apply it)"
		}
		m[s.name] = s
	}
	return m
}()

// topicConfigNames is every topic config name, sorted.
var topicConfigNames = func() []string {
	names := make([]string, 0, len(topicConfigSpecs))
	for n := range topicConfigSpecs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}()

// validateTopicConfig checks one name and value as Kafka's LogConfig.validate
// does, with gregor's refusals. The error carries INVALID_CONFIG.
func validateTopicConfig(name, value string) error {
	spec, ok := topicConfigSpecs[name]
	if !ok {
		return apiErrorf(kerr.InvalidConfig, "Unknown topic config name: %s", name)
	}
	if err := checkType(spec.typ, value); err != nil {
		return apiErrorf(kerr.InvalidConfig, "Invalid value %s for configuration %s: %v", value, name, err)
	}
	if spec.check != nil {
		if err := spec.check(value); err != nil {
			return apiErrorf(kerr.InvalidConfig, "Invalid value %s for configuration %s: %v", value, name, err)
		}
	}
	return nil
}

// validateTopicConfigs checks a whole set of explicit topic configs, in name
// order so the reported error does not depend on map order.
func validateTopicConfigs(configs map[string]string) error {
	names := make([]string, 0, len(configs))
	for n := range configs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := validateTopicConfig(n, configs[n]); err != nil {
			return err
		}
	}
	return checkCompactionLags(configs)
}

// checkCompactionLags is Kafka's LogConfig.validateValues rule that
// min.compaction.lag.ms may not exceed max.compaction.lag.ms.
func checkCompactionLags(configs map[string]string) error {
	lo, hi := int64(0), int64(math.MaxInt64)
	if v, ok := configs["min.compaction.lag.ms"]; ok {
		lo = parseLong(v)
	}
	if v, ok := configs["max.compaction.lag.ms"]; ok {
		hi = parseLong(v)
	}
	if lo > hi {
		return apiErrorf(kerr.InvalidConfig, "conflict topic config setting min.compaction.lag.ms (%d) > max.compaction.lag.ms (%d)", lo, hi)
	}
	return nil
}

// compactionPolicy resolves a topic's compaction settings: the topic's
// own value, else the dynamic broker default (brokerDefault, by broker
// config name, as Kafka's log.cleaner.* synonyms), else Kafka's default.
// Enabled only under cleanup.policy=compact or compact,delete.
func compactionPolicy(configs map[string]string, brokerDefault func(name string) (string, bool)) storage.CompactionPolicy {
	value := func(name string) string {
		if v, ok := configs[name]; ok {
			return v
		}
		spec := topicConfigSpecs[name]
		if spec.synonym != "" && brokerDefault != nil {
			if v, ok := brokerDefault(spec.synonym); ok {
				return v
			}
		}
		return spec.def
	}
	long := func(name string) int64 { return parseLong(value(name)) }
	ratio, _ := strconv.ParseFloat(strings.TrimSpace(value("min.cleanable.dirty.ratio")), 64)
	pol := storage.CompactionPolicy{
		MinCleanableRatio: ratio,
		MinLagMs:          long("min.compaction.lag.ms"),
		MaxLagMs:          long("max.compaction.lag.ms"),
		DeleteRetentionMs: long("delete.retention.ms"),
		SegmentMs:         long("segment.ms"),
	}
	if v, ok := configs["cleanup.policy"]; ok {
		for _, p := range splitList(v) {
			pol.Enabled = pol.Enabled || p == "compact"
		}
	}
	return pol
}

// checkType parses v as Kafka's ConfigDef would for typ. Values are trimmed
// by Kafka for numbers and booleans, so gregor accepts surrounding spaces
// there too.
func checkType(typ kmsg.ConfigType, v string) error {
	t := strings.TrimSpace(v)
	switch typ {
	case kmsg.ConfigTypeBoolean:
		if !strings.EqualFold(t, "true") && !strings.EqualFold(t, "false") {
			return fmt.Errorf("Expected value to be either true or false")
		}
	case kmsg.ConfigTypeInt:
		if _, err := strconv.ParseInt(t, 10, 32); err != nil {
			return fmt.Errorf("Not a number of type INT")
		}
	case kmsg.ConfigTypeShort:
		if _, err := strconv.ParseInt(t, 10, 16); err != nil {
			return fmt.Errorf("Not a number of type SHORT")
		}
	case kmsg.ConfigTypeLong:
		if _, err := strconv.ParseInt(t, 10, 64); err != nil {
			return fmt.Errorf("Not a number of type LONG")
		}
	case kmsg.ConfigTypeDouble:
		f, err := strconv.ParseFloat(t, 64)
		if err != nil || math.IsNaN(f) {
			return fmt.Errorf("Not a number of type DOUBLE")
		}
	}
	return nil
}

// parseLong reads a LONG or INT value already validated by checkType.
func parseLong(v string) int64 {
	n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	return n
}

func checkAtLeast(min int64) func(string) error {
	return func(v string) error {
		if parseLong(v) < min {
			return fmt.Errorf("Value must be at least %d", min)
		}
		return nil
	}
}

func checkRange(min, max int64) func(string) error {
	return func(v string) error {
		n := parseLong(v)
		if n < min || n > max {
			return fmt.Errorf("Value must be between %d and %d", min, max)
		}
		return nil
	}
}

func checkGzipLevel(v string) error {
	n := parseLong(v)
	if n != -1 && (n < 1 || n > 9) {
		return fmt.Errorf("Value must be between 1 and 9 or -1")
	}
	return nil
}

func checkRatio(v string) error {
	f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if f < 0 || f > 1 {
		return fmt.Errorf("Value must be between 0 and 1")
	}
	return nil
}

func checkOneOf(allowed ...string) func(string) error {
	return func(v string) error {
		for _, a := range allowed {
			if v == a {
				return nil
			}
		}
		return fmt.Errorf("String must be one of: %s", strings.Join(allowed, ", "))
	}
}

// cleanerDefault is the dynamic broker value of a log.cleaner.* default
// topics follow (this broker's, else the cluster's); ok false when unset.
func (t *Topics) cleanerDefault(name string) (string, bool) {
	if !appliedDynamicBrokerConfigs[name] {
		return "", false
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	if v, ok := t.nodeConfigsLocked()[name]; ok {
		return v, true
	}
	v, ok := t.dyn[""][name]
	return v, ok
}

// checkCleanupPolicy accepts the list Kafka accepts: delete, compact or
// both.
func checkCleanupPolicy(v string) error {
	if strings.TrimSpace(v) == "" {
		return nil // an empty list: no cleanup at all, as Kafka allows
	}
	// Unlike splitList, an empty item in a non-empty list is invalid, as
	// in Kafka's ValidList ("delete," is refused).
	for _, p := range strings.Split(v, ",") {
		switch strings.TrimSpace(p) {
		case "delete", "compact":
		default:
			return fmt.Errorf("String must be one of: compact, delete")
		}
	}
	return nil
}

func checkNoTieredStorage(v string) error {
	if strings.EqualFold(strings.TrimSpace(v), "true") {
		return fmt.Errorf("Tiered Storage functionality is disabled in the broker. Topic cannot be configured with remote log storage.")
	}
	return nil
}

// checkPerTopicFlush refuses a per-topic flush setting other than Kafka's
// default (never force): the commit log is shared by every topic, so one
// topic cannot fsync on its own schedule. log.flush.mode=sync (or
// replication.mode=sync) is the durable choice.
func checkPerTopicFlush(name string) func(string) error {
	return func(v string) error {
		if strings.TrimSpace(v) != maxLong {
			return fmt.Errorf("gregor's commit log is shared by all topics and flushed by the broker's log.flush.mode (async|sync) and log.flush.interval.ms; a per-topic %s cannot be honoured, so only the default %s is accepted", name, maxLong)
		}
		return nil
	}
}

// checkPerTopicUnclean refuses unclean.leader.election.enable=true on a
// topic: every topic of a broker group lives in one commit log and fails
// over with it (broker/lease.go), so the choice is the broker's.
func checkPerTopicUnclean(v string) error {
	if !strings.EqualFold(strings.TrimSpace(v), "false") {
		return fmt.Errorf("a broker group fails over as a whole (all its topics share one commit log), so unclean.leader.election.enable is a broker setting; a topic can only keep the default false")
	}
	return nil
}

// splitList splits a LIST value as Kafka does: comma separated, trimmed,
// empty items dropped.
func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// configValue is one resolved config as DescribeConfigs reports it.
type configValue struct {
	name      string
	value     *string
	source    kmsg.ConfigSource
	typ       kmsg.ConfigType
	readOnly  bool
	sensitive bool
	doc       string
	noDoc     bool // documentation null, not "" (Kafka's custom configs)
	synonyms  []configSynonym
}

// configSynonym is one entry of a config's synonym list, most specific first.
type configSynonym struct {
	name   string
	value  *string
	source kmsg.ConfigSource
}

// staticBrokerValues returns the broker configs of d that differ from
// Kafka's defaults: Kafka reports STATIC_BROKER_CONFIG for what the operator
// set in the properties file. gregor's config struct cannot tell "set to
// the default" from "not set", so a value equal to Kafka's default counts
// as not set.
func (d TopicDefaults) staticBrokerValues() map[string]string {
	out := map[string]string{}
	add := func(name, v, kafkaDefault string) {
		if v != kafkaDefault {
			out[name] = v
		}
	}
	add("message.max.bytes", strconv.Itoa(int(d.MaxMessageBytes)), strconv.Itoa(defaultMaxMessageBytes))
	add("log.retention.ms", strconv.FormatInt(d.RetentionMs, 10), strconv.Itoa(defaultRetentionMs))
	add("log.retention.bytes", strconv.FormatInt(d.RetentionBytes, 10), strconv.Itoa(defaultRetentionBytes))
	add("log.message.timestamp.type", d.MessageTimestampType, "CreateTime")
	return out
}

// with returns d overlaid with dynamic broker configs.
func (d TopicDefaults) with(configs map[string]string) TopicDefaults {
	for n, v := range configs {
		switch n {
		case "log.retention.ms":
			d.RetentionMs = parseLong(v)
		case "log.retention.bytes":
			d.RetentionBytes = parseLong(v)
		case "message.max.bytes":
			d.MaxMessageBytes = int32(parseLong(v))
		case "log.message.timestamp.type":
			d.MessageTimestampType = v
		}
	}
	return d
}

// brokerSynonyms returns, for each broker config that topics follow and
// that is set above Kafka's default, its values most specific first: this
// broker's dynamic value, the cluster-wide dynamic one, the static one.
func brokerSynonyms(static TopicDefaults, cluster, node map[string]string) map[string][]configSynonym {
	out := map[string][]configSynonym{}
	add := func(layer map[string]string, src kmsg.ConfigSource) {
		for n, v := range layer {
			if !appliedDynamicBrokerConfigs[n] {
				// Stored and described on the broker, but topics do
				// not follow it, so their descriptions do not either.
				continue
			}
			v := v
			out[n] = append(out[n], configSynonym{n, &v, src})
		}
	}
	add(node, kmsg.ConfigSourceDynamicBrokerConfig)
	add(cluster, kmsg.ConfigSourceDynamicDefaultBrokerConfig)
	add(static.staticBrokerValues(), kmsg.ConfigSourceStaticBrokerConfig)
	return out
}

// resolveTopicConfig returns the effective value of one config for a topic
// whose explicit configs are explicit: the topic's own value, else its
// broker synonym's most specific value, else Kafka's default.
func resolveTopicConfig(spec *configSpec, explicit map[string]string, broker map[string][]configSynonym) configValue {
	cv := configValue{name: spec.name, typ: spec.typ, doc: spec.doc}
	if v, ok := explicit[spec.name]; ok {
		v := v
		cv.synonyms = append(cv.synonyms, configSynonym{spec.name, &v, kmsg.ConfigSourceDynamicTopicConfig})
	}
	synName := spec.name
	if spec.synonym != "" {
		synName = spec.synonym
		cv.synonyms = append(cv.synonyms, broker[spec.synonym]...)
	}
	def := spec.def
	if !spec.nullSynonymDefault && spec.synonym != "" {
		// Kafka lists the broker synonym's default; a config without
		// one (or whose synonym has a null default) has no synonym.
		cv.synonyms = append(cv.synonyms, configSynonym{synName, &def, kmsg.ConfigSourceDefaultConfig})
	}
	cv.value, cv.source = &def, kmsg.ConfigSourceDefaultConfig
	if len(cv.synonyms) > 0 {
		cv.value, cv.source = cv.synonyms[0].value, cv.synonyms[0].source
	}
	return cv
}

// effectiveTopicConfigs resolves every topic config, sorted by name.
func effectiveTopicConfigs(explicit map[string]string, broker map[string][]configSynonym) []configValue {
	out := make([]configValue, 0, len(topicConfigNames))
	for _, n := range topicConfigNames {
		out = append(out, resolveTopicConfig(topicConfigSpecs[n], explicit, broker))
	}
	return out
}

// isListConfig reports whether APPEND and SUBTRACT apply to the config.
func isListConfig(name string) bool {
	s, ok := topicConfigSpecs[name]
	return ok && s.typ == kmsg.ConfigTypeList
}
