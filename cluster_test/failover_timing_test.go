package cluster_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// How long a SIGKILLed master's partitions stay unwritable, and how long
// until the brokers' Metadata names the new leader, with gregor's default
// intervals (4 s lease, 3 s registration, 2 s route poll, NameServer scan
// 3 s and expiry 15 s): 3 NameServers, master + 2 slaves in sync mode, an
// idempotent acks=all franz-go producer writing one record at a time
// (metadata refreshed at most every 250 ms, as the Java client's
// retry.backoff.ms allows). Per kill it logs
//
//   - writes: from the SIGKILL to the first acknowledgement after the
//     master is dead (every later one comes from the new master);
//   - metadata: from the SIGKILL until every live broker's Metadata names a
//     new leader with a higher leader epoch (polled every 50 ms),
//
// then the old master restarts and rejoins before the next kill; at the end
// the median and worst of each, and every acknowledged record is read back
// once. Nothing asserts a time (2 shared cores); docs/replication.md
// reports the figures. FAILOVER_KILLS sets the number of kills
// (2 by default; make failover-timing runs 10).
func TestFailoverTiming(t *testing.T) {
	if testing.Short() {
		t.Skip("real processes and fail-overs")
	}
	kills := 2
	if n, err := strconv.Atoi(os.Getenv("FAILOVER_KILLS")); err == nil && n > 0 {
		kills = n
	}
	c := startFailoverCluster(t, foTimings{})
	const topic = "ft"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.MetadataMinAge(250*time.Millisecond), kgo.RecordDeliveryTimeout(120*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	deadline := time.Now().Add(60 * time.Second)
	for {
		r, err := adm.CreateTopic(ctx, 1, 3, nil, topic)
		if err == nil && (r.Err == nil || strings.Contains(r.Err.Error(), "TOPIC_ALREADY_EXISTS")) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("creating %s: %v %v", topic, err, r.Err)
		}
		time.Sleep(200 * time.Millisecond)
	}

	var (
		mu      sync.Mutex
		ackedAt []time.Time
		acked   []string
		prodErr error
	)
	prodDone := make(chan struct{})
	go func() {
		defer close(prodDone)
		for i := 0; ctx.Err() == nil; i++ {
			v := "r" + strconv.Itoa(i)
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(v), Partition: 0}).FirstErr(); err != nil {
				if ctx.Err() == nil {
					mu.Lock()
					prodErr = fmt.Errorf("%s: %w", v, err)
					mu.Unlock()
				}
				return
			}
			mu.Lock()
			acked = append(acked, v)
			ackedAt = append(ackedAt, time.Now())
			mu.Unlock()
		}
	}()
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		if prodErr != nil {
			t.Fatalf("producer: %v", prodErr)
		}
		return len(acked)
	}
	waitAcks := func(n int, what string) {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for start := count(); count() < start+n; {
			if time.Now().After(deadline) {
				t.Fatalf("%s: writes did not resume in 90 s", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	firstAckAfter := func(at time.Time) (time.Time, bool) {
		mu.Lock()
		defer mu.Unlock()
		i, _ := slices.BinarySearchFunc(ackedAt, at, func(a, b time.Time) int { return a.Compare(b) })
		if i < len(ackedAt) {
			return ackedAt[i], true
		}
		return time.Time{}, false
	}

	waitAcks(20, "start") // the first write waits for the NameServers' start grace
	c.waitInSync()
	var writes, meta []time.Duration
	for k := 1; k <= kills; k++ {
		old := c.master()
		if old < 0 {
			t.Fatal("no master")
		}
		oldNode := c.members[old].nodeID
		oldLeader, oldEpoch := partitionLeader(c, old, topic)
		if oldLeader != oldNode {
			t.Fatalf("kill %d: member %d is master but Metadata names node %d", k, old, oldLeader)
		}
		at := time.Now()
		c.members[old].kill()
		dead := time.Now()

		// Metadata: every live broker names a new leader with a higher epoch.
		var metaAt time.Time
		for mdeadline := at.Add(90 * time.Second); metaAt.IsZero(); {
			if time.Now().After(mdeadline) {
				t.Fatalf("kill %d: the brokers' Metadata did not name a new leader in 90 s", k)
			}
			all := true
			for i := range c.members {
				if i == old {
					continue
				}
				if l, e := partitionLeader(c, i, topic); l < 0 || l == oldNode || e <= oldEpoch {
					all = false
					break
				}
			}
			if all {
				metaAt = time.Now()
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		waitAcks(5, fmt.Sprintf("kill %d", k))
		resumed, _ := firstAckAfter(dead)
		writes = append(writes, resumed.Sub(at))
		meta = append(meta, metaAt.Sub(at))
		t.Logf("kill %d of member %d: writes resumed after %v, every broker's Metadata named the new leader after %v",
			k, old, resumed.Sub(at).Round(time.Millisecond), metaAt.Sub(at).Round(time.Millisecond))

		c.members[old].start()
		c.waitInSync()
		waitAcks(20, fmt.Sprintf("kill %d: old master rejoined", k))
	}
	cancel()
	<-prodDone

	seen, _ := readAll(t, c.seeds(), topic)
	lost, dups := 0, 0
	for _, v := range acked {
		if seen[v] == 0 {
			lost++
		}
	}
	for _, n := range seen {
		if n > 1 {
			dups++
		}
	}
	med := func(d []time.Duration) (time.Duration, time.Duration) {
		s := slices.Clone(d)
		slices.Sort(s)
		return s[len(s)/2].Round(10 * time.Millisecond), s[len(s)-1].Round(10 * time.Millisecond)
	}
	wm, ww := med(writes)
	mm, mw := med(meta)
	t.Logf("fail-over with default settings, %d kills: writes resumed median %v, worst %v; Metadata named the new leader median %v, worst %v; %d acknowledged, lost %d, duplicated %d",
		kills, wm, ww, mm, mw, len(acked), lost, dups)
	if lost > 0 || dups > 0 {
		t.Fatalf("lost %d, duplicated %d", lost, dups)
	}
}

// partitionLeader asks member i's Metadata for partition 0 of topic:
// leader node and leader epoch (-1, -1 when it does not answer).
func partitionLeader(c *foCluster, i int, topic string) (int32, int32) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	m, err := metadata(ctx, c.members[i].addr, topic)
	if err != nil || len(m.Topics) == 0 || len(m.Topics[0].Partitions) == 0 {
		return -1, -1
	}
	p := m.Topics[0].Partitions[0]
	if p.ErrorCode != 0 {
		return -1, -1
	}
	return p.Leader, p.LeaderEpoch
}
