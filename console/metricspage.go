package console

import "net/http"

func (c *Console) metricsPage(w http.ResponseWriter, r *http.Request) {
	d := struct {
		Charts   []chart
		Interval string
		History  int
		Enabled  bool
	}{Interval: c.cfg.SampleInterval.String(), History: c.cfg.History, Enabled: c.cfg.Gatherer != nil}
	d.Charts = []chart{
		{Title: "Network throughput", Unit: " B/s", Series: c.met.series(mBytesIn, mBytesOut)},
		{Title: "Records appended", Unit: "/s", Series: c.met.series(mRecords)},
		{Title: "Requests and error codes", Unit: "/s", Series: c.met.series(mRequests, mErrors)},
		{Title: "Produce latency", Unit: " ms", Series: c.met.series("Produce"+latencyAvg, "Produce"+latencyP99)},
		{Title: "Fetch latency (long-poll waits included)", Unit: " ms", Series: c.met.series("Fetch"+latencyAvg, "Fetch"+latencyP99)},
		{Title: "Commit-log fsync latency", Unit: " ms", Series: c.met.series(mFsync+latencyAvg, mFsync+latencyP99)},
	}
	c.render(w, r, "metrics", c.newPage(r, "Broker metrics", "metrics", d), false)
}
