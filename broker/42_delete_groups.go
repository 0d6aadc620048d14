package broker

// DeleteGroups (key 42), versions 0–3.
//
// Deletes groups (broker/group, admin.go), each checked on its own.
//
// Behaviour:
//   - A group this broker does not coordinate gets NOT_COORDINATOR in its
//     own entry (validateGroup, coordination.go); the others are answered.
//   - A group that does not exist gets GROUP_ID_NOT_FOUND, a group that is
//     not Empty NON_EMPTY_GROUP.
//   - Otherwise tombstones for its metadata and every committed offset are
//     written to the commit log before the answer; a store error becomes
//     the coordinator's code and the group stays.
//
// Versions: the handler has no version-specific behaviour (later versions
// change the encoding only; v3 adds an error message, null as in Kafka).

import (
	"context"

	"github.com/gregor-broker/gregor/protocol"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.DeleteGroups, 0, 3, handleDeleteGroups) }

func handleDeleteGroups(ctx context.Context, b *Broker, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.DeleteGroupsRequest)
	resp := r.ResponseKind().(*kmsg.DeleteGroupsResponse)
	for _, id := range r.Groups {
		g, code := b.validateGroup(ctx, id)
		if code != 0 {
			rg := kmsg.NewDeleteGroupsResponseGroup()
			rg.Group, rg.ErrorCode = id, code
			resp.Groups = append(resp.Groups, rg)
			continue
		}
		one := *r
		one.Groups = []string{id}
		resp.Groups = append(resp.Groups, g.DeleteGroups(&one).Groups...)
	}
	return resp, nil
}
