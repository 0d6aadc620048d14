package broker

// SaslAuthenticate (key 36), versions 0–2.
//
// Carries the SASL tokens of the mechanism SaslHandshake chose.
//
// Behaviour:
//   - A failed login gets SASL_AUTHENTICATION_FAILED with Kafka's message
//     for the case, after connection.failed.authentication.delay.ms; the
//     connection is then closed, as Kafka closes it, and counted in
//     gregor_sasl_authentications_total{result="failed"}.
//   - Success sets the connection's principal to User:<name>; a
//     re-authentication must keep the principal, as Kafka requires.
//   - Without a preceding SaslHandshake, or on a listener without SASL:
//     ILLEGAL_SASL_STATE.
//
// Versions: v1+ answers SessionLifetimeMillis = connections.max.reauth.ms
// (KIP-368); v2 changes the encoding only.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gregor-broker/gregor/broker/security"
	"github.com/gregor-broker/gregor/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.SASLAuthenticate, 0, 2, handleSASLAuthenticate) }

func handleSASLAuthenticate(ctx context.Context, b *Broker, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.SASLAuthenticateRequest)
	resp := r.ResponseKind().(*kmsg.SASLAuthenticateResponse)
	fail := func(code int16, msg string) (kmsg.Response, error) {
		resp.ErrorCode = code
		resp.ErrorMessage = &msg
		return resp, nil
	}
	s := sessionOf(req)
	if s == nil || !isSASL(s.proto) {
		return fail(kerr.IllegalSaslState.Code, "SaslAuthenticate request received after successful authentication")
	}
	s.mu.Lock()
	conv, mech := s.conv, s.mech
	s.mu.Unlock()
	if conv == nil || s.failed {
		return fail(kerr.IllegalSaslState.Code, "Unexpected SaslAuthenticate request: no SaslHandshake chose a mechanism")
	}
	out, done, err := conv.Step(r.SASLAuthBytes)
	if err != nil {
		var ae *security.AuthError
		msg := err.Error()
		if !errors.As(err, &ae) {
			msg = "Authentication failed during authentication due to invalid credentials with SASL mechanism " + mech
		}
		s.mu.Lock()
		s.failed, s.conv = true, nil
		s.mu.Unlock()
		b.metrics.sasl.WithLabelValues(mech, "failed").Inc()
		req.Conn.CloseAfter(req.Header.CorrelationID) // as Kafka closes it
		b.failedAuthDelay(ctx)
		return fail(kerr.SaslAuthenticationFailed.Code, msg)
	}
	resp.SASLAuthBytes = out
	if !done {
		return resp, nil
	}
	principal := "User:" + conv.User()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conv = nil
	if s.authenticated && s.principal != principal {
		s.failed = true
		return fail(kerr.SaslAuthenticationFailed.Code, "Cannot change principals during re-authentication from "+s.principal+": "+principal)
	}
	b.metrics.sasl.WithLabelValues(mech, "ok").Inc()
	req.Conn.SetMaxFrame(0) // sasl.server.max.receive.size no longer applies
	s.authenticated, s.principal = true, principal
	s.expires = time.Time{}
	now := time.Now()
	if d := b.cfg.Security.ReauthMax; d > 0 {
		s.expires = now.Add(d)
	}
	// A credential that expires (an OAUTHBEARER token) ends the session
	// then, if sooner, as Kafka's SaslServerAuthenticator does.
	if e, ok := conv.(interface{ Expiry() time.Time }); ok && !e.Expiry().IsZero() && (s.expires.IsZero() || e.Expiry().Before(s.expires)) {
		s.expires = e.Expiry()
		if !s.expires.After(now) {
			s.expires = now
		}
	}
	if !s.expires.IsZero() && r.Version >= 1 {
		resp.SessionLifetimeMillis = s.expires.Sub(now).Milliseconds()
	}
	return resp, nil
}

// rawSASL answers the unframed tokens of a SaslHandshake v0 exchange on
// hs's connection: each goes through the SaslAuthenticate handler as if
// it came in one, so the same checks, metrics, delays and session state
// apply; the handler's token is the bare reply, a failure closes the
// connection (no frame can carry it), and the exchange's end switches the
// connection back to Kafka requests.
func (b *Broker) rawSASL(hs *protocol.Request) protocol.RawTokens {
	return func(ctx context.Context, token []byte) ([]byte, error) {
		r := kmsg.NewPtrSASLAuthenticateRequest()
		r.SASLAuthBytes = token
		req := &protocol.Request{Header: protocol.Header{Key: int16(kmsg.SASLAuthenticate), CorrelationID: -1, ClientID: hs.Header.ClientID},
			Body: r, Conn: hs.Conn, Size: len(token) + 4}
		resp, err := handleSASLAuthenticate(ctx, b, req)
		if err != nil {
			return nil, err
		}
		ar := resp.(*kmsg.SASLAuthenticateResponse)
		if ar.ErrorCode != 0 {
			msg := ""
			if ar.ErrorMessage != nil {
				msg = *ar.ErrorMessage
			}
			return nil, fmt.Errorf("broker: SASL authentication (SaslHandshake v0) failed: %s", msg)
		}
		if s := sessionOf(req); s != nil {
			s.mu.Lock()
			finished := s.conv == nil
			s.mu.Unlock()
			if finished {
				hs.Conn.SetRawTokens(nil)
			}
		}
		return ar.SASLAuthBytes, nil
	}
}
