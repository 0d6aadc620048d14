package group

// Online migration between the classic and the consumer protocols (KIP-848,
// group.consumer.migration.policy), as Kafka's GroupMetadataManager does it:
//
//   - Upgrade (policy upgrade or bidirectional): a ConsumerGroupHeartbeat
//     joining a classic group with members, whose protocol type is
//     "consumer" and whose size is within group.consumer.max.size, turns it
//     into a consumer group. Each classic member becomes a member of it
//     that keeps speaking the classic protocol: its subscription and
//     assignment are read from its embedded consumer protocol, its member
//     epoch is the classic generation, the target assignment is what it
//     owns. Pending JoinGroup and SyncGroup calls get REBALANCE_IN_PROGRESS.
//     The joining member then starts a new group epoch as any joiner does.
//     Otherwise the heartbeat gets GROUP_ID_NOT_FOUND "Group <id> is not a
//     consumer group.".
//   - Classic members inside a consumer group: a JoinGroup updates the
//     member's subscription (its owned partitions report what it has
//     revoked) and moves it towards its target one step, as a heartbeat
//     does; the answer (no leader, generation = member epoch) comes at once
//     and the SyncGroup that follows returns the member's assignment. A
//     classic Heartbeat answers REBALANCE_IN_PROGRESS while the member must
//     rejoin: the group epoch moved past its epoch, it has partitions to
//     revoke, or partitions it waits for are free. A member that does not
//     rejoin within its rebalance timeout after being told, or does not
//     sync within it after joining, is removed, as is one whose classic
//     session times out. LeaveGroup removes classic members. OffsetCommit
//     from a classic member checks its generation against its member epoch
//     (ILLEGAL_GENERATION).
//   - Downgrade (policy downgrade or bidirectional): when the last member
//     speaking the consumer protocol leaves (or is fenced) and classic
//     members remain, no more than group.max.size, the group becomes a
//     classic group again: members, their protocols and current
//     assignments, generation = group epoch, and a rebalance starts so that
//     they rejoin as classic members.
//
// Under policy disabled neither conversion happens, and a classic member
// may not join or rejoin a consumer group with members
// (INCONSISTENT_GROUP_PROTOCOL), as Kafka 4.4 documents the policy.

import (
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/gregor-broker/gregor/broker/internal/kafkaerr"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
)

// The values of group.consumer.migration.policy.
const (
	MigrationBidirectional = "bidirectional"
	MigrationUpgrade       = "upgrade"
	MigrationDowngrade     = "downgrade"
	MigrationDisabled      = "disabled"
)

func (c *Coordinator) upgradeEnabled() bool {
	p := c.cfg.ConsumerMigrationPolicy
	return p == MigrationBidirectional || p == MigrationUpgrade
}

func (c *Coordinator) downgradeEnabled() bool {
	p := c.cfg.ConsumerMigrationPolicy
	return p == MigrationBidirectional || p == MigrationDowngrade
}

// classicMeta is what a member of a consumer group speaking the classic
// protocol adds: its session timeout and the protocols of its last
// JoinGroup (the embedded consumer protocol's subscription).
type classicMeta struct {
	sessionTimeout time.Duration
	protocols      []kmsg.JoinGroupRequestProtocol

	// deadline is the member's rejoin or sync deadline (its rebalance
	// timeout), kind which one it is.
	deadline timer
	kind     string
	seq      uint64
}

const (
	deadlineJoin = "join"
	deadlineSync = "sync"
)

func (cm *classicMeta) supports(name string) bool {
	for _, p := range cm.protocols {
		if p.Name == name {
			return true
		}
	}
	return false
}

// stopClassicDeadline cancels m's rejoin or sync deadline.
func (g *group) stopClassicDeadline(m *cmember) {
	if m.classic == nil {
		return
	}
	if m.classic.deadline != nil {
		m.classic.deadline.Stop()
		m.classic.deadline = nil
	}
	m.classic.kind = ""
	m.classic.seq++
}

// armClassicDeadline removes m unless it rejoins (kind join) or syncs
// (kind sync) within its rebalance timeout. A join deadline already
// running is kept.
func (g *group) armClassicDeadline(m *cmember, kind string) {
	cm := m.classic
	if kind == deadlineJoin && cm.kind == deadlineJoin {
		return
	}
	g.stopClassicDeadline(m)
	cm.kind = kind
	seq, id := cm.seq, m.id
	d := m.rebalanceTimeout
	if d <= 0 {
		d = cm.sessionTimeout
	}
	cm.deadline = g.c.clock.AfterFunc(d, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.state == stateDead || g.cg == nil || g.cg.members[id] != m || m.classic == nil || m.classic.seq != seq {
			return
		}
		reason := "classic member did not rejoin within its rebalance timeout"
		if kind == deadlineSync {
			reason = "classic member did not sync within its rebalance timeout"
		}
		g.fenceMember(m, reason)
	})
}

// ---- upgrade ----

// upgradeToConsumer converts a classic group with members into a consumer
// group (the caller checked that g is classic and not empty).
func (g *group) upgradeToConsumer(cat TopicCatalog) *hbError {
	c := g.c
	notConsumer := hbErr(kerr.GroupIDNotFound, "Group %s is not a consumer group.", g.id)
	switch {
	case !c.upgradeEnabled():
		c.log.Info("cannot upgrade the classic group to a consumer group: the online upgrade is disabled", zap.String("group", g.id))
		return notConsumer
	case g.protocolType != "consumer":
		c.log.Info("cannot upgrade the classic group to a consumer group: it does not use the consumer embedded protocol", zap.String("group", g.id))
		return notConsumer
	case len(g.members) > c.cfg.ConsumerMaxSize:
		c.log.Info("cannot upgrade the classic group to a consumer group: it has more members than group.consumer.max.size", zap.String("group", g.id))
		return notConsumer
	}
	type conv struct {
		m   *member
		sub kmsg.ConsumerMemberMetadata
		own assignment
	}
	var convs []conv
	for _, m := range g.orderedMembers() {
		md := m.metadataFor(g.protocol)
		if md == nil && len(m.protocols) > 0 {
			md = m.protocols[0].Metadata
		}
		var sub kmsg.ConsumerMemberMetadata
		var asg kmsg.ConsumerMemberAssignment
		if err := sub.ReadFrom(md); err != nil || (len(m.assignment) > 0 && asg.ReadFrom(m.assignment) != nil) {
			c.log.Warn("cannot upgrade the classic group to a consumer group: malformed embedded consumer protocol", zap.String("group", g.id), zap.String("member", m.id))
			return hbErr(kerr.GroupIDNotFound, "Cannot upgrade the classic group %s to consumer group because the embedded consumer protocol is malformed.", g.id)
		}
		own := assignment{}
		for _, t := range asg.Topics {
			if id, _, ok := cat.lookup(t.Topic); ok {
				for _, p := range t.Partitions {
					own.add(id, p)
				}
			}
		}
		convs = append(convs, conv{m, sub, own})
	}
	if err := c.persist(g.id, groupTombstone(g.id)); err != nil {
		return hbErr(kerr.ErrorForCode(kafkaerr.Coordinator(err)).(*kerr.Error), "")
	}
	// Members waiting in a rebalance are told to rejoin.
	for _, m := range g.members {
		if m.joinWait != nil {
			resp := kmsg.NewPtrJoinGroupResponse()
			resp.ErrorCode, resp.Generation, resp.MemberID = kerr.RebalanceInProgress.Code, -1, m.id
			w := m.joinWait
			m.joinWait = nil
			w(resp)
		}
		g.stopSession(m)
	}
	g.failSyncs(kerr.RebalanceInProgress)
	g.stopRebalanceTimer()

	cg := newConsumerGroup()
	cg.epoch, cg.assignEpoch = g.generation, g.generation
	g.cg = cg
	for _, cv := range convs {
		m := cv.m
		topics := append([]string(nil), cv.sub.Topics...)
		sort.Strings(topics)
		cm := &cmember{
			id: m.id, instanceID: m.instanceID, rackID: cv.sub.Rack,
			clientID: m.clientID, clientHost: m.clientHost, rebalanceTimeout: m.rebalanceTimeout,
			topics: dedup(topics), epoch: g.generation, prevEpoch: g.generation, state: msStable,
			assigned: cv.own, revoking: assignment{}, assignedAt: map[[16]byte]map[int32]int32{},
			classic: &classicMeta{sessionTimeout: m.sessionTimeout, protocols: cloneProtocols(m.protocols)},
		}
		for t, ps := range cv.own {
			cm.assignedAt[t] = map[int32]int32{}
			for _, p := range ps {
				cm.assignedAt[t][p] = g.generation
			}
		}
		cg.members[m.id] = cm
		if m.instanceID != nil {
			cg.static[*m.instanceID] = m.id
		}
		cg.target[m.id] = cv.own.clone()
		g.setOwners(cm, "", cm.assigned, cm.revoking)
	}
	g.refreshTopics(cat, c.clock.Now())
	g.members, g.static, g.pending = map[string]*member{}, map[string]string{}, map[string]struct{}{}
	g.protocolType = "consumer"
	g.protocol, g.leader = "", ""
	for _, m := range cg.members {
		g.resetConsumerSession(m)
	}
	g.syncClassicState()
	// Written now, not only by the heartbeat that continues: that one may
	// still fail (an invalid regex) after the classic record is gone.
	if err := g.persistConsumer(); err != nil {
		c.log.Warn("writing the upgraded consumer group", zap.String("group", g.id), zap.Error(err))
	}
	c.log.Info("classic group converted to a consumer group (online upgrade)", zap.String("group", g.id), zap.Int("members", len(cg.members)))
	return nil
}

func cloneProtocols(ps []kmsg.JoinGroupRequestProtocol) []kmsg.JoinGroupRequestProtocol {
	out := make([]kmsg.JoinGroupRequestProtocol, len(ps))
	for i, p := range ps {
		out[i] = kmsg.JoinGroupRequestProtocol{Name: p.Name, Metadata: append([]byte(nil), p.Metadata...)}
	}
	return out
}

// ---- classic members in a consumer group ----

// supportsClassic is Kafka's ConsumerGroup.supportsClassicProtocols: a
// joining classic member must use the consumer protocol type and share a
// protocol with every classic member.
func (cg *consumerGroup) supportsClassic(protocolType string, protocols []kmsg.JoinGroupRequestProtocol) bool {
	if protocolType != "consumer" || len(protocols) == 0 {
		return false
	}
	for _, p := range protocols {
		all := true
		for _, m := range cg.members {
			if m.classic != nil && !m.classic.supports(p.Name) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

// classicMember finds the classic member a SyncGroup, Heartbeat or
// LeaveGroup names.
func (g *group) classicMember(memberID string, instanceID *string) (*cmember, *kerr.Error) {
	cg := g.cg
	var m *cmember
	if instanceID != nil {
		sid, ok := cg.static[*instanceID]
		if !ok {
			return nil, kerr.UnknownMemberID
		}
		if memberID != "" && sid != memberID {
			return nil, kerr.FencedInstanceID
		}
		m = cg.members[sid]
	} else {
		m = cg.members[memberID]
	}
	if m == nil || m.classic == nil {
		return nil, kerr.UnknownMemberID
	}
	return m, nil
}

// classicJoin is a JoinGroup to a consumer group with members.
func (g *group) classicJoin(req *kmsg.JoinGroupRequest, info JoinInfo, cat TopicCatalog, respond func(*kmsg.JoinGroupResponse), fail func(*kerr.Error, string)) {
	cg := g.cg
	id := req.MemberID
	unknown := id == ""
	if unknown {
		id = uuid.NewString()
	}
	if cg.members[id] == nil && len(cg.members) >= g.c.cfg.ConsumerMaxSize {
		fail(kerr.GroupMaxSizeReached, req.MemberID)
		return
	}
	if !cg.supportsClassic(req.ProtocolType, req.Protocols) {
		fail(kerr.InconsistentGroupProtocol, req.MemberID)
		return
	}
	if unknown && req.InstanceID == nil && req.Version >= 4 {
		fail(kerr.MemberIDRequired, id)
		return
	}
	var sub kmsg.ConsumerMemberMetadata
	if err := sub.ReadFrom(req.Protocols[0].Metadata); err != nil {
		fail(kerr.UnknownServerError, req.MemberID)
		return
	}
	bump := false
	var m *cmember
	if req.InstanceID != nil {
		if sid, ok := cg.static[*req.InstanceID]; ok {
			switch {
			case unknown:
				// It takes the static member's place and assignment
				// (a static member speaking the consumer protocol
				// replaced by a classic one stays in the consumer group;
				// Kafka would downgrade the group when it was the last).
				m = g.replaceStatic848(cg.members[sid], id)
				m.classic = &classicMeta{}
			case sid != id:
				fail(kerr.FencedInstanceID, req.MemberID)
				return
			default:
				m = cg.members[sid]
			}
		}
	} else {
		m = cg.members[id]
	}
	if m != nil && m.classic == nil {
		fail(kerr.UnknownMemberID, req.MemberID)
		return
	}
	if m == nil {
		m = &cmember{id: id, instanceID: req.InstanceID, assigned: assignment{}, revoking: assignment{}}
		cg.members[id] = m
		if m.instanceID != nil {
			cg.static[*m.instanceID] = id
		}
		cg.subDirty = true
		bump = true
		g.c.log.Debug("classic member joined the consumer group", zap.String("group", g.id), zap.String("member", id))
	}
	g.stopClassicDeadline(m)
	m.classic = &classicMeta{sessionTimeout: time.Duration(req.SessionTimeoutMillis) * time.Millisecond, protocols: cloneProtocols(req.Protocols)}
	m.clientID, m.clientHost = info.ClientID, info.ClientHost
	m.rebalanceTimeout = time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond
	if sub.Rack != nil {
		m.rackID = sub.Rack
	}
	topics := append([]string(nil), sub.Topics...)
	sort.Strings(topics)
	topics = dedup(topics)
	if !equalStrings(topics, m.topics) {
		m.topics = topics
		cg.subDirty = true
		bump = true
	}
	// What it owns now: an eager member has revoked everything.
	owned := []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	for _, t := range sub.OwnedPartitions {
		if tid, _, ok := cat.lookup(t.Topic); ok {
			owned = append(owned, kmsg.ConsumerGroupHeartbeatRequestTopic{TopicID: tid, Partitions: t.Partitions})
		}
	}
	if g.refreshTopics(cat, g.c.clock.Now()) {
		bump = true
	}
	if bump {
		cg.epoch++
	}
	g.maybeAssign()
	g.reconcile(m, owned)
	g.syncClassicState()
	if err := g.persistConsumer(); err != nil {
		fail(kerr.ErrorForCode(kafkaerr.Coordinator(err)).(*kerr.Error), req.MemberID)
		return
	}
	g.resetConsumerSession(m)
	g.armClassicDeadline(m, deadlineSync)
	resp := kmsg.NewPtrJoinGroupResponse()
	resp.MemberID = m.id
	resp.Generation = m.epoch
	pt, proto := "consumer", m.classic.protocols[0].Name
	resp.ProtocolType, resp.Protocol = &pt, &proto
	respond(resp)
}

// classicSync is a SyncGroup to a consumer group: the member's current
// assignment, in its embedded protocol's version.
func (g *group) classicSync(req *kmsg.SyncGroupRequest, respond func(*kmsg.SyncGroupResponse), fail func(*kerr.Error)) {
	cg := g.cg
	m, err := g.classicMember(req.MemberID, req.InstanceID)
	if err != nil {
		fail(err)
		return
	}
	if req.Generation != m.epoch {
		fail(kerr.IllegalGeneration)
		return
	}
	if (req.ProtocolType != nil && *req.ProtocolType != "consumer") || (req.Protocol != nil && !m.classic.supports(*req.Protocol)) {
		fail(kerr.InconsistentGroupProtocol)
		return
	}
	if cg.epoch > m.epoch && m.state != msUnrevoked {
		g.armClassicDeadline(m, deadlineJoin)
		fail(kerr.RebalanceInProgress)
		return
	}
	g.stopClassicDeadline(m)
	g.resetConsumerSession(m)
	resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
	resp.ProtocolType, resp.Protocol = req.ProtocolType, req.Protocol
	resp.MemberAssignment = g.classicAssignment(m)
	respond(resp)
}

// classicAssignment is m's assigned partitions as an embedded consumer
// protocol assignment, in the version of its subscription.
func (g *group) classicAssignment(m *cmember) []byte {
	a := kmsg.NewConsumerMemberAssignment()
	if md := m.classic.protocols; len(md) > 0 && len(md[0].Metadata) >= 2 {
		a.Version = int16(md[0].Metadata[0])<<8 | int16(md[0].Metadata[1])
		if a.Version > 3 || a.Version < 0 {
			a.Version = 3
		}
	}
	for _, t := range sortedTopicIDs(m.assigned) {
		meta, ok := g.cg.topics[t]
		if !ok {
			continue
		}
		a.Topics = append(a.Topics, kmsg.ConsumerMemberAssignmentTopic{Topic: meta.Name, Partitions: append([]int32{}, m.assigned[t]...)})
	}
	sort.Slice(a.Topics, func(i, j int) bool { return a.Topics[i].Topic < a.Topics[j].Topic })
	return a.AppendTo(nil)
}

// classicHeartbeat is a Heartbeat to a consumer group.
func (g *group) classicHeartbeat(req *kmsg.HeartbeatRequest) *kerr.Error {
	cg := g.cg
	m, err := g.classicMember(req.MemberID, req.InstanceID)
	if err != nil {
		return err
	}
	if req.Generation != m.epoch {
		return kerr.IllegalGeneration
	}
	g.resetConsumerSession(m)
	if m.epoch < cg.epoch || m.state == msUnrevoked || (m.state == msUnreleased && !g.waitingOnUnreleased(m)) {
		g.armClassicDeadline(m, deadlineJoin)
		return kerr.RebalanceInProgress
	}
	return nil
}

// waitingOnUnreleased reports whether a partition of m's target is still
// owned by another member.
func (g *group) waitingOnUnreleased(m *cmember) bool {
	for t, ps := range g.cg.target[m.id] {
		for _, p := range ps {
			if m.assigned.has(t, p) {
				continue
			}
			if o, ok := g.cg.owner[t][p]; ok && o != m.id {
				return true
			}
		}
	}
	return false
}

// classicLeave is one member of a LeaveGroup to a consumer group.
func (g *group) classicLeave(l kmsg.LeaveGroupRequestMember) *kerr.Error {
	m, err := g.classicMember(l.MemberID, l.InstanceID)
	if err != nil {
		return err
	}
	reason := "classic member left"
	if l.Reason != nil {
		reason += ": " + *l.Reason
	}
	if err := g.removeConsumerMember(m, reason, false); err != nil {
		return kerr.ErrorForCode(kafkaerr.Coordinator(err)).(*kerr.Error)
	}
	return nil
}

// ---- downgrade ----

// downgradeAfter reports whether removing the member leaving (a member
// speaking the consumer protocol) turns g back into a classic group: every
// other member speaks the classic protocol, there is one at least, the
// policy allows it and they fit in group.max.size.
func (g *group) downgradeAfter(leaving *cmember) bool {
	cg := g.cg
	if leaving.classic != nil || len(cg.members) <= 1 {
		return false
	}
	for _, m := range cg.members {
		if m != leaving && m.classic == nil {
			return false
		}
	}
	if !g.c.downgradeEnabled() {
		g.c.log.Info("cannot downgrade the consumer group to a classic group: the online downgrade is disabled", zap.String("group", g.id))
		return false
	}
	if len(cg.members)-1 > g.c.cfg.MaxSize {
		g.c.log.Info("cannot downgrade the consumer group to a classic group: it has more members than group.max.size", zap.String("group", g.id))
		return false
	}
	return true
}

// downgradeToClassic turns the consumer group (whose members all speak the
// classic protocol) into a classic group and starts a rebalance.
func (g *group) downgradeToClassic() error {
	cg := g.cg
	ids := make([]string, 0, len(cg.members))
	for id := range cg.members {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	// The protocol: the first of the first member's that every member
	// supports.
	proto := ""
	for _, p := range cg.members[ids[0]].classic.protocols {
		all := true
		for _, m := range cg.members {
			if !m.classic.supports(p.Name) {
				all = false
				break
			}
		}
		if all {
			proto = p.Name
			break
		}
	}
	members := map[string]*member{}
	static := map[string]string{}
	for _, id := range ids {
		cm := cg.members[id]
		g.joinSeq++
		members[id] = &member{
			id: id, instanceID: cm.instanceID, clientID: cm.clientID, clientHost: cm.clientHost,
			sessionTimeout: cm.classic.sessionTimeout, rebalanceTimeout: cm.rebalanceTimeout,
			protocolType: "consumer", protocols: cloneProtocols(cm.classic.protocols),
			assignment: g.classicAssignment(cm), joinSeq: g.joinSeq,
		}
		if cm.instanceID != nil {
			static[*cm.instanceID] = id
		}
	}
	prev := struct {
		members    map[string]*member
		static     map[string]string
		generation int32
		protocol   string
		leader     string
	}{g.members, g.static, g.generation, g.protocol, g.leader}
	g.members, g.static = members, static
	g.generation, g.protocolType, g.protocol, g.leader = cg.epoch, "consumer", proto, ids[0]
	g.cg = nil
	err := g.persistMetadata()
	if err == nil {
		err = g.c.persist(g.id, groupTombstoneConsumer(g.id))
	}
	if err != nil {
		g.cg = cg
		g.members, g.static, g.generation, g.protocol, g.leader = prev.members, prev.static, prev.generation, prev.protocol, prev.leader
		return err
	}
	for _, m := range cg.members {
		g.stopConsumerTimers(m)
		g.stopClassicDeadline(m)
	}
	g.setState(stateStable)
	for _, m := range g.members {
		g.resetSession(m)
	}
	g.c.log.Info("consumer group converted to a classic group (online downgrade)", zap.String("group", g.id), zap.Int("members", len(g.members)))
	g.prepareRebalance("Downgrade group " + g.id + " from consumer to classic.")
	return nil
}

// migrationPolicyNames lists the accepted policies, for messages.
func migrationPolicyNames() string {
	return strings.Join([]string{MigrationBidirectional, MigrationUpgrade, MigrationDowngrade, MigrationDisabled}, ", ")
}
