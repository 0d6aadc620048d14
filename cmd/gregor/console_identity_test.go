package main

import (
	"context"
	"crypto/tls"
	"crypto/x509/pkix"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/broker"
	"github.com/gregor-broker/gregor/broker/security"
	"github.com/gregor-broker/gregor/internal/testcerts"
	"github.com/gregor-broker/gregor/nameserver"
	"github.com/gregor-broker/gregor/storage"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
)

// TestConsolePerUserOverSASLSSL: with only a SASL_SSL listener the
// console's per-user clients (console.identity=login) reach it over TLS,
// trusting ssl.truststore, and try SCRAM-SHA-512 before PLAIN: a SCRAM
// user gets in with the first, a PLAIN-only user with the second, and a
// wrong password with neither.
func TestConsolePerUserOverSASLSSL(t *testing.T) {
	dir := t.TempDir()
	ca, err := testcerts.NewCA("console CA")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ca.Issue(pkix.Name{CommonName: "localhost"}, true, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	ks, _ := testcerts.Write(dir, "server.pem", srv.KeystorePEM())
	ts, _ := testcerts.Write(dir, "ca.pem", ca.PEM)
	var cfg Config
	cfg.Listeners = []broker.Listener{{Name: "PLAINTEXT", Address: "127.0.0.1:0"},
		{Name: "SASL_SSL", Address: "127.0.0.1:0", Protocol: broker.ProtoSASLSSL}}
	cfg.Security = broker.SecurityConfig{
		TLS:            security.TLSConfig{KeystoreLocation: ks, TruststoreLocation: ts},
		PlainUsers:     map[string]string{"admin": "admin-secret"},
		SASLMechanisms: []string{security.ScramSHA512, "PLAIN"},
	}
	b, err := broker.New(broker.Config{Listeners: cfg.Listeners, Security: cfg.Security,
		Store: storage.Config{Dir: filepath.Join(dir, "data"), SegmentBytes: 4 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		b.Shutdown(ctx)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	acl, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()[0].String()))
	if err != nil {
		t.Fatal(err)
	}
	defer acl.Close()
	if _, err := kadm.NewClient(acl).AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "erin", Mechanism: kadm.ScramSha512, Password: "erin-pw"}}); err != nil {
		t.Fatal(err)
	}
	perUser, err := consolePerUser(cfg, b.Addrs())
	if err != nil {
		t.Fatal(err)
	}
	// works reports which of the candidates authenticate.
	works := func(user, pass string) []bool {
		var out []bool
		for _, opts := range perUser(user, pass) {
			cl, err := kgo.NewClient(append(opts, kgo.RetryTimeout(5*time.Second))...)
			if err != nil {
				t.Fatal(err)
			}
			pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			out = append(out, cl.Ping(pctx) == nil)
			cancel()
			cl.Close()
		}
		return out
	}
	if got := works("erin", "erin-pw"); len(got) != 2 || !got[0] {
		t.Errorf("erin (SCRAM-SHA-512) over SASL_SSL: %v, want the first candidate to work", got)
	}
	if got := works("admin", "admin-secret"); len(got) != 2 || !got[1] {
		t.Errorf("admin (PLAIN) over SASL_SSL: %v, want the second candidate to work", got)
	}
	if got := works("erin", "wrong"); len(got) != 2 || got[0] || got[1] {
		t.Errorf("a wrong password over SASL_SSL: %v, want none to work", got)
	}
}

// TestConsoleNameServerTLS: a broker whose NameServers require TLS and a
// client certificate (nameserver.ssl.enable) shows them up on its
// console's cluster page.
func TestConsoleNameServerTLS(t *testing.T) {
	dir := t.TempDir()
	ca, err := testcerts.NewCA("ns CA")
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := ca.Issue(pkix.Name{CommonName: "nameserver"}, true, time.Time{}, time.Time{})
	cli, _ := ca.Issue(pkix.Name{CommonName: "broker"}, false, time.Time{}, time.Time{})
	caFile, _ := testcerts.Write(dir, "ca.pem", ca.PEM)
	cliFile, _ := testcerts.Write(dir, "broker.pem", cli.KeystorePEM())
	ns, err := nameserver.NewServer(nameserver.Config{Listen: "127.0.0.1:0", Logger: zap.NewNop(),
		TLS: &tls.Config{Certificates: []tls.Certificate{srv.TLS()}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: ca.Pool()}})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Serve()
	defer ns.Shutdown(context.Background())
	kafka := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	h, cancel, done := started(t, "--listeners", "PLAINTEXT://"+kafka, "--http.listener", "127.0.0.1:0",
		"--nameservers", ns.Addr().String(), "--nameserver.ssl.enable=true",
		"--ssl.keystore.location", cliFile, "--ssl.truststore.location", caFile,
		"--data-dir", t.TempDir(), "--log.segment.bytes", "4194304")
	defer func() { cancel(); <-done }()
	code, body := get(t, "http://"+h+"/console/")
	i := strings.Index(body, `id="nameservers"`)
	if code != http.StatusOK || i < 0 {
		t.Fatalf("/console/: %d\n%s", code, body)
	}
	row, _, _ := strings.Cut(body[i:], "</table>")
	if !strings.Contains(row, `class="ok">up`) {
		t.Fatalf("the TLS NameServer is not up on the console's cluster page:\n%s", row)
	}
}
