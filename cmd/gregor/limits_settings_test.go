package main

import (
	"testing"
	"time"
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
