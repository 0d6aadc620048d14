package nameserver

// The NameServer API's authentication (issue 15 item 6): with a
// cluster.secret configured, every /v1/ request must carry it as
// "Authorization: Bearer <secret>", so a process that does not know it can
// neither register nor unregister a broker, take a master lease, nor read
// the route table; it gets 401. /healthz and /metrics stay open (probes and
// Prometheus). The secret travels in the clear on this HTTP port: keep the
// NameServer port on the cluster's private network (TLS on it is not served
// yet, docs/security.md).

import (
	"crypto/subtle"
	"net/http"
	"strings"
)

// WithSecret makes c send the cluster secret with every request; it
// returns c.
func (c *Client) WithSecret(secret string) *Client {
	c.secret = secret
	return c
}

// requireSecret refuses /v1/ requests without the configured secret.
func (s *Server) requireSecret(next http.Handler) http.Handler {
	if s.cfg.Secret == "" {
		return next
	}
	want := []byte("Bearer " + s.cfg.Secret)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1/") && subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			s.requests.WithLabelValues("/v1/", "401").Inc()
			w.Header().Set("WWW-Authenticate", `Bearer realm="gregor-nameserver"`)
			http.Error(w, "the cluster secret is required (cluster.secret)", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}
