package replication

import (
	"context"
	"sync"

	"golang.org/x/time/rate"
)

// throttle limits replication bytes per second for every connection that
// shares it (Kafka's leader.replication.throttled.rate and
// follower.replication.throttled.rate are per broker). The rate can change
// while connections run.
type throttle struct {
	mu  sync.Mutex
	lim *rate.Limiter // nil: unlimited
}

// set changes the rate; 0 or less lifts the limit. The burst is a tenth of
// a second's worth (at least 4 KiB), so the rate holds over short spans.
func (t *throttle) set(bytesPerSec int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if bytesPerSec <= 0 {
		t.lim = nil
		return
	}
	burst := int(max(bytesPerSec/10, 4096))
	if t.lim == nil {
		t.lim = rate.NewLimiter(rate.Limit(bytesPerSec), burst)
		return
	}
	t.lim.SetLimit(rate.Limit(bytesPerSec))
	t.lim.SetBurst(burst)
}

// wait blocks until n bytes may pass.
func (t *throttle) wait(ctx context.Context, n int) error {
	for n > 0 {
		t.mu.Lock()
		lim := t.lim
		t.mu.Unlock()
		if lim == nil {
			return nil
		}
		k := min(n, lim.Burst())
		if err := lim.WaitN(ctx, k); err != nil {
			return err
		}
		n -= k
	}
	return nil
}
