package compat

// SASL/OAUTHBEARER with signed JWTs (KIP-255, KIP-768), the same scenarios
// against the Kafka reference (its secured OAuthBearerValidatorCallbackHandler)
// and gregor, on the secure twins' SASL_PLAINTEXT listener. The test is its
// own identity provider: an RSA key whose public half is the JWKS file both
// brokers read (sasl.oauthbearer.jwks.endpoint.url=file:…), and an EC key
// no broker knows.
//   - franz-go (sasl/oauth): a current token of sub alice logs in as
//     User:alice (allowed by the ACLs createSCRAMUsers makes), one of sub
//     olga as User:olga (denied: TOPIC_AUTHORIZATION_FAILED); an expired
//     token and one signed by the unknown key get SASL_AUTHENTICATION_FAILED
//     with {"status":"invalid_token"};
//   - Kafka's own tools (kafka-topics, the Java client) log in with a token
//     read from a file (sasl.oauthbearer.token.endpoint.url=file:…) and
//     create a topic as User:alice.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/gregor-broker/gregor/broker"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
)

const (
	oauthAudience = "gregor-compat"
	oauthIssuer   = "https://idp.gregor.test"
)

var oauthMat struct {
	once  sync.Once
	err   error
	key   *rsa.PrivateKey
	other *ecdsa.PrivateKey
	jwks  string
}

// prepareOAuth makes the keys and writes the JWKS file, once.
func prepareOAuth() error {
	m := &oauthMat
	m.once.Do(func() {
		if m.key, m.err = rsa.GenerateKey(rand.Reader, 2048); m.err != nil {
			return
		}
		if m.other, m.err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); m.err != nil {
			return
		}
		dir := filepath.Join(workDir, "oauth")
		if m.err = os.MkdirAll(dir, 0o700); m.err != nil {
			return
		}
		b, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &m.key.PublicKey, KeyID: "compat-1", Algorithm: "RS256", Use: "sig"}}})
		m.jwks = filepath.Join(dir, "jwks.json")
		m.err = os.WriteFile(m.jwks, b, 0o600)
	})
	return m.err
}

// oauthKafkaProps are the reference's OAUTHBEARER settings, added to the
// secure twin's (securityKafkaEnv); the later sasl.enabled.mechanisms line
// wins.
func oauthKafkaProps() []string {
	if prepareOAuth() != nil {
		return nil
	}
	props := []string{
		"sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512,OAUTHBEARER",
		"sasl.oauthbearer.jwks.endpoint.url=file://" + oauthMat.jwks,
		"sasl.oauthbearer.expected.audience=" + oauthAudience,
		"sasl.oauthbearer.expected.issuer=" + oauthIssuer,
	}
	for _, l := range []string{"sasl_plaintext", "sasl_ssl"} {
		props = append(props,
			"listener.name."+l+".oauthbearer.sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;",
			"listener.name."+l+".oauthbearer.sasl.server.callback.handler.class=org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler")
	}
	return props
}

// oauthKafkaJVM is KAFKA_JVM_OPTS for the reference: scripts/kafka.sh's
// flags plus the system properties Kafka 4 needs before it reads a JWKS
// file.
func oauthKafkaJVM() string {
	opts := os.Getenv("KAFKA_JVM_OPTS")
	if opts == "" {
		heap := os.Getenv("KAFKA_HEAP")
		if heap == "" {
			heap = "768m"
		}
		opts = "-Xmx" + heap + " -XX:+UseSerialGC -XX:TieredStopAtLevel=1"
	}
	if prepareOAuth() != nil {
		return opts
	}
	return opts + " " + oauthAllowFiles(oauthMat.jwks)
}

func oauthAllowFiles(paths ...string) string {
	var urls []string
	for _, p := range paths {
		urls = append(urls, "file://"+p)
	}
	return "-Dorg.apache.kafka.sasl.oauthbearer.allowed.files=" + strings.Join(paths, ",") +
		" -Dorg.apache.kafka.sasl.oauthbearer.allowed.urls=" + strings.Join(urls, ",")
}

// oauthGregorArgs are the secure gregor process's OAUTHBEARER flags.
func oauthGregorArgs() []string {
	if prepareOAuth() != nil {
		return nil
	}
	return []string{
		"--sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512,OAUTHBEARER",
		"--sasl.oauthbearer.jwks.endpoint.url=file://" + oauthMat.jwks,
		"--sasl.oauthbearer.expected.audience=" + oauthAudience,
		"--sasl.oauthbearer.expected.issuer=" + oauthIssuer,
	}
}

// withOAuth adds OAUTHBEARER to the in-process secure twin's settings.
func withOAuth(s broker.SecurityConfig) broker.SecurityConfig {
	if prepareOAuth() != nil {
		return s
	}
	s.SASLMechanisms = []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", broker.OAuthMechanism}
	s.OAuth = broker.OAuthConfig{JWKSURL: "file://" + oauthMat.jwks, ExpectedAudience: []string{oauthAudience}, ExpectedIssuer: oauthIssuer}
	return s
}

// mintToken signs a token of sub valid for life (negative: expired that
// long ago); foreign signs it with the key no broker knows.
func mintToken(t *testing.T, sub string, life time.Duration, foreign bool) string {
	t.Helper()
	if err := prepareOAuth(); err != nil {
		t.Fatal(err)
	}
	key := jose.SigningKey{Algorithm: jose.RS256, Key: oauthMat.key}
	if foreign {
		key = jose.SigningKey{Algorithm: jose.ES256, Key: oauthMat.other}
	}
	sig, err := jose.NewSigner(key, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "compat-1"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	iat := now
	if life < 0 {
		iat = now.Add(2 * life)
	}
	c := jwt.Claims{Subject: sub, Issuer: oauthIssuer, Audience: jwt.Audience{oauthAudience},
		IssuedAt: jwt.NewNumericDate(iat), Expiry: jwt.NewNumericDate(now.Add(life))}
	s, err := jwt.Signed(sig).Claims(c).Claims(map[string]any{"scope": "kafka"}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var apisOAuth = []kmsg.Key{kmsg.SASLHandshake, kmsg.SASLAuthenticate}

func TestOAuthBearer(t *testing.T) {
	matrixGo(t, "franz-go", "SASL/OAUTHBEARER signed JWT: principal from sub; expired and foreign-signed refused", apisOAuth, func(t *testing.T, tg *target) {
		sa := secureOf(t, tg)
		alice := secClient(t, sa.saslPlain, kgo.SASL(oauth.Auth{Token: mintToken(t, "alice", time.Hour, false)}.AsMechanism()))
		secRoundTrip(t, alice, uniq("oauth"), 3)

		olga := secClient(t, sa.saslPlain, kgo.SASL(oauth.Auth{Token: mintToken(t, "olga", time.Hour, false)}.AsMechanism()), kgo.RetryTimeout(2*time.Second))
		err := olga.ProduceSync(ctxT(t, 20*time.Second), &kgo.Record{Topic: "sec-ready", Value: []byte("x")}).FirstErr()
		if !errors.Is(err, kerr.TopicAuthorizationFailed) {
			t.Fatalf("olga (no ACL) produced: %v, want TOPIC_AUTHORIZATION_FAILED (the principal must be User:olga)", err)
		}
		for name, tok := range map[string]string{
			"expired":        mintToken(t, "alice", -5*time.Minute, false),
			"foreign-signed": mintToken(t, "alice", time.Hour, true),
		} {
			cl := secClient(t, sa.saslPlain, kgo.SASL(oauth.Auth{Token: tok}.AsMechanism()), kgo.RetryTimeout(time.Second))
			err := cl.Ping(ctxT(t, 20*time.Second))
			if !errors.Is(err, kerr.SaslAuthenticationFailed) || !strings.Contains(err.Error(), `{"status":"invalid_token"}`) {
				t.Errorf("%s token: %v, want SASL_AUTHENTICATION_FAILED {\"status\":\"invalid_token\"}", name, err)
			}
		}
	})

	matrix(t, "kafka-topics (Java client)", "SASL/OAUTHBEARER with a token file: create a topic as User:alice", apisOAuth, func(t *testing.T, tg *target) {
		sa := secureOf(t, tg)
		dir := t.TempDir()
		tokenFile := filepath.Join(dir, "token.jwt")
		if err := os.WriteFile(tokenFile, []byte(mintToken(t, "alice", time.Hour, false)), 0o600); err != nil {
			t.Fatal(err)
		}
		props := filepath.Join(dir, "client.properties")
		if err := os.WriteFile(props, []byte(strings.Join([]string{
			"security.protocol=SASL_PLAINTEXT",
			"sasl.mechanism=OAUTHBEARER",
			"sasl.login.callback.handler.class=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginCallbackHandler",
			"sasl.oauthbearer.token.endpoint.url=file://" + tokenFile,
			"sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;",
		}, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		topic := uniq("oauth-java")
		out := javaTool(t, strings.Fields(oauthAllowFiles(tokenFile)), "org.apache.kafka.tools.TopicCommand",
			"--bootstrap-server", sa.saslPlain, "--command-config", props, "--create", "--topic", topic, "--partitions", "1")
		if !strings.Contains(out, "Created topic "+topic) {
			t.Fatalf("kafka-topics --create printed %q", out)
		}
	})
}

// javaTool is kafkaTool with JVM system properties.
func javaTool(t *testing.T, sysProps []string, class string, args ...string) string {
	t.Helper()
	full := append(append([]string{"-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xmx256m"}, sysProps...), "-cp", toolsClasspath(t), class)
	full = append(full, args...)
	cmd := exec.Command("java", full...)
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(120 * time.Second):
		cmd.Process.Kill()
		<-done
	}
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", class, strings.Join(args, " "), err, tail(string(out), 3000))
	}
	return string(out)
}
