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

import (
	"encoding/binary"
	"errors"
	"fmt"
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
