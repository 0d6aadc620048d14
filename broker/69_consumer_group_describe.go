package broker

// ConsumerGroupDescribe (key 69), versions 0–1.
//
// Describes KIP-848 consumer groups (broker/group, consumer_admin.go), each
// checked on its own.
//
// Behaviour:
//   - A group this broker does not coordinate gets NOT_COORDINATOR in its
//     own entry (validateGroup, coordination.go).
//   - A classic group gets GROUP_ID_NOT_FOUND "Group <id> is not a consumer
//     group.", an unknown one "Group <id> not found." (Kafka's words; the
//     admin client then describes the group with DescribeGroups).
//   - Otherwise: state (Empty, Assigning, Reconciling, Stable), group epoch,
//     assignment epoch, the assignor in use, and each member with its
//     epoch, client id and host, instance and rack ids, subscription (names
//     and regex), current assignment and target assignment (topic ids and
//     names).
//
// Versions:
//   - v0: authorized operations when asked (the group set, as
//     DescribeGroups).
//   - v1: each member's type, 1 (the consumer protocol).

import (
	"context"

	"github.com/gregor-broker/gregor/protocol"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.ConsumerGroupDescribe, 0, 1, handleConsumerGroupDescribe) }

func handleConsumerGroupDescribe(ctx context.Context, b *Broker, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.ConsumerGroupDescribeRequest)
	resp := r.ResponseKind().(*kmsg.ConsumerGroupDescribeResponse)
	for _, id := range r.Groups {
		g, code := b.validateGroup(ctx, id)
		if code != 0 {
			rg := kmsg.NewConsumerGroupDescribeResponseGroup()
			rg.Group, rg.ErrorCode = id, code
			resp.Groups = append(resp.Groups, rg)
			continue
		}
		one := *r
		one.Groups = []string{id}
		resp.Groups = append(resp.Groups, g.ConsumerGroupDescribe(&one).Groups...)
	}
	return resp, nil
}
