package replication

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Errors the broker maps to Kafka error codes.
var (
	// ErrNotEnoughReplicas: fewer in-sync members than min.insync.replicas
	// before appending (NOT_ENOUGH_REPLICAS).
	ErrNotEnoughReplicas = errors.New("replication: fewer in-sync replicas than min.insync.replicas")
	// ErrNotEnoughReplicasAfterAppend: the ISR shrank below
	// min.insync.replicas while a write waited (NOT_ENOUGH_REPLICAS_AFTER_APPEND).
	ErrNotEnoughReplicasAfterAppend = errors.New("replication: the ISR shrank below min.insync.replicas after the append")
	// ErrClosed: the Master or Slave was closed.
	ErrClosed = errors.New("replication: closed")
)

// MasterConfig configures a Master. Validate fills defaults.
type MasterConfig struct {
	Group  string // broker.name; slaves of another group are refused
	Member int64  // this broker's broker.member.id; a slave claiming it is refused
	Log    Log
	Logger *zap.Logger // nil = zap.NewNop()

	// ReplicaLagTime is replica.lag.time.max.ms: a slave is in sync while
	// it acknowledged, within this time, everything the master had at
	// some moment. Default 30s.
	ReplicaLagTime time.Duration
	// Heartbeat is how often an idle master sends a slave an empty data
	// frame (carrying its end and commit limit) and how often the ISR is
	// re-checked (at least four times per ReplicaLagTime). Default 1s.
	Heartbeat time.Duration
	// HandshakeTimeout bounds a slave's hello and a bootstrap's first
	// answer. Default 10s.
	HandshakeTimeout time.Duration
	// ChunkBytes is the most commit-log bytes per data frame (one entry
	// larger than it still goes whole). Default 1 MiB.
	ChunkBytes int
	// RateBytes is leader.replication.throttled.rate in bytes per second
	// over all slaves; 0 = unlimited. SetRate changes it later.
	RateBytes int64
	// OnISRChange is called, from one goroutine and in order, with the
	// in-sync slaves' member ids whenever the set changes.
	OnISRChange func(inSync []int64)
	// MustHold, when set, returns members that must have acknowledged a
	// position before the commit limit passes it, whether or not they are
	// in the replication ISR: fail-over's committed in-sync set and the
	// sets reported since (lease.Keeper.MustHold). The ISR drops a slow
	// slave at once, but until a majority of NameServers hold the smaller
	// set that slave may still be promoted, and a record it lacks must not
	// become visible (Kafka: the high watermark advances only over the ISR
	// the controller committed). While it names another member the fence
	// is never lifted, even with an empty ISR. The master's own id is
	// ignored. Called from the housekeeping, without locks held.
	MustHold func() []int64
}

// Validate fills defaults and rejects impossible values.
func (c *MasterConfig) Validate() error {
	if c.Log == nil {
		return errors.New("replication: MasterConfig.Log is required")
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.ReplicaLagTime == 0 {
		c.ReplicaLagTime = 30 * time.Second
	}
	if c.Heartbeat == 0 {
		c.Heartbeat = time.Second
	}
	if c.HandshakeTimeout == 0 {
		c.HandshakeTimeout = 10 * time.Second
	}
	if c.ChunkBytes == 0 {
		c.ChunkBytes = 1 << 20
	}
	if c.ReplicaLagTime < 0 || c.Heartbeat < time.Millisecond || c.HandshakeTimeout < 0 {
		return errors.New("replication: ReplicaLagTime, Heartbeat (>= 1ms) and HandshakeTimeout must be positive")
	}
	if c.ChunkBytes < 4096 || c.ChunkBytes > maxDataBytes/2 {
		return fmt.Errorf("replication: ChunkBytes %d is outside 4 KiB..512 MiB", c.ChunkBytes)
	}
	if c.RateBytes < 0 {
		return errors.New("replication: RateBytes must be 0 (unlimited) or positive")
	}
	return nil
}

// Master streams its commit log to the slaves of its group, tracks their
// progress, keeps the ISR and the commit limit (high watermark), and lets
// sync-mode writes wait for the ISR.
//
// Lock order: limitMu → mu → slaveConn.mu. limitMu serialises every change
// of the ISR and the commit limit (and the Log.SetCommitLimit call, made
// without mu held); mu guards the maps and per-slave progress.
type Master struct {
	cfg MasterConfig
	log Log
	lg  *zap.Logger
	thr throttle

	limitMu sync.Mutex

	mu        sync.Mutex
	closed    bool
	conns     map[int64]*slaveConn // by member id
	isr       map[int64]*slaveConn
	limit     int64 // the fence set on the Log; NoCommitLimit when the ISR is empty
	joining   bool  // ISR empty, fence frozen at limit until a slave reaches joinTarget
	joinAt    int64
	joinUntil time.Time
	nextJoin  time.Time
	joinFails int           // failed joins of an empty ISR in a row (backoff)
	changed   chan struct{} // closed and replaced when acks or the ISR move
	lns       map[net.Listener]struct{}

	limitSeen atomic.Int64                 // limit, for data frames
	connList  atomic.Pointer[[]*slaveConn] // for Notify, without mu
	isrCh     chan struct{}
	done      chan struct{}
	wg        sync.WaitGroup
}

// NewMaster starts a master's housekeeping; Serve accepts slaves.
func NewMaster(cfg MasterConfig) (*Master, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := &Master{
		cfg:     cfg,
		log:     cfg.Log,
		lg:      cfg.Logger.With(zap.String("component", "replication-master")),
		conns:   make(map[int64]*slaveConn),
		isr:     make(map[int64]*slaveConn),
		limit:   NoCommitLimit,
		changed: make(chan struct{}),
		lns:     make(map[net.Listener]struct{}),
		isrCh:   make(chan struct{}, 1),
		done:    make(chan struct{}),
	}
	m.limitSeen.Store(NoCommitLimit)
	m.thr.set(cfg.RateBytes)
	// The store may hold a fence from an earlier life (a slave promoted):
	// with no slave in sync yet, everything written is committed.
	// Unless fail-over still names members that must hold what becomes
	// visible: then the fence starts at the end (what is visible stays
	// so) and moves with their acknowledgements.
	if len(m.mustHold()) > 0 {
		m.limit = m.log.EndPosition()
	}
	m.limitSeen.Store(m.limit)
	m.log.SetCommitLimit(m.limit)
	m.wg.Add(2)
	go m.housekeeper()
	go m.isrNotifier()
	return m, nil
}

// Serve accepts slave connections on ln until Close (then it returns nil)
// or ln is closed by someone else; other accept errors are retried. Each
// slave gets a goroutine pair. Serve may be called for several listeners.
func (m *Master) Serve(ln net.Listener) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		ln.Close()
		return ErrClosed
	}
	m.lns[ln] = struct{}{}
	m.mu.Unlock()
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			select {
			case <-m.done:
				return nil
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			// Out of file descriptors and the like: wait and go on, as
			// net/http does, rather than stop serving slaves.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			m.lg.Warn("accepting a slave", zap.Error(err), zap.Duration("retry_in", delay))
			select {
			case <-m.done:
				return nil
			case <-time.After(delay):
			}
			continue
		}
		delay = 0
		m.mu.Lock() // Close sets closed under mu before it waits for wg
		if m.closed {
			m.mu.Unlock()
			c.Close()
			return nil
		}
		m.wg.Add(1)
		m.mu.Unlock()
		go m.serveConn(c)
	}
}

// Close stops accepting, disconnects every slave and wakes waiters with
// ErrClosed. The commit limit stays where it is: a master stepping down
// must not make its unreplicated tail visible.
func (m *Master) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	close(m.done)
	for ln := range m.lns {
		ln.Close()
	}
	conns := make([]*slaveConn, 0, len(m.conns))
	for _, c := range m.conns {
		conns = append(conns, c)
	}
	close(m.changed)
	m.changed = make(chan struct{})
	m.mu.Unlock()
	for _, c := range conns {
		c.close(ErrClosed)
	}
	m.wg.Wait()
	return nil
}

// Notify tells the master its log grew; the broker calls it after every
// append. It wakes the connections' senders and never blocks. A missed
// call only delays the stream by up to Heartbeat.
func (m *Master) Notify() {
	if p := m.connList.Load(); p != nil {
		for _, c := range *p {
			c.wakeUp()
		}
	}
}

// SetRate changes leader.replication.throttled.rate (bytes/s, 0 = none).
func (m *Master) SetRate(bytesPerSec int64) { m.thr.set(bytesPerSec) }

// CommitLimit is the fence last set on the Log (NoCommitLimit when the
// ISR is empty).
func (m *Master) CommitLimit() int64 { return m.limitSeen.Load() }

// InSync returns the member ids of the in-sync slaves, ascending (the
// master itself is not listed).
func (m *Master) InSync() []int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.inSyncLocked()
}

func (m *Master) inSyncLocked() []int64 {
	ids := make([]int64, 0, len(m.isr))
	for id := range m.isr {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// CheckInSync returns ErrNotEnoughReplicas when the ISR, counting the
// master, is smaller than minInSync (min.insync.replicas): acks=all in
// sync mode is refused before appending.
func (m *Master) CheckInSync(minInSync int) error {
	m.mu.Lock()
	n := 1 + len(m.isr)
	m.mu.Unlock()
	if n < minInSync {
		return ErrNotEnoughReplicas
	}
	return nil
}

// WaitReplicated returns nil once every in-sync slave has acknowledged
// writing the commit log up to pos (an append's end), at once when no
// slave is in sync. It returns ErrNotEnoughReplicasAfterAppend when the
// ISR, counting the master, is or becomes smaller than minInSync while
// waiting, ctx's error when ctx ends first, ErrClosed when the master
// closes.
func (m *Master) WaitReplicated(ctx context.Context, pos int64, minInSync int) error {
	for {
		m.mu.Lock()
		if m.closed {
			m.mu.Unlock()
			return ErrClosed
		}
		if 1+len(m.isr) < minInSync {
			m.mu.Unlock()
			return ErrNotEnoughReplicasAfterAppend
		}
		ok := true
		for _, c := range m.isr {
			if c.acked < pos {
				ok = false
				break
			}
		}
		ch := m.changed
		m.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// SlaveInfo is one connected slave's progress, for metrics and routes.
type SlaveInfo struct {
	Member   int64
	Addr     string
	InSync   bool
	HoldsAll bool  // it holds every record the master retains
	Acked    int64 // written end it acknowledged
	Durable  int64 // fsynced position it acknowledged
	// LagBytes is the master's end minus Acked; LagTime is how long ago it
	// last acknowledged everything the master had (0 when it has it now).
	LagBytes     int64
	LagTime      time.Duration
	LastCaughtUp time.Time // when it last held everything the master had (zero: never)
	ConnectedFor time.Duration
	BytesSent    int64 // commit-log and bootstrap bytes sent on this connection
}

// Slaves reports every connected slave, by member id.
func (m *Master) Slaves() []SlaveInfo {
	end := m.log.EndPosition()
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]SlaveInfo, 0, len(m.conns))
	for id, c := range m.conns {
		si := SlaveInfo{Member: id, Addr: c.addr, HoldsAll: c.holdsAll, Acked: c.acked, Durable: c.durable,
			ConnectedFor: now.Sub(c.since), LastCaughtUp: c.lastCaughtUp, BytesSent: c.bytesSent.Load()}
		_, si.InSync = m.isr[id]
		if c.hasAck {
			si.LagBytes = max(end-c.acked, 0)
			if si.LagBytes > 0 {
				si.LagTime = now.Sub(c.lastCaughtUp)
				if c.lastCaughtUp.IsZero() {
					si.LagTime = now.Sub(c.since)
				}
			}
		} else {
			si.LagBytes = end
			si.LagTime = now.Sub(c.since)
		}
		out = append(out, si)
	}
	slices.SortFunc(out, func(a, b SlaveInfo) int { return cmp.Compare(a.Member, b.Member) })
	return out
}

// broadcastLocked wakes WaitReplicated callers.
func (m *Master) broadcastLocked() {
	close(m.changed)
	m.changed = make(chan struct{})
}

func (m *Master) publishConnsLocked() {
	l := make([]*slaveConn, 0, len(m.conns))
	for _, c := range m.conns {
		l = append(l, c)
	}
	m.connList.Store(&l)
}

// eligibleLocked: a slave may be (or stay a candidate for) in sync.
func (m *Master) eligibleLocked(c *slaveConn, now time.Time) bool {
	return c.streaming && c.hasAck && c.holdsAll && !c.gone &&
		now.Sub(c.lastCaughtUp) <= m.cfg.ReplicaLagTime
}

// evaluate re-checks the ISR and moves the commit limit. Every change to
// either happens here, under limitMu.
//
// The high watermark follows Kafka's rule: the lowest written end among
// the in-sync members, never moving back. With no slave in sync the fence
// is lifted (the master alone is the ISR). A slave joins a non-empty ISR
// when it has acknowledged the current fence (Kafka: follower LEO >= HW).
// Joining an empty ISR needs more care, because with no fence everything
// written is already visible: the fence is first frozen at the end, the
// end is read again (what was appended meanwhile may be visible too), and
// the slave joins once it acknowledged that second end; if it does not
// within a heartbeat, the fence is lifted again and a later try made.
func (m *Master) evaluate() {
	m.limitMu.Lock()
	defer m.limitMu.Unlock()
	hold := m.mustHold()
	now := time.Now()
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	isrChanged := false
	for id, c := range m.isr {
		if !m.eligibleLocked(c, now) {
			delete(m.isr, id)
			isrChanged = true
			m.lg.Info("slave left the ISR", zap.Int64("member", id), zap.String("why", c.notInSyncReason(now, m.cfg.ReplicaLagTime)),
				zap.Int64("acked", c.acked))
		}
	}
	setLimit := int64(-1)
	// holdAcked is the least position every MustHold member acknowledged
	// (0 for one not connected): the fence never passes it.
	holdAcked := NoCommitLimit
	for _, id := range hold {
		a := int64(0)
		if c := m.conns[id]; c != nil && c.hasAck {
			a = c.acked
		}
		holdAcked = min(holdAcked, a)
	}
	holding := len(hold) > 0
	if holding && !m.joining {
		if m.limit == NoCommitLimit {
			// Freeze at the end: what is visible stays visible, nothing
			// appended from now on until the members hold it.
			m.mu.Unlock()
			e := m.log.EndPosition()
			m.log.SetCommitLimit(e)
			m.mu.Lock()
			m.limit = e
			m.limitSeen.Store(e)
		} else if len(m.isr) == 0 && holdAcked > m.limit {
			m.limit = holdAcked
			setLimit = holdAcked
		}
	}
	if len(m.isr) == 0 && !m.joining && m.limit != NoCommitLimit && !holding {
		m.limit = NoCommitLimit // the ISR emptied: the master alone commits
		setLimit = NoCommitLimit
	}
	if len(m.isr) == 0 && !m.joining && !now.Before(m.nextJoin) {
		end := m.log.EndPosition()
		for _, c := range m.conns {
			if m.eligibleLocked(c, now) && end-c.acked <= int64(m.cfg.ChunkBytes) {
				if holding { // the fence is in place already and stays
					m.joining, m.joinAt, m.joinUntil = true, end, now.Add(m.cfg.Heartbeat)
					break
				}
				// Freeze, then read what may have become visible.
				m.mu.Unlock()
				e1 := m.log.EndPosition()
				m.log.SetCommitLimit(e1)
				e2 := m.log.EndPosition()
				m.mu.Lock()
				m.limit, m.joining, m.joinAt, m.joinUntil = e1, true, e2, now.Add(m.cfg.Heartbeat)
				m.limitSeen.Store(e1)
				setLimit = -1
				break
			}
		}
	}
	if m.joining {
		for id, c := range m.conns {
			if m.eligibleLocked(c, now) && c.acked >= m.joinAt {
				m.isr[id] = c
				isrChanged = true
				m.lg.Info("slave joined the ISR", zap.Int64("member", id), zap.Int64("acked", c.acked))
			}
		}
		if len(m.isr) > 0 {
			m.joining, m.joinFails = false, 0
		} else if now.After(m.joinUntil) {
			// Each try holds back visibility for up to a heartbeat:
			// back off so a slave that cannot keep up costs little.
			m.joining = false
			m.joinFails++
			m.nextJoin = now.Add(m.cfg.Heartbeat << min(m.joinFails, 5))
			if !holding {
				m.limit = NoCommitLimit
				setLimit = NoCommitLimit
			}
		}
	} else if len(m.isr) > 0 {
		for id, c := range m.conns {
			if _, in := m.isr[id]; !in && m.eligibleLocked(c, now) && c.acked >= m.limit {
				m.isr[id] = c
				isrChanged = true
				m.lg.Info("slave joined the ISR", zap.Int64("member", id), zap.Int64("acked", c.acked))
			}
		}
	}
	if len(m.isr) > 0 {
		fence := holdAcked
		for _, c := range m.isr {
			fence = min(fence, c.acked)
		}
		if fence > m.limit || (m.limit == NoCommitLimit && !holding) {
			m.limit = fence
			setLimit = fence
		}
	}
	if isrChanged || setLimit >= 0 {
		m.broadcastLocked()
	}
	m.mu.Unlock()
	if setLimit >= 0 {
		m.log.SetCommitLimit(setLimit)
		m.limitSeen.Store(setLimit)
		m.Notify() // slaves learn the new limit
	}
	if isrChanged {
		select {
		case m.isrCh <- struct{}{}:
		default:
		}
	}
}

// mustHold returns the MustHold members other than this master.
func (m *Master) mustHold() []int64 {
	if m.cfg.MustHold == nil {
		return nil
	}
	var out []int64
	for _, id := range m.cfg.MustHold() {
		if id != m.cfg.Member {
			out = append(out, id)
		}
	}
	return out
}

func (m *Master) housekeeper() {
	defer m.wg.Done()
	every := min(m.cfg.Heartbeat, m.cfg.ReplicaLagTime/4)
	t := time.NewTicker(max(every, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-m.done:
			return
		case <-t.C:
			m.evaluate()
		}
	}
}

func (m *Master) isrNotifier() {
	defer m.wg.Done()
	for {
		select {
		case <-m.done:
			return
		case <-m.isrCh:
			if m.cfg.OnISRChange != nil {
				m.cfg.OnISRChange(m.InSync())
			}
		}
	}
}
