package broker

// JoinGroup (key 11), versions 0–9.
//
// The classic protocol's join phase, answered by broker/group (state.go).
//
// Behaviour:
//   - A group this broker does not coordinate gets NOT_COORDINATOR
//     (validateGroup, coordination.go); an empty group id INVALID_GROUP_ID; a
//     session timeout outside group.min/max.session.timeout.ms
//     INVALID_SESSION_TIMEOUT.
//   - A new or emptied group waits group.initial.rebalance.delay.ms, longer
//     while members keep arriving (within the rebalance timeout), before its
//     first generation, as Kafka's initial delayed join. Later rebalances
//     complete when every member has rejoined or the largest rebalance
//     timeout passes; members that did not rejoin are removed.
//   - The request waits until the rebalance completes (the connection's
//     other requests wait behind it, as in Kafka: JoinGroup is not a
//     concurrent API, server.go). When the connection closes first the
//     member stays in the rebalance and the answer is dropped. A repeated
//     join of the same member answers the earlier one REBALANCE_IN_PROGRESS.
//   - group.max.size: a joiner beyond it gets GROUP_MAX_SIZE_REACHED and, if
//     it was a member, leaves the group.
//   - The protocol type must match the group's and every other member must
//     support one of the joiner's protocols (INCONSISTENT_GROUP_PROTOCOL).
//     The protocol is chosen by Kafka's vote: each member votes for the
//     first protocol it lists that every member supports; the most votes
//     win, ties go to the earlier joiner's choice. Member metadata passes
//     through unchanged; only the leader gets the members' metadata.
//   - An unknown member id gets UNKNOWN_MEMBER_ID; a member id that does not
//     hold its group.instance.id FENCED_INSTANCE_ID.
//   - Static membership (KIP-345): a join with a known group.instance.id
//     and no member id takes the old member's place under a new id; the old
//     id's waiting calls get FENCED_INSTANCE_ID. In a Stable group whose
//     chosen protocol stays, that needs no rebalance: the member gets the
//     current generation and its old assignment; otherwise the group
//     rebalances.
//   - A follower rejoining a Stable group with unchanged protocols keeps
//     the generation; the leader's rejoin, or changed protocols, rebalance.
//
// Versions:
//   - v0: no rebalance timeout; the session timeout serves as one.
//   - v4+: a first join without a member id gets MEMBER_ID_REQUIRED with a
//     new id (KIP-394); a rebalance (other than a new group's first) waits
//     for that id to join, until its session timeout.
//   - v5+: group.instance.id (static membership).
//   - v9: a restarted static leader that took its old place without a
//     rebalance is told to skip the assignment (SkipAssignment).

import (
	"context"
	"net"

	"github.com/gregor-broker/gregor/broker/group"
	"github.com/gregor-broker/gregor/protocol"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.JoinGroup, 0, 9, handleJoinGroup) }

func handleJoinGroup(ctx context.Context, b *Broker, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.JoinGroupRequest)
	g, code := b.validateGroup(ctx, r.Group)
	if code != 0 {
		resp := r.ResponseKind().(*kmsg.JoinGroupResponse)
		resp.ErrorCode, resp.Generation = code, -1
		return resp, nil
	}
	info := group.JoinInfo{ClientHost: clientHost(req.Conn), Topics: b.topicCatalog()}
	if req.Header.ClientID != nil {
		info.ClientID = *req.Header.ClientID
	}
	return g.JoinGroup(ctx, r, info), nil
}

// clientHost is the member's host as Kafka reports it: "/" + IP.
func clientHost(c *protocol.ConnInfo) string {
	if c == nil || c.Remote == nil {
		return ""
	}
	host, _, err := net.SplitHostPort(c.Remote.String())
	if err != nil {
		return "/" + c.Remote.String()
	}
	return "/" + host
}
