package broker

// DescribeConfigs (key 32), versions 1–4 (Kafka 4 removed 0).
//
// Describes topic, broker, broker-logger and group configs, each resource
// answered on its own.
//
// Behaviour:
//   - TOPIC: every topic config with its effective value and source:
//     TOPIC_CONFIG when set on the topic, STATIC_BROKER_CONFIG when the
//     broker's synonym (e.g. log.retention.ms for retention.ms) differs from
//     Kafka's default, DEFAULT_CONFIG otherwise; a dynamic broker value that
//     gregor applies (DYNAMIC_BROKER_CONFIG / DYNAMIC_DEFAULT_BROKER_CONFIG)
//     overrides the static one. A topic this broker's group owns none of is
//     described by an owning group's master (cluster_configs.go, before the
//     handler).
//   - BROKER named by this broker's id: every config Kafka 4.1 lists, with
//     Kafka's flags (broker_configs.go); the empty name lists the
//     cluster-wide dynamic values that are set, as Kafka does.
//   - BROKER_LOGGER: one "root" logger with the zap logger's level, flagged
//     as Kafka flags its loggers.
//   - GROUP: the group configs (group_configs.go), read from the group's
//     coordinator when another broker group's master coordinates it
//     (COORDINATOR_NOT_AVAILABLE when it cannot be reached).
//   - Configs are sorted by name; a named config filter keeps only those
//     names (null or empty: all). Sensitive values are null. Synonyms come
//     only when asked, most specific first.
//   - Errors as Kafka 4's ConfigHelper: a bad topic name
//     INVALID_TOPIC_EXCEPTION, an unknown topic UNKNOWN_TOPIC_OR_PARTITION
//     (with no message, as Kafka), another broker's id or a non-integer one
//     INVALID_REQUEST, an empty group name INVALID_REQUEST, other resource
//     types INVALID_REQUEST.
//
// Versions:
//   - v3+: the config type always, documentation when asked.
//   - v4: tagged fields only.

import (
	"context"
	"strconv"

	"github.com/gregor-broker/gregor/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.DescribeConfigs, 1, 4, handleDescribeConfigs) }

func handleDescribeConfigs(ctx context.Context, b *Broker, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.DescribeConfigsRequest)
	resp := r.ResponseKind().(*kmsg.DescribeConfigsResponse)
	for i, rr := range r.Resources {
		if rr.ResourceType == kmsg.ConfigResourceTypeGroupConfig {
			if home := b.groupConfigHome(ctx, req, rr.ResourceName); home != nil {
				sub := *r
				sub.Resources = r.Resources[i : i+1]
				res := kmsg.NewDescribeConfigsResponseResource()
				res.ResourceType, res.ResourceName = rr.ResourceType, rr.ResourceName
				res.ErrorCode = kerr.CoordinatorNotAvailable.Code
				if out, err := b.forwardGroupConfig(ctx, home, &sub); err == nil && len(out.(*kmsg.DescribeConfigsResponse).Resources) == 1 {
					res = out.(*kmsg.DescribeConfigsResponse).Resources[0]
				}
				resp.Resources = append(resp.Resources, res)
				continue
			}
		}
		res := kmsg.NewDescribeConfigsResponseResource()
		res.ResourceType, res.ResourceName = rr.ResourceType, rr.ResourceName
		values, err := b.describeConfigResource(rr.ResourceType, rr.ResourceName)
		if err != nil {
			res.ErrorCode, res.ErrorMessage = errorCode(err), errorMessage(err)
			if res.ErrorCode == kerr.UnknownTopicOrPartition.Code {
				res.ErrorMessage = nil // Kafka sends none for this one
			}
			resp.Resources = append(resp.Resources, res)
			continue
		}
		var want map[string]bool
		if len(rr.ConfigNames) > 0 { // null or empty: every config, as Kafka
			want = map[string]bool{}
			for _, n := range rr.ConfigNames {
				want[n] = true
			}
		}
		for _, cv := range values {
			if want != nil && !want[cv.name] {
				continue
			}
			c := kmsg.NewDescribeConfigsResponseResourceConfig()
			c.Name, c.Value, c.ReadOnly, c.Source, c.IsSensitive = cv.name, cv.value, cv.readOnly, cv.source, cv.sensitive
			c.IsDefault = cv.source == kmsg.ConfigSourceDefaultConfig
			if cv.sensitive {
				c.Value = nil
			}
			c.ConfigType = cv.typ
			if r.IncludeSynonyms {
				for _, s := range cv.synonyms {
					syn := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
					syn.Name, syn.Value, syn.Source = s.name, s.value, s.source
					if cv.sensitive {
						syn.Value = nil
					}
					c.ConfigSynonyms = append(c.ConfigSynonyms, syn)
				}
			}
			if r.IncludeDocumentation && !cv.noDoc {
				doc := cv.doc
				c.Documentation = &doc
			}
			res.Configs = append(res.Configs, c)
		}
		resp.Resources = append(resp.Resources, res)
	}
	return resp, nil
}

// describeConfigResource resolves every config of one resource.
func (b *Broker) describeConfigResource(typ kmsg.ConfigResourceType, name string) ([]configValue, error) {
	switch typ {
	case kmsg.ConfigResourceTypeTopic:
		if err := validateTopicName(name); err != nil {
			return nil, err
		}
		tp, ok := b.topics.Get(name)
		if !ok {
			return nil, apiErrorf(kerr.UnknownTopicOrPartition, "This server does not host this topic-partition.")
		}
		return effectiveTopicConfigs(tp.Configs, b.topics.synonyms()), nil
	case kmsg.ConfigResourceTypeBroker:
		if name == "" {
			return clusterDefaultConfigValues(b), nil
		}
		if err := b.checkBrokerResource(name); err != nil {
			return nil, err
		}
		return brokerConfigValues(b), nil
	case kmsg.ConfigResourceTypeBrokerLogger:
		if err := b.checkBrokerResource(name); err != nil {
			return nil, err
		}
		return brokerLoggerValues(b), nil
	case kmsg.ConfigResourceTypeGroupConfig:
		if name == "" {
			return nil, apiErrorf(kerr.InvalidRequest, "Group name must not be empty")
		}
		return b.groupConfigValues(name), nil
	default:
		// Kafka answers with the code's default message.
		return nil, apiErrorf(kerr.InvalidRequest, "%s", kerr.InvalidRequest.Description)
	}
}

// checkBrokerResource accepts a BROKER resource name that is this broker's
// id, with Kafka's messages for the rest.
func (b *Broker) checkBrokerResource(name string) error {
	id, err := strconv.ParseInt(name, 10, 32)
	if err != nil {
		return apiErrorf(kerr.InvalidRequest, "Broker id must be an integer, but it is: %s", name)
	}
	if int32(id) != b.cfg.NodeID {
		return apiErrorf(kerr.InvalidRequest, "Unexpected broker id, expected %d or empty string, but received %s", b.cfg.NodeID, name)
	}
	return nil
}
