package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap/zaptest"
)

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// started runs standalone in the background and returns its HTTP address,
// a stop function and the channel runStandalone's result arrives on.
func started(t *testing.T, args ...string) (string, context.CancelFunc, <-chan error) {
	t.Helper()
	cfg, _, err := configFrom(t, "", nil, args)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	httpAddr := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- runStandalone(ctx, cfg, zaptest.NewLogger(t), func(_ []net.Addr, h string) { httpAddr <- h })
	}()
	select {
	case h := <-httpAddr:
		return h, cancel, done
	case err := <-done:
		cancel()
		t.Fatalf("standalone stopped before serving: %v", err)
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatal("standalone did not start")
	}
	return "", cancel, done
}

// TestStandalone runs the real broker: HTTP endpoints, the healthcheck
// command, a clean stop on SIGTERM, and a restart that keeps the data.
func TestStandalone(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	kafka := fmt.Sprintf("127.0.0.1:%d", port)
	args := []string{"--listeners", "PLAINTEXT://" + kafka, "--http.listener", "127.0.0.1:0", "--data-dir", dir, "--log.segment.bytes", "8388608"}

	h, cancel, done := started(t, args...)
	defer cancel()
	if code, body := get(t, "http://"+h+"/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("/healthz: %d %q", code, body)
	}
	if code, body := get(t, "http://"+h+"/readyz"); code != 200 || body != "ready\n" {
		t.Fatalf("/readyz: %d %q", code, body)
	}
	_, metrics := get(t, "http://"+h+"/metrics")
	for _, m := range []string{"\ngo_goroutines ", "\nprocess_cpu_seconds_total ", "\ngregor_"} {
		if !strings.Contains(metrics, m) {
			t.Errorf("/metrics lacks %q", strings.TrimSpace(m))
		}
	}
	if code, _ := get(t, "http://"+h+"/debug/pprof/"); code != http.StatusNotFound {
		t.Errorf("/debug/pprof/ without --pprof: status %d, want 404", code)
	}
	if out, err := runCLI(t, "healthcheck", "--listeners", "PLAINTEXT://"+kafka, "--http.listener", h); err != nil || out != "ok\n" {
		t.Fatalf("healthcheck: %v %q", err, out)
	}

	if out, err := runCLI(t, "topic", "create", "-b", kafka, "keep", "-p", "1"); err != nil {
		t.Fatalf("topic create: %v\n%s", err, out)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(kafka))
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithTimeout(context.Background(), 30*time.Second)
	defer stop()
	for i := 0; i < 3; i++ {
		r := &kgo.Record{Topic: "keep", Key: []byte(fmt.Sprint("k", i)), Value: []byte(fmt.Sprint("v", i))}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	cl.Close()

	// SIGTERM: runStandalone catches it and shuts down cleanly.
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("shutdown: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("no shutdown after SIGTERM")
	}
	if _, err := runCLI(t, "healthcheck", "--listeners", "PLAINTEXT://"+kafka, "--http.listener", "", "--timeout", "2s"); err == nil {
		t.Fatal("healthcheck passed with the broker stopped")
	}

	// Restart on the same data, with pprof: the records are still there.
	h, cancel2, done2 := started(t, append(args, "--pprof")...)
	if code, _ := get(t, "http://"+h+"/debug/pprof/"); code != http.StatusOK {
		t.Errorf("/debug/pprof/ with --pprof: status %d", code)
	}
	cl, err = kgo.NewClient(kgo.SeedBrokers(kafka), kgo.ConsumeTopics("keep"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var got []string
	for len(got) < 3 {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, fmt.Sprintf("%s=%s@%d", r.Key, r.Value, r.Offset)) })
	}
	if want := "k0=v0@0 k1=v1@1 k2=v2@2"; strings.Join(got, " ") != want {
		t.Fatalf("after restart got %q, want %q", strings.Join(got, " "), want)
	}
	cl.Close()
	cancel2()
	if err := <-done2; err != nil {
		t.Fatalf("second shutdown: %v", err)
	}
}
