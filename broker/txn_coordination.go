package broker

// Transaction coordination: which broker coordinates a transactional id,
// the check each transaction handler makes (validateTxn), and what the
// coordinator (broker/txn, whose doc describes the design) needs from the
// broker: producer ids and markers written to partitions here or, through
// WriteTxnMarkers, on other broker groups.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"sync"
	"time"

	"github.com/gregor-broker/gregor/broker/group"
	"github.com/gregor-broker/gregor/broker/txn"
	"github.com/gregor-broker/gregor/nameserver"
	"github.com/gregor-broker/gregor/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// txnStateTopic is Kafka's transaction state topic; txnStatePartitions its
// fixed partition count (transaction.state.log.num.partitions).
const (
	txnStateTopic      = "__transaction_state"
	txnStatePartitions = 50
)

// txnCoordinatorFor returns the live master coordinating a transactional
// id: the owner of its __transaction_state partition (one formula with
// groups, internalCoordinator).
func (b *Broker) txnCoordinatorFor(ctx context.Context, id string, create bool) (*nameserver.Broker, int16) {
	return b.internalCoordinator(ctx, txnStateTopic, txnStatePartitions, id, create)
}

// validateTxn is the check each transaction handler makes before touching
// a transactional id: the coordinator, or NOT_COORDINATOR when this broker
// does not coordinate the id (a slave, or another group's master does).
func (b *Broker) validateTxn(ctx context.Context, id string) (*txn.Coordinator, int16) {
	if !b.isMaster() {
		return nil, kerr.NotCoordinator.Code
	}
	m, code := b.txnCoordinatorFor(ctx, id, false)
	if code != 0 {
		return nil, code
	}
	if m != nil && !b.cl().isSelf(m) {
		return nil, kerr.NotCoordinator.Code
	}
	return b.txns(), 0
}

// txnCoordinators holds each broker's coordinator (made on first use).
var txnCoordinators sync.Map // *Broker -> *txn.Coordinator

// txnCheckInterval is how often expired transactions are aborted (Kafka's
// transaction.abort.timed.out.transaction.cleanup.interval.ms is 10 s;
// tests shorten it).
var txnCheckInterval = 10 * time.Second

// txns returns b's transaction coordinator, starting its timeout loop the
// first time (stopped with the broker).
func (b *Broker) txns() *txn.Coordinator {
	if c, ok := txnCoordinators.Load(b); ok {
		return c.(*txn.Coordinator)
	}
	c := txn.New(txn.Config{CheckInterval: txnCheckInterval}, b.store, txnEnv{b}, b.log.Named("txn"))
	if prev, loaded := txnCoordinators.LoadOrStore(b, c); loaded {
		return prev.(*txn.Coordinator)
	}
	if b.stopCh != nil {
		go func() {
			c.Run(b.stopCh)
			txnCoordinators.Delete(b)
		}()
	}
	return c
}

// txnEnv is the broker as the coordinator sees it.
type txnEnv struct{ b *Broker }

func (e txnEnv) Active() bool { return e.b.isMaster() }

func (e txnEnv) NextProducerID() (int64, error) {
	a, err := e.b.producerIDs()
	if err != nil {
		return 0, err
	}
	return a.Next()
}

// WriteMarkers writes the markers of a decided transaction: here for the
// partitions and groups this broker group owns, through WriteTxnMarkers to
// the masters of the others.
//
// At transaction.version 2 a partition answering INVALID_PRODUCER_EPOCH
// holds a later epoch already: only the coordinator bumps a transactional
// producer's epoch, and it does so after this transaction's markers are
// all written, so this marker counts as written.
func (e txnEnv) WriteMarkers(ctx context.Context, pid int64, epoch int16, commit bool, tv int8, parts []txn.TopicPartition, groups []string) error {
	b := e.b
	remote := map[string]*kmsg.WriteTxnMarkersRequest{}
	masters := map[string]*nameserver.Broker{}
	var errs []error
	written := func(code int16) bool {
		return code == 0 || code == kerr.UnknownTopicOrPartition.Code || (tv >= 2 && code == kerr.InvalidProducerEpoch.Code)
	}
	addRemote := func(m *nameserver.Broker, topic string, part int32) {
		key := fmt.Sprintf("%s/%d", m.BrokerName, m.BrokerID)
		req := remote[key]
		if req == nil {
			req = kmsg.NewPtrWriteTxnMarkersRequest()
			mk := kmsg.NewWriteTxnMarkersRequestMarker()
			mk.ProducerID, mk.ProducerEpoch, mk.Committed, mk.TransactionVersion = pid, epoch, commit, tv
			req.Markers = append(req.Markers, mk)
			remote[key], masters[key] = req, m
		}
		mk := &req.Markers[0]
		for i := range mk.Topics {
			if mk.Topics[i].Topic == topic {
				mk.Topics[i].Partitions = append(mk.Topics[i].Partitions, part)
				return
			}
		}
		mk.Topics = append(mk.Topics, kmsg.WriteTxnMarkersRequestMarkerTopic{Topic: topic, Partitions: []int32{part}})
	}
	for _, p := range parts {
		if !b.notLeader(p.Topic, [16]byte{}, p.Partition) {
			if code := b.writeMarker(p.Topic, p.Partition, pid, epoch, commit, tv); !written(code) {
				errs = append(errs, fmt.Errorf("%s/%d: %w", p.Topic, p.Partition, kerr.ErrorForCode(code)))
			}
			continue
		}
		v := b.cl().currentView()
		vt := v.byName[p.Topic]
		if vt == nil {
			continue // deleted meanwhile: nothing to mark
		}
		if _, m := v.owner(vt, p.Partition); m != nil {
			addRemote(m, p.Topic, p.Partition)
		} else {
			errs = append(errs, fmt.Errorf("%s/%d: %w", p.Topic, p.Partition, txn.ErrNotCoordinator))
		}
	}
	for _, g := range groups {
		m, code := b.coordinator(ctx, g, false)
		switch {
		case code != 0:
			errs = append(errs, fmt.Errorf("group %s: %w", g, kerr.ErrorForCode(code)))
		case m == nil || b.cl().isSelf(m):
			if err := b.completeTxnOffsets(pid, commit, func(id string) bool { return id == g }); err != nil {
				errs = append(errs, fmt.Errorf("group %s: %w", g, err))
			}
		default:
			addRemote(m, offsetsTopic, group.PartitionFor(g, offsetsPartitions))
		}
	}
	for key, req := range remote {
		resp, err := b.cl().send(ctx, masters[key], req)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, mk := range resp.(*kmsg.WriteTxnMarkersResponse).Markers {
			for _, t := range mk.Topics {
				for _, p := range t.Partitions {
					if !written(p.ErrorCode) {
						errs = append(errs, fmt.Errorf("%s/%d: %w", t.Topic, p.Partition, kerr.ErrorForCode(p.ErrorCode)))
					}
				}
			}
		}
	}
	return errors.Join(errs...)
}

// txnReplicationWait bounds how long a transaction answer waits for the
// in-sync slaves (Kafka's coordinator appends with acks=all and
// request.timeout.ms, 30 s).
const txnReplicationWait = 30 * time.Second

// txnAwaitInSync holds a transaction answer (EndTxn, WriteTxnMarkers) in
// replication.mode=sync until every in-sync slave has this master's commit
// log up to its end, which covers the coordinator's decision and the
// markers written for it, as Produce acks=all waits (waitReplicated): a
// slave promoted after the answer has the commit. false when they did not
// within txnReplicationWait, the ISR is below min.insync.replicas, or the
// lease ran out meanwhile; the caller answers with a retriable error (the
// decision is durable here and a retry finds it). With
// log.flush.mode=sync every write above was fsynced before (PutKV,
// writeMarker wait for it).
func (b *Broker) txnAwaitInSync(ctx context.Context) bool {
	if b.cfg.Replication.Mode != ReplicationSync {
		return true
	}
	m := b.replicationMaster()
	if m == nil {
		return true // no slave can be in sync
	}
	m.Notify()
	pos := b.store.EndPosition()
	wctx, cancel := context.WithTimeout(ctx, txnReplicationWait)
	defer cancel()
	if err := m.WaitReplicated(wctx, pos, 1); err != nil {
		return false
	}
	if err := b.waitMustHold(wctx, m, pos); err != nil {
		return false
	}
	return len(b.inSyncMembers()) >= max(b.cfg.Replication.MinInsyncReplicas, 1) && b.leaseValid()
}

// completeTxnOffsets ends a producer's pending transactional offsets in
// the groups coordinated here that owning accepts.
func (b *Broker) completeTxnOffsets(pid int64, commit bool, owning func(string) bool) error {
	g := b.localGroups()
	if g == nil {
		return kerr.NotCoordinator
	}
	return g.CompleteTxn(pid, commit, owning, b.groupTopics)
}

// writeMarker appends a commit or abort marker to a partition this broker
// group owns and waits until it is durable; a Kafka error code, 0 on
// success. A marker whose epoch is below the producer's epoch on the
// partition is stale: INVALID_PRODUCER_EPOCH, nothing written. tv is the
// marker's transaction.version (WriteTxnMarkers v2, KIP-1228); Kafka 4.4.0
// checks markers of every version so (compat_test's
// TestTxnVersionsMatchKafka: a level-2 marker at the partition's epoch is
// taken), and so does gregor.
func (b *Broker) writeMarker(topic string, partition int32, pid int64, epoch int16, commit bool, tv int8) int16 {
	b.gate.RLock()
	if !b.isMaster() {
		b.gate.RUnlock()
		return kerr.NotLeaderForPartition.Code
	}
	t, ok := b.topics.Get(topic)
	if !ok || partition < 0 || partition >= t.Partitions {
		b.gate.RUnlock()
		return kerr.UnknownTopicOrPartition.Code
	}
	p := b.store.Partition(t.ID, partition)
	if p == nil {
		b.gate.RUnlock()
		return kerr.UnknownTopicOrPartition.Code
	}
	if cur, ok := p.ProducerEpoch(pid); ok && epoch < cur {
		b.gate.RUnlock()
		return kerr.InvalidProducerEpoch.Code
	}
	_, end, err := p.AppendDeferred(controlBatch(pid, epoch, commit, time.Now().UnixMilli()), b.leaderEpoch())
	b.gate.RUnlock()
	if err == nil {
		if m := b.replicationMaster(); m != nil {
			m.Notify()
		}
		err = b.store.WaitDurable(end)
	}
	if err != nil {
		b.log.Warn("writing a transaction marker", logPart(topic, partition), logErr(err))
		return errorCode(err)
	}
	return 0
}

// controlBatch is a transaction marker: a v2 RecordBatch with the
// transactional and control attributes and one control record, key int16
// version 0 + int16 type (0 abort, 1 commit), value int16 version 0 +
// int32 coordinator epoch (0: gregor's coordinators have no epochs of their
// own; the producer epoch fences).
func controlBatch(pid int64, epoch int16, commit bool, now int64) []byte {
	typ := byte(storage.ControlAbort)
	if commit {
		typ = storage.ControlCommit
	}
	var rec []byte
	rec = append(rec, 0)                // attributes
	rec = binary.AppendVarint(rec, 0)   // timestamp delta
	rec = binary.AppendVarint(rec, 0)   // offset delta
	rec = binary.AppendVarint(rec, 4)   // key length
	rec = append(rec, 0, 0, 0, typ)     // key
	rec = binary.AppendVarint(rec, 6)   // value length
	rec = append(rec, 0, 0, 0, 0, 0, 0) // value
	rec = binary.AppendVarint(rec, 0)   // headers
	recs := binary.AppendVarint(nil, int64(len(rec)))
	recs = append(recs, rec...)

	b := make([]byte, 0, 61+len(recs))
	b = binary.BigEndian.AppendUint64(b, 0)                    // base offset
	b = binary.BigEndian.AppendUint32(b, uint32(49+len(recs))) // length
	b = binary.BigEndian.AppendUint32(b, 0)                    // partition leader epoch
	b = append(b, 2)                                           // magic
	b = binary.BigEndian.AppendUint32(b, 0)                    // crc, below
	b = binary.BigEndian.AppendUint16(b, attrTransactional|attrControl)
	b = binary.BigEndian.AppendUint32(b, 0)           // last offset delta
	b = binary.BigEndian.AppendUint64(b, uint64(now)) // first timestamp
	b = binary.BigEndian.AppendUint64(b, uint64(now)) // max timestamp
	b = binary.BigEndian.AppendUint64(b, uint64(pid))
	b = binary.BigEndian.AppendUint16(b, uint16(epoch))
	b = binary.BigEndian.AppendUint32(b, 0xffffffff) // base sequence -1
	b = binary.BigEndian.AppendUint32(b, 1)          // records
	b = append(b, recs...)
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32c))
	return b
}
