package broker

// DescribeClientQuotas (key 48), versions 0–1.
//
// Lists the configured client quotas (quota.go) whose entity matches the
// filter, as Kafka's ClientQuotasImage.describe matches: an exact
// component needs that name (a default one the default), a "specified"
// component any entity with that type; strict excludes entities with
// other components too. kafka-configs --describe --entity-type users
// also asks it before it shows a user's SCRAM credentials.
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
	"sort"

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
	// An empty list, not null (Java's admin client reads its size).
	resp.Entries = []kmsg.DescribeClientQuotasResponseEntry{}
	qs := b.quotas()
	for _, e := range qs.entities() {
		if !quotaFilterMatches(e, r.Components, r.Strict) {
			continue
		}
		entry := kmsg.DescribeClientQuotasResponseEntry{}
		for _, c := range e.components() {
			entry.Entity = append(entry.Entity, kmsg.DescribeClientQuotasResponseEntryEntity{Type: c.typ, Name: c.name})
		}
		keys := make([]string, 0, len(qs.all[e]))
		for k := range qs.all[e] {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			entry.Values = append(entry.Values, kmsg.DescribeClientQuotasResponseEntryValue{Key: k, Value: qs.all[e][k]})
		}
		resp.Entries = append(resp.Entries, entry)
	}
	return resp, nil
}

// quotaComponent is one (type, name) of an entity; a nil name is the
// default.
type quotaComponent struct {
	typ  string
	name *string
}

// components lists e's components as the protocol names them.
func (e quotaEntity) components() []quotaComponent {
	var out []quotaComponent
	if e.hasUser {
		c := quotaComponent{typ: "user"}
		if !e.userDefault {
			c.name = &e.user
		}
		out = append(out, c)
	}
	if e.hasClient {
		c := quotaComponent{typ: "client-id"}
		if !e.clientDefault {
			c.name = &e.client
		}
		out = append(out, c)
	}
	return out
}

// quotaFilterMatches is Kafka's filter rule for one entity.
func quotaFilterMatches(e quotaEntity, filter []kmsg.DescribeClientQuotasRequestComponent, strict bool) bool {
	have := map[string]*string{}
	for _, c := range e.components() {
		have[c.typ] = c.name
	}
	if strict && len(have) != len(filter) {
		return false
	}
	for _, f := range filter {
		name, ok := have[f.EntityType]
		if !ok {
			return false
		}
		switch f.MatchType {
		case 0:
			if name == nil || f.Match == nil || *name != *f.Match {
				return false
			}
		case 1:
			if name != nil {
				return false
			}
		}
	}
	return true
}
