package broker

// The ACL rules of the transaction APIs, as KafkaApis has them: WRITE on
// the transactional id (TRANSACTIONAL_ID_AUTHORIZATION_FAILED), READ on
// the group of the offsets a transaction commits, WRITE on the topics a
// transaction adds, CLUSTER_ACTION for the markers brokers write, DESCRIBE
// on a transactional id to see it (acl_enforce.go has the others).

import (
	"github.com/gregor-broker/gregor/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	aclRules[int16(kmsg.AddPartitionsToTxn)] = authorizeAddPartitionsToTxn
	aclRules[int16(kmsg.AddOffsetsToTxn)] = authorizeAddOffsetsToTxn
	aclRules[int16(kmsg.EndTxn)] = authorizeEndTxn
	aclRules[int16(kmsg.WriteTxnMarkers)] = authorizeWriteTxnMarkers
	aclRules[int16(kmsg.TxnOffsetCommit)] = authorizeTxnOffsetCommit
	aclRules[int16(kmsg.DescribeProducers)] = authorizeDescribeProducers
	aclRules[int16(kmsg.DescribeTransactions)] = authorizeDescribeTransactions
	aclRules[int16(kmsg.ListTransactions)] = authorizeListTransactions
}

func (b *Broker) txnAllowed(who requester, id string, op int8) bool {
	return b.allowed(who, resTxnID, id, op)
}

func authorizeAddPartitionsToTxn(b *Broker, who requester, req *protocol.Request) (kmsg.Response, func(kmsg.Response)) {
	r := req.Body.(*kmsg.AddPartitionsToTxnRequest)
	resp := r.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	if r.Version >= 4 {
		// Batched (brokers verifying for each other): CLUSTER_ACTION.
		if b.allowed(who, resCluster, clusterResourceName, aclOpClusterAction) {
			return nil, nil
		}
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp, nil
	}
	// Kafka answers the whole request: the denied code where it applies,
	// OPERATION_NOT_ATTEMPTED for the rest.
	txnOK := b.txnAllowed(who, r.TransactionalID, aclOpWrite)
	anyDenied := !txnOK
	topicOK := map[string]bool{}
	for _, t := range r.Topics {
		topicOK[t.Topic] = b.topicAllowed(who, t.Topic, aclOpWrite)
		anyDenied = anyDenied || !topicOK[t.Topic]
	}
	if !anyDenied {
		return nil, nil
	}
	for _, t := range r.Topics {
		rt := kmsg.NewAddPartitionsToTxnResponseTopic()
		rt.Topic = t.Topic
		code := kerr.OperationNotAttempted.Code
		switch {
		case !txnOK:
			code = kerr.TransactionalIDAuthorizationFailed.Code
		case !topicOK[t.Topic]:
			code = kerr.TopicAuthorizationFailed.Code
		}
		for _, p := range t.Partitions {
			rp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p, code
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}

func authorizeAddOffsetsToTxn(b *Broker, who requester, req *protocol.Request) (kmsg.Response, func(kmsg.Response)) {
	r := req.Body.(*kmsg.AddOffsetsToTxnRequest)
	resp := r.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
	switch {
	case !b.txnAllowed(who, r.TransactionalID, aclOpWrite):
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
	case !b.groupAllowed(who, r.Group, aclOpRead):
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
	default:
		return nil, nil
	}
	return resp, nil
}

func authorizeEndTxn(b *Broker, who requester, req *protocol.Request) (kmsg.Response, func(kmsg.Response)) {
	r := req.Body.(*kmsg.EndTxnRequest)
	if b.txnAllowed(who, r.TransactionalID, aclOpWrite) {
		return nil, nil
	}
	resp := r.ResponseKind().(*kmsg.EndTxnResponse)
	resp.ErrorCode, resp.ProducerID, resp.ProducerEpoch = kerr.TransactionalIDAuthorizationFailed.Code, -1, -1
	return resp, nil
}

func authorizeWriteTxnMarkers(b *Broker, who requester, req *protocol.Request) (kmsg.Response, func(kmsg.Response)) {
	if b.allowed(who, resCluster, clusterResourceName, aclOpClusterAction) {
		return nil, nil
	}
	r := req.Body.(*kmsg.WriteTxnMarkersRequest)
	resp := r.ResponseKind().(*kmsg.WriteTxnMarkersResponse)
	for _, m := range r.Markers {
		rm := kmsg.NewWriteTxnMarkersResponseMarker()
		rm.ProducerID = m.ProducerID
		for _, t := range m.Topics {
			rt := kmsg.NewWriteTxnMarkersResponseMarkerTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewWriteTxnMarkersResponseMarkerTopicPartition()
				rp.Partition, rp.ErrorCode = p, kerr.ClusterAuthorizationFailed.Code
				rt.Partitions = append(rt.Partitions, rp)
			}
			rm.Topics = append(rm.Topics, rt)
		}
		resp.Markers = append(resp.Markers, rm)
	}
	return resp, nil
}

func authorizeTxnOffsetCommit(b *Broker, who requester, req *protocol.Request) (kmsg.Response, func(kmsg.Response)) {
	r := req.Body.(*kmsg.TxnOffsetCommitRequest)
	topicResp := func(t kmsg.TxnOffsetCommitRequestTopic, code int16) kmsg.TxnOffsetCommitResponseTopic {
		rt := kmsg.NewTxnOffsetCommitResponseTopic()
		rt.Topic, rt.TopicID = t.Topic, t.TopicID
		for _, p := range t.Partitions {
			rp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, code
			rt.Partitions = append(rt.Partitions, rp)
		}
		return rt
	}
	whole := int16(0)
	switch {
	case !b.txnAllowed(who, r.TransactionalID, aclOpWrite):
		whole = kerr.TransactionalIDAuthorizationFailed.Code
	case !b.groupAllowed(who, r.Group, aclOpRead):
		whole = kerr.GroupAuthorizationFailed.Code
	}
	if whole != 0 {
		resp := r.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
		for _, t := range r.Topics {
			resp.Topics = append(resp.Topics, topicResp(t, whole))
		}
		return resp, nil
	}
	var keep []kmsg.TxnOffsetCommitRequestTopic
	var denied []kmsg.TxnOffsetCommitResponseTopic
	for _, t := range r.Topics {
		if b.topicAllowed(who, b.topicName(t.Topic, t.TopicID), aclOpRead) {
			keep = append(keep, t)
		} else {
			denied = append(denied, topicResp(t, kerr.TopicAuthorizationFailed.Code))
		}
	}
	if len(denied) == 0 {
		return nil, nil
	}
	r.Topics = keep
	return nil, func(resp kmsg.Response) {
		if tr, ok := resp.(*kmsg.TxnOffsetCommitResponse); ok {
			tr.Topics = append(tr.Topics, denied...)
		}
	}
}

func authorizeDescribeProducers(b *Broker, who requester, req *protocol.Request) (kmsg.Response, func(kmsg.Response)) {
	r := req.Body.(*kmsg.DescribeProducersRequest)
	return denyEach(&r.Topics, func(t kmsg.DescribeProducersRequestTopic) bool { return b.topicAllowed(who, t.Topic, aclOpRead) },
		func(t kmsg.DescribeProducersRequestTopic) kmsg.DescribeProducersResponseTopic {
			rt := kmsg.NewDescribeProducersResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewDescribeProducersResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p, kerr.TopicAuthorizationFailed.Code
				rt.Partitions = append(rt.Partitions, rp)
			}
			return rt
		},
		func(dr *kmsg.DescribeProducersResponse, denied []kmsg.DescribeProducersResponseTopic) {
			dr.Topics = append(dr.Topics, denied...)
		})
}

func authorizeDescribeTransactions(b *Broker, who requester, req *protocol.Request) (kmsg.Response, func(kmsg.Response)) {
	r := req.Body.(*kmsg.DescribeTransactionsRequest)
	return denyEach(&r.TransactionalIDs, func(id string) bool { return b.txnAllowed(who, id, aclOpDescribe) },
		func(id string) kmsg.DescribeTransactionsResponseTransactionState {
			st := kmsg.NewDescribeTransactionsResponseTransactionState()
			st.TransactionalID, st.ErrorCode, st.ProducerID, st.ProducerEpoch = id, kerr.TransactionalIDAuthorizationFailed.Code, -1, -1
			return st
		},
		func(dr *kmsg.DescribeTransactionsResponse, denied []kmsg.DescribeTransactionsResponseTransactionState) {
			dr.TransactionStates = append(dr.TransactionStates, denied...)
		})
}

func authorizeListTransactions(b *Broker, who requester, req *protocol.Request) (kmsg.Response, func(kmsg.Response)) {
	return nil, func(resp kmsg.Response) {
		lr, ok := resp.(*kmsg.ListTransactionsResponse)
		if !ok {
			return
		}
		kept := lr.TransactionStates[:0]
		for _, s := range lr.TransactionStates {
			if b.txnAllowed(who, s.TransactionalID, aclOpDescribe) {
				kept = append(kept, s)
			}
		}
		lr.TransactionStates = kept
	}
}
