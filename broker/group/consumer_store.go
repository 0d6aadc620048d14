package group

// Durable state of consumer groups (KIP-848).
//
// One record per group in the group's __consumer_offsets namespace, beside
// its offsets: key = int16 version consumerGroupKeyVersion (frozen) then the
// group id as a Kafka string (int16 length, bytes), the layout of Kafka's
// own keys; value = the JSON of consumerRecord. Kafka spreads the same
// facts over several record types (ConsumerGroupMetadata, …MemberMetadata,
// …TargetAssignmentMember, …CurrentMemberAssignment); gregor writes the
// whole group at once, so a reader never sees half a change. The key
// version is one Kafka does not use, so the record cannot be mistaken for
// one of Kafka's. A nil value (tombstone) removes the group's consumer
// state (deleted, or turned back into a classic group).

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"time"

	"github.com/gregor-broker/gregor/storage"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
)

// consumerGroupKeyVersion is the key version of a consumer group's record.
// Frozen.
const consumerGroupKeyVersion = 0x4750 // "GP"

func consumerGroupKey(group string) []byte {
	k := binary.BigEndian.AppendUint16(nil, consumerGroupKeyVersion)
	k = binary.BigEndian.AppendUint16(k, uint16(len(group)))
	return append(k, group...)
}

func parseConsumerGroupKey(k []byte) (string, bool) {
	if len(k) < 4 || binary.BigEndian.Uint16(k) != consumerGroupKeyVersion {
		return "", false
	}
	n := int(binary.BigEndian.Uint16(k[2:]))
	if len(k) != 4+n {
		return "", false
	}
	return string(k[4:]), true
}

func groupTombstone(group string) storage.KV { return storage.KV{Key: groupKey(group)} }

// groupTombstoneConsumer removes a group's consumer state.
func groupTombstoneConsumer(group string) storage.KV { return storage.KV{Key: consumerGroupKey(group)} }

// consumerRecord is the stored form of a consumer group. Frozen field
// names; topic ids are hex.
type consumerRecord struct {
	Epoch       int32                         `json:"epoch"`
	AssignEpoch int32                         `json:"assignment_epoch"`
	Topics      map[string]topicMeta          `json:"topics,omitempty"`
	Members     map[string]memberRecord       `json:"members,omitempty"`
	Target      map[string]map[string][]int32 `json:"target,omitempty"`
}

type memberRecord struct {
	InstanceID       *string            `json:"instance_id,omitempty"`
	RackID           *string            `json:"rack_id,omitempty"`
	ClientID         string             `json:"client_id"`
	ClientHost       string             `json:"client_host"`
	RebalanceTimeout int64              `json:"rebalance_timeout_ms"`
	Topics           []string           `json:"topics,omitempty"`
	Regex            *string            `json:"regex,omitempty"`
	Assignor         string             `json:"assignor,omitempty"`
	Epoch            int32              `json:"epoch"`
	PrevEpoch        int32              `json:"previous_epoch"`
	State            int8               `json:"state"`
	Assigned         map[string][]int32 `json:"assigned,omitempty"`
	Revoking         map[string][]int32 `json:"revoking,omitempty"`
	// AssignedAt: topic id → partition → the member epoch it was given at.
	AssignedAt map[string]map[string]int32 `json:"assigned_at,omitempty"`
	// Classic is set for a member speaking the classic protocol.
	Classic     *classicRecord `json:"classic,omitempty"`
	assignedSet assignment     // not stored: for comparisons
}

// classicRecord is a classic member's session timeout and JoinGroup
// protocols (the metadata is base64 in the JSON).
type classicRecord struct {
	SessionTimeout int64           `json:"session_timeout_ms"`
	Protocols      []classicProtoR `json:"protocols"`
}

type classicProtoR struct {
	Name     string `json:"name"`
	Metadata []byte `json:"metadata"`
}

func encodeAssignment(a assignment) map[string][]int32 {
	if len(a) == 0 {
		return nil
	}
	out := make(map[string][]int32, len(a))
	for t, ps := range a {
		out[hex.EncodeToString(t[:])] = append([]int32(nil), ps...)
	}
	return out
}

func decodeTopicID(s string) ([16]byte, bool) {
	var id [16]byte
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 16 {
		return id, false
	}
	copy(id[:], b)
	return id, true
}

func decodeAssignment(m map[string][]int32) assignment {
	out := assignment{}
	for s, ps := range m {
		if id, ok := decodeTopicID(s); ok {
			for _, p := range ps {
				out.add(id, p)
			}
		}
	}
	return out
}

// consumerRecordOf is the whole group as stored.
func (g *group) consumerRecordOf() consumerRecord {
	cg := g.cg
	rec := consumerRecord{Epoch: cg.epoch, AssignEpoch: cg.assignEpoch}
	if len(cg.topics) > 0 {
		rec.Topics = map[string]topicMeta{}
		for id, t := range cg.topics {
			rec.Topics[hex.EncodeToString(id[:])] = t
		}
	}
	if len(cg.members) > 0 {
		rec.Members = map[string]memberRecord{}
		for id, m := range cg.members {
			rec.Members[id] = m.record()
		}
	}
	if len(cg.target) > 0 {
		rec.Target = map[string]map[string][]int32{}
		for id, a := range cg.target {
			rec.Target[id] = encodeAssignment(a)
		}
	}
	return rec
}

// record is m as stored.
func (m *cmember) record() memberRecord {
	return memberRecord{
		InstanceID: m.instanceID, RackID: m.rackID, ClientID: m.clientID, ClientHost: m.clientHost,
		RebalanceTimeout: int64(m.rebalanceTimeout / time.Millisecond),
		Topics:           append([]string(nil), m.topics...), Regex: m.regex, Assignor: m.assignor,
		Epoch: m.epoch, PrevEpoch: m.prevEpoch, State: int8(m.state),
		Assigned: encodeAssignment(m.assigned), Revoking: encodeAssignment(m.revoking),
		AssignedAt:  encodeAssignedAt(m.assignedAt),
		Classic:     encodeClassic(m.classic),
		assignedSet: m.assigned.clone(),
	}
}

func encodeClassic(cm *classicMeta) *classicRecord {
	if cm == nil {
		return nil
	}
	r := &classicRecord{SessionTimeout: int64(cm.sessionTimeout / time.Millisecond)}
	for _, p := range cm.protocols {
		r.Protocols = append(r.Protocols, classicProtoR{Name: p.Name, Metadata: p.Metadata})
	}
	return r
}

func decodeClassic(r *classicRecord) *classicMeta {
	if r == nil || len(r.Protocols) == 0 {
		return nil
	}
	cm := &classicMeta{sessionTimeout: time.Duration(r.SessionTimeout) * time.Millisecond}
	for _, p := range r.Protocols {
		cm.protocols = append(cm.protocols, kmsg.JoinGroupRequestProtocol{Name: p.Name, Metadata: p.Metadata})
	}
	return cm
}

// hbMark is what a heartbeat can change, taken before it: the group's
// epochs and the heartbeating member. Anything else a heartbeat changes
// comes with a new group epoch (members joining or changing their
// subscription, topics, the target assignment), so comparing these tells
// whether the group's record must be written again, at a cost that does
// not grow with the group.
type hbMark struct {
	epoch, assignEpoch int32
	members            int
	id                 string
	was                bool // id was a member
	member             memberRecord
	enc                []byte
}

func (g *group) heartbeatMark(id string) hbMark {
	cg := g.cg
	mk := hbMark{epoch: cg.epoch, assignEpoch: cg.assignEpoch, members: len(cg.members), id: id}
	if m := cg.members[id]; m != nil && id != "" {
		mk.was, mk.member = true, m.record()
		mk.enc, _ = json.Marshal(mk.member)
	}
	return mk
}

// changed reports whether the group differs from the mark: m is the
// member the heartbeat was for (a new or replaced member is a change).
func (mk hbMark) changed(g *group, m *cmember) bool {
	cg := g.cg
	if cg.epoch != mk.epoch || cg.assignEpoch != mk.assignEpoch || len(cg.members) != mk.members || !mk.was || m.id != mk.id {
		return true
	}
	enc, _ := json.Marshal(m.record())
	return string(enc) != string(mk.enc)
}

// persistConsumer writes the whole consumer group.
func (g *group) persistConsumer() error {
	if g.cg == nil {
		return nil
	}
	v, err := json.Marshal(g.consumerRecordOf())
	if err != nil {
		return err
	}
	return g.c.persist(g.id, storage.KV{Key: consumerGroupKey(g.id), Value: v})
}

// loadConsumer rebuilds a consumer group from its record; under load.
func (g *group) loadConsumer(v []byte) error {
	var rec consumerRecord
	if err := json.Unmarshal(v, &rec); err != nil {
		return err
	}
	cg := newConsumerGroup()
	cg.epoch, cg.assignEpoch = rec.Epoch, rec.AssignEpoch
	for s, t := range rec.Topics {
		if id, ok := decodeTopicID(s); ok {
			cg.topics[id] = t
		}
	}
	for id, a := range rec.Target {
		cg.target[id] = decodeAssignment(a)
	}
	g.cg = cg
	for id, mr := range rec.Members {
		m := &cmember{
			id: id, instanceID: mr.InstanceID, rackID: mr.RackID, clientID: mr.ClientID, clientHost: mr.ClientHost,
			rebalanceTimeout: time.Duration(mr.RebalanceTimeout) * time.Millisecond,
			topics:           mr.Topics, regex: mr.Regex, assignor: mr.Assignor,
			epoch: mr.Epoch, prevEpoch: mr.PrevEpoch, state: memberState(mr.State),
			assigned: decodeAssignment(mr.Assigned), revoking: decodeAssignment(mr.Revoking),
			assignedAt: decodeAssignedAt(mr.AssignedAt),
			classic:    decodeClassic(mr.Classic),
		}
		cg.members[id] = m
		if m.instanceID != nil {
			cg.static[*m.instanceID] = id
		}
		g.setOwners(m, "", m.assigned, m.revoking)
	}
	g.protocolType = "consumer"
	g.protocol, g.leader = "", ""
	g.syncClassicState()
	for _, m := range cg.members {
		// Members get a fresh session to find the new coordinator.
		g.resetConsumerSession(m)
		if m.state == msUnrevoked {
			g.armRevokeTimer(m)
		}
	}
	return nil
}

// loadConsumerRecords applies the consumer group records of one
// namespace; called by load.
func (c *Coordinator) loadConsumerRecord(ns string, key, value []byte, get func(string) *group) {
	id, ok := parseConsumerGroupKey(key)
	if !ok {
		c.log.Warn("skipping unreadable consumer group key", zap.String("namespace", ns))
		return
	}
	g := get(id)
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.loadConsumer(value); err != nil {
		c.log.Warn("skipping unreadable consumer group", zap.String("namespace", ns), zap.String("group", id), zap.Error(err))
	}
}

func encodeAssignedAt(at map[[16]byte]map[int32]int32) map[string]map[string]int32 {
	if len(at) == 0 {
		return nil
	}
	out := make(map[string]map[string]int32, len(at))
	for t, ps := range at {
		m := make(map[string]int32, len(ps))
		for p, e := range ps {
			m[strconv.Itoa(int(p))] = e
		}
		out[hex.EncodeToString(t[:])] = m
	}
	return out
}

func decodeAssignedAt(in map[string]map[string]int32) map[[16]byte]map[int32]int32 {
	out := map[[16]byte]map[int32]int32{}
	for s, ps := range in {
		id, ok := decodeTopicID(s)
		if !ok {
			continue
		}
		m := map[int32]int32{}
		for ps, e := range ps {
			if p, err := strconv.Atoi(ps); err == nil {
				m[int32(p)] = e
			}
		}
		out[id] = m
	}
	return out
}
