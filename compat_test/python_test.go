package compat

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// pyRun runs py/clients.py with the venv of scripts/install-deps.sh.
func pyRun(t *testing.T, args ...string) [][]byte {
	t.Helper()
	py := filepath.Join(cacheDir, "venv", "bin", "python")
	if _, err := os.Stat(py); err != nil {
		t.Fatalf("no Python venv at %s; run scripts/install-deps.sh", py)
	}
	return external(t, 90*time.Second, py, append([]string{filepath.Join(repoRoot, "compat_test", "py", "clients.py")}, args...)...)
}

// TestPython drives confluent-kafka (librdkafka) and kafka-python from PyPI.
func TestPython(t *testing.T) {
	for _, lib := range []struct {
		name, label, codec string
		codecBits          int8
	}{
		{"confluent", "python confluent-kafka", "lz4", codecLz4},
		{"kafkapython", "python kafka-python", "gzip", codecGzip},
	} {
		matrix(t, lib.label, "idempotent produce ("+lib.codec+")", apisIdem, func(t *testing.T, tg *target) {
			topic := newTopic(t, tg, "py-prod", 3)
			acks := recsOf(t, pyRun(t, lib.name, "produce", "--bootstrap", tg.addr, "--topic", topic, "--count", "120", "--compression", lib.codec))
			checkProduced(t, tg, topic, lib.name, 120, acks)
			checkBatches(t, tg, topic, 3, lib.codecBits, true)
		})
		matrix(t, lib.label, "group consume with commit", apisGroup, func(t *testing.T, tg *target) {
			topic := newTopic(t, tg, "py-grp", 3)
			want := produceKnown(t, tg, topic, "franz", 90)
			group := uniq("g-py")
			got := recsOf(t, pyRun(t, lib.name, "consume", "--bootstrap", tg.addr, "--topic", topic, "--group", group, "--count", "90"))
			checkConsumed(t, got, want)
			checkCommitted(t, tg, group, topic)
		})
		matrix(t, lib.label, "admin create/delete topics", join(apisData, []kmsg.Key{kmsg.DeleteTopics}), func(t *testing.T, tg *target) {
			topic := uniq("py-adm")
			got := kvOf(t, pyRun(t, lib.name, "admin", "--bootstrap", tg.addr, "--topic", topic))
			expectKV(t, got, map[string]string{"created": topic, "partitions": "3", "deleted": "true"})
		})
		matrix(t, lib.label, "offsets_for_times", apisData, func(t *testing.T, tg *target) {
			topic := newTopic(t, tg, "py-times", 1)
			// Ten records one second apart, in two batches, so the answer
			// needs the record timestamps, not only the batch's.
			base := time.Now().Add(-time.Hour).Truncate(time.Second)
			cl := newClient(t, tg, kgo.DefaultProduceTopic(topic))
			for half := 0; half < 2; half++ {
				var rs []*kgo.Record
				for i := half * 5; i < half*5+5; i++ {
					rs = append(rs, &kgo.Record{Value: []byte(fmt.Sprint(i)), Timestamp: base.Add(time.Duration(i) * time.Second)})
				}
				if err := cl.ProduceSync(ctxT(t, 20*time.Second), rs...).FirstErr(); err != nil {
					t.Fatal(err)
				}
			}
			ms := base.UnixMilli()
			queries := map[int64]int64{
				ms - 1:    0,  // before everything: the first record
				ms:        0,  // exact match
				ms + 2500: 3,  // between records 2 and 3: the first at or after
				ms + 7000: 7,  // inside the second batch
				ms + 9000: 9,  // the last record
				ms + 9001: -1, // after everything: none
			}
			args := []string{lib.name, "times", "--bootstrap", tg.addr, "--topic", topic, "--ts"}
			for q := range queries {
				args = append(args, fmt.Sprint(q))
			}
			lines := pyRun(t, args...)
			if len(lines) != len(queries) {
				t.Fatalf("%d answers for %d queries", len(lines), len(queries))
			}
			for _, l := range lines {
				var a struct{ Ts, Offset int64 }
				if err := json.Unmarshal(l, &a); err != nil {
					t.Fatal(err)
				}
				if want := queries[a.Ts]; a.Offset != want {
					t.Errorf("offsets_for_times(%+d ms) = %d, want %d", a.Ts-ms, a.Offset, want)
				}
			}
		})
	}
}

// TestPythonTransactions drives confluent-kafka's (librdkafka's)
// transactional producer (issue 13 item 3): three transactions, committed,
// aborted, committed; librdkafka's own read_committed consumer then reads
// every committed record once and none of the aborted ones, while a
// read_uncommitted reader sees all three transactions' records.
func TestPythonTransactions(t *testing.T) {
	matrix(t, "python confluent-kafka", "transactions: commit, abort, commit; read_committed (librdkafka) sees only the committed", apisTxn, func(t *testing.T, tg *target) {
		topic := newTopic(t, tg, "py-txn", 2)
		const n = 30
		if out := pyRun(t, "confluent", "txn", "--bootstrap", tg.addr, "--topic", topic, "--group", uniq("py-txn"), "--count", fmt.Sprint(n)); len(out) != 3 {
			t.Fatalf("the transactional producer reported %d transactions, want 3: %s", len(out), out)
		}
		seen := map[string]int{}
		for _, l := range pyRun(t, "confluent", "readc", "--bootstrap", tg.addr, "--topic", topic) {
			var r struct{ V string }
			if err := json.Unmarshal(l, &r); err != nil {
				t.Fatalf("%s: %v", l, err)
			}
			seen[r.V]++
		}
		for i := 0; i < n; i++ {
			for _, tag := range []string{"c", "d"} {
				if v := fmt.Sprintf("%s-%d", tag, i); seen[v] != 1 {
					t.Fatalf("read_committed saw %s %d times (%d values in all)", v, seen[v], len(seen))
				}
			}
			if v := fmt.Sprintf("a-%d", i); seen[v] != 0 {
				t.Fatalf("read_committed saw the aborted record %s", v)
			}
		}
		if all := readIsolated(t, tg, topic, false, 3*n); len(all) != 3*n {
			t.Fatalf("read_uncommitted saw %d records, want %d (the aborted ones too)", len(all), 3*n)
		}
	})
}
