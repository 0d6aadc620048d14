package cluster_test

// A replicated broker group for the replication tests: one NameServer and
// the members of group "g" (member 0 begins as master), each a real gregor
// process on its own loopback address, with short intervals
// (replica.lag.time.max.ms 1500).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/internal/repltest"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const replLagTime = 1500 * time.Millisecond

// rgroup is a NameServer and the members of one replicated group.
type rgroup struct {
	t       *testing.T
	dir     string
	ns      *proc
	nsAddr  string
	members []*node
}

// startReplGroup starts the NameServer and n members (none started yet
// beyond the NameServer; call start on each). extra are broker flags every
// member gets. hostBase picks the loopback addresses (127.0.0.hostBase+i),
// so tests running side by side never share one.
func startReplGroup(t *testing.T, hostBase, n int, extra ...string) *rgroup {
	t.Helper()
	g := &rgroup{t: t, dir: t.TempDir()}
	nsHost := fmt.Sprintf("127.0.0.%d", hostBase)
	g.nsAddr = net.JoinHostPort(nsHost, freePort(t, nsHost))
	g.ns = &proc{t: t, name: "ns", log: filepath.Join(g.dir, "ns.log"),
		args: []string{"nameserver", "--listen", g.nsAddr, "--scan-interval", scanInterval.String(), "--expiry", brokerExpiry.String(), "--logger.level", "warn"}}
	g.ns.start()
	waitHTTP(t, "http://"+g.nsAddr+"/healthz")
	for i := 0; i < n; i++ {
		host := fmt.Sprintf("127.0.0.%d", hostBase+1+i)
		m := &node{group: "g", nodeID: int32(i + 1)}
		m.addr = net.JoinHostPort(host, freePort(t, host))
		m.http = net.JoinHostPort(host, freePort(t, host))
		m.proc = proc{t: t, name: fmt.Sprintf("member%d", i), log: filepath.Join(g.dir, fmt.Sprintf("member%d.log", i)), args: append([]string{
			"broker", "--cluster", "test", "--broker-name", "g", "--broker-id", strconv.Itoa(i),
			"--node-id", strconv.Itoa(i + 1),
			"--nameservers", g.nsAddr,
			"--register-interval", registerInterval.String(),
			"--route-refresh-interval", registerInterval.String(),
			"--listeners", "PLAINTEXT://" + m.addr,
			"--data-dir", filepath.Join(g.dir, fmt.Sprintf("data%d", i)),
			"--http.listener", m.http,
			"--replication.listener", net.JoinHostPort(host, "0"),
			"--replica.lag.time.max.ms", strconv.Itoa(int(replLagTime.Milliseconds())),
			// Segments are preallocated: 1 GiB each would fill a shared
			// test machine's disk.
			"--log.segment.bytes", strconv.Itoa(16 << 20),
			"--group.initial.rebalance.delay.ms", "0",
			"--logger.level", "info",
		}, extra...)}
		g.members = append(g.members, m)
	}
	t.Cleanup(func() {
		for _, m := range g.members {
			if m.cmd != nil {
				m.cmd.Process.Signal(syscall.SIGCONT) // a paused member must hear the TERM
			}
			m.stop()
		}
		g.ns.stop()
		if t.Failed() {
			for _, p := range append([]*proc{g.ns}, nodesProcs(g.members)...) {
				t.Logf("--- log of %s:\n%s", p.name, p.tail())
			}
		}
	})
	return g
}

// pause stops p with SIGSTOP and waits until the kernel reports every
// thread of it stopped (state T), so nothing it does races with what the
// test does next. kill(2) returns before the stop takes effect: one thread
// takes the signal and only then stops the others, which meanwhile run on
// (a slave paused so acknowledged replication frames sent after the
// pause; TestTxnCommitSurvivesFailover saw EndTxn answered "early").
func pause(t testing.TB, p *proc) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGSTOP)
	dir := fmt.Sprintf("/proc/%d/task", p.cmd.Process.Pid)
	deadline := time.Now().Add(5 * time.Second)
	for {
		tasks, err := os.ReadDir(dir)
		if err != nil {
			return // not Linux: the signal alone
		}
		stopped := len(tasks) > 0
		for _, task := range tasks {
			b, err := os.ReadFile(filepath.Join(dir, task.Name(), "stat"))
			if err != nil {
				continue // the thread ended
			}
			// pid (comm) state ...: the state follows the last ')'.
			if i := bytes.LastIndexByte(b, ')'); i < 0 || i+2 >= len(b) || (b[i+2] != 'T' && b[i+2] != 't') {
				stopped = false
				break
			}
		}
		if stopped {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not stop", p.name)
		}
		time.Sleep(time.Millisecond)
	}
}

// wipe removes member i's data directory (it must be stopped).
func (g *rgroup) wipe(i int) {
	if err := os.RemoveAll(filepath.Join(g.dir, fmt.Sprintf("data%d", i))); err != nil {
		g.t.Fatal(err)
	}
}

// eventually retries fn until it succeeds or d passes.
func (g *rgroup) eventually(d time.Duration, fn func() error) {
	g.t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("after %v: %v", d, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// memberStatus is GET /cluster/status (broker/promote.go).
type memberStatus struct {
	Role   string  `json:"role"`
	Epoch  int32   `json:"epoch"`
	End    int64   `json:"end"`
	InSync []int64 `json:"in_sync"`
}

func (g *rgroup) status(i int) (memberStatus, error) {
	var st memberStatus
	resp, err := http.Get("http://" + g.members[i].http + "/cluster/status")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	err = json.NewDecoder(resp.Body).Decode(&st)
	return st, err
}

// promote asks member i to become master of a new term.
func (g *rgroup) promote(i int, force bool) {
	g.t.Helper()
	u := fmt.Sprintf("http://%s/cluster/promote?member=%d", g.members[i].http, i)
	if force {
		u += "&force=true"
	}
	resp, err := http.Post(u, "", nil)
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		g.t.Fatalf("promote member %d: %s %s", i, resp.Status, body)
	}
}

// waitRole waits until member i reports role with at least epoch.
func (g *rgroup) waitRole(i int, role string, epoch int32) {
	g.t.Helper()
	g.eventually(15*time.Second, func() error {
		st, err := g.status(i)
		if err != nil {
			return err
		}
		if st.Role != role || st.Epoch < epoch {
			return fmt.Errorf("member %d is %s at epoch %d, want %s at >= %d", i, st.Role, st.Epoch, role, epoch)
		}
		return nil
	})
}

// isr returns partition → ISR of topic as the broker at addr reports it.
func isr(addr, topic string) (map[int32][]int32, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	m, err := metadata(ctx, addr, topic)
	if err != nil {
		return nil, err
	}
	out := map[int32][]int32{}
	for _, mt := range m.Topics {
		if mt.ErrorCode != 0 {
			return nil, kerr.ErrorForCode(mt.ErrorCode)
		}
		for _, p := range mt.Partitions {
			out[p.Partition] = p.ISR
		}
	}
	return out, nil
}

// waitISR waits until every partition of topic has the ISR want (node ids,
// any order) as the broker at addr reports it.
func (g *rgroup) waitISR(addr, topic string, want ...int32) {
	g.t.Helper()
	g.eventually(20*time.Second, func() error {
		got, err := isr(addr, topic)
		if err != nil {
			return err
		}
		if len(got) == 0 {
			return fmt.Errorf("no partitions of %s", topic)
		}
		for p, ids := range got {
			if !sameSet(ids, want) {
				return fmt.Errorf("%s/%d ISR %v, want %v", topic, p, ids, want)
			}
		}
		return nil
	})
}

func sameSet(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		found := false
		for _, y := range b {
			found = found || x == y
		}
		if !found {
			return false
		}
	}
	return true
}

// produceN writes n records numbered from to each partition of topic
// through the brokers at seeds, acks=all, and fails the test on an error.
func produceN(t testing.TB, seeds []string, topic string, parts, from, n int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var recs []*kgo.Record
	for i := from; i < from+n; i++ {
		for p := 0; p < parts; p++ {
			recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(p), Value: []byte(fmt.Sprintf("%s-%d-%d", topic, p, i))})
		}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// readRaw fetches partition p of topic from the broker at addr itself
// (never redirected) from its log start to its high watermark: the raw
// record batches it serves (internal/repltest, shared with deploy_test and
// compat_test).
func readRaw(addr, topic string, id [16]byte, p int32) (repltest.Partition, error) {
	return repltest.Read(addr, topic, id, p)
}

// topicID returns topic's id as the broker at addr reports it.
func topicIDOf(addr, topic string) ([16]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	m, err := metadata(ctx, addr, topic)
	if err != nil {
		return [16]byte{}, err
	}
	if len(m.Topics) != 1 || m.Topics[0].ErrorCode != 0 {
		return [16]byte{}, fmt.Errorf("no topic %s", topic)
	}
	return m.Topics[0].TopicID, nil
}

// waitIdentical waits until the broker at b serves, for every partition of
// topic, byte for byte the record batches the broker at a serves, from the
// same log start to the same high watermark, holding want records per
// partition (-1: any).
func (g *rgroup) waitIdentical(a, b, topic string, parts int, want int64) {
	g.t.Helper()
	g.eventually(30*time.Second, func() error {
		id, err := topicIDOf(a, topic)
		if err != nil {
			return err
		}
		for p := int32(0); p < int32(parts); p++ {
			ra, err := readRaw(a, topic, id, p)
			if err != nil {
				return err
			}
			rb, err := readRaw(b, topic, id, p)
			if err != nil {
				return err
			}
			if want >= 0 && ra.HWM-ra.Start != want {
				return fmt.Errorf("%s/%d on %s: %d..%d, want %d records", topic, p, a, ra.Start, ra.HWM, want)
			}
			if err := repltest.Diff(ra, rb); err != nil {
				return fmt.Errorf("%s/%d on %s and %s: %w", topic, p, a, b, err)
			}
		}
		return nil
	})
}

// addrs returns the Kafka addresses of the members listed.
func (g *rgroup) addrs(idx ...int) []string {
	var out []string
	for _, i := range idx {
		out = append(out, g.members[i].addr)
	}
	return out
}

// createTopic creates topic with parts partitions and configs through addr.
func createTopic(t testing.TB, addr, topic string, parts int32, rf int16, configs map[string]string) (int16, string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 10000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, parts, rf
	for k, v := range configs {
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = k, kmsg.StringPtr(v)
		rt.Configs = append(rt.Configs, c)
	}
	req.Topics = []kmsg.CreateTopicsRequestTopic{rt}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	resp, err := cl.SeedBrokers()[0].Request(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	r := resp.(*kmsg.CreateTopicsResponse).Topics[0]
	msg := ""
	if r.ErrorMessage != nil {
		msg = *r.ErrorMessage
	}
	return r.ErrorCode, msg
}

// rawProduce sends one record to partition 0 of topic at addr with acks
// and timeout, and returns the partition's error code.
func rawProduce(t testing.TB, addr, topic string, acks int16, timeout time.Duration) int16 {
	t.Helper()
	code, err := repltest.Produce(addr, topic, 0, acks, timeout, []byte("raw-"+strings.Repeat("x", 10)))
	if err != nil {
		t.Fatal(err)
	}
	return code
}
