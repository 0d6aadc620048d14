package broker

// OffsetFetch (key 9), versions 1–10.
//
// Reads a group's committed offsets (broker/group, offsets.go).
//
// Behaviour:
//   - A partition without a commit, or a group that does not exist, gets
//     offset -1, leader epoch -1 and empty metadata, with no error, as in
//     Kafka.
//   - Only durable commits are read: an OffsetCommit becomes visible once
//     it has been synced (see 08_offset_commit.go).
//   - Offsets committed to an earlier topic of the same name (deleted since)
//     read as absent.
//   - A group this broker does not coordinate gets NOT_COORDINATOR
//     (validateGroup, coordination.go): the whole answer before v8, that
//     group's entry from v8.
//
// Versions:
//   - v1: the topics are always listed, and the answer has no group-level
//     error code: a group error (NOT_COORDINATOR) is put on every requested
//     partition with offset -1, as Kafka's getErrorResponse does.
//   - v2+: a null topic list returns every committed offset of the group,
//     sorted by topic and partition.
//   - v5+: the committed leader epoch.
//   - v7+: RequireStable needs no wait: gregor has no transactional offset
//     commits that could be pending.
//   - v8+: several groups per request, each checked and answered on its own.
//   - v9: the member id and epoch belong to the KIP-848 protocol: ignored
//     for classic groups, as Kafka does; for a consumer group a request
//     naming them must name a member at its epoch (UNKNOWN_MEMBER_ID,
//     STALE_MEMBER_EPOCH in the group's entry; broker/group,
//     consumer_admin.go).
//   - v10: topics named by id, asked and answered (all of a group's topics
//     too); an id this cluster does not know gets UNKNOWN_TOPIC_ID on each
//     of its partitions.

import (
	"context"

	"github.com/gregor-broker/gregor/broker/group"
	"github.com/gregor-broker/gregor/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.OffsetFetch, 1, 10, handleOffsetFetch) }

func handleOffsetFetch(ctx context.Context, b *Broker, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.OffsetFetchRequest)
	resp := r.ResponseKind().(*kmsg.OffsetFetchResponse)
	if r.Version >= 8 {
		for _, rg := range r.Groups {
			out := kmsg.NewOffsetFetchResponseGroup()
			out.Group = rg.Group
			if g, code := b.validateGroup(ctx, rg.Group); code != 0 {
				out.ErrorCode = code
			} else if code := g.ValidateOffsetFetch(rg.Group, rg.MemberID, rg.MemberEpoch); r.Version >= 9 && code != 0 {
				out.ErrorCode = code // a consumer group's member epoch (KIP-848)
			} else if r.Version >= 10 {
				out.Topics = b.fetchOffsetsByID(g, rg)
			} else {
				out.Topics = g.FetchOffsets(rg.Group, rg.Topics, b.groupTopics) // nil (null): all topics
			}
			resp.Groups = append(resp.Groups, out)
		}
		return resp, nil
	}
	g, code := b.validateGroup(ctx, r.Group)
	if code != 0 {
		resp.ErrorCode = code
		if r.Version < 2 {
			// No group-level error code before v2: Kafka puts the error on
			// every requested partition, with offset -1.
			for _, t := range r.Topics {
				rt := kmsg.NewOffsetFetchResponseTopic()
				rt.Topic = t.Topic
				for _, p := range t.Partitions {
					rp := kmsg.NewOffsetFetchResponseTopicPartition()
					rp.Partition = p
					rp.Offset = -1
					rp.ErrorCode = code
					rt.Partitions = append(rt.Partitions, rp)
				}
				resp.Topics = append(resp.Topics, rt)
			}
		}
		return resp, nil
	}
	var topics []kmsg.OffsetFetchRequestGroupTopic
	if r.Topics != nil || r.Version < 2 {
		topics = make([]kmsg.OffsetFetchRequestGroupTopic, 0, len(r.Topics))
		for _, t := range r.Topics {
			topics = append(topics, kmsg.OffsetFetchRequestGroupTopic{Topic: t.Topic, Partitions: t.Partitions})
		}
	}
	for _, t := range g.FetchOffsets(r.Group, topics, b.groupTopics) {
		rt := kmsg.NewOffsetFetchResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetFetchResponseTopicPartition()
			rp.Partition = p.Partition
			rp.Offset = p.Offset
			rp.LeaderEpoch = p.LeaderEpoch
			rp.Metadata = p.Metadata
			rp.ErrorCode = p.ErrorCode
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}

// fetchOffsetsByID answers one group of a v10 OffsetFetch, whose topics
// are named by id: the coordinator is asked by name, the answer carries
// the ids in the request's order.
func (b *Broker) fetchOffsetsByID(g *group.Coordinator, rg kmsg.OffsetFetchRequestGroup) []kmsg.OffsetFetchResponseGroupTopic {
	if rg.Topics == nil { // all of the group's topics
		out := g.FetchOffsets(rg.Group, nil, b.groupTopics)
		for i := range out {
			if id, _, ok := b.groupTopics(out[i].Topic); ok {
				out[i].TopicID = id
			}
		}
		return out
	}
	named := make([]kmsg.OffsetFetchRequestGroupTopic, 0, len(rg.Topics))
	unknown := make([]bool, len(rg.Topics))
	for i, t := range rg.Topics {
		name, ok := b.topicNameByID(t.TopicID)
		if !ok {
			unknown[i] = true
			continue
		}
		t.Topic = name
		named = append(named, t)
	}
	var known []kmsg.OffsetFetchResponseGroupTopic
	if len(named) > 0 {
		known = g.FetchOffsets(rg.Group, named, b.groupTopics) // one for one, in order
	}
	out := make([]kmsg.OffsetFetchResponseGroupTopic, 0, len(rg.Topics))
	for i, t := range rg.Topics {
		if !unknown[i] {
			rt := known[0]
			known = known[1:]
			rt.TopicID = t.TopicID
			out = append(out, rt)
			continue
		}
		rt := kmsg.NewOffsetFetchResponseGroupTopic()
		rt.TopicID = t.TopicID
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
			rp.Partition, rp.Offset, rp.LeaderEpoch = p, -1, -1
			rp.Metadata = kmsg.StringPtr("")
			rp.ErrorCode = kerr.UnknownTopicID.Code
			rt.Partitions = append(rt.Partitions, rp)
		}
		out = append(out, rt)
	}
	return out
}
