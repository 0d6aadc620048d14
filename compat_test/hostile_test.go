package compat

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The hostile-input tests speak raw TCP to each target and expect, per case,
// what Kafka 4 does: an error code in a response, or closing that one
// connection. After every case the broker must still serve a normal client,
// and no corrupt batch may have reached the log.

// outcome is what a broker did with one hostile request.
type outcome struct {
	closed   bool   // the broker closed the connection without answering
	timeout  bool   // neither an answer nor a close within the wait
	response []byte // the response body after the correlation id
	corr     int32
}

func (o outcome) String() string {
	switch {
	case o.closed:
		return "connection closed"
	case o.timeout:
		return "no answer, connection left open"
	default:
		return fmt.Sprintf("response (correlation %d, %d bytes)", o.corr, len(o.response))
	}
}

func dialRaw(t *testing.T, tg *target) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", tg.addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", tg.addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// await reads one response frame or notices the close, within wait.
func await(t *testing.T, c net.Conn, wait time.Duration) outcome {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(wait))
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return outcome{timeout: true}
		}
		return outcome{closed: true} // EOF or reset
	}
	n := binary.BigEndian.Uint32(size[:])
	if n < 4 || n > 64<<20 {
		t.Fatalf("response frame size %d", n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(c, body); err != nil {
		t.Fatalf("reading a %d-byte response: %v", n, err)
	}
	return outcome{corr: int32(binary.BigEndian.Uint32(body)), response: body[4:]}
}

// frame returns the length prefix of b; the caller sends b after it.
func frame(b []byte) []byte {
	return binary.BigEndian.AppendUint32(nil, uint32(len(b)))
}

// header appends a request header v1 (key, version, correlation id, client id).
func header(key, version int16, corr int32, clientID string) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(key))
	b = binary.BigEndian.AppendUint16(b, uint16(version))
	b = binary.BigEndian.AppendUint32(b, uint32(corr))
	b = binary.BigEndian.AppendUint16(b, uint16(len(clientID)))
	return append(b, clientID...)
}

func send(t *testing.T, c net.Conn, parts ...[]byte) {
	t.Helper()
	c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	for _, p := range parts {
		if _, err := c.Write(p); err != nil {
			t.Fatalf("write: %v", err)
		}
	}
}

// request encodes a well-formed request with kmsg.
func request(r kmsg.Request, corr int32, clientID string) []byte {
	return kmsg.NewRequestFormatter(kmsg.FormatterClientID(clientID)).AppendRequest(nil, r, corr)
}

// healthy checks that a normal client can still produce to and read from tg.
func healthy(t *testing.T, tg *target) {
	t.Helper()
	topic := newTopic(t, tg, "health", 1)
	want := produceKnown(t, tg, topic, "franz", 3)
	checkConsumed(t, readAll(t, tg, topic), want)
}

// expectClosed fails unless the broker closed the connection.
func expectClosed(t *testing.T, tg *target, what string, o outcome) {
	t.Helper()
	if !o.closed {
		t.Errorf("%s: %s got %v; Kafka 4 closes the connection", tg.name, what, o)
	}
}

// TestHostile sends malformed and abusive input to each target.
func TestHostile(t *testing.T) {
	const client = "raw TCP (hostile)"
	matrix(t, client, "truncated frame then EOF", apisData, func(t *testing.T, tg *target) {
		c := dialRaw(t, tg)
		send(t, c, []byte{0, 0, 0, 100}, header(int16(kmsg.Metadata), 12, 1, "x")[:8])
		c.(*net.TCPConn).CloseWrite()
		o := await(t, c, 5*time.Second)
		expectClosed(t, tg, "a frame cut short by EOF", o)
		healthy(t, tg)
	})
	matrix(t, client, "frame shorter than its header", apisData, func(t *testing.T, tg *target) {
		c := dialRaw(t, tg)
		body := header(int16(kmsg.Metadata), 12, 1, "x")[:5]
		send(t, c, frame(body), body)
		expectClosed(t, tg, "a 5-byte request", await(t, c, 5*time.Second))
		healthy(t, tg)
	})
	matrix(t, client, "truncated Metadata body", apisData, func(t *testing.T, tg *target) {
		c := dialRaw(t, tg)
		full := request(&kmsg.MetadataRequest{Version: 12, Topics: []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr("some-topic")}}}, 7, "hostile")
		body := full[4 : len(full)-6] // a valid header, then a body cut short
		send(t, c, frame(body), body)
		expectClosed(t, tg, "a truncated Metadata v12 body", await(t, c, 5*time.Second))
		healthy(t, tg)
	})
	for _, size := range []int32{-1, -2147483648} {
		matrix(t, client, fmt.Sprintf("negative length %d", size), apisData, func(t *testing.T, tg *target) {
			c := dialRaw(t, tg)
			send(t, c, binary.BigEndian.AppendUint32(nil, uint32(size)), header(int16(kmsg.ApiVersions), 0, 1, "x"))
			expectClosed(t, tg, "a negative frame length", await(t, c, 5*time.Second))
			healthy(t, tg)
		})
	}
	for _, size := range []int32{2147483647, 200 << 20} {
		matrix(t, client, fmt.Sprintf("huge length %d", size), apisData, func(t *testing.T, tg *target) {
			c := dialRaw(t, tg)
			// Only the prefix and a header: a broker that tried to
			// allocate or wait for the body would hang here.
			send(t, c, binary.BigEndian.AppendUint32(nil, uint32(size)), header(int16(kmsg.ApiVersions), 0, 1, "x"))
			expectClosed(t, tg, "a frame above socket.request.max.bytes", await(t, c, 5*time.Second))
			healthy(t, tg)
		})
	}
	matrix(t, client, "unknown API key", apisData, func(t *testing.T, tg *target) {
		c := dialRaw(t, tg)
		body := append(header(32000, 0, 1, "x"), 0, 0, 0, 0)
		send(t, c, frame(body), body)
		expectClosed(t, tg, "API key 32000", await(t, c, 5*time.Second))
		healthy(t, tg)
	})
	matrix(t, client, "ApiVersions with an unknown version", apisData, func(t *testing.T, tg *target) {
		// As a client newer than the broker sends it: a flexible (v2)
		// header and a v3-style body.
		c := dialRaw(t, tg)
		body := header(int16(kmsg.ApiVersions), 127, 42, "x")
		body = append(body, 0)                     // header tagged fields
		body = append(body, 5, 'c', 'o', 'm', 'p') // client_software_name "comp"
		body = append(body, 4, '1', '.', '0', 0)   // client_software_version "1.0", tags
		send(t, c, frame(body), body)
		o := await(t, c, 5*time.Second)
		if o.closed || o.timeout {
			t.Fatalf("%s: ApiVersions v127 got %v; Kafka answers UNSUPPORTED_VERSION in a v0 response", tg.name, o)
		}
		if o.corr != 42 {
			t.Errorf("correlation id %d, want 42", o.corr)
		}
		resp := kmsg.NewPtrApiVersionsResponse()
		resp.Version = 0
		if err := resp.ReadFrom(o.response); err != nil {
			t.Fatalf("the answer is not a v0 ApiVersions response: %v", err)
		}
		if resp.ErrorCode != 35 {
			t.Errorf("error code %d, want 35 UNSUPPORTED_VERSION", resp.ErrorCode)
		}
		found := false
		for _, k := range resp.ApiKeys {
			found = found || (k.ApiKey == int16(kmsg.ApiVersions) && k.MinVersion == 0 && k.MaxVersion >= 3)
		}
		if !found {
			t.Errorf("the v0 answer does not list ApiVersions 0..3+: %+v", resp.ApiKeys)
		}
		healthy(t, tg)
	})
	matrix(t, client, "Metadata with an unknown version", apisData, func(t *testing.T, tg *target) {
		c := dialRaw(t, tg)
		body := append(header(int16(kmsg.Metadata), 99, 1, "x"), 0, 0, 0, 0)
		send(t, c, frame(body), body)
		expectClosed(t, tg, "Metadata v99", await(t, c, 5*time.Second))
		healthy(t, tg)
	})
	matrix(t, client, "Produce v0-v2 (advertised, removed in Kafka 4)", apisData, func(t *testing.T, tg *target) {
		// Kafka 4 still advertises Produce from v0 (librdkafka needs
		// that, KAFKA-18659) but closes the connection on v0-v2 without
		// an answer (observed on Kafka 4.1.1); nothing is appended.
		topic := newTopic(t, tg, "oldproduce", 1)
		for v := int16(0); v <= 2; v++ {
			c := dialRaw(t, tg)
			req := kmsg.NewPtrProduceRequest()
			req.Version = v
			req.Acks = -1
			req.TimeoutMillis = 5000
			rt := kmsg.NewProduceRequestTopic()
			rt.Topic = topic
			rp := kmsg.NewProduceRequestTopicPartition()
			rp.Records = batch(1)
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			send(t, c, request(req, 5, "hostile"))
			expectClosed(t, tg, fmt.Sprintf("Produce v%d", v), await(t, c, 5*time.Second))
		}
		if ends := endOffsets(t, tg, topic); ends[0] != 0 {
			t.Errorf("%s: an old Produce version appended: end offset %d", tg.name, ends[0])
		}
		healthy(t, tg)
	})
	matrix(t, client, "client id of 32767 bytes (the largest)", apisData, func(t *testing.T, tg *target) {
		c := dialRaw(t, tg)
		body := header(int16(kmsg.ApiVersions), 0, 9, strings.Repeat("c", 32767))
		send(t, c, frame(body), body)
		o := await(t, c, 5*time.Second)
		if o.closed || o.timeout || o.corr != 9 {
			t.Fatalf("%s: ApiVersions with a 32 KiB client id got %v; Kafka answers it", tg.name, o)
		}
		healthy(t, tg)
	})
	matrix(t, client, "1 MiB request header (client id length lies)", apisData, func(t *testing.T, tg *target) {
		// A client id cannot be longer than 32767 bytes (int16 length);
		// this 1 MiB ApiVersions v0 frame claims that length and carries
		// 1 MiB of id-like bytes, so the rest is trailing garbage. Kafka 4
		// answers it (it ignores the trailing bytes of a v0 request; observed
		// on Kafka 4.1.1) and keeps the connection open.
		c := dialRaw(t, tg)
		body := header(int16(kmsg.ApiVersions), 0, 9, "")
		body = body[:len(body)-2]
		body = binary.BigEndian.AppendUint16(body, 32767)
		body = append(body, []byte(strings.Repeat("c", 1<<20))...)
		send(t, c, frame(body), body)
		o := await(t, c, 5*time.Second)
		if o.closed || o.timeout || o.corr != 9 {
			t.Fatalf("%s: a 1 MiB ApiVersions v0 request got %v; Kafka answers it (correlation 9)", tg.name, o)
		}
		resp := kmsg.NewPtrApiVersionsResponse()
		resp.Version = 0
		if err := resp.ReadFrom(o.response); err != nil || resp.ErrorCode != 0 || len(resp.ApiKeys) == 0 {
			t.Errorf("%s: the answer is not a successful v0 ApiVersions response: %v, error %d, %d keys", tg.name, err, resp.ErrorCode, len(resp.ApiKeys))
		}
		// The connection still serves the next request.
		next := header(int16(kmsg.ApiVersions), 0, 10, "x")
		send(t, c, frame(next), next)
		if o := await(t, c, 5*time.Second); o.closed || o.timeout || o.corr != 10 {
			t.Errorf("%s: the request after the 1 MiB one got %v; Kafka answers it", tg.name, o)
		}
		healthy(t, tg)
	})

	matrix(t, client, "produce: bad CRC", apisData, func(t *testing.T, tg *target) {
		produceBad(t, tg, func(b []byte) { b[len(b)-1] ^= 0xff }, 2) // CORRUPT_MESSAGE
	})
	matrix(t, client, "produce: record count lies", apisData, func(t *testing.T, tg *target) {
		produceBad(t, tg, func(b []byte) {
			binary.BigEndian.PutUint32(b[57:61], 5) // 3 records inside
			fixCRC(b)
		}, 87) // INVALID_RECORD
	})
	matrix(t, client, "produce: batch length lies", apisData, func(t *testing.T, tg *target) {
		produceBad(t, tg, func(b []byte) {
			binary.BigEndian.PutUint32(b[8:12], binary.BigEndian.Uint32(b[8:12])+10)
		}, 87) // INVALID_RECORD
	})

	matrix(t, client, "2000 idle connections", apisData, func(t *testing.T, tg *target) {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for i := 0; i < 2000; i++ {
			c, err := net.DialTimeout("tcp", tg.addr, 5*time.Second)
			if err != nil {
				t.Fatalf("connection %d: %v", i, err)
			}
			conns = append(conns, c)
		}
		healthy(t, tg)
		// The idle ones still work too.
		for _, i := range []int{0, 999, 1999} {
			body := header(int16(kmsg.ApiVersions), 0, int32(i), "idle")
			send(t, conns[i], frame(body), body)
			if o := await(t, conns[i], 10*time.Second); o.closed || o.timeout || o.corr != int32(i) {
				t.Errorf("idle connection %d: %v", i, o)
			}
		}
	})

	matrix(t, client, "client that never reads responses", apisData, func(t *testing.T, tg *target) {
		// A partition holding 1 MiB, and a client that pipelines Fetch
		// requests for all of it without reading a byte (bounded: 400
		// requests or 5s). Kafka reads the next request of a connection
		// only after answering the previous one, so it holds at most one
		// response per connection; a broker that kept reading would queue
		// up to 400 MiB of responses.
		topic := newTopic(t, tg, "noread", 1)
		cl := newClient(t, tg, kgo.DefaultProduceTopic(topic), kgo.ProducerBatchCompression(kgo.NoCompression()))
		val := []byte(strings.Repeat("v", 16<<10))
		for i := 0; i < 64; i++ {
			cl.Produce(context.Background(), &kgo.Record{Value: val}, nil)
		}
		if err := cl.Flush(ctxT(t, 30*time.Second)); err != nil {
			t.Fatal(err)
		}
		td, err := newAdmin(t, tg).ListTopics(ctxT(t, 10*time.Second), topic)
		if err != nil {
			t.Fatal(err)
		}
		fetch := kmsg.NewPtrFetchRequest()
		fetch.Version = 12
		fetch.ReplicaID = -1
		fetch.MaxBytes = 2 << 20
		ft := kmsg.NewFetchRequestTopic()
		ft.Topic = topic
		ft.TopicID = td[topic].ID
		fp := kmsg.NewFetchRequestTopicPartition()
		fp.PartitionMaxBytes = 2 << 20
		fp.CurrentLeaderEpoch = -1
		ft.Partitions = append(ft.Partitions, fp)
		fetch.Topics = append(fetch.Topics, ft)
		req := request(fetch, 1, "noread")

		before := rssOf(tg)
		c := dialRaw(t, tg)
		stop := time.Now().Add(5 * time.Second)
		c.SetWriteDeadline(stop)
		sent := 0
		for ; sent < 400 && time.Now().Before(stop); sent++ {
			if _, err := c.Write(req); err != nil {
				break
			}
		}
		time.Sleep(500 * time.Millisecond) // let the broker work on what it read
		after := rssOf(tg)
		t.Logf("%s: wrote %d Fetch requests (1 MiB answers each) without reading; broker RSS %d → %d MiB",
			tg.name, sent, before>>20, after>>20)
		if before > 0 && after-before > 256<<20 {
			t.Errorf("%s: the broker grew by %d MiB for one client that does not read; it should stop reading that connection",
				tg.name, (after-before)>>20)
		}
		healthy(t, tg)
		c.Close()
		healthy(t, tg)
	})
}

// rssOf returns the resident memory of tg's gregor process in bytes, or 0
// when the target is not a gregor process.
func rssOf(tg *target) int64 {
	if tg.proc == nil || tg.proc.cmd == nil || tg.proc.cmd.Process == nil {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", tg.proc.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(l, "VmRSS:")), "%d", &kb)
			return kb << 10
		}
	}
	return 0
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func fixCRC(b []byte) {
	binary.BigEndian.PutUint32(b[17:21], crc32.Checksum(b[21:], castagnoli))
}

// batch builds a valid uncompressed v2 record batch of n records, key k-i
// and value hostile-i.
func batch(n int) []byte {
	values := make([][]byte, n)
	for i := range values {
		values[i] = []byte(fmt.Sprintf("hostile-%d", i))
	}
	return batchOf(values)
}

// batchOf builds a valid uncompressed v2 record batch holding values.
func batchOf(values [][]byte) []byte {
	var recs []byte
	now := time.Now().UnixMilli()
	for i, v := range values {
		r := kmsg.Record{OffsetDelta: int32(i), Key: []byte(fmt.Sprintf("k-%d", i)), Value: v}
		r.Length = int32(len(r.AppendTo(nil)) - 1) // the length varint of 0 is one byte
		recs = r.AppendTo(recs)
	}
	n := len(values)
	rb := kmsg.RecordBatch{Length: int32(49 + len(recs)), Magic: 2, LastOffsetDelta: int32(n - 1),
		FirstTimestamp: now, MaxTimestamp: now, ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1,
		NumRecords: int32(n), Records: recs}
	b := rb.AppendTo(nil)
	fixCRC(b)
	return b
}

// produceBad sends a valid batch damaged by mangle and expects the partition
// error code want (what Kafka 4 answers), then checks that nothing reached
// the log and that a valid batch on the same connection still succeeds.
func produceBad(t *testing.T, tg *target, mangle func([]byte), want int16) {
	t.Helper()
	topic := newTopic(t, tg, "hostile-prod", 1)
	c := dialRaw(t, tg)
	send1 := func(b []byte, corr int32) (int16, bool) {
		req := kmsg.NewPtrProduceRequest()
		req.Version = 9
		req.Acks = -1
		req.TimeoutMillis = 5000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition = 0
		rp.Records = b
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		send(t, c, request(req, corr, "hostile"))
		o := await(t, c, 10*time.Second)
		if o.closed || o.timeout {
			return 0, false
		}
		resp := kmsg.NewPtrProduceResponse()
		resp.Version = 9
		if o.corr != corr {
			t.Fatalf("correlation %d, want %d", o.corr, corr)
		}
		// Response header v1: a tagged-field byte before the body.
		if err := resp.ReadFrom(o.response[1:]); err != nil || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("bad produce response: %v", err)
		}
		return resp.Topics[0].Partitions[0].ErrorCode, true
	}
	bad := batch(3)
	mangle(bad)
	code, answered := send1(bad, 1)
	if !answered {
		t.Errorf("%s: the broker closed the connection; Kafka 4 answers error %d", tg.name, want)
		c = dialRaw(t, tg)
	} else if code != want {
		t.Errorf("%s: error code %d, want %d (Kafka 4)", tg.name, code, want)
	}
	if ends := endOffsets(t, tg, topic); ends[0] != 0 {
		t.Errorf("%s: the bad batch reached the log: end offset %d", tg.name, ends[0])
	}
	if code, answered := send1(batch(3), 2); !answered || code != 0 {
		t.Errorf("%s: a valid batch after the bad one: answered %v, error %d", tg.name, answered, code)
	}
	got := readAll(t, tg, topic)
	if len(got) != 3 || got[0].V != "hostile-0" || got[2].O != 2 {
		t.Errorf("%s: the log holds %v, want exactly the 3 valid records", tg.name, got)
	}
	for _, b := range rawBatches(t, tg, topic, 0) {
		raw := b.AppendTo(nil)
		if crc32.Checksum(raw[21:], castagnoli) != uint32(b.CRC) {
			t.Errorf("%s: stored batch at %d has a bad CRC", tg.name, b.FirstOffset)
		}
	}
}
