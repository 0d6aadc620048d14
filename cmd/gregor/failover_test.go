package main

import "testing"

// Fail-over's broker settings: on by default, off by failover.enable;
// unclean election off by default (the Kafka name, broker level only).
func TestFailoverSettings(t *testing.T) {
	c, _, err := configFrom(t, "", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Cluster.FailoverDisabled || c.Cluster.UncleanElection {
		t.Fatalf("defaults: %+v", c.Cluster)
	}
	c, _, err = configFrom(t, "failover.enable: false\n", map[string]string{"KAFKA_UNCLEAN_LEADER_ELECTION_ENABLE": "true"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Cluster.FailoverDisabled || !c.Cluster.UncleanElection {
		t.Fatalf("set: %+v", c.Cluster)
	}
}
