package broker

// SyncGroup (key 14), versions 0–5. Followers wait for the leader's
// assignment; assignments pass through unchanged. v5 checks the protocol
// type and name (INCONSISTENT_GROUP_PROTOCOL).

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
