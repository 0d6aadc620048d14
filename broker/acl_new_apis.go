package broker

// ACLs of DescribeTopicPartitions (75) and ListConfigResources (74), as
// Kafka's handlers ask them (acl_enforce.go has the rest).

import (
	"github.com/gregor-broker/gregor/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// authorizeDescribeTopicPartitions: DESCRIBE on each topic. Topics asked
// for by name that may not be described are answered
// TOPIC_AUTHORIZATION_FAILED with a zero id after the others; when every
// topic is listed they are left out, as Kafka does. Authorized operations
// follow the ACLs.
func authorizeDescribeTopicPartitions(b *Broker, who requester, req *protocol.Request) (kmsg.Response, func(kmsg.Response)) {
	all := len(req.Body.(*kmsg.DescribeTopicPartitionsRequest).Topics) == 0
	return nil, func(resp kmsg.Response) {
		dr, ok := resp.(*kmsg.DescribeTopicPartitionsResponse)
		if !ok {
			return
		}
		kept := dr.Topics[:0]
		var denied []kmsg.DescribeTopicPartitionsResponseTopic
		for _, t := range dr.Topics {
			name := ""
			if t.Topic != nil {
				name = *t.Topic
			}
			if b.topicAllowed(who, name, aclOpDescribe) {
				if t.AuthorizedOperations != opsNotRequested {
					t.AuthorizedOperations = b.authorizedOps(who, resTopic, name, t.AuthorizedOperations)
				}
				kept = append(kept, t)
				continue
			}
			if !all {
				d := kmsg.NewDescribeTopicPartitionsResponseTopic()
				d.Topic, d.ErrorCode = t.Topic, kerr.TopicAuthorizationFailed.Code
				denied = append(denied, d)
			}
		}
		dr.Topics = append(kept, denied...)
	}
}

// authorizeListConfigResources: DESCRIBE_CONFIGS on the cluster, else
// CLUSTER_AUTHORIZATION_FAILED for the whole answer, as Kafka.
func authorizeListConfigResources(b *Broker, who requester, req *protocol.Request) (kmsg.Response, func(kmsg.Response)) {
	if b.allowed(who, resCluster, clusterResourceName, aclOpDescribeConfigs) {
		return nil, nil
	}
	resp := req.Body.ResponseKind().(*kmsg.ListConfigResourcesResponse)
	resp.SetVersion(req.Body.GetVersion())
	resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
	return resp, nil
}
