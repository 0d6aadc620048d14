// Package group is gregor's classic-protocol group coordinator: membership,
// rebalances (JoinGroup, SyncGroup, Heartbeat, LeaveGroup), static membership
// (KIP-345), and committed offsets kept in the store's internal key/value
// state.
//
// Durable state follows Kafka's __consumer_offsets layout. A group belongs to
// the offsets partition PartitionFor(group, offsets.topic.num.partitions),
// exactly as Kafka maps it, and each partition is one store namespace
// "__consumer_offsets-<p>". Keys and values are Kafka's own record formats
// (kmsg.OffsetCommitKey/Value for committed offsets, kmsg.GroupMetadataKey/Value
// for a group's generation, protocol and members), so the bytes mean the same
// thing to anyone who knows Kafka's internal topic. A nil value is a tombstone.
// On start the coordinator rebuilds every group from these namespaces: a group
// that was Stable comes back Stable with its members and their assignments,
// and members that keep heartbeating with their generation never notice the
// restart.
//
// Behaviour follows Kafka's classic GroupCoordinator: the initial delayed
// join of an empty group (extended while members keep arriving, within the
// rebalance timeout), MEMBER_ID_REQUIRED ids that count as expected joiners
// until their session timeout, static members replaced in place (a Stable
// group answers a restarted static member with the current generation and
// its old assignment, no rebalance; the zombie is FENCED_INSTANCE_ID),
// members removed when they miss the rebalance timeout or send no SyncGroup
// within it, and commits checked against member, instance and generation.
// Offsets expire as in Kafka 4 (OffsetExpirationCondition, KIP-211 and
// KIP-496): every offset of a group that has been Empty for
// offsets.retention.minutes; each offset of a group without a protocol type
// (simple consumers) that long after its commit; and in a Stable group of
// protocol type "consumer" whose members' subscriptions parse, each offset
// of a topic no member subscribes to that long after its commit. A group
// left Empty without offsets is then deleted. When a topic is deleted its
// offsets leave every group at once, durably (TopicsChanged).
//
// group.max.size caps the members of a group as Kafka's acceptJoiningMember
// does: a join beyond it gets GROUP_MAX_SIZE_REACHED (and the member, if it
// was one, is removed); a group loaded over the cap rebalances.
//
// Metrics (Config.Registerer): gregor_group_groups by state,
// gregor_group_members, gregor_group_offsets, gregor_group_rebalances_total,
// gregor_group_offset_commits_total, gregor_group_offsets_expired_total and
// gregor_group_offsets_removed_total (deleted topics).
//
// Choices where gregor differs or Kafka leaves room:
//   - KIP-848 consumer groups (ConsumerGroupHeartbeat) are described in
//     consumer.go.
//
// Locking: the Coordinator's mu guards the group map only; each group has its
// own mu guarding everything in it. The order is group.mu, then
// Coordinator.mu; nothing takes a group's mu while holding Coordinator.mu.
// Coordinator.refMu (offset counts by topic) is a leaf taken under a
// group's mu. TopicsChanged runs on the goroutine changing the broker's
// topic table and calls the Topics lookup under a group's mu, so the topic
// table must never wait for a group's mu while holding its own locks.
package group

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gregor-broker/gregor/storage"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"go.uber.org/zap"
)

// Config holds the group settings (Kafka names in comments). A zero field
// takes Kafka's default.
type Config struct {
	// InitialRebalanceDelay is group.initial.rebalance.delay.ms: how long the
	// first rebalance of an empty group waits for more members. Default 3s;
	// because zero means "default", a negative value means no delay (Kafka's
	// group.initial.rebalance.delay.ms=0).
	InitialRebalanceDelay time.Duration
	// MinSessionTimeout is group.min.session.timeout.ms; default 6s.
	MinSessionTimeout time.Duration
	// MaxSessionTimeout is group.max.session.timeout.ms; default 30m.
	MaxSessionTimeout time.Duration
	// OffsetsRetention is offsets.retention.minutes: offsets of a group that
	// has been empty this long are removed (for a group without a protocol,
	// each offset this long after its commit). Default 7 days.
	OffsetsRetention time.Duration
	// OffsetsRetentionCheckInterval is offsets.retention.check.interval.ms;
	// default 10m.
	OffsetsRetentionCheckInterval time.Duration
	// OffsetMetadataMaxBytes is offset.metadata.max.bytes; default 4096.
	OffsetMetadataMaxBytes int
	// OffsetsTopicNumPartitions is offsets.topic.num.partitions; default 50.
	// It must never change once data exists: it decides which namespace
	// holds a group's state.
	OffsetsTopicNumPartitions int32
	// MaxSize is group.max.size: the most members a group may have.
	// Default math.MaxInt32 (Kafka's Integer.MAX_VALUE, i.e. no cap).
	MaxSize int
	// Registerer receives the coordinator's metrics; nil exports none.
	Registerer prometheus.Registerer

	// The KIP-848 consumer groups (consumer.go).

	// ConsumerSessionTimeout is group.consumer.session.timeout.ms; default 45s.
	ConsumerSessionTimeout time.Duration
	// ConsumerHeartbeatInterval is group.consumer.heartbeat.interval.ms;
	// default 5s.
	ConsumerHeartbeatInterval time.Duration
	// ConsumerMinSessionTimeout and ConsumerMaxSessionTimeout are
	// group.consumer.min/max.session.timeout.ms, the range a group's own
	// consumer.session.timeout.ms must fall in; default 45s and 60s.
	ConsumerMinSessionTimeout, ConsumerMaxSessionTimeout time.Duration
	// ConsumerMinHeartbeatInterval and ConsumerMaxHeartbeatInterval are
	// group.consumer.min/max.heartbeat.interval.ms, the range of a group's
	// consumer.heartbeat.interval.ms; default 5s and 15s.
	ConsumerMinHeartbeatInterval, ConsumerMaxHeartbeatInterval time.Duration
	// ConsumerAssignors is group.consumer.assignors: the server assignors
	// offered, the first the default; default uniform, range.
	ConsumerAssignors []string
	// ConsumerMaxSize is group.consumer.max.size; default math.MaxInt32.
	ConsumerMaxSize int
	// ConsumerMigrationPolicy is group.consumer.migration.policy: which
	// online conversions between classic and consumer groups with members
	// happen (consumer_migrate.go); default bidirectional.
	ConsumerMigrationPolicy string
	// ConsumerGroupConfig, when set, returns a group's own
	// consumer.session.timeout.ms and consumer.heartbeat.interval.ms (0 when
	// not set), which override the two above for that group.
	ConsumerGroupConfig func(group string) (session, heartbeat time.Duration)
}

// EnsureDefaults fills every zero field with Kafka's default. It is the one
// place the coordinator's defaults live (cmd/gregor's settings table reads
// them from here). A negative InitialRebalanceDelay (no delay) is left for
// Validate to turn into zero.
func (c *Config) EnsureDefaults() {
	if c.InitialRebalanceDelay == 0 {
		c.InitialRebalanceDelay = 3 * time.Second
	}
	if c.MinSessionTimeout == 0 {
		c.MinSessionTimeout = 6 * time.Second
	}
	if c.MaxSessionTimeout == 0 {
		c.MaxSessionTimeout = 30 * time.Minute
	}
	if c.OffsetsRetention == 0 {
		c.OffsetsRetention = 7 * 24 * time.Hour
	}
	if c.OffsetsRetentionCheckInterval == 0 {
		c.OffsetsRetentionCheckInterval = 10 * time.Minute
	}
	if c.OffsetMetadataMaxBytes == 0 {
		c.OffsetMetadataMaxBytes = 4096
	}
	if c.OffsetsTopicNumPartitions == 0 {
		c.OffsetsTopicNumPartitions = 50
	}
	if c.MaxSize == 0 {
		c.MaxSize = math.MaxInt32
	}
	if c.ConsumerSessionTimeout == 0 {
		c.ConsumerSessionTimeout = 45 * time.Second
	}
	if c.ConsumerHeartbeatInterval == 0 {
		c.ConsumerHeartbeatInterval = 5 * time.Second
	}
	for _, d := range []struct {
		v   *time.Duration
		def time.Duration
	}{
		{&c.ConsumerMinSessionTimeout, 45 * time.Second},
		{&c.ConsumerMaxSessionTimeout, 60 * time.Second},
		{&c.ConsumerMinHeartbeatInterval, 5 * time.Second},
		{&c.ConsumerMaxHeartbeatInterval, 15 * time.Second},
	} {
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if len(c.ConsumerAssignors) == 0 {
		c.ConsumerAssignors = []string{AssignorUniform, AssignorRange}
	}
	if c.ConsumerMaxSize == 0 {
		c.ConsumerMaxSize = math.MaxInt32
	}
	if c.ConsumerMigrationPolicy == "" {
		c.ConsumerMigrationPolicy = MigrationBidirectional
	}
}

// Validate fills defaults (EnsureDefaults) and rejects impossible values.
func (c *Config) Validate() error {
	c.EnsureDefaults()
	if c.InitialRebalanceDelay < 0 {
		c.InitialRebalanceDelay = 0
	}
	switch {
	case c.MinSessionTimeout < 0 || c.MaxSessionTimeout < 0:
		return errors.New("group: session timeouts must be positive")
	case c.MinSessionTimeout > c.MaxSessionTimeout:
		return fmt.Errorf("group: group.min.session.timeout.ms (%v) exceeds group.max.session.timeout.ms (%v)", c.MinSessionTimeout, c.MaxSessionTimeout)
	case c.OffsetsRetention < 0:
		return errors.New("group: offsets.retention.minutes must be positive")
	case c.OffsetsRetentionCheckInterval < 0:
		return errors.New("group: offsets.retention.check.interval.ms must be positive")
	case c.OffsetMetadataMaxBytes < 0:
		return errors.New("group: offset.metadata.max.bytes must not be negative")
	case c.OffsetsTopicNumPartitions < 0:
		return errors.New("group: offsets.topic.num.partitions must be positive")
	case c.MaxSize < 0:
		return errors.New("group: group.max.size must be positive")
	case c.ConsumerSessionTimeout < 0 || c.ConsumerHeartbeatInterval < 0:
		return errors.New("group: group.consumer.session.timeout.ms and group.consumer.heartbeat.interval.ms must be positive")
	case c.ConsumerHeartbeatInterval >= c.ConsumerSessionTimeout:
		return fmt.Errorf("group: group.consumer.heartbeat.interval.ms (%v) must be lower than group.consumer.session.timeout.ms (%v)", c.ConsumerHeartbeatInterval, c.ConsumerSessionTimeout)
	case c.ConsumerSessionTimeout < c.ConsumerMinSessionTimeout || c.ConsumerSessionTimeout > c.ConsumerMaxSessionTimeout:
		return fmt.Errorf("group: group.consumer.session.timeout.ms (%v) must be within group.consumer.min.session.timeout.ms (%v) and group.consumer.max.session.timeout.ms (%v)", c.ConsumerSessionTimeout, c.ConsumerMinSessionTimeout, c.ConsumerMaxSessionTimeout)
	case c.ConsumerHeartbeatInterval < c.ConsumerMinHeartbeatInterval || c.ConsumerHeartbeatInterval > c.ConsumerMaxHeartbeatInterval:
		return fmt.Errorf("group: group.consumer.heartbeat.interval.ms (%v) must be within group.consumer.min.heartbeat.interval.ms (%v) and group.consumer.max.heartbeat.interval.ms (%v)", c.ConsumerHeartbeatInterval, c.ConsumerMinHeartbeatInterval, c.ConsumerMaxHeartbeatInterval)
	case c.ConsumerMaxSize < 0:
		return errors.New("group: group.consumer.max.size must be positive")
	}
	c.ConsumerMigrationPolicy = strings.ToLower(c.ConsumerMigrationPolicy)
	switch c.ConsumerMigrationPolicy {
	case MigrationBidirectional, MigrationUpgrade, MigrationDowngrade, MigrationDisabled:
	default:
		return fmt.Errorf("group: group.consumer.migration.policy: unknown policy %q (one of %s)", c.ConsumerMigrationPolicy, migrationPolicyNames())
	}
	for _, a := range c.ConsumerAssignors {
		if a != AssignorUniform && a != AssignorRange {
			return fmt.Errorf("group: group.consumer.assignors: unknown assignor %q (gregor has %s and %s)", a, AssignorUniform, AssignorRange)
		}
	}
	return nil
}

// kvStore is the part of *storage.Store the coordinator uses; unit tests
// give it an in-memory map.
type kvStore interface {
	PutKV(ns string, kvs ...storage.KV) error
	// PutKVDeferred and WaitDurable are PutKV in two steps, so an offset
	// commit waits for its fsync without holding the group's lock.
	PutKVDeferred(ns string, kvs ...storage.KV) (int64, error)
	WaitDurable(pos int64) error
	RangeKV(ns string, fn func(key, value []byte) bool)
}

// clock is time as the coordinator sees it; unit tests drive a fake one.
type clock interface {
	Now() time.Time
	AfterFunc(d time.Duration, f func()) timer
}

type timer interface{ Stop() bool }

type realClock struct{}

func (realClock) Now() time.Time                            { return time.Now() }
func (realClock) AfterFunc(d time.Duration, f func()) timer { return time.AfterFunc(d, f) }

// Coordinator coordinates every group whose offsets partition this broker owns.
type Coordinator struct {
	cfg   Config
	kv    kvStore
	clock clock
	log   *zap.Logger
	m     *metrics

	// live is the topic table last given to TopicsChanged; the sweep
	// uses it to remove offsets of deleted topics again (a purge cut
	// short by a crash or a failed write).
	live atomic.Pointer[Topics]

	// refs counts the committed offsets of every group by topic and topic
	// id, so that TopicsChanged learns in O(topics) that no deleted topic
	// has offsets, the usual case of a topic-table change. refMu is a leaf
	// lock: taken under a group's mu, it never waits for one.
	refMu sync.Mutex
	refs  map[string]map[[16]byte]int

	// writeSeq numbers offset writes (group.pendingSeq).
	writeSeq atomic.Int64

	mu     sync.Mutex
	groups map[string]*group
	closed bool
	sweep  timer
}

// New returns a coordinator whose state lives in store, rebuilt from it now.
// A nil store keeps everything in memory.
func New(cfg Config, store *storage.Store, log *zap.Logger) (*Coordinator, error) {
	var kv kvStore
	if store != nil {
		kv = store
	}
	return newCoordinator(cfg, kv, realClock{}, log)
}

func newCoordinator(cfg Config, kv kvStore, clk clock, log *zap.Logger) (*Coordinator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	c := &Coordinator{cfg: cfg, kv: kv, clock: clk, log: log, groups: make(map[string]*group)}
	c.m = newMetrics(cfg.Registerer, c)
	if err := c.checkPartitionCount(); err != nil {
		c.m.unregister()
		return nil, err
	}
	if err := c.load(); err != nil {
		c.m.unregister()
		return nil, err
	}
	c.scheduleSweep()
	return c, nil
}

// metaNamespace holds the coordinator's own settings that must never change
// once data exists.
const metaNamespace = "group_coordinator"

var partitionCountKey = []byte("offsets.topic.num.partitions")

// checkPartitionCount records offsets.topic.num.partitions at first start and
// refuses a different value later: it decides which namespace holds each
// group, so changing it would lose every group (Kafka cannot change the
// partition count of __consumer_offsets either).
func (c *Coordinator) checkPartitionCount() error {
	if c.kv == nil {
		return nil
	}
	var stored []byte
	c.kv.RangeKV(metaNamespace, func(k, v []byte) bool {
		if string(k) == string(partitionCountKey) {
			stored = append([]byte(nil), v...)
			return false
		}
		return true
	})
	want := strconv.Itoa(int(c.cfg.OffsetsTopicNumPartitions))
	if stored == nil {
		return c.kv.PutKV(metaNamespace, storage.KV{Key: partitionCountKey, Value: []byte(want)})
	}
	if string(stored) != want {
		return fmt.Errorf("group: offsets.topic.num.partitions is %s in this data directory and cannot change (configured %s)", stored, want)
	}
	return nil
}

// Close stops the coordinator's timers. Waiting JoinGroup and SyncGroup
// calls are answered with COORDINATOR_NOT_AVAILABLE so clients look again.
func (c *Coordinator) Close() error {
	c.mu.Lock()
	c.closed = true
	if c.sweep != nil {
		c.sweep.Stop()
	}
	gs := make([]*group, 0, len(c.groups))
	for _, g := range c.groups {
		gs = append(gs, g)
	}
	c.mu.Unlock()
	for _, g := range gs {
		g.mu.Lock()
		g.shutdown()
		g.mu.Unlock()
	}
	c.m.unregister()
	return nil
}

// Reload drops the in-memory groups and rebuilds them from the store, for a
// broker whose store changed under it: a slave promoted to master has
// received group state through replication that its coordinator never saw.
// Waiting members are answered with COORDINATOR_NOT_AVAILABLE and look the
// coordinator up again.
func (c *Coordinator) Reload() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return errors.New("group: coordinator is closed")
	}
	old := c.groups
	c.groups = make(map[string]*group)
	c.mu.Unlock()
	for _, g := range old {
		g.mu.Lock()
		g.shutdown()
		g.setState(stateDead)
		g.mu.Unlock()
	}
	c.refMu.Lock()
	c.refs = nil // load counts again
	c.refMu.Unlock()
	// load runs under c.mu so no request sees a half-loaded table. It
	// locks the new groups' mutexes, against the usual order, but nobody
	// else can reach those groups before c.mu is released.
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.load()
}

// Partition is the __consumer_offsets partition of group (PartitionFor
// with offsets.topic.num.partitions).
func (c *Coordinator) Partition(group string) int32 {
	return PartitionFor(group, c.cfg.OffsetsTopicNumPartitions)
}

func (c *Coordinator) namespace(group string) string {
	return fmtNamespace(c.Partition(group))
}

// lookup returns the live group named id, creating it when create is set.
// A group found Dead (deleted concurrently) is never returned.
func (c *Coordinator) lookup(id string, create bool) *group {
	c.mu.Lock()
	defer c.mu.Unlock()
	if g, ok := c.groups[id]; ok {
		return g
	}
	if !create || c.closed {
		return nil
	}
	g := newGroup(c, id)
	c.groups[id] = g
	return g
}

// withGroup runs fn under the lock of the live group id (created when create
// is set). It reports false when there is no such group. A group that turned
// Dead between lookup and lock is looked up again. The lock is released by
// a defer: a panic in fn (a bug) costs the request that met it (the
// protocol layer recovers it), not every later request for the group.
func (c *Coordinator) withGroup(id string, create bool, fn func(g *group)) bool {
	for {
		g := c.lookup(id, create)
		if g == nil {
			return false
		}
		if c.lockedLive(g, fn) {
			return true
		}
	}
}

// lockedLive runs fn under g.mu unless g is Dead; it reports whether it ran.
func (c *Coordinator) lockedLive(g *group, fn func(g *group)) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.state == stateDead {
		return false
	}
	fn(g)
	return true
}

// forget drops g from the map; called with g.mu held once g is Dead.
func (c *Coordinator) forget(g *group) {
	c.mu.Lock()
	if c.groups[g.id] == g {
		delete(c.groups, g.id)
	}
	c.mu.Unlock()
}

// snapshot returns the groups sorted by id, for listing.
func (c *Coordinator) snapshot() []*group {
	c.mu.Lock()
	gs := make([]*group, 0, len(c.groups))
	for _, g := range c.groups {
		gs = append(gs, g)
	}
	c.mu.Unlock()
	sort.Slice(gs, func(i, j int) bool { return gs[i].id < gs[j].id })
	return gs
}

// persist writes kvs to the group's namespace. Errors are logged and
// returned; the caller maps them to a Kafka error code.
func (c *Coordinator) persist(group string, kvs ...storage.KV) error {
	if c.kv == nil || len(kvs) == 0 {
		return nil
	}
	err := c.kv.PutKV(c.namespace(group), kvs...)
	if err != nil {
		c.log.Warn("group state write failed", zap.String("group", group), zap.Error(err))
	}
	return err
}

// persistDeferred writes kvs without waiting for durability; the caller
// passes the position to waitDurable, outside the group's lock.
func (c *Coordinator) persistDeferred(group string, kvs ...storage.KV) (int64, error) {
	if c.kv == nil || len(kvs) == 0 {
		return 0, nil
	}
	pos, err := c.kv.PutKVDeferred(c.namespace(group), kvs...)
	if err != nil {
		c.log.Warn("group state write failed", zap.String("group", group), zap.Error(err))
	}
	return pos, err
}

func (c *Coordinator) waitDurable(group string, pos int64) error {
	if c.kv == nil {
		return nil
	}
	err := c.kv.WaitDurable(pos)
	if err != nil {
		c.log.Warn("group state write failed", zap.String("group", group), zap.Error(err))
	}
	return err
}

// code is err's Kafka error code; nil is success (0).
func code(err *kerr.Error) int16 {
	if err == nil {
		return 0
	}
	return err.Code
}

func fmtNamespace(p int32) string { return fmt.Sprintf("__consumer_offsets-%d", p) }
