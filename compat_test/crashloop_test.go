package compat

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestCrashLoop SIGKILLs a real gregor process again and again while an
// idempotent acks=all franz-go producer writes to it and a group member
// reads and commits, once per flush mode (log.flush.mode async and sync),
// CRASH_CYCLES times each (default 30). Every kill lands while the producer
// has Produce requests written and not yet answered (the client counts them
// with its hooks and the test waits for at least one before killing); the
// broker restarts on the same data folder and port after each kill.
//
// What must hold: after every restart, each partition's committed offset is
// at least the last commit the broker acknowledged before the kill; at the
// end, after the producer has flushed, the topic holds every record exactly
// once (no acknowledged record lost, none duplicated by the retries of
// unanswered requests), in the order written within each partition, at the
// offsets the client was told, with no gaps, and the producer saw no error.
//
// SIGKILL keeps the page cache, so in async mode this proves recovery and
// idempotence across restarts, not fsync; the power-loss bound of async
// flush is storage's to show.
func TestCrashLoop(t *testing.T) {
	const client = "gregor process"
	cycles := 30
	if s := os.Getenv("CRASH_CYCLES"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("CRASH_CYCLES=%q: want a positive number", s)
		}
		cycles = n
	}
	var bin string
	for _, tg := range targets {
		if tg.proc != nil {
			bin = tg.proc.bin
		}
	}
	for _, mode := range []string{"async", "sync"} {
		scenario := fmt.Sprintf("SIGKILL ×%d under an idempotent acks=all producer and a committing group member (log.flush.mode=%s)", cycles, mode)
		for _, tg := range targets {
			if tg.name != "gregor" {
				results.set(client, scenario, tg.name, "n/a")
			}
		}
		t.Run(mode, func(t *testing.T) {
			defer func() {
				switch {
				case t.Failed():
					results.set(client, scenario, "gregor", "FAIL")
				case !t.Skipped():
					results.set(client, scenario, "gregor", "pass")
				}
			}()
			if bin == "" {
				results.set(client, scenario, "gregor", "skip: no gregor binary")
				t.Skip("the gregor target is not running (COMPAT_TARGETS), so there is no binary to kill")
			}
			crashLoop(t, bin, mode, cycles)
		})
	}
}

// produceFlight counts the producer's Produce requests with its hooks:
// written is every request written in full, answered every one whose
// response was read. Their difference is what is in flight, plus the
// requests a killed broker never answered (which the loop subtracts).
type produceFlight struct {
	written, answered atomic.Int64
}

func (f *produceFlight) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if key == int16(kmsg.Produce) && err == nil {
		f.written.Add(1)
	}
}

func (f *produceFlight) OnBrokerRead(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if key == int16(kmsg.Produce) && err == nil {
		f.answered.Add(1)
	}
}

func (f *produceFlight) open() int64 { return f.written.Load() - f.answered.Load() }

func crashLoop(t *testing.T, bin, mode string, cycles int) {
	const parts = 3
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	px, err := newCutProxy(fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer px.close()
	dir := filepath.Join(workDir, "crashloop-"+mode)
	p := &gregorProc{bin: bin, dataDir: filepath.Join(dir, "data"), port: port, advertised: px.port(),
		logPath: filepath.Join(dir, "gregor.log"), extra: []string{"--log.flush.mode=" + mode, "--log.flush.interval.ms=50",
			// Small segments: the loop writes a few MiB, so kills also land
			// around segment rolls, and the data folder stays small.
			"--log.segment.bytes=2097152"}}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := p.start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		p.kill(syscall.SIGTERM)
		if summary, crashed := scanLog(p.logPath); crashed {
			t.Errorf("the gregor log shows a panic or fatal error: %s", summary)
		}
	}()
	tg := &target{name: "gregor-crashloop-" + mode, addr: fmt.Sprintf("127.0.0.1:%d", px.port()), proc: p}
	waitServing(t, tg)
	topic := newTopic(t, tg, "crashloop-"+mode, parts)
	group := uniq("g-crashloop")
	src := "crash-" + mode

	// The producer: idempotent (franz-go's default) with acks=all, up to 5
	// requests in flight, retrying for as long as the loop runs. One
	// record per Produce call, partition i%3, about 4,000 records/s.
	flight := &produceFlight{}
	pcl := newClient(t, tg, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0), kgo.RecordDeliveryTimeout(2*time.Minute),
		kgo.RetryBackoffFn(func(int) time.Duration { return 20 * time.Millisecond }), kgo.MetadataMinAge(100*time.Millisecond),
		kgo.WithHooks(flight))
	var (
		mu      sync.Mutex
		acked   int
		errs    []error
		records []*kgo.Record
		wg      sync.WaitGroup
	)
	// stopNow ends the producer and the group member, also when the test
	// stops early (a producer left running on a closed client would spin).
	stop := make(chan struct{})
	var stopOnce sync.Once
	stopNow := func() { stopOnce.Do(func() { close(stop) }) }
	defer stopNow()
	producing := make(chan struct{})
	go func() {
		defer close(producing)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			r := &kgo.Record{Partition: int32(i % parts), Key: []byte(fmt.Sprintf("k-%d", i%7)), Value: []byte(fmt.Sprintf("%s-%d", src, i)),
				Headers: []kgo.RecordHeader{{Key: "idx", Value: []byte(strconv.Itoa(i))}, {Key: "client", Value: []byte(src)}}}
			mu.Lock()
			records = append(records, r)
			mu.Unlock()
			wg.Add(1)
			pcl.Produce(context.Background(), r, func(_ *kgo.Record, err error) {
				defer wg.Done()
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, err)
				} else {
					acked++
				}
			})
			if i%4 == 3 {
				time.Sleep(time.Millisecond)
			}
		}
	}()
	ackedNow := func() int { mu.Lock(); defer mu.Unlock(); return acked }

	// The group member: polls and commits; commitMu keeps it from
	// committing while the loop kills and checks (so the check sees the
	// broker's state, not a fresh commit made after the restart).
	var (
		commitMu  sync.Mutex
		committed = map[int32]int64{} // acknowledged commits
		consumed  atomic.Int64
	)
	ccl := newClient(t, tg, kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond),
		kgo.SessionTimeout(6*time.Second), kgo.HeartbeatInterval(200*time.Millisecond), kgo.RebalanceTimeout(10*time.Second),
		kgo.RetryBackoffFn(func(int) time.Duration { return 20 * time.Millisecond }), kgo.MetadataMinAge(100*time.Millisecond))
	consuming := make(chan struct{})
	go func() {
		defer close(consuming)
		for {
			select {
			case <-stop:
				return
			default:
			}
			commitMu.Lock()
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			fs := ccl.PollFetches(ctx)
			consumed.Add(int64(fs.NumRecords()))
			offs := ccl.UncommittedOffsets()
			if len(offs) > 0 {
				cctx, ccancel := context.WithTimeout(context.Background(), 2*time.Second)
				ccl.CommitOffsetsSync(cctx, offs, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
					if err != nil {
						return
					}
					for _, rt := range resp.Topics {
						for _, rp := range rt.Partitions {
							if rp.ErrorCode == 0 && rt.Topic == topic {
								committed[rp.Partition] = offs[topic][rp.Partition].Offset
							}
						}
					}
				})
				ccancel()
			}
			cancel()
			commitMu.Unlock()
		}
	}()

	adm := kadm.NewClient(newClient(t, tg, kgo.RetryBackoffFn(func(int) time.Duration { return 20 * time.Millisecond })))
	var inFlight, unanswered, withheld []int64
	var lost int64 // requests unanswered by earlier kills
	start := time.Now()
	for c := 0; c < cycles; c++ {
		// Produce for a moment on this incarnation of the broker: at
		// least 100 new acknowledgements and 100-400 ms.
		base := ackedNow()
		window := time.Now().Add(time.Duration(100+rand.IntN(300)) * time.Millisecond)
		deadline := time.Now().Add(30 * time.Second)
		for ackedNow() < base+100 || time.Now().Before(window) {
			if time.Now().After(deadline) {
				t.Fatalf("cycle %d: %d acknowledgements in 30s after the restart, want 100", c, ackedNow()-base)
			}
			time.Sleep(5 * time.Millisecond)
		}

		commitMu.Lock()
		want := make(map[int32]int64, len(committed))
		for p, o := range committed {
			want[p] = o
		}
		// Kill with Produce requests in flight, at least one of them
		// appended and acknowledged by the broker with the answer held
		// back by the proxy: the producer must retry it after the
		// restart, and the restarted broker must know it for a duplicate.
		px.cut()
		for wait := time.Now().Add(5 * time.Second); px.withheldProduce() == 0; {
			if time.Now().After(wait) {
				commitMu.Unlock()
				t.Fatalf("cycle %d: the broker answered no Produce request within 5s of the cut", c)
			}
			time.Sleep(time.Millisecond)
		}
		open := flight.open() - lost
		withheld = append(withheld, px.withheldProduce())
		p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
		// The proxy closes the clients' connections when the broker's end
		// dies; what the producer wrote and never got an answer for is
		// what the kill cut off. The client's hooks run on its own
		// goroutines, so read the count once it has settled (the same over
		// 50ms; at most 2s on a busy machine).
		nowLost := flight.open()
		for settle := time.Now().Add(2 * time.Second); time.Now().Before(settle); {
			time.Sleep(50 * time.Millisecond)
			n := flight.open()
			if n == nowLost {
				break
			}
			nowLost = n
		}
		inFlight = append(inFlight, open)
		unanswered = append(unanswered, nowLost-lost)
		lost = nowLost
		px.reopen()
		if err := p.start(); err != nil {
			commitMu.Unlock()
			t.Fatalf("cycle %d: restart after SIGKILL: %v", c, err)
		}
		checkCommittedAtLeast(t, adm, c, group, topic, want)
		commitMu.Unlock()
		if t.Failed() {
			break
		}
	}
	t.Logf("%s: %d SIGKILLs in %v; at each kill, Produce requests open in the client %v, of them answered by the broker and held back %v, "+
		"never answered %v; %d records acknowledged, %d consumed by the group member",
		mode, len(inFlight), time.Since(start).Round(time.Millisecond), inFlight, withheld, unanswered, ackedNow(), consumed.Load())
	results.mu.Lock()
	results.notes = append(results.notes, fmt.Sprintf("crash loop, log.flush.mode=%s: %d SIGKILLs; Produce requests open in the client at the kills %d–%d, "+
		"answered by the broker but held back %d–%d (every answer the producer never got is a retry the restarted broker had to recognise)",
		mode, len(inFlight), slices.Min(inFlight), slices.Max(inFlight), slices.Min(withheld), slices.Max(withheld)))
	results.mu.Unlock()

	stopNow()
	<-producing
	<-consuming
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		t.Fatalf("the producer did not finish within 2 minutes of the last restart (%d of %d acknowledged)", ackedNow(), len(records))
	}
	mu.Lock()
	if len(errs) > 0 {
		t.Errorf("%d records failed; first: %v", len(errs), errs[0])
	}
	acks := make([]rec, len(records))
	for i, r := range records {
		acks[i] = toRec(r)
	}
	mu.Unlock()
	checkLog(t, tg, topic, src, len(acks), acks, func(i int) map[string]string {
		return map[string]string{"idx": strconv.Itoa(i), "client": src}
	}, false)
	// Each kill had an answered Produce request held back (the proxy
	// counted it); the client's own count is a report, exact only when its
	// goroutines kept up, but over the whole loop it must show the cuts.
	if total := sumInt64(unanswered); total < int64(len(unanswered)) {
		t.Errorf("the producer's hooks saw only %d unanswered Produce requests over %d kills %v, though every kill cut off at least one",
			total, len(unanswered), unanswered)
	}
}

func sumInt64(xs []int64) int64 {
	var n int64
	for _, x := range xs {
		n += x
	}
	return n
}

// waitServing waits until tg answers ApiVersions (through the proxy), so the
// first admin request does not meet a broker that is still starting.
func waitServing(t *testing.T, tg *target) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := apiVersions(tg.addr)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not answer ApiVersions within 30s: %v", tg.addr, err)
		}
		t.Logf("%s not serving yet: %v", tg.addr, err)
		time.Sleep(100 * time.Millisecond)
	}
}

// checkCommittedAtLeast checks that group's committed offset of each
// partition in want is at least want's (the last commit acknowledged before
// the kill; a commit cut off by the kill may have landed too).
func checkCommittedAtLeast(t *testing.T, adm *kadm.Client, cycle int, group, topic string, want map[int32]int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var resp kadm.OffsetResponses
	var err error
	for {
		// Right after a restart the coordinator may still be loading.
		if resp, err = adm.FetchOffsets(ctx, group); err == nil || ctx.Err() != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Errorf("cycle %d: fetch offsets of %s after the restart: %v", cycle, group, err)
		return
	}
	for p, w := range want {
		o, ok := resp.Lookup(topic, p)
		if !ok || o.Err != nil || o.At < w {
			t.Errorf("cycle %d: group %s committed %s/%d = %d (%v, found %v) after the restart; %d was acknowledged before the kill",
				cycle, group, topic, p, o.At, o.Err, ok, w)
		}
	}
}

// cutProxy stands between the crash loop's clients and its broker (the
// broker advertises the proxy's port). cut makes it hold back the broker's
// answers while still passing requests on, so the broker appends batches
// whose acknowledgements never reach the producer; a kill after that is a
// crash between "stored" and "acknowledged", which in async flush mode
// otherwise lasts only microseconds. When the broker's end of a connection
// dies the proxy closes the client's end; reopen lets answers through again
// for the connections made after the restart.
type cutProxy struct {
	ln       net.Listener
	backend  string
	mu       sync.Mutex
	cutNow   bool
	withheld atomic.Int64 // Produce answers held back since the last cut
}

func newCutProxy(backend string) (*cutProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	px := &cutProxy{ln: ln, backend: backend}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go px.handle(c)
		}
	}()
	return px, nil
}

func (px *cutProxy) port() int              { return px.ln.Addr().(*net.TCPAddr).Port }
func (px *cutProxy) close()                 { px.ln.Close() }
func (px *cutProxy) withheldProduce() int64 { return px.withheld.Load() }

func (px *cutProxy) cut() {
	px.mu.Lock()
	defer px.mu.Unlock()
	px.cutNow = true
	px.withheld.Store(0)
}

func (px *cutProxy) reopen() {
	px.mu.Lock()
	defer px.mu.Unlock()
	px.cutNow = false
}

func (px *cutProxy) isCut() bool {
	px.mu.Lock()
	defer px.mu.Unlock()
	return px.cutNow
}

// handle forwards one connection frame by frame, remembering the API key
// of each request by correlation id to know which answers are Produce's.
func (px *cutProxy) handle(c net.Conn) {
	defer c.Close()
	b, err := net.Dial("tcp", px.backend)
	if err != nil {
		return
	}
	defer b.Close()
	var keys sync.Map // correlation id → API key
	go func() {
		defer c.Close()
		defer b.Close()
		for {
			frame, err := readProxyFrame(b)
			if err != nil {
				return
			}
			if px.isCut() {
				if k, ok := keys.Load(int32(binary.BigEndian.Uint32(frame[4:8]))); ok && k.(int16) == int16(kmsg.Produce) {
					px.withheld.Add(1)
				}
				continue
			}
			if _, err := c.Write(frame); err != nil {
				return
			}
		}
	}()
	for {
		frame, err := readProxyFrame(c)
		if err != nil {
			return
		}
		if len(frame) >= 12 {
			keys.Store(int32(binary.BigEndian.Uint32(frame[8:12])), int16(binary.BigEndian.Uint16(frame[4:6])))
		}
		if _, err := b.Write(frame); err != nil {
			return
		}
	}
}

// readProxyFrame reads one size-prefixed frame and returns it with its
// prefix.
func readProxyFrame(r io.Reader) ([]byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		return nil, err
	}
	n := int32(binary.BigEndian.Uint32(size[:]))
	if n < 4 || n > 256<<20 {
		return nil, fmt.Errorf("frame size %d", n)
	}
	frame := make([]byte, 4+n)
	copy(frame, size[:])
	if _, err := io.ReadFull(r, frame[4:]); err != nil {
		return nil, err
	}
	return frame, nil
}
