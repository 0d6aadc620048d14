package console

import (
	"strings"
	"testing"
	"time"
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
	if len(s) != 1 || len(s[0].Points) != 3 || s[0].Points[0].V != 2 || s[0].Points[2].V != 4 || s[0].Name != "t/0" {
		t.Fatalf("group a: %+v", s)
	}
	if len(h.series("c")) != 0 {
		t.Fatal("a third group got a history beyond the cap of 2")
	}
	h.record(t0.Add(10*time.Second), map[string]map[tp]int64{"b": {{"t", 0}: 1}})
	if len(h.series("a")) != 0 || len(h.series("b")) != 1 {
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
