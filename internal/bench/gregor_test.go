package bench

import (
	"context"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/broker"
	"github.com/gregor-broker/gregor/storage"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
)

// startGregor starts an in-process gregor broker on a loopback port with its
// data in a temporary folder.
func startGregor(t *testing.T) string {
	t.Helper()
	b, err := broker.New(broker.Config{
		Listeners: []broker.Listener{{Name: "PLAINTEXT", Address: "127.0.0.1:0"}},
		Store:     storage.Config{Dir: t.TempDir()},
		Logger:    zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)).Named("broker"),
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
		if err := b.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return b.Addrs()[0].String()
}

// TestGregorSmoke is the CI smoke test against gregor itself: produce for two
// seconds, read it all back, and a short e2e run; records, and no errors.
func TestGregorSmoke(t *testing.T) {
	addr := startGregor(t)
	prod := runBench(t, "produce", "--brokers", addr, "--topic", "smoke", "--partitions", "4",
		"--duration", "2s", "--record-size", "512", "--linger", "1ms", "--keys", "random")
	if prod.Records <= 0 || prod.Errors != 0 || prod.FirstError != "" {
		t.Fatalf("produce: records %d, errors %d (%s)", prod.Records, prod.Errors, prod.FirstError)
	}
	if prod.Latency == nil || prod.Latency.Count != prod.Records {
		t.Errorf("produce latency %+v, want one sample per record (%d)", prod.Latency, prod.Records)
	}
	cons := runBench(t, "consume", "--brokers", addr, "--topic", "smoke", "--create=false", "--consumers", "2", "--delete")
	if cons.Records != prod.Records || cons.Errors != 0 {
		t.Fatalf("consume: read %d records with %d errors (%s), want the %d produced", cons.Records, cons.Errors, cons.FirstError, prod.Records)
	}
	e2e := runBench(t, "e2e", "--brokers", addr, "--topic", "smoke-e2e", "--partitions", "2",
		"--rate", "1000", "--duration", "2s", "--linger", "1ms")
	if e2e.Records <= 0 || e2e.Errors != 0 || e2e.Lost != 0 || e2e.Sent != e2e.Records {
		t.Fatalf("e2e: received %d of %d, errors %d, lost %d (%s)", e2e.Records, e2e.Sent, e2e.Errors, e2e.Lost, e2e.FirstError)
	}
}
