package compat

// The security scenarios of the other clients of the matrix (issue 15 item
// 8): sarama and kafka-go in process, the Python, Java and kafkajs clients as
// programs, each over SSL, SASL_SSL with PLAIN and SASL_SSL with
// SCRAM-SHA-512 against the secure twin of each target (security_test.go's
// secureOf: the same listeners, certificates and users on Kafka and gregor).
//
// Positive: N keyed records produced through the secure listener and read
// back through it, exactly those (and the log through PLAINTEXT holds only
// them). Negative, each bounded in time: a wrong password is refused with an
// authentication error, a plaintext client on the SSL port and a client that
// trusts another CA are refused.
//
// A client program reports an authentication or TLS failure as soon as it
// sees one, but a connection that just keeps failing (plaintext to the SSL
// port: the broker closes it) only after its retries run out. In make test
// the connection cases give the programs secRefusalWait (5 s) of retries;
// `make test-security-long` (GREGOR_SEC_REFUSAL_WAIT=default) runs the same
// cases with each program's own bound (15–20 s, as before), which cost
// about five minutes of make test.

import (
	"context"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/gregor-broker/gregor/internal/testcerts"
	kafkago "github.com/segmentio/kafka-go"
	kgoplain "github.com/segmentio/kafka-go/sasl/plain"
	kgoscram "github.com/segmentio/kafka-go/sasl/scram"
	"github.com/xdg-go/scram"
)

// secCase is one way of connecting to a secure listener.
type secCase struct {
	name       string
	addr       string
	tls        bool   // speak TLS
	ca         string // PEM file of the CA the client trusts
	cert       bool   // present the run's client certificate (CN=alice)
	expired    bool   // with cert: present an expired one of the same CA instead
	mech       string // "", "PLAIN" or "SCRAM-SHA-512"
	user, pass string
	// refusalWait, when set, is how long a client program retries a
	// connection that keeps failing before it reports it (--refusal-wait).
	refusalWait time.Duration
}

// secRefusalWait is the connection cases' --refusal-wait: 5 s, or
// GREGOR_SEC_REFUSAL_WAIT (a Go duration; "default" leaves each program
// its own bound).
func secRefusalWait(t *testing.T) time.Duration {
	t.Helper()
	switch v := os.Getenv("GREGOR_SEC_REFUSAL_WAIT"); v {
	case "":
		return 5 * time.Second
	case "default":
		return 0
	default:
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			t.Fatalf("GREGOR_SEC_REFUSAL_WAIT=%q: want a duration or default", v)
		}
		return d
	}
}

// secClientCases are the three connections every client makes, with the
// right credentials and the run's CA; withCert adds SSL presenting the
// run's client certificate (principal User:CN=alice, granted in
// createSCRAMUsers): every client of the matrix runs it, the programs with
// --cert/--key.
func secClientCases(sa *secAddrs, withCert bool) []secCase {
	cs := []secCase{
		{name: "SSL", addr: sa.ssl, tls: true, ca: secMaterial.caFile},
		{name: "SASL_SSL PLAIN", addr: sa.saslSSL, tls: true, ca: secMaterial.caFile, mech: "PLAIN", user: "alice", pass: "alice-secret"},
		{name: "SASL_SSL SCRAM-SHA-512", addr: sa.saslSSL, tls: true, ca: secMaterial.caFile, mech: "SCRAM-SHA-512", user: "carol", pass: "carol-secret"},
	}
	if withCert {
		cs = append(cs, secCase{name: "SSL client certificate", addr: sa.ssl, tls: true, ca: secMaterial.caFile, cert: true})
	}
	return cs
}

// secBadCases are the connections that must be refused; want is "auth" (an
// authentication error) or "conn" (the connection fails).
func secBadCases(t *testing.T, sa *secAddrs) []struct {
	secCase
	want string
} {
	other := otherCAFile(t)
	expiredClientCert(t)
	wait := secRefusalWait(t)
	return []struct {
		secCase
		want string
	}{
		{secCase{name: "SASL_SSL PLAIN wrong password", addr: sa.saslSSL, tls: true, ca: secMaterial.caFile, mech: "PLAIN", user: "alice", pass: "wrong"}, "auth"},
		{secCase{name: "SASL_SSL SCRAM-SHA-512 wrong password", addr: sa.saslSSL, tls: true, ca: secMaterial.caFile, mech: "SCRAM-SHA-512", user: "carol", pass: "wrong"}, "auth"},
		{secCase{name: "plaintext to the SSL port", addr: sa.ssl, refusalWait: wait}, "conn"},
		{secCase{name: "SSL trusting another CA", addr: sa.ssl, tls: true, ca: other, refusalWait: wait}, "conn"},
		// Refused at the TLS handshake (client certificates are requested,
		// and one that is presented must verify); a client that did not
		// present it would be served.
		{secCase{name: "SSL with an expired client certificate", addr: sa.ssl, tls: true, ca: secMaterial.caFile, cert: true, expired: true, refusalWait: wait}, "conn"},
	}
}

// secBadBound bounds a bad case: a refusal must come, not a hang.
const secBadBound = 45 * time.Second

// expiredClient is a client certificate of the run's CA (CN=alice) that
// expired a day ago, with its PEM files.
var expiredClient struct {
	once      sync.Once
	leaf      *testcerts.Leaf
	cert, key string
	err       error
}

func expiredClientCert(t *testing.T) *struct {
	once      sync.Once
	leaf      *testcerts.Leaf
	cert, key string
	err       error
} {
	t.Helper()
	e := &expiredClient
	e.once.Do(func() {
		past := time.Now().Add(-48 * time.Hour)
		if e.leaf, e.err = secMaterial.ca.Issue(pkix.Name{CommonName: "alice"}, false, past, past.Add(24*time.Hour)); e.err != nil {
			return
		}
		dir := filepath.Join(workDir, "certs")
		if e.cert, e.err = testcerts.Write(dir, "expired-client.pem", e.leaf.CertPEM); e.err != nil {
			return
		}
		e.key, e.err = testcerts.Write(dir, "expired-client.key", e.leaf.KeyPEM)
	})
	if e.err != nil {
		t.Fatal(e.err)
	}
	return e
}

var otherCA struct {
	once sync.Once
	file string
	err  error
}

// otherCAFile is a CA that signed nothing the brokers present.
func otherCAFile(t *testing.T) string {
	t.Helper()
	otherCA.once.Do(func() {
		ca, err := testcerts.NewCA("some other CA")
		if err != nil {
			otherCA.err = err
			return
		}
		otherCA.file, otherCA.err = testcerts.Write(filepath.Join(workDir, "certs"), "other-ca.pem", ca.PEM)
	})
	if otherCA.err != nil {
		t.Fatal(otherCA.err)
	}
	return otherCA.file
}

// tlsFrom is c's client TLS configuration: trusting the CAs of c.ca, with
// the client certificate if c.cert.
func tlsFrom(t *testing.T, c secCase) *tls.Config {
	t.Helper()
	file := c.ca
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		t.Fatalf("no certificate in %s", file)
	}
	cfg := &tls.Config{RootCAs: pool, ServerName: "localhost"}
	switch {
	case c.cert && c.expired:
		cfg.Certificates = []tls.Certificate{expiredClientCert(t).leaf.TLS()}
	case c.cert:
		cfg.Certificates = []tls.Certificate{secMaterial.client.TLS()}
	}
	return cfg
}

// secWant are the records a client writes in a positive case: key k-(i%7),
// value <src>-i.
func secWant(src string, n int) []rec {
	out := make([]rec, n)
	for i := range out {
		out[i] = rec{K: fmt.Sprintf("k-%d", i%7), V: fmt.Sprintf("%s-%d", src, i)}
	}
	return out
}

// checkSecRoundTrip checks that got (what the client read back through the
// secure listener) and the topic's log (read through PLAINTEXT) are exactly
// the n records src wrote, in order.
func checkSecRoundTrip(t *testing.T, tw *target, topic, src string, n int, got []rec) {
	t.Helper()
	want := secWant(src, n)
	kv := func(rs []rec) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.K+"="+r.V)
		}
		return out
	}
	if g, w := strings.Join(kv(got), " "), strings.Join(kv(want), " "); g != w {
		t.Fatalf("read back through the secure listener:\n%s\nwant\n%s", g, w)
	}
	if g, w := strings.Join(kv(readAll(t, tw, topic)), " "), strings.Join(kv(want), " "); g != w {
		t.Fatalf("the log of %s:\n%s\nwant\n%s", topic, g, w)
	}
}

// checkRefused checks a bad case's outcome: err must be an error and, for an
// authentication case, isAuth(err).
func checkRefused(t *testing.T, want string, err error, isAuth func(error) bool) {
	t.Helper()
	switch {
	case err == nil:
		t.Fatal("the connection was accepted")
	case want == "auth" && !isAuth(err):
		t.Fatalf("got %v, want an authentication error", err)
	}
	t.Logf("refused: %v", err)
}

// xdgSCRAM is sarama's SCRAM client, on github.com/xdg-go/scram as
// sarama's own example does.
type xdgSCRAM struct {
	*scram.ClientConversation
	hash scram.HashGeneratorFcn
}

func (x *xdgSCRAM) Begin(user, pass, authzID string) error {
	c, err := x.hash.NewClient(user, pass, authzID)
	if err != nil {
		return err
	}
	x.ClientConversation = c.NewConversation()
	return nil
}

func (x *xdgSCRAM) Step(challenge string) (string, error) {
	return x.ClientConversation.Step(challenge)
}
func (x *xdgSCRAM) Done() bool { return x.ClientConversation.Done() }

func saramaSecConfig(t *testing.T, c secCase) *sarama.Config {
	cfg := saramaConfig()
	cfg.ClientID = "compat-sarama-sec"
	cfg.Net.DialTimeout, cfg.Net.ReadTimeout, cfg.Net.WriteTimeout = 10*time.Second, 10*time.Second, 10*time.Second
	cfg.Metadata.Retry.Max = 2
	if c.tls {
		cfg.Net.TLS.Enable, cfg.Net.TLS.Config = true, tlsFrom(t, c)
	}
	if c.mech != "" {
		cfg.Net.SASL.Enable, cfg.Net.SASL.Handshake = true, true
		cfg.Net.SASL.User, cfg.Net.SASL.Password = c.user, c.pass
		switch c.mech {
		case "PLAIN":
			cfg.Net.SASL.Mechanism = sarama.SASLTypePlaintext
		case "SCRAM-SHA-512":
			cfg.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA512
			cfg.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient {
				return &xdgSCRAM{hash: scram.HashGeneratorFcn(sha512.New)}
			}
		}
	}
	return cfg
}

func kafkagoSecDialer(t *testing.T, c secCase) *kafkago.Dialer {
	d := &kafkago.Dialer{Timeout: 10 * time.Second, ClientID: "compat-kafkago-sec"}
	if c.tls {
		d.TLS = tlsFrom(t, c)
	}
	switch c.mech {
	case "PLAIN":
		d.SASLMechanism = kgoplain.Mechanism{Username: c.user, Password: c.pass}
	case "SCRAM-SHA-512":
		m, err := kgoscram.Mechanism(kgoscram.SHA512, c.user, c.pass)
		if err != nil {
			t.Fatal(err)
		}
		d.SASLMechanism = m
	}
	return d
}

const secN = 20

func TestSecurityClients(t *testing.T) {
	matrixGo(t, "sarama", "SSL, SASL_SSL PLAIN, SCRAM-SHA-512 produce/consume", apisSASL, func(t *testing.T, tg *target) {
		sa := secureOf(t, tg)
		tw := sa.twin(tg)
		for _, c := range secClientCases(sa, true) {
			t.Run(c.name, func(t *testing.T) {
				topic := newTopic(t, tw, "sarama-sec", 1)
				cfg := saramaSecConfig(t, c)
				p, err := sarama.NewSyncProducer([]string{c.addr}, cfg)
				if err != nil {
					t.Fatal(err)
				}
				var ms []*sarama.ProducerMessage
				for _, r := range secWant("sarama", secN) {
					ms = append(ms, &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(r.K), Value: sarama.StringEncoder(r.V)})
				}
				err = p.SendMessages(ms)
				p.Close()
				if err != nil {
					t.Fatalf("send: %v", err)
				}
				cons, err := sarama.NewConsumer([]string{c.addr}, cfg)
				if err != nil {
					t.Fatal(err)
				}
				defer cons.Close()
				pc, err := cons.ConsumePartition(topic, 0, sarama.OffsetOldest)
				if err != nil {
					t.Fatal(err)
				}
				defer pc.Close()
				var got []rec
				timeout := time.After(60 * time.Second)
				for len(got) < secN {
					select {
					case m := <-pc.Messages():
						got = append(got, rec{K: string(m.Key), V: string(m.Value)})
					case e := <-pc.Errors():
						t.Fatalf("consume: %v", e)
					case <-timeout:
						t.Fatalf("read %d of %d records within 60s", len(got), secN)
					}
				}
				checkSecRoundTrip(t, tw, topic, "sarama", secN, got)
			})
		}
	})
	matrixGo(t, "sarama", "wrong password, plaintext to TLS, untrusted CA refused", apisSASL, func(t *testing.T, tg *target) {
		sa := secureOf(t, tg)
		for _, c := range secBadCases(t, sa) {
			t.Run(c.name, func(t *testing.T) {
				cfg := saramaSecConfig(t, c.secCase)
				cfg.Metadata.Retry.Max = 0
				b := sarama.NewBroker(c.addr)
				errc := make(chan error, 1)
				go func() {
					err := b.Open(cfg)
					if err == nil {
						_, err = b.GetMetadata(&sarama.MetadataRequest{Version: 1})
					}
					b.Close()
					errc <- err
				}()
				select {
				case err := <-errc:
					checkRefused(t, c.want, err, func(err error) bool { return errors.Is(err, sarama.ErrSASLAuthenticationFailed) })
				case <-time.After(secBadBound):
					t.Fatalf("no answer within %v", secBadBound)
				}
			})
		}
	})

	matrixGo(t, "kafka-go", "SSL, SASL_SSL PLAIN, SCRAM-SHA-512 produce/consume", apisSASL, func(t *testing.T, tg *target) {
		sa := secureOf(t, tg)
		tw := sa.twin(tg)
		for _, c := range secClientCases(sa, true) {
			t.Run(c.name, func(t *testing.T) {
				topic := newTopic(t, tw, "kafkago-sec", 1)
				d := kafkagoSecDialer(t, c)
				w := &kafkago.Writer{Addr: kafkago.TCP(c.addr), Topic: topic, RequiredAcks: kafkago.RequireAll,
					BatchTimeout: 5 * time.Millisecond, Transport: &kafkago.Transport{TLS: d.TLS, SASL: d.SASLMechanism,
						DialTimeout: 10 * time.Second, ClientID: d.ClientID}}
				var msgs []kafkago.Message
				for _, r := range secWant("kafkago", secN) {
					msgs = append(msgs, kafkago.Message{Key: []byte(r.K), Value: []byte(r.V)})
				}
				err := w.WriteMessages(ctxT(t, 60*time.Second), msgs...)
				w.Close()
				if err != nil {
					t.Fatalf("write: %v", err)
				}
				r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: []string{c.addr}, Topic: topic, Partition: 0,
					Dialer: d, MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 200 * time.Millisecond})
				defer r.Close()
				var got []rec
				ctx := ctxT(t, 60*time.Second)
				for len(got) < secN {
					m, err := r.ReadMessage(ctx)
					if err != nil {
						t.Fatalf("read after %d records: %v", len(got), err)
					}
					got = append(got, rec{K: string(m.Key), V: string(m.Value)})
				}
				checkSecRoundTrip(t, tw, topic, "kafkago", secN, got)
			})
		}
	})
	matrixGo(t, "kafka-go", "wrong password, plaintext to TLS, untrusted CA refused", apisSASL, func(t *testing.T, tg *target) {
		sa := secureOf(t, tg)
		for _, c := range secBadCases(t, sa) {
			t.Run(c.name, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), secBadBound)
				defer cancel()
				conn, err := kafkagoSecDialer(t, c.secCase).DialContext(ctx, "tcp", c.addr)
				if err == nil {
					conn.SetDeadline(time.Now().Add(secBadBound))
					_, err = conn.ApiVersions()
					conn.Close()
				}
				if ctx.Err() != nil {
					t.Fatalf("no answer within %v: %v", secBadBound, err)
				}
				checkRefused(t, c.want, err, func(err error) bool { return errors.Is(err, kafkago.SASLAuthenticationFailed) })
			})
		}
	})
}

// secArgs are a program's options for c (py/clients.py, java Main, js
// kafkajs.js take the same).
func secArgs(c secCase) []string {
	proto := "PLAINTEXT"
	switch {
	case c.tls && c.mech != "":
		proto = "SASL_SSL"
	case c.tls:
		proto = "SSL"
	case c.mech != "":
		proto = "SASL_PLAINTEXT"
	}
	args := []string{"--bootstrap", c.addr, "--security", proto}
	if c.ca != "" {
		args = append(args, "--ca", c.ca)
	}
	switch {
	case c.cert && c.expired:
		args = append(args, "--cert", expiredClient.cert, "--key", expiredClient.key)
	case c.cert:
		args = append(args, "--cert", secMaterial.cert, "--key", secMaterial.clientKey)
	}
	if c.mech != "" {
		args = append(args, "--mechanism", c.mech, "--user", c.user, "--password", c.pass)
	}
	if c.refusalWait > 0 {
		args = append(args, "--refusal-wait", fmt.Sprint(c.refusalWait.Seconds()))
	}
	return args
}

// secOutcome reads a program's secure mode output: the records it read back,
// or the error it reported ({"error": "auth"|"conn", "message": ...}).
func secOutcome(t *testing.T, lines [][]byte) (got []rec, kind, msg string) {
	t.Helper()
	for _, l := range lines {
		var o struct{ K, V, Error, Message string }
		if err := json.Unmarshal(l, &o); err != nil {
			t.Fatalf("bad line %s: %v", l, err)
		}
		if o.Error != "" {
			return nil, o.Error, o.Message
		}
		got = append(got, rec{K: o.K, V: o.V})
	}
	return got, "", ""
}

// secPrograms runs the positive and negative scenarios of a client that is
// a program: run(args) runs its secure mode.
func secPrograms(t *testing.T, client, src string, run func(t *testing.T, args ...string) [][]byte) {
	matrix(t, client, "SSL, SASL_SSL PLAIN, SCRAM-SHA-512 produce/consume", apisSASL, func(t *testing.T, tg *target) {
		sa := secureOf(t, tg)
		tw := sa.twin(tg)
		for _, c := range secClientCases(sa, true) {
			t.Run(c.name, func(t *testing.T) {
				topic := newTopic(t, tw, src+"-sec", 1)
				got, kind, msg := secOutcome(t, run(t, append(secArgs(c), "--topic", topic, "--count", fmt.Sprint(secN))...))
				if kind != "" {
					t.Fatalf("%s error: %s", kind, msg)
				}
				checkSecRoundTrip(t, tw, topic, src, secN, got)
			})
		}
	})
	matrix(t, client, "wrong password, plaintext to TLS, untrusted CA refused", apisSASL, func(t *testing.T, tg *target) {
		sa := secureOf(t, tg)
		for _, c := range secBadCases(t, sa) {
			t.Run(c.name, func(t *testing.T) {
				got, kind, msg := secOutcome(t, run(t, append(secArgs(c.secCase), "--topic", uniq("sec-bad"), "--count", "1")...))
				switch {
				case kind == "":
					t.Fatalf("the connection was accepted (read %v)", got)
				case c.want == "auth" && kind != "auth":
					t.Fatalf("%s error %s, want an authentication error", kind, msg)
				}
				t.Logf("refused: %s %s", kind, msg)
			})
		}
	})
}
func TestSecurityClientsPython(t *testing.T) {
	for _, lib := range []struct{ name, label string }{{"confluent", "python confluent-kafka"}, {"kafkapython", "python kafka-python"}} {
		secPrograms(t, lib.label, lib.name, func(t *testing.T, args ...string) [][]byte {
			return pyRun(t, append([]string{lib.name, "secure"}, args...)...)
		})
	}
}

func TestSecurityClientsJava(t *testing.T) {
	versions, err := javaVersions()
	if err != nil || len(versions) == 0 {
		t.Fatalf("scripts/kafka.sh client-versions: %v %q", err, versions)
	}
	v := versions[0] // the reference's version
	secPrograms(t, "java kafka-clients "+v, "java", func(t *testing.T, args ...string) [][]byte {
		return javaRun(t, v, append([]string{"secure"}, args...)...)
	})
}

func TestSecurityClientsKafkaJS(t *testing.T) {
	secPrograms(t, "kafkajs", "kafkajs", func(t *testing.T, args ...string) [][]byte {
		return jsRun(t, append([]string{"secure"}, args...)...)
	})
}
