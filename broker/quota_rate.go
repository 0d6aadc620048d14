package broker

// The rate a quota is measured with: Kafka's Rate over a SampledStat, so
// throttle times come out as Kafka computes them. A rate keeps n samples of
// one window each (quota.window.num, quota.window.size.seconds); a value is
// added to the current sample, a sample older than n windows counts no
// more, and the rate is the sum over the samples divided by the time they
// cover — never less than n-1 whole windows, so one burst after a quiet
// spell is not measured over a few milliseconds.
//
// When a recording takes the rate over the bound, the throttle time is the
// time the rate needs, with nothing more recorded, to fall back to the
// bound: (rate - bound) / bound × the window the rate was measured over
// (Kafka's QuotaUtils.throttleTime).

import (
	"sync"
	"time"
)

// rateSample is one window of a sampledRate.
type rateSample struct {
	start int64 // unix milliseconds the window began
	sum   float64
}

// sampledRate is a rate per second over n windows of window milliseconds.
type sampledRate struct {
	mu      sync.Mutex
	n       int
	window  int64 // ms
	samples []rateSample
	cur     int
}

func newSampledRate(n int, window time.Duration) *sampledRate {
	return &sampledRate{n: n, window: window.Milliseconds()}
}

// current returns the sample now falls in, starting a new one when the
// current window is over.
func (r *sampledRate) current(now int64) *rateSample {
	if len(r.samples) == 0 {
		r.samples = append(r.samples, rateSample{start: now})
		r.cur = 0
	}
	s := &r.samples[r.cur]
	if now >= s.start+r.window {
		r.cur = (r.cur + 1) % r.n
		if r.cur >= len(r.samples) {
			r.samples = append(r.samples, rateSample{})
		}
		r.samples[r.cur] = rateSample{start: now}
		s = &r.samples[r.cur]
	}
	return s
}

// purge forgets samples older than n windows.
func (r *sampledRate) purge(now int64) {
	expire := int64(r.n) * r.window
	for i := range r.samples {
		if now-r.samples[i].start >= expire {
			r.samples[i] = rateSample{start: now}
		}
	}
}

// windowMs is the time the rate is measured over: since the oldest sample,
// at least n-1 whole windows.
func (r *sampledRate) windowMs(now int64) int64 {
	r.purge(now)
	oldest := now
	for _, s := range r.samples {
		oldest = min(oldest, s.start)
	}
	elapsed := now - oldest
	if full, least := elapsed/r.window, int64(r.n-1); full < least {
		elapsed += (least - full) * r.window
	}
	return max(elapsed, 1)
}

// rateLocked is the measured rate per second at now.
func (r *sampledRate) rateLocked(now int64) float64 {
	w := r.windowMs(now)
	sum := 0.0
	for _, s := range r.samples {
		sum += s.sum
	}
	return sum / (float64(w) / 1000)
}

// record adds v at now and, when bound > 0 and the rate is then over it,
// returns the throttle time.
func (r *sampledRate) record(v float64, now time.Time, bound float64) time.Duration {
	ms := now.UnixMilli()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.current(ms).sum += v
	if bound <= 0 {
		return 0
	}
	rate := r.rateLocked(ms)
	if rate <= bound {
		return 0
	}
	w := r.windowMs(ms)
	return time.Duration((rate - bound) / bound * float64(w) * float64(time.Millisecond))
}

// rate is the measured rate per second now.
func (r *sampledRate) rate(now time.Time) float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.samples) == 0 {
		return 0
	}
	return r.rateLocked(now.UnixMilli())
}
