package compat

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The KIP-848 consumer group protocol (group.protocol=consumer) with real
// clients: the Java client (compat_test/java, Kip848.java) at each client
// version, franz-go (kgo.ServerSideBalancer) and Kafka's
// kafka-consumer-groups tool (ConsumerGroupCommand), on every target.
//
// The Java client's scenarios run at every client version of the suite
// (javaVersions: the reference and the previous one; make test runs only
// the migration roll with the previous one, make test-kip848 everything);
// the tool and the other clients once. Online migration
// (group.consumer.migration.policy=bidirectional, both brokers' default):
// a classic group rolled to the consumer protocol member by member while
// records are produced, cooperative members also rolled back to classic
// members.
//
// At-least-once allowance of the rebalance scenario: every produced record
// is read; a record may be read a second time only by another member (its
// partition moved before the commit of the first read reached the
// coordinator), never twice by the same member, and at most one poll's
// worth per member change.

var apis848 = join(apisGroup, []kmsg.Key{kmsg.ConsumerGroupHeartbeat, kmsg.ConsumerGroupDescribe})

// java848 runs a Kip848 mode with kafka-clients at version v.
func java848(t *testing.T, v string, args ...string) [][]byte {
	t.Helper()
	dir := filepath.Join(repoRoot, "compat_test", "java", "target", v)
	if _, err := os.Stat(filepath.Join(dir, "classes", "gregor", "compat", "Kip848.class")); err != nil {
		t.Fatalf("the Java client %s is not built; run scripts/install-deps.sh: %v", v, err)
	}
	cp := filepath.Join(dir, "classes") + string(os.PathListSeparator) + filepath.Join(dir, "lib", "*")
	full := append([]string{"-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xshare:auto", "-cp", cp, "gregor.compat.Kip848"}, args...)
	return external(t, 120*time.Second, "java", full...)
}

func TestKIP848(t *testing.T) {
	versions, err := javaVersions()
	if err != nil || len(versions) == 0 {
		t.Fatalf("scripts/kafka.sh client-versions: %v %q", err, versions)
	}
	// make test runs every Java scenario with the reference client and,
	// to stay within its time, only the migration roll (cooperative, there
	// and back) with the others; GREGOR_KIP848_FULL=1 (make test-kip848)
	// runs everything with every version.
	full := os.Getenv("GREGOR_KIP848_FULL") != ""
	for i, v := range versions {
		kip848Java(t, v, i == 0 || full, full)
	}
	v := versions[0]

	groupsTool := "kafka-consumer-groups (ConsumerGroupCommand)"
	matrix(t, groupsTool, "--describe of a consumer-protocol group and a classic group, as the reference prints them", apis848, func(t *testing.T, tg *target) {
		topic := newTopic(t, tg, "k848-cgc", 3)
		produceKnown(t, tg, topic, "cgc", 60)
		group := uniq("g848-cgc")
		classic := uniq("g848-cgc-classic")
		// A classic group whose member has left: offsets, no members.
		javaRun(t, v, "consume", "--bootstrap", tg.addr, "--topic", topic, "--group", classic, "--count", "60", "--assignor", "range")
		stop := javaHold(t, v, tg, topic, group, 60)
		defer stop()
		norm := func(s string) string {
			return normGroupsTool(s, map[string]string{group: "G", classic: "C", topic: "T", tg.addr: "ADDR"})
		}
		outs := map[string]string{}
		for _, args := range [][]string{
			{"--describe", "--group", group},
			{"--describe", "--members", "--group", group},
			{"--describe", "--state", "--group", group},
			{"--describe", "--group", classic},
		} {
			var out string
			within(t, "kafka-consumer-groups "+strings.Join(args, " "), func() error {
				out = norm(kafkaTool(t, "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
					append([]string{"--bootstrap-server", tg.addr}, args...)...))
				if args[1] == "--group" && args[2] == group && strings.Count(out, " 0 MEMBER ") != 3 {
					return fmt.Errorf("not settled yet (every partition with lag 0 and its member):\n%s", out)
				}
				return nil
			})
			outs[strings.Join(args[:len(args)-1], " ")+" "+map[bool]string{true: "C", false: "G"}[args[len(args)-1] == classic]] = out
		}
		// Once the member left: offsets reset, then the group deleted.
		stop()
		tool := func(args ...string) string {
			return norm(kafkaTool(t, "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
				append([]string{"--bootstrap-server", tg.addr}, args...)...))
		}
		within(t, "the consumer group empty", func() error {
			if out := tool("--describe", "--state", "--group", group); !strings.Contains(out, " Empty 0") {
				return fmt.Errorf("not empty yet:\n%s", out)
			}
			return nil
		})
		outs["--reset-offsets --to-earliest --execute G"] = tool("--reset-offsets", "--group", group, "--topic", topic, "--to-earliest", "--execute")
		outs["--delete G"] = tool("--delete", "--group", group)
		for k, out := range outs {
			t.Logf("%s:\n%s", k, out)
		}
		if !strings.Contains(outs["--delete G"], "'G'") || !strings.Contains(outs["--delete G"], "successful") {
			t.Fatalf("--delete of the empty consumer group:\n%s", outs["--delete G"])
		}
		if !strings.Contains(outs["--describe --state --group G"], "uniform Stable 1") {
			t.Fatalf("--describe --state of the consumer group:\n%s", outs["--describe --state --group G"])
		}
		refToolMu.Lock()
		defer refToolMu.Unlock()
		if tg.name == "kafka" {
			refTool = outs
			return
		}
		if refTool == nil {
			t.Log("no reference output in this run (kafka not among COMPAT_TARGETS): structure checked only")
			return
		}
		for k, want := range refTool {
			if outs[k] != want {
				t.Errorf("kafka-consumer-groups %s differs from the reference:\ngot:\n%s\nwant:\n%s", k, outs[k], want)
			}
		}
	})

	matrixGo(t, "confluent-kafka-go (librdkafka 2.11.1)", "group.protocol=consumer: consume with synchronous commits, offsets committed", apis848, func(t *testing.T, tg *target) {
		topic := newTopic(t, tg, "k848-ckg", 3)
		want := producePartitioned(t, tg, topic, 0, 90, 3)
		group := uniq("g848-ckg")
		c, err := kafka.NewConsumer(&kafka.ConfigMap{"bootstrap.servers": tg.addr, "client.id": "compat-ckg-848",
			"group.id": group, "group.protocol": "consumer", "auto.offset.reset": "earliest", "enable.auto.commit": false,
			"fetch.wait.max.ms": 200})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Subscribe(topic, nil); err != nil {
			t.Fatal(err)
		}
		var got []rec
		deadline := time.Now().Add(45 * time.Second)
		for len(got) < len(want) && time.Now().Before(deadline) {
			m, err := c.ReadMessage(500 * time.Millisecond)
			if err != nil {
				if err.(kafka.Error).IsTimeout() {
					continue
				}
				t.Fatalf("read: %v", err)
			}
			h := map[string]string{}
			for _, x := range m.Headers {
				h[x.Key] = string(x.Value)
			}
			got = append(got, rec{P: m.TopicPartition.Partition, O: int64(m.TopicPartition.Offset), K: string(m.Key), V: string(m.Value), H: h})
			if _, err := c.CommitMessage(m); err != nil {
				t.Fatalf("commit: %v", err)
			}
		}
		c.Close()
		checkConsumed(t, got, want)
		checkCommitted(t, tg, group, topic)
		checkConsumerType(t, tg, group)
	})

	matrixGo(t, "franz-go (ServerSideBalancer)", "KIP-848 group: two members share the partitions, every record read once, offsets committed", apis848, func(t *testing.T, tg *target) {
		topic := newTopic(t, tg, "k848-franz", 4)
		want := produceKnown(t, tg, topic, "franz", 200)
		group := uniq("g848-franz")
		var mu sync.Mutex
		got := map[string]int{}
		members := map[int]map[int32]bool{}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		var wg sync.WaitGroup
		for i := 0; i < 2; i++ {
			i := i
			cl := newClient(t, tg, kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.ServerSideBalancer(),
				kgo.Balancers(kgo.CooperativeStickyBalancer()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
				kgo.DisableAutoCommit())
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					fs := cl.PollFetches(ctx)
					fs.EachRecord(func(r *kgo.Record) {
						mu.Lock()
						got[string(r.Value)]++
						if members[i] == nil {
							members[i] = map[int32]bool{}
						}
						members[i][r.Partition] = true
						done := len(got) >= len(want)
						mu.Unlock()
						if done {
							cancel()
						}
					})
					if err := cl.CommitUncommittedOffsets(context.Background()); err != nil && ctx.Err() == nil {
						t.Errorf("member %d commit: %v", i, err)
					}
				}
			}()
			if i == 0 {
				// The second member joins once the first reads.
				deadline := time.Now().Add(20 * time.Second)
				for time.Now().Before(deadline) {
					mu.Lock()
					n := len(got)
					mu.Unlock()
					if n > 0 {
						break
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
		}
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		if len(got) < len(want) {
			t.Fatalf("read %d of %d records", len(got), len(want))
		}
		for _, r := range want {
			if got[r.V] == 0 {
				t.Fatalf("record %s never read", r)
			}
		}
		checkConsumerType(t, tg, group)
	})
}

// kip848Java runs the Java client's KIP-848 scenarios with kafka-clients v:
// all of them with all, else only the migration roll there and back;
// allRolls adds the range roll.
func kip848Java(t *testing.T, v string, all, allRolls bool) {
	client := "java kafka-clients " + v + " group.protocol=consumer"
	for _, roll := range []struct {
		assignor string
		back     bool
	}{{"cooperative-sticky", true}, {"range", false}} {
		if roll.assignor == "range" && !allRolls && !all {
			continue
		}
		scenario := "online upgrade under load: classic " + roll.assignor + " members rolled to group.protocol=consumer"
		want := "consumer"
		if roll.back {
			scenario += " and back to classic"
			want = "classic"
		}
		matrix(t, client, scenario, apis848, func(t *testing.T, tg *target) {
			topic := newTopic(t, tg, "k848-roll", 6)
			group := uniq("g848-roll")
			const n = 800
			lines := java848(t, v, "roll", "--bootstrap", tg.addr, "--topic", topic, "--group", group,
				"--count", fmt.Sprint(n), "--classic-assignor", roll.assignor, "--back", fmt.Sprint(roll.back))
			checkGroupReads(t, lines, n, want)
			checkCommitted(t, tg, group, topic)
		})
	}
	if !all {
		return
	}
	for _, assignor := range []string{"uniform", "range"} {
		matrix(t, client, "rebalance under load ("+assignor+"): members join and leave while producing", apis848, func(t *testing.T, tg *target) {
			topic := newTopic(t, tg, "k848-reb", 6)
			group := uniq("g848-reb")
			const n = 600
			lines := java848(t, v, "rebalance", "--bootstrap", tg.addr, "--topic", topic, "--group", group,
				"--count", fmt.Sprint(n), "--assignor", assignor)
			checkRebalance(t, lines, n)
			checkCommitted(t, tg, group, topic)
		})
	}

	matrix(t, client, "static member leaves and comes back to the same partitions", apis848, func(t *testing.T, tg *target) {
		topic := newTopic(t, tg, "k848-static", 4)
		group := uniq("g848-static")
		got := kvOf(t, java848(t, v, "static", "--bootstrap", tg.addr, "--topic", topic, "--group", group))
		if got["first"] == "" || got["first"] == "[]" || got["first"] != got["second"] {
			t.Fatalf("static member's partitions: %q then %q; want the same, non-empty", got["first"], got["second"])
		}
		if got["epoch.before"] != got["epoch.left"] {
			t.Fatalf("group epoch %s before the static member left, %s after: a temporary leave must not rebalance", got["epoch.before"], got["epoch.left"])
		}
		if got["epoch.before"] != got["epoch.after"] {
			t.Fatalf("group epoch %s before, %s after the static member came back: no rebalance expected", got["epoch.before"], got["epoch.after"])
		}
	})

	matrix(t, client, "regex subscription resolved by the broker (SubscriptionPattern)", apis848, func(t *testing.T, tg *target) {
		base := uniq("k848re")
		a := newTopic(t, tg, base+"-a-", 2)
		b := newTopic(t, tg, base+"-b-", 1)
		other := newTopic(t, tg, "x"+base+"-c-", 1)
		produceKnown(t, tg, a, "a", 30)
		produceKnown(t, tg, b, "b", 20)
		produceKnown(t, tg, other, "c", 10)
		lines := java848(t, v, "regex", "--bootstrap", tg.addr, "--pattern", regexp.QuoteMeta(base)+"-.*",
			"--group", uniq("g848-re"), "--count", "50")
		byTopic := map[string]int{}
		for _, l := range lines {
			var r struct{ T string }
			json.Unmarshal(l, &r)
			byTopic[r.T]++
		}
		if byTopic[a] != 30 || byTopic[b] != 20 || len(byTopic) != 2 {
			t.Fatalf("records read by topic: %v; want %s:30 and %s:20 only (%s does not match: the regex is whole-name)", byTopic, a, b, other)
		}
	})

	matrix(t, client, "exactly-once read-process-write across a rebalance", join(apis848, apisTxn), func(t *testing.T, tg *target) {
		in := newTopic(t, tg, "k848-txin", 4)
		out := newTopic(t, tg, "k848-txout", 2)
		const n = 400
		produceKnown(t, tg, in, "eos", n)
		group := uniq("g848-txn")
		java848(t, v, "txn", "--bootstrap", tg.addr, "--topic", in, "--out", out, "--group", group,
			"--txn-id", uniq("tx848"), "--count", fmt.Sprint(n))
		// Read the output committed: every input exactly once.
		cl := newClient(t, tg, kgo.ConsumeTopics(out), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		seen := map[string]int{}
		want := map[string]bool{}
		for i := 0; i < n; i++ {
			want[fmt.Sprintf("java-txn:eos-%d", i)] = true
		}
		ends := endOffsets(t, tg, out)
		ctx := ctxT(t, 30*time.Second)
		pos := map[int32]int64{}
		done := func() bool {
			for p, e := range ends {
				if pos[p] < e-1 && e > 0 {
					return false
				}
			}
			return true
		}
		for !done() && ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			fs.EachRecord(func(r *kgo.Record) {
				seen[string(r.Value)]++
				pos[r.Partition] = r.Offset
			})
			if len(seen) >= n && fs.NumRecords() == 0 {
				break
			}
		}
		var missing, dup []string
		for v := range want {
			switch seen[v] {
			case 0:
				missing = append(missing, v)
			case 1:
			default:
				dup = append(dup, v)
			}
		}
		for v := range seen {
			if !want[v] {
				t.Errorf("unexpected committed output %q", v)
			}
		}
		sort.Strings(missing)
		sort.Strings(dup)
		if len(missing) > 0 || len(dup) > 0 {
			t.Fatalf("exactly once broken: %d missing %v, %d duplicated %v", len(missing), head(missing, 10), len(dup), head(dup, 10))
		}
	})
}

// checkConsumerType fails unless group is listed as a KIP-848 consumer
// group (ListGroups v5 with the types filter): the client really spoke the
// consumer protocol.
func checkConsumerType(t *testing.T, tg *target, group string) {
	t.Helper()
	lg := kmsg.NewPtrListGroupsRequest()
	lg.Version = 5
	lg.TypesFilter = []string{"consumer"}
	resp, err := lg.RequestWith(ctxT(t, 10*time.Second), newClient(t, tg))
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range resp.Groups {
		if g.Group == group {
			return
		}
	}
	t.Fatalf("ListGroups with types filter consumer does not list %s: %+v", group, resp.Groups)
}

var (
	refToolMu sync.Mutex
	refTool   map[string]string
)

// javaHold starts a Kip848 "hold" member that reads n records of topic in
// group and keeps its membership until the returned stop is called.
func javaHold(t *testing.T, v string, tg *target, topic, group string, n int) (stop func()) {
	t.Helper()
	dir := filepath.Join(repoRoot, "compat_test", "java", "target", v)
	cp := filepath.Join(dir, "classes") + string(os.PathListSeparator) + filepath.Join(dir, "lib", "*")
	cmd := exec.Command("java", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-cp", cp, "gregor.compat.Kip848",
		"hold", "--bootstrap", tg.addr, "--topic", topic, "--group", group, "--count", fmt.Sprint(n))
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	outp, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		in.Close()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(outp)
		ok := false
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "{\"ready\":") {
				ok = true
				ready <- true
			}
		}
		if !ok {
			ready <- false
		}
	}()
	select {
	case ok := <-ready:
		if !ok {
			stop()
			t.Fatalf("the Java member exited before reading %d records:\n%s", n, tail(stderr.String(), 3000))
		}
	case <-time.After(90 * time.Second):
		stop()
		t.Fatalf("the Java member did not read %d records in time:\n%s", n, tail(stderr.String(), 3000))
	}
	return stop
}

var (
	reSpaces   = regexp.MustCompile(`[ \t]+`)
	reMemberID = regexp.MustCompile(`\b[A-Za-z0-9_-]{22}\b|\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b|compat-java-848-hold-[0-9a-f-]+`)
	reCoord    = regexp.MustCompile(`\S+:\d+ \(\d+\)`)
)

// normGroupsTool masks what legitimately differs between two brokers in
// kafka-consumer-groups' output: names (placeholders), member ids,
// the coordinator's address and id, column padding and line order.
func normGroupsTool(s string, names map[string]string) string {
	keys := make([]string, 0, len(names))
	for k := range names {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return len(keys[i]) > len(keys[j]) })
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, "WARN") || strings.Contains(l, "SLF4J") || strings.TrimSpace(l) == "" {
			continue
		}
		for _, k := range keys {
			l = strings.ReplaceAll(l, k, names[k])
		}
		l = reCoord.ReplaceAllString(l, "COORD")
		l = reMemberID.ReplaceAllString(l, "MEMBER")
		out = append(out, strings.TrimSpace(reSpaces.ReplaceAllString(l, " ")))
	}
	// Some listings come in hash order (--reset-offsets): compare as sets.
	sort.Strings(out)
	return strings.Join(out, "\n")
}

// checkRebalance checks the rebalance scenario's output: every value
// v-0 … v-(n-1) read, duplicates only across members, and the group
// described as a Stable consumer group whose members share every partition.
func checkRebalance(t *testing.T, lines [][]byte, n int) {
	t.Helper()
	checkGroupReads(t, lines, n, "consumer")
}

// checkGroupReads is checkRebalance's check with the group type the admin
// client must describe at the end (consumer or classic).
func checkGroupReads(t *testing.T, lines [][]byte, n int, wantType string) {
	t.Helper()
	type read struct {
		M int
		P int32
		O int64
		V string
	}
	byValue := map[string][]int{}
	kv := map[string]string{}
	var events []string
	for _, l := range lines {
		var r struct {
			M     *int
			P     int32
			O     int64
			V     string
			Key   string
			Value string
			Event string
		}
		if err := json.Unmarshal(l, &r); err != nil {
			t.Fatalf("bad line %s: %v", l, err)
		}
		switch {
		case r.Event != "":
			events = append(events, string(l))
			if r.Event == "failed" {
				t.Fatalf("a member failed: %s", l)
			}
		case r.Key != "":
			kv[r.Key] = r.Value
		case r.M != nil:
			byValue[r.V] = append(byValue[r.V], *r.M)
		}
	}
	dups := 0
	for i := 0; i < n; i++ {
		v := fmt.Sprintf("v-%d", i)
		ms := byValue[v]
		if len(ms) == 0 {
			t.Fatalf("record %s never read (events: %v)", v, events)
		}
		seen := map[int]bool{}
		for _, m := range ms {
			if seen[m] {
				t.Fatalf("record %s read twice by member %d: %v", v, m, ms)
			}
			seen[m] = true
		}
		dups += len(ms) - 1
	}
	if dups > n/10 {
		t.Fatalf("%d records read twice, more than the at-least-once allowance (%d)", dups, n/10)
	}
	t.Logf("%d records, %d read twice across a member change; events %v", n, dups, events)
	if !strings.EqualFold(kv["type"], wantType) || !strings.EqualFold(kv["state"], "stable") || kv["members"] != "3" || kv["assigned"] != "6" {
		t.Fatalf("the group as the admin client describes it: %v; want a Stable %s group of 3 members sharing 6 partitions", kv, strings.ToUpper(wantType))
	}
}

func head(s []string, n int) []string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// TestKIP881RackAwareRange: client-side rack-aware assignment (KIP-881)
// needs the broker only to report each partition's replica racks in
// Metadata. A gregor cluster of two broker groups on racks rack-a and
// rack-b (NameServer and two brokers, each a process) holds a topic whose
// partitions the decider spreads over both; two classic Java consumers
// with the range assignor and client.rack rack-a and rack-b must each get
// the partitions whose leader is on their rack (plain range would give
// partitions 0,1 and 2,3, each mixing racks). Kafka's reference is one
// broker, so this is gregor's own check (n/a on kafka).
func TestKIP881RackAwareRange(t *testing.T) {
	versions, err := javaVersions()
	if err != nil || len(versions) == 0 {
		t.Fatalf("scripts/kafka.sh client-versions: %v %q", err, versions)
	}
	v := versions[0]
	client, scenario := "java kafka-clients "+v, "KIP-881 rack-aware range (client.rack) over two broker groups on two racks"
	run := false
	for _, tg := range targets {
		if tg.name == "gregor" {
			run = true
		} else {
			results.set(client, scenario, tg.name, "n/a")
		}
	}
	if !run {
		t.Skip("gregor is not among COMPAT_TARGETS")
	}
	defer func() {
		if t.Failed() {
			results.set(client, scenario, "gregor", "FAIL")
		} else if !t.Skipped() {
			results.set(client, scenario, "gregor", "pass")
		}
	}()
	bin, err := gregorBinary()
	if err != nil {
		t.Fatal(err)
	}
	var ports [5]int
	for i := range ports {
		if ports[i], err = freePort(); err != nil {
			t.Fatal(err)
		}
	}
	ns := fmt.Sprintf("127.0.0.1:%d", ports[0])
	nsProc, err := startReplProc(bin, "racks-ns", "nameserver", "--listen", ns,
		"--scan-interval", "200ms", "--expiry", "3s", "--logger.level", "warn")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nsProc.stop)
	racks := []string{"rack-a", "rack-b"}
	for i, rack := range racks {
		p, err := startReplProc(bin, "racks-"+rack, "broker",
			"--cluster", "compat881", "--broker-name", "g-"+rack, "--broker-id", "0",
			"--node-id", strconv.Itoa(i+1), "--broker.rack="+rack,
			"--nameservers", ns,
			"--register-interval", "200ms", "--route-refresh-interval", "200ms",
			fmt.Sprintf("--listeners=PLAINTEXT://127.0.0.1:%d", ports[1+2*i]),
			fmt.Sprintf("--http.listener=127.0.0.1:%d", ports[2+2*i]),
			"--replication.listener=127.0.0.1:0",
			"--data-dir", filepath.Join(t.TempDir(), "data"),
			"--log.segment.bytes=4194304",
			"--group.initial.rebalance.delay.ms=0", "--group.min.session.timeout.ms=1000",
			"--logger.level", "info")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if t.Failed() {
				b, _ := os.ReadFile(p.log)
				t.Logf("%s log tail:\n%s", p.name, tail(string(b), 3000))
			}
			p.stop()
		})
	}
	tg := &target{name: "gregor-racks", addr: fmt.Sprintf("127.0.0.1:%d", ports[1])}
	adm := newAdmin(t, tg)
	within(t, "both broker groups in the cluster", func() error {
		bs, err := adm.ListBrokers(ctxT(t, 5*time.Second))
		if err != nil {
			return err
		}
		if len(bs) != 2 {
			return fmt.Errorf("%d brokers", len(bs))
		}
		return nil
	})
	topic := uniq("k881")
	const parts = 4
	if _, err := adm.CreateTopic(ctxT(t, 20*time.Second), parts, -1, nil, topic); err != nil {
		t.Fatal(err)
	}
	// Each partition's rack, from its leader as Metadata tells it.
	rackOf := map[int32]string{}
	within(t, "the topic's partitions led on both racks", func() error {
		md, err := adm.Metadata(ctxT(t, 5*time.Second), topic)
		if err != nil {
			return err
		}
		td := md.Topics[topic]
		if td.Err != nil || len(td.Partitions) != parts {
			return fmt.Errorf("topic: %v, %d partitions", td.Err, len(td.Partitions))
		}
		nodeRack := map[int32]*string{}
		for _, b := range md.Brokers {
			nodeRack[b.NodeID] = b.Rack
		}
		seen := map[string]int{}
		for p, pd := range td.Partitions {
			r := nodeRack[pd.Leader]
			if r == nil {
				return fmt.Errorf("partition %d: leader %d without a rack", p, pd.Leader)
			}
			rackOf[p] = *r
			seen[*r]++
		}
		if seen["rack-a"] != parts/2 || seen["rack-b"] != parts/2 {
			return fmt.Errorf("partitions by rack %v, want %d on each", seen, parts/2)
		}
		return nil
	})
	lines := java848(t, v, "rack", "--bootstrap", tg.addr, "--topic", topic, "--group", uniq("g881"),
		"--racks", strings.Join(racks, ","), "--partitions", fmt.Sprint(parts))
	got := 0
	for _, l := range lines {
		var m struct {
			M     int
			Rack  string
			Parts []int32
		}
		if err := json.Unmarshal(l, &m); err != nil || m.Rack == "" {
			continue
		}
		t.Logf("member %d (client.rack %s): partitions %v; partition racks %v", m.M, m.Rack, m.Parts, rackOf)
		if len(m.Parts) != parts/2 {
			t.Errorf("member on %s got %d partitions %v, want %d", m.Rack, len(m.Parts), m.Parts, parts/2)
		}
		for _, p := range m.Parts {
			if rackOf[p] != m.Rack {
				t.Errorf("member on %s got partition %d, led on %s (partition racks %v)", m.Rack, p, rackOf[p], rackOf)
			}
		}
		got++
	}
	if got != len(racks) {
		t.Fatalf("%d members reported, want %d:\n%s", got, len(racks), lines)
	}
}
