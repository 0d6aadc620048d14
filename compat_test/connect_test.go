package compat

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// apisConnect is what a Connect distributed worker needs: its group (the
// "connect" protocol), its internal topics created compacted and checked
// (DescribeConfigs), a source's producer and a sink's consumer.
var apisConnect = join(apisIdem, apisGroup, []kmsg.Key{kmsg.DescribeConfigs, kmsg.DescribeCluster})

var connectCP struct {
	once sync.Once
	cp   string
	err  error
}

// TestConnect runs a Kafka Connect distributed worker (connect-runtime and
// connect-file of scripts/kafka.sh connect-classpath, at its
// KAFKA_CONNECT_VERSION, 4.3.1: connect-file is not on Maven Central at
// 4.4.0; main class ConnectDistributed) that moves a file through a FileStreamSource and a
// FileStreamSink connector configured over its REST API, restarted once
// (SIGTERM, then started again on the same internal topics).
//
// What it asserts: the worker's config, offset and status topics exist with
// cleanup.policy=compact and as many replicas as the target has brokers (the
// replication factor the worker is given); both connectors and their tasks report RUNNING; the sink file equals
// the source file line for line after 500 lines, after 500 more, and after
// the worker's restart and 200 more (so the restarted worker read its
// connectors back from the config topic and the source's position back from
// the offset topic, and neither lost nor repeated a line); the offset topic's
// latest record for the source names the source file's length.
func TestConnect(t *testing.T) {
	v, err := exec.Command("bash", filepath.Join(repoRoot, "scripts", "kafka.sh"), "connect-version").Output()
	if err != nil {
		t.Fatalf("scripts/kafka.sh connect-version: %v", err)
	}
	matrix(t, "kafka-connect "+strings.TrimSpace(string(v)), "distributed worker: FileStreamSource → topic → FileStreamSink over REST, compacted internal topics, worker restarted",
		apisConnect, testConnectFile)
}

func testConnectFile(t *testing.T, tg *target) {
	start := time.Now()
	topic := newTopic(t, tg, "connect-data", 1) // one partition: the sink writes lines in order
	// The internal topics' replication factor: the target's brokers (1 for
	// kafka and gregor, master + slave for gregor-repl).
	bm, err := newAdmin(t, tg).BrokerMetadata(ctxT(t, 20*time.Second))
	if err != nil {
		t.Fatalf("metadata: %v", err)
	}
	rf := len(bm.Brokers)
	id := uniq("connect")
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "source.txt"), filepath.Join(dir, "sink.txt")
	lines := 0
	appendLines := func(n int) {
		t.Helper()
		f, err := os.OpenFile(src, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < n; i++ {
			// Varied lines: tabs, JSON-looking, long ones. ASCII only:
			// FileStreamSourceTask counts its position in chars but skips
			// bytes when it resumes, so a restart after multi-byte UTF-8
			// lines starts mid-line (on Kafka as on gregor).
			fmt.Fprintf(f, "line %04d\tfile %s {\"n\": %d} %s\n", lines, id, lines, strings.Repeat("x", lines%97))
			lines++
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	appendLines(500)

	restPort, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	props := filepath.Join(dir, "worker.properties")
	cfg := fmt.Sprintf(`bootstrap.servers=%s
group.id=%s
key.converter=org.apache.kafka.connect.storage.StringConverter
value.converter=org.apache.kafka.connect.storage.StringConverter
config.storage.topic=%[2]s-configs
offset.storage.topic=%[2]s-offsets
status.storage.topic=%[2]s-status
config.storage.replication.factor=%[3]d
offset.storage.replication.factor=%[3]d
status.storage.replication.factor=%[3]d
offset.storage.partitions=3
status.storage.partitions=2
offset.flush.interval.ms=500
offset.flush.timeout.ms=5000
listeners=http://127.0.0.1:%[4]d
rest.advertised.host.name=127.0.0.1
rest.advertised.port=%[4]d
plugin.discovery=service_load
session.timeout.ms=6000
heartbeat.interval.ms=1000
scheduled.rebalance.max.delay.ms=0
task.shutdown.graceful.timeout.ms=5000
consumer.fetch.max.wait.ms=100
consumer.session.timeout.ms=6000
consumer.heartbeat.interval.ms=1000
`, tg.addr, id, rf, restPort)
	if err := os.WriteFile(props, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	rest := fmt.Sprintf("http://127.0.0.1:%d", restPort)
	worker := startConnectWorker(t, props, id+"-run1")
	waitREST(t, worker, rest+"/connectors", 120*time.Second)
	t.Logf("worker serving REST %v after start", time.Since(start).Round(time.Millisecond))

	srcName, sinkName := id+"-src", id+"-sink"
	restJSON(t, worker, "POST", rest+"/connectors", map[string]any{"name": srcName, "config": map[string]string{
		"connector.class": "org.apache.kafka.connect.file.FileStreamSourceConnector", "tasks.max": "1",
		"file": src, "topic": topic}}, http.StatusCreated)
	restJSON(t, worker, "POST", rest+"/connectors", map[string]any{"name": sinkName, "config": map[string]string{
		"connector.class": "org.apache.kafka.connect.file.FileStreamSinkConnector", "tasks.max": "1",
		"file": dst, "topics": topic}}, http.StatusCreated)
	for _, c := range []string{srcName, sinkName} {
		waitRunning(t, worker, rest, c)
	}
	waitSameFile(t, worker, src, dst, lines)
	appendLines(500)
	waitSameFile(t, worker, src, dst, lines)
	t.Logf("%d lines moved %v after start", lines, time.Since(start).Round(time.Millisecond))

	// The source's position reaches the offset topic; then a clean stop.
	waitSourceOffset(t, tg, worker, id+"-offsets", srcName, src)
	worker.stop(t)

	worker = startConnectWorker(t, props, id+"-run2")
	waitREST(t, worker, rest+"/connectors", 120*time.Second)
	var names []string
	restJSON(t, worker, "GET", rest+"/connectors", nil, http.StatusOK, &names)
	if len(names) != 2 {
		t.Errorf("the restarted worker lists connectors %v, want %s and %s (read back from the config topic)", names, srcName, sinkName)
	}
	for _, c := range []string{srcName, sinkName} {
		waitRunning(t, worker, rest, c)
	}
	appendLines(200)
	waitSameFile(t, worker, src, dst, lines)
	t.Logf("%d lines moved across the restart %v after start", lines, time.Since(start).Round(time.Millisecond))

	for _, suffix := range []string{"-configs", "-offsets", "-status"} {
		name := id + suffix
		if p := topicConfig(t, tg, name, "cleanup.policy"); p != "compact" {
			t.Errorf("%s: cleanup.policy %q, want compact", name, p)
		}
		if n := replicasOf(t, tg, name); n != rf {
			t.Errorf("%s: %d replicas, want %d (what the worker was told)", name, n, rf)
		}
	}
	worker.stop(t)
	t.Logf("scenario took %v", time.Since(start).Round(time.Millisecond))
}

func startConnectWorker(t *testing.T, props, run string) *javaApp {
	t.Helper()
	connectCP.once.Do(func() { connectCP.cp, connectCP.err = kafkaClasspath("connect-classpath") })
	if connectCP.err != nil {
		t.Fatal(connectCP.err)
	}
	return startJavaApp(t, "Connect worker "+run, filepath.Join(workDir, run+".log"),
		"-cp", connectCP.cp, "org.apache.kafka.connect.cli.ConnectDistributed", props)
}

// replicasOf is the replica count Metadata gives topic's partition 0.
func replicasOf(t *testing.T, tg *target, topic string) int {
	t.Helper()
	td, err := newAdmin(t, tg).ListTopics(ctxT(t, 20*time.Second), topic)
	if err != nil || td[topic].Err != nil {
		t.Fatalf("metadata of %s: %v %v", topic, err, td[topic].Err)
	}
	p, ok := td[topic].Partitions[0]
	if !ok {
		t.Fatalf("metadata of %s: no partition 0", topic)
	}
	return len(p.Replicas)
}

// topicConfig is the value DescribeConfigs gives topic's setting key.
func topicConfig(t *testing.T, tg *target, topic, key string) string {
	t.Helper()
	rc, err := newAdmin(t, tg).DescribeTopicConfigs(ctxT(t, 20*time.Second), topic)
	if err != nil {
		t.Fatalf("describe configs of %s: %v", topic, err)
	}
	c, err := rc.On(topic, nil)
	if err != nil || c.Err != nil {
		t.Fatalf("describe configs of %s: %v %v", topic, err, c.Err)
	}
	for _, e := range c.Configs {
		if e.Key == key {
			return e.MaybeValue()
		}
	}
	return ""
}

// restJSON sends body (JSON, when not nil) to url and checks the status;
// the answer is decoded into out[0] when given.
func restJSON(t *testing.T, app *javaApp, method, url string, body any, status int, out ...any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, rd)
	req.Header.Set("Content-Type", "application/json")
	cl := &http.Client{Timeout: 60 * time.Second}
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v\nworker log tail:\n%s", method, url, err, app.logTail())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		t.Fatalf("%s %s: %s %s, want %d\nworker log tail:\n%s", method, url, resp.Status, b, status, app.logTail())
	}
	if len(out) > 0 {
		if err := json.Unmarshal(b, out[0]); err != nil {
			t.Fatalf("%s %s: %v: %s", method, url, err, b)
		}
	}
}

// waitREST waits until url answers 200 (the worker has joined its group
// and read its config topic).
func waitREST(t *testing.T, app *javaApp, url string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	cl := &http.Client{Timeout: 5 * time.Second}
	for {
		resp, err := cl.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if app.exited() {
			t.Fatalf("%s exited: %s\nlog tail:\n%s", app.name, app.output(), app.logTail())
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s did not answer 200 within %v (%v)\nlog tail:\n%s", app.name, url, d, err, app.logTail())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitRunning waits until the connector and its one task report RUNNING.
func waitRunning(t *testing.T, app *javaApp, rest, name string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	cl := &http.Client{Timeout: 5 * time.Second}
	var last string
	for time.Now().Before(deadline) {
		resp, err := cl.Get(rest + "/connectors/" + name + "/status")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			last = string(b)
			var st struct {
				Connector struct{ State, Trace string }
				Tasks     []struct{ State, Trace string }
			}
			if json.Unmarshal(b, &st) == nil && st.Connector.State == "RUNNING" && len(st.Tasks) == 1 && st.Tasks[0].State == "RUNNING" {
				return
			}
			if strings.Contains(last, `"FAILED"`) {
				t.Fatalf("connector %s failed: %s", name, last)
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("connector %s not RUNNING within 60 s: %s\nworker log tail:\n%s", name, last, app.logTail())
}

// waitSameFile waits until the sink file dst holds n lines, then checks it
// equals the source file src line for line.
func waitSameFile(t *testing.T, app *javaApp, src, dst string, n int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var got []byte
	for {
		got, _ = os.ReadFile(dst)
		if bytes.Count(got, []byte("\n")) >= n {
			break
		}
		if app.exited() || time.Now().After(deadline) {
			t.Fatalf("the sink file has %d lines, want %d (exited %v)\nworker log tail:\n%s", bytes.Count(got, []byte("\n")), n, app.exited(), app.logTail())
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // a line too many shows
	got, _ = os.ReadFile(dst)
	want, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := 0; i < max(len(gl), len(wl)); i++ {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("the sink file (%d lines) differs from the source (%d lines) first at line %d:\n sink:   %q\n source: %q", len(gl)-1, len(wl)-1, i+1, g, w)
			}
		}
	}
}

// waitSourceOffset waits until the offset topic's latest record for the
// source connector (key ["name",{"filename":file}]) holds the file's length
// as its position.
func waitSourceOffset(t *testing.T, tg *target, app *javaApp, offsetsTopic, connector, file string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	size := int64(utf8.RuneCount(b)) // FileStreamSourceTask counts chars
	cl := newClient(t, tg, kgo.ConsumeTopics(offsetsTopic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(200*time.Millisecond))
	deadline := time.Now().Add(30 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		fs := cl.PollFetches(ctxT(t, time.Second))
		found := false
		fs.EachRecord(func(r *kgo.Record) {
			var key []any
			if json.Unmarshal(r.Key, &key) != nil || len(key) != 2 || key[0] != connector {
				return
			}
			last = fmt.Sprintf("%s = %s", r.Key, r.Value)
			var v struct{ Position int64 }
			if json.Unmarshal(r.Value, &v) == nil && v.Position == size {
				found = true
			}
		})
		if found {
			return
		}
	}
	t.Fatalf("%s: no offset record for %s with position %d (the file's length in chars); last: %s\nworker log tail:\n%s", offsetsTopic, connector, size, last, app.logTail())
}
