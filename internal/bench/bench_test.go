package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/broker"
	"github.com/gregor-broker/gregor/storage"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
)

// startGregor starts an in-process gregor broker on a loopback port with its
// data in a temporary folder.
func startGregor(t *testing.T) string {
	t.Helper()
	b, err := broker.New(broker.Config{
		Listeners: []broker.Listener{{Name: "PLAINTEXT", Address: "127.0.0.1:0"}},
		Store:     storage.Config{Dir: t.TempDir()},
		Logger:    zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)).Named("broker"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := b.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return b.Addrs()[0].String()
}

// TestGregorSmoke is the CI smoke test against gregor itself: produce for two
// seconds, read it all back, and a short e2e run; records, and no errors.
func TestGregorSmoke(t *testing.T) {
	addr := startGregor(t)
	prod := runBench(t, "produce", "--brokers", addr, "--topic", "smoke", "--partitions", "4",
		"--duration", "2s", "--record-size", "512", "--linger", "1ms", "--keys", "random")
	if prod.Records <= 0 || prod.Errors != 0 || prod.FirstError != "" {
		t.Fatalf("produce: records %d, errors %d (%s)", prod.Records, prod.Errors, prod.FirstError)
	}
	if prod.Latency == nil || prod.Latency.Count != prod.Records {
		t.Errorf("produce latency %+v, want one sample per record (%d)", prod.Latency, prod.Records)
	}
	cons := runBench(t, "consume", "--brokers", addr, "--topic", "smoke", "--create=false", "--consumers", "2", "--delete")
	if cons.Records != prod.Records || cons.Errors != 0 {
		t.Fatalf("consume: read %d records with %d errors (%s), want the %d produced", cons.Records, cons.Errors, cons.FirstError, prod.Records)
	}
	e2e := runBench(t, "e2e", "--brokers", addr, "--topic", "smoke-e2e", "--partitions", "2",
		"--rate", "1000", "--duration", "2s", "--linger", "1ms")
	if e2e.Records <= 0 || e2e.Errors != 0 || e2e.Lost != 0 || e2e.Sent != e2e.Records {
		t.Fatalf("e2e: received %d of %d, errors %d, lost %d (%s)", e2e.Records, e2e.Sent, e2e.Errors, e2e.Lost, e2e.FirstError)
	}
}

// startKfake starts franz-go's fake cluster on a loopback port.
func startKfake(t *testing.T) string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()[0]
}

// runBench runs `bench <args> --json -q` and decodes the summary.
func runBench(t *testing.T, args ...string) *Summary {
	t.Helper()
	cmd := NewCommand()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(append(args, "--json", "-q"))
	if err := cmd.Execute(); err != nil {
		t.Fatalf("bench %v: %v\nstdout: %s\nstderr: %s", args, err, out.String(), errOut.String())
	}
	var sum Summary
	if err := json.Unmarshal(out.Bytes(), &sum); err != nil {
		t.Fatalf("summary is not JSON: %v\n%s", err, out.String())
	}
	return &sum
}

// TestProduceSmoke is the CI smoke test: a short unthrottled produce run
// reports records and no errors.
func TestProduceSmoke(t *testing.T) {
	addr := startKfake(t)
	sum := runBench(t, "produce", "--brokers", addr, "--topic", "smoke", "--partitions", "4",
		"--duration", "2s", "--record-size", "512", "--linger", "1ms")
	if sum.Mode != ModeProduce || sum.Topic != "smoke" || sum.Partitions != 4 || sum.RecordSize != 512 {
		t.Errorf("summary shape: %+v", sum)
	}
	if sum.Records <= 0 || sum.Errors != 0 || sum.FirstError != "" {
		t.Fatalf("records %d, errors %d (%s); want records and no errors", sum.Records, sum.Errors, sum.FirstError)
	}
	if sum.Latency == nil || sum.Latency.Count != sum.Records {
		t.Errorf("latency %+v; want one sample per record (%d)", sum.Latency, sum.Records)
	}
	if sum.RecordsPerSec <= 0 || sum.MBPerSec <= 0 {
		t.Errorf("rates %v rec/s %v MB/s", sum.RecordsPerSec, sum.MBPerSec)
	}
}

// TestProduceExactRecordsAndKeys produces a fixed count with sequential keys
// from two producers and reads the topic back: every key 0..n-1 once, every
// value the run's payload, offsets in order within each partition.
func TestProduceExactRecordsAndKeys(t *testing.T) {
	addr := startKfake(t)
	const n = 3001
	sum := runBench(t, "produce", "--brokers", addr, "--topic", "keys", "--partitions", "3",
		"--records", "3001", "--duration", "0", "--keys", "sequential", "--producers", "2", "--record-size", "100")
	if sum.Records != n || sum.Errors != 0 {
		t.Fatalf("records %d errors %d; want %d and 0", sum.Records, sum.Errors, n)
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics("keys"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	payload := newPayload(100)
	seen := make(map[uint64]int)
	next := make(map[int32]int64)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for got := 0; got < n; {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read %d of %d records: %v", got, n, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			got++
			if len(r.Key) != 8 {
				t.Fatalf("key %x is not 8 bytes", r.Key)
			}
			seen[binary.BigEndian.Uint64(r.Key)]++
			if !bytes.Equal(r.Value, payload) {
				t.Fatalf("record %d/%d value differs from the payload", r.Partition, r.Offset)
			}
			if r.Offset != next[r.Partition] {
				t.Fatalf("partition %d: offset %d, want %d", r.Partition, r.Offset, next[r.Partition])
			}
			next[r.Partition]++
		})
	}
	for k := uint64(0); k < n; k++ {
		if seen[k] != 1 {
			t.Fatalf("key %d seen %d times, want once", k, seen[k])
		}
	}
	if len(seen) != n {
		t.Fatalf("%d distinct keys, want %d", len(seen), n)
	}
	if len(next) < 2 {
		t.Errorf("keys hashed onto %d partitions only", len(next))
	}
}

// TestConsumePreload preloads a topic and reads it from the start: exactly
// the preloaded records, split over two consumer clients.
func TestConsumePreload(t *testing.T) {
	addr := startKfake(t)
	sum := runBench(t, "consume", "--brokers", addr, "--topic", "pre", "--partitions", "5",
		"--preload", "2500", "--consumers", "2", "--record-size", "256", "--delete")
	if sum.Preload == nil || sum.Preload.Records != 2500 || sum.Preload.Errors != 0 {
		t.Fatalf("preload %+v; want 2500 records, no errors", sum.Preload)
	}
	if sum.Mode != ModeConsume || sum.Records != 2500 || sum.Errors != 0 {
		t.Fatalf("consumed %d records with %d errors (%s); want 2500, 0", sum.Records, sum.Errors, sum.FirstError)
	}
	if sum.Latency != nil {
		t.Errorf("consume reports a latency: %+v", sum.Latency)
	}

	// --delete removed the topic.
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	tds, err := kadm.NewClient(cl).ListTopics(context.Background(), "pre")
	if err != nil {
		t.Fatal(err)
	}
	if td, ok := tds["pre"]; ok && td.Err == nil {
		t.Errorf("topic pre still exists after --delete")
	}
}

// TestConsumeFanout reads one topic with three independent readers of two
// clients each: every record is counted three times, none twice by one reader.
func TestConsumeFanout(t *testing.T) {
	addr := startKfake(t)
	sum := runBench(t, "consume", "--brokers", addr, "--topic", "fan", "--partitions", "5",
		"--preload", "1500", "--consumers", "2", "--fanout", "3", "--record-size", "128", "--delete")
	if sum.Records != 3*1500 || sum.Errors != 0 || sum.Fanout != 3 {
		t.Fatalf("fanout 3 read %d records with %d errors (%s), fanout %d; want 4500, 0, 3", sum.Records, sum.Errors, sum.FirstError, sum.Fanout)
	}
}

// TestConsumeRecordLimit stops after --records of a bigger topic.
func TestConsumeRecordLimit(t *testing.T) {
	addr := startKfake(t)
	runBench(t, "produce", "--brokers", addr, "--topic", "lim", "--partitions", "1",
		"--records", "5000", "--duration", "0", "--record-size", "64")
	sum := runBench(t, "consume", "--brokers", addr, "--topic", "lim", "--records", "1000", "--create=false")
	// A fetch brings whole batches, so the last one may overshoot.
	if sum.Records < 1000 || sum.Records > 5000 || sum.Errors != 0 {
		t.Fatalf("consumed %d records, %d errors; want 1000..5000 and none", sum.Records, sum.Errors)
	}
}

// TestE2E runs a short fixed-rate end-to-end run: everything acknowledged
// arrives, with a latency per record.
func TestE2E(t *testing.T) {
	addr := startKfake(t)
	sum := runBench(t, "e2e", "--brokers", addr, "--topic", "e2e", "--partitions", "4",
		"--rate", "2000", "--duration", "2s", "--linger", "1ms", "--producers", "2", "--consumers", "2")
	if sum.Records <= 0 || sum.Errors != 0 || sum.Lost != 0 {
		t.Fatalf("records %d errors %d lost %d (%s)", sum.Records, sum.Errors, sum.Lost, sum.FirstError)
	}
	if sum.Sent != sum.Records {
		t.Errorf("sent %d, received %d", sum.Sent, sum.Records)
	}
	if sum.Latency == nil || sum.Latency.Count != sum.Records || sum.AckLatency == nil || sum.AckLatency.Count != sum.Sent {
		t.Errorf("latencies %+v / %+v; want one per record", sum.Latency, sum.AckLatency)
	}
	if sum.TargetRate != 2000 || sum.Consumers != 2 || sum.Producers != 2 {
		t.Errorf("summary shape %+v", sum)
	}
}

// TestKfakeCommand starts the hidden kfake helper and produces to it.
func TestKfakeCommand(t *testing.T) {
	cmd := NewCommand()
	pr, pw := io.Pipe()
	cmd.SetOut(pw)
	cmd.SetArgs([]string{"kfake", "--listen", "127.0.0.1:0"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx); pw.Close() }()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	// "kfake listening on [127.0.0.1:NNNN] (pid N)"
	addr := line[strings.Index(line, "[")+1 : strings.Index(line, "]")]
	sum := runBench(t, "produce", "--brokers", addr, "--records", "100", "--duration", "0")
	if sum.Records != 100 || sum.Errors != 0 {
		t.Errorf("records %d errors %d", sum.Records, sum.Errors)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestValidate(t *testing.T) {
	good := Config{Mode: ModeProduce, Brokers: []string{"x:1"}, Duration: time.Second}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	if good.Topic != "gregor-bench" || good.Partitions != 16 || good.RecordSize != 1024 || good.Acks != "all" ||
		good.Compression != "none" || good.Keys != KeysNone || good.Producers != 1 || good.BatchMaxBytes != 1<<20 {
		t.Errorf("defaults not filled: %+v", good)
	}
	acks1 := Config{Mode: ModeProduce, Brokers: []string{"x:1"}, Records: 1, Acks: "1", Idempotent: true}
	if err := acks1.Validate(); err != nil || acks1.Idempotent {
		t.Errorf("acks=1 keeps idempotence (%v) or fails: %v", acks1.Idempotent, err)
	}
	bad := map[string]Config{
		"mode":        {Mode: "nope", Brokers: []string{"x:1"}, Duration: time.Second},
		"no brokers":  {Mode: ModeProduce, Duration: time.Second},
		"no end":      {Mode: ModeProduce, Brokers: []string{"x:1"}},
		"acks":        {Mode: ModeProduce, Brokers: []string{"x:1"}, Duration: time.Second, Acks: "2"},
		"compression": {Mode: ModeProduce, Brokers: []string{"x:1"}, Duration: time.Second, Compression: "brotli"},
		"keys":        {Mode: ModeProduce, Brokers: []string{"x:1"}, Duration: time.Second, Keys: "odd"},
		"e2e no rate": {Mode: ModeE2E, Brokers: []string{"x:1"}, Duration: time.Second},
		"e2e tiny":    {Mode: ModeE2E, Brokers: []string{"x:1"}, Duration: time.Second, Rate: 1, RecordSize: 4},
		"neg rate":    {Mode: ModeProduce, Brokers: []string{"x:1"}, Duration: time.Second, Rate: -1},
		"neg size":    {Mode: ModeProduce, Brokers: []string{"x:1"}, Duration: time.Second, RecordSize: -1},
	}
	for name, c := range bad {
		if err := c.Validate(); err == nil {
			t.Errorf("%s: Validate accepted %+v", name, c)
		}
	}
}

func TestThousands(t *testing.T) {
	for in, want := range map[float64]string{0: "0", 999: "999", 1000: "1,000", 1234567.4: "1,234,567", -4321: "-4,321"} {
		if got := thousands(in); got != want {
			t.Errorf("thousands(%v) = %q, want %q", in, got, want)
		}
	}
}

func TestMeterReset(t *testing.T) {
	m := newMeter(2)
	now := time.Now()
	m.shards[0].add(10, time.Millisecond, now)
	m.shards[1].add(20, -1, now)
	m.shards[1].fail()
	sn := m.snap()
	if sn.records != 2 || sn.bytes != 30 || sn.errors != 1 || sn.hist.TotalCount() != 1 {
		t.Fatalf("snapshot %+v", sn)
	}
	m.reset(now)
	m.shards[0].add(5, 2*time.Millisecond, now.Add(time.Second))
	sn = m.snap()
	if sn.records != 1 || sn.bytes != 5 || sn.errors != 0 || m.total() != 3 {
		t.Fatalf("after reset: %+v, total %d", sn, m.total())
	}
	var s Summary
	s.measure(sn)
	if s.Seconds != 1 || s.RecordsPerSec != 1 || s.Latency == nil || s.Latency.P50 < 1.99 || s.Latency.P50 > 2.01 {
		t.Errorf("summary %+v latency %+v", s, s.Latency)
	}
}

// TestCreateInSteps creates a topic larger than one creation step (Kafka
// refuses more than 10,000 metadata records per request) and gets them all.
func TestCreateInSteps(t *testing.T) {
	addr := startKfake(t)
	sum := runBench(t, "produce", "--brokers", addr, "--topic", "big", "--partitions", "10001",
		"--records", "10", "--duration", "0")
	if sum.Partitions != 10001 || sum.Records != 10 || sum.Errors != 0 {
		t.Fatalf("partitions %d records %d errors %d; want 10001, 10, 0", sum.Partitions, sum.Records, sum.Errors)
	}
}

// TestProducerSettings writes an exact count under each acks level and
// codec and reads exactly that back.
func TestProducerSettings(t *testing.T) {
	addr := startKfake(t)
	for i, args := range [][]string{
		{"--acks", "0"},
		{"--acks", "1"},
		{"--compression", "gzip", "--keys", "random"},
		{"--compression", "snappy"},
		{"--compression", "lz4", "--batch-max-bytes", "16384"},
		{"--compression", "zstd", "--linger", "0s"},
	} {
		topic := fmt.Sprintf("settings-%d", i)
		prod := runBench(t, append([]string{"produce", "--brokers", addr, "--topic", topic, "--partitions", "3",
			"--records", "700", "--record-size", "300"}, args...)...)
		if prod.Records != 700 || prod.Errors != 0 {
			t.Errorf("%v: produced %d records with %d errors (%s)", args, prod.Records, prod.Errors, prod.FirstError)
			continue
		}
		cons := runBench(t, "consume", "--brokers", addr, "--topic", topic, "--create=false")
		if cons.Records != 700 || cons.Errors != 0 || cons.MBPerSec <= 0 {
			t.Errorf("%v: read %d records with %d errors, want 700", args, cons.Records, cons.Errors)
		}
	}
}

// TestRoundRobinPartitioner: --partitioner round-robin sends one producer's
// records to the partitions in turn, so 700 unkeyed records over 7
// partitions put exactly 100 in each (the sticky default fills one
// partition's batch at a time: with a long linger, a few partitions).
func TestRoundRobinPartitioner(t *testing.T) {
	addr := startKfake(t)
	counts := func(topic string, extra ...string) map[int32]int64 {
		t.Helper()
		sum := runBench(t, append([]string{"produce", "--brokers", addr, "--topic", topic, "--partitions", "7",
			"--records", "700", "--duration", "0", "--record-size", "64", "--linger", "50ms"}, extra...)...)
		if sum.Records != 700 || sum.Errors != 0 {
			t.Fatalf("produced %d records with %d errors (%s)", sum.Records, sum.Errors, sum.FirstError)
		}
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		out := map[int32]int64{}
		ends.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
		return out
	}
	rr := counts("rr", "--partitioner", "round-robin")
	for p := int32(0); p < 7; p++ {
		if rr[p] != 100 {
			t.Fatalf("round-robin: partition counts %v, want 100 each", rr)
		}
	}
	sticky := counts("sticky")
	even := true
	for p := int32(0); p < 7; p++ {
		even = even && sticky[p] == 100
	}
	if even {
		t.Errorf("sticky default spread exactly like round-robin (%v); the test no longer tells them apart", sticky)
	}
}

// BenchmarkGregorProduce produces b.N 1 KiB records to an in-process gregor
// (16 partitions, acks=all, linger 1 ms), so that
//
//	go test -run '^$' -bench GregorProduce -cpuprofile cpu.out -memprofile mem.out ./internal/bench
//
// profiles broker and client together (tell them apart by package).
func BenchmarkGregorProduce(b *testing.B) {
	dir := b.TempDir()
	br, err := broker.New(broker.Config{
		Listeners: []broker.Listener{{Name: "PLAINTEXT", Address: "127.0.0.1:0"}},
		Store:     storage.Config{Dir: dir},
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := br.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = br.Shutdown(ctx)
	}()
	cfg := Config{
		Mode: ModeProduce, Brokers: []string{br.Addrs()[0].String()}, Topic: "bench",
		Create: true, Partitions: 16, RecordSize: 1024, Records: int64(b.N), Acks: "all", Idempotent: true,
		Linger: time.Millisecond,
	}
	b.SetBytes(1024)
	b.ResetTimer()
	sum, err := Run(context.Background(), cfg, zap.NewNop(), nil)
	if err != nil {
		b.Fatal(err)
	}
	if sum.Records != int64(b.N) || sum.Errors != 0 {
		b.Fatalf("records %d errors %d (%s)", sum.Records, sum.Errors, sum.FirstError)
	}
	b.ReportMetric(sum.RecordsPerSec, "records/s")
}

// TestReplicaPIDCPU: the CPU of --replica-pid processes counts as broker CPU
// (scripts/bench.sh adds a replicated group's slaves to its master). kfake
// runs inside the test process, so naming this process as the only
// "replica" must report broker CPU; without it there is none.
func TestReplicaPIDCPU(t *testing.T) {
	addr := startKfake(t)
	none := runBench(t, "produce", "--brokers", addr, "--topic", "cpu-none", "--partitions", "2",
		"--duration", "1s", "--record-size", "256")
	if none.BrokerCPUSeconds != 0 {
		t.Fatalf("broker CPU %v s with no broker or replica pid", none.BrokerCPUSeconds)
	}
	self := strconv.Itoa(os.Getpid())
	sum := runBench(t, "produce", "--brokers", addr, "--topic", "cpu-replica", "--partitions", "2",
		"--duration", "1s", "--record-size", "256", "--replica-pid", self)
	if sum.Records <= 0 || sum.BrokerCPUSeconds <= 0 || sum.BrokerCPUMicrosPerRec <= 0 {
		t.Fatalf("records %d, broker CPU %v s (%v µs/record); want the replica's CPU counted", sum.Records, sum.BrokerCPUSeconds, sum.BrokerCPUMicrosPerRec)
	}
}

// TestManyTopics: --topics 5 --partitions 3 creates five topics of three
// partitions on gregor, sends the records to them in turn (with the
// round-robin partitioner, every partition of every topic gets the same
// share), reports 15 partitions, and --delete removes all five.
func TestManyTopics(t *testing.T) {
	addr := startGregor(t)
	sum := runBench(t, "produce", "--brokers", addr, "--topic", "many", "--topics", "5", "--partitions", "3",
		"--records", "1500", "--duration", "0", "--record-size", "64", "--partitioner", "round-robin",
		"--producers", "2", "--delete=false")
	if sum.Records != 1500 || sum.Errors != 0 {
		t.Fatalf("produced %d records with %d errors (%s)", sum.Records, sum.Errors, sum.FirstError)
	}
	if sum.Topics != 5 || sum.Partitions != 15 {
		t.Errorf("summary: %d topics, %d partitions; want 5 and 15", sum.Topics, sum.Partitions)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	names := []string{"many-0", "many-1", "many-2", "many-3", "many-4"}
	ends, err := adm.ListEndOffsets(ctx, names...)
	if err != nil || ends.Error() != nil {
		t.Fatalf("end offsets: %v %v", err, ends.Error())
	}
	n := 0
	ends.Each(func(o kadm.ListedOffset) {
		n++
		if o.Offset != 100 {
			t.Errorf("%s/%d holds %d records, want 100", o.Topic, o.Partition, o.Offset)
		}
	})
	if n != 15 {
		t.Fatalf("%d partitions answered, want 15", n)
	}

	runBench(t, "produce", "--brokers", addr, "--topic", "many", "--topics", "5", "--partitions", "3",
		"--records", "15", "--duration", "0", "--delete")
	tds, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		if tds.Has(name) {
			t.Errorf("%s still exists after --delete", name)
		}
	}
	c := Config{Mode: ModeConsume, Brokers: []string{addr}, Topics: 2}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "only produce") {
		t.Errorf("consume --topics 2: %v, want a refusal", err)
	}
}
