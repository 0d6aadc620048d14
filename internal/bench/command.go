package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/gregor-broker/gregor/internal/clientprops"

	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// NewCommand is `gregor bench` with its subcommands produce, consume and e2e
// (and the hidden kfake helper).
func NewCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Load-test any Kafka-protocol broker: produce, consume, end-to-end latency",
		Long: `bench drives a Kafka-protocol broker (gregor, Apache Kafka, kfake) with franz-go
clients and reports records/s, MB/s (MB = 2^20 bytes, record values only),
latency percentiles and errors. A progress line goes to stderr each second; the
summary goes to stdout, as JSON with --json. The exit status is 1 when any
record failed or got lost.`,
	}
	cmd.AddCommand(
		newModeCommand(ModeProduce, "Produce records as fast as acknowledged, or at --rate",
			"gregor bench produce --brokers 127.0.0.1:9092 --partitions 16 --record-size 1024 --acks all --linger 1ms --duration 15s"),
		newModeCommand(ModeConsume, "Read a topic from its start to its current end (optionally preloading it)",
			"gregor bench consume --brokers 127.0.0.1:9092 --topic t --preload 2000000"),
		newModeCommand(ModeE2E, "Producer-to-consumer latency at a fixed --rate",
			"gregor bench e2e --brokers 127.0.0.1:9092 --rate 20000 --duration 15s --warmup 2s"),
		newKfakeCommand(),
	)
	return cmd
}

func newModeCommand(mode Mode, short, example string) *cobra.Command {
	var (
		cfg      = Config{Mode: mode}
		jsonOut  bool
		quiet    bool
		logLevel string
		cpuProf  string
		// commandConfig is --command-config (internal/clientprops).
		commandConfig string
	)
	cmd := &cobra.Command{
		Use:     string(mode),
		Short:   short,
		Example: "  " + example,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if commandConfig != "" {
				opts, ignored, err := clientprops.Load(commandConfig)
				if err != nil {
					return err
				}
				for _, k := range ignored {
					fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s: the configuration %s was supplied but means nothing to gregor's client; ignored\n", commandConfig, k)
				}
				cfg.Security = opts
			}
			if cfg.Records > 0 && !cmd.Flags().Changed("duration") {
				cfg.Duration = 0 // --records alone runs until that many records
			}
			log, err := newLogger(logLevel)
			if err != nil {
				return err
			}
			defer func() { _ = log.Sync() }()
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if cpuProf != "" {
				f, err := os.Create(cpuProf)
				if err != nil {
					return err
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return err
				}
				defer pprof.StopCPUProfile()
			}
			progress := cmd.ErrOrStderr()
			if quiet {
				progress = nil
			}
			sum, err := Run(ctx, cfg, log, progress)
			if err != nil {
				return err
			}
			if jsonOut {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				if err := enc.Encode(sum); err != nil {
					return err
				}
			} else {
				sum.WriteText(cmd.OutOrStdout())
			}
			if sum.Errors > 0 || sum.Lost > 0 {
				cmd.SilenceUsage = true
				return fmt.Errorf("%d records failed and %d got lost (first error: %s)", sum.Errors, sum.Lost, sum.FirstError)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&cfg.Brokers, "brokers", []string{"127.0.0.1:9092"}, "seed broker addresses, host:port, comma separated")
	f.StringVar(&commandConfig, "command-config", os.Getenv("GREGOR_COMMAND_CONFIG"), "Kafka client properties file with the TLS and SASL settings (security.protocol, sasl.mechanism, sasl.jaas.config, ssl.truststore.location …); also GREGOR_COMMAND_CONFIG")
	f.StringVar(&cfg.Topic, "topic", "gregor-bench", "topic to use")
	f.IntVar(&cfg.Topics, "topics", 1, "produce: write to this many topics, <topic>-0 … <topic>-(N-1), each with --partitions partitions, records sent to them in turn")
	f.Int32Var(&cfg.Partitions, "partitions", 16, "partitions of the topic when it is created")
	f.Int16Var(&cfg.ReplicationFactor, "replication-factor", 1, "replication factor of the topic when it is created")
	f.BoolVar(&cfg.Create, "create", true, "create the topic when it does not exist")
	f.BoolVar(&cfg.Delete, "delete", false, "delete the topic when the run ends")
	f.IntVar(&cfg.Consumers, "consumers", 1, "number of consumer clients (partition p is read by client p mod N)")
	f.Int32Var(&cfg.FetchMaxBytes, "fetch-max-bytes", 50<<20, "largest fetch response a consumer asks for")
	f.StringVar(&cfg.ClientID, "client-id", "gregor-bench", "client.id of every client")
	f.IntVar(&cfg.BrokerPID, "broker-pid", 0, "a local broker process whose resident memory (VmRSS) to sample and report")
	f.IntSliceVar(&cfg.ReplicaPIDs, "replica-pid", nil, "more local broker processes (a group's slaves) whose CPU time counts as broker CPU with --broker-pid's; repeat or comma-separate")
	f.BoolVar(&jsonOut, "json", false, "print the summary as JSON")
	f.BoolVarP(&quiet, "quiet", "q", false, "no progress lines")
	f.StringVar(&logLevel, "log-level", "warn", "client log level: debug, info, warn, error")
	f.StringVar(&cpuProf, "cpuprofile", "", "write the client's own CPU profile to this file")
	f.DurationVar(&cfg.Warmup, "warmup", 0, "run this long before measuring")

	dur := 10 * time.Second
	if mode == ModeConsume {
		dur = 0
	}
	f.DurationVar(&cfg.Duration, "duration", dur, "measure this long (0: until --records, or for consume the end of the topic; --records alone ignores the default)")
	f.Int64Var(&cfg.Records, "records", 0, "records to produce, or for consume to read (0: no limit)")

	if mode == ModeConsume {
		f.Int64Var(&cfg.Preload, "preload", 0, "produce this many records (unthrottled) before reading")
		f.BoolVar(&cfg.ReadCommitted, "read-committed", false, "read with isolation.level read_committed")
		f.IntVar(&cfg.Fanout, "fanout", 1, "independent readers of the whole topic (as that many consumer groups), each --consumers clients: every record is read this many times")
	}
	// Producer flags; consume uses them for --preload.
	f.IntVar(&cfg.RecordSize, "record-size", 1024, "bytes in each record value")
	rate := 0.0
	if mode == ModeE2E {
		rate = 1000
	}
	if mode != ModeConsume {
		f.Float64Var(&cfg.Rate, "rate", rate, "target records/s over all producers (0: unthrottled)")
	}
	f.StringVar(&cfg.Acks, "acks", "all", "required acks: all, 1 or 0")
	f.BoolVar(&cfg.Idempotent, "idempotent", true, "idempotent producer (acks=all only)")
	f.DurationVar(&cfg.Linger, "linger", 5*time.Millisecond, "how long a batch waits for more records (Kafka 4's linger.ms default is 5ms)")
	f.Int32Var(&cfg.BatchMaxBytes, "batch-max-bytes", 1<<20, "largest record batch (batch.size)")
	f.IntVar(&cfg.MaxBuffered, "max-buffered", 50000, "records a producer client holds unacknowledged before Produce blocks")
	f.IntVar(&cfg.TxnRecords, "transaction-records", 0, "commit a transaction every N records per producer (0: no transactions)")
	f.IntVar(&cfg.MaxInflight, "max-inflight", 0, "produce requests in flight per broker and client (0: franz-go's default, 5 with idempotence)")
	f.StringVar(&cfg.Compression, "compression", "none", "none, gzip, snappy, lz4 or zstd")
	f.IntVar(&cfg.Producers, "producers", 1, "number of producer clients")
	f.StringVar((*string)(&cfg.Keys), "keys", string(KeysNone), "record keys: none, random or sequential")
	f.StringVar(&cfg.Partitioner, "partitioner", "sticky", "sticky (franz-go's default: by key hash, unkeyed records batch per partition) or round-robin (each record to the next partition, keys ignored)")
	f.Uint64Var(&cfg.KeySpace, "key-space", 0, "sequential keys wrap at this many (0: never), to overwrite the same keys (compacted topics)")
	if mode == ModeE2E {
		f.DurationVar(&cfg.Drain, "drain", 10*time.Second, "how long to wait for records still in flight after the last send")
	}
	return cmd
}

// newLogger is the client-side logger, to stderr.
func newLogger(level string) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("log level %q: %w", level, err)
	}
	zc := zap.NewProductionConfig()
	zc.Level = zap.NewAtomicLevelAt(lvl)
	zc.Encoding = "console"
	zc.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	zc.OutputPaths = []string{"stderr"}
	zc.Sampling = nil
	return zc.Build()
}
