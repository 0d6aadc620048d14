package group

import (
	"sort"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Tests of the KIP-848 consumer group protocol, driven with kmsg requests
// on a fake clock.

func consumerTestConfig() Config {
	cfg := testConfig()
	cfg.ConsumerSessionTimeout = 3 * time.Second
	cfg.ConsumerHeartbeatInterval = 500 * time.Millisecond
	cfg.ConsumerMinSessionTimeout, cfg.ConsumerMinHeartbeatInterval = time.Second, 100*time.Millisecond
	return cfg
}

// testCatalog is a fixed topic table: name → partitions, ids derived from
// the name.
type testCatalog map[string]int32

func topicID(name string) [16]byte {
	var id [16]byte
	copy(id[:], name)
	id[15] = 1
	return id
}

func (tc testCatalog) cat() TopicCatalog {
	return TopicCatalog{
		Lookup: func(name string) ([16]byte, int32, bool) {
			n, ok := tc[name]
			return topicID(name), n, ok
		},
		Names: func() []string {
			var out []string
			for n := range tc {
				out = append(out, n)
			}
			return out
		},
		Internal: func(name string) bool { return name == "__consumer_offsets" },
	}
}

// cmem is one simulated KIP-848 consumer: it heartbeats, and owns exactly
// what it was last assigned once it acknowledges it.
type cmem struct {
	t        testing.TB
	h        *harness
	cat      testCatalog
	group    string
	id       string
	instance *string
	topics   []string
	regex    *string
	assignor *string
	epoch    int32
	owned    map[[16]byte][]int32 // what the consumer owns now
}

func (h *harness) member(cat testCatalog, group, id string, topics ...string) *cmem {
	return &cmem{t: h.t, h: h, cat: cat, group: group, id: id, topics: topics}
}

func (m *cmem) req() *kmsg.ConsumerGroupHeartbeatRequest {
	r := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	r.Version = 1
	r.Group = m.group
	r.MemberID = m.id
	r.MemberEpoch = m.epoch
	r.InstanceID = m.instance
	r.RebalanceTimeoutMillis = -1
	r.ServerAssignor = m.assignor
	if m.epoch == 0 {
		r.RebalanceTimeoutMillis = 5000
		r.SubscribedTopicNames = m.topics
		if m.topics == nil {
			r.SubscribedTopicNames = []string{}
		}
		r.SubscribedTopicRegex = m.regex
	}
	r.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	for t, ps := range m.owned {
		r.Topics = append(r.Topics, kmsg.ConsumerGroupHeartbeatRequestTopic{TopicID: t, Partitions: ps})
	}
	return r
}

// beat sends one heartbeat and applies its answer as the Java client does:
// a new assignment replaces what it owns (revoking first is implied: the
// consumer only ever owns what it was last given).
func (m *cmem) beat() *kmsg.ConsumerGroupHeartbeatResponse {
	m.t.Helper()
	resp := m.h.c.ConsumerGroupHeartbeat(m.req(), JoinInfo{ClientID: "c-" + m.id, ClientHost: "/127.0.0.1"}, m.cat.cat())
	if resp.ErrorCode != 0 {
		return resp
	}
	m.epoch = resp.MemberEpoch
	if resp.MemberID != nil {
		m.id = *resp.MemberID
	}
	if resp.Assignment != nil {
		m.owned = map[[16]byte][]int32{}
		for _, t := range resp.Assignment.Topics {
			m.owned[t.TopicID] = t.Partitions
		}
	}
	return resp
}

func (m *cmem) mustBeat() *kmsg.ConsumerGroupHeartbeatResponse {
	m.t.Helper()
	resp := m.beat()
	if resp.ErrorCode != 0 {
		msg := ""
		if resp.ErrorMessage != nil {
			msg = *resp.ErrorMessage
		}
		m.t.Fatalf("member %s heartbeat: %v %s", m.id, kerr.ErrorForCode(resp.ErrorCode), msg)
	}
	return resp
}

func (m *cmem) count() int {
	n := 0
	for _, ps := range m.owned {
		n += len(ps)
	}
	return n
}

// noOverlap fails when a partition is owned by two members at once.
func noOverlap(t *testing.T, ms ...*cmem) {
	t.Helper()
	seen := map[[16]byte]map[int32]string{}
	for _, m := range ms {
		for tid, ps := range m.owned {
			if seen[tid] == nil {
				seen[tid] = map[int32]string{}
			}
			for _, p := range ps {
				if o, ok := seen[tid][p]; ok {
					t.Fatalf("partition %d owned by %s and %s at once", p, o, m.id)
				}
				seen[tid][p] = m.id
			}
		}
	}
}

func wantHB(t *testing.T, resp *kmsg.ConsumerGroupHeartbeatResponse, want *kerr.Error) {
	t.Helper()
	if resp.ErrorCode != want.Code {
		t.Fatalf("got %v, want %v", kerr.ErrorForCode(resp.ErrorCode), want)
	}
}

func TestConsumerJoinRevokeBeforeReassign(t *testing.T) {
	h := newHarness(t, consumerTestConfig())
	cat := testCatalog{"t": 4}
	a := h.member(cat, "g", "a", "t")
	a.mustBeat()
	if a.epoch != 1 || a.count() != 4 {
		t.Fatalf("first member: epoch %d, %d partitions; want 1, 4", a.epoch, a.count())
	}
	b := h.member(cat, "g", "b", "t")
	b.mustBeat()
	if b.epoch != 2 || b.count() != 0 {
		t.Fatalf("second member before the revocation: epoch %d, %d partitions; want 2, 0 (all still owned by a)", b.epoch, b.count())
	}
	noOverlap(t, a, b)
	a.mustBeat() // told to revoke two
	if a.epoch != 1 || a.count() != 2 {
		t.Fatalf("first member asked to revoke: epoch %d, %d partitions; want 1 (unchanged until revoked), 2", a.epoch, a.count())
	}
	b.mustBeat()
	if b.count() != 0 {
		t.Fatalf("second member got %d partitions before a acknowledged the revocation", b.count())
	}
	a.mustBeat() // acknowledges: owns only its two now
	if a.epoch != 2 {
		t.Fatalf("first member after revoking: epoch %d, want 2", a.epoch)
	}
	b.mustBeat()
	if b.count() != 2 {
		t.Fatalf("second member after the revocation: %d partitions, want 2", b.count())
	}
	noOverlap(t, a, b)
	if st := h.describeCG(t, "g"); st.State != "Stable" || st.Epoch != 2 || st.AssignmentEpoch != 2 {
		t.Fatalf("group: %s epoch %d assignment epoch %d, want Stable 2 2", st.State, st.Epoch, st.AssignmentEpoch)
	}
	// b leaves: a gets everything back at a new epoch.
	b.epoch = leaveEpoch
	if r := b.beat(); r.ErrorCode != 0 || r.MemberEpoch != leaveEpoch {
		t.Fatalf("leave: %v epoch %d", kerr.ErrorForCode(r.ErrorCode), r.MemberEpoch)
	}
	a.mustBeat()
	if a.epoch != 3 || a.count() != 4 {
		t.Fatalf("after the leave: epoch %d, %d partitions; want 3, 4", a.epoch, a.count())
	}
}

func (h *harness) describeCG(t *testing.T, group string) kmsg.ConsumerGroupDescribeResponseGroup {
	t.Helper()
	req := kmsg.NewPtrConsumerGroupDescribeRequest()
	req.Version = 1
	req.Groups = []string{group}
	resp := h.c.ConsumerGroupDescribe(req)
	return resp.Groups[0]
}

func TestConsumerEpochFencing(t *testing.T) {
	h := newHarness(t, consumerTestConfig())
	cat := testCatalog{"t": 2}
	a := h.member(cat, "g", "a", "t")
	a.mustBeat()
	b := h.member(cat, "g", "b", "t")
	b.mustBeat()
	a.mustBeat() // revoke one
	a.mustBeat() // epoch 2 now
	if a.epoch != 2 {
		t.Fatalf("epoch %d, want 2", a.epoch)
	}
	// A lost response: the previous epoch with owned partitions within
	// the assignment is accepted.
	prev := *a
	prev.epoch = 1
	if r := prev.beat(); r.ErrorCode != 0 || r.MemberEpoch != 2 {
		t.Fatalf("previous epoch with its partitions: %v epoch %d, want accepted at 2", kerr.ErrorForCode(r.ErrorCode), r.MemberEpoch)
	}
	// The previous epoch claiming a partition it no longer has is fenced.
	zombie := *a
	zombie.epoch = 1
	zombie.owned = map[[16]byte][]int32{topicID("t"): {0, 1}}
	wantHB(t, zombie.beat(), kerr.FencedMemberEpoch)
	ahead := *a
	ahead.epoch = 7
	wantHB(t, ahead.beat(), kerr.FencedMemberEpoch)
	unknown := h.member(cat, "g", "nobody", "t")
	unknown.epoch = 2
	wantHB(t, unknown.beat(), kerr.UnknownMemberID)
}

func TestConsumerSessionTimeout(t *testing.T) {
	h := newHarness(t, consumerTestConfig())
	cat := testCatalog{"t": 2}
	a := h.member(cat, "g", "a", "t")
	a.mustBeat()
	b := h.member(cat, "g", "b", "t")
	b.mustBeat()
	for i := 0; i < 4; i++ { // a keeps heartbeating, b goes silent
		h.clk.Advance(time.Second)
		a.mustBeat()
	}
	if d := h.describeCG(t, "g"); len(d.Members) != 1 || d.Members[0].MemberID != "a" {
		t.Fatalf("after b's session timeout: members %v, want only a", d.Members)
	}
	if a.count() != 2 {
		t.Fatalf("a owns %d partitions, want both", a.count())
	}
	wantHB(t, b.beat(), kerr.UnknownMemberID)
}

func TestConsumerRevocationTimeoutFences(t *testing.T) {
	h := newHarness(t, consumerTestConfig())
	cat := testCatalog{"t": 2}
	a := h.member(cat, "g", "a", "t")
	a.mustBeat()
	b := h.member(cat, "g", "b", "t")
	b.mustBeat()
	// a is asked to revoke and keeps heartbeating without doing it.
	a.mustBeat()
	stubborn := map[[16]byte][]int32{topicID("t"): {0, 1}}
	for i := 0; i < 6; i++ {
		h.clk.Advance(time.Second)
		a.owned = stubborn
		if r := a.beat(); r.ErrorCode != 0 {
			wantHB(t, r, kerr.UnknownMemberID)
			b.mustBeat()
			if b.count() != 2 {
				t.Fatalf("b owns %d after a was fenced, want 2", b.count())
			}
			return
		}
		b.mustBeat()
		noOverlap(t, &cmem{id: "a", owned: stubborn}, b)
	}
	t.Fatal("a member that never revoked was not fenced after its rebalance timeout")
}

func TestConsumerStaticMembership(t *testing.T) {
	h := newHarness(t, consumerTestConfig())
	cat := testCatalog{"t": 4}
	inst := "i1"
	a := h.member(cat, "g", "a", "t")
	a.instance = &inst
	a.mustBeat()
	b := h.member(cat, "g", "b", "t")
	b.mustBeat()
	a.mustBeat()
	a.mustBeat()
	b.mustBeat()
	epoch := h.describeCG(t, "g").Epoch
	had := a.owned
	// A second member with the same instance id while a is live.
	dup := h.member(cat, "g", "a2", "t")
	dup.instance = &inst
	wantHB(t, dup.beat(), kerr.UnreleasedInstanceID)
	// a leaves for now: its partitions stay, no new epoch.
	a.epoch = leaveStaticEpoch
	if r := a.beat(); r.ErrorCode != 0 || r.MemberEpoch != leaveStaticEpoch {
		t.Fatalf("static leave: %v epoch %d", kerr.ErrorForCode(r.ErrorCode), r.MemberEpoch)
	}
	if d := h.describeCG(t, "g"); d.Epoch != epoch {
		t.Fatalf("group epoch %d after a static leave, want %d (no rebalance)", d.Epoch, epoch)
	}
	// It comes back under a new member id and gets the same partitions.
	dup = h.member(cat, "g", "a2", "t")
	dup.instance = &inst
	dup.mustBeat()
	if !assignment(dup.owned).equal(assignment(had)) {
		t.Fatalf("static member rejoined with %v, want its old %v", dup.owned, had)
	}
	if d := h.describeCG(t, "g"); d.Epoch != epoch {
		t.Fatalf("group epoch %d after the static rejoin, want %d", d.Epoch, epoch)
	}
	// The old member id is fenced.
	a.epoch = dup.epoch
	wantHB(t, a.beat(), kerr.UnknownMemberID)
}

func TestConsumerRegexSubscription(t *testing.T) {
	h := newHarness(t, consumerTestConfig())
	cat := testCatalog{"foo1": 1, "foo2": 2, "bar": 3, "xfoo": 1}
	re := "foo.*"
	a := h.member(cat, "g", "a")
	a.regex = &re
	a.mustBeat()
	if a.count() != 3 || len(a.owned[topicID("bar")]) != 0 || len(a.owned[topicID("xfoo")]) != 0 {
		t.Fatalf("regex %q assigned %v; want foo1 and foo2 only (whole names)", re, a.owned)
	}
	// A new matching topic is picked up once the resolution is refreshed.
	cat["foo3"] = 2
	h.clk.Advance(2 * regexRefresh)
	a.mustBeat()
	if a.count() != 5 {
		t.Fatalf("after foo3 was created: %d partitions, want 5", a.count())
	}
	bad := "foo("
	b := h.member(cat, "g", "b")
	b.regex = &bad
	wantHB(t, b.beat(), kerr.InvalidRegularExpression)
	if d := h.describeCG(t, "g"); len(d.Members) != 1 {
		t.Fatalf("a member with an invalid regex stayed in the group: %d members", len(d.Members))
	}
}

func TestConsumerRangeAssignor(t *testing.T) {
	h := newHarness(t, consumerTestConfig())
	cat := testCatalog{"t": 5}
	rng := AssignorRange
	var ms []*cmem
	for _, id := range []string{"a", "b"} {
		m := h.member(cat, "g", id, "t")
		m.assignor = &rng
		ms = append(ms, m)
		m.mustBeat()
	}
	for i := 0; i < 4; i++ {
		for _, m := range ms {
			m.mustBeat()
		}
	}
	got := func(m *cmem) []int32 {
		ps := append([]int32(nil), m.owned[topicID("t")]...)
		sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
		return ps
	}
	if a, b := got(ms[0]), got(ms[1]); len(a) != 3 || a[0] != 0 || a[2] != 2 || len(b) != 2 || b[0] != 3 {
		t.Fatalf("range: a %v b %v, want [0 1 2] [3 4]", a, b)
	}
	if d := h.describeCG(t, "g"); d.AssignorName != AssignorRange {
		t.Fatalf("assignor %q, want range", d.AssignorName)
	}
	bad := "sticky"
	c := h.member(cat, "g", "c", "t")
	c.assignor = &bad
	wantHB(t, c.beat(), kerr.UnsupportedAssignor)
}

func TestConsumerUniformBalanced(t *testing.T) {
	subs := map[string]map[[16]byte]bool{}
	topics := map[[16]byte]topicMeta{topicID("x"): {"x", 7}, topicID("y"): {"y", 3}}
	for _, id := range []string{"a", "b", "c"} {
		subs[id] = map[[16]byte]bool{topicID("x"): true, topicID("y"): true}
	}
	// A previous target that is badly unbalanced: all on a.
	prev := map[string]assignment{"a": {topicID("x"): {0, 1, 2, 3, 4, 5, 6}, topicID("y"): {0, 1, 2}}}
	out := assignUniform(subs, topics, prev)
	total := 0
	for id, a := range out {
		if n := a.count(); n < 3 || n > 4 {
			t.Fatalf("member %s has %d partitions, want 3 or 4: %v", id, n, out)
		}
		total += a.count()
	}
	if total != 10 {
		t.Fatalf("%d partitions assigned, want 10", total)
	}
}

func TestConsumerGroupSurvivesRestart(t *testing.T) {
	h := newHarness(t, consumerTestConfig())
	cat := testCatalog{"t": 2}
	a := h.member(cat, "g", "a", "t")
	a.mustBeat()
	b := h.member(cat, "g", "b", "t")
	b.mustBeat()
	a.mustBeat()
	a.mustBeat()
	b.mustBeat()
	before := h.describeCG(t, "g")
	h.c.Close()
	h.open(consumerTestConfig())
	after := h.describeCG(t, "g")
	if after.Epoch != before.Epoch || after.State != before.State || len(after.Members) != 2 {
		t.Fatalf("after restart: %s epoch %d, %d members; before: %s epoch %d", after.State, after.Epoch, len(after.Members), before.State, before.Epoch)
	}
	// Members carry on with their epochs, nothing moves.
	for _, m := range []*cmem{a, b} {
		owned := m.owned
		epoch := m.epoch
		m.mustBeat()
		if m.epoch != epoch || !assignment(m.owned).equal(assignment(owned)) {
			t.Fatalf("member %s after restart: epoch %d→%d, %v→%v", m.id, epoch, m.epoch, owned, m.owned)
		}
	}
}

func offsetCommitReq(version int16, group, member string, epoch int32) *kmsg.OffsetCommitRequest {
	r := kmsg.NewPtrOffsetCommitRequest()
	r.Version = version
	r.Group = group
	r.MemberID = member
	r.Generation = epoch
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = "t"
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Partition, rp.Offset = 0, 5
	rt.Partitions = append(rt.Partitions, rp)
	r.Topics = append(r.Topics, rt)
	return r
}

func TestConsumerOffsetCommitMemberEpoch(t *testing.T) {
	h := newHarness(t, consumerTestConfig())
	cat := testCatalog{"t": 2}
	a := h.member(cat, "g", "a", "t")
	a.mustBeat()
	code := func(version int16, member string, epoch int32) int16 {
		return h.c.OffsetCommit(offsetCommitReq(version, "g", member, epoch), nil).Topics[0].Partitions[0].ErrorCode
	}
	if c := code(9, "a", a.epoch); c != 0 {
		t.Fatalf("commit at the member's epoch: %v", kerr.ErrorForCode(c))
	}
	if c := code(9, "a", a.epoch+1); c != kerr.StaleMemberEpoch.Code {
		t.Fatalf("commit at another epoch: %v, want STALE_MEMBER_EPOCH", kerr.ErrorForCode(c))
	}
	if c := code(9, "zz", a.epoch); c != kerr.UnknownMemberID.Code {
		t.Fatalf("commit by an unknown member: %v, want UNKNOWN_MEMBER_ID", kerr.ErrorForCode(c))
	}
	if c := code(8, "a", a.epoch); c != kerr.UnsupportedVersion.Code {
		t.Fatalf("commit v8 by a consumer-protocol member: %v, want UNSUPPORTED_VERSION", kerr.ErrorForCode(c))
	}
	if c := code(9, "", -1); c != kerr.UnknownMemberID.Code {
		t.Fatalf("admin commit to a group with members: %v, want UNKNOWN_MEMBER_ID", kerr.ErrorForCode(c))
	}
	mid := "a"
	if c := h.c.ValidateOffsetFetch("g", &mid, a.epoch+1); c != kerr.StaleMemberEpoch.Code {
		t.Fatalf("fetch at another epoch: %v, want STALE_MEMBER_EPOCH", kerr.ErrorForCode(c))
	}
	if c := h.c.ValidateOffsetFetch("g", &mid, a.epoch); c != 0 {
		t.Fatalf("fetch at the member's epoch: %v", kerr.ErrorForCode(c))
	}
	if c := h.c.ValidateOffsetFetch("g", nil, -1); c != 0 {
		t.Fatalf("admin fetch: %v", kerr.ErrorForCode(c))
	}
}

func TestConsumerClassicMigration(t *testing.T) {
	cfg := consumerTestConfig()
	cfg.ConsumerMigrationPolicy = MigrationDisabled
	h := newHarness(t, cfg)
	cat := testCatalog{"t": 2}
	// An empty classic group (simple commits) becomes a consumer group.
	if c := h.c.OffsetCommit(offsetCommitReq(9, "g", "", -1), nil).Topics[0].Partitions[0].ErrorCode; c != 0 {
		t.Fatalf("simple commit: %v", kerr.ErrorForCode(c))
	}
	a := h.member(cat, "g", "a", "t")
	a.mustBeat()
	lg := h.c.ListGroups(&kmsg.ListGroupsRequest{Version: 5})
	if len(lg.Groups) != 1 || lg.Groups[0].GroupType != "consumer" || lg.Groups[0].GroupState != "Stable" || lg.Groups[0].ProtocolType != "consumer" {
		t.Fatalf("ListGroups: %+v", lg.Groups)
	}
	if lg := h.c.ListGroups(&kmsg.ListGroupsRequest{Version: 5, TypesFilter: []string{"classic"}}); len(lg.Groups) != 0 {
		t.Fatalf("types filter classic listed %+v", lg.Groups)
	}
	off := h.c.FetchOffsets("g", []kmsg.OffsetFetchRequestGroupTopic{{Topic: "t", Partitions: []int32{0}}}, nil)
	if off[0].Partitions[0].Offset != 5 {
		t.Fatalf("offset after the conversion: %d, want 5 (offsets stay)", off[0].Partitions[0].Offset)
	}
	// DescribeGroups does not describe consumer groups.
	dg := h.c.DescribeGroups(&kmsg.DescribeGroupsRequest{Version: 6, Groups: []string{"g"}})
	if dg.Groups[0].ErrorCode != kerr.GroupIDNotFound.Code || dg.Groups[0].State != "Dead" {
		t.Fatalf("DescribeGroups v6 of a consumer group: %v %s", kerr.ErrorForCode(dg.Groups[0].ErrorCode), dg.Groups[0].State)
	}
	// Under the disabled policy a classic member cannot join while
	// consumer members are in.
	jr := joinAndWait(t, h, joinReq("g", "", nil))
	if jr.ErrorCode != kerr.InconsistentGroupProtocol.Code {
		t.Fatalf("JoinGroup to a consumer group with members: %v, want INCONSISTENT_GROUP_PROTOCOL", kerr.ErrorForCode(jr.ErrorCode))
	}
	// Once empty it becomes a classic group again.
	a.epoch = leaveEpoch
	a.mustBeat()
	jr = joinAndWait(t, h, joinReq("g", "", nil))
	if jr.ErrorCode != kerr.MemberIDRequired.Code {
		t.Fatalf("JoinGroup to an empty consumer group: %v, want MEMBER_ID_REQUIRED (a classic join)", kerr.ErrorForCode(jr.ErrorCode))
	}
	jr = joinAndWait(t, h, joinReq("g", jr.MemberID, nil))
	h.clk.Advance(time.Second)
	if d := h.describeCG(t, "g"); d.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("ConsumerGroupDescribe of a classic group: %v", kerr.ErrorForCode(d.ErrorCode))
	}
	// And under the disabled policy a consumer member cannot join a
	// classic group with members.
	b := h.member(cat, "g", "b", "t")
	wantHB(t, b.beat(), kerr.GroupIDNotFound)
}

// classicConsumer is a classic member speaking the embedded consumer
// protocol (cooperative: it reports what it owns when it joins).
type classicConsumer struct {
	t     *testing.T
	h     *harness
	cat   testCatalog
	group string
	id    string
	gen   int32
	owned map[string][]int32 // by topic name
}

func (cc *classicConsumer) joinReq() *kmsg.JoinGroupRequest {
	md := kmsg.NewConsumerMemberMetadata()
	md.Version = 3
	md.Topics = []string{"t"}
	for t, ps := range cc.owned {
		md.OwnedPartitions = append(md.OwnedPartitions, kmsg.ConsumerMemberMetadataOwnedPartition{Topic: t, Partitions: ps})
	}
	r := joinReq(cc.group, cc.id, nil)
	r.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "cooperative-sticky", Metadata: md.AppendTo(nil)}}
	return r
}

// join rejoins and syncs, adopting the assignment (revoking what it lost).
func (cc *classicConsumer) joinSync() (join *kmsg.JoinGroupResponse) {
	cc.t.Helper()
	jr := joinAndWait(cc.t, cc.h, cc.joinReq())
	if jr.ErrorCode == kerr.MemberIDRequired.Code {
		cc.id = jr.MemberID
		jr = joinAndWait(cc.t, cc.h, cc.joinReq())
	}
	if jr.ErrorCode != 0 {
		cc.t.Fatalf("classic %s join: %v", cc.id, kerr.ErrorForCode(jr.ErrorCode))
	}
	cc.id, cc.gen = jr.MemberID, jr.Generation
	return jr
}

func (cc *classicConsumer) sync(assign map[string]string) {
	cc.t.Helper()
	sr := cc.h.sync(cc.group, cc.id, cc.gen, assign).get(cc.t)
	if sr.ErrorCode != 0 {
		cc.t.Fatalf("classic %s sync: %v", cc.id, kerr.ErrorForCode(sr.ErrorCode))
	}
	var a kmsg.ConsumerMemberAssignment
	if err := a.ReadFrom(sr.MemberAssignment); err != nil {
		cc.t.Fatalf("classic %s assignment: %v", cc.id, err)
	}
	cc.owned = map[string][]int32{}
	for _, t := range a.Topics {
		cc.owned[t.Topic] = t.Partitions
	}
}

func classicAssign(parts ...int32) string {
	a := kmsg.NewConsumerMemberAssignment()
	a.Version = 3
	a.Topics = []kmsg.ConsumerMemberAssignmentTopic{{Topic: "t", Partitions: parts}}
	return string(a.AppendTo(nil))
}

// TestConsumerOnlineMigration: a classic group with members is upgraded by
// a consumer-protocol member joining, its classic members are driven by
// REBALANCE_IN_PROGRESS through JoinGroup/SyncGroup until no partition is
// owned twice and the newcomer has its share, and it becomes a classic
// group again when that member leaves.
func TestConsumerOnlineMigration(t *testing.T) {
	h := newHarness(t, consumerTestConfig())
	cat := testCatalog{"t": 4}
	h.topics = cat
	c1 := &classicConsumer{t: t, h: h, cat: cat, group: "g"}
	c2 := &classicConsumer{t: t, h: h, cat: cat, group: "g"}
	// A classic generation: c1 (the leader) gets 0,1 and c2 2,3.
	c1.id = h.join(c1.joinReq()).get(t).MemberID // MEMBER_ID_REQUIRED
	jr1 := h.join(c1.joinReq())
	c2.id = h.join(c2.joinReq()).get(t).MemberID
	jr2 := h.join(c2.joinReq())
	for i := 0; i < 10 && !(jr1.done() && jr2.done()); i++ {
		h.clk.Advance(time.Second)
	}
	c1.gen, c2.gen = jr1.get(t).Generation, jr2.get(t).Generation
	leader := c1
	if jr2.get(t).LeaderID == c2.id {
		leader = c2
	}
	other := map[*classicConsumer]*classicConsumer{c1: c2, c2: c1}[leader]
	ps2 := other.h.sync("g", other.id, other.gen, nil)
	leader.sync(map[string]string{leader.id: classicAssign(0, 1), other.id: classicAssign(2, 3)})
	if r := ps2.get(t); r.ErrorCode != 0 {
		t.Fatalf("classic sync: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	other.owned = map[string][]int32{"t": {2, 3}}
	gen := c1.gen

	// A consumer-protocol member joins: the group is upgraded.
	n := h.member(cat, "g", "n", "t")
	n.mustBeat()
	if n.epoch != gen+1 || n.count() != 0 {
		t.Fatalf("new member after the upgrade: epoch %d with %d partitions, want %d with none (all still owned by classic members)", n.epoch, n.count(), gen+1)
	}
	if lg := h.c.ListGroups(&kmsg.ListGroupsRequest{Version: 5, TypesFilter: []string{"consumer"}}); len(lg.Groups) != 1 {
		t.Fatalf("after the upgrade ListGroups of type consumer: %+v", lg.Groups)
	}
	d := h.describeCG(t, "g")
	if len(d.Members) != 3 || d.Epoch != gen+1 {
		t.Fatalf("described after the upgrade: %d members at epoch %d, want 3 at %d", len(d.Members), d.Epoch, gen+1)
	}
	// A classic member commits with its generation (its member epoch).
	if c := h.c.OffsetCommit(offsetCommitReq(8, "g", c1.id, c1.gen), nil).Topics[0].Partitions[0].ErrorCode; c != 0 {
		t.Fatalf("classic member's commit at its generation: %v", kerr.ErrorForCode(c))
	}
	if c := h.c.OffsetCommit(offsetCommitReq(8, "g", c1.id, c1.gen+5), nil).Topics[0].Partitions[0].ErrorCode; c != kerr.IllegalGeneration.Code {
		t.Fatalf("classic member's commit at another generation: %v, want ILLEGAL_GENERATION", kerr.ErrorForCode(c))
	}

	// Classic members are told to rejoin, and are driven to the target.
	classic := []*classicConsumer{c1, c2}
	for round := 0; round < 6; round++ {
		for _, cc := range classic {
			switch code := h.heartbeat("g", cc.id, cc.gen, nil); code {
			case 0:
			case kerr.RebalanceInProgress.Code:
				cc.joinSync()
				cc.sync(nil)
			default:
				t.Fatalf("classic %s heartbeat: %v", cc.id, kerr.ErrorForCode(code))
			}
		}
		n.mustBeat()
		assertNoOverlapMixed(t, n, c1, c2)
	}
	if n.count() == 0 || len(c1.owned["t"])+len(c2.owned["t"])+n.count() != 4 {
		t.Fatalf("after the rebalance: new member %d partitions, classic %v and %v; want all 4 spread, the new member with some", n.count(), c1.owned, c2.owned)
	}
	if d := h.describeCG(t, "g"); d.State != "Stable" {
		t.Fatalf("group state %s after the rebalance, want Stable", d.State)
	}
	// The classic members are stored as such: after a restart they
	// heartbeat and sync as before.
	h.c.Close()
	h.open(consumerTestConfig())
	for _, cc := range classic {
		if code := h.heartbeat("g", cc.id, cc.gen, nil); code != 0 {
			t.Fatalf("classic %s heartbeat after a restart: %v", cc.id, kerr.ErrorForCode(code))
		}
	}

	// The consumer-protocol member leaves: the group is a classic group
	// again, rebalancing; the classic members rejoin it as classic members.
	n.epoch = leaveEpoch
	n.mustBeat()
	if lg := h.c.ListGroups(&kmsg.ListGroupsRequest{Version: 5, TypesFilter: []string{"classic"}}); len(lg.Groups) != 1 || lg.Groups[0].GroupState != "PreparingRebalance" {
		t.Fatalf("after the downgrade ListGroups of type classic: %+v", lg.Groups)
	}
	if code := h.heartbeat("g", c1.id, c1.gen, nil); code != kerr.RebalanceInProgress.Code && code != kerr.IllegalGeneration.Code {
		t.Fatalf("classic heartbeat after the downgrade: %v, want REBALANCE_IN_PROGRESS or ILLEGAL_GENERATION", kerr.ErrorForCode(code))
	}
	p1, p2 := h.join(c1.joinReq()), h.join(c2.joinReq())
	for i := 0; i < 30 && !(p1.done() && p2.done()); i++ {
		h.clk.Advance(time.Second)
	}
	j1, j2 := p1.get(t), p2.get(t)
	if j1.ErrorCode != 0 || j2.ErrorCode != 0 || j1.Generation != j2.Generation || j1.Generation <= gen {
		t.Fatalf("rejoin after the downgrade: %v gen %d, %v gen %d", kerr.ErrorForCode(j1.ErrorCode), j1.Generation, kerr.ErrorForCode(j2.ErrorCode), j2.Generation)
	}
	if dg := h.describe("g"); dg.State != "CompletingRebalance" || len(dg.Members) != 2 {
		t.Fatalf("classic group after the rejoin: %s with %d members", dg.State, len(dg.Members))
	}
}

// TestConsumerMigrationPolicy: upgrade alone does not downgrade, downgrade
// alone does not upgrade.
func TestConsumerMigrationPolicy(t *testing.T) {
	for _, policy := range []string{MigrationUpgrade, MigrationDowngrade} {
		t.Run(policy, func(t *testing.T) {
			cfg := consumerTestConfig()
			cfg.ConsumerMigrationPolicy = policy
			h := newHarness(t, cfg)
			cat := testCatalog{"t": 2}
			h.topics = cat
			cc := &classicConsumer{t: t, h: h, cat: cat, group: "g"}
			cc.id = h.join(cc.joinReq()).get(t).MemberID
			p := h.join(cc.joinReq())
			for i := 0; i < 10 && !p.done(); i++ {
				h.clk.Advance(time.Second)
			}
			cc.gen = p.get(t).Generation
			cc.sync(map[string]string{cc.id: classicAssign(0, 1)})
			n := h.member(cat, "g", "n", "t")
			if policy == MigrationDowngrade {
				wantHB(t, n.beat(), kerr.GroupIDNotFound)
				return
			}
			n.mustBeat()
			n.epoch = leaveEpoch
			n.mustBeat()
			if lg := h.c.ListGroups(&kmsg.ListGroupsRequest{Version: 5, TypesFilter: []string{"consumer"}}); len(lg.Groups) != 1 {
				t.Fatalf("policy upgrade: the group after its consumer member left: %+v, want still a consumer group", lg.Groups)
			}
		})
	}
}

// assertNoOverlapMixed fails when a partition of t is owned twice among a
// consumer-protocol member and classic members.
func assertNoOverlapMixed(t *testing.T, n *cmem, cs ...*classicConsumer) {
	t.Helper()
	seen := map[int32]string{}
	for _, ps := range n.owned {
		for _, p := range ps {
			seen[p] = n.id
		}
	}
	for _, cc := range cs {
		for _, p := range cc.owned["t"] {
			if o, ok := seen[p]; ok {
				t.Fatalf("partition %d owned by %s and %s at once", p, o, cc.id)
			}
			seen[p] = cc.id
		}
	}
}

// joinAndWait sends a JoinGroup and returns its first answer, advancing the
// clock past the initial delay when needed.
func joinAndWait(t *testing.T, h *harness, req *kmsg.JoinGroupRequest) *kmsg.JoinGroupResponse {
	t.Helper()
	var got []*kmsg.JoinGroupResponse
	h.c.join(req, h.joinInfo("classic"), func(r *kmsg.JoinGroupResponse) { got = append(got, r) })
	for i := 0; len(got) == 0 && i < 10; i++ {
		h.clk.Advance(time.Second)
	}
	if len(got) == 0 {
		t.Fatal("JoinGroup never answered")
	}
	return got[0]
}

func TestConsumerGroupConfigTimeouts(t *testing.T) {
	cfg := consumerTestConfig()
	cfg.ConsumerGroupConfig = func(group string) (time.Duration, time.Duration) {
		if group == "short" {
			return time.Second, 200 * time.Millisecond
		}
		return 0, 0
	}
	h := newHarness(t, cfg)
	cat := testCatalog{"t": 1}
	a := h.member(cat, "short", "a", "t")
	if r := a.mustBeat(); r.HeartbeatIntervalMillis != 200 {
		t.Fatalf("heartbeat interval %d ms, want the group's 200", r.HeartbeatIntervalMillis)
	}
	b := h.member(cat, "long", "b", "t")
	if r := b.mustBeat(); r.HeartbeatIntervalMillis != 500 {
		t.Fatalf("heartbeat interval %d ms, want the broker's 500", r.HeartbeatIntervalMillis)
	}
	h.clk.Advance(1500 * time.Millisecond)
	if d := h.describeCG(t, "short"); len(d.Members) != 0 {
		t.Fatalf("member of a group with consumer.session.timeout.ms=1000 still there after 1.5s")
	}
	if d := h.describeCG(t, "long"); len(d.Members) != 1 {
		t.Fatalf("member of a group with the broker's 3s session removed after 1.5s")
	}
}

func TestConsumerGroupDelete(t *testing.T) {
	h := newHarness(t, consumerTestConfig())
	cat := testCatalog{"t": 1}
	a := h.member(cat, "g", "a", "t")
	a.mustBeat()
	del := func() int16 {
		return h.c.DeleteGroups(&kmsg.DeleteGroupsRequest{Groups: []string{"g"}}).Groups[0].ErrorCode
	}
	if c := del(); c != kerr.NonEmptyGroup.Code {
		t.Fatalf("deleting a consumer group with a member: %v, want NON_EMPTY_GROUP", kerr.ErrorForCode(c))
	}
	a.epoch = leaveEpoch
	a.mustBeat()
	if c := del(); c != 0 {
		t.Fatalf("deleting an empty consumer group: %v", kerr.ErrorForCode(c))
	}
	h.c.Close()
	h.open(consumerTestConfig())
	if d := h.describeCG(t, "g"); d.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("a deleted consumer group came back after a restart: %+v", d)
	}
}

func TestConsumerGroupMaxSize(t *testing.T) {
	cfg := consumerTestConfig()
	cfg.ConsumerMaxSize = 2
	h := newHarness(t, cfg)
	cat := testCatalog{"t": 1}
	for _, id := range []string{"a", "b"} {
		h.member(cat, "g", id, "t").mustBeat()
	}
	wantHB(t, h.member(cat, "g", "c", "t").beat(), kerr.GroupMaxSizeReached)
	if d := h.describeCG(t, "g"); len(d.Members) != 2 {
		t.Fatalf("%d members, want 2 (group.consumer.max.size)", len(d.Members))
	}
}

// TestConsumerCommitOlderEpoch: as Kafka 4.3+ (KIP-1251), a commit with a
// member epoch older than the member's is accepted for the partitions the
// member has owned since that epoch, and STALE_MEMBER_EPOCH for the others
// (a partition given later, or no longer owned).
func TestConsumerCommitOlderEpoch(t *testing.T) {
	h := newHarness(t, consumerTestConfig())
	cat := testCatalog{"t": 2, "u": 1}
	a := h.member(cat, "g", "a", "t")
	a.mustBeat()
	old := a.epoch // owns t-0 and t-1 since this epoch
	b := h.member(cat, "g", "b", "t")
	b.mustBeat()
	a.mustBeat() // revokes one
	a.mustBeat() // new epoch
	kept := a.owned[topicID("t")][0]
	gone := 1 - kept
	if a.epoch == old {
		t.Fatalf("member epoch did not move")
	}
	commit := func(epoch int32, topic string, part int32) int16 {
		r := offsetCommitReq(9, "g", "a", epoch)
		r.Topics[0].Topic = topic
		r.Topics[0].Partitions[0].Partition = part
		return h.c.OffsetCommit(r, cat.cat().Lookup).Topics[0].Partitions[0].ErrorCode
	}
	if c := commit(old, "t", kept); c != 0 {
		t.Fatalf("commit at the older epoch of a partition owned since: %v", kerr.ErrorForCode(c))
	}
	if c := commit(old, "t", gone); c != kerr.StaleMemberEpoch.Code {
		t.Fatalf("commit at the older epoch of a partition given away: %v, want STALE_MEMBER_EPOCH", kerr.ErrorForCode(c))
	}
	if c := commit(a.epoch+1, "t", kept); c != kerr.StaleMemberEpoch.Code {
		t.Fatalf("commit at a future epoch: %v, want STALE_MEMBER_EPOCH", kerr.ErrorForCode(c))
	}
	// A partition given at the newer epoch cannot be committed at the older.
	a.topics = []string{"t", "u"}
	a.epoch = 0
	a.owned = nil
	a.mustBeat()
	for i := 0; i < 4; i++ {
		a.mustBeat()
		b.mustBeat()
	}
	if len(a.owned[topicID("u")]) == 0 && len(b.owned[topicID("u")]) == 0 {
		t.Fatal("nobody owns u")
	}
	if len(a.owned[topicID("u")]) == 1 {
		if c := commit(old, "u", 0); c != kerr.StaleMemberEpoch.Code {
			t.Fatalf("commit at an epoch before the partition was given: %v, want STALE_MEMBER_EPOCH", kerr.ErrorForCode(c))
		}
	}
}
