package broker

// PLACEHOLDER: a minimal in-memory topic table so the data path can be built.
// The topics/admin owner replaces it with the durable registry.

import (
	"crypto/rand"
	"sort"
	"sync"

	"github.com/gregor-broker/gregor/storage"
)

// TopicDefaults are the broker-wide defaults of topic settings.
type TopicDefaults struct {
	NumPartitions            int32 // num.partitions
	DefaultReplicationFactor int16 // default.replication.factor
	AutoCreate               bool  // auto.create.topics.enable
	MaxMessageBytes          int32 // message.max.bytes
	RetentionMs              int64 // log.retention.ms
	RetentionBytes           int64 // log.retention.bytes
}

// Topic is an immutable snapshot of one topic.
type Topic struct {
	Name       string
	ID         storage.TopicID
	Partitions int32
	Internal   bool
	Configs    map[string]string // set explicitly on the topic

	// Resolved settings the data path needs.
	MaxMessageBytes int32 // max.message.bytes
	LogAppendTime   bool  // message.timestamp.type=LogAppendTime
}

// Topics is the broker's topic table.
type Topics struct {
	mu     sync.RWMutex
	store  *storage.Store
	def    TopicDefaults
	byName map[string]*Topic
}

// Get returns the topic named name.
func (t *Topics) Get(name string) (*Topic, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	tp, ok := t.byName[name]
	return tp, ok
}

// List returns every topic, sorted by name.
func (t *Topics) List() []*Topic {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]*Topic, 0, len(t.byName))
	for _, tp := range t.byName {
		out = append(out, tp)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Create makes a topic with n partitions (n <= 0: num.partitions).
func (t *Topics) Create(name string, n int32, configs map[string]string) (*Topic, error) {
	if n <= 0 {
		n = t.def.NumPartitions
	}
	tp := &Topic{Name: name, Partitions: n, Configs: configs, MaxMessageBytes: t.def.MaxMessageBytes}
	rand.Read(tp.ID[:])
	for p := int32(0); p < n; p++ {
		if _, err := t.store.CreatePartition(tp.ID, p); err != nil {
			return nil, err
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if old, ok := t.byName[name]; ok {
		return old, nil
	}
	t.byName[name] = tp
	return tp, nil
}
