package storage

import (
	"bufio"
	"fmt"
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

const writerEnv = "GREGOR_STORAGE_SIGKILL_WRITER"

// TestSigkillWriterProcess is the writer process of TestSigkill; it only
// runs when re-executed with writerEnv set. It appends writerBatch batches
// round-robin to three partitions forever, continuing from what the store
// holds, and prints "ack <partition> <batches>" after each acknowledged one.
func TestSigkillWriterProcess(t *testing.T) {
	dir := os.Getenv(writerEnv)
	if dir == "" {
		t.Skip("only runs as TestSigkill's writer process")
	}
	cfg := Config{Dir: dir, SegmentBytes: 32 << 10, FlushMode: FlushSync, CheckpointInterval: 3 * time.Millisecond, Logger: zap.NewNop()}
	s, err := Open(cfg)
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(1)
	}
	out := bufio.NewWriter(os.Stdout)
	var ps [3]*Partition
	var next [3]int
	for i := range ps {
		if ps[i], err = s.CreatePartition(tid(9), int32(i)); err != nil {
			fmt.Println("create:", err)
			os.Exit(1)
		}
		next[i] = batchesIn(ps[i])
	}
	fmt.Fprintln(out, "ready")
	out.Flush()
	for {
		for i, p := range ps {
			if _, err := p.Append(writerBatch(i, next[i]), 1); err != nil {
				fmt.Println("append:", err)
				os.Exit(1)
			}
			next[i]++
			fmt.Fprintf(out, "ack %d %d\n", i, next[i])
			out.Flush()
		}
	}
}

// batchesIn counts the stored batches of p.
func batchesIn(p *Partition) int {
	n := 0
	for off := int64(0); ; {
		r, err := p.Read(off, 1<<20)
		if err != nil || len(r.Chunks) == 0 {
			return n
		}
		n += len(r.Chunks)
		off = r.Chunks[len(r.Chunks)-1].LastOffset + 1
		r.Release()
	}
}

// TestSigkill runs a real writer process, kills it with SIGKILL at random
// moments many times, and checks after each kill that the store holds a
// prefix of what was written (never a partial or corrupt batch, a gap or a
// duplicate) that includes every acknowledged append (sync flush).
func TestSigkill(t *testing.T) {
	if os.Getenv(writerEnv) != "" {
		t.Skip()
	}
	rounds := 25
	if testing.Short() {
		rounds = 4
	}
	dir := t.TempDir()
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	var acked [3]int
	for round := 0; round < rounds; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestSigkillWriterProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), writerEnv+"="+dir)
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
		deadline := time.After(time.Duration(10+rng.Intn(150)) * time.Millisecond)
	run:
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					break run
				}
				f := strings.Fields(l)
				if len(f) != 3 || f[0] != "ack" {
					t.Fatalf("writer: %q", l)
				}
				p, _ := strconv.Atoi(f[1])
				n, _ := strconv.Atoi(f[2])
				acked[p] = n
			case <-deadline:
				break run
			}
		}
		cmd.Process.Signal(syscall.SIGKILL)
		for l := range lines { // acks printed before the kill count too
			if f := strings.Fields(l); len(f) == 3 && f[0] == "ack" {
				p, _ := strconv.Atoi(f[1])
				n, _ := strconv.Atoi(f[2])
				acked[p] = n
			}
		}
		cmd.Wait()

		s := mustOpen(t, Config{Dir: dir, SegmentBytes: 32 << 10, CheckpointInterval: time.Hour, Logger: zap.NewNop()})
		for p := 0; p < 3; p++ {
			m := checkPrefix(t, s, p)
			if m < acked[p] {
				t.Fatalf("round %d: partition %d has %d batches, %d acknowledged", round, p, m, acked[p])
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("after %d kills: acknowledged batches %v", rounds, acked)
}
