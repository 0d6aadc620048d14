package compat

// Kafka's own command-line tools in the client matrix (issue 16 item 4). There
// are no bin/ scripts here: each tool runs as its main class from the
// reference's jars (scripts/kafka.sh tools-classpath: kafka_2.13, its
// dependencies and kafka-tools), `java -cp … org.apache.kafka.tools.X`.
//
// TestKafkaTools is one table, a row per tool invocation, run in order on each
// process target with one set of topics and groups per target (the same names
// on every target, so no name needs masking). Each row is checked twice:
//
//   - by its own check (counts, contents, the exit code), on every target,
//     Kafka included, so a row that passes on Kafka proves the check;
//   - against what the same invocation printed for the reference Kafka in
//     this run (stdout, stderr without stack frames, and the exit code), after
//     the common masks (ids, timestamps, clock times, host:port) and the row's
//     own masks. A row's mask says why its difference is one a Kafka user
//     would not notice. The reference runs first when COMPAT_TARGETS lists
//     kafka first (the default); without it only the rows' own checks run.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// toolOut is what one tool run left behind.
type toolOut struct {
	code           int
	stdout, stderr string
}

// toolRow is one tool invocation of the table.
type toolRow struct {
	tool     string   // the matrix's client column: the tool's script name
	scenario string   // the matrix's scenario column
	class    string   // main class
	args     []string // placeholders: {bs} bootstrap, {run} the run's prefix, {file} the row's file
	stdin    string
	file     string // written to a file whose path replaces {file}
	code     int    // the exit code Kafka's tool gives
	needs    []kmsg.Key
	before   func(t *testing.T, tg *target) // setup no tool does (records with set timestamps)
	// mask normalises a difference beyond the common masks; its comment
	// says why a Kafka user would not notice it. Applied to both outputs.
	mask func(s string) string
	// own checks what the tool printed and did, on every target.
	check func(t *testing.T, tg *target, o toolOut)
	// noCompare: only own runs (the output is a measurement, or lists
	// what each broker implements); the row's comment says why.
	noCompare bool
}

// ktRef holds the reference's masked output per row, filled by the kafka
// target's run.
var ktRef = map[string]toolOut{}

func TestKafkaTools(t *testing.T) {
	run := uniq("kt")
	topic := run + "-a"    // created, described, altered by kafka-topics
	gone := run + "-gone"  // created and deleted
	ts := run + "-ts"      // 10 records with set timestamps, for --time and --to-datetime
	perf := run + "-perf"  // producer/consumer perf test
	ver := run + "-ver"    // verifiable producer/consumer
	e2e := run + "-e2e"    // end-to-end latency
	group := run + "-g"    // the console consumer's group
	tsGroup := run + "-tg" // created by reset-offsets
	live := run + "-live"  // a franz-go member stays in it while described
	const tsBase = int64(1700000000000)

	// lines of the console producer: headers, key, value, tab-separated.
	produced := []struct{ h, k, v string }{
		{"h1:v1,h2:v2", "k1", "val-1"}, {"h1:x", "k2", "val-2"}, {"h3:", "k3", "val-3"},
		{"h1:y", "k1", "val-4"}, {"h2:z", "k4", "val-5"}, {"h1:a,h1:b", "k5", "val-6"},
	}
	var stdin strings.Builder
	for _, r := range produced {
		fmt.Fprintf(&stdin, "%s\t%s\t%s\n", r.h, r.k, r.v)
	}

	topics := "org.apache.kafka.tools.TopicCommand"
	configs := "org.apache.kafka.tools.ConfigCommand"
	groups := "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand"
	getOffsets := "org.apache.kafka.tools.GetOffsetShell"
	apisAdmin := []kmsg.Key{kmsg.Metadata, kmsg.CreateTopics, kmsg.DescribeConfigs}
	apisGroups := join(apisGroup, []kmsg.Key{kmsg.ListGroups, kmsg.DescribeGroups})

	rows := []toolRow{
		// ---- kafka-topics
		{tool: "kafka-topics", scenario: "--create 3 partitions with --config", class: topics,
			args:  []string{"--bootstrap-server", "{bs}", "--create", "--topic", topic, "--partitions", "3", "--config", "retention.ms=3600000", "--config", "cleanup.policy=delete"},
			needs: apisAdmin,
			check: func(t *testing.T, tg *target, o toolOut) {
				wantOut(t, o, "Created topic "+topic+".\n")
				waitTopic(t, tg, topic, 3)
			}},
		{tool: "kafka-topics", scenario: "--create an existing topic fails", class: topics,
			args: []string{"--bootstrap-server", "{bs}", "--create", "--topic", topic, "--partitions", "3"}, code: 1,
			needs: apisAdmin,
			check: func(t *testing.T, tg *target, o toolOut) {
				wantContains(t, o.stdout, "Topic '"+topic+"' already exists.")
			}},
		{tool: "kafka-topics", scenario: "--create then --delete", class: topics,
			args: []string{"--bootstrap-server", "{bs}", "--create", "--topic", gone, "--partitions", "2"}, needs: apisAdmin,
			check: func(t *testing.T, tg *target, o toolOut) {
				wantOut(t, o, "Created topic "+gone+".\n")
				waitTopic(t, tg, gone, 2)
				d := runTool(t, tg, topics, "", "--bootstrap-server", tg.addr, "--delete", "--topic", gone)
				wantOut(t, d, "")
			}},
		{tool: "kafka-topics", scenario: "--list", class: topics,
			args: []string{"--bootstrap-server", "{bs}", "--list", "--topic", run + ".*"}, needs: apisAdmin,
			// Kafka deletes a topic in the background: the list waits for it.
			before: func(t *testing.T, tg *target) {
				within(t, gone+" deleted", func() error {
					td, err := newAdmin(t, tg).ListTopics(ctxT(t, 10*time.Second))
					if err != nil {
						return err
					}
					if td.Has(gone) {
						return errors.New("still listed")
					}
					return nil
				})
			},
			check: func(t *testing.T, tg *target, o toolOut) { wantOut(t, o, topic+"\n") }},
		{tool: "kafka-topics", scenario: "--describe", class: topics,
			args: []string{"--bootstrap-server", "{bs}", "--describe", "--topic", topic}, needs: apisAdmin,
			mask: maskBrokerConfigs,
			check: func(t *testing.T, tg *target, o toolOut) {
				wantContains(t, o.stdout, "PartitionCount: 3\t", "retention.ms=3600000", "cleanup.policy=delete")
				if n := strings.Count(o.stdout, "\tPartition: "); n != 3 {
					t.Errorf("%d partition lines, want 3", n)
				}
			}},
		{tool: "kafka-topics", scenario: "--describe __consumer_offsets", class: topics,
			args: []string{"--bootstrap-server", "{bs}", "--describe", "--topic", "__consumer_offsets"}, needs: apisAdmin,
			// The first group lookup creates the topic.
			before: func(t *testing.T, tg *target) {
				adm := newAdmin(t, tg)
				within(t, "__consumer_offsets created", func() error {
					adm.FindGroupCoordinators(ctxT(t, 10*time.Second), run+"-offsets")
					td, err := adm.ListTopicsWithInternal(ctxT(t, 10*time.Second), "__consumer_offsets")
					if err != nil {
						return err
					}
					if !td.Has("__consumer_offsets") {
						return errors.New("not listed")
					}
					return nil
				})
			},
			// The topic line only, its partition count and replication
			// factor masked (the reference runs with 5 partitions).
			mask: func(s string) string {
				first, _, _ := strings.Cut(s, "\n")
				first = regexp.MustCompile(`(PartitionCount|ReplicationFactor): [0-9]+`).ReplaceAllString(first, "$1: <n>")
				return maskBrokerConfigs(first) + "\n"
			},
			check: func(t *testing.T, tg *target, o toolOut) {
				wantContains(t, o.stdout, "Topic: __consumer_offsets\t", "cleanup.policy=compact", "compression.type=producer", "segment.bytes=104857600")
			}},
		{tool: "kafka-topics", scenario: "--alter --partitions 4", class: topics,
			args:  []string{"--bootstrap-server", "{bs}", "--alter", "--topic", topic, "--partitions", "4"},
			needs: join(apisAdmin, []kmsg.Key{kmsg.CreatePartitions}),
			check: func(t *testing.T, tg *target, o toolOut) {
				wantOut(t, o, "")
				waitTopic(t, tg, topic, 4)
				d := runTool(t, tg, topics, "", "--bootstrap-server", tg.addr, "--describe", "--topic", topic)
				wantContains(t, d.stdout, "PartitionCount: 4\t")
			}},

		// ---- kafka-configs
		{tool: "kafka-configs", scenario: "topic --describe", class: configs,
			args: []string{"--bootstrap-server", "{bs}", "--describe", "--entity-type", "topics", "--entity-name", topic}, needs: apisAdmin,
			check: func(t *testing.T, tg *target, o toolOut) {
				wantContains(t, o.stdout, "Dynamic configs for topic "+topic+" are:\n",
					"  retention.ms=3600000 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:retention.ms=3600000}\n")
			}},
		{tool: "kafka-configs", scenario: "topic --alter --add-config / --delete-config", class: configs,
			args:  []string{"--bootstrap-server", "{bs}", "--alter", "--entity-type", "topics", "--entity-name", topic, "--add-config", "retention.ms=7200000,max.message.bytes=200000"},
			needs: join(apisAdmin, []kmsg.Key{kmsg.IncrementalAlterConfigs}),
			check: func(t *testing.T, tg *target, o toolOut) {
				wantOut(t, o, "Completed updating config for topic "+topic+".\n")
				d := runTool(t, tg, configs, "", "--bootstrap-server", tg.addr, "--describe", "--entity-type", "topics", "--entity-name", topic)
				wantOut(t, d, "Dynamic configs for topic "+topic+" are:\n"+
					"  cleanup.policy=delete sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:cleanup.policy=delete, DEFAULT_CONFIG:log.cleanup.policy=delete}\n"+
					"  max.message.bytes=200000 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:max.message.bytes=200000, DEFAULT_CONFIG:message.max.bytes=1048588}\n"+
					"  retention.ms=7200000 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:retention.ms=7200000}\n")
				d = runTool(t, tg, configs, "", "--bootstrap-server", tg.addr, "--alter", "--entity-type", "topics", "--entity-name", topic, "--delete-config", "max.message.bytes")
				wantOut(t, d, "Completed updating config for topic "+topic+".\n")
			}},
		{tool: "kafka-configs", scenario: "topic --describe --all", class: configs,
			args: []string{"--bootstrap-server", "{bs}", "--describe", "--all", "--entity-type", "topics", "--entity-name", topic}, needs: apisAdmin,
			mask: maskBrokerConfigs,
			check: func(t *testing.T, tg *target, o toolOut) {
				wantContains(t, o.stdout, "All configs for topic "+topic+" are:\n",
					"  retention.ms=7200000 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:retention.ms=7200000}\n",
					"  max.message.bytes=1048588 sensitive=false synonyms={DEFAULT_CONFIG:message.max.bytes=1048588}\n")
			}},
		{tool: "kafka-configs", scenario: "broker --alter / --describe / --delete-config", class: configs,
			args:  []string{"--bootstrap-server", "{bs}", "--alter", "--entity-type", "brokers", "--entity-name", "1", "--add-config", "log.cleaner.threads=2"},
			needs: join(apisAdmin, []kmsg.Key{kmsg.IncrementalAlterConfigs}),
			check: func(t *testing.T, tg *target, o toolOut) {
				wantOut(t, o, "Completed updating config for broker 1.\n")
				d := runTool(t, tg, configs, "", "--bootstrap-server", tg.addr, "--describe", "--entity-type", "brokers", "--entity-name", "1")
				wantOut(t, d, "Dynamic configs for broker 1 are:\n"+
					"  log.cleaner.threads=2 sensitive=false synonyms={DYNAMIC_BROKER_CONFIG:log.cleaner.threads=2, DEFAULT_CONFIG:log.cleaner.threads=1}\n")
				d = runTool(t, tg, configs, "", "--bootstrap-server", tg.addr, "--alter", "--entity-type", "brokers", "--entity-name", "1", "--delete-config", "log.cleaner.threads")
				wantOut(t, d, "Completed updating config for broker 1.\n")
				d = runTool(t, tg, configs, "", "--bootstrap-server", tg.addr, "--describe", "--entity-type", "brokers", "--entity-name", "1")
				wantOut(t, d, "Dynamic configs for broker 1 are:\n")
			}},
		{tool: "kafka-configs", scenario: "broker defaults --alter / --describe / --delete-config", class: configs,
			args:  []string{"--bootstrap-server", "{bs}", "--alter", "--entity-type", "brokers", "--entity-default", "--add-config", "log.retention.ms=604800001"},
			needs: join(apisAdmin, []kmsg.Key{kmsg.IncrementalAlterConfigs}),
			check: func(t *testing.T, tg *target, o toolOut) {
				wantOut(t, o, "Completed updating default config for brokers in the cluster.\n")
				d := runTool(t, tg, configs, "", "--bootstrap-server", tg.addr, "--describe", "--entity-type", "brokers", "--entity-default")
				// Kafka 4.4 keeps min.insync.replicas=1 as a cluster
				// default of its own (KIP-966, eligible leader
				// replicas), which gregor does not have.
				wantOut(t, toolOut{stdout: maskBrokerConfigs(d.stdout)}, "Default configs for brokers in the cluster are:\n"+
					"  log.retention.ms=604800001 sensitive=false synonyms={DYNAMIC_DEFAULT_BROKER_CONFIG:log.retention.ms=604800001}\n")
				d = runTool(t, tg, configs, "", "--bootstrap-server", tg.addr, "--alter", "--entity-type", "brokers", "--entity-default", "--delete-config", "log.retention.ms")
				wantOut(t, d, "Completed updating default config for brokers in the cluster.\n")
			}},

		{tool: "kafka-configs", scenario: "group --alter, --describe --all", class: configs,
			args:  []string{"--bootstrap-server", "{bs}", "--alter", "--entity-type", "groups", "--entity-name", run + "-cfg", "--add-config", "consumer.session.timeout.ms=50000"},
			needs: join(apisAdmin, []kmsg.Key{kmsg.IncrementalAlterConfigs}),
			check: func(t *testing.T, tg *target, o toolOut) {
				wantOut(t, o, "Completed updating config for group "+run+"-cfg.\n")
				d := runTool(t, tg, configs, "", "--bootstrap-server", tg.addr, "--describe", "--all", "--entity-type", "groups", "--entity-name", run+"-cfg")
				wantContains(t, d.stdout, "All configs for group "+run+"-cfg are:\n",
					"  share.delivery.count.limit=5 sensitive=false synonyms={DEFAULT_CONFIG:group.share.delivery.count.limit=5}\n",
					"  share.auto.offset.reset=latest sensitive=false synonyms={DEFAULT_CONFIG:share.auto.offset.reset=latest}\n")
				// Both brokers of the matrix are started with their own
				// group.consumer.session.timeout.ms (kafka.sh, main_test.go).
				if !regexp.MustCompile(`(?m)^  consumer.session.timeout.ms=50000 sensitive=false synonyms=\{DYNAMIC_GROUP_CONFIG:consumer.session.timeout.ms=50000, (STATIC_BROKER_CONFIG:group.consumer.session.timeout.ms=\d+, )?DEFAULT_CONFIG:group.consumer.session.timeout.ms=45000\}$`).MatchString(d.stdout) {
					t.Errorf("no consumer.session.timeout.ms=50000 line with the group's, the broker's and the default value in\n%s", d.stdout)
				}
				if ref, ok := ktRef["kafka-configs/group --describe --all"]; ok && tg.name != "kafka" {
					if diff := lineDiff(ref.stdout, d.stdout); diff != "" {
						t.Errorf("--describe --all differs from the reference's (- reference, + %s):\n%s", tg.name, diff)
					}
				} else if tg.name == "kafka" {
					ktRef["kafka-configs/group --describe --all"] = d
				}
			}},

		// ---- kafka-console-producer / kafka-console-consumer
		{tool: "kafka-console-producer", scenario: "keys and headers from stdin", class: "org.apache.kafka.tools.ConsoleProducer",
			args:  []string{"--bootstrap-server", "{bs}", "--topic", topic, "--reader-property", "parse.key=true", "--reader-property", "parse.headers=true"},
			stdin: stdin.String(), needs: apisData,
			check: func(t *testing.T, tg *target, o toolOut) {
				wantOut(t, o, "")
				got := readAll(t, tg, topic)
				if len(got) != len(produced) {
					t.Fatalf("topic holds %d records, want exactly %d: %v", len(got), len(produced), got)
				}
				byVal := map[string]rec{}
				for _, r := range got {
					byVal[r.V] = r
				}
				for _, p := range produced {
					r, ok := byVal[p.v]
					if !ok || r.K != p.k {
						t.Errorf("record %s with key %s: got %v", p.v, p.k, r)
						continue
					}
					want := map[string]string{}
					for _, kv := range strings.Split(p.h, ",") {
						k, v, _ := strings.Cut(kv, ":")
						want[k] = v // the last of a repeated header
					}
					if !sameHeaders(r.H, want) {
						t.Errorf("record %s: headers %v, want %v", p.v, r.H, want)
					}
				}
			}},
		{tool: "kafka-console-consumer", scenario: "--from-beginning --group, keys/headers/partition/offset", class: "org.apache.kafka.tools.consumer.ConsoleConsumer",
			args: []string{"--bootstrap-server", "{bs}", "--topic", topic, "--group", group, "--from-beginning",
				"--max-messages", strconv.Itoa(len(produced)), "--timeout-ms", "30000",
				"--formatter-property", "print.key=true", "--formatter-property", "print.headers=true",
				"--formatter-property", "print.partition=true", "--formatter-property", "print.offset=true",
				"--formatter-property", "print.timestamp=true"},
			needs: apisGroup,
			// The order in which partitions are fetched is timing; each
			// partition's lines keep their order.
			mask: sortLines,
			check: func(t *testing.T, tg *target, o toolOut) {
				wantContains(t, o.stderr, fmt.Sprintf("Processed a total of %d messages", len(produced)))
				var n int
				for _, l := range strings.Split(o.stdout, "\n") {
					if strings.HasPrefix(l, "CreateTime:") {
						n++
					}
				}
				if n != len(produced) {
					t.Errorf("printed %d records, want %d", n, len(produced))
				}
				for _, p := range produced {
					wantContains(t, o.stdout, "\t"+p.h+"\t"+p.k+"\t"+p.v+"\n")
				}
			}},

		// ---- kafka-get-offsets
		{tool: "kafka-get-offsets", scenario: "latest (-1)", class: getOffsets,
			args:   []string{"--bootstrap-server", "{bs}", "--topic", ts},
			needs:  apisData,
			before: func(t *testing.T, tg *target) { produceTimed(t, tg, ts, tsBase) },
			check:  func(t *testing.T, tg *target, o toolOut) { wantOut(t, o, ts+":0:10\n") }},
		{tool: "kafka-get-offsets", scenario: "--time <timestamp>", class: getOffsets,
			args: []string{"--bootstrap-server", "{bs}", "--topic", ts, "--time", strconv.FormatInt(tsBase+5000, 10)}, needs: apisData,
			check: func(t *testing.T, tg *target, o toolOut) { wantOut(t, o, ts+":0:5\n") }},
		{tool: "kafka-get-offsets", scenario: "--time -3 (max timestamp)", class: getOffsets,
			args: []string{"--bootstrap-server", "{bs}", "--topic", ts, "--time", "-3"}, needs: apisData,
			check: func(t *testing.T, tg *target, o toolOut) { wantOut(t, o, ts+":0:9\n") }},
		{tool: "kafka-get-offsets", scenario: "latest of every partition", class: getOffsets,
			args: []string{"--bootstrap-server", "{bs}", "--topic", topic}, needs: apisData,
			check: func(t *testing.T, tg *target, o toolOut) {
				ends := endOffsets(t, tg, topic)
				var want strings.Builder
				for p := int32(0); p < 4; p++ {
					fmt.Fprintf(&want, "%s:%d:%d\n", topic, p, ends[p])
				}
				wantOut(t, o, want.String())
			}},

		// ---- kafka-delete-records
		{tool: "kafka-delete-records", scenario: "--offset-json-file, then --time -2", class: "org.apache.kafka.tools.DeleteRecordsCommand",
			args:  []string{"--bootstrap-server", "{bs}", "--offset-json-file", "{file}"},
			file:  fmt.Sprintf(`{"partitions":[{"topic":%q,"partition":0,"offset":3}],"version":1}`, ts),
			needs: join(apisData, []kmsg.Key{kmsg.DeleteRecords}),
			check: func(t *testing.T, tg *target, o toolOut) {
				wantOut(t, o, "Executing records delete operation\nRecords delete operation completed:\npartition: "+ts+"-0\tlow_watermark: 3\n")
				e := runTool(t, tg, getOffsets, "", "--bootstrap-server", tg.addr, "--topic", ts, "--time", "-2")
				wantOut(t, e, ts+":0:3\n")
			}},

		// ---- kafka-producer-perf-test / kafka-consumer-perf-test
		{tool: "kafka-producer-perf-test", scenario: "2000 records, acks=all", class: "org.apache.kafka.tools.ProducerPerformance",
			args: []string{"--topic", perf, "--num-records", "2000", "--record-size", "100", "--throughput", "-1",
				"--command-property", "bootstrap.servers={bs}", "acks=all", "linger.ms=5"},
			needs:  apisIdem,
			before: func(t *testing.T, tg *target) { createNamed(t, tg, perf, 2) },
			// Speeds and latencies are measurements; the progress lines
			// come every 5 s, as many as the run takes.
			mask: maskPerf,
			check: func(t *testing.T, tg *target, o toolOut) {
				wantContains(t, o.stdout, "2000 records sent, ")
				if n := sumOffsets(endOffsets(t, tg, perf)); n != 2000 {
					t.Errorf("%s holds %d records, want 2000", perf, n)
				}
			}},
		{tool: "kafka-consumer-perf-test", scenario: "2000 records", class: "org.apache.kafka.tools.ConsumerPerformance",
			args:  []string{"--bootstrap-server", "{bs}", "--topic", perf, "--num-records", "2000", "--timeout", "30000", "--group", run + "-perf"},
			needs: apisGroup,
			mask:  maskConsumerPerf,
			check: func(t *testing.T, tg *target, o toolOut) {
				f := consumerPerfFields(t, o.stdout)
				if f["data.consumed.in.nMsg"] != "2000" || f["data.consumed.in.MB"] != "0.1907" {
					t.Errorf("consumed %s records, %s MB; want 2000, 0.1907", f["data.consumed.in.nMsg"], f["data.consumed.in.MB"])
				}
			}},

		// ---- kafka-verifiable-producer / kafka-verifiable-consumer
		{tool: "kafka-verifiable-producer", scenario: "200 records acks=-1: events", class: "org.apache.kafka.tools.VerifiableProducer",
			args:   []string{"--bootstrap-server", "{bs}", "--topic", ver, "--max-messages", "200", "--acks", "-1"},
			needs:  apisIdem,
			before: func(t *testing.T, tg *target) { createNamed(t, tg, ver, 1) },
			// One line per event with a timestamp and throughput: the
			// comparison is of the events, counted (summarizeEvents).
			mask: summarizeEvents,
			check: func(t *testing.T, tg *target, o toolOut) {
				ev := events(t, o.stdout)
				var acked int
				offs := map[float64]bool{}
				for _, e := range ev {
					switch e["name"] {
					case "producer_send_success":
						acked++
						offs[e["offset"].(float64)] = true
					case "tool_data":
						if e["sent"] != 200.0 || e["acked"] != 200.0 {
							t.Errorf("tool_data %v, want sent and acked 200", e)
						}
					}
				}
				if acked != 200 || len(offs) != 200 {
					t.Errorf("%d producer_send_success events at %d offsets, want 200", acked, len(offs))
				}
				if n := sumOffsets(endOffsets(t, tg, ver)); n != 200 {
					t.Errorf("%s holds %d records, want 200", ver, n)
				}
			}},
		{tool: "kafka-verifiable-consumer", scenario: "200 records: events, counts, commits", class: "org.apache.kafka.tools.VerifiableConsumer",
			args:  []string{"--bootstrap-server", "{bs}", "--topic", ver, "--group-id", run + "-vg", "--max-messages", "200", "--reset-policy", "earliest"},
			needs: apisGroup,
			mask:  summarizeEvents,
			check: func(t *testing.T, tg *target, o toolOut) {
				var consumed float64
				var committed float64 = -1
				for _, e := range events(t, o.stdout) {
					switch e["name"] {
					case "records_consumed":
						consumed += e["count"].(float64)
					case "offsets_committed":
						if e["success"] != true {
							t.Errorf("commit failed: %v", e)
						}
						for _, p := range e["offsets"].([]any) {
							committed = p.(map[string]any)["offset"].(float64)
						}
					}
				}
				if consumed != 200 || committed != 200 {
					t.Errorf("consumed %v records, last commit %v; want 200 and 200", consumed, committed)
				}
				checkCommitted(t, tg, run+"-vg", ver)
			}},

		// ---- kafka-e2e-latency
		{tool: "kafka-e2e-latency", scenario: "100 records, acks=all", class: "org.apache.kafka.tools.EndToEndLatency",
			args:  []string{"--bootstrap-server", "{bs}", "--topic", e2e, "--num-records", "100", "--producer-acks", "all", "--record-size", "100"},
			needs: apisGroup,
			mask:  maskNumbers,
			check: func(t *testing.T, tg *target, o toolOut) {
				wantContains(t, o.stdout, "Avg latency: ", "Percentiles: 50th = ")
				if n := sumOffsets(endOffsets(t, tg, e2e)); n != 100 {
					t.Errorf("%s holds %d records, want 100", e2e, n)
				}
			}},

		// ---- kafka-groups, then kafka-consumer-groups
		{tool: "kafka-groups", scenario: "--list (types, protocols)", class: "org.apache.kafka.tools.GroupsCommand",
			args: []string{"--bootstrap-server", "{bs}", "--list"}, needs: apisGroups,
			// The broker holds other scenarios' groups too.
			mask: keepLines(run, "GROUP "),
			check: func(t *testing.T, tg *target, o toolOut) {
				got := keepLines(run, "GROUP ")(o.stdout)
				for _, g := range []string{group, run + "-perf", run + "-vg"} {
					if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(g) + ` +Classic +consumer *$`).MatchString(got) {
						t.Errorf("no line %q Classic consumer in\n%s", g, got)
					}
				}
			}},
		{tool: "kafka-groups", scenario: "--list --consumer", class: "org.apache.kafka.tools.GroupsCommand",
			args: []string{"--bootstrap-server", "{bs}", "--list", "--consumer"}, needs: apisGroups,
			mask:  keepLines(run, "GROUP "),
			check: func(t *testing.T, tg *target, o toolOut) { wantContains(t, o.stdout, group+" ") }},
		{tool: "kafka-consumer-groups", scenario: "--list --state", class: groups,
			args: []string{"--bootstrap-server", "{bs}", "--list", "--state"}, needs: apisGroups,
			mask: keepLines(run, "GROUP "),
			check: func(t *testing.T, tg *target, o toolOut) {
				if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(group) + ` +Empty *$`).MatchString(o.stdout) {
					t.Errorf("no line %s Empty in\n%s", group, o.stdout)
				}
			}},
		{tool: "kafka-consumer-groups", scenario: "--describe (offsets, lag)", class: groups,
			args: []string{"--bootstrap-server", "{bs}", "--describe", "--group", group}, needs: apisGroups,
			check: func(t *testing.T, tg *target, o toolOut) {
				ends := endOffsets(t, tg, topic)
				for p := int32(0); p < 4; p++ {
					re := fmt.Sprintf(`(?m)^%s +%s +%d +%d +%d +0 +- +- +-$`, regexp.QuoteMeta(group), regexp.QuoteMeta(topic), p, ends[p], ends[p])
					if !regexp.MustCompile(re).MatchString(o.stdout) {
						t.Errorf("no line for partition %d at offset %d, lag 0 in\n%s", p, ends[p], o.stdout)
					}
				}
			}},
		{tool: "kafka-consumer-groups", scenario: "--describe --state", class: groups,
			args: []string{"--bootstrap-server", "{bs}", "--describe", "--group", group, "--state"}, needs: apisGroups,
			check: func(t *testing.T, tg *target, o toolOut) {
				if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(group) + ` +127\.0\.0\.1:\d+ +\(\d+\) +- +Empty +0$`).MatchString(o.stdout) {
					t.Errorf("no state line in\n%s", o.stdout)
				}
			}},
		{tool: "kafka-consumer-groups", scenario: "--describe --members --verbose", class: groups,
			args: []string{"--bootstrap-server", "{bs}", "--describe", "--group", group, "--members", "--verbose"}, needs: apisGroups,
			check: func(t *testing.T, tg *target, o toolOut) {
				// An empty group: the header and no member.
				if l := strings.Split(strings.TrimSpace(o.stdout), "\n"); len(l) != 1 || !strings.HasPrefix(l[0], "GROUP           CONSUMER-ID     HOST") {
					t.Errorf("want the header line alone, got\n%s", o.stdout)
				}
			}},
		{tool: "kafka-consumer-groups", scenario: "--describe --members --verbose, a live member", class: groups,
			args: []string{"--bootstrap-server", "{bs}", "--describe", "--group", live, "--members", "--verbose"}, needs: apisGroups,
			before: func(t *testing.T, tg *target) { joinLive(t, tg, live, topic) },
			check: func(t *testing.T, tg *target, o toolOut) {
				re := `(?m)^` + regexp.QuoteMeta(live) + ` +kt-member-\S+ +/127\.0\.0\.1 +kt-member +4 +- +` + regexp.QuoteMeta(topic) + `:0,1,2,3 +- +- *$`
				if !regexp.MustCompile(re).MatchString(o.stdout) {
					t.Errorf("no member line with its 4 partitions in\n%s", o.stdout)
				}
			}},
		{tool: "kafka-consumer-groups", scenario: "--describe --state, a live member", class: groups,
			args: []string{"--bootstrap-server", "{bs}", "--describe", "--group", live, "--state"}, needs: apisGroups,
			before: func(t *testing.T, tg *target) { joinLive(t, tg, live, topic) },
			check: func(t *testing.T, tg *target, o toolOut) {
				if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(live) + ` +127\.0\.0\.1:\d+ +\(\d+\) +range +Stable +1$`).MatchString(o.stdout) {
					t.Errorf("no Stable state line with 1 member in\n%s", o.stdout)
				}
			}},
		{tool: "kafka-consumer-groups", scenario: "--reset-offsets --to-earliest --execute", class: groups,
			args: []string{"--bootstrap-server", "{bs}", "--reset-offsets", "--group", group, "--topic", topic, "--to-earliest", "--execute"}, needs: apisGroups,
			mask: sortLines,
			check: func(t *testing.T, tg *target, o toolOut) {
				wantCommitted(t, tg, group, topic, func(p int32, end int64) int64 { return 0 })
			}},
		{tool: "kafka-consumer-groups", scenario: "--reset-offsets --shift-by 1 --execute", class: groups,
			args: []string{"--bootstrap-server", "{bs}", "--reset-offsets", "--group", group, "--all-topics", "--shift-by", "1", "--execute"}, needs: apisGroups,
			mask: sortLines,
			check: func(t *testing.T, tg *target, o toolOut) {
				wantCommitted(t, tg, group, topic, func(p int32, end int64) int64 { return min(1, end) })
			}},
		{tool: "kafka-consumer-groups", scenario: "--reset-offsets --to-latest --dry-run", class: groups,
			args: []string{"--bootstrap-server", "{bs}", "--reset-offsets", "--group", group, "--all-topics", "--to-latest", "--dry-run"}, needs: apisGroups,
			mask: sortLines,
			check: func(t *testing.T, tg *target, o toolOut) {
				ends := endOffsets(t, tg, topic)
				for p := int32(0); p < 4; p++ {
					wantContains(t, o.stdout, fmt.Sprintf("%d          %d", p, ends[p]))
				}
				wantCommitted(t, tg, group, topic, func(p int32, end int64) int64 { return min(1, end) })
			}},
		{tool: "kafka-consumer-groups", scenario: "--reset-offsets --to-datetime --execute (new group)", class: groups,
			args: []string{"--bootstrap-server", "{bs}", "--reset-offsets", "--group", tsGroup, "--topic", ts, "--execute",
				"--to-datetime", time.UnixMilli(tsBase+5000).UTC().Format("2006-01-02T15:04:05.000") + "Z"},
			needs: apisGroups,
			check: func(t *testing.T, tg *target, o toolOut) {
				wantCommitted(t, tg, tsGroup, ts, func(p int32, end int64) int64 { return 5 })
			}},
		{tool: "kafka-consumer-groups", scenario: "--delete-offsets", class: groups,
			args: []string{"--bootstrap-server", "{bs}", "--delete-offsets", "--group", tsGroup, "--topic", ts}, needs: join(apisGroups, []kmsg.Key{kmsg.OffsetDelete}),
			check: func(t *testing.T, tg *target, o toolOut) {
				wantContains(t, o.stdout, "Request succeeded for deleting offsets from group "+tsGroup+".")
				resp, err := newAdmin(t, tg).FetchOffsets(ctxT(t, 20*time.Second), tsGroup)
				if err != nil {
					t.Fatal(err)
				}
				if o, ok := resp.Lookup(ts, 0); ok && o.At >= 0 {
					t.Errorf("%s still has offset %d on %s/0", tsGroup, o.At, ts)
				}
			}},
		{tool: "kafka-consumer-groups", scenario: "--delete", class: groups,
			args: []string{"--bootstrap-server", "{bs}", "--delete", "--group", group}, needs: join(apisGroups, []kmsg.Key{kmsg.DeleteGroups}),
			check: func(t *testing.T, tg *target, o toolOut) {
				wantOut(t, o, "Deletion of requested consumer groups ('"+group+"') was successful.\n")
				lg, err := newAdmin(t, tg).ListGroups(ctxT(t, 20*time.Second))
				if err != nil {
					t.Fatal(err)
				}
				if _, ok := lg[group]; ok {
					t.Errorf("group %s still listed", group)
				}
			}},
		{tool: "kafka-consumer-groups", scenario: "--delete a missing group", class: groups,
			args: []string{"--bootstrap-server", "{bs}", "--delete", "--group", group}, needs: join(apisGroups, []kmsg.Key{kmsg.DeleteGroups}),
			check: func(t *testing.T, tg *target, o toolOut) {
				wantContains(t, o.stdout, "Group '"+group+"' could not be deleted due to: org.apache.kafka.common.errors.GroupIdNotFoundException")
			}},
		{tool: "kafka-consumer-groups", scenario: "--describe a missing group", class: groups,
			args: []string{"--bootstrap-server", "{bs}", "--describe", "--group", group}, needs: apisGroups,
			check: func(t *testing.T, tg *target, o toolOut) {
				wantContains(t, o.stdout, "GroupIdNotFoundException: Group "+group+" not found.")
			}},

		// ---- cluster tools
		{tool: "kafka-broker-api-versions", scenario: "every broker's versions", class: "org.apache.kafka.tools.BrokerApiVersionsCommand",
			args: []string{"--bootstrap-server", "{bs}"}, needs: apisData,
			// It prints what each broker advertises, which differs where
			// gregor does not implement an API (docs/compatibility.md's
			// ApiVersions table, compared with the reference by
			// TestDocsApiVersionsTable): checked against the target's
			// own ApiVersions, line by line.
			noCompare: true,
			check:     func(t *testing.T, tg *target, o toolOut) { checkAPIVersionsTool(t, tg, o.stdout) }},
		{tool: "kafka-cluster", scenario: "cluster-id", class: "org.apache.kafka.tools.ClusterTool",
			args: []string{"cluster-id", "--bootstrap-server", "{bs}"}, needs: apisData,
			check: func(t *testing.T, tg *target, o toolOut) {
				resp, err := kmsg.NewPtrMetadataRequest().RequestWith(ctxT(t, 20*time.Second), newClient(t, tg))
				if err != nil || resp.ClusterID == nil {
					t.Fatalf("metadata: %v", err)
				}
				wantOut(t, o, "Cluster ID: "+*resp.ClusterID+"\n")
			}},
		{tool: "kafka-log-dirs", scenario: "--describe --topic-list", class: "org.apache.kafka.tools.LogDirsCommand",
			args: []string{"--bootstrap-server", "{bs}", "--describe", "--topic-list", topic + "," + ts}, needs: join(apisData, []kmsg.Key{kmsg.DescribeLogDirs}),
			// Sizes are the storage's own (Kafka's segments against
			// gregor's shared commit log) and the folder is each
			// broker's: masked; a partition holding records must show
			// a size.
			mask: maskLogDirs,
			check: func(t *testing.T, tg *target, o toolOut) {
				ends := endOffsets(t, tg, topic)
				sizes := logDirSizes(t, o.stdout)
				for p := int32(0); p < 4; p++ {
					sz, ok := sizes[fmt.Sprintf("%s-%d", topic, p)]
					if !ok || (ends[p] > 0) != (sz > 0) {
						t.Errorf("%s-%d: size %d (listed %v) with %d records", topic, p, sz, ok, ends[p])
					}
				}
				if sizes[ts+"-0"] <= 0 {
					t.Errorf("%s-0: size %d", ts, sizes[ts+"-0"])
				}
				// gregor-repl's slave (broker 2) lists the partitions too.
				brokers := 1
				if tg.name == "gregor-repl" {
					brokers = 2
				}
				if n := strings.Count(o.stdout, `{"partition":"`+topic+`-`); n != 4*brokers {
					t.Errorf("%d entries of %s's partitions, want 4 from each of %d brokers:\n%s", n, topic, brokers, o.stdout)
				}
			}},
		{tool: "kafka-features", scenario: "describe", class: "org.apache.kafka.tools.FeatureCommand",
			args: []string{"--bootstrap-server", "{bs}", "describe"}, needs: apisData,
			// Feature levels are what each broker implements (Kafka's
			// kraft, share, streams and eligible-leader-replica levels
			// mean nothing for gregor; docs/compatibility.md): checked
			// against the target's own ApiVersions feature levels.
			noCompare: true,
			check:     func(t *testing.T, tg *target, o toolOut) { checkFeaturesTool(t, tg, o.stdout) }},
	}

	for _, r := range rows {
		matrix(t, r.tool, r.scenario, r.needs, func(t *testing.T, tg *target) {
			if r.before != nil {
				r.before(t, tg)
			}
			args := make([]string, len(r.args))
			for i, a := range r.args {
				a = strings.ReplaceAll(a, "{bs}", tg.addr)
				if strings.Contains(a, "{file}") {
					f := filepath.Join(t.TempDir(), "input.json")
					if err := os.WriteFile(f, []byte(r.file), 0o644); err != nil {
						t.Fatal(err)
					}
					a = strings.ReplaceAll(a, "{file}", f)
				}
				args[i] = a
			}
			o := runTool(t, tg, r.class, r.stdin, args...)
			if o.code != r.code {
				t.Errorf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", o.code, r.code, tail(o.stdout, 3000), tail(o.stderr, 3000))
			}
			r.check(t, tg, o)
			if r.noCompare {
				return
			}
			m := maskTool(tg, o, r.mask)
			key := r.tool + "/" + r.scenario
			if tg.name == "kafka" {
				ktRef[key] = m
				return
			}
			ref, ok := ktRef[key]
			if !ok {
				t.Logf("no reference output for %s (the kafka target did not run it first): own checks only", key)
				return
			}
			if ref.code != m.code {
				t.Errorf("exit code %d, the reference's %d", m.code, ref.code)
			}
			if d := lineDiff(ref.stdout, m.stdout); d != "" {
				t.Errorf("stdout differs from the reference's (- reference, + %s, masked):\n%s", tg.name, d)
			}
			if d := lineDiff(ref.stderr, m.stderr); d != "" {
				t.Errorf("stderr differs from the reference's (- reference, + %s, masked):\n%s", tg.name, d)
			}
		})
	}
}

// runTool runs one of Kafka's tools (main class) with args and stdin and
// returns what it printed and its exit code; it fails the test only when the
// tool cannot be run or does not end within 2 minutes.
func runTool(t *testing.T, tg *target, class, stdin string, args ...string) toolOut {
	t.Helper()
	cp := toolsClasspath(t)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	full := append(append(toolsJVM(tg.addr, cp), "-cp", cp, class), args...)
	cmd := exec.CommandContext(ctx, "java", full...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	start := time.Now()
	err := cmd.Run()
	o := toolOut{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("%s %s: did not end within 2 minutes\nstdout:\n%s\nstderr:\n%s", class, strings.Join(args, " "), tail(o.stdout, 2000), tail(o.stderr, 2000))
	case errors.As(err, &ee):
		o.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("%s: %v", class, err)
	}
	t.Logf("%s %s: exit %d in %v", class[strings.LastIndexByte(class, '.')+1:], strings.Join(args, " "), o.code, time.Since(start).Round(time.Millisecond))
	return o
}

// toolsJVM returns the JVM's flags for a tool run: a quick start, and the
// class-data archive of the run (made once by a first kafka-topics --list
// against addr, in the run's folder) that halves each tool's start-up.
// -Xlog:disable keeps the JVM's own warnings out of the tools' output.
func toolsJVM(addr, cp string) []string {
	flags := []string{"-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xmx256m", "-Djava.awt.headless=true", "-Xlog:disable"}
	toolsCDS.once.Do(func() {
		jsa := filepath.Join(workDir, "kafka-tools.jsa")
		ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
		defer cancel()
		err := exec.CommandContext(ctx, "java", append(flags, "-XX:ArchiveClassesAtExit="+jsa, "-cp", cp,
			"org.apache.kafka.tools.TopicCommand", "--bootstrap-server", addr, "--list")...).Run()
		if _, serr := os.Stat(jsa); err == nil && serr == nil {
			toolsCDS.flag = "-XX:SharedArchiveFile=" + jsa
		}
	})
	if toolsCDS.flag != "" {
		flags = append(flags, toolsCDS.flag)
	}
	return flags
}

var toolsCDS struct {
	once sync.Once
	flag string
}

// toolsClasspath is scripts/kafka.sh tools-classpath, asked once.
func toolsClasspath(t *testing.T) string {
	t.Helper()
	toolsCP.once.Do(func() {
		cmd := exec.Command("bash", filepath.Join(repoRoot, "scripts", "kafka.sh"), "tools-classpath")
		cmd.Env = append(os.Environ(), "GREGOR_CACHE="+cacheDir)
		out, err := cmd.Output()
		if err != nil {
			toolsCP.err = fmt.Errorf("scripts/kafka.sh tools-classpath: %v", err)
			return
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		toolsCP.cp = lines[len(lines)-1]
	})
	if toolsCP.err != nil {
		t.Fatal(toolsCP.err)
	}
	return toolsCP.cp
}

var (
	reHostPort  = regexp.MustCompile(`127\.0\.0\.1:\d+`)
	reTopicID   = regexp.MustCompile(`TopicId: [A-Za-z0-9_-]{22}`)
	reClusterID = regexp.MustCompile(`Cluster ID: [A-Za-z0-9_-]{22}`)
	reCreateTS  = regexp.MustCompile(`(CreateTime|LogAppendTime):\d+`)
	reJSONTS    = regexp.MustCompile(`"timestamp":\d+`)
	reClock     = regexp.MustCompile(`\b\d{2}:\d{2}:\d{2}[.,:]\d{3}\b`)
	reDate      = regexp.MustCompile(`\b\d{4}-\d{2}-\d{2}\b`)
	reUUID      = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	reFrame     = regexp.MustCompile(`(?m)^\s+(at |\.\.\. \d+ more).*\n`)
	reRepl      = regexp.MustCompile(`Replicas: 1,2\tIsr: 1,2`)
	reReplRF    = regexp.MustCompile(`ReplicationFactor: 2\t`)
)

// maskTool applies the row's mask and the common ones: the broker's address,
// topic and cluster ids, member ids' UUIDs, record timestamps and clock
// times, and stack frames
// (the exception and its message stay); on gregor-repl the topic's second
// replica, the slave (the reference is one node).
func maskTool(tg *target, o toolOut, mask func(string) string) toolOut {
	m := func(s string) string {
		s = strings.ReplaceAll(s, tg.addr, "<bootstrap>")
		s = reHostPort.ReplaceAllString(s, "<host:port>")
		s = reTopicID.ReplaceAllString(s, "TopicId: <id>")
		s = reClusterID.ReplaceAllString(s, "Cluster ID: <id>")
		s = reCreateTS.ReplaceAllString(s, "$1:<ts>")
		s = reJSONTS.ReplaceAllString(s, `"timestamp":0`) // still JSON
		s = reUUID.ReplaceAllString(s, "<uuid>")
		s = reClock.ReplaceAllString(s, "<time>")
		s = reDate.ReplaceAllString(s, "<date>")
		s = reFrame.ReplaceAllString(s, "")
		if tg.name == "gregor-repl" {
			s = reRepl.ReplaceAllString(s, "Replicas: 1\tIsr: 1")
			s = reReplRF.ReplaceAllString(s, "ReplicationFactor: 1\t")
			s = strings.ReplaceAll(s, "from brokers 1,2\n", "from brokers 1\n")
			s = dropSlaveLogDirs(s)
		}
		if mask != nil {
			s = mask(s)
		}
		return s
	}
	return toolOut{code: o.code, stdout: m(o.stdout), stderr: m(o.stderr)}
}

// dropSlaveLogDirs drops broker 2, gregor-repl's slave, from kafka-log-dirs'
// JSON (the reference is one node); the row's check looks at it.
func dropSlaveLogDirs(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		var v map[string]any
		if !strings.HasPrefix(l, `{"brokers":`) || json.Unmarshal([]byte(l), &v) != nil {
			continue
		}
		var keep []any
		for _, b := range v["brokers"].([]any) {
			if b.(map[string]any)["broker"] != 2.0 {
				keep = append(keep, b)
			}
		}
		v["brokers"] = keep
		out, _ := json.Marshal(v)
		lines[i] = string(out)
	}
	return strings.Join(lines, "\n")
}

// maskBrokerConfigs drops what the reference's own set-up adds to a topic's
// or the cluster's configs: scripts/kafka.sh sets log.flush.interval.messages
// in server.properties (a STATIC_BROKER_CONFIG synonym, listed among a
// topic's non-default configs), and Kafka 4.4 keeps min.insync.replicas=1 as
// a dynamic cluster default for eligible leader replicas (KIP-966), a
// feature gregor does not have; the value is Kafka's default either way.
func maskBrokerConfigs(s string) string {
	for _, r := range []string{
		"STATIC_BROKER_CONFIG:log.flush.interval.messages=9223372036854775807, ",
		"DYNAMIC_DEFAULT_BROKER_CONFIG:min.insync.replicas=1, ",
		"  min.insync.replicas=1 sensitive=false synonyms={DYNAMIC_DEFAULT_BROKER_CONFIG:min.insync.replicas=1}\n",
	} {
		s = strings.ReplaceAll(s, r, "")
	}
	// kafka-topics --describe lists a topic's non-default configs.
	return regexp.MustCompile(`Configs: [^\n]*`).ReplaceAllStringFunc(s, func(c string) string {
		var keep []string
		for _, kv := range strings.Split(strings.TrimPrefix(c, "Configs: "), ",") {
			if kv != "" && kv != "min.insync.replicas=1" && kv != "flush.messages=9223372036854775807" {
				keep = append(keep, kv)
			}
		}
		sort.Strings(keep)
		return "Configs: " + strings.Join(keep, ",")
	})
}

// sortLines sorts the lines: for output whose order is timing (partitions
// fetched in turn) or a hash map's.
func sortLines(s string) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	sort.Strings(l)
	return strings.Join(l, "\n") + "\n"
}

// keepLines keeps the lines naming this run's groups and the header line: the
// broker holds other scenarios' groups too. Sorted, as the list comes in
// the order of a hash map. Columns are padded to the longest name of all the
// broker's groups, the dropped ones included, so runs of blanks become one.
func keepLines(run, header string) func(string) string {
	return func(s string) string {
		var keep []string
		for _, l := range strings.Split(s, "\n") {
			if strings.Contains(l, run) || strings.HasPrefix(l, header) {
				keep = append(keep, strings.Join(strings.Fields(l), " "))
			}
		}
		sort.Strings(keep)
		return strings.Join(keep, "\n")
	}
}

var reNumber = regexp.MustCompile(`\d+(\.\d+)?`)

// maskNumbers masks every number: the output is measurements.
func maskNumbers(s string) string { return reNumber.ReplaceAllString(s, "<n>") }

// maskPerf keeps the summary line with its record count and masks its
// measurements; the progress lines (one per 5 s) depend on the speed.
func maskPerf(s string) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, "records/sec") && !strings.Contains(l, "50th") {
			continue
		}
		if n, rest, ok := strings.Cut(l, " records sent, "); ok {
			l = n + " records sent, " + maskNumbers(rest)
		}
		keep = append(keep, l)
	}
	return strings.Join(keep, "\n")
}

// maskConsumerPerf keeps the consumed MB and record count, and masks the
// times and speeds.
func maskConsumerPerf(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		f := strings.Split(l, ", ")
		if len(f) != 10 || strings.HasPrefix(l, "start.time") {
			continue
		}
		for _, j := range []int{0, 1, 3, 5, 6, 7, 8, 9} {
			f[j] = "<m>"
		}
		lines[i] = strings.Join(f, ", ")
	}
	return strings.Join(lines, "\n")
}

// consumerPerfFields reads ConsumerPerformance's header and data lines.
func consumerPerfFields(t *testing.T, s string) map[string]string {
	t.Helper()
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "start.time, ") && i+1 < len(lines) {
			h, v := strings.Split(l, ", "), strings.Split(lines[i+1], ", ")
			if len(h) != len(v) {
				break
			}
			out := map[string]string{}
			for j := range h {
				out[h[j]] = v[j]
			}
			return out
		}
	}
	t.Fatalf("no header and data line in\n%s", s)
	return nil
}

// events decodes a verifiable tool's JSON lines.
func events(t *testing.T, s string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(s, "\n") {
		if !strings.HasPrefix(l, "{") {
			continue
		}
		var e map[string]any
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("bad event line %s: %v", l, err)
		}
		out = append(out, e)
	}
	return out
}

// summarizeEvents turns a verifiable tool's events into their names in
// order, a run of one name counted once with its total: how the records
// are batched into events, and the timestamps and throughput, are timing.
// Records per partition, offsets acknowledged and committed stay.
func summarizeEvents(s string) string {
	var b strings.Builder
	var last string
	var n int
	flush := func() {
		if last != "" {
			fmt.Fprintf(&b, "%s ×%d\n", last, n)
		}
	}
	acked := map[string][]float64{}
	consumed := map[string]float64{}
	var committed []string
	for _, l := range strings.Split(s, "\n") {
		var e map[string]any
		if json.Unmarshal([]byte(l), &e) != nil {
			if strings.TrimSpace(l) != "" {
				flush()
				last, n = "", 0
				b.WriteString(l + "\n")
			}
			continue
		}
		name, _ := e["name"].(string)
		switch name {
		case "producer_send_success":
			k := fmt.Sprintf("%v-%v", e["topic"], e["partition"])
			acked[k] = append(acked[k], e["offset"].(float64))
		case "records_consumed":
			for _, p := range e["partitions"].([]any) {
				m := p.(map[string]any)
				consumed[fmt.Sprintf("%v-%v", m["topic"], m["partition"])] += m["count"].(float64)
			}
		case "offsets_committed":
			committed = append(committed, fmt.Sprintf("%v", e["offsets"]))
		case "tool_data":
			name = fmt.Sprintf("tool_data sent=%v acked=%v", e["sent"], e["acked"])
		}
		if name != last {
			flush()
			last, n = name, 0
		}
		n++
	}
	flush()
	keys := func(m map[string]bool) []string {
		var k []string
		for x := range m {
			k = append(k, x)
		}
		sort.Strings(k)
		return k
	}
	seen := map[string]bool{}
	for k := range acked {
		seen[k] = true
	}
	for _, k := range keys(seen) {
		o := acked[k]
		sort.Float64s(o)
		fmt.Fprintf(&b, "acked %s: %d records, offsets %v-%v\n", k, len(o), o[0], o[len(o)-1])
	}
	seen = map[string]bool{}
	for k := range consumed {
		seen[k] = true
	}
	for _, k := range keys(seen) {
		fmt.Fprintf(&b, "consumed %s: %v records\n", k, consumed[k])
	}
	if len(committed) > 0 {
		fmt.Fprintf(&b, "last commit: %s\n", committed[len(committed)-1])
	}
	return b.String()
}

// maskLogDirs rewrites kafka-log-dirs' JSON with each broker's folder and
// every size masked and the partitions sorted.
func maskLogDirs(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		var v struct {
			Brokers []struct {
				Broker  int `json:"broker"`
				LogDirs []struct {
					Partitions []map[string]any `json:"partitions"`
					Error      any              `json:"error"`
					LogDir     string           `json:"logDir"`
				} `json:"logDirs"`
			} `json:"brokers"`
			Version int `json:"version"`
		}
		if !strings.HasPrefix(l, "{") || json.Unmarshal([]byte(l), &v) != nil {
			continue
		}
		for _, b := range v.Brokers {
			for j := range b.LogDirs {
				d := &b.LogDirs[j]
				d.LogDir = "<dir>"
				for _, p := range d.Partitions {
					p["size"] = "<size>"
				}
				sort.Slice(d.Partitions, func(a, c int) bool {
					return fmt.Sprint(d.Partitions[a]["partition"]) < fmt.Sprint(d.Partitions[c]["partition"])
				})
			}
		}
		out, _ := json.Marshal(v)
		lines[i] = string(out)
	}
	return strings.Join(lines, "\n")
}

// logDirSizes reads the size of each partition kafka-log-dirs printed (the
// largest over brokers and folders).
func logDirSizes(t *testing.T, s string) map[string]int64 {
	t.Helper()
	for _, l := range strings.Split(s, "\n") {
		if !strings.HasPrefix(l, "{") {
			continue
		}
		var v struct {
			Brokers []struct {
				LogDirs []struct {
					Partitions []struct {
						Partition string `json:"partition"`
						Size      int64  `json:"size"`
					} `json:"partitions"`
				} `json:"logDirs"`
			} `json:"brokers"`
		}
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatalf("kafka-log-dirs printed %s: %v", l, err)
		}
		out := map[string]int64{}
		for _, b := range v.Brokers {
			for _, d := range b.LogDirs {
				for _, p := range d.Partitions {
					out[p.Partition] = max(out[p.Partition], p.Size)
				}
			}
		}
		return out
	}
	t.Fatalf("no JSON line in\n%s", s)
	return nil
}

var reAPILine = regexp.MustCompile(`^\t(\w+)\((\d+)\): (?:(\d+)(?: to (\d+))? \[usable: (\d+)\]|UNSUPPORTED),?$`)

// checkAPIVersionsTool checks kafka-broker-api-versions' lines against the
// versions the target advertises: each key it serves with its range (usable
// = the client's and broker's highest in common, at most the broker's), each
// other key UNSUPPORTED, for every broker listed.
func checkAPIVersionsTool(t *testing.T, tg *target, out string) {
	t.Helper()
	brokers := regexp.MustCompile(`(?m)^127\.0\.0\.1:\d+ \(id: \d+ rack: null isFenced: false\) -> \($`).FindAllString(out, -1)
	if len(brokers) == 0 {
		t.Fatalf("no broker header line in\n%s", out)
	}
	seen := map[int16]bool{}
	for _, l := range strings.Split(out, "\n") {
		m := reAPILine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		k, _ := strconv.Atoi(m[2])
		key := int16(k)
		v, served := tg.apis[key]
		seen[key] = true
		switch {
		case m[3] == "" && served:
			t.Errorf("%s: UNSUPPORTED, but the broker advertises %d–%d", m[1], v[0], v[1])
		case m[3] != "" && !served:
			t.Errorf("%s: %s, but the broker does not advertise it", m[1], l)
		case m[3] != "":
			lo, _ := strconv.Atoi(m[3])
			hi := lo
			if m[4] != "" {
				hi, _ = strconv.Atoi(m[4])
			}
			u, _ := strconv.Atoi(m[5])
			if int16(lo) != v[0] || int16(hi) != v[1] || int16(u) > v[1] || u < lo {
				t.Errorf("%s: %s, the broker advertises %d–%d", m[1], strings.TrimSpace(l), v[0], v[1])
			}
		}
	}
	for k := range tg.apis {
		if !seen[k] && kmsg.NameForKey(k) != "" && k < 95 {
			t.Errorf("the broker advertises %s (%d), the tool printed no line for it", kmsg.NameForKey(k), k)
		}
	}
}

var reFeature = regexp.MustCompile(`(?m)^Feature: (\S+)\s+SupportedMinVersion: (\S+)\s+SupportedMaxVersion: (\S+)\s+FinalizedVersionLevel: (\S+)\s+Epoch: (\d+)$`)

// checkFeaturesTool checks kafka-features describe against the feature levels
// the target's ApiVersions names, and metadata.version against 4.4's.
func checkFeaturesTool(t *testing.T, tg *target, out string) {
	t.Helper()
	resp, err := kmsg.NewPtrApiVersionsRequest().RequestWith(ctxT(t, 20*time.Second), newClient(t, tg))
	if err != nil {
		t.Fatal(err)
	}
	fin := map[string]int16{}
	for _, f := range resp.FinalizedFeatures {
		fin[f.Name] = f.MaxVersionLevel
	}
	got := map[string][]string{}
	for _, m := range reFeature.FindAllStringSubmatch(out, -1) {
		got[m[1]] = m[2:]
	}
	if len(got) != len(resp.SupportedFeatures) {
		t.Errorf("%d features printed, the broker supports %d:\n%s", len(got), len(resp.SupportedFeatures), out)
	}
	for _, f := range resp.SupportedFeatures {
		g, ok := got[f.Name]
		switch {
		case !ok:
			t.Errorf("feature %s not printed", f.Name)
		case f.Name == "metadata.version":
			if g[2] != "4.4-IV2" {
				t.Errorf("metadata.version finalized %s, want 4.4-IV2", g[2])
			}
		case g[0] != strconv.Itoa(int(f.MinVersion)) || g[1] != strconv.Itoa(int(f.MaxVersion)) || g[2] != strconv.Itoa(int(fin[f.Name])):
			t.Errorf("feature %s printed %v, the broker says %d–%d finalized %d", f.Name, g, f.MinVersion, f.MaxVersion, fin[f.Name])
		}
	}
}

// wantOut checks a tool printed exactly want on stdout.
func wantOut(t *testing.T, o toolOut, want string) {
	t.Helper()
	if o.stdout != want {
		t.Errorf("printed %q, want %q (stderr %q)", o.stdout, want, tail(o.stderr, 2000))
	}
}

// wantContains checks s holds each of want.
func wantContains(t *testing.T, s string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(s, w) {
			t.Errorf("no %q in\n%s", w, tail(s, 3000))
		}
	}
}

// wantCommitted checks group's committed offset of each of topic's
// partitions is want(partition, end offset).
func wantCommitted(t *testing.T, tg *target, group, topic string, want func(p int32, end int64) int64) {
	t.Helper()
	ends := endOffsets(t, tg, topic)
	resp, err := newAdmin(t, tg).FetchOffsets(ctxT(t, 20*time.Second), group)
	if err != nil {
		t.Fatalf("fetch offsets of %s: %v", group, err)
	}
	for p, e := range ends {
		o, ok := resp.Lookup(topic, p)
		if w := want(p, e); !ok || o.Err != nil || o.At != w {
			t.Errorf("group %s: committed %s/%d = %d (%v %v), want %d", group, topic, p, o.At, ok, o.Err, w)
		}
	}
}

// produceTimed writes 10 records to a new one-partition topic that never
// expires, with the timestamps base, base+1 s, … base+9 s.
func produceTimed(t *testing.T, tg *target, topic string, base int64) {
	t.Helper()
	createNamed(t, tg, topic, 1, "retention.ms", "-1")
	cl := newClient(t, tg, kgo.DefaultProduceTopic(topic))
	var rs []*kgo.Record
	for i := 0; i < 10; i++ {
		rs = append(rs, &kgo.Record{Value: []byte(fmt.Sprint(i)), Timestamp: time.UnixMilli(base + int64(i)*1000)})
	}
	if err := cl.ProduceSync(ctxT(t, 30*time.Second), rs...).FirstErr(); err != nil {
		t.Fatalf("produce to %s: %v", topic, err)
	}
}

// joinLive makes a franz-go consumer (client id kt-member, the range
// assignor) a member of group on topic until the test ends, and waits until
// it has its partitions and the group is stable.
func joinLive(t *testing.T, tg *target, group, topic string) {
	t.Helper()
	assigned := make(chan struct{}, 1)
	cl := newClient(t, tg, kgo.ClientID("kt-member"), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.Balancers(kgo.RangeBalancer()), kgo.FetchMaxWait(200*time.Millisecond),
		kgo.OnPartitionsAssigned(func(context.Context, *kgo.Client, map[string][]int32) {
			select {
			case assigned <- struct{}{}:
			default:
			}
		}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			cl.PollFetches(ctx)
		}
	}()
	t.Cleanup(func() { cancel(); <-done; cl.Close() })
	select {
	case <-assigned:
	case <-time.After(30 * time.Second):
		t.Fatalf("the member of %s got no partitions within 30 s", group)
	}
	within(t, group+" stable", func() error {
		d, err := newAdmin(t, tg).DescribeGroups(ctxT(t, 10*time.Second), group)
		if err != nil {
			return err
		}
		if g := d[group]; g.State != "Stable" || len(g.Members) != 1 {
			return fmt.Errorf("state %s with %d members", g.State, len(g.Members))
		}
		return nil
	})
}

// createNamed creates topic with n partitions and the configs given as
// name, value pairs.
func createNamed(t *testing.T, tg *target, topic string, n int32, kv ...string) {
	t.Helper()
	cfg := map[string]*string{}
	for i := 0; i+1 < len(kv); i += 2 {
		cfg[kv[i]] = &kv[i+1]
	}
	resp, err := newAdmin(t, tg).CreateTopic(ctxT(t, 30*time.Second), n, -1, cfg, topic)
	if err != nil || resp.Err != nil {
		t.Fatalf("create topic %s: %v %v", topic, err, resp.Err)
	}
	waitTopic(t, tg, topic, n)
}

func sumOffsets(m map[int32]int64) int64 {
	var n int64
	for _, o := range m {
		n += o
	}
	return n
}

// lineDiff returns the lines of a and b that differ, "" when equal.
func lineDiff(a, b string) string {
	if a == b {
		return ""
	}
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	var d strings.Builder
	for i := 0; i < max(len(al), len(bl)); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			fmt.Fprintf(&d, "- %q\n+ %q\n", x, y)
		}
	}
	return d.String()
}
