package broker

// An OAUTHBEARER JWKS served over https (sasl.oauthbearer.jwks.endpoint.url
// =https://…), as Kafka's RefreshingHttpsJwks reads it: fetched at start
// (a failure refuses the start, as a missing file does), fetched again
// every sasl.oauthbearer.jwks.endpoint.refresh.ms (1 h), and at once, at
// most once a second, when a token names a key id the set lacks (the
// provider rotated a key in). A fetch that fails keeps the previous keys
// and is tried again a second later. Plain http: is refused: keys fetched
// without TLS could be anyone's.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"go.uber.org/zap"
)

// maxJWKSBytes bounds a fetched JWKS.
const maxJWKSBytes = 1 << 20

// jwksRetry is how soon a failed or forced fetch may be tried again.
const jwksRetry = time.Second

func isHTTPSJWKS(path string) bool { return strings.HasPrefix(strings.ToLower(path), "https://") }

var defaultJWKSClient = &http.Client{Timeout: 10 * time.Second}

// fetchJWKS GETs and parses the JWKS at url.
func fetchJWKS(cl *http.Client, url string) (*jose.JSONWebKeySet, error) {
	if cl == nil {
		cl = defaultJWKSClient
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("sasl.oauthbearer.jwks.endpoint.url: %v", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := cl.Do(req)
	if err != nil {
		return nil, fmt.Errorf("sasl.oauthbearer.jwks.endpoint.url: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("sasl.oauthbearer.jwks.endpoint.url: %s answered %s", url, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("sasl.oauthbearer.jwks.endpoint.url: reading %s: %v", url, err)
	}
	if len(b) > maxJWKSBytes {
		return nil, fmt.Errorf("sasl.oauthbearer.jwks.endpoint.url: %s is larger than %d bytes", url, maxJWKSBytes)
	}
	return parseJWKS(b, url)
}

// currentHTTPS returns the fetched set, fetching it again when it is older
// than the refresh interval or, with force, when the last attempt is more
// than jwksRetry ago.
func (k *oauthKeys) currentHTTPS(force bool) *jose.JSONWebKeySet {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := time.Now()
	due := k.set == nil || now.Sub(k.mod) >= k.refresh || force
	if !due || now.Sub(k.checked) < jwksRetry {
		return k.set
	}
	k.checked = now
	set, err := fetchJWKS(k.client, k.path)
	if err != nil {
		k.log.Warn("fetching the OAUTHBEARER JWKS failed; keeping the previous keys", zap.Error(err))
		return k.set
	}
	k.set, k.mod = set, now // mod: when it was fetched
	return k.set
}
