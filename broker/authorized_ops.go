package broker

// Authorized operations (KIP-430): the bit sets Metadata, DescribeCluster
// and DescribeGroups return when a client asks for them. These are the
// sets without an authorizer (every operation that applies to the
// resource, as Kafka answers without one); with authorizer.class.name the
// ACL rules narrow them to what the principal may do (authorizedOps,
// acl_enforce.go); a field not asked for holds
// Kafka's "not requested" value, math.MinInt32. The group set lives in
// broker/group (admin.go).
//
// Bits are Kafka's AclOperation codes: READ 3, WRITE 4, CREATE 5, DELETE 6,
// ALTER 7, DESCRIBE 8, CLUSTER_ACTION 9, DESCRIBE_CONFIGS 10,
// ALTER_CONFIGS 11, IDEMPOTENT_WRITE 12.

import (
	"math"

	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	// clusterOps: CREATE, ALTER, DESCRIBE, CLUSTER_ACTION,
	// DESCRIBE_CONFIGS, ALTER_CONFIGS, IDEMPOTENT_WRITE (8096, as Kafka 4.1).
	clusterOps = 1<<5 | 1<<7 | 1<<8 | 1<<9 | 1<<10 | 1<<11 | 1<<12
	// topicOps: READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE,
	// DESCRIBE_CONFIGS, ALTER_CONFIGS (3576, as Kafka 4.1).
	topicOps = 1<<3 | 1<<4 | 1<<5 | 1<<6 | 1<<7 | 1<<8 | 1<<10 | 1<<11
	// opsNotRequested is what Kafka sends when the request did not ask.
	opsNotRequested = math.MinInt32
)

// metadataAuthorizedOps fills the authorized-operation fields of a Metadata
// response: the topics' (v8+) for every topic entry, errors included, as
// Kafka does, and the cluster's (v8–10) when asked.
func metadataAuthorizedOps(r *kmsg.MetadataRequest, resp *kmsg.MetadataResponse) {
	resp.AuthorizedOperations = opsNotRequested
	if r.Version >= 8 && r.Version <= 10 && r.IncludeClusterAuthorizedOperations {
		resp.AuthorizedOperations = clusterOps
	}
	for i := range resp.Topics {
		resp.Topics[i].AuthorizedOperations = opsNotRequested
		if r.Version >= 8 && r.IncludeTopicAuthorizedOperations {
			resp.Topics[i].AuthorizedOperations = topicOps
		}
	}
}
