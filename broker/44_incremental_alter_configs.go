package broker

// IncrementalAlterConfigs (key 44), versions 0–1.
//
// Changes configs one operation at a time (SET, DELETE, APPEND, SUBTRACT).
// Each resource is answered on its own.
//
// Behaviour:
//   - As Kafka 4, before any change: a resource named twice gets
//     INVALID_REQUEST for each entry; a config name given twice
//     INVALID_REQUEST; an unknown operation UNKNOWN_SERVER_ERROR (Kafka 4
//     fails internally on it); SET with a null value INVALID_REQUEST.
//   - TOPIC: the operations are applied in order to the topic's explicit
//     configs: SET sets a value, DELETE removes it (back to the broker
//     default), APPEND and SUBTRACT add or remove items of a LIST config
//     (only cleanup.policy and the throttled-replica lists; INVALID_CONFIG
//     on others), starting from the default when the topic does not set it.
//     The result is validated as a whole (INVALID_CONFIG) and applied live
//     as in AlterConfigs. A bad name gets INVALID_TOPIC_EXCEPTION, an
//     unknown topic UNKNOWN_TOPIC_OR_PARTITION. A topic spread over several
//     broker groups is altered on every live one owning part of it
//     (cluster_configs.go).
//   - BROKER ("" for cluster-wide, or this broker's id): SET and DELETE
//     change the dynamic broker configs, APPEND and SUBTRACT the LIST ones
//     (others get INVALID_CONFIG "Config value append is not allowed…");
//     what may be set, and Kafka's refusals, as broker_configs.go says.
//     DELETE of a config with no dynamic value changes nothing.
//   - GROUP: SET and DELETE on the group's configs (group_configs.go), at
//     the group's coordinator when another broker group's master
//     coordinates it.
//   - BROKER_LOGGER: SET of the root logger's level (broker_configs.go).
//   - Other resource types get INVALID_REQUEST.
//   - validate_only checks without applying. A slave forwards the request
//     to its master (slave_gate.go).
//
// Versions: the handler has no version-specific behaviour (v1 changes the
// encoding only).

import (
	"context"
	"maps"
	"slices"
	"strings"

	"github.com/gregor-broker/gregor/nameserver"
	"github.com/gregor-broker/gregor/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.IncrementalAlterConfigs, 0, 1, handleIncrementalAlterConfigs) }

func handleIncrementalAlterConfigs(ctx context.Context, b *Broker, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.IncrementalAlterConfigsRequest)
	resp := r.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	dup := duplicateResources(len(r.Resources), func(i int) (kmsg.ConfigResourceType, string) {
		return r.Resources[i].ResourceType, r.Resources[i].ResourceName
	})
	for i, rr := range r.Resources {
		res := kmsg.NewIncrementalAlterConfigsResponseResource()
		res.ResourceType, res.ResourceName = rr.ResourceType, rr.ResourceName
		var err error
		home := (*nameserver.Broker)(nil)
		if rr.ResourceType == kmsg.ConfigResourceTypeGroupConfig && !dup[i] {
			home = b.groupConfigHome(ctx, req, rr.ResourceName)
		}
		switch {
		case dup[i]:
			err = apiErrorf(kerr.InvalidRequest, "Duplicate resource.")
		case home != nil:
			// The group's configs live with its coordinator.
			sub := *r
			sub.Resources = r.Resources[i : i+1]
			res.ErrorCode = kerr.CoordinatorNotAvailable.Code
			if out, err := b.forwardGroupConfig(ctx, home, &sub); err == nil && len(out.(*kmsg.IncrementalAlterConfigsResponse).Resources) == 1 {
				res = out.(*kmsg.IncrementalAlterConfigsResponse).Resources[0]
			}
			resp.Resources = append(resp.Resources, res)
			continue
		default:
			err = b.incrementalAlterConfigs(&rr, r.ValidateOnly)
		}
		res.ErrorCode, res.ErrorMessage = errorCode(err), errorMessage(err)
		if res.ErrorMessage != nil && *res.ErrorMessage == "" {
			res.ErrorMessage = nil
		}
		resp.Resources = append(resp.Resources, res)
	}
	return resp, nil
}

func (b *Broker) incrementalAlterConfigs(rr *kmsg.IncrementalAlterConfigsRequestResource, validateOnly bool) error {
	names := make([]string, 0, len(rr.Configs))
	for _, c := range rr.Configs {
		names = append(names, c.Name)
	}
	if hasDuplicates(names) {
		return apiErrorf(kerr.InvalidRequest, "Error due to duplicate config keys")
	}
	for _, c := range rr.Configs {
		if c.Op < kmsg.IncrementalAlterConfigOpSet || c.Op > kmsg.IncrementalAlterConfigOpSubtract {
			// Kafka fails on the unknown op code with an internal
			// error, which reaches the client as UNKNOWN_SERVER_ERROR.
			return apiErrorf(kerr.UnknownServerError, "")
		}
		if c.Op == kmsg.IncrementalAlterConfigOpSet && c.Value == nil {
			return apiErrorf(kerr.InvalidRequest, "Null value not supported for : %s", c.Name)
		}
	}
	switch rr.ResourceType {
	case kmsg.ConfigResourceTypeTopic:
		if err := validateTopicName(rr.ResourceName); err != nil {
			return err
		}
		tp, ok := b.topics.Get(rr.ResourceName)
		if !ok {
			return apiErrorf(kerr.UnknownTopicOrPartition, "The topic '%s' does not exist.", rr.ResourceName)
		}
		configs, err := applyConfigOps(tp.Configs, rr.Configs)
		if err != nil {
			return err
		}
		return b.topics.setConfigs(rr.ResourceName, configs, validateOnly)
	case kmsg.ConfigResourceTypeBroker:
		if err := b.checkBrokerConfigResource(rr.ResourceName); err != nil {
			return err
		}
		configs := b.topics.brokerConfigs(rr.ResourceName)
		if err := brokerConfigOps(configs, rr.Configs); err != nil {
			return err
		}
		set := map[string]string{}
		for _, n := range changedNames(rr.Configs) {
			set[n] = configs[n]
		}
		if err := b.validateBrokerAlter(rr.ResourceName, set); err != nil {
			return err
		}
		return b.topics.setBrokerConfigs(rr.ResourceName, configs, validateOnly)
	case kmsg.ConfigResourceTypeGroupConfig:
		return b.alterGroupConfigs(rr.ResourceName, rr.Configs, validateOnly)
	case kmsg.ConfigResourceTypeBrokerLogger:
		return b.alterBrokerLogger(rr.ResourceName, rr.Configs, validateOnly)
	default:
		return apiErrorf(kerr.InvalidRequest, "Unknown resource type %d", rr.ResourceType)
	}
}

// applyConfigOps returns current with ops applied, leaving current as it was.
func applyConfigOps(current map[string]string, ops []kmsg.IncrementalAlterConfigsRequestResourceConfig) (map[string]string, error) {
	out := maps.Clone(current)
	if out == nil {
		out = map[string]string{}
	}
	for _, c := range ops {
		switch c.Op {
		case kmsg.IncrementalAlterConfigOpSet:
			if c.Value == nil {
				return nil, apiErrorf(kerr.InvalidConfig, "Null value not supported for : %s", c.Name)
			}
			out[c.Name] = *c.Value
		case kmsg.IncrementalAlterConfigOpDelete:
			delete(out, c.Name)
		case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
			op := "APPEND"
			if c.Op == kmsg.IncrementalAlterConfigOpSubtract {
				op = "SUBTRACT"
			}
			if !isListConfig(c.Name) {
				return nil, apiErrorf(kerr.InvalidConfig, "Can't %s to key %s because its type is not LIST.", op, c.Name)
			}
			base, ok := out[c.Name]
			if !ok {
				base = topicConfigSpecs[c.Name].def
			}
			out[c.Name] = listOp(base, c.Op, c.Value)
		}
	}
	return out, nil
}

// listOp applies APPEND or SUBTRACT to a LIST value: items given are added
// when missing, or removed.
func listOp(base string, op kmsg.IncrementalAlterConfigOp, value *string) string {
	items := splitList(base)
	var given []string
	if value != nil {
		given = splitList(*value)
	}
	for _, v := range given {
		if op == kmsg.IncrementalAlterConfigOpAppend {
			if !slices.Contains(items, v) {
				items = append(items, v)
			}
		} else {
			items = slices.DeleteFunc(items, func(s string) bool { return s == v })
		}
	}
	return strings.Join(items, ",")
}
