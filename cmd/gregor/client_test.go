package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// runCLI runs the gregor command tree with args and returns its stdout.
func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCommand()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

// mustJSON runs the command with --json and decodes its output into v.
func mustJSON(t *testing.T, v any, args ...string) {
	t.Helper()
	out, err := runCLI(t, append(args, "--json")...)
	if err != nil {
		t.Fatalf("gregor %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("gregor %s: output is not JSON: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestTopicAndGroupCommands drives every client subcommand against an
// in-process Kafka (kfake): the commands only speak the protocol, so any
// Kafka-protocol address will do.
func TestTopicAndGroupCommands(t *testing.T) {
	clearEnv(t)
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b := c.ListenAddrs()[0]

	// create: a table by default, one row per topic, sorted.
	out, err := runCLI(t, "topic", "create", "-b", b, "orders", "audit", "-p", "3", "--config", "retention.ms=60000")
	if err != nil {
		t.Fatalf("create: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "TOPIC") || !strings.HasPrefix(lines[1], "audit ") || !strings.HasPrefix(lines[2], "orders ") {
		t.Fatalf("create table:\n%s", out)
	}
	if f := strings.Fields(lines[2]); f[1] != "3" || f[2] != "1" {
		t.Fatalf("create row %q: want 3 partitions, replication 1", lines[2])
	}

	// create again: the error is shown and the exit is non-zero, unless
	// --if-not-exists.
	out, err = runCLI(t, "topic", "create", "-b", b, "orders", "--json")
	if err == nil || !strings.Contains(out, "TOPIC_ALREADY_EXISTS") {
		t.Fatalf("re-create: err=%v out=%s", err, out)
	}
	if out, err = runCLI(t, "topic", "create", "-b", b, "orders", "--if-not-exists"); err != nil {
		t.Fatalf("re-create --if-not-exists: %v\n%s", err, out)
	}

	var list []topicRow
	mustJSON(t, &list, "topic", "list", "-b", b)
	if len(list) != 2 || list[0].Topic != "audit" || list[1].Topic != "orders" || list[1].Partitions != 3 || list[1].ReplicationFactor != 1 || len(list[1].ID) != 22 {
		t.Fatalf("list: %+v", list)
	}

	// Produce 3, 2 and 0 records to the partitions of orders and consume
	// them in group g1, committing.
	cl, err := kgo.NewClient(kgo.SeedBrokers(b), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ConsumerGroup("g1"), kgo.ConsumeTopics("orders"), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i, p := range []int32{0, 0, 0, 1, 1} {
		r := &kgo.Record{Topic: "orders", Partition: p, Key: []byte(fmt.Sprint("k", i)), Value: []byte("v")}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	got := 0
	for got < 5 {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		got += fs.NumRecords()
	}
	if got != 5 {
		t.Fatalf("consumed %d records, want 5", got)
	}
	if err := cl.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}

	var described []describedTopic
	mustJSON(t, &described, "topic", "describe", "-b", b, "orders")
	if len(described) != 1 || len(described[0].Partitions) != 3 {
		t.Fatalf("describe: %+v", described)
	}
	var ends []int64
	for _, p := range described[0].Partitions {
		ends = append(ends, p.EndOffset)
		if p.StartOffset != 0 || p.Leader != 0 || !reflect.DeepEqual(p.Replicas, []int32{0}) {
			t.Errorf("partition %+v", p)
		}
	}
	if !reflect.DeepEqual(ends, []int64{3, 2, 0}) {
		t.Errorf("end offsets %v, want [3 2 0]", ends)
	}
	if !hasConfig(described[0].Configs, "retention.ms", "60000") {
		t.Errorf("configs %+v lack retention.ms=60000", described[0].Configs)
	}

	// While the member is live the group is Stable with no lag.
	var groups []groupRow
	mustJSON(t, &groups, "group", "list", "-b", b)
	if len(groups) != 1 || groups[0].Group != "g1" || groups[0].State != "Stable" || groups[0].ProtocolType != "consumer" {
		t.Fatalf("group list: %+v", groups)
	}
	var dgs []describedGroup
	mustJSON(t, &dgs, "group", "describe", "-b", b, "g1")
	if len(dgs) != 1 || len(dgs[0].Members) != 1 || dgs[0].TotalLag != 0 || len(dgs[0].Offsets) != 3 {
		t.Fatalf("group describe: %+v", dgs)
	}
	var committed []int64
	for _, o := range dgs[0].Offsets {
		committed = append(committed, o.Committed)
	}
	if !reflect.DeepEqual(committed, []int64{3, 2, -1}) {
		t.Errorf("committed %v, want [3 2 -1]", committed)
	}
	// A live group cannot be deleted.
	if out, err := runCLI(t, "group", "delete", "-b", b, "g1"); err == nil || !strings.Contains(out, "NON_EMPTY_GROUP") {
		t.Fatalf("delete live group: err=%v\n%s", err, out)
	}
	cl.Close()
	out, err = runCLI(t, "group", "describe", "-b", b, "g1")
	if err != nil || !strings.Contains(out, "Group: g1  State: Empty") {
		t.Fatalf("describe after leave: err=%v\n%s", err, out)
	}
	if out, err := runCLI(t, "group", "delete", "-b", b, "g1"); err != nil || !strings.Contains(out, "g1     ok") {
		t.Fatalf("delete group: err=%v\n%s", err, out)
	}
	mustJSON(t, &groups, "group", "list", "-b", b)
	if len(groups) != 0 {
		t.Fatalf("groups after delete: %+v", groups)
	}

	// alter-config: set one, remove one.
	if out, err := runCLI(t, "topic", "alter-config", "-b", b, "orders", "--set", "retention.ms=1000", "--set", "max.message.bytes=5000"); err != nil {
		t.Fatalf("alter-config: %v\n%s", err, out)
	}
	mustJSON(t, &described, "topic", "describe", "-b", b, "orders")
	if !hasConfig(described[0].Configs, "retention.ms", "1000") || !hasConfig(described[0].Configs, "max.message.bytes", "5000") {
		t.Fatalf("configs after set: %+v", described[0].Configs)
	}
	if out, err := runCLI(t, "topic", "alter-config", "-b", b, "orders", "--delete", "max.message.bytes"); err != nil {
		t.Fatalf("alter-config --delete: %v\n%s", err, out)
	}
	mustJSON(t, &described, "topic", "describe", "-b", b, "orders")
	if hasConfig(described[0].Configs, "max.message.bytes", "5000") {
		t.Fatalf("max.message.bytes still set: %+v", described[0].Configs)
	}
	if _, err := runCLI(t, "topic", "alter-config", "-b", b, "orders"); err == nil {
		t.Fatal("alter-config without changes succeeded")
	}

	// delete: one row per topic; an unknown one fails the command.
	out, err = runCLI(t, "topic", "delete", "-b", b, "orders", "nope")
	if err == nil || !strings.Contains(out, "UNKNOWN_TOPIC_OR_PARTITION") || !strings.Contains(out, "orders  ok") {
		t.Fatalf("delete: err=%v\n%s", err, out)
	}
	mustJSON(t, &list, "topic", "list", "-b", b)
	if len(list) != 1 || list[0].Topic != "audit" {
		t.Fatalf("list after delete: %+v", list)
	}
	// describe of an unknown topic says so and fails.
	out, err = runCLI(t, "topic", "describe", "-b", b, "orders")
	if err == nil || !strings.Contains(out, "Topic: orders  Error: UNKNOWN_TOPIC_OR_PARTITION") {
		t.Fatalf("describe deleted: err=%v\n%s", err, out)
	}
}

func hasConfig(cs []describedConfig, name, value string) bool {
	for _, c := range cs {
		if c.Name == name && c.Value == value {
			return true
		}
	}
	return false
}

func TestVersionCommand(t *testing.T) {
	out, err := runCLI(t, "version")
	if err != nil || !strings.HasPrefix(out, "gregor dev (") {
		t.Fatalf("version: err=%v %q", err, out)
	}
	var b buildInfo
	mustJSON(t, &b, "version")
	if b.Version != "dev" || !strings.HasPrefix(b.Go, "go1.") {
		t.Fatalf("version --json: %+v", b)
	}
}
