package txn

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/gregor-broker/gregor/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"go.uber.org/zap"
)

// Namespace is the store namespace of transaction metadata.
const Namespace = "txn_state"

// State is Kafka's TransactionState.
type State int8

const (
	Empty State = iota
	Ongoing
	PrepareCommit
	PrepareAbort
	CompleteCommit
	CompleteAbort
)

var stateNames = [...]string{"Empty", "Ongoing", "PrepareCommit", "PrepareAbort", "CompleteCommit", "CompleteAbort"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "Unknown"
}

// TopicPartition names a partition in a transaction.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// Metadata is a transactional id's state as stored (JSON).
type Metadata struct {
	ID            string
	ProducerID    int64
	Epoch         int16
	LastProducer  int64 // the id before the last bump (a retried InitProducerId)
	LastEpoch     int16
	TimeoutMs     int32
	State         State
	Partitions    []TopicPartition `json:",omitempty"`
	Groups        []string         `json:",omitempty"`
	StartMs       int64            // start of the open transaction
	UpdateMs      int64
	PendingCommit bool `json:",omitempty"` // Prepare*: whether it commits
	// NextProducer is the producer id the id moves to when the
	// transaction being ended completes: set when ending it exhausted the
	// epoch (transaction.version 2 bumps it at every end; Kafka's
	// nextProducerId).
	NextProducer *int64 `json:",omitempty"`
	// MarkerTV is the transaction.version of the markers of the
	// transaction being ended: 2 when ending it bumped the epoch (the
	// markers carry an epoch above the partitions' one), else 0.
	MarkerTV int8 `json:",omitempty"`
}

// Env is what the coordinator needs from its broker.
type Env interface {
	// NextProducerID hands out a cluster-unique producer id.
	NextProducerID() (int64, error)
	// WriteMarkers writes a commit or abort marker of producerID at epoch
	// to each partition and ends the transaction's pending offsets in each
	// group; an error means some were not written (retried later). tv is
	// the markers' transaction.version (WriteTxnMarkers v2): at 2 a
	// partition that already holds the epoch has the marker already.
	WriteMarkers(ctx context.Context, producerID int64, epoch int16, commit bool, tv int8, parts []TopicPartition, groups []string) error
	// Active reports whether this broker coordinates now (a live master).
	Active() bool
}

// KV is the part of the store the coordinator keeps its metadata in.
type KV interface {
	PutKV(ns string, kvs ...storage.KV) error
	GetKV(ns string, key []byte) ([]byte, bool)
	RangeKV(ns string, fn func(key, value []byte) bool)
}

// Config holds the coordinator's settings.
type Config struct {
	// MaxTimeoutMs is transaction.max.timeout.ms (default 900000).
	MaxTimeoutMs int32
	// CheckInterval is how often expired transactions are aborted and
	// unfinished ones completed
	// (transaction.abort.timed.out.transaction.cleanup.interval.ms;
	// default 10 s).
	CheckInterval time.Duration
}

// EnsureDefaults fills zero fields with Kafka's defaults.
func (c *Config) EnsureDefaults() {
	if c.MaxTimeoutMs <= 0 {
		c.MaxTimeoutMs = 900000
	}
	if c.CheckInterval <= 0 {
		c.CheckInterval = 10 * time.Second
	}
}

// Coordinator is one broker's transaction coordinator.
type Coordinator struct {
	cfg Config
	kv  KV
	env Env
	log *zap.Logger
	now func() time.Time

	mu    sync.Mutex
	locks map[string]*sync.Mutex // per transactional id, held across a whole request
}

// New returns a coordinator keeping its state in kv.
func New(cfg Config, kv KV, env Env, log *zap.Logger) *Coordinator {
	cfg.EnsureDefaults()
	return &Coordinator{cfg: cfg, kv: kv, env: env, log: log, now: time.Now, locks: map[string]*sync.Mutex{}}
}

func (c *Coordinator) lock(id string) func() {
	c.mu.Lock()
	l := c.locks[id]
	if l == nil {
		l = new(sync.Mutex)
		c.locks[id] = l
	}
	c.mu.Unlock()
	l.Lock()
	return l.Unlock
}

func (c *Coordinator) load(id string) (*Metadata, error) {
	v, ok := c.kv.GetKV(Namespace, []byte(id))
	if !ok || v == nil {
		return nil, nil
	}
	var m Metadata
	if err := json.Unmarshal(v, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

func (c *Coordinator) save(m *Metadata) error {
	m.UpdateMs = c.now().UnixMilli()
	v, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return c.kv.PutKV(Namespace, storage.KV{Key: []byte(m.ID), Value: v})
}

// Describe returns id's metadata; nil when the id is unknown.
func (c *Coordinator) Describe(id string) *Metadata {
	m, _ := c.load(id)
	return m
}

// List returns every transactional id's metadata, by id.
func (c *Coordinator) List() []*Metadata {
	var out []*Metadata
	c.kv.RangeKV(Namespace, func(key, value []byte) bool {
		var m Metadata
		if value != nil && json.Unmarshal(value, &m) == nil {
			out = append(out, &m)
		}
		return true
	})
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// InitProducerID answers InitProducerId for a transactional id: a new
// producer id at epoch 0 the first time, else the id's epoch bumped
// (fencing the previous holder), after aborting the transaction that
// holder left open. producerID and epoch are -1 unless the client sends
// its current ones (KIP-360), which must be the id's current (or, for a
// retried bump, previous) ones.
func (c *Coordinator) InitProducerID(ctx context.Context, id string, timeoutMs int32, producerID int64, epoch int16) (int64, int16, *kerr.Error) {
	if timeoutMs <= 0 || timeoutMs > c.cfg.MaxTimeoutMs {
		return -1, -1, kerr.InvalidTransactionTimeout
	}
	defer c.lock(id)()
	m, err := c.load(id)
	if err != nil {
		return -1, -1, kerr.CoordinatorNotAvailable
	}
	if m == nil {
		pid, err := c.env.NextProducerID()
		if err != nil {
			return -1, -1, kerr.CoordinatorNotAvailable
		}
		m = &Metadata{ID: id, ProducerID: pid, Epoch: 0, LastProducer: -1, LastEpoch: -1, TimeoutMs: timeoutMs, State: Empty}
		if err := c.save(m); err != nil {
			return -1, -1, kerr.CoordinatorNotAvailable
		}
		return m.ProducerID, m.Epoch, nil
	}
	if producerID >= 0 {
		switch {
		case producerID == m.LastProducer && epoch == m.LastEpoch && m.State == Empty:
			return m.ProducerID, m.Epoch, nil // a retried bump
		case producerID != m.ProducerID:
			return -1, -1, kerr.ProducerFenced
		case epoch != m.Epoch:
			return -1, -1, kerr.ProducerFenced
		}
	}
	switch m.State {
	case PrepareCommit, PrepareAbort:
		if !c.complete(ctx, m) {
			return -1, -1, kerr.ConcurrentTransactions
		}
	case Ongoing:
		// The previous holder left a transaction open: fence it (its
		// epoch is bumped for the markers) and abort.
		if !c.abort(ctx, m) {
			return -1, -1, kerr.ConcurrentTransactions
		}
	}
	m.LastProducer, m.LastEpoch = m.ProducerID, m.Epoch
	if m.Epoch >= math.MaxInt16-1 {
		pid, err := c.env.NextProducerID()
		if err != nil {
			return -1, -1, kerr.CoordinatorNotAvailable
		}
		m.ProducerID, m.Epoch = pid, 0
	} else {
		m.Epoch++
	}
	m.TimeoutMs, m.State, m.Partitions, m.Groups, m.StartMs = timeoutMs, Empty, nil, nil, 0
	if err := c.save(m); err != nil {
		return -1, -1, kerr.CoordinatorNotAvailable
	}
	return m.ProducerID, m.Epoch, nil
}

// check is the producer check every request of a transaction makes.
func check(m *Metadata, producerID int64, epoch int16) *kerr.Error {
	switch {
	case m != nil && (m.State == PrepareCommit || m.State == PrepareAbort):
		// Checked first: while a transaction.version 2 end that moved the
		// id to a new producer id (an exhausted epoch) is completing, the
		// producer already holds the new id and must retry, not be told
		// its id is unknown (Kafka's KAFKA-18660 ordering).
		return kerr.ConcurrentTransactions
	case m == nil || m.ProducerID != producerID:
		return kerr.InvalidProducerIDMapping
	case epoch != m.Epoch:
		return kerr.ProducerFenced
	}
	return nil
}

// begin moves m to Ongoing (a new transaction when it was not).
func (c *Coordinator) begin(m *Metadata) {
	if m.State != Ongoing {
		m.State, m.Partitions, m.Groups = Ongoing, nil, nil
		m.StartMs = c.now().UnixMilli()
	}
}

// AddPartitions adds partitions to id's transaction.
func (c *Coordinator) AddPartitions(id string, producerID int64, epoch int16, parts []TopicPartition) *kerr.Error {
	defer c.lock(id)()
	m, err := c.load(id)
	if err != nil {
		return kerr.CoordinatorNotAvailable
	}
	if e := check(m, producerID, epoch); e != nil {
		return e
	}
	c.begin(m)
	for _, p := range parts {
		if !m.has(p) {
			m.Partitions = append(m.Partitions, p)
		}
	}
	if err := c.save(m); err != nil {
		return kerr.CoordinatorNotAvailable
	}
	return nil
}

// Verify reports whether producerID at epoch may write transactional
// batches to p: its transaction is open and has p. ok is false when this
// coordinator has no metadata for id.
func (c *Coordinator) Verify(id string, producerID int64, epoch int16, p TopicPartition) (e *kerr.Error, ok bool) {
	m, err := c.load(id)
	if err != nil || m == nil {
		return nil, false
	}
	switch {
	case m.ProducerID != producerID:
		return kerr.InvalidProducerIDMapping, true
	case epoch < m.Epoch:
		return kerr.InvalidProducerEpoch, true
	case m.State != Ongoing || !m.has(p):
		return kerr.InvalidTxnState, true
	}
	return nil, true
}

// VerifyPartitions is Kafka's verification of partitions in a
// transaction (AddPartitionsToTxn v4+ with VerifyOnly, sent by the leader
// of a partition a transactional batch is produced to): one error for all
// partitions when the producer does not hold the id, else, per partition,
// nil when it is in the open transaction and TRANSACTION_ABORTABLE when
// it is not.
func (c *Coordinator) VerifyPartitions(id string, producerID int64, epoch int16, parts []TopicPartition) (map[TopicPartition]*kerr.Error, *kerr.Error) {
	m, err := c.load(id)
	switch {
	case err != nil:
		return nil, kerr.CoordinatorNotAvailable
	case m == nil || m.ProducerID != producerID:
		return nil, kerr.InvalidProducerIDMapping
	case m.Epoch != epoch:
		return nil, kerr.ProducerFenced
	case m.State == PrepareCommit || m.State == PrepareAbort:
		return nil, kerr.ConcurrentTransactions
	}
	out := make(map[TopicPartition]*kerr.Error, len(parts))
	for _, p := range parts {
		if m.State != Ongoing || !m.has(p) {
			out[p] = kerr.TransactionAbortable
		} else {
			out[p] = nil
		}
	}
	return out, nil
}

func (m *Metadata) has(p TopicPartition) bool {
	for _, q := range m.Partitions {
		if q == p {
			return true
		}
	}
	return false
}

// AddOffsets adds a group, whose offsets the transaction commits, to id's
// transaction.
func (c *Coordinator) AddOffsets(id string, producerID int64, epoch int16, group string) *kerr.Error {
	defer c.lock(id)()
	m, err := c.load(id)
	if err != nil {
		return kerr.CoordinatorNotAvailable
	}
	if e := check(m, producerID, epoch); e != nil {
		return e
	}
	c.begin(m)
	found := false
	for _, g := range m.Groups {
		found = found || g == group
	}
	if !found {
		m.Groups = append(m.Groups, group)
	}
	if err := c.save(m); err != nil {
		return kerr.CoordinatorNotAvailable
	}
	return nil
}

// EndTxn commits or aborts id's transaction and returns the producer id
// and epoch the producer continues with. It answers once the decision is
// durable; markers not written yet are retried by Run.
//
// tv2 is the client's transaction.version 2 (EndTxn v5+, KIP-890 part 2):
// the epoch is bumped at every end, the markers carry the bumped epoch
// (fencing every batch of the ended transaction still in flight), and an
// exhausted epoch moves the id to a new producer id at epoch 0. Without
// tv2 the epoch stays and -1, -1 is returned (EndTxn v0-v4 carry none).
func (c *Coordinator) EndTxn(ctx context.Context, id string, producerID int64, epoch int16, commit, tv2 bool) (int64, int16, *kerr.Error) {
	defer c.lock(id)()
	m, err := c.load(id)
	if err != nil {
		return -1, -1, kerr.CoordinatorNotAvailable
	}
	if tv2 {
		return c.endTxnV2(ctx, m, producerID, epoch, commit)
	}
	if m == nil || m.ProducerID != producerID {
		return -1, -1, kerr.InvalidProducerIDMapping
	}
	if epoch != m.Epoch {
		return -1, -1, kerr.ProducerFenced
	}
	switch {
	case m.State == CompleteCommit && commit, m.State == CompleteAbort && !commit:
		return -1, -1, nil // a retry of an EndTxn already done
	case m.State == PrepareCommit || m.State == PrepareAbort:
		return -1, -1, kerr.ConcurrentTransactions
	case m.State != Ongoing:
		return -1, -1, kerr.InvalidTxnState
	}
	m.State, m.PendingCommit, m.MarkerTV = PrepareAbort, commit, 0
	if commit {
		m.State = PrepareCommit
	}
	if err := c.save(m); err != nil {
		return -1, -1, kerr.CoordinatorNotAvailable
	}
	c.complete(ctx, m)
	return -1, -1, nil
}

// endTxnV2 is EndTxn at transaction.version 2, Kafka's table for the
// states a transaction can be in when it is asked to end (a "retry" is a
// request with the epoch before the bump, or, after an exhausted epoch
// moved the id, the previous producer id at the last epoch):
//
//	state           abort retry  abort current  commit retry  commit current
//	Ongoing         fenced       bump, abort    fenced        bump, commit
//	Empty           fenced       bump           fenced        INVALID_TXN_STATE
//	CompleteAbort   ok           bump           INVALID_TXN_STATE (both)
//	CompleteCommit  INVALID_TXN_STATE  bump     ok            INVALID_TXN_STATE
//	Prepare*        CONCURRENT_TRANSACTIONS (same outcome) or INVALID_TXN_STATE
//
// "bump" with no open transaction is an empty abort: the epoch moves and
// no marker is written.
func (c *Coordinator) endTxnV2(ctx context.Context, m *Metadata, producerID int64, epoch int16, commit bool) (int64, int16, *kerr.Error) {
	if m == nil {
		return -1, -1, kerr.InvalidProducerIDMapping
	}
	retryOnBump := m.Epoch == epoch+1
	retryOnOverflow := m.LastProducer == producerID && m.ProducerID != producerID && epoch == math.MaxInt16-1 && m.Epoch == 0
	isRetry := retryOnBump || retryOnOverflow
	var valid bool
	switch m.State {
	case Ongoing, Empty:
		valid = epoch == m.Epoch
	case PrepareCommit, PrepareAbort:
		valid = retryOnBump
	default:
		valid = isRetry || epoch == m.Epoch
	}
	switch {
	case m.ProducerID != producerID && !retryOnOverflow:
		return -1, -1, kerr.InvalidProducerIDMapping
	case !valid:
		return -1, -1, kerr.ProducerFenced
	}
	var end bool // false: answer without a transition
	var kErr *kerr.Error
	switch m.State {
	case Ongoing:
		end = true
	case Empty:
		end, kErr = !commit, kerr.InvalidTxnState
	case CompleteCommit:
		switch {
		case commit && isRetry:
		case !commit && !isRetry:
			end = true
		default:
			kErr = kerr.InvalidTxnState
		}
	case CompleteAbort:
		switch {
		case commit:
			kErr = kerr.InvalidTxnState
		case !isRetry:
			end = true
		}
	case PrepareCommit, PrepareAbort:
		kErr = kerr.InvalidTxnState
		if commit == (m.State == PrepareCommit) {
			kErr = kerr.ConcurrentTransactions
		}
	}
	if end {
		kErr = nil
	} else if kErr != nil {
		return -1, -1, kErr
	} else {
		pid, ep := m.clientView()
		return pid, ep, nil
	}
	if m.State != Ongoing {
		// An empty abort: nothing was added, so nothing to mark.
		m.Partitions, m.Groups = nil, nil
		m.StartMs = c.now().UnixMilli()
	}
	if m.Epoch >= math.MaxInt16-1 {
		next, err := c.env.NextProducerID()
		if err != nil {
			return -1, -1, kerr.CoordinatorNotAvailable
		}
		m.NextProducer = &next
	}
	m.LastProducer, m.LastEpoch = m.ProducerID, m.Epoch
	m.Epoch++
	m.State, m.PendingCommit, m.MarkerTV = PrepareAbort, commit, 2
	if commit {
		m.State = PrepareCommit
	}
	if err := c.save(m); err != nil {
		return -1, -1, kerr.CoordinatorNotAvailable
	}
	c.complete(ctx, m)
	pid, ep := m.clientView()
	return pid, ep, nil
}

// clientView is the producer id and epoch the producer continues with:
// the next producer id at epoch 0 when an exhausted epoch moves the id.
func (m *Metadata) clientView() (int64, int16) {
	if m.NextProducer != nil {
		return *m.NextProducer, 0
	}
	return m.ProducerID, m.Epoch
}

// abort fences and aborts m's open transaction (timeout, or a new
// producer taking the id over); false when its markers are not all written
// yet (m stays in PrepareAbort, Run retries). The epoch is bumped once and
// the markers carry it; an epoch that reaches its last value moves the id
// to a new producer id when the abort completes, as Kafka's coordinator
// does for the aborts it starts itself (transaction.version 2).
func (c *Coordinator) abort(ctx context.Context, m *Metadata) bool {
	m.MarkerTV = 0
	if m.Epoch < math.MaxInt16 {
		m.MarkerTV = 2 // the markers carry an epoch above the partitions' one
		if m.Epoch >= math.MaxInt16-1 && m.NextProducer == nil {
			if next, err := c.env.NextProducerID(); err == nil {
				m.NextProducer = &next
			}
		}
		m.LastProducer, m.LastEpoch = m.ProducerID, m.Epoch
		m.Epoch++
	}
	m.State, m.PendingCommit = PrepareAbort, false
	if err := c.save(m); err != nil {
		return false
	}
	return c.complete(ctx, m)
}

// complete writes the markers of m's decided transaction and moves it to
// Complete* (and to its next producer id, if it has one); under id's lock.
func (c *Coordinator) complete(ctx context.Context, m *Metadata) bool {
	commit := m.State == PrepareCommit
	if err := c.env.WriteMarkers(ctx, m.ProducerID, m.Epoch, commit, m.MarkerTV, m.Partitions, m.Groups); err != nil {
		c.log.Warn("transaction markers not all written; retrying later", zap.String("transactional.id", m.ID), zap.Error(err))
		return false
	}
	m.State = CompleteAbort
	if commit {
		m.State = CompleteCommit
	}
	m.Partitions, m.Groups, m.MarkerTV = nil, nil, 0
	if m.NextProducer != nil {
		// The last epoch the producer saw stays in LastEpoch; the id
		// before in LastProducer, so a retried EndTxn is recognised.
		m.LastProducer, m.ProducerID, m.Epoch, m.NextProducer = m.ProducerID, *m.NextProducer, 0, nil
	}
	if err := c.save(m); err != nil {
		return false
	}
	return true
}

// Run aborts expired transactions and completes decided ones at once (a
// restart or fail-over left them) and then every CheckInterval, while
// env.Active, until stop closes.
func (c *Coordinator) Run(stop <-chan struct{}) {
	t := time.NewTicker(c.cfg.CheckInterval)
	defer t.Stop()
	for {
		if c.env.Active() {
			c.Check(context.Background())
		}
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}

// Check is one pass of Run.
func (c *Coordinator) Check(ctx context.Context) {
	now := c.now().UnixMilli()
	for _, m := range c.List() {
		switch {
		case m.State == PrepareCommit || m.State == PrepareAbort:
		case m.State == Ongoing && now > m.StartMs+int64(m.TimeoutMs):
		default:
			continue
		}
		func() {
			defer c.lock(m.ID)()
			m, err := c.load(m.ID)
			if err != nil || m == nil {
				return
			}
			switch {
			case m.State == PrepareCommit || m.State == PrepareAbort:
				c.complete(ctx, m)
			case m.State == Ongoing && now > m.StartMs+int64(m.TimeoutMs):
				c.log.Info("aborting a transaction past its timeout", zap.String("transactional.id", m.ID), zap.Int32("timeout.ms", m.TimeoutMs))
				c.abort(ctx, m)
			}
		}()
	}
}

// ErrNotCoordinator is returned by the broker's Env when a marker's
// partition has no leader reachable.
var ErrNotCoordinator = errors.New("txn: partition leader not available")
