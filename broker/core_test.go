package broker

// Test harness of the data path (broker-core owner): a broker on
// 127.0.0.1:0 with a temp data dir, kgo clients, and a raw Kafka client for
// hand-made frames. Names start with "core" to stay clear of other owners'
// helpers in this package.

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"net"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/protocol"
	"github.com/gregor-broker/gregor/storage"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap/zaptest"
)

type coreBroker struct {
	t    testing.TB
	b    *Broker
	dir  string
	addr string
	mod  func(*Config)
}

// coreStart starts a broker in dir (a new temp dir when empty); mod may
// change the config before New.
func coreStart(t testing.TB, dir string, mod func(*Config)) *coreBroker {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	cb := &coreBroker{t: t, dir: dir, mod: mod}
	cb.start()
	t.Cleanup(cb.stop)
	return cb
}

func (cb *coreBroker) start() {
	cb.t.Helper()
	cfg := Config{
		Listeners: []Listener{{Name: "PLAINTEXT", Address: "127.0.0.1:0"}},
		Store:     storage.Config{Dir: cb.dir},
		Topics:    TopicDefaults{AutoCreate: true, NumPartitions: 1},
	}
	if tt, ok := cb.t.(*testing.T); ok && testing.Verbose() {
		cfg.Logger = zaptest.NewLogger(tt)
	}
	if cb.mod != nil {
		cb.mod(&cfg)
	}
	b, err := New(cfg)
	if err != nil {
		cb.t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		cb.t.Fatal(err)
	}
	cb.b = b
	cb.addr = b.Addrs()[0].String()
}

func (cb *coreBroker) stop() {
	if cb.b == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cb.b.Shutdown(ctx); err != nil {
		cb.t.Errorf("shutdown: %v", err)
	}
	cb.b = nil
}

func (cb *coreBroker) restart() {
	cb.t.Helper()
	cb.stop()
	cb.start()
}

// client returns a kgo client for the broker, closed with the test.
func (cb *coreBroker) client(opts ...kgo.Opt) *kgo.Client {
	cb.t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(cb.addr), kgo.MetadataMinAge(50 * time.Millisecond)}, opts...)...)
	if err != nil {
		cb.t.Fatal(err)
	}
	cb.t.Cleanup(cl.Close)
	return cl
}

// topic creates a topic directly in the registry.
func (cb *coreBroker) topic(name string, partitions int32, configs map[string]string) *Topic {
	cb.t.Helper()
	tp, err := cb.b.topics.Create(name, partitions, configs)
	if err != nil {
		cb.t.Fatalf("creating %s: %v", name, err)
	}
	return tp
}

// coreCtx is a test deadline for liveness: a hang fails the test instead
// of blocking the package.
func coreCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// consume reads exactly n records from the topics' start.
func (cb *coreBroker) consume(n int, opts ...kgo.Opt) []*kgo.Record {
	cb.t.Helper()
	cl := cb.client(append([]kgo.Opt{kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, opts...)...)
	ctx := coreCtx(cb.t)
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			cb.t.Fatalf("consumed %d of %d records: %v", len(out), n, err)
		}
		fs.EachError(func(t string, p int32, err error) { cb.t.Fatalf("fetch %s/%d: %v", t, p, err) })
		out = append(out, fs.Records()...)
	}
	if len(out) != n {
		cb.t.Fatalf("consumed %d records, want exactly %d", len(out), n)
	}
	return out
}

// rawConn is a bare Kafka connection for hand-made requests.
type rawConn struct {
	t    testing.TB
	c    net.Conn
	br   *bufio.Reader
	corr int32
}

func (cb *coreBroker) raw() *rawConn {
	cb.t.Helper()
	c, err := net.Dial("tcp", cb.addr)
	if err != nil {
		cb.t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(60 * time.Second))
	cb.t.Cleanup(func() { c.Close() })
	return &rawConn{t: cb.t, c: c, br: bufio.NewReader(c)}
}

// frame encodes req with a v1/v2 request header.
func coreFrame(req kmsg.Request, corr int32) []byte {
	b := []byte{0, 0, 0, 0}
	b = binary.BigEndian.AppendUint16(b, uint16(req.Key()))
	b = binary.BigEndian.AppendUint16(b, uint16(req.GetVersion()))
	b = binary.BigEndian.AppendUint32(b, uint32(corr))
	b = binary.BigEndian.AppendUint16(b, 4)
	b = append(b, "core"...)
	if req.IsFlexible() {
		b = append(b, 0)
	}
	b = req.AppendTo(b)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

// send writes req and returns its correlation id.
func (rc *rawConn) send(req kmsg.Request) int32 {
	rc.t.Helper()
	rc.corr++
	if _, err := rc.c.Write(coreFrame(req, rc.corr)); err != nil {
		rc.t.Fatal(err)
	}
	return rc.corr
}

// recv reads the response to a request of req's key and version.
func (rc *rawConn) recv(req kmsg.Request, corr int32) kmsg.Response {
	rc.t.Helper()
	frame, err := protocol.ReadFrame(rc.br, 1<<30)
	if err != nil {
		rc.t.Fatalf("reading response: %v", err)
	}
	if got := int32(binary.BigEndian.Uint32(frame)); got != corr {
		rc.t.Fatalf("correlation id %d, want %d", got, corr)
	}
	resp := req.ResponseKind()
	body := frame[4:]
	if resp.IsFlexible() && req.Key() != int16(kmsg.ApiVersions) {
		body = body[1:]
	}
	if err := resp.ReadFrom(body); err != nil {
		rc.t.Fatalf("decoding %T v%d: %v", resp, req.GetVersion(), err)
	}
	return resp
}

func (rc *rawConn) do(req kmsg.Request) kmsg.Response {
	rc.t.Helper()
	return rc.recv(req, rc.send(req))
}

// closed reports whether the broker closed the connection.
func (rc *rawConn) closed() bool {
	rc.c.SetReadDeadline(time.Now().Add(30 * time.Second))
	_, err := rc.br.ReadByte()
	return err != nil
}

// coreRecord is one record of a hand-made batch.
type coreRecord struct {
	key, value []byte
	tsDelta    int64
	headers    [][2]string
}

// coreBatch builds an uncompressed v2 batch with a correct CRC.
func coreBatch(baseTS int64, pid int64, epoch int16, seq int32, recs ...coreRecord) []byte {
	var body []byte
	for i, r := range recs {
		var rec []byte
		rec = append(rec, 0)
		rec = binary.AppendVarint(rec, r.tsDelta)
		rec = binary.AppendVarint(rec, int64(i))
		rec = appendVarBytes(rec, r.key)
		rec = appendVarBytes(rec, r.value)
		rec = binary.AppendVarint(rec, int64(len(r.headers)))
		for _, h := range r.headers {
			rec = appendVarBytes(rec, []byte(h[0]))
			rec = appendVarBytes(rec, []byte(h[1]))
		}
		body = binary.AppendVarint(body, int64(len(rec)))
		body = append(body, rec...)
	}
	maxTS := baseTS
	for _, r := range recs {
		maxTS = max(maxTS, baseTS+r.tsDelta)
	}
	rb := kmsg.RecordBatch{
		PartitionLeaderEpoch: -1, Magic: 2, LastOffsetDelta: int32(len(recs) - 1),
		FirstTimestamp: baseTS, MaxTimestamp: maxTS, ProducerID: pid, ProducerEpoch: epoch,
		FirstSequence: seq, NumRecords: int32(len(recs)), Records: body,
	}
	b := rb.AppendTo(nil)
	binary.BigEndian.PutUint32(b[bLength:], uint32(len(b)-12))
	binary.BigEndian.PutUint32(b[bCRC:], crc32.Checksum(b[bAttributes:], crc32c))
	return b
}

func appendVarBytes(b, v []byte) []byte {
	if v == nil {
		return binary.AppendVarint(b, -1)
	}
	b = binary.AppendVarint(b, int64(len(v)))
	return append(b, v...)
}

func coreRecs(n int, prefix string) []coreRecord {
	out := make([]coreRecord, n)
	for i := range out {
		out[i] = coreRecord{key: []byte(fmt.Sprintf("k%d", i)), value: []byte(fmt.Sprintf("%s-%d", prefix, i)), tsDelta: int64(i)}
	}
	return out
}

// produceReq builds a Produce request of one batch.
func produceReq(version int16, acks int16, topic string, partition int32, batch []byte) *kmsg.ProduceRequest {
	r := kmsg.NewPtrProduceRequest()
	r.Version, r.Acks, r.TimeoutMillis = version, acks, 10000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = partition, batch
	rt.Partitions = []kmsg.ProduceRequestTopicPartition{rp}
	r.Topics = []kmsg.ProduceRequestTopic{rt}
	return r
}

func producePart(resp kmsg.Response) kmsg.ProduceResponseTopicPartition {
	return resp.(*kmsg.ProduceResponse).Topics[0].Partitions[0]
}

// fetchReq builds a sessionless Fetch request for one partition.
func fetchReq(version int16, topic string, id [16]byte, partition int32, offset int64) *kmsg.FetchRequest {
	r := kmsg.NewPtrFetchRequest()
	r.Version, r.MaxBytes, r.SessionEpoch = version, 50<<20, -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = topic, id
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = partition, offset, 1<<20
	rt.Partitions = []kmsg.FetchRequestTopicPartition{rp}
	r.Topics = []kmsg.FetchRequestTopic{rt}
	return r
}
