package bench

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// producer is one producer client and the loop that feeds it.
type producer struct {
	cl      *kgo.Client
	sh      *shard
	payload []byte // shared by every record unless stamp is set
	stamp   bool   // e2e: each record's value starts with its send time
	keys    KeyMode
	keyNext uint64   // sequential keys: next key of this producer
	keyStep uint64   // sequential keys: number of producers
	keyMod  uint64   // sequential keys wrap here; 0 = never
	topics  []string // more than one: each record goes to the next
	topicAt int      // index in topics of the next record's topic
	rng     *rand.Rand
	errs    *firstError
	pool    sync.Pool
	txn     int  // records per transaction; 0: none (txn.go)
	inTxn   bool // a transaction is open
}

// newPayload is the value bytes every record carries: pseudo-random, so that
// compression has real work to do, and the same in every run.
func newPayload(size int) []byte {
	b := make([]byte, size)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func newProducer(cl *kgo.Client, sh *shard, cfg *Config, payload []byte, stamp bool, index int, errs *firstError) *producer {
	p := &producer{
		cl:      cl,
		sh:      sh,
		payload: payload,
		stamp:   stamp,
		keys:    cfg.Keys,
		keyNext: uint64(index),
		keyStep: uint64(cfg.Producers),
		keyMod:  cfg.KeySpace,
		rng:     rand.New(rand.NewPCG(uint64(index), uint64(time.Now().UnixNano()))),
		errs:    errs,
		txn:     cfg.TxnRecords,
	}
	if cfg.Topics > 1 {
		p.topics = cfg.TopicNames()
		p.topicAt = index % len(p.topics) // producers do not march in step
	}
	p.pool.New = func() any {
		r := &kgo.Record{Value: p.payload}
		if p.stamp {
			r.Value = append([]byte(nil), p.payload...)
		}
		if p.keys != KeysNone {
			r.Key = make([]byte, 8)
		}
		return r
	}
	return p
}

// run produces until stop is set or quota records were sent (quota 0: no
// quota), at rate records per second (0: as fast as the client accepts them;
// Produce blocks while MaxBuffered records are unacknowledged).
func (p *producer) run(ctx context.Context, stop *atomic.Bool, quota int64, rate float64) {
	start := time.Now()
	defer p.endTxn(ctx)
	for sent := int64(0); quota == 0 || sent < quota; sent++ {
		if stop.Load() || ctx.Err() != nil {
			return
		}
		if !p.nextTxn(ctx, sent) {
			return
		}
		if rate > 0 {
			// Send on a schedule from the start rather than
			// sleeping an interval after each send, so that a
			// late wake-up is caught up instead of lowering the
			// rate. Short waits are skipped: sleeping 50 µs costs
			// more than it is worth and the next records catch up.
			due := start.Add(time.Duration(float64(sent) / rate * float64(time.Second)))
			if wait := time.Until(due); wait > 200*time.Microsecond {
				time.Sleep(wait)
			}
		}
		r := p.pool.Get().(*kgo.Record)
		if p.topics != nil {
			r.Topic = p.topics[p.topicAt]
			p.topicAt = (p.topicAt + 1) % len(p.topics)
		}
		now := time.Now()
		r.Timestamp = now // the ack latency is measured from here
		if p.stamp {
			binary.BigEndian.PutUint64(r.Value, uint64(now.UnixNano()))
		}
		switch p.keys {
		case KeysRandom:
			binary.BigEndian.PutUint64(r.Key, p.rng.Uint64())
		case KeysSequential:
			k := p.keyNext
			if p.keyMod > 0 {
				k %= p.keyMod
			}
			binary.BigEndian.PutUint64(r.Key, k)
			p.keyNext += p.keyStep
		}
		p.cl.Produce(ctx, r, p.promise)
	}
}

// promise counts an acknowledged or failed record and recycles it: after the
// promise franz-go holds no reference to the record.
func (p *producer) promise(r *kgo.Record, err error) {
	now := time.Now()
	if err != nil {
		p.sh.fail()
		p.errs.set(err)
	} else {
		p.sh.add(len(r.Value), now.Sub(r.Timestamp), now)
	}
	*r = kgo.Record{Key: r.Key, Value: r.Value}
	p.pool.Put(r)
}

// batchCounter counts the record batches a producer client wrote, to report
// the batch size the brokers saw (kgo.HookProduceBatchWritten).
type batchCounter struct {
	batches atomic.Int64
	bytes   atomic.Int64 // compressed, as written
}

func (b *batchCounter) OnProduceBatchWritten(_ kgo.BrokerMetadata, _ string, _ int32, m kgo.ProduceBatchMetrics) {
	b.batches.Add(1)
	b.bytes.Add(int64(m.CompressedBytes))
}

// firstError keeps the first error a run saw, for the summary.
type firstError struct {
	mu  sync.Mutex
	err error
}

func (f *firstError) set(err error) {
	f.mu.Lock()
	if f.err == nil {
		f.err = err
	}
	f.mu.Unlock()
}

func (f *firstError) String() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err == nil {
		return ""
	}
	return f.err.Error()
}
