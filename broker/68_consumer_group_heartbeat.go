package broker

// ConsumerGroupHeartbeat (key 68), versions 0–1.
//
// The KIP-848 consumer group protocol, answered by broker/group (consumer.go
// has the state machine, consumer_assign.go the assignors).
//
// Behaviour:
//   - The request is checked first, as Kafka's GroupCoordinatorService
//     does: INVALID_REQUEST with Kafka's messages (empty group id, instance
//     id or rack id; a first heartbeat without rebalance timeout, with owned
//     partitions or without a subscription; a static leave without instance
//     id; an epoch below -2), UNSUPPORTED_ASSIGNOR for a server assignor not
//     in group.consumer.assignors.
//   - Then the coordinator: a group this broker does not coordinate gets
//     NOT_COORDINATOR (validateGroup, coordination.go).
//   - Epoch 0 joins, -1 leaves, -2 leaves a static member for now; any
//     other epoch is the member's heartbeat, checked against its epoch
//     (FENCED_MEMBER_EPOCH, UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID,
//     UNRELEASED_INSTANCE_ID). The answer carries the member epoch, the
//     heartbeat interval (the group's consumer.heartbeat.interval.ms, else
//     group.consumer.heartbeat.interval.ms) and, when it changed or the
//     request was a full one, the member's assignment.
//   - Sessions last the group's consumer.session.timeout.ms, else
//     group.consumer.session.timeout.ms.
//   - A classic group with members gets GROUP_ID_NOT_FOUND ("Group <id> is
//     not a consumer group."); an empty one becomes a consumer group.
//
// Versions:
//   - v0: a joining member without a member id is given one.
//   - v1: the member id is the client's (MemberId can't be empty);
//     SubscribedTopicRegex, resolved by the coordinator (RE2 syntax, whole
//     topic names, internal topics never match), INVALID_REGULAR_EXPRESSION
//     for one that does not compile.

import (
	"context"
	"time"

	"github.com/gregor-broker/gregor/broker/group"
	"github.com/gregor-broker/gregor/protocol"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.ConsumerGroupHeartbeat, 0, 1, handleConsumerGroupHeartbeat) }

func handleConsumerGroupHeartbeat(ctx context.Context, b *Broker, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.ConsumerGroupHeartbeatRequest)
	resp := r.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
	if c := b.localGroups(); c != nil {
		if code, msg := c.ValidateConsumerHeartbeat(r); code != 0 {
			resp.ErrorCode, resp.ErrorMessage = code, &msg
			return resp, nil
		}
	}
	g, code := b.validateGroup(ctx, r.Group)
	if code != 0 {
		resp.ErrorCode = code
		return resp, nil
	}
	info := group.JoinInfo{ClientHost: clientHost(req.Conn)}
	if req.Header.ClientID != nil {
		info.ClientID = *req.Header.ClientID
	}
	return g.ConsumerGroupHeartbeat(r, info, b.topicCatalog()), nil
}

// topicCatalog is the cluster's topic table as consumer groups need it.
func (b *Broker) topicCatalog() group.TopicCatalog {
	return group.TopicCatalog{
		Lookup:   b.groupTopics,
		Names:    b.clusterTopicNames,
		Internal: func(name string) bool { return internalTopics[name] },
	}
}

// clusterTopicNames lists every topic of the cluster: this broker's and
// those the route table knows elsewhere.
func (b *Broker) clusterTopicNames() []string {
	seen := map[string]bool{}
	var out []string
	for _, t := range b.topics.List() {
		if !seen[t.Name] {
			seen[t.Name] = true
			out = append(out, t.Name)
		}
	}
	for name := range b.cl().currentView().byName {
		if !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	return out
}

// consumerGroupTimeouts is a group's consumer.session.timeout.ms and
// consumer.heartbeat.interval.ms (group configs, group_configs.go); 0
// when not set. The group coordinator applies them (group.Config).
func (b *Broker) consumerGroupTimeouts(groupID string) (session, heartbeat time.Duration) {
	if b.store == nil {
		return 0, 0
	}
	cfg := b.groupConfigs(groupID)
	ms := func(name string) time.Duration {
		v, ok := cfg[name]
		if !ok {
			return 0
		}
		n, err := time.ParseDuration(v + "ms")
		if err != nil {
			return 0
		}
		return n
	}
	return ms("consumer.session.timeout.ms"), ms("consumer.heartbeat.interval.ms")
}
