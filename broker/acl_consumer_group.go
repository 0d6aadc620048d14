package broker

// ACLs of the KIP-848 consumer group APIs, as Kafka's KafkaApis asks them.

import (
	"github.com/gregor-broker/gregor/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// authorizeConsumerGroupHeartbeat: READ on the group, else
// GROUP_AUTHORIZATION_FAILED; DESCRIBE on every subscribed topic named,
// else TOPIC_AUTHORIZATION_FAILED (clients may not learn of topics they
// cannot describe).
func authorizeConsumerGroupHeartbeat(b *Broker, who requester, req *protocol.Request) (kmsg.Response, func(kmsg.Response)) {
	r := req.Body.(*kmsg.ConsumerGroupHeartbeatRequest)
	deny := func(err *kerr.Error) (kmsg.Response, func(kmsg.Response)) {
		resp := r.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
		resp.ErrorCode = err.Code
		return resp, nil
	}
	if !b.groupAllowed(who, r.Group, aclOpRead) {
		return deny(kerr.GroupAuthorizationFailed)
	}
	for _, t := range r.SubscribedTopicNames {
		if !b.topicAllowed(who, t, aclOpDescribe) {
			return deny(kerr.TopicAuthorizationFailed)
		}
	}
	return nil, nil
}

// authorizeConsumerGroupDescribe: DESCRIBE on each group, else its entry
// is GROUP_AUTHORIZATION_FAILED; a group whose members are assigned or
// subscribed to a topic the client may not describe gets
// TOPIC_AUTHORIZATION_FAILED, as Kafka answers. Authorized operations
// follow the ACLs.
func authorizeConsumerGroupDescribe(b *Broker, who requester, req *protocol.Request) (kmsg.Response, func(kmsg.Response)) {
	r := req.Body.(*kmsg.ConsumerGroupDescribeRequest)
	var keep []string
	var denied []kmsg.ConsumerGroupDescribeResponseGroup
	for _, g := range r.Groups {
		if b.groupAllowed(who, g, aclOpDescribe) {
			keep = append(keep, g)
			continue
		}
		rg := kmsg.NewConsumerGroupDescribeResponseGroup()
		rg.Group, rg.ErrorCode = g, kerr.GroupAuthorizationFailed.Code
		denied = append(denied, rg)
	}
	r.Groups = keep
	return nil, func(resp kmsg.Response) {
		dr, ok := resp.(*kmsg.ConsumerGroupDescribeResponse)
		if !ok {
			return
		}
		for i := range dr.Groups {
			g := &dr.Groups[i]
			if g.ErrorCode != 0 {
				continue
			}
			if !b.consumerGroupTopicsAllowed(who, g) {
				name := g.Group
				*g = kmsg.NewConsumerGroupDescribeResponseGroup()
				g.Group = name
				g.ErrorCode = kerr.TopicAuthorizationFailed.Code
				g.ErrorMessage = kmsg.StringPtr("The group has described topic(s) that the client is not authorized to describe.")
				continue
			}
			if g.AuthorizedOperations != opsNotRequested {
				g.AuthorizedOperations = b.authorizedOps(who, resGroup, g.Group, g.AuthorizedOperations)
			}
		}
		dr.Groups = append(dr.Groups, denied...)
	}
}

func (b *Broker) consumerGroupTopicsAllowed(who requester, g *kmsg.ConsumerGroupDescribeResponseGroup) bool {
	for _, m := range g.Members {
		for _, t := range m.SubscribedTopics {
			if !b.topicAllowed(who, t, aclOpDescribe) {
				return false
			}
		}
		for _, a := range []kmsg.Assignment{m.Assignment, m.TargetAssignment} {
			for _, tp := range a.TopicPartitions {
				if !b.topicAllowed(who, tp.Topic, aclOpDescribe) {
					return false
				}
			}
		}
	}
	return true
}
