package compat

import (
	"context"
	"path/filepath"
	"time"

	"github.com/gregor-broker/gregor/broker"
	"github.com/gregor-broker/gregor/broker/group"
	"github.com/gregor-broker/gregor/storage"
)

// startInproc runs a gregor broker inside the test process, for the Go
// clients (matrixGo): the same scenarios, with the broker's goroutines
// visible to the race detector and to a debugger.
func startInproc() *target {
	tg := &target{name: "gregor-inproc", inproc: true}
	b, err := broker.New(broker.Config{
		Listeners: []broker.Listener{{Name: "PLAINTEXT", Address: "127.0.0.1:0"}},
		Store:     storage.Config{Dir: filepath.Join(workDir, "inproc-data")},
		// The short group timings the other targets get.
		Group: group.Config{InitialRebalanceDelay: -1, MinSessionTimeout: time.Second,
			ConsumerHeartbeatInterval: 500 * time.Millisecond, ConsumerSessionTimeout: 10 * time.Second,
			ConsumerMinSessionTimeout: time.Second, ConsumerMinHeartbeatInterval: 100 * time.Millisecond},
		Quota: broker.QuotaConfig{WindowNum: 2}, // short quota windows (quota_test.go)
	})
	if err != nil {
		tg.down = "broker.New: " + err.Error()
		return tg
	}
	if err := b.Start(); err != nil {
		tg.down = "broker.Start: " + err.Error()
		return tg
	}
	tg.addr = b.Addrs()[0].String()
	tg.stop = func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		b.Shutdown(ctx)
	}
	return tg
}
