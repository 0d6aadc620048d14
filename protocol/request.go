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
	// maxFrame, when above 0, caps the next frames below the server's
	// MaxFrameBytes (SetMaxFrame).
	maxFrame atomic.Int32
	// closeAfter is 1 + the correlation id of the response after which the
	// connection closes (CloseAfter); 0: none.
	closeAfter atomic.Int64
	// raw, when set, answers the next frames as unframed SASL tokens
	// (raw_tokens.go).
	raw atomic.Pointer[RawTokens]
}

// CloseAfter closes the connection once the response to the request with
// correlation id corr is written (Kafka closes a connection whose SASL
// authentication failed, after telling it why).
func (c *ConnInfo) CloseAfter(corr int32) {
	if c != nil {
		c.closeAfter.Store(int64(corr) + 1)
	}
}

// closeLinger is how long a connection stays open after the answer that
// CloseAfter named is written.
const closeLinger = 200 * time.Millisecond

// closesAfter reports whether the connection closes after the response
// to corr.
func (c *ConnInfo) closesAfter(corr int32) bool {
	return c.closeAfter.Load() == int64(corr)+1
}

// SetMaxFrame caps the size of the connection's next requests below the
// server's MaxFrameBytes; 0 lifts the cap (Kafka reads at most
// sasl.server.max.receive.size before a SASL connection is authenticated).
func (c *ConnInfo) SetMaxFrame(n int32) {
	if c != nil {
		c.maxFrame.Store(n)
	}
}

// frameLimit is the largest frame the connection may send now.
func (c *ConnInfo) frameLimit(server int32) int32 {
	if m := c.maxFrame.Load(); m > 0 && m < server {
		return m
	}
	return server
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
