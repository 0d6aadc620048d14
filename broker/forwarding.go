package broker

// Forwarding between brokers: a request one broker sends another over the
// Kafka protocol (send, with interBrokerClientID; sendAs, with another
// client id, as a slave forwarding a client's admin write to its master),
// one kgo client kept per address and client id. A request that arrived
// with interBrokerClientID applies to the receiver's share only and is never
// forwarded again (markForwarded, isForwarded).

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/gregor-broker/gregor/nameserver"
	"github.com/gregor-broker/gregor/protocol"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// interBrokerClientID is the client id of requests one broker sends
// another; a DeleteTopics carrying it deletes only the receiver's share.
const interBrokerClientID = "gregor.inter-broker"

// send issues req to another broker over the Kafka protocol and returns its
// response. One client is kept per address.
func (c *cluster) send(ctx context.Context, to *nameserver.Broker, req kmsg.Request) (kmsg.Response, error) {
	host, port, ok := endpoint(to, c.b.interBrokerListener())
	if !ok {
		return nil, fmt.Errorf("broker %s/%d advertises no listener", to.BrokerName, to.BrokerID)
	}
	addr := net.JoinHostPort(host, strconv.Itoa(int(port)))
	c.peersMu.Lock()
	cl := c.peers[addr]
	if cl == nil {
		var err error
		cl, err = kgo.NewClient(kgo.SeedBrokers(addr), kgo.ClientID(interBrokerClientID))
		if err != nil {
			c.peersMu.Unlock()
			return nil, err
		}
		c.peers[addr] = cl
	}
	c.peersMu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, interBrokerCallTimeout)
	defer cancel()
	seeds := cl.SeedBrokers()
	if len(seeds) == 0 {
		return nil, fmt.Errorf("no connection to %s", addr)
	}
	return seeds[0].Request(ctx, req)
}

// sendAs is send with another client id (one client per address and id).
func (c *cluster) sendAs(ctx context.Context, to *nameserver.Broker, req kmsg.Request, clientID string) (kmsg.Response, error) {
	host, port, ok := endpoint(to, c.b.interBrokerListener())
	if !ok {
		return nil, errors.New("broker " + to.BrokerName + " advertises no listener")
	}
	addr := net.JoinHostPort(host, strconv.Itoa(int(port)))
	key := clientID + "@" + addr
	c.peersMu.Lock()
	cl := c.peers[key]
	if cl == nil {
		var err error
		cl, err = kgo.NewClient(kgo.SeedBrokers(addr), kgo.ClientID(clientID))
		if err != nil {
			c.peersMu.Unlock()
			return nil, err
		}
		c.peers[key] = cl
	}
	c.peersMu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, interBrokerCallTimeout)
	defer cancel()
	seeds := cl.SeedBrokers()
	if len(seeds) == 0 {
		return nil, errors.New("no connection to " + addr)
	}
	return seeds[0].Request(ctx, pinnedVersion{req})
}

// forwardedRequest reports whether req came from another broker of the
// cluster (interBrokerClientID): it applies to this broker's share only.
func forwardedRequest(req *protocol.Request) bool {
	return req.Header.ClientID != nil && *req.Header.ClientID == interBrokerClientID
}

type forwardedKey struct{}

// markForwarded notes in ctx that req came from another broker, so the
// handlers never forward it again: two brokers whose views disagree on the
// decider for a moment (a group expiring) must not pass a creation back and
// forth; the second one decides.
func markForwarded(ctx context.Context, req *protocol.Request) context.Context {
	if !forwardedRequest(req) {
		return ctx
	}
	return context.WithValue(ctx, forwardedKey{}, true)
}

// isForwarded reports whether ctx belongs to a request from another broker.
func isForwarded(ctx context.Context) bool {
	v, _ := ctx.Value(forwardedKey{}).(bool)
	return v
}
