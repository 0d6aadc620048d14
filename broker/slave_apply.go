package broker

// A slave's derived broker state follows its replicated commit log: the
// store calls onApply after each replicated key/value entry, and a
// goroutine reloads what the broker keeps in memory (topic table, dynamic
// configs, cluster id) off the store's dispatch path.

import (
	"github.com/gregor-broker/gregor/storage"
	"go.uber.org/zap"
)

// onApply is storage.Config.OnApply: a replicated entry of namespace ns was
// dispatched. It only signals; reloads run in reloadLoop.
func (b *Broker) onApply(kind storage.EntryKind, ns string) {
	switch kind {
	case storage.EntryTerm, storage.EntryCreatePartition, storage.EntryDeleteTopic:
	case storage.EntryKV:
		switch ns {
		case aclNamespace:
			b.aclc.p.Store(nil) // read again at the next check (acl.go)
			return
		case quotaNamespace:
			b.quotac.invalidate() // read again at the next request (quota.go)
			return
		case topicsNamespace, brokerConfigsNamespace, kvNamespace:
		default:
			return // group offsets, producer ids: read from the store on demand
		}
	default:
		return
	}
	b.kickReload()
}

// kickReload asks reloadLoop to read the replicated state again.
func (b *Broker) kickReload() {
	select {
	case b.reloadKick <- struct{}{}:
	default:
	}
}

// reloadLoop reloads the replicated state after onApply signals, until
// stop is closed.
func (b *Broker) reloadLoop(stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case <-b.reloadKick:
			b.reloadReplicated()
		}
	}
}

// reloadReplicated reads the topic table and the cluster id again.
func (b *Broker) reloadReplicated() {
	if b.isMaster() {
		return
	}
	if t, ok := b.lastTerm(); ok && t.Epoch > b.epoch.Load() {
		b.epoch.Store(t.Epoch) // a slave's epoch is its last replicated term
	}
	if stored, ok := b.store.GetKV(kvNamespace, clusterIDKey); ok && string(stored) != b.ClusterID() {
		b.clusterID.Store(string(stored))
	}
	if _, err := b.topics.reload(); err != nil {
		b.log.Warn("reloading the replicated topic table", zap.Error(err))
	}
}
