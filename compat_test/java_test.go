package compat

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// javaVersions are the kafka-clients versions the suite runs, as
// scripts/kafka.sh client-versions prints them: the reference version
// (KAFKA_VERSION) first, then the previous one kept as a second client.
var javaVersions = sync.OnceValues(func() ([]string, error) {
	out, err := exec.Command("bash", filepath.Join(repoRoot, "scripts", "kafka.sh"), "client-versions").Output()
	return strings.Fields(string(out)), err
})

// javaRun runs the Java program (java/, built by scripts/install-deps.sh
// into java/target/<version>/) with kafka-clients at version v, in one mode.
func javaRun(t *testing.T, v string, args ...string) [][]byte {
	t.Helper()
	dir := filepath.Join(repoRoot, "compat_test", "java", "target", v)
	if _, err := os.Stat(filepath.Join(dir, "classes", "gregor", "compat", "Main.class")); err != nil {
		t.Fatalf("the Java client %s is not built; run scripts/install-deps.sh: %v", v, err)
	}
	cp := filepath.Join(dir, "classes") + string(os.PathListSeparator) + filepath.Join(dir, "lib", "*")
	full := append([]string{"-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xshare:auto", "-cp", cp, "gregor.compat.Main"}, args...)
	return external(t, 90*time.Second, "java", full...)
}

// TestJava drives org.apache.kafka:kafka-clients, the reference client, at
// each version of javaVersions (one client row per version).
func TestJava(t *testing.T) {
	versions, err := javaVersions()
	if err != nil || len(versions) == 0 {
		t.Fatalf("scripts/kafka.sh client-versions: %v %q", err, versions)
	}
	for _, v := range versions {
		testJava(t, v)
	}
}

func testJava(t *testing.T, v string) {
	client := "java kafka-clients " + v
	matrix(t, client, "idempotent producer (zstd)", apisIdem, func(t *testing.T, tg *target) {
		topic := newTopic(t, tg, "java-prod", 3)
		acks := recsOf(t, javaRun(t, v, "produce", "--bootstrap", tg.addr, "--topic", topic, "--count", "200", "--compression", "zstd"))
		checkProduced(t, tg, topic, "java", 200, acks)
		checkBatches(t, tg, topic, 3, codecZstd, true)
	})
	for _, assignor := range []string{"range", "cooperative-sticky"} {
		matrix(t, client, "classic group "+assignor, apisGroup, func(t *testing.T, tg *target) {
			topic := newTopic(t, tg, "java-grp", 3)
			want := produceKnown(t, tg, topic, "franz", 150)
			group := uniq("g-java")
			got := recsOf(t, javaRun(t, v, "consume", "--bootstrap", tg.addr, "--topic", topic, "--group", group,
				"--count", "150", "--assignor", assignor))
			checkConsumed(t, got, want)
			checkCommitted(t, tg, group, topic)
		})
	}
	matrix(t, client, "AdminClient topic/config/group", join(apisData, []kmsg.Key{kmsg.DeleteTopics,
		kmsg.DescribeConfigs, kmsg.IncrementalAlterConfigs, kmsg.CreatePartitions, kmsg.ListGroups,
		kmsg.DescribeGroups, kmsg.FindCoordinator, kmsg.OffsetCommit, kmsg.OffsetFetch}), func(t *testing.T, tg *target) {
		other := newTopic(t, tg, "java-adm-o", 2)
		group := uniq("g-java-adm")
		commitGroup(t, tg, group, other, map[int32]int64{0: 3, 1: 5})
		topic := uniq("java-adm")
		got := kvOf(t, javaRun(t, v, "admin", "--bootstrap", tg.addr, "--topic", topic, "--group", group))
		expectKV(t, got, map[string]string{
			"created":                      topic,
			"partitions":                   "3",
			"retention.ms":                 "3600000",
			"cleanup.policy":               "delete",
			"retention.ms.altered":         "7200000",
			"partitions.increased":         "4",
			"group.listed":                 "true",
			"group.state":                  "Empty",
			"group.offset." + other + ".0": "3",
			"group.offset." + other + ".1": "5",
			"deleted":                      "true",
		})
	})
}
