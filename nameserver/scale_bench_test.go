package nameserver

import (
	"context"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
)

// BenchmarkNameServerScale (issue 14 item 8): one NameServer holding 1,000
// registered members (500 groups of a master and a slave) and 100,000
// partitions (1,000 topics of 100 partitions, each topic spread over two
// groups, so each member registers 4 topics and 200 partitions; spreading
// every topic over 100 groups instead makes each member register 200
// topics, and the table then passes MaxRoutesBytes, the 64 MiB bound on a
// whole-table answer, which refuses the registrations), every member re-registering
// over the real HTTP API every 3 s (the brokers' default
// nameserver.register.interval.ms), while per-topic route reads
// (Client.TopicRoutes, GET /v1/routes/{topic}) run back to back. Reported:
// the per-topic read latency (p50, p99, max, in µs), one whole-table read
// (Client.Routes: its time and size) for comparison, the Go heap the
// filled table holds (after a GC, measured beside the test's own
// clients), how long after a re-registration that moves a partition a
// reader polling every 2 s (the brokers' default
// nameserver.poll.interval.ms) with delta reads (Client.PollRoutes, as a
// broker polls) sees the move and in how many polls (1: the first poll
// after it), and what such a poll costs: the first (the whole table) and
// one while only heartbeats arrive (time and answer bytes).
//
//	go test ./nameserver -run NONE -bench BenchmarkNameServerScale -benchtime 5000x
func BenchmarkNameServerScale(b *testing.B) {
	const (
		groups, topics, parts = 500, 1000, 100
		registerEvery         = 3 * time.Second
		pollEvery             = 2 * time.Second
	)
	runtime.GC()
	var m0 runtime.MemStats
	runtime.ReadMemStats(&m0)
	srv, err := NewServer(Config{Listen: "127.0.0.1:0", Logger: zap.NewNop()})
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve()
	defer srv.Shutdown(context.Background())
	addr := srv.Addr().String()
	cl := NewClient([]string{addr})

	// Member registrations: partition p of topic t is owned by group
	// (2t + p/50) mod groups.
	owned := make([]map[int][]int32, groups)
	for g := range owned {
		owned[g] = map[int][]int32{}
	}
	for t := 0; t < topics; t++ {
		for p := 0; p < parts; p++ {
			g := (2*t + p/50) % groups
			owned[g][t] = append(owned[g][t], int32(p))
		}
	}
	var mu sync.Mutex // guards regs (the route change edits two)
	regs := make([]Registration, 0, 2*groups)
	for g := 0; g < groups; g++ {
		var trs []TopicRoute
		for t, ps := range owned[g] {
			trs = append(trs, TopicRoute{Name: fmt.Sprintf("topic-%04d", t), ID: fmt.Sprintf("3f1b2c3d-0000-4000-8000-%012d", t), Partitions: parts, Owned: ps})
		}
		sort.Slice(trs, func(i, j int) bool { return trs[i].Name < trs[j].Name })
		for id := int64(0); id < 2; id++ {
			r := Registration{
				Cluster: "scale", BrokerName: fmt.Sprintf("broker-%03d", g), BrokerID: id, NodeID: int32(2*g + int(id) + 1),
				Endpoints:       []Endpoint{{Listener: "PLAINTEXT", Host: fmt.Sprintf("10.0.%d.%d", g/200, g%200+int(id)*50), Port: 9092}},
				ReplicationAddr: fmt.Sprintf("10.0.%d.%d:10912", g/200, g%200),
				HTTPAddr:        fmt.Sprintf("10.0.%d.%d:8080", g/200, g%200),
				LogEnd:          1 << 30, DataVersion: 1, Topics: trs,
			}
			if id == 0 {
				r.InSync = []int64{0, 1}
				r.Slaves = []SlaveState{{Member: 1, InSync: true}}
			}
			regs = append(regs, r)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var regErr atomic.Pointer[error]
	register := func(i int) {
		mu.Lock()
		r := regs[i]
		mu.Unlock()
		if _, err := cl.Register(ctx, r); err != nil && ctx.Err() == nil {
			regErr.CompareAndSwap(nil, &err)
		}
	}
	fillStart := time.Now()
	var wg sync.WaitGroup
	next := atomic.Int64{}
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < len(regs); i = int(next.Add(1) - 1) {
				register(i)
			}
		}()
	}
	wg.Wait()
	fillTook := time.Since(fillStart)
	if e := regErr.Load(); e != nil {
		b.Fatalf("registering: %v", *e)
	}
	runtime.GC()
	var m1 runtime.MemStats
	runtime.ReadMemStats(&m1)

	// Heartbeats: every member every registerEvery, spread evenly.
	var hb sync.WaitGroup
	hb.Add(1)
	go func() {
		defer hb.Done()
		tick := time.NewTicker(registerEvery / time.Duration(len(regs)))
		defer tick.Stop()
		sem := make(chan struct{}, 16)
		for i := 0; ; i = (i + 1) % len(regs) {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			sem <- struct{}{}
			hb.Add(1)
			go func(i int) {
				defer hb.Done()
				defer func() { <-sem }()
				register(i)
			}(i)
		}
	}()

	// One whole-table read, for comparison.
	t0 := time.Now()
	whole, err := cl.Routes(ctx)
	wholeTook := time.Since(t0)
	if err != nil {
		b.Fatal(err)
	}
	resp, err := http.Get("http://" + addr + "/v1/routes")
	if err != nil {
		b.Fatal(err)
	}
	wholeBytes, _ := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if n := len(whole.Topics); n != topics {
		b.Fatalf("whole table has %d topics, want %d", n, topics)
	}

	// A broker's poll (Client.PollRoutes, delta reads): the first reads
	// the whole table, the next ones, while only heartbeats arrive, get
	// an answer without members.
	poller := NewClient([]string{addr})
	t0 = time.Now()
	if _, _, err := poller.PollRoutes(ctx); err != nil {
		b.Fatal(err)
	}
	firstPollTook := time.Since(t0)
	var unchangedPoll time.Duration
	for i := 0; i < 5; i++ {
		t0 = time.Now()
		if _, _, err := poller.PollRoutes(ctx); err != nil {
			b.Fatal(err)
		}
		unchangedPoll = max(unchangedPoll, time.Since(t0))
	}
	held := poller.held[addr]
	resp, err = http.Get(fmt.Sprintf("http://%s/v1/routes?since=%d&instance=%s", addr, held.gen, held.instance))
	if err != nil {
		b.Fatal(err)
	}
	unchangedBytes, _ := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()

	// Route change: partition 0 of topic-0000 moves from group 0 to group 1
	// (the two owning it; both re-register at once, as a broker does on a
	// change);
	// a reader polling every pollEvery from a random phase sees it.
	moved := make(chan time.Duration, 1)
	var pollsToSee atomic.Int64
	go func() {
		time.Sleep(time.Duration(rand.Int63n(int64(pollEvery))))
		from, to := 0, 1 // the groups owning topic-0000's partitions 0-49 and 50-99
		mu.Lock()
		for _, k := range []int{2 * from, 2*from + 1} {
			trs := append([]TopicRoute(nil), regs[k].Topics...)
			trs[0].Owned = trs[0].Owned[1:] // topic-0000 sorts first
			regs[k].Topics, regs[k].DataVersion = trs, 2
		}
		for _, k := range []int{2 * to, 2*to + 1} {
			trs := append([]TopicRoute(nil), regs[k].Topics...)
			trs[0].Owned = append([]int32{0}, trs[0].Owned...)
			regs[k].Topics, regs[k].DataVersion = trs, 2
		}
		mu.Unlock()
		changed := time.Now()
		for _, k := range []int{2 * from, 2*from + 1, 2 * to, 2*to + 1} {
			register(k)
		}
		for {
			// As a broker polls: a delta read of what changed.
			r, _, err := poller.PollRoutes(ctx)
			pollsToSee.Add(1)
			if err == nil && len(r.Topics) > 0 && r.Topics[0].Owners[0] == "broker-001" {
				moved <- time.Since(changed)
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(pollEvery):
			}
		}
	}()

	lat := make([]time.Duration, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		name := fmt.Sprintf("topic-%04d", rand.Intn(topics))
		t0 := time.Now()
		tr, err := cl.TopicRoutes(ctx, name)
		lat[i] = time.Since(t0)
		if err != nil || !tr.Found || len(tr.Topic.Owners) != parts {
			b.Fatalf("TopicRoutes(%s): %d owners, %v", name, len(tr.Topic.Owners), err)
		}
	}
	b.StopTimer()
	var change time.Duration
	select {
	case change = <-moved:
	case <-time.After(2 * pollEvery):
		b.Error("the moved partition was not seen within two poll intervals")
	}
	cancel()
	hb.Wait()
	if e := regErr.Load(); e != nil {
		b.Fatalf("re-registering: %v", *e)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	q := func(f float64) float64 { return float64(lat[min(int(f*float64(len(lat))), len(lat)-1)].Microseconds()) }
	b.ReportMetric(q(0.5), "p50-µs")
	b.ReportMetric(q(0.99), "p99-µs")
	b.ReportMetric(q(1), "max-µs")
	b.ReportMetric(float64(wholeTook.Milliseconds()), "whole-read-ms")
	b.ReportMetric(float64(wholeBytes)/(1<<20), "whole-MiB")
	b.ReportMetric(float64(int64(m1.HeapInuse)-int64(m0.HeapInuse))/(1<<20), "heap-MiB")
	b.ReportMetric(float64(fillTook.Milliseconds()), "fill-ms")
	b.ReportMetric(float64(change.Milliseconds()), "change-seen-ms")
	b.ReportMetric(float64(pollsToSee.Load()), "polls-to-see-change")
	b.ReportMetric(float64(firstPollTook.Milliseconds()), "first-poll-ms")
	b.ReportMetric(float64(unchangedPoll.Microseconds()), "unchanged-poll-max-µs")
	b.ReportMetric(float64(unchangedBytes), "unchanged-poll-bytes")
}
