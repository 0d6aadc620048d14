package group

import (
	"context"

	"github.com/gregor-broker/gregor/broker/internal/kafkaerr"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
)

// JoinGroup answers a JoinGroup, waiting for the rebalance to finish. When
// ctx ends first (the connection closed) the member stays in the rebalance,
// as in Kafka, and the answer is dropped.
func (c *Coordinator) JoinGroup(ctx context.Context, req *kmsg.JoinGroupRequest, info JoinInfo) *kmsg.JoinGroupResponse {
	ch := make(chan *kmsg.JoinGroupResponse, 1)
	c.join(req, info, func(r *kmsg.JoinGroupResponse) {
		r.Version = req.Version
		select {
		case ch <- r:
		default: // answered twice (superseded join); the first answer wins
		}
	})
	select {
	case r := <-ch:
		return r
	case <-ctx.Done():
		resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		resp.Generation = -1
		return resp
	}
}

// SyncGroup answers a SyncGroup, waiting for the leader's assignment.
func (c *Coordinator) SyncGroup(ctx context.Context, req *kmsg.SyncGroupRequest) *kmsg.SyncGroupResponse {
	ch := make(chan *kmsg.SyncGroupResponse, 1)
	c.sync(req, func(r *kmsg.SyncGroupResponse) {
		r.Version = req.Version
		select {
		case ch <- r:
		default:
		}
	})
	select {
	case r := <-ch:
		return r
	case <-ctx.Done():
		resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp
	}
}

// sync handles a SyncGroup; respond is called exactly once, with g.mu held.
func (c *Coordinator) sync(req *kmsg.SyncGroupRequest, respond func(*kmsg.SyncGroupResponse)) {
	fail := func(err *kerr.Error) {
		resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
		resp.ErrorCode = err.Code
		respond(resp)
	}
	if req.Group == "" {
		fail(kerr.InvalidGroupID)
		return
	}
	if !c.withGroup(req.Group, false, func(g *group) { g.sync(req, respond, fail) }) {
		fail(kerr.UnknownMemberID)
	}
}

// validateMember is Kafka's validateCurrentMember plus the generation check.
func (g *group) validateMember(memberID string, instanceID *string, generation int32) *kerr.Error {
	if instanceID != nil {
		if cur, ok := g.static[*instanceID]; ok && cur != memberID {
			return kerr.FencedInstanceID
		}
	}
	if _, ok := g.members[memberID]; !ok {
		return kerr.UnknownMemberID
	}
	if generation != g.generation {
		return kerr.IllegalGeneration
	}
	return nil
}

func (g *group) sync(req *kmsg.SyncGroupRequest, respond func(*kmsg.SyncGroupResponse), fail func(*kerr.Error)) {
	if g.cg != nil {
		g.classicSync(req, respond, fail)
		return
	}
	if err := g.validateMember(req.MemberID, req.InstanceID, req.Generation); err != nil {
		fail(err)
		return
	}
	if (req.ProtocolType != nil && *req.ProtocolType != g.protocolType) || (req.Protocol != nil && *req.Protocol != g.protocol) {
		fail(kerr.InconsistentGroupProtocol)
		return
	}
	m := g.members[req.MemberID]
	switch g.state {
	case statePreparingRebalance:
		fail(kerr.RebalanceInProgress)
	case stateStable:
		g.resetSession(m)
		respond(g.syncResponse(m))
	case stateCompletingRebalance:
		if m.syncWait != nil {
			// A retried sync replaces the one it gave up on.
			old := m.syncWait
			resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
			resp.ErrorCode = kerr.RebalanceInProgress.Code
			old(resp)
		}
		m.syncWait = respond
		m.synced = true
		g.resetSession(m)
		if m.id != g.leader {
			return
		}
		// The leader's assignment completes the generation; members it
		// left out get an empty assignment, unknown ids are ignored.
		assigned := make(map[string][]byte, len(req.GroupAssignment))
		for _, a := range req.GroupAssignment {
			assigned[a.MemberID] = a.MemberAssignment
		}
		for _, o := range g.members {
			o.assignment = assigned[o.id]
		}
		if err := g.persistMetadata(); err != nil {
			for _, o := range g.members {
				o.assignment = nil
			}
			g.failSyncs(kerr.ErrorForCode(kafkaerr.Coordinator(err)).(*kerr.Error))
			g.prepareRebalance("group metadata write failed")
			return
		}
		g.setState(stateStable)
		for _, o := range g.members {
			if o.syncWait != nil {
				w := o.syncWait
				o.syncWait = nil
				w(g.syncResponse(o))
			}
		}
	default:
		fail(kerr.UnknownMemberID)
	}
}

func (g *group) syncResponse(m *member) *kmsg.SyncGroupResponse {
	resp := (&kmsg.SyncGroupRequest{}).ResponseKind().(*kmsg.SyncGroupResponse)
	pt, p := g.protocolType, g.protocol
	resp.ProtocolType = &pt
	resp.Protocol = &p
	resp.MemberAssignment = m.assignment
	if resp.MemberAssignment == nil {
		resp.MemberAssignment = []byte{}
	}
	return resp
}

// Heartbeat answers a Heartbeat.
func (c *Coordinator) Heartbeat(req *kmsg.HeartbeatRequest) *kmsg.HeartbeatResponse {
	resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
	if req.Group == "" {
		resp.ErrorCode = kerr.InvalidGroupID.Code
		return resp
	}
	found := c.withGroup(req.Group, false, func(g *group) {
		if g.cg != nil {
			if err := g.classicHeartbeat(req); err != nil {
				resp.ErrorCode = err.Code
			}
			return
		}
		if err := g.validateMember(req.MemberID, req.InstanceID, req.Generation); err != nil {
			resp.ErrorCode = err.Code
			return
		}
		m := g.members[req.MemberID]
		switch g.state {
		case stateEmpty:
			resp.ErrorCode = kerr.UnknownMemberID.Code
		case statePreparingRebalance:
			g.resetSession(m)
			resp.ErrorCode = kerr.RebalanceInProgress.Code
		default:
			g.resetSession(m)
		}
	})
	if !found {
		resp.ErrorCode = kerr.UnknownMemberID.Code
	}
	return resp
}

// LeaveGroup answers a LeaveGroup: one member (v0–v2) or a batch (v3+),
// static members by instance id with or without their member id.
func (c *Coordinator) LeaveGroup(req *kmsg.LeaveGroupRequest) *kmsg.LeaveGroupResponse {
	resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
	if req.Group == "" {
		resp.ErrorCode = kerr.InvalidGroupID.Code
		return resp
	}
	leaving := req.Members
	if req.Version < 3 {
		leaving = []kmsg.LeaveGroupRequestMember{{MemberID: req.MemberID}}
	}
	results := make([]kmsg.LeaveGroupResponseMember, len(leaving))
	for i, l := range leaving {
		results[i] = kmsg.LeaveGroupResponseMember{MemberID: l.MemberID, InstanceID: l.InstanceID, ErrorCode: kerr.UnknownMemberID.Code}
	}
	c.withGroup(req.Group, false, func(g *group) {
		for i, l := range leaving {
			results[i].ErrorCode = code(g.leave(l))
		}
	})
	if req.Version < 3 {
		resp.ErrorCode = results[0].ErrorCode
		return resp
	}
	resp.Members = results
	return resp
}

func (g *group) leave(l kmsg.LeaveGroupRequestMember) *kerr.Error {
	if g.cg != nil {
		return g.classicLeave(l)
	}
	id := l.MemberID
	if l.InstanceID != nil {
		cur, ok := g.static[*l.InstanceID]
		if !ok {
			return kerr.UnknownMemberID
		}
		if id != "" && id != cur {
			return kerr.FencedInstanceID
		}
		id = cur
	}
	if _, ok := g.pending[id]; ok {
		delete(g.pending, id)
		if g.state == statePreparingRebalance {
			g.tryCompleteJoin()
		}
		return nil
	}
	m, ok := g.members[id]
	if !ok {
		return kerr.UnknownMemberID
	}
	reason := "member left"
	if l.Reason != nil {
		reason += ": " + *l.Reason
	}
	g.c.log.Debug("group member leaving", zap.String("group", g.id), zap.String("member", id), zap.String("reason", reason))
	g.removeMember(m, reason)
	return nil
}
