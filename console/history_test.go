package console

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestLagHistoryBounded: each partition keeps its last n samples, oldest
// first; groups beyond the cap get no history; a group that vanishes is
// dropped.
func TestLagHistoryBounded(t *testing.T) {
	h := newLagHistory(3, 2)
	t0 := time.Unix(1000, 0)
	for i := 0; i < 5; i++ {
		h.record(t0.Add(time.Duration(i)*time.Second), map[string]map[tp]int64{
			"a": {{"t", 0}: int64(i)},
			"b": {{"t", 0}: int64(10 * i)},
			"c": {{"t", 0}: 1},
		})
	}
	s := h.series("a")
	if len(s) != 2 || s[0].Name != "total" || len(s[1].Points) != 3 || s[1].Points[0].V != 2 || s[1].Points[2].V != 4 || s[1].Name != "t/0" {
		t.Fatalf("group a: %+v", s)
	}
	if len(h.series("c")) != 0 {
		t.Fatal("a third group got a history beyond the cap of 2")
	}
	h.record(t0.Add(10*time.Second), map[string]map[tp]int64{"b": {{"t", 0}: 1}})
	if len(h.series("a")) != 0 || len(h.series("b")) != 2 {
		t.Fatal("a vanished group kept its history")
	}
}

func TestChartSVG(t *testing.T) {
	if got := string(chartSVG(chart{Title: "x"})); !strings.Contains(got, "No samples yet") {
		t.Fatalf("empty chart: %s", got)
	}
	t0 := time.Unix(0, 0)
	got := string(chartSVG(chart{Title: "<lag>", Series: []series{{Name: "t/0<", Points: []point{{t0, 1}, {t0.Add(time.Second), 3}}}}}))
	if !strings.Contains(got, "<polyline") || strings.Contains(got, "<lag>") || strings.Contains(got, "t/0<") {
		t.Fatalf("chart: %s", got)
	}
}

// TestMetricRates: rates come from two scrapes' difference over their
// interval; latency from the histogram's observations in between.
func TestMetricRates(t *testing.T) {
	reg := prometheus.NewRegistry()
	in := prometheus.NewCounter(prometheus.CounterOpts{Name: "gregor_network_bytes_in_total"})
	lat := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "gregor_request_duration_seconds",
		Buckets: []float64{0.001, 0.01, 0.1}}, []string{"api"})
	reg.MustRegister(in, lat)
	h := newMetricHistory(10)
	t0 := time.Unix(1000, 0)
	scrape := func(at time.Time) {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		h.record(at, mfs)
	}
	in.Add(500)
	lat.WithLabelValues("Produce").Observe(0.5) // before the first scrape: not counted
	scrape(t0)
	in.Add(2000)
	for i := 0; i < 99; i++ {
		lat.WithLabelValues("Produce").Observe(0.005)
	}
	lat.WithLabelValues("Produce").Observe(0.05)
	scrape(t0.Add(2 * time.Second))
	s := h.series(mBytesIn, "Produce"+latencyP99)
	if len(s) != 2 || s[0].Points[0].V != 1000 {
		t.Fatalf("bytes in/s: %+v", s)
	}
	if p99 := s[1].Points[0].V; p99 != 10 { // ms: the 0.01 s bucket holds the 99th
		t.Fatalf("p99 %v ms, want 10", p99)
	}
}

// TestLagChartKeepsMostLagging: the chart draws the total and the
// partitions lagging most, not every partition.
func TestLagChartKeepsMostLagging(t *testing.T) {
	h := newLagHistory(5, 10)
	lags := map[tp]int64{}
	for p := int32(0); p < 20; p++ {
		lags[tp{"t", p}] = int64(p)
	}
	h.record(time.Unix(1, 0), map[string]map[tp]int64{"g": lags})
	s := h.series("g")
	if len(s) != 1+chartPartitions || s[0].Points[0].V != 190 {
		t.Fatalf("%d series, total %v", len(s), s[0].Points)
	}
	for _, x := range s[1:] {
		if x.Points[0].V < 20-chartPartitions {
			t.Fatalf("partition %s (lag %v) drawn among the %d lagging most", x.Name, x.Points[0].V, chartPartitions)
		}
	}
}
