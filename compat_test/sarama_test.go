package compat

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

func saramaConfig() *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.ClientID = "compat-sarama"
	cfg.Version = sarama.V4_1_0_0
	cfg.Metadata.Retry.Backoff = 100 * time.Millisecond
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	cfg.Producer.Retry.Backoff = 100 * time.Millisecond
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Group.Session.Timeout = 20 * time.Second
	cfg.Consumer.Group.Heartbeat.Interval = 500 * time.Millisecond
	cfg.Consumer.Group.Rebalance.Timeout = 30 * time.Second
	cfg.Consumer.MaxWaitTime = 200 * time.Millisecond
	cfg.Consumer.Offsets.AutoCommit.Interval = 100 * time.Millisecond
	return cfg
}

func saramaMsgs(topic string, n int) []*sarama.ProducerMessage {
	out := make([]*sarama.ProducerMessage, n)
	for i := range out {
		out[i] = &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(fmt.Sprintf("k-%d", i%7)),
			Value: sarama.StringEncoder(fmt.Sprintf("sarama-%d", i)),
			Headers: []sarama.RecordHeader{{Key: []byte("idx"), Value: []byte(strconv.Itoa(i))},
				{Key: []byte("client"), Value: []byte("sarama")}}}
	}
	return out
}

func saramaAcks(ms []*sarama.ProducerMessage) []rec {
	out := make([]rec, len(ms))
	for i, m := range ms {
		k, _ := m.Key.Encode()
		v, _ := m.Value.Encode()
		out[i] = rec{P: m.Partition, O: m.Offset, K: string(k), V: string(v)}
	}
	return out
}

// TestSarama drives IBM/sarama in process.
func TestSarama(t *testing.T) {
	matrixGo(t, "sarama", "SyncProducer idempotent (snappy)", apisIdem, func(t *testing.T, tg *target) {
		topic := newTopic(t, tg, "sarama-sync", 3)
		cfg := saramaConfig()
		cfg.Producer.Idempotent = true
		cfg.Net.MaxOpenRequests = 1
		cfg.Producer.Compression = sarama.CompressionSnappy
		p, err := sarama.NewSyncProducer([]string{tg.addr}, cfg)
		if err != nil {
			t.Fatal(err)
		}
		ms := saramaMsgs(topic, 120)
		if err := p.SendMessages(ms[:60]); err != nil {
			t.Fatalf("send: %v", err)
		}
		for _, m := range ms[60:] {
			if _, _, err := p.SendMessage(m); err != nil {
				t.Fatalf("send: %v", err)
			}
		}
		p.Close()
		checkProduced(t, tg, topic, "sarama", 120, saramaAcks(ms))
		checkBatches(t, tg, topic, 3, codecSnappy, true)
	})

	matrixGo(t, "sarama", "AsyncProducer (lz4)", apisData, func(t *testing.T, tg *target) {
		topic := newTopic(t, tg, "sarama-async", 3)
		cfg := saramaConfig()
		cfg.Producer.Compression = sarama.CompressionLZ4
		cfg.Producer.Flush.Frequency = 5 * time.Millisecond
		p, err := sarama.NewAsyncProducer([]string{tg.addr}, cfg)
		if err != nil {
			t.Fatal(err)
		}
		ms := saramaMsgs(topic, 150)
		go func() {
			for _, m := range ms {
				p.Input() <- m
			}
		}()
		timeout := time.After(30 * time.Second)
		for ok := 0; ok < len(ms); {
			select {
			case <-p.Successes():
				ok++
			case e := <-p.Errors():
				t.Fatalf("async produce: %v", e.Err)
			case <-timeout:
				t.Fatalf("only %d of %d acknowledged", ok, len(ms))
			}
		}
		p.Close()
		checkProduced(t, tg, topic, "sarama", 150, saramaAcks(ms))
		checkBatches(t, tg, topic, 3, codecLz4, false) // not idempotent
	})

	matrixGo(t, "sarama", "ConsumerGroup two members", apisGroup, func(t *testing.T, tg *target) {
		const parts = 4
		topic := newTopic(t, tg, "sarama-grp", parts)
		group := uniq("g-sarama")
		a := startSaramaMember(t, tg, group, topic)
		b := startSaramaMember(t, tg, group, topic)
		deadline := time.Now().Add(30 * time.Second)
		for {
			ca, cb := a.claims(), b.claims()
			if len(ca) > 0 && len(cb) > 0 && len(ca)+len(cb) == parts && disjoint(ca, cb) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("members never split the partitions: %v / %v", ca, cb)
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Logf("split: A %v, B %v", a.claims(), b.claims())
		want := producePartitioned(t, tg, topic, 0, 200, parts)
		deadline = time.Now().Add(45 * time.Second)
		for a.count()+b.count() < 200 {
			if time.Now().After(deadline) {
				t.Fatalf("members read %d+%d of 200; claims now A %v, B %v", a.count(), b.count(), a.claims(), b.claims())
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Logf("read: A %d, B %d", a.count(), b.count())
		a.stop()
		b.stop()
		if a.count() == 0 || b.count() == 0 {
			t.Errorf("member A read %d, B read %d; both should have read", a.count(), b.count())
		}
		checkConsumed(t, append(a.records(), b.records()...), want)
		checkCommitted(t, tg, group, topic)
	})

	matrixGo(t, "sarama", "offsets resumed after consumer restart", apisGroup, func(t *testing.T, tg *target) {
		topic := newTopic(t, tg, "sarama-resume", 2)
		group := uniq("g-sarama-r")
		first := producePartitioned(t, tg, topic, 0, 50, 2)
		m := startSaramaMember(t, tg, group, topic)
		waitCount(t, "the first consumer to read 50", m.count, 50)
		m.stop()
		checkConsumed(t, m.records(), first)
		second := producePartitioned(t, tg, topic, 50, 50, 2)
		m2 := startSaramaMember(t, tg, group, topic)
		waitCount(t, "the restarted consumer to read 50", m2.count, 50)
		time.Sleep(300 * time.Millisecond) // let a re-read of old records show
		m2.stop()
		checkConsumed(t, m2.records(), second)
		checkCommitted(t, tg, group, topic)
	})
}

func disjoint(a, b []int32) bool {
	seen := map[int32]bool{}
	for _, p := range a {
		seen[p] = true
	}
	for _, p := range b {
		if seen[p] {
			return false
		}
	}
	return true
}

func waitCount(t *testing.T, what string, count func() int, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for count() < n {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s (have %d)", what, count())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// saramaMember is one sarama ConsumerGroup member recording what it reads.
type saramaMember struct {
	t      *testing.T
	topic  string
	cg     sarama.ConsumerGroup
	cancel context.CancelFunc
	done   chan struct{}

	mu    sync.Mutex
	owned []int32
	got   []rec
}

func startSaramaMember(t *testing.T, tg *target, group, topic string) *saramaMember {
	t.Helper()
	cg, err := sarama.NewConsumerGroup([]string{tg.addr}, group, saramaConfig())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &saramaMember{t: t, topic: topic, cg: cg, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(m.done)
		for ctx.Err() == nil {
			if err := cg.Consume(ctx, []string{topic}, m); err != nil && ctx.Err() == nil {
				t.Errorf("sarama consume: %v", err)
				return
			}
		}
	}()
	t.Cleanup(m.stop)
	return m
}

func (m *saramaMember) stop() {
	m.cancel()
	<-m.done
	m.cg.Close()
}

func (m *saramaMember) Setup(s sarama.ConsumerGroupSession) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.owned = append([]int32(nil), s.Claims()[m.topic]...)
	return nil
}

func (m *saramaMember) Cleanup(s sarama.ConsumerGroupSession) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.owned = nil
	return nil
}

func (m *saramaMember) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for msg := range c.Messages() {
		h := map[string]string{}
		for _, x := range msg.Headers {
			h[string(x.Key)] = string(x.Value)
		}
		m.mu.Lock()
		m.got = append(m.got, rec{P: msg.Partition, O: msg.Offset, K: string(msg.Key), V: string(msg.Value), H: h})
		m.mu.Unlock()
		s.MarkMessage(msg, "")
		s.Commit()
	}
	return nil
}

func (m *saramaMember) claims() []int32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]int32(nil), m.owned...)
}

func (m *saramaMember) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.got)
}

func (m *saramaMember) records() []rec {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]rec(nil), m.got...)
}
