package nameserver

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
)

const testLease = 40 * time.Millisecond

func acquire(member int64, epoch, lastEpoch int32, lastMaster int64) LeaseRequest {
	return LeaseRequest{Op: LeaseAcquire, Cluster: "c", BrokerName: "g", BrokerID: member,
		Epoch: epoch, LastEpoch: lastEpoch, LastMaster: lastMaster}
}

func mustLease(t *testing.T, l *Leases, req LeaseRequest) LeaseResponse {
	t.Helper()
	resp, err := l.Lease(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// A NameServer that has just started grants nothing, not even a renewal by
// the member it may have granted the lease to before it restarted, until a
// full lease has passed; it learns epochs and the in-sync set meanwhile.
func TestLeaseStartGrace(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	l := NewLeases(testLease, clk.now)
	req := acquire(0, 3, 3, 0)
	req.SyncState = &SyncState{Members: []int64{0, 1}, Epoch: 3, Version: 7}
	for _, step := range []time.Duration{0, testLease / 2, testLease/2 - time.Nanosecond} {
		clk.add(step)
		resp := mustLease(t, l, req)
		if resp.Granted || resp.Grace <= 0 || !strings.Contains(resp.Reason, "grants nothing") {
			t.Fatalf("during the start grace: %+v", resp)
		}
		if cand := mustLease(t, l, acquire(1, 9, 3, 0)); cand.Granted {
			t.Fatalf("a candidate was granted during the start grace: %+v", cand)
		}
	}
	clk.add(time.Nanosecond)
	resp := mustLease(t, l, req)
	if !resp.Granted || resp.Holder != 0 || resp.HolderEpoch != 3 || resp.Remaining != testLease {
		t.Fatalf("after the grace the holder's renewal: %+v", resp)
	}
	if resp.SyncState == nil || resp.SyncState.Version != 7 || !resp.SyncState.Has(1) {
		t.Fatalf("in-sync set learned during the grace: %+v", resp.SyncState)
	}
	// The refused candidate's epoch 9 was never granted, so it is not known;
	// its last epoch 3 is.
	if resp.MaxEpoch != 3 {
		t.Fatalf("max epoch %d, want 3", resp.MaxEpoch)
	}
}

// One holder at a time; a candidate takes over only after the lease ran out
// here, with an epoch above every one known; the old holder is then
// refused, also continuing its own term once the new lease ends.
func TestLeaseExclusiveAndEpochs(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	l := NewLeases(testLease, clk.now)
	clk.add(testLease)
	if r := mustLease(t, l, acquire(0, 0, 0, 0)); !r.Granted {
		t.Fatalf("first master: %+v", r)
	}
	clk.add(testLease - time.Nanosecond)
	if r := mustLease(t, l, acquire(1, 1, 0, 0)); r.Granted || r.Holder != 0 || r.Remaining != time.Nanosecond {
		t.Fatalf("candidate while the lease runs: %+v", r)
	}
	if r := mustLease(t, l, acquire(0, 0, 0, 0)); !r.Granted || r.Remaining != testLease {
		t.Fatalf("renewal: %+v", r)
	}
	clk.add(testLease)
	// Expired: a slave asking to continue someone else's term, or with an
	// epoch not above the known one, is refused.
	for _, bad := range []LeaseRequest{acquire(1, 0, 0, 0), acquire(1, 0, -1, -1), acquire(1, -1, -1, -1)} {
		if r := mustLease(t, l, bad); r.Granted {
			t.Fatalf("%+v granted: %+v", bad, r)
		}
	}
	if r := mustLease(t, l, acquire(1, 1, 0, 0)); !r.Granted || r.Holder != 1 || r.MaxEpoch != 1 {
		t.Fatalf("candidate after expiry: %+v", r)
	}
	if r := mustLease(t, l, acquire(0, 0, 0, 0)); r.Granted || r.Holder != 1 {
		t.Fatalf("old holder renewing against the new one: %+v", r)
	}
	if r := mustLease(t, l, acquire(2, 2, 0, 0)); r.Granted {
		t.Fatalf("second candidate while the new lease runs: %+v", r)
	}
	clk.add(testLease)
	if r := mustLease(t, l, acquire(0, 0, 0, 0)); r.Granted || !strings.Contains(r.Reason, "stale") {
		t.Fatalf("old holder continuing its term after a newer one: %+v", r)
	}
	if r := mustLease(t, l, acquire(2, 1, 0, 0)); r.Granted {
		t.Fatalf("a second term with epoch 1: %+v", r)
	}
	// A last epoch heard in a query raises the bar for the next new term.
	q := acquire(2, 0, 5, 1)
	q.Op = LeaseQuery
	if r := mustLease(t, l, q); r.Granted || r.MaxEpoch != 5 || r.Holder != -1 {
		t.Fatalf("query: %+v", r)
	}
	if r := mustLease(t, l, acquire(2, 5, 4, 1)); r.Granted {
		t.Fatalf("epoch 5 after 5 was heard of: %+v", r)
	}
	if r := mustLease(t, l, acquire(2, 6, 5, 1)); !r.Granted || r.HolderEpoch != 6 {
		t.Fatalf("epoch 6: %+v", r)
	}
}

// A release ends the lease at once, but only the holder's own.
func TestLeaseRelease(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	l := NewLeases(testLease, clk.now)
	clk.add(testLease)
	mustLease(t, l, acquire(0, 0, 0, 0))
	rel := acquire(1, 0, 0, 0)
	rel.Op = LeaseRelease
	if r := mustLease(t, l, rel); r.Holder != 0 {
		t.Fatalf("released by another member: %+v", r)
	}
	rel.BrokerID = 0
	if r := mustLease(t, l, rel); r.Holder != -1 {
		t.Fatalf("release by the holder: %+v", r)
	}
	if r := mustLease(t, l, acquire(1, 1, 0, 0)); !r.Granted {
		t.Fatalf("candidate after release: %+v", r)
	}
	if _, err := l.Lease(context.Background(), LeaseRequest{Op: "steal", BrokerName: "g"}); err != ErrInvalidLease {
		t.Fatalf("unknown op: %v", err)
	}
}

// The in-sync set is taken from the granted holder only (outside the start
// grace), and only a newer one.
func TestLeaseSyncState(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	l := NewLeases(testLease, clk.now)
	clk.add(testLease)
	req := acquire(0, 2, 2, 0)
	req.SyncState = &SyncState{Members: []int64{0, 1, 2}, Epoch: 2, Version: 1}
	mustLease(t, l, req)
	req.SyncState = &SyncState{Members: []int64{0, 2}, Epoch: 2, Version: 2}
	mustLease(t, l, req)
	stale := acquire(0, 2, 2, 0)
	stale.SyncState = &SyncState{Members: []int64{0, 1, 2}, Epoch: 2, Version: 1}
	mustLease(t, l, stale)
	other := acquire(1, 3, 2, 0)
	other.SyncState = &SyncState{Members: []int64{1}, Epoch: 3}
	r := mustLease(t, l, other)
	if r.Granted || r.SyncState.Version != 2 || r.SyncState.Has(1) {
		t.Fatalf("in-sync set after a stale report and a refused one: %+v %+v", r, r.SyncState)
	}
}

// The lease table over HTTP, as brokers reach it.
func TestLeaseHTTP(t *testing.T) {
	srv, err := NewServer(Config{Listen: "127.0.0.1:0", LeaseDuration: testLease, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve()
	defer srv.Shutdown(context.Background())
	c := NewClient([]string{srv.Addr().String()})
	ctx := context.Background()
	r, err := c.Lease(ctx, srv.Addr().String(), acquire(0, 0, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	// Refused for the start grace (unless this slow machine took longer).
	if r.Duration != testLease || (!r.Granted && r.Grace <= 0) {
		t.Fatalf("fresh NameServer: %+v", r)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !r.Granted && time.Now().Before(deadline) {
		time.Sleep(testLease / 4)
		if r, err = c.Lease(ctx, srv.Addr().String(), acquire(0, 0, 0, 0)); err != nil {
			t.Fatal(err)
		}
	}
	if !r.Granted || r.Holder != 0 {
		t.Fatalf("after the grace: %+v", r)
	}
	if _, err := c.Lease(ctx, srv.Addr().String(), LeaseRequest{Op: LeaseAcquire}); err == nil || !strings.Contains(err.Error(), "400") {
		t.Fatalf("invalid request: %v", err)
	}
}
