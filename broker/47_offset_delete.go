package broker

// OffsetDelete (key 47), version 0: removes committed offsets of a group.
// A consumer group with members keeps the offsets of topics its members
// subscribe to (GROUP_SUBSCRIBED_TO_TOPIC per partition); a non-consumer
// group with members gets NON_EMPTY_GROUP; an unknown group
// GROUP_ID_NOT_FOUND; unknown topics UNKNOWN_TOPIC_OR_PARTITION.

import (
	"context"

	"github.com/gregor-broker/gregor/protocol"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.OffsetDelete, 0, 0, handleOffsetDelete) }

func handleOffsetDelete(ctx context.Context, b *Broker, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.OffsetDeleteRequest)
	g, code := b.validateGroup(ctx, r.Group)
	if code != 0 {
		resp := r.ResponseKind().(*kmsg.OffsetDeleteResponse)
		resp.ErrorCode = code
		return resp, nil
	}
	return g.OffsetDelete(r, b.groupTopics), nil
}
