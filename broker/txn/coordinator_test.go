package txn

import (
	"context"
	"errors"
	"fmt"
	"math"
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
	stamps  []string // "pid/epoch" of each marker
}

func (e *fakeEnv) NextProducerID() (int64, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.next++
	return e.next, nil
}

func (e *fakeEnv) Active() bool { return true }

func (e *fakeEnv) WriteMarkers(_ context.Context, pid int64, epoch int16, commit bool, _ int8, parts []TopicPartition, groups []string) error {
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
		e.stamps = append(e.stamps, fmt.Sprintf("%d/%d", pid, epoch))
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
	wantErr(t, "end before begin", endV1(c, ctx, "t", pid, epoch, true), kerr.InvalidTxnState)
	wantErr(t, "other producer id", c.AddPartitions("t", pid+1, epoch, []TopicPartition{{"a", 0}}), kerr.InvalidProducerIDMapping)
	wantErr(t, "unknown id", c.AddPartitions("nope", pid, epoch, nil), kerr.InvalidProducerIDMapping)
	wantErr(t, "add", c.AddPartitions("t", pid, epoch, []TopicPartition{{"a", 0}, {"a", 0}}), nil)
	wantErr(t, "add offsets", c.AddOffsets("t", pid, epoch, "g"), nil)
	if m := c.Describe("t"); m.State != Ongoing || len(m.Partitions) != 1 || len(m.Groups) != 1 || m.StartMs == 0 {
		t.Fatalf("ongoing: %+v", m)
	}
	wantErr(t, "commit", endV1(c, ctx, "t", pid, epoch, true), nil)
	wantErr(t, "commit retried", endV1(c, ctx, "t", pid, epoch, true), nil)
	wantErr(t, "abort after commit", endV1(c, ctx, "t", pid, epoch, false), kerr.InvalidTxnState)
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
	wantErr(t, "zombie end", endV1(c, ctx, "t", pid, epoch, true), kerr.ProducerFenced)
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
	wantErr(t, "commit", endV1(c, ctx, "t", pid, epoch, true), nil)
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
	wantErr(t, "commit of the aborted", endV1(c, ctx, "t", pid, epoch, true), kerr.ProducerFenced)
}

// endV1 is EndTxn at transaction.version 1 (EndTxn v0-v4), its error only.
func endV1(c *Coordinator, ctx context.Context, id string, pid int64, epoch int16, commit bool) *kerr.Error {
	_, _, e := c.EndTxn(ctx, id, pid, epoch, commit, false)
	return e
}

// TestEndTxnV2 walks transaction.version 2 (EndTxn v5): every end bumps
// the epoch, the markers carry the bumped epoch, retries (the epoch before
// the bump) are answered with the current one, an empty abort bumps, and
// Kafka's table of refusals.
func TestEndTxnV2(t *testing.T) {
	c, env := newTest()
	ctx := context.Background()
	pid, epoch, _ := c.InitProducerID(ctx, "t", 60000, -1, -1)
	end := func(what string, e int16, commit bool, wantErr *kerr.Error, wantEpoch int16) {
		t.Helper()
		gotPid, gotEpoch, kErr := c.EndTxn(ctx, "t", pid, e, commit, true)
		if kErr != wantErr {
			t.Fatalf("%s: %v, want %v", what, kErr, wantErr)
		}
		if wantErr == nil && (gotPid != pid || gotEpoch != wantEpoch) {
			t.Fatalf("%s: answered %d/%d, want %d/%d", what, gotPid, gotEpoch, pid, wantEpoch)
		}
	}
	end("commit with nothing open", epoch, true, kerr.InvalidTxnState, 0)
	end("empty abort", epoch, false, nil, epoch+1)
	if len(env.markers) != 0 {
		t.Fatalf("an empty abort wrote markers %v", env.markers)
	}
	end("empty abort retried", epoch, false, nil, epoch+1)
	end("commit after an abort", epoch+1, true, kerr.InvalidTxnState, 0)
	epoch++

	wantErr(t, "add", c.AddPartitions("t", pid, epoch, []TopicPartition{{"a", 0}}), nil)
	end("commit retried before it happened", epoch-1, true, kerr.ProducerFenced, 0)
	end("commit", epoch, true, nil, epoch+1)
	if want := fmt.Sprintf("%d/%d", pid, epoch+1); len(env.stamps) != 1 || env.stamps[0] != want {
		t.Fatalf("markers stamped %v, want the bumped epoch %s", env.stamps, want)
	}
	end("commit retried", epoch, true, nil, epoch+1)
	end("abort with the epoch before the commit", epoch, false, kerr.InvalidTxnState, 0)
	wantErr(t, "add with the epoch of the ended transaction", c.AddPartitions("t", pid, epoch, []TopicPartition{{"a", 0}}), kerr.ProducerFenced)
	end("a newer epoch than the coordinator's", epoch+5, false, kerr.ProducerFenced, 0)
	if m := c.Describe("t"); m.State != CompleteCommit || m.Epoch != epoch+1 || m.LastEpoch != epoch {
		t.Fatalf("after the commit: %+v", m)
	}

	// A transaction.version 1 end (EndTxn v0-v4) keeps the epoch.
	epoch++
	wantErr(t, "add", c.AddPartitions("t", pid, epoch, []TopicPartition{{"a", 0}}), nil)
	if p, e, kErr := c.EndTxn(ctx, "t", pid, epoch, true, false); kErr != nil || p != -1 || e != -1 {
		t.Fatalf("a v4 commit: %d/%d %v, want -1/-1 and no error", p, e, kErr)
	}
	if m := c.Describe("t"); m.Epoch != epoch {
		t.Fatalf("a v4 commit moved the epoch to %d", m.Epoch)
	}
}

// TestEndTxnV2EpochExhausted: an end that bumps the epoch to its last
// value writes the markers at that epoch and moves the id to a new
// producer id at epoch 0, which the answer carries; a retry with the old
// id and epoch gets the new ones.
func TestEndTxnV2EpochExhausted(t *testing.T) {
	c, env := newTest()
	ctx := context.Background()
	pid, _, _ := c.InitProducerID(ctx, "t", 60000, -1, -1)
	m := c.Describe("t")
	m.Epoch = math.MaxInt16 - 1
	if err := c.save(m); err != nil {
		t.Fatal(err)
	}
	last := int16(math.MaxInt16 - 1)
	wantErr(t, "add", c.AddPartitions("t", pid, last, []TopicPartition{{"a", 0}}), nil)
	np, ne, kErr := c.EndTxn(ctx, "t", pid, last, true, true)
	if kErr != nil || np == pid || ne != 0 {
		t.Fatalf("commit at the last epoch: %d/%d %v, want a new producer id at epoch 0", np, ne, kErr)
	}
	if want := fmt.Sprintf("%d/%d", pid, math.MaxInt16); len(env.stamps) != 1 || env.stamps[0] != want {
		t.Fatalf("markers stamped %v, want %s", env.stamps, want)
	}
	if p, e, kErr := c.EndTxn(ctx, "t", pid, last, true, true); kErr != nil || p != np || e != 0 {
		t.Fatalf("the commit retried with the old id: %d/%d %v, want %d/0", p, e, kErr, np)
	}
	wantErr(t, "old id", c.AddPartitions("t", pid, last, []TopicPartition{{"a", 0}}), kerr.InvalidProducerIDMapping)
	wantErr(t, "new id", c.AddPartitions("t", np, 0, []TopicPartition{{"a", 0}}), nil)
	if _, e, kErr := c.EndTxn(ctx, "t", np, 0, false, true); kErr != nil || e != 1 {
		t.Fatalf("abort with the new id: epoch %d %v", e, kErr)
	}
}
