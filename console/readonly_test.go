package console_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/console"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func post(t *testing.T, u string, form url.Values, user, pass string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func getPage(t *testing.T, u, user, pass string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.SetBasicAuth(user, pass)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestReadOnlyByDefault: without WriteEnable a logged-in user's write is
// refused and the pages offer no forms.
func TestReadOnlyByDefault(t *testing.T) {
	s := startStack(t, false)
	code, body := post(t, s.url+"/console/topics", url.Values{"name": {"nope"}, "partitions": {"1"}}, adminUser, adminPass)
	if code != http.StatusForbidden || !strings.Contains(body, "console.write.enable") {
		t.Fatalf("a write to the read-only console: %d %q", code, body)
	}
	ctx, cancel := context.WithTimeout(kadm.WithAuthorizedOps(context.Background()), 20*time.Second)
	defer cancel()
	md, err := s.adm.Metadata(ctx, "nope")
	if err != nil {
		t.Fatal(err)
	}
	if td, ok := md.Topics["nope"]; ok && td.Err == nil {
		t.Fatal("the read-only console created a topic")
	}
	code, body = getPage(t, s.url+"/console/topics", adminUser, adminPass)
	if code != http.StatusOK || strings.Contains(body, `id="create-topic"`) || !strings.Contains(body, "read-only") {
		t.Fatalf("read-only topics page: %d, create form or no read-only badge:\n%s", code, body)
	}
	if code, _ := getPage(t, s.url+"/console/topics", adminUser, "wrong"); code != http.StatusUnauthorized {
		t.Fatalf("a wrong password: %d, want 401", code)
	}
}

// TestWriteNeedsLogin: a console with writes on, served without the HTTP
// login, still refuses them (no user).
func TestWriteNeedsLogin(t *testing.T) {
	s := startStack(t, true)
	c, err := console.New(console.Config{Kafka: []kgo.Opt{kgo.SeedBrokers(s.addr)}, WriteEnable: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	mux := http.NewServeMux()
	mux.Handle(console.Prefix, c)
	srv := newServer(t, mux)
	code, body := post(t, srv+"/console/topics", url.Values{"name": {"nope"}, "partitions": {"1"}}, "", "")
	if code != http.StatusForbidden || !strings.Contains(body, "login") {
		t.Fatalf("a write without a login: %d %q", code, body)
	}
}
