package txn

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"go.uber.org/zap"
)

// memKV is the store's key/value state in memory.
type memKV struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (k *memKV) PutKV(ns string, kvs ...storage.KV) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, kv := range kvs {
		if kv.Value == nil {
			delete(k.m, ns+"/"+string(kv.Key))
		} else {
			k.m[ns+"/"+string(kv.Key)] = append([]byte(nil), kv.Value...)
		}
	}
	return nil
}

func (k *memKV) GetKV(ns string, key []byte) ([]byte, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	v, ok := k.m[ns+"/"+string(key)]
	return v, ok
}

func (k *memKV) RangeKV(ns string, fn func(key, value []byte) bool) {
	k.mu.Lock()
	var keys, vals [][]byte
	for key, v := range k.m {
		if len(key) > len(ns) && key[:len(ns)+1] == ns+"/" {
			keys, vals = append(keys, []byte(key[len(ns)+1:])), append(vals, v)
		}
	}
	k.mu.Unlock()
	for i := range keys {
		if !fn(keys[i], vals[i]) {
			return
		}
	}
}

// fakeEnv records the markers written; fail makes them fail.
type fakeEnv struct {
	mu      sync.Mutex
	next    int64
	fail    bool
	markers []string
}

func (e *fakeEnv) NextProducerID() (int64, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.next++
	return e.next, nil
}

func (e *fakeEnv) Active() bool { return true }

func (e *fakeEnv) WriteMarkers(_ context.Context, pid int64, epoch int16, commit bool, parts []TopicPartition, groups []string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.fail {
		return errors.New("group down")
	}
	kind := "abort"
	if commit {
		kind = "commit"
	}
	for _, p := range parts {
		e.markers = append(e.markers, kind+":"+p.Topic)
	}
	for _, g := range groups {
		e.markers = append(e.markers, kind+":group:"+g)
	}
	return nil
}

func newTest() (*Coordinator, *fakeEnv) {
	env := &fakeEnv{}
	return New(Config{}, &memKV{m: map[string][]byte{}}, env, zap.NewNop()), env
}

func wantErr(t *testing.T, what string, got, want *kerr.Error) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: %v, want %v", what, got, want)
	}
}

// TestStateMachine walks Kafka's transitions and their errors.
func TestStateMachine(t *testing.T) {
	c, env := newTest()
	ctx := context.Background()
	if _, _, e := c.InitProducerID(ctx, "t", 0, -1, -1); e != kerr.InvalidTransactionTimeout {
		t.Fatalf("timeout 0: %v", e)
	}
	if _, _, e := c.InitProducerID(ctx, "t", 900001, -1, -1); e != kerr.InvalidTransactionTimeout {
		t.Fatalf("timeout over the max: %v", e)
	}
	pid, epoch, e := c.InitProducerID(ctx, "t", 60000, -1, -1)
	if e != nil || epoch != 0 {
		t.Fatalf("first init: %d %d %v", pid, epoch, e)
	}
	wantErr(t, "end before begin", c.EndTxn(ctx, "t", pid, epoch, true), kerr.InvalidTxnState)
	wantErr(t, "other producer id", c.AddPartitions("t", pid+1, epoch, []TopicPartition{{"a", 0}}), kerr.InvalidProducerIDMapping)
	wantErr(t, "unknown id", c.AddPartitions("nope", pid, epoch, nil), kerr.InvalidProducerIDMapping)
	wantErr(t, "add", c.AddPartitions("t", pid, epoch, []TopicPartition{{"a", 0}, {"a", 0}}), nil)
	wantErr(t, "add offsets", c.AddOffsets("t", pid, epoch, "g"), nil)
	if m := c.Describe("t"); m.State != Ongoing || len(m.Partitions) != 1 || len(m.Groups) != 1 || m.StartMs == 0 {
		t.Fatalf("ongoing: %+v", m)
	}
	wantErr(t, "commit", c.EndTxn(ctx, "t", pid, epoch, true), nil)
	wantErr(t, "commit retried", c.EndTxn(ctx, "t", pid, epoch, true), nil)
	wantErr(t, "abort after commit", c.EndTxn(ctx, "t", pid, epoch, false), kerr.InvalidTxnState)
	if len(env.markers) != 2 || env.markers[0] != "commit:a" || env.markers[1] != "commit:group:g" {
		t.Fatalf("markers %v", env.markers)
	}

	// A second producer takes the id over: the open transaction of the
	// first is aborted, the first is fenced.
	wantErr(t, "add", c.AddPartitions("t", pid, epoch, []TopicPartition{{"b", 1}}), nil)
	pid2, epoch2, e := c.InitProducerID(ctx, "t", 60000, -1, -1)
	if e != nil || pid2 != pid || epoch2 != epoch+2 {
		t.Fatalf("take-over: %d %d %v (the abort fenced one epoch, the new producer got the next)", pid2, epoch2, e)
	}
	if last := env.markers[len(env.markers)-1]; last != "abort:b" {
		t.Fatalf("the open transaction was not aborted: %v", env.markers)
	}
	wantErr(t, "zombie add", c.AddPartitions("t", pid, epoch, []TopicPartition{{"b", 1}}), kerr.ProducerFenced)
	wantErr(t, "zombie end", c.EndTxn(ctx, "t", pid, epoch, true), kerr.ProducerFenced)
	if _, _, e := c.InitProducerID(ctx, "t", 60000, pid, epoch); e != kerr.ProducerFenced {
		t.Fatalf("KIP-360 re-init with a fenced epoch: %v", e)
	}
	// KIP-360: the holder of the current epoch bumps it; a retry of that
	// bump (the previous epoch) gets the same answer.
	_, epoch3, e := c.InitProducerID(ctx, "t", 60000, pid2, epoch2)
	if e != nil || epoch3 != epoch2+1 {
		t.Fatalf("bump: %d %v", epoch3, e)
	}
	if _, again, e := c.InitProducerID(ctx, "t", 60000, pid2, epoch2); e != nil || again != epoch3 {
		t.Fatalf("retried bump: %d %v", again, e)
	}
}

// TestMarkersRetried: markers that cannot be written leave the
// transaction decided (EndTxn succeeds) but not complete; the producer
// gets CONCURRENT_TRANSACTIONS until Check writes them.
func TestMarkersRetried(t *testing.T) {
	c, env := newTest()
	ctx := context.Background()
	pid, epoch, _ := c.InitProducerID(ctx, "t", 60000, -1, -1)
	c.AddPartitions("t", pid, epoch, []TopicPartition{{"a", 0}})
	env.fail = true
	wantErr(t, "commit", c.EndTxn(ctx, "t", pid, epoch, true), nil)
	if m := c.Describe("t"); m.State != PrepareCommit {
		t.Fatalf("state %v, want PrepareCommit", m.State)
	}
	wantErr(t, "next add", c.AddPartitions("t", pid, epoch, nil), kerr.ConcurrentTransactions)
	if _, _, e := c.InitProducerID(ctx, "t", 60000, -1, -1); e != kerr.ConcurrentTransactions {
		t.Fatalf("init while markers are pending: %v", e)
	}
	env.fail = false
	c.Check(ctx)
	if m := c.Describe("t"); m.State != CompleteCommit {
		t.Fatalf("state %v after Check, want CompleteCommit", m.State)
	}
	wantErr(t, "next add", c.AddPartitions("t", pid, epoch, []TopicPartition{{"a", 0}}), nil)
}

// TestTimeout: Check aborts a transaction open past its timeout and fences
// its producer.
func TestTimeout(t *testing.T) {
	c, env := newTest()
	now := time.Unix(1000, 0)
	c.now = func() time.Time { return now }
	ctx := context.Background()
	pid, epoch, _ := c.InitProducerID(ctx, "t", 1000, -1, -1)
	c.AddPartitions("t", pid, epoch, []TopicPartition{{"a", 0}})
	now = now.Add(900 * time.Millisecond)
	c.Check(ctx)
	if m := c.Describe("t"); m.State != Ongoing {
		t.Fatalf("aborted before its timeout: %v", m.State)
	}
	now = now.Add(200 * time.Millisecond)
	c.Check(ctx)
	m := c.Describe("t")
	if m.State != CompleteAbort || m.Epoch != epoch+1 || len(env.markers) != 1 || env.markers[0] != "abort:a" {
		t.Fatalf("after the timeout: %+v, markers %v", m, env.markers)
	}
	wantErr(t, "commit of the aborted", c.EndTxn(ctx, "t", pid, epoch, true), kerr.ProducerFenced)
}
