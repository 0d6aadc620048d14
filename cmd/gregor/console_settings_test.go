package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestConsoleSettings: console.write.enable and console.client.config are
// refused without http.auth=login; with it they are taken.
func TestConsoleSettings(t *testing.T) {
	for _, args := range [][]string{
		{"--console.write.enable=true"},
		{"--console.client.config", "/nonexistent.properties"},
	} {
		if _, _, err := configFrom(t, "", nil, args); err == nil || !strings.Contains(err.Error(), "http.auth=login") {
			t.Errorf("%v without http.auth=login: %v", args, err)
		}
	}
	cfg, _, err := configFrom(t, "", nil, []string{"--console.write.enable=true", "--http.auth", "login", "--console.enable=true"})
	if err != nil || !cfg.Console.Write || cfg.Console.Off {
		t.Fatalf("write with login: %+v %v", cfg.Console, err)
	}
	if cfg, _, err := configFrom(t, "", nil, []string{"--console.enable=false"}); err != nil || !cfg.Console.Off {
		t.Fatalf("console.enable=false: %+v %v", cfg.Console, err)
	}
}

// TestConsoleMounted: the standalone process serves the console under
// /console/ on its HTTP port, read-only by default, and / leads to it.
func TestConsoleMounted(t *testing.T) {
	kafka := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	h, cancel, done := started(t, "--listeners", "PLAINTEXT://"+kafka, "--http.listener", "127.0.0.1:0",
		"--data-dir", t.TempDir(), "--log.segment.bytes", "4194304")
	defer func() { cancel(); <-done }()
	code, body := get(t, "http://"+h+"/console/topics")
	if code != http.StatusOK || !strings.Contains(body, `id="topics"`) || !strings.Contains(body, "read-only") {
		t.Fatalf("/console/topics: %d\n%s", code, body)
	}
	if code, body := get(t, "http://"+h+"/"); code != http.StatusOK || !strings.Contains(body, `id="cluster-id"`) {
		t.Fatalf("/ does not lead to the console: %d\n%s", code, body)
	}
}

// TestConsoleOff: console.enable=false serves no console and / is not
// redirected to it.
func TestConsoleOff(t *testing.T) {
	kafka := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	h, cancel, done := started(t, "--listeners", "PLAINTEXT://"+kafka, "--http.listener", "127.0.0.1:0",
		"--data-dir", t.TempDir(), "--log.segment.bytes", "4194304", "--console.enable=false")
	defer func() { cancel(); <-done }()
	if code, _ := get(t, "http://"+h+"/console/topics"); code != http.StatusServiceUnavailable {
		t.Fatalf("/console/topics with console.enable=false: %d", code)
	}
	if code, _ := get(t, "http://"+h+"/"); code != http.StatusNotFound {
		t.Fatalf("/ with console.enable=false: %d", code)
	}
}
