package compat

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// jsRun runs js/kafkajs.js with the modules npm ci installed.
func jsRun(t *testing.T, args ...string) [][]byte {
	t.Helper()
	dir := filepath.Join(repoRoot, "compat_test", "js")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "kafkajs")); err != nil {
		t.Fatalf("kafkajs is not installed; run scripts/install-deps.sh: %v", err)
	}
	return external(t, 90*time.Second, "node", append([]string{filepath.Join(dir, "kafkajs.js")}, args...)...)
}

// TestKafkaJS drives kafkajs 2.x from npm.
func TestKafkaJS(t *testing.T) {
	matrix(t, "kafkajs", "idempotent producer (gzip)", apisIdem, func(t *testing.T, tg *target) {
		topic := newTopic(t, tg, "js-prod", 3)
		got := kvOf(t, jsRun(t, "produce", "--bootstrap", tg.addr, "--topic", topic, "--count", "100"))
		expectKV(t, got, map[string]string{"produced": "100"})
		checkProduced(t, tg, topic, "kafkajs", 100, nil)
		checkBatches(t, tg, topic, 3, codecGzip, true)
	})
	matrix(t, "kafkajs", "consumer group", apisGroup, func(t *testing.T, tg *target) {
		topic := newTopic(t, tg, "js-grp", 3)
		want := produceKnown(t, tg, topic, "franz", 60)
		group := uniq("g-js")
		got := recsOf(t, jsRun(t, "consume", "--bootstrap", tg.addr, "--topic", topic, "--group", group, "--count", "60"))
		checkConsumed(t, got, want)
		checkCommitted(t, tg, group, topic)
	})
	matrix(t, "kafkajs", "admin", join(apisData, []kmsg.Key{kmsg.DeleteTopics, kmsg.FindCoordinator, kmsg.OffsetCommit, kmsg.OffsetFetch}), func(t *testing.T, tg *target) {
		other := newTopic(t, tg, "js-adm-o", 1)
		group := uniq("g-js-adm")
		commitGroup(t, tg, group, other, map[int32]int64{0: 4})
		topic := uniq("js-adm")
		got := kvOf(t, jsRun(t, "admin", "--bootstrap", tg.addr, "--topic", topic, "--group", group, "--otopic", other))
		expectKV(t, got, map[string]string{"created": "true", "partitions": "3",
			"group.offset." + other + ".0": "4", "deleted": "true"})
	})
}
