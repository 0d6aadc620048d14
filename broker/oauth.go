package broker

// SASL/OAUTHBEARER (RFC 7628, KIP-255, KIP-768) as Kafka's secured
// OAuthBearerValidatorCallbackHandler serves it: the client sends a signed
// JWT, the broker checks its signature against the keys of a JWKS file
// (sasl.oauthbearer.jwks.endpoint.url=file:…), that it has not expired
// and was issued (exp and iat are required, with
// sasl.oauthbearer.clock.skew.seconds of leeway), and, when configured,
// its audience and issuer; the principal is User:<the sub claim>
// (sasl.oauthbearer.sub.claim.name). Unsecured tokens (alg "none") and
// symmetric algorithms are refused: only keys from the file can sign.
//
// A refused token is answered as Kafka answers it: first a challenge
// {"status":"invalid_token"}, then, after the client's %x01, a
// SASL_AUTHENTICATION_FAILED whose message is that JSON. The session ends
// when the token expires (or at connections.max.reauth.ms, whichever is
// first): the client is told the lifetime in SaslAuthenticate and must
// re-authenticate with a fresh token (KIP-368).
//
// The JWKS file is read at start and again when it changes (size or
// modification time, looked at most once a second), so keys can rotate
// without a restart; a file that fails to load keeps the previous keys. An
// https: URL is fetched at start and again every
// sasl.oauthbearer.jwks.endpoint.refresh.ms, and at once when a token names
// a key id the set lacks (oauth_jwks_https.go).
//
// JWT parsing and signature checks are github.com/go-jose/go-jose/v4's.

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/gregor-broker/gregor/broker/security"
	"go.uber.org/zap"
)

// OAuthMechanism is the SASL mechanism name.
const OAuthMechanism = "OAUTHBEARER"

// OAuthConfig is the OAUTHBEARER validation settings, Kafka's names.
type OAuthConfig struct {
	// JWKSURL is sasl.oauthbearer.jwks.endpoint.url: a file: URL (or a
	// path) of a JSON Web Key Set holding the public keys tokens are
	// signed with.
	JWKSURL string
	// ExpectedAudience is sasl.oauthbearer.expected.audience: when set,
	// a token's aud must name one of them.
	ExpectedAudience []string
	// AllowUnverifiedAudience is sasl.oauthbearer.allow.unverified.audience:
	// as in Kafka 4.4, ExpectedAudience is required unless this is set.
	AllowUnverifiedAudience bool
	// ExpectedIssuer is sasl.oauthbearer.expected.issuer: when set, a
	// token's iss must be it.
	ExpectedIssuer string
	// SubClaim is sasl.oauthbearer.sub.claim.name (default "sub"): the
	// claim naming the principal.
	SubClaim string
	// ScopeClaim is sasl.oauthbearer.scope.claim.name (default "scope").
	ScopeClaim string
	// ClockSkew is sasl.oauthbearer.clock.skew.seconds (default 30s;
	// negative: none).
	ClockSkew time.Duration
	// JWKSRefresh is sasl.oauthbearer.jwks.endpoint.refresh.ms: how often
	// an https: JWKS is fetched again (default 1 h, as Kafka).
	JWKSRefresh time.Duration
	// JWKSClient fetches an https: JWKS; nil: a client trusting the
	// system's CAs (SSL_CERT_FILE adds others), 10 s timeout.
	JWKSClient *http.Client
}

func (c *OAuthConfig) ensureDefaults() {
	if c.SubClaim == "" {
		c.SubClaim = "sub"
	}
	if c.ScopeClaim == "" {
		c.ScopeClaim = "scope"
	}
	if c.ClockSkew == 0 {
		c.ClockSkew = 30 * time.Second
	}
	if c.JWKSRefresh <= 0 {
		c.JWKSRefresh = time.Hour
	}
}

// jwksPath is the file of a file: URL or a plain path.
func (c *OAuthConfig) jwksPath() (string, error) {
	u := c.JWKSURL
	if u == "" {
		return "", errors.New("OAUTHBEARER needs sasl.oauthbearer.jwks.endpoint.url (a file: URL of the JWKS with the keys tokens are signed with); gregor does not accept unsecured tokens")
	}
	if !strings.Contains(u, ":") || strings.HasPrefix(u, "/") {
		return u, nil
	}
	p, err := url.Parse(u)
	if err != nil {
		return "", fmt.Errorf("sasl.oauthbearer.jwks.endpoint.url: %v", err)
	}
	if p.Scheme == "https" {
		return u, nil // fetched and refreshed (oauth_jwks_https.go)
	}
	if p.Scheme != "file" {
		return "", fmt.Errorf("sasl.oauthbearer.jwks.endpoint.url: gregor reads a JWKS from a file: or https: URL, not %s:", p.Scheme)
	}
	if p.Path == "" {
		return p.Opaque, nil
	}
	return p.Path, nil
}

func (c *OAuthConfig) validate() error {
	c.ensureDefaults()
	path, err := c.jwksPath()
	if err == nil && len(c.ExpectedAudience) == 0 && !c.AllowUnverifiedAudience {
		err = errors.New("sasl.oauthbearer.expected.audience is required with sasl.oauthbearer.jwks.endpoint.url (as in Kafka 4.4); set sasl.oauthbearer.allow.unverified.audience=true to accept tokens of any audience")
	}
	if err != nil {
		return err
	}
	if isHTTPSJWKS(path) {
		_, err = fetchJWKS(c.JWKSClient, path) // oauth_jwks_https.go
		return err
	}
	_, err = loadJWKS(path)
	return err
}

// jwtAlgorithms are the signature algorithms accepted: asymmetric ones
// only (a JWKS file publishes public keys).
var jwtAlgorithms = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512, jose.EdDSA,
}

func loadJWKS(path string) (*jose.JSONWebKeySet, error) {
	if isHTTPSJWKS(path) {
		return fetchJWKS(nil, path) // oauth_jwks_https.go
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sasl.oauthbearer.jwks.endpoint.url: %v", err)
	}
	return parseJWKS(b, path)
}

// parseJWKS reads a JSON Web Key Set of public keys; name says where it
// came from, for messages.
func parseJWKS(b []byte, path string) (*jose.JSONWebKeySet, error) {
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(b, &set); err != nil {
		return nil, fmt.Errorf("sasl.oauthbearer.jwks.endpoint.url: %s is not a JSON Web Key Set: %v", path, err)
	}
	if len(set.Keys) == 0 {
		return nil, fmt.Errorf("sasl.oauthbearer.jwks.endpoint.url: %s holds no key", path)
	}
	for _, k := range set.Keys {
		if !k.Valid() || !k.IsPublic() {
			return nil, fmt.Errorf("sasl.oauthbearer.jwks.endpoint.url: %s: key %q is not a valid public key", path, k.KeyID)
		}
	}
	return &set, nil
}

// oauthKeys is the JWKS in force, re-read when its file changes.
type oauthKeys struct {
	mu      sync.Mutex
	path    string // a file, or an https: URL
	refresh time.Duration
	client  *http.Client
	set     *jose.JSONWebKeySet
	size    int64
	mod     time.Time
	checked time.Time
	log     *zap.Logger
}

func (k *oauthKeys) current() *jose.JSONWebKeySet {
	if isHTTPSJWKS(k.path) {
		return k.currentHTTPS(false) // oauth_jwks_https.go
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if time.Since(k.checked) < time.Second && k.set != nil {
		return k.set
	}
	k.checked = time.Now()
	fi, err := os.Stat(k.path)
	if err != nil || (k.set != nil && fi.Size() == k.size && fi.ModTime().Equal(k.mod)) {
		return k.set
	}
	set, err := loadJWKS(k.path)
	if err != nil {
		k.log.Warn("reading the OAUTHBEARER JWKS failed; keeping the previous keys", zap.Error(err))
		return k.set
	}
	k.set, k.size, k.mod = set, fi.Size(), fi.ModTime()
	return k.set
}

// oauthValidator checks tokens.
type oauthValidator struct {
	cfg  OAuthConfig
	keys *oauthKeys
}

func (b *Broker) oauth() *oauthValidator {
	b.oauthOnce.Do(func() {
		cfg := b.cfg.Security.OAuth
		cfg.ensureDefaults()
		path, _ := cfg.jwksPath()
		b.oauthV = &oauthValidator{cfg: cfg, keys: &oauthKeys{path: path, log: b.log, refresh: cfg.JWKSRefresh, client: cfg.JWKSClient}}
	})
	return b.oauthV
}

// oauthToken is what a valid token says.
type oauthToken struct {
	principal string
	expires   time.Time
	scopes    []string
}

// validate checks a compact JWT; the error says why it was refused (for
// the log; the client is told only invalid_token, as by Kafka).
func (v *oauthValidator) validate(raw string, now time.Time) (oauthToken, error) {
	tok, err := jwt.ParseSigned(raw, jwtAlgorithms)
	if err != nil {
		return oauthToken{}, fmt.Errorf("not a signed JWT of an accepted algorithm: %v", err)
	}
	set := v.keys.current()
	if set == nil {
		return oauthToken{}, errors.New("no JWKS loaded")
	}
	keys := set.Keys
	if kid := tok.Headers[0].KeyID; kid != "" {
		keys = set.Key(kid)
		if len(keys) == 0 && isHTTPSJWKS(v.keys.path) {
			// A key the provider rotated in since the last fetch.
			if set = v.keys.currentHTTPS(true); set != nil {
				keys = set.Key(kid)
			}
		}
	}
	var std jwt.Claims
	var all map[string]any
	verified := false
	for _, k := range keys {
		if err := tok.Claims(k.Key, &std, &all); err == nil {
			verified = true
			break
		}
	}
	if !verified {
		return oauthToken{}, errors.New("the signature matches no key of the JWKS")
	}
	if std.Expiry == nil {
		return oauthToken{}, errors.New("no exp claim")
	}
	if std.IssuedAt == nil {
		return oauthToken{}, errors.New("no iat claim")
	}
	if err := std.ValidateWithLeeway(jwt.Expected{Issuer: v.cfg.ExpectedIssuer, AnyAudience: v.cfg.ExpectedAudience, Time: now}, max(v.cfg.ClockSkew, 0)); err != nil {
		return oauthToken{}, err
	}
	sub, _ := all[v.cfg.SubClaim].(string)
	if strings.TrimSpace(sub) == "" {
		return oauthToken{}, fmt.Errorf("no %s claim naming the principal", v.cfg.SubClaim)
	}
	t := oauthToken{principal: sub, expires: std.Expiry.Time()}
	switch s := all[v.cfg.ScopeClaim].(type) {
	case string:
		t.scopes = strings.Fields(s)
	case []any:
		for _, x := range s {
			if str, ok := x.(string); ok {
				t.scopes = append(t.scopes, str)
			}
		}
	}
	return t, nil
}

// oauthInitial matches RFC 7628's client initial response: a GS2 header
// (no channel binding, an optional authzid), then key=value pairs each
// ended by %x01, then %x01.
var oauthInitial = regexp.MustCompile(`^n,(?:a=([^,]*))?,\x01((?:[A-Za-z]+=[\x21-\x7E \t\r\n]*\x01)*)\x01$`)

// oauthConv is the server side of one OAUTHBEARER exchange
// (security.Conversation).
type oauthConv struct {
	v      *oauthValidator
	log    *zap.Logger
	user   string
	exp    time.Time
	errMsg string // the challenge sent for a refused token
}

func (b *Broker) newOAuthConversation() *oauthConv {
	return &oauthConv{v: b.oauth(), log: b.log}
}

func (c *oauthConv) User() string { return c.user }

// Expiry is when the token expires: the session ends then (KIP-368).
func (c *oauthConv) Expiry() time.Time { return c.exp }

// oauthAuthError is Kafka's message for a malformed exchange.
const oauthBadMessage = "Authentication failed during authentication due to invalid credentials with SASL mechanism OAUTHBEARER"

func (c *oauthConv) Step(in []byte) ([]byte, bool, error) {
	if len(in) == 1 && in[0] == 0x01 && c.errMsg != "" {
		return nil, false, &security.AuthError{Message: c.errMsg}
	}
	c.errMsg = ""
	m := oauthInitial.FindSubmatch(in)
	if m == nil {
		return nil, false, &security.AuthError{Message: oauthBadMessage}
	}
	authzid := string(m[1])
	var token string
	for _, kv := range strings.Split(string(m[2]), "\x01") {
		if k, v, ok := strings.Cut(kv, "="); ok && k == "auth" {
			scheme, t, ok := strings.Cut(v, " ")
			if !ok || !strings.EqualFold(scheme, "Bearer") {
				return nil, false, &security.AuthError{Message: oauthBadMessage}
			}
			token = strings.TrimSpace(t)
		}
	}
	if token == "" {
		return nil, false, &security.AuthError{Message: oauthBadMessage}
	}
	t, err := c.v.validate(token, time.Now())
	if err != nil {
		c.log.Info("OAUTHBEARER token refused", zap.Error(err))
		c.errMsg = `{"status":"invalid_token"}`
		return []byte(c.errMsg), false, nil
	}
	if authzid != "" && authzid != t.principal {
		return nil, false, &security.AuthError{Message: fmt.Sprintf("Authentication failed: Client requested an authorization id (%s) that is different from the token's principal name (%s)", authzid, t.principal)}
	}
	c.user, c.exp = t.principal, t.expires
	return []byte{}, true, nil
}
