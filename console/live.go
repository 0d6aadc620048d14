package console

// Live charts: the group page's lag chart and the metrics page's charts
// refresh without a reload. The pages name a JSON endpoint in
// data-refresh (with data-every, the sample interval in ms);
// static/console.js fetches it and swaps the charts in. The JSON carries
// each chart's data and its SVG drawn by chartSVG, so the drawing exists
// once, on the server.

import (
	"encoding/json"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"net/url"
	"time"
)

// liveChart is one chart in a live endpoint's answer.
type liveChart struct {
	Title  string        `json:"title"`
	Unit   string        `json:"unit"`
	Series []liveSeries  `json:"series"`
	HTML   template.HTML `json:"html"`
}

type liveSeries struct {
	Name string `json:"name"`
	// Points are [unix ms, value] pairs; a value is null where the
	// sample had none (NaN).
	Points [][2]*float64 `json:"points"`
}

type liveAnswer struct {
	Charts []liveChart `json:"charts"`
	// Samples counts the points drawn.
	Samples int `json:"samples"`
	// Last is the newest sample's time (unix ms), 0 without samples.
	Last int64 `json:"last"`
}

func liveOf(charts []chart) liveAnswer {
	var a liveAnswer
	for _, ch := range charts {
		lc := liveChart{Title: ch.Title, Unit: ch.Unit, HTML: chartSVG(ch), Series: []liveSeries{}}
		for _, s := range ch.Series {
			ls := liveSeries{Name: s.Name, Points: make([][2]*float64, 0, len(s.Points))}
			for _, p := range s.Points {
				t := float64(p.T.UnixMilli())
				var v *float64
				if !math.IsNaN(p.V) {
					v = new(float64)
					*v = p.V
				}
				ls.Points = append(ls.Points, [2]*float64{&t, v})
				a.Samples++
				a.Last = max(a.Last, p.T.UnixMilli())
			}
			lc.Series = append(lc.Series, ls)
		}
		a.Charts = append(a.Charts, lc)
	}
	return a
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// refreshMs is how often a page asks for new samples: the sample
// interval, but at most twice a second.
func (c *Console) refreshMs() int64 {
	return max(c.cfg.SampleInterval, 500*time.Millisecond).Milliseconds()
}

// metricsJSON answers GET /console/metrics.json.
func (c *Console) metricsJSON(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, liveOf(c.metricCharts()))
}

// groupChartURL is the live endpoint of a group's lag chart.
func groupChartURL(group string) string {
	return Prefix + "groups/" + url.PathEscape(group) + "/chart.json"
}

// groupChartJSON answers GET /console/groups/{group}/chart.json. With
// per-user identities the user must still be allowed to describe the
// group (the history was sampled by the console's own identity).
func (c *Console) groupChartJSON(w http.ResponseWriter, r *http.Request) {
	group := r.PathValue("group")
	if c.perUser() {
		ctx, cancel := c.ctx(r)
		defer cancel()
		dg, err := c.admin(ctx).DescribeGroups(ctx, group)
		if err == nil {
			if g, ok := dg[group]; !ok {
				err = fmt.Errorf("no group %q", group)
			} else if g.Err != nil {
				err = g.Err
			}
		}
		if err != nil {
			writeJSON(w, http.StatusForbidden, map[string]string{"error": fmt.Sprintf("group %q: %v", group, err)})
			return
		}
	}
	writeJSON(w, http.StatusOK, liveOf([]chart{c.groupChart(group)}))
}

// groupChart is the lag chart of a group's page.
func (c *Console) groupChart(group string) chart {
	return chart{Title: "Lag over time (records): the total and the partitions lagging most", Series: c.lag.series(group)}
}
