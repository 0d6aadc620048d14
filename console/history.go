package console

import (
	"context"
	"math"
	"sort"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// ring keeps the last n points of one series.
type ring struct {
	pts  []point
	next int
	full bool
}

func newRing(n int) *ring { return &ring{pts: make([]point, n)} }

func (r *ring) add(p point) {
	r.pts[r.next] = p
	r.next++
	if r.next == len(r.pts) {
		r.next, r.full = 0, true
	}
}

// points returns the points oldest first (a copy).
func (r *ring) points() []point {
	if !r.full {
		return append([]point(nil), r.pts[:r.next]...)
	}
	return append(append([]point(nil), r.pts[r.next:]...), r.pts[:r.next]...)
}

// lagHistory is each group's lag per partition over time, in memory only:
// at most maxGroups groups, history points per partition; a group that
// disappears is dropped at the next sample.
type lagHistory struct {
	mu        sync.Mutex
	n         int
	maxGroups int
	groups    map[string]map[tp]*ring
}

type tp struct {
	Topic     string
	Partition int32
}

func newLagHistory(n, maxGroups int) *lagHistory {
	return &lagHistory{n: n, maxGroups: maxGroups, groups: map[string]map[tp]*ring{}}
}

// record stores one sample of every group's lag (group → partition → lag).
func (h *lagHistory) record(at time.Time, lags map[string]map[tp]int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for g := range h.groups {
		if _, ok := lags[g]; !ok {
			delete(h.groups, g)
		}
	}
	names := make([]string, 0, len(lags))
	for g := range lags {
		names = append(names, g)
	}
	sort.Strings(names)
	for _, g := range names {
		ps, ok := h.groups[g]
		if !ok {
			if len(h.groups) >= h.maxGroups {
				continue
			}
			ps = map[tp]*ring{}
			h.groups[g] = ps
		}
		for k, lag := range lags[g] {
			r, ok := ps[k]
			if !ok {
				r = newRing(h.n)
				ps[k] = r
			}
			r.add(point{T: at, V: float64(lag)})
		}
	}
}

// chartPartitions is how many partitions a lag chart draws besides the
// total: those lagging most at the last sample.
const chartPartitions = 7

// series returns group g's history: the total lag, then one series per
// partition for the chartPartitions partitions lagging most now.
func (h *lagHistory) series(g string) []series {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []series
	total := map[time.Time]float64{}
	for k, r := range h.groups[g] {
		pts := r.points()
		for _, p := range pts {
			total[p.T] += p.V
		}
		out = append(out, series{Name: k.Topic + "/" + itoa(k.Partition), Points: pts})
	}
	if len(out) == 0 {
		return nil
	}
	last := func(s series) float64 { return s.Points[len(s.Points)-1].V }
	sort.Slice(out, func(i, j int) bool {
		if a, b := last(out[i]), last(out[j]); a != b {
			return a > b
		}
		return out[i].Name < out[j].Name
	})
	out = out[:min(len(out), chartPartitions)]
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	sum := series{Name: "total"}
	for t, v := range total {
		sum.Points = append(sum.Points, point{T: t, V: v})
	}
	sort.Slice(sum.Points, func(i, j int) bool { return sum.Points[i].T.Before(sum.Points[j].T) })
	return append([]series{sum}, out...)
}

// metricHistory is the broker's own rates and latencies over time,
// computed from successive scrapes of its registry (in memory only).
type metricHistory struct {
	mu     sync.Mutex
	n      int
	rings  map[string]*ring
	last   map[string]float64 // counter values at the previous sample
	lastAt time.Time
	hist   map[string]histSnap // histograms at the previous sample
}

type histSnap struct {
	count   uint64
	sum     float64
	buckets []*dto.Bucket
}

func newMetricHistory(n int) *metricHistory {
	return &metricHistory{n: n, rings: map[string]*ring{}, last: map[string]float64{}, hist: map[string]histSnap{}}
}

// The series the metrics page draws.
const (
	mBytesIn   = "bytes in/s"
	mBytesOut  = "bytes out/s"
	mRequests  = "requests/s"
	mErrors    = "error codes/s"
	mRecords   = "records in/s"
	mFsync     = "fsync"
	latencyAvg = " avg"
	latencyP99 = " p99"
)

func (h *metricHistory) put(name string, at time.Time, v float64) {
	r, ok := h.rings[name]
	if !ok {
		r = newRing(h.n)
		h.rings[name] = r
	}
	r.add(point{T: at, V: v})
}

// record turns one scrape into rates (per second since the previous
// scrape) and per-API latencies of the requests in between.
func (h *metricHistory) record(at time.Time, mfs []*dto.MetricFamily) {
	h.mu.Lock()
	defer h.mu.Unlock()
	counters := map[string]float64{}
	hists := map[string]histSnap{}
	for _, mf := range mfs {
		switch mf.GetName() {
		case "gregor_network_bytes_in_total":
			counters[mBytesIn] = sumCounter(mf)
		case "gregor_network_bytes_out_total":
			counters[mBytesOut] = sumCounter(mf)
		case "gregor_requests_total":
			counters[mRequests] = sumCounter(mf)
		case "gregor_request_errors_total":
			// Kafka error codes in responses, one per partition,
			// topic or group that carries one.
			counters[mErrors] = sumCounter(mf)
		case "gregor_partition_high_watermark":
			// Records appended: the high watermarks' growth.
			var v float64
			for _, m := range mf.GetMetric() {
				v += m.GetGauge().GetValue()
			}
			counters[mRecords] = v
		case "gregor_log_fsync_duration_seconds":
			for _, m := range mf.GetMetric() {
				hg := m.GetHistogram()
				hists[mFsync] = histSnap{count: hg.GetSampleCount(), sum: hg.GetSampleSum(), buckets: hg.GetBucket()}
			}
		case "gregor_request_duration_seconds":
			for _, m := range mf.GetMetric() {
				api := label(m, "api")
				hg := m.GetHistogram()
				hists[api] = histSnap{count: hg.GetSampleCount(), sum: hg.GetSampleSum(), buckets: hg.GetBucket()}
			}
		}
	}
	if _, ok := counters[mRequests]; ok {
		if _, ok := counters[mErrors]; !ok {
			counters[mErrors] = 0 // no error code answered yet: no series exported
		}
	}
	if !h.lastAt.IsZero() {
		secs := at.Sub(h.lastAt).Seconds()
		for name, v := range counters {
			// A counter that fell (a restart, a deleted topic's
			// watermarks) gives no rate for this interval.
			if prev, ok := h.last[name]; ok && secs > 0 && v >= prev {
				h.put(name, at, (v-prev)/secs)
			}
		}
		for _, api := range []string{"Produce", "Fetch", mFsync} {
			cur, prev := hists[api], h.hist[api]
			dc := float64(cur.count) - float64(prev.count)
			avg, p99 := math.NaN(), math.NaN()
			if dc > 0 && cur.count >= prev.count {
				avg = (cur.sum - prev.sum) / dc * 1000
				p99 = quantileDelta(cur.buckets, prev.buckets, dc, 0.99) * 1000
			}
			h.put(api+latencyAvg, at, avg)
			h.put(api+latencyP99, at, p99)
		}
	}
	h.last, h.hist, h.lastAt = counters, hists, at
}

// quantileDelta estimates quantile q of the observations between two
// snapshots of one histogram: the upper bound of the first bucket that
// holds q of them (Prometheus's histogram_quantile without interpolation).
func quantileDelta(cur, prev []*dto.Bucket, total, q float64) float64 {
	for i, b := range cur {
		c := float64(b.GetCumulativeCount())
		if i < len(prev) {
			c -= float64(prev[i].GetCumulativeCount())
		}
		if c >= q*total {
			return b.GetUpperBound()
		}
	}
	if len(cur) > 0 {
		return cur[len(cur)-1].GetUpperBound() // beyond the last bound
	}
	return math.NaN()
}

func (h *metricHistory) series(names ...string) []series {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []series
	for _, n := range names {
		if r, ok := h.rings[n]; ok {
			out = append(out, series{Name: n, Points: r.points()})
		}
	}
	return out
}

func sumCounter(mf *dto.MetricFamily) float64 {
	var v float64
	for _, m := range mf.GetMetric() {
		v += m.GetCounter().GetValue()
	}
	return v
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// sample runs until ctx ends: every SampleInterval one lag and one
// metrics sample (the first at once).
func (c *Console) sample(ctx context.Context) {
	defer close(c.stopped)
	t := time.NewTicker(c.cfg.SampleInterval)
	defer t.Stop()
	for {
		c.sampleOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (c *Console) sampleOnce(ctx context.Context) {
	now := time.Now()
	if c.cfg.Gatherer != nil {
		if mfs, err := c.cfg.Gatherer.Gather(); err == nil {
			c.met.record(now, mfs)
		}
	}
	if c.adm == nil {
		return // per-user identities and no identity of its own: no lag history
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	lags, err := c.groupLags(ctx)
	if err != nil {
		c.cfg.Logger.Debug("console lag sample failed")
		return
	}
	m := map[string]map[tp]int64{}
	for g, l := range lags {
		ps := map[tp]int64{}
		for _, ml := range l.Lag.Sorted() {
			if ml.Err == nil && ml.Lag >= 0 {
				ps[tp{ml.Topic, ml.Partition}] = ml.Lag
			}
		}
		m[g] = ps
	}
	c.lag.record(now, m)
}
