package broker

// DescribeClientQuotas (key 48), versions 0–1.
//
// gregor has no client quotas yet (issue 15), so every filter matches
// nothing: the answer is the truth, an empty list. It is served because
// Kafka's kafka-configs --describe --entity-type users asks it before it
// shows a user's SCRAM credentials.
//
// Behaviour:
//   - Needs DESCRIBE_CONFIGS on the cluster with an authorizer
//     (CLUSTER_AUTHORIZATION_FAILED).
//   - Entries is an empty list, never null: Java's admin client reads
//     its size.
//   - An entity type other than user, client-id or ip, a type named twice,
//     an exact match without a name or a default match with one is
//     INVALID_REQUEST, with Kafka's messages.
//
// Versions: v1 changes the encoding only (flexible).

import (
	"context"

	"github.com/gregor-broker/gregor/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.DescribeClientQuotas, 0, 1, handleDescribeClientQuotas) }

func handleDescribeClientQuotas(_ context.Context, b *Broker, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.DescribeClientQuotasRequest)
	resp := r.ResponseKind().(*kmsg.DescribeClientQuotasResponse)
	fail := func(code int16, msg string) (kmsg.Response, error) {
		resp.ErrorCode, resp.ErrorMessage = code, &msg
		return resp, nil
	}
	if code, msg := b.authorizeCluster(req, aclOpDescribeConfigs); code != 0 {
		return fail(code, msg)
	}
	seen := map[string]bool{}
	for _, c := range r.Components {
		switch c.EntityType {
		case "user", "client-id", "ip":
		default:
			return fail(kerr.InvalidRequest.Code, "Custom entity type '"+c.EntityType+"' not supported")
		}
		if seen[c.EntityType] {
			return fail(kerr.InvalidRequest.Code, "Duplicate "+c.EntityType+" filter component entity type")
		}
		seen[c.EntityType] = true
		switch {
		case c.MatchType == 0 && c.Match == nil:
			return fail(kerr.InvalidRequest.Code, "Unexpected null match for exact match type")
		case c.MatchType == 1 && c.Match != nil:
			return fail(kerr.InvalidRequest.Code, "Unexpected match for default match type")
		case c.MatchType < 0 || c.MatchType > 2:
			return fail(kerr.InvalidRequest.Code, "Unexpected match type")
		}
	}
	// No quotas: nothing matches. An empty list, not null (Java's admin
	// client reads its size).
	resp.Entries = []kmsg.DescribeClientQuotasResponseEntry{}
	return resp, nil
}
