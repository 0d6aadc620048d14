package security

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

// TLSConfig is the ssl.* settings of a listener, as Kafka names them. Only
// PEM stores are read (ssl.keystore.type=PEM, ssl.truststore.type=PEM);
// JKS and PKCS12 are refused by Validate with a message.
type TLSConfig struct {
	// KeystoreType and TruststoreType are ssl.keystore.type and
	// ssl.truststore.type; empty means PEM.
	KeystoreType, TruststoreType string
	// KeystoreLocation is a PEM file with the certificate chain and its
	// unencrypted private key (ssl.keystore.location).
	KeystoreLocation string
	// KeystoreCertificateChain and KeystoreKey are the same in-line
	// (ssl.keystore.certificate.chain, ssl.keystore.key); they are used
	// when KeystoreLocation is empty.
	KeystoreCertificateChain, KeystoreKey string
	// KeyPassword is ssl.key.password: encrypted PEM keys are not read, so
	// a password is refused rather than ignored.
	KeyPassword string
	// TruststoreLocation is a PEM file of the CA certificates client
	// certificates are verified against (ssl.truststore.location);
	// TruststoreCertificates is the same in-line.
	TruststoreLocation, TruststoreCertificates string
	// ClientAuth is ssl.client.auth: none (default), requested, required.
	ClientAuth string
	// EnabledProtocols is ssl.enabled.protocols; default TLSv1.2,TLSv1.3.
	EnabledProtocols []string
	// ReloadCheck is how often at most the files are looked at again for a
	// change (at a handshake); default 1s.
	ReloadCheck time.Duration
	// PrincipalMappingRules is ssl.principal.mapping.rules (principal.go);
	// empty is DEFAULT.
	PrincipalMappingRules string
}

// EnsureDefaults fills every zero field that has a default.
func (c *TLSConfig) EnsureDefaults() {
	if c.KeystoreType == "" {
		c.KeystoreType = "PEM"
	}
	if c.TruststoreType == "" {
		c.TruststoreType = "PEM"
	}
	if c.ClientAuth == "" {
		c.ClientAuth = "none"
	}
	if len(c.EnabledProtocols) == 0 {
		c.EnabledProtocols = []string{"TLSv1.2", "TLSv1.3"}
	}
	if c.ReloadCheck <= 0 {
		c.ReloadCheck = time.Second
	}
	if c.PrincipalMappingRules == "" {
		c.PrincipalMappingRules = "DEFAULT"
	}
}

// Validate fills defaults and rejects settings that cannot work, in plain
// words.
func (c *TLSConfig) Validate() error {
	c.EnsureDefaults()
	for _, t := range []*string{&c.KeystoreType, &c.TruststoreType} {
		*t = strings.ToUpper(strings.TrimSpace(*t))
		if *t != "PEM" {
			return fmt.Errorf("ssl store type %s is not supported; convert the store to PEM files and set ssl.keystore.type=PEM / ssl.truststore.type=PEM", *t)
		}
	}
	if c.KeyPassword != "" {
		return errors.New("ssl.key.password: encrypted private keys are not supported; give an unencrypted PEM key (file permissions protect it)")
	}
	if c.KeystoreLocation == "" && (c.KeystoreCertificateChain == "" || c.KeystoreKey == "") {
		return errors.New("an SSL listener needs ssl.keystore.location (a PEM file with the certificate chain and private key), or ssl.keystore.certificate.chain and ssl.keystore.key")
	}
	switch c.ClientAuth = strings.ToLower(strings.TrimSpace(c.ClientAuth)); c.ClientAuth {
	case "none", "requested", "required":
	default:
		return fmt.Errorf("ssl.client.auth %q: give none, requested or required", c.ClientAuth)
	}
	if c.ClientAuth != "none" && c.TruststoreLocation == "" && c.TruststoreCertificates == "" {
		return fmt.Errorf("ssl.client.auth=%s needs ssl.truststore.location (the CAs client certificates are checked against)", c.ClientAuth)
	}
	if _, _, err := tlsVersions(c.EnabledProtocols); err != nil {
		return err
	}
	if _, err := ParseMappingRules(c.PrincipalMappingRules); err != nil {
		return err
	}
	return nil
}

func tlsVersions(protos []string) (lo, hi uint16, err error) {
	for _, p := range protos {
		var v uint16
		switch strings.TrimSpace(p) {
		case "TLSv1.2":
			v = tls.VersionTLS12
		case "TLSv1.3":
			v = tls.VersionTLS13
		default:
			return 0, 0, fmt.Errorf("ssl.enabled.protocols: %q is not served; give TLSv1.2 and/or TLSv1.3", p)
		}
		if lo == 0 || v < lo {
			lo = v
		}
		if v > hi {
			hi = v
		}
	}
	return lo, hi, nil
}

// material is one loading of the key store and trust store.
type material struct {
	cert    tls.Certificate
	pool    *x509.CertPool
	stamp   string // the files' sizes and modification times
	checked time.Time
}

// Reloader serves a listener's TLS configuration, reading the PEM files
// again when their size or modification time changes (checked at most every
// ReloadCheck, at a handshake): a renewed certificate is served to new
// connections without a restart, as Kafka does after an AlterConfigs of the
// keystore. A file that fails to load keeps the previous material in use.
type Reloader struct {
	cfg     TLSConfig
	lo, hi  uint16
	mu      sync.Mutex
	cur     *material
	onError func(error)
	mapper  *PrincipalMapper
}

// NewReloader loads the files once (an error here refuses to start) and
// returns the reloader; onError is told of later failed reloads.
func NewReloader(cfg TLSConfig, onError func(error)) (*Reloader, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	lo, hi, _ := tlsVersions(cfg.EnabledProtocols)
	if onError == nil {
		onError = func(error) {}
	}
	mapper, _ := ParseMappingRules(cfg.PrincipalMappingRules) // checked by Validate
	r := &Reloader{cfg: cfg, lo: lo, hi: hi, onError: onError, mapper: mapper}
	m, err := r.load()
	if err != nil {
		return nil, err
	}
	r.cur = m
	return r, nil
}

// stamp describes the files' current versions.
func (r *Reloader) stamp() string {
	var b strings.Builder
	for _, f := range []string{r.cfg.KeystoreLocation, r.cfg.TruststoreLocation} {
		if f == "" {
			continue
		}
		if st, err := os.Stat(f); err == nil {
			fmt.Fprintf(&b, "%s:%d:%d;", f, st.Size(), st.ModTime().UnixNano())
		}
	}
	return b.String()
}

func (r *Reloader) load() (*material, error) {
	m := &material{stamp: r.stamp(), checked: time.Now()}
	var certPEM, keyPEM []byte
	if r.cfg.KeystoreLocation != "" {
		b, err := os.ReadFile(r.cfg.KeystoreLocation)
		if err != nil {
			return nil, fmt.Errorf("ssl.keystore.location: %w", err)
		}
		certPEM, keyPEM = b, b
	} else {
		certPEM, keyPEM = []byte(r.cfg.KeystoreCertificateChain), []byte(r.cfg.KeystoreKey)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("ssl keystore: %w", err)
	}
	m.cert = cert
	var trust []byte
	switch {
	case r.cfg.TruststoreLocation != "":
		if trust, err = os.ReadFile(r.cfg.TruststoreLocation); err != nil {
			return nil, fmt.Errorf("ssl.truststore.location: %w", err)
		}
	case r.cfg.TruststoreCertificates != "":
		trust = []byte(r.cfg.TruststoreCertificates)
	}
	if trust != nil {
		m.pool = x509.NewCertPool()
		if !m.pool.AppendCertsFromPEM(trust) {
			return nil, errors.New("ssl truststore: no PEM certificate found")
		}
	}
	return m, nil
}

// current returns the material in use, reloading it first when a file
// changed.
func (r *Reloader) current() *material {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.cur.checked) < r.cfg.ReloadCheck {
		return r.cur
	}
	r.cur.checked = time.Now()
	if r.stamp() == r.cur.stamp {
		return r.cur
	}
	m, err := r.load()
	if err != nil {
		r.onError(err)
		r.cur.stamp = r.stamp() // do not retry a broken file at every handshake
		return r.cur
	}
	r.cur = m
	return m
}

// Config returns the tls.Config to serve with; each handshake reads the
// current material.
func (r *Reloader) Config() *tls.Config {
	return &tls.Config{
		MinVersion: r.lo,
		MaxVersion: r.hi,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			m := r.current()
			c := &tls.Config{
				MinVersion:   r.lo,
				MaxVersion:   r.hi,
				Certificates: []tls.Certificate{m.cert},
				ClientCAs:    m.pool,
			}
			c.VerifyConnection = func(cs tls.ConnectionState) error {
				if len(cs.PeerCertificates) == 0 {
					return nil
				}
				// A certificate no mapping rule applies to is refused, as
				// Kafka fails the authentication of such a client.
				_, err := r.mapper.Name(cs.PeerCertificates[0].Subject.String())
				return err
			}
			switch r.cfg.ClientAuth {
			case "required":
				c.ClientAuth = tls.RequireAndVerifyClientCert
			case "requested":
				c.ClientAuth = tls.VerifyClientCertIfGiven
			}
			return c, nil
		},
	}
}

// PeerPrincipal is Kafka's default principal of a TLS client: User: and the
// certificate's subject distinguished name (RFC 2253), or User:ANONYMOUS
// without a client certificate.
func PeerPrincipal(cs tls.ConnectionState) string {
	if len(cs.PeerCertificates) == 0 {
		return "User:ANONYMOUS"
	}
	return "User:" + cs.PeerCertificates[0].Subject.String()
}

// ClientConfig returns the tls.Config a broker dials its peers with (the
// inter-broker listener, forwarding.go): the trust store verifies the
// peer's certificate and the key store is presented as the client
// certificate, read at each handshake like the server side's.
func (r *Reloader) ClientConfig() *tls.Config {
	return &tls.Config{
		MinVersion: r.lo,
		MaxVersion: r.hi,
		// The peer is verified against the trust store by
		// VerifyConnection, whatever name it was dialled by: brokers
		// advertise addresses their certificates need not name.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			m := r.current()
			if len(cs.PeerCertificates) == 0 {
				return errors.New("security: the peer presented no certificate")
			}
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: m.pool, Intermediates: inter})
			return err
		},
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			m := r.current()
			return &m.cert, nil
		},
	}
}
