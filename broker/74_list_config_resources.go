package broker

// ListConfigResources (key 74), versions 0–1.
//
// Lists the resources that have configs, as Kafka 4.4 answers (KIP-1142;
// v0 was KIP-714's ListClientMetricsResources).
//
// Behaviour:
//   - The types asked for, every type for an empty list: groups that have
//     group configs set (GROUP_CONFIG), then every live broker's node id
//     as BROKER_LOGGER and as BROKER, then every topic of the cluster
//     (TOPIC, by name), in that order. A type Kafka does not list makes
//     the whole answer UNSUPPORTED_VERSION with no resources.
//   - gregor has no client-metrics subscriptions (KIP-714 telemetry is not
//     served), so CLIENT_METRICS lists nothing, as on a Kafka without any.
//   - Group configs live with the group's coordinator (group_configs.go):
//     in a cluster of several broker groups a broker lists the groups
//     whose configs it keeps.
//
// Versions:
//   - v0: client-metrics resources only (the request has no types).
//   - v1: the types filter and the other resource types.

import (
	"context"
	"sort"
	"strconv"

	"github.com/gregor-broker/gregor/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.ListConfigResources, 0, 1, handleListConfigResources) }

func handleListConfigResources(_ context.Context, b *Broker, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.ListConfigResourcesRequest)
	resp := r.ResponseKind().(*kmsg.ListConfigResourcesResponse)
	const (
		topicT   = int8(kmsg.ConfigResourceTypeTopic)
		brokerT  = int8(kmsg.ConfigResourceTypeBroker)
		loggerT  = int8(kmsg.ConfigResourceTypeBrokerLogger)
		metricsT = int8(kmsg.ConfigResourceTypeClientMetrics)
		groupT   = int8(kmsg.ConfigResourceTypeGroupConfig)
	)
	want := map[int8]bool{}
	switch {
	case r.Version == 0:
		want[metricsT] = true
	case len(r.ResourceTypes) == 0:
		want = map[int8]bool{topicT: true, brokerT: true, loggerT: true, metricsT: true, groupT: true}
	default:
		for _, t := range r.ResourceTypes {
			switch t {
			case topicT, brokerT, loggerT, metricsT, groupT:
				want[t] = true
			default:
				resp.ErrorCode = kerr.UnsupportedVersion.Code
				return resp, nil
			}
		}
	}
	add := func(typ int8, names []string) {
		if !want[typ] {
			return
		}
		for _, n := range names {
			c := kmsg.NewListConfigResourcesResponseConfigResource()
			c.Name, c.Type = n, typ
			resp.ConfigResources = append(resp.ConfigResources, c)
		}
	}
	var groups []string
	b.store.RangeKV(groupConfigsNamespace, func(key, value []byte) bool {
		if len(value) > 0 {
			groups = append(groups, string(key))
		}
		return true
	})
	sort.Strings(groups)
	v := b.cl().currentView()
	var nodes []string
	seen := map[int32]bool{}
	for _, br := range v.brokers {
		if !seen[br.NodeID] {
			seen[br.NodeID] = true
			nodes = append(nodes, strconv.Itoa(int(br.NodeID)))
		}
	}
	if !seen[b.cfg.NodeID] {
		nodes = append(nodes, strconv.Itoa(int(b.cfg.NodeID)))
	}
	sort.Strings(nodes)
	topics := make([]string, 0, len(v.topics))
	for _, t := range v.topics {
		topics = append(topics, t.Name)
	}
	sort.Strings(topics)
	add(groupT, groups)
	add(loggerT, nodes)
	add(brokerT, nodes)
	add(topicT, topics)
	return resp, nil
}
