package broker

// LeaveGroup (key 13), versions 0–5.
//
// Removes members from a group (broker/group, api.go). A member leaving a
// Stable or CompletingRebalance group starts a rebalance; one leaving during
// a rebalance lets it complete without waiting for it.
//
// Behaviour:
//   - A group this broker does not coordinate gets NOT_COORDINATOR
//     (validateGroup, coordination.go); an empty group id INVALID_GROUP_ID.
//   - A member named by member id leaves; an unknown one, or any member of a
//     group that does not exist, gets UNKNOWN_MEMBER_ID.
//   - A member named by group.instance.id leaves whatever its member id;
//     with a member id that is not the instance's current one it gets
//     FENCED_INSTANCE_ID, and an unknown instance UNKNOWN_MEMBER_ID.
//   - A member id handed out with MEMBER_ID_REQUIRED that never joined
//     leaves too (the rebalance stops waiting for it).
//
// Versions:
//   - v0–v2: one member id; its code is the response's.
//   - v3+: a batch of members, each with its own code (KIP-345).
//   - v5: the reason is logged at debug level.

import (
	"context"

	"github.com/gregor-broker/gregor/protocol"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.LeaveGroup, 0, 5, handleLeaveGroup) }

func handleLeaveGroup(ctx context.Context, b *Broker, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.LeaveGroupRequest)
	g, code := b.validateGroup(ctx, r.Group)
	if code != 0 {
		resp := r.ResponseKind().(*kmsg.LeaveGroupResponse)
		resp.ErrorCode = code
		return resp, nil
	}
	return g.LeaveGroup(r), nil
}
