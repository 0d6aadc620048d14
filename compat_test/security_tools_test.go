package compat

// Kafka's own tools over the secure listeners (issue 15 item 8): kafka-topics
// and kafka-configs with --command-config, as operators run them, over SSL
// (no client certificate: User:ANONYMOUS), SASL_SSL with PLAIN (alice) and
// SASL_SSL with SCRAM-SHA-512 (carol), against the Kafka reference and
// gregor's secure twins. alice and carol are granted DESCRIBE and
// DESCRIBE_CONFIGS on the topic; the tools must describe it; with a wrong
// password the tool fails with Kafka's authentication error. make test runs
// the SCRAM-SHA-512 connection and the wrong password (each tool run starts
// a JVM); make test-security-long (GREGOR_SECURITY_LONG=1) all of them.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// commandConfig writes a Kafka client properties file for c.
func commandConfig(t *testing.T, c secCase) string {
	t.Helper()
	props := []string{"ssl.truststore.type=PEM", "ssl.truststore.location=" + c.ca}
	switch c.mech {
	case "":
		props = append(props, "security.protocol=SSL")
	case "PLAIN":
		props = append(props, "security.protocol=SASL_SSL", "sasl.mechanism=PLAIN",
			`sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="`+c.user+`" password="`+c.pass+`";`)
	default:
		props = append(props, "security.protocol=SASL_SSL", "sasl.mechanism="+c.mech,
			`sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="`+c.user+`" password="`+c.pass+`";`)
	}
	f := filepath.Join(t.TempDir(), "client.properties")
	if err := os.WriteFile(f, []byte(strings.Join(props, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestSecurityTools(t *testing.T) {
	matrix(t, "kafka-topics, kafka-configs", "--command-config over SSL, SASL_SSL PLAIN and SCRAM-SHA-512", apisACL, func(t *testing.T, tg *target) {
		sa := secureOf(t, tg)
		tw := sa.twin(tg)
		topic := newTopic(t, tw, "sec-tools", 1)
		for _, u := range []string{"User:alice", "User:carol"} {
			grantACLs(t, sa, kadm.NewACLs().Allow(u).AllowHosts("*").Topics(topic).
				ResourcePatternType(kadm.ACLPatternLiteral).Operations(kadm.OpDescribe, kadm.OpDescribeConfigs))
		}
		for _, c := range secClientCases(sa, false) {
			if os.Getenv("GREGOR_SECURITY_LONG") == "" && c.mech != "SCRAM-SHA-512" {
				continue // make test runs one of the three (each tool run is a JVM start)
			}
			t.Run(c.name, func(t *testing.T) {
				cfg := commandConfig(t, c)
				within(t, "kafka-topics --describe", func() error { // Kafka applies ACLs a moment later
					out, err := kafkaToolErr(t, 90*time.Second, "org.apache.kafka.tools.TopicCommand", "--bootstrap-server", c.addr, "--command-config", cfg,
						"--describe", "--topic", topic)
					if err != nil || !strings.Contains(out, "Topic: "+topic) || !strings.Contains(out, "PartitionCount: 1") {
						return fmt.Errorf("kafka-topics: %v\n%s", err, tail(out, 2000))
					}
					return nil
				})
				out := kafkaTool(t, "org.apache.kafka.tools.ConfigCommand", "--bootstrap-server", c.addr, "--command-config", cfg,
					"--describe", "--entity-type", "topics", "--entity-name", topic)
				if !strings.Contains(out, "Dynamic configs for topic "+topic) {
					t.Fatalf("kafka-configs printed %q", out)
				}
			})
		}
		t.Run("SASL_SSL PLAIN wrong password", func(t *testing.T) {
			cfg := commandConfig(t, secCase{ca: secMaterial.caFile, mech: "PLAIN", user: "alice", pass: "wrong"})
			out, err := kafkaToolErr(t, 90*time.Second, "org.apache.kafka.tools.TopicCommand", "--bootstrap-server", sa.saslSSL, "--command-config", cfg,
				"--describe", "--topic", topic)
			if err == nil {
				t.Fatalf("kafka-topics with a wrong password succeeded:\n%s", out)
			}
			if !strings.Contains(out, "SaslAuthenticationException") && !strings.Contains(out, "Authentication failed") {
				t.Fatalf("kafka-topics with a wrong password: %v, no authentication error in\n%s", err, tail(out, 2000))
			}
		})
	})
}

// kafkaToolErr is kafkaTool that returns the tool's failure instead of
// failing the test.
func kafkaToolErr(t *testing.T, bound time.Duration, class string, args ...string) (string, error) {
	t.Helper()
	full := append([]string{"-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xmx256m", "-cp", toolsClasspath(t), class}, args...)
	cmd := exec.Command("java", full...)
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
		return string(out), err
	case <-time.After(bound):
		cmd.Process.Kill()
		<-done
		t.Fatalf("%s did not end within %v", class, bound)
		return "", nil
	}
}
