package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/gregor-broker/gregor/broker"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// shutdownTimeout bounds a clean shutdown: in-flight requests answered,
// store flushed and closed. A second signal exits at once.
const shutdownTimeout = 30 * time.Second

func newStandaloneCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "standalone",
		Short: "Run a single-node gregor: one broker, data in ./data, Kafka on localhost:9092",
		Long: `Run a single-node gregor: one master broker in this process, its data in ./data
(--data-dir), Kafka on localhost:9092 (--listeners), /metrics, /healthz and /readyz
on 127.0.0.1:8080 (--http.listener).

Every setting has a flag named as its Kafka property (--num.partitions 3), a
GREGOR_* and a KAFKA_* environment variable (KAFKA_NUM_PARTITIONS=3, the
apache/kafka image's names) and a key in the YAML file given by --config.
Precedence: flag, GREGOR_*, KAFKA_*, file, default.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, l, err := configFromCommand(cmd, cmdStandalone)
			if err != nil {
				return err
			}
			log, err := newLogger(cfg)
			if err != nil {
				return err
			}
			defer func() { _ = log.Sync() }()
			logLoadNotes(log, cfg, l)
			return runStandalone(cmd.Context(), cfg, log, nil)
		},
	}
	addSettingFlags(cmd.Flags(), cmdStandalone)
	return cmd
}

// configFromCommand reads every configuration source of cmd, which is the
// command c, over c's defaults (defaultsFor).
func configFromCommand(cmd *cobra.Command, c command) (Config, *loaded, error) {
	l, err := load(cmd.Flags(), os.Environ(), c)
	if err != nil {
		return Config{}, nil, err
	}
	cfg, err := parseConfigOver(defaultsFor(c), l)
	if err != nil {
		return Config{}, nil, fmt.Errorf("configuration:\n  %s", strings.ReplaceAll(err.Error(), "\n", "\n  "))
	}
	return cfg, l, nil
}

// processLevel is the level of the logger newLogger builds; the broker
// changes it when a client alters the BROKER_LOGGER resource.
var processLevel = zap.NewAtomicLevel()

// newLogger builds the process logger: JSON or console on stderr.
func newLogger(cfg Config) (*zap.Logger, error) {
	level, err := zapcore.ParseLevel(cfg.LogLevel)
	if err != nil {
		return nil, err
	}
	processLevel.SetLevel(level)
	zc := zap.NewProductionConfig()
	zc.Level = processLevel
	zc.Sampling = nil
	zc.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	zc.Encoding = cfg.LogFormat
	if cfg.LogFormat == "console" {
		zc.EncoderConfig.EncodeLevel = zapcore.CapitalLevelEncoder
	}
	return zc.Build()
}

// logLoadNotes logs what the configuration sources said besides settings.
func logLoadNotes(log *zap.Logger, cfg Config, l *loaded) {
	given := make([]string, 0, len(l.values))
	for _, k := range sortedKeys(l.values) {
		given = append(given, fmt.Sprintf("%s=%s (%s)", k, l.values[k], l.src.of(k)))
	}
	log.Info("settings given (everything else is the default)", zap.Strings("settings", given))
	for _, s := range l.ignored {
		log.Info("ignoring a Kafka setting that means nothing to gregor", zap.String("setting", s))
	}
	if len(l.elsewhere) > 0 {
		log.Info("ignoring settings of other gregor commands", zap.Strings("settings", l.elsewhere))
	}
	for _, s := range l.unknown {
		log.Warn("ignoring an environment variable that names no gregor setting", zap.String("variable", s))
	}
	for _, n := range cfg.SkippedListeners {
		log.Info("skipping a controller listener: gregor has no KRaft controller", zap.String("listener", n))
	}
}

// runStandalone runs the single-node system until ctx ends or SIGINT /
// SIGTERM arrives, then shuts it down cleanly. serving, when not nil, is
// told the bound Kafka and HTTP addresses once the broker serves (ports
// chosen by the kernel are known only then).
//
// Seam for the cluster issue: standalone = NameServer + broker in one
// process. `gregor nameserver` will run only the first part and `gregor
// broker` only the second (startBroker, pointed at NameServers); the parts
// start in order and stop in reverse, so splitting them is moving a block.
func runStandalone(ctx context.Context, cfg Config, log *zap.Logger, serving func(kafka []net.Addr, http string)) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	// After the first signal, even one during a long store recovery, a
	// second one kills the process the default way.
	go func() { <-ctx.Done(); stop() }()

	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)

	// The HTTP server comes first so /healthz answers and /readyz says "not
	// ready" while the store recovers.
	hs, err := startHTTP(cfg, reg, func() bool { return false }, log)
	if err != nil {
		return err
	}
	defer hs.shutdown(log)

	// Part 1, the NameServer: with no NameServers configured (cfg.Cluster)
	// the broker registers with an in-process registry through the same
	// interface (broker/cluster.go); `gregor nameserver` runs one alone.

	// Part 2, the broker. `gregor broker` runs this part pointed at
	// NameServers (broker_cmd.go).
	if cfg.Cluster.HTTPAddr == "" {
		cfg.Cluster.HTTPAddr = httpAdvertised(hs.addr(), cfg)
	}
	cfg.Cluster.HTTPTLS = hs.clientTLS // the members' HTTP ports speak TLS too (http.go)
	nb, err := startBroker(cfg, reg, log)
	if err != nil {
		return err
	}
	hs.setAdmin(nb.AdminHandler())
	hs.setLogin(nb.CheckLogin)
	if ctx.Err() != nil {
		log.Info("signal during start-up")
	}
	hs.setBroker(nb.Ready)
	stopConsole := startConsole(cfg, hs, nb, reg, log) // console_settings.go
	addrs := make([]string, 0, len(cfg.Listeners))
	for _, a := range nb.Addrs() {
		addrs = append(addrs, a.String())
	}
	log.Info("gregor is serving Kafka",
		zap.String("version", version),
		zap.Int32("node.id", cfg.NodeID),
		zap.Strings("listeners", addrs),
		zap.Any("advertised", advertised(cfg)),
		zap.String("data.dir", cfg.DataDir),
		zap.String("http.listener", hs.addr()),
	)

	if serving != nil {
		serving(nb.Addrs(), hs.addr())
	}

	<-ctx.Done()
	log.Info("shutting down", zap.Duration("timeout", shutdownTimeout))
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	stopConsole()
	if err := nb.Shutdown(sctx); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("broker shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}

// startBroker opens the store and serves the Kafka listeners.
func startBroker(cfg Config, reg prometheus.Registerer, log *zap.Logger) (*broker.Broker, error) {
	if err := nameServerTLS(&cfg, false, log); err != nil { // security_settings.go
		return nil, err
	}
	bc := cfg.brokerConfig()
	bc.Registerer = reg
	bc.Logger = log.Named("broker")
	bc.LogLevel = &processLevel
	b, err := broker.New(bc)
	if err != nil {
		return nil, err
	}
	if err := b.Start(); err != nil {
		_ = b.Shutdown(context.Background())
		return nil, err
	}
	return b, nil
}

// httpAdvertised is the HTTP address other members of the group reach
// this broker's /cluster/ endpoints at: the bound one, with the first
// Kafka listener's advertised host for the any-address.
func httpAdvertised(bound string, cfg Config) string {
	h, p, err := net.SplitHostPort(bound)
	if err != nil || bound == "" {
		return bound
	}
	if ip := net.ParseIP(h); h == "" || (ip != nil && ip.IsUnspecified()) {
		if len(cfg.Listeners) > 0 {
			if ah, _, err := net.SplitHostPort(cfg.Listeners[0].Advertised); err == nil && ah != "" {
				return net.JoinHostPort(ah, p)
			}
		}
		return net.JoinHostPort("127.0.0.1", p)
	}
	return bound
}

func advertised(cfg Config) map[string]string {
	m := make(map[string]string, len(cfg.Listeners))
	for _, l := range cfg.Listeners {
		m[l.Name] = l.Advertised
	}
	return m
}
