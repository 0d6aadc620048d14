package compat

import (
	"testing"

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
	// Fresh topic names on every broker; gregor-repl too (a slave forwards).
	matchKafka(t, "error codes of every admin case equal Kafka's (internal/kafkadiff)", "r", false,
		kafkadiff.AdminCases, kafkadiff.Compare)
}
