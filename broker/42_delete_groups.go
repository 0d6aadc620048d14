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
