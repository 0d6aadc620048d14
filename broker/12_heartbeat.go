package broker

// Heartbeat (key 12), versions 0–4: UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION,
// FENCED_INSTANCE_ID, and REBALANCE_IN_PROGRESS while the group prepares a
// rebalance (the member must rejoin).

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
