package broker

// Quota enforcement, as Kafka's ClientQuotaManager and
// ClientRequestQuotaManager do it (quota.go has the quotas and who they
// apply to):
//
//   - Produce counts its request's size on the wire against
//     producer_byte_rate, Fetch its response's size against
//     consumer_byte_rate (a Fetch's MaxBytes is first capped at what the
//     quota allows in its window, as Kafka caps it), and every request the
//     time its handler took, as a percentage of one thread, against
//     request_percentage. The APIs that park (Fetch, JoinGroup, SyncGroup)
//     count no handler time: their waits are not work.
//   - A request that takes a rate over its bound gets a throttle time
//     (quota_rate.go); the largest of a request's throttle times goes in
//     its response's ThrottleMillis and the connection is not read again
//     until it has passed (the channel muting of KIP-219). A client
//     version from before KIP-219 (Produce v0–5, Fetch v0–7 and their
//     peers, kmsg's ThrottleResponse) gets its answer only when the
//     throttle time is over, as Kafka delays it.
//   - A Fetch whose response would take consumer_byte_rate over its
//     bound is answered empty, with its throttle time, and its bytes are
//     taken back out of the rate (Kafka's KafkaApis.handleFetchRequest and
//     getThrottledResponse): a sessionless or full fetch gets no partitions
//     and session id 0 (a session it opened is closed), an incremental one
//     its session id and no partitions, and the session forgets nothing
//     it would have told the client, so the next fetch reads the same
//     records.
//   - Requests of the brokers themselves (forwarded admin requests) are
//     exempt.

import (
	"context"
	"sync"
	"time"

	"github.com/gregor-broker/gregor/protocol"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// quotaSensor is one bucket's measured rate and its throttling record.
type quotaSensor struct {
	rate      *sampledRate
	throttled int64   // requests throttled
	throttle  float64 // seconds of throttle time given
	bound     float64 // the quota when last recorded
	last      time.Time
}

// quotaSensors holds the sensors of the buckets that have a quota.
type quotaSensors struct {
	mu sync.Mutex
	m  map[quotaBucket]*quotaSensor
}

// sensorIdle is how long a bucket without traffic keeps its sensor (Kafka
// expires quota sensors after an hour).
const sensorIdle = time.Hour

func (b *Broker) quotaSensor(bk quotaBucket) *quotaSensor {
	s := &b.qsensors
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[quotaBucket]*quotaSensor{}
	}
	qs := s.m[bk]
	if qs == nil {
		qs = &quotaSensor{rate: newSampledRate(b.cfg.Quota.WindowNum, b.cfg.Quota.WindowSize)}
		s.m[bk] = qs
	}
	return qs
}

// quotaRecord records v against the quota name of who and returns the
// throttle time; zero without a quota.
func (b *Broker) quotaRecord(name, user, client string, v float64, now time.Time) time.Duration {
	bound, bk, ok := b.quotas().resolve(name, user, client)
	if !ok {
		return 0
	}
	qs := b.quotaSensor(bk)
	d := qs.rate.record(v, now, bound)
	b.qsensors.mu.Lock()
	qs.bound, qs.last = bound, now
	if d > 0 {
		qs.throttled++
		qs.throttle += d.Seconds()
	}
	b.qsensors.mu.Unlock()
	return d
}

// quotaUnrecord takes v back out of the rate of who's quota name (Kafka's
// unrecordQuotaSensor), without a throttle.
func (b *Broker) quotaUnrecord(name, user, client string, v float64, now time.Time) {
	if _, bk, ok := b.quotas().resolve(name, user, client); ok {
		b.quotaSensor(bk).rate.record(-v, now, 0)
	}
}

// quotaUser is the user part of a request's quota entity: the principal's
// name without "User:" (ANONYMOUS for an unauthenticated connection).
func quotaUser(req *protocol.Request) string {
	p := principalOf(req)
	if len(p) > 5 && p[:5] == "User:" {
		return p[5:]
	}
	return p
}

func quotaClient(req *protocol.Request) string {
	if req.Header.ClientID == nil {
		return ""
	}
	return *req.Header.ClientID
}

// quotaExempt reports requests no quota applies to: the brokers' own.
func quotaExempt(req *protocol.Request) bool {
	if req.Conn == nil {
		return true
	}
	c := quotaClient(req)
	return c == interBrokerClientID || c == slaveForwardClientID
}

// parkingAPIs wait for others inside their handler; their time is not
// counted against request_percentage.
var parkingAPIs = map[int16]bool{
	int16(kmsg.Fetch):     true,
	int16(kmsg.JoinGroup): true,
	int16(kmsg.SyncGroup): true,
}

// quotaBeforeHandle caps a Fetch's MaxBytes at what consumer_byte_rate
// allows in one quota window (Kafka's getMaxValueInQuotaWindow).
func (b *Broker) quotaBeforeHandle(req *protocol.Request) {
	r, ok := req.Body.(*kmsg.FetchRequest)
	if !ok || quotaExempt(req) {
		return
	}
	bound, _, ok := b.quotas().resolve(quotaConsumerByteRate, quotaUser(req), quotaClient(req))
	if !ok {
		return
	}
	limit := bound * float64(b.cfg.Quota.WindowNum-1) * b.cfg.Quota.WindowSize.Seconds()
	if limit < float64(r.MaxBytes) {
		r.MaxBytes = int32(max(limit, 1))
	}
}

// quotaFetch records a Fetch's response against consumer_byte_rate before
// it is answered and reports whether it must be answered empty; when so,
// its bytes are taken back out of the rate (Kafka unrecords them: an empty
// answer sends none).
func (b *Broker) quotaFetch(req *protocol.Request, reply *fetchReply) bool {
	if quotaExempt(req) || len(b.quotas().all) == 0 {
		return false
	}
	user, client, now := quotaUser(req), quotaClient(req), time.Now()
	size := float64(reply.BodyLen() + 8)
	d := b.quotaRecord(quotaConsumerByteRate, user, client, size, now)
	reply.quotaDone, reply.throttle = true, d
	if d <= 0 {
		return false
	}
	b.quotaUnrecord(quotaConsumerByteRate, user, client, size, now)
	return true
}

// throttled empties a Fetch reply a quota throttles, as Kafka's fetch
// contexts' getThrottledResponse do: a session the fetch opened is closed
// again (the client starts over with a full fetch), an incremental fetch
// keeps its session and lists nothing.
func (c *fetchSessions) throttled(plan fetchPlan, reply *fetchReply) {
	reply.Release()
	reply.topics, reply.endpoints = nil, nil
	reply.ThrottleMillis = int32(min(reply.throttle.Milliseconds(), 1<<31-1))
	if plan.sess != nil && !plan.incremental {
		c.remove(plan.sessionID)
		reply.SessionID = 0
	}
}

// quotaAfterHandle records req against its quotas and throttles its
// connection; resp may be nil (Produce with acks=0). It returns once the
// answer may be sent: at once for a client that throttles itself, after
// the throttle time for an older one.
func (b *Broker) quotaAfterHandle(ctx context.Context, req *protocol.Request, resp kmsg.Response, took time.Duration) {
	if quotaExempt(req) || len(b.quotas().all) == 0 {
		return
	}
	user, client, now := quotaUser(req), quotaClient(req), time.Now()
	var d time.Duration
	switch req.Header.Key {
	case int16(kmsg.Produce):
		d = b.quotaRecord(quotaProducerByteRate, user, client, float64(req.Size), now)
	case int16(kmsg.Fetch):
		if fr, ok := resp.(*fetchReply); ok && fr.quotaDone {
			d = fr.throttle
		} else if ok {
			d = b.quotaRecord(quotaConsumerByteRate, user, client, float64(fr.BodyLen()+8), now)
		}
	}
	if !parkingAPIs[req.Header.Key] {
		// Kafka counts request time as a percentage of one thread: 1 s of
		// work per second is 100.
		d = max(d, b.quotaRecord(quotaRequestPercentage, user, client, took.Seconds()*100, now))
	}
	if d <= 0 {
		return
	}
	clientThrottles := true
	if tr, ok := resp.(kmsg.ThrottleResponse); ok {
		resp.SetVersion(req.Header.Version)
		if st, ok := resp.(kmsg.SetThrottleResponse); ok {
			st.SetThrottle(int32(min(d.Milliseconds(), 1<<31-1)))
		}
		_, clientThrottles = tr.Throttle()
	}
	req.Conn.Mute(d)
	if !clientThrottles {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
	}
}

// quotaCollector exports the sensors: the measured rate, the quota, and
// how often and how long each bucket was throttled.
type quotaCollector struct {
	b                           *Broker
	rate, limit, count, seconds *prometheus.Desc
}

func newQuotaCollector(b *Broker) *quotaCollector {
	labels := []string{"quota", "user", "client_id"}
	return &quotaCollector{
		b: b,
		rate: prometheus.NewDesc("gregor_quota_rate", "Measured rate of a client quota's bucket over the quota window: bytes per second, or percent of a thread for request_percentage.",
			labels, nil),
		limit: prometheus.NewDesc("gregor_quota_limit", "The quota in force for the bucket.", labels, nil),
		count: prometheus.NewDesc("gregor_quota_throttled_requests_total", "Requests given a throttle time by a client quota.", labels, nil),
		seconds: prometheus.NewDesc("gregor_quota_throttle_seconds_total", "Throttle time given by a client quota (the connection is muted that long).",
			labels, nil),
	}
}

func (c *quotaCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.rate
	ch <- c.limit
	ch <- c.count
	ch <- c.seconds
}

func (c *quotaCollector) Collect(ch chan<- prometheus.Metric) {
	s := &c.b.qsensors
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for bk, qs := range s.m {
		if now.Sub(qs.last) > sensorIdle {
			delete(s.m, bk)
			continue
		}
		l := []string{bk.key, bk.user, bk.client}
		ch <- prometheus.MustNewConstMetric(c.rate, prometheus.GaugeValue, qs.rate.rate(now), l...)
		ch <- prometheus.MustNewConstMetric(c.limit, prometheus.GaugeValue, qs.bound, l...)
		ch <- prometheus.MustNewConstMetric(c.count, prometheus.CounterValue, float64(qs.throttled), l...)
		ch <- prometheus.MustNewConstMetric(c.seconds, prometheus.CounterValue, qs.throttle, l...)
	}
}
