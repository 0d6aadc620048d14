package broker

// Topic placement: which broker group owns each partition.
//
// One broker decides for each topic: the live master picked by a hash of the
// topic name over the sorted names of the groups with a live master. Every
// other broker forwards CreateTopics, CreatePartitions and auto-creation to
// it over the Kafka protocol, so two creations of one name through
// different brokers meet on one broker, which serialises them (placeMu).
//
// The decider spreads the new partitions over the live master groups,
// each to the group owning the fewest partitions so far (ties by name), and
// tells every owning group its share with a CreateTopics request whose
// gregor-internal config gregor.internal.placement carries the topic id,
// the total partition count and the partitions that group owns. The
// receiving broker strips that config, creates its partitions and keeps the
// placement durably in its topic record (Topic.Owned), then registers with
// the NameServers at once. Placement is thus recorded explicitly where the
// data lives, never derived from a broker list at read time.
//
// A creation that fails on one group after succeeding on others leaves the
// partitions made so far; the error goes back to the client. A CreatePartitions
// that adds partitions to a group not owning any of the topic yet sends that
// group the configs the decider knows (its own copy of the topic, if any).

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"maps"
	"net"
	"slices"
	"strconv"

	"github.com/google/uuid"
	"github.com/gregor-broker/gregor/nameserver"
	"github.com/gregor-broker/gregor/protocol"
	"github.com/gregor-broker/gregor/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
)

// placementConfig is the gregor-internal topic config carrying a placement
// from the deciding broker to an owning group. Frozen.
const placementConfig = "gregor.internal.placement"

// offsetsTopic is Kafka's group offsets topic; offsetsPartitions its fixed
// partition count (offsets.topic.num.partitions, never changed).
const (
	offsetsTopic      = "__consumer_offsets"
	offsetsPartitions = 50
)

// interBrokerClientID is the client id of requests one broker sends
// another; a DeleteTopics carrying it deletes only the receiver's share.
const interBrokerClientID = "gregor.inter-broker"

// placementSpec is the JSON value of placementConfig.
type placementSpec struct {
	ID         string  `json:"id"`
	Partitions int32   `json:"partitions"`
	Owned      []int32 `json:"owned"`
}

// decider returns the live master that decides placements for topic.
func (v *view) decider(topic string) *nameserver.Broker {
	masters := v.liveMasters()
	if len(masters) == 0 {
		return nil
	}
	h := fnv.New32a()
	h.Write([]byte(topic))
	return v.masters[masters[h.Sum32()%uint32(len(masters))]]
}

// place assigns partitions [from, to) to the live master groups, each to
// the group with the fewest partitions so far, ties by name.
func (v *view) place(from, to int32) map[string][]int32 {
	counts := v.partitionCounts()
	names := v.liveMasters()
	out := map[string][]int32{}
	for p := from; p < to; p++ {
		best := ""
		for _, n := range names {
			if best == "" || counts[n] < counts[best] {
				best = n
			}
		}
		if best == "" {
			break
		}
		out[best] = append(out[best], p)
		counts[best]++
	}
	return out
}

// createTopicInCluster creates one topic of a CreateTopics request: applies
// a placement sent by the deciding broker, forwards to the decider, or,
// on the decider, validates and places the topic. res is filled on success.
func (b *Broker) createTopicInCluster(ctx context.Context, rt *kmsg.CreateTopicsRequestTopic, timeoutMs int32, validateOnly bool, res *kmsg.CreateTopicsResponseTopic) error {
	if spec, ok, err := takePlacement(rt); ok {
		if err != nil {
			return err
		}
		return b.applyPlacement(rt, spec, validateOnly, res)
	}
	v := b.cl().currentView()
	if d := v.decider(rt.Topic); d != nil && !b.cl().isSelf(d) && !isForwarded(ctx) {
		return b.forwardCreateTopic(ctx, d, rt, timeoutMs, validateOnly, res)
	}
	b.cl().placeMu.Lock()
	defer b.cl().placeMu.Unlock()
	return b.createTopic(rt, validateOnly, res)
}

// takePlacement removes gregor.internal.placement from rt's configs and
// parses it; ok says whether it was there.
func takePlacement(rt *kmsg.CreateTopicsRequestTopic) (spec placementSpec, ok bool, err error) {
	i := slices.IndexFunc(rt.Configs, func(c kmsg.CreateTopicsRequestTopicConfig) bool { return c.Name == placementConfig })
	if i < 0 {
		return spec, false, nil
	}
	c := rt.Configs[i]
	rt.Configs = slices.Delete(slices.Clone(rt.Configs), i, i+1)
	if c.Value == nil || json.Unmarshal([]byte(*c.Value), &spec) != nil || spec.Partitions <= 0 {
		return spec, true, apiErrorf(kerr.InvalidConfig, "Invalid value for %s.", placementConfig)
	}
	if _, err := uuid.Parse(spec.ID); err != nil {
		return spec, true, apiErrorf(kerr.InvalidConfig, "Invalid topic id in %s.", placementConfig)
	}
	for _, p := range spec.Owned {
		if p < 0 || p >= spec.Partitions {
			return spec, true, apiErrorf(kerr.InvalidConfig, "Partition %d out of range in %s.", p, placementConfig)
		}
	}
	return spec, true, nil
}

// applyPlacement creates (or grows) the local share of a topic placed by
// the deciding broker and registers it at once, so the decider's next route
// read sees it.
func (b *Broker) applyPlacement(rt *kmsg.CreateTopicsRequestTopic, spec placementSpec, validateOnly bool, res *kmsg.CreateTopicsResponseTopic) error {
	configs := map[string]string{}
	for _, c := range rt.Configs {
		if c.Value != nil {
			configs[c.Name] = *c.Value
		}
	}
	if err := validateTopicName(rt.Topic); err != nil {
		return err
	}
	if err := validateTopicConfigs(configs); err != nil {
		return err
	}
	if validateOnly {
		return nil
	}
	id := uuid.MustParse(spec.ID)
	tp, err := b.topics.createPlaced(rt.Topic, storage.TopicID(id), spec.Partitions, spec.Owned, configs)
	if err != nil {
		return err
	}
	b.cl().version.Add(1)
	b.cl().registerNow()
	res.TopicID = tp.ID
	res.NumPartitions = tp.Partitions
	res.ReplicationFactor = int16(len(b.groupBrokers()))
	return nil
}

// placeTopic is the decider's creation of a validated topic (under placeMu):
// it refuses a name the cluster already has, places the partitions and has
// every owning group create its share. validateOnly only returns the
// snapshot a creation would make.
func (b *Broker) placeTopic(name string, n int32, configs map[string]string, validateOnly bool) (*Topic, error) {
	v := b.cl().currentView()
	if _, ok := v.byName[name]; ok {
		return nil, apiErrorf(kerr.TopicAlreadyExists, "Topic '%s' already exists.", name)
	}
	if _, ok := b.cl().decided[name]; ok {
		b.cl().refreshNow()
		if _, ok := b.cl().currentView().byName[name]; ok {
			return nil, apiErrorf(kerr.TopicAlreadyExists, "Topic '%s' already exists.", name)
		}
	}
	if validateOnly {
		return b.topics.create(name, n, configs, true)
	}
	if !b.cl().isMaster() {
		// A slave only forwards; it decides nothing.
		return nil, apiErrorf(kerr.NotController, "No live master broker to create topic '%s' on.", name)
	}
	id := storage.TopicID(uuid.New())
	shares := v.place(0, n)
	if len(shares) == 0 {
		shares = map[string][]int32{b.cl().cfg.BrokerName: allPartitions(0, n)}
	}
	tp, err := b.applyShares(name, id, n, shares, configs)
	if err != nil {
		return nil, err
	}
	b.cl().decided[name] = id
	b.log.Info("topic placed", zap.String("topic", name), zap.Int32("partitions", n), zap.Any("groups", shares))
	return tp, nil
}

// applyShares has every group in shares create (or grow to n partitions)
// its share of topic name, this broker's own first, and returns the topic
// as this broker knows it (an unregistered snapshot when it owns none).
func (b *Broker) applyShares(name string, id storage.TopicID, n int32, shares map[string][]int32, configs map[string]string) (*Topic, error) {
	v := b.cl().currentView()
	var tp *Topic
	if own, ok := shares[b.cl().cfg.BrokerName]; ok {
		var err error
		if tp, err = b.topics.createPlaced(name, id, n, own, configs); err != nil {
			return nil, err
		}
		b.cl().version.Add(1)
		b.cl().registerNow()
	}
	groups := slices.Sorted(maps.Keys(shares))
	for _, g := range groups {
		if g == b.cl().cfg.BrokerName {
			continue
		}
		master := v.masters[g]
		if master == nil {
			return nil, apiErrorf(kerr.BrokerNotAvailable, "Broker group %s has no live master.", g)
		}
		if err := b.sendPlacement(master, name, id, n, shares[g], configs); err != nil {
			return nil, err
		}
	}
	b.cl().refreshNow()
	if tp == nil {
		tp = b.topics.snapshot(name, id, n, configs)
		tp.Owned = []int32{}
	}
	return tp, nil
}

// sendPlacement tells the master of another group to create its share.
func (b *Broker) sendPlacement(master *nameserver.Broker, name string, id storage.TopicID, n int32, owned []int32, configs map[string]string) error {
	spec, _ := json.Marshal(placementSpec{ID: uuid.UUID(id).String(), Partitions: n, Owned: owned})
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = int32(interBrokerCallTimeout.Milliseconds())
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, -1, -1
	for _, k := range slices.Sorted(maps.Keys(configs)) {
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = k, kmsg.StringPtr(configs[k])
		rt.Configs = append(rt.Configs, c)
	}
	c := kmsg.NewCreateTopicsRequestTopicConfig()
	c.Name, c.Value = placementConfig, kmsg.StringPtr(string(spec))
	rt.Configs = append(rt.Configs, c)
	req.Topics = []kmsg.CreateTopicsRequestTopic{rt}
	resp, err := b.cl().send(context.Background(), master, req)
	if err != nil {
		return apiErrorf(kerr.BrokerNotAvailable, "Placing partitions of %s on %s: %v", name, master.BrokerName, err)
	}
	r := resp.(*kmsg.CreateTopicsResponse)
	if len(r.Topics) != 1 {
		return apiErrorf(kerr.UnknownServerError, "Placing partitions of %s on %s: %d results", name, master.BrokerName, len(r.Topics))
	}
	if code := r.Topics[0].ErrorCode; code != 0 {
		msg := ""
		if r.Topics[0].ErrorMessage != nil {
			msg = *r.Topics[0].ErrorMessage
		}
		return apiErrorf(kerr.ErrorForCode(code).(*kerr.Error), "Placing partitions of %s on %s: %s", name, master.BrokerName, msg)
	}
	return nil
}

// forwardCreateTopic sends one topic's creation to the deciding broker and
// copies its answer into res.
func (b *Broker) forwardCreateTopic(ctx context.Context, d *nameserver.Broker, rt *kmsg.CreateTopicsRequestTopic, timeoutMs int32, validateOnly bool, res *kmsg.CreateTopicsResponseTopic) error {
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = timeoutMs
	req.ValidateOnly = validateOnly
	req.Topics = []kmsg.CreateTopicsRequestTopic{*rt}
	resp, err := b.cl().send(ctx, d, req)
	if err != nil {
		return apiErrorf(kerr.NotController, "Forwarding the creation of %s to %s: %v", rt.Topic, d.BrokerName, err)
	}
	r := resp.(*kmsg.CreateTopicsResponse)
	if len(r.Topics) != 1 {
		return apiErrorf(kerr.UnknownServerError, "Forwarding the creation of %s: %d results", rt.Topic, len(r.Topics))
	}
	*res = r.Topics[0]
	if !validateOnly {
		b.cl().refreshNow() // created, or created meanwhile by someone else
	}
	return nil
}

// growTopic adds partitions to a topic, on the decider or forwarded to it.
func (b *Broker) growTopic(ctx context.Context, name string, count, timeoutMs int32, validateOnly bool) error {
	v := b.cl().currentView()
	if d := v.decider(name); d != nil && !b.cl().isSelf(d) && !isForwarded(ctx) {
		req := kmsg.NewPtrCreatePartitionsRequest()
		req.TimeoutMillis, req.ValidateOnly = timeoutMs, validateOnly
		rt := kmsg.NewCreatePartitionsRequestTopic()
		rt.Topic, rt.Count = name, count
		req.Topics = []kmsg.CreatePartitionsRequestTopic{rt}
		resp, err := b.cl().send(ctx, d, req)
		if err != nil {
			return apiErrorf(kerr.NotController, "Forwarding partitions of %s to %s: %v", name, d.BrokerName, err)
		}
		r := resp.(*kmsg.CreatePartitionsResponse)
		if len(r.Topics) != 1 {
			return apiErrorf(kerr.UnknownServerError, "Forwarding partitions of %s: %d results", name, len(r.Topics))
		}
		if code := r.Topics[0].ErrorCode; code != 0 {
			msg := ""
			if r.Topics[0].ErrorMessage != nil {
				msg = *r.Topics[0].ErrorMessage
			}
			return apiErrorf(kerr.ErrorForCode(code).(*kerr.Error), "%s", msg)
		}
		if !validateOnly {
			b.cl().refreshNow()
		}
		return nil
	}
	b.cl().placeMu.Lock()
	defer b.cl().placeMu.Unlock()
	v = b.cl().currentView()
	vt, ok := v.byName[name]
	if !ok {
		return apiErrorf(kerr.UnknownTopicOrPartition, "This server does not host this topic-partition.")
	}
	switch {
	case count < vt.Partitions:
		return apiErrorf(kerr.InvalidPartitions, "The topic %s currently has %d partition(s); %d would not be an increase.", name, vt.Partitions, count)
	case count == vt.Partitions:
		return apiErrorf(kerr.InvalidPartitions, "Topic already has %d partition(s).", count)
	case count > maxPartitionsPerTopic:
		return apiErrorf(kerr.InvalidPartitions, "Number of partitions %d is larger than gregor's limit of %d per topic.", count, maxPartitionsPerTopic)
	}
	if validateOnly {
		return nil
	}
	shares := v.place(vt.Partitions, count)
	// Every group owning part of the topic learns the new total too.
	for p, g := range vt.Owners {
		if g != "" && v.masters[g] != nil {
			shares[g] = append(shares[g], int32(p))
		}
	}
	for g := range shares {
		slices.Sort(shares[g])
	}
	var configs map[string]string
	if local, ok := b.topics.Get(name); ok {
		configs = local.Configs
	}
	_, err := b.applyShares(name, vt.ID, count, shares, configs)
	if err == nil {
		b.log.Info("partitions placed", zap.String("topic", name), zap.Int32("from", vt.Partitions), zap.Int32("to", count))
	}
	return err
}

// autoCreateTopic creates a topic a client asked for (Metadata with
// auto-creation) through the cluster's creation path, with partitions
// partitions (0: num.partitions).
// A topic created meanwhile by someone else is no error.
func (b *Broker) autoCreateTopic(ctx context.Context, name string, partitions int32) error {
	rt := kmsg.NewCreateTopicsRequestTopic()
	if partitions <= 0 {
		partitions = -1 // num.partitions
	}
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, partitions, -1
	res := kmsg.NewCreateTopicsResponseTopic()
	err := b.createTopicInCluster(ctx, &rt, int32(interBrokerCallTimeout.Milliseconds()), false, &res)
	if err == nil && res.ErrorCode != 0 {
		err = kerr.ErrorForCode(res.ErrorCode)
	}
	if err != nil && !isCode(err, kerr.TopicAlreadyExists) {
		return err
	}
	return nil
}

// createPlaced creates topic name with the given id and total partition
// count, owning the partitions listed (this group's share), or grows the
// existing topic of that id to n partitions and adds owned to its share.
func (t *Topics) createPlaced(name string, id storage.TopicID, n int32, owned []int32, configs map[string]string) (*Topic, error) {
	if err := validateTopicName(name); err != nil {
		return nil, err
	}
	if n <= 0 || n > maxPartitionsPerTopic {
		return nil, apiErrorf(kerr.InvalidPartitions, "Number of partitions %d is out of range.", n)
	}
	t.admin.Lock()
	defer t.admin.Unlock()
	share := slices.Clone(owned)
	from := int32(0)
	if old, ok := t.Get(name); ok {
		if old.ID != id {
			return nil, apiErrorf(kerr.TopicAlreadyExists, "Topic '%s' already exists.", name)
		}
		configs = old.Configs
		share = append(share, ownedPartitions(old)...)
		n = max(n, old.Partitions)
	}
	slices.Sort(share)
	share = slices.Compact(share)
	tp := t.snapshot(name, id, n, maps.Clone(configs))
	tp.Owned = share
	if err := t.ensurePartitions(tp, from); err != nil {
		return nil, err
	}
	if err := t.persist(tp); err != nil {
		return nil, err
	}
	t.swap(tp)
	t.changed()
	t.logger().Info("topic share created", zap.String("topic", name), zap.Int32("partitions", n), zap.Int32s("owned", share))
	return tp, nil
}

// allPartitions lists partitions [from, to).
func allPartitions(from, to int32) []int32 {
	out := make([]int32, 0, to-from)
	for p := from; p < to; p++ {
		out = append(out, p)
	}
	return out
}

// send issues req to another broker over the Kafka protocol and returns its
// response. One client is kept per address.
func (c *cluster) send(ctx context.Context, to *nameserver.Broker, req kmsg.Request) (kmsg.Response, error) {
	host, port, ok := endpoint(to, c.b.cfg.Listeners[0].Name)
	if !ok {
		return nil, fmt.Errorf("broker %s/%d advertises no listener", to.BrokerName, to.BrokerID)
	}
	addr := net.JoinHostPort(host, strconv.Itoa(int(port)))
	c.peersMu.Lock()
	cl := c.peers[addr]
	if cl == nil {
		var err error
		cl, err = kgo.NewClient(kgo.SeedBrokers(addr), kgo.ClientID(interBrokerClientID))
		if err != nil {
			c.peersMu.Unlock()
			return nil, err
		}
		c.peers[addr] = cl
	}
	c.peersMu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, interBrokerCallTimeout)
	defer cancel()
	seeds := cl.SeedBrokers()
	if len(seeds) == 0 {
		return nil, fmt.Errorf("no connection to %s", addr)
	}
	return seeds[0].Request(ctx, req)
}

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

// forwardedRequest reports whether req came from another broker of the
// cluster (interBrokerClientID): it applies to this broker's share only.
func forwardedRequest(req *protocol.Request) bool {
	return req.Header.ClientID != nil && *req.Header.ClientID == interBrokerClientID
}

type forwardedKey struct{}

// markForwarded notes in ctx that req came from another broker, so the
// handlers never forward it again: two brokers whose views disagree on the
// decider for a moment (a group expiring) must not pass a creation back and
// forth; the second one decides.
func markForwarded(ctx context.Context, req *protocol.Request) context.Context {
	if !forwardedRequest(req) {
		return ctx
	}
	return context.WithValue(ctx, forwardedKey{}, true)
}

// isForwarded reports whether ctx belongs to a request from another broker.
func isForwarded(ctx context.Context) bool {
	v, _ := ctx.Value(forwardedKey{}).(bool)
	return v
}

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

// sendConfigs sends a one-resource alteration to another group's master
// and returns its error code and message.
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
