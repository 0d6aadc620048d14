package broker

// DescribeCluster (key 60), versions 0–2.
//
// Behaviour:
//   - Answers with the cluster id and this broker as the controller (gregor
//     has no KRaft quorum; a Kafka broker likewise names a live broker
//     rather than the real controller).
//   - The brokers are every live broker of the cluster, from the route
//     table kept fresh from the NameServers, each at the advertised address
//     of the listener the request arrived on, with its rack.
//   - Authorized operations when asked: the cluster set Kafka returns
//     without an authorizer (authorized_ops.go).
//
// Versions:
//   - v1+: endpoint type 1 (brokers) is answered; type 2 (controllers) gets
//     MISMATCHED_ENDPOINT_TYPE and any other UNSUPPORTED_ENDPOINT_TYPE, with
//     Kafka's messages, as a Kafka broker does.
//   - v2: no broker is fenced, so include_fenced_brokers changes nothing.

import (
	"context"
	"fmt"

	"github.com/gregor-broker/gregor/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.DescribeCluster, 0, 2, handleDescribeCluster) }

// DescribeCluster's EndpointType values (KIP-919).
const (
	endpointTypeBroker     = 1
	endpointTypeController = 2
)

func handleDescribeCluster(_ context.Context, b *Broker, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.DescribeClusterRequest)
	resp := r.ResponseKind().(*kmsg.DescribeClusterResponse)
	resp.EndpointType = r.EndpointType
	if r.Version >= 1 && r.EndpointType != endpointTypeBroker {
		if r.EndpointType == endpointTypeController {
			resp.ErrorCode = kerr.MismatchedEndpointType.Code
			resp.ErrorMessage = kmsg.StringPtr("The request was sent to an endpoint of type BROKER, but we wanted an endpoint of type CONTROLLER")
		} else {
			resp.ErrorCode = kerr.UnsupportedEndpointType.Code
			resp.ErrorMessage = kmsg.StringPtr(fmt.Sprintf("Unsupported endpoint type %d", r.EndpointType))
		}
		return resp, nil
	}
	resp.ClusterID = b.ClusterID()
	resp.ControllerID = b.cfg.NodeID
	for _, mb := range b.metadataBrokers(b.cl().currentView(), req.Conn) {
		br := kmsg.NewDescribeClusterResponseBroker()
		br.NodeID, br.Host, br.Port, br.Rack = mb.NodeID, mb.Host, mb.Port, mb.Rack
		resp.Brokers = append(resp.Brokers, br)
	}
	resp.ClusterAuthorizedOperations = opsNotRequested
	if r.IncludeClusterAuthorizedOperations {
		resp.ClusterAuthorizedOperations = clusterOps // no ACLs: authorized_ops.go
	}
	return resp, nil
}
