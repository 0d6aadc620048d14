package broker

// End to end: the admin APIs through franz-go's kadm against a broker from
// New on 127.0.0.1:0, including a restart on the same data directory.

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/storage"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// admServe starts a broker on dir and returns a kadm client for it and a
// stop function.
func admServe(t *testing.T, dir string) (*Broker, *kadm.Client, func()) {
	t.Helper()
	b, err := New(Config{
		Listeners: []Listener{{Name: "PLAINTEXT", Address: "127.0.0.1:0"}},
		Store:     storage.Config{Dir: dir},
		Topics:    TopicDefaults{AutoCreate: false, NumPartitions: 2},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()[0].String()), kgo.RetryTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return b, kadm.NewClient(cl), func() {
		cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := b.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	}
}

func TestAdminWithKadm(t *testing.T) {
	dir := t.TempDir()
	b, adm, stop := admServe(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// Create, with configs; validate only; errors.
	created, err := adm.CreateTopic(ctx, 3, 1, map[string]*string{"retention.ms": kadm.StringPtr("3600000")}, "k-orders")
	if err != nil {
		t.Fatal(err)
	}
	if created.NumPartitions != 3 || created.ReplicationFactor != 1 || created.ID == (kadm.TopicID{}) ||
		created.Configs["retention.ms"].Source != kmsg.ConfigSourceDynamicTopicConfig || *created.Configs["retention.ms"].Value != "3600000" {
		t.Fatalf("created: %+v", created)
	}
	v, err := adm.ValidateCreateTopics(ctx, -1, -1, nil, "k-dry")
	if err != nil || v["k-dry"].Err != nil || v["k-dry"].NumPartitions != 2 {
		t.Fatalf("validate: %+v %v", v, err)
	}
	bad, err := adm.CreateTopics(ctx, 1, 1, map[string]*string{"cleanup.policy": kadm.StringPtr("compact,shred")}, "k-compact")
	if err != nil || !errors.Is(bad["k-compact"].Err, kerr.InvalidConfig) {
		t.Errorf("compact,shred: %+v %v", bad, err)
	}
	bad, err = adm.CreateTopics(ctx, 1, 3, nil, "k-rf3")
	if err != nil || !errors.Is(bad["k-rf3"].Err, kerr.InvalidReplicationFactor) {
		t.Errorf("rf 3: %+v %v", bad, err)
	}
	dupe, err := adm.CreateTopics(ctx, 1, 1, nil, "k-orders")
	if err != nil || !errors.Is(dupe["k-orders"].Err, kerr.TopicAlreadyExists) {
		t.Errorf("again: %+v %v", dupe, err)
	}

	// Describe and alter configs.
	rc, err := adm.DescribeTopicConfigs(ctx, "k-orders")
	if err != nil {
		t.Fatal(err)
	}
	c, err := rc.On("k-orders", nil)
	if err != nil || len(c.Configs) != len(topicConfigSpecs) {
		t.Fatalf("describe: %d configs, %v", len(c.Configs), err)
	}
	alt, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "retention.bytes", Value: kadm.StringPtr("1048576")},
		{Op: kadm.DeleteConfig, Name: "retention.ms"},
	}, "k-orders")
	if err != nil || alt[0].Err != nil {
		t.Fatalf("alter: %+v %v", alt, err)
	}
	tp, _ := b.topics.Get("k-orders")
	if tp.RetentionBytes != 1048576 || tp.RetentionMs != 604800000 || tp.Compaction.Enabled {
		t.Errorf("registry after alter: %+v", tp)
	}
	// compact alone: no retention, the latest record per key.
	alt, err = adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "cleanup.policy", Value: kadm.StringPtr("compact")}}, "k-orders")
	if err != nil || alt[0].Err != nil {
		t.Errorf("alter to compact: %+v %v", alt, err)
	}
	if tp, _ := b.topics.Get("k-orders"); !tp.Compaction.Enabled || tp.RetentionMs != -1 || tp.RetentionBytes != -1 {
		t.Errorf("registry after alter to compact: %+v", tp)
	}
	alt, err = adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.DeleteConfig, Name: "cleanup.policy"}}, "k-orders")
	if tp, _ := b.topics.Get("k-orders"); err != nil || alt[0].Err != nil || tp.Compaction.Enabled || tp.RetentionBytes != 1048576 {
		t.Errorf("back to delete: %+v %v %+v", alt, err, tp)
	}
	bc, err := adm.DescribeBrokerConfigs(ctx, 1)
	if err != nil || len(bc) != 1 || bc[0].Err != nil || len(bc[0].Configs) == 0 {
		t.Fatalf("broker configs: %+v %v", bc, err)
	}

	// Partitions.
	cp, err := adm.UpdatePartitions(ctx, 5, "k-orders")
	if err != nil || cp["k-orders"].Err != nil {
		t.Fatalf("update partitions: %+v %v", cp, err)
	}
	cp, err = adm.UpdatePartitions(ctx, 4, "k-orders")
	if err != nil || !errors.Is(cp["k-orders"].Err, kerr.InvalidPartitions) {
		t.Errorf("shrink: %+v %v", cp, err)
	}

	// Records: produce, delete before offset 2, check the start offset.
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()[0].String()), kgo.DefaultProduceTopic("k-orders"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 4; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Partition: 4, Value: []byte{byte('a' + i)}}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	cl.Close()
	var os kadm.Offsets
	os.Add(kadm.Offset{Topic: "k-orders", Partition: 4, At: 2})
	dr, err := adm.DeleteRecords(ctx, os)
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := dr.Lookup("k-orders", 4); !ok || r.Err != nil || r.LowWatermark != 2 {
		t.Errorf("delete records: %+v", r)
	}
	starts, err := adm.ListStartOffsets(ctx, "k-orders")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := starts.Lookup("k-orders", 4); o.Offset != 2 {
		t.Errorf("start offset after delete records: %+v", o)
	}
	dirs, err := adm.DescribeAllLogDirs(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if all := dirs.Sorted(); len(all) != 1 || all[0].Dir == "" || all[0].TotalBytes <= 0 || all[0].Size() <= 0 {
		t.Errorf("log dirs: %+v", all)
	}

	// Restart: topics, ids and configs are back.
	stop()
	b, adm, stop = admServe(t, dir)
	defer stop()
	listed, err := adm.ListTopics(ctx, "k-orders")
	if err != nil {
		t.Fatal(err)
	}
	if d := listed["k-orders"]; d.ID != created.ID || len(d.Partitions) != 5 {
		t.Errorf("after restart: id %v (was %v), %d partitions", d.ID, created.ID, len(d.Partitions))
	}
	rc, err = adm.DescribeTopicConfigs(ctx, "k-orders")
	if err != nil {
		t.Fatal(err)
	}
	c, _ = rc.On("k-orders", nil)
	for _, cfg := range c.Configs {
		if cfg.Key == "retention.bytes" && (cfg.Source != kmsg.ConfigSourceDynamicTopicConfig || *cfg.Value != "1048576") {
			t.Errorf("retention.bytes after restart: %+v", cfg)
		}
		if cfg.Key == "retention.ms" && cfg.Source != kmsg.ConfigSourceDefaultConfig {
			t.Errorf("retention.ms after restart: %+v", cfg)
		}
	}
	if tp, _ := b.topics.Get("k-orders"); tp.RetentionBytes != 1048576 {
		t.Errorf("registry after restart: %+v", tp)
	}

	// Delete.
	del, err := adm.DeleteTopics(ctx, "k-orders", "k-never")
	if err != nil {
		t.Fatal(err)
	}
	if del["k-orders"].Err != nil || !errors.Is(del["k-never"].Err, kerr.UnknownTopicOrPartition) {
		t.Errorf("delete: %+v", del)
	}
	if _, ok := b.topics.Get("k-orders"); ok {
		t.Errorf("k-orders still registered")
	}
}
