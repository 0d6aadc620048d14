package group

// The KIP-848 consumer group protocol (ConsumerGroupHeartbeat, key 68): the
// coordinator owns the assignment. Each member heartbeats with its member
// epoch, subscription and owned partitions; the coordinator keeps a group
// epoch (bumped whenever membership, a subscription or the subscribed
// topics' partition counts change), computes a target assignment for it
// with a server-side assignor (consumer_assign.go), and moves each member
// towards its target one heartbeat at a time, as Kafka's
// CurrentAssignmentBuilder does:
//
//   - partitions the member owns that its target no longer has are revoked
//     first: the member keeps its epoch and gets only (owned ∩ target),
//     with the rest pending revocation (state UNREVOKED_PARTITIONS), until
//     a heartbeat reports it no longer owns them; it is fenced if that takes
//     longer than its rebalance timeout;
//   - partitions of its target still owned (assigned or pending
//     revocation) by another member are not given yet: the member moves to
//     the target epoch with the free ones (UNRELEASED_PARTITIONS) and gets
//     the others once released, at a later heartbeat;
//   - otherwise it gets its whole target at the target epoch (STABLE).
//
// So a partition is never owned by two members at once: ownership is
// recorded per partition (consumerGroup.owner) and a partition is handed
// out only when free.
//
// Member epochs are checked as Kafka checks them: a heartbeat with an epoch
// above the member's, or below it unless it is the previous epoch with
// owned partitions within the current assignment (a lost response), gets
// FENCED_MEMBER_EPOCH; an unknown member UNKNOWN_MEMBER_ID. Epoch 0 joins
// (or rejoins: the full assignment is sent again), -1 leaves, -2 is a static
// member's temporary leave: it keeps its partitions until its session
// times out, and a member with the same instance id that joins before then
// takes its place and its assignment without a rebalance (an instance id
// still held by a live member gets UNRELEASED_INSTANCE_ID). A member that
// sends no heartbeat within the session timeout
// (group.consumer.session.timeout.ms, or the group's
// consumer.session.timeout.ms) is removed.
//
// Regular expression subscriptions (SubscribedTopicRegex, v1) are resolved
// here against every topic of the cluster (internal topics excluded), with
// Go's RE2 syntax, which is Kafka's RE2/J syntax; a regex must match the
// whole topic name, as Java's Matcher.matches. Resolutions are refreshed at
// most every regexRefresh, and on every heartbeat of a member whose regex
// changed.
//
// A consumer group lives in the same group map as classic groups (group.cg
// set); the classic code sees it as a group of protocol type "consumer"
// with no classic members, Empty while it has no members and Stable
// otherwise. An empty classic group becomes a consumer group when a
// consumer-protocol member joins, an empty consumer group a classic group
// when a classic member joins (offsets stay); groups with members move
// between the protocols online as group.consumer.migration.policy allows
// (consumer_migrate.go), with classic members inside consumer groups.
//
// The whole group (epochs, members, their epochs and assignments, the
// target assignment and the subscribed topics' metadata) is one record in
// the group's __consumer_offsets namespace (consumer_store.go), written on
// every change, so a restart, a slave or a promoted slave keeps member
// epochs and assignments as Kafka's coordinator does; sessions restart.

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/gregor-broker/gregor/broker/internal/kafkaerr"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
)

// The member epochs with a meaning of their own.
const (
	leaveEpoch       = -1 // a member leaving
	leaveStaticEpoch = -2 // a static member leaving for now
)

// regexRefresh is how long a resolved regular expression is reused.
const regexRefresh = time.Second

// memberState is a member's reconciliation state (Kafka's MemberState).
type memberState int8

const (
	msStable memberState = iota
	msUnrevoked
	msUnreleased
)

func (s memberState) String() string {
	switch s {
	case msUnrevoked:
		return "UNREVOKED_PARTITIONS"
	case msUnreleased:
		return "UNRELEASED_PARTITIONS"
	}
	return "STABLE"
}

// assignment is a set of partitions by topic id, each list sorted.
type assignment map[[16]byte][]int32

func (a assignment) clone() assignment {
	out := make(assignment, len(a))
	for t, ps := range a {
		out[t] = append([]int32(nil), ps...)
	}
	return out
}

func (a assignment) has(t [16]byte, p int32) bool {
	ps := a[t]
	i := sort.Search(len(ps), func(i int) bool { return ps[i] >= p })
	return i < len(ps) && ps[i] == p
}

func (a assignment) add(t [16]byte, p int32) {
	if a.has(t, p) {
		return
	}
	ps := append(a[t], p)
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	a[t] = ps
}

func (a assignment) count() int {
	n := 0
	for _, ps := range a {
		n += len(ps)
	}
	return n
}

func (a assignment) equal(b assignment) bool {
	if a.count() != b.count() {
		return false
	}
	for t, ps := range a {
		for _, p := range ps {
			if !b.has(t, p) {
				return false
			}
		}
	}
	return true
}

// topicMeta is a subscribed topic as the group last saw it.
type topicMeta struct {
	Name       string
	Partitions int32
}

// cmember is one member of a consumer group.
type cmember struct {
	id               string
	instanceID       *string
	rackID           *string
	clientID         string
	clientHost       string
	rebalanceTimeout time.Duration
	topics           []string // subscribed topic names, sorted
	regex            *string  // subscribed regular expression
	assignor         string   // the server assignor it asked for, "" for none

	epoch, prevEpoch int32
	state            memberState
	assigned         assignment
	revoking         assignment
	// assignedAt is the member epoch at which each owned partition was
	// given to it (KIP-1251's assignment epoch): a commit with an older
	// member epoch is accepted for a partition owned since then.
	assignedAt map[[16]byte]map[int32]int32

	hbSeq     uint64 // bumps on every heartbeat; a stale session expiry is ignored
	hb        timer
	revokeSeq uint64
	revokeT   timer

	// classic is set for a member speaking the classic protocol
	// (JoinGroup, SyncGroup, Heartbeat) inside the consumer group
	// (consumer_migrate.go).
	classic *classicMeta
}

// consumerGroup is the KIP-848 part of a group; guarded by the group's mu.
type consumerGroup struct {
	epoch       int32 // the group epoch
	assignEpoch int32 // the target assignment's epoch
	members     map[string]*cmember
	static      map[string]string // instance id → member id
	target      map[string]assignment
	topics      map[[16]byte]topicMeta // the subscribed topics at the last epoch bump
	owner       map[[16]byte]map[int32]string

	regexes map[string]*resolvedRegex

	// subNames is every topic name the members subscribe to, regexes
	// resolved; recomputed when subDirty (a member came, went or changed
	// its subscription, or a regex resolved differently), so a heartbeat
	// does not visit every member.
	subNames []string
	subDirty bool
}

type resolvedRegex struct {
	names []string
	at    time.Time
}

func newConsumerGroup() *consumerGroup {
	return &consumerGroup{
		members:  map[string]*cmember{},
		static:   map[string]string{},
		target:   map[string]assignment{},
		topics:   map[[16]byte]topicMeta{},
		owner:    map[[16]byte]map[int32]string{},
		regexes:  map[string]*resolvedRegex{},
		subDirty: true,
	}
}

// state is the group state Kafka reports: Empty, Assigning, Reconciling,
// Stable.
func (cg *consumerGroup) state() string {
	if len(cg.members) == 0 {
		return "Empty"
	}
	if cg.epoch > cg.assignEpoch {
		return "Assigning"
	}
	for _, m := range cg.members {
		if m.epoch != cg.assignEpoch || m.state != msStable {
			return "Reconciling"
		}
	}
	return "Stable"
}

// TopicCatalog is the cluster's topic table as consumer groups need it.
type TopicCatalog struct {
	// Lookup finds a topic by name.
	Lookup Topics
	// Names lists every topic of the cluster (regex subscriptions).
	Names func() []string
	// Internal reports the topics a regex never matches.
	Internal func(name string) bool
}

func (cat TopicCatalog) lookup(name string) ([16]byte, int32, bool) {
	if cat.Lookup == nil {
		return [16]byte{}, 0, false
	}
	return cat.Lookup(name)
}

// hbError is a heartbeat's failure: a Kafka error and its message.
type hbError struct {
	err *kerr.Error
	msg string
}

func hbErr(err *kerr.Error, format string, args ...any) *hbError {
	return &hbError{err, fmt.Sprintf(format, args...)}
}

// ValidateConsumerHeartbeat is Kafka's check of a ConsumerGroupHeartbeat
// before it reaches a group: INVALID_REQUEST with Kafka's message, or
// UNSUPPORTED_ASSIGNOR. It returns code 0 for a valid request.
func (c *Coordinator) ValidateConsumerHeartbeat(req *kmsg.ConsumerGroupHeartbeatRequest) (int16, string) {
	e := c.validateHeartbeat(req)
	if e == nil {
		return 0, ""
	}
	return e.err.Code, e.msg
}

func (c *Coordinator) validateHeartbeat(req *kmsg.ConsumerGroupHeartbeatRequest) *hbError {
	empty := func(s *string) bool { return s != nil && *s == "" }
	if (req.Version >= 1 || req.MemberEpoch > 0 || req.MemberEpoch == leaveEpoch) && req.MemberID == "" {
		return hbErr(kerr.InvalidRequest, "MemberId can't be empty.")
	}
	switch {
	case req.Group == "":
		return hbErr(kerr.InvalidRequest, "GroupId can't be empty.")
	case empty(req.InstanceID):
		return hbErr(kerr.InvalidRequest, "InstanceId can't be empty.")
	case empty(req.RackID):
		return hbErr(kerr.InvalidRequest, "RackId can't be empty.")
	}
	switch {
	case req.MemberEpoch == 0:
		if req.RebalanceTimeoutMillis == -1 {
			return hbErr(kerr.InvalidRequest, "RebalanceTimeoutMs must be provided in first request.")
		}
		if req.Topics == nil || len(req.Topics) != 0 {
			return hbErr(kerr.InvalidRequest, "TopicPartitions must be empty when (re-)joining.")
		}
		if req.SubscribedTopicNames == nil && req.SubscribedTopicRegex == nil {
			return hbErr(kerr.InvalidRequest, "Either SubscribedTopicNames or SubscribedTopicRegex must be non-null when (re-)joining.")
		}
	case req.MemberEpoch == leaveStaticEpoch:
		if req.InstanceID == nil {
			return hbErr(kerr.InvalidRequest, "InstanceId can't be null.")
		}
	case req.MemberEpoch < leaveStaticEpoch:
		return hbErr(kerr.InvalidRequest, "MemberEpoch is invalid.")
	}
	if req.ServerAssignor != nil && !c.knownAssignor(*req.ServerAssignor) {
		return hbErr(kerr.UnsupportedAssignor, "ServerAssignor %s is not supported. Supported assignors: %s.",
			*req.ServerAssignor, strings.Join(c.cfg.ConsumerAssignors, ", "))
	}
	return nil
}

// ConsumerGroupHeartbeat answers a ConsumerGroupHeartbeat. info is the
// caller's client id and host; cat the cluster's topics.
func (c *Coordinator) ConsumerGroupHeartbeat(req *kmsg.ConsumerGroupHeartbeatRequest, info JoinInfo, cat TopicCatalog) *kmsg.ConsumerGroupHeartbeatResponse {
	resp := req.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
	fail := func(e *hbError) *kmsg.ConsumerGroupHeartbeatResponse {
		resp.ErrorCode = e.err.Code
		if e.msg != "" {
			m := e.msg
			resp.ErrorMessage = &m
		}
		return resp
	}
	if e := c.validateHeartbeat(req); e != nil {
		return fail(e)
	}
	leaving := req.MemberEpoch == leaveEpoch || req.MemberEpoch == leaveStaticEpoch
	var e *hbError
	found := c.withGroup(req.Group, !leaving, func(g *group) {
		if leaving {
			e = g.consumerLeave(req, resp)
			return
		}
		e = g.consumerHeartbeat(req, info, cat, resp)
		g.dropIfUnused()
	})
	if !found {
		if c.isClosed() {
			return fail(hbErr(kerr.CoordinatorNotAvailable, ""))
		}
		return fail(hbErr(kerr.GroupIDNotFound, "Consumer group %s not found.", req.Group))
	}
	if e != nil {
		return fail(e)
	}
	return resp
}

// asConsumerGroup returns g's consumer group, turning an empty classic
// group into one (Kafka deletes the empty classic group and creates a
// consumer group; committed offsets stay), and a classic group with
// members into one when the migration policy allows it
// (consumer_migrate.go).
func (g *group) asConsumerGroup(cat TopicCatalog) (*consumerGroup, *hbError) {
	if g.cg != nil {
		return g.cg, nil
	}
	if len(g.members) > 0 {
		if e := g.upgradeToConsumer(cat); e != nil {
			return nil, e
		}
		return g.cg, nil
	}
	if len(g.pending) > 0 || g.state != stateEmpty {
		return nil, hbErr(kerr.GroupIDNotFound, "Group %s is not a consumer group.", g.id)
	}
	if g.generation > 0 || g.protocolType != "" {
		// The classic group's metadata goes; its offsets stay.
		if err := g.c.persist(g.id, groupTombstone(g.id)); err != nil {
			return nil, hbErr(kerr.ErrorForCode(kafkaerr.Coordinator(err)).(*kerr.Error), "")
		}
		g.c.log.Info("empty classic group converted to a consumer group", zap.String("group", g.id))
	}
	g.stopRebalanceTimer()
	g.cg = newConsumerGroup()
	g.protocolType = "consumer"
	g.protocol, g.leader, g.generation = "", "", 0
	return g.cg, nil
}

func (g *group) consumerHeartbeat(req *kmsg.ConsumerGroupHeartbeatRequest, info JoinInfo, cat TopicCatalog, resp *kmsg.ConsumerGroupHeartbeatResponse) *hbError {
	cg, e := g.asConsumerGroup(cat)
	if e != nil {
		return e
	}
	now := g.c.clock.Now()
	// What this heartbeat may change is the group's epochs (a new epoch
	// also brings new topics and a new target) and this member: those are
	// compared afterwards, not the whole group.
	before := g.heartbeatMark(req.MemberID)
	bump := false
	var m *cmember
	switch {
	case req.MemberEpoch == 0 && req.InstanceID != nil:
		if sid, ok := cg.static[*req.InstanceID]; ok {
			old := cg.members[sid]
			if old.epoch != leaveStaticEpoch {
				return hbErr(kerr.UnreleasedInstanceID, "Static member %s with instance id %s cannot join the group because the instance id is owned by %s member.", req.MemberID, *req.InstanceID, sid)
			}
			m = g.replaceStatic848(old, req.MemberID)
			break
		}
		fallthrough
	case req.MemberEpoch == 0:
		id := req.MemberID
		if id == "" { // v0: the coordinator names the member
			id = uuid.NewString()
		}
		m = cg.members[id]
		if m == nil {
			if len(cg.members) >= g.c.cfg.ConsumerMaxSize {
				return hbErr(kerr.GroupMaxSizeReached, "The consumer group has reached its maximum capacity of %d members.", g.c.cfg.ConsumerMaxSize)
			}
			m = &cmember{id: id, instanceID: req.InstanceID, assigned: assignment{}, revoking: assignment{}}
			cg.members[id] = m
			if m.instanceID != nil {
				cg.static[*m.instanceID] = id
			}
			cg.subDirty = true
			bump = true
			g.c.log.Debug("consumer group member joined", zap.String("group", g.id), zap.String("member", id))
		}
	default:
		m = cg.members[req.MemberID]
		if m == nil {
			return hbErr(kerr.UnknownMemberID, "Member %s is not a member of group %s.", req.MemberID, g.id)
		}
		if req.InstanceID != nil {
			sid, ok := cg.static[*req.InstanceID]
			if !ok {
				return hbErr(kerr.UnknownMemberID, "Instance id %s is unknown.", *req.InstanceID)
			}
			if sid != req.MemberID {
				return hbErr(kerr.FencedInstanceID, "Static member %s with instance id %s was fenced by member %s.", req.MemberID, *req.InstanceID, sid)
			}
		}
		if req.MemberEpoch > m.epoch {
			return hbErr(kerr.FencedMemberEpoch, "The consumer group member has a greater member epoch (%d) than the one known by the group coordinator (%d). The member must abandon all its partitions and rejoin.", req.MemberEpoch, m.epoch)
		}
		if req.MemberEpoch < m.epoch && (req.MemberEpoch != m.prevEpoch || !ownedWithin(req.Topics, m.assigned)) {
			return hbErr(kerr.FencedMemberEpoch, "The consumer group member has a smaller member epoch (%d) than the one known by the group coordinator (%d). The member must abandon all its partitions and rejoin.", req.MemberEpoch, m.epoch)
		}
	}

	// The subscription and the member's details.
	m.clientID, m.clientHost = info.ClientID, info.ClientHost
	if req.RebalanceTimeoutMillis >= 0 {
		m.rebalanceTimeout = time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond
	}
	if req.RackID != nil {
		m.rackID = req.RackID
	}
	if req.SubscribedTopicNames != nil {
		names := append([]string(nil), req.SubscribedTopicNames...)
		sort.Strings(names)
		names = dedup(names)
		if !equalStrings(names, m.topics) {
			m.topics = names
			cg.subDirty = true
			bump = true
		}
	}
	if req.SubscribedTopicRegex != nil {
		re := req.SubscribedTopicRegex
		if *re == "" {
			re = nil
		} else if _, err := compileRegex(*re); err != nil {
			if !before.was {
				g.dropNewMember(m)
			}
			return hbErr(kerr.InvalidRegularExpression, "SubscribedTopicRegex `%s` is not a valid regular expression: %s.", *re, err)
		}
		if !equalStrPtr(re, m.regex) {
			m.regex = re
			cg.subDirty = true
			bump = true
			if re != nil {
				delete(cg.regexes, *re) // resolve it now
			}
		}
	}
	if req.ServerAssignor != nil && *req.ServerAssignor != m.assignor {
		m.assignor = *req.ServerAssignor
		bump = true
	}

	if g.refreshTopics(cat, now) {
		bump = true
	}
	if bump {
		cg.epoch++
	}
	g.maybeAssign()
	g.reconcile(m, req.Topics)
	g.syncClassicState()
	g.resetConsumerSession(m)

	if before.changed(g, m) {
		if err := g.persistConsumer(); err != nil {
			return hbErr(kerr.ErrorForCode(kafkaerr.Coordinator(err)).(*kerr.Error), "")
		}
	}

	id := m.id
	resp.MemberID = &id
	resp.MemberEpoch = m.epoch
	resp.HeartbeatIntervalMillis = int32(g.c.consumerHeartbeatInterval(g.id) / time.Millisecond)
	full := req.RebalanceTimeoutMillis != -1 && (req.SubscribedTopicNames != nil || req.SubscribedTopicRegex != nil) && req.Topics != nil
	if req.MemberEpoch == 0 || full || !before.was || before.id != m.id || !before.member.assignedSet.equal(m.assigned) {
		a := kmsg.NewConsumerGroupHeartbeatResponseAssignment()
		for _, t := range sortedTopicIDs(m.assigned) {
			rt := kmsg.NewConsumerGroupHeartbeatResponseAssignmentTopic()
			rt.TopicID = t
			rt.Partitions = append([]int32{}, m.assigned[t]...)
			a.Topics = append(a.Topics, rt)
		}
		resp.Assignment = &a
	}
	return nil
}

// dropNewMember undoes the creation of a member whose join failed.
func (g *group) dropNewMember(m *cmember) {
	delete(g.cg.members, m.id)
	g.cg.subDirty = true
	if m.instanceID != nil && g.cg.static[*m.instanceID] == m.id {
		delete(g.cg.static, *m.instanceID)
	}
}

// replaceStatic848 gives a static member that left with epoch -2 a new
// member id: it keeps the assignment and the target, with no new group
// epoch.
func (g *group) replaceStatic848(old *cmember, newID string) *cmember {
	cg := g.cg
	g.stopConsumerTimers(old)
	delete(cg.members, old.id)
	m := old
	oldID := old.id
	m.id = newID
	m.epoch, m.prevEpoch, m.state = 0, 0, msStable
	cg.members[newID] = m
	cg.static[*m.instanceID] = newID
	if t, ok := cg.target[oldID]; ok {
		delete(cg.target, oldID)
		cg.target[newID] = t
	}
	g.setOwners(m, oldID, assignment{}, assignment{})
	g.setOwners(m, "", m.assigned, m.revoking)
	g.c.log.Debug("static member replaced", zap.String("group", g.id), zap.String("old", oldID), zap.String("new", newID))
	return m
}

// consumerLeave is a heartbeat with epoch -1 (leave) or -2 (a static
// member leaving for now).
func (g *group) consumerLeave(req *kmsg.ConsumerGroupHeartbeatRequest, resp *kmsg.ConsumerGroupHeartbeatResponse) *hbError {
	cg := g.cg
	if cg == nil {
		return hbErr(kerr.GroupIDNotFound, "Group %s is not a consumer group.", g.id)
	}
	var m *cmember
	if req.InstanceID != nil {
		sid, ok := cg.static[*req.InstanceID]
		if !ok {
			return hbErr(kerr.UnknownMemberID, "Instance id %s is unknown.", *req.InstanceID)
		}
		if sid != req.MemberID {
			return hbErr(kerr.FencedInstanceID, "Static member %s with instance id %s was fenced by member %s.", req.MemberID, *req.InstanceID, sid)
		}
		m = cg.members[sid]
	} else {
		m = cg.members[req.MemberID]
		if m == nil {
			return hbErr(kerr.UnknownMemberID, "Member %s is not a member of group %s.", req.MemberID, g.id)
		}
	}
	resp.MemberID = &m.id
	resp.MemberEpoch = req.MemberEpoch
	if req.MemberEpoch == leaveStaticEpoch {
		// It keeps its partitions (no rebalance) until it comes back or
		// its session ends.
		m.epoch, m.state = leaveStaticEpoch, msStable
		g.stopRevokeTimer(m)
		g.resetConsumerSession(m)
		if err := g.persistConsumer(); err != nil {
			return hbErr(kerr.ErrorForCode(kafkaerr.Coordinator(err)).(*kerr.Error), "")
		}
		return nil
	}
	if err := g.fenceMember(m, "member left"); err != nil {
		return hbErr(kerr.ErrorForCode(kafkaerr.Coordinator(err)).(*kerr.Error), "")
	}
	return nil
}

// fenceMember removes m from the group (left, session or rebalance
// timeout) and starts a new group epoch, or turns the group back into a
// classic group when m was the last member speaking the consumer protocol
// (consumer_migrate.go).
func (g *group) fenceMember(m *cmember, reason string) error {
	return g.removeConsumerMember(m, reason, true)
}

// removeConsumerMember is fenceMember; a downgrade is considered only when
// mayDowngrade (a classic LeaveGroup does not, as in Kafka).
func (g *group) removeConsumerMember(m *cmember, reason string, mayDowngrade bool) error {
	cg := g.cg
	down := mayDowngrade && g.downgradeAfter(m)
	g.c.log.Info("consumer group member removed", zap.String("group", g.id), zap.String("member", m.id), zap.String("reason", reason))
	g.stopConsumerTimers(m)
	g.stopClassicDeadline(m)
	g.setOwners(m, m.id, assignment{}, assignment{})
	delete(cg.members, m.id)
	delete(cg.target, m.id)
	cg.subDirty = true
	if m.instanceID != nil && cg.static[*m.instanceID] == m.id {
		delete(cg.static, *m.instanceID)
	}
	if down {
		return g.downgradeToClassic()
	}
	cg.epoch++
	g.maybeAssign()
	g.syncClassicState()
	return g.persistConsumer()
}

// syncClassicState keeps the classic view of a consumer group: Empty
// without members, Stable with.
func (g *group) syncClassicState() {
	if len(g.cg.members) == 0 {
		if g.state != stateEmpty {
			g.setState(stateEmpty)
		}
	} else if g.state != stateStable {
		g.setState(stateStable)
	}
	g.generation = g.cg.epoch
}

// ---- sessions and the revocation deadline ----

// consumerSessionTimeout is the group's consumer.session.timeout.ms, else
// group.consumer.session.timeout.ms.
func (c *Coordinator) consumerSessionTimeout(group string) time.Duration {
	if f := c.cfg.ConsumerGroupConfig; f != nil {
		if s, _ := f(group); s > 0 {
			return s
		}
	}
	return c.cfg.ConsumerSessionTimeout
}

// consumerHeartbeatInterval is the group's consumer.heartbeat.interval.ms,
// else group.consumer.heartbeat.interval.ms.
func (c *Coordinator) consumerHeartbeatInterval(group string) time.Duration {
	if f := c.cfg.ConsumerGroupConfig; f != nil {
		if _, h := f(group); h > 0 {
			return h
		}
	}
	return c.cfg.ConsumerHeartbeatInterval
}

func (g *group) resetConsumerSession(m *cmember) {
	if m.hb != nil {
		m.hb.Stop()
	}
	m.hbSeq++
	seq, id := m.hbSeq, m.id
	d := g.c.consumerSessionTimeout(g.id)
	if m.classic != nil {
		d = m.classic.sessionTimeout
	}
	m.hb = g.c.clock.AfterFunc(d, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.state == stateDead || g.cg == nil {
			return
		}
		cur := g.cg.members[id]
		if cur != m || m.hbSeq != seq {
			return
		}
		g.fenceMember(m, "session timeout")
	})
}

func (g *group) stopRevokeTimer(m *cmember) {
	if m.revokeT != nil {
		m.revokeT.Stop()
		m.revokeT = nil
	}
	m.revokeSeq++
}

func (g *group) stopConsumerTimers(m *cmember) {
	if m.hb != nil {
		m.hb.Stop()
		m.hb = nil
	}
	m.hbSeq++
	g.stopRevokeTimer(m)
}

// armRevokeTimer fences m if it still has not revoked its partitions once
// its rebalance timeout has passed (Kafka's rebalance timeout of a
// member in UNREVOKED_PARTITIONS).
func (g *group) armRevokeTimer(m *cmember) {
	g.stopRevokeTimer(m)
	seq, id, epoch := m.revokeSeq, m.id, m.epoch
	d := m.rebalanceTimeout
	if d <= 0 {
		d = g.c.consumerSessionTimeout(g.id)
	}
	m.revokeT = g.c.clock.AfterFunc(d, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.state == stateDead || g.cg == nil || g.cg.members[id] != m || m.revokeSeq != seq {
			return
		}
		if m.state == msUnrevoked && m.epoch == epoch {
			g.fenceMember(m, "partitions not revoked within the rebalance timeout")
		}
	})
}

// consumerShutdown stops every consumer member's timers.
func (g *group) consumerShutdown() {
	if g.cg == nil {
		return
	}
	for _, m := range g.cg.members {
		g.stopConsumerTimers(m)
		g.stopClassicDeadline(m)
	}
}

// ---- subscriptions ----

func compileRegex(s string) (*regexp.Regexp, error) {
	return regexp.Compile(`^(?:` + s + `)$`)
}

// resolveRegex lists the topics re matches, reusing a resolution younger
// than regexRefresh.
func (g *group) resolveRegex(re string, cat TopicCatalog, now time.Time) []string {
	r := g.cg.regexes[re]
	if r != nil && now.Sub(r.at) < regexRefresh {
		return r.names
	}
	rx, err := compileRegex(re)
	var names []string
	if err == nil && cat.Names != nil {
		for _, n := range cat.Names() {
			if cat.Internal != nil && cat.Internal(n) {
				continue
			}
			if rx.MatchString(n) {
				names = append(names, n)
			}
		}
	}
	sort.Strings(names)
	if r == nil || !equalStrings(r.names, names) {
		g.cg.subDirty = true
	}
	g.cg.regexes[re] = &resolvedRegex{names: names, at: now}
	return names
}

// subscribedNames is every topic name a member subscribes to, its regex
// resolved.
func (g *group) subscribedNames(m *cmember, cat TopicCatalog, now time.Time) []string {
	names := append([]string(nil), m.topics...)
	if m.regex != nil {
		names = append(names, g.resolveRegex(*m.regex, cat, now)...)
	}
	sort.Strings(names)
	return dedup(names)
}

// memberTopicNames is a member's subscription from the last resolution,
// without looking anything up (the assignor's view).
func (g *group) memberTopicNames(m *cmember) map[string]bool {
	out := map[string]bool{}
	for _, t := range m.topics {
		out[t] = true
	}
	if m.regex != nil {
		if r := g.cg.regexes[*m.regex]; r != nil {
			for _, t := range r.names {
				out[t] = true
			}
		}
	}
	return out
}

// allSubscribedNames is every topic name the members subscribe to, their
// regexes resolved (again, when older than regexRefresh).
func (g *group) allSubscribedNames(cat TopicCatalog, now time.Time) []string {
	cg := g.cg
	for re := range cg.regexes {
		g.resolveRegex(re, cat, now) // marks subDirty when it resolves differently
	}
	if !cg.subDirty {
		return cg.subNames
	}
	seen := map[string]bool{}
	var names []string
	for _, m := range cg.members {
		for _, n := range g.subscribedNames(m, cat, now) {
			if !seen[n] {
				seen[n] = true
				names = append(names, n)
			}
		}
	}
	sort.Strings(names)
	cg.subNames, cg.subDirty = names, false
	// Regexes no member subscribes to any more are forgotten.
	for re := range cg.regexes {
		used := false
		for _, m := range cg.members {
			if m.regex != nil && *m.regex == re {
				used = true
				break
			}
		}
		if !used {
			delete(cg.regexes, re)
		}
	}
	return names
}

// refreshTopics looks the members' subscribed topics up again and reports
// whether they changed (created, deleted, more partitions): a new group
// epoch then.
func (g *group) refreshTopics(cat TopicCatalog, now time.Time) bool {
	cg := g.cg
	cur := map[[16]byte]topicMeta{}
	for _, n := range g.allSubscribedNames(cat, now) {
		if id, parts, ok := cat.lookup(n); ok && parts > 0 {
			cur[id] = topicMeta{Name: n, Partitions: parts}
		}
	}
	if len(cur) == len(cg.topics) {
		same := true
		for id, t := range cur {
			if cg.topics[id] != t {
				same = false
				break
			}
		}
		if same {
			return false
		}
	}
	cg.topics = cur
	return true
}

// maybeAssign computes the target assignment of a new group epoch.
func (g *group) maybeAssign() {
	cg := g.cg
	if cg.epoch <= cg.assignEpoch {
		return
	}
	subs := map[string]map[[16]byte]bool{}
	byName := map[string][16]byte{}
	for id, t := range cg.topics {
		byName[t.Name] = id
	}
	for id, m := range cg.members {
		s := map[[16]byte]bool{}
		for n := range g.memberTopicNames(m) {
			if tid, ok := byName[n]; ok {
				s[tid] = true
			}
		}
		subs[id] = s
	}
	cg.target = assign(g.c.preferredAssignor(cg), subs, cg.topics, cg.target)
	cg.assignEpoch = cg.epoch
	g.c.m.rebalances.Inc()
}

// ---- reconciliation (Kafka's CurrentAssignmentBuilder) ----

// ownedWithin reports whether the partitions a heartbeat says it owns are
// all in a (false when it sent none).
func ownedWithin(owned []kmsg.ConsumerGroupHeartbeatRequestTopic, a assignment) bool {
	if owned == nil {
		return false
	}
	for _, t := range owned {
		for _, p := range t.Partitions {
			if !a.has(t.TopicID, p) {
				return false
			}
		}
	}
	return true
}

// stillOwnsRevoked reports whether a heartbeat leaves the member owning
// some partition pending revocation (it does when it did not say).
func stillOwnsRevoked(owned []kmsg.ConsumerGroupHeartbeatRequestTopic, revoking assignment) bool {
	if owned == nil {
		return true
	}
	for _, t := range owned {
		for _, p := range t.Partitions {
			if revoking.has(t.TopicID, p) {
				return true
			}
		}
	}
	return false
}

// reconcile moves m towards its target assignment.
func (g *group) reconcile(m *cmember, owned []kmsg.ConsumerGroupHeartbeatRequestTopic) {
	cg := g.cg
	switch m.state {
	case msStable:
		if m.epoch == cg.assignEpoch {
			return
		}
	case msUnrevoked:
		if stillOwnsRevoked(owned, m.revoking) {
			return
		}
	case msUnreleased:
	}
	g.computeNext(m)
}

func (g *group) computeNext(m *cmember) {
	cg := g.cg
	target := cg.target[m.id]
	keep, revoke := assignment{}, assignment{}
	unreleased := false
	for t, ps := range m.assigned {
		for _, p := range ps {
			if target.has(t, p) {
				keep.add(t, p)
			} else {
				revoke.add(t, p)
			}
		}
	}
	oldID := m.id
	if revoke.count() > 0 {
		g.setOwners(m, oldID, keep, revoke)
		m.assigned, m.revoking = keep, revoke
		m.state = msUnrevoked
		g.armRevokeTimer(m)
		return
	}
	newEpoch := cg.assignEpoch
	next := keep.clone()
	for t, ps := range target {
		for _, p := range ps {
			if keep.has(t, p) {
				continue
			}
			if o, ok := cg.owner[t][p]; ok && o != m.id {
				unreleased = true
				continue
			}
			next.add(t, p)
		}
	}
	g.stopRevokeTimer(m)
	g.setOwners(m, oldID, next, assignment{})
	if m.epoch != cg.assignEpoch {
		m.prevEpoch = m.epoch
		m.epoch = cg.assignEpoch
	}
	// Assignment epochs: kept partitions keep theirs, new ones get the
	// epoch they are given at.
	at := map[[16]byte]map[int32]int32{}
	for t, ps := range next {
		at[t] = map[int32]int32{}
		for _, p := range ps {
			e, ok := m.assignedAt[t][p]
			if !ok {
				e = newEpoch
			}
			at[t][p] = e
		}
	}
	m.assignedAt = at
	m.assigned, m.revoking = next, assignment{}
	if unreleased {
		m.state = msUnreleased
	} else {
		m.state = msStable
	}
}

// setOwners records that m (whose partitions were recorded under oldID)
// now owns assigned and revoking: its previous partitions are released.
func (g *group) setOwners(m *cmember, oldID string, assigned, revoking assignment) {
	cg := g.cg
	if oldID != "" {
		for _, a := range []assignment{m.assigned, m.revoking} {
			for t, ps := range a {
				for _, p := range ps {
					if cg.owner[t][p] == oldID {
						delete(cg.owner[t], p)
					}
				}
				if len(cg.owner[t]) == 0 {
					delete(cg.owner, t)
				}
			}
		}
	}
	for _, a := range []assignment{assigned, revoking} {
		for t, ps := range a {
			if cg.owner[t] == nil {
				cg.owner[t] = map[int32]string{}
			}
			for _, p := range ps {
				cg.owner[t][p] = m.id
			}
		}
	}
}

// ---- small helpers ----

func dedup(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func equalStrPtr(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func sortedTopicIDs(a assignment) [][16]byte {
	ids := make([][16]byte, 0, len(a))
	for t := range a {
		ids = append(ids, t)
	}
	sort.Slice(ids, func(i, j int) bool { return string(ids[i][:]) < string(ids[j][:]) })
	return ids
}
