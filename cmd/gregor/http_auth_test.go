package main

import (
	"crypto/tls"
	"crypto/x509/pkix"
	"net/http"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/broker/security"
	"github.com/gregor-broker/gregor/internal/testcerts"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// TestHTTPLoginAndTLS: with http.ssl.enable and http.auth=login the port
// speaks TLS only, /healthz and /readyz answer anyone, /metrics needs a
// broker user.
func TestHTTPLoginAndTLS(t *testing.T) {
	dir := t.TempDir()
	ca, err := testcerts.NewCA("http CA")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ca.Issue(pkix.Name{CommonName: "localhost"}, true, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	ks, _ := testcerts.Write(dir, "server.pem", srv.KeystorePEM())
	cfg := defaultConfig()
	cfg.HTTPListener = "127.0.0.1:0"
	cfg.HTTPAuth, cfg.HTTPTLS = "login", true
	cfg.Security.TLS = security.TLSConfig{KeystoreLocation: ks}
	hs, err := startHTTP(cfg, prometheus.NewRegistry(), func() bool { return true }, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer hs.shutdown(zap.NewNop())
	hs.setLogin(func(u, p string) bool { return u == "admin" && p == "admin-secret" })
	cl := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"}}}
	get := func(scheme, path, user string) int {
		req, _ := http.NewRequest(http.MethodGet, scheme+"://"+hs.addr()+path, nil)
		if user != "" {
			req.SetBasicAuth(user, user+"-secret")
		}
		resp, err := cl.Do(req)
		if err != nil {
			return -1
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, c := range []struct {
		scheme, path, user string
		want               int
	}{
		{"https", "/healthz", "", 200},
		{"https", "/readyz", "", 200},
		{"https", "/metrics", "", 401},
		{"https", "/metrics", "eve", 401},
		{"https", "/metrics", "admin", 200},
		{"https", "/cluster/status", "", 401},
		{"http", "/healthz", "", -1}, // plaintext to the TLS port
	} {
		if got := get(c.scheme, c.path, c.user); got != c.want && !(c.want == -1 && got == 400) {
			t.Errorf("%s %s as %q: %d, want %d", c.scheme, c.path, c.user, got, c.want)
		}
	}
}
