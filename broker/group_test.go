package broker

// End-to-end tests of consumer groups with franz-go against an in-process
// broker: members joining and leaving mid-stream (range and
// cooperative-sticky), static-member restarts, committed offsets across a
// broker restart.

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/broker/group"
	"github.com/gregor-broker/gregor/storage"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
)

// grpBroker starts a broker on 127.0.0.1:0 with data in dir and short group
// timings; advertised overrides the advertised address when not empty.
func grpBroker(t *testing.T, dir, advertised string) *Broker {
	t.Helper()
	b, err := New(Config{
		NodeID:    1,
		Listeners: []Listener{{Name: "PLAINTEXT", Address: "127.0.0.1:0", Advertised: advertised}},
		Store:     storage.Config{Dir: dir},
		Topics:    TopicDefaults{NumPartitions: 1, AutoCreate: false},
		Group: group.Config{
			InitialRebalanceDelay: 50 * time.Millisecond,
			MinSessionTimeout:     time.Second,
		},
		Logger: zap.NewNop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	return b
}

func grpStop(t *testing.T, b *Broker) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

func grpAddr(b *Broker) string { return b.Addrs()[0].String() }

func grpTopic(t *testing.T, b *Broker, name string, partitions int32) {
	t.Helper()
	if _, err := b.topics.Create(name, partitions, nil); err != nil {
		t.Fatal(err)
	}
}

// grpProduce writes values from..to-1 round-robin over the partitions with
// an idempotent producer, the value being the record's number.
func grpProduce(t *testing.T, addr, topic string, from, to int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var recs []*kgo.Record
	for i := from; i < to; i++ {
		recs = append(recs, &kgo.Record{Key: []byte("k" + strconv.Itoa(i)), Value: []byte(strconv.Itoa(i))})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// ownership tracks which member owns each partition, failing on overlap.
type ownership struct {
	mu     sync.Mutex
	owner  map[int32]string
	errs   []string
	events int
	ever   map[string]bool // members that were ever assigned a partition
}

func (o *ownership) assigned(member string, ps map[string][]int32) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, parts := range ps {
		for _, p := range parts {
			if cur, ok := o.owner[p]; ok && cur != member {
				o.errs = append(o.errs, fmt.Sprintf("partition %d assigned to %s while %s owns it", p, member, cur))
			}
			o.owner[p] = member
			o.events++
			if o.ever == nil {
				o.ever = map[string]bool{}
			}
			o.ever[member] = true
		}
	}
}

// owned reports whether member was ever assigned a partition.
func (o *ownership) owned(member string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.ever[member]
}

func (o *ownership) released(member string, ps map[string][]int32) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, parts := range ps {
		for _, p := range parts {
			if o.owner[p] == member {
				delete(o.owner, p)
			}
			o.events++
		}
	}
}

// consumed collects what every member consumed.
type consumed struct {
	mu    sync.Mutex
	count map[string]int // value → times seen
	total int
}

func (c *consumed) add(v string) {
	c.mu.Lock()
	c.count[v]++
	c.total++
	c.mu.Unlock()
}

func (c *consumed) n() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.total
}

// grpMember is one group consumer running its poll loop until stopped.
type grpMember struct {
	name string
	cl   *kgo.Client
	stop chan struct{}
	done chan struct{}
}

func startMember(t *testing.T, addr, groupID, topic, name string, balancer kgo.GroupBalancer, own *ownership, got *consumed, extra ...kgo.Opt) *grpMember {
	t.Helper()
	m := &grpMember{name: name, stop: make(chan struct{}), done: make(chan struct{})}
	opts := []kgo.Opt{
		kgo.SeedBrokers(addr),
		kgo.ConsumerGroup(groupID),
		kgo.ConsumeTopics(topic),
		kgo.Balancers(balancer),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.SessionTimeout(6 * time.Second),
		kgo.HeartbeatInterval(200 * time.Millisecond),
		kgo.RebalanceTimeout(20 * time.Second),
		kgo.FetchMaxWait(100 * time.Millisecond),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, ps map[string][]int32) { own.assigned(name, ps) }),
		kgo.OnPartitionsRevoked(func(ctx context.Context, cl *kgo.Client, ps map[string][]int32) {
			// Commit what was processed before giving the partitions up.
			if err := cl.CommitUncommittedOffsets(ctx); err != nil {
				t.Errorf("%s: commit on revoke: %v", name, err)
			}
			own.released(name, ps)
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, ps map[string][]int32) {
			t.Errorf("%s: partitions lost %v (a graceful test must not lose any)", name, ps)
			own.released(name, ps)
		}),
	}
	cl, err := kgo.NewClient(append(opts, extra...)...)
	if err != nil {
		t.Fatal(err)
	}
	m.cl = cl
	go func() {
		defer close(m.done)
		for {
			select {
			case <-m.stop:
				cl.Close() // revokes (committing) and leaves the group
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			fs := cl.PollFetches(ctx)
			cancel()
			fs.EachError(func(topic string, p int32, err error) {
				if err != context.DeadlineExceeded && err != context.Canceled {
					t.Errorf("%s: fetch %s/%d: %v", name, topic, p, err)
				}
			})
			fs.EachRecord(func(r *kgo.Record) { got.add(string(r.Value)) })
			if err := cl.CommitUncommittedOffsets(context.Background()); err != nil {
				t.Logf("%s: commit: %v", name, err) // retried on the next poll or on revoke
			}
			cl.AllowRebalance()
		}
	}()
	return m
}

func (m *grpMember) close() {
	close(m.stop)
	<-m.done
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestGroupMembersJoinAndLeaveExactlyOnce(t *testing.T) {
	for _, tc := range []struct {
		name     string
		balancer kgo.GroupBalancer
	}{
		{"range", kgo.RangeBalancer()},
		{"cooperative-sticky", kgo.CooperativeStickyBalancer()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := grpBroker(t, t.TempDir(), "")
			defer grpStop(t, b)
			addr := grpAddr(b)
			const topic, parts = "events", 6
			grpTopic(t, b, topic, parts)
			own := &ownership{owner: map[int32]string{}}
			got := &consumed{count: map[string]int{}}
			g := "g-" + tc.name

			grpProduce(t, addr, topic, 0, 600)
			m1 := startMember(t, addr, g, topic, "m1", tc.balancer, own, got)
			waitFor(t, "m1 to consume", func() bool { return got.n() >= 100 })
			// Each newcomer must own partitions before the next change, or a
			// fast run lets a member come and go between two cooperative
			// rebalances without ever being given work.
			m2 := startMember(t, addr, g, topic, "m2", tc.balancer, own, got)
			grpProduce(t, addr, topic, 600, 1200)
			waitFor(t, "m2 to own partitions", func() bool { return own.owned("m2") })
			m3 := startMember(t, addr, g, topic, "m3", tc.balancer, own, got)
			grpProduce(t, addr, topic, 1200, 1800)
			waitFor(t, "m3 to own partitions", func() bool { return own.owned("m3") })
			m1.close()
			grpProduce(t, addr, topic, 1800, 2400)
			m2.close()
			grpProduce(t, addr, topic, 2400, 3000)
			waitFor(t, "all 3000 records", func() bool { return got.n() >= 3000 })
			m3.close()

			got.mu.Lock()
			defer got.mu.Unlock()
			if got.total != 3000 || len(got.count) != 3000 {
				t.Fatalf("consumed %d records, %d distinct; want 3000 exactly once", got.total, len(got.count))
			}
			for i := 0; i < 3000; i++ {
				if n := got.count[strconv.Itoa(i)]; n != 1 {
					t.Fatalf("record %d consumed %d times", i, n)
				}
			}
			own.mu.Lock()
			defer own.mu.Unlock()
			for _, e := range own.errs {
				t.Error(e)
			}
			if len(own.ever) != 3 {
				t.Fatalf("members that owned partitions: %v, want all three", own.ever)
			}

			// Every member left: the group is Empty and its offsets are
			// at the end of every partition.
			adm := kadm.NewClient(grpClient(t, addr))
			defer adm.Close()
			ctx := context.Background()
			dg, err := adm.DescribeGroups(ctx, g)
			if err != nil {
				t.Fatal(err)
			}
			if d := dg[g]; d.State != "Empty" || len(d.Members) != 0 {
				t.Fatalf("group after everyone left: state %s members %d", d.State, len(d.Members))
			}
			offs, err := adm.FetchOffsets(ctx, g)
			if err != nil {
				t.Fatal(err)
			}
			for p := int32(0); p < parts; p++ {
				o, ok := offs.Lookup(topic, p)
				if !ok || o.At != 500 {
					t.Fatalf("committed offset of partition %d: %+v, want 500", p, o)
				}
			}
		})
	}
}

func grpClient(t *testing.T, addr string) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

func TestStaticMemberRestartKeepsAssignment(t *testing.T) {
	b := grpBroker(t, t.TempDir(), "")
	defer grpStop(t, b)
	addr := grpAddr(b)
	const topic = "static"
	grpTopic(t, b, topic, 4)
	grpProduce(t, addr, topic, 0, 40)
	own := &ownership{owner: map[int32]string{}}
	got := &consumed{count: map[string]int{}}
	// A session timeout far longer than the restarted member gets to take
	// its partitions back (15s below): a broker that waited for the old
	// member to expire fails instead of passing slowly.
	long := kgo.SessionTimeout(60 * time.Second)
	a := startMember(t, addr, "sg", topic, "a", kgo.RangeBalancer(), own, got, kgo.InstanceID("inst-a"), long)
	bm := startMember(t, addr, "sg", topic, "b", kgo.RangeBalancer(), own, got, kgo.InstanceID("inst-b"), long)
	defer bm.close()
	waitFor(t, "both members to own partitions", func() bool {
		own.mu.Lock()
		defer own.mu.Unlock()
		na, nb := 0, 0
		for _, o := range own.owner {
			if o == "a" {
				na++
			} else if o == "b" {
				nb++
			}
		}
		return na == 2 && nb == 2
	})
	waitFor(t, "all 40 records", func() bool { return got.n() >= 40 })
	adm := kadm.NewClient(grpClient(t, addr))
	defer adm.Close()
	ctx := context.Background()
	before := describeAssignments(t, adm, "sg")

	own.mu.Lock()
	eventsBefore := own.events
	ownedByA := partitionsOf(own.owner, "a")
	own.mu.Unlock()

	// a restarts: kgo does not send LeaveGroup for a static member.
	a.close()
	a2 := startMember(t, addr, "sg", topic, "a2", kgo.RangeBalancer(), own, got, kgo.InstanceID("inst-a"), long)
	defer a2.close()
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		own.mu.Lock()
		back := len(partitionsOf(own.owner, "a2")) > 0
		own.mu.Unlock()
		if back {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the restarted static member got no partitions within 15s (session timeout 60s): the broker did not let it replace the old member")
		}
	}
	grpProduce(t, addr, topic, 40, 80)
	waitFor(t, "all 80 records", func() bool { return got.n() >= 80 })

	own.mu.Lock()
	if got := partitionsOf(own.owner, "a2"); fmt.Sprint(got) != fmt.Sprint(ownedByA) {
		t.Errorf("restarted static member owns %v, before restart %v", got, ownedByA)
	}
	// a's revoke on close, a2's assignment: nothing else (b saw no rebalance).
	if own.events != eventsBefore+4 {
		t.Errorf("assignment events after restart: %d, want %d (a revoked 2, a2 assigned 2)", own.events-eventsBefore, 4)
	}
	for _, e := range own.errs {
		t.Error(e)
	}
	own.mu.Unlock()
	after := describeAssignments(t, adm, "sg")
	if after["inst-b"] != before["inst-b"] || after["inst-a"] != before["inst-a"] {
		t.Errorf("assignments changed across a static restart: before %v after %v", before, after)
	}
	got.mu.Lock()
	defer got.mu.Unlock()
	for i := 0; i < 80; i++ {
		if n := got.count[strconv.Itoa(i)]; n != 1 {
			t.Fatalf("record %d consumed %d times", i, n)
		}
	}
	_ = ctx
}

func partitionsOf(owner map[int32]string, member string) []int32 {
	var out []int32
	for p, o := range owner {
		if o == member {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// describeAssignments maps instance id → the member's assigned partitions.
func describeAssignments(t *testing.T, adm *kadm.Client, g string) map[string]string {
	t.Helper()
	dg, err := adm.DescribeGroups(context.Background(), g)
	if err != nil {
		t.Fatal(err)
	}
	d := dg[g]
	if d.State != "Stable" {
		t.Fatalf("group state %s, want Stable", d.State)
	}
	out := map[string]string{}
	for _, m := range d.Members {
		ca, ok := m.Assigned.AsConsumer()
		if !ok || m.InstanceID == nil {
			t.Fatalf("member %s: assignment not a consumer assignment or no instance id", m.MemberID)
		}
		out[*m.InstanceID] = fmt.Sprint(ca.Topics)
	}
	return out
}

func TestCommittedOffsetsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	b := grpBroker(t, dir, "")
	addr := grpAddr(b)
	grpTopic(t, b, "t", 3)
	adm := kadm.NewClient(grpClient(t, addr))
	ctx := context.Background()
	var os kadm.Offsets
	os.Add(kadm.Offset{Topic: "t", Partition: 0, At: 11, LeaderEpoch: -1, Metadata: "zero"})
	os.Add(kadm.Offset{Topic: "t", Partition: 2, At: 33, LeaderEpoch: -1, Metadata: "two"})
	resp, err := adm.CommitOffsets(ctx, "simple", os)
	if err != nil || resp.Error() != nil {
		t.Fatalf("commit: %v %v", err, resp.Error())
	}
	// An offset commit to an unknown partition is refused.
	var bad kadm.Offsets
	bad.Add(kadm.Offset{Topic: "t", Partition: 9, At: 1, LeaderEpoch: -1})
	resp, err = adm.CommitOffsets(ctx, "simple", bad)
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := resp.Lookup("t", 9); r.Err == nil || r.Err.Error() == "" {
		t.Fatalf("commit to unknown partition: %v", r.Err)
	}
	adm.Close()
	grpStop(t, b)

	b = grpBroker(t, dir, "")
	defer grpStop(t, b)
	adm = kadm.NewClient(grpClient(t, grpAddr(b)))
	defer adm.Close()
	got, err := adm.FetchOffsets(ctx, "simple")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	got.Each(func(o kadm.OffsetResponse) {
		lines = append(lines, fmt.Sprintf("%s/%d=%d:%s", o.Topic, o.Partition, o.At, o.Metadata))
	})
	sort.Strings(lines)
	if fmt.Sprint(lines) != "[t/0=11:zero t/2=33:two]" {
		t.Fatalf("offsets after restart: %v", lines)
	}
	lg, err := adm.ListGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if gs := lg.Groups(); len(gs) != 1 || gs[0] != "simple" {
		t.Fatalf("groups after restart: %v", gs)
	}

	// A topic deleted and created again does not inherit the old offsets.
	if dr, err := adm.DeleteTopics(ctx, "t"); err != nil || dr.Error() != nil {
		t.Fatalf("delete topic: %v %v", err, dr.Error())
	}
	if cr, err := adm.CreateTopic(ctx, 3, 1, nil, "t"); err != nil || cr.Err != nil {
		t.Fatalf("create topic: %v %v", err, cr.Err)
	}
	got, err = adm.FetchOffsets(ctx, "simple")
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := got.Lookup("t", 0); ok && o.At != -1 {
		t.Fatalf("re-created topic inherited offset %d", o.At)
	}
}

// grpReq sends req at exactly its version (kgo would raise it) over a raw
// connection to the broker and returns the decoded response.
func grpReq[T kmsg.Response](t *testing.T, addr string, req kmsg.Request) T {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	frame := kmsg.NewRequestFormatter(kmsg.FormatterClientID("raw")).AppendRequest(nil, req, 7)
	if _, err := conn.Write(frame); err != nil {
		t.Fatal(err)
	}
	var size [4]byte
	if _, err := io.ReadFull(conn, size[:]); err != nil {
		t.Fatalf("%s v%d: %v", kmsg.NameForKey(req.Key()), req.GetVersion(), err)
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(conn, body); err != nil {
		t.Fatal(err)
	}
	if cid := int32(binary.BigEndian.Uint32(body)); cid != 7 {
		t.Fatalf("correlation id %d", cid)
	}
	body = body[4:]
	resp := req.ResponseKind()
	if resp.IsFlexible() {
		body = body[1:] // empty tagged fields of response header v1
	}
	if err := resp.ReadFrom(body); err != nil {
		t.Fatalf("%s v%d response: %v", kmsg.NameForKey(req.Key()), req.GetVersion(), err)
	}
	return resp.(T)
}

func TestFindCoordinatorVersions(t *testing.T) {
	b := grpBroker(t, t.TempDir(), "")
	defer grpStop(t, b)
	cl := grpAddr(b)
	host, portStr, _ := net.SplitHostPort(grpAddr(b))
	port, _ := strconv.Atoi(portStr)
	for v := int16(0); v <= 3; v++ {
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.Version = v
		req.CoordinatorKey = "g"
		r := grpReq[*kmsg.FindCoordinatorResponse](t, cl, req)
		if r.ErrorCode != 0 || r.NodeID != 1 || r.Host != host || r.Port != int32(port) {
			t.Fatalf("v%d: %+v", v, r)
		}
	}
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.Version = 6
	req.CoordinatorKeys = []string{"a", "b"}
	r := grpReq[*kmsg.FindCoordinatorResponse](t, cl, req)
	if len(r.Coordinators) != 2 || r.Coordinators[0].Key != "a" || r.Coordinators[1].Key != "b" ||
		r.Coordinators[1].NodeID != 1 || r.Coordinators[1].Host != host || r.Coordinators[1].Port != int32(port) || r.Coordinators[0].ErrorCode != 0 {
		t.Fatalf("v6: %+v", r.Coordinators)
	}
	req.CoordinatorType = 1
	req.CoordinatorKeys = []string{"txn"}
	r = grpReq[*kmsg.FindCoordinatorResponse](t, cl, req)
	if c := r.Coordinators[0]; c.ErrorCode != 0 || c.NodeID != 1 || c.Host != host || c.Port != int32(port) {
		t.Fatalf("transaction coordinator: %+v", c)
	}
	req.CoordinatorType = 7
	r = grpReq[*kmsg.FindCoordinatorResponse](t, cl, req)
	if r.Coordinators[0].ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("unknown key type: %+v", r.Coordinators[0])
	}
}

// TestOldGroupVersions walks a group through JoinGroup v0, SyncGroup v0,
// Heartbeat v0, OffsetCommit v2, OffsetFetch v1 and LeaveGroup v0 (what
// kafka-go sends), then the batched v8 OffsetFetch, DeleteGroups and
// OffsetDelete, over the wire.
func TestOldGroupVersions(t *testing.T) {
	b := grpBroker(t, t.TempDir(), "")
	defer grpStop(t, b)
	grpTopic(t, b, "t", 2)
	cl := grpAddr(b)

	md := kmsg.NewConsumerMemberMetadata()
	md.Topics = []string{"t"}
	join := kmsg.NewPtrJoinGroupRequest()
	join.Version = 0
	join.Group = "old"
	join.SessionTimeoutMillis = 500 // under group.min.session.timeout.ms
	join.ProtocolType = "consumer"
	join.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: md.AppendTo(nil)}}
	if r := grpReq[*kmsg.JoinGroupResponse](t, cl, join); r.ErrorCode != kerr.InvalidSessionTimeout.Code {
		t.Fatalf("short session: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	join.SessionTimeoutMillis = 10000
	jr := grpReq[*kmsg.JoinGroupResponse](t, cl, join)
	if jr.ErrorCode != 0 || jr.Generation != 1 || jr.LeaderID != jr.MemberID || len(jr.Members) != 1 ||
		!strings.HasPrefix(jr.MemberID, "raw-") {
		t.Fatalf("join v0: %+v", jr)
	}
	if !bytes.Equal(jr.Members[0].ProtocolMetadata, md.AppendTo(nil)) {
		t.Fatal("member metadata changed on its way through")
	}
	sync := kmsg.NewPtrSyncGroupRequest()
	sync.Group, sync.Generation, sync.MemberID = "old", jr.Generation, jr.MemberID
	sync.GroupAssignment = []kmsg.SyncGroupRequestGroupAssignment{{MemberID: jr.MemberID, MemberAssignment: []byte{0, 1, 2, 3}}}
	if sr := grpReq[*kmsg.SyncGroupResponse](t, cl, sync); sr.ErrorCode != 0 || !bytes.Equal(sr.MemberAssignment, []byte{0, 1, 2, 3}) {
		t.Fatalf("sync v0: %+v", sr)
	}
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Group, hb.Generation, hb.MemberID = "old", jr.Generation, jr.MemberID
	if r := grpReq[*kmsg.HeartbeatResponse](t, cl, hb); r.ErrorCode != 0 {
		t.Fatalf("heartbeat v0: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.Version = 2
	commit.Group, commit.Generation, commit.MemberID = "old", jr.Generation, jr.MemberID
	meta := "kafka-go"
	commit.Topics = []kmsg.OffsetCommitRequestTopic{
		{Topic: "t", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 1, Offset: 12, Metadata: &meta}}},
		{Topic: "nope", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 1}}},
	}
	cr := grpReq[*kmsg.OffsetCommitResponse](t, cl, commit)
	if cr.Topics[0].Partitions[0].ErrorCode != 0 || cr.Topics[1].Partitions[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("commit v2: %+v", cr.Topics)
	}
	commit.Generation = 7
	if cr := grpReq[*kmsg.OffsetCommitResponse](t, cl, commit); cr.Topics[0].Partitions[0].ErrorCode != kerr.IllegalGeneration.Code {
		t.Fatalf("stale generation commit: %v", kerr.ErrorForCode(cr.Topics[0].Partitions[0].ErrorCode))
	}
	fetch := kmsg.NewPtrOffsetFetchRequest()
	fetch.Version = 1
	fetch.Group = "old"
	fetch.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: "t", Partitions: []int32{0, 1}}}
	fr := grpReq[*kmsg.OffsetFetchResponse](t, cl, fetch)
	if ps := fr.Topics[0].Partitions; len(ps) != 2 || ps[0].Offset != -1 || ps[1].Offset != 12 || *ps[1].Metadata != meta {
		t.Fatalf("fetch v1: %+v", fr.Topics)
	}

	// Batched fetch (v8) with null topics: every offset of each group.
	commit.Version = 8
	commit.Group, commit.Generation, commit.MemberID = "other", -1, ""
	commit.Topics = commit.Topics[:1]
	grpReq[*kmsg.OffsetCommitResponse](t, cl, commit)
	fetch = kmsg.NewPtrOffsetFetchRequest()
	fetch.Version = 8
	fetch.Groups = []kmsg.OffsetFetchRequestGroup{{Group: "old"}, {Group: "other"}, {Group: "none"}}
	fr = grpReq[*kmsg.OffsetFetchResponse](t, cl, fetch)
	if len(fr.Groups) != 3 || len(fr.Groups[0].Topics) != 1 || fr.Groups[0].Topics[0].Partitions[0].Offset != 12 ||
		fr.Groups[1].Topics[0].Partitions[0].Offset != 12 || len(fr.Groups[2].Topics) != 0 {
		t.Fatalf("fetch v8: %+v", fr.Groups)
	}

	del := kmsg.NewPtrDeleteGroupsRequest()
	del.Version = 2
	del.Groups = []string{"old", "other", "none"}
	dr := grpReq[*kmsg.DeleteGroupsResponse](t, cl, del)
	if dr.Groups[0].ErrorCode != kerr.NonEmptyGroup.Code || dr.Groups[1].ErrorCode != 0 || dr.Groups[2].ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("delete groups: %+v", dr.Groups)
	}
	od := kmsg.NewPtrOffsetDeleteRequest()
	od.Group = "old"
	od.Topics = []kmsg.OffsetDeleteRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 1}}}}
	if r := grpReq[*kmsg.OffsetDeleteResponse](t, cl, od); r.ErrorCode != 0 || r.Topics[0].Partitions[0].ErrorCode != kerr.GroupSubscribedToTopic.Code {
		t.Fatalf("offset delete while subscribed: %+v", r)
	}

	leave := kmsg.NewPtrLeaveGroupRequest()
	leave.Group, leave.MemberID = "old", jr.MemberID
	if r := grpReq[*kmsg.LeaveGroupResponse](t, cl, leave); r.ErrorCode != 0 {
		t.Fatalf("leave v0: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	if r := grpReq[*kmsg.LeaveGroupResponse](t, cl, leave); r.ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("second leave: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	if r := grpReq[*kmsg.OffsetDeleteResponse](t, cl, od); r.ErrorCode != 0 || r.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("offset delete of an empty group: %+v", r)
	}
	dr = grpReq[*kmsg.DeleteGroupsResponse](t, cl, del)
	if dr.Groups[0].ErrorCode != 0 {
		t.Fatalf("delete emptied group: %v", kerr.ErrorForCode(dr.Groups[0].ErrorCode))
	}
	lg := grpReq[*kmsg.ListGroupsResponse](t, cl, kmsg.NewPtrListGroupsRequest())
	if len(lg.Groups) != 0 {
		t.Fatalf("groups left: %+v", lg.Groups)
	}
}

// killableDialer lets a test cut a client off the network for good, as if
// its process had died: open connections close and new dials fail.
type killableDialer struct {
	mu    sync.Mutex
	dead  bool
	conns []net.Conn
}

func (d *killableDialer) dial(ctx context.Context, network, host string) (net.Conn, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.dead {
		return nil, fmt.Errorf("network down")
	}
	c, err := (&net.Dialer{}).DialContext(ctx, network, host)
	if err == nil {
		d.conns = append(d.conns, c)
	}
	return c, err
}

func (d *killableDialer) kill() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.dead = true
	for _, c := range d.conns {
		c.Close()
	}
}

func TestDeadMemberSessionExpires(t *testing.T) {
	b := grpBroker(t, t.TempDir(), "")
	defer grpStop(t, b)
	addr := grpAddr(b)
	const topic = "dead"
	grpTopic(t, b, topic, 4)
	grpProduce(t, addr, topic, 0, 40)
	var mu sync.Mutex
	owned := map[string]map[int32]bool{"m1": {}, "m2": {}}
	seen := map[string]bool{}
	member := func(name string, extra ...kgo.Opt) *kgo.Client {
		opts := append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.ConsumerGroup("dg"), kgo.ConsumeTopics(topic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.SessionTimeout(2 * time.Second),
			kgo.HeartbeatInterval(100 * time.Millisecond), kgo.FetchMaxWait(100 * time.Millisecond),
			kgo.AutoCommitInterval(100 * time.Millisecond),
			kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, ps map[string][]int32) {
				mu.Lock()
				defer mu.Unlock()
				for _, p := range ps[topic] {
					owned[name][p] = true
				}
			}),
			kgo.OnPartitionsRevoked(func(ctx context.Context, cl *kgo.Client, ps map[string][]int32) {
				mu.Lock()
				defer mu.Unlock()
				for _, p := range ps[topic] {
					delete(owned[name], p)
				}
			}),
		}, extra...)
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for {
				fs := cl.PollFetches(context.Background())
				if fs.IsClientClosed() {
					return
				}
				mu.Lock()
				fs.EachRecord(func(r *kgo.Record) { seen[string(r.Value)] = true })
				mu.Unlock()
			}
		}()
		return cl
	}
	m1 := member("m1")
	defer m1.Close()
	d := &killableDialer{}
	m2 := member("m2", kgo.Dialer(d.dial))
	defer m2.Close()
	ownedBoth := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(owned["m1"]) == 2 && len(owned["m2"]) == 2
	}
	waitFor(t, "both members to own two partitions", ownedBoth)
	d.kill()
	waitFor(t, "the survivor to own every partition", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(owned["m1"]) == 4
	})
	adm := kadm.NewClient(grpClient(t, addr))
	defer adm.Close()
	dg, err := adm.DescribeGroups(context.Background(), "dg")
	if err != nil {
		t.Fatal(err)
	}
	if g := dg["dg"]; len(g.Members) != 1 {
		t.Fatalf("members after the session expired: %d", len(g.Members))
	}
	grpProduce(t, addr, topic, 40, 80)
	waitFor(t, "every record, some maybe twice", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == 80
	})
}

// BenchmarkOffsetCommitWire measures a simple-consumer OffsetCommit of one
// partition over the wire (franz-go, one request at a time) with the store
// in its default async flush mode.
func BenchmarkOffsetCommitWire(b *testing.B) {
	br, err := New(Config{
		NodeID:    1,
		Listeners: []Listener{{Name: "PLAINTEXT", Address: "127.0.0.1:0"}},
		Store:     storage.Config{Dir: b.TempDir()},
		Topics:    TopicDefaults{NumPartitions: 1},
		Logger:    zap.NewNop(),
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := br.Start(); err != nil {
		b.Fatal(err)
	}
	defer br.Shutdown(context.Background())
	if _, err := br.topics.Create("bt", 1, nil); err != nil {
		b.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(grpAddr(br)))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var os kadm.Offsets
		os.Add(kadm.Offset{Topic: "bt", Partition: 0, At: int64(i), LeaderEpoch: -1})
		resp, err := adm.CommitOffsets(ctx, "bench", os)
		if err != nil || resp.Error() != nil {
			b.Fatal(err, resp.Error())
		}
	}
}

// Deleting a topic removes its committed offsets from every group, durably:
// they are gone from the store itself, not only hidden by the topic id.
// The group metrics reach the broker's Registerer.
func TestDeleteTopicRemovesCommittedOffsets(t *testing.T) {
	dir := t.TempDir()
	reg := prometheus.NewRegistry()
	open := func() *Broker {
		b, err := New(Config{
			Listeners:  []Listener{{Name: "PLAINTEXT", Address: "127.0.0.1:0"}},
			Store:      storage.Config{Dir: dir},
			Topics:     TopicDefaults{NumPartitions: 1},
			Group:      group.Config{MinSessionTimeout: time.Second},
			Registerer: reg,
			Logger:     zap.NewNop(),
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Start(); err != nil {
			t.Fatal(err)
		}
		return b
	}
	b := open()
	grpTopic(t, b, "t", 2)
	grpTopic(t, b, "u", 1)
	adm := kadm.NewClient(grpClient(t, grpAddr(b)))
	ctx := context.Background()
	commit := func(g string, os ...kadm.Offset) {
		t.Helper()
		var all kadm.Offsets
		for _, o := range os {
			all.Add(o)
		}
		if r, err := adm.CommitOffsets(ctx, g, all); err != nil || r.Error() != nil {
			t.Fatalf("commit %s: %v %v", g, err, r.Error())
		}
	}
	commit("g1", kadm.Offset{Topic: "t", Partition: 0, At: 1, LeaderEpoch: -1}, kadm.Offset{Topic: "t", Partition: 1, At: 2, LeaderEpoch: -1},
		kadm.Offset{Topic: "u", Partition: 0, At: 3, LeaderEpoch: -1})
	commit("g2", kadm.Offset{Topic: "t", Partition: 1, At: 4, LeaderEpoch: -1})
	if dr, err := adm.DeleteTopics(ctx, "t"); err != nil || dr.Error() != nil {
		t.Fatalf("delete topic: %v %v", err, dr.Error())
	}
	fetched := func(g string) string {
		t.Helper()
		got, err := adm.FetchOffsets(ctx, g)
		if err != nil || got.Error() != nil {
			t.Fatalf("fetch %s: %v %v", g, err, got.Error())
		}
		var lines []string
		got.Each(func(o kadm.OffsetResponse) {
			lines = append(lines, fmt.Sprintf("%s/%d=%d", o.Topic, o.Partition, o.At))
		})
		sort.Strings(lines)
		return fmt.Sprint(lines)
	}
	if got := fetched("g1"); got != "[u/0=3]" {
		t.Fatalf("g1 after deleting t: %s", got)
	}
	if got := fetched("g2"); got != "[]" {
		t.Fatalf("g2 after deleting t: %s", got)
	}
	metric := func(name string) float64 {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == name && len(mf.GetMetric()) == 1 {
				m := mf.GetMetric()[0]
				if c := m.GetCounter(); c != nil {
					return c.GetValue()
				}
				return m.GetGauge().GetValue()
			}
		}
		t.Fatalf("metric %s not registered", name)
		return 0
	}
	if c, r, o := metric("gregor_group_offset_commits_total"), metric("gregor_group_offsets_removed_total"), metric("gregor_group_offsets"); c != 4 || r != 3 || o != 1 {
		t.Fatalf("commits %v removed %v offsets %v, want 4 3 1", c, r, o)
	}
	adm.Close()
	grpStop(t, b)

	b = open()
	defer grpStop(t, b)
	for _, g := range []string{"g1", "g2"} {
		b.store.RangeKV(fmt.Sprintf("__consumer_offsets-%d", b.groups.Partition(g)), func(k, v []byte) bool {
			var key kmsg.OffsetCommitKey
			if len(k) > 2 && k[1] <= 1 && key.ReadFrom(k) == nil && key.Topic == "t" {
				t.Errorf("offset %s %s/%d still in the store after restart", key.Group, key.Topic, key.Partition)
			}
			return true
		})
	}
	grpTopic(t, b, "t", 2)
	adm = kadm.NewClient(grpClient(t, grpAddr(b)))
	defer adm.Close()
	if got := fetched("g1"); got != "[u/0=3]" {
		t.Fatalf("g1 after restart and re-creating t: %s", got)
	}
}

// group.max.size over the wire: a second member of a full group gets
// GROUP_MAX_SIZE_REACHED (81) and no member id, from JoinGroup v9 and v0.
func TestGroupMaxSizeOverTheWire(t *testing.T) {
	b, err := New(Config{
		Listeners: []Listener{{Name: "PLAINTEXT", Address: "127.0.0.1:0"}},
		Store:     storage.Config{Dir: t.TempDir()},
		Topics:    TopicDefaults{NumPartitions: 1},
		Group:     group.Config{InitialRebalanceDelay: -1, MinSessionTimeout: time.Second, MaxSize: 1},
		Logger:    zap.NewNop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	defer grpStop(t, b)
	grpTopic(t, b, "t", 1)
	addr := grpAddr(b)
	own := &ownership{owner: map[int32]string{}}
	got := &consumed{count: map[string]int{}}
	m := startMember(t, addr, "full", "t", "m1", kgo.RangeBalancer(), own, got)
	defer m.close()
	waitFor(t, "the first member to own the partition", func() bool { return own.owned("m1") })
	for _, v := range []int16{9, 0} {
		req := kmsg.NewPtrJoinGroupRequest()
		req.Version = v
		req.Group = "full"
		req.SessionTimeoutMillis = 10000
		req.RebalanceTimeoutMillis = 10000
		req.ProtocolType = "consumer"
		req.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0}}}
		resp := grpReq[*kmsg.JoinGroupResponse](t, addr, req)
		if resp.ErrorCode != kerr.GroupMaxSizeReached.Code || resp.MemberID != "" {
			t.Fatalf("v%d join of a full group: %v member %q", v, kerr.ErrorForCode(resp.ErrorCode), resp.MemberID)
		}
	}
}
