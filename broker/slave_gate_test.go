package broker

import (
	"testing"
	"time"

	"github.com/gregor-broker/gregor/nameserver"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A slave whose group has no live master (it restarts, or a new one is
// being chosen) answers InitProducerId with a retriable error instead of
// closing the connection: franz-go takes a connection closed on its first
// request for missing SASL and fails the producer (a cluster_test run
// failed so right after a master restart).
func TestSlaveInitProducerIDWithoutMaster(t *testing.T) {
	ns := nameserver.NewLocal()
	var members []*coreBroker
	for i := range 2 {
		members = append(members, coreStart(t, "", func(c *Config) {
			c.NodeID = int32(i + 1)
			c.Cluster = ClusterConfig{Name: "test", BrokerName: "g", BrokerID: int64(i), Client: ns,
				RegisterInterval: 50 * time.Millisecond, RouteRefreshInterval: 50 * time.Millisecond}
			c.Replication = ReplicationConfig{Listener: "127.0.0.1:0"}
		}))
	}
	master, slave := members[0], members[1]
	waitCond(t, "the slave to see the master", func() bool {
		return !slave.b.isMaster() && slave.b.cl().currentView().masters["g"] != nil
	})
	master.stop()
	waitCond(t, "the slave to see no master", func() bool { return slave.b.cl().currentView().masters["g"] == nil })
	req := kmsg.NewPtrInitProducerIDRequest()
	req.Version = 4
	req.TransactionTimeoutMillis = 60000
	req.ProducerID, req.ProducerEpoch = -1, -1
	resp := slave.raw().do(req).(*kmsg.InitProducerIDResponse)
	if resp.ErrorCode != kerr.CoordinatorNotAvailable.Code || !kerr.IsRetriable(kerr.ErrorForCode(resp.ErrorCode)) {
		t.Fatalf("InitProducerId on a slave without a master: %v, want COORDINATOR_NOT_AVAILABLE", kerr.ErrorForCode(resp.ErrorCode))
	}
}
