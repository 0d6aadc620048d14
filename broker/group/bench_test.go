package group

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/gregor-broker/gregor/storage"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// BenchmarkOffsetCommit measures one OffsetCommit of parts partitions made
// durable through the real store, per flush mode.
func BenchmarkOffsetCommit(b *testing.B) {
	for _, mode := range []struct {
		name string
		m    storage.FlushMode
	}{{"async", storage.FlushAsync}, {"sync", storage.FlushSync}} {
		for _, parts := range []int{1, 50} {
			b.Run(fmt.Sprintf("%s/partitions=%d", mode.name, parts), func(b *testing.B) {
				st, err := storage.Open(storage.Config{Dir: b.TempDir(), FlushMode: mode.m})
				if err != nil {
					b.Fatal(err)
				}
				defer st.Close()
				c, err := New(Config{}, st, nil)
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				req := kmsg.NewPtrOffsetCommitRequest()
				req.Version = 8
				req.Group, req.Generation = "bench", -1
				t := kmsg.NewOffsetCommitRequestTopic()
				t.Topic = "topic"
				for p := 0; p < parts; p++ {
					tp := kmsg.NewOffsetCommitRequestTopicPartition()
					tp.Partition = int32(p)
					t.Partitions = append(t.Partitions, tp)
				}
				req.Topics = []kmsg.OffsetCommitRequestTopic{t}
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					for p := range t.Partitions {
						t.Partitions[p].Offset = int64(i)
					}
					resp := c.OffsetCommit(req, nil)
					if resp.Topics[0].Partitions[0].ErrorCode != 0 {
						b.Fatal(resp.Topics[0].Partitions[0].ErrorCode)
					}
				}
			})
		}
	}
}

// BenchmarkRebalance measures a full rebalance (every member rejoins, the
// leader syncs) of a group of n members, in memory.
func BenchmarkRebalance(b *testing.B) {
	for _, n := range []int{10, 100} {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			h := &harness{t: b, clk: newFakeClock(), kv: newMemKV()}
			c, err := newCoordinator(testConfig(), h.kv, h.clk, nil)
			if err != nil {
				b.Fatal(err)
			}
			h.c = c
			defer c.Close()
			ids, gen := h.stableGroup("g", n)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				var joins []*pendingJoin
				for _, id := range ids {
					joins = append(joins, h.join(joinReq("g", id, nil)))
				}
				gen = joins[0].resps[0].Generation
				assign := map[string]string{}
				for _, id := range ids {
					assign[id] = "a"
				}
				for _, id := range ids[1:] {
					h.sync("g", id, gen, nil)
				}
				if s := h.sync("g", ids[0], gen, assign); s.resps[0].ErrorCode != 0 {
					b.Fatal(s.resps[0].ErrorCode)
				}
			}
		})
	}
}

// BenchmarkTopicsChangedNoop measures what TopicsChanged costs on a
// topic-table change that deleted nothing (the common case: creations,
// config changes), over groups groups of 10 committed offsets each; scan=
// true is the full visit of every group that a deletion, and every sweep,
// makes.
func BenchmarkTopicsChangedNoop(b *testing.B) {
	for _, run := range []struct {
		groups int
		scan   bool
	}{{100, false}, {10000, false}, {100, true}, {10000, true}} {
		groups := run.groups
		b.Run(fmt.Sprintf("groups=%d/scan=%v", groups, run.scan), func(b *testing.B) {
			c, err := newCoordinator(Config{}, nil, realClock{}, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			live := Topics(func(topic string) ([16]byte, int32, bool) { return [16]byte{1}, 10, true })
			req := kmsg.NewPtrOffsetCommitRequest()
			req.Version = 8
			req.Generation = -1
			t := kmsg.NewOffsetCommitRequestTopic()
			t.Topic = "topic"
			for p := int32(0); p < 10; p++ {
				t.Partitions = append(t.Partitions, kmsg.OffsetCommitRequestTopicPartition{Partition: p, Offset: 1})
			}
			req.Topics = []kmsg.OffsetCommitRequestTopic{t}
			for g := 0; g < groups; g++ {
				req.Group = fmt.Sprintf("g%d", g)
				c.OffsetCommit(req, live)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				n := 0
				if run.scan {
					n = c.removeDeletedTopics(live)
				} else {
					n = c.TopicsChanged(live)
				}
				if n != 0 {
					b.Fatal(n)
				}
			}
		})
	}
}

// BenchmarkConsumerHeartbeat measures one steady-state ConsumerGroupHeartbeat
// (nothing changes: the member owns its whole target at the group's epoch)
// in a stable KIP-848 group of n members, each owning one partition. The
// group is loaded from its record rather than joined member by member.
func BenchmarkConsumerHeartbeat(b *testing.B) {
	for _, n := range []int{10, 2000} {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			h := &harness{t: b, clk: newFakeClock(), kv: newMemKV()}
			c, err := newCoordinator(consumerTestConfig(), h.kv, h.clk, nil)
			if err != nil {
				b.Fatal(err)
			}
			h.c = c
			defer c.Close()
			cat := testCatalog{"t": int32(n)}
			tid := topicID("t")
			ths := hex.EncodeToString(tid[:])
			rec := consumerRecord{Epoch: 1, AssignEpoch: 1, Topics: map[string]topicMeta{ths: {Name: "t", Partitions: int32(n)}},
				Members: map[string]memberRecord{}, Target: map[string]map[string][]int32{}}
			ms := make([]*cmem, n)
			for i := range ms {
				id := fmt.Sprintf("member-%05d", i)
				a := map[string][]int32{ths: {int32(i)}}
				rec.Members[id] = memberRecord{ClientID: "c-" + id, ClientHost: "/127.0.0.1", RebalanceTimeout: 5000,
					Topics: []string{"t"}, Epoch: 1, Assigned: a, AssignedAt: map[string]map[string]int32{ths: {fmt.Sprint(i): 1}}}
				rec.Target[id] = a
				ms[i] = h.member(cat, "g", id, "t")
				ms[i].epoch = 1
				ms[i].owned = map[[16]byte][]int32{tid: {int32(i)}}
			}
			v, err := json.Marshal(rec)
			if err != nil {
				b.Fatal(err)
			}
			c.loadConsumerRecord("bench", consumerGroupKey("g"), v, func(id string) *group { return c.lookup(id, true) })
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				m := ms[i%n]
				if r := m.mustBeat(); r.MemberEpoch != 1 || r.Assignment != nil {
					b.Fatalf("steady heartbeat: epoch %d, assignment %v", r.MemberEpoch, r.Assignment)
				}
			}
		})
	}
}
