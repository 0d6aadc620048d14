package broker

// Envelope (key 58), version 0: a request one gregor broker forwards to
// another on behalf of a client (KIP-590), authorized at the receiver as the
// client's principal rather than as the forwarding broker.
//
// The envelope carries the inner request (header and body, as on the wire),
// the client's principal (Kafka's DefaultPrincipalData, version-prefixed)
// and the client's IP address (4 or 16 bytes). The receiver answers the
// inner request exactly as if the client had sent it from that address as
// that principal, and returns the inner response (header and body) in the
// envelope's response.
//
// Who may send one, as in Kafka:
//   - only on the inter-broker listener (inter.broker.listener.name): an
//     envelope arriving on any other listener closes the connection, as a
//     Kafka broker does for an API its listener does not serve;
//   - only a principal allowed CLUSTER_ACTION on the cluster (the brokers'
//     own principal, normally in super.users): anyone else gets
//     CLUSTER_AUTHORIZATION_FAILED and the inner request is not run.
//
// A broker's own requests (placing a topic's share, transaction markers)
// travel in an envelope too, with the principal Broker:<group>/<id>; the
// receiver treats them as the broker's own (requester.internal), which only
// a sender trusted with CLUSTER_ACTION on the inter-broker listener can
// claim (and such a sender can already claim any principal).
//
// Envelope is not in the apis table, so a client's ApiVersions does not
// list it (Kafka 4's brokers do not either); the inter-broker listener
// lists it to a client that names itself interBrokerSoftware, which is how
// the forwarding broker's kgo client agrees to send it.
//
// The inner requests refused (INVALID_REQUEST, as Kafka refuses a
// non-forwardable API): Envelope itself, ApiVersions, the SASL exchange,
// Produce and Fetch. An inner request the receiver cannot decode gets
// INVALID_REQUEST; a principal it cannot decode
// PRINCIPAL_DESERIALIZATION_FAILURE.
//
// Versions: only v0 exists.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/gregor-broker/gregor/protocol"
	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
)

// interBrokerAPIs are served only between brokers, never listed to clients.
var interBrokerAPIs = map[int16]api{
	int16(kmsg.Envelope): {min: 0, max: 0, fn: handleEnvelope},
}

// interBrokerSoftware is the ClientSoftwareName of the kgo clients brokers
// forward with (forwarding.go).
const interBrokerSoftware = "gregor-inter-broker"

// brokerPrincipalType is the principal type of a broker's own requests in
// an envelope.
const brokerPrincipalType = "Broker"

// notEnvelopeInner are the APIs an envelope may not carry.
var notEnvelopeInner = map[int16]bool{
	int16(kmsg.Envelope): true, int16(kmsg.ApiVersions): true, int16(kmsg.SASLHandshake): true,
	int16(kmsg.SASLAuthenticate): true, int16(kmsg.Produce): true, int16(kmsg.Fetch): true,
}

// errEnvelopeListener closes a connection that sent an envelope on a
// listener other than the inter-broker one.
var errEnvelopeListener = errors.New("broker: Envelope is served on the inter-broker listener only")

type envelopeKey struct{}

// viaEnvelope reports whether ctx belongs to a request that arrived in an
// envelope (it is never forwarded again, acl_owner.go).
func viaEnvelope(ctx context.Context) bool {
	v, _ := ctx.Value(envelopeKey{}).(bool)
	return v
}

func handleEnvelope(ctx context.Context, b *Broker, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.EnvelopeRequest)
	resp := r.ResponseKind().(*kmsg.EnvelopeResponse)
	if req.Conn == nil || req.Conn.Listener != b.interBrokerListener() {
		return nil, errEnvelopeListener
	}
	if !b.allowed(requesterOf(req), resCluster, clusterResourceName, aclOpClusterAction) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp, nil
	}
	principal, err := decodePrincipal(r.RequestPrincipal)
	if err != nil {
		resp.ErrorCode = kerr.PrincipalDeserializationFailure.Code
		return resp, nil
	}
	ip := net.IP(r.ClientHostAddress)
	if len(r.ClientHostAddress) != net.IPv4len && len(r.ClientHostAddress) != net.IPv6len {
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp, nil
	}
	key, _, _, err := protocol.PeekHeader(r.RequestData)
	if err != nil {
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp, nil
	}
	if key == securityStateKey {
		resp.ResponseData = b.serveSecurityState(r.RequestData)
		return resp, nil
	}
	a, ok := apis[key]
	if !ok || notEnvelopeInner[key] {
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp, nil
	}
	h, body, err := protocol.ParseRequest(r.RequestData)
	if err != nil || h.Version < a.min || h.Version > a.max {
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp, nil
	}
	s := &session{principal: principal, authenticated: true, internal: strings.HasPrefix(principal, brokerPrincipalType+":")}
	inner := &protocol.Request{Header: h, Body: body, Conn: &protocol.ConnInfo{
		Local: req.Conn.Local, Remote: &net.TCPAddr{IP: ip}, Listener: req.Conn.Listener, Session: s,
	}}
	ctx = context.WithValue(ctx, envelopeKey{}, true)
	out, err := b.authorizedHandle(ctx, a, inner)
	if err != nil || out == nil {
		// Where a client's connection would have been closed: the
		// forwarding broker gets an error for its caller.
		if err == nil {
			err = errors.New("no response")
		}
		b.log.Debug("an enveloped request failed", zap.String("api", kmsg.NameForKey(h.Key)), zap.Error(err))
		resp.ErrorCode = kerr.UnknownServerError.Code
		return resp, nil
	}
	resp.ResponseData = appendResponse(nil, h.Key, h.CorrelationID, out)
	return resp, nil
}

// encodePrincipal is Kafka's DefaultKafkaPrincipalBuilder.serialize:
// DefaultPrincipalData, version-prefixed.
func encodePrincipal(principal string) []byte {
	typ, name, _ := strings.Cut(principal, ":")
	d := kmsg.NewDefaultPrincipalData()
	d.Type, d.Name = typ, name
	return d.AppendTo(nil)
}

func decodePrincipal(b []byte) (string, error) {
	d := kmsg.NewDefaultPrincipalData()
	if err := d.ReadFrom(b); err != nil {
		return "", err
	}
	if d.Type == "" || d.TokenAuthenticated {
		return "", errors.New("broker: unusable principal in an envelope")
	}
	return d.Type + ":" + d.Name, nil
}

// appendRequest encodes req at its version with a request header (v2 with
// tagged fields for flexible versions, v1 otherwise).
func appendRequest(dst []byte, req kmsg.Request, corr int32, clientID string) []byte {
	dst = kbin.AppendInt16(dst, req.Key())
	dst = kbin.AppendInt16(dst, req.GetVersion())
	dst = kbin.AppendInt32(dst, corr)
	dst = kbin.AppendNullableString(dst, &clientID)
	if req.IsFlexible() {
		dst = kbin.AppendUvarint(dst, 0)
	}
	return req.AppendTo(dst)
}

// appendResponse encodes resp with its response header (v1 with tagged
// fields for flexible versions except ApiVersions', v0 otherwise).
func appendResponse(dst []byte, key int16, corr int32, resp kmsg.Response) []byte {
	dst = kbin.AppendInt32(dst, corr)
	if resp.IsFlexible() && key != int16(kmsg.ApiVersions) {
		dst = kbin.AppendUvarint(dst, 0)
	}
	return resp.AppendTo(dst)
}

// readResponse decodes an envelope's inner response into resp (its version
// set by the caller).
func readResponse(data []byte, key int16, resp kmsg.Response) error {
	r := kbin.Reader{Src: data}
	r.Int32()
	if resp.IsFlexible() && key != int16(kmsg.ApiVersions) {
		kmsg.SkipTags(&r)
	}
	if err := r.Complete(); err != nil {
		return fmt.Errorf("broker: envelope response header: %w", err)
	}
	return resp.ReadFrom(r.Src)
}

// joinAPIs merges API tables (the metrics and the ACL rules cover both the
// client APIs and interBrokerAPIs).
func joinAPIs(ms ...map[int16]api) map[int16]api {
	out := map[int16]api{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}
