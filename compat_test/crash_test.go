package compat

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestCrashRecovery SIGKILLs the real gregor process while an idempotent
// franz-go producer is writing, restarts it on the same data folder and port,
// and checks that every acknowledged record is there exactly once (the
// producer's retries across the restart are deduplicated), offsets have no
// gaps, and the group offsets committed before the kill are still committed
// and resume a consumer exactly where it stopped. Kafka is not killed (its
// durability is not what is tested); its column says n/a.
func TestCrashRecovery(t *testing.T) {
	const client, scenario = "gregor process", "SIGKILL mid-produce + restart (idempotent producer, group offsets)"
	for _, tg := range targets {
		if tg.name != "gregor" {
			results.set(client, scenario, tg.name, "n/a")
			continue
		}
		t.Run(tg.name, func(t *testing.T) {
			defer func() {
				if t.Failed() {
					results.set(client, scenario, tg.name, "FAIL")
				} else if !t.Skipped() {
					results.set(client, scenario, tg.name, "pass")
				}
			}()
			if tg.down != "" || tg.proc == nil {
				t.Fatalf("gregor is not running: %s", tg.down)
			}
			for _, k := range apisGroup {
				if _, ok := tg.apis[int16(k)]; !ok {
					results.set(client, scenario, tg.name, "skip: no "+k.Name())
					t.Skipf("gregor does not implement %s yet", k.Name())
				}
			}
			crashScenario(t, tg)
		})
	}
}

func crashScenario(t *testing.T, tg *target) {
	const parts, total = 3, 600
	topic := newTopic(t, tg, "crash", parts)
	group := uniq("g-crash")

	// Phase 1: 150 records, a group member reads them and commits.
	first := producePartitioned(t, tg, topic, 0, 150, parts)
	c1 := newClient(t, tg, kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond),
		kgo.SessionTimeout(20*time.Second), kgo.HeartbeatInterval(500*time.Millisecond))
	var read1 []rec
	ctx := ctxT(t, 30*time.Second)
	for len(read1) < len(first) {
		fs := c1.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("group read %d of %d before timeout", len(read1), len(first))
		}
		fs.EachRecord(func(r *kgo.Record) { read1 = append(read1, toRec(r)) })
		if err := c1.CommitUncommittedOffsets(ctx); err != nil {
			t.Fatalf("commit: %v", err)
		}
	}
	c1.Close()
	checkConsumed(t, read1, first)
	committed := endOffsets(t, tg, topic)

	// Phase 2: an idempotent producer writes records 150..599 one by one
	// asynchronously; gregor is killed after about half are acknowledged.
	pcl := newClient(t, tg, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RecordDeliveryTimeout(60*time.Second), kgo.ProducerLinger(0), kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }))
	var (
		mu    sync.Mutex
		acked int
		errs  []error
		wg    sync.WaitGroup
	)
	recs := make([]*kgo.Record, 0, total-150)
	for i := 150; i < total; i++ {
		r := &kgo.Record{Partition: int32(i % parts), Key: []byte(fmt.Sprintf("k-%d", i%7)), Value: []byte(fmt.Sprintf("franz-%d", i)),
			Headers: []kgo.RecordHeader{{Key: "idx", Value: []byte(strconv.Itoa(i))}, {Key: "client", Value: []byte("franz")}}}
		recs = append(recs, r)
	}
	killed := make(chan struct{})
	wg.Add(len(recs))
	go func() {
		for j, r := range recs {
			pcl.Produce(context.Background(), r, func(_ *kgo.Record, err error) {
				defer wg.Done()
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, err)
				} else {
					acked++
				}
			})
			if j%20 == 0 {
				time.Sleep(2 * time.Millisecond)
			}
			if j == len(recs)/2 {
				<-killed // the second half goes to the restarted broker
			}
		}
	}()
	waitCount(t, "about 150 acknowledgements", func() int { mu.Lock(); defer mu.Unlock(); return acked }, 150)
	tg.proc.kill(syscall.SIGKILL)
	mu.Lock()
	t.Logf("SIGKILL after %d acknowledged records", acked)
	mu.Unlock()
	if err := tg.proc.start(); err != nil {
		close(killed)
		t.Fatalf("restart after SIGKILL: %v", err)
	}
	close(killed)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(90 * time.Second):
		t.Fatalf("producer did not finish after the restart")
	}
	mu.Lock()
	if len(errs) > 0 {
		t.Errorf("%d records failed after the restart; first: %v", len(errs), errs[0])
	}
	mu.Unlock()
	all := append([]rec(nil), first...)
	for _, r := range recs {
		all = append(all, toRec(r))
	}

	// Every acknowledged record exactly once, offsets contiguous, in order.
	checkLog(t, tg, topic, "franz", total, all, func(i int) map[string]string {
		return map[string]string{"idx": strconv.Itoa(i), "client": "franz"}
	}, false)

	// The committed offsets survived.
	checkCommittedAt(t, tg, group, topic, committed)

	// A new member of the group resumes exactly after the committed records.
	c2 := newClient(t, tg, kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond),
		kgo.SessionTimeout(20*time.Second), kgo.HeartbeatInterval(500*time.Millisecond))
	got := pollN(t, c2, total-150)
	checkConsumed(t, got, all[150:])
}

// checkCommittedAt checks group's committed offsets on topic equal want.
func checkCommittedAt(t *testing.T, tg *target, group, topic string, want map[int32]int64) {
	t.Helper()
	resp, err := newAdmin(t, tg).FetchOffsets(ctxT(t, 20*time.Second), group)
	if err != nil {
		t.Fatalf("fetch offsets of %s: %v", group, err)
	}
	for p, w := range want {
		o, ok := resp.Lookup(topic, p)
		if !ok || o.Err != nil || o.At != w {
			t.Errorf("group %s: committed %s/%d = %d (%v, found %v), want %d", group, topic, p, o.At, o.Err, ok, w)
		}
	}
}
