package broker

// The adapters from package replication and the store's terms to the
// broker's seam (replica.go, role.go).

import (
	"context"
	"net"
	"time"

	"github.com/gregor-broker/gregor/replication"
	"github.com/gregor-broker/gregor/storage"
	"go.uber.org/zap"
)

// storeTermLog reads and begins terms in the store.
type storeTermLog struct{ s *storage.Store }

func storeTerms(st *storage.Store) termLog { return storeTermLog{st} }

func (l storeTermLog) Terms() []term {
	ts := l.s.Terms()
	out := make([]term, len(ts))
	for i, t := range ts {
		out[i] = term{Epoch: t.Epoch, Start: t.Start, Master: t.Master}
	}
	return out
}

func (l storeTermLog) BeginTerm(epoch int32, master int64) (term, error) {
	t, err := l.s.BeginTerm(epoch, master)
	return term{Epoch: t.Epoch, Start: t.Start, Master: t.Master}, err
}

// hookOnApply has the store tell b of every replicated entry
// (slave_apply.go), after any OnApply the configuration already had.
func hookOnApply(cfg *storage.Config, b *Broker) {
	prev := cfg.OnApply
	cfg.OnApply = func(kind storage.EntryKind, ns string) {
		if prev != nil {
			prev(kind, ns)
		}
		b.onApply(kind, ns)
	}
}

// replLog is the store as package replication's Log (the store has every
// method, ReadBootstrap, InstallBootstrap and Truncate included).
type replLog struct{ *storage.Store }

// packageReplication runs package replication for the broker.
type packageReplication struct{}

// newReplicator returns the replication of cfg, nil when disabled.
func newReplicator(cfg Config) replicator {
	if cfg.Replication.Disabled {
		return nil
	}
	return packageReplication{}
}

// heartbeat is how often an idle master or slave speaks: at least four
// times per replica.lag.time.max.ms (so the ISR is judged in time), at most
// once a second.
func heartbeat(c ReplicationConfig) time.Duration {
	return max(min(time.Second, c.LagTimeMax/4), time.Millisecond)
}

func (packageReplication) startMaster(b *Broker) (replMaster, error) {
	rc := b.cfg.Replication
	if rc.Listener == "" {
		return nil, nil // no listener: a lone master, nobody can follow it
	}
	m, err := replication.NewMaster(replication.MasterConfig{
		Group:          b.cfg.Cluster.BrokerName,
		Member:         b.memberID(),
		Log:            replLog{b.store},
		Logger:         b.log.Named("replication"),
		ReplicaLagTime: rc.LagTimeMax,
		Heartbeat:      heartbeat(rc),
		RateBytes:      rc.LeaderThrottle,
		// A changed ISR is registered at once, so Metadata everywhere
		// shows it.
		OnISRChange: func([]int64) { b.cl().changed() },
		// Fail-over: the high watermark waits also for the members a
		// candidate could still be promoted from (lease.go, mustHold).
		MustHold: b.mustHold,
	})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", rc.Listener)
	if err != nil {
		m.Close()
		return nil, err
	}
	if ln, err = b.secureReplicationListener(ln); err != nil { // replication_auth.go
		m.Close()
		return nil, err
	}
	go func() {
		if err := m.Serve(ln); err != nil && err != replication.ErrClosed {
			b.log.Warn("replication listener stopped", zap.Error(err))
		}
	}()
	b.log.Info("replication listening", zap.Stringer("addr", ln.Addr()), zap.String("mode", rc.Mode.String()))
	return &masterSide{m: m, addr: ln.Addr().String()}, nil
}

// masterSide adapts *replication.Master.
type masterSide struct {
	m    *replication.Master
	addr string
}

func (s *masterSide) InSync() []int64 { return s.m.InSync() }
func (s *masterSide) Notify()         { s.m.Notify() }
func (s *masterSide) Addr() string    { return s.addr }
func (s *masterSide) Close() error    { return s.m.Close() }
func (s *masterSide) WaitReplicated(ctx context.Context, pos int64, minInSync int) error {
	return s.m.WaitReplicated(ctx, pos, minInSync)
}
func (s *masterSide) Slaves() []slaveProgress {
	in := s.m.Slaves()
	out := make([]slaveProgress, len(in))
	for i, si := range in {
		out[i] = slaveProgress{Member: si.Member, InSync: si.InSync, Connected: true, Acked: si.Acked, LagBytes: si.LagBytes, LagTime: si.LagTime}
	}
	return out
}

func (packageReplication) startSlave(b *Broker, masterAddr string) (replSlave, error) {
	rc := b.cfg.Replication
	dial, err := b.secureReplicationDial() // replication_auth.go
	if err != nil {
		return nil, err
	}
	s, err := replication.NewSlave(replication.SlaveConfig{
		Group:      b.cfg.Cluster.BrokerName,
		Member:     b.memberID(),
		Log:        replLog{b.store},
		Logger:     b.log.Named("replication"),
		MasterAddr: func() string { return masterAddr },
		Heartbeat:  heartbeat(rc),
		RateBytes:  rc.FollowerThrottle,
		MaxBackoff: time.Second,
		// Truncated or bootstrapped: the derived state changed wholesale.
		OnReset: func(int64) { b.kickReload() },
		Dial:    dial,
	})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Run(ctx)
	}()
	return &slaveSide{s: s, cancel: cancel, done: done}, nil
}

// slaveSide runs *replication.Slave until closed.
type slaveSide struct {
	s      *replication.Slave
	cancel context.CancelFunc
	done   chan struct{}
}

func (s *slaveSide) Close() error {
	s.cancel()
	<-s.done
	return nil
}

// Status is the slave's replication state as /cluster/status shows it.
func (s *slaveSide) Status() any {
	st := s.s.Status()
	out := struct {
		Connected    bool      `json:"connected"`
		Master       string    `json:"master"`
		MasterMember int64     `json:"master_member"`
		MasterEpoch  int32     `json:"master_epoch"`
		End          int64     `json:"end"`
		MasterEnd    int64     `json:"master_end"`
		CommitLimit  int64     `json:"commit_limit"`
		LagBytes     int64     `json:"lag_bytes"`
		LastContact  time.Time `json:"last_contact"`
		LastError    string    `json:"last_error,omitempty"`
		Truncations  int       `json:"truncations"`
		Bootstraps   int       `json:"bootstraps"`
	}{st.Connected, st.Master, st.MasterMember, st.MasterEpoch, st.End, st.MasterEnd, st.CommitLimit,
		st.LagBytes, st.LastContact, "", st.Truncations, st.Bootstraps}
	if st.LastError != nil {
		out.LastError = st.LastError.Error()
	}
	return out
}

// replicationAdvertised is the replication address slaves are told: the
// configured advertised one, else the bound address with the host of the
// first Kafka listener's advertised address when bound to the any-address.
func (b *Broker) replicationAdvertised() string {
	if a := b.cfg.Replication.Advertised; a != "" {
		return a
	}
	m := b.replicationMaster()
	if m == nil {
		return ""
	}
	addr := m.Addr()
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(h); h == "" || (ip != nil && ip.IsUnspecified()) {
		host, _ := b.advertised(nil)
		return net.JoinHostPort(host, p)
	}
	return addr
}

// slaveProgress is the master's view of its slaves, nil elsewhere.
func (b *Broker) slaveProgress() []slaveProgress {
	if m := b.replicationMaster(); m != nil {
		return m.Slaves()
	}
	return nil
}
