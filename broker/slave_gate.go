package broker

// What a slave does with requests that would write (role.go: a slave
// writes nothing except through replication): admin writes (topics,
// configs, DeleteRecords, InitProducerId) are forwarded to the group's
// master and its answer is returned, so a client that reached a slave gets
// the answer it would have had from the master. Produce is answered
// NOT_LEADER_OR_FOLLOWER by its handler, group requests NOT_COORDINATOR by
// theirs (a slave coordinates no group; validateGroup, coordination.go).

import (
	"context"
	"errors"

	"github.com/gregor-broker/gregor/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// slaveForwardClientID is the client id of requests a slave forwards to
// its master: unlike interBrokerClientID they are whole client requests.
const slaveForwardClientID = "gregor.slave-forward"

// forwardedBySlave lists the admin writes a slave forwards.
var forwardedBySlave = map[int16]bool{
	int16(kmsg.CreateTopics):            true,
	int16(kmsg.DeleteTopics):            true,
	int16(kmsg.CreatePartitions):        true,
	int16(kmsg.AlterConfigs):            true,
	int16(kmsg.IncrementalAlterConfigs): true,
	int16(kmsg.DeleteRecords):           true,
	int16(kmsg.InitProducerID):          true,
	// SCRAM credentials and ACLs (scram_store.go, acl.go).
	int16(kmsg.AlterUserSCRAMCredentials): true,
	int16(kmsg.CreateACLs):                true,
	int16(kmsg.DeleteACLs):                true,
	// Client quotas (quota.go).
	int16(kmsg.AlterClientQuotas): true,
}

// slaveGate answers req when this broker is not its group's master and req
// would write; ok false lets the handler run.
func (b *Broker) slaveGate(ctx context.Context, req *protocol.Request) (resp kmsg.Response, err error, ok bool) {
	if b.isMaster() {
		return nil, nil, false
	}
	if !forwardedBySlave[req.Header.Key] {
		return nil, nil, false
	}
	if forwardedRequest(req) {
		// Another broker took us for the master (a stale view): it will
		// read the routes again after the error.
		return nil, errors.New("broker: not the master of " + b.cfg.Cluster.BrokerName), true
	}
	master := b.cl().currentView().masters[b.cfg.Cluster.BrokerName]
	if master == nil || b.cl().isSelf(master) {
		err = errors.New("broker: group " + b.cfg.Cluster.BrokerName + " has no live master to forward to")
	} else {
		resp, err = b.cl().sendAs(ctx, master, req.Body, slaveForwardClientID)
	}
	if err != nil {
		if r, ok := req.Body.(*kmsg.InitProducerIDRequest); ok {
			// While the master restarts or a new one is being chosen: a
			// retriable code, as Kafka answers while it cannot allocate
			// ids. A closed connection on a client's first request is
			// fatal to franz-go's producer (it takes it for missing SASL).
			out := r.ResponseKind().(*kmsg.InitProducerIDResponse)
			out.ErrorCode = kerr.CoordinatorNotAvailable.Code
			out.ProducerID, out.ProducerEpoch = -1, -1
			return out, nil, true
		}
	}
	return resp, err, true
}
