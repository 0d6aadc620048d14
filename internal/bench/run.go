package bench

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
)

// flushTimeout bounds how long the end of a produce run waits for the
// records still buffered.
const flushTimeout = time.Minute

// Run runs one benchmark as cfg describes. Once a second it writes a
// progress line to progress (nil: none); log may be nil. The summary comes
// back even when records failed; the error is for a run that could not take
// place.
func Run(ctx context.Context, cfg Config, log *zap.Logger, progress io.Writer) (*Summary, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	admCl, adm, err := newAdmin(&cfg, log)
	if err != nil {
		return nil, err
	}
	defer admCl.Close()
	var partitions int32
	if cfg.Topics > 1 {
		partitions, err = ensureTopics(ctx, adm, &cfg, log)
	} else {
		partitions, err = ensureTopic(ctx, adm, &cfg, log)
	}
	if err != nil {
		return nil, err
	}
	r := &runner{cfg: &cfg, log: log, progress: progress, adm: adm, partitions: partitions}
	var sum *Summary
	switch cfg.Mode {
	case ModeProduce:
		sum, err = r.produce(ctx, r.cfg.Records, r.cfg.Duration, r.cfg.Warmup, r.cfg.Rate, string(ModeProduce))
	case ModeConsume:
		sum, err = r.consume(ctx)
	case ModeE2E:
		sum, err = r.e2e(ctx)
	}
	if sum != nil {
		sum.BrokerRSSMaxBytes = r.rssMax.Load()
	}
	if cfg.Delete {
		dctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		if derr := deleteTopics(dctx, adm, cfg.TopicNames()...); derr != nil {
			log.Warn("deleting the topic failed", zap.String("topic", cfg.Topic), zap.Error(derr))
		}
		cancel()
	}
	return sum, err
}

// runner is one run in progress.
type runner struct {
	cfg        *Config
	log        *zap.Logger
	progress   io.Writer
	adm        *kadm.Client
	partitions int32
	rssMax     atomic.Int64
	cpuStart   atomic.Pointer[cpuSample] // where the measured part began
}

// cpuSample is the CPU time broker and client had used at one moment.
type cpuSample struct{ broker, client float64 }

func (r *runner) sampleCPU() *cpuSample {
	c := &cpuSample{client: selfCPUSeconds()}
	if r.cfg.BrokerPID > 0 {
		c.broker = procCPUSeconds(r.cfg.BrokerPID)
	}
	for _, pid := range r.cfg.ReplicaPIDs {
		c.broker += procCPUSeconds(pid)
	}
	return c
}

// markCPU notes the start of the measured part (a meter's onReset).
func (r *runner) markCPU() { r.cpuStart.Store(r.sampleCPU()) }

// setCPU fills the CPU figures from the start mark to now.
func (r *runner) setCPU(s *Summary) {
	start := r.cpuStart.Load()
	if start == nil {
		return
	}
	end := r.sampleCPU()
	s.ClientCPUSeconds = end.client - start.client
	if r.cfg.BrokerPID > 0 || len(r.cfg.ReplicaPIDs) > 0 {
		s.BrokerCPUSeconds = end.broker - start.broker
	}
	if s.Records > 0 {
		s.ClientCPUMicrosPerRec = s.ClientCPUSeconds * 1e6 / float64(s.Records)
		s.BrokerCPUMicrosPerRec = s.BrokerCPUSeconds * 1e6 / float64(s.Records)
	}
}

// view is one meter on the progress line.
type view struct {
	name    string
	m       *meter
	latency string // the latency's name, "" when the meter has none
	prev    snapshot
}

// watch prints a progress line every second until the returned func is
// called, and samples the broker's memory.
func (r *runner) watch(label string, views ...*view) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		start := time.Now()
		prevT := start
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				r.sampleRSS()
				if r.progress == nil {
					continue
				}
				line := fmt.Sprintf("%4.0fs %s", now.Sub(start).Seconds(), label)
				secs := now.Sub(prevT).Seconds()
				prevT = now
				for _, v := range views {
					sn := v.m.snap()
					recs, bytes := sn.records-v.prev.records, sn.bytes-v.prev.bytes
					if recs < 0 { // the warm-up ended
						recs, bytes = sn.records, sn.bytes
					}
					v.prev = sn
					line += fmt.Sprintf(" | %s %s rec/s %.1f MB/s", v.name,
						thousands(float64(recs)/secs), float64(bytes)/mb/secs)
					if l := latencyOf(sn.hist); l != nil && v.latency != "" {
						line += fmt.Sprintf(", %s p50 %.2f p99 %.2f max %.2f ms", v.latency, l.P50, l.P99, l.Max)
					}
					if sn.errors > 0 {
						line += fmt.Sprintf(", errors %d", sn.errors)
					}
				}
				fmt.Fprintln(r.progress, line)
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
		r.sampleRSS()
	}
}

func (r *runner) sampleRSS() {
	if r.cfg.BrokerPID <= 0 {
		return
	}
	if rss := rssBytes(r.cfg.BrokerPID); rss > r.rssMax.Load() {
		r.rssMax.Store(rss)
	}
}

// producerSet is the producer clients of a run.
type producerSet struct {
	ps      []*producer
	m       *meter
	errs    *firstError
	batches batchCounter // over all clients, warm-up included
}

func (r *runner) newProducers(stamp bool) (*producerSet, error) {
	s := &producerSet{m: newMeter(r.cfg.Producers), errs: &firstError{}}
	payload := newPayload(r.cfg.RecordSize)
	for i := range r.cfg.Producers {
		cl, err := kgo.NewClient(append(append(producerOpts(r.cfg, r.log), txnOpts(r.cfg, i)...), kgo.WithHooks(&s.batches))...)
		if err != nil {
			s.close()
			return nil, err
		}
		s.ps = append(s.ps, newProducer(cl, s.m.shards[i], r.cfg, payload, stamp, i, s.errs))
	}
	return s, nil
}

func (s *producerSet) close() {
	for _, p := range s.ps {
		p.cl.Close()
	}
}

// run produces total records (0: no limit) at rate for warmup+dur (0: no
// limit) and waits until every record is acknowledged or failed.
func (s *producerSet) run(ctx context.Context, total int64, dur, warmup time.Duration, rate float64) {
	var stop atomic.Bool
	defer context.AfterFunc(ctx, func() { stop.Store(true) })()
	s.m.reset(time.Now())
	if warmup > 0 {
		t := time.AfterFunc(warmup, func() { s.m.reset(time.Now()) })
		defer t.Stop()
	}
	if dur > 0 {
		t := time.AfterFunc(warmup+dur, func() { stop.Store(true) })
		defer t.Stop()
	}
	n := int64(len(s.ps))
	var wg sync.WaitGroup
	for i, p := range s.ps {
		quota := total / n
		if int64(i) < total%n {
			quota++
		}
		if total > 0 && quota == 0 {
			continue
		}
		wg.Go(func() { p.run(ctx, &stop, quota, rate/float64(n)) })
	}
	wg.Wait()
	fctx, cancel := context.WithTimeout(ctx, flushTimeout)
	defer cancel()
	for _, p := range s.ps {
		if err := p.cl.Flush(fctx); err != nil {
			s.errs.set(fmt.Errorf("flush: %w", err))
		}
	}
}

// produce is a produce run; consume's preload is one too.
func (r *runner) produce(ctx context.Context, total int64, dur, warmup time.Duration, rate float64, label string) (*Summary, error) {
	ps, err := r.newProducers(false)
	if err != nil {
		return nil, err
	}
	defer ps.close()
	ps.m.onReset = r.markCPU
	stop := r.watch(label, &view{name: "acked", m: ps.m, latency: "ack"})
	ps.run(ctx, total, dur, warmup, rate)
	stop()
	sum := &Summary{}
	sum.fill(r.cfg, r.partitions)
	sum.Mode = ModeProduce
	sum.Consumers = 0
	sum.TargetRate = rate
	sum.measure(ps.m.snap())
	sum.FirstError = ps.errs.String()
	sum.setBatches(&ps.batches, ps.m.total())
	r.setCPU(sum)
	return sum, nil
}

// consumerSet is the consumer clients of a run.
type consumerSet struct {
	cs   []*consumer
	m    *meter
	errs *firstError
}

// newConsumers makes the consumer clients: partition p is read by client p
// mod Consumers from offset from[p]. With ends, a client stops when it has
// read every partition it was given to ends[p]; partitions whose end is not
// past their start are not read at all.
func (r *runner) newConsumers(from map[int32]int64, ends map[int32]int64, stamp bool) (*consumerSet, error) {
	n := r.cfg.Consumers
	readers := max(r.cfg.Fanout, 1)
	assign := make([]map[int32]kgo.Offset, n)
	var until []map[int32]int64
	if ends != nil {
		until = make([]map[int32]int64, n)
	}
	parts := make([]int32, 0, len(from))
	for p := range from {
		parts = append(parts, p)
	}
	slices.Sort(parts)
	for _, p := range parts {
		if ends != nil && ends[p] <= from[p] {
			continue
		}
		i := int(p) % n
		if assign[i] == nil {
			assign[i] = make(map[int32]kgo.Offset)
		}
		assign[i][p] = kgo.NewOffset().At(from[p])
		if ends != nil {
			if until[i] == nil {
				until[i] = make(map[int32]int64)
			}
			until[i][p] = ends[p]
		}
	}
	// With Fanout > 1 every reader gets the same assignment on clients
	// of its own (and its own copy of the ends, which a consumer empties).
	s := &consumerSet{m: newMeter(n * readers), errs: &firstError{}}
	for k := range readers {
		for i := range n {
			if assign[i] == nil {
				continue
			}
			cl, err := kgo.NewClient(consumerOpts(r.cfg, r.log, assign[i], &recordPool{})...)
			if err != nil {
				s.close()
				return nil, err
			}
			c := &consumer{cl: cl, sh: s.m.shards[k*n+i], stamp: stamp, errs: s.errs}
			if until != nil {
				c.ends = maps.Clone(until[i])
			}
			s.cs = append(s.cs, c)
		}
	}
	return s, nil
}

func (s *consumerSet) close() {
	for _, c := range s.cs {
		c.cl.Close()
	}
}

// start runs every consumer; wait returns once all have stopped.
func (s *consumerSet) start(ctx context.Context) (wait func()) {
	var wg sync.WaitGroup
	for _, c := range s.cs {
		wg.Go(func() { c.run(ctx) })
	}
	return wg.Wait
}

// consume reads the topic from its start offsets to the end offsets it has
// once the (optional) preload is done.
func (r *runner) consume(ctx context.Context) (*Summary, error) {
	var preload *Summary
	if r.cfg.Preload > 0 {
		var err error
		preload, err = r.produce(ctx, r.cfg.Preload, 0, 0, 0, "preload")
		if err != nil {
			return nil, err
		}
	}
	starts, err := listOffsets(ctx, r.adm, r.cfg.Topic, false)
	if err != nil {
		return nil, err
	}
	ends, err := listOffsets(ctx, r.adm, r.cfg.Topic, true)
	if err != nil {
		return nil, err
	}
	cs, err := r.newConsumers(starts, ends, false)
	if err != nil {
		return nil, err
	}
	defer cs.close()

	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cs.m.onReset = r.markCPU
	cs.m.reset(time.Now())
	if r.cfg.Warmup > 0 {
		t := time.AfterFunc(r.cfg.Warmup, func() { cs.m.reset(time.Now()) })
		defer t.Stop()
	}
	if r.cfg.Duration > 0 {
		t := time.AfterFunc(r.cfg.Warmup+r.cfg.Duration, cancel)
		defer t.Stop()
	}
	if r.cfg.Records > 0 {
		go func() {
			waitCount(cctx, cs.m, r.cfg.Records)
			cancel()
		}()
	}
	stop := r.watch(string(ModeConsume), &view{name: "read", m: cs.m})
	cs.start(cctx)()
	stop()

	sum := &Summary{Preload: preload}
	sum.fill(r.cfg, r.partitions)
	sum.Producers = 0
	sum.measure(cs.m.snap())
	sum.FirstError = cs.errs.String()
	r.setCPU(sum)
	return sum, nil
}

// e2e produces stamped records at a fixed rate while consumers that started
// at the end offsets measure how long each took to arrive.
func (r *runner) e2e(ctx context.Context) (*Summary, error) {
	ends, err := listOffsets(ctx, r.adm, r.cfg.Topic, true)
	if err != nil {
		return nil, err
	}
	cs, err := r.newConsumers(ends, nil, true)
	if err != nil {
		return nil, err
	}
	defer cs.close()
	ps, err := r.newProducers(true)
	if err != nil {
		return nil, err
	}
	defer ps.close()

	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wait := cs.start(cctx)
	// The producers' meter resets at the same moments; the consumers'
	// marks the CPU (ps.run resets the producers' right after this).
	cs.m.onReset = r.markCPU
	cs.m.reset(time.Now())
	if r.cfg.Warmup > 0 {
		t := time.AfterFunc(r.cfg.Warmup, func() { cs.m.reset(time.Now()) })
		defer t.Stop()
	}
	stop := r.watch(string(ModeE2E),
		&view{name: "acked", m: ps.m, latency: "ack"},
		&view{name: "received", m: cs.m, latency: "e2e"})
	ps.run(ctx, r.cfg.Records, r.cfg.Duration, r.cfg.Warmup, r.cfg.Rate)
	acked := ps.m.total()
	dctx, dcancel := context.WithTimeout(ctx, r.cfg.Drain)
	waitCount(dctx, cs.m, acked)
	dcancel()
	cancel()
	wait()
	stop()

	sum := &Summary{}
	sum.fill(r.cfg, r.partitions)
	sum.measure(cs.m.snap())
	psn := ps.m.snap()
	sum.Sent = psn.records
	sum.AckLatency = latencyOf(psn.hist)
	sum.Errors += psn.errors
	if lost := acked - cs.m.total(); lost > 0 {
		sum.Lost = lost
	}
	sum.FirstError = ps.errs.String()
	sum.setBatches(&ps.batches, acked)
	r.setCPU(sum)
	if sum.FirstError == "" {
		sum.FirstError = cs.errs.String()
	}
	return sum, nil
}
