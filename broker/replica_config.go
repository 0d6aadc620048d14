package broker

// Replication settings of a broker (docs/replication.md): where a master
// listens for its slaves, when a produce is acknowledged, when a slave
// counts as in sync, the rate limits and when a consumer is sent to a
// slave. Kafka's names where Kafka has the setting.

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// ReplicationMode decides when a produce is answered (never what consumers
// see: the high watermark is the lowest end among the in-sync members in
// both modes).
type ReplicationMode int

const (
	// ReplicationAsync answers once the master has the batch, whatever
	// acks says (MetaQ's ASYNC_MASTER). The default.
	ReplicationAsync ReplicationMode = iota
	// ReplicationSync answers acks=all once every in-sync member has the
	// batch (RocketMQ's SYNC_MASTER, Kafka's acks=all).
	ReplicationSync
)

func (m ReplicationMode) String() string {
	if m == ReplicationSync {
		return "sync"
	}
	return "async"
}

// ParseReplicationMode reads "async" or "sync".
func ParseReplicationMode(s string) (ReplicationMode, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "async":
		return ReplicationAsync, nil
	case "sync":
		return ReplicationSync, nil
	}
	return 0, fmt.Errorf("%q is neither async nor sync", s)
}

// ReplicationConfig is the replication part of a broker's Config.
type ReplicationConfig struct {
	// Listener is host:port the master's replication listener binds
	// (replication.listener). Empty: none (a lone node; `gregor broker`
	// defaults it to DefaultReplicationListener, RocketMQ's HA port).
	Listener string
	// Advertised is host:port slaves are told to connect to
	// (replication.advertised.listener); default: the bound address, with
	// the host of the first Kafka listener's advertised address when bound
	// to the any-address.
	Advertised string
	// Mode is replication.mode.
	Mode ReplicationMode
	// LagTimeMax is replica.lag.time.max.ms: a slave that has not reached
	// the master's end within it leaves the ISR. Default 30 s.
	LagTimeMax time.Duration
	// MinInsyncReplicas is min.insync.replicas, the broker default of the
	// topic config (sync mode, acks=all). Default 1.
	MinInsyncReplicas int
	// LeaderThrottle and FollowerThrottle are
	// leader.replication.throttled.rate / follower.replication.throttled.rate
	// in bytes per second; 0 = unlimited.
	LeaderThrottle   int64
	FollowerThrottle int64
	// FarBehindBytes is replica.read.far.behind.bytes: a consumer whose
	// fetch position lies more than this many commit-log bytes behind the
	// master's end is named a slave as its preferred read replica
	// (RocketMQ's rule for cold reads); 0 disables. Default 0.
	FarBehindBytes int64
	// Disabled keeps a broker without replication (tests of a lone node
	// that must not bind the replication port).
	Disabled bool
	// TLS is replication.ssl.enable: the replication port speaks TLS with
	// the broker's ssl.keystore/ssl.truststore, client certificates
	// required (replication_auth.go).
	TLS bool
}

// Replication defaults.
const (
	DefaultReplicationListener = ":10912"
	defaultReplicaLagTimeMax   = 30 * time.Second
)

// EnsureDefaults fills every zero field that has a default. It is the one
// place the replication defaults live (cmd/gregor's settings table reads
// them from here). Listener stays empty (no replication listener, as
// standalone runs); `gregor broker` defaults it to
// DefaultReplicationListener.
func (c *ReplicationConfig) EnsureDefaults() {
	if c.LagTimeMax == 0 {
		c.LagTimeMax = defaultReplicaLagTimeMax
	}
	if c.MinInsyncReplicas == 0 {
		c.MinInsyncReplicas = 1
	}
}

// Validate fills defaults (EnsureDefaults) and rejects values that cannot
// work.
func (c *ReplicationConfig) Validate() error {
	c.EnsureDefaults()
	if c.Listener != "" {
		if _, _, err := splitHostPort(c.Listener); err != nil {
			return fmt.Errorf("replication.listener %q: %v", c.Listener, err)
		}
	}
	if c.Advertised != "" {
		h, p, err := splitHostPort(c.Advertised)
		if err != nil {
			return fmt.Errorf("replication.advertised.listener %q: %v", c.Advertised, err)
		}
		if h == "" || h == "0.0.0.0" || h == "::" || p == 0 {
			return fmt.Errorf("replication.advertised.listener %q: give a host and port slaves can reach", c.Advertised)
		}
	}
	if c.Mode != ReplicationAsync && c.Mode != ReplicationSync {
		return fmt.Errorf("replication.mode %d is neither async nor sync", c.Mode)
	}
	if c.LagTimeMax < 0 {
		return errors.New("replica.lag.time.max.ms must be positive")
	}
	if c.MinInsyncReplicas < 0 {
		return fmt.Errorf("min.insync.replicas must be at least 1, got %d", c.MinInsyncReplicas)
	}
	if c.LeaderThrottle < 0 || c.FollowerThrottle < 0 {
		return errors.New("replication throttled rates must be 0 (unlimited) or positive")
	}
	if c.FarBehindBytes < 0 {
		return errors.New("replica.read.far.behind.bytes must be 0 (off) or positive")
	}
	return nil
}
