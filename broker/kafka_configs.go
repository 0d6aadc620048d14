package broker

// Kafka 4.1's broker and group configs, as the reference broker describes
// them: name, type, default, read-only and sensitive flags, documentation,
// and for a dynamic broker config whether Kafka takes it cluster-wide or
// only per broker or per listener. kafka_configs.json is generated from a
// running Kafka by the client matrix (compat_test/configs_test.go,
// -update-configs); nothing in it is written by hand.
//
// gregor describes every one of them (DescribeConfigs on BROKER and GROUP
// resources), accepts the dynamic ones Kafka accepts, applies those it uses
// (broker_configs.go says which) and stores and describes the others.

import (
	_ "embed"
	"encoding/json"
	"sort"

	"github.com/twmb/franz-go/pkg/kmsg"
)

//go:embed kafka_configs.json
var kafkaConfigsJSON []byte

// kafkaConfig is one config of Kafka's tables.
type kafkaConfig struct {
	Name      string  `json:"name"`
	Type      string  `json:"type"`
	Default   *string `json:"default"` // nil: Kafka has none (or hides it)
	ReadOnly  bool    `json:"readOnly"`
	Sensitive bool    `json:"sensitive"`
	Scope     string  `json:"scope"` // dynamic broker configs: "", "broker" or "listener"
	Doc       string  `json:"doc"`

	typ kmsg.ConfigType
}

// Scopes of dynamic broker configs.
const (
	scopeBroker   = "broker"   // not at the cluster-wide resource ""
	scopeListener = "listener" // only with a listener prefix, which gregor has no use for
)

// kafkaBrokerConfigs and kafkaGroupConfigs are Kafka's tables by name;
// kafkaBrokerConfigNames is the broker table's names, sorted.
var kafkaBrokerConfigs, kafkaGroupConfigs, kafkaBrokerConfigNames, kafkaGroupConfigNames = func() (map[string]*kafkaConfig, map[string]*kafkaConfig, []string, []string) {
	var tab struct {
		Broker []*kafkaConfig `json:"broker"`
		Group  []*kafkaConfig `json:"group"`
	}
	if err := json.Unmarshal(kafkaConfigsJSON, &tab); err != nil {
		panic("broker: kafka_configs.json: " + err.Error())
	}
	index := func(list []*kafkaConfig) (map[string]*kafkaConfig, []string) {
		m := make(map[string]*kafkaConfig, len(list))
		names := make([]string, 0, len(list))
		for _, c := range list {
			t, err := kmsg.ParseConfigType(c.Type)
			if err != nil {
				t = kmsg.ConfigTypeUnknown
			}
			c.typ = t
			m[c.Name] = c
			names = append(names, c.Name)
		}
		sort.Strings(names)
		return m, names
	}
	b, bn := index(tab.Broker)
	g, gn := index(tab.Group)
	return b, g, bn, gn
}()
