package broker

// SaslHandshake (key 17), versions 0–1.
//
// Picks the SASL mechanism of the exchange SaslAuthenticate carries next
// (sasl.go keeps the connection's state).
//
// Behaviour:
//   - On a SASL listener: the mechanism of the first exchange or of a
//     KIP-368 re-authentication; an unknown or disabled one gets
//     UNSUPPORTED_SASL_MECHANISM with the enabled list.
//   - On a PLAINTEXT or SSL listener: ILLEGAL_SASL_STATE, as Kafka answers.
//
// Versions: v0 and v1, as Kafka. After a v0 answer the client sends its
// SASL tokens unframed (KIP-43): the connection answers them as bare
// tokens until the exchange ends (rawSASL, protocol/raw_tokens.go); a
// failed v0 authentication closes the connection, as Kafka does.

import (
	"context"

	"github.com/gregor-broker/gregor/broker/security"
	"github.com/gregor-broker/gregor/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.SASLHandshake, 0, 1, handleSASLHandshake) }

func handleSASLHandshake(_ context.Context, b *Broker, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.SASLHandshakeRequest)
	resp := r.ResponseKind().(*kmsg.SASLHandshakeResponse)
	resp.SupportedMechanisms = append([]string(nil), b.cfg.Security.SASLMechanisms...)
	s := sessionOf(req)
	if s == nil || !isSASL(s.proto) {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		return resp, nil
	}
	if !b.mechanismEnabled(r.Mechanism) {
		resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
		return resp, nil
	}
	var conv security.Conversation
	var err error
	if r.Mechanism == OAuthMechanism {
		conv = b.newOAuthConversation() // oauth.go
	} else {
		conv, err = security.NewConversation(r.Mechanism, b.scramCredential, b.plainCheck)
	}
	if err != nil {
		resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
		return resp, nil
	}
	s.mu.Lock()
	s.mech, s.conv = r.Mechanism, conv
	s.mu.Unlock()
	if r.Version == 0 {
		req.Conn.SetRawTokens(b.rawSASL(req)) // 36_sasl_authenticate.go
	}
	return resp, nil
}
