package broker

// The security settings of the Kafka listeners: which protocol each
// listener speaks (listener.security.protocol.map), the TLS material of the
// SSL ones and the SASL mechanisms of the SASL ones.

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strings"
	"time"

	"github.com/gregor-broker/gregor/broker/security"
	"go.uber.org/zap"
)

// Kafka's security protocols.
const (
	ProtoPlaintext     = "PLAINTEXT"
	ProtoSSL           = "SSL"
	ProtoSASLPlaintext = "SASL_PLAINTEXT"
	ProtoSASLSSL       = "SASL_SSL"
)

// SecurityConfig is the listeners' security, Kafka's settings by name.
type SecurityConfig struct {
	// TLS is the ssl.* settings shared by every SSL and SASL_SSL listener.
	TLS security.TLSConfig
	// SASLMechanisms is sasl.enabled.mechanisms; default PLAIN,
	// SCRAM-SHA-256, SCRAM-SHA-512 (Kafka's default, GSSAPI, is out of
	// scope).
	SASLMechanisms []string
	// PlainUsers are PLAIN logins from a JAAS text's user_NAME="password"
	// entries (listener.name.*.plain.sasl.jaas.config in Kafka). A PLAIN
	// login not found here is checked against the stored SCRAM
	// credentials.
	PlainUsers map[string]string
	// ReauthMax is connections.max.reauth.ms (KIP-368): a SASL session
	// lasts this long, then the client must authenticate again or its
	// connection is closed at its next request. 0: sessions never expire.
	ReauthMax time.Duration
	// Authorizer is authorizer.class.name set: ACLs are enforced (acl.go).
	Authorizer bool
	// SuperUsers is super.users: principals (User:name) allowed
	// everything.
	SuperUsers []string
	// AllowEveryoneIfNoACL is allow.everyone.if.no.acl.found.
	AllowEveryoneIfNoACL bool
	// SASLMaxReceive is sasl.server.max.receive.size: the largest request a
	// SASL connection may send before it is authenticated (Kafka's 512 KiB
	// default); a larger one closes the connection.
	SASLMaxReceive int32
	// OAuth is the OAUTHBEARER token validation (oauth.go), used when
	// SASLMechanisms has OAUTHBEARER.
	OAuth OAuthConfig
	// FailedAuthDelay is connection.failed.authentication.delay.ms: how
	// long a failed authentication's answer is held back (Kafka's 100 ms
	// default; negative: none), which slows password guessing.
	FailedAuthDelay time.Duration
	// Owner is where the cluster's ACLs and SCRAM credentials live, and
	// InterBroker how brokers authenticate to each other (acl_owner.go).
	Owner       OwnerConfig
	InterBroker InterBrokerConfig
}

// isTLS and isSASL say what a security protocol needs.
func isTLS(proto string) bool  { return proto == ProtoSSL || proto == ProtoSASLSSL }
func isSASL(proto string) bool { return proto == ProtoSASLPlaintext || proto == ProtoSASLSSL }

// EnsureDefaults fills every zero field that has a default.
func (c *SecurityConfig) EnsureDefaults() {
	c.TLS.EnsureDefaults()
	if len(c.SASLMechanisms) == 0 {
		c.SASLMechanisms = append([]string(nil), security.Mechanisms...)
	}
	c.OAuth.ensureDefaults()
	if c.SASLMaxReceive == 0 {
		c.SASLMaxReceive = 512 << 10
	}
	if c.FailedAuthDelay == 0 {
		c.FailedAuthDelay = 100 * time.Millisecond
	}
	c.Owner.EnsureDefaults()
	c.InterBroker.EnsureDefaults()
}

// validate fills defaults and checks the settings against the listeners.
func (c *SecurityConfig) validate(ls []Listener) error {
	c.EnsureDefaults()
	for i, m := range c.SASLMechanisms {
		m = strings.ToUpper(strings.TrimSpace(m))
		c.SASLMechanisms[i] = m
		switch {
		case security.Supported(m):
		case m == "GSSAPI":
			return errors.New("sasl.enabled.mechanisms: GSSAPI (Kerberos) is out of gregor's scope; use SCRAM-SHA-512 or PLAIN over SASL_SSL")
		case m == OAuthMechanism:
			if err := c.OAuth.validate(); err != nil {
				return fmt.Errorf("sasl.enabled.mechanisms: %w", err)
			}
		default:
			return fmt.Errorf("sasl.enabled.mechanisms: unknown mechanism %q (gregor serves PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER)", m)
		}
	}
	if c.ReauthMax < 0 {
		return fmt.Errorf("connections.max.reauth.ms must not be negative, got %v", c.ReauthMax)
	}
	if err := c.validateOwner(ls); err != nil {
		return err
	}
	needTLS := false
	for _, l := range ls {
		switch l.Protocol {
		case "", ProtoPlaintext, ProtoSSL, ProtoSASLPlaintext, ProtoSASLSSL:
		default:
			return fmt.Errorf("listener %s: unknown security protocol %q", l.Name, l.Protocol)
		}
		if isTLS(l.Protocol) {
			needTLS = true
		}
	}
	if needTLS {
		if err := c.TLS.Validate(); err != nil {
			return err
		}
	}
	return nil
}

// Check reports what validate would refuse, without changing c (the
// command checks its settings before it builds the broker).
func (c SecurityConfig) Check(ls []Listener) error {
	c.SASLMechanisms = append([]string(nil), c.SASLMechanisms...)
	c.TLS.EnabledProtocols = append([]string(nil), c.TLS.EnabledProtocols...)
	return c.validate(ls)
}

// jaasUser matches one user_NAME="password" option of a JAAS text.
var jaasUser = regexp.MustCompile(`user_([^\s=]+)\s*=\s*"((?:[^"\\]|\\.)*)"`)

// ParsePlainJAAS reads the PLAIN logins of a Kafka JAAS text
// (org.apache.kafka.common.security.plain.PlainLoginModule required
// user_alice="alice-secret";): user_NAME="password" entries.
func ParsePlainJAAS(text string) (map[string]string, error) {
	if !strings.Contains(text, "PlainLoginModule") {
		return nil, errors.New("the JAAS text names no org.apache.kafka.common.security.plain.PlainLoginModule")
	}
	users := map[string]string{}
	for _, m := range jaasUser.FindAllStringSubmatch(text, -1) {
		users[m[1]] = strings.ReplaceAll(strings.ReplaceAll(m[2], `\"`, `"`), `\\`, `\`)
	}
	return users, nil
}

// tlsListeners builds the TLS configuration of the SSL listeners once; nil
// when no listener needs one.
func (b *Broker) tlsConfig() (*tls.Config, error) {
	need := false
	for _, l := range b.cfg.Listeners {
		need = need || isTLS(l.Protocol)
	}
	if !need {
		return nil, nil
	}
	r, err := security.NewReloader(b.cfg.Security.TLS, func(err error) {
		b.log.Warn("reloading the TLS key or trust store failed; serving the previous one", zap.Error(err))
	})
	if err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	return r.Config(), nil
}

// interBrokerListener is the listener name brokers use to forward requests
// to each other: inter.broker.listener.name, else the first PLAINTEXT
// listener, else the first.
func (b *Broker) interBrokerListener() string {
	if n := b.cfg.Security.InterBroker.Listener; n != "" {
		return n
	}
	for _, l := range b.cfg.Listeners {
		if l.Protocol == "" || l.Protocol == ProtoPlaintext {
			return l.Name
		}
	}
	return b.cfg.Listeners[0].Name
}

// tlsListener hands out TLS server connections; the handshake runs at the
// connection's first read, under its idle timeout.
type tlsListener struct {
	net.Listener
	cfg *tls.Config
}

func (l tlsListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return tls.Server(c, l.cfg), nil
}
