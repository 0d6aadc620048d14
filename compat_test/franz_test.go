package compat

import (
	"context"
	"fmt"
	"hash/crc32"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestFranz drives franz-go (kgo, kadm) in process.
func TestFranz(t *testing.T) {
	codecs := []struct {
		name  string
		codec kgo.CompressionCodec
		attr  int16 // the batch attributes' compression bits
	}{
		{"none", kgo.NoCompression(), 0},
		{"gzip", kgo.GzipCompression(), 1},
		{"snappy", kgo.SnappyCompression(), 2},
		{"lz4", kgo.Lz4Compression(), 3},
		{"zstd", kgo.ZstdCompression(), 4},
	}
	for _, c := range codecs {
		matrixGo(t, "franz-go", "idempotent producer "+c.name, apisIdem, func(t *testing.T, tg *target) {
			topic := newTopic(t, tg, "franz-"+c.name, 3)
			cl := newClient(t, tg, kgo.DefaultProduceTopic(topic), kgo.ProducerBatchCompression(c.codec),
				kgo.ProducerLinger(5*time.Millisecond))
			const n = 150
			rs := make([]*kgo.Record, n)
			for i := range rs {
				rs[i] = &kgo.Record{Key: []byte(fmt.Sprintf("k-%d", i%7)), Value: []byte(fmt.Sprintf("franz-%d", i)),
					Headers: []kgo.RecordHeader{{Key: "idx", Value: []byte(strconv.Itoa(i))}, {Key: "client", Value: []byte("franz")}}}
			}
			// Two halves: the second continues the first's sequence numbers.
			for _, half := range [][]*kgo.Record{rs[:n/2], rs[n/2:]} {
				if err := cl.ProduceSync(ctxT(t, 30*time.Second), half...).FirstErr(); err != nil {
					t.Fatalf("produce: %v", err)
				}
			}
			acks := make([]rec, n)
			for i, r := range rs {
				acks[i] = toRec(r)
			}
			checkProduced(t, tg, topic, "franz", n, acks)
			// The broker keeps each batch as the producer compressed it
			// and as an idempotent batch (producer id and sequence set).
			checkBatches(t, tg, topic, 3, int8(c.attr), true)
		})
	}

	for _, bal := range []struct {
		name string
		b    kgo.GroupBalancer
	}{{"cooperative-sticky", kgo.CooperativeStickyBalancer()}, {"range", kgo.RangeBalancer()}} {
		matrixGo(t, "franz-go", "group "+bal.name+" join/leave", apisGroup, func(t *testing.T, tg *target) {
			groupChurn(t, tg, bal.b)
		})
	}

	matrixGo(t, "franz-go", "manual partition assignment", apisData, func(t *testing.T, tg *target) {
		topic := newTopic(t, tg, "franz-assign", 3)
		want := producePartitioned(t, tg, topic, 0, 60, 3)
		cl := newClient(t, tg, kgo.FetchMaxWait(200*time.Millisecond), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {
			0: kgo.NewOffset().At(5),
			1: kgo.NewOffset().AtStart(),
			2: kgo.NewOffset().AtEnd().Relative(-2),
		}}))
		var expect []rec
		for _, r := range want {
			if (r.P == 0 && r.O >= 5) || r.P == 1 || (r.P == 2 && r.O >= 18) {
				expect = append(expect, r)
			}
		}
		got := pollN(t, cl, len(expect))
		checkConsumed(t, got, expect)
		// Nothing more arrives: the count is exact.
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		if fs := cl.PollFetches(ctx); fs.NumRecords() > 0 {
			t.Errorf("%d records beyond the expected %d", fs.NumRecords(), len(expect))
		}
	})

	matrixGo(t, "franz-go", "record larger than fetch max bytes (KIP-74)", apisData, func(t *testing.T, tg *target) {
		// A consumer whose fetch limits are far below one record still
		// gets it: the broker returns at least one whole batch.
		topic := newTopic(t, tg, "franz-big", 1)
		big := strings.Repeat("b", 300<<10)
		want := produceValues(t, tg, topic, "small-0", big, "small-2")
		cl := newClient(t, tg, kgo.FetchMaxBytes(1<<10), kgo.FetchMaxPartitionBytes(1<<10), kgo.FetchMaxWait(200*time.Millisecond),
			kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
		checkConsumed(t, pollN(t, cl, 3), want)
	})

	matrixGo(t, "franz-go", "static member restart (group.instance.id)", apisGroup, func(t *testing.T, tg *target) {
		// A static member leaves no group on close; the same instance
		// id coming back takes its place at once: no rebalance (same
		// generation) and no wait for the old member's session timeout.
		// The session timeout (60s) is far longer than the time the
		// restarted member gets to read (15s), so a broker that waited it
		// out fails here instead of passing slowly.
		const session, within = 60 * time.Second, 15 * time.Second
		topic := newTopic(t, tg, "franz-static", 2)
		group := uniq("g-static")
		first := producePartitioned(t, tg, topic, 0, 40, 2)
		member := func() *kgo.Client {
			return newClient(t, tg, kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.InstanceID("static-1"),
				kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
				kgo.SessionTimeout(session), kgo.HeartbeatInterval(300*time.Millisecond),
				kgo.FetchMaxWait(200*time.Millisecond))
		}
		c1 := member()
		got := pollN(t, c1, len(first))
		if err := c1.CommitUncommittedOffsets(ctxT(t, 20*time.Second)); err != nil {
			t.Fatalf("commit: %v", err)
		}
		id1, gen1 := c1.GroupMetadata()
		c1.Close()
		checkConsumed(t, got, first)
		second := producePartitioned(t, tg, topic, 40, 20, 2)
		start := time.Now()
		c2 := member()
		got = nil
		ctx := ctxT(t, within)
		for len(got) < len(second) {
			fs := c2.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("%s: the restarted static member read %d of %d records within %v (session timeout %v): "+
					"the broker did not let it take the old member's place", tg.name, len(got), len(second), within, session)
			}
			fs.EachError(func(tp string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", tp, p, err) })
			fs.EachRecord(func(r *kgo.Record) { got = append(got, toRec(r)) })
		}
		t.Logf("%s: the static member was back and read after %v", tg.name, time.Since(start).Round(time.Millisecond))
		id2, gen2 := c2.GroupMetadata()
		if gen2 != gen1 {
			t.Errorf("%s: generation %d after the static restart, %d before: the broker rebalanced", tg.name, gen2, gen1)
		}
		if id2 == id1 {
			t.Errorf("%s: the restarted member got the old member id %s; Kafka gives it a new one", tg.name, id1)
		}
		c2.CommitUncommittedOffsets(ctxT(t, 20*time.Second))
		checkConsumed(t, got, second)
		checkCommitted(t, tg, group, topic)
		dg, err := newAdmin(t, tg).DescribeGroups(ctxT(t, 10*time.Second), group)
		if err != nil {
			t.Fatal(err)
		}
		if d := dg[group]; d.State != "Stable" || len(d.Members) != 1 || d.Members[0].MemberID != id2 ||
			d.Members[0].InstanceID == nil || *d.Members[0].InstanceID != "static-1" {
			t.Errorf("%s: group after the restart: state %s, members %+v; want Stable with the one new member", tg.name, d.State, d.Members)
		}
	})

	matrixGo(t, "franz-go", "LogAppendTime topic", apisData, func(t *testing.T, tg *target) {
		// The broker stamps each batch with its own time, sets the
		// timestamp-type bit and keeps the CRC right.
		adm := newAdmin(t, tg)
		topic := uniq("franz-lat")
		lat := "LogAppendTime"
		if r, err := adm.CreateTopic(ctxT(t, 20*time.Second), 1, 1, map[string]*string{"message.timestamp.type": &lat}, topic); err != nil || r.Err != nil {
			t.Fatalf("create: %v %v", err, r.Err)
		}
		waitTopic(t, tg, topic, 1)
		before := time.Now().Add(-time.Second).Truncate(time.Millisecond)
		cl := newClient(t, tg, kgo.DefaultProduceTopic(topic))
		old := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
		var rs []*kgo.Record
		for i := 0; i < 5; i++ {
			rs = append(rs, &kgo.Record{Value: []byte(fmt.Sprint(i)), Timestamp: old})
		}
		if err := cl.ProduceSync(ctxT(t, 20*time.Second), rs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
		after := time.Now().Add(time.Second)
		rd := newClient(t, tg, kgo.FetchMaxWait(200*time.Millisecond),
			kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
		ctx := ctxT(t, 20*time.Second)
		for n := 0; n < 5; {
			fs := rd.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("read %d of 5", n)
			}
			fs.EachRecord(func(r *kgo.Record) {
				n++
				if r.Attrs.TimestampType() != 1 || r.Timestamp.Before(before) || r.Timestamp.After(after) {
					t.Errorf("record %d: timestamp %v type %d; want the broker's append time (type 1)", r.Offset, r.Timestamp, r.Attrs.TimestampType())
				}
			})
		}
		for _, b := range rawBatches(t, tg, topic, 0) {
			raw := b.AppendTo(nil)
			if crc32.Checksum(raw[21:], castagnoli) != uint32(b.CRC) || b.Attributes&0x08 == 0 {
				t.Errorf("batch at %d: CRC ok %v, attributes %#x; want a valid CRC and the LogAppendTime bit",
					b.FirstOffset, crc32.Checksum(raw[21:], castagnoli) == uint32(b.CRC), b.Attributes)
			}
		}
	})

	matrixGo(t, "franz-go", "DeleteRecords and ListOffsets (earliest, latest, max-timestamp)", join(apisData, []kmsg.Key{kmsg.DeleteRecords}), func(t *testing.T, tg *target) {
		topic := newTopic(t, tg, "franz-del", 1)
		cl := newClient(t, tg, kgo.DefaultProduceTopic(topic))
		base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
		// Timestamps rise to a peak at offset 6, then fall.
		ts := []int{0, 1, 2, 3, 4, 5, 9, 7, 6, 8}
		for i, s := range ts {
			r := &kgo.Record{Value: []byte(fmt.Sprint(i)), Timestamp: base.Add(time.Duration(s) * time.Second)}
			if err := cl.ProduceSync(ctxT(t, 20*time.Second), r).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		adm := newAdmin(t, tg)
		ctx := ctxT(t, 20*time.Second)
		dr, err := adm.DeleteRecords(ctx, kadm.Offsets{topic: {0: {Topic: topic, Partition: 0, At: 4, LeaderEpoch: -1}}})
		if err != nil {
			t.Fatalf("delete records: %v", err)
		}
		if d, ok := dr.Lookup(topic, 0); !ok || d.Err != nil || d.LowWatermark != 4 {
			t.Errorf("delete records: %+v, want low watermark 4", d)
		}
		list := func(ts int64) int64 {
			req := kmsg.NewPtrListOffsetsRequest()
			req.ReplicaID = -1
			rt := kmsg.NewListOffsetsRequestTopic()
			rt.Topic = topic
			rp := kmsg.NewListOffsetsRequestTopicPartition()
			rp.Timestamp = ts
			rp.CurrentLeaderEpoch = -1
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			resp, err := req.RequestWith(ctx, cl)
			if err != nil || resp.Topics[0].Partitions[0].ErrorCode != 0 {
				t.Fatalf("list offsets %d: %v %+v", ts, err, resp)
			}
			return resp.Topics[0].Partitions[0].Offset
		}
		if o := list(-2); o != 4 {
			t.Errorf("earliest = %d, want 4 after DeleteRecords", o)
		}
		if o := list(-1); o != 10 {
			t.Errorf("latest = %d, want 10", o)
		}
		if o := list(-3); o != 6 {
			t.Errorf("max-timestamp = %d, want 6 (the record with the largest timestamp)", o)
		}
		if o := list(base.Add(7500 * time.Millisecond).UnixMilli()); o != 6 {
			t.Errorf("by time 7.5s = %d, want 6 (the first offset whose timestamp is at or after it)", o)
		}
		rd := newClient(t, tg, kgo.FetchMaxWait(200*time.Millisecond),
			kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
		got := pollN(t, rd, 6)
		for i, r := range got {
			if r.O != int64(4+i) || r.V != fmt.Sprint(4+i) {
				t.Errorf("after DeleteRecords, record %d is %v; want offset %d", i, r, 4+i)
			}
		}
	})

	matrixGo(t, "franz-go", "kadm topic/config/offset/group admin", join(apisData, []kmsg.Key{kmsg.DeleteTopics,
		kmsg.DescribeConfigs, kmsg.IncrementalAlterConfigs, kmsg.CreatePartitions, kmsg.ListGroups, kmsg.DescribeGroups,
		kmsg.DeleteGroups, kmsg.FindCoordinator, kmsg.OffsetCommit, kmsg.OffsetFetch}), func(t *testing.T, tg *target) {
		kadmScenario(t, tg)
	})
}

// rawBatches fetches partition p of topic from offset 0 with a raw Fetch and
// returns its record batches as stored.
func rawBatches(t *testing.T, tg *target, topic string, p int32) []kmsg.RecordBatch {
	t.Helper()
	cl := newClient(t, tg)
	td, err := kadm.NewClient(cl).ListTopics(ctxT(t, 10*time.Second), topic)
	if err != nil {
		t.Fatal(err)
	}
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID = -1
	req.MaxWaitMillis = 100
	req.MaxBytes = 4 << 20
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = topic
	ft.TopicID = td[topic].ID
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.Partition = p
	fp.PartitionMaxBytes = 4 << 20
	fp.CurrentLeaderEpoch = -1
	ft.Partitions = append(ft.Partitions, fp)
	req.Topics = append(req.Topics, ft)
	leader := td[topic].Partitions[p].Leader
	resp, err := req.RequestWith(ctxT(t, 10*time.Second), cl.Broker(int(leader)))
	if err != nil {
		t.Fatalf("raw fetch: %v", err)
	}
	if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("raw fetch: error %d, %d topics", resp.ErrorCode, len(resp.Topics))
	}
	rp := resp.Topics[0].Partitions[0]
	if rp.ErrorCode != 0 {
		t.Fatalf("raw fetch %s/%d: error code %d", topic, p, rp.ErrorCode)
	}
	var out []kmsg.RecordBatch
	for b := rp.RecordBatches; len(b) > 0; {
		var rb kmsg.RecordBatch
		if err := rb.ReadFrom(b); err != nil {
			break // a partial batch at the end of the response
		}
		out = append(out, rb)
		b = b[12+int(rb.Length):]
	}
	return out
}

// producePartitioned writes n records with index from..from+n-1, record i to
// partition i%parts, and returns them with their offsets.
func producePartitioned(t *testing.T, tg *target, topic string, from, n int, parts int32) []rec {
	t.Helper()
	cl := newClient(t, tg, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	rs := make([]*kgo.Record, n)
	for j := range rs {
		i := from + j
		rs[j] = &kgo.Record{Partition: int32(i) % parts, Key: []byte(fmt.Sprintf("k-%d", i%7)), Value: []byte(fmt.Sprintf("franz-%d", i)),
			Headers: []kgo.RecordHeader{{Key: "idx", Value: []byte(strconv.Itoa(i))}, {Key: "client", Value: []byte("franz")}}}
	}
	if err := cl.ProduceSync(ctxT(t, 30*time.Second), rs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	out := make([]rec, n)
	for i, r := range rs {
		out[i] = toRec(r)
	}
	return out
}

// pollN polls cl until it has n records (or 30s pass).
func pollN(t *testing.T, cl *kgo.Client, n int) []rec {
	t.Helper()
	var out []rec
	ctx := ctxT(t, 30*time.Second)
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("got %d of %d records before timeout", len(out), n)
		}
		fs.EachError(func(tp string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", tp, p, err) })
		fs.EachRecord(func(r *kgo.Record) { out = append(out, toRec(r)) })
	}
	return out
}

// member is one group consumer of groupChurn.
type member struct {
	name   string
	cl     *kgo.Client
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	assigned map[int32]bool
	got      []rec
}

func (m *member) owned() []int32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ps []int32
	for p := range m.assigned {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	return ps
}

func (m *member) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.got)
}

// groupChurn: member A alone, then B joins, then A leaves; records are
// produced in each phase and must be consumed exactly once overall, with
// each member's commits done before it lets a rebalance proceed.
func groupChurn(t *testing.T, tg *target, bal kgo.GroupBalancer) {
	const parts = 4
	topic := newTopic(t, tg, "franz-grp", parts)
	group := uniq("g-franz")
	join := func(name string) *member {
		m := &member{name: name, assigned: map[int32]bool{}, done: make(chan struct{})}
		onAssign := func(_ context.Context, _ *kgo.Client, a map[string][]int32) {
			m.mu.Lock()
			defer m.mu.Unlock()
			for _, p := range a[topic] {
				m.assigned[p] = true
			}
		}
		onRevoke := func(_ context.Context, _ *kgo.Client, r map[string][]int32) {
			m.mu.Lock()
			defer m.mu.Unlock()
			for _, p := range r[topic] {
				delete(m.assigned, p)
			}
		}
		m.cl = newClient(t, tg, kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.Balancers(bal),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit(), kgo.BlockRebalanceOnPoll(),
			kgo.SessionTimeout(20*time.Second), kgo.HeartbeatInterval(300*time.Millisecond),
			kgo.RebalanceTimeout(30*time.Second), kgo.FetchMaxWait(200*time.Millisecond),
			kgo.OnPartitionsAssigned(onAssign), kgo.OnPartitionsRevoked(onRevoke), kgo.OnPartitionsLost(onRevoke))
		ctx, cancel := context.WithCancel(context.Background())
		m.cancel = cancel
		go func() {
			defer close(m.done)
			for ctx.Err() == nil {
				fs := m.cl.PollFetches(ctx)
				var rs []*kgo.Record
				fs.EachRecord(func(r *kgo.Record) { rs = append(rs, r) })
				if len(rs) > 0 {
					// Commit before allowing a rebalance, so no other
					// member re-reads these.
					if err := m.cl.CommitRecords(context.Background(), rs...); err != nil {
						t.Errorf("%s: commit: %v", name, err)
					}
					m.mu.Lock()
					for _, r := range rs {
						m.got = append(m.got, toRec(r))
					}
					m.mu.Unlock()
				}
				m.cl.AllowRebalance()
			}
		}()
		return m
	}
	leave := func(m *member) {
		m.cancel()
		<-m.done
		m.cl.AllowRebalance()
		m.cl.Close() // LeaveGroup
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	covers := func(ms ...*member) func() bool {
		return func() bool {
			seen := map[int32]int{}
			for _, m := range ms {
				for _, p := range m.owned() {
					seen[p]++
				}
			}
			if len(seen) != parts {
				return false
			}
			for _, c := range seen {
				if c != 1 {
					return false
				}
			}
			for _, m := range ms {
				if len(m.owned()) == 0 {
					return false
				}
			}
			return true
		}
	}

	// Phase 1: A alone.
	a := join("A")
	waitFor("A to own every partition", covers(a))
	want := producePartitioned(t, tg, topic, 0, 100, parts)
	waitFor("A to read 100 records", func() bool { return a.count() == 100 })

	// Phase 2: B joins; the partitions split between A and B.
	b := join("B")
	waitFor("A and B to split the partitions", covers(a, b))
	aBefore := a.count()
	want = append(want, producePartitioned(t, tg, topic, 100, 100, parts)...)
	waitFor("A and B to read 200 records", func() bool { return a.count()+b.count() == 200 })
	if a.count() == aBefore || b.count() == 0 {
		t.Errorf("phase 2: A read %d, B read %d; both should have read", a.count()-aBefore, b.count())
	}
	t.Logf("phase 2 assignment: A %v, B %v", a.owned(), b.owned())

	// Phase 3: A leaves; B takes every partition.
	leave(a)
	waitFor("B to own every partition", covers(b))
	bBefore := b.count()
	want = append(want, producePartitioned(t, tg, topic, 200, 100, parts)...)
	waitFor("B to read the last 100 records", func() bool { return b.count()-bBefore == 100 })
	// Give a duplicate the chance to show before counting.
	time.Sleep(300 * time.Millisecond)
	leave(b)

	all := append(append([]rec{}, a.got...), b.got...)
	// Each member saw its partitions in order; across members, partition
	// order holds because hand-over happened after commits.
	sort.SliceStable(all, func(i, j int) bool { return all[i].P < all[j].P || all[i].P == all[j].P && all[i].O < all[j].O })
	checkConsumed(t, all, want)
	checkCommitted(t, tg, group, topic)
}

// kadmScenario exercises kadm's topic, config, offset and group calls.
func kadmScenario(t *testing.T, tg *target) {
	adm := newAdmin(t, tg)
	ctx := ctxT(t, 60*time.Second)
	topic := uniq("franz-adm")
	ret := "3600000"
	cr, err := adm.CreateTopic(ctx, 2, 1, map[string]*string{"retention.ms": &ret}, topic)
	if err != nil || cr.Err != nil {
		t.Fatalf("create: %v %v", err, cr.Err)
	}
	if cr.NumPartitions != 2 && cr.NumPartitions != -1 {
		t.Errorf("create answered %d partitions, want 2", cr.NumPartitions)
	}
	waitTopic(t, tg, topic, 2)
	// Creating it again is TOPIC_ALREADY_EXISTS.
	cr, err = adm.CreateTopic(ctx, 2, 1, nil, topic)
	if err == nil && cr.Err == nil {
		t.Errorf("second create of %s succeeded; want TOPIC_ALREADY_EXISTS", topic)
	} else if cr.Err != nil && cr.Err.Error() != "TOPIC_ALREADY_EXISTS: Topic with this name already exists." {
		t.Logf("second create: %v", cr.Err)
	}

	configValue := func(name string) (string, string) {
		t.Helper()
		rcs, err := adm.DescribeTopicConfigs(ctx, topic)
		if err != nil {
			t.Fatalf("describe configs: %v", err)
		}
		rc, err := rcs.On(topic, nil)
		if err != nil || rc.Err != nil {
			t.Fatalf("describe configs of %s: %v %v", topic, err, rc.Err)
		}
		for _, c := range rc.Configs {
			if c.Key == name {
				return c.MaybeValue(), c.Source.String()
			}
		}
		t.Fatalf("describe configs of %s: no %s among %d configs", topic, name, len(rc.Configs))
		return "", ""
	}
	if v, src := configValue("retention.ms"); v != "3600000" || src != "DYNAMIC_TOPIC_CONFIG" {
		t.Errorf("retention.ms = %s (%s), want 3600000 (DYNAMIC_TOPIC_CONFIG)", v, src)
	}
	if v, _ := configValue("cleanup.policy"); v != "delete" {
		t.Errorf("cleanup.policy = %q, want the default delete", v)
	}
	newRet := "7200000"
	ar, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: &newRet}}, topic)
	if err != nil || ar[0].Err != nil {
		t.Fatalf("alter configs: %v %v", err, ar)
	}
	// Kafka applies an alter asynchronously (through its metadata log).
	eventually(t, "retention.ms to become 7200000", func() bool { v, _ := configValue("retention.ms"); return v == "7200000" })

	cp, err := adm.CreatePartitions(ctx, 3, topic)
	if err != nil || cp[topic].Err != nil {
		t.Fatalf("create partitions: %v %v", err, cp[topic].Err)
	}
	waitTopic(t, tg, topic, 5)

	want := producePartitioned(t, tg, topic, 0, 25, 5)
	ends := endOffsets(t, tg, topic)
	for p := int32(0); p < 5; p++ {
		if ends[p] != 5 {
			t.Errorf("end offset of partition %d = %d, want 5", p, ends[p])
		}
	}
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	starts.Each(func(o kadm.ListedOffset) {
		if o.Err != nil || o.Offset != 0 {
			t.Errorf("start offset of %d = %d (%v), want 0", o.Partition, o.Offset, o.Err)
		}
	})
	_ = want

	group := uniq("g-franz-adm")
	commitGroup(t, tg, group, topic, map[int32]int64{0: 2, 3: 4})
	fo, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatalf("fetch offsets: %v", err)
	}
	for p, w := range map[int32]int64{0: 2, 3: 4} {
		if o, ok := fo.Lookup(topic, p); !ok || o.At != w {
			t.Errorf("committed offset %s/%d = %+v, want %d", topic, p, o, w)
		}
	}
	// Commit metadata round-trips.
	mdOffsets := kadm.Offsets{}
	mdOffsets.Add(kadm.Offset{Topic: topic, Partition: 2, At: 3, LeaderEpoch: -1, Metadata: "compat metadata ✓"})
	if cr, err := adm.CommitOffsets(ctx, group, mdOffsets); err != nil || cr.Error() != nil {
		t.Fatalf("commit with metadata: %v %v", err, cr.Error())
	}
	if fo, err := adm.FetchOffsets(ctx, group); err != nil {
		t.Fatalf("fetch offsets: %v", err)
	} else if o, ok := fo.Lookup(topic, 2); !ok || o.At != 3 || o.Metadata != "compat metadata ✓" {
		t.Errorf("committed %s/2 = %d %q, want 3 with its metadata", topic, o.At, o.Metadata)
	}
	if _, ok := fo.Lookup(topic, 1); ok {
		t.Errorf("partition 1 has a committed offset; none was committed")
	}
	lg, err := adm.ListGroups(ctx)
	if err != nil {
		t.Fatalf("list groups: %v", err)
	}
	if _, ok := lg[group]; !ok {
		t.Errorf("list groups does not show %s: %v", group, lg.Groups())
	}
	dg, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		t.Fatalf("describe groups: %v", err)
	}
	if d := dg[group]; d.Err != nil || d.State != "Empty" || len(d.Members) != 0 {
		t.Errorf("describe %s: state %q, %d members, err %v; want Empty, 0", group, d.State, len(d.Members), d.Err)
	}
	dr, err := adm.DeleteGroup(ctx, group)
	if err != nil || dr.Err != nil {
		t.Fatalf("delete group: %v %v", err, dr.Err)
	}
	fo, err = adm.FetchOffsets(ctx, group)
	if err == nil {
		if _, ok := fo.Lookup(topic, 0); ok {
			t.Errorf("offsets still committed after the group was deleted")
		}
	}

	dt, err := adm.DeleteTopic(ctx, topic)
	if err != nil || dt.Err != nil {
		t.Fatalf("delete topic: %v %v", err, dt.Err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		td, err := adm.ListTopics(ctx)
		if err == nil && !td.Has(topic) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("topic %s still listed after delete", topic)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// produceValues writes one unkeyed record per value to partition 0 of
// topic and returns them with their offsets.
func produceValues(t *testing.T, tg *target, topic string, values ...string) []rec {
	t.Helper()
	cl := newClient(t, tg, kgo.DefaultProduceTopic(topic), kgo.ProducerBatchMaxBytes(1<<20))
	var out []rec
	for _, v := range values {
		r := &kgo.Record{Value: []byte(v)}
		if err := cl.ProduceSync(ctxT(t, 20*time.Second), r).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
		out = append(out, toRec(r))
	}
	return out
}
