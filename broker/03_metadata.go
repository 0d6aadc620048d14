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
// gets INVALID_TOPIC_EXCEPTION. Single node for now: every partition's
// leader, replica set and ISR is this node; the leader epoch is the
// broker group's master epoch (Broker.leaderEpoch).

import (
	"context"

	"github.com/gregor-broker/gregor/protocol"
	"github.com/gregor-broker/gregor/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
)

func init() { register(kmsg.Metadata, 0, 12, handleMetadata) }

func handleMetadata(_ context.Context, b *Broker, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.MetadataRequest)
	resp := kmsg.NewPtrMetadataResponse()
	resp.Version = r.Version
	host, port := b.advertised(req.Conn)
	br := kmsg.NewMetadataResponseBroker()
	br.NodeID, br.Host, br.Port = b.cfg.NodeID, host, port
	resp.Brokers = []kmsg.MetadataResponseBroker{br}
	cid := b.cfg.ClusterID
	resp.ClusterID = &cid
	resp.ControllerID = b.cfg.NodeID

	all := r.Topics == nil || (r.Version == 0 && len(r.Topics) == 0)
	if all {
		for _, t := range b.topics.List() {
			resp.Topics = append(resp.Topics, b.topicMetadata(t))
		}
		return resp, nil
	}
	allowCreate := r.Version < 4 || r.AllowAutoTopicCreation
	for _, rt := range r.Topics {
		if rt.Topic == nil {
			mt := kmsg.NewMetadataResponseTopic()
			mt.TopicID = rt.TopicID
			if t, ok := b.topicByID(rt.TopicID); ok && rt.TopicID != ([16]byte{}) {
				resp.Topics = append(resp.Topics, b.topicMetadata(t))
				continue
			}
			mt.ErrorCode = kerr.UnknownTopicID.Code
			resp.Topics = append(resp.Topics, mt)
			continue
		}
		name := *rt.Topic
		t, ok := b.topics.Get(name)
		if !ok && validTopicName(name) && allowCreate && b.cfg.Topics.AutoCreate {
			var err error
			t, err = b.topics.Create(name, 0, nil)
			if err != nil {
				b.log.Warn("auto-creating topic failed", zap.String("topic", name), zap.Error(err))
			}
			ok = err == nil && t != nil
		}
		if ok {
			resp.Topics = append(resp.Topics, b.topicMetadata(t))
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
	return resp, nil
}

// topicMetadata describes one topic hosted wholly by this node.
func (b *Broker) topicMetadata(t *Topic) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	mt.Topic = kmsg.StringPtr(t.Name)
	mt.TopicID = t.ID
	mt.IsInternal = t.Internal
	for p := int32(0); p < t.Partitions; p++ {
		mp := kmsg.NewMetadataResponseTopicPartition()
		mp.Partition = p
		mp.Leader = b.cfg.NodeID
		mp.LeaderEpoch = b.leaderEpoch()
		if b.store.Partition(t.ID, p) == nil {
			mp.ErrorCode = kerr.LeaderNotAvailable.Code
		}
		mp.Replicas = []int32{b.cfg.NodeID}
		mp.ISR = []int32{b.cfg.NodeID}
		mp.OfflineReplicas = []int32{}
		mt.Partitions = append(mt.Partitions, mp)
	}
	return mt
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
