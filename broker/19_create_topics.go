package broker

// CreateTopics (key 19), versions 2–7 (Kafka 4 removed 0–1).
//
// Creates topics, placed over the live master groups (placement.go).
// admin_kafka_test.go checks these answers against a real Kafka.
//
// Behaviour:
//   - Request-wide first: a timeout of 0 or less gets REQUEST_TIMED_OUT for
//     every topic and creates nothing, validate_only or not (Kafka 4's
//     controller treats it as a deadline already passed); a request that
//     would create more than 10000 partitions in all gets POLICY_VIOLATION
//     for every topic, as Kafka answers a request that exceeds its 10000
//     records per operation. A name given twice gets INVALID_REQUEST once;
//     __cluster_metadata INVALID_REQUEST.
//   - Then per topic, Kafka 4's controller's checks in its order: topic name
//     (INVALID_TOPIC_EXCEPTION), existence (TOPIC_ALREADY_EXISTS), null
//     config values and config validation (INVALID_CONFIG; gregor also
//     refuses remote.storage.enable=true, see
//     topic_config.go), manual assignments (INVALID_REQUEST unless both
//     counts are -1, then INVALID_REPLICA_ASSIGNMENT for bad ones, checked
//     against this broker group's live members), replication factor
//     (INVALID_REPLICATION_FACTOR for 0, < -1, or more than the members of
//     the smallest broker group with a live master, which the message names:
//     a partition's replicas are its group's members), partition count
//     (INVALID_PARTITIONS). -1 takes num.partitions /
//     default.replication.factor.
//   - validate_only runs every check and creates nothing; its result
//     carries a fresh topic id as Kafka's does.
//   - In a cluster the deciding broker of each topic (by a hash of its name)
//     runs these checks and places the partitions over the live master
//     groups; the others forward the topic to it. A slave forwards the
//     request to its master (slave_gate.go).
//
// Versions:
//   - v5+: results carry the partition count, replication factor and every
//     effective config (sensitive values null).
//   - v7: the topic id.

import (
	"context"
	"sort"
	"strings"

	"github.com/gregor-broker/gregor/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.CreateTopics, 2, 7, handleCreateTopics) }

// maxPartitionsPerRequest bounds the partitions one CreateTopics or
// CreatePartitions request makes (Kafka: MAX_RECORDS_PER_USER_OP).
const maxPartitionsPerRequest = 10000

// clusterMetadataTopic is KRaft's metadata log, which Kafka refuses to let a
// client create. __consumer_offsets may be created, as in Kafka (where it
// then exists before the first group uses it); gregor keeps group offsets in
// the store's own state, and the topic is internal (no produce).
const clusterMetadataTopic = "__cluster_metadata"

func handleCreateTopics(ctx context.Context, b *Broker, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.CreateTopicsRequest)
	resp := r.ResponseKind().(*kmsg.CreateTopicsResponse)
	count := map[string]int{}
	for _, t := range r.Topics {
		count[t.Topic]++
	}
	// Kafka refuses a request that would write more than 10000 metadata
	// records at once; gregor bounds the partitions a request creates.
	var total int64
	def := b.topics.Defaults()
	for _, rt := range r.Topics {
		switch {
		case len(rt.ReplicaAssignment) > 0:
			total += int64(len(rt.ReplicaAssignment))
		case rt.NumPartitions == -1:
			total += int64(def.NumPartitions)
		case rt.NumPartitions > 0:
			total += int64(rt.NumPartitions)
		}
	}
	answered := map[string]bool{}
	for i := range r.Topics {
		rt := &r.Topics[i]
		if answered[rt.Topic] {
			continue
		}
		answered[rt.Topic] = true
		res := kmsg.NewCreateTopicsResponseTopic()
		res.Topic = rt.Topic
		var err error
		switch {
		case r.TimeoutMillis <= 0:
			res.ErrorCode = kerr.RequestTimedOut.Code
		case total > maxPartitionsPerRequest:
			err = apiErrorf(kerr.PolicyViolation, "Unable to perform excessively large batch operation.")
		case count[rt.Topic] > 1:
			err = apiErrorf(kerr.InvalidRequest, "Duplicate topic name.")
		case rt.Topic == clusterMetadataTopic:
			err = apiErrorf(kerr.InvalidRequest, "Creation of internal topic %s is prohibited.", rt.Topic)
		default:
			err = b.createTopicInCluster(ctx, rt, r.TimeoutMillis, r.ValidateOnly, &res)
		}
		if err != nil {
			res.ErrorCode, res.ErrorMessage = errorCode(err), errorMessage(err)
		}
		resp.Topics = append(resp.Topics, res)
	}
	return resp, nil
}

// createTopic runs Kafka's checks for one topic and creates it unless
// validateOnly, filling res on success.
func (b *Broker) createTopic(rt *kmsg.CreateTopicsRequestTopic, validateOnly bool, res *kmsg.CreateTopicsResponseTopic) error {
	if err := validateTopicName(rt.Topic); err != nil {
		return err
	}
	if _, ok := b.topics.Get(rt.Topic); ok {
		return apiErrorf(kerr.TopicAlreadyExists, "Topic '%s' already exists.", rt.Topic)
	}
	configs := map[string]string{}
	var nulls []string
	for _, c := range rt.Configs {
		if c.Value == nil {
			nulls = append(nulls, c.Name)
			continue
		}
		configs[c.Name] = *c.Value // a repeated name: the last one wins, as in Kafka
	}
	if len(nulls) > 0 {
		return apiErrorf(kerr.InvalidConfig, "Null value not supported for topic configs: %s", strings.Join(nulls, ","))
	}
	if err := validateTopicConfigs(configs); err != nil {
		return err
	}
	brokers := b.groupBrokers()
	def := b.topics.Defaults()
	var partitions int32
	var rf int16
	switch {
	case len(rt.ReplicaAssignment) > 0:
		if rt.ReplicationFactor != -1 {
			return apiErrorf(kerr.InvalidRequest, "A manual partition assignment was specified, but replication factor was not set to -1.")
		}
		if rt.NumPartitions != -1 {
			return apiErrorf(kerr.InvalidRequest, "A manual partition assignment was specified, but numPartitions was not set to -1.")
		}
		seen := map[int32]bool{}
		want := -1
		for _, a := range rt.ReplicaAssignment {
			if seen[a.Partition] {
				return apiErrorf(kerr.InvalidReplicaAssignment, "Found multiple manual partition assignments for partition %d", a.Partition)
			}
			seen[a.Partition] = true
			if err := validateAssignment(a.Replicas, brokers, want); err != nil {
				return err
			}
			want = len(a.Replicas)
		}
		for p := int32(0); p < int32(len(seen)); p++ {
			if !seen[p] {
				return apiErrorf(kerr.InvalidReplicaAssignment, "partitions should be a consecutive 0-based integer sequence")
			}
		}
		partitions, rf = int32(len(seen)), int16(want)
	case rt.ReplicationFactor < -1 || rt.ReplicationFactor == 0:
		return apiErrorf(kerr.InvalidReplicationFactor, "Replication factor must be larger than 0, or -1 to use the default value.")
	case rt.NumPartitions < -1 || rt.NumPartitions == 0:
		return apiErrorf(kerr.InvalidPartitions, "Number of partitions was set to an invalid non-positive value.")
	default:
		partitions, rf = rt.NumPartitions, rt.ReplicationFactor
		if partitions == -1 {
			partitions = def.NumPartitions
		}
		if rf == -1 {
			rf = def.DefaultReplicationFactor
		}
		if most := b.maxReplicationFactor(); int(rf) > most {
			return apiErrorf(kerr.InvalidReplicationFactor, "Unable to replicate the partition %d time(s): The target replication factor of %d cannot be reached because only %d broker(s) are registered in the broker group it would be placed on (a partition's replicas are its group's members); the largest replication factor possible is %d.", rf, rf, most, most)
		}
	}
	tp, err := b.placeTopic(rt.Topic, partitions, configs, validateOnly)
	if err != nil {
		return err
	}
	res.TopicID = tp.ID
	res.NumPartitions = tp.Partitions
	res.ReplicationFactor = rf
	for _, cv := range effectiveTopicConfigs(tp.Configs, b.topics.synonyms()) {
		c := kmsg.NewCreateTopicsResponseTopicConfig()
		c.Name, c.Value, c.Source, c.IsSensitive, c.ReadOnly = cv.name, cv.value, int8(cv.source), cv.sensitive, cv.readOnly
		if cv.sensitive {
			c.Value = nil
		}
		res.Configs = append(res.Configs, c)
	}
	return nil
}

// groupBrokers returns the node ids of the brokers that can hold a replica
// of a new partition placed on this broker's group: its live members,
// sorted.
func (b *Broker) groupBrokers() []int32 {
	v := b.cl().currentView()
	var out []int32
	for _, m := range v.members[b.cfg.Cluster.BrokerName] {
		out = append(out, m.NodeID)
	}
	if len(out) == 0 {
		out = []int32{b.cfg.NodeID}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// maxReplicationFactor is the largest replication factor a new topic can
// have: a partition's replicas are its group's members, and placement may
// use every group with a live master, so the smallest such group decides.
func (b *Broker) maxReplicationFactor() int {
	v := b.cl().currentView()
	most := 0
	for i, g := range v.liveMasters() {
		if n := len(v.members[g]); i == 0 || n < most {
			most = n
		}
	}
	if most == 0 {
		most = len(b.groupBrokers())
	}
	return most
}

// validateAssignment checks one partition's manual replica list as Kafka's
// validateManualPartitionAssignment does; want is the replica count of the
// partitions before it (-1 when none).
func validateAssignment(replicas, brokers []int32, want int) error {
	if len(replicas) == 0 {
		return apiErrorf(kerr.InvalidReplicaAssignment, "The manual partition assignment includes an empty replica list.")
	}
	sorted := append([]int32(nil), replicas...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	for i, id := range sorted {
		known := false
		for _, b := range brokers {
			known = known || b == id
		}
		if !known {
			return apiErrorf(kerr.InvalidReplicaAssignment, "The manual partition assignment includes broker %d, but no such broker is registered.", id)
		}
		if i > 0 && sorted[i-1] == id {
			return apiErrorf(kerr.InvalidReplicaAssignment, "The manual partition assignment includes the broker %d more than once.", id)
		}
	}
	if want >= 0 && len(sorted) != want {
		return apiErrorf(kerr.InvalidReplicaAssignment, "The manual partition assignment includes a partition with %d replica(s), but this is not consistent with previous partitions, which have %d replica(s).", len(sorted), want)
	}
	return nil
}
