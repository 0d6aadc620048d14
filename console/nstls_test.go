package console_test

import (
	"context"
	"crypto/tls"
	"crypto/x509/pkix"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/console"
	"github.com/gregor-broker/gregor/internal/testcerts"
	"github.com/gregor-broker/gregor/nameserver"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
)

// TestNameServerOverTLS: a NameServer that speaks TLS only and wants a
// client certificate shows as up on the cluster page of a console given
// the client TLS configuration, and as down (with the reason) without it.
func TestNameServerOverTLS(t *testing.T) {
	ca, err := testcerts.NewCA("ns CA")
	if err != nil {
		t.Fatal(err)
	}
	srvCert, err := ca.Issue(pkix.Name{CommonName: "nameserver"}, true, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	cliCert, err := ca.Issue(pkix.Name{CommonName: "console"}, false, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	ns, err := nameserver.NewServer(nameserver.Config{Listen: "127.0.0.1:0", Logger: zap.NewNop(),
		TLS: &tls.Config{Certificates: []tls.Certificate{srvCert.TLS()}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: ca.Pool()}})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Serve()
	t.Cleanup(func() { ns.Shutdown(context.Background()) })
	s := startStack(t, false)

	page := func(nsTLS *tls.Config) string {
		t.Helper()
		c, err := console.New(console.Config{Kafka: []kgo.Opt{kgo.SeedBrokers(s.addr)}, NameServers: []string{ns.Addr().String()},
			NameServerTLS: nsTLS, Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		rec := httptest.NewRecorder()
		c.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/console/", nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("cluster page: %d\n%s", rec.Code, rec.Body)
		}
		body := rec.Body.String()
		i := strings.Index(body, `id="nameservers"`)
		if i < 0 {
			t.Fatalf("no NameServer table:\n%s", body)
		}
		row, _, _ := strings.Cut(body[i:], "</table>")
		return row
	}
	if row := page(&tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{cliCert.TLS()}}); !strings.Contains(row, `class="ok">up`) {
		t.Errorf("the NameServer over TLS, with the client configuration:\n%s", row)
	}
	if row := page(nil); !strings.Contains(row, `class="bad">down`) {
		t.Errorf("the TLS NameServer without a client TLS configuration is not down:\n%s", row)
	}
}
