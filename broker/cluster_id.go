package broker

// One cluster id for every broker group of a cluster.
//
// Kafka's cluster id is made once, when the first log dir is formatted,
// and every broker of the cluster carries it. gregor's groups each keep
// theirs in their own commit log (the broker KV entry "cluster.id",
// replicated to their slaves), so without cluster.id configured each group
// would make its own. NameServers keep nothing on disk and never talk to
// each other, so they cannot hand one out; instead every broker registers
// its id with when it was first stored ("cluster.id.since", Unix ms; 0 for
// a configured id or one stored before this was recorded), and:
//
//   - a master starting without an id takes the oldest id the cluster's
//     live brokers register (by since, then by the id's text), and makes a
//     new one only when none has one;
//   - a master whose id was not configured adopts, durably, an older id it
//     sees in the routes (two groups that started at the same moment, or a
//     group that joined while the NameServers were out of reach), so the
//     cluster converges on its oldest id and keeps it when that group
//     leaves;
//   - a configured cluster.id is never replaced (a data directory of
//     another cluster is still refused, loadClusterID).
//
// "Oldest" is decided from what every broker registers, so every
// NameServer's routes give every broker the same answer.

import (
	"context"
	"encoding/base64"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/gregor-broker/gregor/nameserver"
	"github.com/gregor-broker/gregor/storage"
	"go.uber.org/zap"
)

var clusterIDSinceKey = []byte("cluster.id.since")

// clusterIDOf is a cluster id with when it was first stored.
type clusterIDOf struct {
	id    string
	since int64
}

// older orders ids: the earlier since, then the smaller text.
func (a clusterIDOf) older(b clusterIDOf) bool {
	if a.since != b.since {
		return a.since < b.since
	}
	return a.id < b.id
}

// oldestClusterID is the oldest id the live brokers of cluster register.
func oldestClusterID(r nameserver.Routes, cluster string) (clusterIDOf, bool) {
	var best clusterIDOf
	found := false
	for _, br := range r.Brokers {
		if br.Cluster != cluster || br.ClusterID == "" {
			continue
		}
		c := clusterIDOf{br.ClusterID, br.ClusterIDSince}
		if !found || c.older(best) {
			best, found = c, true
		}
	}
	return best, found
}

// clusterIDSince is when this broker's cluster id was first stored.
func (b *Broker) clusterIDSince() int64 {
	v, ok := b.store.GetKV(kvNamespace, clusterIDSinceKey)
	if !ok {
		return 0
	}
	n, _ := strconv.ParseInt(string(v), 10, 64)
	return n
}

// newClusterID is the id a master without one stores: the cluster's oldest
// when its live brokers register one, else a fresh Kafka-style id (base64
// of a UUID) from now.
func (b *Broker) newClusterID() clusterIDOf {
	if len(b.cfg.Cluster.NameServers) > 0 || b.cfg.Cluster.Client != nil {
		if r, err := b.cluster.routesOnce(); err == nil {
			if c, ok := oldestClusterID(r, b.cluster.cfg.Name); ok {
				b.log.Info("cluster id taken from the cluster's live brokers", zap.String("cluster.id", c.id))
				return c
			}
		}
	}
	id := uuid.New()
	return clusterIDOf{base64.RawURLEncoding.EncodeToString(id[:]), time.Now().UnixMilli()}
}

// storeClusterID keeps c as this group's cluster id.
func (b *Broker) storeClusterID(c clusterIDOf) error {
	if err := b.store.PutKV(kvNamespace, storage.KV{Key: clusterIDSinceKey, Value: []byte(strconv.FormatInt(c.since, 10))}); err != nil {
		return err
	}
	return b.store.PutKV(kvNamespace, storage.KV{Key: clusterIDKey, Value: []byte(c.id)})
}

// adoptClusterID runs after every route read: a master whose cluster id
// was not configured takes an older one the cluster registers.
func (b *Broker) adoptClusterID(r nameserver.Routes) {
	if b.clusterIDConfigured || b.store == nil || !b.isMaster() {
		return
	}
	oldest, ok := oldestClusterID(r, b.cluster.cfg.Name)
	mine := clusterIDOf{b.ClusterID(), b.clusterIDSince()}
	if !ok || mine.id == "" || oldest.id == mine.id || !oldest.older(mine) {
		return
	}
	if err := b.storeClusterID(oldest); err != nil {
		b.log.Warn("adopting the cluster's cluster id", zap.String("cluster.id", oldest.id), zap.Error(err))
		return
	}
	b.clusterID.Store(oldest.id)
	b.log.Info("adopted the cluster's older cluster id", zap.String("cluster.id", oldest.id), zap.String("was", mine.id))
	b.cluster.changed()
}

// routesOnce reads the routes once, bounded as New's other reads.
func (c *cluster) routesOnce() (nameserver.Routes, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return c.ns.Routes(ctx)
}
