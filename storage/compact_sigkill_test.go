package storage

import (
	"bufio"
	"fmt"
	"math"
	"math/rand"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
)

const compactWriterEnv = "GREGOR_STORAGE_COMPACT_SIGKILL_WRITER"

func compactSigkillConfig(dir string) Config {
	return Config{Dir: dir, SegmentBytes: 32 << 10, FlushMode: FlushSync, CheckpointInterval: 5 * time.Millisecond,
		CompactionInterval: time.Hour, RetentionInterval: time.Hour, Logger: zap.NewNop()}
}

// TestCompactionSigkillWriterProcess is the writer process of
// TestCompactionSigkill; it only runs when re-executed with
// compactWriterEnv set. It overwrites 20 keys of a compacted partition
// (each value names the offset it is written at) beside a topic whose
// records expire at once, prints "ack <key> <offset>" after each
// acknowledged append, and runs compaction and retention back to back in
// another goroutine.
func TestCompactionSigkillWriterProcess(t *testing.T) {
	dir := os.Getenv(compactWriterEnv)
	if dir == "" {
		t.Skip("only runs as TestCompactionSigkill's writer process")
	}
	s, err := Open(compactSigkillConfig(dir))
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(1)
	}
	p, _ := s.CreatePartition(tid(1), 0)
	other, _ := s.CreatePartition(tid(2), 0)
	p.SetCompaction(compactPolicy(math.MaxInt64 / 2))
	other.SetRetention(RetentionPolicy{Ms: 0, Bytes: -1})
	go func() {
		for {
			if err := s.RunRetention(); err != nil {
				fmt.Println("retention:", err)
				os.Exit(1)
			}
		}
	}()
	out := bufio.NewWriter(os.Stdout)
	fmt.Fprintln(out, "ready")
	out.Flush()
	w := newKeyedWriter(t, p, 300)
	filler := simpleBatch("o", 4, time.Now().UnixMilli()-60000)
	for i := 0; ; i++ {
		k := fmt.Sprintf("k%d", i%20)
		off := w.next
		w.write(k)
		fmt.Fprintf(out, "ack %s %d\n", k, off)
		out.Flush()
		if i%3 == 0 {
			if _, err := other.Append(filler, 1); err != nil {
				fmt.Println("append:", err)
				os.Exit(1)
			}
		}
	}
}

// TestCompactionSigkill kills a writer process that compacts continuously
// with SIGKILL at random moments, and checks after each kill that reading
// the compacted partition from offset 0 shows offsets in order, each
// record at the offset it was written at, and for every key a record at or
// after its last acknowledged write: a round cut anywhere loses nothing.
func TestCompactionSigkill(t *testing.T) {
	if os.Getenv(compactWriterEnv) != "" {
		t.Skip()
	}
	rounds := 12
	if testing.Short() {
		rounds = 3
	}
	dir := t.TempDir()
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	acked := map[string]int64{}
	compacted := false
	for round := 0; round < rounds; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCompactionSigkillWriterProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), compactWriterEnv+"="+dir)
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 1024)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		if l := <-lines; l != "ready" {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("writer: %q", l)
		}
		ack := func(l string) {
			f := strings.Fields(l)
			if len(f) != 3 || f[0] != "ack" {
				t.Fatalf("writer: %q", l)
			}
			off, _ := strconv.ParseInt(f[2], 10, 64)
			acked[f[1]] = off
		}
		deadline := time.After(time.Duration(50+rng.Intn(400)) * time.Millisecond)
	run:
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					break run
				}
				ack(l)
			case <-deadline:
				break run
			}
		}
		cmd.Process.Signal(syscall.SIGKILL)
		for l := range lines {
			ack(l)
		}
		cmd.Wait()

		s := mustOpen(t, compactSigkillConfig(dir))
		p := s.Partition(tid(1), 0)
		recs := readAll(t, p, 0)
		last := int64(-1)
		lastOf := map[string]int64{}
		for _, r := range recs {
			if r.offset <= last {
				t.Fatalf("round %d: offset %d after %d", round, r.offset, last)
			}
			last = r.offset
			if want := fmt.Sprintf("%s@%d:", r.key, r.offset); !strings.HasPrefix(r.value, want) {
				t.Fatalf("round %d: record at %d holds %.20q", round, r.offset, r.value)
			}
			lastOf[r.key] = r.offset
		}
		for k, off := range acked {
			if lastOf[k] < off {
				t.Fatalf("round %d: key %s acknowledged at offset %d, last read at %d", round, k, off, lastOf[k])
			}
		}
		compacted = compacted || int64(len(recs)) < p.HighWatermark()/2
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if !compacted {
		t.Fatal("no round compacted anything before its kill")
	}
	t.Logf("after %d kills: %d keys acknowledged", rounds, len(acked))
}
