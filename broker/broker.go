// Package broker is a gregor broker: it answers the Kafka APIs over the store,
// one file per API named by its key (00_produce.go, 01_fetch.go, …).
package broker

// PLACEHOLDER shape: the broker-core owner completes this file. Other owners
// add their state behind a field of their own type (topics, groups).

import (
	"github.com/gregor-broker/gregor/broker/group"
	"github.com/gregor-broker/gregor/storage"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// Listener is one Kafka listener, as in listeners / advertised.listeners.
type Listener struct {
	Name       string // e.g. PLAINTEXT
	Address    string // host:port to bind
	Advertised string // host:port told to clients that arrive on this listener
}

// Config is everything a broker needs; cmd/gregor builds it from viper.
type Config struct {
	NodeID    int32
	ClusterID string // stable cluster.id; made at first start when empty
	Listeners []Listener
	// SocketRequestMaxBytes caps a request frame (socket.request.max.bytes).
	SocketRequestMaxBytes int32
	Store                 storage.Config
	Topics                TopicDefaults // owned by topics.go
	Group                 group.Config  // owned by broker/group
	Registerer            prometheus.Registerer
	Logger                *zap.Logger
}

// Broker is one running broker.
type Broker struct {
	cfg    Config
	log    *zap.Logger
	store  *storage.Store
	topics *Topics
	groups *group.Coordinator
}
