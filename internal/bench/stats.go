package bench

import (
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Latencies are recorded in microseconds from 1 µs to 5 minutes, 3
// significant digits: a record slower than that is clamped to the top.
const (
	histMinMicros = 1
	histMaxMicros = 5 * 60 * 1000 * 1000
	histSigFigs   = 3
)

func newHist() *hdrhistogram.Histogram {
	return hdrhistogram.New(histMinMicros, histMaxMicros, histSigFigs)
}

// shard is one client's share of a meter. Each client records into its own
// shard so that the hot path takes an uncontended lock; the progress ticker
// and the summary merge the shards.
type shard struct {
	mu      sync.Mutex
	hist    *hdrhistogram.Histogram
	records int64
	bytes   int64
	errors  int64
	last    time.Time // when the last record was counted
	// total counts every record since the start, warm-up included: e2e
	// compares what was acknowledged with what arrived.
	total int64
}

// add counts one record of n value bytes; lat < 0 records no latency.
func (s *shard) add(n int, lat time.Duration, now time.Time) {
	s.mu.Lock()
	s.addLocked(n, lat, now)
	s.mu.Unlock()
}

// addLocked is add for a caller that holds s.mu, to count a whole fetch
// under one lock.
func (s *shard) addLocked(n int, lat time.Duration, now time.Time) {
	s.records++
	s.total++
	s.bytes += int64(n)
	if lat >= 0 {
		us := lat.Microseconds()
		if us < histMinMicros {
			us = histMinMicros
		} else if us > histMaxMicros {
			us = histMaxMicros
		}
		_ = s.hist.RecordValue(us) // cannot fail: clamped to the range
	}
	s.last = now
}

// fail counts one failed record.
func (s *shard) fail() {
	s.mu.Lock()
	s.errors++
	s.mu.Unlock()
}

// meter counts records, bytes, errors and latencies over a set of shards.
type meter struct {
	mu     sync.Mutex // guards start
	start  time.Time
	shards []*shard
	// onReset, when set, is called after every reset: the runner takes its
	// CPU sample where the measured part starts.
	onReset func()
}

func newMeter(n int) *meter {
	m := &meter{start: time.Now()}
	for range n {
		m.shards = append(m.shards, &shard{hist: newHist()})
	}
	return m
}

// reset forgets everything counted so far and restarts the clock: the end of
// the warm-up.
func (m *meter) reset(now time.Time) {
	m.mu.Lock()
	m.start = now
	m.mu.Unlock()
	for _, s := range m.shards {
		s.mu.Lock()
		s.hist.Reset()
		s.records, s.bytes, s.errors = 0, 0, 0
		s.last = time.Time{}
		s.mu.Unlock()
	}
	if m.onReset != nil {
		m.onReset()
	}
}

// total is the number of records counted since the meter was made, warm-up
// included.
func (m *meter) total() int64 {
	var n int64
	for _, s := range m.shards {
		s.mu.Lock()
		n += s.total
		s.mu.Unlock()
	}
	return n
}

// snapshot is a meter's totals at one moment.
type snapshot struct {
	start   time.Time
	last    time.Time
	records int64
	bytes   int64
	errors  int64
	hist    *hdrhistogram.Histogram
}

// snap merges the shards. It costs one histogram merge per shard, so it is
// for the once-a-second progress line and the summary, not the hot path.
func (m *meter) snap() snapshot {
	m.mu.Lock()
	sn := snapshot{start: m.start, hist: newHist()}
	m.mu.Unlock()
	for _, s := range m.shards {
		s.mu.Lock()
		sn.records += s.records
		sn.bytes += s.bytes
		sn.errors += s.errors
		if s.last.After(sn.last) {
			sn.last = s.last
		}
		sn.hist.Merge(s.hist)
		s.mu.Unlock()
	}
	return sn
}

// Latency is a latency distribution in milliseconds.
type Latency struct {
	Count int64   `json:"count"`
	Mean  float64 `json:"mean_ms"`
	P50   float64 `json:"p50_ms"`
	P99   float64 `json:"p99_ms"`
	P999  float64 `json:"p99_9_ms"`
	Max   float64 `json:"max_ms"`
}

func latencyOf(h *hdrhistogram.Histogram) *Latency {
	if h.TotalCount() == 0 {
		return nil
	}
	ms := func(us int64) float64 { return float64(us) / 1000 }
	return &Latency{
		Count: h.TotalCount(),
		Mean:  h.Mean() / 1000,
		P50:   ms(h.ValueAtQuantile(50)),
		P99:   ms(h.ValueAtQuantile(99)),
		P999:  ms(h.ValueAtQuantile(99.9)),
		Max:   ms(h.Max()),
	}
}
