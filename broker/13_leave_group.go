package broker

// LeaveGroup (key 13), versions 0–5: one member (v0–v2) or a batch (v3+),
// each identified by member id and/or group.instance.id; per-member
// UNKNOWN_MEMBER_ID and FENCED_INSTANCE_ID in v3+.

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
