package nameserver

import "context"

// Local is a Registry reached in-process through the same methods as Client,
// so a single-node gregor runs the very code a cluster member runs, with its
// NameServer in the same process instead of across the network.
type Local struct {
	Registry *Registry
}

// NewLocal returns a Local over a fresh Registry.
func NewLocal() *Local { return &Local{Registry: NewRegistry(nil)} }

// Register records reg in the registry.
func (l *Local) Register(_ context.Context, reg Registration) (RegisterResponse, error) {
	return l.Registry.Register(reg)
}

// Unregister drops the broker from the registry.
func (l *Local) Unregister(_ context.Context, _ string, brokerName string, brokerID int64) {
	l.Registry.Unregister(brokerName, brokerID)
}

// Routes returns the registry's snapshot.
func (l *Local) Routes(context.Context) (Routes, error) { return l.Registry.Routes(), nil }
