package broker

// OffsetCommit (key 8), versions 2–10.
//
// Stores a group's offsets in the store (broker/group, offsets.go), durably
// before answering.
//
// Behaviour:
//   - A group this broker does not coordinate (another group's master owns
//     its __consumer_offsets partition, or this broker is a slave) gets
//     NOT_COORDINATOR on every partition (validateGroup, coordination.go).
//   - Per partition first: an unknown topic or partition gets
//     UNKNOWN_TOPIC_OR_PARTITION, metadata longer than
//     offset.metadata.max.bytes OFFSET_METADATA_TOO_LARGE; the other
//     partitions are still committed.
//   - Then the group, in Kafka's order (ClassicGroup.validateOffsetCommit):
//     generation -1 with no member id and no instance id is a
//     simple-consumer commit, accepted (creating the group) while the group
//     is Empty, UNKNOWN_MEMBER_ID once it has members; any other commit
//     checks the member: FENCED_INSTANCE_ID, UNKNOWN_MEMBER_ID,
//     ILLEGAL_GENERATION. A member whose generation awaits its assignment
//     (CompletingRebalance) gets REBALANCE_IN_PROGRESS. A member's commit
//     resets its session timer, unless it is waiting in a JoinGroup or
//     SyncGroup.
//   - A KIP-848 consumer group checks the member epoch instead
//     (broker/group, consumer_admin.go): UNKNOWN_MEMBER_ID,
//     UNSUPPORTED_VERSION before v9, STALE_MEMBER_EPOCH unless the epoch
//     is the member's or (KIP-1251) an older one for a partition it has
//     owned since; an admin commit (epoch -1) only while the group is
//     empty.
//   - A group that does not exist, for a commit with a generation, gets
//     ILLEGAL_GENERATION (GROUP_ID_NOT_FOUND from v9).
//   - The offsets are written to the commit log under the group's lock and
//     the answer waits, outside it, until they are durable (an fsync under
//     log.flush.mode=sync); only then does OffsetFetch see them. A store
//     error becomes the coordinator's code (kafkaerr.Coordinator).
//   - Each offset remembers its topic's id, so a deleted and re-created
//     topic does not inherit them; deleting a topic removes its offsets from
//     every group durably (topicsChanged below, hooked to the topic table's
//     OnChange by broker.New).
//
// Versions:
//   - v2–v4: the retention time is ignored, as in Kafka 4
//     (offsets.retention.minutes decides).
//   - v6+: the committed leader epoch is kept (-1 before).
//   - v7+: the group instance id (static members).
//   - v9: an unknown group gets GROUP_ID_NOT_FOUND.
//   - v10: topics named by id (byTopicID): the coordinator sees their
//     names, an id this cluster does not know gets UNKNOWN_TOPIC_ID, and
//     the answer carries the ids.

import (
	"context"

	"github.com/gregor-broker/gregor/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.OffsetCommit, 2, 10, handleOffsetCommit) }

func handleOffsetCommit(ctx context.Context, b *Broker, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.OffsetCommitRequest)
	byID := r.Version >= 10
	var unknown []bool // v10: topics whose id is unknown, by request index
	if byID {
		named := *r
		named.Topics = nil
		unknown = make([]bool, len(r.Topics))
		for i, rt := range r.Topics {
			name, ok := b.topicNameByID(rt.TopicID)
			if !ok {
				unknown[i] = true
				continue
			}
			rt.Topic = name
			named.Topics = append(named.Topics, rt)
		}
		r = &named
	}
	g, code := b.validateGroup(ctx, r.Group)
	var resp *kmsg.OffsetCommitResponse
	if code == 0 {
		resp = g.OffsetCommit(r, b.groupTopics)
	} else {
		resp = r.ResponseKind().(*kmsg.OffsetCommitResponse)
		for _, rt := range r.Topics {
			st := kmsg.NewOffsetCommitResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewOffsetCommitResponseTopicPartition()
				sp.Partition, sp.ErrorCode = rp.Partition, code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
	}
	if !byID {
		return resp, nil
	}
	// Back in the request's order, with each topic's id; the coordinator
	// answered the known topics one for one, in order.
	orig := req.Body.(*kmsg.OffsetCommitRequest)
	known := resp.Topics
	resp.Topics = make([]kmsg.OffsetCommitResponseTopic, 0, len(orig.Topics))
	for i, rt := range orig.Topics {
		if !unknown[i] {
			st := known[0]
			known = known[1:]
			st.TopicID = rt.TopicID
			resp.Topics = append(resp.Topics, st)
			continue
		}
		st := kmsg.NewOffsetCommitResponseTopic()
		st.TopicID = rt.TopicID
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetCommitResponseTopicPartition()
			sp.Partition, sp.ErrorCode = rp.Partition, kerr.UnknownTopicID.Code
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

// topicNameByID finds the name of a topic of the cluster by its id (the
// v10 OffsetCommit and OffsetFetch name topics by id): this broker's own
// topics, else the cluster's view of the others.
func (b *Broker) topicNameByID(id [16]byte) (string, bool) {
	if id == ([16]byte{}) {
		return "", false
	}
	if t, ok := b.topics.GetByID(id); ok {
		return t.Name, true
	}
	if vt := b.cl().currentView().byID[id]; vt != nil {
		return vt.Name, true
	}
	return "", false
}

// groupTopics is the topic table as the group coordinator needs it.
func (b *Broker) groupTopics(topic string) (id [16]byte, partitions int32, ok bool) {
	t, ok := b.topics.Get(topic)
	if !ok {
		// Spread over other broker groups, none of it here.
		return b.clusterTopic(topic)
	}
	return t.ID, t.Partitions, true
}

// topicsChanged runs after every change of the topic table (Topics.OnChange,
// which holds a single function, so other listeners belong here too): the
// cluster registers the new table with the NameServers, and the
// group coordinator drops the offsets of deleted topics. It writes
// tombstones to the store on the changing goroutine, as the deletion itself
// just did.
func (b *Broker) topicsChanged() {
	b.cl().changed()                     // the cluster registers the new table at once
	if b.isMaster() && b.groups != nil { // a slave coordinates no group (role.go)
		b.groups.TopicsChanged(b.groupTopics)
	}
}
