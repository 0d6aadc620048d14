package group

// Offsets committed inside a transaction (TxnOffsetCommit, key 28).
//
// They are pending until the transaction ends: written durably under the
// namespace txnOffsetsNS, keyed by producer id, group, topic and partition,
// invisible to OffsetFetch. The transaction coordinator's marker for the
// group (CompleteTxn) then commits them as ordinary offsets (commit) or
// drops them (abort). Being in the commit log, pending offsets survive a
// restart and reach slaves, so a transaction committed after a restart
// still commits its offsets, as Kafka's transactional records in
// __consumer_offsets do.

import (
	"encoding/binary"
	"encoding/json"

	"github.com/gregor-broker/gregor/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const txnOffsetsNS = "txn_offsets"

type pendingTxnOffset struct {
	Offset      int64
	LeaderEpoch int32
	Metadata    *string
}

func txnOffsetKey(pid int64, group, topic string, part int32) []byte {
	k := binary.BigEndian.AppendUint64(nil, uint64(pid))
	k = binary.BigEndian.AppendUint16(k, uint16(len(group)))
	k = append(k, group...)
	k = binary.BigEndian.AppendUint16(k, uint16(len(topic)))
	k = append(k, topic...)
	return binary.BigEndian.AppendUint32(k, uint32(part))
}

func parseTxnOffsetKey(k []byte) (pid int64, group, topic string, part int32, ok bool) {
	if len(k) < 12 {
		return 0, "", "", 0, false
	}
	pid = int64(binary.BigEndian.Uint64(k))
	k = k[8:]
	n := int(binary.BigEndian.Uint16(k))
	if len(k) < 2+n+2 {
		return 0, "", "", 0, false
	}
	group, k = string(k[2:2+n]), k[2+n:]
	n = int(binary.BigEndian.Uint16(k))
	if len(k) != 2+n+4 {
		return 0, "", "", 0, false
	}
	topic = string(k[2 : 2+n])
	part = int32(binary.BigEndian.Uint32(k[2+n:]))
	return pid, group, topic, part, true
}

// TxnOffsetCommit answers a TxnOffsetCommit: the offsets are stored as
// pending for the producer until its transaction ends. From v3 a member id
// and generation, when given, are checked as OffsetCommit checks them
// (Kafka's KIP-447 fencing of zombie consumers).
func (c *Coordinator) TxnOffsetCommit(req *kmsg.TxnOffsetCommitRequest, topics Topics) *kmsg.TxnOffsetCommitResponse {
	resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
	code := int16(0)
	var stale func(topic string, p int32) bool // a consumer group member's older epoch (KIP-1251)
	if req.Version >= 3 && (req.MemberID != "" || req.Generation >= 0) {
		found := c.withGroup(req.Group, false, func(g *group) {
			if g.cg != nil {
				// A consumer group checks the member epoch (Kafka's
				// validateOffsetCommit, transactional); a stale epoch is
				// ILLEGAL_GENERATION here, the code transactional
				// producers know.
				err, ok := g.consumerCommitCheck(req.MemberID, req.Generation, true, req.Version)
				if err == kerr.StaleMemberEpoch {
					err = kerr.IllegalGeneration
				}
				if err != nil {
					code = err.Code
				}
				if ok != nil {
					// Decided under the group's lock, used after it.
					allowed := map[tpKey]bool{}
					for _, t := range req.Topics {
						for _, p := range t.Partitions {
							allowed[tpKey{t.Topic, p.Partition}] = ok(topicIDOf(topics, t.Topic), p.Partition)
						}
					}
					stale = func(topic string, p int32) bool { return !allowed[tpKey{topic, p}] }
				}
				return
			}
			if err := g.validateMember(req.MemberID, req.InstanceID, req.Generation); err != nil {
				code = err.Code
			}
		})
		if !found {
			code = kerr.IllegalGeneration.Code
		}
	}
	var kvs []storage.KV
	for _, t := range req.Topics {
		rt := kmsg.NewTxnOffsetCommitResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
			rp.Partition = p.Partition
			switch {
			case code != 0:
				rp.ErrorCode = code
			case stale != nil && stale(t.Topic, p.Partition):
				rp.ErrorCode = kerr.IllegalGeneration.Code
			case !topics.has(t.Topic, p.Partition):
				rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case p.Metadata != nil && len(*p.Metadata) > c.cfg.OffsetMetadataMaxBytes:
				rp.ErrorCode = kerr.OffsetMetadataTooLarge.Code
			default:
				v, _ := json.Marshal(pendingTxnOffset{Offset: p.Offset, LeaderEpoch: p.LeaderEpoch, Metadata: p.Metadata})
				kvs = append(kvs, storage.KV{Key: txnOffsetKey(req.ProducerID, req.Group, t.Topic, p.Partition), Value: v})
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	if len(kvs) > 0 && c.kv != nil {
		if err := c.kv.PutKV(txnOffsetsNS, kvs...); err != nil {
			for i := range resp.Topics {
				for j := range resp.Topics[i].Partitions {
					if resp.Topics[i].Partitions[j].ErrorCode == 0 {
						resp.Topics[i].Partitions[j].ErrorCode = kerr.CoordinatorNotAvailable.Code
					}
				}
			}
		}
	}
	return resp
}

// CompleteTxn ends producerID's transaction for the groups owning() says
// are in the marker's partition: on commit its pending offsets become the
// groups' committed offsets, on abort they are dropped. Calling it again
// (a marker rewritten after a restart) finds nothing left to do.
func (c *Coordinator) CompleteTxn(producerID int64, commit bool, owning func(group string) bool, topics Topics) error {
	if c.kv == nil {
		return nil
	}
	type item struct {
		key          []byte
		group, topic string
		part         int32
		v            pendingTxnOffset
	}
	var items []item
	c.kv.RangeKV(txnOffsetsNS, func(key, value []byte) bool {
		pid, g, t, p, ok := parseTxnOffsetKey(key)
		if !ok || pid != producerID || value == nil || !owning(g) {
			return true
		}
		var v pendingTxnOffset
		if json.Unmarshal(value, &v) != nil {
			return true
		}
		items = append(items, item{append([]byte(nil), key...), g, t, p, v})
		return true
	})
	if len(items) == 0 {
		return nil
	}
	if commit {
		byGroup := map[string]*kmsg.OffsetCommitRequest{}
		for _, it := range items {
			req := byGroup[it.group]
			if req == nil {
				req = kmsg.NewPtrOffsetCommitRequest()
				req.Version = 8
				req.Group = it.group
				req.Generation = -1
				byGroup[it.group] = req
			}
			var rt *kmsg.OffsetCommitRequestTopic
			for i := range req.Topics {
				if req.Topics[i].Topic == it.topic {
					rt = &req.Topics[i]
				}
			}
			if rt == nil {
				req.Topics = append(req.Topics, kmsg.OffsetCommitRequestTopic{Topic: it.topic})
				rt = &req.Topics[len(req.Topics)-1]
			}
			p := kmsg.NewOffsetCommitRequestTopicPartition()
			p.Partition, p.Offset, p.LeaderEpoch, p.Metadata = it.part, it.v.Offset, it.v.LeaderEpoch, it.v.Metadata
			rt.Partitions = append(rt.Partitions, p)
		}
		for g, req := range byGroup {
			codes := make([][]int16, len(req.Topics))
			ids := make([][16]byte, len(req.Topics))
			for i, t := range req.Topics {
				codes[i] = make([]int16, len(t.Partitions))
				for j, p := range t.Partitions {
					id, ok := topics.lookup(t.Topic, p.Partition)
					ids[i] = id
					if !ok {
						codes[i][j] = kerr.UnknownTopicOrPartition.Code // topic deleted meanwhile
					}
				}
			}
			var finish func()
			c.withGroup(g, true, func(gr *group) {
				finish = gr.commit(req, codes, ids)
				gr.dropIfUnused()
			})
			if finish != nil {
				finish()
			}
			for i := range codes {
				for j := range codes[i] {
					if codes[i][j] != 0 && codes[i][j] != kerr.UnknownTopicOrPartition.Code {
						return kerr.ErrorForCode(codes[i][j])
					}
				}
			}
		}
	}
	dels := make([]storage.KV, len(items))
	for i, it := range items {
		dels[i] = storage.KV{Key: it.key}
	}
	return c.kv.PutKV(txnOffsetsNS, dels...)
}

// topicIDOf is topic's id in topics (zero when unknown or topics is nil).
func topicIDOf(topics Topics, topic string) [16]byte {
	if topics == nil {
		return [16]byte{}
	}
	id, _, _ := topics(topic)
	return id
}
