package httpauth

import (
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestLogin: probes are open; everything else needs basic authentication,
// the cluster secret or a session cookie from the login form; a write with
// the cookie needs its CSRF token; a cross-origin write with basic
// credentials is refused.
func TestLogin(t *testing.T) {
	inner := http.NewServeMux()
	inner.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	inner.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("user=" + User(r))) })
	inner.HandleFunc("/token", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(CSRFToken(r))) })
	inner.HandleFunc("POST /write", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("written")) })
	srv := httptest.NewServer(Handler(Config{
		Check:  func(u, p string) bool { return u == "admin" && p == "admin-secret" },
		Open:   []string{"/healthz"},
		Secret: "cluster-secret",
	}, inner))
	defer srv.Close()

	status := func(req *http.Request, cl *http.Client) (int, string) {
		t.Helper()
		if cl == nil {
			cl = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		}
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b := new(strings.Builder)
		buf := make([]byte, 4096)
		n, _ := resp.Body.Read(buf)
		b.Write(buf[:n])
		return resp.StatusCode, b.String()
	}
	get := func(path string) *http.Request {
		r, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		return r
	}
	if c, _ := status(get("/healthz"), nil); c != 200 {
		t.Fatalf("/healthz: %d", c)
	}
	if c, _ := status(get("/metrics"), nil); c != 401 {
		t.Fatalf("/metrics without a login: %d", c)
	}
	r := get("/metrics")
	r.SetBasicAuth("admin", "wrong")
	if c, _ := status(r, nil); c != 401 {
		t.Fatalf("wrong password: %d", c)
	}
	r = get("/metrics")
	r.SetBasicAuth("admin", "admin-secret")
	if c, body := status(r, nil); c != 200 || body != "user=admin" {
		t.Fatalf("basic: %d %q", c, body)
	}
	r = get("/metrics")
	r.Header.Set("Authorization", "Bearer cluster-secret")
	if c, body := status(r, nil); c != 200 || body != "user=cluster" {
		t.Fatalf("cluster secret: %d %q", c, body)
	}
	w, _ := http.NewRequest(http.MethodPost, srv.URL+"/write", nil)
	w.SetBasicAuth("admin", "admin-secret")
	w.Header.Set("Origin", "https://evil.example")
	if c, _ := status(w, nil); c != 403 {
		t.Fatalf("cross-origin write with basic credentials: %d", c)
	}

	// A browser: the form, then the cookie.
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	html := get("/metrics")
	html.Header.Set("Accept", "text/html")
	if c, body := status(html, browser); c != 200 || !strings.Contains(body, `name="password"`) {
		t.Fatalf("a browser is not sent to the login form: %d %q", c, body)
	}
	resp, err := browser.PostForm(srv.URL+"/login", url.Values{"username": {"admin"}, "password": {"admin-secret"}, "next": {"/metrics"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if c, body := status(get("/metrics"), browser); c != 200 || body != "user=admin" {
		t.Fatalf("with the session cookie: %d %q", c, body)
	}
	w, _ = http.NewRequest(http.MethodPost, srv.URL+"/write", nil)
	if c, _ := status(w, browser); c != 403 {
		t.Fatalf("a write with the cookie and no CSRF token: %d", c)
	}
	_, tok := status(get("/token"), browser)
	w, _ = http.NewRequest(http.MethodPost, srv.URL+"/write", nil)
	w.Header.Set("X-CSRF-Token", tok)
	if c, body := status(w, browser); c != 200 || body != "written" {
		t.Fatalf("a write with the CSRF token: %d %q", c, body)
	}
	resp, err = browser.PostForm(srv.URL+"/login", url.Values{"username": {"admin"}, "password": {"nope"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !strings.Contains(resp.Request.URL.RawQuery, "failed=1") {
		t.Fatalf("a wrong password at the form: ended at %s", resp.Request.URL)
	}
}

type fakeSessions struct {
	started map[string]string // id → password
	ended   []string
	refuse  bool
}

func (f *fakeSessions) Start(id, user, password string, _ time.Time) error {
	if f.refuse {
		return errors.New("no Kafka for you")
	}
	f.started[id] = password
	return nil
}

func (f *fakeSessions) End(id string) { f.ended = append(f.ended, id) }

// TestSessions: Config.Sessions hears of a login with its password, the
// request carries the session's id, logout ends it, basic authentication
// is a session of its own, and a refused Start refuses the login.
func TestSessions(t *testing.T) {
	f := &fakeSessions{started: map[string]string{}}
	inner := http.NewServeMux()
	inner.HandleFunc("/sid", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(SessionID(r))) })
	srv := httptest.NewServer(Handler(Config{
		Check:    func(u, p string) bool { return u == "admin" && p == "admin-secret" },
		Sessions: f,
	}, inner))
	defer srv.Close()
	jar, _ := cookiejar.New(nil)
	cl := &http.Client{Jar: jar}
	read := func(resp *http.Response, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	sid := read(cl.PostForm(srv.URL+"/login", url.Values{"username": {"admin"}, "password": {"admin-secret"}, "next": {"/sid"}}))
	if sid == "" || f.started[sid] != "admin-secret" {
		t.Fatalf("session %q not started with the password: %v", sid, f.started)
	}
	read(cl.PostForm(srv.URL+"/logout", nil))
	if len(f.ended) != 1 || f.ended[0] != sid {
		t.Fatalf("logout ended %v, want %q", f.ended, sid)
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/sid", nil)
	req.SetBasicAuth("admin", "admin-secret")
	if bsid := read(http.DefaultClient.Do(req)); bsid == "" || bsid == sid || f.started[bsid] != "admin-secret" {
		t.Fatalf("basic session %q: %v", bsid, f.started)
	}
	f.refuse = true
	if body := read(cl.PostForm(srv.URL+"/login", url.Values{"username": {"admin"}, "password": {"admin-secret"}, "next": {"/sid"}})); !strings.Contains(body, "no Kafka for you") {
		t.Fatalf("a refused session's login page: %q", body)
	}
}
