// Package clientprops reads a Kafka client properties file, the file Kafka's
// tools take with --command-config, into franz-go options: the TLS and SASL
// settings gregor's own client commands (topic, group, user, bench,
// healthcheck) connect with.
//
// Served, with Kafka's names:
//
//	security.protocol         PLAINTEXT (default), SSL, SASL_PLAINTEXT, SASL_SSL
//	sasl.mechanism            PLAIN, SCRAM-SHA-256, SCRAM-SHA-512
//	sasl.jaas.config          PlainLoginModule or ScramLoginModule required
//	                          username="…" password="…";
//	ssl.truststore.location   PEM file of the CAs the broker's certificate is checked
//	                          against (ssl.truststore.type PEM; JKS/PKCS12 refused)
//	ssl.truststore.certificates  the same in-line
//	ssl.keystore.location     PEM file with the client certificate chain and its
//	                          unencrypted key (ssl.keystore.type PEM)
//	ssl.keystore.certificate.chain, ssl.keystore.key  the same in-line
//	ssl.endpoint.identification.algorithm  https (default: the broker's name is
//	                          checked) or empty (only the chain is)
//	ssl.enabled.protocols / ssl.protocol   TLSv1.2, TLSv1.3
//	client.id
//
// Out of scope and refused with a message: GSSAPI (Kerberos, sasl.kerberos.*,
// Krb5LoginModule), delegation tokens (tokenauth=true), OAUTHBEARER, encrypted
// keys (ssl.key.password) and JKS/PKCS12 stores. Kafka's default mechanism is
// GSSAPI, so a SASL protocol without sasl.mechanism is refused too. Other
// keys are reported as ignored (Kafka's tools warn the same way).
package clientprops

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// Parse reads Java properties: key=value, key: value or key value lines,
// # and ! comments, a trailing backslash continuing a line.
func Parse(r io.Reader) (map[string]string, error) {
	props := map[string]string{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var cont strings.Builder
	for sc.Scan() {
		line := strings.TrimLeft(sc.Text(), " \t\f")
		if cont.Len() == 0 && (line == "" || line[0] == '#' || line[0] == '!') {
			continue
		}
		if strings.HasSuffix(line, `\`) && !strings.HasSuffix(line, `\\`) {
			cont.WriteString(strings.TrimSuffix(line, `\`))
			continue
		}
		cont.WriteString(line)
		full := cont.String()
		cont.Reset()
		i := strings.IndexAny(full, "=: \t")
		if i < 0 {
			props[full] = ""
			continue
		}
		key := full[:i]
		val := strings.TrimLeft(full[i:], " \t")
		if val != "" && (val[0] == '=' || val[0] == ':') {
			val = strings.TrimLeft(val[1:], " \t")
		}
		props[key] = strings.TrimRight(val, " \t")
	}
	return props, sc.Err()
}

// Load reads the properties file at path and returns the options it means
// and the keys it ignored.
func Load(path string) ([]kgo.Opt, []string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("--command-config: %w", err)
	}
	defer f.Close()
	props, err := Parse(f)
	if err != nil {
		return nil, nil, fmt.Errorf("--command-config %s: %w", path, err)
	}
	opts, ignored, err := Options(props)
	if err != nil {
		return nil, nil, fmt.Errorf("--command-config %s: %w", path, err)
	}
	return opts, ignored, nil
}

var known = map[string]bool{
	"security.protocol": true, "sasl.mechanism": true, "sasl.jaas.config": true,
	"ssl.truststore.location": true, "ssl.truststore.type": true, "ssl.truststore.certificates": true,
	"ssl.keystore.location": true, "ssl.keystore.type": true, "ssl.keystore.certificate.chain": true,
	"ssl.keystore.key": true, "ssl.key.password": true,
	"ssl.endpoint.identification.algorithm": true, "ssl.enabled.protocols": true, "ssl.protocol": true,
	"client.id": true,
}

// Options turns properties into franz-go options; ignored lists the keys
// that mean nothing here, sorted.
func Options(p map[string]string) (opts []kgo.Opt, ignored []string, err error) {
	for k := range p {
		switch {
		case strings.HasPrefix(k, "sasl.kerberos."):
			return nil, nil, fmt.Errorf("%s: GSSAPI (Kerberos) is out of gregor's scope; use SASL_SSL with sasl.mechanism=SCRAM-SHA-512 or PLAIN", k)
		case strings.HasPrefix(k, "sasl.oauthbearer.") || strings.HasPrefix(k, "sasl.login.callback"):
			return nil, nil, fmt.Errorf("%s: gregor's own clients do not log in with OAUTHBEARER yet (the broker serves it to other clients); use SCRAM-SHA-512 or PLAIN", k)
		case !known[k]:
			ignored = append(ignored, k)
		}
	}
	sort.Strings(ignored)
	if id := p["client.id"]; id != "" {
		opts = append(opts, kgo.ClientID(id))
	}
	proto := strings.ToUpper(strings.TrimSpace(p["security.protocol"]))
	switch proto {
	case "", "PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL":
	default:
		return nil, nil, fmt.Errorf("security.protocol %q: give PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL", p["security.protocol"])
	}
	if proto == "SSL" || proto == "SASL_SSL" {
		cfg, err := tlsConfig(p)
		if err != nil {
			return nil, nil, err
		}
		opts = append(opts, kgo.DialTLSConfig(cfg))
	} else {
		for _, k := range []string{"ssl.truststore.location", "ssl.keystore.location", "ssl.truststore.certificates", "ssl.keystore.certificate.chain"} {
			if p[k] != "" {
				return nil, nil, fmt.Errorf("%s is set but security.protocol is %s: set security.protocol=SSL or SASL_SSL", k, orPlaintext(proto))
			}
		}
	}
	if proto == "SASL_PLAINTEXT" || proto == "SASL_SSL" {
		m, err := mechanism(p)
		if err != nil {
			return nil, nil, err
		}
		opts = append(opts, kgo.SASL(m))
	} else if p["sasl.mechanism"] != "" || p["sasl.jaas.config"] != "" {
		return nil, nil, fmt.Errorf("sasl.mechanism/sasl.jaas.config are set but security.protocol is %s: set SASL_PLAINTEXT or SASL_SSL", orPlaintext(proto))
	}
	return opts, ignored, nil
}

func orPlaintext(p string) string {
	if p == "" {
		return "PLAINTEXT"
	}
	return p
}

var jaasModule = regexp.MustCompile(`^\s*([A-Za-z0-9_.$]+)\s+(required|requisite|sufficient|optional)\b(.*?);?\s*$`)

// jaasOption reads one name="value" (or name=value) option.
func jaasOption(opts, name string) (string, bool) {
	re := regexp.MustCompile(`(?:^|\s)` + regexp.QuoteMeta(name) + `\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s;"]+))`)
	m := re.FindStringSubmatch(opts)
	if m == nil {
		return "", false
	}
	if m[2] != "" {
		return m[2], true
	}
	return strings.ReplaceAll(strings.ReplaceAll(m[1], `\"`, `"`), `\\`, `\`), true
}

// mechanism builds the SASL mechanism of sasl.mechanism and sasl.jaas.config.
func mechanism(p map[string]string) (sasl.Mechanism, error) {
	mech := strings.ToUpper(strings.TrimSpace(p["sasl.mechanism"]))
	switch mech {
	case "":
		return nil, errors.New("sasl.mechanism is not set, and Kafka's default, GSSAPI (Kerberos), is out of gregor's scope: set sasl.mechanism=PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
	case "GSSAPI":
		return nil, errors.New("sasl.mechanism=GSSAPI: Kerberos is out of gregor's scope; use SCRAM-SHA-512 or PLAIN over SASL_SSL")
	case "OAUTHBEARER":
		return nil, errors.New("sasl.mechanism=OAUTHBEARER: gregor's own clients do not log in with OAUTHBEARER yet (the broker serves it to other clients); use SCRAM-SHA-512 or PLAIN")
	case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
	default:
		return nil, fmt.Errorf("sasl.mechanism %q: give PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", p["sasl.mechanism"])
	}
	jaas := strings.TrimSpace(p["sasl.jaas.config"])
	if jaas == "" {
		return nil, errors.New("sasl.jaas.config is not set: give org.apache.kafka.common.security.plain.PlainLoginModule (or scram.ScramLoginModule) required username=\"…\" password=\"…\";")
	}
	m := jaasModule.FindStringSubmatch(jaas)
	if m == nil {
		return nil, fmt.Errorf("sasl.jaas.config %q: expected <LoginModule class> required username=\"…\" password=\"…\";", jaas)
	}
	module, options := m[1], m[3]
	switch {
	case strings.HasSuffix(module, "Krb5LoginModule"):
		return nil, errors.New("sasl.jaas.config: Krb5LoginModule (Kerberos) is out of gregor's scope")
	case strings.HasSuffix(module, "OAuthBearerLoginModule"):
		return nil, errors.New("sasl.jaas.config: gregor's own clients do not log in with OAuthBearerLoginModule yet; use SCRAM-SHA-512 or PLAIN")
	case module == "org.apache.kafka.common.security.plain.PlainLoginModule":
		if mech != "PLAIN" {
			return nil, fmt.Errorf("sasl.jaas.config names PlainLoginModule but sasl.mechanism is %s", mech)
		}
	case module == "org.apache.kafka.common.security.scram.ScramLoginModule":
		if mech == "PLAIN" {
			return nil, errors.New("sasl.jaas.config names ScramLoginModule but sasl.mechanism is PLAIN")
		}
		if v, _ := jaasOption(options, "tokenauth"); strings.EqualFold(v, "true") {
			return nil, errors.New("sasl.jaas.config: tokenauth=true (delegation tokens) is out of gregor's scope")
		}
	default:
		return nil, fmt.Errorf("sasl.jaas.config: unknown login module %s (give PlainLoginModule or ScramLoginModule)", module)
	}
	user, ok1 := jaasOption(options, "username")
	pass, ok2 := jaasOption(options, "password")
	if !ok1 || !ok2 || user == "" {
		return nil, errors.New("sasl.jaas.config: username=\"…\" and password=\"…\" are required")
	}
	switch mech {
	case "PLAIN":
		return plain.Auth{User: user, Pass: pass}.AsMechanism(), nil
	case "SCRAM-SHA-256":
		return scram.Auth{User: user, Pass: pass}.AsSha256Mechanism(), nil
	default:
		return scram.Auth{User: user, Pass: pass}.AsSha512Mechanism(), nil
	}
}

// tlsConfig builds the client TLS configuration of the ssl.* properties.
func tlsConfig(p map[string]string) (*tls.Config, error) {
	for _, k := range []string{"ssl.truststore.type", "ssl.keystore.type"} {
		if t := strings.ToUpper(strings.TrimSpace(p[k])); t != "" && t != "PEM" {
			return nil, fmt.Errorf("%s=%s is not read by gregor: convert the store to PEM (openssl pkcs12 -in store.p12 -out store.pem -nodes) and set %s=PEM", k, t, k)
		}
	}
	if p["ssl.key.password"] != "" {
		return nil, errors.New("ssl.key.password: encrypted private keys are not read; give an unencrypted PEM key (file permissions protect it)")
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	protos := p["ssl.enabled.protocols"]
	if protos == "" {
		protos = p["ssl.protocol"]
	}
	if protos != "" {
		lo, hi := uint16(0), uint16(0)
		for _, v := range strings.Split(protos, ",") {
			var ver uint16
			switch strings.TrimSpace(v) {
			case "TLSv1.2":
				ver = tls.VersionTLS12
			case "TLSv1.3", "TLS":
				ver = tls.VersionTLS13
			default:
				return nil, fmt.Errorf("ssl.enabled.protocols: %q is not served (TLSv1.2, TLSv1.3)", v)
			}
			if lo == 0 || ver < lo {
				lo = ver
			}
			hi = max(hi, ver)
		}
		if strings.TrimSpace(protos) == "TLS" {
			lo = tls.VersionTLS12
		}
		cfg.MinVersion, cfg.MaxVersion = lo, hi
	}
	var trust []byte
	switch {
	case p["ssl.truststore.location"] != "":
		b, err := os.ReadFile(p["ssl.truststore.location"])
		if err != nil {
			return nil, fmt.Errorf("ssl.truststore.location: %w", err)
		}
		trust = b
	case p["ssl.truststore.certificates"] != "":
		trust = []byte(p["ssl.truststore.certificates"])
	}
	if trust != nil {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(trust) {
			return nil, errors.New("ssl truststore: no PEM certificate found (JKS and PKCS12 stores are not read: convert to PEM)")
		}
		cfg.RootCAs = pool
	}
	var certPEM, keyPEM []byte
	switch {
	case p["ssl.keystore.location"] != "":
		b, err := os.ReadFile(p["ssl.keystore.location"])
		if err != nil {
			return nil, fmt.Errorf("ssl.keystore.location: %w", err)
		}
		certPEM, keyPEM = b, b
	case p["ssl.keystore.certificate.chain"] != "":
		certPEM, keyPEM = []byte(p["ssl.keystore.certificate.chain"]), []byte(p["ssl.keystore.key"])
	}
	if certPEM != nil {
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("ssl keystore: %w (a PEM file with the certificate chain and an unencrypted private key)", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	switch strings.ToLower(strings.TrimSpace(p["ssl.endpoint.identification.algorithm"])) {
	case "https":
	case "":
		if _, set := p["ssl.endpoint.identification.algorithm"]; set {
			// Kafka's way of turning host name checks off: the chain is
			// still verified.
			cfg.InsecureSkipVerify = true
			roots := cfg.RootCAs
			cfg.VerifyConnection = func(cs tls.ConnectionState) error {
				inter := x509.NewCertPool()
				for _, c := range cs.PeerCertificates[1:] {
					inter.AddCert(c)
				}
				_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter})
				return err
			}
		}
	default:
		return nil, fmt.Errorf("ssl.endpoint.identification.algorithm %q: give https or leave it empty", p["ssl.endpoint.identification.algorithm"])
	}
	return cfg, nil
}
