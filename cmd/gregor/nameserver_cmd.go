package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gregor-broker/gregor/nameserver"
	"github.com/spf13/cobra"
	"go.uber.org/zap"
)

// nameServerListen is `gregor nameserver`'s address: every interface, on
// RocketMQ's port.
const nameServerListen = ":9876"

// newNameServerCommand is `gregor nameserver`: the route registry alone
// (RocketMQ's mqnamesrv). Brokers register with every NameServer; the
// NameServers never talk to each other and keep nothing on disk.
func newNameServerCommand() *cobra.Command {
	var (
		listen    string
		scan      time.Duration
		expiry    time.Duration
		lease     time.Duration
		logLevel  string
		logFormat string
	)
	cmd := &cobra.Command{
		Use:   "nameserver",
		Short: "Run a NameServer: the registry brokers register with and read routes from",
		Long: `Run a NameServer (RocketMQ's namesrv): an in-memory registry of broker groups,
their members and the topic partitions each group owns, filled by broker
heartbeats. It scans every --scan-interval and drops a broker silent for longer
than --expiry. The HTTP API (see the nameserver package) also serves /metrics
and /healthz:

  curl http://127.0.0.1:9876/v1/routes`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newLogger(Config{LogLevel: logLevel, LogFormat: logFormat})
			if err != nil {
				return err
			}
			defer func() { _ = log.Sync() }()
			return runNameServer(cmd.Context(), nameserver.Config{
				Listen: listen, ScanInterval: scan, BrokerExpiry: expiry, LeaseDuration: lease, Logger: log.Named("nameserver"),
			}, log)
		},
	}
	// The defaults are the package's (nameserver.Config.EnsureDefaults),
	// except the address: the command serves every interface on RocketMQ's
	// port, where the package's default is loopback.
	var d nameserver.Config
	d.EnsureDefaults()
	f := cmd.Flags()
	f.StringVar(&listen, "listen", nameServerListen, "host:port of the NameServer's HTTP API")
	f.DurationVar(&scan, "scan-interval", d.ScanInterval, "how often silent brokers are looked for")
	f.DurationVar(&expiry, "expiry", d.BrokerExpiry, "a broker silent this long is dropped")
	f.DurationVar(&lease, "lease-duration", d.LeaseDuration, "a master lease's length (fail-over: a killed master's group gets a new master about this long after its last renewal); a started NameServer grants none for this long")
	f.StringVar(&logLevel, "logger.level", defaultLogLevel, "debug, info, warn or error")
	f.StringVar(&logFormat, "logger.format", defaultLogFormat, "console or json")
	return cmd
}

// runNameServer serves until ctx ends or SIGINT / SIGTERM arrives.
func runNameServer(ctx context.Context, cfg nameserver.Config, log *zap.Logger) error {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv, err := nameserver.NewServer(cfg)
	if err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve() }()
	log.Info("NameServer serving", zap.Stringer("addr", srv.Addr()),
		zap.Duration("scan.interval", cfg.ScanInterval), zap.Duration("expiry", cfg.BrokerExpiry), zap.Duration("lease", cfg.LeaseDuration))
	select {
	case err := <-errc:
		return fmt.Errorf("nameserver: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}
