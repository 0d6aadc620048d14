package protocol

// This file is the contract between protocol/ and broker/. The protocol owner
// may add to it.

import (
	"net"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Header is a parsed Kafka request header.
type Header struct {
	Key           int16
	Version       int16
	CorrelationID int32
	ClientID      *string
}

// ConnInfo describes the connection a request arrived on.
type ConnInfo struct {
	Local, Remote net.Addr
	// Listener is the name of the listener (e.g. "PLAINTEXT") the
	// connection was accepted on; Metadata and FindCoordinator answer with
	// that listener's advertised address.
	Listener string
	// Session is the handler's per-connection state (the broker's SASL
	// session and principal), set by ServerConfig.OnConnect before the
	// first request is read; the protocol layer never reads it.
	Session any

	// mute is when the connection may be read again (unix nanoseconds),
	// set by Mute.
	mute atomic.Int64
}

// Mute holds the reading of the connection's next request for d (Kafka
// mutes a throttled client's channel, KIP-219). A later Mute that ends
// sooner does not shorten an earlier one.
func (c *ConnInfo) Mute(d time.Duration) {
	if c == nil || d <= 0 {
		return
	}
	until := time.Now().Add(d).UnixNano()
	for {
		cur := c.mute.Load()
		if cur >= until || c.mute.CompareAndSwap(cur, until) {
			return
		}
	}
}

// mutedFor is how long the connection stays muted from now.
func (c *ConnInfo) mutedFor() time.Duration {
	u := c.mute.Load()
	if u == 0 {
		return 0
	}
	return time.Until(time.Unix(0, u))
}

// Request is one decoded request.
type Request struct {
	Header Header
	Body   kmsg.Request // version already set from the header
	Conn   *ConnInfo
	// Size is the request's size on the wire, its size prefix included
	// (Kafka's request size, what produce quotas count).
	Size int
}
