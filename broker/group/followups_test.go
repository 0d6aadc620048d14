package group

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// consumerJoin is joinReq with real consumer-protocol metadata subscribing
// to topics, as a Kafka consumer sends it.
func consumerJoin(group, memberID, protocolType string, topics ...string) *kmsg.JoinGroupRequest {
	r := joinReq(group, memberID, nil)
	r.ProtocolType = protocolType
	md := kmsg.NewConsumerMemberMetadata()
	md.Version = 3
	md.Topics = topics
	md.OwnedPartitions = []kmsg.ConsumerMemberMetadataOwnedPartition{{Topic: "a", Partitions: []int32{0}}}
	raw := md.AppendTo(nil)
	// A future version (9) with a field gregor does not know: the v0 prefix
	// still tells the topics, as Kafka reads it.
	raw[0], raw[1] = 0, 9
	raw = append(raw, 0xde, 0xad)
	r.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: raw}}
	return r
}

// stableConsumer makes a one-member Stable group whose member subscribes to
// topics and returns its member id and generation.
func (h *harness) stableConsumer(group, protocolType string, topics ...string) (string, int32) {
	h.t.Helper()
	first := h.join(consumerJoin(group, "", protocolType, topics...)).get(h.t)
	wantCode(h.t, first.ErrorCode, kerr.MemberIDRequired)
	p := h.join(consumerJoin(group, first.MemberID, protocolType, topics...))
	for i := 0; i < 10 && !p.done(); i++ {
		h.clk.Advance(100 * time.Millisecond)
	}
	r := p.get(h.t)
	wantCode(h.t, r.ErrorCode, nil)
	wantCode(h.t, h.sync(group, first.MemberID, r.Generation, map[string]string{first.MemberID: "a"}).get(h.t).ErrorCode, nil)
	return first.MemberID, r.Generation
}

// allOffsets lists a group's offsets as "topic/partition=offset", sorted.
func (h *harness) allOffsets(group string, live Topics) string {
	var out []string
	for _, t := range h.c.FetchOffsets(group, nil, live) {
		for _, p := range t.Partitions {
			out = append(out, fmt.Sprintf("%s/%d=%d", t.Topic, p.Partition, p.Offset))
		}
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// KIP-496: a Stable consumer group loses, after retention counted from the
// commit, the offsets of topics no member subscribes to, and keeps those of
// subscribed topics however old. Other protocol types keep everything.
func TestOffsetsOfUnsubscribedTopicsExpire(t *testing.T) {
	cfg := testConfig()
	cfg.OffsetsRetention = time.Hour
	cfg.OffsetsRetentionCheckInterval = time.Minute
	h := newHarness(t, cfg)
	member, gen := h.stableConsumer("g", "consumer", "a")
	other, ogen := h.stableConsumer("c", "connect", "a")
	wantCode(t, h.commit("g", member, gen, "a", 0, 10, ""), nil)
	wantCode(t, h.commit("g", member, gen, "b", 0, 20, ""), nil)
	wantCode(t, h.commit("c", other, ogen, "b", 0, 30, ""), nil)
	beat := func(minutes int) {
		for i := 0; i < minutes*12; i++ {
			wantCode(t, h.heartbeat("g", member, gen, nil), nil)
			wantCode(t, h.heartbeat("c", other, ogen, nil), nil)
			h.clk.Advance(5 * time.Second)
		}
	}
	beat(30)
	wantCode(t, h.commit("g", member, gen, "b", 1, 21, ""), nil)
	beat(29)
	if got := h.allOffsets("g", nil); got != "a/0=10 b/0=20 b/1=21" {
		t.Fatalf("before retention: %s", got)
	}
	beat(2) // b/0 is 61 minutes old, b/1 31
	if got := h.allOffsets("g", nil); got != "a/0=10 b/1=21" {
		t.Fatalf("after b/0's retention: %s", got)
	}
	beat(30)
	if got := h.allOffsets("g", nil); got != "a/0=10" {
		t.Fatalf("after b/1's retention: %s", got)
	}
	if d := h.describe("g"); d.State != "Stable" || len(d.Members) != 1 {
		t.Fatalf("group %s with %d members", d.State, len(d.Members))
	}
	if got := h.allOffsets("c", nil); got != "b/0=30" {
		t.Fatalf("a connect group's offsets expired: %s", got)
	}
	// Durably: a restart does not bring b back.
	h.c.Close()
	h.open(cfg)
	if got := h.allOffsets("g", nil); got != "a/0=10" {
		t.Fatalf("after restart: %s", got)
	}
}

// Deleting a topic removes its offsets from every group at once and
// durably; a topic created again under the same name does not inherit them.
// A removal cut short by a failed write is finished by the sweep, and a
// group left Empty without offsets goes at the sweep, as in Kafka 4.
func TestDeletedTopicOffsetsRemoved(t *testing.T) {
	cfg := testConfig()
	cfg.OffsetsRetentionCheckInterval = time.Minute
	h := newHarness(t, cfg)
	ids := map[string][16]byte{"t": {1}, "u": {2}}
	live := Topics(func(topic string) ([16]byte, int32, bool) {
		id, ok := ids[topic]
		return id, 4, ok
	})
	commit := func(group, topic string, parts ...int32) {
		t.Helper()
		r := kmsg.NewPtrOffsetCommitRequest()
		r.Version = 8
		r.Group, r.Generation = group, -1
		rt := kmsg.OffsetCommitRequestTopic{Topic: topic}
		for _, p := range parts {
			rt.Partitions = append(rt.Partitions, kmsg.OffsetCommitRequestTopicPartition{Partition: p, Offset: int64(100 + p)})
		}
		r.Topics = []kmsg.OffsetCommitRequestTopic{rt}
		for _, p := range h.c.OffsetCommit(r, live).Topics[0].Partitions {
			wantCode(t, p.ErrorCode, nil)
		}
	}
	commit("s1", "t", 0, 1)
	commit("s1", "u", 0)
	commit("s2", "t", 3)
	if n := h.c.TopicsChanged(live); n != 0 {
		t.Fatalf("%d offsets removed while every topic exists", n)
	}
	delete(ids, "t")
	if n := h.c.TopicsChanged(live); n != 3 {
		t.Fatalf("%d offsets removed, want 3", n)
	}
	if got := h.allOffsets("s1", nil); got != "u/0=100" {
		t.Fatalf("s1 after deleting t: %s", got)
	}
	if got := h.allOffsets("s2", nil); got != "" {
		t.Fatalf("s2 after deleting t: %s", got)
	}
	for ns, kvs := range h.kv.data {
		for k := range kvs {
			var key kmsg.OffsetCommitKey
			if strings.HasPrefix(ns, "__consumer_offsets-") && key.ReadFrom([]byte(k)) == nil && key.Topic == "t" && len(k) > 2 && k[1] <= 1 {
				t.Fatalf("offset %s/%s/%d still stored", key.Group, key.Topic, key.Partition)
			}
		}
	}
	// u is deleted and created again while the store refuses writes:
	// nothing is removed, and the sweep finishes the job.
	ids["u"] = [16]byte{9}
	h.kv.fail = errors.New("disk gone")
	if n := h.c.TopicsChanged(live); n != 0 {
		t.Fatalf("%d offsets removed with a failing store", n)
	}
	h.kv.fail = nil
	if d := h.describe("s2"); d.State != "Empty" {
		t.Fatalf("s2 is %s before the sweep", d.State)
	}
	h.clk.Advance(time.Minute)
	if got := h.allOffsets("s1", nil); got != "" {
		t.Fatalf("s1 after the sweep: %s", got)
	}
	for _, g := range []string{"s1", "s2"} {
		if d := h.describe(g); d.State != "Dead" {
			t.Fatalf("group %s without offsets is %s after the sweep, want Dead", g, d.State)
		}
	}
	// A restart with the old ids back brings nothing back.
	h.c.Close()
	h.open(cfg)
	ids["t"], ids["u"] = [16]byte{1}, [16]byte{2}
	if got := h.allOffsets("s1", live) + h.allOffsets("s2", live); got != "" {
		t.Fatalf("after restart: %q", got)
	}
}

func TestGroupMaxSize(t *testing.T) {
	cfg := testConfig()
	cfg.MaxSize = 2
	h := newHarness(t, cfg)
	ids, gen := h.stableGroup("g", 2)
	// A third member is refused before it gets a member id.
	r := h.join(joinReq("g", "", nil)).get(t)
	wantCode(t, r.ErrorCode, kerr.GroupMaxSizeReached)
	if r.MemberID != "" || r.Generation != -1 {
		t.Fatalf("refused join: member %q generation %d", r.MemberID, r.Generation)
	}
	// The members are unaffected and may rejoin.
	wantCode(t, h.heartbeat("g", ids[0], gen, nil), nil)
	wantCode(t, h.heartbeat("g", ids[1], gen, nil), nil)
	if d := h.describe("g"); d.State != "Stable" || len(d.Members) != 2 {
		t.Fatalf("group %s with %d members", d.State, len(d.Members))
	}

	// Lowering the cap: the group comes back over capacity and rebalances;
	// the last member to rejoin is refused and removed.
	cfg.MaxSize = 3
	h3 := newHarness(t, cfg)
	ids, gen = h3.stableGroup("g", 3)
	h3.c.Close()
	cfg.MaxSize = 2
	h3.open(cfg)
	wantCode(t, h3.heartbeat("g", ids[0], gen, nil), kerr.RebalanceInProgress)
	j0 := h3.join(joinReq("g", ids[0], nil))
	j1 := h3.join(joinReq("g", ids[1], nil))
	late := h3.join(joinReq("g", ids[2], nil)).get(t)
	wantCode(t, late.ErrorCode, kerr.GroupMaxSizeReached)
	if late.MemberID != "" {
		t.Fatalf("refused member told id %q", late.MemberID)
	}
	a, b := j0.get(t), j1.get(t)
	wantCode(t, a.ErrorCode, nil)
	wantCode(t, b.ErrorCode, nil)
	if a.Generation != gen+1 || b.Generation != gen+1 || len(a.Members) != 2 {
		t.Fatalf("generation %d/%d (want %d), leader sees %d members", a.Generation, b.Generation, gen+1, len(a.Members))
	}
	wantCode(t, h3.heartbeat("g", ids[2], gen, nil), kerr.UnknownMemberID)

	bad := testConfig()
	bad.MaxSize = -1
	if err := bad.Validate(); err == nil {
		t.Fatal("group.max.size -1 accepted")
	}
}

// gather returns every gregor_group series as "name{label=value} value".
func gather(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			name := mf.GetName()
			for _, l := range m.GetLabel() {
				name += "{" + l.GetName() + "=" + l.GetValue() + "}"
			}
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				out[name] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[name] = m.GetGauge().GetValue()
			}
		}
	}
	return out
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	cfg := testConfig()
	cfg.Registerer = reg
	h := newHarness(t, cfg)
	ids, gen := h.stableGroup("g", 2)
	wantCode(t, h.commit("g", ids[0], gen, "t", 0, 5, ""), nil)
	wantCode(t, h.commit("g", ids[1], gen, "t", 1, 6, ""), nil)
	wantCode(t, h.commit("s", "", -1, "t", 0, 7, ""), nil)
	wantCode(t, h.commit("g", ids[1], gen+1, "t", 1, 6, ""), kerr.IllegalGeneration) // not counted
	want := map[string]float64{
		"gregor_group_groups{state=Empty}":               1,
		"gregor_group_groups{state=PreparingRebalance}":  0,
		"gregor_group_groups{state=CompletingRebalance}": 0,
		"gregor_group_groups{state=Stable}":              1,
		"gregor_group_members":                           2,
		"gregor_group_offsets":                           3,
		"gregor_group_rebalances_total":                  1,
		"gregor_group_offset_commits_total":              3,
		"gregor_group_offsets_expired_total":             0,
		"gregor_group_offsets_removed_total":             0,
	}
	if got := gather(t, reg); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("metrics\n got %v\nwant %v", got, want)
	}
	// A member leaves: one more rebalance once the other rejoins.
	lr := kmsg.NewPtrLeaveGroupRequest()
	lr.Group, lr.MemberID = "g", ids[1]
	wantCode(t, h.c.LeaveGroup(lr).ErrorCode, nil)
	got := gather(t, reg)
	if got["gregor_group_groups{state=PreparingRebalance}"] != 1 || got["gregor_group_members"] != 1 {
		t.Fatalf("after leave: %v", got)
	}
	r := h.join(joinReq("g", ids[0], nil)).get(t)
	wantCode(t, r.ErrorCode, nil)
	got = gather(t, reg)
	if got["gregor_group_groups{state=CompletingRebalance}"] != 1 || got["gregor_group_rebalances_total"] != 2 {
		t.Fatalf("after rejoin: %v", got)
	}
	// Close unregisters, so a new coordinator can register again.
	h.c.Close()
	if got := gather(t, reg); len(got) != 0 {
		t.Fatalf("series left after Close: %v", got)
	}
	h.open(cfg)
	if got := gather(t, reg); got["gregor_group_offsets"] != 3 || got["gregor_group_rebalances_total"] != 0 {
		t.Fatalf("after reopen: %v", got)
	}
}

// The per-topic offset counts that let TopicsChanged skip its scan follow
// overwrites, offset deletion and group deletion.
func TestTopicRefsFollowChanges(t *testing.T) {
	h := newHarness(t, testConfig())
	ids := map[string][16]byte{"t": {1}}
	live := Topics(func(topic string) ([16]byte, int32, bool) {
		id, ok := ids[topic]
		return id, 4, ok
	})
	commit := func(group string, part int32) {
		t.Helper()
		r := kmsg.NewPtrOffsetCommitRequest()
		r.Version = 8
		r.Group, r.Generation = group, -1
		r.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: part, Offset: 1}}}}
		wantCode(t, h.c.OffsetCommit(r, live).Topics[0].Partitions[0].ErrorCode, nil)
	}
	refs := func() string {
		h.c.refMu.Lock()
		defer h.c.refMu.Unlock()
		return fmt.Sprint(h.c.refs)
	}
	commit("a", 0)
	commit("a", 1)
	commit("b", 0)
	ids["t"] = [16]byte{2} // re-created; "a" commits again under the new id
	commit("a", 0)
	commit("a", 1)
	if got := refs(); got != "map[t:map[[1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0]:1 [2 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0]:2]]" {
		t.Fatalf("refs %s", got)
	}
	if n := h.c.TopicsChanged(live); n != 1 {
		t.Fatalf("%d removed, want b's one", n)
	}
	d := kmsg.NewPtrDeleteGroupsRequest()
	d.Groups = []string{"a", "b"}
	for _, g := range h.c.DeleteGroups(d).Groups {
		wantCode(t, g.ErrorCode, nil)
	}
	if got := refs(); got != "map[]" {
		t.Fatalf("refs after deleting the groups: %s", got)
	}
}
