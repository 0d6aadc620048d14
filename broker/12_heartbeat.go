package broker

// Heartbeat (key 12), versions 0–4.
//
// Keeps a member's session alive (broker/group, api.go).
//
// Behaviour:
//   - A group this broker does not coordinate gets NOT_COORDINATOR
//     (validateGroup, coordination.go); an empty group id INVALID_GROUP_ID.
//   - The member is checked as for OffsetCommit: FENCED_INSTANCE_ID,
//     UNKNOWN_MEMBER_ID (also for a group that does not exist or is Empty),
//     ILLEGAL_GENERATION.
//   - While the group prepares a rebalance the session is renewed and the
//     answer is REBALANCE_IN_PROGRESS (the member must rejoin); otherwise
//     the session is renewed with no error.
//
// Versions:
//   - v3+: the group instance id (static members); the handler has no other
//     version-specific behaviour.

import (
	"context"

	"github.com/gregor-broker/gregor/protocol"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.Heartbeat, 0, 4, handleHeartbeat) }

func handleHeartbeat(ctx context.Context, b *Broker, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.HeartbeatRequest)
	g, code := b.validateGroup(ctx, r.Group)
	if code != 0 {
		resp := r.ResponseKind().(*kmsg.HeartbeatResponse)
		resp.ErrorCode = code
		return resp, nil
	}
	return g.Heartbeat(r), nil
}
