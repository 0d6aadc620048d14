package broker

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fakeMaster is a replication master whose ISR and acknowledgements the
// test decides.
type fakeMaster struct {
	mu     sync.Mutex
	isr    []int64
	block  bool    // WaitReplicated waits for its context
	shrink []int64 // when set, WaitReplicated installs it as the ISR, then returns nil
	waits  int
}

func (f *fakeMaster) InSync() []int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]int64(nil), f.isr...)
}

func (f *fakeMaster) WaitReplicated(ctx context.Context, pos int64, _ int) error {
	f.mu.Lock()
	f.waits++
	block, shrink := f.block, f.shrink
	if shrink != nil {
		f.isr = shrink
	}
	f.mu.Unlock()
	if block {
		<-ctx.Done()
		return ctx.Err()
	}
	return nil
}

func (f *fakeMaster) Notify()                 {}
func (f *fakeMaster) Slaves() []slaveProgress { return nil }
func (f *fakeMaster) Addr() string            { return "127.0.0.1:1" }
func (f *fakeMaster) Close() error            { return nil }

func replicaBroker(t *testing.T, mode ReplicationMode, minISR int) (*coreBroker, *fakeMaster) {
	cb := coreStart(t, t.TempDir(), func(c *Config) {
		c.Replication.Mode = mode
		c.Replication.MinInsyncReplicas = minISR
	})
	f := &fakeMaster{}
	cb.b.replMu.Lock()
	cb.b.rmaster = f
	cb.b.replMu.Unlock()
	cb.topic("t", 1, nil)
	return cb, f
}

func produceCode(t *testing.T, cb *coreBroker, acks int16, timeout time.Duration) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	req := produceReq(9, acks, "t", 0, coreBatch(time.Now().UnixMilli(), -1, -1, -1, coreRecs(1, "r")...))
	req.TimeoutMillis = int32(timeout.Milliseconds())
	return producePart(cb.raw().do(req))
}

// Sync mode: acks=all is refused before appending below
// min.insync.replicas, times out when an in-sync slave does not
// acknowledge, and gets NOT_ENOUGH_REPLICAS_AFTER_APPEND when the ISR
// shrinks while waiting; acks=1 never waits.
func TestSyncModeAcks(t *testing.T) {
	cb, f := replicaBroker(t, ReplicationSync, 2)
	p := cb.b.store.Partition(cb.b.topics.byName["t"].ID, 0)

	if sp := produceCode(t, cb, -1, time.Second); sp.ErrorCode != kerr.NotEnoughReplicas.Code {
		t.Fatalf("ISR 1 < 2: %v, want NOT_ENOUGH_REPLICAS", kerr.ErrorForCode(sp.ErrorCode))
	}
	if end := p.LogEndOffset(); end != 0 {
		t.Fatalf("NOT_ENOUGH_REPLICAS appended: log end %d", end)
	}
	if sp := produceCode(t, cb, 1, time.Second); sp.ErrorCode != 0 || sp.BaseOffset != 0 {
		t.Fatalf("acks=1: %v offset %d", kerr.ErrorForCode(sp.ErrorCode), sp.BaseOffset)
	}

	f.mu.Lock()
	f.isr, f.block = []int64{1}, true
	f.mu.Unlock()
	if sp := produceCode(t, cb, -1, 100*time.Millisecond); sp.ErrorCode != kerr.RequestTimedOut.Code || sp.BaseOffset != -1 {
		t.Fatalf("slave not acknowledging: %v offset %d, want REQUEST_TIMED_OUT", kerr.ErrorForCode(sp.ErrorCode), sp.BaseOffset)
	}

	f.mu.Lock()
	f.block, f.shrink = false, []int64{}
	f.mu.Unlock()
	if sp := produceCode(t, cb, -1, time.Second); sp.ErrorCode != kerr.NotEnoughReplicasAfterAppend.Code {
		t.Fatalf("ISR shrank while waiting: %v, want NOT_ENOUGH_REPLICAS_AFTER_APPEND", kerr.ErrorForCode(sp.ErrorCode))
	}

	f.mu.Lock()
	f.isr, f.shrink = []int64{1}, nil
	f.mu.Unlock()
	if sp := produceCode(t, cb, -1, time.Second); sp.ErrorCode != 0 {
		t.Fatalf("ISR 2, acknowledged: %v", kerr.ErrorForCode(sp.ErrorCode))
	}
	// A topic's own min.insync.replicas outranks the broker's.
	cb.topic("t3", 1, map[string]string{"min.insync.replicas": "3"})
	req := produceReq(9, -1, "t3", 0, coreBatch(time.Now().UnixMilli(), -1, -1, -1, coreRecs(1, "r")...))
	if sp := producePart(cb.raw().do(req)); sp.ErrorCode != kerr.NotEnoughReplicas.Code {
		t.Fatalf("topic min.insync.replicas 3 with ISR 2: %v", kerr.ErrorForCode(sp.ErrorCode))
	}
}

// Async mode answers acks=all without waiting for any slave.
func TestAsyncModeAcks(t *testing.T) {
	cb, f := replicaBroker(t, ReplicationAsync, 2)
	f.mu.Lock()
	f.isr, f.block = []int64{1}, true
	f.mu.Unlock()
	if sp := produceCode(t, cb, -1, 100*time.Millisecond); sp.ErrorCode != 0 {
		t.Fatalf("async acks=all: %v", kerr.ErrorForCode(sp.ErrorCode))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.waits != 0 {
		t.Fatalf("async mode waited for replication %d times", f.waits)
	}
}

// A slave answers Produce NOT_LEADER_OR_FOLLOWER, group requests
// NOT_COORDINATOR, and still serves reads.
func TestSlaveWritesNothing(t *testing.T) {
	cb, _ := replicaBroker(t, ReplicationAsync, 1)
	if sp := produceCode(t, cb, 1, time.Second); sp.ErrorCode != 0 {
		t.Fatalf("master: %v", kerr.ErrorForCode(sp.ErrorCode))
	}
	cb.b.setRole(roleSlave)
	end := cb.b.store.EndPosition()
	if sp := produceCode(t, cb, 1, time.Second); sp.ErrorCode != kerr.NotLeaderForPartition.Code {
		t.Fatalf("slave Produce: %v, want NOT_LEADER_OR_FOLLOWER", kerr.ErrorForCode(sp.ErrorCode))
	}
	join := kmsg.NewPtrJoinGroupRequest()
	join.Group, join.ProtocolType, join.SessionTimeoutMillis, join.RebalanceTimeoutMillis = "g", "consumer", 10000, 10000
	join.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range"}}
	if r := cb.raw().do(join).(*kmsg.JoinGroupResponse); r.ErrorCode != kerr.NotCoordinator.Code {
		t.Fatalf("slave JoinGroup: %v, want NOT_COORDINATOR", kerr.ErrorForCode(r.ErrorCode))
	}
	lo := kmsg.NewPtrListOffsetsRequest()
	lo.Version = 4
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = "t"
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition, rp.Timestamp, rp.CurrentLeaderEpoch = 0, -1, -1
	rt.Partitions = append(rt.Partitions, rp)
	lo.Topics = append(lo.Topics, rt)
	if sp := cb.raw().do(lo).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]; sp.ErrorCode != 0 || sp.Offset != 1 {
		t.Fatalf("slave ListOffsets latest: %v offset %d, want 1", kerr.ErrorForCode(sp.ErrorCode), sp.Offset)
	}
	if got := cb.b.store.EndPosition(); got != end {
		t.Fatalf("the slave's commit log moved from %d to %d", end, got)
	}
	cb.b.setRole(roleMaster)
}
