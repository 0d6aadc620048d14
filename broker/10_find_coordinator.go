package broker

// FindCoordinator (key 10), versions 0–6.
//
// Names the broker that coordinates a group (coordinator, coordination.go)
// or a transactional id (txnCoordinatorFor, txn_coordination.go).
//
// Behaviour:
//   - Group keys (type 0): the coordinator is the live master of the broker
//     group owning the group's __consumer_offsets partition
//     (group.PartitionFor: Kafka's partitionFor, Utils.abs(hashCode) % 50),
//     at the address it advertises on the listener the request arrived on.
//     Any broker answers, slaves included.
//   - The first FindCoordinator creates __consumer_offsets (50 partitions),
//     placed over the live master groups like any topic (placement.go), as
//     Kafka creates it; on a single node every partition is this broker's.
//     A failed creation, or an owning group with no live master, gets
//     COORDINATOR_NOT_AVAILABLE (retriable).
//   - Partitions of __consumer_offsets that no live group claims any more
//     (a share lost in a fail-over) are placed again first
//     (coordination.go, placeLostOffsets).
//   - Transaction keys (type 1): the live master owning the id's
//     __transaction_state partition (txnCoordinatorFor,
//     txn_coordination.go: the same formula and placement as groups); the
//     first such lookup creates __transaction_state (50 partitions).
//   - Other key types get INVALID_REQUEST, as in Kafka.
//   - A key in error is answered with node id -1, an empty host and port -1.
//
// Versions:
//   - v1+: the key type (transactions) and an error message.
//   - v4+: a batch of keys, each answered on its own.

import (
	"context"

	"github.com/gregor-broker/gregor/nameserver"
	"github.com/gregor-broker/gregor/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.FindCoordinator, 0, 6, handleFindCoordinator) }

func handleFindCoordinator(ctx context.Context, b *Broker, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.FindCoordinatorRequest)
	resp := r.ResponseKind().(*kmsg.FindCoordinatorResponse)
	host, port := b.advertised(req.Conn)
	answer := func(key string) kmsg.FindCoordinatorResponseCoordinator {
		c := kmsg.NewFindCoordinatorResponseCoordinator()
		c.Key = key
		c.NodeID, c.Host, c.Port = -1, "", -1
		switch r.CoordinatorType {
		case 0, 1:
			var m *nameserver.Broker
			var code int16
			if r.CoordinatorType == 0 {
				m, code = b.coordinator(ctx, key, true)
			} else {
				m, code = b.txnCoordinatorFor(ctx, key, true)
			}
			switch {
			case code != 0:
				c.ErrorCode = code
			case m == nil || b.cl().isSelf(m):
				c.NodeID, c.Host, c.Port = b.cfg.NodeID, host, port
			default:
				listener := ""
				if req.Conn != nil {
					listener = req.Conn.Listener
				}
				h, p, _ := endpoint(m, listener)
				c.NodeID, c.Host, c.Port = m.NodeID, h, p
			}
		default:
			c.ErrorCode = kerr.InvalidRequest.Code
			msg := "unknown coordinator type"
			c.ErrorMessage = &msg
		}
		return c
	}
	if r.Version >= 4 {
		for _, k := range r.CoordinatorKeys {
			resp.Coordinators = append(resp.Coordinators, answer(k))
		}
		return resp, nil
	}
	c := answer(r.CoordinatorKey)
	resp.ErrorCode, resp.ErrorMessage = c.ErrorCode, c.ErrorMessage
	resp.NodeID, resp.Host, resp.Port = c.NodeID, c.Host, c.Port
	return resp, nil
}
