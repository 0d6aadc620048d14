package cluster_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestRestartAtScale (issue 14 item 6): a `gregor standalone` holding a
// large commit log over many partitions is killed with SIGKILL while a
// producer writes at full speed, then started again; the test measures the
// time from the new process's start until it serves again: a Produce
// acknowledged, and a Fetch of the last partition answered with a record
// written before the kill. It checks that every record acknowledged before
// the kill is still there (no time is asserted).
//
// make test runs a short version (32 MiB, 1,000 partitions, 16 MiB
// segments); `make restart-scale` runs RESTART_BYTES over RESTART_PARTITIONS
// (10,000) with the default 1 GiB segments and checkpoint interval:
//
//	GREGOR_RESTART_BYTES=10737418240 GREGOR_RESTART_PARTITIONS=10000 \
//	  go test -count=1 -v -timeout 60m -run 'TestRestartAtScale$' ./cluster_test/
func TestRestartAtScale(t *testing.T) {
	fill, parts, segment := int64(32<<20), 1000, "16777216"
	if v := os.Getenv("GREGOR_RESTART_BYTES"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		fill, parts, segment = n, 10000, "1073741824"
	}
	if v := os.Getenv("GREGOR_RESTART_PARTITIONS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatal(err)
		}
		parts = n
	}
	dir := t.TempDir()
	addr := net.JoinHostPort("127.0.0.1", freePort(t, "127.0.0.1"))
	httpAddr := net.JoinHostPort("127.0.0.1", freePort(t, "127.0.0.1"))
	p := &proc{t: t, name: "standalone", log: filepath.Join(dir, "gregor.log"), args: []string{
		"standalone",
		"--listeners", "PLAINTEXT://" + addr,
		"--http.listener", httpAddr,
		"--data-dir", filepath.Join(dir, "data"),
		"--log.segment.bytes", segment,
		"--logger.level", "info",
	}}
	p.start()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("--- log:\n%s", p.tail())
		}
	})
	waitHTTP(t, "http://"+httpAddr+"/readyz")

	const topic = "restart-scale"
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(5*time.Millisecond),
		kgo.ProducerBatchCompression(kgo.NoCompression()), // the log holds fill bytes
		kgo.MaxBufferedRecords(100000),
		kgo.RequestTimeoutOverhead(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Minute)
	defer cancel()
	adm := kadm.NewClient(cl)
	for n := 0; n < parts; {
		step := min(n+5000, parts)
		var err error
		if n == 0 {
			var r kadm.CreateTopicResponse
			r, err = adm.CreateTopic(ctx, int32(step), 1, nil, topic)
			if err == nil {
				err = r.Err
			}
		} else {
			var r kadm.CreatePartitionsResponses
			r, err = adm.UpdatePartitions(ctx, step, topic)
			if err == nil {
				err = r.Error()
			}
		}
		if err != nil {
			t.Fatalf("creating %d partitions: %v", step, err)
		}
		n = step
	}

	// Fill: 16 records of 1 KiB per partition in turn (one batch each),
	// round the partitions until fill bytes are acknowledged, then keep
	// writing until the kill, so the log written since the last checkpoint
	// is what a busy broker has.
	value := make([]byte, 1024)
	rand.Read(value)
	acked := make([]atomic.Int64, parts)
	var ackedBytes atomic.Int64
	var firstErr atomic.Pointer[error]
	var wg sync.WaitGroup
	stop := make(chan struct{})
	filled := make(chan struct{})
	prodDone := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(prodDone)
		var once sync.Once
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			part := int32(i / 16 % parts)
			wg.Add(1)
			cl.Produce(ctx, &kgo.Record{Topic: topic, Partition: part, Value: value}, func(r *kgo.Record, err error) {
				defer wg.Done()
				if err != nil {
					firstErr.CompareAndSwap(nil, &err)
					return
				}
				acked[r.Partition].Add(1)
				if ackedBytes.Add(int64(len(r.Value))) >= fill {
					once.Do(func() { close(filled) })
				}
			})
		}
	}()
	select {
	case <-filled:
	case <-ctx.Done():
		t.Fatal("fill did not finish")
	}
	fillTook := time.Since(start)
	if e := firstErr.Load(); e != nil {
		t.Fatalf("produce: %v", *e)
	}
	// Writing at full speed for a second past the fill; then the kill.
	time.Sleep(time.Second)
	p.kill()
	close(stop)
	cl.Close() // fails what was in flight; only acknowledged records count
	<-prodDone
	wg.Wait()
	var total int64
	for i := range acked {
		total += acked[i].Load()
	}
	t.Logf("filled %d MiB over %d partitions in %s; %d records acknowledged before the SIGKILL",
		ackedBytes.Load()>>20, parts, fillTook.Round(time.Millisecond), total)

	// Restart and time until it serves.
	logOffset := fileSize(p.log)
	restart := time.Now()
	p.start()
	cl2, err := kgo.NewClient(kgo.SeedBrokers(addr),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RetryBackoffFn(func(int) time.Duration { return 20 * time.Millisecond }),
		kgo.MetadataMinAge(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl2.Close()
	var produced time.Duration
	for {
		pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
		err := cl2.ProduceSync(pctx, &kgo.Record{Topic: topic, Partition: 0, Value: []byte("after")}).FirstErr()
		pcancel()
		if err == nil {
			produced = time.Since(restart)
			break
		}
		if time.Since(restart) > 10*time.Minute {
			t.Fatalf("no produce acknowledged 10 minutes after the restart: %v", err)
		}
	}
	last := int32(parts - 1)
	fcl, err := kgo.NewClient(kgo.SeedBrokers(addr),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {last: kgo.NewOffset().AtStart()}}))
	if err != nil {
		t.Fatal(err)
	}
	defer fcl.Close()
	fctx, fcancel := context.WithTimeout(ctx, 5*time.Minute)
	fs := fcl.PollRecords(fctx, 1)
	fcancel()
	fetched := time.Since(restart)
	if fs.NumRecords() == 0 {
		t.Fatalf("no record fetched from partition %d after the restart: %v", last, fs.Errors())
	}

	// Every acknowledged record survived.
	ends, err := kadm.NewClient(cl2).ListEndOffsets(ctx, topic)
	if err != nil || ends.Error() != nil {
		t.Fatalf("list offsets: %v %v", err, ends.Error())
	}
	for i := range acked {
		lo, ok := ends.Lookup(topic, int32(i))
		want := acked[i].Load()
		if i == 0 {
			want++ // the record produced after the restart
		}
		if !ok || lo.Offset < want {
			t.Fatalf("partition %d ends at %d after the restart; %d records were acknowledged", i, lo.Offset, want)
		}
	}
	opened := openedLine(p.log, logOffset)
	t.Logf("restart after SIGKILL: produce acknowledged after %s, fetch answered after %s (%d MiB, %d partitions); store: %s; timeline: %s",
		produced.Round(time.Millisecond), fetched.Round(time.Millisecond), ackedBytes.Load()>>20, parts, opened,
		restartTimeline(p.log, logOffset, restart))
}

// restartTimeline says when the restarted process logged its first line,
// its store's "opened" line and "gregor is serving Kafka", after restart.
func restartTimeline(path string, offset int64, restart time.Time) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	f.Seek(offset, 0)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	var out []string
	first := true
	for sc.Scan() {
		l := sc.Text()
		ts, rest, ok := strings.Cut(l, "\t")
		at, err := time.Parse(time.RFC3339Nano, ts)
		if !ok || err != nil {
			continue
		}
		name := ""
		switch {
		case first:
			name, first = "first log line", false
		case strings.Contains(rest, "storage: opened"):
			name = "store opened"
		case strings.Contains(rest, "gregor is serving Kafka"):
			name = "serving Kafka"
		}
		if name != "" {
			out = append(out, fmt.Sprintf("%s +%s", name, at.Sub(restart).Round(time.Millisecond)))
		}
	}
	return strings.Join(out, ", ")
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// openedLine returns the store's "opened" log line written after offset
// (what it replayed and how long recovery took), without its timestamp.
func openedLine(path string, offset int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	f.Seek(offset, 0)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		if l := sc.Text(); strings.Contains(l, "storage: opened") {
			if i := strings.Index(l, "storage: opened"); i >= 0 {
				return l[i:]
			}
		}
	}
	return fmt.Sprintf("(no 'storage: opened' line in %s)", path)
}
