package nameserver

// Master leases: the NameServer half of fail-over (docs/replication.md,
// "Fail-over"; the broker half is package nameserver/lease).
//
// Per broker group a NameServer keeps, in memory only:
//
//	holder    the member holding the group's lease, its term's epoch, and
//	          when the lease ends here (receipt of the last grant + Duration,
//	          on this NameServer's clock)
//	maxEpoch  the largest term epoch it has granted or heard of
//	syncState the last in-sync set (SyncStateSet) a master reported
//
// Rules, each needed by the safety argument in docs/replication.md:
//
//   - A NameServer grants nothing, to anyone, until Duration has passed since
//     it started: a grant it made before a restart may still be running, and
//     it has forgotten it.
//   - While the holder's lease runs here, only the holder renews it (for the
//     same epoch, or moves it to a new term by the rules below).
//   - Once it has ended (or was released), a member may take it to continue
//     the term it mastered (Epoch == LastEpoch, LastMaster == itself) only if
//     no newer epoch is known here, or to begin a new term only with an
//     epoch larger than every epoch known here. So every NameServer hands out
//     a new term's epoch at most once, and two terms granted by intersecting
//     majorities never share an epoch.
//   - An in-sync set is taken from the holder when its renewal is granted,
//     and, while the NameServer is in its start grace, from any master that
//     reports a newer one (so a candidate after the grace knows the set).
//
// The lease is measured here from receipt; the broker measures its own from
// the moment it sent the request, minus a margin for clock drift, so the
// broker's lease always ends before any NameServer's.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// DefaultLeaseDuration is a master lease's length on the NameServer.
//
// With it a killed master's group has a new master within about 5 s: the
// lease runs out at most 4 s after the last renewal, and an in-sync slave
// looking every second takes it over (docs/replication.md).
const DefaultLeaseDuration = 4 * time.Second

// LeaseOp says what a LeaseRequest asks for.
type LeaseOp string

const (
	// LeaseAcquire grants a lease or renews the holder's.
	LeaseAcquire LeaseOp = "acquire"
	// LeaseQuery changes nothing (except learning LastEpoch) and reports
	// the group's lease state.
	LeaseQuery LeaseOp = "query"
	// LeaseRelease ends the requester's lease at once (clean shutdown,
	// a failed candidacy); the requester stopped acting on it before.
	LeaseRelease LeaseOp = "release"
)

// SyncState is a master's in-sync set (RocketMQ's SyncStateSet, Kafka's
// ISR): the members that hold everything the master acknowledged.
type SyncState struct {
	Members []int64 `json:"members"`
	// Epoch is the term of the master reporting it.
	Epoch int32 `json:"epoch"`
	// Version grows with every change of Members within the term.
	Version int64 `json:"version"`
}

// newer reports whether s was reported after o (nil is oldest).
func (s *SyncState) newer(o *SyncState) bool {
	if s == nil {
		return false
	}
	if o == nil {
		return true
	}
	if s.Epoch != o.Epoch {
		return s.Epoch > o.Epoch
	}
	return s.Version > o.Version
}

// Newer reports whether s was reported after o (nil is oldest).
func (s *SyncState) Newer(o *SyncState) bool { return s.newer(o) }

// Has reports whether member is in the set.
func (s *SyncState) Has(member int64) bool { return s != nil && slices.Contains(s.Members, member) }

func (s *SyncState) clone() *SyncState {
	if s == nil {
		return nil
	}
	c := *s
	c.Members = slices.Clone(s.Members)
	return &c
}

// LeaseRequest asks a NameServer about a group's master lease.
type LeaseRequest struct {
	Op         LeaseOp `json:"op"`
	Cluster    string  `json:"cluster"`
	BrokerName string  `json:"broker_name"`
	// BrokerID is the member asking (broker.member.id).
	BrokerID int64 `json:"broker_id"`
	// Epoch is the term the lease is for: LastEpoch to continue the term
	// the requester mastered, larger to begin a new one.
	Epoch int32 `json:"epoch"`
	// LastEpoch and LastMaster describe the newest term in the requester's
	// commit log (-1 and -1 for none).
	LastEpoch  int32 `json:"last_epoch"`
	LastMaster int64 `json:"last_master"`
	// SyncState is the master's in-sync set; nil from a slave.
	SyncState *SyncState `json:"sync_state,omitempty"`
}

// LeaseResponse is a NameServer's answer.
type LeaseResponse struct {
	Granted bool   `json:"granted"`
	Reason  string `json:"reason,omitempty"`
	// Holder is the member whose lease runs here (-1: none), with its term's
	// epoch and how long it still runs on this NameServer's clock.
	Holder      int64         `json:"holder"`
	HolderEpoch int32         `json:"holder_epoch"`
	Remaining   time.Duration `json:"remaining_ns"`
	// MaxEpoch is the largest epoch this NameServer knows for the group.
	MaxEpoch int32 `json:"max_epoch"`
	// SyncState is the last in-sync set reported for the group.
	SyncState *SyncState `json:"sync_state,omitempty"`
	// Grace > 0: the NameServer started recently and grants nothing yet.
	Grace time.Duration `json:"grace_ns,omitempty"`
	// Duration is this NameServer's lease length; the broker measures its
	// lease with it, so the two can never be configured apart.
	Duration time.Duration `json:"duration_ns"`
	// Uptime is how long the NameServer has run: just after its start
	// grace it reports a lease free that the live master has not renewed
	// with it yet.
	Uptime time.Duration `json:"uptime_ns"`
}

// ErrInvalidLease is returned for a request without a group or member.
var ErrInvalidLease = errors.New("nameserver: lease request needs broker_name, broker_id >= 0 and op acquire, query or release")

type groupLease struct {
	holder    int64 // -1: none
	epoch     int32
	expires   time.Time
	maxEpoch  int32
	syncState *SyncState
}

// Leases is a NameServer's lease table. It is safe for concurrent use.
type Leases struct {
	mu      sync.Mutex
	d       time.Duration
	now     func() time.Time
	started time.Time
	groups  map[string]*groupLease
}

// NewLeases returns an empty table granting leases of d, whose start grace
// begins now; now is the clock (nil = time.Now).
func NewLeases(d time.Duration, now func() time.Time) *Leases {
	if now == nil {
		now = time.Now
	}
	if d <= 0 {
		d = DefaultLeaseDuration
	}
	return &Leases{d: d, now: now, started: now(), groups: map[string]*groupLease{}}
}

// Duration is the lease length.
func (l *Leases) Duration() time.Duration { return l.d }

// Lease answers req. The context is unused; it makes *Leases a lease.Granter.
func (l *Leases) Lease(_ context.Context, req LeaseRequest) (LeaseResponse, error) {
	if req.BrokerName == "" || req.BrokerID < 0 ||
		(req.Op != LeaseAcquire && req.Op != LeaseQuery && req.Op != LeaseRelease) {
		return LeaseResponse{}, ErrInvalidLease
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	g := l.groups[req.BrokerName]
	if g == nil {
		g = &groupLease{holder: -1, epoch: -1, maxEpoch: -1}
		l.groups[req.BrokerName] = g
	}
	// LastEpoch names a term that exists in a commit log: learning it is
	// always safe, and makes the next new term's epoch larger.
	g.maxEpoch = max(g.maxEpoch, req.LastEpoch)
	grace := l.started.Add(l.d).Sub(now)
	live := g.holder >= 0 && now.Before(g.expires)

	var granted bool
	var reason string
	switch {
	case req.Op == LeaseQuery:
	case req.Op == LeaseRelease:
		if live && g.holder == req.BrokerID && g.epoch == req.Epoch {
			g.expires = now
			live = false
		}
	case grace > 0:
		reason = fmt.Sprintf("NameServer started %v ago: it grants nothing until a full lease (%v) has passed", l.d-grace, l.d)
		if req.SyncState != nil && req.SyncState.Epoch == req.Epoch && req.SyncState.newer(g.syncState) {
			g.syncState = req.SyncState.clone()
		}
	case live && g.holder == req.BrokerID && g.epoch == req.Epoch:
		granted = true // renewal
	case live && g.holder != req.BrokerID:
		reason = fmt.Sprintf("member %d holds the lease for epoch %d for another %v", g.holder, g.epoch, g.expires.Sub(now))
	case req.Epoch == req.LastEpoch && req.LastMaster == req.BrokerID:
		// Continuing the term the requester mastered: only if no newer
		// term was begun (or heard of) here.
		if req.Epoch >= g.maxEpoch {
			granted = true
		} else {
			reason = fmt.Sprintf("epoch %d is stale: epoch %d is known", req.Epoch, g.maxEpoch)
		}
	case req.Epoch > req.LastEpoch:
		if req.Epoch > g.maxEpoch {
			granted = true
		} else {
			reason = fmt.Sprintf("a new term needs an epoch above %d, got %d", g.maxEpoch, req.Epoch)
		}
	default:
		reason = fmt.Sprintf("epoch %d is neither a new term (> last epoch %d) nor the requester's own term", req.Epoch, req.LastEpoch)
	}
	if granted {
		g.holder, g.epoch, g.expires = req.BrokerID, req.Epoch, now.Add(l.d)
		g.maxEpoch = max(g.maxEpoch, req.Epoch)
		live = true
		if req.SyncState != nil && req.SyncState.Epoch == req.Epoch && req.SyncState.newer(g.syncState) {
			g.syncState = req.SyncState.clone()
		}
	}
	resp := LeaseResponse{
		Granted:   granted,
		Reason:    reason,
		Holder:    -1,
		MaxEpoch:  g.maxEpoch,
		SyncState: g.syncState.clone(),
		Grace:     max(grace, 0),
		Duration:  l.d,
		Uptime:    now.Sub(l.started),
	}
	if live {
		resp.Holder, resp.HolderEpoch, resp.Remaining = g.holder, g.epoch, g.expires.Sub(now)
	}
	return resp, nil
}
