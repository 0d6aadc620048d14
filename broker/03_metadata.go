package broker

// Metadata (key 3), versions 0–12.
//
// Lists this broker (at the advertised address of the listener the request
// arrived on), the stable cluster id, this node as controller, and the
// requested topics (all of them for a v0 empty list or a v1+ null list).
// A topic that does not exist is created when auto.create.topics.enable is
// on and the request allows it (v4+ AllowAutoTopicCreation; always before
// v4); creation is synchronous, so the answer already describes the new
// topic instead of LEADER_NOT_AVAILABLE. Otherwise UNKNOWN_TOPIC_OR_PARTITION,
// or UNKNOWN_TOPIC_ID for a v10+ lookup by id. A name Kafka would not allow
// (empty, ".", "..", longer than 249, characters outside [a-zA-Z0-9._-])
// gets INVALID_TOPIC_EXCEPTION.
//
// The answer covers the whole cluster, from the broker's view of it
// (routes.go): every live broker at the address it advertises on the
// listener the request arrived on; each partition's leader is the live
// master of the group owning it, replicas and ISR the group's live members,
// the leader epoch the group's master epoch. A partition whose group has no
// live master gets LEADER_NOT_AVAILABLE with leader -1. Auto-creation goes
// through the deciding broker (placement.go). A single node is the same
// code with one group. Authorized operations (v8+) as authorized_ops.go.

import (
	"context"

	"github.com/gregor-broker/gregor/protocol"
	"github.com/gregor-broker/gregor/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
)

func init() { register(kmsg.Metadata, 0, 12, handleMetadata) }

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
	for _, rt := range r.Topics {
		if rt.Topic == nil {
			mt := kmsg.NewMetadataResponseTopic()
			mt.TopicID = rt.TopicID
			if t, ok := v.byID[rt.TopicID]; ok && rt.TopicID != ([16]byte{}) {
				resp.Topics = append(resp.Topics, b.viewTopicMetadata(v, t))
				continue
			}
			mt.ErrorCode = kerr.UnknownTopicID.Code
			resp.Topics = append(resp.Topics, mt)
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
