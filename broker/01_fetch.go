package broker

// Fetch (key 1), versions 4–18.
//
// Serves record batches from the commit log, up to the high watermark, on
// masters and slaves alike (a slave up to its own high watermark).
//
// Behaviour:
//   - Sessions (KIP-227) are handled in fetch_session.go; an incremental
//     response lists only partitions with news. An unknown session gets
//     FETCH_SESSION_ID_NOT_FOUND, a wrong session epoch
//     INVALID_FETCH_SESSION_EPOCH, and nothing else is answered.
//   - Long poll: when fewer than MinBytes are ready the fetch parks until
//     an append moves the high watermark of one of its partitions (storage
//     Watch), MaxWait passes, or the request's context ends. It never
//     polls. A fetch without partitions (an empty incremental one) waits
//     MaxWait when MinBytes > 0.
//   - Sizes: each partition returns whole batches up to its
//     PartitionMaxBytes and the whole response up to MaxBytes, except that
//     the first batch of the first partition with data is always returned
//     whole even when larger (KIP-74), so a big record never stalls a
//     consumer. An offset inside a batch returns that whole batch. Once the
//     response is full the remaining partitions report their offsets only.
//   - Fairness: in a session, partitions that returned records move to the
//     end of the session's order, so a busy partition cannot starve the
//     others when MaxBytes fills up (as Kafka does).
//   - Records go from the segment files to the socket (fetch_encode.go).
//   - Isolation (txn_fetch.go): read_committed stops at the last stable
//     offset and lists the aborted transactions among the records returned
//     (an empty list when none); read_uncommitted reads to the high
//     watermark with a null list. Both report the last stable offset.
//   - Errors per partition: NOT_LEADER_OR_FOLLOWER for a partition another
//     broker group owns; UNKNOWN_TOPIC_OR_PARTITION for an unknown one;
//     OFFSET_OUT_OF_RANGE below the log start or past the high watermark. A
//     partition in error makes the fetch answer at once.
//
// Versions:
//   - v7+: fetch sessions.
//   - v9+: CurrentLeaderEpoch is checked: FENCED_LEADER_EPOCH when older
//     than the group's master epoch, UNKNOWN_LEADER_EPOCH when newer.
//   - v11+: read from slave (KIP-392): a master may name an in-sync slave
//     as preferred read replica for an ordinary consumer (replica id -1),
//     by rack or for a consumer far behind (read_replica.go); the partition
//     then answers at once without records.
//   - v12+: divergence (KIP-320): when the client's LastFetchedEpoch ends
//     here before its fetch offset, the partition answers at once with no
//     records and the DivergingEpoch tag (the epoch and its end offset).
//   - v13+: topics by id; an unknown id gets UNKNOWN_TOPIC_ID.
//   - v12+: a partition answered NOT_LEADER_OR_FOLLOWER or
//     FENCED_LEADER_EPOCH carries its current leader (KIP-951,
//     leader_hints.go); v16+ answers list that leader's endpoint.
//   - v15+: the replica id comes from ReplicaState (KIP-903).
//   - v17 and v18 add fields only followers send (the replica's directory
//     id, KIP-853, and its high watermark); a consumer's fetch and its
//     answer are v16's.

import (
	"context"
	"time"

	"github.com/gregor-broker/gregor/protocol"
	"github.com/gregor-broker/gregor/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.Fetch, 4, 18, handleFetch) }

// fetchPart is one partition's state during a fetch.
type fetchPart struct {
	req   *sessPart
	topic *Topic
	part  *storage.Partition
	code  int16 // fixed error found before reading
	res   *storage.ReadResult
	reply replyPart
	// readCommitted stops the records at the last stable offset and lists
	// the aborted transactions among them (txn_fetch.go).
	readCommitted bool
}

func handleFetch(ctx context.Context, b *Broker, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.FetchRequest)
	reply := newFetchReply(r.Version)
	plan := b.sessions.plan(r)
	if plan.errCode != 0 {
		reply.ErrorCode = plan.errCode
		return reply, nil
	}
	reply.SessionID = plan.sessionID
	readCommitted := r.IsolationLevel == 1

	parts := make([]*fetchPart, len(plan.parts))
	for i, sp := range plan.parts {
		parts[i] = b.resolveFetchPart(sp, r.Version)
		parts[i].readCommitted = readCommitted
		b.authorizeFetchPart(req, parts[i]) // READ on the topic (acl_enforce.go)
		b.choosePreferred(r, parts[i])      // read from slave (read_replica.go)
	}

	// Watch before the first read: an append between the read and the
	// wait still leaves a token in wake.
	wake := make(chan struct{}, 1)
	signal := func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	for _, fp := range parts {
		if fp.part != nil && fp.code == 0 {
			cancel := fp.part.Watch(signal)
			defer cancel()
		}
	}

	deadline := time.Now().Add(time.Duration(r.MaxWaitMillis) * time.Millisecond)
	var timer *time.Timer
	for waited := false; ; {
		total, failed := b.gatherFetch(parts, r.MaxBytes)
		if waited || total >= int(r.MinBytes) || failed || ctx.Err() != nil {
			break
		}
		left := time.Until(deadline)
		if left <= 0 {
			break
		}
		if timer == nil {
			timer = time.NewTimer(left)
			defer timer.Stop()
		}
		select {
		case <-wake: // new data somewhere: read again
		case <-timer.C:
			waited = true // one last read, then answer
		case <-ctx.Done():
			waited = true
		}
	}

	// Assemble topics in request/session order, grouping consecutive
	// partitions of one topic.
	var served []partKey
	var told []toldPart // what a session's client is told, recorded unless throttled
	var hintView *view
	var hintNodes map[int32]bool // allocated at the first hint: most fetches have none
	for _, fp := range parts {
		p := fp.reply
		if r.Version >= 12 && notLeaderCode(p.errCode) { // KIP-951 (leader_hints.go)
			if hintView == nil {
				hintView = b.cl().currentView()
			}
			name := fp.req.key.topic
			if r.Version >= 13 {
				name = ""
			}
			if leader, epoch, ok := b.leaderHint(hintView, name, fp.req.key.id, fp.req.key.partition); ok {
				p.leaderHint, p.leaderID, p.leaderEpoch = true, leader, epoch
				if hintNodes == nil {
					hintNodes = map[int32]bool{}
				}
				hintNodes[leader] = true
			}
		}
		// Kafka answers an unknown topic with an empty aborted list
		// whatever the isolation (KafkaApis' erroneous partitions).
		p.abortedEmpty = readCommitted || fp.topic == nil && (p.errCode == kerr.UnknownTopicID.Code || p.errCode == kerr.UnknownTopicOrPartition.Code)
		if fp.part != nil && p.errCode == 0 {
			p.lso = min(p.lso, fp.part.LastStableOffset()) // reported at both isolation levels, as Kafka does
		}
		hasRecords := len(p.chunks) > 0
		if hasRecords {
			served = append(served, fp.req.key)
		}
		if fp.res != nil {
			reply.results = append(reply.results, fp.res)
		}
		if plan.sess != nil {
			told = append(told, toldPart{fp.req.key, p.hwm, p.lso, p.lss})
			if plan.incremental && !plan.sess.changed(fp.req.key, hasRecords, p.errCode, p.hwm, p.lso, p.lss) {
				continue
			}
		}
		n := len(reply.topics)
		if n == 0 || reply.topics[n-1].name != fp.req.key.topic || reply.topics[n-1].id != fp.req.key.id {
			reply.topics = append(reply.topics, replyTopic{name: fp.req.key.topic, id: fp.req.key.id})
			n++
		}
		reply.topics[n-1].parts = append(reply.topics[n-1].parts, p)
	}
	if r.Version >= 16 && len(hintNodes) > 0 {
		reply.endpoints = b.hintEndpoints(hintView, req.Conn, hintNodes)
	}
	if b.quotaFetch(req, reply) {
		b.sessions.throttled(plan, reply) // answered empty, as Kafka does (quota_throttle.go)
		return reply, nil
	}
	if plan.sess != nil {
		for _, tp := range told {
			plan.sess.sent(tp.key, tp.hwm, tp.lso, tp.lss)
		}
		plan.sess.rotate(served)
	}
	return reply, nil
}

// toldPart is the offsets a fetch response tells of a session's partition.
type toldPart struct {
	key           partKey
	hwm, lso, lss int64
}

// resolveFetchPart finds the topic and partition of one requested
// partition and checks the errors known before reading.
func (b *Broker) resolveFetchPart(sp *sessPart, version int16) *fetchPart {
	fp := &fetchPart{req: sp}
	fp.reply = replyPart{partition: sp.key.partition, hwm: -1, lso: -1, lss: -1, preferredReplica: -1}
	var ok bool
	if version >= 13 {
		fp.topic, ok = b.topicByID(sp.key.id)
	} else {
		fp.topic, ok = b.topics.Get(sp.key.topic)
	}
	if ok && sp.key.partition >= 0 && sp.key.partition < fp.topic.Partitions {
		fp.part = b.store.Partition(fp.topic.ID, sp.key.partition)
	}
	name := sp.key.topic
	if version >= 13 {
		name = ""
	}
	switch {
	case fp.part == nil && b.notLeader(name, sp.key.id, sp.key.partition):
		fp.code = kerr.NotLeaderForPartition.Code // another broker group leads it
	case fp.part == nil && version >= 13 && !ok:
		fp.code = kerr.UnknownTopicID.Code
	case fp.part == nil:
		fp.code = kerr.UnknownTopicOrPartition.Code
	default:
		fp.code = checkLeaderEpoch(sp.currentLeaderEpoch, b.leaderEpoch())
	}
	fp.reply.errCode = fp.code
	return fp
}

// checkLeaderEpoch compares a client's CurrentLeaderEpoch (-1: not given)
// with the partition's.
func checkLeaderEpoch(client, ours int32) int16 {
	switch {
	case client < 0 || client == ours:
		return 0
	case client < ours:
		return kerr.FencedLeaderEpoch.Code
	default:
		return kerr.UnknownLeaderEpoch.Code
	}
}

// divergence checks a v12+ fetch's LastFetchedEpoch as Kafka does: when
// that epoch ends on this leader before the fetch offset (or is unknown
// here), the client must truncate to the returned epoch's end offset.
func (b *Broker) divergence(fp *fetchPart) (epoch int32, end int64, diverged bool) {
	last := fp.req.lastFetchedEpoch
	if last < 0 {
		return 0, 0, false
	}
	cur := b.leaderEpoch()
	if last == cur {
		return 0, 0, false // the current epoch ends at the log end
	}
	epoch, end = fp.part.EndOffsetForEpoch(last)
	if epoch < last || end < fp.req.fetchOffset {
		return epoch, end, true
	}
	return 0, 0, false
}

// gatherFetch (re)reads every partition and returns the record bytes
// found and whether any partition is in error.
func (b *Broker) gatherFetch(parts []*fetchPart, maxBytes int32) (total int, failed bool) {
	if maxBytes <= 0 {
		maxBytes = 1<<31 - 1
	}
	for _, fp := range parts {
		if fp.res != nil {
			fp.res.Release()
			fp.res = nil
		}
		fp.reply.chunks = nil
		fp.reply.diverging = false
		if fp.code != 0 {
			failed = true
			continue
		}
		if fp.reply.preferredReplica >= 0 {
			// Sent to a slave (read_replica.go): no records, at once.
			hwm := fp.part.HighWatermark()
			fp.reply.hwm, fp.reply.lso, fp.reply.lss = hwm, hwm, fp.part.LogStartOffset()
			failed = true
			continue
		}
		fp.reply.errCode = 0
		// The partition's limit, capped by what is left of the response's
		// (KIP-74): also for the first partition with data, whose first
		// batch alone may go over (kept below).
		remaining := int(maxBytes) - total
		limit := min(int(fp.req.maxBytes), remaining)
		if limit <= 0 && total > 0 {
			// The response is full; report the offsets only.
			hwm := fp.part.HighWatermark()
			fp.reply.hwm, fp.reply.lso, fp.reply.lss = hwm, hwm, fp.part.LogStartOffset()
			continue
		}
		if limit <= 0 {
			limit = 1
		}
		res, err := fp.part.Read(fp.req.fetchOffset, int32(min(limit, 1<<31-1)))
		if err != nil {
			// Kafka's failed read reports no offsets (-1), also for
			// OFFSET_OUT_OF_RANGE: the client asks ListOffsets.
			fp.reply.hwm, fp.reply.lso, fp.reply.lss = -1, -1, -1
			fp.reply.errCode = errorCode(err)
			if fp.reply.errCode != kerr.OffsetOutOfRange.Code {
				b.log.Debug("fetch read failed", logPart(fp.topic.Name, fp.req.key.partition), logErr(err))
			}
			failed = true
			continue
		}
		fp.reply.hwm, fp.reply.lso, fp.reply.lss = res.HighWatermark, res.HighWatermark, res.LogStartOffset
		if ep, end, diverged := b.divergence(fp); diverged {
			// The client's log went past where its epoch ended here:
			// no records, only where to truncate to (KIP-320).
			res.Release()
			fp.reply.diverging, fp.reply.divEpoch, fp.reply.divEnd = true, ep, end
			failed = true // answer at once, as for an error
			continue
		}
		fp.res = res
		n := 0
		kept := stableChunks(fp, res.Chunks)
		for i, c := range kept {
			// Whole batches within the limit; the first batch of the
			// response is kept even when larger (KIP-74).
			if n+int(c.Len) > limit && !(total == 0 && i == 0) {
				kept = kept[:i]
				break
			}
			n += int(c.Len)
		}
		fp.reply.chunks = kept
		fp.reply.aborted = abortedIn(fp, kept)
		total += n
	}
	return total, failed
}
