package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
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

// TestConsoleOverSASL: with only a SASL listener and an authorizer, the
// console connects with console.client.config's credentials (a super
// user) and its pages read the cluster.
func TestConsoleOverSASL(t *testing.T) {
	props := filepath.Join(t.TempDir(), "console.properties")
	if err := os.WriteFile(props, []byte("security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\n"+
		`sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="admin-secret";`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	kafka := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	h, cancel, done := started(t, "--listeners", "SASL_PLAINTEXT://"+kafka, "--listener.security.protocol.map", "SASL_PLAINTEXT:SASL_PLAINTEXT",
		"--sasl.enabled.mechanisms", "PLAIN", "--sasl.jaas.config", `org.apache.kafka.common.security.plain.PlainLoginModule required user_admin="admin-secret";`,
		"--authorizer.class.name", "StandardAuthorizer", "--super.users", "User:admin",
		"--http.listener", "127.0.0.1:0", "--http.auth", "login", "--console.client.config", props,
		"--data-dir", t.TempDir(), "--log.segment.bytes", "4194304")
	defer func() { cancel(); <-done }()
	req, _ := http.NewRequest(http.MethodGet, "http://"+h+"/console/", nil)
	req.SetBasicAuth("admin", "admin-secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	// The cluster id comes from a Metadata answer over SASL.
	if resp.StatusCode != http.StatusOK || strings.Contains(string(body), `id="cluster-id"></dd>`) || strings.Contains(string(body), `id="error"`) {
		t.Fatalf("/console/ over SASL: %d\n%s", resp.StatusCode, body)
	}
}

// TestConsoleIdentitySettings: console.identity=login is refused without
// http.auth=login, without a SASL listener, and without a mechanism the
// console can log in with; an unknown value is refused.
func TestConsoleIdentitySettings(t *testing.T) {
	jaas := `org.apache.kafka.common.security.plain.PlainLoginModule required user_admin="admin-secret";`
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--console.identity", "nobody"}, "neither console nor login"},
		{[]string{"--console.identity", "login"}, "http.auth=login"},
		{[]string{"--console.identity", "login", "--http.auth", "login"}, "SASL_PLAINTEXT or SASL_SSL listener"},
		{[]string{"--console.identity", "login", "--http.auth", "login", "--listeners", "SASL_PLAINTEXT://127.0.0.1:0",
			"--listener.security.protocol.map", "SASL_PLAINTEXT:SASL_PLAINTEXT", "--sasl.enabled.mechanisms", "OAUTHBEARER",
			"--sasl.oauthbearer.jwks.endpoint.url", "file:///nonexistent.json"}, "sasl.enabled.mechanisms"},
	} {
		if _, _, err := configFrom(t, "", nil, c.args); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want an error naming %q", c.args, err, c.want)
		}
	}
	cfg, _, err := configFrom(t, "", nil, []string{"--console.identity", "login", "--http.auth", "login", "--listeners", "SASL_PLAINTEXT://127.0.0.1:0",
		"--listener.security.protocol.map", "SASL_PLAINTEXT:SASL_PLAINTEXT", "--sasl.enabled.mechanisms", "PLAIN", "--sasl.jaas.config", jaas})
	if err != nil || cfg.Console.Identity != "login" {
		t.Fatalf("console.identity=login with a SASL listener: %+v %v", cfg.Console, err)
	}
}

// TestConsoleIdentityLogin: with console.identity=login each HTTP login
// talks to Kafka as itself: the super user's topic, created through the
// console, is not listed for a user without ACLs.
func TestConsoleIdentityLogin(t *testing.T) {
	kafka := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	h, cancel, done := started(t, "--listeners", "SASL_PLAINTEXT://"+kafka, "--listener.security.protocol.map", "SASL_PLAINTEXT:SASL_PLAINTEXT",
		"--sasl.enabled.mechanisms", "PLAIN", "--sasl.jaas.config", `org.apache.kafka.common.security.plain.PlainLoginModule required user_admin="admin-secret" user_bob="bob-secret";`,
		"--authorizer.class.name", "StandardAuthorizer", "--super.users", "User:admin",
		"--http.listener", "127.0.0.1:0", "--http.auth", "login", "--console.identity", "login", "--console.write.enable=true",
		"--data-dir", t.TempDir(), "--log.segment.bytes", "4194304")
	defer func() { cancel(); <-done }()
	do := func(method, path, user, pass, form string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+h+path, strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(user, pass)
		resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, body := do(http.MethodPost, "/console/topics", "admin", "admin-secret", "name=t1&partitions=1"); code != http.StatusSeeOther {
		t.Fatalf("admin creating t1: %d\n%s", code, body)
	}
	if code, body := do(http.MethodGet, "/console/topics", "admin", "admin-secret", ""); code != http.StatusOK || !strings.Contains(body, `data-topic="t1"`) {
		t.Fatalf("admin's topics page: %d, t1 missing\n%s", code, body)
	}
	if code, body := do(http.MethodGet, "/console/topics", "bob", "bob-secret", ""); code != http.StatusOK || strings.Contains(body, `data-topic="t1"`) {
		t.Fatalf("bob's topics page (no ACLs): %d, t1 listed\n%s", code, body)
	}
}
