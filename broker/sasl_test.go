package broker

import (
	"context"
	"crypto/tls"
	"crypto/x509/pkix"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/broker/security"
	"github.com/gregor-broker/gregor/internal/testcerts"
	"github.com/gregor-broker/gregor/protocol"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// secBroker is a broker with one listener of each security protocol:
// PLAINTEXT, SASL_PLAINTEXT, SSL (client certificates required) and
// SASL_SSL, with certificates made for the test.
type secBroker struct {
	*coreBroker
	plain, saslPlain, ssl, saslSSL string
	ca                             *testcerts.CA
	keystore                       string // the server's PEM key store file
	client                         *testcerts.Leaf
}

func startSecBroker(t *testing.T, mod func(*Config)) *secBroker {
	t.Helper()
	ca, err := testcerts.NewCA("gregor test CA")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ca.Issue(pkix.Name{CommonName: "localhost"}, true, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	cli, err := ca.Issue(pkix.Name{CommonName: "alice", Organization: []string{"gregor"}}, false, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ks, _ := testcerts.Write(dir, "server.pem", srv.KeystorePEM())
	ts, _ := testcerts.Write(dir, "ca.pem", ca.PEM)
	cb := coreStart(t, "", func(c *Config) {
		c.Listeners = []Listener{
			{Name: "PLAINTEXT", Address: "127.0.0.1:0"},
			{Name: "SASL_PLAINTEXT", Address: "127.0.0.1:0", Protocol: ProtoSASLPlaintext},
			{Name: "SSL", Address: "127.0.0.1:0", Protocol: ProtoSSL},
			{Name: "SASL_SSL", Address: "127.0.0.1:0", Protocol: ProtoSASLSSL},
		}
		c.Security.TLS = security.TLSConfig{KeystoreLocation: ks, TruststoreLocation: ts, ClientAuth: "requested", ReloadCheck: time.Millisecond}
		c.Security.PlainUsers = map[string]string{"alice": "alice-secret"}
		c.Security.FailedAuthDelay = time.Millisecond
		c.Store.SegmentBytes = 4 << 20 // small segments (TEAM.md)
		if mod != nil {
			mod(c)
		}
	})
	a := cb.b.Addrs()
	return &secBroker{coreBroker: cb, plain: a[0].String(), saslPlain: a[1].String(), ssl: a[2].String(), saslSSL: a[3].String(),
		ca: ca, keystore: ks, client: cli}
}

func (sb *secBroker) tlsConfig(withCert bool) *tls.Config {
	c := &tls.Config{RootCAs: sb.ca.Pool(), ServerName: "localhost"}
	if withCert {
		c.Certificates = []tls.Certificate{sb.client.TLS()}
	}
	return c
}

func dial(t *testing.T, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.MetadataMinAge(50 * time.Millisecond),
		kgo.RetryTimeout(10 * time.Second), kgo.AllowAutoTopicCreation()}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// roundTrip produces one record to topic and reads it back.
func roundTrip(ctx context.Context, cl *kgo.Client, topic string) error {
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("v")}).FirstErr(); err != nil {
		return err
	}
	cl.AddConsumeTopics(topic)
	for {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return err
		}
		if errs := fs.Errors(); len(errs) > 0 {
			return errs[0].Err
		}
		if fs.NumRecords() > 0 {
			return nil
		}
	}
}

func scram256(user, pass string) sasl.Mechanism {
	return scram.Auth{User: user, Pass: pass}.AsSha256Mechanism()
}

func scram512(user, pass string) sasl.Mechanism {
	return scram.Auth{User: user, Pass: pass}.AsSha512Mechanism()
}

func TestSecurityProtocols(t *testing.T) {
	sb := startSecBroker(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// SCRAM users are made through the PLAINTEXT listener, as kafka-configs does.
	adm := kadm.NewClient(dial(t, sb.plain))
	res, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{
		{User: "bob", Mechanism: kadm.ScramSha256, Iterations: 4096, Password: "bob-secret"},
		{User: "carol", Mechanism: kadm.ScramSha512, Iterations: 8192, Password: "carol-secret"},
	})
	if err != nil || res.Error() != nil {
		t.Fatalf("AlterUserSCRAMs: %v %v", err, res.Error())
	}
	desc, err := adm.DescribeUserSCRAMs(ctx)
	if err != nil || desc.Error() != nil {
		t.Fatalf("DescribeUserSCRAMs: %v %v", err, desc.Error())
	}
	if d := desc["carol"]; len(d.CredInfos) != 1 || d.CredInfos[0].Mechanism != kadm.ScramSha512 || d.CredInfos[0].Iterations != 8192 {
		t.Fatalf("carol described as %+v", d)
	}
	if d := desc["bob"]; len(d.CredInfos) != 1 || d.CredInfos[0].Mechanism != kadm.ScramSha256 {
		t.Fatalf("bob described as %+v", d)
	}

	ok := []struct {
		name string
		addr string
		opts []kgo.Opt
	}{
		{"PLAINTEXT", sb.plain, nil},
		{"SASL_PLAINTEXT/PLAIN from the JAAS users", sb.saslPlain, []kgo.Opt{kgo.SASL(plain.Auth{User: "alice", Pass: "alice-secret"}.AsMechanism())}},
		{"SASL_PLAINTEXT/PLAIN against a SCRAM credential", sb.saslPlain, []kgo.Opt{kgo.SASL(plain.Auth{User: "bob", Pass: "bob-secret"}.AsMechanism())}},
		{"SASL_PLAINTEXT/SCRAM-SHA-256", sb.saslPlain, []kgo.Opt{kgo.SASL(scram256("bob", "bob-secret"))}},
		{"SASL_SSL/SCRAM-SHA-512", sb.saslSSL, []kgo.Opt{kgo.SASL(scram512("carol", "carol-secret")), kgo.DialTLSConfig(sb.tlsConfig(false))}},
		{"SSL with a client certificate", sb.ssl, []kgo.Opt{kgo.DialTLSConfig(sb.tlsConfig(true))}},
		{"SSL without a client certificate (requested)", sb.ssl, []kgo.Opt{kgo.DialTLSConfig(sb.tlsConfig(false))}},
	}
	for i, c := range ok {
		t.Run(c.name, func(t *testing.T) {
			topic := "sec-" + string(rune('a'+i))
			if err := roundTrip(ctx, dial(t, c.addr, c.opts...), topic); err != nil {
				t.Fatalf("produce/consume: %v", err)
			}
		})
	}

	bad := []struct {
		name, addr string
		opts       []kgo.Opt
		want       string
	}{
		{"PLAIN wrong password", sb.saslPlain, []kgo.Opt{kgo.SASL(plain.Auth{User: "alice", Pass: "nope"}.AsMechanism())},
			"Authentication failed: Invalid username or password"},
		{"SCRAM-SHA-256 wrong password", sb.saslPlain, []kgo.Opt{kgo.SASL(scram256("bob", "nope"))},
			"Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-256"},
		{"SCRAM-SHA-512 unknown user", sb.saslSSL, []kgo.Opt{kgo.SASL(scram512("mallory", "x")), kgo.DialTLSConfig(sb.tlsConfig(false))},
			"Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512"},
		{"SCRAM-SHA-256 against a SHA-512 credential", sb.saslPlain, []kgo.Opt{kgo.SASL(scram256("carol", "carol-secret"))},
			"Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-256"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			err := dial(t, c.addr, c.opts...).Ping(ctx)
			if !errors.Is(err, kerr.SaslAuthenticationFailed) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want SASL_AUTHENTICATION_FAILED: %s", err, c.want)
			}
		})
	}

	t.Run("no SASL on a SASL listener", func(t *testing.T) {
		// The broker closes the connection at the first request that is
		// not ApiVersions or SaslHandshake.
		cl := dial(t, sb.saslPlain)
		req := kmsg.NewPtrMetadataRequest()
		if _, err := req.RequestWith(ctx, cl); err == nil {
			t.Fatal("Metadata before authentication was answered")
		}
	})
	t.Run("plaintext to a TLS port", func(t *testing.T) {
		if err := dial(t, sb.ssl).Ping(ctx); err == nil {
			t.Fatal("a plaintext client was answered on the SSL listener")
		}
	})
	t.Run("SaslHandshake on a PLAINTEXT listener", func(t *testing.T) {
		req := kmsg.NewPtrSASLHandshakeRequest()
		req.Mechanism = "PLAIN"
		resp, err := req.RequestWith(ctx, dial(t, sb.plain))
		if err != nil || resp.ErrorCode != kerr.IllegalSaslState.Code {
			t.Fatalf("got %+v %v, want ILLEGAL_SASL_STATE", resp, err)
		}
	})

	// Credentials are in the commit log: they survive a restart, and a
	// deletion takes effect.
	sb.restart()
	a := sb.b.Addrs()
	sb.plain, sb.saslPlain = a[0].String(), a[1].String()
	if err := dial(t, sb.saslPlain, kgo.SASL(scram256("bob", "bob-secret"))).Ping(ctx); err != nil {
		t.Fatalf("bob after a restart: %v", err)
	}
	adm = kadm.NewClient(dial(t, sb.plain))
	res, err = adm.AlterUserSCRAMs(ctx, []kadm.DeleteSCRAM{{User: "bob", Mechanism: kadm.ScramSha256}}, nil)
	if err != nil || res.Error() != nil {
		t.Fatalf("delete bob: %v %v", err, res.Error())
	}
	if err := dial(t, sb.saslPlain, kgo.SASL(scram256("bob", "bob-secret"))).Ping(ctx); !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Fatalf("bob after deletion: %v", err)
	}
}

// TestSCRAMAlterErrors holds AlterUserScramCredentials to Kafka's
// validation codes.
func TestSCRAMAlterErrors(t *testing.T) {
	cb := coreStart(t, "", func(c *Config) { c.Store.SegmentBytes = 4 << 20 })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
	up := func(name string, mech int8, iters int32) kmsg.AlterUserSCRAMCredentialsRequestUpsertion {
		u := kmsg.NewAlterUserSCRAMCredentialsRequestUpsertion()
		u.Name, u.Mechanism, u.Iterations, u.Salt, u.SaltedPassword = name, mech, iters, []byte("salt"), []byte("salted")
		return u
	}
	del := kmsg.NewAlterUserSCRAMCredentialsRequestDeletion()
	del.Name, del.Mechanism = "ghost", 1
	req.Deletions = []kmsg.AlterUserSCRAMCredentialsRequestDeletion{del}
	req.Upsertions = []kmsg.AlterUserSCRAMCredentialsRequestUpsertion{
		up("", 1, 4096), up("few", 1, 10), up("many", 2, 20000), up("mech", 9, 4096), up("twice", 1, 4096), up("twice", 2, 4096), up("ok", 1, 4096),
	}
	resp, err := req.RequestWith(ctx, cb.client())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int16{"ghost": kerr.ResourceNotFound.Code, "": kerr.UnacceptableCredential.Code, "few": kerr.UnacceptableCredential.Code,
		"many": kerr.UnacceptableCredential.Code, "mech": kerr.UnsupportedSaslMechanism.Code, "twice": kerr.DuplicateResource.Code, "ok": 0}
	if len(resp.Results) != len(want) {
		t.Fatalf("%d results, want %d: %+v", len(resp.Results), len(want), resp.Results)
	}
	for _, r := range resp.Results {
		if r.ErrorCode != want[r.User] {
			t.Errorf("user %q: code %d, want %d", r.User, r.ErrorCode, want[r.User])
		}
	}
	d := kmsg.NewPtrDescribeUserSCRAMCredentialsRequest()
	for _, n := range []string{"ok", "nobody"} {
		u := kmsg.NewDescribeUserSCRAMCredentialsRequestUser()
		u.Name = n
		d.Users = append(d.Users, u)
	}
	dr, err := d.RequestWith(ctx, cb.client())
	if err != nil {
		t.Fatal(err)
	}
	if len(dr.Results) != 2 || dr.Results[0].ErrorCode != 0 || dr.Results[1].ErrorCode != kerr.ResourceNotFound.Code {
		t.Fatalf("describe: %+v", dr.Results)
	}
}

// TestTLSReload replaces the key store file and checks that new
// connections get the new certificate without a restart.
func TestTLSReload(t *testing.T) {
	sb := startSecBroker(t, nil)
	peerCN := func() string {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", sb.ssl, sb.tlsConfig(true))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].Subject.CommonName
	}
	if cn := peerCN(); cn != "localhost" {
		t.Fatalf("served %q", cn)
	}
	renewed, err := sb.ca.Issue(pkix.Name{CommonName: "localhost", OrganizationalUnit: []string{"renewed"}}, true, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	// A new file renamed over the old one, as certificate tools do.
	tmp := sb.keystore + ".new"
	if err := os.WriteFile(tmp, renewed.KeystorePEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, sb.keystore); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := tls.Dial("tcp", sb.ssl, sb.tlsConfig(true))
		if err != nil {
			t.Fatal(err)
		}
		ou := c.ConnectionState().PeerCertificates[0].Subject.OrganizationalUnit
		c.Close()
		if len(ou) == 1 && ou[0] == "renewed" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the renewed certificate was never served")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestReauthentication: with connections.max.reauth.ms set, franz-go
// re-authenticates on the same connection before the session ends
// (KIP-368) and keeps working; a session left to expire is closed at its
// next request.
func TestReauthentication(t *testing.T) {
	sb := startSecBroker(t, func(c *Config) { c.Security.ReauthMax = 300 * time.Millisecond })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl := dial(t, sb.saslPlain, kgo.SASL(plain.Auth{User: "alice", Pass: "alice-secret"}.AsMechanism()))
	for i := 0; i < 8; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "reauth", Value: []byte("v")}).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// The gate itself: an expired session may only re-authenticate.
	s := &session{proto: ProtoSASLPlaintext, authenticated: true, principal: "User:alice", expires: time.Now().Add(-time.Second)}
	req := func(key kmsg.Key) *protocol.Request {
		return &protocol.Request{Header: protocol.Header{Key: int16(key)}, Conn: &protocol.ConnInfo{Session: s}}
	}
	if err := sb.b.saslGate(req(kmsg.Metadata)); err == nil {
		t.Fatal("an expired session's Metadata passed")
	}
	if err := sb.b.saslGate(req(kmsg.SASLHandshake)); err != nil {
		t.Fatalf("re-authentication refused: %v", err)
	}
	s.expires = time.Now().Add(time.Hour)
	if err := sb.b.saslGate(req(kmsg.Metadata)); err != nil {
		t.Fatalf("a live session refused: %v", err)
	}
}
