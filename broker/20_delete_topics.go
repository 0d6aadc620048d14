package broker

// DeleteTopics (key 20), versions 1–6 (Kafka 4 removed 0).
//
// Deletes topics; the checks and codes are Kafka 4's ControllerApis'.
//
// Behaviour:
//   - A name or id given twice gets INVALID_REQUEST once ("Duplicate topic
//     name." / "Duplicate topic id."); a name whose topic's id is also given
//     gets INVALID_REQUEST.
//   - An unknown name gets UNKNOWN_TOPIC_OR_PARTITION, an unknown id
//     UNKNOWN_TOPIC_ID.
//   - Deleting removes the topic's durable record first, then its
//     partitions from the store.
//   - A timeout of 0 or less gets REQUEST_TIMED_OUT for every entry and
//     deletes nothing, as in Kafka 4.
//   - In a cluster the topic is deleted from every live group owning part of
//     it (topic_deletion.go). A slave forwards the request to its master
//     (slave_gate.go).
//
// Versions:
//   - v5+: each entry carries an error message.
//   - v6: topics are named by name or by id; an entry with neither, or with
//     both, gets INVALID_REQUEST.

import (
	"context"

	"github.com/gregor-broker/gregor/protocol"
	"github.com/gregor-broker/gregor/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.DeleteTopics, 1, 6, handleDeleteTopics) }

func handleDeleteTopics(ctx context.Context, b *Broker, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.DeleteTopicsRequest)
	resp := r.ResponseKind().(*kmsg.DeleteTopicsResponse)
	// Another broker deleting its share of a topic spread over groups.
	forwarded := req.Header.ClientID != nil && *req.Header.ClientID == interBrokerClientID
	entries := r.Topics
	if r.Version < 6 {
		entries = nil
		for _, n := range r.TopicNames {
			entries = append(entries, kmsg.DeleteTopicsRequestTopic{Topic: kmsg.StringPtr(n)})
		}
	}
	nameCount := map[string]int{}
	idCount := map[storage.TopicID]int{}
	ids := map[storage.TopicID]bool{}
	for _, e := range entries {
		if e.Topic != nil && e.TopicID == (storage.TopicID{}) {
			nameCount[*e.Topic]++
		} else if e.Topic == nil && e.TopicID != (storage.TopicID{}) {
			idCount[e.TopicID]++
			ids[e.TopicID] = true
		}
	}
	add := func(name *string, id storage.TopicID, err error) {
		res := kmsg.NewDeleteTopicsResponseTopic()
		res.Topic, res.TopicID = name, id
		res.ErrorCode, res.ErrorMessage = errorCode(err), errorMessage(err)
		if r.Version < 5 {
			res.ErrorMessage = nil
		}
		resp.Topics = append(resp.Topics, res)
	}
	if r.TimeoutMillis <= 0 {
		// Kafka 4's controller treats it as a deadline already passed:
		// every entry times out and nothing is deleted.
		for _, e := range entries {
			add(e.Topic, e.TopicID, nil)
			resp.Topics[len(resp.Topics)-1].ErrorCode = kerr.RequestTimedOut.Code
		}
		return resp, nil
	}
	answeredName := map[string]bool{}
	answeredID := map[storage.TopicID]bool{}
	for _, e := range entries {
		switch {
		case e.Topic == nil && e.TopicID == (storage.TopicID{}):
			add(nil, e.TopicID, apiErrorf(kerr.InvalidRequest, "Neither topic name nor id were specified."))
		case e.Topic != nil && e.TopicID != (storage.TopicID{}):
			add(e.Topic, e.TopicID, apiErrorf(kerr.InvalidRequest, "You may not specify both topic name and topic id."))
		case e.Topic != nil:
			name := *e.Topic
			if answeredName[name] {
				continue
			}
			answeredName[name] = true
			if nameCount[name] > 1 {
				add(e.Topic, storage.TopicID{}, apiErrorf(kerr.InvalidRequest, "Duplicate topic name."))
				continue
			}
			if tp, ok := b.topics.Get(name); ok && ids[tp.ID] {
				add(e.Topic, tp.ID, apiErrorf(kerr.InvalidRequest, "The provided topic name maps to an ID that was already supplied."))
				continue
			}
			tp, err := b.deleteTopicInCluster(ctx, name, storage.TopicID{}, forwarded)
			var id storage.TopicID
			if tp != nil {
				id = tp.ID
			}
			add(e.Topic, id, err)
		default:
			if answeredID[e.TopicID] {
				continue
			}
			answeredID[e.TopicID] = true
			if idCount[e.TopicID] > 1 {
				add(nil, e.TopicID, apiErrorf(kerr.InvalidRequest, "Duplicate topic id."))
				continue
			}
			tp, err := b.deleteTopicInCluster(ctx, "", e.TopicID, forwarded)
			var name *string
			if tp != nil {
				name = kmsg.StringPtr(tp.Name)
			}
			add(name, e.TopicID, err)
		}
	}
	return resp, nil
}
