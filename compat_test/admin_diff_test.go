package compat

import (
	"fmt"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/internal/kafkadiff"
)

// TestAdminMatchesKafka sends the admin requests of internal/kafkadiff
// (CreateTopics, CreatePartitions, DescribeConfigs, IncrementalAlterConfigs,
// AlterConfigs, DeleteRecords, DeleteTopics, DescribeCluster, OffsetCommit,
// OffsetFetch, DescribeGroups, OffsetDelete, DeleteGroups: valid ones and
// ones a broker must refuse) to the reference Kafka of this run and to each
// gregor target, and compares the error codes answer by answer; a
// difference fails unless kafkadiff.IntendedDifferences names it.
func TestAdminMatchesKafka(t *testing.T) {
	const client, scenario = "admin (kmsg)", "error codes of every admin case equal Kafka's (internal/kafkadiff)"
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
	prefix := fmt.Sprintf("r%d-", time.Now().UnixNano()%1e6) // fresh topic names on every broker
	var want []string
	t.Run("kafka", func(t *testing.T) {
		if ref.down != "" {
			results.set(client, scenario, ref.name, "FAIL")
			t.Fatalf("the reference Kafka is down: %s", ref.down)
		}
		want = kafkadiff.AdminCases(t, newClient(t, ref), prefix)
		if t.Failed() {
			results.set(client, scenario, ref.name, "FAIL")
		} else {
			results.set(client, scenario, ref.name, "pass")
		}
	})
	for _, tg := range targets {
		if tg == ref {
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
			got := kafkadiff.AdminCases(t, newClient(t, tg), prefix)
			t.Logf("%s: %d of %d answers identical to Kafka's", tg.name, kafkadiff.Compare(t, want, got), len(want))
		})
	}
}
