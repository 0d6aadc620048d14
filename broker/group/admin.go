package group

import (
	"strings"

	"github.com/gregor-broker/gregor/broker/internal/kafkaerr"
	"github.com/gregor-broker/gregor/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupOps is the operation set of a group with no authorizer, as Kafka 4
// returns it (3400): READ, DELETE, DESCRIBE, DESCRIBE_CONFIGS and
// ALTER_CONFIGS (AclOperation codes 3, 6, 8, 10, 11; group configs made the
// last two apply). The cluster and topic sets are in broker/authorized_ops.go.
const groupOps = 1<<3 | 1<<6 | 1<<8 | 1<<10 | 1<<11

// DescribeGroups answers a DescribeGroups. An unknown group is reported
// Dead without an error, as Kafka does before v6. Member metadata and
// assignments are included only in a Stable group (as Kafka does), passed
// through unchanged.
func (c *Coordinator) DescribeGroups(req *kmsg.DescribeGroupsRequest) *kmsg.DescribeGroupsResponse {
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	for _, id := range req.Groups {
		rg := kmsg.NewDescribeGroupsResponseGroup()
		rg.Group = id
		rg.State = stateDead.String()
		rg.AuthorizedOperations = -2147483648 // Kafka's "not requested"
		if req.IncludeAuthorizedOperations {
			rg.AuthorizedOperations = groupOps
		}
		c.withGroup(id, false, func(g *group) {
			if g.cg != nil {
				// Kafka describes only classic groups here: a consumer
				// group is Dead, with GROUP_ID_NOT_FOUND from v6.
				if req.Version >= 6 {
					rg.ErrorCode = kerr.GroupIDNotFound.Code
					rg.ErrorMessage = kmsg.StringPtr("Group " + id + " is not a classic group.")
				}
				return
			}
			rg.State = g.state.String()
			rg.ProtocolType = g.protocolType
			if g.state == stateStable {
				rg.Protocol = g.protocol
			}
			for _, m := range g.orderedMembers() {
				rm := kmsg.NewDescribeGroupsResponseGroupMember()
				rm.MemberID = m.id
				rm.InstanceID = m.instanceID
				rm.ClientID = m.clientID
				rm.ClientHost = m.clientHost
				if g.state == stateStable {
					rm.ProtocolMetadata = m.metadataFor(g.protocol)
					rm.MemberAssignment = m.assignment
				}
				if rm.ProtocolMetadata == nil {
					rm.ProtocolMetadata = []byte{}
				}
				if rm.MemberAssignment == nil {
					rm.MemberAssignment = []byte{}
				}
				rg.Members = append(rg.Members, rm)
			}
		})
		if rg.State == stateDead.String() && req.Version >= 6 {
			rg.ErrorCode = kerr.GroupIDNotFound.Code
		}
		resp.Groups = append(resp.Groups, rg)
	}
	return resp
}

// ListGroups answers a ListGroups, honouring the states filter (v4+) and the
// types filter (v5+; "classic" or "consumer"). Filters match without
// regard to case, as Kafka's do.
func (c *Coordinator) ListGroups(req *kmsg.ListGroupsRequest) *kmsg.ListGroupsResponse {
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	match := func(filter []string, v string) bool {
		if len(filter) == 0 {
			return true
		}
		for _, f := range filter {
			if strings.EqualFold(f, v) {
				return true
			}
		}
		return false
	}
	for _, g := range c.snapshot() {
		g.mu.Lock()
		st, pt := g.state, g.protocolType
		stName, typ := st.String(), "classic"
		if g.cg != nil {
			stName, typ = g.cg.state(), "consumer"
		}
		g.mu.Unlock()
		if st == stateDead || !match(req.StatesFilter, stName) || !match(req.TypesFilter, typ) {
			continue
		}
		lg := kmsg.NewListGroupsResponseGroup()
		lg.Group = g.id
		lg.ProtocolType = pt
		lg.GroupState = stName
		lg.GroupType = typ
		resp.Groups = append(resp.Groups, lg)
	}
	return resp
}

// DeleteGroups answers a DeleteGroups: only a group without members can be
// deleted (NON_EMPTY_GROUP otherwise); its offsets and metadata go with it.
func (c *Coordinator) DeleteGroups(req *kmsg.DeleteGroupsRequest) *kmsg.DeleteGroupsResponse {
	resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	for _, id := range req.Groups {
		rg := kmsg.NewDeleteGroupsResponseGroup()
		rg.Group = id
		rg.ErrorCode = kerr.GroupIDNotFound.Code
		c.withGroup(id, false, func(g *group) {
			if g.state != stateEmpty {
				rg.ErrorCode = kerr.NonEmptyGroup.Code
				return
			}
			kvs := []storage.KV{{Key: groupKey(g.id)}}
			if g.cg != nil {
				kvs = append(kvs, storage.KV{Key: consumerGroupKey(g.id)})
			}
			for t, ps := range g.offsets {
				for p := range ps {
					kvs = append(kvs, storage.KV{Key: offsetKey(g.id, t, p)})
				}
			}
			if err := c.persist(g.id, kvs...); err != nil {
				rg.ErrorCode = kafkaerr.Coordinator(err)
				return
			}
			rg.ErrorCode = 0
			g.stopRebalanceTimer()
			for t, ps := range g.offsets {
				for p := range ps {
					g.deleteOffset(t, p)
				}
			}
			g.pending = map[string]struct{}{}
			g.consumerShutdown()
			g.setState(stateDead)
			c.forget(g)
		})
		resp.Groups = append(resp.Groups, rg)
	}
	return resp
}
