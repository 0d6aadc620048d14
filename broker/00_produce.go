package broker

// Produce (key 0), versions 0–13; v0–v2 are rejected.
//
// Appends each partition's record batch to the commit log (storage) and
// answers once it is durable under the flush mode and, for acks=all in
// replication.mode=sync, replicated (docs/replication.md).
//
// Behaviour:
//   - acks must be -1, 0 or 1; anything else gets INVALID_REQUIRED_ACKS on
//     every partition.
//   - Per partition, in this order: a partition another broker group leads,
//     or one the cluster knows on a slave (or a master stepping down), gets
//     NOT_LEADER_OR_FOLLOWER; so does every partition while the master holds
//     no fail-over lease (lease.go); an unknown topic or partition gets
//     UNKNOWN_TOPIC_OR_PARTITION (Produce never auto-creates, as in Kafka);
//     an internal topic INVALID_TOPIC_EXCEPTION; acks=all in sync mode with
//     fewer in-sync members than min.insync.replicas (topic, else broker)
//     NOT_ENOUGH_REPLICAS, nothing appended.
//   - The records must be one v2 RecordBatch, validated as in batch.go
//     (CRC, counts, codec, every record decoded, compressed ones with a
//     bounded buffer; Kafka's codes). CreateTime topics refuse records whose
//     timestamps lie outside message.timestamp.before.max.ms /
//     .after.max.ms (Kafka 4 defaults: unlimited / 1 hour) with
//     INVALID_TIMESTAMP. LogAppendTime topics get the timestamp-type bit and
//     the broker's time as max timestamp, with the CRC recomputed.
//   - An idempotent producer's batches are checked by the store (sequence,
//     epoch); a retried duplicate of one of its last five batches gets
//     success with the offset it had. Storage errors map to Kafka codes in
//     errors.go.
//   - Partitions are appended one after the other, then the request waits
//     once for the furthest commit-log position to be durable (one group
//     commit fsync under log.flush.mode=sync); if that fails no partition of
//     the request is acknowledged.
//   - replication.mode=sync and acks=all: the answer waits until every
//     in-sync slave has the bytes, bounded by the request's timeout
//     (REQUEST_TIMED_OUT; an idempotent retry dedupes), and gets
//     NOT_ENOUGH_REPLICAS_AFTER_APPEND when the ISR shrank below the minimum
//     meanwhile. In async mode acks=1 and acks=all are answered alike.
//   - A lease that ran out while the request waited turns its successes into
//     NOT_LEADER_OR_FOLLOWER: a slave may already lead a new term.
//   - acks=0 writes no response (the protocol layer keeps the order of the
//     requests around it); a failed partition closes the connection instead,
//     as in Kafka, so the client notices.
//
// Versions:
//   - v0–v2 (message formats 0 and 1): the connection is closed without an
//     answer, as Kafka 4 does (observed on 4.1.1; compat_test's hostile case
//     checks both). Produce is still advertised from v0: librdkafka stops
//     compressing when Produce's advertised minimum is not 0 (KAFKA-18659).
//   - v3+: a transactional batch must carry the request's transactional id
//     and belong to a partition of that producer's open transaction
//     (txn_produce.go); from v12 the partition is added to it
//     (transaction.version 2, KIP-890 part 2).
//   - v7+: zstd; before v7 a zstd batch gets UNSUPPORTED_COMPRESSION_TYPE.
//   - v10+: a partition answered NOT_LEADER_OR_FOLLOWER carries the
//     current leader and the answer its endpoint (KIP-951,
//     leader_hints.go).
//   - v13 names topics by id (KIP-516); an id this cluster does not know
//     gets UNKNOWN_TOPIC_ID, and the answer carries the id, not the name.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"strconv"
	"sync"
	"time"

	"github.com/gregor-broker/gregor/protocol"
	"github.com/gregor-broker/gregor/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.Produce, 0, 13, handleProduce) }

var errProduceV0V2 = errors.New("produce v0-v2 (message formats 0 and 1) are not supported")

func handleProduce(ctx context.Context, b *Broker, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.ProduceRequest)
	resp := r.ResponseKind().(*kmsg.ProduceResponse)
	if r.Version < 3 {
		return nil, errProduceV0V2 // the connection closes, as in Kafka 4
	}
	code := int16(0)
	if r.Acks != 0 && r.Acks != 1 && r.Acks != -1 {
		code = kerr.InvalidRequiredAcks.Code
	}
	type job struct {
		t         *Topic
		ti, pi    int // indexes into resp.Topics[ti].Partitions[pi]
		partition int32
		records   []byte
	}
	// Sized once: a request may carry a batch for each of hundreds of
	// partitions (round-robin partitioning), where growing these slices
	// one append at a time was most of the request's garbage.
	nParts := 0
	for _, rt := range r.Topics {
		nParts += len(rt.Partitions)
	}
	jobs := make([]job, 0, nParts)
	resp.Topics = make([]kmsg.ProduceResponseTopic, 0, len(r.Topics))
	txnV := b.txnProduceVerify(ctx, r) // before the gate: it may ask another broker
	// No append starts once a step-down took the gate (role.go): the end
	// a stepping-down master reports is final.
	b.gate.RLock()
	gateHeld := true
	defer func() {
		if gateHeld {
			b.gate.RUnlock()
		}
	}()
	syncAll := r.Acks == -1 && b.cfg.Replication.Mode == ReplicationSync
	isr := 0
	if syncAll {
		isr = len(b.inSyncMembers())
	}
	names := make([]string, len(r.Topics)) // each topic's name, "" when unknown (KIP-951 hints)
	for ti, rt := range r.Topics {
		st := kmsg.NewProduceResponseTopic()
		st.Topic = rt.Topic
		st.TopicID = rt.TopicID
		st.Partitions = make([]kmsg.ProduceResponseTopicPartition, 0, len(rt.Partitions))
		name, unknown := rt.Topic, kerr.UnknownTopicOrPartition.Code
		var t *Topic
		var known bool
		if r.Version >= 13 {
			// By id (v13+): an unknown id is UNKNOWN_TOPIC_ID, as in Kafka.
			unknown = kerr.UnknownTopicID.Code
			name = ""
			if t, known = b.topicByID(rt.TopicID); known {
				name = t.Name
			}
		} else {
			t, known = b.topics.Get(rt.Topic)
		}
		names[ti] = name
		for pi, rp := range rt.Partitions {
			sp := kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.BaseOffset = -1
			sp.LogAppendTime = -1
			sp.LogStartOffset = -1
			switch {
			case code != 0:
				sp.ErrorCode = code
			case b.notLeader(name, rt.TopicID, rp.Partition):
				sp.ErrorCode = kerr.NotLeaderForPartition.Code // another broker group leads it
			case !b.leaseValid():
				sp.ErrorCode = kerr.NotLeaderForPartition.Code
				sp.ErrorMessage = kmsg.StringPtr(errNoLease)
			case !known:
				sp.ErrorCode = unknown
			case rp.Partition < 0 || rp.Partition >= t.Partitions:
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case t.Internal:
				sp.ErrorCode = kerr.InvalidTopicException.Code
				sp.ErrorMessage = kmsg.StringPtr("cannot append to internal topic " + t.Name)
			case b.txnProduceRejected(txnV, r.Version, r.TransactionID, name, rp.Partition, rp.Records, &sp):
			case syncAll && isr < b.minInsync(t):
				sp.ErrorCode = kerr.NotEnoughReplicas.Code
				sp.ErrorMessage = kmsg.StringPtr(fmt.Sprintf("%d in-sync replica(s), min.insync.replicas is %d", isr, b.minInsync(t)))
			default:
				jobs = append(jobs, job{t: t, ti: ti, pi: pi, partition: rp.Partition, records: rp.Records})
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	// Partitions are appended one after the other without waiting for
	// durability, then the request waits once for the furthest position:
	// under log.flush.mode=sync one group-commit fsync covers them all
	// (waiting per partition cost one fsync each, 16 per request).
	// Every batch is validated first, then all are appended together:
	// the store writes consecutive entries with one write
	// (storage.Store.AppendBatches), so a request of many small batches
	// costs one syscall, not one per partition.
	var durable int64 = -1
	now := time.Now().UnixMilli()
	ip := getBatchAppends(len(jobs))
	items := *ip
	defer func() { *ip = items; putBatchAppends(ip) }()
	valid := jobs[:0]
	for _, j := range jobs {
		if p, maxTsDelta, ok := b.prepareOne(j.t, j.partition, j.records, r.Version, now, &resp.Topics[j.ti].Partitions[j.pi]); ok {
			items = append(items, storage.BatchAppend{P: p, Batch: j.records,
				MaxTimestampDelta: maxTsDelta, HasMaxTimestampDelta: maxTsDelta >= 0})
			valid = append(valid, j)
		}
	}
	jobs = valid
	if len(items) > 0 {
		end := b.store.AppendBatches(items, b.leaderEpoch())
		for k, j := range jobs {
			sp, it := &resp.Topics[j.ti].Partitions[j.pi], &items[k]
			if it.Err != nil {
				sp.ErrorCode = errorCode(it.Err)
				sp.ErrorMessage = errorMessage(it.Err)
				if sp.ErrorCode == kerr.UnknownServerError.Code || sp.ErrorCode == kerr.KafkaStorageError.Code {
					b.log.Warn("append failed", logPart(j.t.Name, j.partition), logErr(it.Err))
				}
				continue
			}
			sp.BaseOffset = it.Result.BaseOffset
			sp.LogStartOffset = it.Result.LogStartOffset
			durable = end
		}
	}
	b.gate.RUnlock()
	gateHeld = false
	if durable >= 0 && !syncAll {
		if m := b.replicationMaster(); m != nil {
			m.Notify()
		}
	}
	if durable >= 0 {
		if err := b.store.WaitDurable(durable); err != nil {
			// Nothing appended by this request may be acknowledged.
			b.log.Warn("produce: commit log not durable", logErr(err))
			for _, j := range jobs {
				sp := &resp.Topics[j.ti].Partitions[j.pi]
				if sp.ErrorCode == 0 {
					sp.ErrorCode, sp.ErrorMessage = errorCode(err), errorMessage(err)
					sp.BaseOffset, sp.LogStartOffset = -1, -1
				}
			}
		}
	}
	if syncAll && durable >= 0 {
		b.waitReplicated(ctx, durable, time.Duration(r.TimeoutMillis)*time.Millisecond, func(yield func(*Topic, *kmsg.ProduceResponseTopicPartition)) {
			for _, j := range jobs {
				yield(j.t, &resp.Topics[j.ti].Partitions[j.pi])
			}
		})
	}
	if durable >= 0 && !b.leaseValid() {
		// The lease ran out while this request waited: a slave may be
		// master of a new term already. Not acknowledged; the client
		// retries there (lease.go).
		for _, j := range jobs {
			sp := &resp.Topics[j.ti].Partitions[j.pi]
			if sp.ErrorCode == 0 {
				sp.ErrorCode, sp.ErrorMessage = kerr.NotLeaderForPartition.Code, kmsg.StringPtr(errNoLease)
				sp.BaseOffset, sp.LogStartOffset = -1, -1
			}
		}
	}
	if r.Acks == 0 {
		// No response; but as Kafka does, a failed partition closes the
		// connection so the client notices and refreshes its metadata.
		for _, st := range resp.Topics {
			for _, sp := range st.Partitions {
				if sp.ErrorCode != 0 {
					return nil, kerr.ErrorForCode(sp.ErrorCode)
				}
			}
		}
		return nil, nil
	}
	b.addProduceLeaderHints(resp, req.Conn, names)
	return resp, nil
}

// batchAppends recycles the per-request storage.BatchAppend slices (about
// 200 bytes per partition of the request; nothing keeps them once the
// request is answered).
var batchAppends sync.Pool

func getBatchAppends(n int) *[]storage.BatchAppend {
	if p, ok := batchAppends.Get().(*[]storage.BatchAppend); ok && cap(*p) >= n {
		return p
	}
	s := make([]storage.BatchAppend, 0, n)
	return &s
}

// putBatchAppends clears the items (they point into the request's frame
// and at partitions) and keeps the slice for the next request.
func putBatchAppends(p *[]storage.BatchAppend) {
	if cap(*p) > 1<<14 {
		return // an unusually large request: let it go
	}
	clear(*p)
	*p = (*p)[:0]
	batchAppends.Put(p)
}

// prepareOne validates one partition's batch (and stamps a LogAppendTime
// topic's) so it may be appended, or fills sp with the rejection; now is
// the request's time (ms). maxTsDelta is validateBatchMaxTs's, for the
// store (storage.BatchAppend.MaxTimestampDelta).
func (b *Broker) prepareOne(t *Topic, partition int32, batch []byte, version int16, now int64, sp *kmsg.ProduceResponseTopicPartition) (p *storage.Partition, maxTsDelta int32, ok bool) {
	p = b.store.Partition(t.ID, partition)
	if p == nil {
		sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
		return nil, -1, false
	}
	maxMsg := t.MaxMessageBytes
	if maxMsg <= 0 {
		maxMsg = b.cfg.Topics.MaxMessageBytes
	}
	lim := batchLimits{
		maxMessageBytes:    maxMsg,
		produceVersion:     version,
		validateCompressed: true,
		maxDecompressed:    int(b.cfg.SocketRequestMaxBytes),
		maxRecordBytes:     t.MaxRecordBytes,
	}
	var tb timestampBounds
	if !t.LogAppendTime {
		tb = timestampBounds{now: now, beforeMax: t.TimestampBeforeMaxMs, afterMax: t.TimestampAfterMaxMs}
		lim.timestamps = &tb
	}
	if t.Compaction.Enabled {
		lim.compactedTP = fmt.Sprintf("%s-%d", t.Name, partition)
	}
	maxTsDelta, berr := validateBatchMaxTs(batch, lim)
	if berr != nil {
		sp.ErrorCode = berr.code
		sp.ErrorMessage = kmsg.StringPtr(berr.msg)
		for _, i := range berr.records {
			er := kmsg.NewProduceResponseTopicPartitionErrorRecord()
			er.RelativeOffset, er.ErrorMessage = i, kmsg.StringPtr(berr.recordMsg)
			sp.ErrorRecords = append(sp.ErrorRecords, er)
		}
		if berr.records != nil {
			sp.LogStartOffset = p.LogStartOffset() // as Kafka answers a record error
		}
		return nil, -1, false
	}
	if t.LogAppendTime {
		setLogAppendTime(batch, now)
		sp.LogAppendTime = now
	}
	return p, maxTsDelta, true
}

// waitReplicated holds a sync-mode acks=all answer until every in-sync
// slave has the commit log up to pos, bounded by timeout: on time-out the
// appended partitions get REQUEST_TIMED_OUT (the batches may still
// replicate; an idempotent producer's retry is deduplicated), and when the
// ISR is below a topic's min.insync.replicas afterwards, its partitions
// get NOT_ENOUGH_REPLICAS_AFTER_APPEND, as Kafka answers.
func (b *Broker) waitReplicated(ctx context.Context, pos int64, timeout time.Duration, each func(func(*Topic, *kmsg.ProduceResponseTopicPartition))) {
	m := b.replicationMaster()
	if m == nil {
		return // no slave can be in sync
	}
	m.Notify()
	// Kafka's order: wait until every member in sync has the bytes, then
	// compare the ISR with each topic's min.insync.replicas.
	wctx, cancel := context.WithTimeout(ctx, max(timeout, time.Millisecond))
	err := m.WaitReplicated(wctx, pos, 1)
	if err == nil {
		err = b.waitMustHold(wctx, m, pos) // fail-over's committed in-sync set (lease.go)
	}
	cancel()
	isr := len(b.inSyncMembers())
	each(func(t *Topic, sp *kmsg.ProduceResponseTopicPartition) {
		if sp.ErrorCode != 0 {
			return
		}
		switch {
		case err != nil && errors.Is(err, context.DeadlineExceeded):
			sp.ErrorCode = kerr.RequestTimedOut.Code
			sp.ErrorMessage = kmsg.StringPtr("the in-sync replicas did not acknowledge the batch within the request timeout")
		case err != nil:
			sp.ErrorCode = kerr.NotLeaderForPartition.Code
			sp.ErrorMessage = kmsg.StringPtr("replication stopped while waiting: " + err.Error())
		case isr < b.minInsync(t):
			sp.ErrorCode = kerr.NotEnoughReplicasAfterAppend.Code
			sp.ErrorMessage = kmsg.StringPtr(fmt.Sprintf("the ISR shrank to %d, below min.insync.replicas %d, while waiting", isr, b.minInsync(t)))
		default:
			return
		}
		sp.BaseOffset, sp.LogStartOffset = -1, -1
	})
}

// minInsync is the topic's min.insync.replicas, else the broker's.
func (b *Broker) minInsync(t *Topic) int {
	if v, ok := t.Configs["min.insync.replicas"]; ok {
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			return n
		}
	}
	return max(b.cfg.Replication.MinInsyncReplicas, 1)
}

// topicLong is a topic's explicit value of a long config, or Kafka's
// default from the topic config table (resolved once per topic snapshot,
// not per batch).
func topicLong(configs map[string]string, name string) int64 {
	if v, ok := configs[name]; ok {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
			return n
		}
	}
	return parseLong(topicConfigSpecs[name].def)
}

// setLogAppendTime marks a validated batch as LogAppendTime with max
// timestamp now and recomputes its CRC (which covers attributes onward).
func setLogAppendTime(batch []byte, now int64) {
	attrs := binary.BigEndian.Uint16(batch[bAttributes:])
	binary.BigEndian.PutUint16(batch[bAttributes:], attrs|attrLogAppendTime)
	binary.BigEndian.PutUint64(batch[bMaxTimestamp:], uint64(now))
	binary.BigEndian.PutUint32(batch[bCRC:], crc32.Checksum(batch[bAttributes:], crc32c))
}
