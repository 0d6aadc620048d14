package main

import (
	"time"

	"github.com/gregor-broker/gregor/broker/group"
)

// groupConfig maps the group settings onto the coordinator's config.
func groupConfig(g GroupSettings) group.Config {
	delay := g.InitialRebalanceDelay
	if delay == 0 {
		// group.Config reads zero as "default (3s)"; Kafka's 0 means none.
		delay = -time.Nanosecond
	}
	return group.Config{
		InitialRebalanceDelay:         delay,
		MinSessionTimeout:             g.MinSessionTimeout,
		MaxSessionTimeout:             g.MaxSessionTimeout,
		OffsetsRetention:              g.OffsetsRetention,
		OffsetsRetentionCheckInterval: g.OffsetsRetentionCheckInterval,
		OffsetMetadataMaxBytes:        g.OffsetMetadataMaxBytes,
		MaxSize:                       g.MaxSize,
		ConsumerSessionTimeout:        g.ConsumerSessionTimeout,
		ConsumerHeartbeatInterval:     g.ConsumerHeartbeatInterval,
		ConsumerMinSessionTimeout:     g.ConsumerMinSessionTimeout,
		ConsumerMaxSessionTimeout:     g.ConsumerMaxSessionTimeout,
		ConsumerMinHeartbeatInterval:  g.ConsumerMinHeartbeatInterval,
		ConsumerMaxHeartbeatInterval:  g.ConsumerMaxHeartbeatInterval,
		ConsumerAssignors:             g.ConsumerAssignors,
		ConsumerMaxSize:               g.ConsumerMaxSize,
		ConsumerMigrationPolicy:       g.ConsumerMigrationPolicy,
	}
}
