package broker

// Fail-over (docs/replication.md, "Fail-over"): the master holds its
// group's lease with a majority of NameServers (package nameserver/lease)
// and acknowledges writes only while it is valid; a slave in the last
// reported in-sync set takes the lease over, with the next epoch, once the
// master's has provably run out, and begins the new term.
//
// The Keeper drives the role through these callbacks:
//
//	StepDown   lease ran out     → stepDown (role.go/promote.go): no append
//	                               starts, the coordinator closes
//	Acquired   lease (re)gained  → a master that stepped down for a lapse
//	                               resumes its own term
//	Elect      slave won         → stop following, BeginTerm(epoch, self),
//	                               master side up, register at once
//	NewerTerm  old master hears  → step down, read the routes: checkRole
//	           of a later term     follows the new master (and replication
//	                               truncates to the common point)
//
// And the data path asks leaseValid: Produce refuses to append without a
// valid lease and, having appended, refuses to acknowledge once it is
// gone (the client retries on the new master; idempotence dedupes).
//
// Leases run when the broker has at least 3 NameServers over the network
// and fail-over is not disabled. With 1 or 2 a majority is all of them, so
// one NameServer down would stop every master acknowledging: such a
// cluster keeps its masters without leases and fails over only by hand
// (gregor cluster promote). With an in-process registry (a single node)
// there is nobody to fail over to.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/gregor-broker/gregor/nameserver"
	"github.com/gregor-broker/gregor/nameserver/lease"
	"go.uber.org/zap"
)

// minFailoverNameServers is the fewest NameServers leases run with.
const minFailoverNameServers = 3

// errNoLease is the message of a Produce refused for want of a lease.
const errNoLease = "this master holds no lease from a majority of NameServers (fail-over): retry on the group's master"

// failover is a broker's lease keeper and its loop.
type failover struct {
	k      *lease.Keeper
	cancel context.CancelFunc
	done   chan struct{}

	// The members a take-over started its term with stay in the reported
	// in-sync set until joinUntil, so the slaves have time to learn of the
	// new master and connect before they are dropped (which would leave
	// nobody eligible should this master fail too).
	mu        sync.Mutex
	joining   []int64
	joinUntil time.Time
}

// joinGrace bounds how long the members of a new term's first in-sync set
// stay in it without having caught up with the new master: long enough to
// read the routes and connect (2 s route poll by default), short enough
// that a dead one holds sync-mode writes (MustHold) only briefly.
const joinGrace = 5 * time.Second

// syncState is what the master reports as in sync: its replication's ISR
// (itself included), plus the members its term started with while they
// may still be joining.
func (f *failover) syncState(b *Broker) []int64 {
	out := b.inSyncMembers()
	if out == nil {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if time.Now().Before(f.joinUntil) {
		out = append(out, f.joining...)
	}
	return out
}

// leaseValid reports whether this broker may acknowledge writes as master
// as far as the lease goes (always, without fail-over).
func (b *Broker) leaseValid() bool {
	f := b.failover
	return f == nil || f.k.Valid()
}

// leaseGranters returns the lease tables to use, nil when fail-over is off.
func (b *Broker) leaseGranters() []lease.Granter {
	cc := b.cfg.Cluster
	switch {
	case cc.FailoverDisabled:
		return nil
	case len(cc.LeaseGranters) > 0:
		return cc.LeaseGranters
	case len(cc.NameServers) >= minFailoverNameServers && cc.Client == nil:
		return lease.Remote(nameserver.NewClient(cc.NameServers).WithSecret(cc.Secret).WithTLS(cc.NameServerTLS))
	}
	return nil
}

// startLease starts the keeper (Start, after the first registration).
func (b *Broker) startLease() error {
	gs := b.leaseGranters()
	if gs == nil {
		return nil
	}
	cc := b.cfg.Cluster
	k, err := lease.New(lease.Config{
		Cluster:    cc.Name,
		BrokerName: cc.BrokerName,
		Member:     b.memberID(),
		Granters:   gs,
		Interval:   cc.LeaseInterval,
		Unclean:    cc.UncleanElection,
		LastTerm: func() lease.Term {
			if t, ok := b.lastTerm(); ok {
				return lease.Term{Epoch: t.Epoch, Master: t.Master}
			}
			return lease.Term{Epoch: 0, Master: 0} // member 0 begins term 0
		},
		SyncState: func() []int64 { return b.failover.syncState(b) },
		Elect:     b.takeOver,
		StepDown: func(reason string) {
			if b.isMaster() {
				b.log.Warn("stepping down: " + reason)
				_, _ = b.stepDown()
			}
		},
		Acquired:  b.resumeMaster,
		NewerTerm: b.newerTerm,
		Logger:    b.log.Named("lease"),
	})
	if err != nil {
		return fmt.Errorf("broker: fail-over: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f := &failover{k: k, cancel: cancel, done: make(chan struct{})}
	b.failover = f
	b.failoverP.Store(f)
	go func() {
		defer close(f.done)
		k.Run(ctx)
	}()
	return nil
}

// stopLease stops renewing and releases the lease, so a slave takes over
// without waiting for it to run out (Shutdown: the broker stepped down
// first, Release makes sure).
func (b *Broker) stopLease() {
	if f := b.failover; f != nil {
		f.cancel()
		<-f.done
	}
}

// takeOver begins the term this slave won the lease for.
func (b *Broker) takeOver(epoch int32, inSync []int64) error {
	if b.terms == nil {
		return errors.New("this store keeps no terms")
	}
	b.roleMu.Lock()
	defer b.roleMu.Unlock()
	if b.isMaster() {
		return errors.New("already master")
	}
	if f := b.failover; f != nil {
		f.mu.Lock()
		f.joining = inSync
		f.joinUntil = time.Now().Add(min(joinGrace, b.cfg.Replication.LagTimeMax))
		f.mu.Unlock()
	}
	t, err := b.becomeMasterLocked(epoch)
	if err != nil {
		return err
	}
	b.restartTerm.Store(false)
	b.log.Warn("took over as master: the old master's lease ran out",
		zap.Int32("epoch", t.Epoch), zap.Int64("start", t.Start), zap.Int64s("in_sync", inSync))
	return nil
}

// resumeMaster makes a master that stepped down because its lease lapsed
// master again when it regains the lease for its own, still newest, term.
func (b *Broker) resumeMaster(epoch int32) {
	if b.restartTerm.Load() {
		// Restarted as master: the lease of its old term is only the
		// step to a new one (role.go, restartMaster).
		go b.beginNewTermAfterRestart(epoch)
		return
	}
	b.roleMu.Lock()
	defer b.roleMu.Unlock()
	t, ok := b.lastTerm()
	if !ok {
		t = term{Epoch: 0, Master: 0} // member 0 begins term 0
	}
	if b.roleState.Load() != roleSteppingDown || t.Master != b.memberID() || t.Epoch != epoch {
		return
	}
	b.groups = nil // closed when it stepped down; a fresh one loads the offsets
	if err := b.startMasterSide(); err != nil {
		b.log.Error("lease regained, but the master side did not start", zap.Error(err))
		return
	}
	b.setRole(roleMaster)
	b.log.Warn("lease regained: master again", zap.Int32("epoch", epoch))
	b.cl().changed()
}

// beginNewTermAfterRestart: a member restarted as master holds the lease
// of its old term (epoch); it takes the lease for a new term, with an
// epoch above every one the NameServers know, and begins it (Elect →
// takeOver). A holder may move its own lease to a new term, so no other
// member can take over meanwhile. Given up when a newer term appears or
// the role changed (checkRole followed another master).
func (b *Broker) beginNewTermAfterRestart(epoch int32) {
	f := b.failoverP.Load()
	if f == nil {
		return
	}
	for try := 0; try < 50 && b.restartTerm.Load(); try++ {
		if b.roleState.Load() != roleSteppingDown {
			break
		}
		if t, ok := b.lastTerm(); !ok || t.Master != b.memberID() || t.Epoch != epoch {
			break
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := f.k.TakeOver(ctx)
		cancel()
		if err == nil {
			b.restartTerm.Store(false)
			return
		}
		b.log.Info("restarted as master: the new term is not granted yet", zap.Error(err))
		time.Sleep(f.k.Interval())
	}
	b.restartTerm.Store(false)
}

// newerTerm: a NameServer knows a later term than this master's; it steps
// down and reads the routes, where checkRole finds the new master.
func (b *Broker) newerTerm(epoch int32, holder int64) {
	if b.isMaster() {
		b.log.Warn("a later term exists: stepping down", zap.Int32("epoch", epoch), zap.Int64("holder", holder))
		_, _ = b.stepDown()
	}
	b.cl().changed()
}

// waitMustHold returns once every member a candidate could take over from
// has acknowledged pos (Keeper.MustHold): the ISR of package replication
// may already have dropped a slow member that the NameServers still list
// as in sync, and a write it lacks must not be acknowledged until a
// majority of them took the smaller set. Without fail-over it returns at
// once.
func (b *Broker) waitMustHold(ctx context.Context, m replMaster, pos int64) error {
	f := b.failover
	if f == nil {
		return nil
	}
	for {
		missing := false
		acked := map[int64]int64{}
		for _, s := range m.Slaves() {
			acked[s.Member] = s.Acked
		}
		for _, id := range f.k.MustHold() {
			if id != b.memberID() && acked[id] < pos {
				missing = true
				break
			}
		}
		if !missing {
			return nil
		}
		t := time.NewTimer(mustHoldPoll)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// mustHold is replication.MasterConfig.MustHold: the members of the
// committed in-sync set and of those reported since (Keeper.MustHold),
// which the commit limit (high watermark) must not pass until each has
// acknowledged it — any of them may still be promoted. Nil without
// fail-over (and before the lease keeper started).
func (b *Broker) mustHold() []int64 {
	if f := b.failoverP.Load(); f != nil {
		return f.k.MustHold()
	}
	return nil
}

// mustHoldPoll is how often waitMustHold looks again; it waits only while
// a member is dropped from the ISR but not yet from the committed set (up
// to a lease renewal) or catching up.
const mustHoldPoll = 2 * time.Millisecond

// yieldLease gives the lease up after a step-down for a manual promotion:
// the master stops renewing for a while and frees the lease, so the member
// being promoted, which begins the next term, gets it at its next round
// instead of after this lease runs out.
func (b *Broker) yieldLease() {
	if f := b.failover; f != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		f.k.Yield(ctx, yieldFor)
	}
}

// yieldFor is how long a master that yielded stays away from the lease:
// the promoted member has it long before; should the promotion fail, the
// old master takes its own term back afterwards.
const yieldFor = 30 * time.Second

// promoteUnderLease ends a manual promotion under fail-over: the term
// begins only with the lease, taken for the next epoch as a slave takes it
// over (the master has stepped down and yielded it, or is gone), so a
// promotion and a concurrent take-over never begin terms of one epoch.
func (b *Broker) promoteUnderLease(ctx context.Context) (term, error) {
	if err := b.failover.k.TakeOver(ctx); err != nil {
		return term{}, err
	}
	t, _ := b.lastTerm()
	b.log.Warn("promoted: master of a new term", zap.Int32("epoch", t.Epoch), zap.Int64("start", t.Start))
	return t, nil
}

// leaseStatus is the lease as GET /cluster/status shows it.
type leaseStatus struct {
	Valid bool   `json:"valid"`
	Epoch int32  `json:"epoch"`
	Until string `json:"until,omitempty"` // RFC 3339, this broker's clock
	// State is what the Keeper's last round did.
	State string `json:"state"`
	// MustHold are the members a sync-mode write waits for (master).
	MustHold []int64 `json:"must_hold,omitempty"`
	// CommittedInSync is the in-sync set a majority of NameServers took
	// (master): the members that may take over should it fail.
	CommittedInSync []int64 `json:"committed_in_sync,omitempty"`
}

// leaseStatus reports the lease, nil without fail-over.
func (b *Broker) leaseStatus() *leaseStatus {
	f := b.failover
	if f == nil {
		return nil
	}
	until, epoch := f.k.ValidUntil()
	st := &leaseStatus{Valid: f.k.Valid(), Epoch: epoch, State: f.k.Last()}
	if !until.IsZero() {
		st.Until = until.UTC().Format(time.RFC3339Nano)
	}
	if b.isMaster() {
		st.MustHold = f.k.MustHold()
		if c := f.k.CommittedSyncState(); c != nil {
			st.CommittedInSync = c.Members
		}
	}
	return st
}
