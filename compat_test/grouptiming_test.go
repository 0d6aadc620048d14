package compat

// Group generations formed as Kafka forms them (issue 18 item 5): a new
// group's first generation completes from the broker's timer, even with
// group.initial.rebalance.delay.ms=0, and consumers starting together and
// closing during a rebalance. grouprebalance_test.go has the protocol-level
// answers.

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ckgMember is one confluent-kafka-go (librdkafka) group member polling in
// its own goroutine, committing what it read synchronously.
type ckgMember struct {
	name string
	c    *kafka.Consumer
	stop chan struct{}
	done chan struct{}
	once sync.Once

	mu     sync.Mutex
	got    []rec
	errs   []string
	closed time.Duration // how long Close took
}

func startCkgMember(t *testing.T, tg *target, group, topic, name string, static bool) *ckgMember {
	t.Helper()
	cfg := &kafka.ConfigMap{"bootstrap.servers": tg.addr, "client.id": "compat-ckg-" + name, "group.id": group,
		"auto.offset.reset": "earliest", "enable.auto.commit": false, "session.timeout.ms": 10000,
		"heartbeat.interval.ms": 300, "fetch.wait.max.ms": 100, "max.poll.interval.ms": 20000}
	if static {
		cfg.SetKey("group.instance.id", name)
	}
	c, err := kafka.NewConsumer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Subscribe(topic, nil); err != nil {
		t.Fatal(err)
	}
	m := &ckgMember{name: name, c: c, stop: make(chan struct{}), done: make(chan struct{})}
	go m.run()
	t.Cleanup(func() { m.closeWithin(30 * time.Second) })
	return m
}

func (m *ckgMember) run() {
	defer close(m.done)
	for {
		select {
		case <-m.stop:
			start := time.Now()
			m.c.Close()
			m.mu.Lock()
			m.closed = time.Since(start)
			m.mu.Unlock()
			return
		default:
		}
		ev := m.c.Poll(100)
		switch e := ev.(type) {
		case *kafka.Message:
			m.mu.Lock()
			m.got = append(m.got, rec{P: e.TopicPartition.Partition, O: int64(e.TopicPartition.Offset), K: string(e.Key), V: string(e.Value), H: ckgHeaders(e)})
			m.mu.Unlock()
			if _, err := m.c.CommitMessage(e); err != nil {
				m.mu.Lock()
				m.errs = append(m.errs, "commit: "+err.Error())
				m.mu.Unlock()
			}
		case kafka.Error:
			m.mu.Lock()
			m.errs = append(m.errs, e.Error())
			m.mu.Unlock()
		}
	}
}

func ckgHeaders(e *kafka.Message) map[string]string {
	h := map[string]string{}
	for _, x := range e.Headers {
		h[x.Key] = string(x.Value)
	}
	return h
}

// closeWithin stops m and reports whether Close returned within d.
func (m *ckgMember) closeWithin(d time.Duration) bool {
	m.once.Do(func() { close(m.stop) })
	select {
	case <-m.done:
		return true
	case <-time.After(d):
		return false
	}
}

func (m *ckgMember) records() []rec {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]rec(nil), m.got...)
}

func TestGroupStartCloseTogether(t *testing.T) {
	// A new group's first generation completes from the broker's timer
	// (group.initial.rebalance.delay.ms, here 0) with the members that
	// joined, never waiting for a member id handed out with
	// MEMBER_ID_REQUIRED to a consumer that then went away.
	for _, static := range []bool{true, false} {
		kind := map[bool]string{true: "static", false: "dynamic"}[static]
		matrixGo(t, "confluent-kafka-go", "first generation not held by a consumer gone after its first JoinGroup ("+kind+")", apisGroup, func(t *testing.T, tg *target) {
			topic := newTopic(t, tg, "ckg-first", 2)
			group := uniq("g-ckg-first")
			want := producePartitioned(t, tg, topic, 0, 40, 2)
			goneAfterFirstJoin(t, tg, group)
			m := startCkgMember(t, tg, group, topic, "ckg-first", static)
			eventuallyWithin(t, 20*time.Second, "the consumer to read all 40 records", func() bool { return len(m.records()) >= len(want) })
			checkConsumed(t, m.records(), want)
			if !m.closeWithin(20 * time.Second) {
				t.Errorf("Close did not return in 20s")
			}
		})
		matrixGo(t, "franz-go", "first generation not held by a consumer gone after its first JoinGroup ("+kind+")", apisGroup, func(t *testing.T, tg *target) {
			topic := newTopic(t, tg, "franz-first", 2)
			group := uniq("g-franz-first")
			want := producePartitioned(t, tg, topic, 0, 40, 2)
			goneAfterFirstJoin(t, tg, group)
			opts := []kgo.Opt{kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
				kgo.SessionTimeout(10 * time.Second), kgo.HeartbeatInterval(300 * time.Millisecond), kgo.FetchMaxWait(100 * time.Millisecond)}
			if static {
				opts = append(opts, kgo.InstanceID("franz-first"))
			}
			cl := newClient(t, tg, opts...)
			var got []rec
			ctx := ctxT(t, 20*time.Second)
			for len(got) < len(want) {
				fs := cl.PollFetches(ctx)
				if ctx.Err() != nil {
					t.Fatalf("read %d of %d records in 20s", len(got), len(want))
				}
				fs.EachRecord(func(r *kgo.Record) { got = append(got, toRec(r)) })
			}
			checkConsumed(t, got, want)
		})
	}

	const togetherScenario = "static and dynamic consumers starting together, closing during a rebalance"
	matrixGo(t, "confluent-kafka-go", togetherScenario, apisGroup, func(t *testing.T, tg *target) {
		topic := newTopic(t, tg, "ckg-together", 6)
		group := uniq("g-ckg-together")
		want := producePartitioned(t, tg, topic, 0, 120, 6)
		var ms []*ckgMember
		for i := 0; i < 4; i++ {
			ms = append(ms, startCkgMember(t, tg, group, topic, fmt.Sprintf("ckg%d", i), i%2 == 0))
		}
		defer func() {
			// What each client saw, for a failure's diagnosis.
			for _, m := range ms {
				m.mu.Lock()
				if len(m.errs) > 0 || t.Failed() {
					t.Logf("%s: %d records, errors %v", m.name, len(m.got), m.errs)
				}
				m.mu.Unlock()
			}
		}()
		all := func(ms []*ckgMember) []rec {
			var out []rec
			for _, m := range ms {
				out = append(out, m.records()...)
			}
			return out
		}
		// Records are counted by position, content checked: while the group
		// forms, a partition can move after its first owner read records
		// it had not committed yet, and the next owner reads them again
		// (at least once; seen on Kafka: "partition 4: offset 0 consumed
		// after 19" across two members).
		eventuallyWithin(t, 30*time.Second, "the 4 members to read all 120 records", func() bool { return len(unread(all(ms), want)) == 0 })
		checkAllProduced(t, all(ms), want)
		// A fifth member starts a rebalance; two others close while it is
		// pending, a static and a dynamic one.
		start := time.Now()
		ms = append(ms, startCkgMember(t, tg, group, topic, "ckg4", false))
		time.Sleep(50 * time.Millisecond)
		var cw sync.WaitGroup
		for _, m := range ms[:2] {
			cw.Add(1)
			go func(m *ckgMember) {
				defer cw.Done()
				if !m.closeWithin(20 * time.Second) {
					t.Errorf("%s: Close during the rebalance did not return in 20s", m.name)
				}
			}(m)
		}
		cw.Wait()
		more := producePartitioned(t, tg, topic, 120, 60, 6)
		rest := ms[2:]
		// Counted by position, not by a count taken after producing: the
		// members left may read some of the new records before any count
		// is taken (that race once failed this on Kafka and on gregor).
		missing := func() []rec { return unread(all(rest), more) }
		// A closed static member sends no LeaveGroup: its partitions move
		// after its session timeout (10 s) and a rebalance that may wait
		// up to the rebalance timeout (max.poll.interval.ms, 20 s) for the
		// others to rejoin, on Kafka as on gregor; 30 s was that sum with
		// no room for a loaded machine.
		deadline := time.Now().Add(45 * time.Second)
		for len(missing()) > 0 && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		if m := missing(); len(m) > 0 {
			t.Fatalf("after 45s the remaining 3 members have not read %d of the next 60 records, first %v", len(m), m[0])
		}
		t.Logf("%s: rebalance with two closes done after %v", tg.name, time.Since(start).Round(time.Millisecond))
		for _, m := range rest {
			if !m.closeWithin(20 * time.Second) {
				t.Errorf("%s: Close did not return in 20s", m.name)
			}
		}
		checkAllProduced(t, all(ms), append(want, more...))
		checkCommitted(t, tg, group, topic)
	})
}

// unread lists the records of want that got does not hold, by partition and
// offset with the same key, value and headers.
func unread(got, want []rec) []rec {
	have := map[[2]int64]rec{}
	for _, r := range got {
		have[[2]int64{int64(r.P), r.O}] = r
	}
	var out []rec
	for _, w := range want {
		if g, ok := have[[2]int64{int64(w.P), w.O}]; !ok || g.K != w.K || g.V != w.V || !sameHeaders(g.H, w.H) {
			out = append(out, w)
		}
	}
	return out
}

// checkAllProduced fails for a consumed record that is not the one produced
// at its partition and offset. Unlike checkConsumed it allows a record to be
// read twice, as a group that rebalances delivers at least once.
func checkAllProduced(t *testing.T, got, want []rec) {
	t.Helper()
	byPos := map[[2]int64]rec{}
	for _, w := range want {
		byPos[[2]int64{int64(w.P), w.O}] = w
	}
	for _, g := range got {
		if w, ok := byPos[[2]int64{int64(g.P), g.O}]; !ok || g.K != w.K || g.V != w.V || !sameHeaders(g.H, w.H) {
			t.Errorf("consumed %v, which was never produced there", g)
		}
	}
}

// eventuallyWithin is eventually with its own limit.
func eventuallyWithin(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// goneAfterFirstJoin sends one JoinGroup without a member id, as a
// consumer does first, and never follows it up: the broker holds the member
// id it handed out (MEMBER_ID_REQUIRED) for the session timeout, 30s.
func goneAfterFirstJoin(t *testing.T, tg *target, group string) {
	t.Helper()
	x := newRawMember(t, tg, group, "")
	x.session = 30000
	resp, err := x.join(ctxT(t, 20*time.Second))
	if err != nil || resp.ErrorCode != kerr.MemberIDRequired.Code {
		t.Fatalf("first JoinGroup: %v %+v", err, resp)
	}
}
