package main

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// The cluster settings come from the environment and the YAML file like
// every other setting; bad ones are refused in plain words.
func TestClusterSettings(t *testing.T) {
	c, _, err := configFrom(t, "broker.name: broker-b\nnameserver.poll.interval.ms: 250\n", map[string]string{
		"GREGOR_NAMESERVERS":                    "ns1:9876, ns2:9876",
		"KAFKA_BROKER_CLUSTER_NAME":             "prod",
		"KAFKA_NAMESERVER_REGISTER_INTERVAL_MS": "200",
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cc := c.Cluster
	if !slices.Equal(cc.NameServers, []string{"ns1:9876", "ns2:9876"}) || cc.Name != "prod" || cc.BrokerName != "broker-b" ||
		cc.BrokerID != 0 || cc.RegisterInterval != 200*time.Millisecond || cc.RouteRefreshInterval != 250*time.Millisecond {
		t.Fatalf("cluster settings: %+v", cc)
	}
	if bc := c.brokerConfig(); bc.Cluster.BrokerName != "broker-b" {
		t.Fatalf("broker config lost the cluster settings: %+v", bc.Cluster)
	}
	// Standalone: none given, the broker gets an in-process NameServer.
	c, _, err = configFrom(t, "", nil, nil)
	if err != nil || len(c.Cluster.NameServers) != 0 {
		t.Fatalf("default: %+v %v", c.Cluster, err)
	}
	_, _, err = configFrom(t, "", map[string]string{"GREGOR_NAMESERVERS": "no-port"}, nil)
	if err == nil || !strings.Contains(err.Error(), "NameServer address") {
		t.Fatalf("a NameServer without a port: %v", err)
	}
	_, _, err = configFrom(t, "", nil, []string{"--broker.member.id", "-1"})
	if err == nil || !strings.Contains(err.Error(), "broker.member.id") {
		t.Fatalf("a negative member id: %v", err)
	}
}
