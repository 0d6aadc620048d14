package broker

// Per-connection security state: the principal a connection acts as and,
// on SASL listeners, the authentication exchange (SaslHandshake then
// SaslAuthenticate, 17_sasl_handshake.go and 36_sasl_authenticate.go) and
// KIP-368 re-authentication.
//
// As in Kafka's SaslServerAuthenticator, a SASL connection may send only
// ApiVersions, SaslHandshake and SaslAuthenticate before it is
// authenticated; anything else closes it. Once the session lifetime
// (connections.max.reauth.ms) has passed, any request other than those
// three closes the connection: the client was told the lifetime in
// SaslAuthenticate and re-authenticates on the same connection before it.

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/gregor-broker/gregor/broker/security"
	"github.com/gregor-broker/gregor/protocol"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// session is one client connection's security state (ConnInfo.Session).
type session struct {
	proto string    // the listener's security protocol
	tls   *tls.Conn // nil on a plaintext listener

	mu            sync.Mutex
	mech          string // chosen by the last SaslHandshake
	conv          security.Conversation
	authenticated bool
	failed        bool // a failed authentication: the connection is done
	principal     string
	expires       time.Time                 // zero: the session never expires
	internal      bool                      // a broker's own request in an envelope (envelope.go)
	mapper        *security.PrincipalMapper // ssl.principal.mapping.rules
	accepted      time.Time                 // when the connection was accepted
}

// onConnect is protocol.ServerConfig.OnConnect for a listener of proto.
func onConnect(proto string, mapper *security.PrincipalMapper) func(info *protocol.ConnInfo, nc net.Conn) {
	return func(info *protocol.ConnInfo, nc net.Conn) {
		s := &session{proto: proto, mapper: mapper}
		s.tls, _ = nc.(*tls.Conn)
		info.Session = s
	}
}

// saslLimits wraps a listener's OnConnect: the session notes when the
// connection was accepted, and until a SASL connection authenticates its
// requests may be at most sasl.server.max.receive.size long, as in Kafka.
func (b *Broker) saslLimits(proto string, next func(info *protocol.ConnInfo, nc net.Conn)) func(info *protocol.ConnInfo, nc net.Conn) {
	return func(info *protocol.ConnInfo, nc net.Conn) {
		next(info, nc)
		if s, ok := info.Session.(*session); ok {
			s.accepted = time.Now()
		}
		if isSASL(proto) {
			info.SetMaxFrame(b.cfg.Security.SASLMaxReceive)
		}
	}
}

func sessionOf(req *protocol.Request) *session {
	if req.Conn == nil {
		return nil
	}
	s, _ := req.Conn.Session.(*session)
	return s
}

// Principal is the Kafka principal of the connection req arrived on
// ("User:alice"): the SASL user, the TLS client certificate's subject on an
// SSL listener, User:ANONYMOUS otherwise (and for requests not from a
// listener, such as a broker's own).
func principalOf(req *protocol.Request) string {
	s := sessionOf(req)
	if s == nil {
		return "User:ANONYMOUS"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.principal != "" {
		return s.principal
	}
	if s.tls != nil && s.proto == ProtoSSL {
		// The handshake completed before the first request was read.
		s.principal = s.mapper.Principal(s.tls.ConnectionState())
		return s.principal
	}
	return "User:ANONYMOUS"
}

// errSASLState closes a connection that sent a request its SASL state does
// not allow.
var errSASLState = errors.New("broker: request not allowed in the connection's SASL state")

// saslGate decides whether req may be handled on its connection's SASL
// state; a non-nil error closes the connection (as Kafka closes it).
func (b *Broker) saslGate(req *protocol.Request) error {
	s := sessionOf(req)
	if s == nil || !isSASL(s.proto) {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch req.Header.Key {
	case int16(kmsg.ApiVersions), int16(kmsg.SASLHandshake), int16(kmsg.SASLAuthenticate):
		// A client that never finishes authenticating cannot hold the
		// connection by sending only these: it has connections.max.idle.ms
		// from its accept to authenticate.
		if d := b.cfg.ConnectionsMaxIdle; !s.authenticated && d > 0 && !s.accepted.IsZero() && time.Since(s.accepted) > d {
			return fmt.Errorf("%w: not authenticated %v after the connection was accepted (connections.max.idle.ms)", errSASLState, d)
		}
		return nil
	}
	switch {
	case s.failed:
		return errSASLState
	case !s.authenticated:
		return fmt.Errorf("%w: %s before authentication", errSASLState, kmsg.NameForKey(req.Header.Key))
	case !s.expires.IsZero() && time.Now().After(s.expires):
		return fmt.Errorf("%w: the session of %s expired (connections.max.reauth.ms) without re-authentication", errSASLState, s.principal)
	}
	return nil
}

// plainCheck checks a PLAIN login: the configured JAAS users first, then
// the stored SCRAM credentials of the user (any mechanism).
func (b *Broker) plainCheck(user, password string) bool {
	if pw, ok := b.cfg.Security.PlainUsers[user]; ok {
		return pw == password
	}
	for _, m := range []string{security.ScramSHA512, security.ScramSHA256} {
		if c, ok := b.scramCredential(user, m); ok && c.CheckPassword(password) {
			return true
		}
	}
	return false
}

// mechanismEnabled reports whether sasl.enabled.mechanisms has mech.
func (b *Broker) mechanismEnabled(mech string) bool {
	for _, m := range b.cfg.Security.SASLMechanisms {
		if m == mech {
			return true
		}
	}
	return false
}

// failedAuthDelay holds a failed authentication's answer back
// (connection.failed.authentication.delay.ms) unless ctx ends first.
func (b *Broker) failedAuthDelay(ctx context.Context) {
	if b.cfg.Security.FailedAuthDelay <= 0 {
		return
	}
	t := time.NewTimer(b.cfg.Security.FailedAuthDelay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
