package deploy_test

// TestDockerComposeCluster: docker-compose.cluster.yml, a cluster of 3
// NameServers and 2 broker groups of a master and two slaves in
// replication.mode=sync, each process its own container of the one FROM
// scratch image: replication, a group left with its master alone, and
// automatic fail-over of both masters under load.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/internal/repltest"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The brokers of docker-compose.cluster.yml: service, group, member, node id.
var clusterBrokers = []struct {
	service string
	group   string
	member  int64
	node    int32
}{
	{"broker-a0", "a", 0, 1},
	{"broker-a1", "a", 1, 2},
	{"broker-a2", "a", 2, 3},
	{"broker-b0", "b", 0, 4},
	{"broker-b1", "b", 1, 5},
	{"broker-b2", "b", 2, 6},
}

// groupNodes returns the node ids of group g's members.
func groupNodes(g string) []int32 {
	var out []int32
	for _, b := range clusterBrokers {
		if b.group == g {
			out = append(out, b.node)
		}
	}
	return out
}

// service and member name node's container and broker.member.id.
func service(node int32) string {
	for _, b := range clusterBrokers {
		if b.node == node {
			return b.service
		}
	}
	panic(fmt.Sprintf("no node %d", node))
}

func member(node int32) int64 {
	for _, b := range clusterBrokers {
		if b.node == node {
			return b.member
		}
	}
	panic(fmt.Sprintf("no node %d", node))
}

// ccluster is the compose project of docker-compose.cluster.yml as the host
// reaches it: published Kafka and HTTP ports per node id.
type ccluster struct {
	*harness
	kafka map[int32]string // node id → localhost:port
	http  map[int32]string
}

func (c *ccluster) compose(args ...string) string {
	c.t.Helper()
	return c.run("", "docker-compose", append([]string{"-f", "docker-compose.cluster.yml"}, args...)...)
}

// seeds are every broker's host address.
func (c *ccluster) seeds() []string {
	var out []string
	for _, b := range clusterBrokers {
		out = append(out, c.kafka[b.node])
	}
	return out
}

// eventually retries fn until it succeeds or d passes.
func (c *ccluster) eventually(d time.Duration, fn func() error) {
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
		time.Sleep(250 * time.Millisecond)
	}
}

// clusterStatus is a broker's GET /cluster/status.
type clusterStatus struct {
	Group  string  `json:"group"`
	Member int64   `json:"member"`
	Role   string  `json:"role"`
	Epoch  int32   `json:"epoch"`
	End    int64   `json:"end"`
	InSync []int64 `json:"in_sync"`
	// Lease is the fail-over lease (3 NameServers: always there).
	Lease *struct {
		Valid           bool    `json:"valid"`
		CommittedInSync []int64 `json:"committed_in_sync"`
	} `json:"lease"`
	// Replica is a slave's view of its replication.
	Replica *struct {
		Connected    bool  `json:"connected"`
		MasterMember int64 `json:"master_member"`
		MasterEpoch  int32 `json:"master_epoch"`
		Truncations  int   `json:"truncations"`
	} `json:"replica"`
}

var statusClient = &http.Client{Timeout: 2 * time.Second}

func (c *ccluster) status(node int32) (clusterStatus, error) {
	var st clusterStatus
	resp, err := statusClient.Get("http://" + c.http[node] + "/cluster/status")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("node %d /cluster/status: %s", node, resp.Status)
	}
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// masterOf returns the member of group g that says it is master, with the
// highest epoch, skipping skip (0: none) and members that do not answer.
func (c *ccluster) masterOf(g string, skip int32) (int32, clusterStatus, error) {
	var (
		best   int32
		bestSt clusterStatus
		seen   []string
	)
	for _, n := range groupNodes(g) {
		if n == skip {
			continue
		}
		st, err := c.status(n)
		if err != nil {
			seen = append(seen, fmt.Sprintf("node %d: %v", n, err))
			continue
		}
		seen = append(seen, fmt.Sprintf("node %d: %s epoch %d", n, st.Role, st.Epoch))
		if st.Role == "master" && (best == 0 || st.Epoch > bestSt.Epoch) {
			best, bestSt = n, st
		}
	}
	if best == 0 {
		return 0, bestSt, fmt.Errorf("group %s has no master: %s", g, strings.Join(seen, "; "))
	}
	return best, bestSt, nil
}

// waitGroupsInSync waits until each group's master holds its lease and
// reports both slaves in sync, in the replication ISR and in the in-sync
// set a majority of NameServers took (only a member of that set may take
// over), and returns group → master node and its status.
func (c *ccluster) waitGroupsInSync() (map[string]int32, map[string]clusterStatus) {
	c.t.Helper()
	masters, sts := map[string]int32{}, map[string]clusterStatus{}
	c.eventually(90*time.Second, func() error {
		for _, g := range []string{"a", "b"} {
			m, st, err := c.masterOf(g, 0)
			if err != nil {
				return err
			}
			if len(st.InSync) != 3 || st.Lease == nil || !st.Lease.Valid || len(st.Lease.CommittedInSync) != 3 {
				return fmt.Errorf("group %s master node %d: in sync %v, lease %+v", g, m, st.InSync, st.Lease)
			}
			masters[g], sts[g] = m, st
		}
		return nil
	})
	return masters, sts
}

// waitAllListed waits until every broker's Metadata lists all six: each
// has read every registration from the NameServers, so whichever broker
// decides a topic's placement knows every member of each group (a topic
// created earlier can be refused INVALID_REPLICATION_FACTOR: a broker knew
// only part of a group).
func (c *ccluster) waitAllListed() {
	c.t.Helper()
	c.eventually(60*time.Second, func() error {
		for _, b := range clusterBrokers {
			m, err := metadataAt(c.kafka[b.node])
			if err != nil {
				return err
			}
			if len(m.Brokers) != len(clusterBrokers) {
				return fmt.Errorf("node %d lists %d brokers, want %d", b.node, len(m.Brokers), len(clusterBrokers))
			}
		}
		return nil
	})
}

// describe runs `gregor topic describe topic --json` in a client container
// on the compose network and returns partition → ISR, and the output.
func (c *ccluster) describe(topic string) (map[int32][]int32, string) {
	c.t.Helper()
	out := c.compose("run", "--rm", "-T", "client", "topic", "describe", topic, "--json")
	var d []struct {
		Partitions []struct {
			Partition int32   `json:"partition"`
			Leader    int32   `json:"leader"`
			ISR       []int32 `json:"isr"`
			Error     string  `json:"error"`
		} `json:"partitions"`
	}
	if err := json.Unmarshal([]byte(out), &d); err != nil || len(d) != 1 {
		c.t.Fatalf("topic describe %s --json: %v\n%s", topic, err, out)
	}
	isr := map[int32][]int32{}
	for _, p := range d[0].Partitions {
		s := append([]int32(nil), p.ISR...)
		sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
		isr[p.Partition] = s
	}
	return isr, out
}

// waitISR waits until `gregor topic describe` in a client container shows
// want as the ISR of every partition led by leader, and returns its text
// form.
func (c *ccluster) waitISR(topic string, leader int32, parts []int32, want ...int32) string {
	c.t.Helper()
	c.eventually(90*time.Second, func() error {
		isr, out := c.describe(topic)
		for _, p := range parts {
			if fmt.Sprint(isr[p]) != fmt.Sprint(want) {
				return fmt.Errorf("%s/%d (leader %d): ISR %v, want %v\n%s", topic, p, leader, isr[p], want, out)
			}
		}
		return nil
	})
	return c.compose("run", "--rm", "-T", "client", "topic", "describe", topic)
}

// checkStoppedSlavesListed: with slaves stopped, Metadata keeps them among
// the replicas and lists them offline, as Kafka lists a dead broker's
// replicas (docs/replication.md: replicas are the group's members, offline
// the known members not live). Before 397131b a slave that stopped cleanly
// vanished from both.
func (c *ccluster) checkStoppedSlavesListed(topic string, parts []int32, slaves ...int32) {
	c.t.Helper()
	m, err := metadataAt(c.kafka[1], topic)
	if err != nil || len(m.Topics) != 1 {
		c.t.Fatalf("metadata of %s: %v", topic, err)
	}
	for _, p := range m.Topics[0].Partitions {
		for _, want := range parts {
			for _, slave := range slaves {
				if p.Partition == want && (!contains(p.Replicas, slave) || !contains(p.OfflineReplicas, slave)) {
					c.t.Fatalf("%s/%d with node %d stopped: replicas %v, offline %v; want it in both",
						topic, p.Partition, slave, p.Replicas, p.OfflineReplicas)
				}
			}
		}
	}
}

func contains[T comparable](s []T, v T) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// layout returns, from the host's Metadata, partition → leader and the
// replicas of each partition of topic.
func (c *ccluster) layout(topic string) (map[int32]int32, map[int32][]int32, [16]byte) {
	c.t.Helper()
	var (
		leaders  map[int32]int32
		replicas map[int32][]int32
		id       [16]byte
	)
	c.eventually(30*time.Second, func() error {
		m, err := metadataAt(c.kafka[1], topic)
		if err != nil {
			return err
		}
		if len(m.Topics) != 1 || m.Topics[0].ErrorCode != 0 {
			return fmt.Errorf("metadata of %s: %+v", topic, m.Topics)
		}
		leaders, replicas = map[int32]int32{}, map[int32][]int32{}
		id = m.Topics[0].TopicID
		for _, p := range m.Topics[0].Partitions {
			if p.ErrorCode != 0 || p.Leader < 0 {
				return fmt.Errorf("%s/%d: code %d leader %d", topic, p.Partition, p.ErrorCode, p.Leader)
			}
			leaders[p.Partition] = p.Leader
			replicas[p.Partition] = p.Replicas
		}
		// The host is told the host listener of every broker.
		for _, b := range m.Brokers {
			if want := c.kafka[b.NodeID]; want != fmt.Sprintf("%s:%d", b.Host, b.Port) {
				return fmt.Errorf("broker %d advertised to the host as %s:%d, want %s", b.NodeID, b.Host, b.Port, want)
			}
		}
		if len(m.Brokers) != len(clusterBrokers) {
			return fmt.Errorf("metadata lists %d brokers, want %d", len(m.Brokers), len(clusterBrokers))
		}
		return nil
	})
	return leaders, replicas, id
}

// waitIdentical waits until every replica of every partition of topic
// serves, through its own published port, byte for byte the record batches
// its leader serves, from the same log start to the same high watermark,
// with want records (-1: any).
func (c *ccluster) waitIdentical(topic string, want map[int32]int64) {
	c.t.Helper()
	leaders, replicas, id := c.layout(topic)
	c.eventually(60*time.Second, func() error {
		for p, l := range leaders {
			if len(replicas[p]) != 3 {
				return fmt.Errorf("%s/%d: replicas %v, want 3", topic, p, replicas[p])
			}
			ra, err := repltest.Read(c.kafka[l], topic, id, p)
			if err != nil {
				return err
			}
			if n, ok := want[p]; ok && ra.HWM-ra.Start != n {
				return fmt.Errorf("%s/%d on node %d: %d..%d, want %d records", topic, p, l, ra.Start, ra.HWM, n)
			}
			for _, r := range replicas[p] {
				if r == l {
					continue
				}
				rb, err := repltest.Read(c.kafka[r], topic, id, p)
				if err != nil {
					return err
				}
				if err := repltest.Diff(ra, rb); err != nil {
					return fmt.Errorf("%s/%d on nodes %d and %d: %w", topic, p, l, r, err)
				}
			}
		}
		return nil
	})
}

func TestDockerComposeCluster(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the container test needs root (it installs and runs Docker)")
	}
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Dir(filepath.Dir(file))
	c := &ccluster{kafka: map[int32]string{}, http: map[int32]string{}}
	env := append(os.Environ(),
		fmt.Sprintf("COMPOSE_PROJECT_NAME=gregorcluster%d", os.Getpid()),
		"GREGOR_IMAGE="+imageTag,
		"CGO_ENABLED=0",
		// Short enough to watch the ISR change; segments small enough
		// that six preallocated logs do not fill a shared disk. The
		// fail-over intervals (lease, registration, route poll) are
		// gregor's defaults.
		"GREGOR_REPLICA_LAG_TIME_MAX_MS=3000",
		fmt.Sprintf("GREGOR_LOG_SEGMENT_BYTES=%d", 16<<20),
	)
	c.harness = &harness{t: t, root: root, env: env}
	buildImage(c.harness)

	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := c.try("", "docker-compose", "-f", "docker-compose.cluster.yml", "logs", "--no-color", "--tail", "60")
			t.Logf("compose logs:\n%s", logs)
		}
		c.try("", "docker-compose", "-f", "docker-compose.cluster.yml", "down", "-v", "--remove-orphans")
	})
	c.up(env)
	if masters, _ := c.waitGroupsInSync(); masters["a"] != 1 || masters["b"] != 4 {
		t.Fatalf("masters %v, want member 0 of each group (nodes 1 and 4): it begins a fresh group's first term", masters)
	}
	seeds := c.seeds()
	c.waitAllListed()

	// The host (franz-go, through the published ports and host-advertised
	// listeners) creates a topic over both groups, replication factor 3,
	// and produces acks=all: in sync mode each answer means both slaves of
	// the partition's group hold the batch.
	const topic, parts, perPart = "repl", 4, 300
	createTopic(t, c.kafka[2], topic, parts, 3) // through a slave: forwarded
	leaders, _, _ := c.layout(topic)
	groupParts := map[string][]int32{} // group → its partitions
	for p, l := range leaders {
		switch l {
		case 1:
			groupParts["a"] = append(groupParts["a"], p)
		case 4:
			groupParts["b"] = append(groupParts["b"], p)
		default:
			t.Fatalf("%s/%d led by node %d, not a master", topic, p, l)
		}
	}
	if len(groupParts["a"]) == 0 || len(groupParts["b"]) == 0 {
		t.Fatalf("partitions of %s led by %v, want both masters (1 and 4)", topic, leaders)
	}
	for _, ps := range groupParts {
		sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	}
	produce(t, seeds, topic, parts, 0, perPart, true)
	want := map[int32]int64{}
	for p := int32(0); p < parts; p++ {
		want[p] = perPart
	}
	if got := consumeAll(t, seeds, topic); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("host consumed %v, want %v", got, want)
	}

	// A client container on the compose network produces and consumes
	// through the internal listeners (gregor bench e2e, acks=all).
	out := c.compose("run", "--rm", "-T", "client", "bench", "e2e", "--brokers", "broker-a0:19092,broker-b0:19092",
		"--topic", "incompose", "--partitions", "4", "--replication-factor", "3",
		"--records", "4000", "--rate", "2000", "--record-size", "100", "-q", "--json")
	var sum struct {
		Records int64 `json:"records"`
		Errors  int64 `json:"errors"`
		Sent    int64 `json:"sent"`
		Lost    int64 `json:"lost"`
	}
	if err := json.Unmarshal([]byte(out[strings.Index(out, "{"):]), &sum); err != nil || sum.Sent != 4000 || sum.Records != 4000 || sum.Errors != 0 || sum.Lost != 0 {
		t.Fatalf("bench e2e in a client container: %v\n%s", err, out)
	}

	// Every slave serves, from its own port, the bytes its master serves.
	c.waitIdentical(topic, want)
	c.waitIdentical("incompose", nil)

	// Both slaves of group a stop: its ISR shrinks to the master.
	c.compose("stop", "broker-a1", "broker-a2")
	shrunk := c.waitISR(topic, 1, groupParts["a"], 1)
	t.Logf("broker-a1 and broker-a2 stopped; gregor topic describe %s:\n%s", topic, shrunk)
	c.waitISR(topic, 4, groupParts["b"], 4, 5, 6) // group b keeps its slaves
	c.checkStoppedSlavesListed(topic, groupParts["a"], 2, 3)
	// min.insync.replicas=2 in sync mode: acks=all to group a is refused
	// before anything is appended; acks=1 is answered by the master alone.
	if code := rawProduce(t, c.kafka[1], topic, groupParts["a"][0], -1); code != kerr.NotEnoughReplicas.Code {
		t.Fatalf("acks=all to %s/%d with its slaves stopped: code %d, want NOT_ENOUGH_REPLICAS", topic, groupParts["a"][0], code)
	}
	produce(t, seeds, topic, parts, perPart, perPart, false)
	for p := range want {
		want[p] += perPart
	}

	// They start again, catch up and are back in the ISR; they serve the
	// records written while they were away, byte for byte.
	c.compose("start", "broker-a1", "broker-a2")
	grown := c.waitISR(topic, 1, groupParts["a"], 1, 2, 3)
	t.Logf("broker-a1 and broker-a2 started; gregor topic describe %s:\n%s", topic, grown)
	c.waitIdentical(topic, want)

	c.failover(topic, parts, groupParts, want)
}

// up starts the project with free host ports. A port found free can be
// taken before Docker binds it (other tests run beside this one): the
// project then goes down and up again on other ports, at most 3 times.
func (c *ccluster) up(base []string) {
	c.t.Helper()
	for try := 1; ; try++ {
		env := slices.Clone(base)
		for _, b := range clusterBrokers {
			kp, hp := freePort(c.t), freePort(c.t)
			c.kafka[b.node] = fmt.Sprintf("localhost:%d", kp)
			c.http[b.node] = fmt.Sprintf("localhost:%d", hp)
			up := strings.ToUpper(b.group) + fmt.Sprint(b.member)
			env = append(env, fmt.Sprintf("GREGOR_%s_KAFKA_PORT=%d", up, kp), fmt.Sprintf("GREGOR_%s_HTTP_PORT=%d", up, hp))
		}
		c.env = env
		out, err := c.try("", "docker-compose", "-f", "docker-compose.cluster.yml", "up", "-d")
		if err == nil {
			return
		}
		if try == 3 || !strings.Contains(out, "address already in use") {
			c.t.Fatalf("docker-compose up -d: %v\n%s", err, out)
		}
		c.t.Logf("docker-compose up -d: a host port was taken meanwhile; again on other ports")
		c.try("", "docker-compose", "-f", "docker-compose.cluster.yml", "down", "-v", "--remove-orphans")
	}
}

// failover: under an idempotent acks=all producer writing to every
// partition of topic, group a's master container is killed (SIGKILL, a
// crash: its lease runs out) and group b's is stopped (SIGTERM: it steps
// down and releases its lease). In each group an in-sync slave takes over
// with a new epoch, Metadata names it leader, and writes resume. The old
// masters start again and rejoin as slaves of the new terms. Every
// acknowledged record is then read back, exactly once and in order, and
// every member serves the new master's bytes.
func (c *ccluster) failover(topic string, parts int, groupParts map[string][]int32, want map[int32]int64) {
	t := c.t
	old, oldSt := c.waitGroupsInSync()
	l := startLoad(t, c.seeds(), topic, want)
	l.wait(20, "before the fault")

	at := map[string]time.Time{"a": time.Now()}
	c.compose("kill", service(old["a"]))
	at["b"] = time.Now()
	c.compose("stop", service(old["b"]))
	t.Logf("%s killed at %s, %s stopped at %s (the stop took %v)", service(old["a"]), at["a"].Format("15:04:05.000"),
		service(old["b"]), at["b"].Format("15:04:05.000"), time.Since(at["b"]).Round(time.Millisecond))
	promoted, promotedSt := map[string]int32{}, map[string]clusterStatus{}
	c.eventually(60*time.Second, func() error {
		var errs []error
		for _, g := range []string{"a", "b"} {
			if _, ok := promoted[g]; ok {
				continue
			}
			m, st, err := c.masterOf(g, old[g])
			switch {
			case err != nil:
				errs = append(errs, err)
			case st.Epoch <= oldSt[g].Epoch:
				errs = append(errs, fmt.Errorf("group %s: node %d master of epoch %d, not above %d", g, m, st.Epoch, oldSt[g].Epoch))
			default:
				promoted[g], promotedSt[g] = m, st
			}
		}
		return errors.Join(errs...)
	})
	l.wait(20, "after the fail-over")
	for _, g := range []string{"a", "b"} {
		// Each partition's writes wait only for their own group: the
		// longest time without an acknowledgement is how long the
		// group's fail-over held writes up.
		t.Logf("group %s: node %d (%s) master of epoch %d (was node %d, epoch %d); its writes stood still for %v",
			g, promoted[g], service(promoted[g]), promotedSt[g].Epoch, old[g], oldSt[g].Epoch,
			l.gapAfter(at[g], groupParts[g]).Round(time.Millisecond))
	}

	// Metadata, from a promoted member, names the promoted members leaders
	// of their groups' partitions, with the new epochs.
	c.eventually(30*time.Second, func() error {
		m, err := metadataAt(c.kafka[promoted["a"]], topic)
		if err != nil {
			return err
		}
		if len(m.Topics) != 1 {
			return fmt.Errorf("metadata of %s: %d topics", topic, len(m.Topics))
		}
		for _, p := range m.Topics[0].Partitions {
			for g, ps := range groupParts {
				if contains(ps, p.Partition) && (p.Leader != promoted[g] || p.LeaderEpoch != promotedSt[g].Epoch) {
					return fmt.Errorf("%s/%d: leader %d epoch %d, want node %d epoch %d",
						topic, p.Partition, p.Leader, p.LeaderEpoch, promoted[g], promotedSt[g].Epoch)
				}
			}
		}
		return nil
	})

	// A client container (bootstrapped with a list naming the dead) shows
	// each group's ISR as its two live members: min.insync.replicas=2 is
	// still met, which is why acks=all writes go on.
	for _, g := range []string{"a", "b"} {
		var live []int32
		for _, n := range groupNodes(g) {
			if n != old[g] {
				live = append(live, n)
			}
		}
		text := c.waitISR(topic, promoted[g], groupParts[g], live...)
		if g == "a" {
			t.Logf("%s and %s down; gregor topic describe %s:\n%s", service(old["a"]), service(old["b"]), topic, text)
		}
	}

	// The old masters start again (their data is on their volumes) and
	// rejoin as slaves of the new terms, in sync with the new masters.
	c.compose("start", service(old["a"]), service(old["b"]))
	for _, g := range []string{"a", "b"} {
		var st clusterStatus
		c.eventually(90*time.Second, func() error {
			var err error
			if st, err = c.status(old[g]); err != nil {
				return err
			}
			if st.Role != "slave" || st.Epoch != promotedSt[g].Epoch || st.Replica == nil ||
				!st.Replica.Connected || st.Replica.MasterMember != member(promoted[g]) {
				return fmt.Errorf("group %s: old master node %d is %s of epoch %d, replica %+v; want a slave of member %d, epoch %d",
					g, old[g], st.Role, st.Epoch, st.Replica, member(promoted[g]), promotedSt[g].Epoch)
			}
			ms, err := c.status(promoted[g])
			if err != nil {
				return err
			}
			if ms.Role != "master" || ms.Epoch != promotedSt[g].Epoch || !contains(ms.InSync, member(old[g])) {
				return fmt.Errorf("group %s: node %d is %s of epoch %d, in sync %v; want master of epoch %d with member %d in sync",
					g, promoted[g], ms.Role, ms.Epoch, ms.InSync, promotedSt[g].Epoch, member(old[g]))
			}
			return nil
		})
		t.Logf("group %s: node %d rejoined as a slave of epoch %d (%d truncations)", g, old[g], st.Epoch, st.Replica.Truncations)
	}
	// What an operator sees on the compose network (README's sequence).
	var st clusterStatus
	out := c.compose("run", "--rm", "-T", "client", "cluster", "status", "--http", service(old["a"])+":8080")
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.Role != "slave" || st.Epoch != promotedSt["a"].Epoch {
		t.Fatalf("gregor cluster status --http %s:8080: %v; want a slave of epoch %d\n%s", service(old["a"]), err, promotedSt["a"].Epoch, out)
	}
	l.wait(20, "with the old masters back")
	n := l.stop()
	for p := range want {
		want[p] += n[p]
	}
	t.Logf("records acknowledged under load, by partition: %v", n)

	// Nothing acknowledged is lost or doubled: each partition holds exactly
	// the records produced, in order; and every member, the old masters
	// among them, serves the new masters' bytes.
	if got := consumeAll(t, c.seeds(), topic); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("host consumed %v after the fail-over, want %v", got, want)
	}
	c.waitIdentical(topic, want)
}

// load is an idempotent acks=all producer (one client) writing to each
// partition of a topic from its own goroutine, one record at a time, the
// values numbered on from the records the partition holds, until stopped
// between records: the records it counts are exactly the records the
// partitions gain, and a partition's writes never wait for another's.
type load struct {
	t     *testing.T
	mu    sync.Mutex
	parts []int32
	times map[int32][]time.Time // when each record was acknowledged
	err   error
	stopc chan struct{}
	done  sync.WaitGroup
	// abort fails the records in flight and closes the client: a test
	// that failed must not wait for a partition that has no leader.
	abort func()
}

func startLoad(t *testing.T, seeds []string, topic string, from map[int32]int64) *load {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()), // idempotent: franz-go's default
		kgo.MetadataMinAge(250*time.Millisecond),
		kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }),
		kgo.ProduceRequestTimeout(5*time.Second),
		kgo.RecordDeliveryTimeout(2*time.Minute)) // longer than any wait of the test
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var once sync.Once
	l := &load{t: t, times: map[int32][]time.Time{}, stopc: make(chan struct{}),
		abort: func() { once.Do(func() { cancel(); cl.Close() }) }}
	for p, n := range from {
		l.parts = append(l.parts, p)
		l.done.Add(1)
		go func() {
			defer l.done.Done()
			for i := n; ; i++ {
				select {
				case <-l.stopc:
					return
				default:
				}
				r := &kgo.Record{Topic: topic, Partition: p, Key: []byte(fmt.Sprint(i)), Value: []byte(fmt.Sprintf("%s-%d-%d", topic, p, i))}
				if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
					l.mu.Lock()
					l.err = errors.Join(l.err, fmt.Errorf("%s/%d record %d: %w", topic, p, i, err))
					l.mu.Unlock()
					return
				}
				l.mu.Lock()
				l.times[p] = append(l.times[p], time.Now())
				l.mu.Unlock()
				time.Sleep(5 * time.Millisecond) // load, not all of two shared cores
			}
		}()
	}
	go func() { l.done.Wait(); l.abort() }()
	// Before the project goes down (cleanups run last first).
	t.Cleanup(func() { l.abort(); l.halt() })
	return l
}

// halt stops the writers between records and waits for them.
func (l *load) halt() {
	select {
	case <-l.stopc:
	default:
		close(l.stopc)
	}
	l.done.Wait()
}

// counts returns partition → records acknowledged, and the error that
// stopped a writer.
func (l *load) counts() (map[int32]int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[int32]int64{}
	for p, ts := range l.times {
		out[p] = int64(len(ts))
	}
	return out, l.err
}

// wait waits until every partition has n more records acknowledged.
func (l *load) wait(n int64, what string) {
	l.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	start, _ := l.counts()
	for {
		got, err := l.counts()
		if err != nil {
			l.t.Fatalf("%s: the producer failed: %v", what, err)
		}
		var behind []string
		for _, p := range l.parts {
			if got[p] < start[p]+n {
				behind = append(behind, fmt.Sprintf("partition %d: %d", p, got[p]-start[p]))
			}
		}
		if len(behind) == 0 {
			return
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("%s: acknowledged in %v: %s; want %d each", what, 90*time.Second, strings.Join(behind, ", "), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop stops the writers between records and returns partition → records
// acknowledged.
func (l *load) stop() map[int32]int64 {
	l.t.Helper()
	l.halt()
	n, err := l.counts()
	if err != nil {
		l.t.Fatalf("the producer failed: %v", err)
	}
	return n
}

// gapAfter is the longest time from at on without an acknowledgement on
// some partition of parts.
func (l *load) gapAfter(at time.Time, parts []int32) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	var gap time.Duration
	for _, p := range parts {
		prev := at
		for _, x := range l.times[p] {
			if x.After(at) {
				gap = max(gap, x.Sub(prev))
				prev = x
			}
		}
	}
	return gap
}

// metadataAt asks the broker at addr itself for topics' metadata.
func metadataAt(addr string, topics ...string) (*kmsg.MetadataResponse, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req := kmsg.NewPtrMetadataRequest()
	for _, tn := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(tn)
		req.Topics = append(req.Topics, rt)
	}
	resp, err := cl.SeedBrokers()[0].Request(ctx, req)
	if err != nil {
		return nil, err
	}
	return resp.(*kmsg.MetadataResponse), nil
}

// createTopic creates topic through the broker at addr.
func createTopic(t *testing.T, addr, topic string, parts int32, rf int16) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, parts, rf
	req.Topics = []kmsg.CreateTopicsRequestTopic{rt}
	req.TimeoutMillis = 20000
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("create %s: %v", topic, err)
	}
	if code := resp.Topics[0].ErrorCode; code != 0 {
		t.Fatalf("create %s: %v", topic, kerr.ErrorForCode(code))
	}
}

// produce writes n records numbered from to each partition of topic,
// acks=all (idempotent) or acks=1.
func produce(t *testing.T, seeds []string, topic string, parts, from, n int, all bool) {
	t.Helper()
	opts := []kgo.Opt{kgo.SeedBrokers(seeds...), kgo.RecordPartitioner(kgo.ManualPartitioner())}
	if !all {
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var recs []*kgo.Record
	for i := from; i < from+n; i++ {
		for p := 0; p < parts; p++ {
			recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(p), Key: []byte(fmt.Sprint(i)), Value: []byte(fmt.Sprintf("%s-%d-%d", topic, p, i))})
		}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce %s from %d (acks all %v): %v", topic, from, all, err)
	}
}

// consumeAll reads topic from the start until every partition's end and
// returns partition → records, checking each partition's values arrive in
// the order they were produced.
func consumeAll(t *testing.T, seeds []string, topic string) map[int32]int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	got := map[int32]int64{}
	idle := 0
	for idle < 3 {
		fctx, fcancel := context.WithTimeout(ctx, 2*time.Second)
		fs := cl.PollFetches(fctx)
		fcancel()
		if ctx.Err() != nil {
			t.Fatalf("consume %s: %v (so far %v)", topic, ctx.Err(), got)
		}
		n := 0
		fs.EachError(func(_ string, _ int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("consume %s: %v", topic, err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			if want := fmt.Sprintf("%s-%d-%d", topic, r.Partition, got[r.Partition]); string(r.Value) != want {
				t.Fatalf("%s/%d@%d: %q, want %q", topic, r.Partition, r.Offset, r.Value, want)
			}
			got[r.Partition]++
			n++
		})
		if n == 0 {
			idle++
		} else {
			idle = 0
		}
	}
	return got
}

// rawProduce sends one record to partition p of topic at addr with acks and
// returns the partition's error code.
func rawProduce(t *testing.T, addr, topic string, p int32, acks int16) int16 {
	t.Helper()
	code, err := repltest.Produce(addr, topic, p, acks, 5*time.Second, []byte("refused"))
	if err != nil {
		t.Fatalf("produce to %s: %v", addr, err)
	}
	return code
}
