package broker

// Which ACL each API needs, as Kafka's KafkaApis asks its authorizer
// (acl.go has the decision rule). authorizeRequest runs before the API's
// handler: a request denied as a whole is answered here with Kafka's code;
// one denied in part (some topics, some groups) has the denied entries
// taken out of the request, the handler answers the rest, and the denied
// entries are added to its answer with TOPIC_AUTHORIZATION_FAILED or
// GROUP_AUTHORIZATION_FAILED. Fetch is authorized per partition inside its
// handler (authorizeFetchPart), since fetch sessions decide its partitions.
//
// aclRules lists every API; TestACLRulesCoverEveryAPI fails when an
// advertised API has no entry.

import (
	"github.com/gregor-broker/gregor/protocol"
	"github.com/gregor-broker/gregor/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// aclRule authorizes one API's request: deny answers it; post, when set,
// completes the handler's answer with the denied entries.
type aclRule func(b *Broker, who requester, req *protocol.Request) (deny kmsg.Response, post func(kmsg.Response))

var aclRules = map[int16]aclRule{
	// Before authentication only: nothing to authorize.
	int16(kmsg.ApiVersions):      nil,
	int16(kmsg.SASLHandshake):    nil,
	int16(kmsg.SASLAuthenticate): nil,
	// Their handlers check the cluster themselves.
	int16(kmsg.DescribeACLs):                 nil,
	int16(kmsg.CreateACLs):                   nil,
	int16(kmsg.DeleteACLs):                   nil,
	int16(kmsg.DescribeUserSCRAMCredentials): nil,
	int16(kmsg.AlterUserSCRAMCredentials):    nil,
	int16(kmsg.DescribeClientQuotas):         nil,
	int16(kmsg.AlterClientQuotas):            nil,
	// Per partition in the handler (authorizeFetchPart).
	int16(kmsg.Fetch): nil,
	// Between brokers: its handler checks the sender, then the inner
	// request is authorized as the client it carries (envelope.go).
	int16(kmsg.Envelope): nil,

	int16(kmsg.Produce):                 authorizeProduce,
	int16(kmsg.Metadata):                authorizeMetadata,
	int16(kmsg.ListOffsets):             authorizeListOffsets,
	int16(kmsg.OffsetForLeaderEpoch):    authorizeOffsetForLeaderEpoch,
	int16(kmsg.OffsetCommit):            authorizeOffsetCommit,
	int16(kmsg.OffsetFetch):             authorizeOffsetFetch,
	int16(kmsg.FindCoordinator):         authorizeFindCoordinator,
	int16(kmsg.JoinGroup):               groupWhole(func(r kmsg.Request) string { return r.(*kmsg.JoinGroupRequest).Group }),
	int16(kmsg.SyncGroup):               groupWhole(func(r kmsg.Request) string { return r.(*kmsg.SyncGroupRequest).Group }),
	int16(kmsg.Heartbeat):               groupWhole(func(r kmsg.Request) string { return r.(*kmsg.HeartbeatRequest).Group }),
	int16(kmsg.LeaveGroup):              groupWhole(func(r kmsg.Request) string { return r.(*kmsg.LeaveGroupRequest).Group }),
	int16(kmsg.DescribeGroups):          authorizeDescribeGroups,
	int16(kmsg.ListGroups):              authorizeListGroups,
	int16(kmsg.DeleteGroups):            authorizeDeleteGroups,
	int16(kmsg.OffsetDelete):            authorizeOffsetDelete,
	int16(kmsg.CreateTopics):            authorizeCreateTopics,
	int16(kmsg.DeleteTopics):            authorizeDeleteTopics,
	int16(kmsg.CreatePartitions):        authorizeCreatePartitions,
	int16(kmsg.DeleteRecords):           authorizeDeleteRecords,
	int16(kmsg.InitProducerID):          authorizeInitProducerID,
	int16(kmsg.DescribeConfigs):         authorizeDescribeConfigs,
	int16(kmsg.AlterConfigs):            authorizeAlterConfigs,
	int16(kmsg.IncrementalAlterConfigs): authorizeIncrementalAlterConfigs,
	int16(kmsg.DescribeCluster):         authorizeDescribeCluster,
	int16(kmsg.DescribeLogDirs):         clusterWhole(aclOpDescribe),
	int16(kmsg.ElectLeaders):            clusterWhole(aclOpAlter),
	int16(kmsg.DescribeTopicPartitions): authorizeDescribeTopicPartitions, // acl_new_apis.go
	int16(kmsg.ListConfigResources):     authorizeListConfigResources,
	int16(kmsg.ConsumerGroupHeartbeat):  authorizeConsumerGroupHeartbeat, // acl_consumer_group.go
	int16(kmsg.ConsumerGroupDescribe):   authorizeConsumerGroupDescribe,
}

// authorizeRequest applies the API's rule when an authorizer is
// configured. It may narrow req.Body.
func (b *Broker) authorizeRequest(req *protocol.Request) (kmsg.Response, func(kmsg.Response)) {
	if !b.aclEnabled() {
		return nil, nil
	}
	who := requesterOf(req)
	if who.internal {
		return nil, nil
	}
	rule, listed := aclRules[req.Header.Key]
	if !listed {
		// An API without a rule is refused rather than left open.
		resp := req.Body.ResponseKind()
		resp.SetVersion(req.Body.GetVersion())
		return resp, nil
	}
	if rule == nil {
		return nil, nil
	}
	return rule(b, who, req)
}

func (b *Broker) topicAllowed(who requester, topic string, op int8) bool {
	return b.allowed(who, resTopic, topic, op)
}

func (b *Broker) groupAllowed(who requester, group string, op int8) bool {
	return b.allowed(who, resGroup, group, op)
}

// topicName resolves a request's topic: its name, or its id (newer
// versions) through the topic table; "" when unknown.
func (b *Broker) topicName(name string, id [16]byte) string {
	if name != "" {
		return name
	}
	if t, ok := b.topics.GetByID(storage.TopicID(id)); ok {
		return t.Name
	}
	return ""
}

// authorizeFetchPart is called by the Fetch handler for each partition it
// resolved: READ on the topic, or TOPIC_AUTHORIZATION_FAILED for it.
func (b *Broker) authorizeFetchPart(req *protocol.Request, fp *fetchPart) {
	if !b.aclEnabled() {
		return
	}
	who := requesterOf(req)
	name := fp.req.key.topic
	if fp.topic != nil {
		name = fp.topic.Name
	}
	if name == "" && fp.topic == nil {
		// Not hosted here: its name from the cluster's view (another
		// group leads it; Kafka authorizes before it looks at leaders).
		if vt := b.cl().currentView().byID[fp.req.key.id]; vt != nil {
			name = vt.Name
		}
	}
	if name == "" {
		return // an unknown topic id: UNKNOWN_TOPIC_ID as before
	}
	if !b.topicAllowed(who, name, aclOpRead) {
		fp.code = kerr.TopicAuthorizationFailed.Code
		fp.reply.errCode = fp.code
		fp.part = nil
	}
}

func clusterWhole(op int8) aclRule {
	return func(b *Broker, who requester, req *protocol.Request) (kmsg.Response, func(kmsg.Response)) {
		if b.allowed(who, resCluster, clusterResourceName, op) {
			return nil, nil
		}
		resp := req.Body.ResponseKind()
		resp.SetVersion(req.Body.GetVersion())
		code := kerr.ClusterAuthorizationFailed.Code
		switch r := resp.(type) {
		case *kmsg.DescribeLogDirsResponse:
			r.ErrorCode = code
		case *kmsg.ElectLeadersResponse:
			r.ErrorCode = code
		}
		return resp, nil
	}
}

// authorizeDescribeCluster: Kafka answers DescribeCluster to everyone, as
// Metadata; only the cluster's authorized operations follow the ACLs.
func authorizeDescribeCluster(b *Broker, who requester, req *protocol.Request) (kmsg.Response, func(kmsg.Response)) {
	return nil, func(resp kmsg.Response) {
		if dr, ok := resp.(*kmsg.DescribeClusterResponse); ok && dr.ClusterAuthorizedOperations != opsNotRequested {
			dr.ClusterAuthorizedOperations = b.authorizedOps(who, resCluster, clusterResourceName, dr.ClusterAuthorizedOperations)
		}
	}
}

func groupWhole(group func(kmsg.Request) string) aclRule {
	return func(b *Broker, who requester, req *protocol.Request) (kmsg.Response, func(kmsg.Response)) {
		if b.groupAllowed(who, group(req.Body), aclOpRead) {
			return nil, nil
		}
		resp := req.Body.ResponseKind()
		resp.SetVersion(req.Body.GetVersion())
		code := kerr.GroupAuthorizationFailed.Code
		switch r := resp.(type) {
		case *kmsg.JoinGroupResponse:
			r.ErrorCode, r.Generation, r.LeaderID, r.MemberID = code, -1, "", ""
		case *kmsg.SyncGroupResponse:
			r.ErrorCode = code
		case *kmsg.HeartbeatResponse:
			r.ErrorCode = code
		case *kmsg.LeaveGroupResponse:
			r.ErrorCode = code
		}
		return resp, nil
	}
}

func authorizeProduce(b *Broker, who requester, req *protocol.Request) (kmsg.Response, func(kmsg.Response)) {
	r := req.Body.(*kmsg.ProduceRequest)
	if r.TransactionID != nil && !b.allowed(who, resTxnID, *r.TransactionID, aclOpWrite) {
		resp := r.ResponseKind().(*kmsg.ProduceResponse)
		for _, t := range r.Topics {
			rt := kmsg.NewProduceResponseTopic()
			rt.Topic, rt.TopicID = t.Topic, t.TopicID
			for _, p := range t.Partitions {
				rp := kmsg.NewProduceResponseTopicPartition()
				rp.Partition, rp.ErrorCode, rp.BaseOffset, rp.LogStartOffset = p.Partition, kerr.TransactionalIDAuthorizationFailed.Code, -1, -1
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return ackedOrNil(r.Acks, resp), nil
	}
	var keep []kmsg.ProduceRequestTopic
	var denied []kmsg.ProduceResponseTopic
	for _, t := range r.Topics {
		if b.topicAllowed(who, b.topicName(t.Topic, t.TopicID), aclOpWrite) {
			keep = append(keep, t)
			continue
		}
		rt := kmsg.NewProduceResponseTopic()
		rt.Topic, rt.TopicID = t.Topic, t.TopicID
		for _, p := range t.Partitions {
			rp := kmsg.NewProduceResponseTopicPartition()
			rp.Partition, rp.ErrorCode, rp.BaseOffset, rp.LogStartOffset = p.Partition, kerr.TopicAuthorizationFailed.Code, -1, -1
			rt.Partitions = append(rt.Partitions, rp)
		}
		denied = append(denied, rt)
	}
	if len(denied) == 0 {
		return nil, nil
	}
	if len(keep) == 0 {
		resp := r.ResponseKind().(*kmsg.ProduceResponse)
		resp.Topics = denied
		return ackedOrNil(r.Acks, resp), nil
	}
	r.Topics = keep
	return nil, func(resp kmsg.Response) {
		if pr, ok := resp.(*kmsg.ProduceResponse); ok {
			pr.Topics = append(pr.Topics, denied...)
		}
	}
}

// ackedOrNil answers nothing to acks=0, as the handler does.
func ackedOrNil(acks int16, resp kmsg.Response) kmsg.Response {
	if acks == 0 {
		return nilResponse{}
	}
	return resp
}

// nilResponse marks "answer nothing" through authorizeRequest.
type nilResponse struct{ kmsg.Response }

func authorizeMetadata(b *Broker, who requester, req *protocol.Request) (kmsg.Response, func(kmsg.Response)) {
	r := req.Body.(*kmsg.MetadataRequest)
	var denied []kmsg.MetadataResponseTopic
	if r.Topics != nil {
		var keep []kmsg.MetadataRequestTopic
		for _, t := range r.Topics {
			name := ""
			if t.Topic != nil {
				name = *t.Topic
			}
			name = b.topicName(name, t.TopicID)
			_, exists := b.topics.Get(name)
			ok := name != "" && b.topicAllowed(who, name, aclOpDescribe)
			if ok && !exists && r.AllowAutoTopicCreation &&
				!b.allowed(who, resCluster, clusterResourceName, aclOpCreate) && !b.topicAllowed(who, name, aclOpCreate) {
				ok = false // it would be created: Kafka needs CREATE too
			}
			if ok || name == "" {
				keep = append(keep, t)
				continue
			}
			mt := kmsg.NewMetadataResponseTopic()
			mt.Topic, mt.TopicID, mt.ErrorCode = t.Topic, t.TopicID, kerr.TopicAuthorizationFailed.Code
			mt.AuthorizedOperations = opsNotRequested
			denied = append(denied, mt)
		}
		r.Topics = keep
		if r.Topics == nil {
			r.Topics = []kmsg.MetadataRequestTopic{} // none left: not "all topics"
		}
	}
	return nil, func(resp kmsg.Response) {
		mr, ok := resp.(*kmsg.MetadataResponse)
		if !ok {
			return
		}
		// All topics, or what was left: hide what may not be described.
		kept := mr.Topics[:0]
		for _, t := range mr.Topics {
			name := ""
			if t.Topic != nil {
				name = *t.Topic
			}
			if t.ErrorCode == 0 && name != "" && !b.topicAllowed(who, name, aclOpDescribe) {
				continue
			}
			if t.AuthorizedOperations != opsNotRequested && name != "" {
				t.AuthorizedOperations = b.authorizedOps(who, resTopic, name, topicOps)
			}
			kept = append(kept, t)
		}
		mr.Topics = append(kept, denied...)
		if mr.AuthorizedOperations != opsNotRequested {
			mr.AuthorizedOperations = b.authorizedOps(who, resCluster, clusterResourceName, clusterOps)
		}
	}
}

// authorizedOps narrows an authorized-operations bit set (KIP-430) to the
// operations who may do on the resource.
func (b *Broker) authorizedOps(who requester, typ int8, name string, ops int32) int32 {
	var out int32
	for op := int8(0); op < 31; op++ {
		if ops&(1<<op) != 0 && b.allowed(who, typ, name, op) {
			out |= 1 << op
		}
	}
	return out
}

func authorizeListOffsets(b *Broker, who requester, req *protocol.Request) (kmsg.Response, func(kmsg.Response)) {
	r := req.Body.(*kmsg.ListOffsetsRequest)
	return denyEach(&r.Topics, func(t kmsg.ListOffsetsRequestTopic) bool { return b.topicAllowed(who, t.Topic, aclOpDescribe) },
		func(t kmsg.ListOffsetsRequestTopic) kmsg.ListOffsetsResponseTopic {
			rt := kmsg.NewListOffsetsResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewListOffsetsResponseTopicPartition()
				rp.Partition, rp.ErrorCode, rp.Timestamp, rp.Offset, rp.LeaderEpoch = p.Partition, kerr.TopicAuthorizationFailed.Code, -1, -1, -1
				rt.Partitions = append(rt.Partitions, rp)
			}
			return rt
		},
		func(lr *kmsg.ListOffsetsResponse, denied []kmsg.ListOffsetsResponseTopic) {
			lr.Topics = append(lr.Topics, denied...)
		})
}

func authorizeOffsetForLeaderEpoch(b *Broker, who requester, req *protocol.Request) (kmsg.Response, func(kmsg.Response)) {
	r := req.Body.(*kmsg.OffsetForLeaderEpochRequest)
	return denyEach(&r.Topics, func(t kmsg.OffsetForLeaderEpochRequestTopic) bool { return b.topicAllowed(who, t.Topic, aclOpDescribe) },
		func(t kmsg.OffsetForLeaderEpochRequestTopic) kmsg.OffsetForLeaderEpochResponseTopic {
			rt := kmsg.NewOffsetForLeaderEpochResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
				rp.Partition, rp.ErrorCode, rp.LeaderEpoch, rp.EndOffset = p.Partition, kerr.TopicAuthorizationFailed.Code, -1, -1
				rt.Partitions = append(rt.Partitions, rp)
			}
			return rt
		},
		func(or *kmsg.OffsetForLeaderEpochResponse, denied []kmsg.OffsetForLeaderEpochResponseTopic) {
			or.Topics = append(or.Topics, denied...)
		})
}

func authorizeOffsetCommit(b *Broker, who requester, req *protocol.Request) (kmsg.Response, func(kmsg.Response)) {
	r := req.Body.(*kmsg.OffsetCommitRequest)
	deniedTopic := func(t kmsg.OffsetCommitRequestTopic, code int16) kmsg.OffsetCommitResponseTopic {
		rt := kmsg.NewOffsetCommitResponseTopic()
		rt.Topic, rt.TopicID = t.Topic, t.TopicID
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetCommitResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, code
			rt.Partitions = append(rt.Partitions, rp)
		}
		return rt
	}
	if !b.groupAllowed(who, r.Group, aclOpRead) {
		resp := r.ResponseKind().(*kmsg.OffsetCommitResponse)
		for _, t := range r.Topics {
			resp.Topics = append(resp.Topics, deniedTopic(t, kerr.GroupAuthorizationFailed.Code))
		}
		return resp, nil
	}
	var keep []kmsg.OffsetCommitRequestTopic
	var denied []kmsg.OffsetCommitResponseTopic
	for _, t := range r.Topics {
		if b.topicAllowed(who, b.topicName(t.Topic, t.TopicID), aclOpRead) {
			keep = append(keep, t)
		} else {
			denied = append(denied, deniedTopic(t, kerr.TopicAuthorizationFailed.Code))
		}
	}
	if len(denied) == 0 {
		return nil, nil
	}
	r.Topics = keep
	return nil, func(resp kmsg.Response) {
		if cr, ok := resp.(*kmsg.OffsetCommitResponse); ok {
			cr.Topics = append(cr.Topics, denied...)
		}
	}
}

func authorizeOffsetFetch(b *Broker, who requester, req *protocol.Request) (kmsg.Response, func(kmsg.Response)) {
	r := req.Body.(*kmsg.OffsetFetchRequest)
	// Topics the principal may not describe are left out of the answer
	// (all-topics fetch) or answered TOPIC_AUTHORIZATION_FAILED.
	filterTopics := func(resp kmsg.Response) {
		fr, ok := resp.(*kmsg.OffsetFetchResponse)
		if !ok {
			return
		}
		for i, t := range fr.Topics {
			if !b.topicAllowed(who, t.Topic, aclOpDescribe) {
				for j := range fr.Topics[i].Partitions {
					p := &fr.Topics[i].Partitions[j]
					p.ErrorCode, p.Offset, p.Metadata = kerr.TopicAuthorizationFailed.Code, -1, nil
				}
			}
		}
		for g := range fr.Groups {
			for i, t := range fr.Groups[g].Topics {
				if !b.topicAllowed(who, b.topicName(t.Topic, t.TopicID), aclOpDescribe) {
					for j := range fr.Groups[g].Topics[i].Partitions {
						p := &fr.Groups[g].Topics[i].Partitions[j]
						p.ErrorCode, p.Offset, p.Metadata = kerr.TopicAuthorizationFailed.Code, -1, nil
					}
				}
			}
		}
	}
	if r.Version < 8 {
		if !b.groupAllowed(who, r.Group, aclOpDescribe) {
			resp := r.ResponseKind().(*kmsg.OffsetFetchResponse)
			resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
			return resp, nil
		}
		return nil, filterTopics
	}
	var keep []kmsg.OffsetFetchRequestGroup
	var denied []kmsg.OffsetFetchResponseGroup
	for _, g := range r.Groups {
		if b.groupAllowed(who, g.Group, aclOpDescribe) {
			keep = append(keep, g)
			continue
		}
		rg := kmsg.NewOffsetFetchResponseGroup()
		rg.Group, rg.ErrorCode = g.Group, kerr.GroupAuthorizationFailed.Code
		denied = append(denied, rg)
	}
	if len(keep) == 0 {
		resp := r.ResponseKind().(*kmsg.OffsetFetchResponse)
		resp.Groups = denied
		return resp, nil
	}
	r.Groups = keep
	return nil, func(resp kmsg.Response) {
		filterTopics(resp)
		if fr, ok := resp.(*kmsg.OffsetFetchResponse); ok {
			fr.Groups = append(fr.Groups, denied...)
		}
	}
}

func authorizeFindCoordinator(b *Broker, who requester, req *protocol.Request) (kmsg.Response, func(kmsg.Response)) {
	r := req.Body.(*kmsg.FindCoordinatorRequest)
	typ := resGroup
	if r.CoordinatorType == 1 {
		typ = resTxnID
	}
	code := kerr.GroupAuthorizationFailed.Code
	if typ == resTxnID {
		code = kerr.TransactionalIDAuthorizationFailed.Code
	}
	if r.Version < 4 {
		if b.allowed(who, typ, r.CoordinatorKey, aclOpDescribe) {
			return nil, nil
		}
		resp := r.ResponseKind().(*kmsg.FindCoordinatorResponse)
		resp.ErrorCode, resp.NodeID, resp.Port = code, -1, -1
		return resp, nil
	}
	var keep []string
	var denied []kmsg.FindCoordinatorResponseCoordinator
	for _, k := range r.CoordinatorKeys {
		if b.allowed(who, typ, k, aclOpDescribe) {
			keep = append(keep, k)
			continue
		}
		c := kmsg.NewFindCoordinatorResponseCoordinator()
		c.Key, c.ErrorCode, c.NodeID, c.Port = k, code, -1, -1
		denied = append(denied, c)
	}
	if len(denied) == 0 {
		return nil, nil
	}
	if len(keep) == 0 {
		resp := r.ResponseKind().(*kmsg.FindCoordinatorResponse)
		resp.Coordinators = denied
		return resp, nil
	}
	r.CoordinatorKeys = keep
	return nil, func(resp kmsg.Response) {
		if fr, ok := resp.(*kmsg.FindCoordinatorResponse); ok {
			fr.Coordinators = append(fr.Coordinators, denied...)
		}
	}
}

func authorizeDescribeGroups(b *Broker, who requester, req *protocol.Request) (kmsg.Response, func(kmsg.Response)) {
	r := req.Body.(*kmsg.DescribeGroupsRequest)
	var keep []string
	var denied []kmsg.DescribeGroupsResponseGroup
	for _, g := range r.Groups {
		if b.groupAllowed(who, g, aclOpDescribe) {
			keep = append(keep, g)
			continue
		}
		rg := kmsg.NewDescribeGroupsResponseGroup()
		rg.Group, rg.ErrorCode = g, kerr.GroupAuthorizationFailed.Code
		rg.AuthorizedOperations = opsNotRequested
		denied = append(denied, rg)
	}
	r.Groups = keep
	return nil, func(resp kmsg.Response) {
		dr, ok := resp.(*kmsg.DescribeGroupsResponse)
		if !ok {
			return
		}
		for i := range dr.Groups {
			if g := &dr.Groups[i]; g.AuthorizedOperations != opsNotRequested {
				g.AuthorizedOperations = b.authorizedOps(who, resGroup, g.Group, g.AuthorizedOperations)
			}
		}
		dr.Groups = append(dr.Groups, denied...)
	}
}

func authorizeListGroups(b *Broker, who requester, req *protocol.Request) (kmsg.Response, func(kmsg.Response)) {
	if b.allowed(who, resCluster, clusterResourceName, aclOpDescribe) {
		return nil, nil
	}
	return nil, func(resp kmsg.Response) {
		lr, ok := resp.(*kmsg.ListGroupsResponse)
		if !ok {
			return
		}
		kept := lr.Groups[:0]
		for _, g := range lr.Groups {
			if b.groupAllowed(who, g.Group, aclOpDescribe) {
				kept = append(kept, g)
			}
		}
		lr.Groups = kept
	}
}

func authorizeDeleteGroups(b *Broker, who requester, req *protocol.Request) (kmsg.Response, func(kmsg.Response)) {
	r := req.Body.(*kmsg.DeleteGroupsRequest)
	return denyEach(&r.Groups, func(g string) bool { return b.groupAllowed(who, g, aclOpDelete) },
		func(g string) kmsg.DeleteGroupsResponseGroup {
			rg := kmsg.NewDeleteGroupsResponseGroup()
			rg.Group, rg.ErrorCode = g, kerr.GroupAuthorizationFailed.Code
			return rg
		},
		func(dr *kmsg.DeleteGroupsResponse, denied []kmsg.DeleteGroupsResponseGroup) {
			dr.Groups = append(dr.Groups, denied...)
		})
}

func authorizeOffsetDelete(b *Broker, who requester, req *protocol.Request) (kmsg.Response, func(kmsg.Response)) {
	r := req.Body.(*kmsg.OffsetDeleteRequest)
	if !b.groupAllowed(who, r.Group, aclOpDelete) {
		resp := r.ResponseKind().(*kmsg.OffsetDeleteResponse)
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return resp, nil
	}
	var keep []kmsg.OffsetDeleteRequestTopic
	var denied []kmsg.OffsetDeleteResponseTopic
	for _, t := range r.Topics {
		if b.topicAllowed(who, t.Topic, aclOpRead) {
			keep = append(keep, t)
			continue
		}
		rt := kmsg.NewOffsetDeleteResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetDeleteResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, kerr.TopicAuthorizationFailed.Code
			rt.Partitions = append(rt.Partitions, rp)
		}
		denied = append(denied, rt)
	}
	if len(denied) == 0 {
		return nil, nil
	}
	r.Topics = keep
	return nil, func(resp kmsg.Response) {
		if dr, ok := resp.(*kmsg.OffsetDeleteResponse); ok {
			dr.Topics = append(dr.Topics, denied...)
		}
	}
}

func authorizeCreateTopics(b *Broker, who requester, req *protocol.Request) (kmsg.Response, func(kmsg.Response)) {
	r := req.Body.(*kmsg.CreateTopicsRequest)
	if b.allowed(who, resCluster, clusterResourceName, aclOpCreate) {
		return nil, nil
	}
	var keep []kmsg.CreateTopicsRequestTopic
	var denied []kmsg.CreateTopicsResponseTopic
	for _, t := range r.Topics {
		if b.topicAllowed(who, t.Topic, aclOpCreate) {
			keep = append(keep, t)
			continue
		}
		rt := kmsg.NewCreateTopicsResponseTopic()
		rt.Topic, rt.ErrorCode = t.Topic, kerr.TopicAuthorizationFailed.Code
		msg := "Authorization failed."
		rt.ErrorMessage = &msg
		rt.NumPartitions, rt.ReplicationFactor = -1, -1
		denied = append(denied, rt)
	}
	if len(denied) == 0 {
		return nil, nil
	}
	r.Topics = keep
	return nil, func(resp kmsg.Response) {
		if cr, ok := resp.(*kmsg.CreateTopicsResponse); ok {
			cr.Topics = append(cr.Topics, denied...)
		}
	}
}

func authorizeDeleteTopics(b *Broker, who requester, req *protocol.Request) (kmsg.Response, func(kmsg.Response)) {
	r := req.Body.(*kmsg.DeleteTopicsRequest)
	var keepNames []string
	var keep []kmsg.DeleteTopicsRequestTopic
	var denied []kmsg.DeleteTopicsResponseTopic
	deny := func(name *string, id [16]byte) {
		rt := kmsg.NewDeleteTopicsResponseTopic()
		rt.Topic, rt.TopicID, rt.ErrorCode = name, id, kerr.TopicAuthorizationFailed.Code
		denied = append(denied, rt)
	}
	for _, n := range r.TopicNames {
		if b.topicAllowed(who, n, aclOpDelete) {
			keepNames = append(keepNames, n)
		} else {
			n := n
			deny(&n, [16]byte{})
		}
	}
	for _, t := range r.Topics {
		name := ""
		if t.Topic != nil {
			name = *t.Topic
		}
		if name = b.topicName(name, t.TopicID); name == "" || b.topicAllowed(who, name, aclOpDelete) {
			keep = append(keep, t)
		} else {
			deny(t.Topic, t.TopicID)
		}
	}
	if len(denied) == 0 {
		return nil, nil
	}
	r.TopicNames, r.Topics = keepNames, keep
	return nil, func(resp kmsg.Response) {
		if dr, ok := resp.(*kmsg.DeleteTopicsResponse); ok {
			dr.Topics = append(dr.Topics, denied...)
		}
	}
}

func authorizeCreatePartitions(b *Broker, who requester, req *protocol.Request) (kmsg.Response, func(kmsg.Response)) {
	r := req.Body.(*kmsg.CreatePartitionsRequest)
	return denyEach(&r.Topics, func(t kmsg.CreatePartitionsRequestTopic) bool { return b.topicAllowed(who, t.Topic, aclOpAlter) },
		func(t kmsg.CreatePartitionsRequestTopic) kmsg.CreatePartitionsResponseTopic {
			rt := kmsg.NewCreatePartitionsResponseTopic()
			rt.Topic, rt.ErrorCode = t.Topic, kerr.TopicAuthorizationFailed.Code
			return rt
		},
		func(cr *kmsg.CreatePartitionsResponse, denied []kmsg.CreatePartitionsResponseTopic) {
			cr.Topics = append(cr.Topics, denied...)
		})
}

func authorizeDeleteRecords(b *Broker, who requester, req *protocol.Request) (kmsg.Response, func(kmsg.Response)) {
	r := req.Body.(*kmsg.DeleteRecordsRequest)
	return denyEach(&r.Topics, func(t kmsg.DeleteRecordsRequestTopic) bool { return b.topicAllowed(who, t.Topic, aclOpDelete) },
		func(t kmsg.DeleteRecordsRequestTopic) kmsg.DeleteRecordsResponseTopic {
			rt := kmsg.NewDeleteRecordsResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewDeleteRecordsResponseTopicPartition()
				rp.Partition, rp.ErrorCode, rp.LowWatermark = p.Partition, kerr.TopicAuthorizationFailed.Code, -1
				rt.Partitions = append(rt.Partitions, rp)
			}
			return rt
		},
		func(dr *kmsg.DeleteRecordsResponse, denied []kmsg.DeleteRecordsResponseTopic) {
			dr.Topics = append(dr.Topics, denied...)
		})
}

func authorizeInitProducerID(b *Broker, who requester, req *protocol.Request) (kmsg.Response, func(kmsg.Response)) {
	r := req.Body.(*kmsg.InitProducerIDRequest)
	resp := r.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if r.TransactionalID != nil {
		if !b.allowed(who, resTxnID, *r.TransactionalID, aclOpWrite) {
			resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
			return resp, nil
		}
		return nil, nil
	}
	// Idempotence: IDEMPOTENT_WRITE on the cluster, or WRITE on any topic
	// (KIP-679).
	if b.allowed(who, resCluster, clusterResourceName, aclOpIdempotentWrite) || b.writesAnyTopic(who) {
		return nil, nil
	}
	resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
	return resp, nil
}

// writesAnyTopic reports whether who may WRITE some topic: an ALLOW of
// WRITE (or ALL) on a topic pattern for its principal that no DENY takes
// back for the same pattern.
func (b *Broker) writesAnyTopic(who requester) bool {
	for _, a := range b.aclSet().all {
		if a.resType == resTopic && a.perm == permAllow && (a.op == aclOpWrite || a.op == aclOpAll) &&
			(a.principal == who.principal || a.principal == "User:*") && (a.host == "*" || a.host == who.host) &&
			(a.pattern != patLiteral || a.name == "*" || b.topicAllowed(who, a.name, aclOpWrite)) {
			return true
		}
	}
	return b.cfg.Security.AllowEveryoneIfNoACL
}

// configResource maps a config resource to its ACL resource.
func configResource(typ int8, name string) (int8, string, int16) {
	switch typ {
	case 2: // TOPIC
		return resTopic, name, kerr.TopicAuthorizationFailed.Code
	case 32: // GROUP
		return resGroup, name, kerr.GroupAuthorizationFailed.Code
	}
	return resCluster, clusterResourceName, kerr.ClusterAuthorizationFailed.Code // BROKER, BROKER_LOGGER
}

func authorizeDescribeConfigs(b *Broker, who requester, req *protocol.Request) (kmsg.Response, func(kmsg.Response)) {
	r := req.Body.(*kmsg.DescribeConfigsRequest)
	return denyEach(&r.Resources, func(res kmsg.DescribeConfigsRequestResource) bool {
		typ, name, _ := configResource(int8(res.ResourceType), res.ResourceName)
		return b.allowed(who, typ, name, aclOpDescribeConfigs)
	}, func(res kmsg.DescribeConfigsRequestResource) kmsg.DescribeConfigsResponseResource {
		_, _, code := configResource(int8(res.ResourceType), res.ResourceName)
		rr := kmsg.NewDescribeConfigsResponseResource()
		rr.ResourceType, rr.ResourceName, rr.ErrorCode = res.ResourceType, res.ResourceName, code
		return rr
	}, func(dr *kmsg.DescribeConfigsResponse, denied []kmsg.DescribeConfigsResponseResource) {
		dr.Resources = append(dr.Resources, denied...)
	})
}

func authorizeAlterConfigs(b *Broker, who requester, req *protocol.Request) (kmsg.Response, func(kmsg.Response)) {
	r := req.Body.(*kmsg.AlterConfigsRequest)
	return denyEach(&r.Resources, func(res kmsg.AlterConfigsRequestResource) bool {
		typ, name, _ := configResource(int8(res.ResourceType), res.ResourceName)
		return b.allowed(who, typ, name, aclOpAlterConfigs)
	}, func(res kmsg.AlterConfigsRequestResource) kmsg.AlterConfigsResponseResource {
		_, _, code := configResource(int8(res.ResourceType), res.ResourceName)
		rr := kmsg.NewAlterConfigsResponseResource()
		rr.ResourceType, rr.ResourceName, rr.ErrorCode = res.ResourceType, res.ResourceName, code
		return rr
	}, func(ar *kmsg.AlterConfigsResponse, denied []kmsg.AlterConfigsResponseResource) {
		ar.Resources = append(ar.Resources, denied...)
	})
}

func authorizeIncrementalAlterConfigs(b *Broker, who requester, req *protocol.Request) (kmsg.Response, func(kmsg.Response)) {
	r := req.Body.(*kmsg.IncrementalAlterConfigsRequest)
	return denyEach(&r.Resources, func(res kmsg.IncrementalAlterConfigsRequestResource) bool {
		typ, name, _ := configResource(int8(res.ResourceType), res.ResourceName)
		return b.allowed(who, typ, name, aclOpAlterConfigs)
	}, func(res kmsg.IncrementalAlterConfigsRequestResource) kmsg.IncrementalAlterConfigsResponseResource {
		_, _, code := configResource(int8(res.ResourceType), res.ResourceName)
		rr := kmsg.NewIncrementalAlterConfigsResponseResource()
		rr.ResourceType, rr.ResourceName, rr.ErrorCode = res.ResourceType, res.ResourceName, code
		return rr
	}, func(ir *kmsg.IncrementalAlterConfigsResponse, denied []kmsg.IncrementalAlterConfigsResponseResource) {
		ir.Resources = append(ir.Resources, denied...)
	})
}

// denyEach splits *items into those allowed accepts, which stay in the
// request, and the answers deny builds for the others, which add puts
// into the handler's response beside the allowed ones' (Kafka answers a
// denied entry in place, not the whole request). With nothing denied the
// request passes as it came.
func denyEach[Q, A any, R kmsg.Response](items *[]Q, allowed func(Q) bool, deny func(Q) A, add func(R, []A)) (kmsg.Response, func(kmsg.Response)) {
	var keep []Q
	var denied []A
	for _, it := range *items {
		if allowed(it) {
			keep = append(keep, it)
		} else {
			denied = append(denied, deny(it))
		}
	}
	if len(denied) == 0 {
		return nil, nil
	}
	*items = keep
	return nil, func(resp kmsg.Response) {
		if r, ok := resp.(R); ok {
			add(r, denied)
		}
	}
}
