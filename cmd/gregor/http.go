package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"sync/atomic"
	"time"

	"github.com/gregor-broker/gregor/broker/security"
	"github.com/gregor-broker/gregor/internal/httpauth"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
)

// httpServer serves /metrics, /healthz, /readyz, the web console under
// /console/ and, when enabled, /debug/pprof/ on http.listener; with http.ssl.enable over TLS (the
// broker's ssl.keystore), with http.auth=login behind a login (basic
// authentication or a session cookie, internal/httpauth) except /healthz
// and /readyz, which the image's HEALTHCHECK probes.
type httpServer struct {
	srv   *http.Server
	ln    net.Listener
	ready atomic.Pointer[func() bool]
	admin atomic.Pointer[http.Handler] // the broker's /cluster/ endpoints
	// console is the web console (package console) once the broker runs;
	// nil with console.enable=false.
	console atomic.Pointer[http.Handler]
	login   atomic.Pointer[func(user, password string) bool]
	// sessions hears of the login's sessions (the console's per-user
	// identities, console.identity=login); nil until the console runs.
	sessions atomic.Pointer[httpauth.Sessions]
	// clientTLS is how the members of a group reach each other's port
	// with http.ssl.enable (nil without).
	clientTLS *tls.Config
}

// startHTTP starts the HTTP server; with an empty http.listener it returns
// a server that serves nothing.
func startHTTP(cfg Config, reg *prometheus.Registry, ready func() bool, log *zap.Logger) (*httpServer, error) {
	h := &httpServer{}
	h.ready.Store(&ready)
	if cfg.HTTPListener == "" {
		return h, nil
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	// /healthz: the process is alive and serving HTTP.
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	// /readyz: the broker has recovered its store and accepts Kafka requests.
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if f := h.ready.Load(); f != nil && (*f)() {
			_, _ = w.Write([]byte("ready\n"))
			return
		}
		http.Error(w, "not ready", http.StatusServiceUnavailable)
	})
	// /cluster/: the broker group's status and a manual change of term
	// (broker/promote.go), once the broker runs.
	mux.HandleFunc("/cluster/", func(w http.ResponseWriter, r *http.Request) {
		if a := h.admin.Load(); a != nil {
			(*a).ServeHTTP(w, r)
			return
		}
		http.Error(w, "broker not started", http.StatusServiceUnavailable)
	})
	// /console/: the web console (console_settings.go), behind the
	// login below like every other page; / leads to it.
	mux.HandleFunc("/console/", func(w http.ResponseWriter, r *http.Request) {
		if c := h.console.Load(); c != nil {
			(*c).ServeHTTP(w, r)
			return
		}
		http.Error(w, "the web console is off (console.enable=false) or the broker has not started", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		if h.console.Load() == nil {
			http.NotFound(w, r)
			return
		}
		http.Redirect(w, r, "/console/", http.StatusSeeOther)
	})
	if cfg.PProf {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	var handler http.Handler = mux
	if cfg.HTTPAuth == "login" {
		// Everything but the probes needs a login (internal/httpauth).
		handler = httpauth.Handler(httpauth.Config{
			Check: func(user, password string) bool {
				f := h.login.Load()
				return f != nil && (*f)(user, password)
			},
			Open:     []string{"/healthz", "/readyz"},
			Secret:   cfg.Cluster.Secret,
			Secure:   cfg.HTTPTLS,
			Sessions: sessionsHook{h},
		}, mux)
	}
	ln, err := net.Listen("tcp", cfg.HTTPListener)
	if err != nil {
		return nil, err
	}
	if cfg.HTTPTLS {
		r, err := security.NewReloader(cfg.Security.TLS, func(err error) {
			log.Warn("reloading the TLS key or trust store of the HTTP port failed", zap.Error(err))
		})
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("http.ssl.enable: %w", err)
		}
		srvCfg := r.Config()
		srvCfg.NextProtos = []string{"h2", "http/1.1"}
		ln = tls.NewListener(ln, srvCfg)
		h.clientTLS = r.ClientConfig()
	}
	h.ln = ln
	h.srv = &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := h.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server stopped", zap.Error(err))
		}
	}()
	log.Info("http listening", zap.String("addr", ln.Addr().String()), zap.Bool("pprof", cfg.PProf))
	return h, nil
}

// setAdmin serves /cluster/ with the running broker's handler.
func (h *httpServer) setAdmin(a http.Handler) { h.admin.Store(&a) }

// setConsole serves /console/ with the running broker's console.
func (h *httpServer) setConsole(c http.Handler) { h.console.Store(&c) }

// setLogin checks the HTTP port's logins against the running broker's users.
func (h *httpServer) setLogin(check func(user, password string) bool) { h.login.Store(&check) }

// setSessions tells s of the login's sessions (the console with
// console.identity=login).
func (h *httpServer) setSessions(s httpauth.Sessions) { h.sessions.Store(&s) }

// sessionsHook forwards the login's sessions to whoever setSessions named.
type sessionsHook struct{ h *httpServer }

func (k sessionsHook) Start(id, user, password string, expires time.Time) error {
	if s := k.h.sessions.Load(); s != nil {
		return (*s).Start(id, user, password, expires)
	}
	return nil
}

func (k sessionsHook) End(id string) {
	if s := k.h.sessions.Load(); s != nil {
		(*s).End(id)
	}
}

// setBroker points /readyz at the running broker.
func (h *httpServer) setBroker(ready func() bool) { h.ready.Store(&ready) }

// addr is the bound address, "" when HTTP is off.
func (h *httpServer) addr() string {
	if h.ln == nil {
		return ""
	}
	return h.ln.Addr().String()
}

func (h *httpServer) shutdown(log *zap.Logger) {
	if h.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.srv.Shutdown(ctx); err != nil {
		log.Warn("http shutdown", zap.Error(err))
	}
}
