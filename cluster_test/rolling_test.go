package cluster_test

// The operator's procedures of docs/replication.md ("Operations"), run
// with real processes under load: a rolling restart of a whole cluster
// (NameServers one at a time, then the slaves, then the master after a
// planned hand-over with `gregor cluster promote`), and Kafka's
// kafka-leader-election tool giving mastership back to member 0.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// rollLoad is an idempotent acks=all producer and a committing consumer
// group of two members running against a cluster while the test works on
// it.
type rollLoad struct {
	t      *testing.T
	topic  string
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	acked    map[string]int32 // value → partition, acknowledged
	ackTimes []time.Time      // when each acknowledgement came
	stepAt   time.Time        // the last progress call's end
	failed   []error          // records the producer gave up on
	sent     atomic.Int64
	consumed atomic.Int64 // records the group consumed (redeliveries included)
}

const rollPartitions = 3

func startRollLoad(t *testing.T, seeds []string, topic string) *rollLoad {
	ctx, cancel := context.WithCancel(context.Background())
	l := &rollLoad{t: t, topic: topic, cancel: cancel, acked: map[string]int32{}, stepAt: time.Now()}
	common := []kgo.Opt{kgo.SeedBrokers(seeds...), kgo.MetadataMinAge(100 * time.Millisecond),
		kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }),
		kgo.RequestTimeoutOverhead(time.Second)}
	prod, err := kgo.NewClient(append(common, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic(topic),
		kgo.RecordDeliveryTimeout(90*time.Second), kgo.ProduceRequestTimeout(3*time.Second),
		kgo.MaxBufferedRecords(200), kgo.ProducerLinger(5*time.Millisecond))...)
	if err != nil {
		t.Fatal(err)
	}
	l.wg.Add(1)
	go func() { // the producer, about 500 records/s, idempotent (kgo's default)
		defer l.wg.Done()
		defer prod.Close()
		for i := 0; ctx.Err() == nil; i++ {
			v := "r" + strconv.Itoa(i)
			l.sent.Add(1)
			prod.Produce(ctx, &kgo.Record{Value: []byte(v)}, func(r *kgo.Record, err error) {
				l.mu.Lock()
				defer l.mu.Unlock()
				switch {
				case err == nil:
					l.acked[v] = r.Partition
					l.ackTimes = append(l.ackTimes, time.Now())
				case ctx.Err() == nil:
					l.failed = append(l.failed, fmt.Errorf("%s: %w", v, err))
				}
			})
			time.Sleep(2 * time.Millisecond)
		}
		fctx, fcancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer fcancel()
		_ = prod.Flush(fctx)
	}()
	for range 2 {
		cons, err := kgo.NewClient(append(common, kgo.ConsumerGroup(topic+"-g"), kgo.ConsumeTopics(topic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.AutoCommitInterval(500*time.Millisecond),
			kgo.FetchMaxWait(200*time.Millisecond), kgo.SessionTimeout(6*time.Second),
			kgo.HeartbeatInterval(500*time.Millisecond))...)
		if err != nil {
			t.Fatal(err)
		}
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			defer cons.Close()
			for ctx.Err() == nil {
				fs := cons.PollFetches(ctx)
				l.consumed.Add(int64(fs.NumRecords()))
			}
		}()
	}
	return l
}

func (l *rollLoad) ackCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked)
}

// progress waits until the producer had n more records acknowledged and
// the group consumed n more, failing after a minute.
func (l *rollLoad) progress(what string, n int) {
	l.t.Helper()
	a0, c0 := l.ackCount(), l.consumed.Load()
	deadline := time.Now().Add(60 * time.Second)
	for l.ackCount() < a0+n || l.consumed.Load() < c0+int64(n) {
		if time.Now().After(deadline) {
			l.mu.Lock()
			failed := len(l.failed)
			l.mu.Unlock()
			l.t.Fatalf("%s: no progress in 60 s: %d more acknowledged, %d more consumed, want %d (%d records failed)",
				what, l.ackCount()-a0, l.consumed.Load()-c0, n, failed)
		}
		time.Sleep(20 * time.Millisecond)
	}
	l.mu.Lock()
	gap := longestGap(l.ackTimes, l.stepAt)
	l.stepAt = time.Now()
	l.mu.Unlock()
	l.t.Logf("%s: writes and the consumer group progress (%d acknowledged, %d consumed; longest time without an acknowledgement in this step %v)",
		what, l.ackCount(), l.consumed.Load(), gap.Round(time.Millisecond))
}

// longestGap is the longest time between acknowledgements (ts, in
// arrival order) from since on.
func longestGap(ts []time.Time, since time.Time) time.Duration {
	var gap time.Duration
	prev := since
	for _, at := range ts {
		if at.After(prev) {
			gap = max(gap, at.Sub(prev))
			prev = at
		}
	}
	return gap
}

// stop ends the load and checks the topic: every acknowledged record in
// the log exactly once, each partition in the producer's order, and no
// record the producer gave up on.
func (l *rollLoad) stop(seeds []string) {
	l.t.Helper()
	l.cancel()
	l.wg.Wait()
	l.mu.Lock()
	acked := l.acked
	failed := l.failed
	l.mu.Unlock()
	if len(failed) > 0 {
		l.t.Errorf("%d records failed, first %v", len(failed), failed[0])
	}
	seen, order := readAll(l.t, seeds, l.topic)
	lost, dups := 0, 0
	for v := range acked {
		if seen[v] == 0 {
			lost++
		}
	}
	for _, n := range seen {
		if n > 1 {
			dups++
		}
	}
	outOfOrder := 0
	for _, vs := range order {
		for i := 1; i < len(vs); i++ {
			if vs[i] <= vs[i-1] {
				outOfOrder++
			}
		}
	}
	l.t.Logf("%d acknowledged, %d in the log, %d consumed by the group; lost %d, duplicated %d, out of order %d",
		len(acked), len(seen), l.consumed.Load(), lost, dups, outOfOrder)
	if lost > 0 || dups > 0 || outOfOrder > 0 {
		l.t.Fatalf("lost %d, duplicated %d, out of order %d", lost, dups, outOfOrder)
	}
}

// readAll reads every partition of topic from its start to its high
// watermark: value → how often it is there, and partition → the
// producer's sequence numbers in log order.
func readAll(t *testing.T, seeds []string, topic string) (map[string]int, map[int32][]int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int32]int64{}
	offsets := map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) {
		want[o.Partition] = o.Offset
		offsets[o.Partition] = kgo.NewOffset().AtStart()
	})
	rd, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}),
		kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	seen := map[string]int{}
	order := map[int32][]int{}
	next := map[int32]int64{}
	done := func() bool {
		for p, end := range want {
			if next[p] < end {
				return false
			}
		}
		return true
	}
	for !done() && ctx.Err() == nil {
		rd.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			v := string(r.Value)
			seen[v]++
			n, _ := strconv.Atoi(strings.TrimPrefix(v, "r"))
			order[r.Partition] = append(order[r.Partition], n)
			next[r.Partition] = r.Offset + 1
		})
	}
	if !done() {
		t.Fatalf("reading %s back: reached %v of %v", topic, next, want)
	}
	return seen, order
}

// gregorCLI runs the gregor binary with args and returns its output.
func gregorCLI(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, gregorBin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("gregor %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// promoteCLI runs gregor cluster promote --http httpAddr --member member,
// again while the member is refused as not in sync: the member checks the
// master's in-sync set in its own routes, which can lag the master's status
// by a registration and a route poll (3 s + 2 s with the defaults).
func promoteCLI(t *testing.T, httpAddr string, member int) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		out, err := exec.CommandContext(ctx, gregorBin, "cluster", "promote", "--http", httpAddr, "--member", strconv.Itoa(member)).CombinedOutput()
		cancel()
		if err == nil {
			return string(out)
		}
		if !strings.Contains(string(out), "not in the master's in-sync set") || time.Now().After(deadline) {
			t.Fatalf("gregor cluster promote --member %d: %v\n%s", member, err, out)
		}
		t.Logf("promote refused, retrying: %s", strings.TrimSpace(string(out)))
		time.Sleep(500 * time.Millisecond)
	}
}

// leaderElection runs Kafka's kafka-leader-election
// (org.apache.kafka.tools.LeaderElectionCommand from the jars
// scripts/kafka.sh fetches) and returns its output; ok false when Java or
// the jars are not there (the caller uses kadm instead).
func leaderElection(t *testing.T, args ...string) (string, bool) {
	t.Helper()
	if _, err := exec.LookPath("java"); err != nil {
		return "", false
	}
	cp, err := exec.Command("bash", filepath.Join("..", "scripts", "kafka.sh"), "tools-classpath").Output()
	if err != nil {
		t.Logf("no kafka-tools jar (%v): using kadm", err)
		return "", false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	full := append([]string{"-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-cp", strings.TrimSpace(string(cp)),
		"org.apache.kafka.tools.LeaderElectionCommand"}, args...)
	cmd := exec.CommandContext(ctx, "java", full...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("kafka-leader-election %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String(), true
}

// rollTimings are the intervals of TestRollingRestart: short ones unless
// ROLLING_DEFAULTS is set (make rolling). The lease is 2 s, not the 1 s of
// shortTimings: a hand-over takes the lease only if the NameServers' grants
// come back within 90% of it, and at a load average of 55 they once took
// longer (the promotion was refused: "took the lease … from 3 of 3
// NameServers only: released").
func rollTimings() foTimings {
	if os.Getenv("ROLLING_DEFAULTS") != "" {
		return foTimings{}
	}
	ft := shortTimings
	ft.lease = 2 * time.Second
	return ft
}

// A rolling restart of a whole cluster — 3 NameServers, then the 2 slaves,
// then the master after handing mastership to a slave with `gregor
// cluster promote` — under an idempotent acks=all producer and a
// committing consumer group of two members, in sync mode, as
// docs/replication.md (Operations) tells an operator to do it. After each
// step writes are acknowledged and the group consumes again; at the end
// Kafka's kafka-leader-election (PREFERRED) gives mastership back to
// member 0, and every acknowledged record is in the log exactly once, in
// order. ROLLING_ROUNDS=N repeats the whole restart N times (make
// rolling: 3 rounds with gregor's default intervals).
func TestRollingRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("real processes")
	}
	rounds := 1
	if n, err := strconv.Atoi(os.Getenv("ROLLING_ROUNDS")); err == nil && n > 0 {
		rounds = n
	}
	ft := rollTimings()
	lease := ft.lease
	if lease == 0 {
		lease = 4 * time.Second // nameserver.DefaultLeaseDuration
	}
	c := startFailoverCluster(t, ft)
	const topic = "roll"
	admCl, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...), kgo.MetadataMinAge(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	ctx := context.Background()
	deadline := time.Now().Add(60 * time.Second)
	for {
		r, err := adm.CreateTopic(ctx, rollPartitions, 3, nil, topic)
		if err == nil && (r.Err == nil || strings.Contains(r.Err.Error(), "TOPIC_ALREADY_EXISTS")) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("creating %s: %v %v", topic, err, r.Err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	c.waitInSync()
	l := startRollLoad(t, c.seeds(), topic)
	defer l.cancel()
	l.progress("start", 200)

	for round := 1; round <= rounds; round++ {
		// 1. The NameServers, one at a time. A restarted one grants no
		// lease for a lease's length; with the other two up a majority
		// still answers the master, and waiting a lease (and a little)
		// before the next keeps it so.
		for i, ns := range c.ns {
			ns.stop()
			ns.start()
			waitHTTP(t, "http://"+ns.args[2]+"/healthz")
			time.Sleep(lease + lease/2)
			l.progress(fmt.Sprintf("round %d: NameServer %d restarted", round, i+1), 50)
		}
		m := c.master()
		if m < 0 {
			t.Fatal("no master after the NameServers' restart")
		}
		// 2. The slaves, one at a time, each back in sync (and in the
		// in-sync set a majority of NameServers hold) before the next.
		for i := range c.members {
			if i == m {
				continue
			}
			c.members[i].stop()
			c.members[i].start()
			c.waitInSync()
			l.progress(fmt.Sprintf("round %d: slave %d restarted", round, i), 50)
		}
		// 3. The master: hand mastership to a slave first (planned, no
		// acknowledged write lost, clients move on NOT_LEADER_OR_FOLLOWER),
		// then restart it; it rejoins as a slave.
		next := (m + 1) % len(c.members)
		out := promoteCLI(t, c.members[m].http, next)
		t.Logf("round %d: gregor cluster promote --member %d: %s", round, next, strings.TrimSpace(out))
		if now := c.master(); now != next {
			t.Fatalf("after the promotion member %d is master, want %d", now, next)
		}
		l.progress(fmt.Sprintf("round %d: mastership handed to member %d", round, next), 50)
		c.members[m].stop()
		c.members[m].start()
		c.waitInSync()
		l.progress(fmt.Sprintf("round %d: old master %d restarted", round, m), 50)
	}

	// Every group's members as the NameServers see them.
	var nsList []string
	for _, ns := range c.ns {
		nsList = append(nsList, ns.args[2])
	}
	members := gregorCLI(t, "cluster", "members", "--nameservers", strings.Join(nsList, ","))
	t.Logf("gregor cluster members:\n%s", members)
	if strings.Count(members, " master ") != 1 || strings.Count(members, " slave ") != 2 {
		t.Fatalf("gregor cluster members: want one master and two slaves:\n%s", members)
	}

	// Member 0 back as master: Kafka's own tool, PREFERRED. (After a
	// multiple of 3 rounds member 0 leads already: hand over to member 1
	// first, or the election proves nothing.)
	if m := c.master(); m == 0 {
		c.waitInSync()
		t.Logf("member 0 leads: first to member 1: %s", strings.TrimSpace(promoteCLI(t, c.members[0].http, 1)))
		c.waitInSync()
	}
	bootstrap := strings.Join(c.seeds(), ",")
	if out, ok := leaderElection(t, "--bootstrap-server", bootstrap, "--election-type", "PREFERRED", "--all-topic-partitions"); ok {
		t.Logf("kafka-leader-election --all-topic-partitions:\n%s", out)
		if !strings.Contains(out, "Successfully completed leader election (PREFERRED) for partitions") || !strings.Contains(out, topic+"-0") {
			t.Fatalf("kafka-leader-election: %s", out)
		}
		out, _ = leaderElection(t, "--bootstrap-server", bootstrap, "--election-type", "PREFERRED", "--topic", topic, "--partition", "1")
		t.Logf("kafka-leader-election --topic %s --partition 1:\n%s", topic, out)
		if !strings.Contains(out, "Valid replica already elected for partitions "+topic+"-1") {
			t.Fatalf("kafka-leader-election a second time: %s", out)
		}
	} else {
		rs, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range rs[topic] {
			if p.Err != nil {
				t.Fatalf("preferred election of %s-%d: %v %s", topic, p.Partition, p.Err, p.ErrMessage)
			}
		}
	}
	if m := c.master(); m != 0 {
		t.Fatalf("after the preferred election member %d is master, want 0", m)
	}
	l.progress("member 0 master again", 50)
	l.stop(c.seeds())

	leaders, _ := leaders(t, c.members[0].addr, topic)
	for p, node := range leaders {
		if node != c.members[0].nodeID {
			t.Fatalf("partition %d led by node %d, want member 0's %d", p, node, c.members[0].nodeID)
		}
	}
}

// A planned hand-over loses no acknowledged write even where replication
// alone would not ensure it: in async mode (acks=all is answered by the
// master alone) with 1 NameServer (no leases), mastership moves with
// `gregor cluster promote` four times under an idempotent acks=all
// producer and a committing group; the master steps down, the chosen slave
// catches up to its end before it begins the term. Each hand-over goes
// through another member's HTTP port, which forwards it.
func TestPlannedHandoverAsync(t *testing.T) {
	if testing.Short() {
		t.Skip("real processes")
	}
	g := startReplGroup(t, 180, 3, "--replication.mode", "async")
	for _, m := range g.members {
		m.start()
	}
	g.waitRole(0, "master", 0)
	g.eventually(30*time.Second, func() error {
		st, err := g.status(0)
		if err != nil {
			return err
		}
		if len(st.InSync) != 3 {
			return fmt.Errorf("in sync: %v", st.InSync)
		}
		return nil
	})
	var seeds []string
	for _, m := range g.members {
		seeds = append(seeds, m.addr)
	}
	const topic = "handover"
	admCl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		t.Fatal(err)
	}
	defer admCl.Close()
	if r, err := kadm.NewClient(admCl).CreateTopic(context.Background(), rollPartitions, 3, nil, topic); err != nil || r.Err != nil {
		t.Fatalf("creating %s: %v %v", topic, err, r.Err)
	}
	l := startRollLoad(t, seeds, topic)
	defer l.cancel()
	l.progress("start", 200)
	master := 0
	for i, next := range []int{1, 2, 0, 1} {
		via := 3 - master - next // the third member forwards it
		// As an operator checks gregor cluster members first: the member
		// must be in the master's in-sync set (a master of a moment ago
		// is back in it once it caught up with the new one), else
		// promote refuses it.
		g.eventually(30*time.Second, func() error {
			st, err := g.status(master)
			if err != nil {
				return err
			}
			if !slices.Contains(st.InSync, int64(next)) {
				return fmt.Errorf("member %d not in sync: %v", next, st.InSync)
			}
			return nil
		})
		out := promoteCLI(t, g.members[via].http, next)
		t.Logf("hand-over %d, member %d → %d: %s", i+1, master, next, strings.TrimSpace(out))
		g.waitRole(next, "master", int32(i+1))
		master = next
		l.progress(fmt.Sprintf("hand-over %d", i+1), 100)
	}
	l.stop(seeds)
}
