package broker

// DescribeGroups (key 15), versions 0–5. An unknown group is reported with
// state Dead and no error (Kafka's behaviour before v6). Member metadata and
// assignments are included while the group is Stable.

import (
	"context"

	"github.com/gregor-broker/gregor/protocol"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.DescribeGroups, 0, 5, handleDescribeGroups) }

func handleDescribeGroups(ctx context.Context, b *Broker, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.DescribeGroupsRequest)
	resp := r.ResponseKind().(*kmsg.DescribeGroupsResponse)
	for _, id := range r.Groups {
		g, code := b.validateGroup(ctx, id)
		if code != 0 {
			rg := kmsg.NewDescribeGroupsResponseGroup()
			rg.Group, rg.ErrorCode = id, code
			resp.Groups = append(resp.Groups, rg)
			continue
		}
		one := *r
		one.Groups = []string{id}
		resp.Groups = append(resp.Groups, g.DescribeGroups(&one).Groups...)
	}
	return resp, nil
}
