// Package cluster_test runs real gregor processes — NameServers and broker
// groups on 127.0.0.x loopback addresses — and kills and restarts them to
// check the cluster's failure behaviour with real clients (franz-go, kcat).
//
// The gregor binary is built once in TestMain. Intervals are shrunk so the
// package stays well under two minutes: brokers register and read routes
// every 200 ms, NameServers scan every 200 ms and expire a broker after
// 1.5 s.
package cluster_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Intervals the processes run with.
const (
	registerInterval = 200 * time.Millisecond
	scanInterval     = 200 * time.Millisecond
	brokerExpiry     = 1500 * time.Millisecond
)

var gregorBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gregor-cluster-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	gregorBin = filepath.Join(dir, "gregor")
	build := exec.Command("go", "build", "-o", gregorBin, "../cmd/gregor")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building gregor:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is one gregor process the test starts, kills and restarts.
type proc struct {
	t    testing.TB
	name string
	args []string
	log  string // file the process writes to
	cmd  *exec.Cmd
	done chan struct{}
}

func (p *proc) start() {
	p.t.Helper()
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		p.t.Fatal(err)
	}
	fmt.Fprintf(f, "=== start %s %s\n", p.name, strings.Join(p.args, " "))
	cmd := exec.Command(gregorBin, p.args...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		p.t.Fatalf("starting %s: %v", p.name, err)
	}
	p.cmd = cmd
	p.done = make(chan struct{})
	go func() {
		cmd.Wait()
		f.Close()
		close(p.done)
	}()
}

// kill sends SIGKILL and waits for the process to end: a crash.
func (p *proc) kill() {
	if p.cmd == nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
	p.cmd = nil
}

// stop sends SIGTERM and waits: a clean shutdown.
func (p *proc) stop() {
	if p.cmd == nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		p.kill()
	}
	p.cmd = nil
}

func (p *proc) tail() string {
	b, _ := os.ReadFile(p.log)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// node is one broker process (the master of its group).
type node struct {
	proc
	group  string
	nodeID int32
	addr   string // Kafka listener host:port
	http   string
}

// cluster is 2 NameServers and 3 single-master broker groups.
type cluster struct {
	t       testing.TB
	ns      []*proc
	nsAddrs []string
	nodes   []*node
}

// freePort returns a port free on host now.
func freePort(t testing.TB, host string) string {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// startCluster starts the NameServers on 127.0.0.10 and .11 and brokers
// broker-a, -b, -c on 127.0.0.2, .3, .4, and waits until every broker sees
// the three groups.
func startCluster(t *testing.T) *cluster {
	t.Helper()
	dir := t.TempDir()
	c := &cluster{t: t}
	for i, host := range []string{"127.0.0.10", "127.0.0.11"} {
		addr := net.JoinHostPort(host, freePort(t, host))
		p := &proc{t: t, name: fmt.Sprintf("ns%d", i+1), log: filepath.Join(dir, fmt.Sprintf("ns%d.log", i+1)),
			args: []string{"nameserver", "--listen", addr, "--scan-interval", scanInterval.String(), "--expiry", brokerExpiry.String(), "--logger.level", "warn"}}
		c.ns = append(c.ns, p)
		c.nsAddrs = append(c.nsAddrs, addr)
	}
	for _, p := range c.ns {
		p.start()
	}
	for _, p := range c.nsAddrs {
		waitHTTP(t, "http://"+p+"/healthz")
	}
	for i, g := range []string{"a", "b", "c"} {
		host := fmt.Sprintf("127.0.0.%d", i+2)
		n := &node{group: "broker-" + g, nodeID: int32(i + 1)}
		n.addr = net.JoinHostPort(host, freePort(t, host))
		n.http = net.JoinHostPort(host, freePort(t, host))
		n.proc = proc{t: t, name: n.group, log: filepath.Join(dir, n.group+".log"), args: []string{
			"broker", "--cluster", "test", "--broker-name", n.group, "--broker-id", "0",
			"--node-id", strconv.Itoa(int(n.nodeID)),
			"--nameservers", strings.Join(c.nsAddrs, ","),
			"--register-interval", registerInterval.String(),
			"--route-refresh-interval", registerInterval.String(),
			"--listeners", "PLAINTEXT://" + n.addr,
			"--data-dir", filepath.Join(dir, n.group),
			"--http.listener", n.http,
			"--replication.listener", net.JoinHostPort(host, "0"),
			"--group.initial.rebalance.delay.ms", "0",
			"--logger.level", "warn",
		}}
		c.nodes = append(c.nodes, n)
	}
	for _, n := range c.nodes {
		n.start()
	}
	t.Cleanup(func() {
		for _, n := range c.nodes {
			n.stop()
		}
		for _, p := range c.ns {
			p.stop()
		}
		if t.Failed() {
			for _, p := range append(c.ns, nodesProcs(c.nodes)...) {
				t.Logf("--- log of %s:\n%s", p.name, p.tail())
			}
		}
	})
	for _, n := range c.nodes {
		c.waitBrokers(n, 3)
	}
	return c
}

func nodesProcs(ns []*node) []*proc {
	var out []*proc
	for _, n := range ns {
		out = append(out, &n.proc)
	}
	return out
}

// waitHTTP waits until url answers 200.
func waitHTTP(t testing.TB, url string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer: %v", url, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// metadata asks the broker at addr for the metadata of topics (nil: all).
func metadata(ctx context.Context, addr string, topics ...string) (*kmsg.MetadataResponse, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	req := kmsg.NewPtrMetadataRequest()
	if topics != nil {
		for _, tn := range topics {
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr(tn)
			req.Topics = append(req.Topics, rt)
		}
	}
	req.AllowAutoTopicCreation = false
	resp, err := cl.SeedBrokers()[0].Request(ctx, req)
	if err != nil {
		return nil, err
	}
	return resp.(*kmsg.MetadataResponse), nil
}

// waitBrokers waits until n's Metadata lists want brokers.
func (c *cluster) waitBrokers(n *node, want int) {
	c.t.Helper()
	c.eventually(15*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		m, err := metadata(ctx, n.addr)
		if err != nil {
			return err
		}
		if len(m.Brokers) != want {
			return fmt.Errorf("%s lists %d brokers, want %d", n.group, len(m.Brokers), want)
		}
		return nil
	})
}

// eventually retries fn until it succeeds or d passes.
func (c *cluster) eventually(d time.Duration, fn func() error) {
	c.t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("after %v: %v", d, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// bootstrap returns every broker's address, for clients.
func (c *cluster) bootstrap() []string {
	var out []string
	for _, n := range c.nodes {
		out = append(out, n.addr)
	}
	return out
}

// leaders returns partition → leader node id of topic as addr reports it,
// and partition → error code.
func leaders(t testing.TB, addr, topic string) (map[int32]int32, map[int32]int16) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m, err := metadata(ctx, addr, topic)
	if err != nil {
		t.Fatal(err)
	}
	lead, codes := map[int32]int32{}, map[int32]int16{}
	for _, mt := range m.Topics {
		for _, p := range mt.Partitions {
			lead[p.Partition] = p.Leader
			codes[p.Partition] = p.ErrorCode
		}
	}
	return lead, codes
}

// runKcat runs kcat with args and stdin, returning stdout.
func runKcat(t testing.TB, stdin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "kcat", args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("kcat %v: %v\n%s", args, err, errb.String())
	}
	return out.String()
}
