package broker

// CreatePartitions (key 37), versions 0–3.
//
// Behaviour:
//   - Every requested topic is echoed in the response (clients match
//     results by name and some wait for each).
//   - As Kafka 4: a name given twice gets INVALID_REQUEST once; an unknown
//     topic UNKNOWN_TOPIC_OR_PARTITION; a count equal to or below the
//     current one INVALID_PARTITIONS with Kafka's messages; an assignment
//     list whose length is not the number of new partitions, or naming
//     unknown brokers, INVALID_REPLICA_ASSIGNMENT.
//   - validate_only checks without creating.
//   - A timeout of 0 or less gets REQUEST_TIMED_OUT and changes nothing, as
//     in Kafka 4.
//   - More than 10000 new partitions in one request get POLICY_VIOLATION for
//     every topic (see CreateTopics).
//   - In a cluster the topic's deciding broker places the new partitions
//     over the live master groups; the others forward to it (placement.go).
//     A slave forwards the request to its master (slave_gate.go).
//
// Versions: the handler has no version-specific behaviour (later versions
// change the encoding only).

import (
	"context"

	"github.com/gregor-broker/gregor/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.CreatePartitions, 0, 3, handleCreatePartitions) }

func handleCreatePartitions(ctx context.Context, b *Broker, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.CreatePartitionsRequest)
	resp := r.ResponseKind().(*kmsg.CreatePartitionsResponse)
	count := map[string]int{}
	for _, t := range r.Topics {
		count[t.Topic]++
	}
	var total int64
	for _, rt := range r.Topics {
		if tp, ok := b.topics.Get(rt.Topic); ok && rt.Count > tp.Partitions {
			total += int64(rt.Count - tp.Partitions)
		}
	}
	answered := map[string]bool{}
	for i := range r.Topics {
		rt := &r.Topics[i]
		if answered[rt.Topic] {
			continue
		}
		answered[rt.Topic] = true
		res := kmsg.NewCreatePartitionsResponseTopic()
		res.Topic = rt.Topic
		var err error
		if r.TimeoutMillis <= 0 {
			err = apiErrorf(kerr.RequestTimedOut, "")
		} else if total > maxPartitionsPerRequest {
			err = apiErrorf(kerr.PolicyViolation, "Unable to perform excessively large batch operation.")
		} else if count[rt.Topic] > 1 {
			err = apiErrorf(kerr.InvalidRequest, "Duplicate topic name.")
		} else {
			err = b.createPartitions(ctx, rt, r.TimeoutMillis, r.ValidateOnly)
		}
		res.ErrorCode, res.ErrorMessage = errorCode(err), errorMessage(err)
		if err != nil && (res.ErrorCode == kerr.UnknownTopicOrPartition.Code || res.ErrorCode == kerr.RequestTimedOut.Code) {
			res.ErrorMessage = nil // Kafka sends none for these
		}
		resp.Topics = append(resp.Topics, res)
	}
	return resp, nil
}

func (b *Broker) createPartitions(ctx context.Context, rt *kmsg.CreatePartitionsRequestTopic, timeoutMs int32, validateOnly bool) error {
	tp, ok := b.cl().currentView().byName[rt.Topic]
	if !ok {
		b.cl().refreshNow() // perhaps created through another broker
		tp, ok = b.cl().currentView().byName[rt.Topic]
	}
	if !ok {
		return apiErrorf(kerr.UnknownTopicOrPartition, "This server does not host this topic-partition.")
	}
	if rt.Count > tp.Partitions && rt.Assignment != nil {
		additional := rt.Count - tp.Partitions
		if int32(len(rt.Assignment)) != additional {
			return apiErrorf(kerr.InvalidReplicaAssignment, "Attempted to add %d additional partition(s), but only %d assignment(s) were specified.", additional, len(rt.Assignment))
		}
		brokers := b.groupBrokers()
		for _, a := range rt.Assignment {
			// Existing partitions have one replica per group member.
			if err := validateAssignment(a.Replicas, brokers, len(brokers)); err != nil {
				return err
			}
		}
	}
	// The deciding broker places the new partitions over the live groups
	// (placement.go).
	return b.growTopic(ctx, rt.Topic, rt.Count, timeoutMs, validateOnly)
}
