package broker

// ListGroups (key 16), versions 0–5: every group, including groups that only
// hold simple-consumer offsets (state Empty, no protocol type); states filter
// (v4+) and types filter (v5+, every gregor group is "classic").

import (
	"context"

	"github.com/gregor-broker/gregor/protocol"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.ListGroups, 0, 5, handleListGroups) }

func handleListGroups(_ context.Context, b *Broker, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.ListGroupsRequest)
	g := b.localGroups()
	if g == nil {
		return r.ResponseKind(), nil // a slave coordinates none
	}
	return g.ListGroups(r), nil
}
