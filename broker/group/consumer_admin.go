package group

// Consumer groups (KIP-848) seen by the other group APIs: ConsumerGroupDescribe,
// the classic JoinGroup meeting a consumer group, and the member-epoch checks
// of OffsetCommit (v9+), TxnOffsetCommit and OffsetFetch (v9+).

import (
	"fmt"
	"sort"

	"github.com/gregor-broker/gregor/broker/internal/kafkaerr"
	"github.com/gregor-broker/gregor/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
)

// asClassicGroup readies g for a classic JoinGroup: an empty consumer group
// becomes a classic group (its consumer state is deleted, its offsets
// stay), as Kafka converts it. A consumer group with members takes the
// joining member in as a classic member (g.join, consumer_migrate.go).
func (g *group) asClassicGroup() *kerr.Error {
	if g.cg == nil {
		return nil
	}
	if err := g.c.persist(g.id, storage.KV{Key: consumerGroupKey(g.id)}); err != nil {
		return kerr.ErrorForCode(kafkaerr.Coordinator(err)).(*kerr.Error)
	}
	g.c.log.Info("empty consumer group converted to a classic group", zap.String("group", g.id))
	g.cg = nil
	g.protocolType, g.protocol, g.leader, g.generation = "", "", "", 0
	g.setState(stateEmpty)
	return nil
}

// consumerCommitCheck is Kafka 4.4's ConsumerGroup.validateOffsetCommit:
// with a negative epoch and no members anyone may commit (admin clients);
// otherwise the member must exist (UNKNOWN_MEMBER_ID), a non-transactional
// commit must be OffsetCommit v9+ (UNSUPPORTED_VERSION), and the epoch must
// be the member's, or (KIP-1251) an older one for the partitions the
// member has owned since that epoch: partOK, when not nil, says which
// partitions (the others get STALE_MEMBER_EPOCH). An epoch above the
// member's is STALE_MEMBER_EPOCH.
func (g *group) consumerCommitCheck(memberID string, epoch int32, transactional bool, version int16) (err *kerr.Error, partOK func(topic [16]byte, p int32) bool) {
	cg := g.cg
	if epoch < 0 && len(cg.members) == 0 {
		return nil, nil
	}
	m := cg.members[memberID]
	if m == nil {
		return kerr.UnknownMemberID, nil
	}
	if m.classic != nil {
		// A classic member commits with its generation, its member epoch.
		if epoch != m.epoch {
			return kerr.IllegalGeneration, nil
		}
		return nil, nil
	}
	if !transactional && version < 9 {
		return kerr.UnsupportedVersion, nil
	}
	switch {
	case epoch == m.epoch:
		return nil, nil
	case epoch > m.epoch || epoch < 0:
		return kerr.StaleMemberEpoch, nil
	}
	return nil, func(t [16]byte, p int32) bool {
		at, ok := m.assignedAt[t][p]
		return ok && at <= epoch && (m.assigned.has(t, p) || m.revoking.has(t, p))
	}
}

// ValidateOffsetFetch is the member check of an OffsetFetch v9+ (Kafka's
// ConsumerGroup.validateOffsetFetch): for a consumer group, a request
// naming a member or an epoch ≥ 0 must name a member of the group
// (UNKNOWN_MEMBER_ID) at its epoch (STALE_MEMBER_EPOCH). Classic groups
// ignore both, as Kafka does. It returns 0 when the fetch may go on.
func (c *Coordinator) ValidateOffsetFetch(groupID string, memberID *string, epoch int32) int16 {
	var code int16
	c.withGroup(groupID, false, func(g *group) {
		if g.cg == nil || (memberID == nil && epoch < 0) {
			return
		}
		id := ""
		if memberID != nil {
			id = *memberID
		}
		m := g.cg.members[id]
		switch {
		case m == nil:
			code = kerr.UnknownMemberID.Code
		case m.epoch != epoch:
			code = kerr.StaleMemberEpoch.Code
		}
	})
	return code
}

// ConsumerGroupDescribe answers a ConsumerGroupDescribe. A classic group
// gets GROUP_ID_NOT_FOUND "Group <id> is not a consumer group.", an
// unknown one "Group <id> not found.", as Kafka answers.
func (c *Coordinator) ConsumerGroupDescribe(req *kmsg.ConsumerGroupDescribeRequest) *kmsg.ConsumerGroupDescribeResponse {
	resp := req.ResponseKind().(*kmsg.ConsumerGroupDescribeResponse)
	for _, id := range req.Groups {
		resp.Groups = append(resp.Groups, c.describeConsumerGroup(id, req.Version, req.IncludeAuthorizedOperations))
	}
	return resp
}

func (c *Coordinator) describeConsumerGroup(id string, version int16, ops bool) kmsg.ConsumerGroupDescribeResponseGroup {
	rg := kmsg.NewConsumerGroupDescribeResponseGroup()
	rg.Group = id
	notFound := func(msg string) {
		rg.ErrorCode = kerr.GroupIDNotFound.Code
		rg.ErrorMessage = &msg
	}
	found := c.withGroup(id, false, func(g *group) {
		cg := g.cg
		if cg == nil {
			notFound(fmt.Sprintf("Group %s is not a consumer group.", id))
			return
		}
		rg.State = cg.state()
		rg.Epoch = cg.epoch
		rg.AssignmentEpoch = cg.assignEpoch
		rg.AssignorName = c.preferredAssignor(cg)
		if ops {
			rg.AuthorizedOperations = groupOps
		}
		ids := make([]string, 0, len(cg.members))
		for mid := range cg.members {
			ids = append(ids, mid)
		}
		sort.Strings(ids)
		for _, mid := range ids {
			m := cg.members[mid]
			rm := kmsg.NewConsumerGroupDescribeResponseGroupMember()
			rm.MemberID = m.id
			rm.InstanceID = m.instanceID
			rm.RackID = m.rackID
			rm.MemberEpoch = m.epoch
			rm.ClientID = m.clientID
			rm.ClientHost = m.clientHost
			rm.SubscribedTopics = append([]string{}, m.topics...)
			rm.SubscribedTopicRegex = m.regex
			rm.Assignment = g.describeAssignment(m.assigned)
			rm.TargetAssignment = g.describeAssignment(cg.target[m.id])
			if version >= 1 {
				rm.MemberType = 1 // a consumer-protocol member
				if m.classic != nil {
					rm.MemberType = 0 // a classic member (consumer_migrate.go)
				}
			}
			rg.Members = append(rg.Members, rm)
		}
	})
	if !found {
		notFound(fmt.Sprintf("Group %s not found.", id))
	}
	return rg
}

func (g *group) describeAssignment(a assignment) kmsg.Assignment {
	out := kmsg.NewAssignment()
	for _, t := range sortedTopicIDs(a) {
		tp := kmsg.NewAssignmentTopicPartition()
		tp.TopicID = t
		tp.Topic = g.cg.topics[t].Name
		tp.Partitions = append([]int32{}, a[t]...)
		out.TopicPartitions = append(out.TopicPartitions, tp)
	}
	return out
}
