package compat

import (
	"context"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/internal/kafkadiff"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// rawMember drives the classic group protocol by hand, one client per
// member (a parked JoinGroup blocks its connection).
type rawMember struct {
	t        *testing.T
	cl       *kgo.Client
	group    string
	id       string
	instance *string
	gen      int32
	session  int32 // session timeout (ms); 10s when 0
}

func newRawMember(t *testing.T, tg *target, group string, instance string) *rawMember {
	m := &rawMember{t: t, cl: newClient(t, tg), group: group, gen: -1}
	if instance != "" {
		m.instance = kmsg.StringPtr(instance)
	}
	return m
}

// join sends one JoinGroup and returns the response.
func (m *rawMember) join(ctx context.Context) (*kmsg.JoinGroupResponse, error) {
	req := kmsg.NewPtrJoinGroupRequest()
	req.Group, req.MemberID, req.InstanceID = m.group, m.id, m.instance
	req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = 10000, 3000
	if m.session > 0 {
		req.SessionTimeoutMillis = m.session
	}
	req.ProtocolType = "consumer"
	p := kmsg.NewJoinGroupRequestProtocol()
	p.Name, p.Metadata = "range", []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	req.Protocols = append(req.Protocols, p)
	resp, err := req.RequestWith(ctx, m.cl)
	if err == nil && resp.MemberID != "" {
		m.id = resp.MemberID
	}
	if err == nil && resp.ErrorCode == 0 {
		m.gen = resp.Generation
	}
	return resp, err
}

// joinFully joins until it has a generation (MEMBER_ID_REQUIRED answered).
func (m *rawMember) joinFully(ctx context.Context) *kmsg.JoinGroupResponse {
	m.t.Helper()
	for i := 0; i < 3; i++ {
		resp, err := m.join(ctx)
		if err != nil {
			m.t.Fatalf("join: %v", err)
		}
		if resp.ErrorCode == kerr.MemberIDRequired.Code {
			continue
		}
		if resp.ErrorCode != 0 {
			m.t.Fatalf("join: error %d", resp.ErrorCode)
		}
		return resp
	}
	m.t.Fatal("join: no generation after 3 tries")
	return nil
}

func (m *rawMember) sync(ctx context.Context, leader bool) int16 {
	req := kmsg.NewPtrSyncGroupRequest()
	req.Group, req.MemberID, req.InstanceID, req.Generation = m.group, m.id, m.instance, m.gen
	req.ProtocolType, req.Protocol = kmsg.StringPtr("consumer"), kmsg.StringPtr("range")
	_ = leader
	resp, err := req.RequestWith(ctx, m.cl)
	if err != nil {
		m.t.Fatalf("sync: %v", err)
	}
	return resp.ErrorCode
}

func (m *rawMember) heartbeat(ctx context.Context) int16 {
	req := kmsg.NewPtrHeartbeatRequest()
	req.Group, req.MemberID, req.InstanceID, req.Generation = m.group, m.id, m.instance, m.gen
	resp, err := req.RequestWith(ctx, m.cl)
	if err != nil {
		m.t.Fatalf("heartbeat: %v", err)
	}
	return resp.ErrorCode
}

func (m *rawMember) commit(ctx context.Context, topic string, gen int32) int16 {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group, req.MemberID, req.InstanceID, req.Generation = m.group, m.id, m.instance, gen
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = topic
	rt.TopicID = kafkadiff.TopicID(ctx, m.cl, topic) // v10 names topics by id
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Partition, rp.Offset, rp.LeaderEpoch = 0, 1, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, m.cl)
	if err != nil || len(resp.Topics) != 1 {
		m.t.Fatalf("commit: %v", err)
	}
	return resp.Topics[0].Partitions[0].ErrorCode
}

func (m *rawMember) leave(ctx context.Context) int16 {
	req := kmsg.NewPtrLeaveGroupRequest()
	req.Group = m.group
	lm := kmsg.NewLeaveGroupRequestMember()
	lm.MemberID, lm.InstanceID = m.id, m.instance
	if m.instance != nil {
		lm.MemberID = ""
	}
	req.Members = append(req.Members, lm)
	resp, err := req.RequestWith(ctx, m.cl)
	if err != nil {
		m.t.Fatalf("leave: %v", err)
	}
	if resp.ErrorCode != 0 || len(resp.Members) != 1 {
		return resp.ErrorCode
	}
	return resp.Members[0].ErrorCode
}

// asyncJoin sends a JoinGroup in the background.
func (m *rawMember) asyncJoin(ctx context.Context) chan *kmsg.JoinGroupResponse {
	ch := make(chan *kmsg.JoinGroupResponse, 1)
	go func() {
		resp, err := m.join(ctx)
		if err != nil {
			resp = nil
		}
		ch <- resp
	}()
	return ch
}

// Kafka's answers to heartbeats, commits and LeaveGroup while a rebalance
// is pending (PreparingRebalance) and before the new generation's
// SyncGroup (CompletingRebalance), and a new group's first generation
// completing without a member id handed out before (issue 18 item 5). The
// codes are the reference broker's.
func TestGroupPendingRebalance(t *testing.T) {
	matrixGo(t, "kmsg", "heartbeat, commit, LeaveGroup during a pending rebalance", apisGroup, func(t *testing.T, tg *target) {
		topic := newTopic(t, tg, "pending", 1)
		ctx := ctxT(t, 60*time.Second)
		expect := func(what string, got, want int16) {
			t.Helper()
			if got != want {
				t.Errorf("%s: %d %s, Kafka: %d %s", what, got, kerr.ErrorForCode(got), want, kerr.ErrorForCode(want))
			}
		}
		group := uniq("g-pending")
		a := newRawMember(t, tg, group, "")
		a.joinFully(ctx)
		expect("A SyncGroup of generation 1", a.sync(ctx, true), 0)
		b := newRawMember(t, tg, group, "")
		if r, err := b.join(ctx); err != nil || r.ErrorCode != kerr.MemberIDRequired.Code {
			t.Fatalf("B first join: %v %+v", err, r)
		}
		bj := b.asyncJoin(ctx) // B's join starts a rebalance and waits for A
		time.Sleep(300 * time.Millisecond)
		expect("A Heartbeat (rebalance pending)", a.heartbeat(ctx), kerr.RebalanceInProgress.Code)
		expect("A OffsetCommit of its generation (rebalance pending)", a.commit(ctx, topic, a.gen), 0)
		expect("B OffsetCommit of the current generation while its JoinGroup waits", b.commit(ctx, topic, a.gen), 0)
		expect("B OffsetCommit of generation -1 while its JoinGroup waits", b.commit(ctx, topic, -1), kerr.IllegalGeneration.Code)
		expect("A LeaveGroup (rebalance pending)", a.leave(ctx), 0)
		select {
		case r := <-bj:
			if r == nil || r.ErrorCode != 0 || r.Generation != 2 || r.LeaderID != b.id || len(r.Members) != 1 {
				t.Errorf("B's JoinGroup after A left: %+v, want generation 2 with B alone, leading", r)
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("B's JoinGroup did not complete after A left")
		}
		expect("A OffsetCommit after leaving", a.commit(ctx, topic, 1), kerr.UnknownMemberID.Code)
		expect("B OffsetCommit before its SyncGroup", b.commit(ctx, topic, b.gen), kerr.RebalanceInProgress.Code)
		expect("B Heartbeat before its SyncGroup", b.heartbeat(ctx), 0)
		expect("B LeaveGroup before its SyncGroup", b.leave(ctx), 0)
	})

	matrixGo(t, "kmsg", "static members: first generation without a pending member id, SyncGroup/commit/leave during the next rebalance", apisGroup, func(t *testing.T, tg *target) {
		topic := newTopic(t, tg, "pending-static", 1)
		ctx := ctxT(t, 60*time.Second)
		expect := func(what string, got, want int16) {
			t.Helper()
			if got != want {
				t.Errorf("%s: %d %s, Kafka: %d %s", what, got, kerr.ErrorForCode(got), want, kerr.ErrorForCode(want))
			}
		}
		group := uniq("g-pending-static")
		goneAfterFirstJoin(t, tg, group)
		s := newRawMember(t, tg, group, "s1")
		select {
		case r := <-s.asyncJoin(ctx):
			if r == nil || r.ErrorCode != 0 || r.Generation != 1 || len(r.Members) != 1 {
				t.Fatalf("static s1's JoinGroup: %+v, want generation 1 with s1 alone", r)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("static s1's JoinGroup held more than 5s by a member id handed out before (Kafka answers at once)")
		}
		s2 := newRawMember(t, tg, group, "s2")
		s2j := s2.asyncJoin(ctx)
		time.Sleep(300 * time.Millisecond)
		expect("s1 SyncGroup after s2 joined", s.sync(ctx, true), kerr.RebalanceInProgress.Code)
		expect("s1 Heartbeat", s.heartbeat(ctx), kerr.RebalanceInProgress.Code)
		expect("s1 OffsetCommit of its generation", s.commit(ctx, topic, s.gen), 0)
		expect("s1 LeaveGroup", s.leave(ctx), 0)
		select {
		case r := <-s2j:
			if r == nil || r.ErrorCode != 0 || r.Generation != 2 || len(r.Members) != 1 {
				t.Errorf("s2's JoinGroup: %+v, want generation 2 with s2 alone", r)
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("s2's JoinGroup did not complete after s1 left")
		}
		expect("s1 OffsetCommit after leaving", s.commit(ctx, topic, s.gen), kerr.UnknownMemberID.Code)
	})
}
