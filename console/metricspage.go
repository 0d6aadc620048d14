package console

import "net/http"

func (c *Console) metricsPage(w http.ResponseWriter, r *http.Request) {
	d := struct {
		Charts   []chart
		Interval string
		History  int
		Enabled  bool
		Refresh  string // the live endpoint (live.go)
		Every    int64  // and how often to ask it, ms
	}{Interval: c.cfg.SampleInterval.String(), History: c.cfg.History, Enabled: c.cfg.Gatherer != nil}
	d.Charts = c.metricCharts()
	d.Refresh, d.Every = Prefix+"metrics.json", c.refreshMs()
	c.render(w, r, "metrics", c.newPage(r, "Broker metrics", "metrics", d), false)
}

// metricCharts are the metrics page's charts.
func (c *Console) metricCharts() []chart {
	return []chart{
		{Title: "Network throughput", Unit: " B/s", Series: c.met.series(mBytesIn, mBytesOut)},
		{Title: "Records appended", Unit: "/s", Series: c.met.series(mRecords)},
		{Title: "Requests and error codes", Unit: "/s", Series: c.met.series(mRequests, mErrors)},
		{Title: "Produce latency", Unit: " ms", Series: c.met.series("Produce"+latencyAvg, "Produce"+latencyP99)},
		{Title: "Fetch latency (long-poll waits included)", Unit: " ms", Series: c.met.series("Fetch"+latencyAvg, "Fetch"+latencyP99)},
		{Title: "Commit-log fsync latency", Unit: " ms", Series: c.met.series(mFsync+latencyAvg, mFsync+latencyP99)},
	}
}
