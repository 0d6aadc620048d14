package compat

import (
	"fmt"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/internal/kafkadiff"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestNewVersionsMatchKafka sends the requests of kafkadiff.VersionCases
// (each API at the newest version Kafka 4.4 serves, with the fields that
// version added: ApiVersions v5, Metadata v13, DescribeTopicPartitions v0,
// Produce v13, Fetch v17/v18, ListOffsets v11, OffsetCommit/OffsetFetch v10,
// DescribeGroups v6, DeleteGroups v3, DescribeLogDirs v5,
// ListConfigResources v0/v1) to the reference Kafka and to each gregor
// target, and compares the whole answers, masked by kafkadiff.Mask for
// what legitimately differs between two brokers (ids, addresses, epochs).
func TestNewVersionsMatchKafka(t *testing.T) {
	matchKafka(t, "whole answers at the newest versions equal Kafka's (kafkadiff.VersionCases)", "nv", true,
		kafkadiff.VersionCases, kafkadiff.CompareAnswers)
}

// matchKafka runs cases against the reference Kafka, then against each
// gregor target (but gregor-repl when skipRepl: its slave forwards, so the
// answers are its master's), compares each target's answers with Kafka's
// (compare returns how many are identical) and writes the matrix cells of
// scenario. The topics and groups the cases make are named with prefix and
// a run stamp.
func matchKafka[A any](t *testing.T, scenario, prefix string, skipRepl bool,
	cases func(testing.TB, *kgo.Client, string) []A, compare func(testing.TB, []A, []A) int) {
	const client = "admin (kmsg)"
	var ref *target
	for _, tg := range targets {
		if tg.name == "kafka" {
			ref = tg
		}
	}
	if ref == nil {
		for _, tg := range targets {
			results.set(client, scenario, tg.name, "skip: no kafka target")
		}
		t.Skip("the reference Kafka is not among COMPAT_TARGETS")
	}
	prefix = fmt.Sprintf("%s%d-", prefix, time.Now().UnixNano()%1e6)
	var want []A
	t.Run("kafka", func(t *testing.T) {
		defer func() {
			if t.Failed() {
				results.set(client, scenario, ref.name, "FAIL")
			} else {
				results.set(client, scenario, ref.name, "pass")
			}
		}()
		if ref.down != "" {
			t.Fatalf("the reference Kafka is down: %s", ref.down)
		}
		want = cases(t, newClient(t, ref), prefix)
	})
	for _, tg := range targets {
		if tg == ref || (skipRepl && tg.name == "gregor-repl") {
			continue
		}
		t.Run(tg.name, func(t *testing.T) {
			defer func() {
				if t.Failed() {
					results.set(client, scenario, tg.name, "FAIL")
				} else if !t.Skipped() {
					results.set(client, scenario, tg.name, "pass")
				}
			}()
			if want == nil {
				t.Fatal("no answers from the reference Kafka to compare with")
			}
			if tg.down != "" {
				t.Fatalf("target %s is down: %s", tg.name, tg.down)
			}
			got := cases(t, newClient(t, tg), prefix)
			t.Logf("%s: %d of %d answers identical to Kafka's", tg.name, compare(t, want, got), len(want))
		})
	}
}
