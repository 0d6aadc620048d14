package group

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/storage"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// panicKV panics in PutKV and PutKVDeferred while armed: a bug met under a
// group's lock.
type panicKV struct {
	*memKV
	armed atomic.Bool
}

func (p *panicKV) PutKV(ns string, kvs ...storage.KV) error {
	if p.armed.Load() {
		panic("injected: panic under the group lock")
	}
	return p.memKV.PutKV(ns, kvs...)
}

func (p *panicKV) PutKVDeferred(ns string, kvs ...storage.KV) (int64, error) {
	if p.armed.Load() {
		panic("injected: panic under the group lock")
	}
	return p.memKV.PutKVDeferred(ns, kvs...)
}

// A panic inside a group handler (here: while committing, under the
// group's lock) costs that request only: the next commit and fetch for the
// same group are answered. Before, the group's lock stayed held and every
// later request for the group hung.
func TestPanicUnderGroupLockCostsOneRequest(t *testing.T) {
	kv := &panicKV{memKV: newMemKV()}
	c, err := newCoordinator(testConfig(), kv, newFakeClock(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	commit := func(off int64) *kmsg.OffsetCommitResponse {
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Version = 8
		req.Group, req.Generation = "g", -1
		tp := kmsg.NewOffsetCommitRequestTopic()
		tp.Topic = "t"
		p := kmsg.NewOffsetCommitRequestTopicPartition()
		p.Offset = off
		tp.Partitions = append(tp.Partitions, p)
		req.Topics = append(req.Topics, tp)
		return c.OffsetCommit(req, nil)
	}
	if code := commit(1).Topics[0].Partitions[0].ErrorCode; code != 0 {
		t.Fatalf("commit: code %d", code)
	}
	kv.armed.Store(true)
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the injected panic did not happen")
			}
		}()
		commit(2)
	}()
	kv.armed.Store(false)

	done := make(chan int16, 1)
	go func() { done <- commit(3).Topics[0].Partitions[0].ErrorCode }()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("commit after the panic: code %d", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("commit after the panic still blocked after 10 s: the group's lock is held")
	}
	got := c.FetchOffsets("g", []kmsg.OffsetFetchRequestGroupTopic{{Topic: "t", Partitions: []int32{0}}}, nil)
	if len(got) != 1 || got[0].Partitions[0].Offset != 3 {
		t.Fatalf("fetched %+v, want offset 3", got)
	}
}
