package protocol

// This file is the contract between protocol/ and broker/. The protocol owner
// may add to it.

import (
	"net"

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
}

// Request is one decoded request.
type Request struct {
	Header Header
	Body   kmsg.Request // version already set from the header
	Conn   *ConnInfo
}
