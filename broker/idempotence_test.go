package broker

// Idempotent producers end to end: InitProducerId, a franz-go producer whose
// connections are cut under it (no duplicates, no gaps), and producer state
// and producer ids across a broker restart.

import (
	"context"
	"encoding/binary"
	"hash/crc32"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// cutProxy forwards TCP to the broker and, while cutting is on, drops the
// connection instead of forwarding every cutEvery-th chunk from the broker:
// the broker did the work but the client never hears of it, so it retries.
type cutProxy struct {
	ln       net.Listener
	target   string
	cutEvery int64
	cutting  atomic.Bool
	chunks   atomic.Int64
	cuts     atomic.Int64
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    []net.Conn
}

func newCutProxy(t *testing.T) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return &cutProxy{ln: ln, cutEvery: 5}
}

func (p *cutProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, s)
		p.mu.Unlock()
		p.wg.Add(2)
		go func() { defer p.wg.Done(); io.Copy(s, c); s.Close(); c.Close() }()
		go func() {
			defer p.wg.Done()
			defer c.Close()
			defer s.Close()
			buf := make([]byte, 32<<10)
			for {
				n, err := s.Read(buf)
				if n > 0 {
					if p.cutting.Load() && p.chunks.Add(1)%p.cutEvery == 0 {
						p.cuts.Add(1)
						return
					}
					if _, werr := c.Write(buf[:n]); werr != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		}()
	}
}

func (p *cutProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func TestIdempotentProducerThroughCutConnections(t *testing.T) {
	px := newCutProxy(t)
	b := grpBroker(t, t.TempDir(), px.ln.Addr().String())
	defer grpStop(t, b)
	px.target = grpAddr(b)
	go px.serve()
	defer px.close()
	const topic, parts, n = "idem", 3, 3000
	grpTopic(t, b, topic, parts)

	cl, err := kgo.NewClient(kgo.SeedBrokers(px.ln.Addr().String()), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.MaxBufferedRecords(200), kgo.RetryBackoffFn(func(int) time.Duration { return 5 * time.Millisecond }),
		kgo.RequestRetries(1000))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	// Connect before cutting so the first metadata gets through.
	if err := cl.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	px.cutting.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	var failed atomic.Int64
	var firstErr atomic.Value
	for i := 0; i < n; i++ {
		wg.Add(1)
		r := &kgo.Record{Partition: int32(i % parts), Value: []byte(strconv.Itoa(i))}
		cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err)
			}
		})
	}
	wg.Wait()
	px.cutting.Store(false)
	if f := failed.Load(); f != 0 {
		t.Fatalf("%d records failed, first: %v", f, firstErr.Load())
	}
	if px.cuts.Load() == 0 {
		t.Fatal("the proxy never cut a connection")
	}
	t.Logf("%d connections cut while producing %d records", px.cuts.Load(), n)

	// Each partition holds its records exactly once, in production order.
	for p := int32(0); p < parts; p++ {
		tp, _ := b.topics.Get(topic)
		sp := b.store.Partition(tp.ID, p)
		values := readPartition(t, sp)
		want := 0
		for i := int(p); i < n; i += parts {
			want++
		}
		if len(values) != want {
			t.Fatalf("partition %d holds %d records, want %d (duplicates or gaps)", p, len(values), want)
		}
		for j, v := range values {
			if exp := strconv.Itoa(int(p) + j*parts); v != exp {
				t.Fatalf("partition %d record %d is %q, want %q", p, j, v, exp)
			}
		}
	}
}

// readPartition returns every record value of a partition, decoding the
// stored batches (uncompressed or not, via kgo's own decoder is not exposed,
// so the test producer's batches are decoded with kmsg).
func readPartition(t *testing.T, p *storage.Partition) []string {
	t.Helper()
	var out []string
	off := p.LogStartOffset()
	for off < p.HighWatermark() {
		res, err := p.Read(off, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Chunks) == 0 {
			t.Fatalf("no chunks at offset %d", off)
		}
		for _, c := range res.Chunks {
			raw := make([]byte, c.Len)
			if _, err := c.File.ReadAt(raw, c.Pos); err != nil {
				t.Fatal(err)
			}
			var rb kmsg.RecordBatch
			if err := rb.ReadFrom(raw); err != nil {
				t.Fatal(err)
			}
			if rb.Attributes&0x7 != 0 {
				t.Fatalf("compressed batch (attributes %x); the test producer should not compress", rb.Attributes)
			}
			recs := rb.Records
			for i := int32(0); i < rb.NumRecords; i++ {
				var r kmsg.Record
				l, n := binary.Varint(recs)
				if err := r.ReadFrom(recs[:n+int(l)]); err != nil {
					t.Fatal(err)
				}
				recs = recs[n+int(l):]
				if rb.FirstOffset+int64(r.OffsetDelta) >= off {
					out = append(out, string(r.Value))
				}
			}
			off = c.LastOffset + 1
		}
		res.Release()
	}
	return out
}

// idemBatch is one uncompressed v2 batch of an idempotent producer.
func idemBatch(pid int64, epoch int16, seq int32, values ...string) []byte {
	var recs []byte
	for i, v := range values {
		r := kmsg.Record{OffsetDelta: int32(i), Value: []byte(v)}
		r.Length = int32(len(r.AppendTo(nil)) - 1)
		recs = r.AppendTo(recs)
	}
	ts := time.Now().UnixMilli()
	rb := kmsg.RecordBatch{
		Magic: 2, LastOffsetDelta: int32(len(values) - 1), FirstTimestamp: ts, MaxTimestamp: ts,
		ProducerID: pid, ProducerEpoch: epoch, FirstSequence: seq, NumRecords: int32(len(values)), Records: recs,
	}
	raw := rb.AppendTo(nil)
	rb.Length = int32(len(raw) - 12)
	raw = rb.AppendTo(nil)
	crc := crc32.Checksum(raw[21:], crc32.MakeTable(crc32.Castagnoli))
	binary.BigEndian.PutUint32(raw[17:], crc)
	return raw
}

// idemProduce sends one batch with acks=all and returns its partition result.
func idemProduce(t *testing.T, cl *kgo.Client, topic string, batch []byte) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Version = 9
	req.Acks = -1
	req.TimeoutMillis = 5000
	req.Topics = []kmsg.ProduceRequestTopic{{Topic: topic, Partitions: []kmsg.ProduceRequestTopicPartition{{Partition: 0, Records: batch}}}}
	// At v9 exactly (by name; v13 names topics by id), to node 1.
	kr, err := cl.Broker(1).Request(context.Background(), pinnedVersion{req})
	if err != nil {
		t.Fatal(err)
	}
	return kr.(*kmsg.ProduceResponse).Topics[0].Partitions[0]
}

func initPID(t *testing.T, cl *kgo.Client, version int16, pid int64, epoch int16, txn *string) *kmsg.InitProducerIDResponse {
	t.Helper()
	req := kmsg.NewPtrInitProducerIDRequest()
	req.Version = version
	req.ProducerID, req.ProducerEpoch, req.TransactionalID = pid, epoch, txn
	req.TransactionTimeoutMillis = 60000
	// Straight to node 1: kgo would first look up a transaction
	// coordinator for a transactional id.
	kr, err := cl.Broker(1).Request(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	return kr.(*kmsg.InitProducerIDResponse)
}

func TestProducerStateAndIDsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	b := grpBroker(t, dir, "")
	grpTopic(t, b, "idem", 1)
	cl := grpClient(t, grpAddr(b))
	ip := initPID(t, cl, 4, -1, -1, nil)
	if ip.ErrorCode != 0 || ip.ProducerID < 0 || ip.ProducerEpoch != 0 {
		t.Fatalf("InitProducerId: %+v", ip)
	}
	pid := ip.ProducerID
	if pid>>40 != 1 {
		t.Fatalf("producer id %d does not carry node id 1 in its high bits", pid)
	}
	check := func(what string, r kmsg.ProduceResponseTopicPartition, code *kerr.Error, base int64) {
		t.Helper()
		want := int16(0)
		if code != nil {
			want = code.Code
		}
		if r.ErrorCode != want || (code == nil && r.BaseOffset != base) {
			t.Fatalf("%s: code %v base %d, want %v base %d", what, kerr.ErrorForCode(r.ErrorCode), r.BaseOffset, code, base)
		}
	}
	check("seq 0", idemProduce(t, cl, "idem", idemBatch(pid, 0, 0, "a", "b", "c")), nil, 0)
	check("seq 3", idemProduce(t, cl, "idem", idemBatch(pid, 0, 3, "d", "e")), nil, 3)
	check("retried seq 3", idemProduce(t, cl, "idem", idemBatch(pid, 0, 3, "d", "e")), nil, 3)
	cl.Close()
	grpStop(t, b)

	b = grpBroker(t, dir, "")
	defer grpStop(t, b)
	cl = grpClient(t, grpAddr(b))
	defer cl.Close()
	check("retried seq 3 after restart", idemProduce(t, cl, "idem", idemBatch(pid, 0, 3, "d", "e")), nil, 3)
	check("retried seq 0 after restart", idemProduce(t, cl, "idem", idemBatch(pid, 0, 0, "a", "b", "c")), nil, 0)
	check("gap", idemProduce(t, cl, "idem", idemBatch(pid, 0, 9, "x")), kerr.OutOfOrderSequenceNumber, 0)
	check("seq 5", idemProduce(t, cl, "idem", idemBatch(pid, 0, 5, "f")), nil, 5)

	// KIP-360: the producer re-inits with its id and epoch and gets a bump.
	bump := initPID(t, cl, 4, pid, 0, nil)
	if bump.ErrorCode != 0 || bump.ProducerID != pid || bump.ProducerEpoch != 1 {
		t.Fatalf("epoch bump: %+v", bump)
	}
	check("new epoch seq 0", idemProduce(t, cl, "idem", idemBatch(pid, 1, 0, "g")), nil, 6)
	check("stale epoch", idemProduce(t, cl, "idem", idemBatch(pid, 0, 6, "h")), kerr.InvalidProducerEpoch, 0)

	// A new producer after the restart never reuses an id.
	ip2 := initPID(t, cl, 0, -1, -1, nil)
	if ip2.ErrorCode != 0 || ip2.ProducerID <= pid || ip2.ProducerID>>40 != 1 {
		t.Fatalf("id after restart %d, first id %d", ip2.ProducerID, pid)
	}
	tp, _ := b.topics.Get("idem")
	if got := readPartition(t, b.store.Partition(tp.ID, 0)); len(got) != 7 || got[0] != "a" || got[5] != "f" || got[6] != "g" {
		t.Fatalf("partition holds %v, want a..g once each", got)
	}
}

func TestInitProducerIDErrors(t *testing.T) {
	b := grpBroker(t, t.TempDir(), "")
	defer grpStop(t, b)
	cl := grpClient(t, grpAddr(b))
	defer cl.Close()
	txn := "my-txn"
	// A transactional id goes to the transaction coordinator
	// (txn_test.go tests it): here, only that it answers.
	if r := initPID(t, cl, 4, -1, -1, &txn); r.ErrorCode != 0 || r.ProducerID < 0 || r.ProducerEpoch != 0 {
		t.Fatalf("transactional: %+v", r)
	}
	if r := initPID(t, cl, 4, 5, -1, nil); r.ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("id without epoch: %+v", r)
	}
	first := initPID(t, cl, 5, -1, -1, nil)
	// Only the holder of the current epoch may bump it: any other epoch is
	// PRODUCER_FENCED (v4+) or INVALID_PRODUCER_EPOCH (v3), as Kafka.
	want := func(what string, r *kmsg.InitProducerIDResponse, code *kerr.Error, id int64, epoch int16) {
		t.Helper()
		if r.ErrorCode != code.Code || r.ProducerID != id || r.ProducerEpoch != epoch {
			t.Fatalf("%s: %v id %d epoch %d, want %v id %d epoch %d", what, kerr.ErrorForCode(r.ErrorCode), r.ProducerID, r.ProducerEpoch, code, id, epoch)
		}
	}
	ok := &kerr.Error{Message: "NONE", Code: 0}
	// kgo raises a request's version; v3 goes over a raw connection.
	initV3 := func(pid int64, epoch int16) *kmsg.InitProducerIDResponse {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.Version = 3
		req.ProducerID, req.ProducerEpoch, req.TransactionTimeoutMillis = pid, epoch, 60000
		return grpReq[*kmsg.InitProducerIDResponse](t, grpAddr(b), req)
	}
	pid := first.ProducerID
	want("made-up epoch v5", initPID(t, cl, 5, pid, 32766, nil), kerr.ProducerFenced, -1, -1)
	want("made-up epoch v3", initV3(pid, 7), kerr.InvalidProducerEpoch, -1, -1)
	want("bump 0", initPID(t, cl, 4, pid, 0, nil), ok, pid, 1)
	want("retried bump 0", initPID(t, cl, 4, pid, 0, nil), ok, pid, 1)
	want("bump 1", initPID(t, cl, 4, pid, 1, nil), ok, pid, 2)
	want("zombie at epoch 0", initPID(t, cl, 4, pid, 0, nil), kerr.ProducerFenced, -1, -1)
	want("zombie at epoch 0 (v3)", initV3(pid, 0), kerr.InvalidProducerEpoch, -1, -1)
	want("retried bump 1 (v3)", initV3(pid, 1), ok, pid, 2)
	// Another node's id, or one never handed out, is never bumped here: a
	// fresh id of this broker's instead (Kafka 4's answer to every
	// non-transactional re-init).
	seen := map[int64]bool{pid: true}
	for _, other := range []int64{2<<40 | 5, 1<<40 | 999_999} {
		r := initPID(t, cl, 4, other, 0, nil)
		if r.ErrorCode != 0 || r.ProducerID == other || r.ProducerID>>40 != 1 || r.ProducerEpoch != 0 || seen[r.ProducerID] {
			t.Fatalf("re-init with foreign id %d: %+v", other, r)
		}
		seen[r.ProducerID] = true
	}
	// Every new id is distinct.
	for i := 0; i < 50; i++ {
		id := initPID(t, cl, 2, -1, -1, nil).ProducerID
		if seen[id] {
			t.Fatalf("producer id %d handed out twice", id)
		}
		seen[id] = true
	}
}

// memProducerKV is the store's KV in memory, for allocator tests.
type memProducerKV struct{ m map[string][]byte }

func (k *memProducerKV) PutKV(ns string, kvs ...storage.KV) error {
	for _, kv := range kvs {
		k.m[ns+"/"+string(kv.Key)] = append([]byte(nil), kv.Value...)
	}
	return nil
}

func (k *memProducerKV) GetKV(ns string, key []byte) ([]byte, bool) {
	v, ok := k.m[ns+"/"+string(key)]
	return v, ok
}

func TestProducerIDAllocatorBlocks(t *testing.T) {
	kv := &memProducerKV{m: map[string][]byte{}}
	a, err := newProducerIDAllocator(kv, 7)
	if err != nil {
		t.Fatal(err)
	}
	for i := int64(0); i < producerIDBlock+1; i++ {
		id, err := a.Next()
		if err != nil || id != 7<<40|i {
			t.Fatalf("id %d: %d %v", i, id, err)
		}
	}
	// A restart resumes after the last reserved block, never inside it.
	a, _ = newProducerIDAllocator(kv, 7)
	if id, _ := a.Next(); id != 7<<40|2*producerIDBlock {
		t.Fatalf("after restart %d, want %d", id, 7<<40|2*producerIDBlock)
	}
	// Another node's ids never collide.
	o, _ := newProducerIDAllocator(&memProducerKV{m: map[string][]byte{}}, 8)
	if id, _ := o.Next(); id != 8<<40 {
		t.Fatalf("node 8 first id %d", id)
	}
	if _, err := newProducerIDAllocator(kv, -1); err == nil {
		t.Fatal("negative node id accepted")
	}
}

// The allocator's epoch records: durable across a restart, and an
// exhausted epoch moves the producer to a fresh id.
func TestProducerEpochRecords(t *testing.T) {
	kv := &memProducerKV{m: map[string][]byte{}}
	a, _ := newProducerIDAllocator(kv, 3)
	id, _ := a.Next()
	step := func(a *producerIDAllocator, epoch int16, wantID int64, wantEpoch int16, wantErr error) {
		t.Helper()
		gotID, gotEpoch, err := a.Bump(id, epoch)
		if err != wantErr || (err == nil && (gotID != wantID || gotEpoch != wantEpoch)) {
			t.Fatalf("bump at %d: id %d epoch %d err %v, want %d %d %v", epoch, gotID, gotEpoch, err, wantID, wantEpoch, wantErr)
		}
	}
	step(a, 0, id, 1, nil)
	step(a, 1, id, 2, nil)
	a, _ = newProducerIDAllocator(kv, 3) // restart
	step(a, 0, 0, 0, errProducerFenced)
	step(a, 1, id, 2, nil) // retry of the last bump
	step(a, 2, id, 3, nil)
	// Near the end of the epochs: 32765 → 32766, then a new id.
	kv.PutKV(producerIDNamespace, storage.KV{Key: producerEpochKey(id), Value: []byte{0x7f, 0xfd, 0x7f, 0xfc}})
	a, _ = newProducerIDAllocator(kv, 3)
	step(a, 32765, id, 32766, nil)
	fresh, epoch, err := a.Bump(id, 32766)
	if err != nil || fresh == id || fresh>>40 != 3 || epoch != 0 {
		t.Fatalf("exhausted epoch: id %d epoch %d err %v", fresh, epoch, err)
	}
}

func TestSequenceWrapsAtInt32Max(t *testing.T) {
	b := grpBroker(t, t.TempDir(), "")
	defer grpStop(t, b)
	grpTopic(t, b, "wrap", 1)
	cl := grpClient(t, grpAddr(b))
	defer cl.Close()
	pid := initPID(t, cl, 4, -1, -1, nil).ProducerID
	const max = 1<<31 - 1
	for _, step := range []struct {
		seq    int32
		values []string
		code   int16
		base   int64
	}{
		{max - 1, []string{"a", "b"}, 0, 0}, // sequences max-1 and max
		{0, []string{"c"}, 0, 2},            // wraps to 0
		{max - 1, []string{"a", "b"}, 0, 0}, // retry of the batch before the wrap
		{2, []string{"x"}, kerr.OutOfOrderSequenceNumber.Code, 0},
		{1, []string{"d"}, 0, 3},
	} {
		r := idemProduce(t, cl, "wrap", idemBatch(pid, 0, step.seq, step.values...))
		if r.ErrorCode != step.code || (step.code == 0 && r.BaseOffset != step.base) {
			t.Fatalf("seq %d: code %v base %d, want %v base %d", step.seq, kerr.ErrorForCode(r.ErrorCode), r.BaseOffset, kerr.ErrorForCode(step.code), step.base)
		}
	}
}
