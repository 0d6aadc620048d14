package group

import (
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/gregor-broker/gregor/broker/internal/kafkaerr"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
)

// state is a group's place in Kafka's classic state machine.
type state int8

const (
	stateEmpty state = iota
	statePreparingRebalance
	stateCompletingRebalance
	stateStable
	stateDead
)

// String is the name DescribeGroups and ListGroups report.
func (s state) String() string {
	switch s {
	case stateEmpty:
		return "Empty"
	case statePreparingRebalance:
		return "PreparingRebalance"
	case stateCompletingRebalance:
		return "CompletingRebalance"
	case stateStable:
		return "Stable"
	default:
		return "Dead"
	}
}

// member is one member of a group.
type member struct {
	id               string
	instanceID       *string
	clientID         string
	clientHost       string
	sessionTimeout   time.Duration
	rebalanceTimeout time.Duration
	protocolType     string
	protocols        []kmsg.JoinGroupRequestProtocol
	assignment       []byte
	joinSeq          uint64 // order of first join; decides leader fallback and listing order

	// joinWait is set while the member waits in JoinGroup, syncWait while
	// it waits in SyncGroup. A waiting member is never expired: its
	// session starts counting once it is answered (Kafka does the same).
	joinWait func(*kmsg.JoinGroupResponse)
	syncWait func(*kmsg.SyncGroupResponse)
	isNew    bool // joined during this rebalance (extends the initial delay)
	synced   bool // sent SyncGroup in the current generation

	hb    timer
	hbSeq uint64 // bumped on every reset so a stale expiry is ignored
}

// metadataFor is the member's metadata for protocol name.
func (m *member) metadataFor(name string) []byte {
	for _, p := range m.protocols {
		if p.Name == name {
			return p.Metadata
		}
	}
	return nil
}

func (m *member) supports(name string) bool {
	for _, p := range m.protocols {
		if p.Name == name {
			return true
		}
	}
	return false
}

// offset is one committed offset.
type offset struct {
	offset      int64
	leaderEpoch int32
	metadata    string
	committed   time.Time
	topicID     [16]byte // the topic's id at commit time; zero if unknown
}

// group is one consumer group. Every field is guarded by mu.
type group struct {
	c  *Coordinator
	id string

	state        state
	stateSince   time.Time
	generation   int32
	protocolType string
	protocol     string // selected protocol; "" unless a generation is running
	leader       string

	members map[string]*member
	static  map[string]string   // instance id → member id
	pending map[string]struct{} // member ids handed out by MEMBER_ID_REQUIRED, not yet joined
	joinSeq uint64

	rebalance      timer
	rebalanceSeq   uint64
	initialDelay   bool          // the running rebalance is the initial delayed join
	delayRemaining time.Duration // rebalance time left after the current initial delay
	newMemberAdded bool

	offsets map[string]map[int32]offset
	// pendingSeq is the sequence number of the latest write (commit or
	// delete) of each partition's offset (offsets.go, commit).
	pendingSeq map[tpKey]int64
	// inflight counts offset commits written but not yet durable.
	inflight int

	// cg is set for a KIP-848 consumer group (consumer.go).
	cg *consumerGroup

	mu sync.Mutex
}

func newGroup(c *Coordinator, id string) *group {
	return &group{
		c: c, id: id,
		state:      stateEmpty,
		stateSince: c.clock.Now(),
		members:    make(map[string]*member),
		static:     make(map[string]string),
		pending:    make(map[string]struct{}),
		offsets:    make(map[string]map[int32]offset),
	}
}

func (g *group) setState(s state) {
	g.state = s
	g.stateSince = g.c.clock.Now()
}

// orderedMembers lists members in join order.
func (g *group) orderedMembers() []*member {
	ms := make([]*member, 0, len(g.members))
	for _, m := range g.members {
		ms = append(ms, m)
	}
	for i := 1; i < len(ms); i++ { // insertion sort: groups are small
		for j := i; j > 0 && ms[j].joinSeq < ms[j-1].joinSeq; j-- {
			ms[j], ms[j-1] = ms[j-1], ms[j]
		}
	}
	return ms
}

// supportsProtocols is Kafka's GroupMetadata.supportsProtocols: an empty
// group takes anything non-empty; otherwise the type must match and one of
// the protocols must be supported by every current member.
func (g *group) supportsProtocols(protocolType string, protocols []kmsg.JoinGroupRequestProtocol, self string) bool {
	if protocolType == "" || len(protocols) == 0 {
		return false
	}
	others := 0
	for id := range g.members {
		if id != self {
			others++
		}
	}
	if others == 0 {
		return true
	}
	if protocolType != g.protocolType {
		return false
	}
	for _, p := range protocols {
		all := true
		for id, m := range g.members {
			if id != self && !m.supports(p.Name) {
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

// selectProtocol is Kafka's vote: among protocols every member supports,
// each member votes for the first it lists; the most votes wins, ties going
// to the earlier joiner's preference.
func (g *group) selectProtocol() string {
	ms := g.orderedMembers()
	if len(ms) == 0 {
		return ""
	}
	candidate := func(name string) bool {
		for _, m := range ms {
			if !m.supports(name) {
				return false
			}
		}
		return true
	}
	votes := map[string]int{}
	var order []string
	for _, m := range ms {
		for _, p := range m.protocols {
			if candidate(p.Name) {
				if _, seen := votes[p.Name]; !seen {
					order = append(order, p.Name)
				}
				votes[p.Name]++
				break
			}
		}
	}
	best := ""
	for _, name := range order {
		if best == "" || votes[name] > votes[best] {
			best = name
		}
	}
	return best
}

// ---- session timers ----

// resetSession restarts m's session timer.
func (g *group) resetSession(m *member) {
	if m.hb != nil {
		m.hb.Stop()
	}
	m.hbSeq++
	seq := m.hbSeq
	m.hb = g.c.clock.AfterFunc(m.sessionTimeout, func() { g.sessionExpired(m.id, seq) })
}

func (g *group) sessionExpired(memberID string, seq uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	m, ok := g.members[memberID]
	if !ok || m.hbSeq != seq || g.state == stateDead {
		return
	}
	if m.joinWait != nil || m.syncWait != nil {
		g.resetSession(m) // a waiting member is alive by definition
		return
	}
	g.c.log.Info("group member session expired", zap.String("group", g.id), zap.String("member", memberID))
	g.removeMember(m, "session timeout")
}

func (g *group) stopSession(m *member) {
	if m.hb != nil {
		m.hb.Stop()
		m.hb = nil
	}
	m.hbSeq++
}

// schedulePendingExpiry drops a MEMBER_ID_REQUIRED id that never joins.
func (g *group) schedulePendingExpiry(id string, d time.Duration) {
	g.c.clock.AfterFunc(d, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if _, ok := g.pending[id]; !ok {
			return
		}
		delete(g.pending, id)
		if g.state == statePreparingRebalance {
			g.tryCompleteJoin()
		}
	})
}

// ---- JoinGroup ----

// JoinInfo is what the transport knows about the caller.
type JoinInfo struct {
	ClientID   string
	ClientHost string // Kafka reports "/ip"
	// Topics is the cluster's topic table, for a classic member joining a
	// consumer group (its subscription names topics; the group keeps ids).
	Topics TopicCatalog
}

// join handles a JoinGroup; respond is called exactly once, possibly later
// from a timer, always with g.mu held (so it must not block).
func (c *Coordinator) join(req *kmsg.JoinGroupRequest, info JoinInfo, respond func(*kmsg.JoinGroupResponse)) {
	fail := func(err *kerr.Error, memberID string) {
		resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
		resp.ErrorCode = err.Code
		resp.MemberID = memberID
		resp.Generation = -1
		respond(resp)
	}
	if req.Group == "" {
		fail(kerr.InvalidGroupID, req.MemberID)
		return
	}
	session := time.Duration(req.SessionTimeoutMillis) * time.Millisecond
	if session < c.cfg.MinSessionTimeout || session > c.cfg.MaxSessionTimeout {
		fail(kerr.InvalidSessionTimeout, req.MemberID)
		return
	}
	if req.Version == 0 {
		req.RebalanceTimeoutMillis = req.SessionTimeoutMillis // v0 has no rebalance timeout
	}
	found := c.withGroup(req.Group, req.MemberID == "", func(g *group) {
		g.join(req, info, respond, fail)
		g.dropIfUnused()
	})
	if !found {
		if c.isClosed() {
			fail(kerr.CoordinatorNotAvailable, req.MemberID)
			return
		}
		fail(kerr.UnknownMemberID, req.MemberID)
	}
}

func (c *Coordinator) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

func (g *group) join(req *kmsg.JoinGroupRequest, info JoinInfo, respond func(*kmsg.JoinGroupResponse), fail func(*kerr.Error, string)) {
	if g.cg != nil && len(g.cg.members) > 0 {
		if g.c.cfg.ConsumerMigrationPolicy == MigrationDisabled {
			// Kafka 4.4: under disabled a classic member may not join or
			// rejoin a consumer group with members.
			fail(kerr.InconsistentGroupProtocol, req.MemberID)
			return
		}
		g.classicJoin(req, info, info.Topics, respond, fail)
		return
	}
	if err := g.asClassicGroup(); err != nil {
		fail(err, req.MemberID)
		return
	}
	if !g.acceptJoiningMember(req.MemberID) {
		// As Kafka: the refused member (if it was one) leaves the group,
		// and the answer carries no member id.
		if _, ok := g.pending[req.MemberID]; ok {
			delete(g.pending, req.MemberID)
			g.tryCompleteJoin()
		} else if m, ok := g.members[req.MemberID]; ok {
			g.removeMember(m, "group.max.size reached")
		}
		fail(kerr.GroupMaxSizeReached, "")
		return
	}
	if !g.supportsProtocols(req.ProtocolType, req.Protocols, req.MemberID) {
		fail(kerr.InconsistentGroupProtocol, req.MemberID)
		return
	}
	if req.MemberID == "" {
		g.joinUnknown(req, info, respond, fail)
		return
	}
	g.joinKnown(req, info, respond, fail)
}

// acceptJoiningMember is Kafka's check of group.max.size. While members
// rejoin (PreparingRebalance) it counts those already waiting, so the last
// to rejoin are the ones turned away when the cap was lowered; otherwise it
// counts the members.
func (g *group) acceptJoiningMember(memberID string) bool {
	max := g.c.cfg.MaxSize
	switch g.state {
	case stateEmpty, stateDead:
		return true
	case statePreparingRebalance:
		if m, ok := g.members[memberID]; ok && m.joinWait != nil {
			return true
		}
		waiting := 0
		for _, m := range g.members {
			if m.joinWait != nil {
				waiting++
			}
		}
		return waiting < max
	default: // CompletingRebalance, Stable
		_, ok := g.members[memberID]
		return ok || len(g.members) < max
	}
}

func newMemberID(prefix string) string { return prefix + "-" + uuid.NewString() }

func (g *group) joinUnknown(req *kmsg.JoinGroupRequest, info JoinInfo, respond func(*kmsg.JoinGroupResponse), fail func(*kerr.Error, string)) {
	if req.InstanceID != nil {
		id := newMemberID(*req.InstanceID)
		if old, ok := g.static[*req.InstanceID]; ok {
			g.replaceStatic(old, id, req, info, respond)
			return
		}
		g.addMember(id, req, info, respond)
		return
	}
	id := newMemberID(info.ClientID)
	if req.Version >= 4 {
		// KIP-394: hand out the id and count it as an expected joiner so the
		// rebalance waits for it, dropping it if it never comes.
		g.pending[id] = struct{}{}
		g.schedulePendingExpiry(id, time.Duration(req.SessionTimeoutMillis)*time.Millisecond)
		fail(kerr.MemberIDRequired, id)
		return
	}
	g.addMember(id, req, info, respond)
}

func (g *group) joinKnown(req *kmsg.JoinGroupRequest, info JoinInfo, respond func(*kmsg.JoinGroupResponse), fail func(*kerr.Error, string)) {
	if req.InstanceID != nil {
		if cur, ok := g.static[*req.InstanceID]; ok && cur != req.MemberID {
			fail(kerr.FencedInstanceID, req.MemberID)
			return
		}
	}
	if _, ok := g.pending[req.MemberID]; ok {
		delete(g.pending, req.MemberID)
		g.addMember(req.MemberID, req, info, respond)
		return
	}
	m, ok := g.members[req.MemberID]
	if !ok {
		fail(kerr.UnknownMemberID, req.MemberID)
		return
	}
	if req.InstanceID != nil && (m.instanceID == nil || *m.instanceID != *req.InstanceID) {
		fail(kerr.FencedInstanceID, req.MemberID)
		return
	}
	switch g.state {
	case statePreparingRebalance:
		g.updateMemberAndRebalance(m, req, respond)
	case stateCompletingRebalance:
		if sameProtocols(m.protocols, req.Protocols) {
			// A retried join of this generation: answer it again.
			m.joinWait = nil
			g.resetSession(m)
			respond(g.joinResponse(req.Version, m, false))
			return
		}
		g.updateMemberAndRebalance(m, req, respond)
	case stateStable:
		if m.id == g.leader || !sameProtocols(m.protocols, req.Protocols) {
			g.updateMemberAndRebalance(m, req, respond)
			return
		}
		// A follower rejoining unchanged keeps the generation.
		g.resetSession(m)
		respond(g.joinResponse(req.Version, m, false))
	default: // Empty: members never linger there
		fail(kerr.UnknownMemberID, req.MemberID)
	}
}

func sameProtocols(a, b []kmsg.JoinGroupRequestProtocol) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || string(a[i].Metadata) != string(b[i].Metadata) {
			return false
		}
	}
	return true
}

func (g *group) setWait(m *member, respond func(*kmsg.JoinGroupResponse), version int16) {
	if m.joinWait != nil {
		// The client gave up on its previous join and sent another; the
		// old request's connection is gone or will get this answer first.
		old := m.joinWait
		resp := (&kmsg.JoinGroupRequest{Version: version}).ResponseKind().(*kmsg.JoinGroupResponse)
		resp.ErrorCode = kerr.RebalanceInProgress.Code
		resp.MemberID = m.id
		resp.Generation = -1
		old(resp)
	}
	m.joinWait = respond
}

func (g *group) addMember(id string, req *kmsg.JoinGroupRequest, info JoinInfo, respond func(*kmsg.JoinGroupResponse)) {
	g.joinSeq++
	m := &member{
		id:               id,
		instanceID:       req.InstanceID,
		clientID:         info.ClientID,
		clientHost:       info.ClientHost,
		sessionTimeout:   time.Duration(req.SessionTimeoutMillis) * time.Millisecond,
		rebalanceTimeout: time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond,
		protocolType:     req.ProtocolType,
		protocols:        req.Protocols,
		joinSeq:          g.joinSeq,
		isNew:            true,
	}
	m.joinWait = respond
	if len(g.members) == 0 {
		g.protocolType = req.ProtocolType
	}
	g.members[id] = m
	if m.instanceID != nil {
		g.static[*m.instanceID] = id
	}
	if g.leader == "" {
		g.leader = id
	}
	g.newMemberAdded = true
	g.resetSession(m)
	g.prepareOrComplete("member " + id + " joined")
}

func (g *group) updateMemberAndRebalance(m *member, req *kmsg.JoinGroupRequest, respond func(*kmsg.JoinGroupResponse)) {
	m.protocols = req.Protocols
	m.sessionTimeout = time.Duration(req.SessionTimeoutMillis) * time.Millisecond
	m.rebalanceTimeout = time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond
	g.setWait(m, respond, req.Version)
	g.resetSession(m)
	g.prepareOrComplete("member " + m.id + " rejoined")
}

// replaceStatic gives a restarted static member (same instance id, new
// member id) the old member's place (KIP-345). In a Stable group nothing
// changes for the others: the new member gets the current generation back
// and its old assignment from SyncGroup, without a rebalance.
func (g *group) replaceStatic(oldID, newID string, req *kmsg.JoinGroupRequest, info JoinInfo, respond func(*kmsg.JoinGroupResponse)) {
	old := g.members[oldID]
	g.stopSession(old)
	// The zombie's waiting calls learn they are fenced.
	if old.joinWait != nil {
		resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
		resp.ErrorCode = kerr.FencedInstanceID.Code
		resp.MemberID = oldID
		resp.Generation = -1
		old.joinWait(resp)
		old.joinWait = nil
	}
	if old.syncWait != nil {
		resp := (&kmsg.SyncGroupRequest{Version: req.Version}).ResponseKind().(*kmsg.SyncGroupResponse)
		resp.ErrorCode = kerr.FencedInstanceID.Code
		old.syncWait(resp)
		old.syncWait = nil
	}
	delete(g.members, oldID)
	m := old
	m.id = newID
	m.clientID = info.ClientID
	m.clientHost = info.ClientHost
	m.sessionTimeout = time.Duration(req.SessionTimeoutMillis) * time.Millisecond
	m.rebalanceTimeout = time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond
	g.members[newID] = m
	g.static[*req.InstanceID] = newID
	if g.leader == oldID {
		g.leader = newID
	}
	protocolsChanged := !sameProtocols(m.protocols, req.Protocols)
	m.protocols = req.Protocols
	g.resetSession(m)
	switch g.state {
	case stateStable:
		if !protocolsChanged || g.selectProtocol() == g.protocol {
			if err := g.persistMetadata(); err != nil {
				// Undo is not worth it: the member simply rejoins.
				resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
				resp.ErrorCode = kafkaerr.Coordinator(err)
				resp.MemberID = newID
				resp.Generation = -1
				respond(resp)
				return
			}
			isLeader := newID == g.leader
			respond(g.joinResponse(req.Version, m, isLeader))
			return
		}
		g.setWait(m, respond, req.Version)
		g.prepareOrComplete("static member " + newID + " changed protocols")
	default:
		// Mid-rebalance the old id may already be in the leader's hands:
		// the group rebalances so the assignment names the new id.
		g.setWait(m, respond, req.Version)
		g.prepareOrComplete("static member " + newID + " replaced " + oldID)
	}
}

// joinResponse answers m with the current generation. The leader gets every
// member's metadata; with skip set (a static leader's restart, v9+) it is
// told not to assign again.
func (g *group) joinResponse(version int16, m *member, isLeaderRestart bool) *kmsg.JoinGroupResponse {
	resp := (&kmsg.JoinGroupRequest{Version: version}).ResponseKind().(*kmsg.JoinGroupResponse)
	resp.Generation = g.generation
	pt, p := g.protocolType, g.protocol
	resp.ProtocolType = &pt
	resp.Protocol = &p
	resp.LeaderID = g.leader
	resp.MemberID = m.id
	if m.id == g.leader {
		for _, o := range g.orderedMembers() {
			resp.Members = append(resp.Members, kmsg.JoinGroupResponseMember{
				MemberID:         o.id,
				InstanceID:       o.instanceID,
				ProtocolMetadata: o.metadataFor(g.protocol),
			})
		}
		resp.SkipAssignment = isLeaderRestart && version >= 9
	}
	return resp
}

// prepareOrComplete moves the group towards a rebalance: it starts one when
// none runs, or completes the running one when everyone is in.
func (g *group) prepareOrComplete(reason string) {
	switch g.state {
	case stateEmpty, stateStable, stateCompletingRebalance:
		g.prepareRebalance(reason)
	case statePreparingRebalance:
		g.tryCompleteJoin()
	}
}

func (g *group) prepareRebalance(reason string) {
	if g.state == stateCompletingRebalance {
		g.failSyncs(kerr.RebalanceInProgress)
	}
	wasEmpty := g.state == stateEmpty
	g.setState(statePreparingRebalance)
	g.c.log.Debug("group rebalancing", zap.String("group", g.id), zap.String("reason", reason))
	timeout := g.maxRebalanceTimeout()
	if wasEmpty {
		// Kafka's initial delayed join, also when the delay is 0: the
		// first generation of a new (or emptied) group completes from a
		// timer, never inside the JoinGroup that started it, and it does
		// not wait for member ids handed out with MEMBER_ID_REQUIRED
		// (those join the next generation).
		delay := min(g.initialRebalanceDelay(), timeout)
		g.initialDelay = true
		g.newMemberAdded = false
		g.delayRemaining = timeout - delay
		g.armRebalance(delay)
		return
	}
	g.initialDelay = false
	g.armRebalance(timeout)
	g.tryCompleteJoin()
}

// initialRebalanceDelay is group.initial.rebalance.delay.ms (a negative
// setting means 0).
func (g *group) initialRebalanceDelay() time.Duration {
	return max(g.c.cfg.InitialRebalanceDelay, 0)
}

func (g *group) maxRebalanceTimeout() time.Duration {
	var max time.Duration
	for _, m := range g.members {
		if m.rebalanceTimeout > max {
			max = m.rebalanceTimeout
		}
	}
	return max
}

func (g *group) armRebalance(d time.Duration) {
	if g.rebalance != nil {
		g.rebalance.Stop()
	}
	g.rebalanceSeq++
	seq := g.rebalanceSeq
	g.rebalance = g.c.clock.AfterFunc(d, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.rebalanceSeq != seq || g.state != statePreparingRebalance {
			return
		}
		g.rebalanceTimerFired()
	})
}

func (g *group) stopRebalanceTimer() {
	if g.rebalance != nil {
		g.rebalance.Stop()
		g.rebalance = nil
	}
	g.rebalanceSeq++
}

func (g *group) rebalanceTimerFired() {
	if g.initialDelay {
		// Kafka's InitialDelayedJoin: keep waiting while members keep
		// arriving, within the rebalance timeout.
		if g.newMemberAdded && g.delayRemaining > 0 {
			delay := min(g.initialRebalanceDelay(), g.delayRemaining)
			g.delayRemaining -= delay
			g.newMemberAdded = false
			g.armRebalance(delay)
			return
		}
		g.initialDelay = false
	}
	g.completeJoin()
}

// tryCompleteJoin finishes the join phase once every member and every
// pending member id has joined (not during the initial delay).
func (g *group) tryCompleteJoin() {
	if g.state != statePreparingRebalance || g.initialDelay {
		return
	}
	if len(g.pending) > 0 {
		return
	}
	for _, m := range g.members {
		if m.joinWait == nil {
			return
		}
	}
	g.completeJoin()
}

// completeJoin is Kafka's onCompleteJoin: members that did not rejoin are
// removed, the next generation starts, and every joiner is answered.
func (g *group) completeJoin() {
	g.stopRebalanceTimer()
	for _, m := range g.orderedMembers() {
		if m.joinWait == nil {
			g.c.log.Info("group member removed: did not rejoin in time", zap.String("group", g.id), zap.String("member", m.id))
			g.dropMember(m)
		}
	}
	if _, ok := g.members[g.leader]; !ok {
		g.leader = ""
		if ms := g.orderedMembers(); len(ms) > 0 {
			g.leader = ms[0].id
		}
	}
	g.generation++
	if len(g.members) == 0 {
		g.protocol = ""
		g.setState(stateEmpty)
		g.persistMetadata()
		return
	}
	g.protocol = g.selectProtocol()
	g.setState(stateCompletingRebalance)
	g.c.m.rebalances.Inc()
	for _, m := range g.orderedMembers() {
		respond := m.joinWait
		m.joinWait = nil
		m.isNew = false
		m.synced = false
		respond(g.joinResponse(0, m, false))
		g.resetSession(m)
	}
	g.armSyncTimeout()
}

// armSyncTimeout removes members that have not sent SyncGroup within the
// rebalance timeout of a generation (Kafka's pending-sync expiry, KIP-814
// era): a leader that heartbeats but never assigns would otherwise keep its
// followers waiting forever.
func (g *group) armSyncTimeout() {
	gen := g.generation
	g.c.clock.AfterFunc(g.maxRebalanceTimeout(), func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.state != stateCompletingRebalance || g.generation != gen {
			return
		}
		for _, m := range g.orderedMembers() {
			if _, still := g.members[m.id]; still && !m.synced {
				g.c.log.Info("group member removed: no SyncGroup within the rebalance timeout", zap.String("group", g.id), zap.String("member", m.id))
				g.removeMember(m, "sync timeout")
			}
		}
	})
}

// dropMember removes m from the maps (no rebalance logic).
func (g *group) dropMember(m *member) {
	g.stopSession(m)
	delete(g.members, m.id)
	if m.instanceID != nil && g.static[*m.instanceID] == m.id {
		delete(g.static, *m.instanceID)
	}
}

// removeMember is a member leaving (LeaveGroup or session expiry).
func (g *group) removeMember(m *member, reason string) {
	if m.joinWait != nil {
		resp := (&kmsg.JoinGroupRequest{}).ResponseKind().(*kmsg.JoinGroupResponse)
		resp.ErrorCode = kerr.UnknownMemberID.Code
		resp.Generation = -1
		resp.MemberID = m.id
		m.joinWait(resp)
		m.joinWait = nil
	}
	if m.syncWait != nil {
		resp := (&kmsg.SyncGroupRequest{}).ResponseKind().(*kmsg.SyncGroupResponse)
		resp.ErrorCode = kerr.UnknownMemberID.Code
		m.syncWait(resp)
		m.syncWait = nil
	}
	g.dropMember(m)
	if g.leader == m.id {
		g.leader = ""
		if ms := g.orderedMembers(); len(ms) > 0 {
			g.leader = ms[0].id
		}
	}
	switch g.state {
	case stateStable, stateCompletingRebalance:
		g.prepareRebalance(reason)
	case statePreparingRebalance:
		g.tryCompleteJoin()
	}
}

// failSyncs answers every waiting SyncGroup with err.
func (g *group) failSyncs(err *kerr.Error) {
	for _, m := range g.members {
		if m.syncWait != nil {
			resp := (&kmsg.SyncGroupRequest{}).ResponseKind().(*kmsg.SyncGroupResponse)
			resp.ErrorCode = err.Code
			m.syncWait(resp)
			m.syncWait = nil
		}
	}
}

// shutdown answers every waiter with COORDINATOR_NOT_AVAILABLE and stops timers.
func (g *group) shutdown() {
	g.stopRebalanceTimer()
	g.consumerShutdown()
	for _, m := range g.members {
		g.stopSession(m)
		if m.joinWait != nil {
			resp := (&kmsg.JoinGroupRequest{}).ResponseKind().(*kmsg.JoinGroupResponse)
			resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
			resp.Generation = -1
			m.joinWait(resp)
			m.joinWait = nil
		}
		if m.syncWait != nil {
			resp := (&kmsg.SyncGroupRequest{}).ResponseKind().(*kmsg.SyncGroupResponse)
			resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
			m.syncWait(resp)
			m.syncWait = nil
		}
	}
}

// dropIfUnused forgets a group that a refused request created: nothing
// joined, nothing committed, no generation ever ran.
func (g *group) dropIfUnused() {
	if g.state == stateEmpty && g.generation == 0 && len(g.members) == 0 && len(g.pending) == 0 && len(g.offsets) == 0 && g.inflight == 0 {
		g.setState(stateDead)
		g.c.forget(g)
	}
}
