package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/nameserver"
	"go.uber.org/zap"
)

// `gregor nameserver` serves the registry, /healthz and /metrics until its
// context ends.
func TestRunNameServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- runNameServer(ctx, nameserver.Config{Listen: addr, ScanInterval: 50 * time.Millisecond, BrokerExpiry: time.Second}, zap.NewNop())
	}()
	get := func(path string) string {
		for i := 0; ; i++ {
			resp, err := http.Get("http://" + addr + path)
			if err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				return string(b)
			}
			if i > 100 {
				t.Fatalf("GET %s: %v", path, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if got := get("/healthz"); strings.TrimSpace(got) != "ok" {
		t.Fatalf("/healthz: %q", got)
	}
	if got := get("/metrics"); !strings.Contains(got, "gregor_nameserver_live_brokers 0") {
		t.Fatalf("/metrics lacks the live broker gauge:\n%s", got)
	}
	if got := get("/v1/routes"); !strings.Contains(got, `"brokers":null`) {
		t.Fatalf("/v1/routes: %s", got)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the NameServer did not stop")
	}
}

// `gregor broker` refuses a negative broker id and a bad NameServer
// address in plain words, before opening anything.
func TestBrokerCommandValidates(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"broker", "--broker-id", "-1", "--data-dir", t.TempDir()}, "broker.member.id (from flag --broker-id)"},
		{[]string{"broker", "--nameservers", "nohost", "--data-dir", t.TempDir()}, "NameServer address"},
	} {
		cmd := newRootCommand()
		cmd.SetArgs(c.args)
		cmd.SetOut(io.Discard)
		cmd.SetErr(io.Discard)
		err := cmd.Execute()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want one saying %q", c.args, err, c.want)
		}
	}
}
