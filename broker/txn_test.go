package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/broker/txn"
	"github.com/gregor-broker/gregor/storage"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// txnProducer is a franz-go transactional producer for topic.
func txnProducer(t *testing.T, addr, id, topic string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.TransactionalID(id), kgo.DefaultProduceTopic(topic),
		kgo.ProducerLinger(0), kgo.TransactionTimeout(30 * time.Second), kgo.RecordPartitioner(kgo.RoundRobinPartitioner())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// txnRun produces values in one transaction and commits or aborts it.
func txnRun(t *testing.T, cl *kgo.Client, commit bool, values ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for _, v := range values {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
		t.Fatal(err)
	}
}

// txnConsume reads topic from the start at an isolation level until it
// has want records (then a short while more, so extra ones are seen).
func txnConsume(t *testing.T, addr, topic string, committed bool, want int) []string {
	t.Helper()
	iso := kgo.ReadUncommitted()
	if committed {
		iso = kgo.ReadCommitted()
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(iso),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var got []string
	deadline := time.Now().Add(20 * time.Second)
	extra := time.Time{}
	for time.Now().Before(deadline) && (extra.IsZero() || time.Now().Before(extra)) {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
		if len(got) >= want && extra.IsZero() {
			extra = time.Now().Add(time.Second)
		}
	}
	return got
}

func listOffset(t *testing.T, addr, topic string, partition int32, isolation int8) int64 {
	t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	req.Version = 5
	req.ReplicaID = -1
	req.IsolationLevel = isolation
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition, rp.Timestamp = partition, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	r := grpReq[*kmsg.ListOffsetsResponse](t, addr, req)
	return r.Topics[0].Partitions[0].Offset
}

// TestTxnCommitAbort: committed transactions are read by read_committed
// consumers, aborted ones only by read_uncommitted ones; while a
// transaction is open the last stable offset holds read_committed back.
func TestTxnCommitAbort(t *testing.T) {
	b := grpBroker(t, t.TempDir(), "")
	defer grpStop(t, b)
	addr := grpAddr(b)
	grpTopic(t, b, "tx", 1)
	cl := txnProducer(t, addr, "txn-a", "tx")
	defer cl.Close()

	txnRun(t, cl, true, "c1", "c2", "c3")
	txnRun(t, cl, false, "a1", "a2")
	txnRun(t, cl, true, "c4")

	// An open transaction: its records sit above the last stable offset.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("open")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// 3 records + marker, 2 + marker, 1 + marker: the open one is at 9.
	if lso, hwm := listOffset(t, addr, "tx", 0, 1), listOffset(t, addr, "tx", 0, 0); lso != 9 || hwm != 10 {
		t.Fatalf("read_committed end %d, read_uncommitted end %d; want 9 and 10", lso, hwm)
	}
	if got := txnConsume(t, addr, "tx", true, 4); len(got) != 4 || got[0] != "c1" || got[3] != "c4" {
		t.Fatalf("read_committed saw %v, want c1 c2 c3 c4", got)
	}
	if got := txnConsume(t, addr, "tx", false, 7); len(got) != 7 {
		t.Fatalf("read_uncommitted saw %v, want all 7 data records", got)
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	if lso := listOffset(t, addr, "tx", 0, 1); lso != 11 {
		t.Fatalf("read_committed end %d after the commit, want 11", lso)
	}
	if got := txnConsume(t, addr, "tx", true, 5); len(got) != 5 || got[4] != "open" {
		t.Fatalf("read_committed saw %v after the commit", got)
	}
}

// TestTxnFencing: a second producer with the same transactional id fences
// the first, whose open transaction is aborted.
func TestTxnFencing(t *testing.T) {
	b := grpBroker(t, t.TempDir(), "")
	defer grpStop(t, b)
	addr := grpAddr(b)
	grpTopic(t, b, "tx", 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	zombie := txnProducer(t, addr, "txn-f", "tx")
	defer zombie.Close()
	if err := zombie.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := zombie.ProduceSync(ctx, &kgo.Record{Value: []byte("zombie")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	fresh := txnProducer(t, addr, "txn-f", "tx")
	defer fresh.Close()
	txnRun(t, fresh, true, "fresh")

	err := zombie.ProduceSync(ctx, &kgo.Record{Value: []byte("zombie2")}).FirstErr()
	if err == nil {
		err = zombie.EndTransaction(ctx, kgo.TryCommit)
	}
	if !errors.Is(err, kerr.ProducerFenced) && !errors.Is(err, kerr.InvalidProducerEpoch) {
		t.Fatalf("zombie got %v, want fenced", err)
	}
	if got := txnConsume(t, addr, "tx", true, 1); len(got) != 1 || got[0] != "fresh" {
		t.Fatalf("read_committed saw %v, want only fresh", got)
	}
}

// TestTxnTimeout: the coordinator aborts a transaction left open past its
// timeout; the producer is fenced.
func TestTxnTimeout(t *testing.T) {
	old := txnCheckInterval
	txnCheckInterval = 100 * time.Millisecond
	defer func() { txnCheckInterval = old }()
	b := grpBroker(t, t.TempDir(), "")
	defer grpStop(t, b)
	addr := grpAddr(b)
	grpTopic(t, b, "tx", 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := txnProducer(t, addr, "txn-t", "tx", kgo.TransactionTimeout(time.Second))
	defer cl.Close()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("late")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); listOffset(t, addr, "tx", 0, 1) != 2; {
		if time.Now().After(deadline) {
			t.Fatalf("last stable offset %d: the expired transaction was not aborted", listOffset(t, addr, "tx", 0, 1))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err == nil {
		t.Fatal("commit of a transaction aborted by its timeout succeeded")
	}
	if got := txnConsume(t, addr, "tx", true, 0); len(got) != 0 {
		t.Fatalf("read_committed saw %v", got)
	}
}

// TestTxnETL: franz-go's GroupTransactSession consumes an input topic and
// produces each record to an output topic with the consumed offsets in the
// same transaction; a read_committed consumer sees every record once.
func TestTxnETL(t *testing.T) {
	b := grpBroker(t, t.TempDir(), "")
	defer grpStop(t, b)
	addr := grpAddr(b)
	grpTopic(t, b, "in", 3)
	grpTopic(t, b, "out", 2)
	const n = 300
	grpProduce(t, addr, "in", 0, n)

	sess, err := kgo.NewGroupTransactSession(kgo.SeedBrokers(addr), kgo.TransactionalID("etl"), kgo.ConsumerGroup("etl-g"),
		kgo.ConsumeTopics("in"), kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ProducerLinger(0),
		kgo.DefaultProduceTopic("out"), kgo.TransactionTimeout(30*time.Second), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	moved := 0
	for moved < n && ctx.Err() == nil {
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		fs := sess.PollFetches(pctx)
		pcancel()
		if err := sess.Begin(); err != nil {
			t.Fatal(err)
		}
		var recs []*kgo.Record
		fs.EachRecord(func(r *kgo.Record) { recs = append(recs, &kgo.Record{Value: append([]byte("x"), r.Value...)}) })
		if len(recs) > 0 {
			if err := sess.ProduceSync(ctx, recs...).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		committed, err := sess.End(ctx, kgo.TryCommit)
		if err != nil {
			t.Fatal(err)
		}
		if committed {
			moved += len(recs)
		}
	}
	got := txnConsume(t, addr, "out", true, n)
	seen := map[string]int{}
	for _, v := range got {
		seen[v]++
	}
	for i := 0; i < n; i++ {
		if c := seen["x"+strconv.Itoa(i)]; c != 1 {
			t.Fatalf("record %d seen %d times (%d records in all)", i, c, len(got))
		}
	}
	if len(got) != n {
		t.Fatalf("%d records, want %d", len(got), n)
	}
	// The group's committed offsets are the ends of the input partitions.
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version = 5
	req.Group = "etl-g"
	r := grpReq[*kmsg.OffsetFetchResponse](t, addr, req)
	var total int64
	for _, rt := range r.Topics {
		for _, p := range rt.Partitions {
			total += p.Offset
		}
	}
	// Each input partition holds its records plus no markers (the input
	// was written without transactions).
	if total != n {
		t.Fatalf("committed offsets sum to %d, want %d (%+v)", total, n, r.Topics)
	}
}

// TestTxnRestart: a broker restarted in the middle of a transaction keeps
// it (the coordinator's state is in the commit log): the producer commits
// after the restart and read_committed consumers see the records once;
// an open transaction left by a producer that never returns is aborted
// when its id is taken over.
func TestTxnRestart(t *testing.T) {
	dir := t.TempDir()
	b := grpBroker(t, dir, "")
	addr := grpAddr(b)
	grpTopic(t, b, "tx", 1)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl := txnProducer(t, addr, "txn-r", "tx")
	defer cl.Close()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("before")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	gone := txnProducer(t, addr, "txn-gone", "tx")
	defer gone.Close()
	if err := gone.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := gone.ProduceSync(ctx, &kgo.Record{Value: []byte("gone")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	gone.Close()
	// A third transaction was decided (PrepareCommit in the log) when the
	// broker stopped, its markers not written yet: as after a crash
	// between the two. The restarted coordinator completes it unasked.
	decided := txnProducer(t, addr, "txn-decided", "tx")
	defer decided.Close()
	if err := decided.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := decided.ProduceSync(ctx, &kgo.Record{Value: []byte("decided")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	decided.Close()
	dm := b.txns().Describe("txn-decided")
	dm.State = txn.PrepareCommit
	if v, err := json.Marshal(dm); err != nil {
		t.Fatal(err)
	} else if err := b.store.PutKV(txn.Namespace, storage.KV{Key: []byte(dm.ID), Value: v}); err != nil {
		t.Fatal(err)
	}
	grpStop(t, b)

	b = grpBroker(t, dir, "")
	defer grpStop(t, b)
	addr = grpAddr(b)
	if lso := listOffset(t, addr, "tx", 0, 1); lso != 0 {
		t.Fatalf("last stable offset %d after the restart, want 0 (two transactions open)", lso)
	}
	// Read from the store, not through b.txns(), which would start the
	// coordinator if the broker had not.
	stored := func() (m txn.Metadata) {
		v, _ := b.store.GetKV(txn.Namespace, []byte("txn-decided"))
		json.Unmarshal(v, &m)
		return m
	}
	for deadline := time.Now().Add(20 * time.Second); stored().State != txn.CompleteCommit; {
		if time.Now().After(deadline) {
			t.Fatalf("the decided transaction was not completed after the restart: %+v", stored())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The producer's connection is gone with the old port: a client
	// with the same id and epoch state stands in via raw requests.
	c := b.txns()
	m := c.Describe("txn-r")
	if m == nil || m.State.String() != "Ongoing" || len(m.Partitions) != 1 {
		t.Fatalf("after restart: %+v", m)
	}
	end := kmsg.NewPtrEndTxnRequest()
	end.Version = 3
	end.TransactionalID, end.ProducerID, end.ProducerEpoch, end.Commit = "txn-r", m.ProducerID, m.Epoch, true
	if r := grpReq[*kmsg.EndTxnResponse](t, addr, end); r.ErrorCode != 0 {
		t.Fatalf("commit after restart: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	// Taking over the abandoned id aborts its transaction.
	fresh := txnProducer(t, addr, "txn-gone", "tx")
	defer fresh.Close()
	txnRun(t, fresh, true, "after")
	got := txnConsume(t, addr, "tx", true, 3)
	if len(got) != 3 || got[0] != "before" || got[1] != "decided" || got[2] != "after" {
		t.Fatalf("read_committed saw %v, want before, decided, after", got)
	}
	if got := txnConsume(t, addr, "tx", false, 4); len(got) != 4 {
		t.Fatalf("read_uncommitted saw %v, want before, gone, decided, after", got)
	}
}

// TestTxnAdmin: DescribeTransactions, ListTransactions and
// DescribeProducers (kadm, as kafka-transactions uses them) show an open
// transaction, then its completion.
func TestTxnAdmin(t *testing.T) {
	b := grpBroker(t, t.TempDir(), "")
	defer grpStop(t, b)
	addr := grpAddr(b)
	grpTopic(t, b, "tx", 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := txnProducer(t, addr, "txn-adm", "tx")
	defer cl.Close()
	txnRun(t, cl, true, "x")
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("y")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(grpClient(t, addr))
	defer adm.Close()
	dts, err := adm.DescribeTransactions(ctx, "txn-adm", "nope")
	if err != nil {
		t.Fatal(err)
	}
	d := dts["txn-adm"]
	if d.Err != nil || d.State != "Ongoing" || d.StartTimestamp <= 0 || len(d.Topics["tx"]) != 1 || d.TimeoutMillis != 30000 {
		t.Fatalf("described %+v", d)
	}
	if !errors.Is(dts["nope"].Err, kerr.TransactionalIDNotFound) {
		t.Fatalf("unknown id: %v", dts["nope"].Err)
	}
	lts, err := adm.ListTransactions(ctx, nil, []string{"Ongoing"})
	if err != nil {
		t.Fatal(err)
	}
	if len(lts) != 1 || lts["txn-adm"].ProducerID != d.ProducerID {
		t.Fatalf("listed %+v", lts)
	}
	dps, err := adm.DescribeProducers(ctx, kadm.TopicsSet{"tx": {0: {}}})
	if err != nil {
		t.Fatal(err)
	}
	ps := dps.SortedProducers()
	if len(ps) != 1 || ps[0].ProducerID != d.ProducerID || ps[0].CurrentTxnStartOffset != 2 {
		t.Fatalf("producers %+v", ps)
	}
	if err := cl.EndTransaction(ctx, kgo.TryAbort); err != nil {
		t.Fatal(err)
	}
	dts, err = adm.DescribeTransactions(ctx, "txn-adm")
	if err != nil || dts["txn-adm"].State != "CompleteAbort" {
		t.Fatalf("after abort: %+v %v", dts, err)
	}
	dps, _ = adm.DescribeProducers(ctx, kadm.TopicsSet{"tx": {0: {}}})
	if ps := dps.SortedProducers(); len(ps) != 1 || ps[0].CurrentTxnStartOffset != -1 {
		t.Fatalf("producers after abort %+v", ps)
	}
}

// TestTxnCluster: on three broker groups, a transaction coordinated by one
// group writes to partitions of every group and commits offsets of a group
// another one coordinates: markers and offsets reach them (WriteTxnMarkers),
// and a read_committed consumer sees every record once, nothing of an
// aborted transaction.
func TestTxnCluster(t *testing.T) {
	bs, _ := clusterStart(t, 3)
	ctx := coreCtx(t)
	adm := kadm.NewClient(bs[0].client())
	for _, tp := range []struct {
		name string
		n    int32
	}{{"in", 3}, {"out", 6}} {
		if res, err := adm.CreateTopic(ctx, tp.n, 1, nil, tp.name); err != nil || res.Err != nil {
			t.Fatalf("create %s: %v %v", tp.name, err, res.Err)
		}
	}
	for _, cb := range bs {
		cb.b.cluster.refreshNow()
	}
	// A transactional id and a group coordinated by different groups.
	var txnID, groupID string
	for i := 0; i < 200 && txnID == ""; i++ {
		id, g := fmt.Sprintf("tx-%d", i), fmt.Sprintf("g-%d", i)
		tm, c1 := bs[0].b.txnCoordinatorFor(ctx, id, true)
		gm, c2 := bs[0].b.coordinator(ctx, g, true)
		if c1 == 0 && c2 == 0 && tm != nil && gm != nil && tm.NodeID != gm.NodeID {
			txnID, groupID = id, g
		}
	}
	if txnID == "" {
		t.Fatal("no transactional id and group with different coordinators")
	}
	for _, cb := range bs {
		cb.b.cluster.refreshNow()
	}
	seeds := clusterSeeds(bs)
	const n = 300
	grpProduce(t, seeds[0], "in", 0, n)

	// An aborted transaction over every partition of out.
	ab, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.TransactionalID(txnID+"-ab"), kgo.DefaultProduceTopic("out"),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	defer ab.Close()
	var aborted []string
	for i := 0; i < 12; i++ {
		aborted = append(aborted, "aborted-"+strconv.Itoa(i))
	}
	txnRun(t, ab, false, aborted...)

	sess, err := kgo.NewGroupTransactSession(kgo.SeedBrokers(seeds...), kgo.TransactionalID(txnID), kgo.ConsumerGroup(groupID),
		kgo.ConsumeTopics("in"), kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ProducerLinger(0),
		kgo.DefaultProduceTopic("out"), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()),
		kgo.TransactionTimeout(30*time.Second), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	moved := 0
	for moved < n && ctx.Err() == nil {
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		fs := sess.PollFetches(pctx)
		pcancel()
		if err := sess.Begin(); err != nil {
			t.Fatal(err)
		}
		var recs []*kgo.Record
		fs.EachRecord(func(r *kgo.Record) { recs = append(recs, &kgo.Record{Value: append([]byte("x"), r.Value...)}) })
		if len(recs) > 0 {
			if err := sess.ProduceSync(ctx, recs...).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		committed, err := sess.End(ctx, kgo.TryCommit)
		if err != nil {
			t.Fatal(err)
		}
		if committed {
			moved += len(recs)
		}
	}
	got := txnConsumeSeeds(t, seeds, "out", true, n)
	seen := map[string]int{}
	for _, v := range got {
		seen[v]++
	}
	for i := 0; i < n; i++ {
		if c := seen["x"+strconv.Itoa(i)]; c != 1 {
			t.Fatalf("record %d seen %d times (%d records in all)", i, c, len(got))
		}
	}
	if len(got) != n {
		t.Fatalf("read_committed saw %d records, want %d (aborted ones included?)", len(got), n)
	}
	if all := txnConsumeSeeds(t, seeds, "out", false, n+len(aborted)); len(all) != n+len(aborted) {
		t.Fatalf("read_uncommitted saw %d records, want %d", len(all), n+len(aborted))
	}
	// The group's offsets, committed by markers on the group's
	// coordinator, are the input's ends.
	gm, _ := bs[0].b.coordinator(ctx, groupID, false)
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version = 5
	req.Group = groupID
	r := bs[gm.NodeID-1].raw().do(req).(*kmsg.OffsetFetchResponse)
	var total int64
	for _, rt := range r.Topics {
		for _, p := range rt.Partitions {
			total += p.Offset
		}
	}
	if total != n {
		t.Fatalf("committed offsets sum to %d, want %d (%+v)", total, n, r.Topics)
	}
}

// txnConsumeSeeds is txnConsume over several seed brokers.
func txnConsumeSeeds(t *testing.T, seeds []string, topic string, committed bool, want int) []string {
	t.Helper()
	iso := kgo.ReadUncommitted()
	if committed {
		iso = kgo.ReadCommitted()
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(iso),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var got []string
	deadline := time.Now().Add(20 * time.Second)
	var extra time.Time
	for time.Now().Before(deadline) && (extra.IsZero() || time.Now().Before(extra)) {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
		if len(got) >= want && extra.IsZero() {
			extra = time.Now().Add(time.Second)
		}
	}
	return got
}

// TestTxnProduceVerifiesPartition: a transactional batch for a partition
// not in its producer's open transaction gets INVALID_TXN_STATE from
// Produce v3-v11; from v12 (KIP-890 part 2) the Produce adds the partition
// to the transaction, also when it names the topic by id (v13); a
// transactional batch without the request's transactional id gets
// TRANSACTIONAL_ID_AUTHORIZATION_FAILED.
func TestTxnProduceVerifiesPartition(t *testing.T) {
	b := grpBroker(t, t.TempDir(), "")
	defer grpStop(t, b)
	addr := grpAddr(b)
	grpTopic(t, b, "tv", 2)
	tp, _ := b.topics.Get("tv")

	init := kmsg.NewPtrInitProducerIDRequest()
	init.Version = 4
	init.TransactionalID = kmsg.StringPtr("txn-v")
	init.TransactionTimeoutMillis = 30000
	ir := grpReq[*kmsg.InitProducerIDResponse](t, addr, init)
	if ir.ErrorCode != 0 {
		t.Fatalf("InitProducerId: %v", kerr.ErrorForCode(ir.ErrorCode))
	}
	batch := mutate(coreBatch(time.Now().UnixMilli(), ir.ProducerID, ir.ProducerEpoch, 0, coreRecs(1, "t")...), true,
		func(b []byte) []byte { b[bAttributes+1] |= attrTransactional; return b })

	// Before v12 the partition must be in the transaction already.
	for _, v := range []int16{3, 11} {
		req := produceReq(v, -1, "tv", 0, batch)
		req.TransactionID = kmsg.StringPtr("txn-v")
		p := producePart(grpReq[*kmsg.ProduceResponse](t, addr, req))
		if p.ErrorCode != kerr.InvalidTxnState.Code {
			t.Fatalf("Produce v%d of a partition outside the transaction: %v, want INVALID_TXN_STATE", v, kerr.ErrorForCode(p.ErrorCode))
		}
	}
	// From v12 (transaction.version 2) the Produce adds it: a v13 Produce
	// (by id) is taken without an AddPartitionsToTxn, and the transaction
	// then holds the partition.
	in := produceReq(13, -1, "", 0, batch)
	in.TransactionID = kmsg.StringPtr("txn-v")
	in.Topics[0].TopicID = tp.ID
	if p := producePart(grpReq[*kmsg.ProduceResponse](t, addr, in)); p.ErrorCode != 0 {
		t.Fatalf("Produce v13 adding the partition to the transaction: %v", kerr.ErrorForCode(p.ErrorCode))
	}
	if m := b.txns().Describe("txn-v"); m == nil || m.State != txn.Ongoing || len(m.Partitions) != 1 || m.Partitions[0] != (txn.TopicPartition{Topic: "tv", Partition: 0}) {
		t.Fatalf("after an implicit add the transaction is %+v, want Ongoing with tv-0", m)
	}

	req := produceReq(12, -1, "tv", 1, batch)
	if p := producePart(grpReq[*kmsg.ProduceResponse](t, addr, req)); p.ErrorCode != kerr.TransactionalIDAuthorizationFailed.Code {
		t.Fatalf("transactional batch without a transactional id: %v", kerr.ErrorForCode(p.ErrorCode))
	}
	if end := b.store.Partition(tp.ID, 1).LogEndOffset(); end != 0 {
		t.Fatalf("partition 1 ends at %d after a refused batch, want 0", end)
	}
}

// keyLog records the keys of the requests a kgo client writes.
type keyLog struct {
	mu   sync.Mutex
	keys map[int16]int
}

func (k *keyLog) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if err != nil {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.keys == nil {
		k.keys = map[int16]int{}
	}
	k.keys[key]++
}

func (k *keyLog) sent(key kmsg.Key) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.keys[int16(key)]
}

// TestTxnV2 walks transaction.version 2 (KIP-890 part 2) with raw
// requests: a Produce v12 adds its partition to the transaction, EndTxn v5
// bumps the epoch and answers with it, the markers carry the bumped epoch
// (the partition's producer state has it, so a batch of the ended
// transaction's epoch is refused), a retried EndTxn gets the current epoch,
// and an EndTxn v4 keeps the epoch and answers -1/-1.
func TestTxnV2(t *testing.T) {
	b := grpBroker(t, t.TempDir(), "")
	defer grpStop(t, b)
	addr := grpAddr(b)
	grpTopic(t, b, "t2", 1)
	tp, _ := b.topics.Get("t2")

	init := kmsg.NewPtrInitProducerIDRequest()
	init.Version = 5
	init.TransactionalID = kmsg.StringPtr("txn-2")
	init.TransactionTimeoutMillis = 30000
	ir := grpReq[*kmsg.InitProducerIDResponse](t, addr, init)
	if ir.ErrorCode != 0 {
		t.Fatalf("InitProducerId: %v", kerr.ErrorForCode(ir.ErrorCode))
	}
	pid, epoch := ir.ProducerID, ir.ProducerEpoch
	txnBatch := func(epoch int16, seq int32) []byte {
		return mutate(coreBatch(time.Now().UnixMilli(), pid, epoch, seq, coreRecs(1, "t")...), true,
			func(b []byte) []byte { b[bAttributes+1] |= attrTransactional; return b })
	}
	produce := func(epoch int16, seq int32) int16 {
		req := produceReq(12, -1, "t2", 0, txnBatch(epoch, seq))
		req.TransactionID = kmsg.StringPtr("txn-2")
		return producePart(grpReq[*kmsg.ProduceResponse](t, addr, req)).ErrorCode
	}
	end := func(version, epoch int16, commit bool) *kmsg.EndTxnResponse {
		req := kmsg.NewPtrEndTxnRequest()
		req.Version = version
		req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = "txn-2", pid, epoch, commit
		return grpReq[*kmsg.EndTxnResponse](t, addr, req)
	}
	if code := produce(epoch, 0); code != 0 {
		t.Fatalf("Produce v12 of a new transaction: %v", kerr.ErrorForCode(code))
	}
	if r := end(5, epoch, true); r.ErrorCode != 0 || r.ProducerID != pid || r.ProducerEpoch != epoch+1 {
		t.Fatalf("EndTxn v5: %v %d/%d, want %d/%d", kerr.ErrorForCode(r.ErrorCode), r.ProducerID, r.ProducerEpoch, pid, epoch+1)
	}
	for _, pi := range b.store.Partition(tp.ID, 0).Producers() {
		if pi.ProducerID == pid && pi.Epoch != epoch+1 {
			t.Fatalf("the partition holds epoch %d for the producer after the commit marker, want %d", pi.Epoch, epoch+1)
		}
	}
	if code := produce(epoch, 1); code != kerr.InvalidProducerEpoch.Code {
		t.Fatalf("a batch of the ended transaction's epoch: %v, want INVALID_PRODUCER_EPOCH", kerr.ErrorForCode(code))
	}
	if r := end(5, epoch, true); r.ErrorCode != 0 || r.ProducerEpoch != epoch+1 {
		t.Fatalf("EndTxn v5 retried: %v epoch %d, want epoch %d", kerr.ErrorForCode(r.ErrorCode), r.ProducerEpoch, epoch+1)
	}
	epoch++
	if code := produce(epoch, 0); code != 0 {
		t.Fatalf("Produce v12 at the bumped epoch: %v", kerr.ErrorForCode(code))
	}
	if r := end(4, epoch, false); r.ErrorCode != 0 || r.ProducerID != -1 || r.ProducerEpoch != -1 {
		t.Fatalf("EndTxn v4: %v %d/%d, want -1/-1", kerr.ErrorForCode(r.ErrorCode), r.ProducerID, r.ProducerEpoch)
	}
	if m := b.txns().Describe("txn-2"); m.State != txn.CompleteAbort || m.Epoch != epoch {
		t.Fatalf("after an EndTxn v4 abort: %s at epoch %d, want CompleteAbort at %d", m.State, m.Epoch, epoch)
	}
	if got := txnConsume(t, addr, "t2", true, 1); len(got) != 1 {
		t.Fatalf("read_committed saw %v, want the one committed record", got)
	}
}

// TestTxnV2Client: franz-go, seeing transaction.version 2 finalized,
// produces and commits offsets without AddPartitionsToTxn or
// AddOffsetsToTxn (Produce v12+ and TxnOffsetCommit v5+ add them), and
// the read_committed result and the group's offsets are right.
func TestTxnV2Client(t *testing.T) {
	b := grpBroker(t, t.TempDir(), "")
	defer grpStop(t, b)
	addr := grpAddr(b)
	grpTopic(t, b, "in2", 2)
	grpTopic(t, b, "out2", 2)
	const n = 50
	grpProduce(t, addr, "in2", 0, n)
	var keys keyLog
	sess, err := kgo.NewGroupTransactSession(kgo.SeedBrokers(addr), kgo.TransactionalID("etl2"), kgo.ConsumerGroup("etl2-g"),
		kgo.ConsumeTopics("in2"), kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ProducerLinger(0), kgo.WithHooks(&keys),
		kgo.DefaultProduceTopic("out2"), kgo.TransactionTimeout(30*time.Second), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for moved := 0; moved < n && ctx.Err() == nil; {
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		fs := sess.PollFetches(pctx)
		pcancel()
		if err := sess.Begin(); err != nil {
			t.Fatal(err)
		}
		var recs []*kgo.Record
		fs.EachRecord(func(r *kgo.Record) { recs = append(recs, &kgo.Record{Value: r.Value}) })
		if len(recs) > 0 {
			if err := sess.ProduceSync(ctx, recs...).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		committed, err := sess.End(ctx, kgo.TryCommit)
		if err != nil {
			t.Fatal(err)
		}
		if committed {
			moved += len(recs)
		}
	}
	if got := txnConsume(t, addr, "out2", true, n); len(got) != n {
		t.Fatalf("read_committed saw %d records, want %d", len(got), n)
	}
	if keys.sent(kmsg.TxnOffsetCommit) == 0 || keys.sent(kmsg.EndTxn) == 0 {
		t.Fatalf("the session sent no TxnOffsetCommit or EndTxn (%v)", keys.keys)
	}
	if a, o := keys.sent(kmsg.AddPartitionsToTxn), keys.sent(kmsg.AddOffsetsToTxn); a != 0 || o != 0 {
		t.Fatalf("franz-go sent %d AddPartitionsToTxn and %d AddOffsetsToTxn: transaction.version 2 is not in use", a, o)
	}
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version = 5
	req.Group = "etl2-g"
	var total int64
	for _, rt := range grpReq[*kmsg.OffsetFetchResponse](t, addr, req).Topics {
		for _, p := range rt.Partitions {
			total += p.Offset
		}
	}
	if total != n {
		t.Fatalf("the group's committed offsets sum to %d, want %d", total, n)
	}
}
