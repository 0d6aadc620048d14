package main

import (
	"context"
	"crypto/x509/pkix"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/broker"
	"github.com/gregor-broker/gregor/broker/security"
	"github.com/gregor-broker/gregor/internal/clientprops"
	"github.com/gregor-broker/gregor/internal/testcerts"
	"github.com/gregor-broker/gregor/storage"
	"github.com/spf13/viper"
)

// TestCommandConfig: the client commands connect with a Kafka client
// properties file (--command-config) over SASL_SSL with PLAIN and
// SCRAM-SHA-512; a wrong password, no file against the TLS port, and the
// out-of-scope settings (GSSAPI, Kerberos, delegation tokens, JKS) are
// refused with a message.
func TestCommandConfig(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	ca, err := testcerts.NewCA("cli CA")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ca.Issue(pkix.Name{CommonName: "localhost"}, true, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	ks, _ := testcerts.Write(dir, "server.pem", srv.KeystorePEM())
	ts, _ := testcerts.Write(dir, "ca.pem", ca.PEM)
	b, err := broker.New(broker.Config{
		Listeners: []broker.Listener{{Name: "PLAINTEXT", Address: "127.0.0.1:0"},
			{Name: "SASL_SSL", Address: "127.0.0.1:0", Protocol: broker.ProtoSASLSSL}},
		Security: broker.SecurityConfig{
			TLS:        security.TLSConfig{KeystoreLocation: ks},
			PlainUsers: map[string]string{"admin": "admin-secret"},
		},
		Store: storage.Config{Dir: filepath.Join(dir, "data"), SegmentBytes: 4 << 20},
	})
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
	plain := b.Addrs()[0].String()
	secure := b.Addrs()[1].String()
	props := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tlsProps := "security.protocol=SASL_SSL\nssl.truststore.type=PEM\nssl.truststore.location=" + ts + "\n"
	admin := props("admin.properties", tlsProps+"sasl.mechanism=PLAIN\n"+
		`sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="admin-secret";`+"\n")
	if out, err := runCLI(t, "topic", "create", "-b", secure, "--command-config", admin, "secured"); err != nil {
		t.Fatalf("topic create over SASL_SSL: %v\n%s", err, out)
	}
	if out, err := runCLI(t, "user", "add", "-b", secure, "--command-config", admin, "erin", "--password", "erin-pw"); err != nil {
		t.Fatalf("user add over SASL_SSL: %v\n%s", err, out)
	}
	erin := props("erin.properties", tlsProps+"sasl.mechanism=SCRAM-SHA-512\n"+
		"sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required \\\n  username=\"erin\" \\\n  password=\"erin-pw\";\n"+
		"client.id=erin-cli\nacks=all\n")
	out, err := runCLI(t, "topic", "list", "-b", secure, "--command-config", erin)
	if err != nil || !strings.Contains(out, "secured") {
		t.Fatalf("topic list as erin (SCRAM-SHA-512): %v\n%s", err, out)
	}
	var warn strings.Builder
	if _, err := commandConfigOpts(erin, &warn); err != nil || !strings.Contains(warn.String(), "configuration acks was supplied but means nothing") {
		t.Errorf("the ignored key acks was not reported: %v %q", err, warn.String())
	}
	wrong := props("wrong.properties", tlsProps+"sasl.mechanism=PLAIN\n"+
		`sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="nope";`+"\n")
	if out, err := runCLI(t, "topic", "list", "-b", secure, "--command-config", wrong, "--timeout", "5s"); err == nil || !strings.Contains(out+err.Error(), "SASL_AUTHENTICATION_FAILED") {
		t.Fatalf("wrong password: %v\n%s", err, out)
	}
	if out, err := runCLI(t, "topic", "list", "-b", secure, "--timeout", "3s"); err == nil {
		t.Fatalf("plaintext to the SASL_SSL port was answered:\n%s", out)
	}
	if out, err := runCLI(t, "topic", "list", "-b", plain); err != nil || !strings.Contains(out, "secured") {
		t.Fatalf("plaintext listener: %v\n%s", err, out)
	}

	for _, c := range []struct{ props, want string }{
		{"security.protocol=SASL_SSL\nsasl.mechanism=GSSAPI\n", "Kerberos is out of gregor's scope"},
		{"security.protocol=SASL_PLAINTEXT\nsasl.kerberos.service.name=kafka\n", "GSSAPI (Kerberos) is out of gregor's scope"},
		{"security.protocol=SASL_PLAINTEXT\n", "Kafka's default, GSSAPI (Kerberos), is out of gregor's scope"},
		{"security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-512\nsasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"t\" password=\"x\" tokenauth=\"true\";\n", "delegation tokens"},
		{"security.protocol=SASL_PLAINTEXT\nsasl.mechanism=GSSAPI\nsasl.jaas.config=com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true;\n", "Kerberos"},
		{"security.protocol=SSL\nssl.truststore.type=JKS\nssl.truststore.location=/x.jks\n", "convert the store to PEM"},
		{"security.protocol=SSL\nssl.key.password=x\n", "encrypted private keys"},
		{"security.protocol=SASL_SSL\nsasl.mechanism=OAUTHBEARER\n", "do not log in with OAUTHBEARER"},
	} {
		p, err := clientprops.Parse(strings.NewReader(c.props))
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := clientprops.Options(p); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want an error saying %q", c.props, err, c.want)
		}
	}
}

// TestComposeSASLEnvironment feeds docker-compose.sasl.yml's environment
// through the real loader: the SASL_SSL example stays a valid
// configuration (listeners, JAAS, ACLs, HTTP login) where Docker cannot run.
func TestComposeSASLEnvironment(t *testing.T) {
	raw, err := os.ReadFile("../../docker-compose.sasl.yml")
	if err != nil {
		t.Fatal(err)
	}
	subst := regexp.MustCompile(`\$\{[A-Z_]+:-([^}]*)\}`)
	path := filepath.Join(t.TempDir(), "compose.yml")
	if err := os.WriteFile(path, subst.ReplaceAll(raw, []byte("$1")), 0o644); err != nil {
		t.Fatal(err)
	}
	v := viper.NewWithOptions(viper.KeyDelimiter("::"))
	v.SetConfigFile(path)
	if err := v.ReadInConfig(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ca, _ := testcerts.NewCA("compose CA")
	srv, _ := ca.Issue(pkix.Name{CommonName: "gregor"}, true, time.Time{}, time.Time{})
	ks, _ := testcerts.Write(dir, "server.pem", srv.KeystorePEM())
	ts, _ := testcerts.Write(dir, "ca.pem", ca.PEM)
	env := map[string]string{"GREGOR_CONFIG": "container.yaml"}
	for k, val := range v.GetStringMap("services::gregor::environment") {
		env[strings.ToUpper(k)] = strings.NewReplacer("/etc/gregor/certs/server.pem", ks, "/etc/gregor/certs/ca.pem", ts).Replace(text(val))
	}
	got, l, err := configFrom(t, "", env, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := got.Security
	if len(got.Listeners) != 2 || got.Listeners[0].Protocol != broker.ProtoSASLSSL || got.Listeners[1].Protocol != broker.ProtoSASLSSL ||
		!s.Authorizer || s.PlainUsers["admin"] != "admin-secret" || s.InterBroker.Username != "admin" || s.InterBroker.Listener != "INTERNAL" ||
		!got.HTTPTLS || got.HTTPAuth != "login" || len(s.SuperUsers) != 1 {
		t.Fatalf("compose config: %+v", got)
	}
	if len(l.unknown) != 0 {
		t.Errorf("compose sets variables gregor does not know: %q", l.unknown)
	}
}
