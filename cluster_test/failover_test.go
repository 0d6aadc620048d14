package cluster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/internal/faultproxy"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// foCluster is 3 NameServers and one broker group of a master and two
// slaves in sync mode; every member reaches each NameServer through a
// proxy of its own, so the test can cut one member off from the
// NameServers while clients and the other members still reach it.
type foCluster struct {
	t       *testing.T
	ns      []*proc
	members []*node
	proxies [][]*faultproxy.Proxy // [member][nameserver]
}

// foTimings are the intervals a fail-over cluster runs with; zero values
// leave gregor's defaults.
type foTimings struct {
	lease, register, scan, expiry time.Duration
}

// shortTimings keep the test short: a 1 s lease, 200 ms registrations.
var shortTimings = foTimings{lease: time.Second, register: registerInterval, scan: scanInterval, expiry: brokerExpiry}

func (ft foTimings) nsArgs() []string {
	var out []string
	if ft.lease > 0 {
		out = append(out, "--lease-duration", ft.lease.String())
	}
	if ft.scan > 0 {
		out = append(out, "--scan-interval", ft.scan.String(), "--expiry", ft.expiry.String())
	}
	return out
}

func (ft foTimings) brokerArgs() []string {
	if ft.register == 0 {
		return nil
	}
	return []string{"--register-interval", ft.register.String(), "--route-refresh-interval", ft.register.String()}
}

func startFailoverCluster(t *testing.T, ft foTimings) *foCluster {
	dir := t.TempDir()
	if os.Getenv("GREGOR_FAILOVER_LOGS") != "" { // kept after the test
		d, err := os.MkdirTemp("", "gregor-failover")
		if err != nil {
			t.Fatal(err)
		}
		dir = d
	}
	c := &foCluster{t: t}
	var nsAddrs []string
	for i := range 3 {
		host := fmt.Sprintf("127.0.0.%d", 110+i) // other tests use .2-.11 and .40-.92
		addr := net.JoinHostPort(host, freePort(t, host))
		p := &proc{t: t, name: fmt.Sprintf("ns%d", i+1), log: filepath.Join(dir, fmt.Sprintf("ns%d.log", i+1)),
			args: append([]string{"nameserver", "--listen", addr, "--logger.level", "warn"}, ft.nsArgs()...)}
		c.ns = append(c.ns, p)
		nsAddrs = append(nsAddrs, addr)
		p.start()
	}
	for _, a := range nsAddrs {
		waitHTTP(t, "http://"+a+"/healthz")
	}
	for m := range 3 {
		var via []string
		var ps []*faultproxy.Proxy
		for _, a := range nsAddrs {
			p, err := faultproxy.New("127.0.0.1:0", a)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { p.Close() })
			ps = append(ps, p)
			via = append(via, p.Addr())
		}
		c.proxies = append(c.proxies, ps)
		host := fmt.Sprintf("127.0.0.%d", 115+m)
		n := &node{group: "fo", nodeID: int32(10 + m)}
		n.addr = net.JoinHostPort(host, freePort(t, host))
		n.http = net.JoinHostPort(host, freePort(t, host))
		name := fmt.Sprintf("fo-%d", m)
		n.proc = proc{t: t, name: name, log: filepath.Join(dir, name+".log"), args: append([]string{
			"broker", "--cluster", "test", "--broker-name", "fo", "--broker-id", strconv.Itoa(m),
			"--node-id", strconv.Itoa(int(n.nodeID)),
			"--nameservers", strings.Join(via, ","),
			"--listeners", "PLAINTEXT://" + n.addr,
			"--data-dir", filepath.Join(dir, name),
			"--http.listener", n.http,
			"--replication.listener", net.JoinHostPort(host, "0"),
			"--replication.mode", "sync",
			"--replica.lag.time.max.ms", "2000",
			"--log.segment.bytes", "16777216", // not 1 GiB preallocated per member
			"--group.initial.rebalance.delay.ms", "0",
			"--logger.level", "info",
		}, ft.brokerArgs()...)}
		c.members = append(c.members, n)
		n.start()
	}
	t.Cleanup(func() {
		for _, n := range c.members {
			if n.cmd != nil {
				n.cmd.Process.Signal(syscall.SIGCONT)
			}
			n.stop()
		}
		for _, p := range c.ns {
			p.stop()
		}
		if t.Failed() || os.Getenv("GREGOR_FAILOVER_LOGS") != "" {
			for _, p := range append(c.ns, nodesProcs(c.members)...) {
				t.Logf("--- log of %s:\n%s", p.name, p.tail())
			}
			t.Logf("whole logs in %s", dir)
		}
	})
	return c
}

func (c *foCluster) seeds() []string {
	var out []string
	for _, n := range c.members {
		out = append(out, n.addr)
	}
	return out
}

// master returns the member whose /cluster/status says master with the
// highest epoch (-1: none answers so).
func (c *foCluster) master() int {
	best, epoch := -1, int32(-1)
	hc := &http.Client{Timeout: 500 * time.Millisecond}
	for i, n := range c.members {
		if n.cmd == nil {
			continue
		}
		resp, err := hc.Get("http://" + n.http + "/cluster/status")
		if err != nil {
			continue
		}
		var st struct {
			Role  string `json:"role"`
			Epoch int32  `json:"epoch"`
		}
		err = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if err == nil && st.Role == "master" && st.Epoch > epoch {
			best, epoch = i, st.Epoch
		}
	}
	return best
}

// waitInSync waits until the master lists every member in sync and a
// majority of NameServers took that set (a nemesis heals before the next
// fault): only a member of the committed set may take over, and the
// master reports a grown set at its next renewal, after its ISR grew.
func (c *foCluster) waitInSync() {
	c.t.Helper()
	hc := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if m := c.master(); m >= 0 {
			resp, err := hc.Get("http://" + c.members[m].http + "/cluster/status")
			if err == nil {
				var st struct {
					InSync []int64 `json:"in_sync"`
					Lease  *struct {
						CommittedInSync []int64 `json:"committed_in_sync"`
					} `json:"lease"`
				}
				err = json.NewDecoder(resp.Body).Decode(&st)
				resp.Body.Close()
				if err == nil && len(st.InSync) == len(c.members) && st.Lease != nil && len(st.Lease.CommittedInSync) == len(c.members) {
					return
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.t.Fatal("the members did not all get in sync")
}

// roles describes every member as "member/role/epoch", failing when one
// does not answer or the slaves' epoch differs from the master's.
func (c *foCluster) roles() (string, error) {
	hc := &http.Client{Timeout: time.Second}
	var out []string
	epochs := map[int32]bool{}
	for i, n := range c.members {
		resp, err := hc.Get("http://" + n.http + "/cluster/status")
		if err != nil {
			return strings.Join(out, " "), err
		}
		var st struct {
			Role  string `json:"role"`
			Epoch int32  `json:"epoch"`
		}
		err = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if err != nil {
			return strings.Join(out, " "), err
		}
		epochs[st.Epoch] = true
		out = append(out, fmt.Sprintf("%d/%s/%d", i, st.Role, st.Epoch))
	}
	if len(epochs) != 1 {
		return strings.Join(out, " "), fmt.Errorf("epochs differ")
	}
	return strings.Join(out, " "), nil
}

// acked is the producer's record of what the cluster acknowledged.
type acked struct {
	mu    sync.Mutex
	vals  []int
	times []time.Time
}

func (a *acked) add(v int) {
	a.mu.Lock()
	a.vals = append(a.vals, v)
	a.times = append(a.times, time.Now())
	a.mu.Unlock()
}

// gapAfter is the longest time without an acknowledgement from t on
// (writes go one at a time, so this is how long writes stood still).
func (a *acked) gapAfter(t time.Time) time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	var gap time.Duration
	prev := t
	for _, at := range a.times {
		if at.After(t) {
			gap = max(gap, at.Sub(prev))
			prev = at
		}
	}
	return gap
}

func (a *acked) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.vals)
}

// A broker group of master + 2 slaves in sync mode with 3 NameServers,
// under an idempotent acks=all producer writing one record at a time: the
// master is SIGKILLed, SIGSTOPped past its lease and resumed, and cut off
// from the NameServers only (still reachable by clients and slaves). Each
// time an in-sync slave takes over and writes resume; the time from the
// fault to the first write acknowledged after it is logged. At the end
// every acknowledged record is read back: none lost, none twice, in order.
func TestFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("real processes and fail-overs")
	}
	runFailover(t, shortTimings)
}

// The same with gregor's default intervals (4 s lease, 3 s registration,
// 2 s route poll), for the figures in docs/replication.md; about a minute,
// so only with GREGOR_FAILOVER_DEFAULTS=1.
func TestFailoverDefaultTimings(t *testing.T) {
	if os.Getenv("GREGOR_FAILOVER_DEFAULTS") == "" {
		t.Skip("set GREGOR_FAILOVER_DEFAULTS=1")
	}
	runFailover(t, foTimings{})
}

func runFailover(t *testing.T, ft foTimings) {
	c := startFailoverCluster(t, ft)
	const topic = "fo"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	cl, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.MetadataMinAge(100*time.Millisecond), kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }),
		kgo.RecordDeliveryTimeout(60*time.Second),
		// A paused master keeps its connections open and silent: the client
		// moves on only when a request times out (Kafka's clients alike,
		// after request.timeout.ms).
		kgo.ProduceRequestTimeout(2*time.Second), kgo.RequestTimeoutOverhead(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	deadline := time.Now().Add(30 * time.Second)
	for {
		r, err := adm.CreateTopic(ctx, 1, 3, nil, topic)
		if err == nil && (r.Err == nil || strings.Contains(r.Err.Error(), "TOPIC_ALREADY_EXISTS")) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("creating %s: %v %v", topic, err, r.Err)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// The first write needs a master with a lease (the NameServers grant
	// none for a lease after they start) and a producer id.
	deadline = time.Now().Add(30 * time.Second)
	for {
		err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("-1"), Partition: 0}).FirstErr()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("first write: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	var ack acked
	var prodErr error
	prodDone := make(chan struct{})
	go func() {
		defer close(prodDone)
		for i := 0; ctx.Err() == nil; i++ {
			r := &kgo.Record{Value: []byte(strconv.Itoa(i)), Partition: 0}
			if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
				if ctx.Err() == nil {
					prodErr = fmt.Errorf("record %d: %w", i, err)
				}
				return
			}
			ack.add(i)
		}
	}()
	waitAcks := func(n int, what string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for start := ack.count(); ack.count() < start+n; {
			if time.Now().After(deadline) || prodErr != nil {
				t.Fatalf("%s: writes did not resume (%v)", what, prodErr)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	currentMaster := func(not int) int {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			if m := c.master(); m >= 0 && m != not {
				return m
			}
			if time.Now().After(deadline) {
				t.Fatalf("no master other than %d", not)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitAcks(50, "start")
	c.waitInSync()
	var downtimes []time.Duration
	measure := func(what string, at time.Time, old int) {
		t.Helper()
		t.Logf("%s: member %d at %s", what, old, at.Format("15:04:05.000"))
		// The old master may acknowledge until its lease runs out: first
		// the new master, then writes through it.
		currentMaster(old)
		waitAcks(20, what)
		d := ack.gapAfter(at)
		if os.Getenv("GREGOR_FAILOVER_LOGS") != "" {
			ack.mu.Lock()
			prev := at
			for i, x := range ack.times {
				if x.After(at) && x.Sub(prev) > 50*time.Millisecond {
					t.Logf("gap %v before ack %d at %s", x.Sub(prev), ack.vals[i], x.Format("15:04:05.000"))
				}
				if x.After(at) {
					prev = x
				}
			}
			ack.mu.Unlock()
		}
		downtimes = append(downtimes, d)
		t.Logf("%s: writes stood still for %v", what, d.Round(time.Millisecond))
	}

	// 1. SIGKILL the master; restart it later: it rejoins as a slave.
	m := currentMaster(-1)
	at := time.Now()
	c.members[m].kill()
	measure("master killed", at, m)
	c.members[m].start()
	waitAcks(20, "old master restarted")
	c.waitInSync()

	// 2. SIGSTOP the master past its lease, then SIGCONT.
	m = currentMaster(-1)
	at = time.Now()
	c.members[m].cmd.Process.Signal(syscall.SIGSTOP)
	measure("master paused", at, m)
	c.members[m].cmd.Process.Signal(syscall.SIGCONT)
	waitAcks(20, "old master resumed")
	c.waitInSync()

	// 3. Cut the master off from the NameServers only.
	m = currentMaster(-1)
	at = time.Now()
	for _, p := range c.proxies[m] {
		p.Set(faultproxy.Blackhole)
	}
	measure("master cut off from the NameServers", at, m)
	for _, p := range c.proxies[m] {
		p.Set(faultproxy.Pass)
	}
	waitAcks(20, "healed")
	c.waitInSync()

	// 4. A NameServer dies (a minority): nothing changes; it restarts and
	// grants nothing for a lease, which changes nothing either.
	m = currentMaster(-1)
	c.ns[0].kill()
	waitAcks(50, "a NameServer killed")
	c.ns[0].start()
	time.Sleep(2 * max(ft.lease, time.Second))
	waitAcks(50, "a NameServer restarted")
	if now := c.master(); now != m {
		t.Fatalf("master moved from %d to %d when a NameServer died and restarted", m, now)
	}

	// 5. A slave dies: sync-mode writes go on once it left the in-sync
	// set (replica.lag.time.max.ms, then a renewal commits the smaller
	// set); it restarts and catches up.
	slave := (m + 1) % len(c.members)
	at = time.Now()
	c.members[slave].kill()
	waitAcks(50, "a slave killed")
	t.Logf("a slave killed: writes stood still for %v", ack.gapAfter(at).Round(time.Millisecond))
	c.members[slave].start()
	waitAcks(20, "the slave restarted")
	c.waitInSync()
	if now := c.master(); now != m {
		t.Fatalf("master moved from %d to %d when a slave died", m, now)
	}

	cancel()
	<-prodDone
	if prodErr != nil {
		t.Fatal(prodErr)
	}
	// Every old master rejoined as a slave of the newest term.
	deadline = time.Now().Add(30 * time.Second)
	for {
		roles, err := c.roles()
		if err == nil && strings.Count(roles, "master") == 1 && strings.Count(roles, "slave") == 2 {
			t.Logf("members after the faults: %s", roles)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("members after the faults: %s (%v)", roles, err)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Read everything back from the current master.
	ack.mu.Lock()
	want := slices.Clone(ack.vals)
	ack.mu.Unlock()
	cons, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	seen := map[int]int{}
	var order []int
	rctx, rcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer rcancel()
	for len(seen) < len(want) && rctx.Err() == nil {
		fs := cons.PollFetches(rctx)
		fs.EachRecord(func(r *kgo.Record) {
			v, _ := strconv.Atoi(string(r.Value))
			if v < 0 {
				return // the first write, before the faults
			}
			seen[v]++
			order = append(order, v)
		})
	}
	var lost, dups []int
	for _, v := range want {
		if seen[v] == 0 {
			lost = append(lost, v)
		}
	}
	for v, n := range seen {
		if n > 1 {
			dups = append(dups, v)
		}
	}
	sort.Ints(dups)
	outOfOrder := 0
	for i := 1; i < len(order); i++ {
		if order[i] <= order[i-1] {
			outOfOrder++
		}
	}
	sorted := slices.Clone(downtimes)
	slices.Sort(sorted)
	t.Logf("%d acknowledged, %d read; lost %d, duplicated %d, out of order %d; writes stood still: median %v, worst %v",
		len(want), len(order), len(lost), len(dups), outOfOrder, sorted[len(sorted)/2].Round(time.Millisecond), sorted[len(sorted)-1].Round(time.Millisecond))
	if len(lost) > 0 || len(dups) > 0 || outOfOrder > 0 {
		t.Fatalf("lost %v, duplicated %v, %d out of order", head(lost), head(dups), outOfOrder)
	}
}

func head(v []int) []int {
	if len(v) > 10 {
		return v[:10]
	}
	return v
}
