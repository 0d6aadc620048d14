package broker

// OffsetDelete (key 47), version 0.
//
// Removes committed offsets of a group (broker/group, offsets.go).
//
// Behaviour:
//   - A group this broker does not coordinate gets NOT_COORDINATOR
//     (validateGroup, coordination.go); a group that does not exist
//     GROUP_ID_NOT_FOUND.
//   - A group with members keeps the offsets of topics its members
//     subscribe to (GROUP_SUBSCRIBED_TO_TOPIC per partition), read from
//     their consumer-protocol metadata; a group with members that is not a
//     consumer group gets NON_EMPTY_GROUP.
//   - Unknown topics and partitions get UNKNOWN_TOPIC_OR_PARTITION; a
//     partition without a committed offset succeeds.
//   - Tombstones are written to the commit log before the answer; a store
//     error becomes the group-level code, with no partitions listed.
//
// Versions: only v0 exists.

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
