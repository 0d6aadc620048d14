// Package lease is the broker half of fail-over: a Keeper holds its broker
// group's master lease with a majority of NameServers while the broker is
// master, and, while it is a slave, takes the lease (and so the mastership,
// with a new epoch) once the master's lease has provably expired.
// The NameServer half is nameserver/lease.go; the argument that two members
// of a group never both hold a valid lease is in docs/replication.md
// ("Fail-over"). In short:
//
//   - A master holds a valid lease while a majority of NameServers granted
//     it a renewal whose *send* time is less than d − margin ago (d is the
//     lease length each NameServer reports, margin covers clock drift). A
//     NameServer measures the same lease from its later receipt, so the
//     master's lease ends first.
//   - The broker acknowledges writes only while Valid() is true, and is told
//     (StepDown) when it stops being so.
//   - A NameServer grants one group's lease to one member at a time, and a
//     restarted one grants nothing for d; two majorities share a NameServer,
//     so two members never both hold valid leases.
//   - A slave asks for the lease only when a majority of NameServers report
//     none held, only if the last in-sync set reported by the master names
//     it (unless Unclean), only when Ready (caught up to what it
//     acknowledged), with epoch max(its last term's epoch, every epoch the
//     NameServers report) + 1; it becomes master (Elect) only with a
//     majority of grants, and releases a minority of grants at once.
//
// The package imports only nameserver, so tests run it against in-process
// lease tables with their own clocks.
package lease

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/gregor-broker/gregor/nameserver"
	"go.uber.org/zap"
)

// Granter is one NameServer's lease table: *nameserver.Leases in process,
// Remote over HTTP.
type Granter interface {
	Lease(ctx context.Context, req nameserver.LeaseRequest) (nameserver.LeaseResponse, error)
}

// Remote returns one Granter per NameServer of c.
func Remote(c *nameserver.Client) []Granter {
	var out []Granter
	for _, a := range c.Addrs() {
		out = append(out, remote{c, a})
	}
	return out
}

type remote struct {
	c    *nameserver.Client
	addr string
}

func (r remote) Lease(ctx context.Context, req nameserver.LeaseRequest) (nameserver.LeaseResponse, error) {
	return r.c.Lease(ctx, r.addr, req)
}

// Term is the newest term in the broker's commit log: its epoch and master
// (broker.member.id). A fresh log reports the implicit first term, epoch 0
// mastered by member 0.
type Term struct {
	Epoch  int32
	Master int64
}

// Config configures a Keeper.
type Config struct {
	Cluster    string
	BrokerName string
	// Member is this broker's broker.member.id.
	Member int64
	// Granters are the NameServers, one each; a majority must agree.
	Granters []Granter
	// Interval is how often the master renews and a slave looks at the
	// lease: default a quarter of the shortest lease a NameServer reports.
	Interval time.Duration
	// CallTimeout bounds one request to one NameServer (default Interval).
	CallTimeout time.Duration
	// Margin is the fraction of every lease given up for clock drift and
	// scheduling delay (default 0.1).
	Margin float64
	// Unclean is unclean.leader.election.enable: a slave outside the last
	// reported in-sync set may take over (and lose acknowledged writes).
	Unclean bool

	// LastTerm reports the newest term in the commit log (required).
	LastTerm func() Term
	// SyncState is the master's current in-sync set, itself included (nil
	// func: not reported). The Keeper numbers the versions.
	SyncState func() []int64
	// Ready reports whether a slave may take over: it holds, durably,
	// everything it acknowledged to the master (nil: always).
	Ready func() error
	// Elect begins the new term with epoch as master (storage BeginTerm,
	// registration as master). inSync is the term's first in-sync set: the
	// last one reported (with this member), already accepted by a majority
	// of NameServers with the grant; members leave it as a master's always
	// do, by a committed report (CommittedSyncState). Nil: this member
	// never takes over.
	Elect func(epoch int32, inSync []int64) error
	// StepDown is called when a held lease stops being valid: stop
	// acknowledging writes at once.
	StepDown func(reason string)
	// Acquired is called when this member's lease becomes valid (again),
	// with its epoch.
	Acquired func(epoch int32)
	// NewerTerm is called when a NameServer reports a term newer than
	// LastTerm while this member masters LastTerm: it must rejoin as a
	// slave.
	NewerTerm func(epoch int32, holder int64)

	Now    func() time.Time
	Logger *zap.Logger
}

// Validate fills defaults and rejects a config that cannot work.
func (c *Config) Validate() error {
	if len(c.Granters) == 0 {
		return errors.New("lease: no NameServers")
	}
	if c.BrokerName == "" || c.Member < 0 {
		return errors.New("lease: broker name and member id >= 0 are required")
	}
	if c.LastTerm == nil {
		return errors.New("lease: LastTerm is required")
	}
	if c.Margin == 0 {
		c.Margin = 0.1
	}
	if c.Margin < 0 || c.Margin >= 0.5 {
		return fmt.Errorf("lease: margin %v must be in (0, 0.5)", c.Margin)
	}
	if c.Interval < 0 || c.CallTimeout < 0 {
		return errors.New("lease: intervals must be positive")
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	return nil
}

// Majority is how many of n NameServers must agree: 1 of 1, 2 of 2, 2 of 3,
// 3 of 5.
func Majority(n int) int { return n/2 + 1 }

// grant is one NameServer's last grant as this member counts it.
type grant struct {
	ok    bool
	epoch int32
	until time.Time // send time + d − margin: ends before the NameServer's
	sync  *nameserver.SyncState
}

// Keeper holds or seeks its group's master lease. Run drives it; Step is one
// round, for tests.
type Keeper struct {
	cfg Config

	// round serialises what talks to the NameServers and changes the held
	// lease: Run's rounds (Step), TakeOver and Release/Yield. Without it a
	// round that read the last term before a concurrent TakeOver began the
	// new one would run as a slave's and clear the lease just won (and
	// StepDown the new master), and a renewal in flight could re-take a
	// lease that Yield had just freed.
	round sync.Mutex

	mu         sync.Mutex
	grants     []grant
	epoch      int32     // epoch of the lease held or sought
	validUntil time.Time // zero: no lease
	wasValid   bool      // StepDown fires on the true → false edge
	knownMax   int32     // largest epoch heard of
	shortest   time.Duration
	freeSince  time.Time               // slave: since when a majority reports no holder
	ss         *nameserver.SyncState   // in-sync set this member reports
	seenSS     *nameserver.SyncState   // newest in-sync set a NameServer reported
	reported   []*nameserver.SyncState // sets reported in this term, not yet superseded (MustHold)
	last       string                  // what the last round did, for logs and tests
	expiry     *time.Timer             // Run's step-down timer
	yieldUntil time.Time               // Yield: no renewal or candidacy before
}

// New returns a Keeper; cfg is validated.
func New(cfg Config) (*Keeper, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Keeper{cfg: cfg, grants: make([]grant, len(cfg.Granters)), knownMax: -1,
		shortest: nameserver.DefaultLeaseDuration}, nil
}

// Valid reports whether this member holds a valid lease now: only then may
// it acknowledge writes as master.
func (k *Keeper) Valid() bool {
	now := k.cfg.Now()
	k.mu.Lock()
	defer k.mu.Unlock()
	return now.Before(k.validUntil)
}

// ValidUntil is when the held lease ends on this broker's clock (zero:
// none), and its epoch.
func (k *Keeper) ValidUntil() (time.Time, int32) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.validUntil, k.epoch
}

// Last describes what the last round did.
func (k *Keeper) Last() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.last
}

// Interval is the round period in use.
func (k *Keeper) Interval() time.Duration {
	if k.cfg.Interval > 0 {
		return k.cfg.Interval
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.shortest / 4
}

// CommittedSyncState is the newest in-sync set a majority of NameServers
// accepted with a granted renewal of the current lease. A master may act on
// a smaller in-sync set (advance the high watermark or answer acks=all
// without a member) only once it is committed: until then a majority may
// still name the dropped member as a valid candidate.
func (k *Keeper) CommittedSyncState() *nameserver.SyncState {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.committedLocked()
}

// MustHold lists the members that must hold a write before a sync-mode
// master acknowledges it, itself included: every member of the committed
// in-sync set and of every set reported since (a candidate may see any of
// them as the newest). A member the master's replication already dropped
// stays here until a majority of NameServers took a set without it —
// Kafka's rule that the controller commits an ISR shrink before the leader
// acts on it.
func (k *Keeper) MustHold() []int64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	c := k.committedLocked()
	var keep []*nameserver.SyncState
	var out []int64
	for _, r := range k.reported {
		if r.Epoch != k.epoch || (c != nil && c.Newer(r)) {
			continue // an older term's, or superseded by a committed one
		}
		keep = append(keep, r)
		out = append(out, r.Members...)
	}
	k.reported = keep
	if c != nil {
		out = append(out, c.Members...)
	}
	// A newer set a NameServer holds from before this broker restarted.
	if r := k.seenSS; r != nil && r.Epoch == k.epoch && (c == nil || !c.Newer(r)) {
		out = append(out, r.Members...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func (k *Keeper) committedLocked() *nameserver.SyncState {
	var ss []*nameserver.SyncState
	for _, g := range k.grants {
		if g.ok && g.epoch == k.epoch && g.sync != nil {
			ss = append(ss, g.sync)
		}
	}
	m := Majority(len(k.grants))
	if len(ss) < m {
		return nil
	}
	sort.Slice(ss, func(i, j int) bool { return ss[i].Newer(ss[j]) })
	return ss[m-1]
}

// Run rounds until ctx ends; on return the lease is released. StepDown
// fires the moment the lease runs out (a timer re-armed with every
// grant), even while a round waits on an unresponsive NameServer.
func (k *Keeper) Run(ctx context.Context) {
	k.mu.Lock()
	k.expiry = time.AfterFunc(time.Hour, k.check)
	k.expiry.Stop()
	k.mu.Unlock()
	defer k.expiry.Stop()
	for {
		k.Step(ctx)
		t := time.NewTimer(k.Interval())
		select {
		case <-ctx.Done():
			t.Stop()
			rctx, cancel := context.WithTimeout(context.Background(), k.callTimeout())
			k.Release(rctx)
			cancel()
			return
		case <-t.C:
		}
	}
}

// armLocked sets the step-down timer to the lease's end (Run only). The
// caller holds k.mu.
func (k *Keeper) armLocked() {
	if k.expiry != nil && !k.validUntil.IsZero() {
		k.expiry.Reset(max(k.validUntil.Sub(k.cfg.Now()), 0))
	}
}

// Release gives the lease up: the broker steps down first, then every
// NameServer frees the lease so a slave may take over without waiting.
func (k *Keeper) Release(ctx context.Context) {
	k.round.Lock()
	defer k.round.Unlock()
	k.mu.Lock()
	epoch, held := k.epoch, !k.validUntil.IsZero()
	k.validUntil = time.Time{}
	for i := range k.grants {
		k.grants[i] = grant{}
	}
	k.mu.Unlock()
	k.check()
	if !held {
		return
	}
	k.callAll(ctx, k.request(nameserver.LeaseRelease, epoch, k.cfg.LastTerm(), nil))
}

// Yield releases the lease (Release) and keeps this member from renewing
// or taking it for d, or until a newer term is known: a manual handover to
// another member, which then takes the lease at its next round.
func (k *Keeper) Yield(ctx context.Context, d time.Duration) {
	k.mu.Lock()
	k.yieldUntil = k.cfg.Now().Add(d)
	k.mu.Unlock()
	k.Release(ctx)
}

// Step runs one round: a master renews, a slave looks at the lease and
// takes it over when it may.
func (k *Keeper) Step(ctx context.Context) {
	k.round.Lock()
	defer k.round.Unlock()
	t := k.cfg.LastTerm()
	k.mu.Lock()
	newer := k.knownMax > t.Epoch
	yielded := k.cfg.Now().Before(k.yieldUntil) && !newer
	k.mu.Unlock()
	if yielded {
		k.setLast("yielded the lease for a handover")
		return
	}
	prev := k.Last()
	if t.Master == k.cfg.Member && !newer {
		k.renew(ctx, t)
	} else {
		k.candidate(ctx, t)
	}
	k.check()
	if last := k.Last(); last != prev {
		k.cfg.Logger.Info("lease: "+last, zap.Int32("last_epoch", t.Epoch), zap.Int64("last_master", t.Master))
	}
}

// check calls StepDown when a lease that was valid no longer is.
func (k *Keeper) check() {
	now := k.cfg.Now()
	k.mu.Lock()
	valid := now.Before(k.validUntil)
	down := k.wasValid && !valid
	up := !k.wasValid && valid
	k.wasValid = valid
	epoch := k.epoch
	k.mu.Unlock()
	if up && k.cfg.Acquired != nil {
		k.cfg.Acquired(epoch)
	}
	if down {
		k.cfg.Logger.Warn("master lease lost: stepping down", zap.Int32("epoch", epoch))
		if k.cfg.StepDown != nil {
			k.cfg.StepDown(fmt.Sprintf("lease for epoch %d not renewed with a majority of NameServers", epoch))
		}
	}
}

func (k *Keeper) callTimeout() time.Duration {
	if k.cfg.CallTimeout > 0 {
		return k.cfg.CallTimeout
	}
	return k.Interval()
}

func (k *Keeper) request(op nameserver.LeaseOp, epoch int32, t Term, ss *nameserver.SyncState) nameserver.LeaseRequest {
	return nameserver.LeaseRequest{Op: op, Cluster: k.cfg.Cluster, BrokerName: k.cfg.BrokerName,
		BrokerID: k.cfg.Member, Epoch: epoch, LastEpoch: t.Epoch, LastMaster: t.Master, SyncState: ss}
}

// answer is one NameServer's reply to one request.
type answer struct {
	sent time.Time
	resp nameserver.LeaseResponse
	err  error
}

// callAll sends req to every NameServer in parallel, each bounded by the
// call timeout, and learns epochs and lease lengths from the answers.
func (k *Keeper) callAll(ctx context.Context, req nameserver.LeaseRequest) []answer {
	ctx, cancel := context.WithTimeout(ctx, k.callTimeout())
	defer cancel()
	out := make([]answer, len(k.cfg.Granters))
	var wg sync.WaitGroup
	for i, g := range k.cfg.Granters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i].sent = k.cfg.Now()
			out[i].resp, out[i].err = g.Lease(ctx, req)
		}()
	}
	wg.Wait()
	k.mu.Lock()
	for _, a := range out {
		if a.err != nil {
			continue
		}
		k.knownMax = max(k.knownMax, a.resp.MaxEpoch)
		if a.resp.SyncState.Newer(k.seenSS) {
			k.seenSS = a.resp.SyncState
		}
		if a.resp.Duration > 0 && a.resp.Duration < k.shortest {
			k.shortest = a.resp.Duration
		}
	}
	k.mu.Unlock()
	return out
}

// record counts the grants among answers to a request for epoch and
// recomputes the lease's end: the majority-th latest grant end. The
// caller holds k.mu.
func (k *Keeper) record(epoch int32, ss *nameserver.SyncState, out []answer) int {
	granted := 0
	for i, a := range out {
		switch {
		case a.err != nil:
			// Unknown: the earlier grant, if any, runs out on its own.
		case a.resp.Granted && a.resp.Duration > 0:
			d := a.resp.Duration
			// The set counts as taken only if the NameServer holds it now.
			var took *nameserver.SyncState
			if r := a.resp.SyncState; ss != nil && r != nil && r.Epoch == ss.Epoch && r.Version == ss.Version {
				took = ss
			}
			k.grants[i] = grant{ok: true, epoch: epoch, sync: took,
				until: a.sent.Add(d - time.Duration(float64(d)*k.cfg.Margin))}
			granted++
		default:
			k.grants[i] = grant{}
		}
	}
	k.epoch = epoch
	var ends []time.Time
	for _, g := range k.grants {
		if g.ok && g.epoch == epoch {
			ends = append(ends, g.until)
		}
	}
	m := Majority(len(k.grants))
	if len(ends) < m {
		k.validUntil = time.Time{}
		return granted
	}
	slices.SortFunc(ends, func(a, b time.Time) int { return b.Compare(a) })
	k.validUntil = ends[m-1]
	k.armLocked()
	return granted
}

// renew is a master's round.
func (k *Keeper) renew(ctx context.Context, t Term) {
	k.mu.Lock()
	ss := k.nextSyncState(t.Epoch)
	k.mu.Unlock()
	out := k.callAll(ctx, k.request(nameserver.LeaseAcquire, t.Epoch, t, ss))
	k.mu.Lock()
	granted := k.record(t.Epoch, ss, out)
	newer := k.knownMax > t.Epoch
	var holder int64 = -1
	var holderEpoch int32
	for _, a := range out {
		if a.err == nil && a.resp.Holder >= 0 && a.resp.Holder != k.cfg.Member && a.resp.HolderEpoch > t.Epoch {
			holder, holderEpoch = a.resp.Holder, a.resp.HolderEpoch
		}
	}
	if newer {
		// A newer term exists or is being begun: this member's term is over.
		k.validUntil = time.Time{}
		k.last = fmt.Sprintf("epoch %d is over: epoch %d is known", t.Epoch, k.knownMax)
	} else {
		k.last = fmt.Sprintf("renewed epoch %d with %d of %d NameServers", t.Epoch, granted, len(out))
	}
	knownMax := k.knownMax
	k.mu.Unlock()
	if newer {
		k.check()
		if k.cfg.NewerTerm != nil {
			if holder < 0 {
				holderEpoch = knownMax
			}
			k.cfg.NewerTerm(holderEpoch, holder)
		}
	}
}

// nextSyncState is the in-sync set to report in a renewal of epoch: the
// last one while the members have not changed and no NameServer holds a
// newer version for the epoch (one this broker reported before it
// restarted), else a new version. The caller holds k.mu.
func (k *Keeper) nextSyncState(epoch int32) *nameserver.SyncState {
	if k.cfg.SyncState == nil {
		return nil
	}
	set := slices.Clone(k.cfg.SyncState())
	slices.Sort(set)
	set = slices.Compact(set)
	cur := k.ss
	if cur != nil && cur.Epoch == epoch && slices.Equal(cur.Members, set) &&
		(k.seenSS == nil || k.seenSS.Epoch != epoch || k.seenSS.Version <= cur.Version) {
		return cur
	}
	v := int64(1)
	if cur != nil && cur.Epoch == epoch {
		v = cur.Version + 1
	}
	if k.seenSS != nil && k.seenSS.Epoch == epoch {
		v = max(v, k.seenSS.Version+1)
	}
	k.ss = &nameserver.SyncState{Members: set, Epoch: epoch, Version: v}
	k.reported = append(k.reported, k.ss)
	return k.ss
}

// TakeOver takes the lease now for a new term and begins it (Elect): a
// manual promotion, whose caller has made sure this member holds what the
// master had. It needs the lease free at a majority (the master yielded it
// or its lease ran out) but neither the in-sync set nor a turn.
func (k *Keeper) TakeOver(ctx context.Context) error {
	if k.cfg.Elect == nil {
		return errors.New("lease: this member never takes over (no Elect)")
	}
	k.round.Lock()
	defer k.round.Unlock()
	t := k.cfg.LastTerm()
	out := k.callAll(ctx, k.request(nameserver.LeaseQuery, t.Epoch, t, nil))
	free, maxEpoch := 0, t.Epoch
	var ss *nameserver.SyncState
	for _, a := range out {
		if a.err != nil {
			continue
		}
		maxEpoch = max(maxEpoch, a.resp.MaxEpoch)
		if a.resp.SyncState.Newer(ss) {
			ss = a.resp.SyncState
		}
		if a.resp.Grace == 0 && (a.resp.Holder < 0 || a.resp.Holder == k.cfg.Member) {
			free++
		}
	}
	if free < Majority(len(out)) {
		return fmt.Errorf("lease: held at %d of %d NameServers: the master has not given it up", len(out)-free, len(out))
	}
	if !k.tryTerm(ctx, t, maxEpoch+1, ss) {
		return fmt.Errorf("lease: not granted by a majority of NameServers: %s", k.Last())
	}
	return nil
}

// candidate is a slave's round.
func (k *Keeper) candidate(ctx context.Context, t Term) {
	k.mu.Lock()
	k.validUntil = time.Time{} // a slave holds no lease
	k.mu.Unlock()
	if k.cfg.Elect == nil {
		k.setLast("never takes over (no Elect)")
		return
	}
	out := k.callAll(ctx, k.request(nameserver.LeaseQuery, t.Epoch, t, nil))
	free, maxEpoch, fresh := 0, t.Epoch, false
	var ss *nameserver.SyncState
	for _, a := range out {
		if a.err != nil {
			continue
		}
		maxEpoch = max(maxEpoch, a.resp.MaxEpoch)
		if a.resp.SyncState.Newer(ss) {
			ss = a.resp.SyncState
		}
		if a.resp.Grace == 0 && (a.resp.Holder < 0 || a.resp.Holder == k.cfg.Member) {
			free++
			// Just out of its start grace, a NameServer reports the lease
			// free until the live master's next renewal reaches it.
			fresh = fresh || a.resp.Uptime < a.resp.Duration+2*k.Interval()
		}
	}
	now := k.cfg.Now()
	k.mu.Lock()
	if free < Majority(len(out)) {
		k.freeSince = time.Time{}
		k.last = fmt.Sprintf("lease held or unknown: %d of %d NameServers report it free", free, len(out))
		k.mu.Unlock()
		return
	}
	if k.freeSince.IsZero() {
		k.freeSince = now
	}
	freeFor := now.Sub(k.freeSince)
	k.mu.Unlock()

	if !ss.Has(k.cfg.Member) {
		if !k.cfg.Unclean {
			k.setLast(fmt.Sprintf("not in the last reported in-sync set %v: not taking over (unclean.leader.election.enable=false)", members(ss)))
			return
		}
		k.cfg.Logger.Warn("taking over from outside the in-sync set (unclean.leader.election.enable=true): acknowledged writes may be lost",
			zap.Int64s("in_sync", members(ss)))
	}
	// If a NameServer reporting it free has just left its start grace, the
	// lease must look free for a round first: the live master's next
	// renewal must not lose the race. And in-sync members take turns by id
	// (the old master's id skipped), so two of them rarely split the
	// NameServers between them.
	r := rank(ss, k.cfg.Member, t.Master)
	if fresh {
		r++
	}
	if freeFor < time.Duration(r)*k.Interval() {
		k.setLast(fmt.Sprintf("waiting for my turn (%d) to take over", r))
		return
	}
	if k.cfg.Ready != nil {
		if err := k.cfg.Ready(); err != nil {
			k.setLast("not ready to take over: " + err.Error())
			return
		}
	}
	k.tryTerm(ctx, t, maxEpoch+1, ss)
}

// tryTerm asks every NameServer for the lease for a new term with epoch
// and, granted by a majority, begins it (Elect); else it releases what
// it got. ss is the newest in-sync set the NameServers reported.
func (k *Keeper) tryTerm(ctx context.Context, t Term, epoch int32, ss *nameserver.SyncState) bool {
	// The new term starts with the last reported in-sync set without the
	// old master (as KRaft drops a fenced leader from the ISR): the others
	// hold every write the old master acknowledged, so any of them is a
	// clean candidate should this member fail too; they leave the set as a
	// master's members always do, by a committed report.
	inSync := &nameserver.SyncState{Epoch: epoch}
	for _, m := range members(ss) {
		if m != t.Master || m == k.cfg.Member {
			inSync.Members = append(inSync.Members, m)
		}
	}
	if !inSync.Has(k.cfg.Member) {
		inSync.Members = append(inSync.Members, k.cfg.Member)
	}
	slices.Sort(inSync.Members)
	out := k.callAll(ctx, k.request(nameserver.LeaseAcquire, epoch, t, inSync))
	k.mu.Lock()
	granted := k.record(epoch, inSync, out)
	won := k.cfg.Now().Before(k.validUntil)
	k.mu.Unlock()
	if won {
		err := k.cfg.Elect(epoch, slices.Clone(inSync.Members))
		if err == nil {
			k.mu.Lock()
			k.knownMax = max(k.knownMax, epoch)
			k.ss = inSync
			k.reported = []*nameserver.SyncState{inSync}
			k.wasValid = true
			// A yield was for another member's term; this one is ours
			// to renew (a hand-over back within the yield lost it).
			k.yieldUntil = time.Time{}
			k.last = fmt.Sprintf("took over as master with epoch %d (%d of %d NameServers)", epoch, granted, len(out))
			k.mu.Unlock()
			k.cfg.Logger.Info("took over as master", zap.Int32("epoch", epoch), zap.Int("grants", granted))
			return true
		}
		k.cfg.Logger.Warn("lease won but the term could not begin; releasing", zap.Int32("epoch", epoch), zap.Error(err))
	}
	k.mu.Lock()
	k.validUntil = time.Time{}
	for i := range k.grants {
		k.grants[i] = grant{}
	}
	k.last = fmt.Sprintf("took the lease for epoch %d from %d of %d NameServers only: released", epoch, granted, len(out))
	k.mu.Unlock()
	if granted > 0 {
		k.callAll(ctx, k.request(nameserver.LeaseRelease, epoch, t, nil))
	}
	return false
}

func (k *Keeper) setLast(s string) {
	k.mu.Lock()
	k.last = s
	k.mu.Unlock()
}

func members(ss *nameserver.SyncState) []int64 {
	if ss == nil {
		return nil
	}
	return ss.Members
}

// rank is member's place among the in-sync members other than oldMaster,
// by id; 0 outside the set (an unclean candidate does not wait).
func rank(ss *nameserver.SyncState, member, oldMaster int64) int {
	r := 0
	for _, m := range members(ss) {
		if m != oldMaster && m < member {
			r++
		}
	}
	if !ss.Has(member) {
		return 0
	}
	return r
}
