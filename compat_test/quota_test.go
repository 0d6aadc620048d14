package compat

// Client quotas (KIP-13/KIP-55/KIP-219), the same scenarios against the
// Kafka reference and gregor:
//   - kafka-configs --entity-type clients|users --alter --add-config sets
//     producer_byte_rate, consumer_byte_rate and request_percentage, and
//     --describe shows them;
//   - a franz-go producer limited to producer_byte_rate=N sustains about N
//     once the quota window has filled, and sees throttle times;
//   - a raw client that ignores ThrottleMillis is held to about N as well:
//     the broker stops reading its connection for the throttle time
//     (channel muting), which is what enforces a quota on a client that
//     does not throttle itself.
// The rates are asserted within a generous band (0.5–1.5 × N over four
// seconds of steady state), never to a time. Every target runs with
// quota.window.num=2: with Kafka's default of 11 one-second windows a
// client that saturates its quota moves in bursts of ten seconds' worth
// every eleven seconds, which four seconds cannot average.

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var apisQuota = []kmsg.Key{kmsg.DescribeClientQuotas, kmsg.AlterClientQuotas}

// quotaRate is the producer_byte_rate of the rate scenarios: the ten-window
// burst a fresh client may send (10 × N) takes a moment, and N is far below
// what a client sends on loopback.
const quotaRate = 256 << 10

// setClientQuota sets one quota of a client id and waits until the broker
// describes it (Kafka applies it through its metadata log).
func setClientQuota(t *testing.T, tg *target, clientID, key string, v float64) {
	t.Helper()
	adm := newAdmin(t, tg)
	res, err := adm.AlterClientQuotas(ctxT(t, 30*time.Second), []kadm.AlterClientQuotaEntry{{
		Entity: kadm.ClientQuotaEntity{{Type: "client-id", Name: &clientID}},
		Ops:    []kadm.AlterClientQuotaOp{{Key: key, Value: v}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Err != nil {
		t.Fatalf("AlterClientQuotas: %v %s", res[0].Err, res[0].ErrMessage)
	}
	within(t, "the quota is described", func() error {
		got, err := adm.DescribeClientQuotas(ctxT(t, 10*time.Second), true, []kadm.DescribeClientQuotaComponent{{Type: "client-id", MatchName: &clientID}})
		if err != nil {
			return err
		}
		if len(got) == 1 {
			for _, qv := range got[0].Values {
				if qv.Key == key && qv.Value == v {
					return nil
				}
			}
		}
		return fmt.Errorf("described %+v", got)
	})
	time.Sleep(500 * time.Millisecond) // the brokers' quota caches follow the metadata
}

func TestQuotas(t *testing.T) {
	matrix(t, "kafka-configs", "client and user quotas --add-config / --describe / --delete-config", apisQuota, func(t *testing.T, tg *target) {
		client, user := uniq("qclient"), uniq("quser")
		configs := func(args ...string) string {
			t.Helper()
			return kafkaTool(t, "org.apache.kafka.tools.ConfigCommand", append([]string{"--bootstrap-server", tg.addr}, args...)...)
		}
		configs("--alter", "--entity-type", "clients", "--entity-name", client, "--add-config", "producer_byte_rate=1048576,consumer_byte_rate=2097152")
		configs("--alter", "--entity-type", "users", "--entity-name", user, "--entity-type", "clients", "--entity-name", client, "--add-config", "request_percentage=50")
		within(t, "kafka-configs --describe shows the client quota", func() error {
			out := configs("--describe", "--entity-type", "clients", "--entity-name", client)
			if !strings.Contains(out, "producer_byte_rate=1048576.0") || !strings.Contains(out, "consumer_byte_rate=2097152.0") {
				return fmt.Errorf("describe printed %q", out)
			}
			return nil
		})
		within(t, "kafka-configs --describe shows the user+client quota", func() error {
			out := configs("--describe", "--entity-type", "users", "--entity-name", user, "--entity-type", "clients", "--entity-name", client)
			if !strings.Contains(out, "request_percentage=50.0") {
				return fmt.Errorf("describe printed %q", out)
			}
			return nil
		})
		configs("--alter", "--entity-type", "clients", "--entity-name", client, "--delete-config", "producer_byte_rate")
		within(t, "--delete-config removes it", func() error {
			out := configs("--describe", "--entity-type", "clients", "--entity-name", client)
			if strings.Contains(out, "producer_byte_rate") || !strings.Contains(out, "consumer_byte_rate=2097152.0") {
				return fmt.Errorf("describe printed %q", out)
			}
			return nil
		})
	})

	matrixGo(t, "franz-go", "producer_byte_rate holds a producer near its quota", join(apisData, apisQuota), func(t *testing.T, tg *target) {
		topic := newTopic(t, tg, "quota", 1)
		clientID := uniq("quota-producer")
		setClientQuota(t, tg, clientID, "producer_byte_rate", quotaRate)
		var throttled atomic.Int64
		cl := newClient(t, tg, kgo.ClientID(clientID), kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(5*time.Millisecond), kgo.MaxBufferedRecords(16), kgo.ProducerBatchMaxBytes(64<<10),
			kgo.ProducerBatchCompression(kgo.NoCompression()), // the quota counts bytes on the wire
			kgo.WithHooks(throttleHook{&throttled}))
		rate := sustained(t, func(ctx context.Context, add func(int)) {
			value := make([]byte, 8<<10)
			rand.Read(value)
			var wg sync.WaitGroup
			for ctx.Err() == nil {
				wg.Add(1)
				cl.Produce(ctx, &kgo.Record{Value: value}, func(r *kgo.Record, err error) {
					defer wg.Done()
					if err == nil {
						add(len(r.Value))
					}
				})
			}
			wg.Wait()
		}, func() bool { return throttled.Load() > 0 })
		t.Logf("%s: %.0f B/s against a quota of %d B/s; throttled %d times", tg.name, rate, quotaRate, throttled.Load())
		if rate < 0.5*quotaRate || rate > 1.5*quotaRate {
			t.Fatalf("sustained %.0f B/s, want within 0.5–1.5 × %d", rate, quotaRate)
		}
	})

	matrixGo(t, "raw", "a client ignoring ThrottleMillis is muted to its quota", join(apisData, apisQuota), func(t *testing.T, tg *target) {
		topic := newTopic(t, tg, "quota-raw", 1)
		clientID := uniq("quota-raw")
		setClientQuota(t, tg, clientID, "producer_byte_rate", quotaRate)
		c, err := net.DialTimeout("tcp", tg.addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		values := make([][]byte, 8)
		for i := range values {
			values[i] = make([]byte, 4<<10)
			rand.Read(values[i])
		}
		var seen atomic.Int64
		corr := int32(0)
		rate := sustained(t, func(ctx context.Context, add func(int)) {
			for ctx.Err() == nil {
				req := kmsg.NewPtrProduceRequest()
				req.Version, req.Acks, req.TimeoutMillis = 9, 1, 10000
				rt := kmsg.NewProduceRequestTopic()
				rt.Topic = topic
				rp := kmsg.NewProduceRequestTopicPartition()
				rp.Records = batchOf(values)
				rt.Partitions = append(rt.Partitions, rp)
				req.Topics = append(req.Topics, rt)
				corr++
				frame := request(req, corr, clientID)
				c.SetDeadline(time.Now().Add(60 * time.Second))
				if _, err := c.Write(frame); err != nil {
					t.Errorf("write: %v", err)
					return
				}
				var size [4]byte
				if _, err := io.ReadFull(c, size[:]); err != nil {
					t.Errorf("read: %v", err)
					return
				}
				body := make([]byte, binary.BigEndian.Uint32(size[:]))
				if _, err := io.ReadFull(c, body); err != nil {
					t.Errorf("read: %v", err)
					return
				}
				resp := req.ResponseKind().(*kmsg.ProduceResponse)
				resp.Version = 9
				if err := resp.ReadFrom(body[5:]); err != nil { // correlation id and the flexible header's tags
					t.Errorf("decode: %v", err)
					return
				}
				if resp.ThrottleMillis > 0 {
					seen.Add(1)
				}
				add(len(frame))
			}
		}, func() bool { return seen.Load() > 0 })
		t.Logf("%s: %.0f B/s against a quota of %d B/s; %d throttled answers", tg.name, rate, quotaRate, seen.Load())
		if rate < 0.5*quotaRate || rate > 1.5*quotaRate {
			t.Fatalf("a client ignoring throttles sustained %.0f B/s, want within 0.5–1.5 × %d", rate, quotaRate)
		}
	})
}

// throttleHook counts the throttle times franz-go is told of.
type throttleHook struct{ n *atomic.Int64 }

func (h throttleHook) OnBrokerThrottle(_ kgo.BrokerMetadata, d time.Duration, _ bool) {
	if d > 0 {
		h.n.Add(1)
	}
}

// sustained runs load until throttled reports the quota reached (the
// window's initial burst is spent), then measures what load adds over
// four seconds and returns it per second.
func sustained(t *testing.T, load func(ctx context.Context, add func(int)), throttled func() bool) float64 {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var total atomic.Int64
	done := make(chan struct{})
	go func() { defer close(done); load(ctx, func(n int) { total.Add(int64(n)) }) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(60 * time.Second)
	for !throttled() {
		if time.Now().After(deadline) {
			t.Fatalf("never throttled after %d bytes", total.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
	start, from := time.Now(), total.Load()
	time.Sleep(4 * time.Second)
	return float64(total.Load()-from) / time.Since(start).Seconds()
}
