package broker

// Forwarding between brokers: a request one broker sends another over the
// Kafka protocol (send, with interBrokerClientID; sendAs, with another
// client id, as a slave forwarding a client's admin write to its master).
// Every such request travels in an Envelope (KIP-590, envelope.go) on
// the peer's inter-broker listener, carrying the principal and address of
// the client it is sent for, so the receiver authorizes it as that client;
// a broker's own requests (no client behind them, or transaction markers)
// carry the principal Broker:<group>/<id> and are the receiver's own.
//
// The connection itself is authenticated as the inter-broker listener's
// security protocol asks (interBrokerOpts): TLS with the broker's key store
// as client certificate, SASL with sasl.mechanism.inter.broker.protocol and
// the username/password of sasl.jaas.config. One kgo client is kept per
// address. A request that arrived with interBrokerClientID applies to the
// receiver's share only and is never forwarded again (markForwarded,
// isForwarded).

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/gregor-broker/gregor/broker/security"
	"github.com/gregor-broker/gregor/nameserver"
	"github.com/gregor-broker/gregor/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	"go.uber.org/zap"
)

// interBrokerClientID is the client id of requests one broker sends
// another; a DeleteTopics carrying it deletes only the receiver's share.
const interBrokerClientID = "gregor.inter-broker"

// brokerOwnAPIs are sent as the broker itself even when a client's request
// caused them: Kafka's coordinator writes transaction markers as the broker.
var brokerOwnAPIs = map[int16]bool{int16(kmsg.WriteTxnMarkers): true}

// send issues req to another broker and returns its response, at the
// highest version of req this build serves (the peer runs the same).
func (c *cluster) send(ctx context.Context, to *nameserver.Broker, req kmsg.Request) (kmsg.Response, error) {
	v := req.MaxVersion()
	if a, ok := apis[req.Key()]; ok && a.max < v {
		v = a.max
	}
	req.SetVersion(v)
	return c.envelope(ctx, to, req, interBrokerClientID)
}

// sendAs is send with another client id, at the version req already has
// (the client's: fields move between versions and the answer must be one
// the client can read at its version).
func (c *cluster) sendAs(ctx context.Context, to *nameserver.Broker, req kmsg.Request, clientID string) (kmsg.Response, error) {
	return c.envelope(ctx, to, req, clientID)
}

// envelope wraps req (at its version) for the client of ctx and sends it.
func (c *cluster) envelope(ctx context.Context, to *nameserver.Broker, req kmsg.Request, clientID string) (kmsg.Response, error) {
	env := kmsg.NewPtrEnvelopeRequest()
	who, ok := requesterFrom(ctx)
	if !ok || who.internal || brokerOwnAPIs[req.Key()] {
		env.RequestPrincipal = encodePrincipal(c.brokerPrincipal())
		env.ClientHostAddress = net.IPv4(127, 0, 0, 1).To4()
	} else {
		env.RequestPrincipal = encodePrincipal(who.principal)
		ip := net.ParseIP(who.host)
		if ip == nil {
			ip = net.IPv4zero
		}
		if ip4 := ip.To4(); ip4 != nil {
			ip = ip4
		}
		env.ClientHostAddress = ip
	}
	env.RequestData = appendRequest(nil, req, c.b.sec.corr.Add(1), clientID)
	raw, err := c.rawSend(ctx, to, env)
	if err != nil {
		return nil, err
	}
	resp := raw.(*kmsg.EnvelopeResponse)
	if resp.ErrorCode != 0 {
		return nil, fmt.Errorf("broker %s/%d: envelope: %w", to.BrokerName, to.BrokerID, kerr.ErrorForCode(resp.ErrorCode))
	}
	out := req.ResponseKind()
	out.SetVersion(req.GetVersion())
	if err := readResponse(resp.ResponseData, req.Key(), out); err != nil {
		return nil, err
	}
	return out, nil
}

// brokerPrincipal names this broker in the envelopes of its own requests.
func (c *cluster) brokerPrincipal() string {
	return brokerPrincipalType + ":" + c.cfg.BrokerName + "/" + strconv.FormatInt(c.cfg.BrokerID, 10)
}

// rawSend sends req (an envelope) to the peer's inter-broker listener on
// the client kept for that address.
func (c *cluster) rawSend(ctx context.Context, to *nameserver.Broker, req kmsg.Request) (kmsg.Response, error) {
	host, port, ok := endpoint(to, c.b.interBrokerListener())
	if !ok {
		return nil, fmt.Errorf("broker %s/%d advertises no listener", to.BrokerName, to.BrokerID)
	}
	addr := net.JoinHostPort(host, strconv.Itoa(int(port)))
	c.peersMu.Lock()
	cl := c.peers[addr]
	if cl == nil {
		opts, err := c.b.interBrokerOpts()
		if err != nil {
			c.peersMu.Unlock()
			return nil, err
		}
		cl, err = kgo.NewClient(append(opts, kgo.SeedBrokers(addr))...)
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
		return nil, errors.New("no connection to " + addr)
	}
	return seeds[0].Request(ctx, req)
}

// interBrokerOpts are the kgo options of a connection to a peer's
// inter-broker listener: its security protocol's TLS and SASL.
func (b *Broker) interBrokerOpts() ([]kgo.Opt, error) {
	opts := []kgo.Opt{kgo.ClientID(interBrokerClientID), kgo.SoftwareNameAndVersion(interBrokerSoftware, "1")}
	proto := b.listenerProtocol(b.interBrokerListener())
	if isTLS(proto) {
		cfg, err := b.interBrokerTLS()
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.DialTLSConfig(cfg))
	}
	if isSASL(proto) {
		m, err := b.cfg.Security.InterBroker.mechanism()
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.SASL(m))
	}
	return opts, nil
}

// interBrokerTLS is the client side of the broker's TLS material, loaded
// once per broker.
func (b *Broker) interBrokerTLS() (*tls.Config, error) {
	if c := b.sec.ibTLS.Load(); c != nil {
		return c, nil
	}
	r, err := security.NewReloader(b.cfg.Security.TLS, func(err error) {
		b.log.Warn("reloading the TLS key or trust store for inter-broker connections failed", zap.Error(err))
	})
	if err != nil {
		return nil, fmt.Errorf("broker: inter-broker TLS: %w", err)
	}
	c := r.ClientConfig()
	b.sec.ibTLS.Store(c)
	return c, nil
}

// listenerProtocol returns the security protocol of the named listener.
func (b *Broker) listenerProtocol(name string) string {
	for _, l := range b.cfg.Listeners {
		if l.Name == name {
			if l.Protocol == "" {
				return ProtoPlaintext
			}
			return l.Protocol
		}
	}
	return ProtoPlaintext
}

// mechanism is the SASL mechanism brokers log in to each other with.
func (c InterBrokerConfig) mechanism() (sasl.Mechanism, error) {
	if c.Username == "" {
		return nil, errors.New("broker: the inter-broker listener is SASL but sasl.jaas.config names no username=\"…\" password=\"…\" for the broker itself")
	}
	switch c.Mechanism {
	case "", security.Plain:
		return plain.Auth{User: c.Username, Pass: c.Password}.AsMechanism(), nil
	case security.ScramSHA256:
		return scram.Auth{User: c.Username, Pass: c.Password}.AsSha256Mechanism(), nil
	case security.ScramSHA512:
		return scram.Auth{User: c.Username, Pass: c.Password}.AsSha512Mechanism(), nil
	}
	return nil, fmt.Errorf("broker: sasl.mechanism.inter.broker.protocol %q: give PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", c.Mechanism)
}

type requesterKey struct{}

// withRequester notes in ctx who req comes from, for the envelopes of the
// requests sent on its behalf.
func withRequester(ctx context.Context, req *protocol.Request) context.Context {
	return context.WithValue(ctx, requesterKey{}, requesterOf(req))
}

func requesterFrom(ctx context.Context) (requester, bool) {
	r, ok := ctx.Value(requesterKey{}).(requester)
	return r, ok
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
