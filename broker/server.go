package broker

import (
	"context"
	"fmt"
	"time"

	"github.com/gregor-broker/gregor/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Handle answers one decoded request (it implements protocol.Handler). The
// protocol layer only passes keys and versions apiVersionRange accepts.
// Every request is counted in the request metrics, whoever answers it.
func (b *Broker) Handle(ctx context.Context, req *protocol.Request) (kmsg.Response, error) {
	a, ok := apis[req.Header.Key]
	if !ok {
		a, ok = interBrokerAPIs[req.Header.Key] // envelope.go
	}
	if !ok {
		return nil, fmt.Errorf("broker: no handler for api key %d", req.Header.Key)
	}
	if err := b.saslGate(req); err != nil {
		return nil, err // closes the connection, as Kafka does (sasl.go)
	}
	b.quotaBeforeHandle(req)
	start := time.Now()
	resp, err := b.authorizedHandle(ctx, a, req)
	took := time.Since(start)
	b.metrics.observe(req.Header.Key, took, err)
	b.ops.countErrors(req.Header.Key, resp) // ops_metrics.go
	if err == nil {
		b.quotaAfterHandle(ctx, req, resp, took) // throttling (quota_throttle.go)
	}
	return resp, err
}

// authorizedHandle applies the API's ACL rule around handle (acl_enforce.go).
func (b *Broker) authorizedHandle(ctx context.Context, a api, req *protocol.Request) (kmsg.Response, error) {
	deny, post := b.authorizeRequest(req)
	if deny != nil {
		if _, none := deny.(nilResponse); none {
			return nil, nil
		}
		return deny, nil
	}
	resp, err := b.handle(ctx, a, req)
	if post != nil && err == nil && resp != nil {
		post(resp)
	}
	return resp, err
}

// handle answers req: a slave forwards or refuses writes, configs of topics
// other broker groups keep are answered across the cluster, everything else
// by the API's handler (group handlers check coordination themselves,
// coordination.go).
func (b *Broker) handle(ctx context.Context, a api, req *protocol.Request) (kmsg.Response, error) {
	ctx = markForwarded(ctx, req)
	ctx = withRequester(ctx, req) // forwarded on in an envelope (forwarding.go)
	if resp, err, ok := b.ownerGate(ctx, req); ok {
		return resp, err // ACLs and credentials live with their owner (acl_owner.go)
	}
	if resp, err, ok := b.slaveGate(ctx, req); ok {
		return resp, err // a slave writes nothing (slave_gate.go)
	}
	if resp := b.clusterConfigs(ctx, req); resp != nil {
		return resp, nil // topic configs kept by other broker groups too
	}
	resp, err := a.fn(ctx, b, req)
	if err == nil && forwardedBySlave[req.Header.Key] {
		b.awaitInSync(ctx) // the slaves hold the change first (admin_replicated.go)
	}
	return resp, err
}

// apiVersionRange is the protocol layer's view of the apis table.
func apiVersionRange(key int16) (min, max int16, ok bool) {
	a, ok := apis[key]
	if !ok {
		a, ok = interBrokerAPIs[key] // envelope.go
	}
	return a.min, a.max, ok
}

// concurrentAPIs may start before earlier requests of their connection
// finish: they only read, so a long-polling Fetch never holds up the
// requests behind it. Everything else (Produce, commits, admin changes)
// applies in the order the connection sent it, as in Kafka.
var concurrentAPIs = map[int16]bool{
	int16(kmsg.Fetch):                true,
	int16(kmsg.ListOffsets):          true,
	int16(kmsg.Metadata):             true,
	int16(kmsg.ApiVersions):          true,
	int16(kmsg.OffsetForLeaderEpoch): true,
}

func concurrentAPI(key int16) bool { return concurrentAPIs[key] }

// recyclableAPI reports the APIs whose request frame may be reused once the
// handler returns: Produce keeps nothing of its request (the store copies
// each batch; response topic names are copies made by kmsg's decoder).
func recyclableAPI(key int16) bool { return key == int16(kmsg.Produce) }

// unsupportedApiVersions is the v0-shaped answer to an ApiVersions request
// of a version newer than ours: the error plus our table, so the client can
// pick a version and ask again (Kafka does the same).
func unsupportedApiVersions() kmsg.Response {
	resp := apiVersionsTable(0)
	resp.ErrorCode = kerr.UnsupportedVersion.Code
	return resp
}
