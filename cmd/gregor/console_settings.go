package main

// The web console's settings (package console, served under /console/ on
// http.listener) and its start beside the broker. Rows are appended to the
// settings table at init, as limits_settings.go does.

import (
	"fmt"
	"io"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gregor-broker/gregor/broker"
	"github.com/gregor-broker/gregor/broker/security"
	"github.com/gregor-broker/gregor/console"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	"go.uber.org/zap"
)

// ConsoleSettings are the console.* settings.
type ConsoleSettings struct {
	// Off is console.enable=false.
	Off bool
	// Write is console.write.enable; only with http.auth=login.
	Write bool
	// ClientConfig is console.client.config: a Kafka client properties
	// file (as --command-config) for the console's own connection to the
	// broker, when its listener needs SASL/TLS or ACLs deny the anonymous
	// user; only with http.auth=login.
	ClientConfig string
	// Sample is console.sample.interval.ms (0: the console's default).
	Sample time.Duration
	// Identity is console.identity: "console" or "" (one identity for every
	// login: console.client.config or the anonymous PLAINTEXT user) or
	// "login" (each HTTP login talks to Kafka as itself over SASL).
	Identity string
}

const defaultConsoleSampleMs = 10000

var consoleSettings = []setting{
	{key: "console.enable", kind: kindBool, usage: "serve the web console under /console/ on http.listener (read-only unless console.write.enable)", def: func(*Config) string { return "true" }},
	{key: "console.write.enable", kind: kindBool, usage: "let the console create, alter and delete topics, reset group offsets and change ACLs and SCRAM users; needs http.auth=login (every write by a logged-in user, CSRF-protected)", def: func(*Config) string { return "false" }},
	{key: "console.client.config", kind: kindString, usage: "Kafka client properties file (like --command-config) the console connects to this broker with, e.g. SASL credentials of a super user; needs http.auth=login. Without it the console uses the first PLAINTEXT listener as the anonymous user"},
	{key: "console.identity", kind: kindString, usage: "who the console talks to Kafka as: console (one identity for every login, console.client.config or else the anonymous PLAINTEXT user) or login (each user logged in to http.listener talks to Kafka as themself over a SASL_PLAINTEXT or SASL_SSL listener of this broker, with the password given at login, so Kafka's ACLs decide what each sees and may change; needs http.auth=login and SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN in sasl.enabled.mechanisms)", def: func(*Config) string { return "console" }},
	{key: "console.sample.interval.ms", kind: kindInt, usage: "how often the console samples group lag and the broker's metrics for its charts (the last 360 samples stay in memory)", def: func(*Config) string { return strconv.Itoa(defaultConsoleSampleMs) }},
}

func init() { settings = append(settings, consoleSettings...) }

// console reads the console.* settings into c; it runs after
// security (http.auth).
func (p *parser) console(c *Config) {
	if b, ok := p.bool("console.enable"); ok {
		c.Console.Off = !b
	}
	if b, ok := p.bool("console.write.enable"); ok {
		c.Console.Write = b
	}
	if v, ok := p.str("console.client.config"); ok {
		c.Console.ClientConfig = strings.TrimSpace(v)
	}
	if d, ok := p.ms("console.sample.interval.ms", 10, math.MaxInt32); ok {
		c.Console.Sample = d
	}
	if v, ok := p.str("console.identity"); ok {
		switch v = strings.ToLower(strings.TrimSpace(v)); v {
		case "console", "login":
			c.Console.Identity = v
		default:
			p.fail("console.identity", "%q is neither console nor login", v)
		}
	}
	if c.Console.Identity == "login" {
		if c.HTTPAuth != "login" {
			p.fail("console.identity", "login needs http.auth=login: the console acts as the user who logged in to http.listener")
		} else if _, ok := consoleSASLListener(c); !ok {
			p.fail("console.identity", "login needs a SASL_PLAINTEXT or SASL_SSL listener for the console to log in to Kafka as each user")
		} else if len(consoleMechanisms(c)) == 0 {
			p.fail("console.identity", "login needs SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN in sasl.enabled.mechanisms")
		}
	}
	if c.Console.Write && c.HTTPAuth != "login" {
		p.fail("console.write.enable", "needs http.auth=login: every write the console makes must be made by a logged-in user")
	}
	if c.Console.ClientConfig != "" && c.HTTPAuth != "login" {
		p.fail("console.client.config", "needs http.auth=login: the console would otherwise lend its credentials to anyone reaching http.listener")
	}
}

// startConsole serves the console on hs once the broker runs; the
// returned function stops it (before the broker shuts down).
func startConsole(cfg Config, hs *httpServer, nb *broker.Broker, reg prometheus.Gatherer, log *zap.Logger) func() {
	if cfg.Console.Off || hs.addr() == "" {
		return func() {}
	}
	// The cluster page reads the NameServers as the broker does: over
	// TLS with nameserver.ssl.enable (startBroker built its own copy).
	if err := nameServerTLS(&cfg, false, log); err != nil {
		log.Warn("web console not started", zap.Error(err))
		return func() {}
	}
	opts, err := consoleKafka(cfg, nb.Addrs(), log)
	var perUser func(user, password string) [][]kgo.Opt
	if cfg.Console.Identity == "login" {
		// The console's own identity only samples lag; without one
		// there is no lag history.
		if err != nil {
			log.Info("web console: no lag history (no identity of its own to sample with)", zap.Error(err))
			opts = nil
		}
		if perUser, err = consolePerUser(cfg, nb.Addrs()); err != nil {
			log.Warn("web console not started", zap.Error(err))
			return func() {}
		}
	} else if err != nil {
		log.Warn("web console not started", zap.Error(err))
		return func() {}
	}
	c, err := console.New(console.Config{
		PerUser:        perUser,
		Kafka:          opts,
		NameServers:    cfg.Cluster.NameServers,
		ClusterSecret:  cfg.Cluster.Secret,
		NameServerTLS:  cfg.Cluster.NameServerTLS,
		Admin:          nb.AdminHandler(),
		Gatherer:       reg,
		WriteEnable:    cfg.Console.Write,
		SampleInterval: cfg.Console.Sample,
		Logger:         log.Named("console"),
	})
	if err != nil {
		log.Warn("web console not started", zap.Error(err))
		return func() {}
	}
	hs.setConsole(c)
	if perUser != nil {
		hs.setSessions(c)
	}
	log.Info("web console serving", zap.String("url", "http://"+hs.addr()+console.Prefix), zap.Bool("write", cfg.Console.Write),
		zap.Bool("per-user", perUser != nil))
	return c.Close
}

// consoleKafka are the console's client options: its client config file's,
// against the first listener, or else the first PLAINTEXT listener.
func consoleKafka(cfg Config, addrs []net.Addr, log *zap.Logger) ([]kgo.Opt, error) {
	dial := func(a net.Addr) string {
		host, port, _ := net.SplitHostPort(a.String())
		if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
			host = "127.0.0.1"
		}
		return net.JoinHostPort(host, port)
	}
	if cfg.Console.ClientConfig != "" {
		opts, err := commandConfigOpts(cfg.Console.ClientConfig, io.Discard)
		if err != nil {
			return nil, fmt.Errorf("console.client.config: %w", err)
		}
		if len(addrs) == 0 {
			return nil, fmt.Errorf("no Kafka listener")
		}
		return append([]kgo.Opt{kgo.SeedBrokers(dial(addrs[0]))}, opts...), nil
	}
	for i, l := range cfg.Listeners {
		if (l.Protocol == "" || l.Protocol == broker.ProtoPlaintext) && i < len(addrs) {
			return []kgo.Opt{kgo.SeedBrokers(dial(addrs[i]))}, nil
		}
	}
	return nil, fmt.Errorf("no PLAINTEXT listener to connect to: set console.client.config (with http.auth=login)")
}

// consoleSASLListener is the listener the console logs in to as each user
// (console.identity=login): the first SASL_PLAINTEXT one, else the first
// SASL_SSL one.
func consoleSASLListener(c *Config) (int, bool) {
	for _, proto := range []string{broker.ProtoSASLPlaintext, broker.ProtoSASLSSL} {
		for i, l := range c.Listeners {
			if l.Protocol == proto {
				return i, true
			}
		}
	}
	return 0, false
}

// consoleMechanisms are the SASL mechanisms the console tries, in turn,
// for a user's login: the SCRAM ones first (the password never crosses the
// wire), then PLAIN.
func consoleMechanisms(c *Config) []string {
	var out []string
	for _, m := range []string{security.ScramSHA512, security.ScramSHA256, "PLAIN"} {
		if slices.Contains(c.Security.SASLMechanisms, m) {
			out = append(out, m)
		}
	}
	return out
}

// consolePerUser returns the console's per-user client options: a user's
// password with each mechanism against the SASL listener.
func consolePerUser(cfg Config, addrs []net.Addr) (func(user, password string) [][]kgo.Opt, error) {
	i, ok := consoleSASLListener(&cfg)
	if !ok || i >= len(addrs) {
		return nil, fmt.Errorf("console.identity=login: no SASL listener")
	}
	host, port, _ := net.SplitHostPort(addrs[i].String())
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	base := []kgo.Opt{kgo.SeedBrokers(net.JoinHostPort(host, port))}
	if cfg.Listeners[i].Protocol == broker.ProtoSASLSSL {
		r, err := security.NewReloader(cfg.Security.TLS, func(error) {})
		if err != nil {
			return nil, fmt.Errorf("console.identity=login: the SASL_SSL listener's TLS: %w", err)
		}
		base = append(base, kgo.DialTLSConfig(r.ClientConfig()))
	}
	mechs := consoleMechanisms(&cfg)
	return func(user, password string) [][]kgo.Opt {
		var out [][]kgo.Opt
		for _, m := range mechs {
			var mech sasl.Mechanism
			switch m {
			case security.ScramSHA512:
				mech = scram.Auth{User: user, Pass: password}.AsSha512Mechanism()
			case security.ScramSHA256:
				mech = scram.Auth{User: user, Pass: password}.AsSha256Mechanism()
			default:
				mech = plain.Auth{User: user, Pass: password}.AsMechanism()
			}
			out = append(out, append(slices.Clip(base), kgo.SASL(mech)))
		}
		return out
	}, nil
}
