package broker

// Metadata (key 3), versions 0–13.
//
// Describes the whole cluster from the broker's view of it (routes.go, kept
// fresh from the NameServers); a single node is the same code with one
// group.
//
// Behaviour:
//   - Brokers: every live broker, at the address it advertises on the
//     listener the request arrived on. This broker is named controller
//     (gregor has no KRaft quorum).
//   - Partitions: the leader is the live master of the group owning the
//     partition, with the group's master epoch; replicas are the group's
//     members (a member seen before but not live now is listed and also
//     offline); the ISR is the master and the slaves its replication
//     connection reports in sync. A partition whose group has no live
//     master gets LEADER_NOT_AVAILABLE with leader -1; one this broker
//     leads but has not opened yet gets LEADER_NOT_AVAILABLE with itself as
//     leader.
//   - Topics asked for: all of them for a null list; an unknown name is
//     looked up once more after a route refresh (it may have been created
//     through another broker); a name Kafka would not allow (empty, ".",
//     "..", longer than 249, characters outside [a-zA-Z0-9._-]) gets
//     INVALID_TOPIC_EXCEPTION, any other unknown one
//     UNKNOWN_TOPIC_OR_PARTITION.
//   - Auto-creation: an unknown, valid name is created when
//     auto.create.topics.enable is on and the request allows it, through
//     the deciding broker (placement.go); creation is synchronous, so the
//     answer already describes the new topic instead of
//     LEADER_NOT_AVAILABLE. A failed creation is logged and the topic
//     answered UNKNOWN_TOPIC_OR_PARTITION.
//
// Versions:
//   - v0: an empty topic list means every topic.
//   - v0–v3: an unknown topic is always auto-created (when the broker
//     allows it); v4+ only with AllowAutoTopicCreation.
//   - v1+: a null topic list means every topic; the controller id.
//   - v2+: the stable cluster id.
//   - v8+: authorized operations when asked (authorized_ops.go): the
//     topic set, and the cluster set up to v10 (Kafka moved it to
//     DescribeCluster).
//   - v10+: topic ids; a topic asked for by id (null or empty name) is found by it,
//     else UNKNOWN_TOPIC_ID (those listed first, as Kafka lists them).
//   - v13 (KIP-1102) adds a top-level error code for rebootstrapping;
//     gregor, like Kafka, answers it 0.

import (
	"context"

	"github.com/gregor-broker/gregor/protocol"
	"github.com/gregor-broker/gregor/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
)

func init() { register(kmsg.Metadata, 0, 13, handleMetadata) }

func handleMetadata(ctx context.Context, b *Broker, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.MetadataRequest)
	resp := kmsg.NewPtrMetadataResponse()
	resp.Version = r.Version
	v := b.cl().currentView()
	resp.Brokers = b.metadataBrokers(v, req.Conn)
	cid := b.ClusterID()
	resp.ClusterID = &cid
	resp.ControllerID = b.cfg.NodeID

	all := r.Topics == nil || (r.Version == 0 && len(r.Topics) == 0)
	if all {
		for _, t := range v.topics {
			resp.Topics = append(resp.Topics, b.viewTopicMetadata(v, t))
		}
		metadataAuthorizedOps(r, resp)
		return resp, nil
	}
	allowCreate := r.Version < 4 || r.AllowAutoTopicCreation
	var unknownIDs []kmsg.MetadataResponseTopic
	for _, rt := range r.Topics {
		// By id: a null name, or (as the Java client asks for the topics
		// of a KIP-848 assignment) an empty name with an id, which Kafka
		// also looks up by the id.
		if rt.Topic == nil || (*rt.Topic == "" && rt.TopicID != ([16]byte{})) {
			mt := kmsg.NewMetadataResponseTopic()
			mt.TopicID = rt.TopicID
			if t, ok := v.byID[rt.TopicID]; ok && rt.TopicID != ([16]byte{}) {
				resp.Topics = append(resp.Topics, b.viewTopicMetadata(v, t))
				continue
			}
			mt.ErrorCode = kerr.UnknownTopicID.Code
			unknownIDs = append(unknownIDs, mt)
			continue
		}
		name := *rt.Topic
		t, ok := v.byName[name]
		if !ok || !t.complete() {
			b.cl().refreshSoon() // perhaps created through another broker
			v = b.cl().currentView()
			t, ok = v.byName[name]
		}
		if !ok && validTopicName(name) && allowCreate && b.cfg.Topics.AutoCreate {
			// Through the cluster's creation path: the deciding broker
			// places the topic over the live groups.
			if err := b.autoCreateTopic(ctx, name, 0); err != nil {
				b.log.Warn("auto-creating topic failed", zap.String("topic", name), zap.Error(err))
			}
			v = b.cl().currentView()
			t, ok = v.byName[name]
		}
		if ok {
			resp.Topics = append(resp.Topics, b.viewTopicMetadata(v, t))
			continue
		}
		mt := kmsg.NewMetadataResponseTopic()
		mt.Topic = kmsg.StringPtr(name)
		mt.ErrorCode = kerr.UnknownTopicOrPartition.Code
		if !validTopicName(name) {
			mt.ErrorCode = kerr.InvalidTopicException.Code
		}
		resp.Topics = append(resp.Topics, mt)
	}
	// Kafka lists the ids it does not know before the topics it found.
	resp.Topics = append(unknownIDs, resp.Topics...)
	metadataAuthorizedOps(r, resp)
	return resp, nil
}

// topicByID finds a topic by its id (Fetch v13+, Metadata v10+).
func (b *Broker) topicByID(id storage.TopicID) (*Topic, bool) { return b.topics.GetByID(id) }

// validTopicName is Kafka's Topic.validate.
func validTopicName(name string) bool {
	if name == "" || name == "." || name == ".." || len(name) > 249 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
