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

func handleDescribeGroups(_ context.Context, b *Broker, req *protocol.Request) (kmsg.Response, error) {
	return b.groups.DescribeGroups(req.Body.(*kmsg.DescribeGroupsRequest)), nil
}
