package compat

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// API sets the scenarios declare; a gregor scenario whose broker does not
// advertise one of them is skipped with the missing API named.
var (
	apisData  = []kmsg.Key{kmsg.Produce, kmsg.Fetch, kmsg.ListOffsets, kmsg.Metadata, kmsg.CreateTopics}
	apisIdem  = append(append([]kmsg.Key{}, apisData...), kmsg.InitProducerID)
	apisGroup = append(append([]kmsg.Key{}, apisData...), kmsg.FindCoordinator, kmsg.JoinGroup,
		kmsg.SyncGroup, kmsg.Heartbeat, kmsg.LeaveGroup, kmsg.OffsetCommit, kmsg.OffsetFetch)
)

func join(sets ...[]kmsg.Key) []kmsg.Key {
	var out []kmsg.Key
	for _, s := range sets {
		out = append(out, s...)
	}
	return out
}

// matrix runs fn as the subtest <target>/<client>/<scenario> on every
// process target and records the outcome in the results table under
// client × scenario.
func matrix(t *testing.T, client, scenario string, needs []kmsg.Key, fn func(t *testing.T, tg *target)) {
	t.Helper()
	runMatrix(t, client, scenario, needs, false, fn)
}

// matrixGo is matrix for a scenario of a Go client, which also runs against
// the in-process broker.
func matrixGo(t *testing.T, client, scenario string, needs []kmsg.Key, fn func(t *testing.T, tg *target)) {
	t.Helper()
	runMatrix(t, client, scenario, needs, true, fn)
}

func runMatrix(t *testing.T, client, scenario string, needs []kmsg.Key, inproc bool, fn func(t *testing.T, tg *target)) {
	t.Helper()
	for _, tg := range targets {
		if tg.inproc && !inproc {
			continue
		}
		t.Run(tg.name+"/"+client+"/"+scenario, func(t *testing.T) {
			defer func() {
				switch {
				case t.Skipped():
					// recorded by the skip below
				case t.Failed():
					results.set(client, scenario, tg.name, "FAIL")
				default:
					results.set(client, scenario, tg.name, "pass")
				}
			}()
			if tg.down != "" {
				t.Fatalf("target %s is down: %s", tg.name, tg.down)
			}
			var missing []string
			for _, k := range needs {
				if _, ok := tg.apis[int16(k)]; !ok {
					missing = append(missing, k.Name())
				}
			}
			if len(missing) > 0 {
				reason := fmt.Sprintf("%s does not implement %s yet", tg.name, strings.Join(missing, ", "))
				results.set(client, scenario, tg.name, "skip: no "+strings.Join(missing, ", "))
				t.Skip(reason)
			}
			fn(t, tg)
		})
	}
}

// resultTable collects client × scenario × target outcomes.
type resultTable struct {
	notes []string // lines printed under the targets
	mu    sync.Mutex
	rows  map[[2]string]map[string]string
	keys  [][2]string
}

var results = &resultTable{rows: map[[2]string]map[string]string{}}

func (r *resultTable) set(client, scenario, target, status string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := [2]string{client, scenario}
	if r.rows[k] == nil {
		r.rows[k] = map[string]string{}
		r.keys = append(r.keys, k)
	}
	r.rows[k][target] = status
}

// write prints the table to stdout and writes it to results.md (or
// $COMPAT_RESULTS); nothing when no scenario ran.
func (r *resultTable) write() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.keys) == 0 {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# gregor client matrix — results of one run\n\n")
	fmt.Fprintf(&b, "Written by `go test ./compat_test/` at %s on commit %s.\n\n", time.Now().UTC().Format(time.RFC3339), gitCommit(repoRoot))
	for _, tg := range targets {
		state := "up"
		if tg.down != "" {
			state = "down: " + firstLine(tg.down)
		}
		fmt.Fprintf(&b, "- target **%s** at %s (%s)\n", tg.name, tg.addr, state)
	}
	for _, n := range r.notes {
		fmt.Fprintf(&b, "- %s\n", n)
	}
	b.WriteString("\n| client | scenario |")
	for _, tg := range targets {
		b.WriteString(" " + tg.name + " |")
	}
	b.WriteString("\n|---|---|")
	for range targets {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	pass, fail, skip := 0, 0, 0
	for _, k := range r.keys {
		fmt.Fprintf(&b, "| %s | %s |", k[0], k[1])
		for _, tg := range targets {
			s := r.rows[k][tg.name]
			switch {
			case s == "" && tg.inproc:
				s = "—" // an external client: process targets only
			case s == "":
				s = "not run"
				skip++
			case s == "pass":
				pass++
			case s == "FAIL":
				fail++
			case s == "n/a":
			default:
				skip++
			}
			b.WriteString(" " + s + " |")
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "\nmatrix: %d passed, %d failed, %d skipped or not run (— marks an external client, which the in-process broker does not serve; n/a a scenario that does not apply)\n", pass, fail, skip)
	writeAPIs(&b)
	fmt.Print("\n" + b.String())
	path := os.Getenv("COMPAT_RESULTS")
	if path == "" {
		path = filepath.Join(repoRoot, "compat_test", "results.md")
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "compat: writing results:", err)
	}
}

// gitCommit names the commit the tree at dir is on (git rev-parse HEAD),
// marked "+ uncommitted changes" when tracked files (other than the table
// itself) differ from it, so a results table says what it was measured on.
func gitCommit(dir string) string {
	out, err := exec.Command("git", "-C", dir, "rev-parse", "HEAD").Output()
	if err != nil {
		return "unknown (git rev-parse: " + err.Error() + ")"
	}
	c := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "-C", dir, "status", "--porcelain", "--untracked-files=no",
		"--", ".", ":(exclude)compat_test/results.md").Output(); err == nil && len(bytes.TrimSpace(st)) > 0 {
		c += " + uncommitted changes"
	}
	return c
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// rec is one record as the tests compare them.
type rec struct {
	P int32             `json:"p"`
	O int64             `json:"o"`
	K string            `json:"k"`
	V string            `json:"v"`
	H map[string]string `json:"h,omitempty"`
}

func (r rec) String() string { return fmt.Sprintf("p%d@%d %s=%s %v", r.P, r.O, r.K, r.V, r.H) }

// uniq returns a fresh name with prefix.
func uniq(prefix string) string {
	return fmt.Sprintf("%s-%d-%04x", prefix, time.Now().UnixNano()%1e9, rand.IntN(1<<16))
}

// newClient returns a franz-go client for tg, closed with the test.
func newClient(t *testing.T, tg *target, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(tg.addr), kgo.ClientID("compat-franz")}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func newAdmin(t *testing.T, tg *target) *kadm.Client {
	return kadm.NewClient(newClient(t, tg))
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// newTopic creates a fresh topic with n partitions and returns its name.
func newTopic(t *testing.T, tg *target, prefix string, n int32) string {
	t.Helper()
	name := uniq(prefix)
	adm := newAdmin(t, tg)
	resp, err := adm.CreateTopic(ctxT(t, 30*time.Second), n, 1, nil, name)
	if err != nil || resp.Err != nil {
		t.Fatalf("create topic %s: %v %v", name, err, resp.Err)
	}
	waitTopic(t, tg, name, n)
	return name
}

// waitTopic waits until Metadata shows topic with n partitions with leaders.
func waitTopic(t *testing.T, tg *target, topic string, n int32) {
	t.Helper()
	adm := newAdmin(t, tg)
	deadline := time.Now().Add(20 * time.Second)
	for {
		td, err := adm.ListTopics(ctxT(t, 10*time.Second), topic)
		if err == nil {
			d := td[topic]
			ok := d.Err == nil && int32(len(d.Partitions)) == n
			for _, p := range d.Partitions {
				ok = ok && p.Leader >= 0 && p.Err == nil
			}
			if ok {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("topic %s never showed %d partitions with leaders: %v %+v", topic, n, err, td[topic])
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// produceKnown writes n records to topic with franz-go: key k-(i%7), value
// src-i, headers idx=i and client=src; returns them with their offsets.
func produceKnown(t *testing.T, tg *target, topic, src string, n int) []rec {
	t.Helper()
	// Uncompressed, so every client can read it (kafka-python lacks snappy).
	cl := newClient(t, tg, kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(2*time.Millisecond),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	rs := make([]*kgo.Record, n)
	for i := range rs {
		rs[i] = &kgo.Record{Key: []byte(fmt.Sprintf("k-%d", i%7)), Value: []byte(fmt.Sprintf("%s-%d", src, i)),
			Headers: []kgo.RecordHeader{{Key: "idx", Value: []byte(strconv.Itoa(i))}, {Key: "client", Value: []byte(src)}}}
	}
	if err := cl.ProduceSync(ctxT(t, 30*time.Second), rs...).FirstErr(); err != nil {
		t.Fatalf("produce %d records to %s: %v", n, topic, err)
	}
	out := make([]rec, n)
	for i, r := range rs {
		out[i] = toRec(r)
	}
	return out
}

func toRec(r *kgo.Record) rec {
	h := map[string]string{}
	for _, x := range r.Headers {
		h[x.Key] = string(x.Value)
	}
	return rec{P: r.Partition, O: r.Offset, K: string(r.Key), V: string(r.Value), H: h}
}

// endOffsets returns the high watermark of each partition of topic.
func endOffsets(t *testing.T, tg *target, topic string) map[int32]int64 {
	t.Helper()
	lo, err := newAdmin(t, tg).ListEndOffsets(ctxT(t, 20*time.Second), topic)
	if err != nil {
		t.Fatalf("list end offsets of %s: %v", topic, err)
	}
	out := map[int32]int64{}
	lo.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			t.Fatalf("end offset of %s/%d: %v", topic, o.Partition, o.Err)
		}
		out[o.Partition] = o.Offset
	})
	return out
}

// readAll reads every record of topic from offset 0 to the high watermark.
func readAll(t *testing.T, tg *target, topic string) []rec {
	t.Helper()
	ends := endOffsets(t, tg, topic)
	parts := map[int32]kgo.Offset{}
	total := int64(0)
	for p, e := range ends {
		parts[p] = kgo.NewOffset().AtStart()
		total += e
	}
	cl := newClient(t, tg, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: parts}),
		kgo.FetchMaxWait(200*time.Millisecond))
	var out []rec
	ctx := ctxT(t, 30*time.Second)
	for int64(len(out)) < total {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %s: got %d of %d records before timeout", topic, len(out), total)
		}
		fs.EachError(func(tp string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", tp, p, err) })
		fs.EachRecord(func(r *kgo.Record) { out = append(out, toRec(r)) })
	}
	return out
}

// checkProduced reads topic back and checks that it holds exactly the n
// records the client src wrote (key k-(i%7), value src-i, headers idx=i and
// client=src), each once, in write order within each partition, every key in
// one partition; acks (optional) are the client's delivery reports and must
// name the offsets the records have.
func checkProduced(t *testing.T, tg *target, topic, src string, n int, acks []rec) {
	t.Helper()
	checkProducedH(t, tg, topic, src, n, acks, func(i int) map[string]string {
		return map[string]string{"idx": strconv.Itoa(i), "client": src}
	})
}

// checkProducedH is checkProduced for a client whose record i carries the
// headers hdr(i); the record's index comes from its value, src-i.
func checkProducedH(t *testing.T, tg *target, topic, src string, n int, acks []rec, hdr func(i int) map[string]string) {
	t.Helper()
	checkLog(t, tg, topic, src, n, acks, hdr, true)
}

// checkLog is checkProducedH; keyed says the client partitioned by key, so
// every key must sit in one partition.
func checkLog(t *testing.T, tg *target, topic, src string, n int, acks []rec, hdr func(i int) map[string]string, keyed bool) {
	t.Helper()
	got := readAll(t, tg, topic)
	if len(got) != n {
		t.Errorf("topic %s holds %d records, want exactly %d", topic, len(got), n)
	}
	seen := map[int]bool{}
	lastIdx := map[int32]int{}
	lastOff := map[int32]int64{}
	keyPart := map[string]int32{}
	at := map[[2]int64]rec{}
	for _, r := range got {
		at[[2]int64{int64(r.P), r.O}] = r
		idx, err := strconv.Atoi(strings.TrimPrefix(r.V, src+"-"))
		if err != nil {
			t.Errorf("record %v: value is not %s-<index>", r, src)
			continue
		}
		if seen[idx] {
			t.Errorf("record idx %d appears twice (duplicate): %v", idx, r)
		}
		seen[idx] = true
		if want := fmt.Sprintf("%s-%d", src, idx); r.V != want {
			t.Errorf("record %v: value %q, want %q", r, r.V, want)
		}
		if want := fmt.Sprintf("k-%d", idx%7); r.K != want {
			t.Errorf("record %v: key %q, want %q", r, r.K, want)
		}
		if want := hdr(idx); !sameHeaders(r.H, want) {
			t.Errorf("record %v: headers %v, want %v", r, r.H, want)
		}
		if l, ok := lastIdx[r.P]; ok && idx <= l {
			t.Errorf("partition %d: idx %d at offset %d after idx %d (order within partition broken)", r.P, idx, r.O, l)
		}
		lastIdx[r.P] = idx
		if l, ok := lastOff[r.P]; ok && r.O != l+1 {
			t.Errorf("partition %d: offset %d after %d (offsets not contiguous)", r.P, r.O, l)
		}
		lastOff[r.P] = r.O
		if p, ok := keyPart[r.K]; keyed && ok && p != r.P {
			t.Errorf("key %s in partitions %d and %d", r.K, p, r.P)
		}
		keyPart[r.K] = r.P
	}
	for i := 0; i < n; i++ {
		if !seen[i] {
			t.Errorf("record idx %d missing", i)
		}
	}
	for _, a := range acks {
		r, ok := at[[2]int64{int64(a.P), a.O}]
		if !ok || r.K != a.K || r.V != a.V {
			t.Errorf("client acked %v but the log holds %v there", a, r)
		}
	}
	if len(acks) > 0 && len(acks) != n {
		t.Errorf("%d delivery reports, want %d", len(acks), n)
	}
}

// checkConsumed checks that a consumer got exactly want (each once, same key,
// value and headers at the same partition and offset) and that it saw each
// partition's records in offset order.
func checkConsumed(t *testing.T, got, want []rec) {
	t.Helper()
	byPos := map[[2]int64]rec{}
	for _, w := range want {
		byPos[[2]int64{int64(w.P), w.O}] = w
	}
	seen := map[[2]int64]bool{}
	last := map[int32]int64{}
	for _, g := range got {
		pos := [2]int64{int64(g.P), g.O}
		w, ok := byPos[pos]
		switch {
		case !ok:
			t.Errorf("consumed %v, which was never produced", g)
		case seen[pos]:
			t.Errorf("consumed %v twice", g)
		case g.K != w.K || g.V != w.V || !sameHeaders(g.H, w.H):
			t.Errorf("consumed %v, produced %v", g, w)
		}
		seen[pos] = true
		if l, ok := last[g.P]; ok && g.O <= l {
			t.Errorf("partition %d: offset %d consumed after %d", g.P, g.O, l)
		}
		last[g.P] = g.O
	}
	if len(got) != len(want) || len(seen) != len(want) {
		t.Errorf("consumed %d records (%d distinct), want exactly %d", len(got), len(seen), len(want))
	}
}

func sameHeaders(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// checkCommitted checks that group's committed offsets on topic equal the
// partitions' end offsets (an empty partition may have none).
func checkCommitted(t *testing.T, tg *target, group, topic string) {
	t.Helper()
	ends := endOffsets(t, tg, topic)
	resp, err := newAdmin(t, tg).FetchOffsets(ctxT(t, 20*time.Second), group)
	if err != nil {
		t.Fatalf("fetch offsets of %s: %v", group, err)
	}
	for p, e := range ends {
		o, ok := resp.Lookup(topic, p)
		if e == 0 && (!ok || o.At <= 0) {
			continue // an empty partition: nothing to commit
		}
		if !ok || o.Err != nil {
			t.Errorf("group %s: no committed offset for %s/%d (%v)", group, topic, p, o.Err)
			continue
		}
		if o.At != e {
			t.Errorf("group %s: committed %s/%d = %d, want the end offset %d", group, topic, p, o.At, e)
		}
	}
}

// external runs a client program and returns the JSON objects it printed,
// one per line; it fails the test when the program fails.
func external(t *testing.T, timeout time.Duration, name string, args ...string) [][]byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	t.Logf("%s %s: %v in %v", filepath.Base(name), strings.Join(args[:min(len(args), 3)], " "), err, time.Since(start).Round(time.Millisecond))
	if err != nil {
		t.Fatalf("%s %s failed: %v\nstderr:\n%s\nstdout:\n%s", name, strings.Join(args, " "), err,
			tail(stderr.String(), 3000), tail(stdout.String(), 2000))
	}
	var lines [][]byte
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if l := bytes.TrimSpace(sc.Bytes()); len(l) > 0 && l[0] == '{' {
			lines = append(lines, append([]byte(nil), l...))
		}
	}
	return lines
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// recsOf decodes lines as records.
func recsOf(t *testing.T, lines [][]byte) []rec {
	t.Helper()
	out := make([]rec, 0, len(lines))
	for _, l := range lines {
		var r rec
		if err := json.Unmarshal(l, &r); err != nil {
			t.Fatalf("bad record line %s: %v", l, err)
		}
		out = append(out, r)
	}
	return out
}

// kvOf decodes {"key":…,"value":…} lines into a map.
func kvOf(t *testing.T, lines [][]byte) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, l := range lines {
		var kv struct{ Key, Value string }
		if err := json.Unmarshal(l, &kv); err != nil {
			t.Fatalf("bad line %s: %v", l, err)
		}
		out[kv.Key] = kv.Value
	}
	return out
}

// expectKV checks each wanted key/value an admin program printed.
func expectKV(t *testing.T, got map[string]string, want map[string]string) {
	t.Helper()
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if got[k] != want[k] {
			t.Errorf("%s = %q, want %q (all: %v)", k, got[k], want[k], got)
		}
	}
}

// commitGroup commits offsets for group on topic directly (no members), so
// admin scenarios have a group with known offsets to list.
func commitGroup(t *testing.T, tg *target, group, topic string, offs map[int32]int64) {
	t.Helper()
	offsets := kadm.Offsets{}
	for p, o := range offs {
		offsets.Add(kadm.Offset{Topic: topic, Partition: p, At: o, LeaderEpoch: -1})
	}
	resp, err := newAdmin(t, tg).CommitOffsets(ctxT(t, 20*time.Second), group, offsets)
	if err != nil {
		t.Fatalf("commit offsets for %s: %v", group, err)
	}
	if err := resp.Error(); err != nil {
		t.Fatalf("commit offsets for %s: %v", group, err)
	}
}

// eventually waits up to 10s for cond, failing the test with what.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Errorf("timed out waiting for %s", what)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// writeAPIs appends each target's ApiVersions ranges, key by key, so the
// APIs one broker serves and the other does not stand side by side.
func writeAPIs(b *strings.Builder) {
	keys := map[int16]bool{}
	for _, tg := range targets {
		for k := range tg.apis {
			keys[k] = true
		}
	}
	if len(keys) == 0 {
		return
	}
	sorted := make([]int, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, int(k))
	}
	sort.Ints(sorted)
	b.WriteString("\n## ApiVersions advertised\n\n| key | API |")
	for _, tg := range targets {
		b.WriteString(" " + tg.name + " |")
	}
	b.WriteString("\n|---|---|")
	for range targets {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, k := range sorted {
		fmt.Fprintf(b, "| %d | %s |", k, kmsg.NameForKey(int16(k)))
		for _, tg := range targets {
			if v, ok := tg.apis[int16(k)]; ok {
				fmt.Fprintf(b, " %d–%d |", v[0], v[1])
			} else {
				b.WriteString(" — |")
			}
		}
		b.WriteString("\n")
	}
}
