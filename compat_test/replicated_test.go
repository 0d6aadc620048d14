package compat

// The replicated target, gregor-repl: one NameServer and a broker group of
// master + slave, each a real gregor process, in replication.mode=sync. The
// clients talk to the master; every acks=all produce is answered only once
// the in-sync slave holds it, and consumers read below the high watermark
// both members share. After the scenarios, checkSlaveIdentical compares
// every partition the master holds with the slave's copy, batch for batch
// from the log start.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/gregor-broker/gregor/internal/repltest"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// replProc is one process of the replicated target.
type replProc struct {
	name, log string
	cmd       *exec.Cmd
	done      chan struct{}
}

func startReplProc(bin, name string, args ...string) (*replProc, error) {
	p := &replProc{name: name, log: filepath.Join(workDir, name+".log")}
	logf, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	// A test binary that panics never runs tg.stop: its processes go with it.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	p.done = make(chan struct{})
	go func() { p.cmd.Wait(); logf.Close(); close(p.done) }()
	return p, nil
}

func (p *replProc) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// replTarget holds what checkSlaveIdentical needs.
var replTarget struct {
	master string // the master's Kafka address
	procs  []*replProc
}

// startReplicated starts the NameServer, the master (member 0) and the slave
// (member 1), and waits until the slave is in sync.
func startReplicated() *target {
	tg := &target{name: "gregor-repl"}
	bin, err := gregorBinary()
	if err != nil {
		tg.down = err.Error()
		return tg
	}
	var ports [6]int
	for i := range ports {
		if ports[i], err = freePort(); err != nil {
			tg.down = err.Error()
			return tg
		}
	}
	ns := fmt.Sprintf("127.0.0.1:%d", ports[0])
	nsProc, err := startReplProc(bin, "repl-ns", "nameserver", "--listen", ns,
		"--scan-interval", "200ms", "--expiry", "3s", "--logger.level", "warn")
	if err != nil {
		tg.down = err.Error()
		return tg
	}
	procs := []*replProc{nsProc}
	tg.stop = func() {
		for i := len(procs) - 1; i >= 0; i-- {
			procs[i].stop()
		}
	}
	member := func(id int, kafka, httpPort int) (*replProc, error) {
		return startReplProc(bin, fmt.Sprintf("repl-member%d", id), "broker",
			"--cluster", "compat", "--broker-name", "g", "--broker-id", strconv.Itoa(id),
			"--node-id", strconv.Itoa(id+1),
			"--nameservers", ns,
			"--register-interval", "200ms", "--route-refresh-interval", "200ms",
			fmt.Sprintf("--listeners=PLAINTEXT://127.0.0.1:%d", kafka),
			fmt.Sprintf("--http.listener=127.0.0.1:%d", httpPort),
			"--replication.listener=127.0.0.1:0",
			"--replication.mode=sync",
			"--data-dir", filepath.Join(workDir, fmt.Sprintf("repl-data%d", id)),
			"--num.partitions=1",
			"--auto.create.topics.enable=true",
			"--group.initial.rebalance.delay.ms=0",
			"--group.min.session.timeout.ms=1000",
			"--group.consumer.heartbeat.interval.ms=500", // KIP-848: as scripts/kafka.sh sets Kafka
			"--group.consumer.session.timeout.ms=10000",
			"--group.consumer.min.session.timeout.ms=1000", "--group.consumer.min.heartbeat.interval.ms=100",
			"--quota.window.num=2", // short quota windows, as the reference has (quota_test.go)
			"--logger.level", "info",
		)
	}
	for id := 0; id < 2; id++ {
		p, err := member(id, ports[1+2*id], ports[2+2*id])
		if err != nil {
			tg.down = err.Error()
			return tg
		}
		procs = append(procs, p)
	}
	replTarget.procs = procs
	replTarget.master = fmt.Sprintf("127.0.0.1:%d", ports[1])
	tg.addr = replTarget.master
	// In sync: the master's status lists member 1.
	status := fmt.Sprintf("http://127.0.0.1:%d/cluster/status", ports[2])
	deadline := time.Now().Add(60 * time.Second)
	for {
		st, err := getJSON[struct {
			Role   string  `json:"role"`
			InSync []int64 `json:"in_sync"`
		}](status)
		if err == nil && st.Role == "master" && len(st.InSync) > 0 {
			return tg
		}
		if time.Now().After(deadline) {
			tg.down = fmt.Sprintf("the slave did not join the ISR within 60s (last status %+v, %v)", st, err)
			return tg
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// gregorBinary is the binary the gregor target built (or GREGOR_BIN).
func gregorBinary() (string, error) {
	if bin := os.Getenv("GREGOR_BIN"); bin != "" {
		return bin, nil
	}
	bin := filepath.Join(workDir, "gregor")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	build := exec.Command("go", "build", "-o", bin, "./cmd/gregor")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/gregor: %v: %s", err, out)
	}
	return bin, nil
}

func getJSON[T any](url string) (T, error) {
	var v T
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return v, err
	}
	defer resp.Body.Close()
	return v, json.NewDecoder(resp.Body).Decode(&v)
}

// checkSlaveIdentical compares every partition of every topic on the
// master with the slave: same log start and high watermark, and the same
// record batches, byte for byte, from the log start. It waits (bounded) for
// the slave's high watermark to reach the master's.
func checkSlaveIdentical() error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	mc, err := kgo.NewClient(kgo.SeedBrokers(replTarget.master))
	if err != nil {
		return err
	}
	defer mc.Close()
	meta, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, mc)
	if err != nil {
		return err
	}
	var parts, batches int
	for _, t := range meta.Topics {
		if t.Topic == nil || t.IsInternal {
			continue
		}
		for _, p := range t.Partitions {
			n, err := comparePartition(ctx, mc, *t.Topic, t.TopicID, p.Partition)
			if err != nil {
				return fmt.Errorf("%s/%d: %w", *t.Topic, p.Partition, err)
			}
			parts++
			batches += n
		}
	}
	if parts == 0 {
		return fmt.Errorf("the master holds no partitions: nothing was compared")
	}
	results.notes = append(results.notes, fmt.Sprintf(
		"gregor-repl: the slave holds every partition the master holds (%d partitions, %d batches compared byte for byte from each log start)", parts, batches))
	return nil
}

// comparePartition fetches topic/partition from both members until both
// reach the same high watermark, then compares the batches
// (internal/repltest).
func comparePartition(ctx context.Context, cl *kgo.Client, topic string, id [16]byte, part int32) (int, error) {
	for {
		m, err := repltest.ReadBroker(ctx, cl.Broker(1), topic, id, part)
		if err != nil {
			return 0, fmt.Errorf("master: %w", err)
		}
		s, err := repltest.ReadBroker(ctx, cl.Broker(2), topic, id, part)
		if err != nil {
			return 0, fmt.Errorf("slave: %w", err)
		}
		if m.HWM == s.HWM {
			if err := repltest.Diff(m, s); err != nil {
				return 0, fmt.Errorf("master and slave: %w", err)
			}
			return m.NumBatches, nil
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("high watermark %d on the master, %d on the slave after waiting", m.HWM, s.HWM)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
