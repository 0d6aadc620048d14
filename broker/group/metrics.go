package group

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the coordinator's Prometheus series. Counters are counted
// even without a Registerer (cheap); the gauges are computed when scraped,
// from the groups themselves, so they can never drift from the truth.
type metrics struct {
	reg        prometheus.Registerer
	collectors []prometheus.Collector

	rebalances     prometheus.Counter
	offsetCommits  prometheus.Counter
	offsetsExpired prometheus.Counter
	offsetsRemoved prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, c *Coordinator) *metrics {
	m := &metrics{
		reg: reg,
		rebalances: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "gregor", Subsystem: "group", Name: "rebalances_total",
			Help: "Rebalances completed: each new generation of a group with members (Kafka's classic group completed rebalances).",
		}),
		offsetCommits: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "gregor", Subsystem: "group", Name: "offset_commits_total",
			Help: "Partition offsets committed (one per partition of an accepted OffsetCommit).",
		}),
		offsetsExpired: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "gregor", Subsystem: "group", Name: "offsets_expired_total",
			Help: "Committed offsets removed by offsets.retention.minutes.",
		}),
		offsetsRemoved: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "gregor", Subsystem: "group", Name: "offsets_removed_total",
			Help: "Committed offsets removed because their topic was deleted.",
		}),
	}
	m.collectors = []prometheus.Collector{m.rebalances, m.offsetCommits, m.offsetsExpired, m.offsetsRemoved, &groupCollector{c: c}}
	if reg != nil {
		for _, col := range m.collectors {
			// A second coordinator in one process (tests) may find the
			// series taken; it then runs unexported, as the broker's do.
			_ = reg.Register(col)
		}
	}
	return m
}

// unregister removes the series so a coordinator started again in the same
// process can register them.
func (m *metrics) unregister() {
	if m == nil || m.reg == nil {
		return
	}
	for _, col := range m.collectors {
		m.reg.Unregister(col)
	}
}

var (
	groupsDesc = prometheus.NewDesc("gregor_group_groups",
		"Groups this coordinator holds, by state (Kafka's classic group count by state).", []string{"state"}, nil)
	membersDesc = prometheus.NewDesc("gregor_group_members",
		"Members of all groups this coordinator holds.", nil, nil)
	offsetsDesc = prometheus.NewDesc("gregor_group_offsets",
		"Committed offsets (group, topic, partition) this coordinator holds.", nil, nil)
)

// groupCollector reports the gauges by visiting every group at scrape time.
type groupCollector struct{ c *Coordinator }

func (gc *groupCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- groupsDesc
	ch <- membersDesc
	ch <- offsetsDesc
}

func (gc *groupCollector) Collect(ch chan<- prometheus.Metric) {
	byState := map[state]int{}
	members, offsets := 0, 0
	for _, g := range gc.c.snapshot() {
		g.mu.Lock()
		if g.state != stateDead {
			byState[g.state]++
			members += len(g.members)
			for _, ps := range g.offsets {
				offsets += len(ps)
			}
		}
		g.mu.Unlock()
	}
	// Every state is reported, zeros included, so a dashboard's series
	// do not come and go.
	for _, s := range []state{stateEmpty, statePreparingRebalance, stateCompletingRebalance, stateStable} {
		ch <- prometheus.MustNewConstMetric(groupsDesc, prometheus.GaugeValue, float64(byState[s]), s.String())
	}
	ch <- prometheus.MustNewConstMetric(membersDesc, prometheus.GaugeValue, float64(members))
	ch <- prometheus.MustNewConstMetric(offsetsDesc, prometheus.GaugeValue, float64(offsets))
}
