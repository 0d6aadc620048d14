package broker

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/protocol"
	"github.com/gregor-broker/gregor/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A fetch parked with MinBytes=1 and a MaxWait far beyond the test's
// deadline returns the record produced while it waits: it was woken by
// the append, not by its timer.
func TestCoreFetchLongPollWakesOnProduce(t *testing.T) {
	cb := coreStart(t, "", nil)
	tp := cb.topic("longpoll", 1, nil)
	rc := cb.raw()
	req := fetchReq(12, "longpoll", tp.ID, 0, 0)
	req.MinBytes, req.MaxWaitMillis = 1, 10*60*1000
	corr := rc.send(req)
	// Let the fetch park (it would also be correct if it had not yet).
	time.Sleep(100 * time.Millisecond)
	pr := producePart(cb.raw().do(produceReq(9, -1, "longpoll", 0, coreBatch(time.Now().UnixMilli(), -1, -1, -1, coreRecs(3, "wake")...))))
	if pr.ErrorCode != 0 {
		t.Fatalf("produce error %d", pr.ErrorCode)
	}
	resp := rc.recv(req, corr).(*kmsg.FetchResponse)
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != 0 || p.HighWatermark != 3 || len(p.RecordBatches) == 0 {
		t.Fatalf("partition %+v", p)
	}
	recs := coreDecode(t, p.RecordBatches)
	if len(recs) != 3 || string(recs[2].Value) != "wake-2" || string(recs[0].Key) != "k0" {
		t.Fatalf("records %v", recs)
	}
}

// An empty fetch with MaxWait returns after MaxWait with no records, and
// one with MaxWait 0 returns at once; shutdown answers a parked fetch.
func TestCoreFetchEmptyAndShutdown(t *testing.T) {
	cb := coreStart(t, "", nil)
	tp := cb.topic("empty", 1, nil)
	rc := cb.raw()
	req := fetchReq(11, "empty", tp.ID, 0, 0)
	req.MinBytes, req.MaxWaitMillis = 1, 50
	resp := rc.do(req).(*kmsg.FetchResponse)
	if p := resp.Topics[0].Partitions[0]; p.ErrorCode != 0 || p.HighWatermark != 0 || len(p.RecordBatches) != 0 {
		t.Fatalf("partition %+v", p)
	}
	req.MaxWaitMillis = 10 * 60 * 1000
	corr := rc.send(req)
	time.Sleep(50 * time.Millisecond)
	done := make(chan struct{})
	go func() { cb.stop(); close(done) }()
	if resp := rc.recv(req, corr).(*kmsg.FetchResponse); len(resp.Topics) != 1 {
		t.Fatalf("response %+v", resp)
	}
	<-done
}

// KIP-74: a record larger than both the partition and the request max
// bytes is still returned, so the consumer progresses; later batches are
// held back to respect the limits.
func TestCoreFetchLargeRecordKIP74(t *testing.T) {
	cb := coreStart(t, "", nil)
	cb.topic("big", 1, map[string]string{"max.message.bytes": "8000000"})
	big := bytes.Repeat([]byte("x"), 3<<20)
	cl := cb.client(kgo.ProducerBatchMaxBytes(8<<20), kgo.MaxBufferedBytes(64<<20), kgo.ProducerBatchCompression(kgo.NoCompression()))
	ctx := coreCtx(t)
	for i, v := range [][]byte{big, []byte("small-1"), big, []byte("small-3")} {
		r := &kgo.Record{Topic: "big", Value: v, Key: []byte{byte('0' + i)}}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	recs := cb.consume(4, kgo.ConsumeTopics("big"), kgo.FetchMaxBytes(1<<20), kgo.FetchMaxPartitionBytes(512<<10))
	for i, r := range recs {
		if r.Offset != int64(i) || string(r.Key) != string([]byte{byte('0' + i)}) {
			t.Fatalf("record %d: offset %d key %q", i, r.Offset, r.Key)
		}
	}
	if !bytes.Equal(recs[0].Value, big) || string(recs[1].Value) != "small-1" || !bytes.Equal(recs[2].Value, big) {
		t.Fatal("record values differ")
	}
	// One raw fetch from 0 with small limits returns exactly the first batch.
	tp, _ := cb.b.topics.Get("big")
	req := fetchReq(12, "big", tp.ID, 0, 0)
	req.MaxBytes, req.Topics[0].Partitions[0].PartitionMaxBytes = 1000, 1000
	p := cb.raw().do(req).(*kmsg.FetchResponse).Topics[0].Partitions[0]
	if got := coreDecode(t, p.RecordBatches); len(got) != 1 || len(got[0].Value) != len(big) {
		t.Fatalf("got %d records", len(got))
	}
	// A fetch at an offset inside a batch returns that whole batch.
	cl2 := cb.client(kgo.ProducerLinger(50*time.Millisecond), kgo.ProducerBatchCompression(kgo.NoCompression()))
	for i := 0; i < 5; i++ {
		cl2.Produce(ctx, &kgo.Record{Topic: "big", Value: []byte{byte(i)}}, nil)
	}
	cl2.Flush(ctx)
	p = cb.raw().do(fetchReq(12, "big", tp.ID, 0, 6)).(*kmsg.FetchResponse).Topics[0].Partitions[0]
	got := coreDecode(t, p.RecordBatches)
	if len(got) == 0 || got[0].Offset > 6 || got[len(got)-1].Offset != 8 {
		t.Fatalf("mid-batch fetch returned offsets %v", offsetsOf(got))
	}
}

// Fetch errors per partition.
func TestCoreFetchErrors(t *testing.T) {
	cb := coreStart(t, "", nil)
	tp := cb.topic("fe", 2, nil)
	rc := cb.raw()
	rc.do(produceReq(9, -1, "fe", 0, coreBatch(1, -1, -1, -1, coreRecs(2, "a")...)))
	cases := []struct {
		name    string
		version int16
		topic   string
		id      [16]byte
		part    int32
		offset  int64
		epoch   int32
		code    int16
	}{
		{"past end", 12, "fe", tp.ID, 0, 3, -1, kerr.OffsetOutOfRange.Code},
		{"negative offset", 12, "fe", tp.ID, 0, -1, -1, kerr.OffsetOutOfRange.Code},
		{"at end", 12, "fe", tp.ID, 0, 2, -1, 0},
		{"unknown topic", 12, "nope", tp.ID, 0, 0, -1, kerr.UnknownTopicOrPartition.Code},
		{"unknown partition", 12, "fe", tp.ID, 7, 0, -1, kerr.UnknownTopicOrPartition.Code},
		{"unknown topic id", 13, "", [16]byte{1, 2, 3}, 0, 0, -1, kerr.UnknownTopicID.Code},
		// The partition's epoch is 0 on a fresh single node, so an older
		// (fenced) epoch cannot be sent; checkLeaderEpoch has a unit test.
		{"newer epoch", 12, "fe", tp.ID, 0, 0, 99, kerr.UnknownLeaderEpoch.Code},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := fetchReq(c.version, c.topic, c.id, c.part, c.offset)
			req.Topics[0].Partitions[0].CurrentLeaderEpoch = c.epoch
			p := rc.do(req).(*kmsg.FetchResponse).Topics[0].Partitions[0]
			if p.ErrorCode != c.code {
				t.Fatalf("error %d, want %d", p.ErrorCode, c.code)
			}
			// Kafka's failed read reports no offsets (-1, seen on 4.4.0).
			if c.code == kerr.OffsetOutOfRange.Code && (p.HighWatermark != -1 || p.LogStartOffset != -1) {
				t.Fatalf("hwm %d log start %d", p.HighWatermark, p.LogStartOffset)
			}
		})
	}
}

// Below the log start (after DeleteRecords) is out of range too; at the
// log start is fine.
func TestCoreFetchBelowLogStart(t *testing.T) {
	cb := coreStart(t, "", nil)
	tp := cb.topic("ls", 1, nil)
	rc := cb.raw()
	rc.do(produceReq(9, -1, "ls", 0, coreBatch(1, -1, -1, -1, coreRecs(4, "a")...)))
	if _, err := cb.b.store.Partition(tp.ID, 0).DeleteRecordsBefore(2); err != nil {
		t.Fatal(err)
	}
	p := rc.do(fetchReq(12, "ls", tp.ID, 0, 1)).(*kmsg.FetchResponse).Topics[0].Partitions[0]
	if p.ErrorCode != kerr.OffsetOutOfRange.Code || p.LogStartOffset != -1 || p.HighWatermark != -1 {
		t.Fatalf("below log start: %+v", p)
	}
	p = rc.do(fetchReq(12, "ls", tp.ID, 0, 2)).(*kmsg.FetchResponse).Topics[0].Partitions[0]
	if recs := coreDecode(t, p.RecordBatches); p.ErrorCode != 0 || p.LogStartOffset != 2 || len(recs) == 0 || recs[len(recs)-1].Offset != 3 {
		t.Fatalf("at log start: %+v", p)
	}
}

// KIP-227: a session is created at epoch 0, an incremental fetch lists
// only partitions with news, a wrong epoch or unknown id is refused, and
// a full cache evicts the least recently used session once it is idle.
func TestCoreFetchSessions(t *testing.T) {
	cb := coreStart(t, "", func(c *Config) { c.FetchSessionCacheSlots = 1 })
	tp := cb.topic("sess", 2, nil)
	rc := cb.raw()
	rc.do(produceReq(9, -1, "sess", 0, coreBatch(1, -1, -1, -1, coreRecs(2, "a")...)))

	full := fetchReq(12, "sess", tp.ID, 0, 0)
	p1 := kmsg.NewFetchRequestTopicPartition()
	p1.Partition, p1.PartitionMaxBytes = 1, 1<<20
	full.Topics[0].Partitions = append(full.Topics[0].Partitions, p1)
	full.SessionID, full.SessionEpoch = 0, 0
	resp := rc.do(full).(*kmsg.FetchResponse)
	if resp.SessionID == 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 2 {
		t.Fatalf("full fetch: session %d topics %+v", resp.SessionID, resp.Topics)
	}
	sid := resp.SessionID

	// Incremental, client moved partition 0 to offset 2: nothing changed.
	inc := fetchReq(12, "sess", tp.ID, 0, 2)
	inc.SessionID, inc.SessionEpoch, inc.MaxWaitMillis = sid, 1, 0
	resp = rc.do(inc).(*kmsg.FetchResponse)
	if resp.ErrorCode != 0 || resp.SessionID != sid || len(resp.Topics) != 0 {
		t.Fatalf("incremental fetch: error %d session %d topics %+v", resp.ErrorCode, resp.SessionID, resp.Topics)
	}
	// New data in partition 1 only: only partition 1 is listed.
	rc.do(produceReq(9, -1, "sess", 1, coreBatch(1, -1, -1, -1, coreRecs(1, "b")...)))
	inc.Topics = nil
	inc.SessionEpoch = 2
	resp = rc.do(inc).(*kmsg.FetchResponse)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 || resp.Topics[0].Partitions[0].Partition != 1 ||
		len(coreDecode(t, resp.Topics[0].Partitions[0].RecordBatches)) != 1 {
		t.Fatalf("incremental fetch after produce: %+v", resp.Topics)
	}
	// Replaying epoch 2 is refused.
	if resp = rc.do(inc).(*kmsg.FetchResponse); resp.ErrorCode != kerr.InvalidFetchSessionEpoch.Code {
		t.Fatalf("stale epoch: error %d", resp.ErrorCode)
	}
	// The cache (one slot) is full of a session in use: a second client
	// fetches sessionless.
	if resp = rc.do(full).(*kmsg.FetchResponse); resp.SessionID != 0 || len(resp.Topics) != 1 {
		t.Fatalf("second client: session id %d, topics %+v", resp.SessionID, resp.Topics)
	}
	// Once the first is idle long enough, a new session evicts it.
	cb.b.sessions.mu.Lock()
	cb.b.sessions.minIdle = 0
	cb.b.sessions.mu.Unlock()
	if resp = rc.do(full).(*kmsg.FetchResponse); resp.SessionID == 0 || resp.SessionID == sid {
		t.Fatalf("second session id %d", resp.SessionID)
	}
	inc.SessionEpoch = 3
	if resp = rc.do(inc).(*kmsg.FetchResponse); resp.ErrorCode != kerr.FetchSessionIDNotFound.Code {
		t.Fatalf("evicted session: error %d", resp.ErrorCode)
	}
	if n := cb.b.sessions.len(); n != 1 {
		t.Fatalf("%d sessions cached, want 1", n)
	}
	// A kgo consumer (which uses sessions) still reads everything.
	recs := cb.consume(3, kgo.ConsumeTopics("sess"))
	if len(recs) != 3 {
		t.Fatalf("%d records", len(recs))
	}
}

// KIP-320: a fetch whose LastFetchedEpoch ended before its offset gets the
// DivergingEpoch and no records; one at the epoch's end reads on.
func TestCoreFetchDivergingEpoch(t *testing.T) {
	cb := coreStart(t, "", nil)
	tp := cb.topic("div", 1, nil)
	rc := cb.raw()
	rc.do(produceReq(9, -1, "div", 0, coreBatch(1, -1, -1, -1, coreRecs(3, "e0")...)))
	cb.b.epoch.Store(1) // as after a fail-over
	rc.do(produceReq(9, -1, "div", 0, coreBatch(1, -1, -1, -1, coreRecs(2, "e1")...)))
	fetch := func(offset int64, last int32) kmsg.FetchResponseTopicPartition {
		req := fetchReq(12, "div", tp.ID, 0, offset)
		req.Topics[0].Partitions[0].LastFetchedEpoch = last
		req.Topics[0].Partitions[0].CurrentLeaderEpoch = 1
		return rc.do(req).(*kmsg.FetchResponse).Topics[0].Partitions[0]
	}
	p := fetch(5, 0)
	if p.ErrorCode != 0 || p.DivergingEpoch.Epoch != 0 || p.DivergingEpoch.EndOffset != 3 || len(p.RecordBatches) != 0 {
		t.Fatalf("diverged fetch: %+v", p)
	}
	p = fetch(3, 0)
	if recs := coreDecode(t, p.RecordBatches); p.DivergingEpoch.Epoch != -1 || len(recs) != 2 || string(recs[0].Value) != "e1-0" {
		t.Fatalf("fetch at the epoch's end: %+v", p)
	}
	p = fetch(4, 1) // the current epoch never diverges
	if p.DivergingEpoch.Epoch != -1 || len(coreDecode(t, p.RecordBatches)) == 0 {
		t.Fatalf("current epoch: %+v", p)
	}
	// An old CurrentLeaderEpoch is now fenced.
	req := fetchReq(12, "div", tp.ID, 0, 0)
	req.Topics[0].Partitions[0].CurrentLeaderEpoch = 0
	if p := rc.do(req).(*kmsg.FetchResponse).Topics[0].Partitions[0]; p.ErrorCode != kerr.FencedLeaderEpoch.Code {
		t.Fatalf("old leader epoch: error %d", p.ErrorCode)
	}
}

// In a session, partitions that returned data go to the back, so a small
// MaxBytes serves every partition in turn.
func TestCoreFetchSessionFairness(t *testing.T) {
	cb := coreStart(t, "", nil)
	tp := cb.topic("fair", 3, nil)
	rc := cb.raw()
	for p := int32(0); p < 3; p++ {
		for i := 0; i < 3; i++ {
			rc.do(produceReq(9, -1, "fair", p, coreBatch(1, -1, -1, -1, coreRecs(10, "x")...)))
		}
	}
	full := fetchReq(12, "fair", tp.ID, 0, 0)
	full.MaxBytes, full.SessionEpoch = 1, 0 // one batch per response
	for p := int32(1); p < 3; p++ {
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.PartitionMaxBytes = p, 1<<20
		full.Topics[0].Partitions = append(full.Topics[0].Partitions, rp)
	}
	resp := rc.do(full).(*kmsg.FetchResponse)
	withData := func(resp *kmsg.FetchResponse) []int32 {
		var out []int32
		for _, rt := range resp.Topics {
			for _, p := range rt.Partitions {
				if len(p.RecordBatches) > 0 {
					out = append(out, p.Partition)
				}
			}
		}
		return out
	}
	got := withData(resp)
	offsets := map[int32]int64{}
	inc := kmsg.NewPtrFetchRequest()
	inc.Version, inc.MaxBytes, inc.SessionID = 12, 1, resp.SessionID
	for epoch := int32(1); epoch <= 5; epoch++ {
		if len(got) != 1 {
			t.Fatalf("fetch %d: partitions with data %v, want exactly one", epoch, got)
		}
		offsets[got[0]] += 10
		// Tell the session the served partition's new offset.
		rt := kmsg.NewFetchRequestTopic()
		rt.TopicID = tp.ID
		rt.Topic = "fair"
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = got[0], offsets[got[0]], 1<<20
		rt.Partitions = []kmsg.FetchRequestTopicPartition{rp}
		inc.Topics = []kmsg.FetchRequestTopic{rt}
		inc.SessionEpoch = epoch
		resp = rc.do(inc).(*kmsg.FetchResponse)
		if resp.ErrorCode != 0 {
			t.Fatalf("fetch %d: error %d", epoch, resp.ErrorCode)
		}
		got = withData(resp)
	}
	// Six batches served round-robin: every partition twice.
	for p := int32(0); p < 3; p++ {
		if offsets[p] != 20 && !(offsets[p] == 10 && len(got) == 1 && got[0] == p) {
			t.Fatalf("served offsets %v (next %v): not round-robin", offsets, got)
		}
	}
}

// read_committed gets an empty aborted list and LSO = HWM.
func TestCoreFetchReadCommitted(t *testing.T) {
	cb := coreStart(t, "", nil)
	tp := cb.topic("rc", 1, nil)
	rc := cb.raw()
	rc.do(produceReq(9, -1, "rc", 0, coreBatch(1, -1, -1, -1, coreRecs(4, "a")...)))
	req := fetchReq(11, "rc", tp.ID, 0, 0)
	req.IsolationLevel = 1
	p := rc.do(req).(*kmsg.FetchResponse).Topics[0].Partitions[0]
	if p.LastStableOffset != 4 || p.HighWatermark != 4 || p.AbortedTransactions == nil || len(p.AbortedTransactions) != 0 {
		t.Fatalf("partition %+v", p)
	}
	recs := cb.consume(4, kgo.ConsumeTopics("rc"), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if string(recs[3].Value) != "a-3" {
		t.Fatalf("value %q", recs[3].Value)
	}
}

func TestCoreCheckLeaderEpoch(t *testing.T) {
	for _, c := range []struct {
		client, ours int32
		code         int16
	}{{-1, 5, 0}, {5, 5, 0}, {4, 5, kerr.FencedLeaderEpoch.Code}, {6, 5, kerr.UnknownLeaderEpoch.Code}} {
		if got := checkLeaderEpoch(c.client, c.ours); got != c.code {
			t.Errorf("checkLeaderEpoch(%d, %d) = %d, want %d", c.client, c.ours, got, c.code)
		}
	}
}

// memFile is an in-memory segment for encoder tests.
type memFile []byte

func (m memFile) ReadAt(p []byte, off int64) (int, error) {
	if off > int64(len(m)) {
		return 0, io.EOF
	}
	n := copy(p, m[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
func (memFile) OS() *os.File { return nil }

// randomReply builds a reply with random topics, partitions and chunks of
// mem, and the kmsg response it must decode to.
func randomReply(r *rand.Rand, version int16, mem memFile) (*fetchReply, *kmsg.FetchResponse) {
	reply := newFetchReply(version)
	want := kmsg.NewPtrFetchResponse()
	want.Version = version
	reply.ThrottleMillis, reply.ErrorCode, reply.SessionID = r.Int32N(100), int16(r.IntN(3)), r.Int32()
	want.ThrottleMillis = reply.ThrottleMillis
	if version >= 7 {
		want.ErrorCode, want.SessionID = reply.ErrorCode, reply.SessionID
	}
	for ti := 0; ti < r.IntN(4); ti++ {
		rt := replyTopic{name: strings.Repeat("t", r.IntN(300)) + string(rune('a'+ti))}
		binary.BigEndian.PutUint64(rt.id[:], r.Uint64())
		binary.BigEndian.PutUint64(rt.id[8:], r.Uint64())
		wt := kmsg.NewFetchResponseTopic()
		if version >= 13 {
			wt.TopicID = rt.id
		} else {
			wt.Topic = rt.name
		}
		for pi := 0; pi < r.IntN(4); pi++ {
			rp := replyPart{partition: r.Int32(), errCode: int16(r.IntN(5)), hwm: r.Int64(), lso: r.Int64(), lss: r.Int64(),
				abortedEmpty: r.IntN(2) == 0, preferredReplica: r.Int32N(5) - 1}
			wp := kmsg.NewFetchResponseTopicPartition()
			wp.Partition, wp.ErrorCode, wp.HighWatermark, wp.LastStableOffset = rp.partition, rp.errCode, rp.hwm, rp.lso
			if version >= 5 {
				wp.LogStartOffset = rp.lss
			}
			if version >= 11 {
				wp.PreferredReadReplica = rp.preferredReplica
			}
			if rp.abortedEmpty {
				wp.AbortedTransactions = []kmsg.FetchResponseTopicPartitionAbortedTransaction{}
			}
			if version >= 12 && r.IntN(3) == 0 {
				rp.diverging, rp.divEpoch, rp.divEnd = true, r.Int32N(100)-1, r.Int64()
				wp.DivergingEpoch.Epoch, wp.DivergingEpoch.EndOffset = rp.divEpoch, rp.divEnd
				if rp.divEpoch == -1 && rp.divEnd == -1 {
					rp.divEnd = 0
					wp.DivergingEpoch.EndOffset = 0
				}
			}
			var recs []byte
			for ci := 0; ci < r.IntN(4); ci++ {
				pos := r.IntN(len(mem) - 1)
				n := 1 + r.IntN(min(len(mem)-pos, 40<<10))
				rp.chunks = append(rp.chunks, storage.Chunk{File: mem, Pos: int64(pos), Len: int32(n)})
				recs = append(recs, mem[pos:pos+n]...)
			}
			wp.RecordBatches = recs
			if recs == nil {
				wp.RecordBatches = []byte{}
			}
			rt.parts = append(rt.parts, rp)
			wt.Partitions = append(wt.Partitions, wp)
		}
		reply.topics = append(reply.topics, rt)
		want.Topics = append(want.Topics, wt)
	}
	return reply, want
}

// encodeReply runs the hand-written encoder into memory.
func encodeReply(t testing.TB, reply *fetchReply) []byte {
	var buf bytes.Buffer
	sink := protocol.NewBodySink(&buf)
	n := reply.BodyLen()
	if err := reply.WriteBody(sink); err != nil {
		t.Fatal(err)
	}
	sink.Flush()
	if buf.Len() != n {
		t.Fatalf("BodyLen %d, wrote %d", n, buf.Len())
	}
	return buf.Bytes()
}

// The hand-written Fetch framing decodes with kmsg to exactly what was
// meant, for every version served.
func TestCoreFetchEncodeMatchesKmsg(t *testing.T) {
	mem := make(memFile, 256<<10)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range mem {
		mem[i] = byte(rng.IntN(256))
	}
	for v := int16(4); v <= apis[int16(kmsg.Fetch)].max; v++ {
		for i := 0; i < 50; i++ {
			reply, want := randomReply(rng, v, mem)
			coreCompareFetch(t, v, encodeReply(t, reply), want)
		}
	}
}

func coreCompareFetch(t testing.TB, v int16, body []byte, want *kmsg.FetchResponse) {
	got := kmsg.NewPtrFetchResponse()
	got.Version = v
	if err := got.ReadFrom(body); err != nil {
		t.Fatalf("v%d: kmsg cannot decode our bytes: %v", v, err)
	}
	// kmsg re-encoding of both must be identical.
	if !bytes.Equal(got.AppendTo(nil), want.AppendTo(nil)) {
		t.Fatalf("v%d: decoded response differs:\n got %+v\nwant %+v", v, got, want)
	}
	if len(want.Topics) > 0 && !bytes.Equal(body, want.AppendTo(nil)) {
		t.Fatalf("v%d: bytes differ from kmsg's encoding", v)
	}
}

// FuzzFetchEncode compares the encoder with kmsg for random shapes.
func FuzzFetchEncode(f *testing.F) {
	f.Add(uint64(1), uint64(2), int16(4))
	f.Add(uint64(3), uint64(4), int16(12))
	f.Add(uint64(5), uint64(6), int16(16))
	mem := make(memFile, 64<<10)
	for i := range mem {
		mem[i] = byte(i * 7)
	}
	f.Fuzz(func(t *testing.T, s1, s2 uint64, v int16) {
		if v < 4 || v > apis[int16(kmsg.Fetch)].max {
			return
		}
		reply, want := randomReply(rand.New(rand.NewPCG(s1, s2)), v, mem)
		coreCompareFetch(t, v, encodeReply(t, reply), want)
	})
}

// coreDecode parses record batches into records with absolute offsets.
// coreRec is a decoded record with its batch's facts.
type coreRec struct {
	kmsg.Record
	Offset, Timestamp int64
	BatchAttrs        int16
	BatchMaxTS        int64
}

func coreDecode(t testing.TB, raw []byte) []coreRec {
	t.Helper()
	var out []coreRec
	for len(raw) > 0 {
		var rb kmsg.RecordBatch
		if err := rb.ReadFrom(raw); err != nil {
			t.Fatalf("batch: %v", err)
		}
		recs := rb.Records
		for i := int32(0); i < rb.NumRecords; i++ {
			l, n := binary.Varint(recs)
			var rec coreRec
			if err := rec.Record.ReadFrom(recs[:n+int(l)]); err != nil {
				t.Fatalf("record: %v", err)
			}
			rec.Offset = rb.FirstOffset + int64(rec.OffsetDelta)
			rec.Timestamp = rb.FirstTimestamp + rec.TimestampDelta64
			rec.BatchAttrs, rec.BatchMaxTS = rb.Attributes, rb.MaxTimestamp
			out = append(out, rec)
			recs = recs[n+int(l):]
		}
		raw = raw[12+rb.Length:]
	}
	return out
}

func offsetsOf(recs []coreRec) []int64 {
	var o []int64
	for _, r := range recs {
		o = append(o, r.Offset)
	}
	return o
}

var _ = context.Background

// Record bytes of a Fetch go out with sendfile over the broker's TCP
// listener (which wraps each connection for its connection limits): a
// wrapper hiding the socket made every fetch copy them through user space.
func TestCoreFetchUsesSendfile(t *testing.T) {
	cb := coreStart(t, "", nil)
	cb.topic("sf", 1, nil)
	val := bytes.Repeat([]byte("s"), 256<<10) // over protocol's smallCopy
	cl := cb.client(kgo.ProducerBatchCompression(kgo.NoCompression()))
	ctx := coreCtx(t)
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "sf", Value: val}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	before := protocol.SendfileBytes()
	recs := cb.consume(1, kgo.ConsumeTopics("sf"))
	if !bytes.Equal(recs[0].Value, val) {
		t.Fatal("record value differs")
	}
	if sent := protocol.SendfileBytes() - before; sent < int64(len(val)) {
		t.Fatalf("%d bytes went out with sendfile; want the whole %d-byte batch", sent, len(val))
	}
}
