package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// recordPool lets franz-go decode fetched records into reused slices, so the
// client's own allocations weigh less in a consume measurement. Every record
// is recycled right after it is counted.
type recordPool struct {
	recs sync.Pool
	dec  sync.Pool
}

func (p *recordPool) GetRecords(n int) []kgo.Record {
	if s, ok := p.recs.Get().(*[]kgo.Record); ok && cap(*s) >= n {
		return (*s)[:n]
	}
	return make([]kgo.Record, n)
}

func (p *recordPool) PutRecords(s []kgo.Record) { p.recs.Put(&s) }

func (p *recordPool) GetDecompressBytes(compressed []byte, _ kgo.CompressionCodecType) []byte {
	if s, ok := p.dec.Get().(*[]byte); ok && cap(*s) >= 4*len(compressed) {
		return *s
	}
	return make([]byte, 0, 4*len(compressed))
}

func (p *recordPool) PutDecompressBytes(s []byte) { p.dec.Put(&s) }

// consumer is one consumer client reading its share of the partitions.
type consumer struct {
	cl    *kgo.Client
	sh    *shard
	stamp bool            // e2e: the latency is now minus the value's stamp
	ends  map[int32]int64 // consume: stop once every partition reached its end (each end > its start)
	errs  *firstError
}

// run polls until ctx is done or, with ends, every partition was read to
// its end offset.
func (c *consumer) run(ctx context.Context) {
	remaining := len(c.ends)
	for {
		fs := c.cl.PollFetches(ctx)
		if ctx.Err() != nil || fs.IsClientClosed() {
			return
		}
		fs.EachError(func(_ string, _ int32, err error) {
			if errors.Is(err, context.Canceled) {
				return
			}
			c.sh.fail()
			c.errs.set(err)
		})
		now := time.Now()
		nowNano := now.UnixNano()
		c.sh.mu.Lock()
		fs.EachRecord(func(r *kgo.Record) {
			if r.Attrs.IsControl() {
				// A transaction marker (kept, see isolation in
				// txn.go): not a record, but it may be the end.
				if end, ok := c.ends[r.Partition]; ok && c.ends != nil && r.Offset+1 >= end {
					delete(c.ends, r.Partition)
					remaining--
				}
				r.Recycle()
				return
			}
			lat := time.Duration(-1)
			if c.stamp && len(r.Value) >= stampBytes {
				lat = time.Duration(nowNano - int64(binary.BigEndian.Uint64(r.Value)))
				if lat < 0 {
					lat = 0
				}
			}
			c.sh.addLocked(len(r.Value), lat, now)
			if c.ends != nil {
				if end, ok := c.ends[r.Partition]; ok && r.Offset+1 >= end {
					delete(c.ends, r.Partition)
					remaining--
				}
			}
			r.Recycle()
		})
		c.sh.mu.Unlock()
		if c.ends != nil && remaining == 0 {
			return
		}
	}
}

// waitCount waits until the meter's all-time total reaches n or ctx ends.
func waitCount(ctx context.Context, m *meter, n int64) {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for m.total() < n {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
