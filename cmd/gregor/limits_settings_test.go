package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/broker"
)

func init() {
	for _, k := range []string{"max.connections.per.ip.overrides", "sasl.oauthbearer.jwks.endpoint.url",
		"sasl.oauthbearer.expected.audience", "sasl.oauthbearer.expected.issuer"} {
		noDefault[k] = "none"
	}
}

// TestLimitsSettings: the connection and quota settings reach the broker's
// configuration, Kafka's Integer.MAX_VALUE meaning no limit.
func TestLimitsSettings(t *testing.T) {
	c, err := parseConfigOver(defaultConfig(), &loaded{values: map[string]string{
		"max.connections":                  "2147483647",
		"max.connections.per.ip":           "5",
		"max.connections.per.ip.overrides": "127.0.0.1:10,[::1]:20",
		"max.connection.creation.rate":     "30",
		"connections.max.idle.ms":          "1500",
		"quota.window.num":                 "2",
		"quota.window.size.seconds":        "3",
	}, src: &sources{}})
	if err != nil {
		t.Fatal(err)
	}
	bc := c.brokerConfig()
	l := bc.Connections
	if l.MaxConnections != 0 || l.MaxPerIP != 5 || l.MaxCreationRate != 30 || l.PerIPOverrides["127.0.0.1"] != 10 || l.PerIPOverrides["::1"] != 20 {
		t.Fatalf("connections: %+v", l)
	}
	if bc.ConnectionsMaxIdle != 1500*time.Millisecond || bc.Quota.WindowNum != 2 || bc.Quota.WindowSize != 3*time.Second {
		t.Fatalf("idle %v, quota %+v", bc.ConnectionsMaxIdle, bc.Quota)
	}
	if _, err := parseConfigOver(defaultConfig(), &loaded{values: map[string]string{"max.connections.per.ip.overrides": "nohostlimit"}, src: &sources{}}); err == nil {
		t.Fatal("a bad override was accepted")
	}
}

// TestListenerLimitSettings: listener.name.<l>.max.connections and
// .max.connection.creation.rate, from the config file and from KAFKA_*
// variables (the variable winning), reach the listener's own limits; one
// naming no listener is refused with a message.
func TestListenerLimitSettings(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "gregor.yaml")
	yaml := "listeners: CLIENT://127.0.0.1:0,PLAINTEXT://127.0.0.1:0\n" +
		"listener.security.protocol.map: CLIENT:PLAINTEXT,PLAINTEXT:PLAINTEXT\n" +
		"listener.name.client.max.connections: 5\n" +
		"listener.name.client.max.connection.creation.rate: 9\n"
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	parse := func(environ ...string) (Config, error) {
		cmd := newBrokerCommand()
		if err := cmd.Flags().Parse([]string{"--config", file}); err != nil {
			t.Fatal(err)
		}
		l, err := load(cmd.Flags(), environ, cmdBroker)
		if err != nil {
			return Config{}, err
		}
		return parseConfigOver(brokerDefaultConfig(), l)
	}
	c, err := parse("KAFKA_LISTENER_NAME_CLIENT_MAX_CONNECTION_CREATION_RATE=7", "KAFKA_LISTENER_NAME_PLAINTEXT_MAX_CONNECTIONS=2147483647")
	if err != nil {
		t.Fatal(err)
	}
	got := c.brokerConfig().Connections.Listeners
	if got["CLIENT"] != (broker.ListenerLimits{MaxConnections: 5, MaxCreationRate: 7}) || got["PLAINTEXT"] != (broker.ListenerLimits{}) {
		t.Fatalf("listener limits %+v, want CLIENT 5 connections at 7/s and PLAINTEXT unlimited", got)
	}
	_, err = parse("KAFKA_LISTENER_NAME_INTERNAL_MAX_CONNECTIONS=3")
	if err == nil || !strings.Contains(err.Error(), "listener.name.internal.max.connections") || !strings.Contains(err.Error(), "names no listener") {
		t.Fatalf("a limit of an unknown listener: %v", err)
	}
}
