package broker

// DeleteGroups (key 42), versions 0–2: a group with members gets
// NON_EMPTY_GROUP, an unknown one GROUP_ID_NOT_FOUND; otherwise its offsets
// and metadata are removed durably.

import (
	"context"

	"github.com/gregor-broker/gregor/protocol"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.DeleteGroups, 0, 2, handleDeleteGroups) }

func handleDeleteGroups(_ context.Context, b *Broker, req *protocol.Request) (kmsg.Response, error) {
	return b.groups.DeleteGroups(req.Body.(*kmsg.DeleteGroupsRequest)), nil
}
