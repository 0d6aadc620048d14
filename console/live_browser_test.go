package console_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestLiveChartsInBrowser: the group page's lag chart and the metrics
// page's charts follow new samples without a reload: records produced
// after the page loaded raise the chart's total lag to what the Kafka API
// says, and the metrics charts gain samples, while the page stays the
// same document (a marker set on it survives).
func TestLiveChartsInBrowser(t *testing.T) {
	chromium(t)
	s := startStack(t, false)
	seed(t, s)
	ctx, dir := browser(t)
	login(t, ctx, s)

	waitFor(t, ctx, s.url+"/console/groups/g1", `#lag-chart svg polyline`)
	step(t, ctx, "marking the page", chromedp.Evaluate[chromedp.Void](`window.__same = true; undefined`))
	pctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range 25 {
		if err := s.cl.ProduceSync(pctx, &kgo.Record{Topic: "orders", Value: []byte(fmt.Sprint("more-", i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	lags, err := s.adm.Lag(pctx, "g1")
	if err != nil {
		t.Fatal(err)
	}
	want := strconv.FormatInt(lags["g1"].Lag.Total(), 10)
	total := func() string {
		return eval[string](t, ctx, `(document.querySelector("#lag-chart .legend li b")||{}).textContent||""`)
	}
	deadline := time.Now().Add(20 * time.Second)
	for total() != want {
		if time.Now().After(deadline) {
			t.Fatalf("the lag chart's total stays at %q, want %s (the Kafka API's) without a reload; data-error=%q", total(),
				want, eval[string](t, ctx, `document.querySelector("#lag-chart").getAttribute("data-error")||""`))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !eval[bool](t, ctx, `window.__same === true`) {
		t.Fatal("the group page was reloaded; the chart should refresh in place")
	}
	shot(t, ctx, dir, "live-lag")

	nav(t, ctx, s.url+"/console/metrics", "#charts")
	step(t, ctx, "marking the page", chromedp.Evaluate[chromedp.Void](`window.__same = true; undefined`))
	// The newest sample's time: the rings are full at History samples.
	samples := func() int64 {
		return int64(eval[float64](t, ctx, `Number(document.querySelector("#charts").getAttribute("data-last")||"0")`))
	}
	deadline = time.Now().Add(20 * time.Second)
	var first int64
	for first = samples(); first == 0; first = samples() {
		if time.Now().After(deadline) {
			t.Fatal("the metrics charts were never refreshed")
		}
		time.Sleep(100 * time.Millisecond)
	}
	for samples() <= first {
		if time.Now().After(deadline) {
			t.Fatalf("the metrics charts' newest sample stays at %d", first)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !eval[bool](t, ctx, `window.__same === true && document.querySelectorAll("#charts figure").length === 6`) {
		t.Fatal("the metrics page was reloaded or lost charts")
	}
	shot(t, ctx, dir, "live-metrics")
}
