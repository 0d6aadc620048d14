package replication

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"testing"
	"time"
)

// TestSecureListenerAndDial: a slave proves the cluster secret (and, with
// TLS, presents a client certificate) before the master hands its
// connection to Serve; a wrong secret, no secret or no certificate never
// gets a connection, and a slave refuses a master without the secret.
func TestSecureListenerAndDial(t *testing.T) {
	pool, leaf, cli := testPKI(t)
	srvTLS := &tls.Config{Certificates: []tls.Certificate{leaf}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert}
	cliTLS := &tls.Config{Certificates: []tls.Certificate{cli}, RootCAs: pool, ServerName: "localhost"}
	noCert := &tls.Config{RootCAs: pool, ServerName: "localhost"}

	for _, c := range []struct {
		name           string
		srvTLS, cliTLS *tls.Config
		srvSec, cliSec string
		ok             bool
	}{
		{"secret", nil, nil, "s", "s", true},
		{"wrong secret", nil, nil, "s", "x", false},
		{"no secret", nil, nil, "s", "", false},
		{"master without the secret", nil, nil, "", "s", false},
		{"tls and secret", srvTLS, cliTLS, "s", "s", true},
		{"tls without client certificate", srvTLS, noCert, "s", "s", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			raw, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			ln := SecureListener(raw, c.srvTLS, c.srvSec, 5*time.Second, nil)
			defer ln.Close()
			accepted := make(chan net.Conn, 1)
			go func() {
				if conn, err := ln.Accept(); err == nil {
					accepted <- conn
				}
			}()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			conn, err := SecureDial(nil, c.cliTLS, c.cliSec)(ctx, raw.Addr().String())
			if err == nil {
				conn.Write(make([]byte, 64)) // whatever a slave without the secret sends
				defer conn.Close()
				select {
				case m := <-accepted:
					m.Close()
				case <-time.After(time.Second):
					err = errNotAccepted
				}
			}
			switch {
			case c.ok && err != nil:
				t.Fatalf("refused: %v", err)
			case !c.ok && err == nil:
				t.Fatal("a connection was established")
			}
		})
	}
}

var errNotAccepted = errorString("the master never handed the connection to Serve")

type errorString string

func (e errorString) Error() string { return string(e) }

// testPKI makes a CA, a server certificate for localhost and a client
// certificate (replication imports no gregor package but storage, so not
// internal/testcerts).
func testPKI(t *testing.T) (*x509.CertPool, tls.Certificate, tls.Certificate) {
	t.Helper()
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	caKey := key()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "repl CA"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	issue := func(n int64, usage x509.ExtKeyUsage) tls.Certificate {
		k := key()
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(n), Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"localhost"},
			ExtKeyUsage: []x509.ExtKeyUsage{usage}, KeyUsage: x509.KeyUsageDigitalSignature,
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k}
	}
	return pool, issue(2, x509.ExtKeyUsageServerAuth), issue(3, x509.ExtKeyUsageClientAuth)
}
