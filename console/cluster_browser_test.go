package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/broker"
	"github.com/gregor-broker/gregor/console"
	"github.com/gregor-broker/gregor/nameserver"
	"github.com/gregor-broker/gregor/storage"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
)

// TestClusterPageInBrowser: a NameServer and a broker group of a master
// and a slave; the cluster page shows the NameServer up and each member's
// role, epoch, in-sync state and lag as the NameServer's routes have them.
func TestClusterPageInBrowser(t *testing.T) {
	chromium(t)
	ns, err := nameserver.NewServer(nameserver.Config{Listen: "127.0.0.1:0", Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Serve()
	t.Cleanup(func() { ns.Shutdown(context.Background()) })
	nsAddr := ns.Addr().String()
	start := func(id int64) *broker.Broker {
		b, err := broker.New(broker.Config{
			NodeID:    int32(id + 1),
			Listeners: []broker.Listener{{Name: "PLAINTEXT", Address: "127.0.0.1:0"}},
			Store:     storage.Config{Dir: t.TempDir(), SegmentBytes: 4 << 20},
			Topics:    broker.TopicDefaults{AutoCreate: true, NumPartitions: 1},
			Cluster: broker.ClusterConfig{Name: "test", BrokerName: "g", BrokerID: id, NameServers: []string{nsAddr},
				RegisterInterval: 50 * time.Millisecond, RouteRefreshInterval: 50 * time.Millisecond, FailoverDisabled: true},
			Replication: broker.ReplicationConfig{Listener: "127.0.0.1:0"},
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_ = b.Shutdown(ctx)
		})
		return b
	}
	master := start(0)
	start(1)
	addr := master.Addrs()[0].String()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range 20 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "replicated", Value: []byte(fmt.Sprint("v", i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	// Settled: the master registers the slave in sync with no lag.
	routes := func() nameserver.Routes {
		rt, err := nameserver.NewClient([]string{nsAddr}).Routes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return rt
	}
	for {
		rt := routes()
		settled := false
		for _, b := range rt.Brokers {
			if b.BrokerID == 0 && slices.Contains(b.InSync, 1) && len(b.Slaves) == 1 && b.Slaves[0].LagBytes == 0 {
				settled = len(rt.Brokers) == 2
			}
		}
		if settled {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the slave is not in sync: %+v", rt.Brokers)
		}
		time.Sleep(50 * time.Millisecond)
	}

	c, err := console.New(console.Config{Kafka: []kgo.Opt{kgo.SeedBrokers(addr)}, NameServers: []string{nsAddr},
		Admin: master.AdminHandler(), SampleInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	mux := http.NewServeMux()
	mux.Handle(console.Prefix, c)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	bctx, dir := browser(t)
	nav(t, bctx, srv.URL+"/console/", "table.members")
	shot(t, bctx, dir, "cluster-group")
	if got := text(t, bctx, "#nameservers tbody tr td:nth-child(2)"); got != "up" {
		t.Errorf("NameServer %s shown as %q", nsAddr, got)
	}
	for _, b := range routes().Brokers {
		row := fmt.Sprintf(`table.members[data-group="g"] tr[data-member="%d"]`, b.BrokerID)
		if got := text(t, bctx, row+" td.role"); got != string(b.Role) {
			t.Errorf("member %d: role %q, the NameServer says %q", b.BrokerID, got, b.Role)
		}
		if got := text(t, bctx, row+" td.epoch"); got != strconv.Itoa(int(b.MasterEpoch)) {
			t.Errorf("member %d: epoch %s, the NameServer says %d", b.BrokerID, got, b.MasterEpoch)
		}
		if got := text(t, bctx, row+" td.in-sync"); got != "yes" {
			t.Errorf("member %d: in sync %q, want yes", b.BrokerID, got)
		}
		if got := text(t, bctx, row+" td.lag-bytes"); got != "0" {
			t.Errorf("member %d: lag %s bytes, want 0", b.BrokerID, got)
		}
	}
}
