package cluster_test

import (
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/internal/faultproxy"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The Jepsen-style checker (issue 11, item 5): idempotent acks=all
// producers and a committing consumer group run against 3 NameServers and
// 2 broker groups of master + 2 slaves while a nemesis runs: SIGKILL of a
// master (then restart), SIGSTOP of a master past its lease (then SIGCONT),
// a master cut off from the NameServers only (faultproxy), a NameServer
// killed and restarted, a slave killed and restarted. After healing
// everything is read back from each partition's log start and counted.
// TestJepsen runs it once per replication.mode:
//   - sync: every count must be 0;
//   - async: acknowledged records may be lost, but only those acknowledged
//     within the documented loss window (docs/replication.md: at most
//     replica.lag.time.max.ms of the old master's acknowledgements before
//     it lost its term; here from that long before a fault that changes the
//     master until the group settled after it), reported as a number; every
//     other count must be 0.
//
// In both modes the consumers must never have read a record that a change
// of term took away (offsets with 2 records) and must have read every
// offset of the final logs (no silent skip).
//
// JEPSEN_DURATION (e.g. 10m) repeats the faults for that long in each mode
// (default: 40 s, the short run make test includes; each fault runs at
// least once). JEPSEN_MODES=sync (or async) runs one mode only.
// JEPSEN_RESULTS=path writes the results tables there (`make jepsen`
// writes cluster_test/jepsen-results.md).

const (
	jTopic      = "jepsen"
	jPartitions = 4
	jWriters    = 2
	jInFlight   = 4 // records a writer has outstanding per partition
)

// jAck is one record a writer sent: its identity, when it was handed to
// the client and when (if) it was acknowledged.
type jAck struct {
	w, p     int
	seq      int
	sent     time.Time
	acked    time.Time // zero: not acknowledged
	err      error
	finalOff int64
}

func jValue(w, p, seq int) string { return fmt.Sprintf("w%d-p%d-%d", w, p, seq) }

type jLog struct {
	mu   sync.Mutex
	recs map[string]*jAck
	errs int
	errS []string
}

// jFault is one nemesis action as it ran.
type jFault struct {
	kind       string
	group      int
	member     int
	start, end time.Time
	stall      time.Duration // longest time without an ack on the group's partitions
	note       string
}

func TestJepsen(t *testing.T) {
	if testing.Short() {
		t.Skip("real processes and a nemesis")
	}
	duration := 40 * time.Second // of nemesis; each fault runs at least once
	if s := os.Getenv("JEPSEN_DURATION"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("JEPSEN_DURATION: %v", err)
		}
		duration = d
	}
	modes := []string{"sync", "async"}
	if s := os.Getenv("JEPSEN_MODES"); s != "" {
		modes = strings.Split(s, ",")
	}
	// The commit the binaries were built from (TestMain builds gregor
	// first): HEAD may move during a long run.
	head, _ := exec.Command("git", "rev-parse", "HEAD").Output()
	dirty := ""
	if out, _ := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); len(out) > 0 {
		dirty = " (with uncommitted changes)"
	}
	var tables []string
	for _, mode := range modes {
		if mode != "sync" && mode != "async" {
			t.Fatalf("JEPSEN_MODES: %q is no replication.mode", mode)
		}
		t.Run(mode, func(t *testing.T) { runJepsen(t, mode, duration, &tables) })
	}
	if path := os.Getenv("JEPSEN_RESULTS"); path != "" && len(tables) > 0 {
		var sb strings.Builder
		cmd := "go test -count=1 -run 'TestJepsen$' ./cluster_test/"
		for _, k := range []string{"JEPSEN_MODES", "JEPSEN_DURATION"} {
			if v := os.Getenv(k); v != "" {
				cmd = k + "=" + v + " " + cmd
			}
		}
		fmt.Fprintf(&sb, "# Jepsen-style fault test: results\n\nWritten by `TestJepsen` (cluster_test/jepsen_test.go) on %s.\n\n",
			time.Now().UTC().Format("2006-01-02 15:04 UTC"))
		fmt.Fprintf(&sb, "- commit: `%s`%s\n- command: `%s`\n", strings.TrimSpace(string(head)), dirty, cmd)
		fmt.Fprintf(&sb, "- result: %s\n\n", map[bool]string{true: "FAIL", false: "PASS"}[t.Failed()])
		sb.WriteString(strings.Join(tables, "\n"))
		if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
			t.Errorf("writing %s: %v", path, err)
		}
	}
}

// runJepsen is one run of the checker with replication.mode mode; it
// appends its results table to tables (before failing, if it fails).
func runJepsen(t *testing.T, mode string, duration time.Duration, tables *[]string) {
	began := time.Now()
	c := startJepsenCluster(t, shortTimings, mode)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// The topic, spread over both groups, and the partition → group map.
	admCl, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...), kgo.MetadataMinAge(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	// Both groups must be known before the topic is created, or every
	// partition lands on the first group.
	if err := c.waitSettled(60 * time.Second); err != nil {
		t.Fatalf("cluster did not settle: %v", err)
	}
	if err := c.waitBothGroupsListed(ctx, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		r, err := adm.CreateTopic(ctx, jPartitions, 3, nil, jTopic)
		if err == nil && (r.Err == nil || strings.Contains(r.Err.Error(), "TOPIC_ALREADY_EXISTS")) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("creating %s: %v %v", jTopic, err, r.Err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	groupOf := map[int]int{} // partition → broker group index
	deadline = time.Now().Add(30 * time.Second)
	for len(groupOf) < jPartitions {
		md, err := adm.Metadata(ctx, jTopic)
		if err == nil {
			for _, p := range md.Topics[jTopic].Partitions {
				if p.Leader >= 20 && p.Err == nil {
					groupOf[int(p.Partition)] = int(p.Leader-20) / 10
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("partition leaders: %v %v", groupOf, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("partition → group: %v", groupOf)
	if slices.Index(slices.Collect(maps.Values(groupOf)), 1) < 0 || slices.Index(slices.Collect(maps.Values(groupOf)), 0) < 0 {
		t.Fatalf("the topic's partitions are not spread over both groups: %v", groupOf)
	}

	// Writers: jWriters idempotent acks=all clients, each writing every
	// partition with jInFlight records outstanding, values unique.
	log := &jLog{recs: map[string]*jAck{}}
	var wg sync.WaitGroup
	var clients []*kgo.Client
	for w := range jWriters {
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...), kgo.RequiredAcks(kgo.AllISRAcks()),
			kgo.DefaultProduceTopic(jTopic), kgo.RecordPartitioner(kgo.ManualPartitioner()),
			kgo.MetadataMinAge(100*time.Millisecond), kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }),
			kgo.RecordDeliveryTimeout(60*time.Second), kgo.ProducerLinger(0),
			kgo.ProduceRequestTimeout(2*time.Second), kgo.RequestTimeoutOverhead(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, cl)
		// The first write needs a leased master and a producer id.
		deadline := time.Now().Add(60 * time.Second)
		for p := range jPartitions {
			for {
				err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(fmt.Sprintf("init-w%d-p%d", w, p)), Partition: int32(p)}).FirstErr()
				if err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("first write: %v", err)
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
		for p := range jPartitions {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem := make(chan struct{}, jInFlight)
				for seq := 0; ctx.Err() == nil; seq++ {
					select {
					case sem <- struct{}{}:
					case <-ctx.Done():
						return
					}
					v := jValue(w, p, seq)
					a := &jAck{w: w, p: p, seq: seq, sent: time.Now(), finalOff: -1}
					log.mu.Lock()
					log.recs[v] = a
					log.mu.Unlock()
					cl.Produce(ctx, &kgo.Record{Key: []byte(fmt.Sprintf("k%d", p)), Value: []byte(v), Partition: int32(p)}, func(r *kgo.Record, err error) {
						now := time.Now()
						log.mu.Lock()
						if err == nil {
							a.acked = now
						} else {
							a.err = err
							if ctx.Err() == nil {
								log.errs++
								if len(log.errS) < 10 {
									log.errS = append(log.errS, fmt.Sprintf("%s %s: %v", now.Format("15:04:05.000"), v, err))
								}
							}
						}
						log.mu.Unlock()
						<-sem
					})
				}
			}()
		}
	}

	// The committing consumer group: two members; what they saw at each
	// offset, and when each last made progress.
	type seenAt struct {
		p   int
		off int64
	}
	var cmu sync.Mutex
	seen := map[seenAt][]string{} // every value the consumers saw at an offset
	seenConflicts := 0            // the consumers saw two values at one offset
	consumedTo := map[int]int64{}
	var consErrs []string
	cctx, ccancel := context.WithCancel(context.Background())
	defer ccancel()
	var cwg sync.WaitGroup
	for range 2 {
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...), kgo.ConsumerGroup("jepsen-g"), kgo.ConsumeTopics(jTopic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.AutoCommitInterval(500*time.Millisecond),
			kgo.FetchMaxWait(200*time.Millisecond), kgo.MetadataMinAge(100*time.Millisecond),
			kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }),
			kgo.SessionTimeout(6*time.Second), kgo.HeartbeatInterval(500*time.Millisecond),
			kgo.RequestTimeoutOverhead(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		cwg.Add(1)
		go func() {
			defer cwg.Done()
			defer cl.Close()
			for cctx.Err() == nil {
				fs := cl.PollFetches(cctx)
				fs.EachError(func(tp string, p int32, err error) {
					if cctx.Err() == nil {
						cmu.Lock()
						if len(consErrs) < 20 {
							consErrs = append(consErrs, fmt.Sprintf("%s %s/%d: %v", time.Now().Format("15:04:05.000"), tp, p, err))
						}
						cmu.Unlock()
					}
				})
				cmu.Lock()
				fs.EachRecord(func(r *kgo.Record) {
					k := seenAt{int(r.Partition), r.Offset}
					if old := seen[k]; len(old) > 0 && !slices.Contains(old, string(r.Value)) {
						seenConflicts++
						t.Logf("consumers saw %s/%d@%d (epoch %d) at %s as %q, earlier %q", r.Topic, r.Partition, r.Offset, r.LeaderEpoch,
							time.Now().Format("15:04:05.000"), r.Value, old)
					}
					if !slices.Contains(seen[k], string(r.Value)) {
						seen[k] = append(seen[k], string(r.Value))
					}
					consumedTo[int(r.Partition)] = max(consumedTo[int(r.Partition)], r.Offset+1)
				})
				cmu.Unlock()
			}
		}()
	}

	// Acks on group g's partitions, for the stall times.
	stallAfter := func(g int, from, to time.Time) time.Duration {
		log.mu.Lock()
		var ts []time.Time
		for _, a := range log.recs {
			if groupOf[a.p] == g && !a.acked.IsZero() && a.acked.After(from) && a.acked.Before(to) {
				ts = append(ts, a.acked)
			}
		}
		log.mu.Unlock()
		slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
		prev, gap := from, time.Duration(0)
		for _, x := range ts {
			gap = max(gap, x.Sub(prev))
			prev = x
		}
		return gap
	}
	acksSince := func(g int, from time.Time) int {
		log.mu.Lock()
		defer log.mu.Unlock()
		n := 0
		for _, a := range log.recs {
			if groupOf[a.p] == g && !a.acked.IsZero() && a.acked.After(from) {
				n++
			}
		}
		return n
	}
	waitAcks := func(g int, from time.Time, n int, d time.Duration) bool {
		deadline := time.Now().Add(d)
		for acksSince(g, from) < n {
			if time.Now().After(deadline) {
				return false
			}
			time.Sleep(20 * time.Millisecond)
		}
		return true
	}

	// Let writes flow, then the nemesis.
	if err := c.waitSettled(60 * time.Second); err != nil {
		t.Fatalf("cluster did not settle before the faults: %v", err)
	}
	for g := range c.groups {
		if !waitAcks(g, time.Now(), 50, 30*time.Second) {
			t.Fatalf("group %d: no writes before the faults", g)
		}
	}
	var faults []*jFault
	var liveness []string // faults after which the cluster did not recover
	lease := shortTimings.lease
	kinds := []string{"kill-master", "pause-master", "cut-master-from-ns", "kill-nameserver", "kill-slave"}
	nemesisEnd := time.Now().Add(duration)
	for round := 0; round == 0 || time.Now().Before(nemesisEnd); round++ {
		for i, kind := range kinds {
			g := (round + i) % 2
			f := &jFault{kind: kind, group: g, start: time.Now()}
			m, _ := c.master(g)
			if m < 0 {
				m = c.waitMaster(g, -1, 30*time.Second)
			}
			if m < 0 {
				t.Fatalf("%s: group %d has no master", kind, g)
			}
			f.member = m
			t.Logf("nemesis: %s group %d member %d at %s", kind, g, m, f.start.Format("15:04:05.000"))
			switch kind {
			case "kill-master":
				c.groups[g][m].kill()
				if nm := c.waitMaster(g, m, 30*time.Second); nm < 0 {
					f.note = "no new master within 30 s"
				}
				waitAcks(g, f.start, 20, 30*time.Second)
				c.groups[g][m].start()
			case "pause-master":
				pause(t, &c.groups[g][m].proc)
				if nm := c.waitMaster(g, m, 30*time.Second); nm < 0 {
					f.note = "no new master within 30 s"
				}
				waitAcks(g, f.start, 20, 30*time.Second)
				time.Sleep(lease) // well past the lease
				c.groups[g][m].cmd.Process.Signal(syscall.SIGCONT)
			case "cut-master-from-ns":
				for _, p := range c.proxies[g][m] {
					p.Set(faultproxy.Blackhole)
				}
				if nm := c.waitMaster(g, m, 30*time.Second); nm < 0 {
					f.note = "no new master within 30 s"
				}
				waitAcks(g, f.start, 20, 30*time.Second)
				for _, p := range c.proxies[g][m] {
					p.Set(faultproxy.Pass)
				}
			case "kill-nameserver":
				n := (round + i) % len(c.ns)
				f.member = n
				c.ns[n].kill()
				time.Sleep(2 * lease)
				c.ns[n].start()
				time.Sleep(2 * lease)
			case "kill-slave":
				s := (m + 1 + round%2) % 3
				f.member = s
				c.groups[g][s].kill()
				time.Sleep(3 * time.Second) // past replica.lag.time.max.ms
				c.groups[g][s].start()
			}
			if err := c.waitSettled(60 * time.Second); err != nil {
				liveness = append(liveness, fmt.Sprintf("%s group %d: not settled 60 s after healing: %v", kind, g, err))
				t.Logf("nemesis: %s: not settled: %v", kind, err)
			}
			if !waitAcks(g, time.Now(), 10, 30*time.Second) {
				liveness = append(liveness, fmt.Sprintf("%s group %d: no writes 30 s after healing", kind, g))
			}
			f.end = time.Now()
			f.stall = stallAfter(g, f.start, f.end)
			t.Logf("nemesis: %s group %d done: writes stood still %v %s", kind, g, f.stall.Round(time.Millisecond), f.note)
			faults = append(faults, f)
			time.Sleep(500 * time.Millisecond)
			if duration > 0 && time.Now().After(nemesisEnd) {
				break
			}
		}
	}

	// Heal is done; stop the writers, settle, read everything back.
	time.Sleep(time.Second)
	cancel()
	wg.Wait()
	for _, cl := range clients {
		cl.Close()
	}
	if err := c.waitSettled(60 * time.Second); err != nil {
		liveness = append(liveness, fmt.Sprintf("final: not settled: %v", err))
	}

	// The end of every partition, once it stopped moving (a produce request
	// in flight when the writers stopped may still commit).
	listEnds := func() (map[int]int64, map[int]int64) {
		deadline := time.Now().Add(30 * time.Second)
		var prev map[int]int64
		for {
			ends, err1 := adm.ListEndOffsets(context.Background(), jTopic)
			startOffs, err2 := adm.ListStartOffsets(context.Background(), jTopic)
			cur, st := map[int]int64{}, map[int]int64{}
			ok := err1 == nil && err2 == nil
			for p := range jPartitions {
				if !ok {
					break
				}
				e, _ := ends.Lookup(jTopic, int32(p))
				s, _ := startOffs.Lookup(jTopic, int32(p))
				if e.Err != nil || s.Err != nil {
					ok = false
					break
				}
				cur[p], st[p] = e.Offset, s.Offset
			}
			if ok && prev != nil && maps.Equal(prev, cur) {
				return st, cur
			}
			if ok {
				prev = cur
			}
			if time.Now().After(deadline) {
				t.Fatalf("end offsets did not settle: %v %v %v", cur, err1, err2)
			}
			time.Sleep(time.Second)
		}
	}
	_, hwm := listEnds()

	// Consumers stuck: the group must reach every partition's end.
	stuckWait := 30 * time.Second
	deadline = time.Now().Add(stuckWait)
	stuck := 0
	for {
		cmu.Lock()
		stuck = 0
		for p := range jPartitions {
			if consumedTo[p] < hwm[p] {
				stuck++
			}
		}
		cmu.Unlock()
		if stuck == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	ccancel()
	cwg.Wait()
	if stuck > 0 {
		t.Logf("consumers stuck: consumed to %v, ends %v", consumedTo, hwm)
	}

	// Read everything back from each partition's log start.
	starts, hwm2 := listEnds()
	if !maps.Equal(hwm, hwm2) {
		t.Logf("partition ends moved after they had settled: %v, then %v", hwm, hwm2)
		hwm = hwm2
	}
	type finalRec struct {
		val   string
		epoch int32
	}
	final := map[int][]finalRec{} // partition → records from the log start, index = offset - start
	want := map[int32]kgo.Offset{}
	total := int64(0)
	for p := range jPartitions {
		total += hwm[p] - starts[p]
		want[int32(p)] = kgo.NewOffset().At(starts[p])
	}
	rd, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{jTopic: want}),
		kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	rctx, rcancel := context.WithTimeout(context.Background(), 60*time.Second)
	read := int64(0)
	for read < total && rctx.Err() == nil {
		fs := rd.PollFetches(rctx)
		fs.EachRecord(func(r *kgo.Record) {
			p := int(r.Partition)
			if r.Offset >= hwm[p] {
				return
			}
			if r.Offset != starts[p]+int64(len(final[p])) {
				t.Errorf("final read %d/%d: offset %d after %d records from %d", p, r.Offset, r.Offset, len(final[p]), starts[p])
			}
			final[p] = append(final[p], finalRec{string(r.Value), r.LeaderEpoch})
			read++
		})
	}
	rcancel()
	rd.Close()
	if read < total {
		t.Fatalf("final read: %d of %d records", read, total)
	}

	// The counts.
	window := func(at time.Time) string {
		for i := len(faults) - 1; i >= 0; i-- {
			if !at.Before(faults[i].start) {
				return fmt.Sprint(i) // during the fault or in its aftermath
			}
		}
		return "before"
	}
	type counts struct{ lost, lostWindow, dups, twoRecs, outOfOrder, staleAcks int }
	per := map[string]*counts{}
	cnt := func(w string) *counts {
		if per[w] == nil {
			per[w] = &counts{}
		}
		return per[w]
	}
	var examples []string
	example := func(s string) {
		if len(examples) < 30 {
			examples = append(examples, s)
		}
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	occurrences := map[string]int{}
	type wp struct{ w, p int }
	lastSeq := map[wp]int{}
	firstAckOfEpoch := map[int]map[int32]time.Time{} // partition → epoch → earliest ack of a record of that epoch
	for p := range jPartitions {
		firstAckOfEpoch[p] = map[int32]time.Time{}
		for i, fr := range final[p] {
			off := starts[p] + int64(i)
			occurrences[fr.val]++
			a := log.recs[fr.val]
			if a == nil {
				continue // the first writes
			}
			if occurrences[fr.val] > 1 {
				cnt(window(a.sent)).dups++
				example(fmt.Sprintf("duplicate %s at %d/%d (first at %d)", fr.val, p, off, a.finalOff))
				continue
			}
			a.finalOff = off
			k := wp{a.w, a.p}
			if last, ok := lastSeq[k]; ok && a.seq <= last {
				cnt(window(a.sent)).outOfOrder++
				example(fmt.Sprintf("out of order %s at %d/%d after seq %d", fr.val, p, off, last))
			}
			lastSeq[k] = a.seq
			if !a.acked.IsZero() {
				if f, ok := firstAckOfEpoch[p][fr.epoch]; !ok || a.acked.Before(f) {
					firstAckOfEpoch[p][fr.epoch] = a.acked
				}
			}
		}
	}
	// The async loss window: acknowledged from replica.lag.time.max.ms
	// before a fault that changes the master until the group settled after
	// it (an answer the paused master had past its lease check goes out
	// when it resumes).
	inLossWindow := func(a *jAck) bool {
		for _, f := range faults {
			switch f.kind {
			case "kill-master", "pause-master", "cut-master-from-ns":
			default:
				continue
			}
			if groupOf[a.p] == f.group && !a.acked.Before(f.start.Add(-jLagMax)) && !a.acked.After(f.end) {
				return true
			}
		}
		return false
	}
	acked, lostWindow := 0, 0
	for v, a := range log.recs {
		if a.acked.IsZero() {
			continue
		}
		acked++
		if occurrences[v] == 0 {
			if mode == "async" && inLossWindow(a) {
				lostWindow++
				cnt(window(a.sent)).lostWindow++
				continue
			}
			cnt(window(a.sent)).lost++
			example(fmt.Sprintf("lost %s sent %s acked %s", v, a.sent.Format("15:04:05.000"), a.acked.Format("15:04:05.000")))
		}
	}
	// Stale writes: a record of epoch e first handed to the client after a
	// record of a later epoch of its partition had been acknowledged (the
	// new term's first write): the old master took and committed a write
	// after the new term began. (The ack time itself cannot be compared: an
	// idempotent retry of a batch the old master wrote is acknowledged by
	// the new master as a duplicate, after the new term's first write, and
	// the batch keeps the old epoch.)
	for p := range jPartitions {
		for i, fr := range final[p] {
			a := log.recs[fr.val]
			if a == nil || a.finalOff != starts[p]+int64(i) {
				continue
			}
			for e, first := range firstAckOfEpoch[p] {
				if e > fr.epoch && a.sent.After(first) {
					cnt(window(a.sent)).staleAcks++
					example(fmt.Sprintf("stale write %s epoch %d at %d/%d sent %s, after epoch %d's first ack %s",
						fr.val, fr.epoch, p, a.finalOff, a.sent.Format("15:04:05.000"), e, first.Format("15:04:05.000")))
					break
				}
			}
		}
	}
	// Offsets no consumer read: a silent skip (a consumer that moved past
	// records it never got) rather than a truncation it was told of.
	skipped := 0
	for p := range jPartitions {
		for i := range final[p] {
			if len(seen[seenAt{p, starts[p] + int64(i)}]) == 0 {
				if skipped++; skipped <= 5 {
					example(fmt.Sprintf("offset %d/%d (%s): no consumer read it", p, starts[p]+int64(i), final[p][i].val))
				}
			}
		}
	}
	// Offsets holding two records: what the consumers saw against the log.
	for k, vs := range seen {
		var fv string
		if i := k.off - starts[k.p]; i >= 0 && i < int64(len(final[k.p])) {
			fv = final[k.p][i].val
		} else if k.off < starts[k.p] {
			continue // retention, not a conflict
		}
		for _, v := range vs {
			if fv == v {
				continue
			}
			w := "after"
			if a := log.recs[v]; a != nil {
				w = window(a.sent)
			}
			cnt(w).twoRecs++
			example(fmt.Sprintf("offset %d/%d: consumers saw %q, the log holds %q", k.p, k.off, v, fv))
			break
		}
	}
	// The table.
	var sb strings.Builder
	fmt.Fprintf(&sb, "## replication.mode=%s\n\n", mode)
	fmt.Fprintf(&sb, "- cluster: 3 NameServers, 2 broker groups of master + 2 slaves, replication.mode=%s, lease %v, registration %v, replica.lag.time.max.ms %v\n",
		mode, lease, registerInterval, jLagMax)
	fmt.Fprintf(&sb, "- load: %d idempotent acks=all writers × %d partitions (%d in flight each), a committing group of 2 consumers\n", jWriters, jPartitions, jInFlight)
	fmt.Fprintf(&sb, "- run: %v in all, %d faults; %d records acknowledged, %d in the logs, %d produce errors (unacknowledged, allowed)\n",
		time.Since(began).Round(time.Second), len(faults), acked, total, log.errs)
	if mode == "async" {
		fmt.Fprintf(&sb, "- **lost within the async loss window: %d** of %d acknowledged (acknowledged from %v before a master-changing fault until its group settled; allowed in async mode); lost outside it: the lost column\n",
			lostWindow, acked, jLagMax)
	}
	sb.WriteString("\n")
	sb.WriteString("Counts are attributed to the fault during (or after) which the record was sent.\n\n")
	sb.WriteString("| # | fault | group | member | lost acked | lost in the async window | duplicates | offsets with 2 records | out of order | stale writes | writes stood still |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
	row := func(id, kind, g, m string, c *counts, stall string) {
		if c == nil {
			c = &counts{}
		}
		fmt.Fprintf(&sb, "| %s | %s | %s | %s | %d | %d | %d | %d | %d | %d | %s |\n", id, kind, g, m, c.lost, c.lostWindow, c.dups, c.twoRecs, c.outOfOrder, c.staleAcks, stall)
	}
	row("-", "before the faults", "", "", per["before"], "")
	stalls := map[string][]time.Duration{}
	for i, f := range faults {
		row(fmt.Sprint(i), f.kind, fmt.Sprint(f.group), fmt.Sprint(f.member), per[fmt.Sprint(i)], f.stall.Round(time.Millisecond).String()+" "+f.note)
		stalls[f.kind] = append(stalls[f.kind], f.stall)
	}
	var tot counts
	for _, c := range per {
		tot.lost += c.lost
		tot.lostWindow += c.lostWindow
		tot.dups += c.dups
		tot.twoRecs += c.twoRecs
		tot.outOfOrder += c.outOfOrder
		tot.staleAcks += c.staleAcks
	}
	row("**all**", "", "", "", &tot, "")
	fmt.Fprintf(&sb, "\nConsumers stuck (partitions the group had not consumed to the end %v after healing): %d\n\n", stuckWait, stuck)
	fmt.Fprintf(&sb, "Offsets of the final logs no consumer read (a silent skip): %d; consumers served a record at an offset that now holds another: %d\n\n", skipped, seenConflicts)
	sb.WriteString("Fail-over times: the longest time without an acknowledged write on the faulted group's partitions, from the fault until the group settled.\n\n| fault | n | median | worst |\n|---|---|---|---|\n")
	for _, k := range kinds {
		s := stalls[k]
		if len(s) == 0 {
			continue
		}
		sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
		fmt.Fprintf(&sb, "| %s | %d | %v | %v |\n", k, len(s), s[len(s)/2].Round(time.Millisecond), s[len(s)-1].Round(time.Millisecond))
	}
	if len(liveness) > 0 {
		sb.WriteString("\nNot recovered:\n\n")
		for _, l := range liveness {
			fmt.Fprintf(&sb, "- %s\n", l)
		}
	}
	if len(examples) > 0 {
		sb.WriteString("\nAnomalies (first 30):\n\n")
		for _, e := range examples {
			fmt.Fprintf(&sb, "- %s\n", e)
		}
	}
	t.Logf("\n%s", sb.String())
	if len(log.errS) > 0 {
		t.Logf("first produce errors: %s", strings.Join(log.errS, "; "))
	}
	if len(consErrs) > 0 {
		t.Logf("consumer errors: %s", strings.Join(consErrs, "; "))
	}
	*tables = append(*tables, sb.String())

	// Consumers served records at offsets that now hold others: seen once,
	// on 8986766 under pause-master (the old master's high watermark
	// covered records the promoted slave lacked), not since 3e20e68 made
	// the commit limit wait for fail-over's committed in-sync set (24
	// strict or logged runs); it fails the run like every other count.
	consumedConflicts := tot.twoRecs + seenConflicts
	lostWindowTotal := tot.lostWindow
	tot.twoRecs, tot.lostWindow = 0, 0
	if consumedConflicts > 0 {
		t.Errorf("consumers were served records at offsets that now hold other records: %d", consumedConflicts)
	}
	if tot != (counts{}) || stuck > 0 || skipped > 0 || len(liveness) > 0 {
		t.Fatalf("anomalies (%s): lost %d (outside the async window; %d within it), duplicates %d, out of order %d, stale writes (old epoch, sent after the new term's first ack) %d, consumers stuck %d, offsets no consumer read %d, not recovered %v",
			mode, tot.lost, lostWindowTotal, tot.dups, tot.outOfOrder, tot.staleAcks, stuck, skipped, liveness)
	}
}

// TestJepsenOffsetsShareLost: both masters are killed right after the
// first FindCoordinator created __consumer_offsets, before their slaves
// had their shares of it (a metadata write is streamed at the next produce
// or replication heartbeat). The promoted slaves never had the shares and
// the old masters truncate them when they return, yet every group must
// get a coordinator again that takes its commits. Before the lost shares
// were placed again (coordination.go, placeLostOffsets), a group filed
// under a lost partition got COORDINATOR_NOT_AVAILABLE for good: the
// liveness bug TestJepsen met in one run of five, when its first
// master kill came right after its consumers' first FindCoordinator.
func TestJepsenOffsetsShareLost(t *testing.T) {
	if testing.Short() {
		t.Skip("real processes")
	}
	c := startJepsenCluster(t, shortTimings, "sync")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := c.waitSettled(60 * time.Second); err != nil {
		t.Fatalf("cluster did not settle: %v", err)
	}
	if err := c.waitBothGroupsListed(ctx, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for i := range 200 {
		keys = append(keys, fmt.Sprintf("lost-share-%d", i))
	}
	var masters []int
	for g := range c.groups {
		m, _ := c.master(g)
		if m < 0 {
			t.Fatalf("group %d: no master", g)
		}
		masters = append(masters, m)
	}
	nodes, codes, err := findCoordinators(ctx, c.groups[0][masters[0]].addr, keys)
	for g := range c.groups {
		c.groups[g][masters[g]].kill()
	}
	if err != nil {
		t.Fatalf("first FindCoordinator: %v", err)
	}
	for _, k := range keys {
		if codes[k] != 0 {
			t.Fatalf("first FindCoordinator %s: %v", k, kerr.ErrorForCode(codes[k]))
		}
	}
	t.Logf("coordinators before the kills: %d keys, e.g. %s → %d", len(nodes), keys[0], nodes[keys[0]])
	for g := range c.groups {
		if nm := c.waitMaster(g, masters[g], 30*time.Second); nm < 0 {
			t.Fatalf("group %d: no new master", g)
		}
		c.groups[g][masters[g]].start()
	}
	if err := c.waitSettled(60 * time.Second); err != nil {
		t.Fatalf("not settled after the kills: %v", err)
	}
	// Every key gets a coordinator from every member, and that coordinator
	// takes a commit (generation -1: a commit outside any generation).
	deadline := time.Now().Add(30 * time.Second)
	var missing []string
	for {
		missing = missing[:0]
		for _, g := range c.groups {
			for _, n := range g {
				fctx, fcancel := context.WithTimeout(ctx, 5*time.Second)
				_, codes, err := findCoordinators(fctx, n.addr, keys)
				fcancel()
				if err != nil {
					missing = append(missing, fmt.Sprintf("%s: %v", n.name, err))
					continue
				}
				for _, k := range keys {
					if codes[k] != 0 {
						missing = append(missing, fmt.Sprintf("%s on %s: %v", k, n.name, kerr.ErrorForCode(codes[k])))
					}
				}
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if len(missing) > 0 {
		t.Fatalf("%d answers without a coordinator 30 s after settling, e.g. %v", len(missing), missing[:min(5, len(missing))])
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...), kgo.RetryTimeout(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if r, err := adm.CreateTopic(ctx, 1, 3, nil, "t"); err != nil || r.Err != nil {
		t.Fatalf("creating t: %v %v", err, r.Err)
	}
	// A coordinator may not know t for a route read after its creation
	// (UNKNOWN_TOPIC_OR_PARTITION): each commit is retried for a while.
	deadline = time.Now().Add(30 * time.Second)
	for _, k := range keys[:20] {
		offs := kadm.Offsets{}
		offs.Add(kadm.Offset{Topic: "t", Partition: 0, At: 1, LeaderEpoch: -1})
		for {
			r, err := adm.CommitOffsets(ctx, k, offs)
			if err == nil {
				err = r.Error()
			}
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("commit for %s: %v", k, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
}
