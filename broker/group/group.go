// Package group is gregor's classic-protocol group coordinator: membership,
// rebalances, and committed offsets kept in the store's internal state.
package group

// PLACEHOLDER: the group owner replaces this file.

import (
	"github.com/gregor-broker/gregor/storage"
	"go.uber.org/zap"
)

// Config holds the group settings (Kafka names in comments).
type Config struct{}

// Coordinator coordinates every group whose offsets partition this broker owns.
type Coordinator struct{}

// New returns a coordinator whose state lives in store.
func New(cfg Config, store *storage.Store, log *zap.Logger) (*Coordinator, error) {
	return &Coordinator{}, nil
}

// Close stops the coordinator's timers.
func (c *Coordinator) Close() error { return nil }
