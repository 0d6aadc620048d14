package compat

// A quota-throttled Fetch (issue 15 item 4), against the Kafka reference
// and gregor: Kafka answers a Fetch whose response would take the client
// over consumer_byte_rate with its throttle time and nothing else (no
// partitions; session id 0 for a sessionless or full fetch, the session's
// own id for an incremental one) and takes the bytes back out of the rate,
// so the next fetch reads the same records (KafkaApis.handleFetchRequest,
// the fetch contexts' getThrottledResponse). A raw client fetches a
// partition of small batches under a small quota, by turns sessionless,
// opening a session and incrementally in it, until it has read every
// record once and in order.

import (
	"crypto/rand"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestQuotaThrottledFetch(t *testing.T) {
	matrixGo(t, "raw", "a quota-throttled Fetch carries no records", join(apisData, apisQuota), func(t *testing.T, tg *target) {
		topic := newTopic(t, tg, "qfetch", 1)
		const batches = 12
		value := make([]byte, 600)
		cl := newClient(t, tg, kgo.DefaultProduceTopic(topic), kgo.ProducerBatchCompression(kgo.NoCompression()))
		for range batches {
			rand.Read(value) // one batch of about 700 bytes each
			if err := cl.ProduceSync(ctxT(t, 30*time.Second), &kgo.Record{Value: value}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		clientID := uniq("qfetch")
		setClientQuota(t, tg, clientID, "consumer_byte_rate", 2000)

		c, err := net.DialTimeout("tcp", tg.addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		corr := int32(0)
		fetch := func(sessionID, epoch int32, offset int64) *kmsg.FetchResponse {
			t.Helper()
			req := kmsg.NewPtrFetchRequest()
			req.Version, req.ReplicaID, req.MaxWaitMillis, req.MaxBytes = 12, -1, 100, 1000 // one batch a fetch: well under what the quota allows in a window
			req.SessionID, req.SessionEpoch = sessionID, epoch
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic = topic
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.FetchOffset, rp.PartitionMaxBytes, rp.LogStartOffset, rp.CurrentLeaderEpoch, rp.LastFetchedEpoch = offset, 1000, -1, -1, -1
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			corr++
			c.SetDeadline(time.Now().Add(60 * time.Second))
			if _, err := c.Write(request(req, corr, clientID)); err != nil {
				t.Fatalf("write: %v", err)
			}
			var size [4]byte
			if _, err := io.ReadFull(c, size[:]); err != nil {
				t.Fatalf("read: %v", err)
			}
			body := make([]byte, binary.BigEndian.Uint32(size[:]))
			if _, err := io.ReadFull(c, body); err != nil {
				t.Fatalf("read: %v", err)
			}
			resp := req.ResponseKind().(*kmsg.FetchResponse)
			resp.Version = 12
			if err := resp.ReadFrom(body[5:]); err != nil { // correlation id and the flexible header's tags
				t.Fatalf("decode: %v", err)
			}
			if resp.ErrorCode != 0 {
				t.Fatalf("fetch (session %d epoch %d): error %d", sessionID, epoch, resp.ErrorCode)
			}
			return resp
		}

		var next int64
		var sess, epoch int32
		throttled := map[string]int{}
		deadline := time.Now().Add(90 * time.Second)
		for i := 0; next < batches; i++ {
			if time.Now().After(deadline) {
				t.Fatalf("read %d of %d records in 90s", next, batches)
			}
			kind, sid, ep := "sessionless", int32(0), int32(-1)
			switch {
			case sess != 0 && i%3 != 0:
				kind, sid, ep = "incremental", sess, epoch
			case i%3 == 1:
				kind, ep = "full", 0
			}
			resp := fetch(sid, ep, next)
			if kind == "incremental" {
				epoch++
			}
			if resp.ThrottleMillis > 0 {
				throttled[kind]++
				want := int32(0)
				if kind == "incremental" {
					want = sess
				}
				if len(resp.Topics) != 0 || resp.SessionID != want {
					t.Fatalf("a throttled %s fetch answered session %d and %d topics, want session %d and none", kind, resp.SessionID, len(resp.Topics), want)
				}
				continue
			}
			if kind == "full" && resp.SessionID != 0 {
				sess, epoch = resp.SessionID, 1
			}
			for _, rt := range resp.Topics {
				for _, p := range rt.Partitions {
					if p.ErrorCode != 0 {
						t.Fatalf("%s fetch at %d: error %d", kind, next, p.ErrorCode)
					}
					for rec := p.RecordBatches; len(rec) >= 12; {
						n := 12 + int(binary.BigEndian.Uint32(rec[8:]))
						if n > len(rec) {
							break // Kafka may end a response with part of a batch
						}
						var rb kmsg.RecordBatch
						if err := rb.ReadFrom(rec[:n]); err != nil {
							t.Fatal(err)
						}
						rec = rec[n:]
						if last := rb.FirstOffset + int64(rb.LastOffsetDelta); last < next {
							continue // a batch before the offset (mid-batch fetch)
						} else if rb.FirstOffset > next {
							t.Fatalf("%s fetch at %d answered a batch at %d", kind, next, rb.FirstOffset)
						} else {
							next = last + 1
						}
					}
				}
			}
		}
		t.Logf("%s: %d records read; throttled fetches: %v", tg.name, next, throttled)
		if len(throttled) == 0 {
			t.Fatal("no fetch was throttled under consumer_byte_rate=2000")
		}
	})
}
