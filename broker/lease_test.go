package broker

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/nameserver"
	"github.com/gregor-broker/gregor/nameserver/lease"
	"github.com/twmb/franz-go/pkg/kerr"
)

// cuttable is an in-process lease table a test can cut the broker off from.
type cuttable struct {
	l   *nameserver.Leases
	cut *atomic.Bool
}

func (c cuttable) Lease(ctx context.Context, req nameserver.LeaseRequest) (nameserver.LeaseResponse, error) {
	if c.cut.Load() {
		return nameserver.LeaseResponse{}, errors.New("cut off")
	}
	return c.l.Lease(ctx, req)
}

// waitCond polls cond until it holds, failing the test after 10 s.
func waitCond(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A master acknowledges writes only while it holds the lease: before the
// first grant and after it is cut off from the NameServers, Produce gets
// NOT_LEADER_OR_FOLLOWER and the broker steps down; once it may renew
// again (no slave took over) it is master of its term again.
func TestProduceNeedsLease(t *testing.T) {
	const d = 200 * time.Millisecond
	cut := &atomic.Bool{}
	cut.Store(true)
	var gs []lease.Granter
	for range 3 {
		gs = append(gs, cuttable{nameserver.NewLeases(d, nil), cut})
	}
	cb := coreStart(t, "", func(c *Config) {
		c.Cluster = ClusterConfig{Name: "test", BrokerName: "g", Client: nameserver.NewLocal(),
			LeaseGranters: gs, LeaseInterval: d / 8}
	})
	cb.topic("leased", 1, nil)
	produce := func() int16 {
		return producePart(cb.raw().do(produceReq(9, -1, "leased", 0, coreBatch(time.Now().UnixMilli(), -1, -1, -1, coreRecs(1, "x")...)))).ErrorCode
	}
	if code := produce(); code != kerr.NotLeaderForPartition.Code {
		t.Fatalf("produce without a lease: %v", kerr.ErrorForCode(code))
	}
	cut.Store(false)
	waitCond(t, "the lease", cb.b.leaseValid)
	if code := produce(); code != 0 {
		t.Fatalf("produce with the lease: %v", kerr.ErrorForCode(code))
	}
	cut.Store(true)
	waitCond(t, "the step-down", func() bool { return cb.b.roleName() == "stepping-down" })
	if cb.b.leaseValid() {
		t.Fatal("stepped down with a valid lease")
	}
	if code := produce(); code != kerr.NotLeaderForPartition.Code {
		t.Fatalf("produce after the lease ran out: %v", kerr.ErrorForCode(code))
	}
	cut.Store(false)
	waitCond(t, "master again", func() bool { return cb.b.isMaster() && cb.b.leaseValid() })
	if code := produce(); code != 0 {
		t.Fatalf("produce with the lease regained: %v", kerr.ErrorForCode(code))
	}
}
