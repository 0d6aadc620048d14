package broker

// Authorization (Kafka's StandardAuthorizer): not enforced yet; every
// principal may do everything, as a Kafka broker without an authorizer.

import (
	"github.com/gregor-broker/gregor/protocol"
)

// Kafka AclOperation codes.
const (
	aclOpAlter    int8 = 7
	aclOpDescribe int8 = 8
)

// authorizeCluster reports whether req's principal may do op on the
// cluster: 0, or CLUSTER_AUTHORIZATION_FAILED and its message.
func (b *Broker) authorizeCluster(req *protocol.Request, op int8) (int16, string) {
	return 0, ""
}
