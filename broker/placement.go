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
	"hash/fnv"
	"maps"
	"slices"

	"github.com/google/uuid"
	"github.com/gregor-broker/gregor/nameserver"
	"github.com/gregor-broker/gregor/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
)

// placementConfig is the gregor-internal topic config carrying a placement
// from the deciding broker to an owning group. Frozen.
const placementConfig = "gregor.internal.placement"

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
	if rt.Topic == offsetsTopic && !validateOnly {
		if err := b.placeLostOffsets(); err != nil {
			return err
		}
	}
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
	if name == offsetsTopic {
		rt.Configs = offsetsTopicConfigs()
	}
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

// offsetsTopicConfigs are the configs __consumer_offsets is created with,
// Kafka's (GroupCoordinatorService.groupMetadataTopicConfigs, with the
// default offsets.topic.segment.bytes), so kafka-topics describes the same.
// gregor keeps committed offsets in its commit log's key/value entries, not
// in the topic's partitions: compaction has nothing to compact there, and
// segment.bytes is accepted without effect as on any topic.
func offsetsTopicConfigs() []kmsg.CreateTopicsRequestTopicConfig {
	var out []kmsg.CreateTopicsRequestTopicConfig
	for _, kv := range [][2]string{{"cleanup.policy", "compact"}, {"compression.type", "producer"}, {"segment.bytes", "104857600"}} {
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = kv[0], kmsg.StringPtr(kv[1])
		out = append(out, c)
	}
	return out
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
