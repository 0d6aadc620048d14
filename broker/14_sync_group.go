package broker

// SyncGroup (key 14), versions 0–5.
//
// The classic protocol's assignment phase, answered by broker/group (api.go).
//
// Behaviour:
//   - A group this broker does not coordinate gets NOT_COORDINATOR
//     (validateGroup, coordination.go); an empty group id INVALID_GROUP_ID; a
//     group that does not exist UNKNOWN_MEMBER_ID.
//   - The member is checked as for Heartbeat: FENCED_INSTANCE_ID,
//     UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION. While the group prepares a
//     rebalance the answer is REBALANCE_IN_PROGRESS.
//   - Followers wait for the leader's assignment; the leader's completes the
//     generation: it is written to the commit log (group metadata) and every
//     waiting member gets its share, unchanged (members the leader left out
//     get an empty assignment, unknown ids are ignored). If the write fails,
//     every waiter gets the store error's code and the group rebalances.
//   - In a Stable group a member gets its current assignment at once.
//   - Members that send no SyncGroup within the rebalance timeout are
//     removed and the group rebalances.
//
// Versions:
//   - v3+: the group instance id (static members).
//   - v5: the protocol type and name, when given, must be the group's
//     (INCONSISTENT_GROUP_PROTOCOL), and the answer carries both.

import (
	"context"

	"github.com/gregor-broker/gregor/protocol"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.SyncGroup, 0, 5, handleSyncGroup) }

func handleSyncGroup(ctx context.Context, b *Broker, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.SyncGroupRequest)
	g, code := b.validateGroup(ctx, r.Group)
	if code != 0 {
		resp := r.ResponseKind().(*kmsg.SyncGroupResponse)
		resp.ErrorCode = code
		return resp, nil
	}
	return g.SyncGroup(ctx, r), nil
}
