package broker

// AlterConfigs (key 33), versions 0–2.
//
// The legacy, non-incremental form: replaces every explicit config of a
// resource with the ones given. Each resource is answered on its own.
//
// Behaviour:
//   - A resource named twice gets INVALID_REQUEST ("Duplicate resource.")
//     for each entry; a null value or a config name given twice
//     INVALID_REQUEST, as in Kafka 4.
//   - TOPIC: the new set is validated as a whole (INVALID_CONFIG for unknown
//     names and bad values, gregor's refusals included, topic_config.go),
//     then stored and applied live: retention is pushed to the store's
//     partitions, and the topic snapshot the data path reads
//     (max.message.bytes, message.timestamp.type) is replaced. A bad name
//     gets INVALID_TOPIC_EXCEPTION, an unknown topic
//     UNKNOWN_TOPIC_OR_PARTITION. A topic spread over several broker groups
//     is altered on every live one owning part of it (cluster_configs.go).
//   - BROKER ("" for cluster-wide, or this broker's id): the new set
//     replaces the resource's dynamic configs; what Kafka accepts as a
//     dynamic broker config is accepted, applied where gregor uses it and
//     stored where not, and what Kafka refuses is refused with Kafka's error
//     and message (broker_configs.go).
//   - GROUP: the new set replaces the group's configs (group_configs.go),
//     at the group's coordinator when another broker group's master
//     coordinates it.
//   - Other resource types (BROKER_LOGGER included) get INVALID_REQUEST.
//   - validate_only checks without applying. A slave forwards the request
//     to its master (slave_gate.go).
//
// Versions: the handler has no version-specific behaviour (v2 changes the
// encoding only).

import (
	"context"
	"strings"

	"github.com/gregor-broker/gregor/nameserver"
	"github.com/gregor-broker/gregor/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.AlterConfigs, 0, 2, handleAlterConfigs) }

func handleAlterConfigs(ctx context.Context, b *Broker, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.AlterConfigsRequest)
	resp := r.ResponseKind().(*kmsg.AlterConfigsResponse)
	dup := duplicateResources(len(r.Resources), func(i int) (kmsg.ConfigResourceType, string) {
		return r.Resources[i].ResourceType, r.Resources[i].ResourceName
	})
	for i, rr := range r.Resources {
		res := kmsg.NewAlterConfigsResponseResource()
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
			if out, err := b.forwardGroupConfig(ctx, home, &sub); err == nil && len(out.(*kmsg.AlterConfigsResponse).Resources) == 1 {
				res = out.(*kmsg.AlterConfigsResponse).Resources[0]
			}
			resp.Resources = append(resp.Resources, res)
			continue
		default:
			err = b.alterConfigs(&rr, r.ValidateOnly)
		}
		res.ErrorCode, res.ErrorMessage = errorCode(err), errorMessage(err)
		resp.Resources = append(resp.Resources, res)
	}
	return resp, nil
}

func (b *Broker) alterConfigs(rr *kmsg.AlterConfigsRequestResource, validateOnly bool) error {
	var nulls, names []string
	configs := map[string]string{}
	for _, c := range rr.Configs {
		names = append(names, c.Name)
		if c.Value == nil {
			nulls = append(nulls, c.Name)
			continue
		}
		configs[c.Name] = *c.Value
	}
	if len(nulls) > 0 {
		return apiErrorf(kerr.InvalidRequest, "Null value not supported for : %s", strings.Join(nulls, ", "))
	}
	if hasDuplicates(names) {
		return apiErrorf(kerr.InvalidRequest, "Error due to duplicate config keys")
	}
	switch rr.ResourceType {
	case kmsg.ConfigResourceTypeTopic:
		if err := validateTopicName(rr.ResourceName); err != nil {
			return err
		}
		return b.topics.setConfigs(rr.ResourceName, configs, validateOnly)
	case kmsg.ConfigResourceTypeBroker:
		if err := b.checkBrokerConfigResource(rr.ResourceName); err != nil {
			return err
		}
		if err := b.validateBrokerAlter(rr.ResourceName, configs); err != nil {
			return err
		}
		return b.topics.setBrokerConfigs(rr.ResourceName, configs, validateOnly)
	case kmsg.ConfigResourceTypeGroupConfig:
		if err := checkGroupResource(rr.ResourceName); err != nil {
			return err
		}
		return b.setGroupConfigs(rr.ResourceName, configs, validateOnly)
	default:
		return apiErrorf(kerr.InvalidRequest, "Unknown resource type %d", rr.ResourceType)
	}
}

// checkBrokerConfigResource accepts the BROKER resources whose dynamic
// configs can be altered: "" (cluster-wide) and this broker's id.
func (b *Broker) checkBrokerConfigResource(resource string) error {
	if resource == "" {
		return nil
	}
	return b.checkBrokerResource(resource)
}

// duplicateResources marks the resources that appear more than once in a
// request.
func duplicateResources(n int, at func(int) (kmsg.ConfigResourceType, string)) []bool {
	type key struct {
		t    kmsg.ConfigResourceType
		name string
	}
	count := map[key]int{}
	for i := 0; i < n; i++ {
		t, name := at(i)
		count[key{t, name}]++
	}
	out := make([]bool, n)
	for i := 0; i < n; i++ {
		t, name := at(i)
		out[i] = count[key{t, name}] > 1
	}
	return out
}

func hasDuplicates(names []string) bool {
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			return true
		}
		seen[n] = true
	}
	return false
}
