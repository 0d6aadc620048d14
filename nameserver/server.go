package nameserver

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
)

// Config configures a NameServer.
type Config struct {
	// Listen is host:port of the HTTP API (RocketMQ's port is 9876).
	Listen string
	// ScanInterval is how often silent brokers are looked for (3 s).
	ScanInterval time.Duration
	// BrokerExpiry drops a broker silent for this long (15 s: five missed
	// registrations at the brokers' default 3 s).
	BrokerExpiry time.Duration
	// LeaseDuration is a master lease's length (lease.go; 4 s).
	LeaseDuration time.Duration
	Logger        *zap.Logger
	// Secret is cluster.secret: when set, every /v1/ request (register,
	// unregister, routes, leases) must carry it (auth.go); /healthz and
	// /metrics stay open.
	Secret string
	// TLS, when set, serves the port over TLS only; its ClientAuth says
	// whether clients must present a certificate (tls.go).
	TLS *tls.Config
}

// EnsureDefaults fills every zero field that has a default. It is the one
// place the NameServer's defaults live (`gregor nameserver` reads them from
// here).
func (c *Config) EnsureDefaults() {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:9876"
	}
	if c.ScanInterval == 0 {
		c.ScanInterval = 3 * time.Second
	}
	if c.BrokerExpiry == 0 {
		c.BrokerExpiry = 15 * time.Second
	}
	if c.LeaseDuration == 0 {
		c.LeaseDuration = DefaultLeaseDuration
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
}

// Validate fills defaults (EnsureDefaults) and rejects impossible values.
func (c *Config) Validate() error {
	c.EnsureDefaults()
	if c.ScanInterval < 0 || c.BrokerExpiry < 0 || c.LeaseDuration < 0 {
		return errors.New("nameserver: scan interval, broker expiry and lease duration must be positive")
	}
	return nil
}

// Server serves a Registry over HTTP and expires silent brokers.
type Server struct {
	cfg      Config
	reg      *Registry
	leases   *Leases
	regSlots chan struct{} // register bodies being decoded
	ln       net.Listener
	http     *http.Server
	stop     chan struct{}
	done     chan struct{}
	promReg  *prometheus.Registry
	requests *prometheus.CounterVec

	cacheMu  sync.Mutex
	cache    map[string][]byte // per-topic answers at cacheGen
	cacheGen uint64
}

// NewServer binds cfg.Listen; Serve must be called to answer requests.
func NewServer(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("nameserver: listen %s: %w", cfg.Listen, err)
	}
	ln = tlsListener(ln, cfg.TLS) // tls.go
	s := &Server{
		cfg:      cfg,
		reg:      NewRegistry(nil),
		leases:   NewLeases(cfg.LeaseDuration, nil),
		regSlots: make(chan struct{}, maxConcurrentRegistrations),
		cache:    make(map[string][]byte),
		ln:       ln,
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
		promReg:  prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gregor_nameserver_requests_total",
			Help: "NameServer API requests by path and result.",
		}, []string{"path", "code"}),
	}
	s.promReg.MustRegister(s.requests,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "gregor_nameserver_live_brokers",
			Help: "Brokers with a heartbeat younger than the expiry.",
		}, func() float64 { return float64(s.reg.Len()) }),
	)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/register", s.handleRegister)
	mux.HandleFunc("POST /v1/unregister", s.handleUnregister)
	mux.HandleFunc("GET /v1/routes", s.handleRoutes)
	mux.HandleFunc("GET /v1/routes/{topic}", s.handleTopicRoutes)
	mux.HandleFunc("POST /v1/lease", s.handleLease)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.promReg, promhttp.HandlerOpts{}))
	handler := s.requireSecret(mux) // auth.go
	// ReadTimeout covers the body too: a client trickling a registration
	// holds one of the few register slots for at most that long.
	s.http = &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 10 * time.Second}
	return s, nil
}

// Addr is the bound address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Registry exposes the table (an in-process NameServer is read directly).
func (s *Server) Registry() *Registry { return s.reg }

// Serve answers requests and runs the expiry scan until Shutdown.
func (s *Server) Serve() error {
	go s.scan()
	err := s.http.Serve(s.ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops the scan and the HTTP server.
func (s *Server) Shutdown(ctx context.Context) error {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	return s.http.Shutdown(ctx)
}

func (s *Server) scan() {
	t := time.NewTicker(s.cfg.ScanInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			if gone := s.reg.Expire(s.cfg.BrokerExpiry); len(gone) > 0 {
				s.cfg.Logger.Warn("brokers expired: no heartbeat", zap.Strings("brokers", gone),
					zap.Duration("expiry", s.cfg.BrokerExpiry))
			}
		}
	}
}

// maxConcurrentRegistrations bounds the register bodies decoded at once, so
// many large registrations arriving together cost at most this many times
// MaxRegistrationBytes (and what decoding them takes) of memory.
const maxConcurrentRegistrations = 16

func (s *Server) handleRegister(w http.ResponseWriter, r *http.Request) {
	select {
	case s.regSlots <- struct{}{}:
		defer func() { <-s.regSlots }()
	case <-r.Context().Done():
		return
	}
	var reg Registration
	if !s.decode(w, r, MaxRegistrationBytes, &reg) {
		return
	}
	resp, err := s.reg.Register(reg)
	if err != nil {
		s.fail(w, r, http.StatusBadRequest, err.Error())
		return
	}
	s.reply(w, r, resp)
}

func (s *Server) handleUnregister(w http.ResponseWriter, r *http.Request) {
	var who struct {
		Cluster    string `json:"cluster"`
		BrokerName string `json:"broker_name"`
		BrokerID   int64  `json:"broker_id"`
	}
	if !s.decode(w, r, MaxSmallRequestBytes, &who) {
		return
	}
	if err := checkName("broker_name", who.BrokerName, maxNameLen, false); err != nil {
		s.fail(w, r, http.StatusBadRequest, err.Error())
		return
	}
	if s.reg.Unregister(who.BrokerName, who.BrokerID) {
		s.cfg.Logger.Info("broker unregistered", zap.String("broker", who.BrokerName), zap.Int64("id", who.BrokerID))
	}
	s.reply(w, r, struct{}{})
}

// decode reads r's JSON body into v, at most limit bytes; it answers the
// request itself (413 when larger, 400 when malformed) and reports false
// when v must not be used.
func (s *Server) decode(w http.ResponseWriter, r *http.Request, limit int64, v any) bool {
	err := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit)).Decode(v)
	var tooBig *http.MaxBytesError
	switch {
	case err == nil:
		return true
	case errors.As(err, &tooBig):
		s.fail(w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body larger than %d bytes", limit))
	default:
		s.fail(w, r, http.StatusBadRequest, "malformed request body: "+err.Error())
	}
	return false
}

func (s *Server) handleLease(w http.ResponseWriter, r *http.Request) {
	var req LeaseRequest
	if !s.decode(w, r, MaxSmallRequestBytes, &req) {
		return
	}
	if err := checkName("broker_name", req.BrokerName, maxNameLen, false); err != nil {
		s.fail(w, r, http.StatusBadRequest, err.Error())
		return
	}
	resp, err := s.leases.Lease(r.Context(), req)
	if err != nil {
		s.fail(w, r, http.StatusBadRequest, err.Error())
		return
	}
	s.reply(w, r, resp)
}

// handleRoutes answers the whole table, or with ?since=G&instance=I a
// delta (Registry.RoutesSince, delta.go).
func (s *Server) handleRoutes(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if !q.Has("since") {
		s.reply(w, r, s.reg.Routes())
		return
	}
	since, err := strconv.ParseUint(q.Get("since"), 10, 64)
	if err != nil {
		s.fail(w, r, http.StatusBadRequest, "since: not a generation: "+err.Error())
		return
	}
	s.reply(w, r, s.reg.RoutesSince(q.Get("instance"), since))
}

// handleTopicRoutes answers one topic's route (Registry.TopicRoutes); an
// unknown topic is 200 with found=false, like a whole table without it.
func (s *Server) handleTopicRoutes(w http.ResponseWriter, r *http.Request) {
	topic := r.PathValue("topic")
	if err := checkName("topic", topic, maxNameLen, false); err != nil {
		s.fail(w, r, http.StatusBadRequest, err.Error())
		return
	}
	s.requests.WithLabelValues(r.URL.Path, "200").Inc()
	w.Header().Set("Content-Type", "application/json")
	w.Write(s.topicAnswer(topic))
}

// topicAnswer is the encoded per-topic answer. Answers are kept until the
// routing generation moves (delta.go), so a read of an unchanged topic
// costs a map lookup, not the merge and the JSON encoding (which sorts
// each owner map: most of a read's CPU at 100 partitions). A kept answer
// carries the members' LogEnd, lag and heartbeat time as of the last
// routing change, as delta reads do; the whole table (GET /v1/routes)
// has them fresh.
func (s *Server) topicAnswer(topic string) []byte {
	gen := s.reg.Gen()
	s.cacheMu.Lock()
	if gen != s.cacheGen {
		clear(s.cache)
		s.cacheGen = gen
	}
	b, ok := s.cache[topic]
	s.cacheMu.Unlock()
	if ok {
		return b
	}
	tr, at := s.reg.topicRoutesGen(topic)
	b, err := json.Marshal(tr)
	if err != nil {
		b = []byte("{}")
	}
	b = append(b, '\n')
	s.cacheMu.Lock()
	if at == s.cacheGen && (tr.Found || len(s.cache) < maxCachedTopics) {
		s.cache[topic] = b
	}
	s.cacheMu.Unlock()
	return b
}

// maxCachedTopics bounds the answers kept for topics nobody registers
// (any name can be asked about).
const maxCachedTopics = 100000

func (s *Server) reply(w http.ResponseWriter, r *http.Request, v any) {
	w.Header().Set("Content-Type", "application/json")
	s.requests.WithLabelValues(r.URL.Path, "200").Inc()
	json.NewEncoder(w).Encode(v)
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, code int, msg string) {
	s.requests.WithLabelValues(r.URL.Path, fmt.Sprint(code)).Inc()
	http.Error(w, msg, code)
}
