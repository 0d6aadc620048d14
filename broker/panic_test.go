package broker

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/protocol"
	"github.com/gregor-broker/gregor/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// panicFS is the real filesystem, except that a commit-log write panics
// once while armed.
type panicFS struct {
	storage.OSFS
	armed, fired atomic.Bool
}

type panicFile struct {
	storage.File
	fs *panicFS
}

func (fs *panicFS) OpenFile(name string, flag int, perm os.FileMode) (storage.File, error) {
	f, err := fs.OSFS.OpenFile(name, flag, perm)
	if err != nil || !strings.HasSuffix(name, ".log") {
		return f, err
	}
	return panicFile{f, fs}, nil
}

func (f panicFile) WriteAt(p []byte, off int64) (int, error) {
	if f.fs.armed.Load() && f.fs.fired.CompareAndSwap(false, true) {
		panic("injected: the commit log's WriteAt panics")
	}
	return f.File.WriteAt(p, off)
}

// A panic inside the store while producers are busy: the request that met
// it and every later produce get KAFKA_STORAGE_ERROR with a message naming
// the panic (before, the store's lock stayed held and every later produce
// hung), and reads, metadata and the other connections go on.
func TestCorePanicInStoreUnderLoad(t *testing.T) {
	fs := &panicFS{}
	cb := coreStart(t, "", func(c *Config) { c.Store.FS = fs })
	cb.topic("t", 4, nil)
	const producers = 6
	var acked [4]atomic.Int64
	var wg sync.WaitGroup
	codes := make(chan int16, producers)
	for i := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rc := cb.raw()
			part := int32(i % 4)
			for n := 0; ; n++ {
				if i == 0 && n == 30 {
					fs.armed.Store(true)
				}
				p := producePart(rc.do(produceReq(9, -1, "t", part, coreBatch(time.Now().UnixMilli(), -1, -1, -1, coreRecs(2, fmt.Sprint(i, "-", n))...))))
				if p.ErrorCode != 0 {
					if p.ErrorMessage == nil || !strings.Contains(*p.ErrorMessage, "injected") {
						t.Errorf("producer %d: code %d, message %v: want the panic named", i, p.ErrorCode, p.ErrorMessage)
					}
					codes <- p.ErrorCode
					return
				}
				acked[part].Add(2)
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("producers still blocked 30 s after the panic (fired %v)", fs.fired.Load())
	}
	close(codes)
	for code := range codes {
		if code != kerr.KafkaStorageError.Code {
			t.Errorf("produce after the panic: code %d, want KAFKA_STORAGE_ERROR", code)
		}
	}
	// Reads: every acknowledged record of every partition is fetched.
	rc := cb.raw()
	id := cb.b.topics.byName["t"].ID
	for part := range int32(4) {
		var got int64
		for off := int64(0); got < acked[part].Load(); {
			resp := rc.do(fetchReq(12, "t", id, part, off)).(*kmsg.FetchResponse)
			fp := resp.Topics[0].Partitions[0]
			if fp.ErrorCode != 0 || len(fp.RecordBatches) == 0 {
				t.Fatalf("partition %d at %d: code %d, %d bytes", part, off, fp.ErrorCode, len(fp.RecordBatches))
			}
			for _, b := range splitBatches(fp.RecordBatches) {
				got += int64(b.NumRecords)
				off = b.FirstOffset + int64(b.LastOffsetDelta) + 1
			}
		}
	}
	md := kmsg.NewPtrMetadataRequest()
	md.Version = 12
	if r := rc.do(md).(*kmsg.MetadataResponse); len(r.Brokers) != 1 {
		t.Fatalf("metadata after the panic: %d brokers", len(r.Brokers))
	}
}

func splitBatches(b []byte) []kmsg.RecordBatch {
	var out []kmsg.RecordBatch
	for len(b) >= 12 {
		var rb kmsg.RecordBatch
		if err := rb.ReadFrom(b); err != nil {
			break
		}
		n := 12 + int(rb.Length)
		if n > len(b) {
			break
		}
		out = append(out, rb)
		b = b[n:]
	}
	return out
}

// A panic in a handler outside the store, injected into ListOffsets for
// one client while others produce and fetch, costs that request: its
// connection is closed after the answers owed before it, and every other
// request of every connection is answered.
func TestCorePanicInHandlerUnderLoad(t *testing.T) {
	orig := apis[int16(kmsg.ListOffsets)]
	apis[int16(kmsg.ListOffsets)] = api{min: orig.min, max: orig.max, fn: func(ctx context.Context, b *Broker, req *protocol.Request) (kmsg.Response, error) {
		if req.Header.ClientID != nil && *req.Header.ClientID == "core" && req.Body.(*kmsg.ListOffsetsRequest).ReplicaID == -7 {
			panic("injected: a handler panics")
		}
		return orig.fn(ctx, b, req)
	}}
	t.Cleanup(func() { apis[int16(kmsg.ListOffsets)] = orig })
	cb := coreStart(t, "", nil)
	cb.topic("t", 2, nil)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rc := cb.raw()
			for n := range 50 {
				p := producePart(rc.do(produceReq(9, -1, "t", int32(i%2), coreBatch(time.Now().UnixMilli(), -1, -1, -1, coreRecs(1, fmt.Sprint(n))...))))
				if p.ErrorCode != 0 {
					t.Errorf("producer %d: code %d", i, p.ErrorCode)
					return
				}
			}
		}()
	}
	listOffsets := func(replica int32) *kmsg.ListOffsetsRequest {
		r := kmsg.NewPtrListOffsetsRequest()
		r.Version, r.ReplicaID = 7, replica
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = "t"
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Timestamp = -1
		rt.Partitions = append(rt.Partitions, rp)
		r.Topics = append(r.Topics, rt)
		return r
	}
	for range 10 {
		rc := cb.raw()
		first := rc.send(listOffsets(-1))
		rc.send(listOffsets(-7))
		if r := rc.recv(listOffsets(-1), first).(*kmsg.ListOffsetsResponse); r.Topics[0].Partitions[0].ErrorCode != 0 {
			t.Fatalf("answer before the panic: code %d", r.Topics[0].Partitions[0].ErrorCode)
		}
		if !rc.closed() {
			t.Fatal("the connection whose request panicked stays open")
		}
	}
	wg.Wait()
	rc := cb.raw()
	if r := rc.do(listOffsets(-1)).(*kmsg.ListOffsetsResponse); r.Topics[0].Partitions[0].ErrorCode != 0 || r.Topics[0].Partitions[0].Offset < 100 {
		t.Fatalf("after the panics: %+v", r.Topics[0].Partitions[0])
	}
}
