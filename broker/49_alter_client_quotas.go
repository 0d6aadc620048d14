package broker

// AlterClientQuotas (key 49), versions 0–1.
//
// Sets and removes the client quotas of users and client ids (quota.go),
// as Kafka's kafka-configs --entity-type users|clients --alter
// --add-config / --delete-config sends them. The changes of one request
// are one commit-log entry, durable before the answer; a slave forwards
// the request to its master (slave_gate.go).
//
// Behaviour:
//   - Needs ALTER_CONFIGS on the cluster with an authorizer: every entry
//     gets CLUSTER_AUTHORIZATION_FAILED.
//   - Validation and messages are Kafka's ClientQuotaControlManager's,
//     each failure answered on its entry (INVALID_REQUEST): an empty
//     entity, an unknown entity type, a type named twice, an empty name,
//     an entity named twice in the request, a key twice in one entry, an
//     unknown key, a value not above 0, a fractional byte rate.
//   - controller_mutation_rate (KIP-599) and the ip entity
//     (connection_creation_rate, KIP-612) are Kafka's but not enforced by
//     gregor: refused with INVALID_REQUEST saying so, rather than stored
//     without effect.
//   - ValidateOnly answers as if it applied, and stores nothing.
//
// Versions: v1 changes the encoding only (flexible).

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/gregor-broker/gregor/protocol"
	"github.com/gregor-broker/gregor/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.AlterClientQuotas, 0, 1, handleAlterClientQuotas) }

// quotaKeyTypes are the quota keys of users and client ids, true for the
// integral (LONG) ones.
var quotaKeyTypes = map[string]bool{
	quotaProducerByteRate:  true,
	quotaConsumerByteRate:  true,
	quotaRequestPercentage: false,
}

func handleAlterClientQuotas(_ context.Context, b *Broker, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.AlterClientQuotasRequest)
	resp := r.ResponseKind().(*kmsg.AlterClientQuotasResponse)
	deny, denyMsg := b.authorizeCluster(req, aclOpAlterConfigs)
	seen := map[quotaEntity]int{}
	entities := make([]quotaEntity, len(r.Entries))
	codes := make([]int16, len(r.Entries))
	msgs := make([]string, len(r.Entries))
	for i, en := range r.Entries {
		out := kmsg.AlterClientQuotasResponseEntry{}
		for _, c := range en.Entity {
			out.Entity = append(out.Entity, kmsg.AlterClientQuotasResponseEntryEntity{Type: c.Type, Name: c.Name})
		}
		resp.Entries = append(resp.Entries, out)
		if deny != 0 {
			codes[i], msgs[i] = deny, denyMsg
			continue
		}
		e, msg := quotaEntityOf(en.Entity)
		if msg == "" {
			if seen[e]++; seen[e] > 1 {
				msg = "Ignoring duplicate entity " + describeQuotaEntity(en.Entity)
			}
		}
		if msg == "" {
			msg = checkQuotaOps(en.Ops, en.Entity)
		}
		entities[i] = e
		if msg != "" {
			codes[i], msgs[i] = kerr.InvalidRequest.Code, msg
		}
	}
	// Kafka answers every copy of a duplicated entity with the error.
	for i, en := range r.Entries {
		if codes[i] == 0 && seen[entities[i]] > 1 {
			codes[i], msgs[i] = kerr.InvalidRequest.Code, "Ignoring duplicate entity "+describeQuotaEntity(en.Entity)
		}
	}
	var kvs []storage.KV
	current := b.quotas()
	for i, en := range r.Entries {
		if codes[i] != 0 {
			continue
		}
		for _, op := range en.Ops {
			k := quotaKey(entities[i], op.Key)
			if op.Remove {
				if _, ok := current.all[entities[i]][op.Key]; ok {
					kvs = append(kvs, storage.KV{Key: k})
				}
				continue
			}
			kvs = append(kvs, storage.KV{Key: k, Value: encodeQuotaValue(op.Value)})
		}
	}
	if !r.ValidateOnly {
		if err := b.putQuotas(kvs); err != nil {
			for i := range codes {
				if codes[i] == 0 {
					codes[i], msgs[i] = kerr.UnknownServerError.Code, "storing the quotas: "+err.Error()
				}
			}
		}
	}
	for i := range resp.Entries {
		resp.Entries[i].ErrorCode = codes[i]
		if codes[i] != 0 {
			m := msgs[i]
			resp.Entries[i].ErrorMessage = &m
		}
	}
	return resp, nil
}

// quotaEntityOf validates an entity as Kafka's validateEntity and
// configKeysForEntityType do; a non-empty message refuses it.
func quotaEntityOf(comps []kmsg.AlterClientQuotasRequestEntryEntity) (quotaEntity, string) {
	var e quotaEntity
	if len(comps) == 0 {
		return e, "Invalid empty client quota entity"
	}
	seen := map[string]bool{}
	for _, c := range comps {
		if seen[c.Type] {
			return e, "Invalid client quota entity, duplicate entity entry " + c.Type
		}
		seen[c.Type] = true
		if c.Name != nil && *c.Name == "" {
			return e, "Empty " + c.Type + " not supported"
		}
		switch c.Type {
		case "user":
			e.hasUser = true
			if c.Name == nil {
				e.userDefault = true
			} else {
				e.user = *c.Name
			}
		case "client-id":
			e.hasClient = true
			if c.Name == nil {
				e.clientDefault = true
			} else {
				e.client = *c.Name
			}
		case "ip":
		default:
			return e, "Unhandled client quota entity type: " + c.Type
		}
	}
	if seen["ip"] {
		if e.hasUser || e.hasClient {
			return e, "Invalid quota entity combination, IP entity shouldnot be combined with User or ClientId"
		}
		return e, "gregor does not enforce IP quotas (connection_creation_rate); use max.connections.per.ip and max.connection.creation.rate"
	}
	return e, ""
}

// checkQuotaOps validates one entry's operations; "" when they are fine.
func checkQuotaOps(ops []kmsg.AlterClientQuotasRequestEntryOp, entity []kmsg.AlterClientQuotasRequestEntryEntity) string {
	keys := map[string]bool{}
	for _, op := range ops {
		if keys[op.Key] {
			return "Duplicate quota key " + op.Key + " not updating quota for this entity " + describeQuotaEntity(entity)
		}
		keys[op.Key] = true
	}
	for _, op := range ops {
		if op.Remove {
			continue
		}
		integral, ok := quotaKeyTypes[op.Key]
		switch {
		case op.Key == quotaControllerMutationRate:
			return "gregor does not enforce " + op.Key + " (KIP-599 partition mutation quotas); it is not stored"
		case !ok:
			return "Invalid configuration key " + op.Key
		case op.Value <= 0:
			return "Quota " + op.Key + " must be greater than 0"
		case integral && op.Value > math.MaxInt64:
			return "Proposed value for " + op.Key + " is too large for a LONG."
		case integral && math.Abs(math.Mod(op.Value, 1)) > 1e-6:
			return op.Key + " cannot be a fractional value."
		}
	}
	return ""
}

// describeQuotaEntity prints an entity as Kafka's ClientQuotaEntity does.
func describeQuotaEntity(comps []kmsg.AlterClientQuotasRequestEntryEntity) string {
	parts := make([]string, 0, len(comps))
	for _, c := range comps {
		name := "null"
		if c.Name != nil {
			name = *c.Name
		}
		parts = append(parts, fmt.Sprintf("%s=%s", c.Type, name))
	}
	return "ClientQuotaEntity(entries={" + strings.Join(parts, ", ") + "})"
}
