package cluster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/internal/faultproxy"
	"github.com/gregor-broker/gregor/nameserver"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// jCluster is the Jepsen test's cluster: 3 NameServers and 2 broker groups
// of a master and 2 slaves. Every member reaches each
// NameServer through a faultproxy of its own, so the nemesis can cut one
// member off from the NameServers while clients and the other members
// still reach it. Hosts: NameServers on 127.0.0.150-152, group j0 on
// .160-.162, group j1 on .170-.172 (other tests use .2-.117).
type jCluster struct {
	t       *testing.T
	dir     string
	ns      []*proc
	nsAddrs []string
	groups  [][]*node               // [group][member]
	proxies [][][]*faultproxy.Proxy // [group][member][nameserver]
}

// jLagMax is the members' replica.lag.time.max.ms: how long a slave stays
// in sync without catching up, and so the async loss window.
const jLagMax = 2 * time.Second

// startJepsenCluster starts the cluster with replication.mode mode.
func startJepsenCluster(t *testing.T, ft foTimings, mode string) *jCluster {
	dir := t.TempDir()
	if os.Getenv("GREGOR_FAILOVER_LOGS") != "" { // kept after the test
		d, err := os.MkdirTemp("", "gregor-jepsen")
		if err != nil {
			t.Fatal(err)
		}
		dir = d
	}
	c := &jCluster{t: t, dir: dir}
	var nsAddrs []string
	for i := range 3 {
		host := fmt.Sprintf("127.0.0.%d", 150+i)
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
	c.nsAddrs = nsAddrs
	for g := range 2 {
		var members []*node
		var gproxies [][]*faultproxy.Proxy
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
			gproxies = append(gproxies, ps)
			host := fmt.Sprintf("127.0.0.%d", 160+10*g+m)
			gname := fmt.Sprintf("j%d", g)
			n := &node{group: gname, nodeID: int32(20 + 10*g + m)}
			n.addr = net.JoinHostPort(host, freePort(t, host))
			n.http = net.JoinHostPort(host, freePort(t, host))
			name := fmt.Sprintf("%s-%d", gname, m)
			n.proc = proc{t: t, name: name, log: filepath.Join(dir, name+".log"), args: append([]string{
				"broker", "--cluster", "test", "--broker-name", gname, "--broker-id", strconv.Itoa(m),
				"--node-id", strconv.Itoa(int(n.nodeID)),
				"--nameservers", strings.Join(via, ","),
				"--listeners", "PLAINTEXT://" + n.addr,
				"--data-dir", filepath.Join(dir, name),
				"--http.listener", n.http,
				"--replication.listener", net.JoinHostPort(host, "0"),
				"--replication.mode", mode,
				"--replica.lag.time.max.ms", strconv.Itoa(int(jLagMax.Milliseconds())),
				"--log.segment.bytes", "16777216",
				"--group.initial.rebalance.delay.ms", "0",
				"--logger.level", "info",
			}, ft.brokerArgs()...)}
			members = append(members, n)
			n.start()
		}
		c.groups = append(c.groups, members)
		c.proxies = append(c.proxies, gproxies)
	}
	t.Cleanup(func() {
		var all []*proc
		for _, g := range c.groups {
			for _, n := range g {
				if n.cmd != nil {
					n.cmd.Process.Signal(syscall.SIGCONT)
				}
				n.stop()
				all = append(all, &n.proc)
			}
		}
		for _, p := range c.ns {
			p.stop()
		}
		if t.Failed() || os.Getenv("GREGOR_FAILOVER_LOGS") != "" {
			for _, p := range append(c.ns, all...) {
				t.Logf("--- log of %s:\n%s", p.name, p.tail())
			}
			t.Logf("whole logs in %s", dir)
		}
	})
	return c
}

func (c *jCluster) seeds() []string {
	var out []string
	for _, g := range c.groups {
		for _, n := range g {
			out = append(out, n.addr)
		}
	}
	return out
}

// jStatus is the part of GET /cluster/status the checker reads.
type jStatus struct {
	Role   string  `json:"role"`
	Epoch  int32   `json:"epoch"`
	InSync []int64 `json:"in_sync"`
}

func (c *jCluster) status(g, m int) (jStatus, error) {
	var st jStatus
	n := c.groups[g][m]
	if n.cmd == nil {
		return st, fmt.Errorf("not running")
	}
	hc := &http.Client{Timeout: 700 * time.Millisecond}
	resp, err := hc.Get("http://" + n.http + "/cluster/status")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	err = json.NewDecoder(resp.Body).Decode(&st)
	return st, err
}

// master returns group g's member that says master with the highest epoch
// (-1: none) and that epoch.
func (c *jCluster) master(g int) (int, int32) {
	best, epoch := -1, int32(-1)
	for m := range c.groups[g] {
		st, err := c.status(g, m)
		if err == nil && st.Role == "master" && st.Epoch > epoch {
			best, epoch = m, st.Epoch
		}
	}
	return best, epoch
}

// waitMaster waits up to d for group g to have a master other than not and
// returns it (-1 when none came).
func (c *jCluster) waitMaster(g, not int, d time.Duration) int {
	deadline := time.Now().Add(d)
	for {
		if m, _ := c.master(g); m >= 0 && m != not {
			return m
		}
		if time.Now().After(deadline) {
			return -1
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// settled reports whether group g has one master whose in-sync set holds
// all three members, every NameServer has been told so (the set a slave
// may take over from: a master killed before its next lease renewal leaves
// the NameServers with the set before, and unclean.leader.election.enable
// then rightly keeps the slaves from taking over), and every member
// follows its epoch.
func (c *jCluster) settled(g int) error {
	m, epoch := c.master(g)
	if m < 0 {
		return fmt.Errorf("group %d: no master", g)
	}
	st, err := c.status(g, m)
	if err != nil {
		return err
	}
	if len(st.InSync) != len(c.groups[g]) {
		return fmt.Errorf("group %d: master %d epoch %d in sync %v", g, m, epoch, st.InSync)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, a := range c.nsAddrs {
		r, err := nameserver.NewClient([]string{a}).Lease(ctx, a, nameserver.LeaseRequest{Op: nameserver.LeaseQuery,
			Cluster: "test", BrokerName: c.groups[g][m].group, BrokerID: int64(m), Epoch: epoch, LastEpoch: -1, LastMaster: -1})
		if err != nil {
			return fmt.Errorf("group %d: lease query at %s: %v", g, a, err)
		}
		if r.SyncState == nil || r.SyncState.Epoch != epoch || len(r.SyncState.Members) != len(c.groups[g]) {
			return fmt.Errorf("group %d: NameServer %s has in-sync set %+v, master %d epoch %d has %v", g, a, r.SyncState, m, epoch, st.InSync)
		}
	}
	for i := range c.groups[g] {
		s, err := c.status(g, i)
		if err != nil {
			return fmt.Errorf("group %d member %d: %v", g, i, err)
		}
		if i != m && (s.Role != "slave" || s.Epoch != epoch) {
			return fmt.Errorf("group %d member %d: %s at epoch %d, master %d at %d", g, i, s.Role, s.Epoch, m, epoch)
		}
	}
	return nil
}

// waitSettled waits up to d for every group to settle.
func (c *jCluster) waitSettled(d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		var err error
		for g := range c.groups {
			if err = c.settled(g); err != nil {
				break
			}
		}
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitBothGroupsListed waits until every member's Metadata lists a broker of
// both groups: a topic created before that lands on the first group alone.
func (c *jCluster) waitBothGroupsListed(ctx context.Context, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		both := true
		var err error
		for _, addr := range c.seeds() {
			mctx, mcancel := context.WithTimeout(ctx, 2*time.Second)
			var md *kmsg.MetadataResponse
			md, err = metadata(mctx, addr)
			mcancel()
			has := map[int32]bool{}
			if err == nil {
				for _, b := range md.Brokers {
					has[(b.NodeID-20)/10] = true
				}
			}
			both = both && has[0] && has[1]
		}
		if both {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("metadata does not list both groups (last error %v)", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// findCoordinators asks the broker at addr for the coordinators of keys
// (FindCoordinator v4, one request): key → node (-1 with the error code).
func findCoordinators(ctx context.Context, addr string, keys []string) (map[string]int32, map[string]int16, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return nil, nil, err
	}
	defer cl.Close()
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.Version = 4
	req.CoordinatorKeys = keys
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, nil, err
	}
	nodes, codes := map[string]int32{}, map[string]int16{}
	for _, c := range resp.Coordinators {
		nodes[c.Key], codes[c.Key] = c.NodeID, c.ErrorCode
	}
	return nodes, codes, nil
}
