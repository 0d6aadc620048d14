package main

// The listeners' security settings, Kafka's names (rows appended to the
// settings table at init, so settings.go stays untouched by them).

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/gregor-broker/gregor/broker"
	"github.com/gregor-broker/gregor/broker/security"
	"go.uber.org/zap"
)

var securitySettings = []setting{
	{key: "ssl.keystore.type", kind: kindString, cmds: brokerProcess | cmdNameServer, usage: "PEM (JKS and PKCS12 are refused: convert them to PEM)", def: func(d *Config) string { return d.Security.TLS.KeystoreType }},
	{key: "ssl.keystore.location", kind: kindString, cmds: brokerProcess | cmdNameServer, usage: "PEM file with the certificate chain and unencrypted private key of SSL and SASL_SSL listeners; re-read when it changes"},
	{key: "ssl.keystore.certificate.chain", kind: kindString, cmds: brokerProcess | cmdNameServer, usage: "the certificate chain in-line (PEM), instead of ssl.keystore.location"},
	{key: "ssl.keystore.key", kind: kindString, cmds: brokerProcess | cmdNameServer, usage: "the unencrypted private key in-line (PEM), with ssl.keystore.certificate.chain"},
	{key: "ssl.key.password", kind: kindString, cmds: brokerProcess | cmdNameServer, usage: "refused: encrypted private keys are not read"},
	{key: "ssl.truststore.type", kind: kindString, cmds: brokerProcess | cmdNameServer, usage: "PEM", def: func(d *Config) string { return d.Security.TLS.TruststoreType }},
	{key: "ssl.truststore.location", kind: kindString, cmds: brokerProcess | cmdNameServer, usage: "PEM file of the CAs client certificates are verified against; re-read when it changes"},
	{key: "ssl.truststore.certificates", kind: kindString, cmds: brokerProcess | cmdNameServer, usage: "the trusted CA certificates in-line (PEM), instead of ssl.truststore.location"},
	{key: "ssl.client.auth", kind: kindString, usage: "none, requested or required: client certificates on SSL listeners (principal User:<subject DN>)", def: func(d *Config) string { return d.Security.TLS.ClientAuth }},
	{key: "ssl.principal.mapping.rules", kind: kindString, usage: "Kafka's RULE:pattern/replacement/[LU] list (and DEFAULT): the principal name of a TLS client certificate's subject; a certificate no rule applies to is refused", def: func(*Config) string { return "DEFAULT" }},
	{key: "ssl.enabled.protocols", kind: kindList, cmds: brokerProcess | cmdNameServer, usage: "TLS versions served: TLSv1.2, TLSv1.3", def: func(d *Config) string { return strings.Join(d.Security.TLS.EnabledProtocols, ",") }},
	{key: "sasl.enabled.mechanisms", kind: kindList, usage: "SASL mechanisms of SASL_PLAINTEXT and SASL_SSL listeners: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER (with sasl.oauthbearer.jwks.endpoint.url; GSSAPI is out of scope)", def: func(d *Config) string { return strings.Join(d.Security.SASLMechanisms, ",") }},
	{key: "sasl.jaas.config", kind: kindString, usage: "JAAS text with PLAIN logins, user_NAME=\"password\" (Kafka's listener.name.*.plain.sasl.jaas.config); PLAIN also accepts the stored SCRAM credentials"},
	{key: "connections.max.reauth.ms", kind: kindInt, usage: "SASL session lifetime; clients re-authenticate before it ends (KIP-368), 0 = never expires", def: func(d *Config) string { return ms(d.Security.ReauthMax) }},
	{key: "connection.failed.authentication.delay.ms", kind: kindInt, usage: "how long a failed SASL authentication's answer is held back", def: func(d *Config) string { return ms(d.Security.FailedAuthDelay) }},
	{key: "authorizer.class.name", kind: kindString, usage: "set (to Kafka's org.apache.kafka.metadata.authorizer.StandardAuthorizer, or any name) to enforce ACLs on every API; empty: everyone may do everything and the ACL APIs answer SECURITY_DISABLED"},
	{key: "super.users", kind: kindString, usage: "principals allowed everything, User:name;User:other (Kafka's ';' list)"},
	{key: "inter.broker.listener.name", kind: kindString, usage: "the listener brokers forward requests to each other on (in Envelopes carrying the client's principal); default the first PLAINTEXT listener, else the first"},
	{key: "sasl.mechanism.inter.broker.protocol", kind: kindString, usage: "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512: how a broker logs in to a SASL inter-broker listener, with sasl.jaas.config's username=\"…\" password=\"…\"", def: func(*Config) string { return "PLAIN" }},
	{key: "security.owner.group", kind: kindString, usage: "the broker group whose commit log holds the cluster's ACLs, SCRAM credentials and client quotas; set it to the same group on every broker of a cluster of several groups (default: the broker's own group)"},
	{key: "security.owner.refresh.ms", kind: kindInt, usage: "how often a broker of another group reads the owner's ACLs and credentials", def: func(d *Config) string { return ms(d.Security.Owner.Refresh) }},
	{key: "security.owner.max.staleness.ms", kind: kindInt, usage: "a broker of another group that could not read the owner's ACLs and credentials for this long denies everyone but super.users and refuses SCRAM logins", def: func(d *Config) string { return ms(d.Security.Owner.MaxStaleness) }},
	{key: "sasl.kerberos.service.name", kind: kindString, usage: "refused: GSSAPI (Kerberos) is out of gregor's scope; use SCRAM-SHA-512 or PLAIN over SASL_SSL"},
	{key: "delegation.token.secret.key", kind: kindString, usage: "refused: delegation tokens are out of gregor's scope; use SCRAM credentials"},
	{key: "cluster.secret", kind: kindString, cmds: brokerProcess | cmdNameServer, usage: "shared secret of the cluster's processes: every NameServer request (register, unregister, routes, leases) must carry it and master and slave prove it to each other on the replication port; empty: both ports open"},
	{key: "replication.ssl.enable", kind: kindBool, usage: "the replication port speaks TLS with ssl.keystore/ssl.truststore, client certificates required", def: func(d *Config) string { return strconv.FormatBool(d.Replication.TLS) }},
	{key: "nameserver.ssl.enable", kind: kindBool, cmds: brokerProcess | cmdNameServer, usage: "the NameServer port speaks TLS only: gregor nameserver serves it with ssl.keystore (client certificates per nameserver.ssl.client.auth), brokers reach their NameServers over https, verifying them against ssl.truststore and presenting ssl.keystore when asked", def: func(d *Config) string { return strconv.FormatBool(d.NameServerTLS) }},
	{key: "nameserver.ssl.client.auth", kind: kindString, cmds: cmdNameServer, usage: "none, requested or required: whether brokers must present a certificate of ssl.truststore's CAs to the NameServer (with nameserver.ssl.enable)", def: func(*Config) string { return "none" }},
	{key: "http.auth", kind: kindString, usage: "none or login: with login every path of http.listener but /healthz and /readyz needs a user of sasl.jaas.config or a SCRAM user (HTTP basic authentication, or the /login form's session cookie; writes with the cookie need its CSRF token)", def: func(*Config) string { return "none" }},
	{key: "http.ssl.enable", kind: kindBool, usage: "http.listener speaks TLS with ssl.keystore", def: func(d *Config) string { return strconv.FormatBool(d.HTTPTLS) }},
	{key: "allow.everyone.if.no.acl.found", kind: kindBool, usage: "with an authorizer, allow what no ACL covers at all", def: func(d *Config) string { return strconv.FormatBool(d.Security.AllowEveryoneIfNoACL) }},
}

func init() { settings = append(settings, securitySettings...) }

// listenerProtocol is broker.Listener.Protocol for proto: empty for
// PLAINTEXT, the broker's zero value.
func listenerProtocol(proto string) string {
	if proto == broker.ProtoPlaintext {
		return ""
	}
	return proto
}

// security reads the listeners' security settings into c.Security.
func (p *parser) security(c *Config) {
	s := &c.Security
	str := func(key string, to *string) {
		if v, ok := p.str(key); ok {
			*to = v
		}
	}
	str("ssl.keystore.type", &s.TLS.KeystoreType)
	str("ssl.keystore.location", &s.TLS.KeystoreLocation)
	str("ssl.keystore.certificate.chain", &s.TLS.KeystoreCertificateChain)
	str("ssl.keystore.key", &s.TLS.KeystoreKey)
	str("ssl.key.password", &s.TLS.KeyPassword)
	str("ssl.truststore.type", &s.TLS.TruststoreType)
	str("ssl.truststore.location", &s.TLS.TruststoreLocation)
	str("ssl.truststore.certificates", &s.TLS.TruststoreCertificates)
	str("ssl.client.auth", &s.TLS.ClientAuth)
	str("ssl.principal.mapping.rules", &s.TLS.PrincipalMappingRules)
	if v, ok := p.list("ssl.enabled.protocols"); ok {
		s.TLS.EnabledProtocols = v
	}
	if v, ok := p.list("sasl.enabled.mechanisms"); ok {
		s.SASLMechanisms = v
	}
	if v, ok := p.str("sasl.jaas.config"); ok && strings.TrimSpace(v) != "" {
		if strings.Contains(v, "ScramLoginModule") && !strings.Contains(v, "PlainLoginModule") {
			// Only the broker's own SCRAM login (inter-broker).
		} else if users, err := broker.ParsePlainJAAS(v); err != nil {
			p.fail("sasl.jaas.config", "%v", err)
		} else {
			s.PlainUsers = users
		}
		s.InterBroker.Username, s.InterBroker.Password = jaasOption(v, "username"), jaasOption(v, "password")
	}
	if v, ok := p.str("sasl.kerberos.service.name"); ok && v != "" {
		p.fail("sasl.kerberos.service.name", "GSSAPI (Kerberos) is out of gregor's scope; use SCRAM-SHA-512 or PLAIN over SASL_SSL")
	}
	if v, ok := p.str("delegation.token.secret.key"); ok && v != "" {
		p.fail("delegation.token.secret.key", "delegation tokens are out of gregor's scope; use SCRAM credentials (gregor user add)")
	}
	if v, ok := p.str("cluster.secret"); ok {
		c.Cluster.Secret, c.NameServer.Secret = v, v
	}
	if v, ok := p.str("http.auth"); ok {
		switch v = strings.ToLower(strings.TrimSpace(v)); v {
		case "none", "login":
			c.HTTPAuth = v
		default:
			p.fail("http.auth", "%q: give none or login", v)
		}
	}
	if v, ok := p.bool("http.ssl.enable"); ok {
		c.HTTPTLS = v
	}
	if v, ok := p.bool("replication.ssl.enable"); ok {
		c.Replication.TLS = v
	}
	if v, ok := p.bool("nameserver.ssl.enable"); ok {
		c.NameServerTLS = v
	}
	if v, ok := p.str("nameserver.ssl.client.auth"); ok {
		switch v = strings.ToLower(strings.TrimSpace(v)); v {
		case "none", "requested", "required":
			c.NameServerClientAuth = v
		default:
			p.fail("nameserver.ssl.client.auth", "%q: give none, requested or required", v)
		}
	}
	str("inter.broker.listener.name", &s.InterBroker.Listener)
	str("sasl.mechanism.inter.broker.protocol", &s.InterBroker.Mechanism)
	str("security.owner.group", &s.Owner.Group)
	if d, ok := p.ms("security.owner.refresh.ms", 1, math.MaxInt32); ok {
		s.Owner.Refresh = d
	}
	if d, ok := p.ms("security.owner.max.staleness.ms", 1, math.MaxInt32); ok {
		s.Owner.MaxStaleness = d
	}
	if d, ok := p.ms("connections.max.reauth.ms", 0, math.MaxInt64/1_000_000); ok {
		s.ReauthMax = d
	}
	if d, ok := p.ms("connection.failed.authentication.delay.ms", 0, math.MaxInt32); ok {
		s.FailedAuthDelay = d
		if d == 0 {
			s.FailedAuthDelay = -1 // none (the broker's zero means its default)
		}
	}
	if v, ok := p.str("authorizer.class.name"); ok {
		s.Authorizer = strings.TrimSpace(v) != ""
	}
	if v, ok := p.str("super.users"); ok {
		s.SuperUsers = nil
		for _, u := range strings.Split(v, ";") {
			if u = strings.TrimSpace(u); u != "" {
				if !strings.Contains(u, ":") {
					p.fail("super.users", "%q is not a principal such as User:admin", u)
				}
				s.SuperUsers = append(s.SuperUsers, u)
			}
		}
	}
	if v, ok := p.bool("allow.everyone.if.no.acl.found"); ok {
		s.AllowEveryoneIfNoACL = v
	}
	if err := s.Check(c.Listeners); err != nil {
		p.fail("listeners", "%v", err)
	}
}

// jaasOption reads one name="value" option of a JAAS text (username,
// password), "" when it is absent.
func jaasOption(text, name string) string {
	m := regexp.MustCompile(`(?:^|[\s;])` + regexp.QuoteMeta(name) + `\s*=\s*"((?:[^"\\]|\\.)*)"`).FindStringSubmatch(text)
	if m == nil {
		return ""
	}
	return strings.ReplaceAll(strings.ReplaceAll(m[1], `\"`, `"`), `\\`, `\`)
}

// nameServerTLS builds the TLS side of nameserver.ssl.enable: the
// NameServer's server configuration (cfg.NameServer.TLS, for gregor
// nameserver) and the brokers' client configuration
// (cfg.Cluster.NameServerTLS), both on ssl.keystore/ssl.truststore read
// again when the files change. Nothing without nameserver.ssl.enable.
func nameServerTLS(cfg *Config, server bool, log *zap.Logger) error {
	if !cfg.NameServerTLS {
		return nil
	}
	tc := cfg.Security.TLS
	tc.ClientAuth = cfg.NameServerClientAuth
	if !server {
		tc.ClientAuth = "none"
	}
	r, err := security.NewReloader(tc, func(err error) {
		log.Warn("reloading the TLS key or trust store of the NameServer port failed", zap.Error(err))
	})
	if err != nil {
		return fmt.Errorf("nameserver.ssl.enable: %w", err)
	}
	if server {
		cfg.NameServer.TLS = r.Config()
	} else {
		cfg.Cluster.NameServerTLS = r.ClientConfig()
	}
	return nil
}
