package broker

// The topic registry: names, ids, partition counts and explicit configs,
// durable in the store's key/value state so a restart (or a slave that
// replays the commit log) sees the same topics with the same ids.
//
// Durable form: namespace "topics", key = topic name, value = the JSON of
// topicRecord. A deleted topic's key is removed. Ids are random UUIDs made at
// creation, so a topic deleted and re-created gets a new id and never sees
// the old one's data.
//
// Locks: admin serialises changes (create, delete, add partitions, alter
// configs) across the store writes they make, so two creations of one name
// cannot both succeed; mu guards the maps and is held only to read or swap a
// snapshot, never across store I/O, so the data path's Get never waits for
// an fsync. Order: admin before mu.

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/google/uuid"
	"github.com/gregor-broker/gregor/nameserver"
	"github.com/gregor-broker/gregor/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"go.uber.org/zap"
)

// topicsNamespace is the store KV namespace of the registry. Frozen.
const topicsNamespace = "topics"

// brokerConfigsNamespace is the store KV namespace of the dynamic broker
// configs: key "cluster" for the cluster-wide defaults (resource name ""),
// "broker/<node id>" for one broker's; value the JSON of a name → value map.
// Frozen.
const brokerConfigsNamespace = "broker-configs"

// maxPartitionsPerTopic bounds one topic's partition count so a single
// request cannot make the store create millions of consume queues. It is
// the NameServer's bound, so every topic a broker creates can be registered.
const maxPartitionsPerTopic = nameserver.MaxPartitionsPerTopic

// Internal topic names, as Kafka's Topic.INTERNAL_TOPICS.
var internalTopics = map[string]bool{"__consumer_offsets": true, "__transaction_state": true}

// TopicDefaults are the broker-wide defaults of topic settings. Zero values
// mean Kafka's defaults (see Validate), except AutoCreate, whose Kafka
// default (true) the caller must set.
type TopicDefaults struct {
	NumPartitions            int32 // num.partitions; default 1
	DefaultReplicationFactor int16 // default.replication.factor; default 1
	AutoCreate               bool  // auto.create.topics.enable
	MaxMessageBytes          int32 // message.max.bytes; default 1048588
	RetentionMs              int64 // log.retention.ms; default 7 days, -1 = unlimited
	RetentionBytes           int64 // log.retention.bytes; 0 = default -1 (unlimited)
	// MessageTimestampType is log.message.timestamp.type: CreateTime
	// (default) or LogAppendTime.
	MessageTimestampType string
}

// DefaultAutoCreateTopics is auto.create.topics.enable's default (Kafka's).
// EnsureDefaults cannot fill it (false is a value), so the command sets it.
const DefaultAutoCreateTopics = true

// EnsureDefaults fills every zero field with Kafka's default (AutoCreate
// aside: see DefaultAutoCreateTopics). It is the one place these defaults
// live (cmd/gregor's settings table reads them from here).
func (d *TopicDefaults) EnsureDefaults() {
	if d.NumPartitions == 0 {
		d.NumPartitions = 1
	}
	if d.DefaultReplicationFactor == 0 {
		d.DefaultReplicationFactor = 1
	}
	if d.MaxMessageBytes == 0 {
		d.MaxMessageBytes = defaultMaxMessageBytes
	}
	if d.RetentionMs == 0 {
		d.RetentionMs = defaultRetentionMs
	}
	if d.RetentionBytes == 0 {
		d.RetentionBytes = defaultRetentionBytes
	}
	if d.MessageTimestampType == "" {
		d.MessageTimestampType = "CreateTime"
	}
}

// Validate fills defaults (EnsureDefaults) and rejects bad values.
func (d *TopicDefaults) Validate() error {
	d.EnsureDefaults()
	if d.NumPartitions < 0 || d.NumPartitions > maxPartitionsPerTopic {
		return fmt.Errorf("num.partitions must be between 1 and %d, got %d", maxPartitionsPerTopic, d.NumPartitions)
	}
	if d.DefaultReplicationFactor < 0 {
		return fmt.Errorf("default.replication.factor must be at least 1, got %d", d.DefaultReplicationFactor)
	}
	if d.MaxMessageBytes < 0 {
		return fmt.Errorf("message.max.bytes must be at least 0, got %d", d.MaxMessageBytes)
	}
	if d.RetentionMs < -1 {
		return fmt.Errorf("log.retention.ms must be -1 or positive, got %d", d.RetentionMs)
	}
	switch d.MessageTimestampType {
	case "CreateTime", "LogAppendTime":
	default:
		return fmt.Errorf("log.message.timestamp.type must be CreateTime or LogAppendTime, got %q", d.MessageTimestampType)
	}
	return nil
}

// Topic is an immutable snapshot of one topic; changes replace it.
type Topic struct {
	Name       string
	ID         storage.TopicID
	Partitions int32
	Internal   bool
	Configs    map[string]string // set explicitly on the topic; do not modify
	// Owned lists, sorted, the partitions this broker's group owns when the
	// topic is spread over several groups; nil means every partition (a
	// single group, or a single node). Only owned partitions exist in the
	// store. Do not modify.
	Owned []int32

	// Resolved settings the data path needs.
	MaxMessageBytes int32 // max.message.bytes
	LogAppendTime   bool  // message.timestamp.type=LogAppendTime
	RetentionMs     int64 // retention.ms; -1 = unlimited
	RetentionBytes  int64 // retention.bytes; -1 = unlimited
	// CreateTime bounds: message.timestamp.before.max.ms / .after.max.ms.
	TimestampBeforeMaxMs, TimestampAfterMaxMs int64
	MaxRecordBytes                            int64 // max.decompressed.message.bytes
	// Compaction is cleanup.policy=compact's settings (Enabled false
	// otherwise).
	Compaction storage.CompactionPolicy
}

// topicRecord is the durable form of a topic. Frozen: add fields, never
// rename them.
type topicRecord struct {
	ID         string            `json:"id"`
	Partitions int32             `json:"partitions"`
	Configs    map[string]string `json:"configs,omitempty"`
	// Owned is Topic.Owned: absent means every partition, [] none.
	Owned *[]int32 `json:"owned,omitempty"`
}

// Topics is the broker's topic registry.
type Topics struct {
	store *storage.Store
	def   TopicDefaults
	log   *zap.Logger

	admin sync.Mutex // serialises changes; taken before mu

	// onChange, when set, is called after every change of a topic (not
	// under any lock), e.g. to register the new table with the NameServers.
	onChange atomic.Pointer[func()]

	mu     sync.RWMutex
	byName map[string]*Topic
	byID   map[storage.TopicID]*Topic
	// dyn holds the dynamic broker configs by resource name ("" = the
	// cluster-wide defaults, else a node id). A data directory belongs to
	// one broker, so at most one node id appears.
	dyn map[string]map[string]string
}

// newTopics opens the registry kept in store: it reloads every topic,
// creates its partitions in the store (idempotent) and applies their
// retention. def is validated (defaults filled) on a copy.
func newTopics(store *storage.Store, def TopicDefaults, log *zap.Logger) (*Topics, error) {
	t, err := readTopics(store, def, log)
	if err != nil {
		return nil, err
	}
	for _, tp := range t.byName {
		if err := t.ensurePartitions(tp, 0); err != nil {
			return nil, err
		}
	}
	t.log.Info("topics loaded", zap.Int("topics", len(t.byName)))
	return t, nil
}

// readTopics reads the registry kept in store and writes nothing (a slave
// loads its replicated table so, topics_reload.go).
func readTopics(store *storage.Store, def TopicDefaults, log *zap.Logger) (*Topics, error) {
	if log == nil {
		log = zap.NewNop()
	}
	if err := def.Validate(); err != nil {
		return nil, err
	}
	t := &Topics{
		store:  store,
		def:    def,
		log:    log,
		byName: map[string]*Topic{},
		byID:   map[storage.TopicID]*Topic{},
	}
	// Dynamic broker configs first: topics resolve their defaults with them.
	t.dyn = map[string]map[string]string{}
	store.RangeKV(brokerConfigsNamespace, func(key, value []byte) bool {
		resource, ok := strings.CutPrefix(string(key), "broker/")
		if string(key) == "cluster" {
			resource, ok = "", true
		}
		var configs map[string]string
		if err := json.Unmarshal(value, &configs); !ok || err != nil || validateDynamicBrokerConfigs(configs) != nil {
			log.Warn("ignoring unreadable dynamic broker configs", zap.ByteString("key", key), zap.Error(err))
			return true
		}
		t.dyn[resource] = configs
		return true
	})
	var loadErr error
	store.RangeKV(topicsNamespace, func(key, value []byte) bool {
		var rec topicRecord
		if err := json.Unmarshal(value, &rec); err != nil {
			loadErr = fmt.Errorf("topics: record of %q: %w", key, err)
			return false
		}
		id, err := uuid.Parse(rec.ID)
		if err != nil {
			loadErr = fmt.Errorf("topics: id of %q: %w", key, err)
			return false
		}
		tp := t.snapshot(string(key), storage.TopicID(id), rec.Partitions, rec.Configs)
		tp.Owned = normalizeOwned(rec.Owned, rec.Partitions)
		t.byName[tp.Name] = tp
		t.byID[tp.ID] = tp
		return true
	})
	if loadErr != nil {
		return nil, loadErr
	}
	return t, nil
}

// Defaults returns the broker-wide topic defaults in effect: the validated
// static ones overlaid with the dynamic broker configs.
func (t *Topics) Defaults() TopicDefaults {
	static := t.staticDefaults()
	t.mu.RLock()
	cluster, node := t.dyn[""], t.nodeConfigsLocked()
	t.mu.RUnlock()
	return static.with(cluster).with(node)
}

// staticDefaults returns the validated static defaults.
func (t *Topics) staticDefaults() TopicDefaults {
	d := t.def
	// newTopics validated t.def already; this only matters for a registry
	// built as a struct literal, whose zero retention would otherwise mean
	// "delete everything".
	_ = d.Validate()
	return d
}

// nodeConfigsLocked returns this broker's dynamic configs; under mu.
func (t *Topics) nodeConfigsLocked() map[string]string {
	for r, c := range t.dyn {
		if r != "" {
			return c
		}
	}
	return nil
}

// synonyms returns the broker synonyms of topic configs for DescribeConfigs.
func (t *Topics) synonyms() map[string][]configSynonym {
	t.mu.RLock()
	cluster, node := t.dyn[""], t.nodeConfigsLocked()
	t.mu.RUnlock()
	return brokerSynonyms(t.staticDefaults(), cluster, node)
}

// brokerConfigs returns a copy of the dynamic broker configs of resource.
func (t *Topics) brokerConfigs(resource string) map[string]string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := maps.Clone(t.dyn[resource])
	if out == nil {
		out = map[string]string{}
	}
	return out
}

// setBrokerConfigs replaces the dynamic broker configs of resource ("" =
// cluster-wide, else this broker's node id, which the caller checked),
// durably, and re-resolves every topic with them: a topic that does not set
// retention.ms itself follows log.retention.ms at once.
func (t *Topics) setBrokerConfigs(resource string, configs map[string]string, validateOnly bool) error {
	if err := validateDynamicBrokerConfigs(configs); err != nil {
		return err
	}
	if validateOnly {
		return nil
	}
	t.admin.Lock()
	defer t.admin.Unlock()
	key := "broker/" + resource
	if resource == "" {
		key = "cluster"
	}
	kv := storage.KV{Key: []byte(key)}
	if len(configs) > 0 {
		rec, err := json.Marshal(configs)
		if err != nil {
			return err
		}
		kv.Value = rec
	}
	if err := t.store.PutKV(brokerConfigsNamespace, kv); err != nil {
		return err
	}
	t.mu.Lock()
	if t.dyn == nil {
		t.dyn = map[string]map[string]string{}
	}
	if len(configs) == 0 {
		delete(t.dyn, resource)
	} else {
		t.dyn[resource] = maps.Clone(configs)
	}
	t.mu.Unlock()
	for _, old := range t.List() {
		tp := t.snapshot(old.Name, old.ID, old.Partitions, old.Configs)
		tp.Owned = old.Owned
		t.applyRetention(tp)
		t.swap(tp)
	}
	t.logger().Info("dynamic broker configs altered", zap.String("resource", resource), zap.Any("configs", configs))
	t.changed()
	return nil
}

// Get returns the topic named name.
func (t *Topics) Get(name string) (*Topic, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	tp, ok := t.byName[name]
	return tp, ok
}

// GetByID returns the topic whose id is id.
func (t *Topics) GetByID(id storage.TopicID) (*Topic, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	tp, ok := t.byID[id]
	return tp, ok
}

// List returns every topic, sorted by name.
func (t *Topics) List() []*Topic {
	t.mu.RLock()
	out := make([]*Topic, 0, len(t.byName))
	for _, tp := range t.byName {
		out = append(out, tp)
	}
	t.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Create makes a topic with n partitions (n <= 0: num.partitions) and the
// given explicit configs; it is the auto-creation path. When the topic
// already exists it returns the existing one and no error. A bad name gets
// an error matching kerr.InvalidTopicException, bad configs
// kerr.InvalidConfig.
func (t *Topics) Create(name string, n int32, configs map[string]string) (*Topic, error) {
	if n <= 0 {
		n = t.def.NumPartitions
	}
	tp, err := t.create(name, n, configs, false)
	var ae *apiError
	if errors.As(err, &ae) && ae.err == kerr.TopicAlreadyExists {
		if old, ok := t.Get(name); ok {
			return old, nil
		}
	}
	return tp, err
}

// create validates and (unless validateOnly) makes a topic with n
// partitions. The returned snapshot of a validate-only call has a fresh id,
// as Kafka's has, but is not registered.
func (t *Topics) create(name string, n int32, configs map[string]string, validateOnly bool) (*Topic, error) {
	if err := validateTopicName(name); err != nil {
		return nil, err
	}
	if n <= 0 {
		return nil, apiErrorf(kerr.InvalidPartitions, "Number of partitions was set to an invalid non-positive value.")
	}
	if n > maxPartitionsPerTopic {
		return nil, apiErrorf(kerr.InvalidPartitions, "Number of partitions %d is larger than gregor's limit of %d per topic.", n, maxPartitionsPerTopic)
	}
	if err := validateTopicConfigs(configs); err != nil {
		return nil, err
	}
	t.admin.Lock()
	defer t.admin.Unlock()
	if _, ok := t.Get(name); ok {
		return nil, apiErrorf(kerr.TopicAlreadyExists, "Topic '%s' already exists.", name)
	}
	tp := t.snapshot(name, storage.TopicID(uuid.New()), n, maps.Clone(configs))
	if validateOnly {
		return tp, nil
	}
	// Partitions first, record second: a crash in between leaves empty
	// partitions under an id nothing refers to, never a topic whose
	// partitions are missing.
	if err := t.ensurePartitions(tp, 0); err != nil {
		return nil, err
	}
	if err := t.persist(tp); err != nil {
		return nil, err
	}
	t.swap(tp)
	t.logger().Info("topic created", zap.String("topic", name), zap.Int32("partitions", n), zap.Any("configs", configs))
	t.changed()
	return tp, nil
}

// delete removes the topic named name, or whose id is id when name is "".
func (t *Topics) delete(name string, id storage.TopicID) (*Topic, error) {
	t.admin.Lock()
	defer t.admin.Unlock()
	var tp *Topic
	var ok bool
	if name != "" {
		if tp, ok = t.Get(name); !ok {
			return nil, apiErrorf(kerr.UnknownTopicOrPartition, "This server does not host this topic-partition.")
		}
	} else if tp, ok = t.GetByID(id); !ok {
		return nil, apiErrorf(kerr.UnknownTopicID, "This server does not host this topic ID.")
	}
	// Record first: once it is gone the topic is gone for good, even if
	// the store is interrupted before it drops the partitions.
	if err := t.store.PutKV(topicsNamespace, storage.KV{Key: []byte(tp.Name)}); err != nil {
		return nil, err
	}
	t.mu.Lock()
	delete(t.byName, tp.Name)
	delete(t.byID, tp.ID)
	t.mu.Unlock()
	if err := t.store.DeleteTopic(tp.ID); err != nil {
		t.logger().Warn("topic deleted but its partitions were not dropped", zap.String("topic", tp.Name), zap.Error(err))
	}
	t.logger().Info("topic deleted", zap.String("topic", tp.Name))
	t.changed()
	return tp, nil
}

// addPartitions grows the topic named name to count partitions. A topic
// owned whole (Owned nil) owns the new ones too; for a topic spread over
// groups the placement decides who owns them.
func (t *Topics) addPartitions(name string, count int32, validateOnly bool) error {
	t.admin.Lock()
	defer t.admin.Unlock()
	old, ok := t.Get(name)
	if !ok {
		return apiErrorf(kerr.UnknownTopicOrPartition, "This server does not host this topic-partition.")
	}
	switch {
	case count < old.Partitions:
		return apiErrorf(kerr.InvalidPartitions, "The topic %s currently has %d partition(s); %d would not be an increase.", name, old.Partitions, count)
	case count == old.Partitions:
		return apiErrorf(kerr.InvalidPartitions, "Topic already has %d partition(s).", count)
	case count > maxPartitionsPerTopic:
		return apiErrorf(kerr.InvalidPartitions, "Number of partitions %d is larger than gregor's limit of %d per topic.", count, maxPartitionsPerTopic)
	}
	if validateOnly {
		return nil
	}
	tp := t.snapshot(old.Name, old.ID, count, old.Configs)
	tp.Owned = old.Owned
	if err := t.ensurePartitions(tp, old.Partitions); err != nil {
		return err
	}
	if err := t.persist(tp); err != nil {
		return err
	}
	t.swap(tp)
	t.logger().Info("partitions added", zap.String("topic", name), zap.Int32("from", old.Partitions), zap.Int32("to", count))
	t.changed()
	return nil
}

// setConfigs replaces the explicit configs of the topic named name,
// validated as a whole, and applies them live.
func (t *Topics) setConfigs(name string, configs map[string]string, validateOnly bool) error {
	t.admin.Lock()
	defer t.admin.Unlock()
	old, ok := t.Get(name)
	if !ok {
		return apiErrorf(kerr.UnknownTopicOrPartition, "The topic '%s' does not exist.", name)
	}
	if err := validateTopicConfigs(configs); err != nil {
		return err
	}
	if validateOnly {
		return nil
	}
	tp := t.snapshot(old.Name, old.ID, old.Partitions, maps.Clone(configs))
	tp.Owned = old.Owned
	if err := t.persist(tp); err != nil {
		return err
	}
	t.applyRetention(tp)
	t.swap(tp)
	t.logger().Info("topic configs altered", zap.String("topic", name), zap.Any("configs", configs))
	t.changed()
	return nil
}

// swap registers or replaces a topic's snapshot.
func (t *Topics) swap(tp *Topic) {
	t.mu.Lock()
	if t.byName == nil {
		t.byName = map[string]*Topic{}
	}
	if t.byID == nil {
		// Only when built as a struct literal rather than by newTopics.
		t.byID = map[storage.TopicID]*Topic{}
	}
	t.byName[tp.Name] = tp
	t.byID[tp.ID] = tp
	t.mu.Unlock()
}

// logger returns the registry's logger (a no-op one for a registry built
// as a struct literal).
func (t *Topics) logger() *zap.Logger {
	if t.log == nil {
		return zap.NewNop()
	}
	return t.log
}

// persist writes tp's durable record.
func (t *Topics) persist(tp *Topic) error {
	rec := topicRecord{ID: uuid.UUID(tp.ID).String(), Partitions: tp.Partitions, Configs: tp.Configs}
	if tp.Owned != nil {
		owned := tp.Owned
		rec.Owned = &owned
	}
	value, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return t.store.PutKV(topicsNamespace, storage.KV{Key: []byte(tp.Name), Value: value})
}

// ensurePartitions creates tp's owned partitions from index from on in the
// store (idempotent) and sets the retention of all of them.
func (t *Topics) ensurePartitions(tp *Topic, from int32) error {
	for p := from; p < tp.Partitions; p++ {
		if !tp.hosts(p) {
			continue
		}
		if _, err := t.store.CreatePartition(tp.ID, p); err != nil {
			return fmt.Errorf("topics: create partition %s-%d: %w", tp.Name, p, err)
		}
	}
	t.applyRetention(tp)
	return nil
}

// applyRetention pushes tp's retention and compaction to its partitions in
// the store.
func (t *Topics) applyRetention(tp *Topic) {
	pol := storage.RetentionPolicy{Ms: tp.RetentionMs, Bytes: tp.RetentionBytes}
	for p := int32(0); p < tp.Partitions; p++ {
		if part := t.store.Partition(tp.ID, p); part != nil {
			part.SetRetention(pol)
			part.SetCompaction(tp.Compaction)
		}
	}
}

// hosts reports whether partition p of t lives on this broker's group.
func (t *Topic) hosts(p int32) bool {
	if p < 0 || p >= t.Partitions {
		return false
	}
	if t.Owned == nil {
		return true
	}
	_, found := slices.BinarySearch(t.Owned, p)
	return found
}

// normalizeOwned sorts owned, drops duplicates and partitions outside
// 0..n-1; nil stays nil (every partition), empty stays empty (none).
func normalizeOwned(owned *[]int32, n int32) []int32 {
	if owned == nil {
		return nil
	}
	out := make([]int32, 0, len(*owned))
	for _, p := range *owned {
		if p >= 0 && p < n {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// OnChange sets fn to be called after every change of a topic: creation,
// deletion, new partitions, altered configs (including dynamic broker
// configs). fn runs on the changing goroutine, outside the registry's
// locks; it must not block.
func (t *Topics) OnChange(fn func()) { t.onChange.Store(&fn) }

// changed calls the OnChange function, if any.
func (t *Topics) changed() {
	if fn := t.onChange.Load(); fn != nil && *fn != nil {
		(*fn)()
	}
}

// snapshot builds a Topic with its resolved settings.
func (t *Topics) snapshot(name string, id storage.TopicID, n int32, configs map[string]string) *Topic {
	def := t.Defaults()
	tp := &Topic{
		Name:            name,
		ID:              id,
		Partitions:      n,
		Internal:        internalTopics[name],
		Configs:         configs,
		MaxMessageBytes: def.MaxMessageBytes,
		LogAppendTime:   def.MessageTimestampType == "LogAppendTime",
		RetentionMs:     def.RetentionMs,
		RetentionBytes:  def.RetentionBytes,
	}
	if tp.Configs == nil {
		tp.Configs = map[string]string{}
	}
	if v, ok := configs["max.message.bytes"]; ok {
		tp.MaxMessageBytes = int32(parseLong(v))
	}
	if v, ok := configs["message.timestamp.type"]; ok {
		tp.LogAppendTime = v == "LogAppendTime"
	}
	if v, ok := configs["retention.ms"]; ok {
		tp.RetentionMs = parseLong(v)
	}
	if v, ok := configs["retention.bytes"]; ok {
		tp.RetentionBytes = parseLong(v)
	}
	tp.TimestampBeforeMaxMs = topicLong(configs, "message.timestamp.before.max.ms")
	tp.TimestampAfterMaxMs = topicLong(configs, "message.timestamp.after.max.ms")
	tp.MaxRecordBytes = topicLong(configs, "max.decompressed.message.bytes")
	tp.Compaction = compactionPolicy(configs, t.cleanerDefault)
	// Retention deletes only under cleanup.policy=delete; a topic whose
	// policy is the empty list keeps everything, as in Kafka.
	if v, ok := configs["cleanup.policy"]; ok && !slices.Contains(splitList(v), "delete") {
		tp.RetentionMs, tp.RetentionBytes = -1, -1
	}
	// Kafka treats any negative retention as unlimited; the store's
	// contract says the same, so normalise to -1.
	if tp.RetentionMs < 0 {
		tp.RetentionMs = -1
	}
	if tp.RetentionBytes < 0 {
		tp.RetentionBytes = -1
	}
	return tp
}

// validateTopicName checks a name as Kafka's Topic.validate does, with
// Kafka 4.1's messages.
func validateTopicName(name string) error {
	switch {
	case name == "":
		return apiErrorf(kerr.InvalidTopicException, "Topic name is invalid: the empty string is not allowed")
	case name == "." || name == "..":
		return apiErrorf(kerr.InvalidTopicException, "Topic name is invalid: '%s' is not allowed", name)
	case len(name) > 249:
		return apiErrorf(kerr.InvalidTopicException, "Topic name is invalid: the length of '%s' is longer than the max allowed length 249", name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return apiErrorf(kerr.InvalidTopicException, "Topic name is invalid: '%s' contains one or more characters other than ASCII alphanumerics, '.', '_' and '-'", name)
		}
	}
	return nil
}
