package console

// Per-user Kafka identities (console.identity=login): every HTTP session
// (internal/httpauth) gets its own kgo client that authenticates with SASL
// as the user who logged in, with the password given at login, so the
// broker's ACLs decide what each user sees and may change exactly as for
// that user's own clients. The password lives only in memory, inside the
// session's client options, until the session ends: at logout, at its
// expiry (swept every sessionSweep), or when the console closes.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gregor-broker/gregor/internal/httpauth"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

const sessionSweep = 30 * time.Second

// MaxSessionsPerUser bounds the Kafka clients one user's sessions hold: a
// new login beyond it ends that user's session that would expire first
// (logins that never log out would otherwise pile up for SessionTTL).
const MaxSessionsPerUser = 16

// identity is who a request talks to Kafka as: the options (for the
// message browser's own consumer) and the client.
type identity struct {
	opts []kgo.Opt
	cl   *kgo.Client
	adm  *kadm.Client
}

type userSession struct {
	user    string
	id      identity
	expires time.Time
}

type sessions struct {
	mu sync.Mutex
	m  map[string]*userSession
}

type identityKey struct{}

// evictLocked removes user's sessions beyond MaxSessionsPerUser, those
// expiring first, and returns them to be closed.
func (ss *sessions) evictLocked(user string) []*userSession {
	var ids []string
	for sid, s := range ss.m {
		if s.user == user {
			ids = append(ids, sid)
		}
	}
	if len(ids) <= MaxSessionsPerUser {
		return nil
	}
	slices.SortFunc(ids, func(a, b string) int { return ss.m[a].expires.Compare(ss.m[b].expires) })
	var out []*userSession
	for _, sid := range ids[:len(ids)-MaxSessionsPerUser] {
		out = append(out, ss.m[sid])
		delete(ss.m, sid)
	}
	return out
}

// sessionsOf counts user's sessions.
func (c *Console) sessionsOf(user string) int {
	c.sess.mu.Lock()
	defer c.sess.mu.Unlock()
	n := 0
	for _, s := range c.sess.m {
		if s.user == user {
			n++
		}
	}
	return n
}

// Start opens a Kafka client for a new session as user/password, trying
// each of Config.PerUser's mechanisms in turn; for a session it has, it
// extends the expiry. It implements httpauth.Sessions.
func (c *Console) Start(sid, user, password string, expires time.Time) error {
	if c.cfg.PerUser == nil {
		return nil
	}
	c.sess.mu.Lock()
	if s, ok := c.sess.m[sid]; ok && s.user == user {
		s.expires = expires
		c.sess.mu.Unlock()
		return nil
	}
	c.sess.mu.Unlock()
	var errs []error
	for _, opts := range c.cfg.PerUser(user, password) {
		all := append([]kgo.Opt{kgo.ClientID("gregor-console"), kgo.RetryTimeout(c.cfg.Timeout),
			kgo.MetadataMinAge(250 * time.Millisecond)}, opts...)
		cl, err := kgo.NewClient(all...)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), c.cfg.Timeout)
		err = cl.Ping(ctx)
		cancel()
		if err != nil {
			cl.Close()
			errs = append(errs, err)
			continue
		}
		s := &userSession{user: user, id: identity{opts: opts, cl: cl, adm: kadm.NewClient(cl)}, expires: expires}
		c.sess.mu.Lock()
		old := []*userSession{c.sess.m[sid]}
		c.sess.m[sid] = s
		old = append(old, c.sess.evictLocked(user)...)
		c.sess.mu.Unlock()
		for _, o := range old {
			if o != nil {
				o.id.cl.Close()
			}
		}
		return nil
	}
	if len(errs) == 0 {
		return errors.New("no SASL mechanism to log in to Kafka with")
	}
	c.cfg.Logger.Info("console login: Kafka refused the user's credentials")
	return fmt.Errorf("Kafka refused the login: %w", errors.Join(errs...))
}

// End closes a session's client. It implements httpauth.Sessions.
func (c *Console) End(sid string) {
	c.sess.mu.Lock()
	s := c.sess.m[sid]
	delete(c.sess.m, sid)
	c.sess.mu.Unlock()
	if s != nil {
		s.id.cl.Close()
	}
}

// sweep closes the sessions past their expiry (all of them with all).
func (c *Console) sweep(all bool) {
	now := time.Now()
	var done []*userSession
	c.sess.mu.Lock()
	for sid, s := range c.sess.m {
		if all || now.After(s.expires) {
			done = append(done, s)
			delete(c.sess.m, sid)
		}
	}
	c.sess.mu.Unlock()
	for _, s := range done {
		s.id.cl.Close()
	}
}

func (c *Console) sweeper(ctx context.Context) {
	t := time.NewTicker(sessionSweep)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			c.sweep(true)
			return
		case <-t.C:
			c.sweep(false)
		}
	}
}

// withIdentity puts the request's Kafka identity into its context: with
// per-user identities the session's (a request without one is sent to log
// in again), otherwise the console's own.
func (c *Console) withIdentity(w http.ResponseWriter, r *http.Request) (*http.Request, bool) {
	if c.cfg.PerUser == nil {
		return r, true
	}
	c.sess.mu.Lock()
	s := c.sess.m[httpauth.SessionID(r)]
	if s != nil && time.Now().After(s.expires) {
		s = nil
	}
	c.sess.mu.Unlock()
	if s == nil || s.user != httpauth.User(r) {
		if r.Method == http.MethodGet && !isJSON(r) {
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		} else {
			http.Error(w, "this session has no Kafka identity (it ended, or the broker restarted): log in again", http.StatusUnauthorized)
		}
		return nil, false
	}
	return r.WithContext(context.WithValue(r.Context(), identityKey{}, &s.id)), true
}

// admin is the admin client of ctx's identity: the session's or the
// console's own (the sampler's).
func (c *Console) admin(ctx context.Context) *kadm.Client {
	if id, ok := ctx.Value(identityKey{}).(*identity); ok {
		return id.adm
	}
	return c.adm
}

// kafkaOpts are the client options of ctx's identity.
func (c *Console) kafkaOpts(ctx context.Context) []kgo.Opt {
	if id, ok := ctx.Value(identityKey{}).(*identity); ok {
		return id.opts
	}
	return c.cfg.Kafka
}

// perUser reports whether the console acts as each logged-in user.
func (c *Console) perUser() bool { return c.cfg.PerUser != nil }

// isJSON reports whether r asks a live endpoint (live.go), which is told
// rather than redirected.
func isJSON(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, ".json") }
