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

// newNameServerCommand is `gregor nameserver`: the route registry alone
// (RocketMQ's mqnamesrv). Brokers register with every NameServer; the
// NameServers never talk to each other and keep nothing on disk. Its flags
// are rows of the settings table (cmdNameServer), with the names the
// command has always had as aliases (flagAliases).
func newNameServerCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "nameserver",
		Short: "Run a NameServer: the registry brokers register with and read routes from",
		Long: `Run a NameServer (RocketMQ's namesrv): an in-memory registry of broker groups,
their members and the topic partitions each group owns, filled by broker
heartbeats. It scans every --scan-interval and drops a broker silent for longer
than --expiry. The HTTP API (see the nameserver package) also serves /metrics
and /healthz:

  curl http://127.0.0.1:9876/v1/routes

--listen, --scan-interval, --expiry and --lease-duration are other names of
the settings nameserver.listener, nameserver.scan.interval.ms,
nameserver.broker.expiry.ms and nameserver.lease.duration.ms (the intervals
take milliseconds or a duration such as 3s), which GREGOR_* / KAFKA_*
variables and the YAML file (--config) set as well, with the precedence of
gregor standalone. A file key that is a broker setting is ignored here.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, l, err := configFromCommand(cmd, cmdNameServer)
			if err != nil {
				return err
			}
			log, err := newLogger(cfg)
			if err != nil {
				return err
			}
			defer func() { _ = log.Sync() }()
			logLoadNotes(log, cfg, l)
			if err := nameServerTLS(&cfg, true, log); err != nil { // security_settings.go
				return err
			}
			ns := cfg.NameServer
			ns.Logger = log.Named("nameserver")
			return runNameServer(cmd.Context(), ns, log)
		},
	}
	addSettingFlags(cmd.Flags(), cmdNameServer)
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
