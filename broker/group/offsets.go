package group

import (
	"encoding/binary"
	"sort"
	"time"

	"github.com/gregor-broker/gregor/broker/internal/kafkaerr"
	"github.com/gregor-broker/gregor/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
)

// Topics looks a topic up in the broker's topic table: its id and partition
// count, ok false when it does not exist. Commits to unknown partitions get
// UNKNOWN_TOPIC_OR_PARTITION, and each offset remembers its topic's id so
// that once a topic is deleted (and perhaps created again under the same
// name) its old offsets read as absent, as Kafka's removal of a deleted
// topic's offsets makes them. A nil Topics accepts every topic.
type Topics func(topic string) (id [16]byte, partitions int32, ok bool)

// lookup returns topic's id and whether the partition exists.
func (f Topics) lookup(topic string, partition int32) ([16]byte, bool) {
	if f == nil {
		return [16]byte{}, true
	}
	id, n, ok := f(topic)
	return id, ok && partition >= 0 && partition < n
}

func (f Topics) has(topic string, partition int32) bool {
	_, ok := f.lookup(topic, partition)
	return ok
}

// current reports whether a stored offset still belongs to the live topic:
// offsets stored without an id (or with a nil Topics) always do.
func (f Topics) current(topic string, o offset) bool {
	if f == nil || o.topicID == ([16]byte{}) {
		return true
	}
	id, _, ok := f(topic)
	return ok && id == o.topicID
}

// OffsetCommit answers an OffsetCommit (v2+). Commits with generation -1
// are simple-consumer commits, accepted only while the group has no
// members. A generation of a group that does not exist gets
// ILLEGAL_GENERATION, or GROUP_ID_NOT_FOUND from v9 on, as in Kafka 4.
func (c *Coordinator) OffsetCommit(req *kmsg.OffsetCommitRequest, topics Topics) *kmsg.OffsetCommitResponse {
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	codes := make([][]int16, len(req.Topics))
	ids := make([][16]byte, len(req.Topics))
	for i, t := range req.Topics {
		codes[i] = make([]int16, len(t.Partitions))
		for j, p := range t.Partitions {
			id, ok := topics.lookup(t.Topic, p.Partition)
			ids[i] = id
			switch {
			case !ok:
				codes[i][j] = kerr.UnknownTopicOrPartition.Code
			case p.Metadata != nil && len(*p.Metadata) > c.cfg.OffsetMetadataMaxBytes:
				codes[i][j] = kerr.OffsetMetadataTooLarge.Code
			}
		}
	}
	setAll := func(err *kerr.Error) {
		for i := range codes {
			for j := range codes[i] {
				if codes[i][j] == 0 {
					codes[i][j] = err.Code
				}
			}
		}
	}
	var finish func()
	found := c.withGroup(req.Group, req.Generation < 0, func(g *group) {
		if g.cg != nil {
			// A consumer group (KIP-848): member epochs.
			err, partOK := g.consumerCommitCheck(req.MemberID, req.Generation, false, req.Version)
			if err != nil {
				setAll(err)
				return
			}
			for i, t := range req.Topics {
				for j, p := range t.Partitions {
					if codes[i][j] == 0 && partOK != nil && !partOK(ids[i], p.Partition) {
						codes[i][j] = kerr.StaleMemberEpoch.Code
					}
				}
			}
			finish = g.commit(req, codes, ids)
			return
		}
		// The order of checks is Kafka's (ClassicGroup.validateOffsetCommit).
		switch {
		case req.Generation < 0 && g.state == stateEmpty:
			// Admin clients and consumers without group management.
		case req.Generation >= 0 || req.MemberID != "" || req.InstanceID != nil:
			if err := g.validateMember(req.MemberID, req.InstanceID, req.Generation); err != nil {
				setAll(err)
				return
			}
		default:
			// Once the group has members only they may commit.
			setAll(kerr.UnknownMemberID)
			return
		}
		if g.state == stateCompletingRebalance {
			// The member has its new generation but not yet its
			// assignment; Kafka asks it to finish the rebalance first.
			setAll(kerr.RebalanceInProgress)
			return
		}
		if m, ok := g.members[req.MemberID]; ok && m.joinWait == nil && m.syncWait == nil {
			g.resetSession(m)
		}
		finish = g.commit(req, codes, ids)
		g.dropIfUnused()
	})
	if finish != nil {
		finish() // the wait for durability, outside the group's lock
	}
	if !found {
		switch {
		case c.isClosed():
			setAll(kerr.CoordinatorNotAvailable)
		case req.Version >= 9:
			setAll(kerr.GroupIDNotFound) // as Kafka 4 answers v9+
		default:
			setAll(kerr.IllegalGeneration) // a generation of a group that does not exist
		}
	}
	for i, t := range req.Topics {
		rt := kmsg.NewOffsetCommitResponseTopic()
		rt.Topic = t.Topic
		for j, p := range t.Partitions {
			rp := kmsg.NewOffsetCommitResponseTopicPartition()
			rp.Partition = p.Partition
			rp.ErrorCode = codes[i][j]
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// commit writes every partition whose code is still 0 to the store, under
// g.mu, and returns the rest to run once g.mu is released: the wait until
// the write is durable (an fsync under sync flush), then the new offsets
// become visible to OffsetFetch. The group's lock is never held across
// the fsync, so its heartbeats, joins and fetches do not queue behind it.
//
// A commit or delete of the same partition written after this one, before
// it became durable, wins: pendingSeq holds the sequence number of the
// latest write per partition, and an older commit's offsets are not
// applied over it.
func (g *group) commit(req *kmsg.OffsetCommitRequest, codes [][]int16, ids [][16]byte) (finish func()) {
	now := g.c.clock.Now()
	type pending struct {
		topic string
		part  int32
		o     offset
		seq   int64
	}
	var kvs []storage.KV
	var ps []pending
	for i, t := range req.Topics {
		for j, p := range t.Partitions {
			if codes[i][j] != 0 {
				continue
			}
			o := offset{offset: p.Offset, leaderEpoch: -1, committed: now, topicID: ids[i]}
			if req.Version >= 6 {
				o.leaderEpoch = p.LeaderEpoch
			}
			if p.Metadata != nil {
				o.metadata = *p.Metadata
			}
			ps = append(ps, pending{t.Topic, p.Partition, o, g.notePending(t.Topic, p.Partition)})
			kvs = append(kvs, storage.KV{Key: offsetKey(g.id, t.Topic, p.Partition), Value: offsetValue(o)})
		}
	}
	failed := func(err error) {
		for i := range codes {
			for j := range codes[i] {
				if codes[i][j] == 0 {
					codes[i][j] = kafkaerr.Coordinator(err)
				}
			}
		}
	}
	pos, err := g.c.persistDeferred(g.id, kvs...)
	if err != nil {
		failed(err)
		return nil
	}
	g.inflight++ // dropIfUnused keeps the group until finish has run
	return func() {
		err := g.c.waitDurable(g.id, pos)
		g.mu.Lock()
		defer g.mu.Unlock()
		g.inflight--
		if err != nil {
			failed(err)
			g.dropIfUnused()
			return
		}
		if g.state == stateDead {
			return // deleted (DeleteGroups) after this commit was written
		}
		for _, p := range ps {
			if g.pendingSeq[tpKey{p.topic, p.part}] == p.seq {
				g.setOffset(p.topic, p.part, p.o)
			}
		}
		g.dropIfUnused()
		g.c.m.offsetCommits.Add(float64(len(ps)))
	}
}

// tpKey names a partition in group.pendingSeq.
type tpKey struct {
	topic string
	part  int32
}

// notePending records a write of the partition's offset and returns its
// sequence number; under g.mu.
func (g *group) notePending(topic string, part int32) int64 {
	if g.pendingSeq == nil {
		g.pendingSeq = make(map[tpKey]int64)
	}
	seq := g.c.writeSeq.Add(1)
	g.pendingSeq[tpKey{topic, part}] = seq
	return seq
}

func (g *group) setOffset(topic string, part int32, o offset) {
	ps := g.offsets[topic]
	if ps == nil {
		ps = make(map[int32]offset)
		g.offsets[topic] = ps
	}
	if old, ok := ps[part]; ok {
		g.c.ref(topic, old.topicID, -1)
	}
	ps[part] = o
	g.c.ref(topic, o.topicID, 1)
}

// ref adds d to the count of offsets of topic under id.
func (c *Coordinator) ref(topic string, id [16]byte, d int) {
	c.refMu.Lock()
	defer c.refMu.Unlock()
	if c.refs == nil {
		c.refs = make(map[string]map[[16]byte]int)
	}
	ids := c.refs[topic]
	if ids == nil {
		ids = make(map[[16]byte]int)
		c.refs[topic] = ids
	}
	if ids[id] += d; ids[id] <= 0 {
		delete(ids, id)
		if len(ids) == 0 {
			delete(c.refs, topic)
		}
	}
}

// FetchOffsets returns group's committed offsets for topics, or all of them
// when topics is nil. Partitions without a commit get offset -1.
func (c *Coordinator) FetchOffsets(groupID string, topics []kmsg.OffsetFetchRequestGroupTopic, live Topics) []kmsg.OffsetFetchResponseGroupTopic {
	var out []kmsg.OffsetFetchResponseGroupTopic
	missing := func(p int32) kmsg.OffsetFetchResponseGroupTopicPartition {
		rp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
		rp.Partition = p
		rp.Offset = -1
		rp.LeaderEpoch = -1
		empty := ""
		rp.Metadata = &empty
		return rp
	}
	found := c.withGroup(groupID, false, func(g *group) {
		if topics == nil {
			names := make([]string, 0, len(g.offsets))
			for t := range g.offsets {
				names = append(names, t)
			}
			sort.Strings(names)
			for _, t := range names {
				rt := kmsg.NewOffsetFetchResponseGroupTopic()
				rt.Topic = t
				parts := make([]int32, 0, len(g.offsets[t]))
				for p, o := range g.offsets[t] {
					if live.current(t, o) {
						parts = append(parts, p)
					}
				}
				if len(parts) == 0 {
					continue
				}
				sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })
				for _, p := range parts {
					rt.Partitions = append(rt.Partitions, g.fetchOne(t, p, missing, live))
				}
				out = append(out, rt)
			}
			return
		}
		for _, t := range topics {
			rt := kmsg.NewOffsetFetchResponseGroupTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rt.Partitions = append(rt.Partitions, g.fetchOne(t.Topic, p, missing, live))
			}
			out = append(out, rt)
		}
	})
	if !found {
		for _, t := range topics {
			rt := kmsg.NewOffsetFetchResponseGroupTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rt.Partitions = append(rt.Partitions, missing(p))
			}
			out = append(out, rt)
		}
	}
	return out
}

func (g *group) fetchOne(topic string, p int32, missing func(int32) kmsg.OffsetFetchResponseGroupTopicPartition, live Topics) kmsg.OffsetFetchResponseGroupTopicPartition {
	o, ok := g.offsets[topic][p]
	if !ok || !live.current(topic, o) {
		return missing(p)
	}
	rp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
	rp.Partition = p
	rp.Offset = o.offset
	rp.LeaderEpoch = o.leaderEpoch
	md := o.metadata
	rp.Metadata = &md
	return rp
}

// OffsetDelete answers an OffsetDelete: offsets of topics the group's
// members are subscribed to stay (GROUP_SUBSCRIBED_TO_TOPIC).
func (c *Coordinator) OffsetDelete(req *kmsg.OffsetDeleteRequest, topics Topics) *kmsg.OffsetDeleteResponse {
	resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
	found := c.withGroup(req.Group, false, func(g *group) {
		var subscribed map[string]bool
		if g.state != stateEmpty {
			if g.protocolType != "consumer" {
				resp.ErrorCode = kerr.NonEmptyGroup.Code
				return
			}
			subscribed = g.subscribedTopics()
		}
		var kvs []storage.KV
		type del struct {
			topic string
			part  int32
		}
		var dels []del
		for _, t := range req.Topics {
			rt := kmsg.NewOffsetDeleteResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetDeleteResponseTopicPartition()
				rp.Partition = p.Partition
				switch {
				case !topics.has(t.Topic, p.Partition):
					rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				case subscribed[t.Topic]:
					rp.ErrorCode = kerr.GroupSubscribedToTopic.Code
				default:
					if _, ok := g.offsets[t.Topic][p.Partition]; ok {
						kvs = append(kvs, storage.KV{Key: offsetKey(g.id, t.Topic, p.Partition)})
						dels = append(dels, del{t.Topic, p.Partition})
					}
				}
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		if err := g.c.persist(g.id, kvs...); err != nil {
			resp.ErrorCode = kafkaerr.Coordinator(err)
			resp.Topics = nil
			return
		}
		for _, d := range dels {
			g.deleteOffset(d.topic, d.part)
		}
	})
	if !found {
		resp.ErrorCode = kerr.GroupIDNotFound.Code
	}
	return resp
}

func (g *group) deleteOffset(topic string, part int32) {
	g.notePending(topic, part) // a commit not yet durable does not bring it back
	if o, ok := g.offsets[topic][part]; ok {
		g.c.ref(topic, o.topicID, -1)
	}
	delete(g.offsets[topic], part)
	if len(g.offsets[topic]) == 0 {
		delete(g.offsets, topic)
	}
}

// subscribedTopics parses the members' consumer-protocol metadata.
func (g *group) subscribedTopics() map[string]bool {
	out := map[string]bool{}
	if g.cg != nil {
		for _, t := range g.cg.topics {
			out[t.Name] = true
		}
		return out
	}
	for _, m := range g.members {
		for _, p := range m.protocols {
			if g.protocol != "" && p.Name != g.protocol {
				continue
			}
			var md kmsg.ConsumerMemberMetadata
			if err := md.ReadFrom(p.Metadata); err != nil {
				continue
			}
			for _, t := range md.Topics {
				out[t] = true
			}
		}
	}
	return out
}

// ---- durable encoding (Kafka's __consumer_offsets record formats) ----

func offsetKey(group, topic string, part int32) []byte {
	k := kmsg.NewOffsetCommitKey()
	k.Version = 1
	k.Group, k.Topic, k.Partition = group, topic, part
	return k.AppendTo(nil)
}

func offsetValue(o offset) []byte {
	v := kmsg.NewOffsetCommitValue()
	v.Version = 4 // flexible: carries the topic id (tag 0)
	v.TopicID = o.topicID
	v.Offset = o.offset
	v.LeaderEpoch = o.leaderEpoch
	v.Metadata = o.metadata
	v.CommitTimestamp = o.committed.UnixMilli()
	return v.AppendTo(nil)
}

func groupKey(group string) []byte {
	k := kmsg.NewGroupMetadataKey()
	k.Version = 2
	k.Group = group
	return k.AppendTo(nil)
}

// persistMetadata writes the group's generation, protocol and members
// (with their assignments) so a restart resumes the generation.
func (g *group) persistMetadata() error {
	v := kmsg.NewGroupMetadataValue()
	v.Version = 3
	v.ProtocolType = g.protocolType
	v.Generation = g.generation
	if g.protocol != "" {
		p := g.protocol
		v.Protocol = &p
	}
	if g.leader != "" && len(g.members) > 0 {
		l := g.leader
		v.Leader = &l
	}
	v.CurrentStateTimestamp = g.stateSince.UnixMilli()
	for _, m := range g.orderedMembers() {
		vm := kmsg.NewGroupMetadataValueMember()
		vm.MemberID = m.id
		vm.InstanceID = m.instanceID
		vm.ClientID = m.clientID
		vm.ClientHost = m.clientHost
		vm.RebalanceTimeoutMillis = int32(m.rebalanceTimeout / time.Millisecond)
		vm.SessionTimeoutMillis = int32(m.sessionTimeout / time.Millisecond)
		vm.Subscription = m.metadataFor(g.protocol)
		vm.Assignment = m.assignment
		v.Members = append(v.Members, vm)
	}
	return g.c.persist(g.id, storage.KV{Key: groupKey(g.id), Value: v.AppendTo(nil)})
}

// load rebuilds every group from the store's namespaces.
func (c *Coordinator) load() error {
	if c.kv == nil {
		return nil
	}
	metas := map[string]*kmsg.GroupMetadataValue{}
	type loaded struct {
		group, topic string
		part         int32
		o            offset
	}
	var offs []loaded
	type consumerRec struct {
		ns         string
		key, value []byte
	}
	var consumers []consumerRec
	for p := int32(0); p < c.cfg.OffsetsTopicNumPartitions; p++ {
		ns := fmtNamespace(p)
		c.kv.RangeKV(ns, func(key, value []byte) bool {
			if len(key) < 2 || value == nil {
				return true
			}
			switch binary.BigEndian.Uint16(key) {
			case 0, 1:
				var k kmsg.OffsetCommitKey
				var v kmsg.OffsetCommitValue
				if k.ReadFrom(key) != nil || v.ReadFrom(value) != nil {
					c.log.Warn("skipping unreadable committed offset", zap.String("namespace", ns))
					return true
				}
				offs = append(offs, loaded{k.Group, k.Topic, k.Partition, offset{
					offset: v.Offset, leaderEpoch: v.LeaderEpoch, metadata: v.Metadata,
					committed: time.UnixMilli(v.CommitTimestamp), topicID: v.TopicID,
				}})
			case 2:
				var k kmsg.GroupMetadataKey
				v := new(kmsg.GroupMetadataValue)
				if k.ReadFrom(key) != nil || v.ReadFrom(value) != nil {
					c.log.Warn("skipping unreadable group metadata", zap.String("namespace", ns))
					return true
				}
				metas[k.Group] = v
			case consumerGroupKeyVersion:
				consumers = append(consumers, consumerRec{ns, append([]byte(nil), key...), append([]byte(nil), value...)})
			}
			return true
		})
	}
	get := func(id string) *group {
		g, ok := c.groups[id]
		if !ok {
			g = newGroup(c, id)
			c.groups[id] = g
		}
		return g
	}
	for _, o := range offs {
		get(o.group).setOffset(o.topic, o.part, o.o)
	}
	for id, v := range metas {
		g := get(id)
		g.protocolType = v.ProtocolType
		g.generation = v.Generation
		if v.Protocol != nil {
			g.protocol = *v.Protocol
		}
		if v.Leader != nil {
			g.leader = *v.Leader
		}
		g.stateSince = time.UnixMilli(v.CurrentStateTimestamp)
		for _, vm := range v.Members {
			g.joinSeq++
			m := &member{
				id: vm.MemberID, instanceID: vm.InstanceID,
				clientID: vm.ClientID, clientHost: vm.ClientHost,
				sessionTimeout:   time.Duration(vm.SessionTimeoutMillis) * time.Millisecond,
				rebalanceTimeout: time.Duration(vm.RebalanceTimeoutMillis) * time.Millisecond,
				protocolType:     v.ProtocolType,
				protocols:        []kmsg.JoinGroupRequestProtocol{{Name: g.protocol, Metadata: vm.Subscription}},
				assignment:       vm.Assignment,
				joinSeq:          g.joinSeq,
			}
			g.members[m.id] = m
			if m.instanceID != nil {
				g.static[*m.instanceID] = m.id
			}
		}
		if len(g.members) > 0 {
			// Members get a fresh session to find the new coordinator.
			g.state = stateStable
			g.mu.Lock()
			for _, m := range g.members {
				g.resetSession(m)
			}
			if len(g.members) > c.cfg.MaxSize {
				// Kafka rebalances a freshly loaded group that is over
				// capacity; the members past the cap are refused on rejoin.
				g.prepareRebalance("freshly-loaded group is over capacity")
			}
			g.mu.Unlock()
		} else {
			g.leader = ""
		}
	}
	for _, r := range consumers {
		c.loadConsumerRecord(r.ns, r.key, r.value, get)
	}
	c.log.Info("groups loaded", zap.Int("groups", len(c.groups)), zap.Int("offsets", len(offs)))
	return nil
}

// ---- offset expiry (offsets.retention.minutes) ----

func (c *Coordinator) scheduleSweep() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.sweep = c.clock.AfterFunc(c.cfg.OffsetsRetentionCheckInterval, func() {
		c.expireOffsets()
		c.scheduleSweep()
	})
}

// expireOffsets removes offsets past retention, under Kafka 4's
// OffsetExpirationCondition (see expiryBase), and deletes a group left
// Empty with no offsets. It also repeats the removal of deleted topics'
// offsets (TopicsChanged).
func (c *Coordinator) expireOffsets() {
	if live := c.live.Load(); live != nil {
		c.removeDeletedTopics(*live)
	}
	now := c.clock.Now()
	for _, g := range c.snapshot() {
		g.mu.Lock()
		base, subscribed, ok := g.expiryBase()
		if !ok || g.state == stateDead {
			g.mu.Unlock()
			continue
		}
		var kvs []storage.KV
		type del struct {
			topic string
			part  int32
		}
		var dels []del
		allExpired := true
		for t, ps := range g.offsets {
			if subscribed[t] {
				allExpired = false
				continue
			}
			for p, o := range ps {
				if now.Sub(base(o)) >= c.cfg.OffsetsRetention {
					kvs = append(kvs, storage.KV{Key: offsetKey(g.id, t, p)})
					dels = append(dels, del{t, p})
				} else {
					allExpired = false
				}
			}
		}
		forget := allExpired && g.state == stateEmpty && len(g.pending) == 0
		if forget {
			kvs = append(kvs, storage.KV{Key: groupKey(g.id)})
			if g.cg != nil {
				kvs = append(kvs, storage.KV{Key: consumerGroupKey(g.id)})
			}
		}
		if err := c.persist(g.id, kvs...); err == nil {
			for _, d := range dels {
				g.deleteOffset(d.topic, d.part)
			}
			if len(dels) > 0 {
				c.m.offsetsExpired.Add(float64(len(dels)))
				c.log.Info("expired committed offsets", zap.String("group", g.id), zap.Int("offsets", len(dels)))
			}
			if forget {
				g.setState(stateDead)
				c.forget(g)
			}
		}
		g.mu.Unlock()
	}
}

// expiryBase is Kafka 4's ClassicGroup.offsetExpirationCondition: the time
// from which an offset's retention counts, and the topics whose offsets are
// kept regardless (the subscribed ones); ok is false when no offset of the
// group may expire now.
//   - no protocol type (simple consumers, commits with generation -1):
//     each offset from its commit;
//   - Empty: every offset from when the group became Empty (KIP-211);
//   - Stable, protocol type "consumer", subscriptions known: each offset of
//     a topic no member subscribes to, from its commit (KIP-496);
//   - otherwise (rebalancing, another protocol type, unreadable
//     subscriptions): none.
func (g *group) expiryBase() (base func(offset) time.Time, subscribed map[string]bool, ok bool) {
	byCommit := func(o offset) time.Time { return o.committed }
	switch {
	case g.protocolType == "":
		return byCommit, nil, true
	case g.state == stateEmpty:
		since := g.stateSince
		return func(offset) time.Time { return since }, nil, true
	case g.state == stateStable && g.protocolType == "consumer":
		subs, known := g.knownSubscriptions()
		if !known {
			return nil, nil, false
		}
		return byCommit, subs, true
	}
	return nil, nil, false
}

// knownSubscriptions is Kafka's computeSubscribedTopics: the topics the
// members subscribe to under the selected protocol, read as consumer
// protocol metadata. Like Kafka it reads every version as v0, the prefix
// all versions share, so a newer client's metadata still parses. known is
// false when one member's metadata does not parse: then the coordinator
// cannot tell, and keeps everything.
func (g *group) knownSubscriptions() (topics map[string]bool, known bool) {
	if g.protocol == "" {
		return nil, false
	}
	topics = map[string]bool{}
	for _, m := range g.members {
		raw := m.metadataFor(g.protocol)
		if len(raw) < 2 || int16(binary.BigEndian.Uint16(raw)) < 0 {
			return nil, false
		}
		v0 := append([]byte{0, 0}, raw[2:]...)
		var md kmsg.ConsumerMemberMetadata
		if err := md.ReadFrom(v0); err != nil {
			return nil, false
		}
		for _, t := range md.Topics {
			topics[t] = true
		}
	}
	return topics, true
}

// TopicsChanged removes from every group, durably, the committed offsets
// of topics that live no longer has: deleted, or deleted and created again
// under a new id (Kafka removes a deleted topic's offsets from all groups).
// The broker calls it after each change of its topic table. live is also
// kept for the periodic sweep, which repeats the removal, so offsets whose
// removal a crash or a failed write cut short still go. Offsets stored
// without a topic id are left alone: nothing proves their topic is gone.
// It returns the number of offsets removed.
func (c *Coordinator) TopicsChanged(live Topics) int {
	if live == nil {
		return 0
	}
	c.live.Store(&live)
	if !c.anyDeleted(live) {
		return 0
	}
	return c.removeDeletedTopics(live)
}

// anyDeleted reports whether some committed offset names a topic id that
// live no longer has.
func (c *Coordinator) anyDeleted(live Topics) bool {
	type ref struct {
		topic string
		id    [16]byte
	}
	var refs []ref
	c.refMu.Lock()
	for t, ids := range c.refs {
		for id := range ids {
			if id != ([16]byte{}) {
				refs = append(refs, ref{t, id})
			}
		}
	}
	c.refMu.Unlock()
	for _, r := range refs {
		if cur, _, ok := live(r.topic); !ok || cur != r.id {
			return true
		}
	}
	return false
}

// removeDeletedTopics visits every group; the sweep calls it too, so a
// miscount in refs could only delay a removal, never lose one.
func (c *Coordinator) removeDeletedTopics(live Topics) int {
	// One lookup per topic name per pass, however many groups have it.
	gone := map[string]map[[16]byte]bool{}
	isGone := func(topic string, id [16]byte) bool {
		if id == ([16]byte{}) {
			return false
		}
		ids := gone[topic]
		if ids == nil {
			ids = map[[16]byte]bool{}
			gone[topic] = ids
		}
		v, seen := ids[id]
		if !seen {
			cur, _, ok := live(topic)
			v = !ok || cur != id
			ids[id] = v
		}
		return v
	}
	removed := 0
	for _, g := range c.snapshot() {
		g.mu.Lock()
		if g.state == stateDead {
			g.mu.Unlock()
			continue
		}
		var kvs []storage.KV
		type del struct {
			topic string
			part  int32
		}
		var dels []del
		for t, ps := range g.offsets {
			for p, o := range ps {
				if isGone(t, o.topicID) {
					kvs = append(kvs, storage.KV{Key: offsetKey(g.id, t, p)})
					dels = append(dels, del{t, p})
				}
			}
		}
		if len(kvs) > 0 && c.persist(g.id, kvs...) == nil {
			for _, d := range dels {
				g.deleteOffset(d.topic, d.part)
			}
			removed += len(dels)
			c.log.Info("removed committed offsets of deleted topics", zap.String("group", g.id), zap.Int("offsets", len(dels)))
		}
		g.mu.Unlock()
	}
	c.m.offsetsRemoved.Add(float64(removed))
	return removed
}
