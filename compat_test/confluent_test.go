package compat

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestConfluentGo drives confluent-kafka-go (cgo, its bundled librdkafka) in
// process.
func TestConfluentGo(t *testing.T) {
	matrixGo(t, "confluent-kafka-go", "idempotent producer (zstd)", apisIdem, func(t *testing.T, tg *target) {
		topic := newTopic(t, tg, "ckg-prod", 3)
		p, err := kafka.NewProducer(&kafka.ConfigMap{"bootstrap.servers": tg.addr, "client.id": "compat-ckg",
			"enable.idempotence": true, "acks": "all", "linger.ms": 5, "compression.type": "zstd"})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		const n = 120
		deliveries := make(chan kafka.Event, n)
		for i := 0; i < n; i++ {
			err := p.Produce(&kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: kafka.PartitionAny},
				Key: []byte(fmt.Sprintf("k-%d", i%7)), Value: []byte(fmt.Sprintf("ckg-%d", i)),
				Headers: []kafka.Header{{Key: "idx", Value: []byte(strconv.Itoa(i))}, {Key: "client", Value: []byte("ckg")}}}, deliveries)
			if err != nil {
				t.Fatalf("produce: %v", err)
			}
		}
		var acks []rec
		timeout := time.After(30 * time.Second)
		for len(acks) < n {
			select {
			case e := <-deliveries:
				m := e.(*kafka.Message)
				if m.TopicPartition.Error != nil {
					t.Fatalf("delivery: %v", m.TopicPartition.Error)
				}
				acks = append(acks, rec{P: m.TopicPartition.Partition, O: int64(m.TopicPartition.Offset), K: string(m.Key), V: string(m.Value)})
			case <-timeout:
				t.Fatalf("%d of %d delivered", len(acks), n)
			}
		}
		checkProduced(t, tg, topic, "ckg", n, acks)
		checkBatches(t, tg, topic, 3, codecZstd, true)
	})

	matrixGo(t, "confluent-kafka-go", "consumer group", apisGroup, func(t *testing.T, tg *target) {
		topic := newTopic(t, tg, "ckg-grp", 3)
		want := producePartitioned(t, tg, topic, 0, 90, 3)
		group := uniq("g-ckg")
		c, err := kafka.NewConsumer(&kafka.ConfigMap{"bootstrap.servers": tg.addr, "client.id": "compat-ckg",
			"group.id": group, "auto.offset.reset": "earliest", "enable.auto.commit": false,
			"session.timeout.ms": 20000, "heartbeat.interval.ms": 500, "fetch.wait.max.ms": 200})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Subscribe(topic, nil); err != nil {
			t.Fatal(err)
		}
		var got []rec
		deadline := time.Now().Add(45 * time.Second)
		for len(got) < len(want) && time.Now().Before(deadline) {
			m, err := c.ReadMessage(500 * time.Millisecond)
			if err != nil {
				if err.(kafka.Error).IsTimeout() {
					continue
				}
				t.Fatalf("read: %v", err)
			}
			h := map[string]string{}
			for _, x := range m.Headers {
				h[x.Key] = string(x.Value)
			}
			got = append(got, rec{P: m.TopicPartition.Partition, O: int64(m.TopicPartition.Offset), K: string(m.Key), V: string(m.Value), H: h})
			if _, err := c.CommitMessage(m); err != nil {
				t.Fatalf("commit: %v", err)
			}
		}
		c.Close()
		checkConsumed(t, got, want)
		checkCommitted(t, tg, group, topic)
	})

	matrixGo(t, "confluent-kafka-go", "AdminClient", join(apisData, []kmsg.Key{kmsg.DeleteTopics, kmsg.DescribeConfigs,
		kmsg.IncrementalAlterConfigs, kmsg.ListGroups, kmsg.DescribeGroups, kmsg.FindCoordinator, kmsg.OffsetCommit,
		kmsg.OffsetFetch}), func(t *testing.T, tg *target) {
		other := newTopic(t, tg, "ckg-adm-o", 2)
		group := uniq("g-ckg-adm")
		commitGroup(t, tg, group, other, map[int32]int64{0: 7, 1: 9})
		ad, err := kafka.NewAdminClient(&kafka.ConfigMap{"bootstrap.servers": tg.addr, "client.id": "compat-ckg-admin"})
		if err != nil {
			t.Fatal(err)
		}
		defer ad.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		topic := uniq("ckg-adm")
		res, err := ad.CreateTopics(ctx, []kafka.TopicSpecification{{Topic: topic, NumPartitions: 3, ReplicationFactor: 1,
			Config: map[string]string{"retention.ms": "3600000"}}})
		if err != nil || res[0].Error.Code() != kafka.ErrNoError {
			t.Fatalf("create topics: %v %v", err, res)
		}
		waitTopic(t, tg, topic, 3)
		describe := func() map[string]kafka.ConfigEntryResult {
			cr, err := ad.DescribeConfigs(ctx, []kafka.ConfigResource{{Type: kafka.ResourceTopic, Name: topic}})
			if err != nil || cr[0].Error.Code() != kafka.ErrNoError {
				t.Fatalf("describe configs: %v %v", err, cr)
			}
			return cr[0].Config
		}
		cfg := describe()
		if e := cfg["retention.ms"]; e.Value != "3600000" || e.Source != kafka.ConfigSourceDynamicTopic {
			t.Errorf("retention.ms = %q (%v), want 3600000 (DYNAMIC_TOPIC_CONFIG)", e.Value, e.Source)
		}
		if e := cfg["cleanup.policy"]; e.Value != "delete" {
			t.Errorf("cleanup.policy = %q, want delete", e.Value)
		}
		ar, err := ad.IncrementalAlterConfigs(ctx, []kafka.ConfigResource{{Type: kafka.ResourceTopic, Name: topic,
			Config: []kafka.ConfigEntry{{Name: "retention.ms", Value: "7200000", IncrementalOperation: kafka.AlterConfigOpTypeSet}}}})
		if err != nil || ar[0].Error.Code() != kafka.ErrNoError {
			t.Fatalf("incremental alter: %v %v", err, ar)
		}
		// Kafka applies an alter asynchronously (through its metadata
		// log), so a describe right after it may still show the old value.
		eventually(t, "retention.ms to become 7200000", func() bool { return describe()["retention.ms"].Value == "7200000" })

		lg, err := ad.ListConsumerGroups(ctx)
		if err != nil {
			t.Fatalf("list groups: %v", err)
		}
		listed := false
		for _, g := range lg.Valid {
			listed = listed || g.GroupID == group
		}
		if !listed {
			t.Errorf("group %s not listed (%d groups, errors %v)", group, len(lg.Valid), lg.Errors)
		}
		dg, err := ad.DescribeConsumerGroups(ctx, []string{group})
		if err != nil || dg.ConsumerGroupDescriptions[0].Error.Code() != kafka.ErrNoError {
			t.Fatalf("describe groups: %v %v", err, dg)
		}
		if st := dg.ConsumerGroupDescriptions[0].State; st != kafka.ConsumerGroupStateEmpty {
			t.Errorf("group state %v, want Empty", st)
		}
		lo, err := ad.ListConsumerGroupOffsets(ctx, []kafka.ConsumerGroupTopicPartitions{{Group: group,
			Partitions: []kafka.TopicPartition{{Topic: &other, Partition: 0}, {Topic: &other, Partition: 1}}}})
		if err != nil {
			t.Fatalf("list group offsets: %v", err)
		}
		for _, tp := range lo.ConsumerGroupsTopicPartitions[0].Partitions {
			want := map[int32]kafka.Offset{0: 7, 1: 9}[tp.Partition]
			if tp.Error != nil || tp.Offset != want {
				t.Errorf("group offset %s/%d = %v (%v), want %v", other, tp.Partition, tp.Offset, tp.Error, want)
			}
		}

		dr, err := ad.DeleteTopics(ctx, []string{topic})
		if err != nil || len(dr) != 1 || dr[0].Error.Code() != kafka.ErrNoError {
			t.Fatalf("delete topics: %v %v", err, dr)
		}
		deadline := time.Now().Add(20 * time.Second)
		for {
			md, err := ad.GetMetadata(nil, true, 5000)
			if err == nil {
				if _, ok := md.Topics[topic]; !ok {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("topic %s still listed after delete", topic)
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
}
