package lease

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/internal/faultproxy"
	"github.com/gregor-broker/gregor/nameserver"
	"go.uber.org/zap"
)

// Real NameServers over HTTP and real time: the master reaches them through
// proxies the test cuts (it stays up, as a master cut off from the
// NameServers but not from its clients would); it steps down, and only
// then does the slave take over with the next epoch. Healed, the old
// master learns of the newer term.
func TestFailoverOverHTTP(t *testing.T) {
	const lease = 300 * time.Millisecond
	var direct, proxied []string
	var proxies []*faultproxy.Proxy
	for range 3 {
		srv, err := nameserver.NewServer(nameserver.Config{Listen: "127.0.0.1:0", LeaseDuration: lease, Logger: zap.NewNop()})
		if err != nil {
			t.Fatal(err)
		}
		go srv.Serve()
		defer srv.Shutdown(context.Background())
		p, err := faultproxy.New("127.0.0.1:0", srv.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		direct = append(direct, srv.Addr().String())
		proxied = append(proxied, p.Addr())
		proxies = append(proxies, p)
	}

	var mu sync.Mutex
	var events []string
	note := func(s string) { mu.Lock(); events = append(events, s); mu.Unlock() }
	terms := []Term{{0, 0}, {0, 0}}
	var newer chan int32 = make(chan int32, 1)
	var master *Keeper
	mk := func(member int64, addrs []string) *Keeper {
		k, err := New(Config{
			Cluster: "c", BrokerName: "g", Member: member,
			Granters:  Remote(nameserver.NewClient(addrs)),
			LastTerm:  func() Term { mu.Lock(); defer mu.Unlock(); return terms[member] },
			SyncState: func() []int64 { return []int64{0, 1} },
			Elect: func(epoch int32, _ []int64) error {
				if master.Valid() {
					t.Error("elected while the old master's lease is valid")
				}
				mu.Lock()
				terms[member] = Term{epoch, member}
				events = append(events, "elected")
				mu.Unlock()
				return nil
			},
			StepDown: func(string) { note("stepdown") },
			NewerTerm: func(e int32, h int64) {
				select {
				case newer <- e:
				default:
				}
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	master = mk(0, proxied)
	slave := mk(1, direct)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for _, k := range []*Keeper{master, slave} {
		wg.Add(1)
		go func() { defer wg.Done(); k.Run(ctx) }()
	}
	defer wg.Wait()
	defer cancel()

	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s: master %q, slave %q", what, master.Last(), slave.Last())
			}
			if master.Valid() && slave.Valid() {
				t.Fatal("both hold a valid lease")
			}
			time.Sleep(lease / 50)
		}
	}
	waitFor("the first lease (after the NameServers' start grace)", master.Valid)
	for _, p := range proxies {
		p.Set(faultproxy.Blackhole)
	}
	waitFor("the slave to take over", slave.Valid)
	// StepDown is prompt (a timer), but on two busy cores it may come a
	// few ms late; what fences writes is Valid(), checked above and in
	// Elect. The order is proven on simulated time (TestStepDownBeforeRegrant).
	waitFor("the old master's StepDown", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return slices.Contains(events, "stepdown")
	})
	if terms[1].Epoch != 1 {
		t.Fatalf("new term %+v", terms[1])
	}
	for _, p := range proxies {
		p.Set(faultproxy.Pass)
	}
	select {
	case e := <-newer:
		if e != 1 {
			t.Fatalf("old master told of epoch %d", e)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("old master never learnt of the newer term: %s", master.Last())
	}
	if master.Valid() {
		t.Fatal("old master valid after a newer term")
	}
}
