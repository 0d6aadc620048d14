package group

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/storage"
)

// gatedKV is memKV whose WaitDurable (the fsync) waits until the test
// releases it, one call at a time; PutKV waits too.
type gatedKV struct {
	*memKV
	gate  atomic.Bool
	calls chan chan struct{}
}

func (k *gatedKV) PutKV(ns string, kvs ...storage.KV) error {
	pos, err := k.PutKVDeferred(ns, kvs...)
	if err != nil {
		return err
	}
	return k.WaitDurable(pos)
}

func (k *gatedKV) WaitDurable(int64) error {
	if k.gate.Load() {
		release := make(chan struct{})
		k.calls <- release
		<-release
	}
	return nil
}

// TestCommitFsyncOutsideGroupLock: an offset commit waits for its fsync
// without the group's lock, so the group's other requests go on meanwhile
// (issue 12 item 7); the commit is shown to OffsetFetch only once durable,
// and of two commits of one partition the later one wins whichever fsync
// returns first.
func TestCommitFsyncOutsideGroupLock(t *testing.T) {
	h := &harness{t: t, clk: newFakeClock(), kv: newMemKV()}
	kv := &gatedKV{memKV: h.kv, calls: make(chan chan struct{})}
	c, err := newCoordinator(testConfig(), kv, h.clk, nil)
	if err != nil {
		t.Fatal(err)
	}
	h.c = c
	t.Cleanup(func() { c.Close() })
	wantCode(t, h.commit("simple", "", -1, "t", 0, 1, ""), nil)

	kv.gate.Store(true)
	codes := make(chan int16, 2)
	go func() { codes <- h.commit("simple", "", -1, "t", 0, 2, "") }()
	first := <-kv.calls // the commit of 2 waits for its fsync
	fetched := make(chan int64)
	go func() {
		off, _, _ := h.fetch("simple", "t", 0)
		fetched <- off
	}()
	select {
	case off := <-fetched:
		if off != 1 {
			t.Fatalf("OffsetFetch during the commit's fsync: %d, want 1 (2 is not durable yet)", off)
		}
	case <-time.After(5 * time.Second):
		kv.gate.Store(false)
		close(first)
		<-codes
		<-fetched
		t.Fatal("OffsetFetch waited for another request's fsync: the group's lock is held across it")
	}
	go func() { codes <- h.commit("simple", "", -1, "t", 0, 3, "") }()
	second := <-kv.calls
	close(second) // 3 becomes durable first
	wantCode(t, <-codes, nil)
	close(first)
	wantCode(t, <-codes, nil)
	kv.gate.Store(false)
	if off, _, _ := h.fetch("simple", "t", 0); off != 3 {
		t.Fatalf("offset %d after both commits, want 3 (the later write)", off)
	}
}
