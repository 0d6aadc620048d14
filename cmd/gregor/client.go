package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gregor-broker/gregor/internal/clientprops"
	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// clientFlags are the flags every client subcommand (topic, group) shares.
type clientFlags struct {
	bootstrap     string
	commandConfig string
	timeout       time.Duration
	json          bool
}

// addClientFlags registers the shared flags on a parent command.
func addClientFlags(cmd *cobra.Command, f *clientFlags) {
	def := os.Getenv("GREGOR_BOOTSTRAP_SERVER")
	if def == "" {
		def = defaultKafkaAddr()
	}
	cmd.PersistentFlags().StringVarP(&f.bootstrap, "bootstrap-server", "b", def, "Kafka address(es), comma-separated (also GREGOR_BOOTSTRAP_SERVER)")
	cmd.PersistentFlags().StringVar(&f.commandConfig, "command-config", os.Getenv("GREGOR_COMMAND_CONFIG"), "Kafka client properties file with the TLS and SASL settings (security.protocol, sasl.mechanism, sasl.jaas.config, ssl.truststore.location …), as Kafka's tools take it (also GREGOR_COMMAND_CONFIG)")
	cmd.PersistentFlags().DurationVar(&f.timeout, "timeout", 30*time.Second, "give up after this long")
	cmd.PersistentFlags().BoolVar(&f.json, "json", false, "print JSON instead of a table")
}

// admin connects a kadm client to the bootstrap servers and returns it with
// a context bounded by --timeout; call the returned func when done.
func (f *clientFlags) admin(ctx context.Context) (*kadm.Client, context.Context, func(), error) {
	var seeds []string
	for _, s := range strings.Split(f.bootstrap, ",") {
		if s = strings.TrimSpace(s); s != "" {
			seeds = append(seeds, s)
		}
	}
	if len(seeds) == 0 {
		return nil, nil, nil, fmt.Errorf("--bootstrap-server is empty")
	}
	opts, err := commandConfigOpts(f.commandConfig, os.Stderr)
	if err != nil {
		return nil, nil, nil, err
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(seeds...), kgo.ClientID("gregor-cli")}, opts...)...)
	if err != nil {
		return nil, nil, nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	return kadm.NewClient(cl), ctx, func() { cancel(); cl.Close() }, nil
}

// commandConfigOpts reads a --command-config file (internal/clientprops)
// into client options; the keys it ignores are named on warn, as Kafka's
// tools warn of them. No file: no options.
func commandConfigOpts(path string, warn io.Writer) ([]kgo.Opt, error) {
	if path == "" {
		return nil, nil
	}
	opts, ignored, err := clientprops.Load(path)
	if err != nil {
		return nil, err
	}
	for _, k := range ignored {
		fmt.Fprintf(warn, "warning: %s: the configuration %s was supplied but means nothing to gregor's client; ignored\n", path, k)
	}
	return opts, nil
}

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table writes rows as aligned columns; the first row is the header.
func table(w io.Writer, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// errText is an error as a table cell or JSON string; "" for nil.
func errText(err error, msg string) string {
	if err == nil {
		return ""
	}
	if msg != "" {
		return err.Error() + ": " + msg
	}
	return err.Error()
}

// joinInts renders a replica list as "1,2,3".
func joinInts(ns []int32) string {
	parts := make([]string, len(ns))
	for i, n := range ns {
		parts[i] = fmt.Sprint(n)
	}
	return strings.Join(parts, ",")
}

// failures turns per-item errors into one command error, so a partly
// failed command exits non-zero after printing what it did.
func failures(what string, n int) error {
	if n == 0 {
		return nil
	}
	return fmt.Errorf("%d %s failed", n, what)
}

// topicID renders a topic id as Kafka tools do (Uuid.toString: URL-safe
// base64 without padding, 22 characters).
func topicID(id kadm.TopicID) string {
	return base64.RawURLEncoding.EncodeToString(id[:])
}
