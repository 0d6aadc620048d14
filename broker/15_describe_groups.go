package broker

// DescribeGroups (key 15), versions 0–6.
//
// Describes groups (broker/group, admin.go), each checked on its own.
//
// Behaviour:
//   - A group this broker does not coordinate gets NOT_COORDINATOR in its
//     own entry (validateGroup, coordination.go); the others are answered.
//   - A group that does not exist is reported with state Dead and no error
//     before v6.
//   - Every member is listed with its member id, instance id, client id
//     and client host; the protocol, the member metadata (for the chosen
//     protocol) and the assignments only while the group is Stable, as in
//     Kafka, passed through unchanged.
//
// Versions:
//   - v3+: authorized operations when asked: the group set Kafka returns
//     without an authorizer (READ, DELETE, DESCRIBE, DESCRIBE_CONFIGS,
//     ALTER_CONFIGS).
//   - v4+: the members' group instance ids.
//   - v6 (KIP-1043): a group that does not exist gets GROUP_ID_NOT_FOUND
//     with Kafka's message "Group <id> not found.".

import (
	"context"

	"github.com/gregor-broker/gregor/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.DescribeGroups, 0, 6, handleDescribeGroups) }

func handleDescribeGroups(ctx context.Context, b *Broker, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.DescribeGroupsRequest)
	resp := r.ResponseKind().(*kmsg.DescribeGroupsResponse)
	for _, id := range r.Groups {
		g, code := b.validateGroup(ctx, id)
		if code != 0 {
			rg := kmsg.NewDescribeGroupsResponseGroup()
			rg.Group, rg.ErrorCode = id, code
			resp.Groups = append(resp.Groups, rg)
			continue
		}
		one := *r
		one.Groups = []string{id}
		resp.Groups = append(resp.Groups, g.DescribeGroups(&one).Groups...)
	}
	for i := range resp.Groups {
		if rg := &resp.Groups[i]; r.Version >= 6 && rg.ErrorCode == kerr.GroupIDNotFound.Code && rg.ErrorMessage == nil {
			rg.ErrorMessage = kmsg.StringPtr("Group " + rg.Group + " not found.") // Kafka's words
		}
	}
	return resp, nil
}
