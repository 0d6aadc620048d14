package broker

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/gregor-broker/gregor/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
)

// oauthIssuer mints tokens for tests: an RSA key published in a JWKS file
// and an EC key that is not.
type oauthIssuer struct {
	t     *testing.T
	key   *rsa.PrivateKey
	other *ecdsa.PrivateKey
	jwks  string
}

func newOAuthIssuer(t *testing.T) *oauthIssuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return &oauthIssuer{t: t, key: key, other: other, jwks: path}
}

// token mints a token; mod may change the claims, with signs it with the
// unpublished EC key.
func (o *oauthIssuer) token(sub string, life time.Duration, mod func(c *jwt.Claims), withOther bool) string {
	o.t.Helper()
	var sig jose.Signer
	var err error
	if withOther {
		sig, err = jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: o.other}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k1"))
	} else {
		sig, err = jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: o.key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k1"))
	}
	if err != nil {
		o.t.Fatal(err)
	}
	now := time.Now()
	c := jwt.Claims{Subject: sub, Issuer: "https://issuer.test", Audience: jwt.Audience{"gregor"},
		IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(life))}
	if mod != nil {
		mod(&c)
	}
	s, err := jwt.Signed(sig).Claims(c).Claims(map[string]any{"scope": "kafka"}).Serialize()
	if err != nil {
		o.t.Fatal(err)
	}
	return s
}

func startOAuthBroker(t *testing.T, iss *oauthIssuer, mod func(*Config)) *secBroker {
	return startSecBroker(t, func(c *Config) {
		c.Security.SASLMechanisms = []string{"PLAIN", OAuthMechanism}
		c.Security.OAuth = OAuthConfig{JWKSURL: "file://" + iss.jwks, ExpectedAudience: []string{"gregor"}, ExpectedIssuer: "https://issuer.test"}
		if mod != nil {
			mod(c)
		}
	})
}

// TestOAuthBearer: a signed, current token logs in as User:<sub>; expired,
// foreign-signed, unsigned, wrong-audience, wrong-issuer and sub-less
// tokens are refused with SASL_AUTHENTICATION_FAILED and Kafka's message.
func TestOAuthBearer(t *testing.T) {
	iss := newOAuthIssuer(t)
	sb := startOAuthBroker(t, iss, func(c *Config) {
		c.Security.Authorizer = true
		c.Security.SuperUsers = []string{"User:ANONYMOUS", "User:alice"}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	good := dial(t, sb.saslPlain, kgo.SASL(oauth.Auth{Token: iss.token("alice", time.Hour, nil, false)}.AsMechanism()))
	// alice is a super user; any other principal would be denied.
	if err := roundTrip(ctx, good, "oauth-ok"); err != nil {
		t.Fatalf("a valid token: %v", err)
	}
	bob := dial(t, sb.saslPlain, kgo.SASL(oauth.Auth{Token: iss.token("bob", time.Hour, nil, false)}.AsMechanism()), kgo.RetryTimeout(time.Second))
	if err := bob.ProduceSync(ctx, &kgo.Record{Topic: "oauth-ok", Value: []byte("x")}).FirstErr(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("bob (no ACL) produced: %v; the principal is not User:bob", err)
	}

	unsigned := func() string {
		// alg "none": header.payload. with an empty signature.
		h := `{"alg":"none","typ":"JWT"}`
		p, _ := json.Marshal(map[string]any{"sub": "alice", "iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(), "aud": "gregor", "iss": "https://issuer.test"})
		enc := base64.RawURLEncoding.EncodeToString
		return enc([]byte(h)) + "." + enc(p) + "."
	}
	bad := map[string]string{
		"expired":        iss.token("alice", -2*time.Minute, nil, false),
		"foreign key":    iss.token("alice", time.Hour, nil, true),
		"unsigned":       unsigned(),
		"wrong audience": iss.token("alice", time.Hour, func(c *jwt.Claims) { c.Audience = jwt.Audience{"other"} }, false),
		"wrong issuer":   iss.token("alice", time.Hour, func(c *jwt.Claims) { c.Issuer = "https://evil.test" }, false),
		"no sub":         iss.token("", time.Hour, nil, false),
		"no iat":         iss.token("alice", time.Hour, func(c *jwt.Claims) { c.IssuedAt = nil }, false),
		"not yet valid":  iss.token("alice", time.Hour, func(c *jwt.Claims) { c.NotBefore = jwt.NewNumericDate(time.Now().Add(time.Hour)) }, false),
	}
	for name, tok := range bad {
		cl := dial(t, sb.saslPlain, kgo.SASL(oauth.Auth{Token: tok}.AsMechanism()), kgo.RetryTimeout(time.Second))
		err := cl.Ping(ctx)
		if !errors.Is(err, kerr.SaslAuthenticationFailed) || !strings.Contains(err.Error(), `{"status":"invalid_token"}`) {
			t.Errorf("%s: %v, want SASL_AUTHENTICATION_FAILED {\"status\":\"invalid_token\"}", name, err)
		}
	}

	// A malformed initial response and an authzid other than sub.
	for _, c := range []struct {
		msg  string
		want string
	}{
		{"garbage", "Authentication failed during authentication due to invalid credentials with SASL mechanism OAUTHBEARER"},
		{"n,a=mallory,\x01auth=Bearer " + iss.token("alice", time.Hour, nil, false) + "\x01\x01", "Client requested an authorization id (mallory) that is different from the token's principal name (alice)"},
	} {
		code, msg := oauthRaw(t, sb.saslPlain, []byte(c.msg))
		if code != kerr.SaslAuthenticationFailed.Code || !strings.Contains(msg, c.want) {
			t.Errorf("%q: code %d %q, want %q", c.msg[:min(len(c.msg), 20)], code, msg, c.want)
		}
	}
}

// oauthRaw runs SaslHandshake OAUTHBEARER and one SaslAuthenticate with
// msg, and returns the answer's code and message.
func oauthRaw(t *testing.T, addr string, msg []byte) (int16, string) {
	t.Helper()
	rc := (&coreBroker{t: t, addr: addr}).raw()
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Version, hs.Mechanism = 1, OAuthMechanism
	if r := rc.do(hs).(*kmsg.SASLHandshakeResponse); r.ErrorCode != 0 {
		t.Fatalf("handshake: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	au := kmsg.NewPtrSASLAuthenticateRequest()
	au.Version, au.SASLAuthBytes = 1, msg
	r := rc.do(au).(*kmsg.SASLAuthenticateResponse)
	m := ""
	if r.ErrorMessage != nil {
		m = *r.ErrorMessage
	}
	return r.ErrorCode, m
}

// TestOAuthReauthAtTokenExpiry: the session lasts until the token
// expires (SessionLifetimeMillis), the client re-authenticates with a new
// token on the same connection, and keeps working past the first token's
// expiry (KIP-368).
func TestOAuthReauthAtTokenExpiry(t *testing.T) {
	iss := newOAuthIssuer(t)
	sb := startOAuthBroker(t, iss, func(c *Config) { c.Security.OAuth.ClockSkew = -1 }) // no leeway: 3 s tokens
	var logins atomic.Int32
	mech := oauth.Oauth(func(context.Context) (oauth.Auth, error) {
		logins.Add(1)
		return oauth.Auth{Token: iss.token("alice", 3*time.Second, nil, false)}, nil
	})
	cl := dial(t, sb.saslPlain, kgo.SASL(mech))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := roundTrip(ctx, cl, "oauth-reauth"); err != nil {
		t.Fatal(err)
	}
	// The lifetime told is the token's.
	code, _ := oauthLifetime(t, sb.saslPlain, iss.token("alice", 3*time.Second, nil, false))
	if code <= 0 || code > 3000 {
		t.Fatalf("SessionLifetimeMillis %d, want in (0, 3000]", code)
	}
	deadline := time.Now().Add(7 * time.Second)
	for time.Now().Before(deadline) {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "oauth-reauth", Value: []byte("v")}).FirstErr(); err != nil {
			t.Fatalf("after %d logins: %v", logins.Load(), err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if logins.Load() < 2 {
		t.Fatalf("%d logins in 7 s with 3 s tokens: the client was never asked to re-authenticate", logins.Load())
	}
}

func oauthLifetime(t *testing.T, addr, token string) (int64, int16) {
	t.Helper()
	rc := (&coreBroker{t: t, addr: addr}).raw()
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Version, hs.Mechanism = 1, OAuthMechanism
	rc.do(hs)
	au := kmsg.NewPtrSASLAuthenticateRequest()
	au.Version, au.SASLAuthBytes = 1, []byte("n,,\x01auth=Bearer "+token+"\x01\x01")
	r := rc.do(au).(*kmsg.SASLAuthenticateResponse)
	return r.SessionLifetimeMillis, r.ErrorCode
}

// TestOAuthConfig: OAUTHBEARER without a JWKS, or with a URL gregor
// cannot read, is refused at start.
func TestOAuthConfig(t *testing.T) {
	for _, c := range []struct {
		url, want string
	}{
		{"", "sasl.oauthbearer.jwks.endpoint.url"},
		{"http://idp.example/jwks", "file: or https: URL, not http:"},
		{"file:///nonexistent/jwks.json", "no such file"},
		{"no audience", "sasl.oauthbearer.expected.audience is required"},
	} {
		o := OAuthConfig{JWKSURL: c.url, ExpectedAudience: []string{"gregor"}}
		if c.url == "no audience" {
			o = OAuthConfig{JWKSURL: newOAuthIssuer(t).jwks}
		}
		cfg := Config{Store: storage.Config{Dir: t.TempDir()}, Security: SecurityConfig{SASLMechanisms: []string{OAuthMechanism}, OAuth: o}}
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.url, err, c.want)
		}
	}
}
