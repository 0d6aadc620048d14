package broker

// Group coordination: which broker coordinates a group, as every group
// handler checks it.
//
// A group is coordinated by the live master of the broker group owning its
// __consumer_offsets partition (coordinator); a slave coordinates none
// (role.go). Each group handler asks validateGroup for every group it
// names before touching it, as kfake's group handlers call validateGroup:
// a group another broker coordinates gets NOT_COORDINATOR in its own
// answer, so the client looks the coordinator up again (Kafka's answer
// after a coordinator moved), while the groups coordinated here in the same
// request (DescribeGroups, DeleteGroups, OffsetFetch v8+) get their real
// answers.

import (
	"context"

	"github.com/gregor-broker/gregor/broker/group"
	"github.com/gregor-broker/gregor/nameserver"
	"github.com/gregor-broker/gregor/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"go.uber.org/zap"
)

// offsetsTopic is Kafka's group offsets topic; offsetsPartitions its fixed
// partition count (offsets.topic.num.partitions, never changed).
const (
	offsetsTopic      = "__consumer_offsets"
	offsetsPartitions = 50
)

// coordinator returns the live master coordinating groupID: the master of
// the broker group owning its __consumer_offsets partition
// (group.PartitionFor, the formula the coordinator files it under). When
// the topic does not exist yet and create is set, it is created, as Kafka
// creates it at the first FindCoordinator, and placed across the live master
// groups like any topic; the mapping then never changes, so a group's
// offsets stay with its coordinator when groups join later (they get no
// offsets partitions). With create, a partition no live group claims (its
// share was lost in a fail-over, placeLostOffsets) is placed again. Without
// create, a lone master coordinates every group. code is
// COORDINATOR_NOT_AVAILABLE when the owning group has no live master.
func (b *Broker) coordinator(ctx context.Context, groupID string, create bool) (*nameserver.Broker, int16) {
	return b.internalCoordinator(ctx, offsetsTopic, offsetsPartitions, groupID, create)
}

// internalCoordinator is coordinator for any key filed under a partition
// of an internal topic (group ids under __consumer_offsets, transactional
// ids under __transaction_state, txn_coordination.go): the live master
// owning partition group.PartitionFor(key), which is Kafka's partitionFor
// for both (Utils.abs(key.hashCode) % partitions).
func (b *Broker) internalCoordinator(ctx context.Context, topic string, partitions int32, key string, create bool) (*nameserver.Broker, int16) {
	v := b.cl().currentView()
	vt, ok := v.byName[topic]
	if !ok {
		if !create {
			if masters := v.liveMasters(); len(masters) <= 1 {
				return v.masters[b.cl().cfg.BrokerName], 0 // nil: a slave alone
			}
			return nil, kerr.CoordinatorNotAvailable.Code
		}
		if err := b.autoCreateTopic(ctx, topic, partitions); err != nil {
			b.log.Warn("creating "+topic, zap.Error(err))
			return nil, kerr.CoordinatorNotAvailable.Code
		}
		v = b.cl().currentView()
		if vt, ok = v.byName[topic]; !ok {
			return nil, kerr.CoordinatorNotAvailable.Code
		}
	}
	p := group.PartitionFor(key, vt.Partitions)
	owner, master := v.owner(vt, p)
	if owner == "" {
		// Only part of the placement is known yet (this broker's own
		// share came first): read the routes for the rest.
		b.cl().refreshNow()
		v = b.cl().currentView()
		if vt, ok = v.byName[topic]; !ok {
			return nil, kerr.CoordinatorNotAvailable.Code
		}
		owner, master = v.owner(vt, group.PartitionFor(key, vt.Partitions))
		if owner == "" && create {
			// No live group claims the partition: its share was lost
			// (placeLostOffsets). The decider places it again.
			if err := b.autoCreateTopic(ctx, topic, partitions); err != nil {
				b.log.Warn("placing the unowned partitions of "+topic, zap.Error(err))
				return nil, kerr.CoordinatorNotAvailable.Code
			}
			v = b.cl().currentView()
			if vt, ok = v.byName[topic]; !ok {
				return nil, kerr.CoordinatorNotAvailable.Code
			}
			_, master = v.owner(vt, group.PartitionFor(key, vt.Partitions))
		}
	}
	if master == nil {
		return nil, kerr.CoordinatorNotAvailable.Code
	}
	return master, 0
}

// coordinatorElsewhere returns the live master of another broker group
// when it coordinates groupID, nil when this broker does: on a single master,
// or when no coordinator is known yet (no __consumer_offsets, which the
// first FindCoordinator creates, or its owning group has no live master).
func (b *Broker) coordinatorElsewhere(ctx context.Context, groupID string) *nameserver.Broker {
	m, code := b.coordinator(ctx, groupID, false)
	if code != 0 || m == nil || b.cl().isSelf(m) {
		return nil
	}
	return m
}

// localGroups is the group coordinator running here: nil on a slave (or a
// master stepping down), which coordinates no group.
func (b *Broker) localGroups() *group.Coordinator {
	if !b.isMaster() {
		return nil
	}
	return b.groups
}

// validateGroup is the check each group handler makes for each group it
// names before touching it: the coordinator to answer with;
// NOT_COORDINATOR when this broker does not coordinate the group (a slave,
// a master stepping down, or another broker group's master does), so the
// client looks the coordinator up again; COORDINATOR_LOAD_IN_PROGRESS when
// it does but its coordinator is not running (it failed to start, which is
// logged), so the client retries here, as Kafka answers while it loads a
// partition's groups.
func (b *Broker) validateGroup(ctx context.Context, groupID string) (*group.Coordinator, int16) {
	if !b.isMaster() || b.coordinatorElsewhere(ctx, groupID) != nil {
		return nil, kerr.NotCoordinator.Code
	}
	g := b.localGroups()
	if g == nil {
		return nil, kerr.CoordinatorLoadInProgress.Code
	}
	return g, 0
}

// placeLostOffsets places again, on the decider (createTopicInCluster,
// under placeMu), the partitions of __consumer_offsets that no live broker
// group claims after a fresh route read. A group loses its share when its
// master wrote the share (FindCoordinator's creation) and died before a
// slave had it: the promoted slave never had it and the old master
// truncates it on return, while the group stays live, so the other brokers
// forget it as the owner (routes.go, remember) and nothing else would ever
// place those partitions again: their groups got COORDINATOR_NOT_AVAILABLE
// for good. No committed offset is lost by placing them again, anywhere:
// every offset committed under a lost share was written after the share in
// the same commit log and was truncated with it. Each goes to the live group
// with the fewest partitions, as placement does, which is normally the
// group that lost them. A topic that merely is not fully known yet (its
// creation in progress) is complete after the decider's own creation
// returned, which placeMu orders before this.
func (b *Broker) placeLostOffsets() error {
	if vt, ok := b.cl().currentView().byName[offsetsTopic]; !ok || vt.complete() {
		return nil
	}
	b.cl().refreshNow()
	v := b.cl().currentView()
	vt, ok := v.byName[offsetsTopic]
	if !ok || vt.complete() {
		return nil
	}
	counts := v.partitionCounts()
	names := v.liveMasters()
	shares := map[string][]int32{}
	for p, o := range vt.Owners {
		if o != "" {
			continue
		}
		best := ""
		for _, n := range names {
			if best == "" || counts[n] < counts[best] {
				best = n
			}
		}
		if best == "" {
			return apiErrorf(kerr.BrokerNotAvailable, "No live master group to place the partitions of %s on.", offsetsTopic)
		}
		shares[best] = append(shares[best], int32(p))
		counts[best]++
	}
	var configs map[string]string
	if local, ok := b.topics.Get(offsetsTopic); ok {
		configs = local.Configs
	}
	if _, err := b.applyShares(offsetsTopic, storage.TopicID(vt.ID), vt.Partitions, shares, configs); err != nil {
		return err
	}
	b.log.Warn("placed the partitions of __consumer_offsets that no live broker group claimed (a group lost its share in a fail-over)",
		zap.Any("groups", shares))
	return nil
}
