package nameserver

import (
	"context"
	"crypto/tls"
	"crypto/x509/pkix"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/internal/testcerts"
)

// TestTLSPort: with Config.TLS the port speaks TLS only: a broker trusting
// the cluster's CA registers and reads routes over https; a plaintext
// client and a client trusting another CA get nothing; with client
// certificates required, a client without one can neither register nor
// unregister nor read routes, and the registered broker stays.
func TestTLSPort(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ca, err := testcerts.NewCA("nameserver test CA")
	if err != nil {
		t.Fatal(err)
	}
	other, err := testcerts.NewCA("another CA")
	if err != nil {
		t.Fatal(err)
	}
	srvLeaf, err := ca.Issue(pkix.Name{CommonName: "nameserver"}, true, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	cliLeaf, err := ca.Issue(pkix.Name{CommonName: "broker-a"}, false, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	start := func(auth tls.ClientAuthType) string {
		s, err := NewServer(Config{Listen: "127.0.0.1:0", TLS: &tls.Config{
			Certificates: []tls.Certificate{srvLeaf.TLS()}, ClientCAs: ca.Pool(), ClientAuth: auth, MinVersion: tls.VersionTLS12,
		}})
		if err != nil {
			t.Fatal(err)
		}
		go s.Serve()
		t.Cleanup(func() { s.Shutdown(context.Background()) })
		return s.Addr().String()
	}
	withCert := &tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{cliLeaf.TLS()}}
	noCert := &tls.Config{RootCAs: ca.Pool()}
	wrongCA := &tls.Config{RootCAs: other.Pool(), Certificates: []tls.Certificate{cliLeaf.TLS()}}

	for _, tc := range []struct {
		name string
		auth tls.ClientAuthType
	}{{"client certificates not asked", tls.NoClientCert}, {"client certificates required", tls.RequireAndVerifyClientCert}} {
		t.Run(tc.name, func(t *testing.T) {
			addr := start(tc.auth)
			good := NewClient([]string{addr}).WithTLS(withCert)
			if _, err := good.Register(ctx, reg("broker-a", 0, 1)); err != nil {
				t.Fatalf("register over TLS: %v", err)
			}
			refused := map[string]*Client{
				"plaintext":          NewClient([]string{addr}),
				"trusting other CAs": NewClient([]string{addr}).WithTLS(wrongCA),
			}
			if tc.auth == tls.RequireAndVerifyClientCert {
				refused["without a certificate"] = NewClient([]string{addr}).WithTLS(noCert)
			} else if _, err := NewClient([]string{addr}).WithTLS(noCert).Routes(ctx); err != nil {
				t.Fatalf("routes without a client certificate (none asked): %v", err)
			}
			for name, c := range refused {
				if _, err := c.Register(ctx, reg("broker-x", 0, 2)); err == nil {
					t.Fatalf("%s: a registration was accepted", name)
				}
				c.Unregister(ctx, "c", "broker-a", 0)
				if _, err := c.Routes(ctx); err == nil {
					t.Fatalf("%s: routes were read", name)
				}
			}
			r, err := good.Routes(ctx)
			if err != nil || len(r.Brokers) != 1 || r.Brokers[0].BrokerName != "broker-a" {
				t.Fatalf("routes over TLS: %v %+v (broker-a must survive the refused unregistrations)", err, r.Brokers)
			}
			// A plaintext request is answered only with Go's 400 saying so.
			resp, err := http.Get("http://" + addr + "/healthz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					t.Fatal("/healthz answered over plaintext")
				}
			} else if !strings.Contains(err.Error(), "EOF") && !strings.Contains(err.Error(), "reset") {
				t.Logf("plaintext /healthz: %v", err)
			}
		})
	}
}
