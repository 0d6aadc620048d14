package compat

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// apisStreams is what a Kafka Streams application with a state store needs:
// a group, its internal topics created with their configs and checked, the
// repartition topic purged (DeleteRecords), and under exactly_once_v2 the
// transactional APIs.
var apisStreams = join(apisTxn, []kmsg.Key{kmsg.DescribeConfigs, kmsg.DeleteRecords})

// streamsVocabulary are the words of the input lines.
var streamsVocabulary = strings.Fields("alpha bravo charlie delta echo foxtrot golf hotel india juliett kilo lima")

// TestStreams runs the word count of java/StreamsApp.java (kafka-streams at
// the reference version) under at_least_once and exactly_once_v2: its
// Streams JVM is killed (SIGKILL) while lines are still being written and
// processed, then started again on the same state directory, and the final
// counts are checked (streamsWordCount says exactly what).
func TestStreams(t *testing.T) {
	versions, err := javaVersions()
	if err != nil || len(versions) == 0 {
		t.Fatalf("scripts/kafka.sh client-versions: %v %q", err, versions)
	}
	for _, g := range []string{"at_least_once", "exactly_once_v2"} {
		matrix(t, "kafka-streams "+versions[0], "word count with a state store ("+g+"), Streams JVM killed and restarted mid-run",
			apisStreams, func(t *testing.T, tg *target) { streamsWordCount(t, tg, versions[0], g) })
	}
}

// streamsWordCount writes 400 lines of 6 words (12-word vocabulary) to a
// 3-partition input topic while the application runs, kills the
// application's JVM once 200 counts are out, starts it again, and once the
// input is written waits for the counts. What it asserts:
//
//   - exactly_once_v2: a read_committed reader of the output sees, for every
//     word, the counts 1, 2, … n exactly once each and in order (n its true
//     count; the record cache is off, so each occurrence is one output),
//     nothing else; the changelog's latest value (read_committed) for every
//     word is n.
//   - at_least_once: every word's latest output count is ≥ n (records
//     processed again after the kill may count twice), no word outside the
//     vocabulary appears, and the committed state is consistent: the
//     changelog's latest value for every word equals its latest output.
//   - both: after a clean close the group (the application id) has committed
//     the input's end offsets, the changelog topic is compacted
//     (cleanup.policy=compact) and the repartition topic is not
//     (cleanup.policy=delete), and the application has purged records of
//     the repartition topic (its log start offsets are not all 0).
func streamsWordCount(t *testing.T, tg *target, version, guarantee string) {
	start := time.Now()
	in := newTopic(t, tg, "wc-in", 3)
	out := newTopic(t, tg, "wc-out", 3)
	appID := uniq("wc-" + strings.ReplaceAll(guarantee, "_", ""))
	stateDir := t.TempDir()

	const lines, perLine = 400, 6
	rng := rand.New(rand.NewPCG(uint64(len(guarantee)), 13))
	text := make([]string, lines)
	want := map[string]int{}
	for i := range text {
		ws := make([]string, perLine)
		for j := range ws {
			ws[j] = streamsVocabulary[rng.IntN(len(streamsVocabulary))]
			want[ws[j]]++
		}
		// Mixed case: the application lower-cases.
		if i%5 == 0 {
			ws[0] = strings.ToUpper(ws[0])
		}
		text[i] = strings.Join(ws, " ")
	}

	app := startStreamsApp(t, tg, version, appID, in, out, guarantee, stateDir, "run1")
	app.waitState(t, "RUNNING", 90*time.Second)

	// The lines go in 40 batches of 10, 50 ms apart, through the kill.
	prod := newClient(t, tg, kgo.DefaultProduceTopic(in), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()),
		kgo.ProducerLinger(0))
	written := make(chan error, 1)
	go func() {
		for i := 0; i < lines; i += 10 {
			var rs []*kgo.Record
			for _, l := range text[i : i+10] {
				rs = append(rs, &kgo.Record{Value: []byte(l)})
			}
			if err := prod.ProduceSync(context.Background(), rs...).FirstErr(); err != nil {
				written <- fmt.Errorf("produce lines %d-%d: %v", i, i+9, err)
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		written <- nil
	}()

	// Kill once 200 counts are out; under exactly_once_v2 only while a
	// transaction with counts in it is open (an output partition's high
	// watermark above its last stable offset), so the restart must abort it.
	deadline := time.Now().Add(60 * time.Second)
	adm := newAdmin(t, tg)
	for {
		n, open := int64(0), false
		ends, err := adm.ListEndOffsets(ctxT(t, 10*time.Second), out)
		if err != nil {
			t.Fatalf("list end offsets of %s: %v", out, err)
		}
		var stable map[int32]int64
		if guarantee == "exactly_once_v2" {
			lso, err := adm.ListCommittedOffsets(ctxT(t, 10*time.Second), out)
			if err != nil {
				t.Fatalf("list last stable offsets of %s: %v", out, err)
			}
			stable = map[int32]int64{}
			lso.Each(func(o kadm.ListedOffset) { stable[o.Partition] = o.Offset })
		}
		ends.Each(func(o kadm.ListedOffset) {
			n += o.Offset
			if s, ok := stable[o.Partition]; ok && o.Offset > s {
				open = true
			}
		})
		if n >= 200 && (open || guarantee != "exactly_once_v2") {
			t.Logf("%d output offsets (a transaction open: %v) when the Streams JVM is killed (%v after start)", n, open, time.Since(start).Round(time.Millisecond))
			break
		}
		if app.exited() || time.Now().After(deadline) {
			t.Fatalf("the application wrote %d counts (want 200, and an open transaction under exactly_once_v2, before the kill); exited %v; log tail:\n%s",
				n, app.exited(), app.logTail())
		}
		time.Sleep(10 * time.Millisecond)
	}
	app.kill()
	app = startStreamsApp(t, tg, version, appID, in, out, guarantee, stateDir, "run2")
	if err := <-written; err != nil {
		t.Fatal(err)
	}
	t.Logf("all %d lines written (%v after start)", lines, time.Since(start).Round(time.Millisecond))

	// Wait for the final counts in the output.
	got, ok := readCounts(t, tg, out, func(m map[string][]int64) bool {
		for w, n := range want {
			v := m[w]
			if len(v) == 0 || v[len(v)-1] < int64(n) {
				return false
			}
		}
		return true
	}, decimalCount, app, 90*time.Second)
	if !ok {
		t.Fatalf("the output's counts never reached the true counts within 90 s\nlatest: %v\ntrue:   %v\napplication log tail:\n%s",
			latest(got), want, app.logTail())
	}
	t.Logf("final counts seen %v after start", time.Since(start).Round(time.Millisecond))
	// While it still runs, the application purges what it consumed of the
	// repartition topic (DeleteRecords up to its committed offsets, every
	// repartition.purge.interval.ms after a commit): wait for that, since a
	// fast run can reach the final counts before its first purge.
	repartition := appID + "-words-repartition"
	purged := int64(0)
	for deadline := time.Now().Add(20 * time.Second); purged == 0 && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		starts, err := newAdmin(t, tg).ListStartOffsets(ctxT(t, 20*time.Second), repartition)
		if err != nil {
			t.Fatalf("list start offsets of %s: %v", repartition, err)
		}
		starts.Each(func(o kadm.ListedOffset) { purged += o.Offset })
	}
	if purged == 0 {
		t.Errorf("%s: every partition still starts at offset 0 after 20 s: the application's DeleteRecords purged nothing", repartition)
	}
	t.Logf("%s: %d records purged", repartition, purged)
	app.stop(t)

	over := 0
	for w, vs := range got {
		n, ok := want[w]
		if !ok {
			t.Errorf("the output holds the word %q, which no line has: %v", w, vs)
			continue
		}
		last := vs[len(vs)-1]
		over += int(last) - n
		switch guarantee {
		case "exactly_once_v2":
			ok := len(vs) == n
			for i := 0; ok && i < n; i++ {
				ok = vs[i] == int64(i+1)
			}
			if !ok {
				t.Errorf("%s: read_committed output counts %v, want exactly 1..%d once each", w, abbrev(vs), n)
			}
		default:
			if last < int64(n) {
				t.Errorf("%s: latest output count %d, want at least its true count %d", w, last, n)
			}
		}
	}
	outputs := 0
	for _, vs := range got {
		outputs += len(vs)
	}
	t.Logf("%s: %d counts out for %d words, the latest counts %d beyond the true ones", guarantee, outputs, lines*perLine, over)

	if guarantee == "exactly_once_v2" {
		// The transaction open at the kill was aborted: its counts are in
		// the log, and read_uncommitted sees them.
		all, _ := readCountsAt(t, tg, out, kgo.ReadUncommitted(), func(m map[string][]int64) bool {
			n := 0
			for _, vs := range m {
				n += len(vs)
			}
			return n > outputs
		}, decimalCount, nil, 10*time.Second)
		n := 0
		for _, vs := range all {
			n += len(vs)
		}
		if n <= outputs {
			t.Errorf("read_uncommitted sees %d counts in the output, read_committed %d: want more (the aborted transaction's)", n, outputs)
		}
		t.Logf("the output holds %d counts, %d of them from aborted transactions", n, n-outputs)
	}

	changelog := appID + "-words-changelog"
	logged, _ := readCounts(t, tg, changelog, func(m map[string][]int64) bool {
		for w := range want {
			if len(m[w]) == 0 || m[w][len(m[w])-1] < got[w][len(got[w])-1] {
				return false
			}
		}
		return true
	}, longCount, nil, 20*time.Second)
	for w, n := range want {
		lv, gv := logged[w], got[w]
		switch {
		case len(lv) == 0:
			t.Errorf("%s: no value in the changelog %s", w, changelog)
		case guarantee == "exactly_once_v2" && lv[len(lv)-1] != int64(n):
			t.Errorf("%s: changelog's latest count %d, want %d", w, lv[len(lv)-1], n)
		case len(gv) > 0 && lv[len(lv)-1] != gv[len(gv)-1]:
			t.Errorf("%s: changelog's latest count %d but the output's %d (state and output disagree)", w, lv[len(lv)-1], gv[len(gv)-1])
		}
	}
	checkCommitted(t, tg, appID, in)
	for topic, policy := range map[string]string{changelog: "compact", repartition: "delete"} {
		rc, err := newAdmin(t, tg).DescribeTopicConfigs(ctxT(t, 20*time.Second), topic)
		if err != nil {
			t.Fatalf("describe configs of %s: %v", topic, err)
		}
		c, err := rc.On(topic, nil)
		if err != nil || c.Err != nil {
			t.Fatalf("describe configs of %s: %v %v", topic, err, c.Err)
		}
		v := ""
		for _, e := range c.Configs {
			if e.Key == "cleanup.policy" {
				v = e.MaybeValue()
			}
		}
		if v != policy {
			t.Errorf("%s: cleanup.policy %q, want %q", topic, v, policy)
		}
	}
	t.Logf("scenario took %v", time.Since(start).Round(time.Millisecond))
}

func decimalCount(b []byte) (int64, error) { return strconv.ParseInt(string(b), 10, 64) }

// longCount decodes a changelog value of count(): an 8-byte big-endian long.
func longCount(b []byte) (int64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("%d bytes, want 8", len(b))
	}
	return int64(binary.BigEndian.Uint64(b)), nil
}

func abbrev(vs []int64) string {
	if len(vs) <= 12 {
		return fmt.Sprint(vs)
	}
	return fmt.Sprintf("%v … %v (%d values)", vs[:6], vs[len(vs)-6:], len(vs))
}

// readCounts reads topic from the start at read_committed, each record's
// value decoded by dec, until done holds for what it read (then one second
// more, so extra records show) or wait passes (then it returns false); it
// returns every key's values in offset order. A nil record value (a
// tombstone) fails the test. app, when not nil, is the running application:
// its exit fails the wait.
func readCounts(t *testing.T, tg *target, topic string, done func(map[string][]int64) bool,
	dec func([]byte) (int64, error), app *javaApp, wait time.Duration) (map[string][]int64, bool) {
	t.Helper()
	return readCountsAt(t, tg, topic, kgo.ReadCommitted(), done, dec, app, wait)
}

// readCountsAt is readCounts at the isolation level iso.
func readCountsAt(t *testing.T, tg *target, topic string, iso kgo.IsolationLevel, done func(map[string][]int64) bool,
	dec func([]byte) (int64, error), app *javaApp, wait time.Duration) (map[string][]int64, bool) {
	t.Helper()
	cl := newClient(t, tg, kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(iso),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	m := map[string][]int64{}
	deadline := time.Now().Add(wait)
	var extra time.Time
	for extra.IsZero() || time.Now().Before(extra) {
		if time.Now().After(deadline) {
			return m, false
		}
		if app != nil && app.exited() {
			t.Fatalf("the application exited while %s was read: %s\nlog tail:\n%s", topic, app.output(), app.logTail())
		}
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachError(func(tp string, p int32, err error) {
			if err != context.DeadlineExceeded {
				t.Logf("fetch %s/%d: %v", tp, p, err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			if r.Value == nil {
				t.Fatalf("%s: a tombstone for %q at %d/%d", topic, r.Key, r.Partition, r.Offset)
			}
			v, err := dec(r.Value)
			if err != nil {
				t.Fatalf("%s: the value of %q at %d/%d: %v", topic, r.Key, r.Partition, r.Offset, err)
			}
			m[string(r.Key)] = append(m[string(r.Key)], v)
		})
		if extra.IsZero() && done(m) {
			extra = time.Now().Add(time.Second)
		}
	}
	return m, true
}

// latest is every key's last value.
func latest(m map[string][]int64) map[string]int64 {
	out := map[string]int64{}
	for k, vs := range m {
		out[k] = vs[len(vs)-1]
	}
	return out
}

// javaApp is a Java application process of the suite (Streams, Connect):
// stdout's JSON lines are kept, its log goes to a file.
type javaApp struct {
	name, log string
	cmd       *exec.Cmd
	done      chan struct{}
	mu        sync.Mutex
	lines     []string
}

var streamsCP struct {
	once sync.Once
	cp   string
	err  error
}

// kafkaClasspath runs scripts/kafka.sh what (streams-classpath,
// connect-classpath) and returns the classpath it prints last.
func kafkaClasspath(what string) (string, error) {
	cmd := exec.Command("bash", filepath.Join(repoRoot, "scripts", "kafka.sh"), what)
	cmd.Env = append(os.Environ(), "GREGOR_CACHE="+cacheDir)
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("scripts/kafka.sh %s: %v", what, err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return lines[len(lines)-1], nil
}

// log4j2Config writes a log4j2 configuration sending everything at INFO to
// logPath and returns its path.
func log4j2Config(t *testing.T, logPath string) string {
	t.Helper()
	p := logPath + ".log4j2.properties"
	cfg := fmt.Sprintf(`status=warn
appender.file.type=File
appender.file.name=FILE
appender.file.fileName=%s
appender.file.layout.type=PatternLayout
appender.file.layout.pattern=[%%d] %%p %%m (%%c)%%n
rootLogger.level=INFO
rootLogger.appenderRef.file.ref=FILE
`, logPath)
	if err := os.WriteFile(p, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// startJavaApp starts java with the JVM flags the suite uses, args after
// them; the process is killed with the test.
func startJavaApp(t *testing.T, name, logPath string, args ...string) *javaApp {
	t.Helper()
	full := append([]string{"-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xmx384m",
		"-Dlog4j2.configurationFile=" + log4j2Config(t, logPath)}, args...)
	a := &javaApp{name: name, log: logPath, cmd: exec.Command("java", full...), done: make(chan struct{})}
	a.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := a.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	errf, err := os.Create(logPath + ".stderr")
	if err != nil {
		t.Fatal(err)
	}
	a.cmd.Stderr = errf
	if err := a.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			a.mu.Lock()
			a.lines = append(a.lines, sc.Text())
			a.mu.Unlock()
		}
		a.cmd.Wait()
		errf.Close()
		close(a.done)
	}()
	t.Cleanup(a.kill)
	return a
}

func startStreamsApp(t *testing.T, tg *target, version, appID, in, out, guarantee, stateDir, run string) *javaApp {
	t.Helper()
	streamsCP.once.Do(func() { streamsCP.cp, streamsCP.err = kafkaClasspath("streams-classpath") })
	if streamsCP.err != nil {
		t.Fatal(streamsCP.err)
	}
	classes := filepath.Join(repoRoot, "compat_test", "java", "target", version, "classes")
	if _, err := os.Stat(filepath.Join(classes, "gregor", "compat", "StreamsApp.class")); err != nil {
		t.Fatalf("the Streams application is not built; run scripts/install-deps.sh: %v", err)
	}
	logPath := filepath.Join(workDir, fmt.Sprintf("%s-%s.log", appID, run))
	return startJavaApp(t, "StreamsApp "+run, logPath, "-cp", classes+string(os.PathListSeparator)+streamsCP.cp,
		"gregor.compat.StreamsApp", "--bootstrap", tg.addr, "--app-id", appID, "--input", in, "--output", out,
		"--guarantee", guarantee, "--state-dir", stateDir)
}

func (a *javaApp) exited() bool {
	select {
	case <-a.done:
		return true
	default:
		return false
	}
}

// kill ends the process with SIGKILL (no clean close) and waits for it.
func (a *javaApp) kill() {
	if a.cmd.Process != nil && !a.exited() {
		a.cmd.Process.Kill()
	}
	<-a.done
}

// stop ends the process with SIGTERM (a clean close) and waits up to 40 s
// for it, failing the test if it has to be killed.
func (a *javaApp) stop(t *testing.T) {
	t.Helper()
	a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.done:
	case <-time.After(40 * time.Second):
		a.kill()
		t.Errorf("%s did not stop within 40 s of SIGTERM; log tail:\n%s", a.name, a.logTail())
	}
}

// output is what the process printed on stdout.
func (a *javaApp) output() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return strings.Join(a.lines, "\n")
}

// waitState waits until the application printed {"state":state}; it fails
// the test when it prints {"error":…}, exits or the time is up.
func (a *javaApp) waitState(t *testing.T, state string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		a.mu.Lock()
		var seen bool
		var errs []string
		for _, l := range a.lines {
			var m map[string]string
			if json.Unmarshal([]byte(l), &m) != nil {
				continue
			}
			seen = seen || m["state"] == state
			if m["error"] != "" {
				errs = append(errs, m["error"])
			}
		}
		a.mu.Unlock()
		switch {
		case len(errs) > 0:
			t.Fatalf("%s: %s\nlog tail:\n%s", a.name, strings.Join(errs, "; "), a.logTail())
		case seen:
			return
		case a.exited():
			t.Fatalf("%s exited before %s: %s\nlog tail:\n%s", a.name, state, a.output(), a.logTail())
		case time.Now().After(deadline):
			t.Fatalf("%s not %s within %v: %s\nlog tail:\n%s", a.name, state, d, a.output(), a.logTail())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// logTail is the end of the application's log and stderr, for a failure
// message: its WARN and ERROR lines first.
func (a *javaApp) logTail() string {
	b, _ := os.ReadFile(a.log)
	e, _ := os.ReadFile(a.log + ".stderr")
	var warn []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, "] WARN ") || strings.Contains(l, "] ERROR ") {
			warn = append(warn, l)
		}
	}
	if len(warn) > 15 {
		warn = warn[len(warn)-15:]
	}
	return "WARN/ERROR: " + tail(strings.Join(warn, "\n"), 4000) + "\n… " + tail(string(b), 2000) + "\nstderr: " + tail(string(e), 1000)
}
