package group

import (
	"bytes"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fakeClock fires timers only when the test advances it, in deadline order,
// on the test's goroutine, so every rebalance in these tests is deterministic.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	seq    int
	timers map[int]*fakeTimer
}

type fakeTimer struct {
	c    *fakeClock
	id   int
	when time.Time
	f    func()
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	_, ok := t.c.timers[t.id]
	delete(t.c.timers, t.id)
	return ok
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Unix(1_700_000_000, 0), timers: map[int]*fakeTimer{}}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	t := &fakeTimer{c: c, id: c.seq, when: c.now.Add(d), f: f}
	c.timers[t.id] = t
	return t
}

// Advance moves time forward by d, firing due timers one by one.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	target := c.now.Add(d)
	c.mu.Unlock()
	for {
		c.mu.Lock()
		var next *fakeTimer
		for _, t := range c.timers {
			if !t.when.After(target) && (next == nil || t.when.Before(next.when) || (t.when.Equal(next.when) && t.id < next.id)) {
				next = t
			}
		}
		if next == nil {
			c.now = target
			c.mu.Unlock()
			return
		}
		delete(c.timers, next.id)
		c.now = next.when
		c.mu.Unlock()
		next.f()
	}
}

// memKV is the store's KV contract in memory.
type memKV struct {
	mu   sync.Mutex
	data map[string]map[string][]byte
	puts int
	fail error
}

func newMemKV() *memKV { return &memKV{data: map[string]map[string][]byte{}} }

func (m *memKV) PutKV(ns string, kvs ...storage.KV) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	m.puts++
	if m.data[ns] == nil {
		m.data[ns] = map[string][]byte{}
	}
	for _, kv := range kvs {
		if kv.Value == nil {
			delete(m.data[ns], string(kv.Key))
		} else {
			m.data[ns][string(kv.Key)] = append([]byte(nil), kv.Value...)
		}
	}
	return nil
}

func (m *memKV) PutKVDeferred(ns string, kvs ...storage.KV) (int64, error) {
	return 0, m.PutKV(ns, kvs...)
}

func (m *memKV) WaitDurable(int64) error { return nil }

func (m *memKV) RangeKV(ns string, fn func(k, v []byte) bool) {
	m.mu.Lock()
	keys := make([]string, 0, len(m.data[ns]))
	for k := range m.data[ns] {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	vals := make([][]byte, len(keys))
	for i, k := range keys {
		vals[i] = m.data[ns][k]
	}
	m.mu.Unlock()
	for i, k := range keys {
		if !fn([]byte(k), vals[i]) {
			return
		}
	}
}

type harness struct {
	t   testing.TB
	clk *fakeClock
	kv  *memKV
	c   *Coordinator
	// topics is the topic table classic joins see (a classic member
	// joining a consumer group needs it).
	topics testCatalog
}

func (h *harness) joinInfo(client string) JoinInfo {
	return JoinInfo{ClientID: client, ClientHost: "/127.0.0.1", Topics: h.topics.cat()}
}

func testConfig() Config {
	return Config{
		InitialRebalanceDelay: 100 * time.Millisecond,
		MinSessionTimeout:     time.Second,
		MaxSessionTimeout:     time.Minute,
	}
}

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	h := &harness{t: t, clk: newFakeClock(), kv: newMemKV()}
	h.open(cfg)
	return h
}

func (h *harness) open(cfg Config) {
	h.t.Helper()
	c, err := newCoordinator(cfg, h.kv, h.clk, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	h.c = c
	h.t.Cleanup(func() { c.Close() })
}

// joinReq builds a v9 consumer JoinGroup with 10s session, 20s rebalance timeouts.
func joinReq(group, memberID string, instance *string, protos ...string) *kmsg.JoinGroupRequest {
	r := kmsg.NewPtrJoinGroupRequest()
	r.Version = 9
	r.Group = group
	r.MemberID = memberID
	r.InstanceID = instance
	r.SessionTimeoutMillis = 10_000
	r.RebalanceTimeoutMillis = 20_000
	r.ProtocolType = "consumer"
	if len(protos) == 0 {
		protos = []string{"range"}
	}
	for _, p := range protos {
		r.Protocols = append(r.Protocols, kmsg.JoinGroupRequestProtocol{Name: p, Metadata: []byte("md-" + p + "-" + memberID)})
	}
	return r
}

// pendingJoin collects the (possibly later) answer of a join.
type pendingJoin struct{ resps []*kmsg.JoinGroupResponse }

func (p *pendingJoin) done() bool { return len(p.resps) > 0 }
func (p *pendingJoin) get(t testing.TB) *kmsg.JoinGroupResponse {
	t.Helper()
	if len(p.resps) != 1 {
		t.Fatalf("join answered %d times, want once", len(p.resps))
	}
	return p.resps[0]
}

func (h *harness) join(req *kmsg.JoinGroupRequest) *pendingJoin {
	p := &pendingJoin{}
	h.c.join(req, h.joinInfo("cli"), func(r *kmsg.JoinGroupResponse) { p.resps = append(p.resps, r) })
	return p
}

// joinNew does the KIP-394 two-step join and returns the pending second join.
func (h *harness) joinNew(group string, protos ...string) (string, *pendingJoin) {
	h.t.Helper()
	first := h.join(joinReq(group, "", nil, protos...)).get(h.t)
	if first.ErrorCode != kerr.MemberIDRequired.Code || first.MemberID == "" {
		h.t.Fatalf("first join: code %d member %q, want MEMBER_ID_REQUIRED with an id", first.ErrorCode, first.MemberID)
	}
	return first.MemberID, h.join(joinReq(group, first.MemberID, nil, protos...))
}

type pendingSync struct{ resps []*kmsg.SyncGroupResponse }

func (h *harness) sync(group, member string, gen int32, assign map[string]string) *pendingSync {
	r := kmsg.NewPtrSyncGroupRequest()
	r.Version = 5
	r.Group, r.MemberID, r.Generation = group, member, gen
	keys := make([]string, 0, len(assign))
	for k := range assign {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		r.GroupAssignment = append(r.GroupAssignment, kmsg.SyncGroupRequestGroupAssignment{MemberID: k, MemberAssignment: []byte(assign[k])})
	}
	p := &pendingSync{}
	h.c.sync(r, func(s *kmsg.SyncGroupResponse) { p.resps = append(p.resps, s) })
	return p
}

func (p *pendingSync) get(t testing.TB) *kmsg.SyncGroupResponse {
	t.Helper()
	if len(p.resps) != 1 {
		t.Fatalf("sync answered %d times, want once", len(p.resps))
	}
	return p.resps[0]
}

func (h *harness) heartbeat(group, member string, gen int32, instance *string) int16 {
	r := kmsg.NewPtrHeartbeatRequest()
	r.Version = 4
	r.Group, r.MemberID, r.Generation, r.InstanceID = group, member, gen, instance
	return h.c.Heartbeat(r).ErrorCode
}

func (h *harness) commit(group, member string, gen int32, topic string, part int32, off int64, md string) int16 {
	r := kmsg.NewPtrOffsetCommitRequest()
	r.Version = 8
	r.Group, r.MemberID, r.Generation = group, member, gen
	p := kmsg.NewOffsetCommitRequestTopicPartition()
	p.Partition, p.Offset, p.LeaderEpoch, p.Metadata = part, off, 3, &md
	r.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: topic, Partitions: []kmsg.OffsetCommitRequestTopicPartition{p}}}
	resp := h.c.OffsetCommit(r, nil)
	return resp.Topics[0].Partitions[0].ErrorCode
}

func (h *harness) fetch(group, topic string, part int32) (int64, int32, string) {
	out := h.c.FetchOffsets(group, []kmsg.OffsetFetchRequestGroupTopic{{Topic: topic, Partitions: []int32{part}}}, nil)
	p := out[0].Partitions[0]
	return p.Offset, p.LeaderEpoch, *p.Metadata
}

func str(s string) *string { return &s }

func wantCode(t testing.TB, got int16, want *kerr.Error) {
	t.Helper()
	wantCode := int16(0)
	if want != nil {
		wantCode = want.Code
	}
	if got != wantCode {
		t.Fatalf("error code %v, want %v", kerr.ErrorForCode(got), want)
	}
}

// stableGroup makes a group with n members through a full rebalance and
// returns the member ids in join order and the generation.
func (h *harness) stableGroup(group string, n int) ([]string, int32) {
	h.t.Helper()
	var ids []string
	var joins []*pendingJoin
	for i := 0; i < n; i++ {
		id, p := h.joinNew(group)
		ids = append(ids, id)
		joins = append(joins, p)
	}
	// The initial delay, extended while members keep arriving.
	for i := 0; i < 10 && !joins[0].done(); i++ {
		h.clk.Advance(100 * time.Millisecond)
	}
	gen := joins[0].get(h.t).Generation
	assign := map[string]string{}
	for i, id := range ids {
		assign[id] = "assign-" + id
		r := joins[i].get(h.t)
		wantCode(h.t, r.ErrorCode, nil)
		if r.Generation != gen || r.LeaderID != ids[0] {
			h.t.Fatalf("member %d: generation %d leader %q, want %d %q", i, r.Generation, r.LeaderID, gen, ids[0])
		}
	}
	var syncs []*pendingSync
	for i := n - 1; i >= 0; i-- { // followers first: they must wait for the leader
		var a map[string]string
		if i == 0 {
			a = assign
		}
		syncs = append(syncs, h.sync(group, ids[i], gen, a))
	}
	for i, s := range syncs {
		id := ids[n-1-i]
		r := s.get(h.t)
		wantCode(h.t, r.ErrorCode, nil)
		if string(r.MemberAssignment) != "assign-"+id {
			h.t.Fatalf("member %s got assignment %q", id, r.MemberAssignment)
		}
	}
	return ids, gen
}

func TestJoinSyncHeartbeat(t *testing.T) {
	h := newHarness(t, testConfig())
	id, p := h.joinNew("g")
	if p.done() {
		t.Fatal("join answered before the initial rebalance delay")
	}
	h.clk.Advance(99 * time.Millisecond)
	if p.done() {
		t.Fatal("join answered before the initial rebalance delay")
	}
	h.clk.Advance(time.Millisecond)
	r := p.get(t)
	wantCode(t, r.ErrorCode, nil)
	if r.Generation != 1 || r.LeaderID != id || r.MemberID != id || *r.Protocol != "range" || *r.ProtocolType != "consumer" {
		t.Fatalf("join response %+v", r)
	}
	if len(r.Members) != 1 || r.Members[0].MemberID != id || string(r.Members[0].ProtocolMetadata) != "md-range-"+id {
		t.Fatalf("leader members %+v", r.Members)
	}
	wantCode(t, h.heartbeat("g", id, 1, nil), nil) // heartbeats are fine while completing
	s := h.sync("g", id, 1, map[string]string{id: "A", "stranger": "B"}).get(t)
	wantCode(t, s.ErrorCode, nil)
	if string(s.MemberAssignment) != "A" || *s.Protocol != "range" {
		t.Fatalf("sync %+v", s)
	}
	wantCode(t, h.heartbeat("g", id, 1, nil), nil)
	wantCode(t, h.heartbeat("g", id, 0, nil), kerr.IllegalGeneration)
	wantCode(t, h.heartbeat("g", "nobody", 1, nil), kerr.UnknownMemberID)
	wantCode(t, h.heartbeat("nogroup", id, 1, nil), kerr.UnknownMemberID)
	// A stable SyncGroup (retry) returns the same assignment.
	s = h.sync("g", id, 1, nil).get(t)
	if string(s.MemberAssignment) != "A" {
		t.Fatalf("retried sync %q", s.MemberAssignment)
	}
}

func TestJoinValidation(t *testing.T) {
	h := newHarness(t, testConfig())
	r := joinReq("g", "", nil)
	r.SessionTimeoutMillis = 500
	wantCode(t, h.join(r).get(t).ErrorCode, kerr.InvalidSessionTimeout)
	r = joinReq("g", "", nil)
	r.SessionTimeoutMillis = 61_000
	wantCode(t, h.join(r).get(t).ErrorCode, kerr.InvalidSessionTimeout)
	wantCode(t, h.join(joinReq("", "", nil)).get(t).ErrorCode, kerr.InvalidGroupID)
	r = joinReq("g", "", nil)
	r.Protocols = nil
	wantCode(t, h.join(r).get(t).ErrorCode, kerr.InconsistentGroupProtocol)
	wantCode(t, h.join(joinReq("g", "made-up", nil)).get(t).ErrorCode, kerr.UnknownMemberID)
	if gs := h.c.ListGroups(kmsg.NewPtrListGroupsRequest()).Groups; len(gs) != 0 {
		t.Fatalf("refused joins left groups behind: %+v", gs)
	}

	h.stableGroup("g", 1)
	r = joinReq("g", "", nil, "roundrobin")
	wantCode(t, h.join(r).get(t).ErrorCode, kerr.InconsistentGroupProtocol)
	r = joinReq("g", "", nil)
	r.ProtocolType = "connect"
	wantCode(t, h.join(r).get(t).ErrorCode, kerr.InconsistentGroupProtocol)
	// v3 and older get a member id straight away (no KIP-394 round trip).
	r = joinReq("g", "", nil)
	r.Version = 3
	p := h.join(r)
	if p.done() {
		t.Fatal("v3 join should wait for the rebalance")
	}
}

func TestSecondMemberRebalances(t *testing.T) {
	h := newHarness(t, testConfig())
	ids, gen := h.stableGroup("g", 1)
	a := ids[0]
	b, pb := h.joinNew("g", "range")
	if pb.done() {
		t.Fatal("new member answered before the rebalance completed")
	}
	wantCode(t, h.heartbeat("g", a, gen, nil), kerr.RebalanceInProgress)
	// Commits are still allowed while preparing (commit on revocation).
	wantCode(t, h.commit("g", a, gen, "t", 0, 42, "m"), nil)
	pa := h.join(joinReq("g", a, nil, "range"))
	ra, rb := pa.get(t), pb.get(t)
	if ra.Generation != gen+1 || rb.Generation != gen+1 || ra.LeaderID != a || rb.LeaderID != a {
		t.Fatalf("generations %d %d leaders %s %s", ra.Generation, rb.Generation, ra.LeaderID, rb.LeaderID)
	}
	if len(ra.Members) != 2 || ra.Members[0].MemberID != a || ra.Members[1].MemberID != b || len(rb.Members) != 0 {
		t.Fatalf("members: leader %d follower %d", len(ra.Members), len(rb.Members))
	}
	// Until the leader syncs, commits get REBALANCE_IN_PROGRESS.
	wantCode(t, h.commit("g", b, gen+1, "t", 0, 43, ""), kerr.RebalanceInProgress)
	wantCode(t, h.commit("g", a, gen, "t", 0, 43, ""), kerr.IllegalGeneration)
	sb := h.sync("g", b, gen+1, nil)
	if len(sb.resps) != 0 {
		t.Fatal("follower sync answered before the leader's")
	}
	sa := h.sync("g", a, gen+1, map[string]string{a: "p0", b: "p1"}).get(t)
	if string(sa.MemberAssignment) != "p0" || string(sb.get(t).MemberAssignment) != "p1" {
		t.Fatal("wrong assignments")
	}
	wantCode(t, h.commit("g", b, gen+1, "t", 1, 7, ""), nil)
	if off, epoch, md := h.fetch("g", "t", 0); off != 42 || epoch != 3 || md != "m" {
		t.Fatalf("fetched %d %d %q", off, epoch, md)
	}
	// The leader leaves: the follower becomes leader of the next generation.
	lr := kmsg.NewPtrLeaveGroupRequest()
	lr.Version = 5
	lr.Group = "g"
	lr.Members = []kmsg.LeaveGroupRequestMember{{MemberID: a}, {MemberID: "ghost"}}
	resp := h.c.LeaveGroup(lr)
	wantCode(t, resp.Members[0].ErrorCode, nil)
	wantCode(t, resp.Members[1].ErrorCode, kerr.UnknownMemberID)
	wantCode(t, h.heartbeat("g", b, gen+1, nil), kerr.RebalanceInProgress)
	rb2 := h.join(joinReq("g", b, nil, "range")).get(t)
	if rb2.Generation != gen+2 || rb2.LeaderID != b || len(rb2.Members) != 1 {
		t.Fatalf("after leave: %+v", rb2)
	}
}

func TestSessionExpiryAndConcurrentJoins(t *testing.T) {
	h := newHarness(t, testConfig())
	ids, gen := h.stableGroup("g", 3)
	// Member 2 dies; 0 and 1 heartbeat.
	for i := 0; i < 3; i++ {
		h.clk.Advance(3 * time.Second)
		wantCode(t, h.heartbeat("g", ids[0], gen, nil), nil)
		wantCode(t, h.heartbeat("g", ids[1], gen, nil), nil)
	}
	h.clk.Advance(3 * time.Second)
	wantCode(t, h.heartbeat("g", ids[0], gen, nil), kerr.RebalanceInProgress)
	// While the survivors rejoin, two new members arrive concurrently.
	p0 := h.join(joinReq("g", ids[0], nil))
	n1, pn1 := h.joinNew("g")
	p1 := h.join(joinReq("g", ids[1], nil))
	// Everyone known has rejoined: the generation completes at once.
	for i, p := range []*pendingJoin{p0, p1, pn1} {
		r := p.get(t)
		wantCode(t, r.ErrorCode, nil)
		if r.Generation != gen+1 {
			t.Fatalf("join %d generation %d", i, r.Generation)
		}
	}
	// A member arriving before the leader syncs starts another round; the
	// waiting sync learns it, and everyone's rejoin is accepted.
	s1 := h.sync("g", ids[1], gen+1, nil)
	n2, pn2 := h.joinNew("g")
	wantCode(t, s1.get(t).ErrorCode, kerr.RebalanceInProgress)
	wantCode(t, h.sync("g", ids[0], gen+1, map[string]string{ids[0]: "x"}).get(t).ErrorCode, kerr.RebalanceInProgress)
	p0 = h.join(joinReq("g", ids[0], nil))
	pn1 = h.join(joinReq("g", n1, nil))
	p1 = h.join(joinReq("g", ids[1], nil))
	for i, p := range []*pendingJoin{p0, p1, pn1, pn2} {
		r := p.get(t)
		wantCode(t, r.ErrorCode, nil)
		if r.Generation != gen+2 {
			t.Fatalf("join %d generation %d", i, r.Generation)
		}
	}
	leader := p0.get(t)
	got := map[string]bool{}
	for _, m := range leader.Members {
		got[m.MemberID] = true
	}
	if len(got) != 4 || !got[ids[0]] || !got[ids[1]] || !got[n1] || !got[n2] || got[ids[2]] {
		t.Fatalf("members %v", got)
	}
	wantCode(t, h.heartbeat("g", ids[2], gen, nil), kerr.UnknownMemberID)
}

func TestRebalanceTimeoutDropsLaggards(t *testing.T) {
	h := newHarness(t, testConfig())
	ids, gen := h.stableGroup("g", 2)
	_, pn := h.joinNew("g")
	p0 := h.join(joinReq("g", ids[0], nil))
	// ids[1] heartbeats but never rejoins within the 20s rebalance timeout.
	for i := 0; i < 7; i++ {
		h.clk.Advance(3 * time.Second)
		if p0.done() {
			break
		}
		h.heartbeat("g", ids[1], gen, nil)
	}
	wantCode(t, p0.get(t).ErrorCode, nil)
	wantCode(t, pn.get(t).ErrorCode, nil)
	if len(p0.get(t).Members) != 2 {
		t.Fatalf("members %d", len(p0.get(t).Members))
	}
	wantCode(t, h.heartbeat("g", ids[1], gen, nil), kerr.UnknownMemberID)
}

func TestStaticMemberRestartWithoutRebalance(t *testing.T) {
	h := newHarness(t, testConfig())
	inst := str("instance-a")
	pa := h.join(joinReq("g", "", inst))
	pb := h.join(joinReq("g", "", str("instance-b")))
	h.clk.Advance(200 * time.Millisecond)
	ra, rb := pa.get(t), pb.get(t)
	gen := ra.Generation
	h.sync("g", rb.MemberID, gen, nil)
	wantCode(t, h.sync("g", ra.MemberID, gen, map[string]string{ra.MemberID: "A", rb.MemberID: "B"}).get(t).ErrorCode, nil)

	// instance-b restarts: a fresh join with no member id.
	rb2 := h.join(joinReq("g", "", str("instance-b"))).get(t)
	wantCode(t, rb2.ErrorCode, nil)
	if rb2.Generation != gen || rb2.MemberID == rb.MemberID || rb2.LeaderID != ra.MemberID {
		t.Fatalf("restart join %+v", rb2)
	}
	s := h.sync("g", rb2.MemberID, gen, nil).get(t)
	if string(s.MemberAssignment) != "B" {
		t.Fatalf("restarted static member got %q, want its old assignment", s.MemberAssignment)
	}
	// No rebalance for the others; the zombie is fenced.
	wantCode(t, h.heartbeat("g", ra.MemberID, gen, nil), nil)
	wantCode(t, h.heartbeat("g", rb.MemberID, gen, str("instance-b")), kerr.FencedInstanceID)
	wantCode(t, h.commit("g", rb2.MemberID, gen, "t", 0, 5, ""), nil)

	// The leader restarting gets the members back with SkipAssignment (v9).
	ra2 := h.join(joinReq("g", "", inst)).get(t)
	if ra2.Generation != gen || ra2.LeaderID != ra2.MemberID || !ra2.SkipAssignment || len(ra2.Members) != 2 {
		t.Fatalf("leader restart %+v", ra2)
	}
	// Leave by instance id.
	lr := kmsg.NewPtrLeaveGroupRequest()
	lr.Version = 3
	lr.Group = "g"
	lr.Members = []kmsg.LeaveGroupRequestMember{{InstanceID: str("instance-b")}, {InstanceID: str("instance-z")}}
	resp := h.c.LeaveGroup(lr)
	wantCode(t, resp.Members[0].ErrorCode, nil)
	wantCode(t, resp.Members[1].ErrorCode, kerr.UnknownMemberID)
}

func TestSimpleCommitsAndMetadataLimit(t *testing.T) {
	cfg := testConfig()
	cfg.OffsetMetadataMaxBytes = 8
	h := newHarness(t, cfg)
	wantCode(t, h.commit("simple", "", -1, "t", 2, 100, "12345678"), nil)
	wantCode(t, h.commit("simple", "", -1, "t", 3, 100, "123456789"), kerr.OffsetMetadataTooLarge)
	if off, _, md := h.fetch("simple", "t", 2); off != 100 || md != "12345678" {
		t.Fatalf("fetch %d %q", off, md)
	}
	if off, epoch, md := h.fetch("simple", "t", 3); off != -1 || epoch != -1 || md != "" {
		t.Fatalf("missing partition: %d %d %q", off, epoch, md)
	}
	if off, _, _ := h.fetch("nogroup", "t", 2); off != -1 {
		t.Fatalf("unknown group offset %d", off)
	}
	// Commits with a generation for a group that does not exist: v8 gets
	// ILLEGAL_GENERATION, v9 GROUP_ID_NOT_FOUND.
	wantCode(t, h.commit("nogroup", "m", 3, "t", 0, 1, ""), kerr.IllegalGeneration)
	r9 := kmsg.NewPtrOffsetCommitRequest()
	r9.Version = 9
	r9.Group, r9.MemberID, r9.Generation = "nogroup", "m", 3
	r9.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0}}}}
	wantCode(t, h.c.OffsetCommit(r9, nil).Topics[0].Partitions[0].ErrorCode, kerr.GroupIDNotFound)
	// Generation -1 with a member id is still a simple commit while Empty.
	wantCode(t, h.commit("simple", "someone", -1, "t", 5, 1, ""), nil)
	// Once a group has members, simple commits are refused.
	ids, gen := h.stableGroup("g", 1)
	wantCode(t, h.commit("g", "", -1, "t", 0, 1, ""), kerr.UnknownMemberID)
	wantCode(t, h.commit("g", "other", gen, "t", 0, 1, ""), kerr.UnknownMemberID)
	wantCode(t, h.commit("g", ids[0], gen, "t", 0, 1, ""), nil)

	// topics == nil: everything, sorted.
	wantCode(t, h.commit("simple", "", -1, "a", 1, 5, ""), nil)
	wantCode(t, h.commit("simple", "", -1, "a", 0, 4, ""), nil)
	all := h.c.FetchOffsets("simple", nil, nil)
	var got []string
	for _, tp := range all {
		for _, p := range tp.Partitions {
			got = append(got, tp.Topic+"/"+string(rune('0'+p.Partition))+"="+string(rune('0'+p.Offset%10)))
		}
	}
	if want := []string{"a/0=4", "a/1=5", "t/2=0", "t/5=1"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("all offsets %v, want %v", got, want)
	}
}

func TestRestartKeepsOffsetsAndGeneration(t *testing.T) {
	h := newHarness(t, testConfig())
	ids, gen := h.stableGroup("g", 2)
	wantCode(t, h.commit("g", ids[1], gen, "t", 0, 77, "meta"), nil)
	wantCode(t, h.commit("s", "", -1, "t", 1, 5, ""), nil)
	h.c.Close()
	h.open(testConfig())
	if off, epoch, md := h.fetch("g", "t", 0); off != 77 || epoch != 3 || md != "meta" {
		t.Fatalf("after restart %d %d %q", off, epoch, md)
	}
	if off, _, _ := h.fetch("s", "t", 1); off != 5 {
		t.Fatalf("simple after restart %d", off)
	}
	// The members carry on with their generation: no rebalance.
	wantCode(t, h.heartbeat("g", ids[0], gen, nil), nil)
	wantCode(t, h.heartbeat("g", ids[1], gen, nil), nil)
	s := h.sync("g", ids[1], gen, nil).get(t)
	if string(s.MemberAssignment) != "assign-"+ids[1] {
		t.Fatalf("assignment after restart %q", s.MemberAssignment)
	}
	// Members that never come back expire and the group empties.
	h.clk.Advance(6 * time.Second)
	wantCode(t, h.heartbeat("g", ids[0], gen, nil), nil)
	h.clk.Advance(5 * time.Second)
	wantCode(t, h.heartbeat("g", ids[0], gen, nil), kerr.RebalanceInProgress)
	h.join(joinReq("g", ids[0], nil)) // the only member left: completes at once
	d := h.describe("g")
	if d.State != "CompletingRebalance" || len(d.Members) != 1 || d.Members[0].MemberID != ids[0] {
		t.Fatalf("describe %+v", d)
	}
}

func (h *harness) describe(g string) kmsg.DescribeGroupsResponseGroup {
	r := kmsg.NewPtrDescribeGroupsRequest()
	r.Version = 5
	r.Groups = []string{g}
	return h.c.DescribeGroups(r).Groups[0]
}

func TestOffsetExpiry(t *testing.T) {
	cfg := testConfig()
	cfg.OffsetsRetention = time.Hour
	cfg.OffsetsRetentionCheckInterval = time.Minute
	h := newHarness(t, cfg)
	wantCode(t, h.commit("s", "", -1, "t", 0, 1, ""), nil)
	h.clk.Advance(30 * time.Minute)
	wantCode(t, h.commit("s", "", -1, "t", 1, 2, ""), nil)
	ids, gen := h.stableGroup("g", 1)
	wantCode(t, h.commit("g", ids[0], gen, "t", 0, 9, ""), nil)
	for i := 0; i < 31*12; i++ { // 31 minutes of heartbeats
		wantCode(t, h.heartbeat("g", ids[0], gen, nil), nil)
		h.clk.Advance(5 * time.Second)
	}
	if off, _, _ := h.fetch("s", "t", 0); off != -1 {
		t.Fatalf("old simple offset survived: %d", off)
	}
	if off, _, _ := h.fetch("s", "t", 1); off != 2 {
		t.Fatalf("young simple offset expired: %d", off)
	}
	// A group with members keeps its offsets however old.
	for i := 0; i < 31*12; i++ {
		wantCode(t, h.heartbeat("g", ids[0], gen, nil), nil)
		h.clk.Advance(5 * time.Second)
	}
	if off, _, _ := h.fetch("g", "t", 0); off != 9 {
		t.Fatalf("live group's offset expired: %d", off)
	}
	lr := kmsg.NewPtrLeaveGroupRequest()
	lr.Group, lr.MemberID = "g", ids[0]
	wantCode(t, h.c.LeaveGroup(lr).ErrorCode, nil)
	if d := h.describe("g"); d.State != "Empty" {
		t.Fatalf("state %s", d.State)
	}
	h.clk.Advance(59 * time.Minute)
	if off, _, _ := h.fetch("g", "t", 0); off != 9 {
		t.Fatalf("expired too early: %d", off)
	}
	h.clk.Advance(2 * time.Minute)
	if off, _, _ := h.fetch("g", "t", 0); off != -1 {
		t.Fatalf("empty group's offsets survived retention: %d", off)
	}
	if d := h.describe("g"); d.State != "Dead" {
		t.Fatalf("expired group state %s", d.State)
	}
	// ... and durably: a restart does not bring them back.
	h.c.Close()
	h.open(cfg)
	if off, _, _ := h.fetch("g", "t", 0); off != -1 {
		t.Fatalf("expired offset back after restart: %d", off)
	}
}

func TestListDescribeDeleteAndOffsetDelete(t *testing.T) {
	h := newHarness(t, testConfig())
	// A member subscribed to topic "sub" via real consumer metadata.
	md := kmsg.NewConsumerMemberMetadata()
	md.Topics = []string{"sub"}
	r := joinReq("g", "", str("i"))
	r.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: md.AppendTo(nil)}}
	p := h.join(r)
	h.clk.Advance(100 * time.Millisecond)
	jr := p.get(t)
	h.sync("g", jr.MemberID, jr.Generation, map[string]string{jr.MemberID: "x"})
	wantCode(t, h.commit("g", jr.MemberID, jr.Generation, "sub", 0, 1, ""), nil)
	wantCode(t, h.commit("g", jr.MemberID, jr.Generation, "old", 0, 1, ""), nil)
	wantCode(t, h.commit("s", "", -1, "t", 0, 1, ""), nil)

	lr := kmsg.NewPtrListGroupsRequest()
	lr.Version = 5
	groups := h.c.ListGroups(lr).Groups
	if len(groups) != 2 || groups[0].Group != "g" || groups[0].GroupState != "Stable" || groups[0].ProtocolType != "consumer" ||
		groups[1].Group != "s" || groups[1].GroupState != "Empty" || groups[1].ProtocolType != "" || groups[0].GroupType != "classic" {
		t.Fatalf("list %+v", groups)
	}
	lr.StatesFilter = []string{"empty"}
	if groups := h.c.ListGroups(lr).Groups; len(groups) != 1 || groups[0].Group != "s" {
		t.Fatalf("filtered list %+v", groups)
	}
	lr.StatesFilter = nil
	lr.TypesFilter = []string{"consumer"}
	if groups := h.c.ListGroups(lr).Groups; len(groups) != 0 {
		t.Fatalf("types filter %+v", groups)
	}

	d := h.describe("g")
	if d.State != "Stable" || d.Protocol != "range" || len(d.Members) != 1 || *d.Members[0].InstanceID != "i" ||
		!bytes.Equal(d.Members[0].ProtocolMetadata, md.AppendTo(nil)) || string(d.Members[0].MemberAssignment) != "x" || d.Members[0].ClientHost != "/127.0.0.1" {
		t.Fatalf("describe %+v", d)
	}
	if d := h.describe("none"); d.State != "Dead" || d.ErrorCode != 0 {
		t.Fatalf("describe unknown %+v", d)
	}

	od := kmsg.NewPtrOffsetDeleteRequest()
	od.Group = "g"
	od.Topics = []kmsg.OffsetDeleteRequestTopic{
		{Topic: "sub", Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}},
		{Topic: "old", Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}},
	}
	odr := h.c.OffsetDelete(od, nil)
	wantCode(t, odr.ErrorCode, nil)
	wantCode(t, odr.Topics[0].Partitions[0].ErrorCode, kerr.GroupSubscribedToTopic)
	wantCode(t, odr.Topics[1].Partitions[0].ErrorCode, nil)
	if off, _, _ := h.fetch("g", "old", 0); off != -1 {
		t.Fatal("deleted offset still there")
	}
	if off, _, _ := h.fetch("g", "sub", 0); off != 1 {
		t.Fatal("subscribed offset deleted")
	}
	od.Group = "none"
	wantCode(t, h.c.OffsetDelete(od, nil).ErrorCode, kerr.GroupIDNotFound)

	dr := kmsg.NewPtrDeleteGroupsRequest()
	dr.Version = 2
	dr.Groups = []string{"g", "s", "none"}
	res := h.c.DeleteGroups(dr).Groups
	wantCode(t, res[0].ErrorCode, kerr.NonEmptyGroup)
	wantCode(t, res[1].ErrorCode, nil)
	wantCode(t, res[2].ErrorCode, kerr.GroupIDNotFound)
	if off, _, _ := h.fetch("s", "t", 0); off != -1 {
		t.Fatal("deleted group's offset still there")
	}
	h.c.Close()
	h.open(testConfig())
	if off, _, _ := h.fetch("s", "t", 0); off != -1 {
		t.Fatal("deleted group's offset back after restart")
	}
	if d := h.describe("s"); d.State != "Dead" {
		t.Fatalf("deleted group back after restart: %s", d.State)
	}
}

func TestPendingMemberExpires(t *testing.T) {
	h := newHarness(t, testConfig())
	ids, gen := h.stableGroup("g", 1)
	// A new client gets an id but never comes back: the rebalance it
	// caused must not wait for it beyond its session timeout.
	first := h.join(joinReq("g", "", nil)).get(t)
	wantCode(t, first.ErrorCode, kerr.MemberIDRequired)
	wantCode(t, h.heartbeat("g", ids[0], gen, nil), nil) // a pending id alone starts no rebalance
	// The existing member's rejoin (e.g. metadata change) waits for the pending id.
	r := joinReq("g", ids[0], nil)
	r.Protocols[0].Metadata = []byte("new")
	p := h.join(r)
	if p.done() {
		t.Fatal("rebalance completed while a pending member could still join")
	}
	h.clk.Advance(10 * time.Second)
	rr := p.get(t)
	wantCode(t, rr.ErrorCode, nil)
	if rr.Generation != gen+1 || len(rr.Members) != 1 || string(rr.Members[0].ProtocolMetadata) != "new" {
		t.Fatalf("%+v", rr)
	}
}

// A commit the store refuses gets the code Kafka 4's coordinator gives for
// the store's error (kafkaerr.Coordinator): a failed or closed log is
// NOT_COORDINATOR.
func TestCommitFailsWhenStoreFails(t *testing.T) {
	h := newHarness(t, testConfig())
	for _, err := range []error{storage.ErrDiskFull, storage.ErrBroken, storage.ErrClosed} {
		h.kv.fail = err
		wantCode(t, h.commit("s", "", -1, "t", 0, 1, ""), kerr.NotCoordinator)
	}
	h.kv.fail = nil
	if off, _, _ := h.fetch("s", "t", 0); off != -1 {
		t.Fatal("offset visible though it was never stored")
	}
}

func TestLeaderThatNeverSyncsIsRemoved(t *testing.T) {
	h := newHarness(t, testConfig())
	ids, gen := h.stableGroup("g", 2)
	leader, follower := ids[0], ids[1]
	pl := h.join(joinReq("g", leader, nil))
	pf := h.join(joinReq("g", follower, nil))
	wantCode(t, pl.get(t).ErrorCode, nil)
	wantCode(t, pf.get(t).ErrorCode, nil)
	s := h.sync("g", follower, gen+1, nil)
	// The leader heartbeats but never sends its assignment.
	for i := 0; i < 7 && len(s.resps) == 0; i++ {
		h.clk.Advance(3 * time.Second)
		h.heartbeat("g", leader, gen+1, nil)
		h.heartbeat("g", follower, gen+1, nil)
	}
	wantCode(t, s.get(t).ErrorCode, kerr.RebalanceInProgress)
	wantCode(t, h.heartbeat("g", leader, gen+1, nil), kerr.UnknownMemberID)
	r := h.join(joinReq("g", follower, nil)).get(t)
	if r.Generation != gen+2 || r.LeaderID != follower || len(r.Members) != 1 {
		t.Fatalf("after the silent leader: %+v", r)
	}
}

func kvOf(key, value []byte) storage.KV {
	if value == nil {
		value = []byte{}
	}
	return storage.KV{Key: key, Value: value}
}

func TestOffsetsOfADeletedTopicReadAsAbsent(t *testing.T) {
	h := newHarness(t, testConfig())
	ids := map[string][16]byte{"t": {1}, "u": {2}}
	live := Topics(func(topic string) ([16]byte, int32, bool) {
		id, ok := ids[topic]
		return id, 4, ok
	})
	r := kmsg.NewPtrOffsetCommitRequest()
	r.Version = 8
	r.Group, r.Generation = "s", -1
	r.Topics = []kmsg.OffsetCommitRequestTopic{
		{Topic: "t", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 10}, {Partition: 4, Offset: 1}}},
		{Topic: "u", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 1, Offset: 20}}},
		{Topic: "gone", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 30}}},
	}
	resp := h.c.OffsetCommit(r, live)
	wantCode(t, resp.Topics[0].Partitions[0].ErrorCode, nil)
	wantCode(t, resp.Topics[0].Partitions[1].ErrorCode, kerr.UnknownTopicOrPartition)
	wantCode(t, resp.Topics[1].Partitions[0].ErrorCode, nil)
	wantCode(t, resp.Topics[2].Partitions[0].ErrorCode, kerr.UnknownTopicOrPartition)
	fetch := func() string {
		var out []string
		for _, tp := range h.c.FetchOffsets("s", nil, live) {
			for _, p := range tp.Partitions {
				out = append(out, fmt.Sprintf("%s/%d=%d", tp.Topic, p.Partition, p.Offset))
			}
		}
		return fmt.Sprint(out)
	}
	if got := fetch(); got != "[t/0=10 u/1=20]" {
		t.Fatalf("offsets %s", got)
	}
	// "t" is deleted and created again: a new id.
	ids["t"] = [16]byte{3}
	if got := fetch(); got != "[u/1=20]" {
		t.Fatalf("offsets after t was re-created: %s", got)
	}
	one := h.c.FetchOffsets("s", []kmsg.OffsetFetchRequestGroupTopic{{Topic: "t", Partitions: []int32{0}}}, live)
	if o := one[0].Partitions[0]; o.Offset != -1 {
		t.Fatalf("old offset of re-created topic: %d", o.Offset)
	}
	// The ids survive a restart.
	h.c.Close()
	h.open(testConfig())
	if got := fetch(); got != "[u/1=20]" {
		t.Fatalf("after restart: %s", got)
	}
	ids["t"] = [16]byte{1}
	if got := fetch(); got != "[t/0=10 u/1=20]" {
		t.Fatalf("after restart with the old id: %s", got)
	}
}

func TestReloadPicksUpReplicatedState(t *testing.T) {
	h := newHarness(t, testConfig())
	wantCode(t, h.commit("s", "", -1, "t", 0, 5, ""), nil)
	// Another coordinator writes to the same store (as a master would
	// replicate to this broker's store).
	other, err := newCoordinator(testConfig(), h.kv, h.clk, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := kmsg.NewPtrOffsetCommitRequest()
	r.Version = 8
	r.Group, r.Generation = "s", -1
	r.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 9}}}}
	wantCode(t, other.OffsetCommit(r, nil).Topics[0].Partitions[0].ErrorCode, nil)
	other.Close()
	if off, _, _ := h.fetch("s", "t", 0); off != 5 {
		t.Fatalf("before reload %d", off)
	}
	if err := h.c.Reload(); err != nil {
		t.Fatal(err)
	}
	if off, _, _ := h.fetch("s", "t", 0); off != 9 {
		t.Fatalf("after reload %d, want 9", off)
	}
	wantCode(t, h.commit("s", "", -1, "t", 0, 10, ""), nil)
	if off, _, _ := h.fetch("s", "t", 0); off != 10 {
		t.Fatalf("commit after reload %d", off)
	}
}

func TestPartitionCountCannotChange(t *testing.T) {
	h := newHarness(t, testConfig())
	h.c.Close()
	cfg := testConfig()
	cfg.OffsetsTopicNumPartitions = 10
	if _, err := newCoordinator(cfg, h.kv, h.clk, nil); err == nil {
		t.Fatal("a changed offsets.topic.num.partitions was accepted")
	}
	cfg.OffsetsTopicNumPartitions = 50
	c, err := newCoordinator(cfg, h.kv, h.clk, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}
