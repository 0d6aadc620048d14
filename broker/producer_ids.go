package broker

// Producer id allocation for idempotent producers.
//
// A producer id must be unique across the whole cluster, yet no broker asks
// another at InitProducerId time. Each broker owns the id space of its
// node.id: id = node.id << 40 | n, where n counts up per broker. The counter
// is reserved in blocks of producerIDBlock through the store's durable KV
// state before any id of a block is handed out, so a restart (even after
// SIGKILL) resumes after the last reserved block and never repeats an id; at
// worst it skips the rest of a block. Because the reservation lives in the
// commit log, a slave that takes over has it too, but it hands out ids from
// its own node.id space anyway.
//
// 40 bits of counter allow ~10^12 ids per broker; node ids up to 2^23-1 keep
// ids positive, as Kafka requires.
//
// Epoch bumps (InitProducerId with a producer id and epoch, KIP-360) are
// granted only to the holder of the id's current epoch, as Kafka's
// TransactionMetadata.prepareIncrementProducerEpoch grants them: the
// allocator records, for each id it handed out and bumped, the current and
// the previous epoch (durably, key "epoch/<id>" in the same namespace; an id
// never bumped is at epoch 0). The current epoch is bumped; the previous one
// is a retry of a bump whose answer was lost and gets the current epoch
// again; any other epoch is fenced. An id this broker did not hand out (another node's,
// or one never issued) gets a fresh id instead of a bump, which is what
// Kafka 4 answers every non-transactional InitProducerId: whoever presents
// it can never move another producer's epoch. The records are one small key
// per bumped id and are never removed (producers rarely bump).

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
	"weak"

	"github.com/gregor-broker/gregor/storage"
)

const (
	producerIDNamespace = "producer_ids"
	producerIDBlock     = 1000
	producerIDNodeShift = 40
	maxProducerIDNode   = 1<<(63-producerIDNodeShift) - 1
)

var producerIDNextKey = []byte("next")

// errProducerFenced is a bump asked with an epoch that is neither the id's
// current nor its previous one.
var errProducerFenced = errors.New("broker: producer epoch fenced")

// producerEpochs are an id's current epoch and the one before it (-1: none).
type producerEpochs struct{ cur, prev int16 }

// errProducerIDsExhausted is returned when a broker has used its whole
// counter space (not reachable in practice).
var errProducerIDsExhausted = errors.New("broker: producer id space exhausted")

// producerKV is what allocation needs from the store.
type producerKV interface {
	PutKV(ns string, kvs ...storage.KV) error
	GetKV(ns string, key []byte) ([]byte, bool)
}

// producerIDAllocator hands out this broker's producer ids.
type producerIDAllocator struct {
	mu    sync.Mutex
	kv    producerKV
	node  int64
	next  int64 // next counter value to hand out
	limit int64 // first counter value not reserved

	epochs map[int64]producerEpochs // bumped ids read or written so far
}

func newProducerIDAllocator(kv producerKV, nodeID int32) (*producerIDAllocator, error) {
	if nodeID < 0 || int64(nodeID) > maxProducerIDNode {
		return nil, fmt.Errorf("broker: node.id %d does not fit producer ids (max %d)", nodeID, int64(maxProducerIDNode))
	}
	a := &producerIDAllocator{kv: kv, node: int64(nodeID)}
	if v, ok := kv.GetKV(producerIDNamespace, producerIDNextKey); ok && len(v) == 8 {
		a.next = int64(binary.BigEndian.Uint64(v))
		a.limit = a.next
	}
	return a, nil
}

// Next returns a producer id never handed out before by this broker.
func (a *producerIDAllocator) Next() (int64, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.next == a.limit {
		limit := a.limit + producerIDBlock
		if limit >= 1<<producerIDNodeShift {
			return 0, errProducerIDsExhausted
		}
		var v [8]byte
		binary.BigEndian.PutUint64(v[:], uint64(limit))
		if err := a.kv.PutKV(producerIDNamespace, storage.KV{Key: producerIDNextKey, Value: v[:]}); err != nil {
			return 0, err
		}
		a.limit = limit
	}
	id := a.node<<producerIDNodeShift | a.next
	a.next++
	return id, nil
}

// Bump answers a re-init by the producer holding id at epoch: the same id
// with the next epoch, the current epoch again for a retried bump, or a
// fresh id at epoch 0 when the epoch is exhausted or the id is not one this
// broker handed out. errProducerFenced when epoch is stale.
func (a *producerIDAllocator) Bump(id int64, epoch int16) (int64, int16, error) {
	a.mu.Lock()
	issued := id>>producerIDNodeShift == a.node && id&(1<<producerIDNodeShift-1) < a.next
	var cur producerEpochs
	if issued {
		var err error
		if cur, err = a.epochsLocked(id); err != nil {
			a.mu.Unlock()
			return 0, 0, err
		}
	}
	switch {
	case !issued:
	case epoch == cur.cur && epoch >= math.MaxInt16-1:
		// Exhausted: a new id, as Kafka does (the old one is done).
	case epoch == cur.cur:
		next := producerEpochs{cur: epoch + 1, prev: epoch}
		var v [4]byte
		binary.BigEndian.PutUint16(v[:], uint16(next.cur))
		binary.BigEndian.PutUint16(v[2:], uint16(next.prev))
		err := a.kv.PutKV(producerIDNamespace, storage.KV{Key: producerEpochKey(id), Value: v[:]})
		if err == nil {
			a.epochs[id] = next
		}
		a.mu.Unlock()
		return id, next.cur, err
	case epoch == cur.prev:
		a.mu.Unlock()
		return id, cur.cur, nil
	default:
		a.mu.Unlock()
		return 0, 0, errProducerFenced
	}
	a.mu.Unlock()
	fresh, err := a.Next()
	return fresh, 0, err
}

// epochsLocked returns id's epochs: recorded, or 0 with no previous one.
func (a *producerIDAllocator) epochsLocked(id int64) (producerEpochs, error) {
	if e, ok := a.epochs[id]; ok {
		return e, nil
	}
	e := producerEpochs{cur: 0, prev: -1}
	if v, ok := a.kv.GetKV(producerIDNamespace, producerEpochKey(id)); ok {
		if len(v) != 4 {
			return e, fmt.Errorf("broker: producer id %d: epoch record of %d bytes", id, len(v))
		}
		e = producerEpochs{cur: int16(binary.BigEndian.Uint16(v)), prev: int16(binary.BigEndian.Uint16(v[2:]))}
	}
	if a.epochs == nil {
		a.epochs = make(map[int64]producerEpochs)
	}
	a.epochs[id] = e
	return e, nil
}

func producerEpochKey(id int64) []byte {
	k := append([]byte("epoch/"), 0, 0, 0, 0, 0, 0, 0, 0)
	binary.BigEndian.PutUint64(k[len(k)-8:], uint64(id))
	return k
}

// allocators holds each broker's allocator, made on first use so the
// broker's core needs no field for it. Keys are weak so a broker that is
// shut down and dropped (tests start many) takes its allocator with it.
var allocators struct {
	mu sync.Mutex
	m  map[weak.Pointer[Broker]]*producerIDAllocator
}

// producerIDs returns b's allocator.
func (b *Broker) producerIDs() (*producerIDAllocator, error) {
	allocators.mu.Lock()
	defer allocators.mu.Unlock()
	key := weak.Make(b)
	if a, ok := allocators.m[key]; ok {
		return a, nil
	}
	a, err := newProducerIDAllocator(b.store, b.cfg.NodeID)
	if err != nil {
		return nil, err
	}
	if allocators.m == nil {
		allocators.m = make(map[weak.Pointer[Broker]]*producerIDAllocator)
	}
	allocators.m[key] = a
	runtime.AddCleanup(b, func(k weak.Pointer[Broker]) {
		allocators.mu.Lock()
		delete(allocators.m, k)
		allocators.mu.Unlock()
	}, key)
	return a, nil
}
