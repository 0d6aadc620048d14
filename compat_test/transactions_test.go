package compat

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/gregor-broker/gregor/internal/kafkadiff"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// apisTxn is what a transactional producer with offsets in its
// transactions needs.
var apisTxn = join(apisGroup, []kmsg.Key{kmsg.InitProducerID, kmsg.AddPartitionsToTxn, kmsg.AddOffsetsToTxn,
	kmsg.EndTxn, kmsg.TxnOffsetCommit})

// TestTransactions drives franz-go's transactional producer and
// GroupTransactSession (issue 13 item 2).
func TestTransactions(t *testing.T) {
	matrixGo(t, "franz-go", "transactions: committed seen by read_committed, aborted only by read_uncommitted", apisTxn, func(t *testing.T, tg *target) {
		topic := newTopic(t, tg, "txn", 2)
		cl := newClient(t, tg, kgo.TransactionalID(uniq("txn-ca")), kgo.DefaultProduceTopic(topic),
			kgo.TransactionTimeout(30*time.Second), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
		ctx := ctxT(t, 60*time.Second)
		n := 0
		run := func(commit bool, count int) {
			t.Helper()
			if err := cl.BeginTransaction(); err != nil {
				t.Fatal(err)
			}
			var rs []*kgo.Record
			for i := 0; i < count; i++ {
				tag := "c"
				if !commit {
					tag = "a"
				}
				rs = append(rs, &kgo.Record{Key: []byte("k"), Value: []byte(tag + "-" + strconv.Itoa(n))})
				n++
			}
			if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
				t.Fatal(err)
			}
			if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
				t.Fatal(err)
			}
		}
		run(true, 20)
		run(false, 10)
		run(true, 20)
		run(false, 5)
		committed := readIsolated(t, tg, topic, true, 40)
		for _, v := range committed {
			if v[0] != 'c' {
				t.Fatalf("read_committed saw the aborted record %s", v)
			}
		}
		if len(committed) != 40 {
			t.Fatalf("read_committed saw %d records, want 40", len(committed))
		}
		if all := readIsolated(t, tg, topic, false, 55); len(all) != 55 {
			t.Fatalf("read_uncommitted saw %d records, want 55 (aborted ones included)", len(all))
		}
	})

	matrixGo(t, "franz-go", "transactional ETL (GroupTransactSession, offsets in the transaction), exactly once", apisTxn, func(t *testing.T, tg *target) {
		in := newTopic(t, tg, "etl-in", 3)
		out := newTopic(t, tg, "etl-out", 2)
		const n = 600
		producePartitioned(t, tg, in, 0, n, 3)
		etl(t, tg, in, out, n, nil)
	})
}

// keyCount records the keys of the requests a kgo client writes.
type keyCount struct {
	mu   sync.Mutex
	keys map[int16]int
}

func (k *keyCount) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if err == nil {
		k.mu.Lock()
		k.keys[key]++
		k.mu.Unlock()
	}
}

func (k *keyCount) sent(key kmsg.Key) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.keys[int16(key)]
}

// TestTransactionsV2 proves the transaction.version 2 path (KIP-890 part
// 2) is the one taken, on Kafka 4.4 and gregor alike: franz-go, seeing
// the level finalized, sends no AddPartitionsToTxn, yet DescribeTransactions
// shows the partitions its Produce requests added to the open transaction,
// and every EndTxn (v5) bumps the producer epoch.
func TestTransactionsV2(t *testing.T) {
	matrixGo(t, "franz-go", "transaction.version 2: Produce adds the partitions (no AddPartitionsToTxn), every EndTxn bumps the epoch", apisTxn, func(t *testing.T, tg *target) {
		topic := newTopic(t, tg, "txn2", 2)
		id := uniq("txn-v2")
		keys := &keyCount{keys: map[int16]int{}}
		cl := newClient(t, tg, kgo.TransactionalID(id), kgo.DefaultProduceTopic(topic), kgo.WithHooks(keys),
			kgo.TransactionTimeout(30*time.Second), kgo.RecordPartitioner(kgo.ManualPartitioner()))
		adm := kadm.NewClient(newClient(t, tg))
		ctx := ctxT(t, 60*time.Second)
		describe := func() kadm.DescribedTransaction {
			t.Helper()
			ds, err := adm.DescribeTransactions(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			d, ok := ds[id]
			if !ok || d.Err != nil {
				t.Fatalf("DescribeTransactions %s: %v", id, d.Err)
			}
			return d
		}
		var epochs []int16
		for i, commit := range []bool{true, false, true} {
			if err := cl.BeginTransaction(); err != nil {
				t.Fatal(err)
			}
			rs := []*kgo.Record{{Value: []byte(fmt.Sprint("p0-", i)), Partition: 0}, {Value: []byte(fmt.Sprint("p1-", i)), Partition: 1}}
			if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
				t.Fatal(err)
			}
			d := describe()
			if d.State != "Ongoing" || len(d.Topics[topic]) != 2 {
				t.Fatalf("transaction %d while open: %s with %v, want Ongoing with both partitions of %s", i, d.State, d.Topics, topic)
			}
			epochs = append(epochs, d.ProducerEpoch)
			if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
				t.Fatal(err)
			}
		}
		if n := keys.sent(kmsg.AddPartitionsToTxn); n != 0 {
			t.Fatalf("franz-go sent %d AddPartitionsToTxn: transaction.version 2 is not finalized", n)
		}
		if keys.sent(kmsg.EndTxn) != 3 {
			t.Fatalf("%d EndTxn sent, want 3", keys.sent(kmsg.EndTxn))
		}
		d := describe() // Kafka may still be writing the markers (PrepareCommit)
		if (d.State != "CompleteCommit" && d.State != "PrepareCommit") || epochs[1] != epochs[0]+1 || epochs[2] != epochs[1]+1 || d.ProducerEpoch != epochs[2]+1 {
			t.Fatalf("epochs of the three transactions %v, then %d (%s): want each EndTxn to bump it", epochs, d.ProducerEpoch, d.State)
		}
		if got := readIsolated(t, tg, topic, true, 4); len(got) != 4 {
			t.Fatalf("read_committed saw %v, want the 4 committed records", got)
		}
	})
}

// TestTransactionsRestart runs the ETL against the real gregor process and
// restarts the process (SIGTERM, then again on the same data and port)
// while a transaction is open (its records written, not yet committed): the read_committed output still holds every
// input record exactly once. Kafka is not restarted; its column says n/a.
func TestTransactionsRestart(t *testing.T) {
	const client, scenario = "franz-go", "transactional ETL, gregor restarted mid-run, exactly once"
	for _, tg := range targets {
		if tg.name != "gregor" {
			results.set(client, scenario, tg.name, "n/a")
			continue
		}
		t.Run(tg.name, func(t *testing.T) {
			defer func() {
				if t.Failed() {
					results.set(client, scenario, tg.name, "FAIL")
				} else if !t.Skipped() {
					results.set(client, scenario, tg.name, "pass")
				}
			}()
			if tg.down != "" || tg.proc == nil {
				t.Fatalf("gregor is not running: %s", tg.down)
			}
			for _, k := range apisTxn {
				if _, ok := tg.apis[int16(k)]; !ok {
					results.set(client, scenario, tg.name, "skip: no "+k.Name())
					t.Skipf("gregor does not implement %s yet", k.Name())
				}
			}
			in := newTopic(t, tg, "etl-rs-in", 3)
			out := newTopic(t, tg, "etl-rs-out", 2)
			const n = 900
			producePartitioned(t, tg, in, 0, n, 3)
			restarted := false
			etl(t, tg, in, out, n, func(moved int) {
				if restarted || moved < n/3 {
					return
				}
				restarted = true
				tg.proc.kill(syscall.SIGTERM)
				if err := tg.proc.start(); err != nil {
					t.Fatalf("restart: %v", err)
				}
			})
			if !restarted {
				t.Fatal("the broker was never restarted")
			}
		})
	}
}

// etl moves n records from in to out in transactions with a
// GroupTransactSession, the consumed offsets committed in each
// transaction (a few records per fetch, so many transactions); inside each
// transaction, after its records are produced and before it ends, it calls
// mid (optional) with the count moved so far. It then checks that a read_committed consumer of out
// sees every input value exactly once.
func etl(t *testing.T, tg *target, in, out string, n int, mid func(moved int)) {
	t.Helper()
	group := uniq("g-etl")
	sess, err := kgo.NewGroupTransactSession(kgo.SeedBrokers(tg.addr), kgo.ClientID("compat-franz"),
		kgo.TransactionalID(uniq("etl")), kgo.ConsumerGroup(group), kgo.ConsumeTopics(in),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.DefaultProduceTopic(out),
		kgo.TransactionTimeout(20*time.Second), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(200*time.Millisecond), kgo.SessionTimeout(20*time.Second), kgo.FetchMaxPartitionBytes(4<<10),
		kgo.RequestRetries(50), kgo.RetryTimeout(60*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	ctx := ctxT(t, 3*time.Minute)
	moved := 0
	for moved < n && ctx.Err() == nil {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		fs := sess.PollFetches(pctx)
		cancel()
		if err := sess.Begin(); err != nil {
			t.Fatalf("begin: %v", err)
		}
		var rs []*kgo.Record
		fs.EachRecord(func(r *kgo.Record) {
			rs = append(rs, &kgo.Record{Key: r.Key, Value: append([]byte("etl:"), r.Value...)})
		})
		perr := error(nil)
		if len(rs) > 0 {
			perr = sess.ProduceSync(ctx, rs...).FirstErr()
		}
		if mid != nil {
			mid(moved)
		}
		committed, err := sess.End(ctx, kgo.TransactionEndTry(perr == nil))
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Logf("end of transaction: %v (retried)", err)
		}
		if committed {
			moved += len(rs)
		}
	}
	got := readIsolated(t, tg, out, true, n)
	seen := map[string]int{}
	for _, v := range got {
		seen[v]++
	}
	var bad []string
	for v, c := range seen {
		if c != 1 {
			bad = append(bad, fmt.Sprintf("%s×%d", v, c))
		}
	}
	if len(bad) > 0 || len(got) != n {
		t.Fatalf("read_committed saw %d records for %d inputs (%d distinct); repeated: %v", len(got), n, len(seen), bad)
	}
}

// readIsolated reads topic from the start at an isolation level until it
// has want values, then a second more so extra ones show; it returns the
// values.
func readIsolated(t *testing.T, tg *target, topic string, committed bool, want int) []string {
	t.Helper()
	iso := kgo.ReadUncommitted()
	if committed {
		iso = kgo.ReadCommitted()
	}
	cl := newClient(t, tg, kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(iso),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	var got []string
	deadline := time.Now().Add(60 * time.Second)
	var extra time.Time
	for time.Now().Before(deadline) && (extra.IsZero() || time.Now().Before(extra)) {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
		if len(got) >= want && extra.IsZero() {
			extra = time.Now().Add(time.Second)
		}
	}
	return got
}

// TestTransactionsJava drives the Java client's read-process-write loop
// (sendOffsetsToTransaction) and an aborted transaction, at each client
// version of javaVersions.
func TestTransactionsJava(t *testing.T) {
	versions, err := javaVersions()
	if err != nil || len(versions) == 0 {
		t.Fatalf("scripts/kafka.sh client-versions: %v %q", err, versions)
	}
	for _, v := range versions {
		javaTxn(t, v)
	}
}

func javaTxn(t *testing.T, v string) {
	matrix(t, "java kafka-clients "+v, "transactions: read-process-write with sendOffsetsToTransaction; aborted only read_uncommitted", apisTxn, func(t *testing.T, tg *target) {
		in := newTopic(t, tg, "jtx-in", 3)
		out := newTopic(t, tg, "jtx-out", 2)
		const n, aborted = 150, 25
		produceKnown(t, tg, in, "franz", n)
		group := uniq("g-jtx")
		kv := javaRun(t, v, "txn", "--bootstrap", tg.addr, "--topic", in, "--out", out, "--group", group,
			"--txn-id", uniq("jtx"), "--count", strconv.Itoa(n), "--aborted", strconv.Itoa(aborted))
		moved := 0
		for _, l := range kv {
			if strings.Contains(string(l), `"moved"`) {
				moved++
			}
		}
		if moved != n {
			t.Fatalf("the Java loop moved %d records, want %d", moved, n)
		}
		got := readIsolated(t, tg, out, true, n)
		seen := map[string]int{}
		for _, v := range got {
			seen[v]++
		}
		for i := 0; i < n; i++ {
			if c := seen["java-txn:franz-"+strconv.Itoa(i)]; c != 1 {
				t.Fatalf("java-txn:franz-%d seen %d times by read_committed (%d records)", i, c, len(got))
			}
		}
		if len(got) != n {
			t.Fatalf("read_committed saw %d records, want %d (none of the aborted)", len(got), n)
		}
		if all := readIsolated(t, tg, out, false, n+aborted); len(all) != n+aborted {
			t.Fatalf("read_uncommitted saw %d records, want %d (the aborted ones too)", len(all), n+aborted)
		}
		checkCommitted(t, tg, group, in)
	})
}

// TestTransactionsConfluent drives librdkafka's transactional producer
// (confluent-kafka-go) and its read_committed consumer.
func TestTransactionsConfluent(t *testing.T) {
	matrixGo(t, "confluent-kafka-go", "transactions: committed seen by read_committed, aborted only by read_uncommitted", apisTxn, func(t *testing.T, tg *target) {
		topic := newTopic(t, tg, "ckg-txn", 2)
		p, err := kafka.NewProducer(&kafka.ConfigMap{"bootstrap.servers": tg.addr, "client.id": "compat-ckg",
			"transactional.id": uniq("ckg-txn"), "transaction.timeout.ms": 30000, "linger.ms": 5})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		ctx := ctxT(t, 90*time.Second)
		if err := p.InitTransactions(ctx); err != nil {
			t.Fatalf("init transactions: %v", err)
		}
		n := 0
		run := func(commit bool, count int) {
			t.Helper()
			if err := p.BeginTransaction(); err != nil {
				t.Fatal(err)
			}
			tag := "c"
			if !commit {
				tag = "a"
			}
			for i := 0; i < count; i++ {
				err := p.Produce(&kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: kafka.PartitionAny},
					Key: []byte(strconv.Itoa(n)), Value: []byte(tag + "-" + strconv.Itoa(n))}, nil)
				if err != nil {
					t.Fatalf("produce: %v", err)
				}
				n++
			}
			if commit {
				err = p.CommitTransaction(ctx)
			} else {
				// librdkafka purges what it has not sent yet on abort:
				// send it first, so read_uncommitted has it to see.
				if left := p.Flush(20000); left > 0 {
					t.Fatalf("%d messages not sent before the abort", left)
				}
				err = p.AbortTransaction(ctx)
			}
			if err != nil {
				t.Fatalf("end transaction (commit %v): %v", commit, err)
			}
		}
		go func() {
			for range p.Events() { // delivery reports
			}
		}()
		run(true, 30)
		run(false, 10)
		run(true, 20)
		c, err := kafka.NewConsumer(&kafka.ConfigMap{"bootstrap.servers": tg.addr, "client.id": "compat-ckg",
			"group.id": uniq("g-ckg-txn"), "auto.offset.reset": "earliest", "enable.auto.commit": false,
			"isolation.level": "read_committed", "fetch.wait.max.ms": 200})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Subscribe(topic, nil); err != nil {
			t.Fatal(err)
		}
		var got []string
		deadline := time.Now().Add(40 * time.Second)
		var extra time.Time
		for time.Now().Before(deadline) && (extra.IsZero() || time.Now().Before(extra)) {
			m, err := c.ReadMessage(200 * time.Millisecond)
			if err == nil {
				got = append(got, string(m.Value))
			}
			if len(got) >= 50 && extra.IsZero() {
				extra = time.Now().Add(time.Second)
			}
		}
		for _, v := range got {
			if v[0] != 'c' {
				t.Fatalf("librdkafka read_committed saw the aborted record %s", v)
			}
		}
		if len(got) != 50 {
			t.Fatalf("librdkafka read_committed saw %d records, want 50", len(got))
		}
		if all := readIsolated(t, tg, topic, false, 60); len(all) != 60 {
			t.Fatalf("read_uncommitted saw %d records, want 60", len(all))
		}
	})
}

// TestTxnVersionsMatchKafka sends kafkadiff.TxnVersionCases (the
// transaction APIs at the newest versions Kafka 4.4 serves: InitProducerId
// v5, AddPartitionsToTxn v5, EndTxn v5, WriteTxnMarkers v2, TxnOffsetCommit
// v5 and v6, ListTransactions v2, DescribeTransactions v0, and a
// transactional Produce v13) to the reference Kafka and to each gregor
// target and compares the whole answers, masked by kafkadiff.MaskTxn.
func TestTxnVersionsMatchKafka(t *testing.T) {
	matchKafka(t, "transaction APIs at their newest versions: whole answers equal Kafka's (kafkadiff.TxnVersionCases)", "tv", true,
		kafkadiff.TxnVersionCases, kafkadiff.CompareAnswers)
}
