package broker

// Group configs (KIP-848's GROUP config resources, type 32), as Kafka 4.4
// has them: consumer.session.timeout.ms, consumer.heartbeat.interval.ms and
// the share.* and streams.* settings (kafka_configs.go lists them with
// their defaults and documentation).
//
// DescribeConfigs lists all of them for any group name, set or not: a set
// value with source GROUP_CONFIG, else the broker's own setting when it
// differs from Kafka's default (STATIC_BROKER_CONFIG, e.g.
// group.consumer.session.timeout.ms for consumer.session.timeout.ms), else
// Kafka's default (DEFAULT_CONFIG).
// Alter(Incremental)Configs validate as Kafka's GroupConfig does — unknown
// names, types, and each timeout within the broker's bounds
// (group.consumer.min.session.timeout.ms and the like as this broker runs
// with them, Kafka's defaults for the share and streams ones, which gregor
// does not have as settings) — all with INVALID_CONFIG, and store
// the group's set durably (store KV namespace group-configs, key the group
// id, value the JSON of a name → value map). The resource "" gets
// INVALID_REQUEST "Default group resources are not allowed.".
//
// In a cluster of several broker groups a group's configs live with its
// coordinator (the master FindCoordinator names): a request that reaches
// another broker is forwarded there, one resource at a time.
//
// consumer.session.timeout.ms and consumer.heartbeat.interval.ms apply to
// the group's KIP-848 consumer protocol (broker/group, consumer.go, through
// consumerGroupTimeouts in 68_consumer_group_heartbeat.go); the share.*
// and streams.* ones are stored and described, not applied (gregor serves
// neither protocol); classic groups take their timeouts from JoinGroup.

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"sort"
	"strconv"
	"strings"

	"github.com/gregor-broker/gregor/nameserver"
	"github.com/gregor-broker/gregor/protocol"
	"github.com/gregor-broker/gregor/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupConfigsNamespace is the store KV namespace of the group configs.
// Frozen.
const groupConfigsNamespace = "group-configs"

// groupConfigBounds are Kafka's checks of group config values against the
// broker's bounds, in the order Kafka's GroupConfig.validateValues makes
// them: config, broker config of the lower bound, of the upper bound ("" =
// none).
var groupConfigBounds = []struct{ name, min, max string }{
	{"consumer.heartbeat.interval.ms", "group.consumer.min.heartbeat.interval.ms", "group.consumer.max.heartbeat.interval.ms"},
	{"consumer.session.timeout.ms", "group.consumer.min.session.timeout.ms", "group.consumer.max.session.timeout.ms"},
	{"share.heartbeat.interval.ms", "group.share.min.heartbeat.interval.ms", "group.share.max.heartbeat.interval.ms"},
	{"share.session.timeout.ms", "group.share.min.session.timeout.ms", "group.share.max.session.timeout.ms"},
	{"share.record.lock.duration.ms", "group.share.min.record.lock.duration.ms", "group.share.max.record.lock.duration.ms"},
	{"streams.heartbeat.interval.ms", "group.streams.min.heartbeat.interval.ms", "group.streams.max.heartbeat.interval.ms"},
	{"streams.session.timeout.ms", "group.streams.min.session.timeout.ms", "group.streams.max.session.timeout.ms"},
	{"streams.num.standby.replicas", "", "group.streams.max.standby.replicas"},
}

// groupConfigCheck is Kafka's validator of a group config beyond its type.
func groupConfigCheck(name, v string) error {
	switch name {
	case "share.isolation.level":
		return checkOneOf("read_committed", "read_uncommitted")(v)
	case "share.auto.offset.reset":
		if v == "earliest" || v == "latest" || strings.HasPrefix(v, "by_duration:") {
			return nil
		}
		return fmt.Errorf("Invalid value `%s` for configuration share.auto.offset.reset. The value must be either 'earliest', 'latest' or of the format 'by_duration:<PnDTnHnMn.nS>'.", v)
	case "streams.num.standby.replicas":
		return checkAtLeast(0)(v)
	}
	return nil
}

// checkGroupResource refuses the default group resource, as Kafka does.
func checkGroupResource(name string) error {
	if name == "" {
		return apiErrorf(kerr.InvalidRequest, "Default group resources are not allowed.")
	}
	return nil
}

// groupConfigBound returns a numeric broker setting bounding a group
// config: this broker's value where it differs from Kafka's default (the
// STATIC_BROKER_CONFIG layer), else Kafka's default.
func groupConfigBound(static map[string]string, name string) int64 {
	if v, ok := static[name]; ok {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			return n
		}
	}
	return brokerDefaultInt(name)
}

// validateGroupConfigs checks a group's whole set of configs against the
// broker's bounds (static: gregorBrokerValues' STATIC_BROKER_CONFIG layer).
func validateGroupConfigs(configs, static map[string]string) error {
	names := sortedKeys(configs)
	for _, n := range names {
		c := kafkaGroupConfigs[n]
		if c == nil {
			return apiErrorf(kerr.InvalidConfig, "Unknown group config name: %s", n)
		}
		v := configs[n]
		err := checkType(c.typ, v)
		if err == nil {
			err = groupConfigCheck(n, strings.TrimSpace(v))
		}
		if err != nil {
			return apiErrorf(kerr.InvalidConfig, "Invalid value %s for configuration %s: %v", v, n, err)
		}
	}
	for _, b := range groupConfigBounds {
		v, ok := configs[b.name]
		if !ok {
			continue
		}
		n := parseLong(v)
		hi := groupConfigBound(static, b.max)
		if b.min != "" {
			if lo := groupConfigBound(static, b.min); n < lo || n > hi {
				// Kafka 4.4's message when both bounds apply.
				return apiErrorf(kerr.InvalidConfig, "%s must be in the range %d to %d inclusive.", b.name, lo, hi)
			}
		}
		if n > hi {
			return apiErrorf(kerr.InvalidConfig, "%s must be less than or equal to %s", b.name, b.max)
		}
	}
	return nil
}

// brokerDefaultInt is Kafka's default of a numeric broker config.
func brokerDefaultInt(name string) int64 {
	c := kafkaBrokerConfigs[name]
	if c == nil || c.Default == nil {
		panic("broker: no Kafka default for " + name) // kafka_configs.json lacks a bound: regenerate it
	}
	n, _ := strconv.ParseInt(*c.Default, 10, 64)
	return n
}

// groupConfigs returns the configs set on group (a copy).
func (b *Broker) groupConfigs(group string) map[string]string {
	out := map[string]string{}
	if v, ok := b.store.GetKV(groupConfigsNamespace, []byte(group)); ok {
		if err := json.Unmarshal(v, &out); err != nil {
			b.log.Warn("ignoring unreadable group configs: " + err.Error())
			return map[string]string{}
		}
	}
	return out
}

// setGroupConfigs validates and stores the whole set of a group's configs.
func (b *Broker) setGroupConfigs(group string, configs map[string]string, validateOnly bool) error {
	static, _ := gregorBrokerValues(b)
	if err := validateGroupConfigs(configs, static); err != nil {
		return err
	}
	if validateOnly {
		return nil
	}
	kv := storage.KV{Key: []byte(group)}
	if len(configs) > 0 {
		v, err := json.Marshal(configs)
		if err != nil {
			return err
		}
		kv.Value = v
	}
	return b.store.PutKV(groupConfigsNamespace, kv)
}

// alterGroupConfigs applies IncrementalAlterConfigs operations to a group's
// configs.
func (b *Broker) alterGroupConfigs(group string, ops []kmsg.IncrementalAlterConfigsRequestResourceConfig, validateOnly bool) error {
	if err := checkGroupResource(group); err != nil {
		return err
	}
	configs := maps.Clone(b.groupConfigs(group))
	for _, c := range ops {
		switch c.Op {
		case kmsg.IncrementalAlterConfigOpSet:
			configs[c.Name] = *c.Value
		case kmsg.IncrementalAlterConfigOpDelete:
			delete(configs, c.Name)
		default:
			op := "APPEND"
			if c.Op == kmsg.IncrementalAlterConfigOpSubtract {
				op = "SUBTRACT"
			}
			// No group config is a LIST.
			if k := kafkaGroupConfigs[c.Name]; k == nil || k.typ != kmsg.ConfigTypeList {
				return apiErrorf(kerr.InvalidConfig, "Can't %s to key %s because its type is not LIST.", op, c.Name)
			}
		}
	}
	return b.setGroupConfigs(group, configs, validateOnly)
}

// groupConfigValues describes every group config of group.
func (b *Broker) groupConfigValues(group string) []configValue {
	set := b.groupConfigs(group)
	static, _ := gregorBrokerValues(b)
	names := append([]string(nil), kafkaGroupConfigNames...)
	sort.Strings(names)
	out := make([]configValue, 0, len(names))
	for _, n := range names {
		c := kafkaGroupConfigs[n]
		cv := configValue{name: n, typ: c.typ, readOnly: c.ReadOnly, sensitive: c.Sensitive, doc: c.Doc + unusedNote}
		if n == "consumer.session.timeout.ms" || n == "consumer.heartbeat.interval.ms" {
			cv.doc = c.Doc // applied to KIP-848 consumer groups
		}
		if v, ok := set[n]; ok {
			// Kafka 4.4 lists the group's value first, the default last.
			cv.synonyms = append(cv.synonyms, configSynonym{n, &v, kmsg.ConfigSourceGroupConfig})
		}
		// Then the broker's own setting when it was given one
		// (--group.consumer.session.timeout.ms), which is the
		// group's value when the group has none.
		if v, ok := static[groupConfigDefaultName(n)]; ok {
			cv.synonyms = append(cv.synonyms, configSynonym{groupConfigDefaultName(n), &v, kmsg.ConfigSourceStaticBrokerConfig})
		}
		if c.Default != nil {
			d := *c.Default
			cv.synonyms = append(cv.synonyms, configSynonym{groupConfigDefaultName(n), &d, kmsg.ConfigSourceDefaultConfig})
		}
		cv.source = kmsg.ConfigSourceDefaultConfig
		if len(cv.synonyms) > 0 {
			cv.value, cv.source = cv.synonyms[0].value, cv.synonyms[0].source
		}
		out = append(out, cv)
	}
	return out
}

// groupConfigDefaultName is the name Kafka gives a group config's
// DEFAULT_CONFIG synonym: the broker setting that supplies the default
// (consumer.session.timeout.ms → group.consumer.session.timeout.ms), or the
// group config's own name where no broker setting has it
// (share.auto.offset.reset).
func groupConfigDefaultName(n string) string {
	if n == "streams.assignor.name" {
		return "group.streams.assignors" // a list of assignors at the broker
	}
	if _, ok := kafkaBrokerConfigs["group."+n]; ok {
		return "group." + n
	}
	return n
}

// groupConfigHome returns the master that keeps group's configs when it is
// another broker group's (the group's coordinator, as FindCoordinator names
// it), nil when this broker keeps them: on a single master, for a request
// another broker forwarded, or when no coordinator is known yet (no
// __consumer_offsets, which is created by the first FindCoordinator).
func (b *Broker) groupConfigHome(ctx context.Context, req *protocol.Request, group string) *nameserver.Broker {
	if group == "" || forwardedRequest(req) {
		return nil
	}
	return b.coordinatorElsewhere(ctx, group)
}

// forwardGroupConfig sends a request narrowed to one GROUP resource to the
// master keeping that group's configs and returns its answer (nil when the
// send failed: the caller answers with its error).
func (b *Broker) forwardGroupConfig(ctx context.Context, home *nameserver.Broker, sub kmsg.Request) (kmsg.Response, error) {
	return b.cl().send(ctx, home, sub)
}
