package broker

// Cluster-wide topic configs: DescribeConfigs, AlterConfigs and
// IncrementalAlterConfigs for topics other broker groups own part of. A
// topic this broker has none of is described by an owning group's master;
// an alteration applies on every live group owning part of the topic, each
// keeping the topic's configs with its share (clusterConfigs, called by
// Handle before the handlers, which answer for this broker alone).

import (
	"context"
	"fmt"

	"github.com/gregor-broker/gregor/nameserver"
	"github.com/gregor-broker/gregor/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// topicOwners returns the live masters of the groups owning partitions of
// topic, other than this broker's, and whether this broker's group owns
// some (or the topic is local).
func (b *Broker) topicOwners(topic string) (others []*nameserver.Broker, self bool) {
	_, self = b.topics.Get(topic)
	c := b.cl()
	v := c.currentView()
	vt := v.byName[topic]
	if vt == nil && !self {
		c.refreshNow() // perhaps created through another broker a moment ago
		v = c.currentView()
		vt = v.byName[topic]
	}
	if vt == nil {
		return nil, self
	}
	seen := map[string]bool{}
	for _, g := range vt.Owners {
		if g == "" || seen[g] {
			continue
		}
		seen[g] = true
		if g == c.cfg.BrokerName {
			self = true
			continue
		}
		if m := v.masters[g]; m != nil {
			others = append(others, m)
		}
	}
	return others, self
}

// clusterConfigs answers DescribeConfigs, AlterConfigs and
// IncrementalAlterConfigs whose topics live on other broker groups: a topic
// this broker has none of is described by an owning group's master, and an
// alteration applies on every live group owning part of the topic (each
// keeps the topic's configs with its share). It returns nil when the
// request concerns this broker alone, which answers it as a single node.
func (b *Broker) clusterConfigs(ctx context.Context, req *protocol.Request) kmsg.Response {
	if forwardedRequest(req) {
		return nil
	}
	switch r := req.Body.(type) {
	case *kmsg.DescribeConfigsRequest:
		return b.describeConfigsInCluster(ctx, req, r)
	case *kmsg.AlterConfigsRequest:
		return b.alterConfigsInCluster(ctx, req, len(r.Resources),
			func(i int) (string, bool) {
				return r.Resources[i].ResourceName, r.Resources[i].ResourceType == kmsg.ConfigResourceTypeTopic
			},
			func(i int) kmsg.Request {
				sub := *r
				sub.Resources = r.Resources[i : i+1]
				return &sub
			})
	case *kmsg.IncrementalAlterConfigsRequest:
		return b.alterConfigsInCluster(ctx, req, len(r.Resources),
			func(i int) (string, bool) {
				return r.Resources[i].ResourceName, r.Resources[i].ResourceType == kmsg.ConfigResourceTypeTopic
			},
			func(i int) kmsg.Request {
				sub := *r
				sub.Resources = r.Resources[i : i+1]
				return &sub
			})
	}
	return nil
}

// alterConfigsInCluster answers an AlterConfigs or IncrementalAlterConfigs
// request of n resources here, then sends each topic resource (one(i) is
// the request narrowed to resource i) to every other live group owning part
// of that topic. A resource's answer is the first failure anywhere; a topic
// this broker has none of succeeds when its owners do. nil when no resource
// lives elsewhere.
func (b *Broker) alterConfigsInCluster(ctx context.Context, req *protocol.Request, n int,
	topic func(i int) (name string, ok bool), one func(i int) kmsg.Request) kmsg.Response {
	owners := make([][]*nameserver.Broker, n)
	remote := false
	for i := range n {
		if name, ok := topic(i); ok {
			owners[i], _ = b.topicOwners(name)
			remote = remote || len(owners[i]) > 0
		}
	}
	if !remote {
		return nil
	}
	resp, err := apis[req.Header.Key].fn(ctx, b, req)
	if err != nil {
		return nil
	}
	for i := range n {
		code, msg := configResult(resp, i)
		if code == nil {
			continue
		}
		for _, m := range owners[i] {
			c, mm := b.sendConfigs(ctx, m, one(i))
			switch {
			case c != 0 && (*code == 0 || *code == kerr.UnknownTopicOrPartition.Code):
				*code, *msg = c, mm
			case c == 0 && *code == kerr.UnknownTopicOrPartition.Code:
				*code, *msg = 0, nil // none of it here
			}
		}
	}
	return resp
}

// configResult points at resource i's error code and message in an
// (Incremental)AlterConfigs response; nil when it has no such resource.
func configResult(resp kmsg.Response, i int) (*int16, **string) {
	switch r := resp.(type) {
	case *kmsg.AlterConfigsResponse:
		if i < len(r.Resources) {
			return &r.Resources[i].ErrorCode, &r.Resources[i].ErrorMessage
		}
	case *kmsg.IncrementalAlterConfigsResponse:
		if i < len(r.Resources) {
			return &r.Resources[i].ErrorCode, &r.Resources[i].ErrorMessage
		}
	}
	return nil, nil
}

// sendConfigs sends a one-resource alteration to another group's master
// and returns its error code and message.
func (b *Broker) sendConfigs(ctx context.Context, m *nameserver.Broker, req kmsg.Request) (int16, *string) {
	resp, err := b.cl().send(ctx, m, req)
	if err != nil {
		return kerr.BrokerNotAvailable.Code, kmsg.StringPtr(fmt.Sprintf("altering configs on %s: %v", m.BrokerName, err))
	}
	switch r := resp.(type) {
	case *kmsg.AlterConfigsResponse:
		if len(r.Resources) == 1 {
			return r.Resources[0].ErrorCode, r.Resources[0].ErrorMessage
		}
	case *kmsg.IncrementalAlterConfigsResponse:
		if len(r.Resources) == 1 {
			return r.Resources[0].ErrorCode, r.Resources[0].ErrorMessage
		}
	}
	return kerr.UnknownServerError.Code, kmsg.StringPtr("unexpected answer from " + m.BrokerName)
}

// describeConfigsInCluster describes topics this broker has none of
// through an owning group's master, the rest here, in request order.
func (b *Broker) describeConfigsInCluster(ctx context.Context, req *protocol.Request, r *kmsg.DescribeConfigsRequest) kmsg.Response {
	via := make([]*nameserver.Broker, len(r.Resources))
	remote := false
	for i, rr := range r.Resources {
		if rr.ResourceType != kmsg.ConfigResourceTypeTopic {
			continue
		}
		if others, self := b.topicOwners(rr.ResourceName); !self && len(others) > 0 {
			via[i], remote = others[0], true
		}
	}
	if !remote {
		return nil
	}
	out := r.ResponseKind().(*kmsg.DescribeConfigsResponse)
	for i := range r.Resources {
		sub := *r
		sub.Resources = r.Resources[i : i+1]
		var res []kmsg.DescribeConfigsResponseResource
		if via[i] == nil {
			resp, err := apis[req.Header.Key].fn(ctx, b, &protocol.Request{Header: req.Header, Body: &sub, Conn: req.Conn})
			if err == nil {
				res = resp.(*kmsg.DescribeConfigsResponse).Resources
			}
		} else if resp, err := b.cl().send(ctx, via[i], &sub); err == nil {
			res = resp.(*kmsg.DescribeConfigsResponse).Resources
		}
		if len(res) != 1 {
			fail := kmsg.NewDescribeConfigsResponseResource()
			fail.ResourceType, fail.ResourceName = r.Resources[i].ResourceType, r.Resources[i].ResourceName
			fail.ErrorCode = kerr.BrokerNotAvailable.Code
			res = []kmsg.DescribeConfigsResponseResource{fail}
		}
		out.Resources = append(out.Resources, res[0])
	}
	return out
}
