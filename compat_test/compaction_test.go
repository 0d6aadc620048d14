package compat

// Compacted topics (cleanup.policy=compact) read from the start by franz-go
// and by librdkafka (confluent-kafka-go), on Kafka and gregor alike: each
// key's latest value at the offset it was written at, tombstones younger
// than delete.retention.ms, no record of an overwritten key in the cleaned
// part; and keyless records refused.

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// compacted is a compacted topic of one target, produced and cleaned once
// and read by every client's scenario.
type compacted struct {
	topic    string
	written  map[[2]string]int64 // (key, value) -> offset; value "<nil>" for a tombstone
	latest   map[string]string   // key -> latest value
	produced int
	err      error
}

var (
	compactedMu  sync.Mutex
	compactedFor = map[string]*compacted{}
)

const compactKeys, compactRounds = 20, 25

// compactedTopic creates the target's compacted topic (segment.ms=100 so
// Kafka rolls its segment at the next append, min.cleanable.dirty.ratio
// 0.01), overwrites 20 keys 25 times with franz-go, deletes one with a
// tombstone, and waits until a read from the start shows the cleaner has
// run (Kafka's log.cleaner.backoff.ms and gregor's compaction interval are
// both 15 s).
func compactedTopic(t *testing.T, tg *target) *compacted {
	t.Helper()
	compactedMu.Lock()
	defer compactedMu.Unlock()
	if c := compactedFor[tg.name]; c != nil {
		if c.err != nil {
			t.Fatal(c.err)
		}
		return c
	}
	c := &compacted{topic: uniq("compacted"), written: map[[2]string]int64{}, latest: map[string]string{}}
	compactedFor[tg.name] = c
	c.err = func() error {
		adm := newAdmin(t, tg)
		resp, err := adm.CreateTopic(ctxT(t, 30*time.Second), 1, 1, map[string]*string{
			"cleanup.policy":            kadm.StringPtr("compact"),
			"segment.ms":                kadm.StringPtr("100"),
			"min.cleanable.dirty.ratio": kadm.StringPtr("0.01"),
		}, c.topic)
		if err != nil || resp.Err != nil {
			return fmt.Errorf("create %s: %v %v", c.topic, err, resp.Err)
		}
		waitTopic(t, tg, c.topic, 1)
		cl := newClient(t, tg, kgo.DefaultProduceTopic(c.topic), kgo.ProducerBatchCompression(kgo.NoCompression()))
		produce := func(rs ...*kgo.Record) error {
			res := cl.ProduceSync(ctxT(t, 30*time.Second), rs...)
			if err := res.FirstErr(); err != nil {
				return err
			}
			for _, r := range res {
				v := string(r.Record.Value)
				if r.Record.Value == nil {
					v = "<nil>"
				}
				c.written[[2]string{string(r.Record.Key), v}] = r.Record.Offset
				c.latest[string(r.Record.Key)] = v
				c.produced++
			}
			return nil
		}
		for r := 0; r < compactRounds; r++ {
			var rs []*kgo.Record
			for k := 0; k < compactKeys; k++ {
				rs = append(rs, &kgo.Record{Key: []byte(fmt.Sprintf("k%d", k)), Value: []byte(fmt.Sprintf("k%d-r%d", k, r))})
			}
			if err := produce(rs...); err != nil {
				return err
			}
		}
		if err := produce(&kgo.Record{Key: []byte("k7"), Value: nil}); err != nil {
			return err
		}
		// Past segment.ms, then an append: Kafka rolls the segment holding
		// everything above, which makes it cleanable.
		time.Sleep(300 * time.Millisecond)
		if err := produce(&kgo.Record{Key: []byte("end"), Value: []byte("end")}); err != nil {
			return err
		}
		deadline := time.Now().Add(90 * time.Second)
		for {
			got := readCompacted(t, tg, c.topic)
			if len(got) <= compactKeys+2 {
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s still holds %d of %d records 90 s after its segment rolled: never compacted", c.topic, len(got), c.produced)
			}
			time.Sleep(time.Second)
		}
	}()
	if c.err != nil {
		t.Fatal(c.err)
	}
	return c
}

// check verifies what a client read from offset 0: offsets increasing and
// the ones the records were written at, each key's last value its latest,
// every key there, and only the latest record of each key (the cleaner
// has run over everything but the last record).
func (c *compacted) check(t *testing.T, got []rec) {
	t.Helper()
	last := int64(-1)
	seen := map[string]string{}
	for _, r := range got {
		if r.O <= last {
			t.Fatalf("offset %d after %d", r.O, last)
		}
		last = r.O
		off, ok := c.written[[2]string{r.K, r.V}]
		if !ok || off != r.O {
			t.Fatalf("read %s=%s at offset %d; it was written at %d (found %v)", r.K, r.V, r.O, off, ok)
		}
		seen[r.K] = r.V
	}
	for k, v := range c.latest {
		if seen[k] != v {
			t.Errorf("key %s: last read %q, latest written %q", k, seen[k], v)
		}
	}
	if len(got) > compactKeys+2 {
		t.Errorf("read %d records of %d produced: not compacted", len(got), c.produced)
	}
}

func TestCompaction(t *testing.T) {
	matrixGo(t, "franz-go", "compacted topic read from the start", apisData, func(t *testing.T, tg *target) {
		c := compactedTopic(t, tg)
		c.check(t, readCompacted(t, tg, c.topic))
	})

	matrixGo(t, "confluent-kafka-go", "compacted topic read from the start", apisData, func(t *testing.T, tg *target) {
		c := compactedTopic(t, tg)
		end := endOffsets(t, tg, c.topic)[0]
		cons, err := kafka.NewConsumer(&kafka.ConfigMap{"bootstrap.servers": tg.addr, "client.id": "compat-ckg",
			"group.id": uniq("g-ckg-compact"), "enable.auto.commit": false, "fetch.wait.max.ms": 200})
		if err != nil {
			t.Fatal(err)
		}
		defer cons.Close()
		if err := cons.Assign([]kafka.TopicPartition{{Topic: &c.topic, Partition: 0, Offset: kafka.OffsetBeginning}}); err != nil {
			t.Fatal(err)
		}
		var got []rec
		deadline := time.Now().Add(45 * time.Second)
		for (len(got) == 0 || got[len(got)-1].O < end-1) && time.Now().Before(deadline) {
			m, err := cons.ReadMessage(500 * time.Millisecond)
			if err != nil {
				var ke kafka.Error
				if errors.As(err, &ke) && ke.IsTimeout() {
					continue
				}
				t.Fatalf("read: %v", err)
			}
			v := string(m.Value)
			if m.Value == nil {
				v = "<nil>"
			}
			got = append(got, rec{P: m.TopicPartition.Partition, O: int64(m.TopicPartition.Offset), K: string(m.Key), V: v})
		}
		if len(got) == 0 || got[len(got)-1].O != end-1 {
			t.Fatalf("librdkafka read %d records, never reaching offset %d", len(got), end-1)
		}
		c.check(t, got)
	})

	matrixGo(t, "franz-go", "keyless record on a compacted topic refused", apisData, func(t *testing.T, tg *target) {
		c := compactedTopic(t, tg)
		cl := newClient(t, tg, kgo.DefaultProduceTopic(c.topic), kgo.RecordRetries(1))
		err := cl.ProduceSync(ctxT(t, 30*time.Second), &kgo.Record{Value: []byte("no key")}).FirstErr()
		if !errors.Is(err, kerr.InvalidRecord) {
			t.Fatalf("keyless record on a compacted topic: %v, want INVALID_RECORD", err)
		}
	})
}

// readCompacted reads a one-partition topic from offset 0 with franz-go
// up to its high watermark (a compacted topic holds fewer records than
// offsets, so readAll's count does not apply).
func readCompacted(t *testing.T, tg *target, topic string) []rec {
	t.Helper()
	end := endOffsets(t, tg, topic)[0]
	cl := newClient(t, tg, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchMaxWait(200*time.Millisecond))
	var out []rec
	ctx := ctxT(t, 30*time.Second)
	for len(out) == 0 || out[len(out)-1].O < end-1 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %s: %d records, never reaching offset %d", topic, len(out), end-1)
		}
		fs.EachError(func(tp string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", tp, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			x := toRec(r)
			if r.Value == nil {
				x.V = "<nil>"
			}
			x.H = nil
			out = append(out, x)
		})
	}
	return out
}
