package broker

import (
	"context"
	"net"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/nameserver"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// TestReplicationSecret: a slave with the cluster secret follows its
// master; one with another secret never receives a byte of the log nor
// joins the in-sync set.
func TestReplicationSecret(t *testing.T) {
	ns := nameserver.NewLocal()
	core, logs := observer.New(zap.WarnLevel)
	var g []*coreBroker
	for i, secret := range []string{"s3cret", "s3cret", "guess"} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		cb := coreStart(t, "", func(c *Config) {
			c.NodeID = int32(i + 1)
			c.Store.SegmentBytes = 4 << 20
			c.Cluster = ClusterConfig{Name: "test", BrokerName: "g", BrokerID: int64(i), Client: ns, Secret: secret,
				RegisterInterval: 50 * time.Millisecond, RouteRefreshInterval: 50 * time.Millisecond, HTTPAddr: ln.Addr().String()}
			c.Replication = ReplicationConfig{Listener: "127.0.0.1:0", LagTimeMax: 2 * time.Second}
			if i == 0 {
				c.Logger = zap.New(core)
			}
		})
		srv := &http.Server{Handler: cb.b.AdminHandler()}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
		g = append(g, cb)
	}
	master, good, bad := g[0], g[1], g[2]
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl := dial(t, master.b.Addrs()[0].String())
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "repl-secret", Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	end := master.b.store.EndPosition()
	for good.b.store.EndPosition() < end {
		if ctx.Err() != nil {
			t.Fatalf("the slave with the secret reached %d of %d", good.b.store.EndPosition(), end)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The master refused the other one (it keeps trying).
	for logs.FilterMessage("refused a replication connection").Len() == 0 {
		if ctx.Err() != nil {
			t.Fatal("the master never refused the slave without the secret")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := bad.b.store.EndPosition(); got != 0 {
		t.Fatalf("the slave without the secret received %d bytes of the log", got)
	}
	if m := master.b.replicationMaster(); m == nil || slices.Contains(m.InSync(), 2) {
		t.Fatalf("the slave without the secret is in sync: %v", m)
	}
}
