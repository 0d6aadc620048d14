package broker

// Roles by term. broker.member.id is a member's identity in its broker
// group; which member is master is decided by the group's current term, the
// last entry of the store's terms (each term: epoch, the commit-log position
// where it starts, the master's member id), which live in the commit log
// and so replicate to every member. Member 0 begins term 0 on a fresh group.
//
// At start (New) a broker reads its terms and, when NameServers answer,
// the live members of its group: a live master of a later epoch than the
// broker's own last term makes it a slave whatever its terms say (it was
// replaced while away); a fresh member 0 whose group already has a live
// master becomes its slave instead of beginning term 0.
//
// While running (checkRole, after every route read): a master that sees
// another member of its group registered as master with a higher epoch
// steps down and follows it (its replication handshake truncates what the
// new master does not have); a slave follows the live master of the
// highest epoch, switching when it changes.
//
// A slave writes nothing except through replication: it answers Produce
// with NOT_LEADER_OR_FOLLOWER, forwards admin writes to its master
// (slaveGate), coordinates no group (no coordinator runs on it), and
// reloads its topic table and cluster id when replicated entries change
// them (onApply).
//
// A manual change of term (promote.go): the master steps down first (no
// append starts after it, writeGate), the chosen slave catches up to the
// master's end, begins term epoch+1 with itself as master, and the old
// master follows it.

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/gregor-broker/gregor/broker/group"
	"github.com/gregor-broker/gregor/nameserver"
	"go.uber.org/zap"
)

// Role states; the zero value is master, so a Broker built as a struct
// literal in a unit test is a lone master.
const (
	roleMaster int32 = iota
	roleSlave
	roleSteppingDown // was master, stopped acknowledging, awaiting the new term
)

// term is one master term of a broker group.
type term struct {
	Epoch  int32 `json:"epoch"`
	Start  int64 `json:"start"`  // commit-log position of its first entry
	Master int64 `json:"master"` // broker.member.id
}

// termLog is what roles need of the store: its durable terms.
type termLog interface {
	Terms() []term
	BeginTerm(epoch int32, master int64) (term, error)
}

// isMaster reports whether this broker is its group's master now.
func (b *Broker) isMaster() bool { return b.roleState.Load() == roleMaster }

// setRole changes the role and tells the store whether it follows: a
// slave's (or a stepping-down master's) store writes nothing of its own,
// retention's log-start moves included (storage.Store.SetFollower).
func (b *Broker) setRole(state int32) {
	if b.store != nil {
		b.store.SetFollower(state != roleMaster)
	}
	b.roleState.Store(state)
}

// memberID is broker.member.id.
func (b *Broker) memberID() int64 { return b.cfg.Cluster.BrokerID }

// roleName is the role as registrations and /cluster/status say it.
func (b *Broker) roleName() string {
	switch b.roleState.Load() {
	case roleMaster:
		return "master"
	case roleSteppingDown:
		return "stepping-down"
	}
	return "slave"
}

// lastTerm returns the store's last term, ok false when it has none.
func (b *Broker) lastTerm() (term, bool) {
	if b.terms == nil {
		return term{}, false
	}
	ts := b.terms.Terms()
	if len(ts) == 0 {
		return term{}, false
	}
	return ts[len(ts)-1], true
}

// initRole decides the role at start (see the file comment) and, for a
// master of a fresh group, begins term 0. live is the group's live members
// as the NameServers list them (nil when they could not be asked).
func (b *Broker) initRole(live []nameserver.Broker) error {
	me := b.memberID()
	var other *nameserver.Broker // a live master of the group other than us
	for i := range live {
		br := &live[i]
		if br.BrokerName == b.cfg.Cluster.BrokerName && br.BrokerID != me && br.Role == nameserver.RoleMaster {
			if other == nil || br.MasterEpoch > other.MasterEpoch {
				other = br
			}
		}
	}
	last, ok := b.lastTerm()
	switch {
	case ok && other != nil && other.MasterEpoch > last.Epoch:
		b.becomeSlaveState(last.Epoch)
	case ok && last.Master == me && (other == nil || other.MasterEpoch <= last.Epoch):
		// Restarted as master (when another claims the same or an older
		// epoch: ours is durable, theirs is a registration; they step
		// down on seeing us). Kafka bumps the leader epoch at every
		// election, and so does gregor: the writes of this life go to a
		// new term, so a slave that holds a tail this master lost (async
		// flush, power loss) truncates it by terms (replication's common
		// point), not only by the last-frame check.
		return b.restartMaster(last)
	case ok:
		b.becomeSlaveState(last.Epoch)
	case me == 0 && other == nil:
		if b.terms == nil {
			b.setRole(roleMaster)
			return nil
		}
		t, err := b.terms.BeginTerm(0, me)
		if err != nil {
			return fmt.Errorf("broker: beginning term 0: %w", err)
		}
		b.epoch.Store(t.Epoch)
		b.setRole(roleMaster)
	default:
		b.becomeSlaveState(0)
	}
	return nil
}

// restartMaster makes a member whose own term is the last one master
// again in a new term. Without leases it begins term last.Epoch+1 at once.
// Under leases the epoch must come from the NameServers (two terms of one
// epoch must never exist): it starts stepping down (no writes), the Keeper
// regains the lease for its old term, and beginNewTermAfterRestart then
// takes the lease for a new term and begins it (lease.go). A lone master
// (no replication listener: nobody follows it) keeps its term.
func (b *Broker) restartMaster(last term) error {
	b.epoch.Store(last.Epoch)
	if b.terms == nil || b.repl == nil || b.cfg.Replication.Listener == "" {
		b.setRole(roleMaster)
		return nil
	}
	if b.leaseGranters() != nil {
		b.restartTerm.Store(true)
		b.setRole(roleSteppingDown)
		b.fenceUncommitted() // until it is master of the new term
		return nil
	}
	t, err := b.terms.BeginTerm(last.Epoch+1, b.memberID())
	if err != nil {
		return fmt.Errorf("broker: beginning term %d after a restart: %w", last.Epoch+1, err)
	}
	b.log.Info("restarted as master: new term", zap.Int32("epoch", t.Epoch), zap.Int64("start", t.Start))
	b.epoch.Store(t.Epoch)
	b.setRole(roleMaster)
	return nil
}

func (b *Broker) becomeSlaveState(epoch int32) {
	b.epoch.Store(max(epoch, 0))
	b.setRole(roleSlave)
	b.fenceUncommitted()
}

// fenceUncommitted hides, at start, everything this member cannot know is
// committed: a restarted old master (now a slave) may hold a tail no
// other member has, which a fail-over truncates, and a slave may hold
// records its master never committed. The commit limit is not durable, so
// it starts at the log start (nothing visible) until the first frame from
// the master brings the master's high-watermark position (replication
// mirrors it). setRole has already made the store a follower.
func (b *Broker) fenceUncommitted() {
	if b.store != nil && b.repl != nil {
		b.store.SetCommitLimit(b.store.FirstPosition())
	}
}

// writeGate orders appends against a step-down: Produce holds it shared
// from its role check to the end of its appends, stepDown takes it
// exclusively to flip the role, so no append starts after a master
// stepped down and the end it reports is final.
type writeGate = sync.RWMutex

// startMasterSide starts the group coordinator (if not running) and the
// replication listener.
func (b *Broker) startMasterSide() error {
	if b.groups == nil {
		gcfg := b.cfg.Group
		if gcfg.Registerer == nil {
			gcfg.Registerer = b.cfg.Registerer
		}
		if gcfg.ConsumerGroupConfig == nil {
			gcfg.ConsumerGroupConfig = b.consumerGroupTimeouts
		}
		g, err := group.New(gcfg, b.store, b.log.Named("group"))
		if err != nil {
			return fmt.Errorf("broker: starting group coordinator: %w", err)
		}
		b.groups = g
		b.groups.TopicsChanged(b.groupTopics)
	}
	if b.repl == nil {
		return nil
	}
	b.replMu.Lock()
	defer b.replMu.Unlock()
	if b.rmaster != nil {
		return nil
	}
	m, err := b.repl.startMaster(b)
	if err != nil {
		return fmt.Errorf("broker: replication listener: %w", err)
	}
	if m == nil && b.store != nil {
		// A master nobody can follow (no replication listener): what it
		// wrote is committed; lift a fence left from its slave days.
		b.store.SetCommitLimit(math.MaxInt64)
	}
	b.rmaster = m
	return nil
}

// checkRole compares the role with the cluster view after a route read:
// a master replaced by a later term steps down and follows; a slave
// follows the live master of the highest epoch.
func (b *Broker) checkRole() {
	b.roleMu.Lock()
	defer b.roleMu.Unlock()
	v := b.cl().currentView()
	var master *nameserver.Broker
	for _, m := range v.members[b.cfg.Cluster.BrokerName] {
		if m.Role == nameserver.RoleMaster && !b.cl().isSelf(m) && (master == nil || m.MasterEpoch > master.MasterEpoch) {
			master = m
		}
	}
	// A slave's epoch is its last replicated term.
	if !b.isMaster() {
		if t, ok := b.lastTerm(); ok && t.Epoch > b.epoch.Load() {
			b.epoch.Store(t.Epoch)
		}
	}
	switch b.roleState.Load() {
	case roleMaster:
		if master == nil || master.MasterEpoch <= b.epoch.Load() {
			return
		}
		b.log.Warn("a later term has another master: stepping down to follow it",
			zap.Int64("master", master.BrokerID), zap.Int32("its_epoch", master.MasterEpoch), zap.Int32("our_epoch", b.epoch.Load()))
		b.gate.Lock()
		b.setRole(roleSlave)
		b.gate.Unlock()
		b.stopMasterSide()
	case roleSteppingDown:
		if master == nil || master.MasterEpoch <= b.epoch.Load() {
			return // the new term is not there yet
		}
		b.setRole(roleSlave)
		b.stopMasterSide()
	}
	if master == nil && b.roleState.Load() == roleSlave {
		// Nobody registers as master: keep following the last one. A
		// master handing over (promote.go) registers as a slave while it
		// still streams its final tail, which the member being promoted
		// must receive; a gone one's connection just fails. A new
		// master's registration switches the slave over.
		return
	}
	b.follow(master)
}

// stopMasterSide closes the replication listener and the group
// coordinator of a master that stepped down.
func (b *Broker) stopMasterSide() {
	b.replMu.Lock()
	m := b.rmaster
	b.rmaster = nil
	b.replMu.Unlock()
	if m != nil {
		_ = m.Close()
	}
	if g := b.groups; g != nil {
		_ = g.Close()
	}
	b.cl().changed()
}

// follow makes this slave follow master (nil: nobody is master now),
// restarting the slave side when the address changed.
func (b *Broker) follow(master *nameserver.Broker) {
	addr := ""
	if master != nil {
		addr = master.ReplicationAddr
	}
	b.replMu.Lock()
	if addr == b.following && (b.rslave != nil || addr == "") {
		b.replMu.Unlock()
		return
	}
	old := b.rslave
	b.rslave, b.following = nil, ""
	b.replMu.Unlock()
	if old != nil {
		_ = old.Close()
	}
	if addr == "" || b.repl == nil {
		return
	}
	s, err := b.repl.startSlave(b, addr)
	if err != nil {
		b.log.Warn("following the master", zap.String("master", addr), zap.Error(err))
		return
	}
	b.replMu.Lock()
	b.rslave, b.following = s, addr
	b.replMu.Unlock()
	b.log.Info("following the master", zap.String("master", addr), zap.Int64("member", master.BrokerID), zap.Int32("epoch", master.MasterEpoch))
}

// liveGroupMembers asks the NameServers for the live members of this
// broker's group, nil when none answers in time.
func (c *cluster) liveGroupMembers() []nameserver.Broker {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	r, err := c.ns.Routes(ctx)
	if err != nil {
		return nil
	}
	var out []nameserver.Broker
	for _, br := range r.Brokers {
		if br.BrokerName == c.cfg.BrokerName && br.Cluster == c.cfg.Name {
			out = append(out, br)
		}
	}
	return out
}
