package broker

// OffsetCommit (key 8), versions 2–9.
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
//   - v10 (topic ids on the wire) is not advertised yet.

import (
	"context"

	"github.com/gregor-broker/gregor/protocol"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.OffsetCommit, 2, 9, handleOffsetCommit) }

func handleOffsetCommit(ctx context.Context, b *Broker, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.OffsetCommitRequest)
	g, code := b.validateGroup(ctx, r.Group)
	if code == 0 {
		return g.OffsetCommit(r, b.groupTopics), nil
	}
	resp := r.ResponseKind().(*kmsg.OffsetCommitResponse)
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
	return resp, nil
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
