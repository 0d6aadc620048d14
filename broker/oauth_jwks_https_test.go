package broker

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
)

// TestOAuthJWKSOverHTTPS: sasl.oauthbearer.jwks.endpoint.url=https://…
// is fetched at start; a token signed by a key the provider added later
// (a key id the set lacks) makes the broker fetch the set again and logs
// in; http:, an untrusted certificate and an unreachable
// endpoint are refused at start.
func TestOAuthJWKSOverHTTPS(t *testing.T) {
	iss := newOAuthIssuer(t)
	k2, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	keys := []jose.JSONWebKey{{Key: &iss.key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}
	var fetches atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		mu.Lock()
		b, _ := json.Marshal(jose.JSONWebKeySet{Keys: keys})
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
	}))
	defer srv.Close()

	sb := startOAuthBroker(t, iss, func(c *Config) {
		c.Security.OAuth.JWKSURL = srv.URL + "/jwks"
		c.Security.OAuth.JWKSClient = srv.Client()
		c.Security.OAuth.JWKSRefresh = time.Hour
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	login := func(token string) error {
		cl := dial(t, sb.saslPlain, kgo.SASL(oauth.Auth{Token: token}.AsMechanism()), kgo.RetryTimeout(time.Second))
		defer cl.Close()
		return cl.Ping(ctx)
	}
	if err := login(iss.token("alice", time.Hour, nil, false)); err != nil {
		t.Fatalf("a token of the fetched JWKS: %v", err)
	}
	if fetches.Load() == 0 {
		t.Fatal("the JWKS was never fetched")
	}

	// The provider rotates a key in: k2 signs; the broker has only k1.
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: k2}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k2"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tok, err := jwt.Signed(sig).Claims(jwt.Claims{Subject: "alice", Issuer: "https://issuer.test", Audience: jwt.Audience{"gregor"},
		IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Hour))}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(jwksRetry) // a forced fetch waits a second after the last
	if err := login(tok); err == nil {
		t.Fatal("a token of a key the provider does not publish logged in")
	}
	before := fetches.Load()
	mu.Lock()
	keys = append(keys, jose.JSONWebKey{Key: &k2.PublicKey, KeyID: "k2", Algorithm: "RS256", Use: "sig"})
	mu.Unlock()
	time.Sleep(jwksRetry)
	if err := login(tok); err != nil {
		t.Fatalf("a token of a key the provider rotated in: %v", err)
	}
	if fetches.Load() <= before {
		t.Fatal("the unknown key id did not fetch the JWKS again")
	}

	// Refused at start: plain http, and an endpoint that does not answer.
	for url, want := range map[string]string{
		"http://" + strings.TrimPrefix(srv.URL, "https://") + "/jwks": "https:",
		srv.URL + "/jwks":          "certificate", // the default client does not trust the test server
		"https://127.0.0.1:1/jwks": "connect",
	} {
		o := OAuthConfig{JWKSURL: url, ExpectedAudience: []string{"gregor"}}
		if err := o.validate(); err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("JWKS %s: %v, want an error naming %q", url, err, want)
		}
	}
}
