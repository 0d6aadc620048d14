package compat

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// The KIP-848 group scenarios (issue 16 item 3) with the librdkafka-based
// clients of the matrix besides confluent-kafka-go (kip848_test.go):
// Python confluent-kafka (compat_test/py/clients.py, mode member848) and
// kcat.
//
// Python: three members of one group.protocol=consumer group, each a
// process: members 0 and 1 join and share the partitions; records are
// produced continuously (batches of 20 every 30ms) while member 1 leaves
// (closes its consumer) and member 2 joins, and 100 more after that.
// Every record produced must be read with its partition, offset, key, value
// and headers; a record may be read a second time only by another member
// (its partition moved before the first reader's commit reached the
// coordinator), never twice by one member, and no more than a tenth of them
// (the at-least-once allowance of kip848_test.go). At the end kadm lists the
// group with type and protocol type consumer and describes it
// (ConsumerGroupDescribe) as a Stable group of the two live members holding
// every partition, and the committed offsets are the end offsets.
//
// kcat: the Debian kcat 1.7.1 is built with librdkafka 2.0.2, which predates
// group.protocol (librdkafka 2.4.0): the test checks that kcat refuses the
// property and records n/a; a kcat that accepts it fails the test, so the
// scenario gets added then.

func TestKIP848Librdkafka(t *testing.T) {
	const client = "python confluent-kafka group.protocol=consumer"
	matrix(t, client, "members join, leave and join under load: every record read, kadm describes a consumer group", apis848, func(t *testing.T, tg *target) {
		const parts, maxRecs = 6, 20000
		topic := newTopic(t, tg, "k848-py", parts)
		group := uniq("g848-py")
		g := &pyGroup{t: t, tg: tg, topic: topic, group: group, reads: map[string][]pyRead{}, owned: map[int]map[int32]bool{}}
		defer g.stopAll()
		g.start(0)
		g.start(1)
		g.waitOwned("members 0 and 1 share every partition", func(o map[int]map[int32]bool) bool {
			return len(o[0]) > 0 && len(o[1]) > 0 && len(o[0])+len(o[1]) == parts
		})

		// Records produced in batches of 20 every 30ms from here to the
		// end: member 1 leaves once records are being read, member 2 joins
		// once member 0 holds every partition, and 100 more records follow
		// once members 0 and 2 share them.
		cl := newClient(t, tg, kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(time.Millisecond),
			kgo.ProducerBatchCompression(kgo.NoCompression()))
		var (
			wmu     sync.Mutex
			want    []rec
			perr    error
			stopAt  = -1 // produce until len(want) reaches it, once set
			stopped = make(chan struct{})
		)
		produced := func() int {
			wmu.Lock()
			defer wmu.Unlock()
			return len(want)
		}
		go func() {
			defer close(stopped)
			for i := 0; ; i += 20 {
				wmu.Lock()
				done := (stopAt >= 0 && i >= stopAt) || i >= maxRecs
				wmu.Unlock()
				if done {
					return
				}
				var rs []*kgo.Record
				for j := i; j < i+20; j++ {
					rs = append(rs, &kgo.Record{Key: []byte(fmt.Sprintf("k-%d", j%7)), Value: []byte(fmt.Sprintf("py848-%d", j)),
						Headers: []kgo.RecordHeader{{Key: "idx", Value: []byte(strconv.Itoa(j))}, {Key: "client", Value: []byte("py848")}}})
				}
				if err := cl.ProduceSync(ctxT(t, 30*time.Second), rs...).FirstErr(); err != nil {
					wmu.Lock()
					perr = err
					wmu.Unlock()
					return
				}
				wmu.Lock()
				for _, r := range rs {
					want = append(want, toRec(r))
				}
				wmu.Unlock()
				time.Sleep(30 * time.Millisecond)
			}
		}()
		defer func() {
			wmu.Lock()
			stopAt = 0
			wmu.Unlock()
			<-stopped
		}()
		g.waitReads("100 records read by members 0 and 1", 100)
		g.stop(1)
		g.waitOwned("member 0 holds every partition", func(o map[int]map[int32]bool) bool {
			return len(o[0]) == parts
		})
		g.start(2)
		g.waitOwned("members 0 and 2 share every partition", func(o map[int]map[int32]bool) bool {
			return len(o[0]) > 0 && len(o[2]) > 0 && len(o[0])+len(o[2]) == parts
		})
		wmu.Lock()
		stopAt = len(want) + 100
		wmu.Unlock()
		<-stopped
		if perr != nil {
			t.Fatalf("produce: %v", perr)
		}
		if produced() >= maxRecs {
			t.Fatalf("the membership changes did not complete while %d records were produced", maxRecs)
		}
		g.waitRead(want)

		// The group as kadm sees it while members 0 and 2 are in it.
		adm := newAdmin(t, tg)
		within(t, "kadm describes a Stable consumer group of 2 members holding every partition", func() error {
			listed, err := adm.ListGroupsByType(ctxT(t, 10*time.Second), []string{"consumer"})
			if err != nil {
				return err
			}
			lg, ok := listed[group]
			if !ok {
				return fmt.Errorf("ListGroups (types consumer) does not list %s: %v", group, listed.Groups())
			}
			if lg.GroupType != "consumer" || lg.ProtocolType != "consumer" {
				return fmt.Errorf("listed with group type %q, protocol type %q; want consumer, consumer", lg.GroupType, lg.ProtocolType)
			}
			ds, err := adm.DescribeConsumerGroups(ctxT(t, 10*time.Second), group)
			if err != nil {
				return err
			}
			d := ds[group]
			if d.Err != nil {
				return d.Err
			}
			assigned := 0
			for _, m := range d.Members {
				for _, ps := range m.Assignment {
					assigned += len(ps)
				}
			}
			if d.State != "Stable" || len(d.Members) != 2 || assigned != parts {
				return fmt.Errorf("state %s, %d members, %d partitions assigned (epoch %d, assignor %s)", d.State, len(d.Members), assigned, d.Epoch, d.AssignorName)
			}
			t.Logf("kadm: group %s type %s protocol %s, %s epoch %d assignor %s, %d members", group, lg.GroupType, lg.ProtocolType, d.State, d.Epoch, d.AssignorName, len(d.Members))
			return nil
		})
		g.stopAll()
		g.check(want)
		checkCommitted(t, tg, group, topic)
	})

	kcatClient := "kcat 1.7.1 (librdkafka 2.0.2) -G -X group.protocol=consumer"
	matrix(t, kcatClient, "KIP-848 group member", nil, func(t *testing.T, tg *target) {
		if _, err := exec.LookPath("kcat"); err != nil {
			t.Fatalf("kcat is not installed; run scripts/install-deps.sh")
		}
		cmd := exec.Command("kcat", "-b", tg.addr, "-G", uniq("g848-kcat"), "-X", "group.protocol=consumer", "-e", uniq("k848-kcat"))
		out, _ := cmd.CombinedOutput()
		if !strings.Contains(string(out), `No such configuration property: "group.protocol"`) {
			t.Fatalf("kcat no longer refuses group.protocol (a newer librdkafka?): add the KIP-848 group scenario for it; it printed:\n%s", tail(string(out), 2000))
		}
		results.set(kcatClient, "KIP-848 group member", tg.name, "n/a")
		t.Skipf("kcat's librdkafka has no KIP-848 support: %s", strings.TrimSpace(string(out)))
	})
}

// pyRead is one record a member read.
type pyRead struct {
	M int
	R rec
}

// pyGroup runs Python member848 processes of one group and gathers what
// they print.
type pyGroup struct {
	t            *testing.T
	tg           *target
	topic, group string

	mu     sync.Mutex
	reads  map[string][]pyRead    // by value
	owned  map[int]map[int32]bool // each member's partitions, from its callbacks
	events []string               // assignment changes, in order
	procs  map[int]*pyMember      // running members
	ended  []*pyMember            // stopped members
	fail   []string               // members that exited on their own
}

type pyMember struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr *strings.Builder
	done   chan struct{}
}

func (g *pyGroup) start(m int) {
	t := g.t
	t.Helper()
	py := filepath.Join(cacheDir, "venv", "bin", "python")
	if _, err := os.Stat(py); err != nil {
		t.Fatalf("no Python venv at %s; run scripts/install-deps.sh", py)
	}
	cmd := exec.Command(py, filepath.Join(repoRoot, "compat_test", "py", "clients.py"), "confluent", "member848",
		"--bootstrap", g.tg.addr, "--topic", g.topic, "--group", g.group, "--member", strconv.Itoa(m))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &pyMember{cmd: cmd, stdin: stdin, stderr: &strings.Builder{}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	g.mu.Lock()
	if g.procs == nil {
		g.procs = map[int]*pyMember{}
	}
	g.procs[m] = p
	g.mu.Unlock()
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			g.line(sc.Bytes())
		}
		if err := cmd.Wait(); err != nil {
			g.mu.Lock()
			g.fail = append(g.fail, fmt.Sprintf("member %d: %v\n%s", m, err, tail(p.stderr.String(), 2000)))
			g.mu.Unlock()
		}
	}()
}

func (g *pyGroup) line(l []byte) {
	var x struct {
		M     int
		Event string
		Parts []int32
		Error string
		rec
	}
	if len(l) == 0 || l[0] != '{' {
		return
	}
	if err := json.Unmarshal(l, &x); err != nil {
		g.mu.Lock()
		g.fail = append(g.fail, fmt.Sprintf("bad line %s: %v", l, err))
		g.mu.Unlock()
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if x.Event == "" {
		g.reads[x.V] = append(g.reads[x.V], pyRead{M: x.M, R: x.rec})
		return
	}
	g.events = append(g.events, fmt.Sprintf("m%d %s %v%s", x.M, x.Event, x.Parts, x.Error))
	if g.owned[x.M] == nil {
		g.owned[x.M] = map[int32]bool{}
	}
	for _, p := range x.Parts {
		if x.Event == "assigned" {
			g.owned[x.M][p] = true
		} else {
			delete(g.owned[x.M], p)
		}
	}
	if x.Event == "closed" {
		delete(g.owned, x.M)
	}
}

// stop closes member m's stdin and waits for it to leave and exit.
func (g *pyGroup) stop(m int) {
	g.mu.Lock()
	p := g.procs[m]
	delete(g.procs, m)
	g.mu.Unlock()
	if p == nil {
		return
	}
	p.stdin.Close()
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
		g.t.Errorf("member %d did not close within 30s:\n%s", m, tail(p.stderr.String(), 2000))
	}
	g.mu.Lock()
	g.ended = append(g.ended, p)
	g.mu.Unlock()
}

func (g *pyGroup) stopAll() {
	g.mu.Lock()
	var ms []int
	for m := range g.procs {
		ms = append(ms, m)
	}
	g.mu.Unlock()
	sort.Ints(ms)
	for _, m := range ms {
		g.stop(m)
	}
}

// failed returns why a member exited by itself, if one did.
func (g *pyGroup) failed() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return strings.Join(g.fail, "\n")
}

// waitOwned waits until cond holds for the members' partitions.
func (g *pyGroup) waitOwned(what string, cond func(map[int]map[int32]bool) bool) {
	g.t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for {
		if f := g.failed(); f != "" {
			g.t.Fatalf("waiting for %s: %s", what, f)
		}
		g.mu.Lock()
		ok := cond(g.owned)
		state := fmt.Sprint(g.owned, " events ", g.events)
		g.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("timed out waiting for %s: %s", what, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitReads waits until the members have read n distinct records.
func (g *pyGroup) waitReads(what string, n int) {
	g.t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for {
		if f := g.failed(); f != "" {
			g.t.Fatalf("waiting for %s: %s", what, f)
		}
		g.mu.Lock()
		got := len(g.reads)
		g.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("timed out waiting for %s: %d read", what, got)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitRead waits until every record of want has been read by a member.
func (g *pyGroup) waitRead(want []rec) {
	g.t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for {
		if f := g.failed(); f != "" {
			g.t.Fatalf("a member failed: %s", f)
		}
		g.mu.Lock()
		missing := 0
		for _, w := range want {
			if len(g.reads[w.V]) == 0 {
				missing++
			}
		}
		state := fmt.Sprint(g.owned, " events ", g.events)
		g.mu.Unlock()
		if missing == 0 {
			return
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("%d of %d records never read; partitions %s", missing, len(want), state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// check compares what the members read with want: every record read, with
// its partition, offset, key, value and headers; none twice by one member;
// re-reads by another member within the at-least-once allowance.
func (g *pyGroup) check(want []rec) {
	t := g.t
	t.Helper()
	if f := g.failed(); f != "" {
		t.Fatalf("a member failed: %s", f)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	wanted := map[string]bool{}
	dups := 0
	for _, w := range want {
		wanted[w.V] = true
		rs := g.reads[w.V]
		if len(rs) == 0 {
			t.Fatalf("record %v never read (events %v)", w, g.events)
		}
		by := map[int]bool{}
		for _, r := range rs {
			if r.R.P != w.P || r.R.O != w.O || r.R.K != w.K || !sameHeaders(r.R.H, w.H) {
				t.Fatalf("member %d read %v, produced %v", r.M, r.R, w)
			}
			if by[r.M] {
				t.Fatalf("record %v read twice by member %d", w, r.M)
			}
			by[r.M] = true
		}
		dups += len(rs) - 1
	}
	for v, rs := range g.reads {
		if !wanted[v] {
			t.Fatalf("member %d read %v, which was never produced", rs[0].M, rs[0].R)
		}
	}
	if dups > len(want)/10 {
		t.Fatalf("%d records read twice, more than the at-least-once allowance (%d); events %v", dups, len(want)/10, g.events)
	}
	t.Logf("%d records, %d read twice across the member changes; events %v", len(want), dups, g.events)
}
