package broker

import (
	"crypto/tls"
	"crypto/x509/pkix"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestExpiredCertificates: with ssl.client.auth=required a client
// presenting an expired certificate (of the trusted CA) is refused at the
// TLS handshake, promptly and without an answer to its request, while a
// valid one is served; a server certificate that has expired (a key store
// renewed too late, reloaded) is refused by a verifying client with Go's
// "certificate has expired" rather than served.
func TestExpiredCertificates(t *testing.T) {
	sb := startSecBroker(t, func(c *Config) { c.Security.TLS.ClientAuth = "required" })
	past := time.Now().Add(-48 * time.Hour)
	expired, err := sb.ca.Issue(pkix.Name{CommonName: "alice"}, false, past, past.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	apiVersions := func(cfg *tls.Config) error {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", sb.ssl, cfg)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(20 * time.Second))
		req := kmsg.NewPtrApiVersionsRequest()
		if _, err := c.Write(coreFrame(req, 1)); err != nil {
			return err
		}
		var size [4]byte
		if _, err := io.ReadFull(c, size[:]); err != nil {
			return err
		}
		return nil
	}
	if err := apiVersions(sb.tlsConfig(true)); err != nil {
		t.Fatalf("a valid client certificate: %v", err)
	}
	cfg := sb.tlsConfig(false)
	cfg.Certificates = []tls.Certificate{expired.TLS()}
	err = apiVersions(cfg)
	if err == nil {
		t.Fatal("a client with an expired certificate was served")
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("a client with an expired certificate got neither an answer nor a refusal: %v", err)
	}
	t.Logf("expired client certificate: %v", err)

	// The server's certificate expires: renewed too late, reloaded.
	old, err := sb.ca.Issue(pkix.Name{CommonName: "localhost"}, true, past, past.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	tmp := sb.keystore + ".new"
	if err := os.WriteFile(tmp, old.KeystorePEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, sb.keystore); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		err := apiVersions(sb.tlsConfig(true))
		if err != nil && strings.Contains(err.Error(), "expired") {
			t.Logf("expired server certificate: %v", err)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("a client went on being served by an expired server certificate: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
