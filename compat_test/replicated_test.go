package compat

// The replicated target, gregor-repl: one NameServer and a broker group of
// master + slave, each a real gregor process, in replication.mode=sync. The
// clients talk to the master; every acks=all produce is answered only once
// the in-sync slave holds it, and consumers read below the high watermark
// both members share. After the scenarios, checkSlaveIdentical compares
// every partition the master holds with the slave's copy, batch for batch
// from the log start.

import (
	"bytes"
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

	"github.com/twmb/franz-go/pkg/kerr"
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
			n, err := comparePartition(ctx, mc, *t.Topic, p.Partition)
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
// reach the same high watermark, then compares the batches.
func comparePartition(ctx context.Context, cl *kgo.Client, topic string, part int32) (int, error) {
	for {
		m, mStart, mHWM, err := fetchAll(ctx, cl.Broker(1), topic, part)
		if err != nil {
			return 0, fmt.Errorf("master: %w", err)
		}
		s, sStart, sHWM, err := fetchAll(ctx, cl.Broker(2), topic, part)
		if err != nil {
			return 0, fmt.Errorf("slave: %w", err)
		}
		if mHWM == sHWM {
			if mStart != sStart {
				return 0, fmt.Errorf("log start %d on the master, %d on the slave", mStart, sStart)
			}
			if !bytes.Equal(m, s) {
				return 0, fmt.Errorf("the batches differ (%d bytes on the master, %d on the slave, high watermark %d)", len(m), len(s), mHWM)
			}
			return countBatches(m), nil
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("high watermark %d on the master, %d on the slave after waiting", mHWM, sHWM)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// fetchAll reads a partition from its log start to its high watermark with
// raw ListOffsets and Fetch requests (a consumer's) sent to one member,
// returning the concatenated batch bytes.
func fetchAll(ctx context.Context, br *kgo.Broker, topic string, part int32) ([]byte, int64, int64, error) {
	lo := kmsg.NewPtrListOffsetsRequest()
	lt := kmsg.NewListOffsetsRequestTopic()
	lt.Topic = topic
	lp := kmsg.NewListOffsetsRequestTopicPartition()
	lp.Partition, lp.Timestamp, lp.CurrentLeaderEpoch = part, -2, -1
	lt.Partitions = append(lt.Partitions, lp)
	lo.Topics = append(lo.Topics, lt)
	lr, err := lo.RequestWith(ctx, br)
	if err != nil {
		return nil, 0, 0, err
	}
	if len(lr.Topics) != 1 || len(lr.Topics[0].Partitions) != 1 {
		return nil, 0, 0, fmt.Errorf("ListOffsets answered %d topics", len(lr.Topics))
	}
	if code := lr.Topics[0].Partitions[0].ErrorCode; code != 0 {
		return nil, 0, 0, fmt.Errorf("ListOffsets: %v", kerr.ErrorForCode(code))
	}
	start := lr.Topics[0].Partitions[0].Offset
	var out []byte
	offset := start
	for {
		f := kmsg.NewPtrFetchRequest()
		f.Version = 12 // topics by name
		f.MaxBytes, f.MaxWaitMillis, f.ReplicaID, f.SessionEpoch = 1<<20, 0, -1, -1
		ft := kmsg.NewFetchRequestTopic()
		ft.Topic = topic
		fp := kmsg.NewFetchRequestTopicPartition()
		fp.Partition, fp.FetchOffset, fp.PartitionMaxBytes, fp.CurrentLeaderEpoch = part, offset, 1<<20, -1
		ft.Partitions = append(ft.Partitions, fp)
		f.Topics = append(f.Topics, ft)
		r, err := br.Request(ctx, pinned{f})
		if err != nil {
			return nil, 0, 0, err
		}
		fr := r.(*kmsg.FetchResponse)
		if fr.ErrorCode != 0 || len(fr.Topics) != 1 || len(fr.Topics[0].Partitions) != 1 {
			return nil, 0, 0, fmt.Errorf("Fetch: %v", kerr.ErrorForCode(fr.ErrorCode))
		}
		rp := fr.Topics[0].Partitions[0]
		if rp.ErrorCode != 0 {
			return nil, 0, 0, fmt.Errorf("Fetch at offset %d: %v", offset, kerr.ErrorForCode(rp.ErrorCode))
		}
		next, whole := lastWholeBatch(rp.RecordBatches)
		out = append(out, rp.RecordBatches[:whole]...)
		if whole == 0 || next >= rp.HighWatermark {
			return out, start, rp.HighWatermark, nil
		}
		offset = next
	}
}

// lastWholeBatch returns the offset after the last whole batch in b and the
// length of the whole batches.
func lastWholeBatch(b []byte) (next int64, n int) {
	for len(b)-n >= 61 {
		base := int64(beUint64(b[n:]))
		length := int(int32(beUint32(b[n+8:])))
		if len(b)-n < 12+length {
			break
		}
		lastDelta := int64(int32(beUint32(b[n+23:])))
		next = base + lastDelta + 1
		n += 12 + length
	}
	return next, n
}

func countBatches(b []byte) int {
	c := 0
	for len(b) >= 12 {
		b = b[12+int(int32(beUint32(b[8:]))):]
		c++
	}
	return c
}

func beUint64(b []byte) uint64 { return uint64(beUint32(b))<<32 | uint64(beUint32(b[4:])) }
func beUint32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// pinned sends a request at the version it carries (kgo would pick the
// highest both sides know).
type pinned struct{ kmsg.Request }

func (p pinned) MaxVersion() int16 { return p.GetVersion() }
