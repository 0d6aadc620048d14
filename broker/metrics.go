package broker

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// metrics are the broker's Prometheus series. With a nil Registerer they
// are still counted (cheap) but exported nowhere.
type metrics struct {
	reg        prometheus.Registerer
	collectors []prometheus.Collector

	requests *prometheus.CounterVec   // by api and outcome
	sasl     *prometheus.CounterVec   // SASL authentications by mechanism and result
	latency  *prometheus.HistogramVec // by api
	in, out  prometheus.Counter

	// Per-API children resolved once, so the hot path does no map lookup
	// with label strings.
	reqOK, reqErr map[int16]prometheus.Counter
	lat           map[int16]prometheus.Observer
}

func newMetrics(reg prometheus.Registerer, b *Broker) *metrics {
	m := &metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "gregor", Name: "requests_total",
			Help: "Kafka requests handled, by API and by whether the connection was closed for it.",
		}, []string{"api", "result"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "gregor", Name: "request_duration_seconds",
			Help:    "Time to handle a Kafka request (long-poll waits included), by API.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
		}, []string{"api"}),
		in: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "gregor", Name: "network_bytes_in_total", Help: "Request bytes read from clients.",
		}),
		out: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "gregor", Name: "network_bytes_out_total", Help: "Response bytes written to clients.",
		}),
		sasl: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "gregor", Name: "sasl_authentications_total",
			Help: "SASL authentications (re-authentications included), by mechanism and result (ok, failed).",
		}, []string{"mechanism", "result"}),
		reqOK:  map[int16]prometheus.Counter{},
		reqErr: map[int16]prometheus.Counter{},
		lat:    map[int16]prometheus.Observer{},
	}
	for key := range joinAPIs(apis, interBrokerAPIs) {
		name := kmsg.NameForKey(key)
		m.reqOK[key] = m.requests.WithLabelValues(name, "ok")
		m.reqErr[key] = m.requests.WithLabelValues(name, "error")
		m.lat[key] = m.latency.WithLabelValues(name)
	}
	partitions := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "gregor", Name: "partitions", Help: "Partitions of all topics this broker hosts.",
	}, func() float64 {
		n := 0
		for _, t := range b.topics.List() {
			n += int(t.Partitions)
		}
		return float64(n)
	})
	logSize := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "gregor", Name: "log_size_bytes", Help: "Bytes of commit log on disk.",
	}, func() float64 { return float64(b.store.DiskUsage()) })
	m.collectors = []prometheus.Collector{m.requests, m.latency, m.in, m.out, partitions, logSize, newQuotaCollector(b)}
	m.collectors = append(m.collectors, b.connl.collectors()...)
	m.collectors = append(m.collectors, m.sasl)
	if reg != nil {
		for _, c := range m.collectors {
			// A second broker in one process (tests) may find the
			// series taken; it then runs unexported.
			_ = reg.Register(c)
		}
	}
	return m
}

func (m *metrics) observe(key int16, d time.Duration, err error) {
	if err != nil {
		m.reqErr[key].Inc()
	} else {
		m.reqOK[key].Inc()
	}
	m.lat[key].Observe(d.Seconds())
}

func (m *metrics) bytesIn(n int)  { m.in.Add(float64(n)) }
func (m *metrics) bytesOut(n int) { m.out.Add(float64(n)) }

// unregister removes the series so a broker restarted in the same process
// can register them again.
func (m *metrics) unregister() {
	if m.reg == nil {
		return
	}
	for _, c := range m.collectors {
		m.reg.Unregister(c)
	}
}
