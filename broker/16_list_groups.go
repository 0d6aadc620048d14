package broker

// ListGroups (key 16), versions 0–5.
//
// Lists the groups this broker coordinates (broker/group, admin.go); admin
// clients ask every broker and merge, as with Kafka.
//
// Behaviour:
//   - Every group that is not Dead, including groups that only hold
//     simple-consumer offsets (state Empty, no protocol type).
//   - A slave, or a master stepping down, coordinates none and answers an
//     empty list.
//
// Versions:
//   - v3+: tagged fields only.
//   - v4+: the states filter, matched without regard to case.
//   - v5+: the types filter; every gregor group is "classic".

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
