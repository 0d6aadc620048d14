package broker

// The seam between the broker and package replication (docs/replication.md).
//
// The broker decides its role (role.go) and runs, for that role, one side
// of replication: a master runs a replication listener that streams its
// commit log to the slaves, keeps the ISR and the commit limit (the high
// watermark) and lets sync-mode produces wait until the in-sync slaves
// have their bytes; a slave follows its master's replication address. The
// broker reaches both through the small interfaces below, so the data path
// and the role changes are testable without sockets (replica_test.go).

import (
	"context"
	"time"
)

// replMaster is the master side of replication, as the broker uses it.
type replMaster interface {
	// InSync returns the member ids (broker.member.id) of the slaves in
	// the ISR now: connected, holding every record the master retains,
	// and having reached the master's end within replica.lag.time.max.ms.
	InSync() []int64
	// WaitReplicated returns once every in-sync slave has acknowledged
	// pos (nil); errAfterAppend when the ISR (master counted) is or
	// becomes smaller than minInSync meanwhile; ctx's error when it ends.
	WaitReplicated(ctx context.Context, pos int64, minInSync int) error
	// Notify says the log grew (wakes the senders at once).
	Notify()
	// Slaves reports every slave the master has heard from.
	Slaves() []slaveProgress
	// Addr is the bound replication address.
	Addr() string
	Close() error
}

// slaveProgress is one slave as its master sees it.
type slaveProgress struct {
	Member    int64         `json:"member"`
	InSync    bool          `json:"in_sync"`
	Connected bool          `json:"connected"`
	Acked     int64         `json:"acked"`     // commit-log position the slave acknowledged
	LagBytes  int64         `json:"lag_bytes"` // master end - acked
	LagTime   time.Duration `json:"lag_ns"`    // since the slave last reached the master's end
}

// replSlave is a running slave: it follows one master address until
// closed.
type replSlave interface {
	Close() error
}

// replicator starts either side; replication.go adapts package
// replication to it. A nil replicator (tests, replication disabled) runs
// no replication: a master has no slave in sync, a slave follows nobody.
type replicator interface {
	startMaster(b *Broker) (replMaster, error)
	startSlave(b *Broker, masterAddr string) (replSlave, error)
}

// replicationMaster returns the running master side, or nil.
func (b *Broker) replicationMaster() replMaster {
	b.replMu.Lock()
	defer b.replMu.Unlock()
	return b.rmaster
}

// inSyncMembers returns the member ids of the ISR: this master plus its
// in-sync slaves. A broker that is not master reports nil.
func (b *Broker) inSyncMembers() []int64 {
	if !b.isMaster() {
		return nil
	}
	out := []int64{b.memberID()}
	if m := b.replicationMaster(); m != nil {
		out = append(out, m.InSync()...)
	}
	return out
}

// stopReplication closes whichever side runs.
func (b *Broker) stopReplication() {
	b.replMu.Lock()
	m, s := b.rmaster, b.rslave
	b.rmaster, b.rslave, b.following = nil, nil, ""
	b.replMu.Unlock()
	if m != nil {
		_ = m.Close()
	}
	if s != nil {
		_ = s.Close()
	}
}
