package compat

import (
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/compress"
)

// TestKafkaGo drives segmentio/kafka-go in process. Its group reader uses
// old JoinGroup/SyncGroup/OffsetCommit versions (v1/v2), which Kafka 4.0.0
// refused and 4.1 accepts again.
func TestKafkaGo(t *testing.T) {
	matrixGo(t, "kafka-go", "Writer (zstd, hash balancer)", apisData, func(t *testing.T, tg *target) {
		topic := newTopic(t, tg, "kgo-writer", 3)
		w := &kafka.Writer{Addr: kafka.TCP(tg.addr), Topic: topic, Balancer: &kafka.Hash{},
			Compression: compress.Zstd, RequiredAcks: kafka.RequireAll, BatchTimeout: 5 * time.Millisecond}
		defer w.Close()
		msgs := make([]kafka.Message, 100)
		for i := range msgs {
			msgs[i] = kafka.Message{Key: []byte(fmt.Sprintf("k-%d", i%7)), Value: []byte(fmt.Sprintf("kafkago-%d", i)),
				Headers: []kafka.Header{{Key: "idx", Value: []byte(strconv.Itoa(i))}, {Key: "client", Value: []byte("kafkago")}}}
		}
		ctx := ctxT(t, 30*time.Second)
		if err := w.WriteMessages(ctx, msgs[:50]...); err != nil {
			t.Fatalf("write: %v", err)
		}
		if err := w.WriteMessages(ctx, msgs[50:]...); err != nil {
			t.Fatalf("write: %v", err)
		}
		checkProduced(t, tg, topic, "kafkago", 100, nil)
		checkBatches(t, tg, topic, 3, codecZstd, false) // kafka-go has no idempotent producer
	})

	matrixGo(t, "kafka-go", "Reader with GroupID", apisGroup, func(t *testing.T, tg *target) {
		topic := newTopic(t, tg, "kgo-reader", 3)
		want := producePartitioned(t, tg, topic, 0, 90, 3)
		group := uniq("g-kafkago")
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{tg.addr}, GroupID: group, Topic: topic,
			MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 200 * time.Millisecond, StartOffset: kafka.FirstOffset,
			CommitInterval: 0, SessionTimeout: 20 * time.Second, HeartbeatInterval: 500 * time.Millisecond,
			RebalanceTimeout: 10 * time.Second, JoinGroupBackoff: 200 * time.Millisecond})
		var got []rec
		ctx := ctxT(t, 45*time.Second)
		for len(got) < len(want) {
			m, err := r.ReadMessage(ctx) // commits synchronously (CommitInterval 0)
			if err != nil {
				r.Close()
				t.Fatalf("read after %d records: %v", len(got), err)
			}
			h := map[string]string{}
			for _, x := range m.Headers {
				h[x.Key] = string(x.Value)
			}
			got = append(got, rec{P: int32(m.Partition), O: m.Offset, K: string(m.Key), V: string(m.Value), H: h})
		}
		if err := r.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		checkConsumed(t, got, want)
		checkCommitted(t, tg, group, topic)
	})

	matrixGo(t, "kafka-go", "CreateTopics through Conn", apisData, func(t *testing.T, tg *target) {
		conn, err := kafka.Dial("tcp", tg.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ctl, err := conn.Controller()
		if err != nil {
			t.Fatalf("controller: %v", err)
		}
		cc, err := kafka.Dial("tcp", net.JoinHostPort(ctl.Host, strconv.Itoa(ctl.Port)))
		if err != nil {
			t.Fatalf("dial controller %v: %v", ctl, err)
		}
		defer cc.Close()
		topic := uniq("kgo-conn")
		if err := cc.CreateTopics(kafka.TopicConfig{Topic: topic, NumPartitions: 3, ReplicationFactor: 1,
			ConfigEntries: []kafka.ConfigEntry{{ConfigName: "retention.ms", ConfigValue: "3600000"}}}); err != nil {
			t.Fatalf("create topics: %v", err)
		}
		waitTopic(t, tg, topic, 3)
		ps, err := conn.ReadPartitions(topic)
		if err != nil || len(ps) != 3 {
			t.Fatalf("read partitions: %d, %v", len(ps), err)
		}
		// Creating it again: the broker answers TOPIC_ALREADY_EXISTS, which
		// kafka-go's Conn treats as success; the topic keeps 3 partitions.
		if err := cc.CreateTopics(kafka.TopicConfig{Topic: topic, NumPartitions: 5, ReplicationFactor: 1}); err != nil {
			t.Errorf("second create: %v, want nil (kafka-go ignores TOPIC_ALREADY_EXISTS)", err)
		}
		if ps, err := conn.ReadPartitions(topic); err != nil || len(ps) != 3 {
			t.Errorf("after the second create: %d partitions, %v; want 3", len(ps), err)
		}
	})
}
