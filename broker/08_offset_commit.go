package broker

// OffsetCommit (key 8), versions 2–9.
//
// The group coordinator (broker/group) checks member id, generation and
// instance id with Kafka's codes (UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION,
// FENCED_INSTANCE_ID, REBALANCE_IN_PROGRESS while a generation awaits its
// assignment) and stores the offsets durably before answering. Generation -1
// with an empty member id is a simple-consumer commit, accepted while the
// group has no members. Partitions of unknown topics get
// UNKNOWN_TOPIC_OR_PARTITION, metadata over offset.metadata.max.bytes gets
// OFFSET_METADATA_TOO_LARGE; the retention time of v2–v4 is ignored, as in
// Kafka 4 (offsets.retention.minutes decides). Each offset remembers its
// topic's id, so a deleted and re-created topic does not inherit them. v10
// (topic ids on the wire) is not advertised yet.
//
// Deleting a topic removes its offsets from every group durably, as Kafka
// does: broker.New hooks topicsChanged to the topic table's OnChange.

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
