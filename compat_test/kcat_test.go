package compat

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// kcatRun runs kcat with stdin and returns its stdout lines that are JSON.
func kcatRun(t *testing.T, stdin string, args ...string) [][]byte {
	t.Helper()
	if _, err := exec.LookPath("kcat"); err != nil {
		t.Fatalf("kcat is not installed; run scripts/install-deps.sh")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "kcat", args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kcat %s: %v\nstderr: %s\nstdout: %s", strings.Join(args, " "), err, tail(stderr.String(), 3000), tail(string(out), 2000))
	}
	var lines [][]byte
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "{") {
			lines = append(lines, []byte(l))
		}
	}
	return lines
}

// kcatRecs decodes kcat -J consumer output.
func kcatRecs(t *testing.T, lines [][]byte) []rec {
	t.Helper()
	var out []rec
	for _, l := range lines {
		var m struct {
			Partition int32
			Offset    int64
			Key       string
			Payload   string
			Headers   []string
		}
		if err := json.Unmarshal(l, &m); err != nil {
			t.Fatalf("kcat line %s: %v", l, err)
		}
		h := map[string]string{}
		for i := 0; i+1 < len(m.Headers); i += 2 {
			h[m.Headers[i]] = m.Headers[i+1]
		}
		out = append(out, rec{P: m.Partition, O: m.Offset, K: m.Key, V: m.Payload, H: h})
	}
	return out
}

// TestKcat drives kcat (librdkafka) from Debian.
func TestKcat(t *testing.T) {
	matrix(t, "kcat", "-L metadata", apisData, func(t *testing.T, tg *target) {
		topic := newTopic(t, tg, "kcat-md", 3)
		lines := kcatRun(t, "", "-b", tg.addr, "-L", "-J", "-t", topic)
		if len(lines) != 1 {
			t.Fatalf("kcat -L -J printed %d JSON lines", len(lines))
		}
		var md struct {
			Brokers []struct {
				ID   int32
				Name string
			}
			Topics []struct {
				Topic      string
				Partitions []struct {
					Partition int32
					Leader    int32
				}
			}
		}
		if err := json.Unmarshal(lines[0], &md); err != nil {
			t.Fatal(err)
		}
		found := false
		for _, b := range md.Brokers {
			found = found || b.Name == tg.addr
		}
		if !found {
			t.Errorf("brokers %+v do not include the advertised %s", md.Brokers, tg.addr)
		}
		if len(md.Topics) != 1 || md.Topics[0].Topic != topic || len(md.Topics[0].Partitions) != 3 {
			t.Fatalf("topics %+v, want %s with 3 partitions", md.Topics, topic)
		}
	})
	matrix(t, "kcat", "-P keys+headers (snappy, idempotent)", apisIdem, func(t *testing.T, tg *target) {
		topic := newTopic(t, tg, "kcat-prod", 3)
		var in strings.Builder
		for i := 0; i < 100; i++ {
			fmt.Fprintf(&in, "k-%d:kcat-%d\n", i%7, i)
		}
		kcatRun(t, in.String(), "-b", tg.addr, "-P", "-t", topic, "-K:", "-H", "client=kcat", "-H", "run=1",
			"-z", "snappy", "-X", "enable.idempotence=true")
		checkProducedH(t, tg, topic, "kcat", 100, nil, func(int) map[string]string {
			return map[string]string{"client": "kcat", "run": "1"}
		})
		checkBatches(t, tg, topic, 3, codecSnappy, true)
	})
	matrix(t, "kcat", "-C -e", apisData, func(t *testing.T, tg *target) {
		topic := newTopic(t, tg, "kcat-cons", 3)
		want := produceKnown(t, tg, topic, "franz", 80)
		got := kcatRecs(t, kcatRun(t, "", "-b", tg.addr, "-C", "-t", topic, "-o", "beginning", "-e", "-J"))
		checkConsumed(t, got, want)
	})
	matrix(t, "kcat", "-G group consume", apisGroup, func(t *testing.T, tg *target) {
		topic := newTopic(t, tg, "kcat-grp", 3)
		want := produceKnown(t, tg, topic, "franz", 60)
		group := uniq("g-kcat")
		got := kcatRecs(t, kcatRun(t, "", "-b", tg.addr, "-G", group, topic, "-c", "60", "-J",
			"-X", "auto.offset.reset=earliest", "-X", "session.timeout.ms=20000", "-X", "heartbeat.interval.ms=500"))
		checkConsumed(t, got, want)
		checkCommitted(t, tg, group, topic)
	})
}
