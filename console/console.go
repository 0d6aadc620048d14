// Package console is gregor's web console (issue 17), served on the
// broker's HTTP port under /console/ by the broker process itself: no
// separate service, no CDN, every asset embedded in the binary
// (go:embed), pages rendered on the server with html/template and a few
// lines of vanilla JavaScript.
//
// Pages:
//
//	/console/                   the cluster: NameServers, broker groups, members
//	                            with roles, epochs, log ends and replication lag
//	/console/topics             topics; /console/topics/{t}: partitions (leader,
//	                            replicas, ISR, offsets, size) and configs
//	/console/messages           the message browser (partition + offset, timestamp,
//	                            key search; value as text, JSON or hex; headers)
//	/console/groups             consumer groups; /console/groups/{g}: members,
//	                            assignments, lag per partition with its history
//	/console/security           ACLs and SCRAM users
//	/console/metrics            the broker's throughput and latency
//	/console/metrics.json and /console/groups/{g}/chart.json
//	                            the charts' samples, which the pages
//	                            fetch to refresh them in place (live.go)
//
// The console talks to the broker through the Kafka API (kgo/kadm) against
// the broker's own listener, so it sees exactly what a Kafka client sees,
// obeys the same ACLs, and imports no broker package. Whose identity it
// uses: the console's own (Config.Kafka) for everyone, or, with
// Config.PerUser, each logged-in user's own over SASL (sessions.go) (the cluster page
// reads the NameServers through package nameserver and this member's
// /cluster/status through the handler it is given).
//
// Writes (create/alter/delete topics, add partitions, reset offsets, ACLs,
// SCRAM users) are off unless Config.WriteEnable (console.write.enable);
// cmd/gregor refuses that setting without http.auth=login, so every write
// is made by a logged-in user, and internal/httpauth checks the CSRF token
// the forms carry (or, for basic authentication, that the write is not
// cross-origin). Every write handler calls canWrite first.
//
// History: consumer-group lag and the broker's metrics are sampled every
// Config.SampleInterval into rings held in memory only (Config.History
// samples per series, MaxGroups groups); they start empty at every
// restart and are not shared between brokers.
package console

import (
	"context"
	"crypto/tls"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gregor-broker/gregor/internal/httpauth"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
)

// Prefix is where the console is mounted on the HTTP port.
const Prefix = "/console/"

//go:embed assets
var assets embed.FS

// Config is the console's configuration.
type Config struct {
	// Kafka are the client options that reach this broker's Kafka
	// listener (seed brokers, TLS, SASL): the console's own identity.
	// Required unless PerUser is set; with PerUser only the sampler (lag
	// history) uses it, and without it there is no lag history.
	Kafka []kgo.Opt
	// PerUser, when set, makes the console talk to Kafka as each
	// logged-in user (console.identity=login, sessions.go): it returns,
	// for a login's user and password, the client options to try in turn
	// (one per SASL mechanism), each reaching a SASL listener of this
	// broker. The console is then an httpauth.Sessions.
	PerUser func(user, password string) [][]kgo.Opt
	// NameServers are the NameServers the broker registers with (empty
	// in standalone mode, whose registry is in-process), and
	// ClusterSecret the cluster.secret they may require.
	NameServers   []string
	ClusterSecret string
	// NameServerTLS is the client TLS configuration of the NameServers
	// when they speak TLS (nameserver.ssl.enable; the broker's own,
	// broker.ClusterConfig.NameServerTLS); nil for plain HTTP.
	NameServerTLS *tls.Config
	// Admin is the broker's /cluster/ handler (broker/promote.go); the
	// cluster page reads GET /cluster/status from it in process. Optional.
	Admin http.Handler
	// Gatherer is the process's metrics registry. Optional.
	Gatherer prometheus.Gatherer
	// WriteEnable allows writes (console.write.enable).
	WriteEnable bool
	// SampleInterval is how often lag and metrics are sampled (default
	// 10 s); History how many samples each ring keeps (default 360, one
	// hour at 10 s); MaxGroups how many groups have a lag history
	// (default 200; more are shown without one).
	SampleInterval time.Duration
	History        int
	MaxGroups      int
	// Timeout bounds each page's Kafka requests (default 10 s).
	Timeout time.Duration
	Logger  *zap.Logger
}

// EnsureDefaults fills the zero fields.
func (c *Config) EnsureDefaults() {
	if c.SampleInterval <= 0 {
		c.SampleInterval = 10 * time.Second
	}
	if c.History <= 0 {
		c.History = 360
	}
	if c.MaxGroups <= 0 {
		c.MaxGroups = 200
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
}

// Validate fills defaults and rejects a configuration that cannot work.
func (c *Config) Validate() error {
	c.EnsureDefaults()
	if len(c.Kafka) == 0 && c.PerUser == nil {
		return errors.New("console: no Kafka client options (the broker's own listener)")
	}
	return nil
}

// Console serves the pages. Close stops its sampler and client.
type Console struct {
	cfg   Config
	cl    *kgo.Client
	adm   *kadm.Client
	mux   *http.ServeMux
	pages map[string]*template.Template
	lag   *lagHistory
	met   *metricHistory
	sess  sessions

	stop      context.CancelFunc
	stopped   chan struct{}
	sweepDone chan struct{} // nil without PerUser
	closeOne  sync.Once
}

// New builds the console and starts its sampler.
func New(cfg Config) (*Console, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	// A short metadata age: kadm routes ListOffsets and the like by the
	// client's cached metadata, which must catch up with a write quickly.
	c := &Console{
		cfg:     cfg,
		lag:     newLagHistory(cfg.History, cfg.MaxGroups),
		met:     newMetricHistory(cfg.History),
		sess:    sessions{m: map[string]*userSession{}},
		stopped: make(chan struct{}),
	}
	if err := c.parseTemplates(); err != nil {
		return nil, err
	}
	if len(cfg.Kafka) > 0 {
		opts := append([]kgo.Opt{kgo.ClientID("gregor-console"), kgo.RetryTimeout(cfg.Timeout),
			kgo.MetadataMinAge(250 * time.Millisecond)}, cfg.Kafka...)
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			return nil, fmt.Errorf("console: %w", err)
		}
		c.cl, c.adm = cl, kadm.NewClient(cl)
	}
	c.routes()
	ctx, cancel := context.WithCancel(context.Background())
	c.stop = cancel
	go c.sample(ctx)
	if cfg.PerUser != nil {
		c.sweepDone = make(chan struct{})
		go func() { defer close(c.sweepDone); c.sweeper(ctx) }()
	}
	return c, nil
}

// Close stops the sampler and closes the Kafka client.
func (c *Console) Close() {
	c.closeOne.Do(func() {
		c.stop()
		<-c.stopped
		if c.sweepDone != nil {
			<-c.sweepDone
		}
		if c.cl != nil {
			c.cl.Close()
		}
	})
}

// ServeHTTP serves everything under Prefix.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "same-origin")
	if !strings.HasPrefix(r.URL.Path, Prefix+"static/") {
		var ok bool
		if r, ok = c.withIdentity(w, r); !ok {
			return
		}
	}
	c.mux.ServeHTTP(w, r)
}

func (c *Console) routes() {
	m := http.NewServeMux()
	static, _ := fs.Sub(assets, "assets/static")
	m.Handle("GET /console/static/", http.StripPrefix("/console/static/", http.FileServerFS(static)))
	m.HandleFunc("GET /console/{$}", c.clusterPage)
	m.HandleFunc("GET /console/topics", c.topicsPage)
	m.HandleFunc("POST /console/topics", c.createTopic)
	m.HandleFunc("GET /console/topics/{topic}", c.topicPage)
	m.HandleFunc("POST /console/topics/{topic}/configs", c.alterTopicConfig)
	m.HandleFunc("POST /console/topics/{topic}/partitions", c.addPartitions)
	m.HandleFunc("POST /console/topics/{topic}/delete", c.deleteTopic)
	m.HandleFunc("GET /console/messages", c.messagesPage)
	m.HandleFunc("GET /console/groups", c.groupsPage)
	m.HandleFunc("GET /console/groups/{group}", c.groupPage)
	m.HandleFunc("GET /console/groups/{group}/chart.json", c.groupChartJSON)
	m.HandleFunc("POST /console/groups/{group}/reset", c.resetOffsets)
	m.HandleFunc("GET /console/security", c.securityPage)
	m.HandleFunc("POST /console/security/acls", c.createACL)
	m.HandleFunc("POST /console/security/acls/delete", c.deleteACL)
	m.HandleFunc("POST /console/security/users", c.upsertUser)
	m.HandleFunc("POST /console/security/users/delete", c.deleteUser)
	m.HandleFunc("GET /console/metrics", c.metricsPage)
	m.HandleFunc("GET /console/metrics.json", c.metricsJSON)
	c.mux = m
}

// page is what every template gets: the layout's data and the page's own.
type page struct {
	Title    string
	Nav      string // the nav entry to highlight
	User     string
	CSRF     string
	Writable bool
	Flash    string // a write's outcome, carried in ?done=
	Error    string
	Data     any
}

func (c *Console) newPage(r *http.Request, title, nav string, data any) page {
	return page{
		Title:    title,
		Nav:      nav,
		User:     httpauth.User(r),
		CSRF:     httpauth.CSRFToken(r),
		Writable: c.writable(r),
		Flash:    r.URL.Query().Get("done"),
		Data:     data,
	}
}

// writable reports whether r may write: console.write.enable and a
// logged-in user (cmd/gregor allows the setting only with http.auth=login).
func (c *Console) writable(r *http.Request) bool {
	return c.cfg.WriteEnable && httpauth.User(r) != ""
}

// canWrite is the check every write handler makes first; it answers a
// refused write itself. The CSRF token was checked by internal/httpauth
// before the request got here.
func (c *Console) canWrite(w http.ResponseWriter, r *http.Request) bool {
	if !c.cfg.WriteEnable {
		http.Error(w, "the console is read-only: set console.write.enable=true (with http.auth=login) to allow changes", http.StatusForbidden)
		return false
	}
	if httpauth.User(r) == "" {
		http.Error(w, "writes need a login (http.auth=login)", http.StatusForbidden)
		return false
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form: "+err.Error(), http.StatusBadRequest)
		return false
	}
	return true
}

// done redirects after a successful write (post/redirect/get), carrying
// what was done for the next page to show.
func (c *Console) done(w http.ResponseWriter, r *http.Request, to, what string) {
	c.cfg.Logger.Info("console write", zap.String("user", httpauth.User(r)), zap.String("what", what))
	sep := "?"
	if strings.Contains(to, "?") {
		sep = "&"
	}
	http.Redirect(w, r, to+sep+"done="+url.QueryEscape(what), http.StatusSeeOther)
}

// failed renders a page that says what went wrong.
func (c *Console) failed(w http.ResponseWriter, r *http.Request, code int, err error) {
	p := c.newPage(r, "Error", "", nil)
	p.Error = err.Error()
	w.WriteHeader(code)
	c.render(w, r, "error", p, false)
}

// ctx bounds a page's Kafka requests. Its Metadata requests go to the
// broker rather than to the client's cache (kadm.WithAuthorizedOps), so a
// page shows a write at once.
func (c *Console) ctx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(kadm.WithAuthorizedOps(r.Context()), c.cfg.Timeout)
}
