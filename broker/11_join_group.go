package broker

// JoinGroup (key 11), versions 0–9.
//
// The classic protocol, answered by broker/group: the initial rebalance delay
// (group.initial.rebalance.delay.ms), rebalance and session timeouts (the
// latter within group.min/max.session.timeout.ms, else
// INVALID_SESSION_TIMEOUT), MEMBER_ID_REQUIRED on a v4+ first join (KIP-394),
// static membership (KIP-345), protocol selection across members
// (INCONSISTENT_GROUP_PROTOCOL). Member metadata passes through unchanged.
// The request waits until the rebalance completes; the connection's other
// requests wait behind it, as in Kafka.

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
	info := group.JoinInfo{ClientHost: clientHost(req.Conn)}
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
