// Package httpauth puts a login in front of a process's HTTP port (issue 15
// item 6): HTTP basic authentication for scripts and a login form with a
// session cookie for browsers, both checked against the broker's users
// (the PLAIN logins of sasl.jaas.config and the SCRAM credentials), and a
// CSRF token for writes made with the cookie. Paths listed as open
// (/healthz, /readyz for the image's HEALTHCHECK) need no login. Requests
// carrying "Authorization: Bearer <cluster.secret>" are the cluster's own
// (another broker asking /cluster/step-down during a promotion).
//
// For the console (and any page of the port): CSRFToken(r) is the token a
// form of the logged-in user must send back in a csrf_token field or an
// X-CSRF-Token header with POST, PUT, PATCH and DELETE; User(r) names the
// logged-in user.
//
// Config.Sessions, when set, hears of every session's start (with the
// password given at login) and end, so a page can act as that user for the
// session's life: the console's per-user Kafka clients (console.identity=
// login). SessionID(r) names r's session. A basic-authentication request
// is a session of its own, named by its credentials, that lasts
// BasicSessionTTL from its last request.
package httpauth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Config is the login's configuration.
type Config struct {
	// Check reports whether user/password is a valid login.
	Check func(user, password string) bool
	// Open are paths served without a login.
	Open []string
	// Secret is cluster.secret ("" = none): a Bearer token of the cluster.
	Secret string
	// SessionTTL is how long a session cookie lasts (default 8 h).
	SessionTTL time.Duration
	// Secure marks the cookie Secure (the port speaks TLS).
	Secure bool
	// Sessions, if set, is told when a session starts and ends.
	Sessions Sessions
}

// Sessions hears of sessions (Config.Sessions). Start may refuse a login
// with an error, which the user is shown; it is called again for a
// session it already has (a basic-authentication session's next request)
// with a later expiry. End is called at logout; a session also ends at its
// expiry, which the implementation enforces itself.
type Sessions interface {
	Start(id, user, password string, expires time.Time) error
	End(id string)
}

// BasicSessionTTL is how long a basic-authentication session lasts after
// its last request.
const BasicSessionTTL = 5 * time.Minute

const cookieName = "gregor_session"

type userKey struct{}

type sessionKey struct{}

// SessionID names r's session for Config.Sessions ("" for the cluster's
// own requests and without Config.Sessions).
func SessionID(r *http.Request) string {
	s, _ := r.Context().Value(sessionKey{}).(string)
	return s
}

// sessionID names the session of a cookie value; the id is not the cookie,
// so it cannot be used as one.
func (a *auth) sessionID(cookie string) string { return "c." + a.mac("sid", cookie) }

// Handler wraps next with the login.
func Handler(cfg Config, next http.Handler) http.Handler {
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 8 * time.Hour
	}
	key := make([]byte, 32)
	rand.Read(key)
	a := &auth{cfg: cfg, key: key, next: next}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", a.loginForm)
	mux.HandleFunc("POST /login", a.login)
	mux.HandleFunc("POST /logout", a.logout)
	mux.HandleFunc("/", a.serve)
	return mux
}

type auth struct {
	cfg  Config
	key  []byte
	next http.Handler
}

func (a *auth) mac(parts ...string) string {
	h := hmac.New(sha256.New, a.key)
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

// session returns the user of a valid session cookie and the cookie value.
func (a *auth) session(r *http.Request) (string, string) {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return "", ""
	}
	parts := strings.Split(c.Value, ".")
	if len(parts) != 4 {
		return "", ""
	}
	user, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return "", ""
	}
	exp, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || time.Now().Unix() > exp {
		return "", ""
	}
	if !hmac.Equal([]byte(parts[3]), []byte(a.mac("session", string(user), parts[1], parts[2]))) {
		return "", ""
	}
	return string(user), c.Value
}

func unsafeMethod(m string) bool {
	return m != http.MethodGet && m != http.MethodHead && m != http.MethodOptions
}

func (a *auth) serve(w http.ResponseWriter, r *http.Request) {
	for _, p := range a.cfg.Open {
		if r.URL.Path == p {
			a.next.ServeHTTP(w, r)
			return
		}
	}
	if a.cfg.Secret != "" && subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte("Bearer "+a.cfg.Secret)) == 1 {
		a.next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), userKey{}, "cluster")))
		return
	}
	if user, pass, ok := r.BasicAuth(); ok {
		if !a.cfg.Check(user, pass) {
			w.Header().Set("WWW-Authenticate", `Basic realm="gregor", charset="UTF-8"`)
			http.Error(w, "wrong user name or password", http.StatusUnauthorized)
			return
		}
		// A browser sends remembered basic credentials cross-site too:
		// a write from another origin is refused.
		if o := r.Header.Get("Origin"); unsafeMethod(r.Method) && o != "" && !sameOrigin(o, r.Host) {
			http.Error(w, "cross-origin write refused", http.StatusForbidden)
			return
		}
		ctx := context.WithValue(r.Context(), userKey{}, user)
		if a.cfg.Sessions != nil {
			id := "b." + a.mac("basic", user, pass)
			if err := a.cfg.Sessions.Start(id, user, pass, time.Now().Add(BasicSessionTTL)); err != nil {
				http.Error(w, "login refused: "+err.Error(), http.StatusUnauthorized)
				return
			}
			ctx = context.WithValue(ctx, sessionKey{}, id)
		}
		a.next.ServeHTTP(w, r.WithContext(ctx))
		return
	}
	user, sess := a.session(r)
	if user == "" {
		if strings.Contains(r.Header.Get("Accept"), "text/html") && r.Method == http.MethodGet {
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="gregor", charset="UTF-8"`)
		http.Error(w, "login required", http.StatusUnauthorized)
		return
	}
	if unsafeMethod(r.Method) {
		tok := r.Header.Get("X-CSRF-Token")
		if tok == "" {
			tok = r.FormValue("csrf_token")
		}
		if !hmac.Equal([]byte(tok), []byte(a.mac("csrf", sess))) {
			http.Error(w, "missing or wrong CSRF token", http.StatusForbidden)
			return
		}
	}
	ctx := context.WithValue(r.Context(), userKey{}, user)
	ctx = context.WithValue(ctx, csrfKey{}, a.mac("csrf", sess))
	if a.cfg.Sessions != nil {
		ctx = context.WithValue(ctx, sessionKey{}, a.sessionID(sess))
	}
	a.next.ServeHTTP(w, r.WithContext(ctx))
}

func sameOrigin(origin, host string) bool {
	u, err := url.Parse(origin)
	return err == nil && u.Host == host
}

type csrfKey struct{}

// CSRFToken is the token a page served to the logged-in user puts in its
// forms (csrf_token) or sends as X-CSRF-Token; "" without a session.
func CSRFToken(r *http.Request) string {
	t, _ := r.Context().Value(csrfKey{}).(string)
	return t
}

// User is the logged-in user of r ("cluster" for a broker of the cluster).
func User(r *http.Request) string {
	u, _ := r.Context().Value(userKey{}).(string)
	return u
}

var form = template.Must(template.New("login").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>gregor login</title></head>
<body><form method="post" action="/login">
<input type="hidden" name="next" value="{{.Next}}">
<p><label>User <input name="username" autocomplete="username" required></label></p>
<p><label>Password <input name="password" type="password" autocomplete="current-password" required></label></p>
{{if .Failed}}<p>Wrong user name or password.</p>{{end}}
{{with .Refused}}<p>Login refused: {{.}}</p>{{end}}
<p><button type="submit">Log in</button></p>
</form></body></html>
`))

func safeNext(n string) string {
	if !strings.HasPrefix(n, "/") || strings.HasPrefix(n, "//") {
		return "/"
	}
	return n
}

func (a *auth) loginForm(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	form.Execute(w, struct {
		Next    string
		Failed  bool
		Refused string
	}{safeNext(r.URL.Query().Get("next")), r.URL.Query().Get("failed") != "", r.URL.Query().Get("refused")})
}

func (a *auth) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	user, pass, next := r.FormValue("username"), r.FormValue("password"), safeNext(r.FormValue("next"))
	if user == "" || !a.cfg.Check(user, pass) {
		http.Redirect(w, r, "/login?failed=1&next="+url.QueryEscape(next), http.StatusSeeOther)
		return
	}
	exp := strconv.FormatInt(time.Now().Add(a.cfg.SessionTTL).Unix(), 10)
	// The nonce makes every login a session of its own.
	nonce := make([]byte, 12)
	rand.Read(nonce)
	n := base64.RawURLEncoding.EncodeToString(nonce)
	val := base64.RawURLEncoding.EncodeToString([]byte(user)) + "." + exp + "." + n + "." + a.mac("session", user, exp, n)
	if a.cfg.Sessions != nil {
		if err := a.cfg.Sessions.Start(a.sessionID(val), user, pass, time.Now().Add(a.cfg.SessionTTL)); err != nil {
			http.Redirect(w, r, "/login?refused="+url.QueryEscape(err.Error())+"&next="+url.QueryEscape(next), http.StatusSeeOther)
			return
		}
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: val, Path: "/", HttpOnly: true, Secure: a.cfg.Secure,
		SameSite: http.SameSiteStrictMode, MaxAge: int(a.cfg.SessionTTL.Seconds())})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (a *auth) logout(w http.ResponseWriter, r *http.Request) {
	if _, sess := a.session(r); sess != "" && a.cfg.Sessions != nil {
		a.cfg.Sessions.End(a.sessionID(sess))
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", HttpOnly: true, Secure: a.cfg.Secure, MaxAge: -1})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
