// Package compat is gregor's client matrix: black-box tests that drive real
// Kafka clients against two targets, a real Apache Kafka 4.1+ broker (one
// KRaft node started by scripts/kafka.sh) and a real gregor process, each
// scenario on fresh topics. The tests encode Kafka's behaviour, so every
// scenario must pass against Kafka; where gregor answers differently the test
// fails on the gregor target and names the difference.
//
// Go clients (franz-go, sarama, kafka-go, confluent-kafka-go) run in the test
// process; the others run as processes: kcat, the Java program in java/, the
// Python script in py/, the kafkajs script in js/. Every external program
// prints one JSON object per line; the expectations live here.
//
// The run writes a client × scenario × target table to the log and to
// results.md beside this file (COMPAT_RESULTS overrides the path).
//
// Environment:
//
//	COMPAT_TARGETS   comma-separated subset of
//	                 "kafka,gregor,gregor-inproc,gregor-repl" (default all
//	                 four; gregor-inproc, a broker inside the test process,
//	                 serves only the Go clients; gregor-repl is a NameServer
//	                 and a master + slave group in replication.mode=sync,
//	                 replicated_test.go)
//	GREGOR_CACHE     where scripts/install-deps.sh put the venv and Kafka jars
//	GREGOR_BIN       a prebuilt gregor binary (default: go build ./cmd/gregor)
//	COMPAT_CAPTURE   a folder: record the clients' requests to gregor there as
//	                 fuzz seeds (capture_test.go)
//	COMPAT_KEEP      keep the run's folder (broker logs and data)
//	CRASH_CYCLES     SIGKILLs per flush mode in TestCrashLoop (default 30)
package compat

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// target is one broker the scenarios run against.
type target struct {
	name string // "kafka", "gregor" or "gregor-inproc"
	// inproc: the broker runs inside the test process; only the Go
	// clients' scenarios (matrixGo) run against it.
	inproc bool
	addr   string // bootstrap host:port
	// down says why the target could not be started; scenarios on it fail
	// with this text.
	down string
	// apis is what the broker advertised in ApiVersions: key → [min, max].
	apis map[int16][2]int16
	// stop ends the broker process.
	stop func()
	// proc is the gregor process (nil for Kafka), for the crash test.
	proc *gregorProc
}

var (
	repoRoot string
	cacheDir string
	workDir  string // temporary folder of this run
	targets  []*target
)

func TestMain(m *testing.M) {
	code := run(m)
	os.Exit(code)
}

func run(m *testing.M) int {
	_, file, _, _ := runtime.Caller(0)
	repoRoot = filepath.Dir(filepath.Dir(file))
	cacheDir = os.Getenv("GREGOR_CACHE")
	if cacheDir == "" {
		home, _ := os.UserHomeDir()
		cacheDir = filepath.Join(home, ".cache", "gregor")
	}
	var err error
	workDir, err = os.MkdirTemp("", "gregor-compat-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "compat:", err)
		return 1
	}
	if os.Getenv("COMPAT_KEEP") == "" {
		defer os.RemoveAll(workDir)
	} else {
		fmt.Println("compat: keeping", workDir)
	}

	want := os.Getenv("COMPAT_TARGETS")
	if want == "" {
		want = "kafka,gregor,gregor-inproc,gregor-repl"
	}
	for _, name := range strings.Split(want, ",") {
		var tg *target
		switch strings.TrimSpace(name) {
		case "kafka":
			tg = startKafka()
		case "gregor":
			tg = startGregor()
		case "gregor-inproc":
			tg = startInproc()
		case "gregor-repl":
			tg = startReplicated()
		default:
			fmt.Fprintf(os.Stderr, "compat: unknown target %q in COMPAT_TARGETS\n", name)
			return 2
		}
		if tg.down == "" {
			tg.apis, err = apiVersions(tg.addr)
			if err != nil {
				tg.down = "ApiVersions failed: " + err.Error()
			}
		}
		if tg.down != "" {
			fmt.Fprintf(os.Stderr, "compat: target %s is down: %s\n", tg.name, tg.down)
		}
		targets = append(targets, tg)
	}
	code := m.Run()
	stopSecure() // the secure twins of security_test.go
	for _, tg := range targets {
		if tg.name == "gregor-repl" && tg.down == "" && code == 0 {
			if err := checkSlaveIdentical(); err != nil {
				fmt.Fprintln(os.Stderr, "compat: gregor-repl: the slave's copy differs:", err)
				results.notes = append(results.notes, "gregor-repl: FAIL: the slave's copy differs: "+err.Error())
				code = 1
			}
		}
	}
	for _, tg := range targets {
		if tg.stop != nil {
			tg.stop()
		}
	}
	for _, tg := range targets {
		if tg.proc == nil {
			continue
		}
		summary, crashed := scanLog(tg.proc.logPath)
		results.notes = append(results.notes, "gregor process log: "+summary)
		if crashed {
			fmt.Fprintln(os.Stderr, "compat: the gregor process log shows a panic or fatal error:", summary)
			code = 1
		}
	}
	for _, p := range replTarget.procs {
		summary, crashed := scanLog(p.log)
		results.notes = append(results.notes, p.name+" log: "+summary)
		if crashed {
			fmt.Fprintf(os.Stderr, "compat: the %s log shows a panic or fatal error: %s\n", p.name, summary)
			code = 1
		}
	}
	results.write()
	return code
}

// startKafka formats and starts one KRaft node with scripts/kafka.sh.
func startKafka() *target {
	tg := &target{name: "kafka"}
	port, err := freePort()
	if err != nil {
		tg.down = err.Error()
		return tg
	}
	dir := filepath.Join(workDir, "kafka")
	cmd := exec.Command("bash", filepath.Join(repoRoot, "scripts", "kafka.sh"), "start", fmt.Sprint(port), dir)
	cmd.Env = append(os.Environ(), "GREGOR_CACHE="+cacheDir)
	cmd.Env = append(cmd.Env, securityKafkaEnv()...) // the SSL/SASL listeners (security_test.go)
	if out, err := cmd.CombinedOutput(); err != nil {
		tg.down = fmt.Sprintf("scripts/kafka.sh start: %v: %s", err, out)
		return tg
	}
	tg.addr = fmt.Sprintf("127.0.0.1:%d", port)
	tg.stop = func() {
		exec.Command("bash", filepath.Join(repoRoot, "scripts", "kafka.sh"), "stop", dir).Run()
	}
	return tg
}

// gregorProc is one running gregor process with its data folder, restartable
// for the crash test.
type gregorProc struct {
	bin, dataDir string
	extra        []string // more command-line settings (the crash loop's flush mode)
	port         int      // the Kafka listener
	advertised   int      // the port told to clients (a capture proxy's, or port)
	cmd          *exec.Cmd
	logPath      string
	done         chan struct{} // closed when cmd has exited
	waitErr      error
}

// startGregor builds cmd/gregor and starts it on a free loopback port.
func startGregor() *target {
	tg := &target{name: "gregor"}
	bin := os.Getenv("GREGOR_BIN")
	if bin == "" {
		bin = filepath.Join(workDir, "gregor")
		build := exec.Command("go", "build", "-o", bin, "./cmd/gregor")
		build.Dir = repoRoot
		if out, err := build.CombinedOutput(); err != nil {
			tg.down = fmt.Sprintf("go build ./cmd/gregor: %v: %s", err, out)
			return tg
		}
	}
	port, err := freePort()
	if err != nil {
		tg.down = err.Error()
		return tg
	}
	p := &gregorProc{bin: bin, dataDir: filepath.Join(workDir, "gregor-data"), port: port, advertised: port,
		logPath: filepath.Join(workDir, "gregor.log")}
	if dir := os.Getenv("COMPAT_CAPTURE"); dir != "" {
		// Every client connection goes through the recording proxy.
		px, err := newProxy(fmt.Sprintf("127.0.0.1:%d", port), dir)
		if err != nil {
			tg.down = err.Error()
			return tg
		}
		p.advertised = px.port()
	}
	if err := p.start(); err != nil {
		tg.down = err.Error()
		return tg
	}
	tg.addr = fmt.Sprintf("127.0.0.1:%d", p.advertised)
	tg.proc = p
	tg.stop = func() { p.kill(syscall.SIGTERM) }
	return tg
}

// start runs the gregor binary and waits until its Kafka port accepts.
func (p *gregorProc) start() error {
	httpPort, err := freePort()
	if err != nil {
		return err
	}
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	p.cmd = exec.Command(p.bin,
		"--data-dir="+p.dataDir,
		fmt.Sprintf("--listeners=PLAINTEXT://127.0.0.1:%d", p.port),
		fmt.Sprintf("--advertised.listeners=PLAINTEXT://127.0.0.1:%d", p.advertised),
		fmt.Sprintf("--http.listener=127.0.0.1:%d", httpPort),
		"--num.partitions=1",
		"--auto.create.topics.enable=true",
		// The same short group timings scripts/kafka.sh gives Kafka.
		"--group.initial.rebalance.delay.ms=0",
		"--group.min.session.timeout.ms=1000",
		"--quota.window.num=2",                       // short quota windows, as the reference has (quota_test.go)
		"--group.consumer.heartbeat.interval.ms=500", // KIP-848: as scripts/kafka.sh sets Kafka
		"--group.consumer.session.timeout.ms=10000",
		"--group.consumer.min.session.timeout.ms=1000", "--group.consumer.min.heartbeat.interval.ms=100",
	)
	p.cmd.Args = append(p.cmd.Args, p.extra...)
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	p.done = make(chan struct{})
	go func() { p.waitErr = p.cmd.Wait(); logf.Close(); close(p.done) }()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			tail, _ := os.ReadFile(p.logPath)
			if len(tail) > 4000 {
				tail = tail[len(tail)-4000:]
			}
			return fmt.Errorf("gregor exited during start-up (%v); log tail:\n%s", p.waitErr, tail)
		default:
		}
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", p.port), time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.cmd.Process.Kill()
	return fmt.Errorf("gregor did not listen on %d within 30s", p.port)
}

// kill sends sig and waits for the process to end (SIGKILL after 10s).
func (p *gregorProc) kill(sig syscall.Signal) {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// freePort returns a loopback port that nobody listens on right now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// apiVersions asks addr which APIs it serves.
func apiVersions(addr string) (map[int16][2]int16, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := kmsg.NewPtrApiVersionsRequest().RequestWith(ctx, cl)
	if err != nil {
		return nil, err
	}
	if resp.ErrorCode != 0 {
		return nil, fmt.Errorf("error code %d", resp.ErrorCode)
	}
	out := map[int16][2]int16{}
	for _, k := range resp.ApiKeys {
		out[k.ApiKey] = [2]int16{k.MinVersion, k.MaxVersion}
	}
	return out, nil
}

// scanLog counts the gregor log's lines by level and says whether it shows a
// panic or a fatal error (a crash, which the run must not hide).
func scanLog(path string) (string, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "unreadable: " + err.Error(), false
	}
	levels := map[string]int{}
	var crash []string
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.SplitN(l, "\t", 3)
		if len(f) >= 2 {
			levels[f[1]]++
		}
		if strings.HasPrefix(l, "panic:") || strings.HasPrefix(l, "fatal error:") ||
			(len(f) >= 2 && (f[1] == "PANIC" || f[1] == "DPANIC" || f[1] == "FATAL")) {
			crash = append(crash, l)
		}
	}
	s := fmt.Sprintf("%d INFO, %d WARN, %d ERROR lines", levels["INFO"], levels["WARN"], levels["ERROR"])
	if len(crash) > 0 {
		s += fmt.Sprintf("; %d panic/fatal lines, first: %s", len(crash), crash[0])
	} else {
		s += "; no panic"
	}
	return s, len(crash) > 0
}
