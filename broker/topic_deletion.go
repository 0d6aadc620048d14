package broker

// Topic deletion across the cluster: DeleteTopics removes a topic's share
// from every live broker group owning part of it.

import (
	"context"

	"github.com/gregor-broker/gregor/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// deleteTopicInCluster deletes a topic (by name, or by id when name is "")
// from every live group owning part of it: the others' shares through a
// DeleteTopics sent with interBrokerClientID, then this broker's own. A
// request that came from another broker (forwarded) deletes only the local
// share. A group that is down keeps its share until it returns (its
// partitions stay listed without a leader meanwhile).
func (b *Broker) deleteTopicInCluster(ctx context.Context, name string, id storage.TopicID, forwarded bool) (*Topic, error) {
	if forwarded {
		return b.topics.delete(name, id)
	}
	c := b.cl()
	lookup := func() *viewTopic {
		v := c.currentView()
		if name != "" {
			return v.byName[name]
		}
		return v.byID[id]
	}
	vt := lookup()
	if vt == nil {
		c.refreshNow() // perhaps created through another broker
		if vt = lookup(); vt == nil {
			return b.topics.delete(name, id) // Kafka's unknown-topic answers
		}
	}
	v := c.currentView()
	seen := map[string]bool{c.cfg.BrokerName: true}
	for _, g := range vt.Owners {
		if seen[g] || g == "" {
			continue
		}
		seen[g] = true
		master := v.masters[g]
		if master == nil {
			continue
		}
		req := kmsg.NewPtrDeleteTopicsRequest()
		req.TimeoutMillis = int32(interBrokerCallTimeout.Milliseconds())
		rt := kmsg.NewDeleteTopicsRequestTopic()
		rt.Topic = kmsg.StringPtr(vt.Name)
		req.Topics = []kmsg.DeleteTopicsRequestTopic{rt}
		req.TopicNames = []string{vt.Name}
		resp, err := c.send(ctx, master, req)
		if err != nil {
			return nil, apiErrorf(kerr.BrokerNotAvailable, "Deleting the share of %s on %s: %v", vt.Name, g, err)
		}
		r := resp.(*kmsg.DeleteTopicsResponse)
		if len(r.Topics) == 1 && r.Topics[0].ErrorCode != 0 && r.Topics[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
			return nil, apiErrorf(kerr.ErrorForCode(r.Topics[0].ErrorCode).(*kerr.Error), "Deleting the share of %s on %s", vt.Name, g)
		}
	}
	tp, err := b.topics.delete(vt.Name, storage.TopicID{})
	if err != nil && isCode(err, kerr.UnknownTopicOrPartition) {
		// This group owned none of it.
		tp, err = &Topic{Name: vt.Name, ID: vt.ID, Partitions: vt.Partitions}, nil
	}
	c.refreshNow()
	return tp, err
}
