package storage

import (
	"fmt"
	"math/rand"
	"os"
	"strconv"
	"testing"
	"time"
)

// TestModel drives the store with random operations (appends, reads,
// DeleteRecords, retention, key/values, topic deletion, clean restarts and
// power losses) and compares it after every step with a simple in-memory
// model. Sync flush, single writer: every acknowledged operation must
// survive a power loss, so the model never has to guess.
func TestModel(t *testing.T) {
	if s := os.Getenv("GREGOR_MODEL_SEED"); s != "" {
		seed, _ := strconv.ParseInt(s, 10, 64)
		runModel(t, seed, 400)
		return
	}
	seeds := 6
	steps := 400
	if testing.Short() {
		seeds, steps = 2, 150
	}
	for seed := int64(1); seed <= int64(seeds); seed++ {
		seed := seed + time.Now().UnixNano()%1000*1000
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			if seed%2 == 0 {
				// Small consume-queue files: many file boundaries.
				defer func(n int64) { cqFileEntries = n }(cqFileEntries)
				cqFileEntries = 2 * cqBlock
			}
			runModel(t, seed, steps)
		})
	}
}

type modelBatch struct {
	base   int64
	values []string
	size   int64
}

type modelPart struct {
	batches  []modelBatch
	logStart int64
	next     int64
}

func runModel(t *testing.T, seed int64, steps int) {
	rng := rand.New(rand.NewSource(seed))
	fs := newMemFS()
	cfg := testConfig(t, "/m")
	cfg.FS = fs
	cfg.FlushMode = FlushSync
	cfg.SegmentBytes = 4096 + int64(rng.Intn(8192))
	cfg.CheckpointInterval = time.Duration(1+rng.Intn(20)) * time.Millisecond
	s := mustOpen(t, cfg)
	defer func() { s.Close() }()
	type key struct {
		topic uint16
		part  int32
	}
	tid := func(n uint16) TopicID { return TopicID{byte(n >> 8), byte(n), 7} }
	model := map[key]*modelPart{}
	kv := map[string]string{}
	topics := []uint16{1, 2, 3}
	for _, tp := range topics {
		for pi := int32(0); pi < 2; pi++ {
			if _, err := s.CreatePartition(tid(tp), pi); err != nil {
				t.Fatal(err)
			}
			model[key{tp, pi}] = &modelPart{}
		}
	}
	n := 0
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("seed %d step %d: %s", seed, n, fmt.Sprintf(format, args...))
	}
	verify := func() {
		for k, m := range model {
			p := s.Partition(tid(k.topic), k.part)
			if p == nil {
				fail("partition %v missing", k)
			}
			if p.HighWatermark() != m.next || p.LogStartOffset() != m.logStart {
				fail("%v: hwm %d start %d, model %d %d", k, p.HighWatermark(), p.LogStartOffset(), m.next, m.logStart)
			}
			var want []string
			var size int64
			for _, b := range m.batches {
				if b.base+int64(len(b.values)) > m.logStart {
					for i, v := range b.values {
						if b.base+int64(i) >= m.logStart {
							want = append(want, v)
						}
					}
					size += b.size
				}
			}
			got := readAll(t, p, m.logStart)
			if len(got) != len(want) {
				fail("%v: %d records, model %d", k, len(got), len(want))
			}
			for i := range got {
				if got[i].value != want[i] || got[i].offset != m.logStart+int64(i) {
					fail("%v: record %d = %+v, model %q", k, i, got[i], want[i])
				}
			}
			if p.Size() != size {
				fail("%v: size %d model %d", k, p.Size(), size)
			}
		}
		for k, v := range kv {
			if got, ok := s.GetKV("m", []byte(k)); !ok || string(got) != v {
				fail("kv %s = %q want %q", k, got, v)
			}
		}
		cnt := 0
		s.RangeKV("m", func(k, v []byte) bool { cnt++; return true })
		if cnt != len(kv) {
			fail("%d keys, model %d", cnt, len(kv))
		}
	}
	pick := func() (key, *modelPart) {
		for {
			k := key{topics[rng.Intn(len(topics))], int32(rng.Intn(2))}
			if m := model[k]; m != nil {
				return k, m
			}
		}
	}
	for n = 0; n < steps; n++ {
		r := rng.Intn(100)
		if testing.Verbose() {
			t.Logf("step %d op %d", n, r)
		}
		switch {
		case r < 55: // append
			k, m := pick()
			nr := 1 + rng.Intn(5)
			recs := make([]testRecord, nr)
			vals := make([]string, nr)
			for i := range recs {
				vals[i] = fmt.Sprintf("s%d-%d-%d", seed, n, i)
				recs[i] = testRecord{value: []byte(vals[i]), tsDelta: int64(i)}
			}
			b := makeBatch(batchOpts{firstTs: time.Now().UnixMilli(), producerID: -1, epoch: -1, seq: -1}, recs...)
			res, err := s.Partition(tid(k.topic), k.part).Append(b, 0)
			if err != nil {
				fail("append: %v", err)
			}
			if res.BaseOffset != m.next {
				fail("base %d model %d", res.BaseOffset, m.next)
			}
			m.batches = append(m.batches, modelBatch{base: m.next, values: vals, size: int64(len(b))})
			m.next += int64(nr)
		case r < 62: // random read in range
			k, m := pick()
			if m.next > m.logStart {
				off := m.logStart + rng.Int63n(m.next-m.logStart)
				res, err := s.Partition(tid(k.topic), k.part).Read(off, int32(rng.Intn(500)))
				if err != nil || len(res.Chunks) == 0 || res.Chunks[0].BaseOffset > off || res.Chunks[0].LastOffset < off {
					fail("read %d: %v %+v", off, err, res)
				}
				res.Release()
			}
		case r < 67: // DeleteRecords
			k, m := pick()
			off := m.logStart + rng.Int63n(m.next-m.logStart+1)
			ls, err := s.Partition(tid(k.topic), k.part).DeleteRecordsBefore(off)
			if err != nil || ls != max(off, m.logStart) {
				fail("delete records %d: %d %v", off, ls, err)
			}
			m.logStart = max(off, m.logStart)
		case r < 72: // retention.bytes
			k, m := pick()
			p := s.Partition(tid(k.topic), k.part)
			limit := int64(rng.Intn(3000))
			p.SetRetention(RetentionPolicy{Ms: -1, Bytes: limit})
			if err := s.RunRetention(); err != nil {
				fail("retention: %v", err)
			}
			p.SetRetention(RetentionPolicy{Ms: -1, Bytes: -1})
			// Model: drop whole batches from the front while over the limit.
			var size int64
			first := -1
			for i, b := range m.batches {
				if b.base+int64(len(b.values)) > m.logStart {
					size += b.size
					if first < 0 {
						first = i
					}
				}
			}
			for i := first; i >= 0 && i < len(m.batches) && size > limit; i++ {
				size -= m.batches[i].size
				m.logStart = max(m.logStart, m.batches[i].base+int64(len(m.batches[i].values)))
			}
		case r < 80: // key/values
			k := fmt.Sprint("k", rng.Intn(10))
			if rng.Intn(3) == 0 {
				s.PutKV("m", KV{Key: []byte(k)})
				delete(kv, k)
			} else {
				v := fmt.Sprint(n)
				s.PutKV("m", KV{Key: []byte(k), Value: []byte(v)})
				kv[k] = v
			}
		case r < 82: // delete a topic, create a new one
			tp := topics[rng.Intn(len(topics))]
			if err := s.DeleteTopic(tid(tp)); err != nil {
				fail("delete topic: %v", err)
			}
			delete(model, key{tp, 0})
			delete(model, key{tp, 1})
			nt := uint16(100 + n)
			for i := range topics {
				if topics[i] == tp {
					topics[i] = nt
				}
			}
			for pi := int32(0); pi < 2; pi++ {
				s.CreatePartition(tid(nt), pi)
				model[key{nt, pi}] = &modelPart{}
			}
		case r < 88: // clean restart
			if err := s.Close(); err != nil {
				fail("close: %v", err)
			}
			s = mustOpen(t, cfg)
		case r < 96: // power loss
			after := fs.crash(rng)
			s.Close()
			fs = after
			cfg.FS = fs
			s = mustOpen(t, cfg)
		default:
			s.RunRetention()
		}
		verify()
	}
}
