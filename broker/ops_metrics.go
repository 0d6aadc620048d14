package broker

// The series an operator's alerts need (deploy/prometheus/alerts.yml,
// docs/operations.md), beside the request and replication series of
// metrics.go and replica_metrics.go:
//
//	gregor_request_errors_total{api,code}          error codes in responses, one per
//	                                               partition, topic, group … that carries one
//	gregor_log_fsync_duration_seconds              histogram of commit-log segment fsyncs
//	gregor_disk_free_bytes / gregor_disk_size_bytes the data directory's filesystem
//	gregor_group_lag{group,topic,partition}        high watermark - committed offset, for
//	                                               the groups this broker coordinates and the
//	                                               partitions it holds (master only)
//	gregor_group_committed_offset{group,topic,partition} every committed offset of the
//	                                               groups coordinated here, wherever the partition
//	                                               is held: joined in PromQL with the masters'
//	                                               high watermarks it gives lag across broker groups
//	gregor_partition_high_watermark{topic,partition} records/s per partition is its rate
//
// The gauges are computed when scraped, from the store and the coordinator
// themselves, so they never drift from what Kafka clients are told.

import (
	"reflect"
	"strconv"
	"sync"
	"time"

	"github.com/gregor-broker/gregor/storage"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"golang.org/x/sys/unix"
)

type opsMetrics struct {
	reg        prometheus.Registerer
	collectors []prometheus.Collector

	fsync  prometheus.Histogram
	errors *prometheus.CounterVec
}

// newOpsMetrics makes the series and hooks the fsync histogram into cfg,
// which must happen before the store opens (recovery fsyncs too).
func newOpsMetrics(cfg *storage.Config) *opsMetrics {
	m := &opsMetrics{
		fsync: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "gregor", Name: "log_fsync_duration_seconds",
			Help:    "Time one fsync of a commit-log segment took (group commit in log.flush.mode=sync, the periodic flush in async).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16), // 100µs … 3.3s
		}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "gregor", Name: "request_errors_total",
			Help: "Kafka error codes in responses, by API and code name: one per partition, topic, group or resource that carries one (a request can count several).",
		}, []string{"api", "code"}),
	}
	prev := cfg.OnSync
	cfg.OnSync = func(took time.Duration) {
		if prev != nil {
			prev(took)
		}
		m.fsync.Observe(took.Seconds())
	}
	return m
}

// register exports the series with b's gauges; a second broker in one
// process (tests) may find them taken and then runs unexported.
func (m *opsMetrics) register(reg prometheus.Registerer, b *Broker) {
	if m == nil || reg == nil {
		return
	}
	m.reg = reg
	m.collectors = []prometheus.Collector{m.fsync, m.errors, &opsCollector{b: b}}
	for _, c := range m.collectors {
		_ = reg.Register(c)
	}
}

func (m *opsMetrics) unregister() {
	if m == nil || m.reg == nil {
		return
	}
	for _, c := range m.collectors {
		m.reg.Unregister(c)
	}
}

// countErrors counts the non-zero error codes in resp. Produce, Fetch and
// Metadata, the hot or large ones, are walked by hand; every other response
// by reflection (every kmsg field holding a Kafka error code is an int16
// named ErrorCode), with each type's walk worked out once.
func (m *opsMetrics) countErrors(key int16, resp kmsg.Response) {
	if m == nil || resp == nil {
		return
	}
	count := func(code int16) {
		if code != 0 {
			m.errors.WithLabelValues(kmsg.NameForKey(key), errorName(code)).Inc()
		}
	}
	switch r := resp.(type) {
	case *kmsg.ProduceResponse:
		for i := range r.Topics {
			for j := range r.Topics[i].Partitions {
				count(r.Topics[i].Partitions[j].ErrorCode)
			}
		}
	case *fetchReply: // what handleFetch answers (fetch_encode.go)
		count(r.ErrorCode)
		for i := range r.topics {
			for j := range r.topics[i].parts {
				count(r.topics[i].parts[j].errCode)
			}
		}
	case *kmsg.MetadataResponse: // large in big clusters, and frequent
		for i := range r.Topics {
			count(r.Topics[i].ErrorCode)
			for j := range r.Topics[i].Partitions {
				count(r.Topics[i].Partitions[j].ErrorCode)
			}
		}
	case *kmsg.FetchResponse:
		count(r.ErrorCode)
		for i := range r.Topics {
			for j := range r.Topics[i].Partitions {
				count(r.Topics[i].Partitions[j].ErrorCode)
			}
		}
	default:
		v := reflect.ValueOf(resp)
		if v.Kind() == reflect.Pointer && !v.IsNil() {
			walkErrorCodes(v.Elem(), count)
		}
	}
}

func errorName(code int16) string {
	if e := kerr.ErrorForCode(code); e != nil {
		if ke, ok := e.(*kerr.Error); ok {
			return ke.Message
		}
	}
	return strconv.Itoa(int(code))
}

// errorWalk is where a struct type holds error codes: the index of its
// ErrorCode field (-1 when none) and of the fields worth descending into.
type errorWalk struct {
	code  int
	inner []int
}

var errorWalks sync.Map // reflect.Type → *errorWalk

func walkFor(t reflect.Type) *errorWalk {
	if w, ok := errorWalks.Load(t); ok {
		return w.(*errorWalk)
	}
	w := &errorWalk{code: -1}
	// Stored before the fields are examined so a type that contains
	// itself ends the recursion.
	errorWalks.Store(t, w)
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		if f.Name == "ErrorCode" && f.Type.Kind() == reflect.Int16 {
			w.code = i
			continue
		}
		if holdsStruct(f.Type) {
			w.inner = append(w.inner, i)
		}
	}
	return w
}

func holdsStruct(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Struct:
		return true
	case reflect.Slice, reflect.Pointer:
		return holdsStruct(t.Elem())
	}
	return false
}

func walkErrorCodes(v reflect.Value, count func(int16)) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			walkErrorCodes(v.Elem(), count)
		}
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			walkErrorCodes(v.Index(i), count)
		}
	case reflect.Struct:
		w := walkFor(v.Type())
		if w.code >= 0 {
			count(int16(v.Field(w.code).Int()))
		}
		for _, i := range w.inner {
			walkErrorCodes(v.Field(i), count)
		}
	}
}

var (
	diskFreeDesc = prometheus.NewDesc("gregor_disk_free_bytes",
		"Bytes free for the broker on the filesystem of its data directory.", nil, nil)
	diskSizeDesc = prometheus.NewDesc("gregor_disk_size_bytes",
		"Size of the filesystem holding the data directory.", nil, nil)
	groupLagDesc = prometheus.NewDesc("gregor_group_lag",
		"Records a group has not committed: the partition's high watermark minus the group's committed offset (groups coordinated here, partitions held here).",
		[]string{"group", "topic", "partition"}, nil)
	committedDesc = prometheus.NewDesc("gregor_group_committed_offset",
		"A group's committed offset, for every partition of the groups coordinated here (held here or by another broker group).",
		[]string{"group", "topic", "partition"}, nil)
	hwmDesc = prometheus.NewDesc("gregor_partition_high_watermark",
		"The partition's high watermark (the offset the next record visible to consumers gets).",
		[]string{"topic", "partition"}, nil)
)

// opsCollector computes the disk, lag and offset gauges at scrape time.
type opsCollector struct{ b *Broker }

func (c *opsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- diskFreeDesc
	ch <- diskSizeDesc
	ch <- groupLagDesc
	ch <- committedDesc
	ch <- hwmDesc
}

func (c *opsCollector) Collect(ch chan<- prometheus.Metric) {
	b := c.b
	var st unix.Statfs_t
	if err := unix.Statfs(b.cfg.Store.Dir, &st); err == nil {
		ch <- prometheus.MustNewConstMetric(diskFreeDesc, prometheus.GaugeValue, float64(st.Bavail)*float64(st.Bsize))
		ch <- prometheus.MustNewConstMetric(diskSizeDesc, prometheus.GaugeValue, float64(st.Blocks)*float64(st.Bsize))
	}
	hwm := map[string]map[int32]int64{}
	for _, t := range b.topics.List() {
		if t.Internal {
			continue
		}
		for p := int32(0); p < t.Partitions; p++ {
			sp := b.store.Partition(t.ID, p)
			if sp == nil || b.notHere(t.Name, [16]byte{}, p) {
				continue
			}
			if hwm[t.Name] == nil {
				hwm[t.Name] = map[int32]int64{}
			}
			h := sp.HighWatermark()
			hwm[t.Name][p] = h
			ch <- prometheus.MustNewConstMetric(hwmDesc, prometheus.GaugeValue, float64(h), t.Name, strconv.Itoa(int(p)))
		}
	}
	g := b.localGroups()
	if g == nil {
		return
	}
	for _, lg := range g.ListGroups(kmsg.NewPtrListGroupsRequest()).Groups {
		for _, t := range g.FetchOffsets(lg.Group, nil, b.groupTopics) {
			for _, p := range t.Partitions {
				if p.Offset < 0 {
					continue // no commit
				}
				part := strconv.Itoa(int(p.Partition))
				ch <- prometheus.MustNewConstMetric(committedDesc, prometheus.GaugeValue, float64(p.Offset), lg.Group, t.Topic, part)
				if h, ok := hwm[t.Topic][p.Partition]; ok { // else held by another broker group
					ch <- prometheus.MustNewConstMetric(groupLagDesc, prometheus.GaugeValue, float64(max(h-p.Offset, 0)), lg.Group, t.Topic, part)
				}
			}
		}
	}
}
