package storage

import (
	"fmt"

	"go.uber.org/zap"
)

// breakOnPanic runs fn, the part of a write section that changes the store
// while holding s.mu: the commit-log write and the dispatch that follows
// it. A panic there (a bug, or a filesystem that panics) may have left the
// commit log and the derived state half-updated, and left s.mu held with
// every later writer queued behind it. It is handled as a failed write:
// the store is broken (every later write fails with ErrBroken, whose text
// names the panic; reads go on from what was dispatched), and the panic
// becomes the error fn's caller returns after unlocking on its usual
// error path. It is the only recover in the store.
func (s *Store) breakOnPanic(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("storage: panic while writing; the store refuses writes from now on",
				zap.Any("panic", r), zap.Stack("stack"))
			err = s.fail(fmt.Errorf("panic: %v", r))
		}
	}()
	return fn()
}
