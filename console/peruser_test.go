package console_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/broker"
	"github.com/gregor-broker/gregor/console"
	"github.com/gregor-broker/gregor/internal/httpauth"
	"github.com/gregor-broker/gregor/storage"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// userStack is a broker with a PLAINTEXT listener (the test's anonymous
// super user) and a SASL_PLAINTEXT one, ACLs enforced, and the console
// acting as each logged-in user (Config.PerUser) behind the HTTP login.
type userStack struct {
	url string
	adm *kadm.Client
	c   *console.Console
}

func startUserStack(t *testing.T) *userStack {
	t.Helper()
	b, err := broker.New(broker.Config{
		Listeners: []broker.Listener{
			{Name: "PLAINTEXT", Address: "127.0.0.1:0"},
			{Name: "SASL", Address: "127.0.0.1:0", Protocol: broker.ProtoSASLPlaintext},
		},
		Store:  storage.Config{Dir: t.TempDir(), SegmentBytes: 4 << 20},
		Topics: broker.TopicDefaults{NumPartitions: 1},
		Security: broker.SecurityConfig{
			SASLMechanisms: []string{"SCRAM-SHA-512"},
			Authorizer:     true,
			SuperUsers:     []string{"User:ANONYMOUS"},
		},
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
	plainAddr, saslAddr := b.Addrs()[0].String(), b.Addrs()[1].String()
	c, err := console.New(console.Config{
		Kafka: []kgo.Opt{kgo.SeedBrokers(plainAddr)},
		PerUser: func(user, password string) [][]kgo.Opt {
			return [][]kgo.Opt{{kgo.SeedBrokers(saslAddr),
				kgo.SASL(scram.Auth{User: user, Pass: password}.AsSha512Mechanism())}}
		},
		WriteEnable:    true,
		SampleInterval: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	mux := http.NewServeMux()
	mux.Handle(console.Prefix, c)
	srv := httptest.NewServer(httpauth.Handler(httpauth.Config{Check: b.CheckLogin, Sessions: c}, mux))
	t.Cleanup(srv.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(plainAddr), kgo.RetryTimeout(20*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return &userStack{url: srv.URL, adm: kadm.NewClient(cl), c: c}
}

// session is a browser-like HTTP client with a cookie jar.
type session struct {
	t    *testing.T
	base string
	cl   *http.Client
}

func (s *session) do(method, path string, form url.Values) (int, string) {
	s.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, s.base+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Accept", "text/html")
	resp, err := s.cl.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func logIn(t *testing.T, base, user, pass string) *session {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	s := &session{t: t, base: base, cl: &http.Client{Jar: jar, Timeout: 60 * time.Second}}
	code, body := s.do(http.MethodPost, "/login", url.Values{"username": {user}, "password": {pass}, "next": {"/console/topics"}})
	if code != http.StatusOK || !strings.Contains(body, "create-topic") {
		t.Fatalf("%s logging in: %d\n%s", user, code, body)
	}
	return s
}

var csrfRE = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

func (s *session) csrf() string {
	s.t.Helper()
	_, body := s.do(http.MethodGet, "/console/topics", nil)
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		s.t.Fatalf("no CSRF token on the topics page:\n%s", body)
	}
	return m[1]
}

func listed(body, topic string) bool {
	return strings.Contains(body, `data-topic="`+topic+`"`)
}

// seedUsers makes topics alpha, beta and gamma and SCRAM-SHA-512 users
// alice (may describe and read alpha) and bob (may describe beta).
func seedUsers(t *testing.T, s *userStack) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, topic := range []string{"alpha", "beta", "gamma"} {
		if _, err := s.adm.CreateTopic(ctx, 1, 1, nil, topic); err != nil {
			t.Fatal(err)
		}
	}
	res, err := s.adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{
		{User: "alice", Mechanism: kadm.ScramSha512, Password: "alice-pw"},
		{User: "bob", Mechanism: kadm.ScramSha512, Password: "bob-pw"},
	})
	if err == nil {
		err = res.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	acls := kadm.NewACLs().Allow("User:alice").Topics("alpha").Operations(kadm.OpDescribe, kadm.OpRead).ResourcePatternType(kadm.ACLPatternLiteral)
	acls2 := kadm.NewACLs().Allow("User:bob").Topics("beta").Operations(kadm.OpDescribe).ResourcePatternType(kadm.ACLPatternLiteral)
	for _, b := range []*kadm.ACLBuilder{acls, acls2} {
		rs, err := s.adm.CreateACLs(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			if r.Err != nil {
				t.Fatal(r.Err)
			}
		}
	}

}

// TestPerUserIdentity: two SCRAM users with different ACLs log in and each
// sees only the topics their ACLs let them describe; a write the ACLs deny
// is refused with Kafka's error name and changes nothing (checked as the
// super user); logging out ends the session's Kafka identity.
func TestPerUserIdentity(t *testing.T) {
	s := startUserStack(t)
	seedUsers(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	alice := logIn(t, s.url, "alice", "alice-pw")
	bob := logIn(t, s.url, "bob", "bob-pw")
	for _, c := range []struct {
		who  *session
		name string
		sees string
	}{{alice, "alice", "alpha"}, {bob, "bob", "beta"}} {
		code, body := c.who.do(http.MethodGet, "/console/topics", nil)
		if code != http.StatusOK {
			t.Fatalf("%s's topics page: %d\n%s", c.name, code, body)
		}
		for _, topic := range []string{"alpha", "beta", "gamma"} {
			if listed(body, topic) != (topic == c.sees) {
				t.Errorf("%s's topics page lists %s: %v (ACLs allow only %s)", c.name, topic, listed(body, topic), c.sees)
			}
		}
	}

	// alice may not delete bob's topic, nor create one: Kafka's error
	// name on the page, and the super user still sees beta and no delta.
	tok := alice.csrf()
	code, body := alice.do(http.MethodPost, "/console/topics/beta/delete", url.Values{"csrf_token": {tok}, "confirm": {"beta"}})
	if code < 400 || !strings.Contains(body, "TOPIC_AUTHORIZATION_FAILED") {
		t.Fatalf("alice deleting beta: %d, want TOPIC_AUTHORIZATION_FAILED on the page:\n%s", code, body)
	}
	code, body = alice.do(http.MethodPost, "/console/topics", url.Values{"csrf_token": {tok}, "name": {"delta"}, "partitions": {"1"}})
	if code < 400 || !strings.Contains(body, "AUTHORIZATION_FAILED") {
		t.Fatalf("alice creating delta: %d, want an AUTHORIZATION_FAILED error on the page:\n%s", code, body)
	}
	md, err := s.adm.Metadata(kadm.WithAuthorizedOps(ctx))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := md.Topics["beta"]; !ok {
		t.Error("beta is gone after alice's refused delete")
	}
	if _, ok := md.Topics["delta"]; ok {
		t.Error("delta exists after alice's refused create")
	}

	// The lag history was sampled by the console's own identity: its
	// live endpoint asks Kafka whether the user may describe the group.
	if code, body := alice.do(http.MethodGet, "/console/groups/g1/chart.json", nil); code != http.StatusForbidden || !strings.Contains(body, "GROUP_AUTHORIZATION_FAILED") {
		t.Errorf("alice's lag chart of a group she may not describe: %d %s", code, body)
	}

	// A wrong password gets no session.
	jar, _ := cookiejar.New(nil)
	wrong := &session{t: t, base: s.url, cl: &http.Client{Jar: jar}}
	if _, body := wrong.do(http.MethodPost, "/login", url.Values{"username": {"alice"}, "password": {"nope"}, "next": {"/console/topics"}}); !strings.Contains(body, "Wrong user name or password") {
		t.Errorf("a wrong password:\n%s", body)
	}

	// Logging out ends alice's Kafka identity: her old cookie, replayed,
	// no longer reaches Kafka.
	u, _ := url.Parse(s.url)
	cookies := alice.cl.Jar.Cookies(u)
	alice.do(http.MethodPost, "/logout", url.Values{})
	jar2, _ := cookiejar.New(nil)
	jar2.SetCookies(u, cookies)
	replay := &session{t: t, base: s.url, cl: &http.Client{Jar: jar2, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	if code, body := replay.do(http.MethodGet, "/console/topics", nil); code != http.StatusSeeOther {
		t.Fatalf("alice's cookie after logout: %d, want 303 to the login:\n%s", code, body)
	}
	if code, body := replay.do(http.MethodGet, "/console/metrics.json", nil); code != http.StatusUnauthorized {
		t.Fatalf("alice's cookie after logout, live endpoint: %d, want 401:\n%s", code, body)
	}
	// bob's session is his own and goes on.
	if code, body := bob.do(http.MethodGet, "/console/topics", nil); code != http.StatusOK || !listed(body, "beta") {
		t.Fatalf("bob after alice's logout: %d\n%s", code, body)
	}
}

// TestSessionsPerUserBounded: logins that never log out hold at most
// MaxSessionsPerUser Kafka clients; the oldest session ends (and is sent
// to log in again), the newest works.
func TestSessionsPerUserBounded(t *testing.T) {
	s := startUserStack(t)
	seedUsers(t, s)
	var all []*session
	for range console.MaxSessionsPerUser + 3 {
		all = append(all, logIn(t, s.url, "alice", "alice-pw"))
	}
	if n := s.c.SessionsOf("alice"); n != console.MaxSessionsPerUser {
		t.Fatalf("alice holds %d sessions, want %d", n, console.MaxSessionsPerUser)
	}
	all[0].cl.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if code, _ := all[0].do(http.MethodGet, "/console/topics", nil); code != http.StatusSeeOther {
		t.Errorf("alice's oldest session: %d, want 303 to the login", code)
	}
	if code, body := all[len(all)-1].do(http.MethodGet, "/console/topics", nil); code != http.StatusOK || !listed(body, "alpha") {
		t.Errorf("alice's newest session: %d\n%s", code, body)
	}
}
