package bench

import (
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kfake"
)

// newKfakeCommand is the hidden `bench kfake`: franz-go's in-memory fake
// Kafka as a process of its own, the baseline the benchmarks compare with.
// With --blackhole it acknowledges produce without storing anything, which
// shows what the client alone (linger, batching, the loopback) costs.
func newKfakeCommand() *cobra.Command {
	var (
		listen     string
		blackhole  bool
		partitions int
	)
	cmd := &cobra.Command{
		Use:    "kfake",
		Short:  "Run franz-go's kfake cluster (one broker) until interrupted",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts := []kfake.Opt{
				kfake.NumBrokers(1),
				// kfake binds 127.0.0.1:<port>; listen where we were told.
				kfake.ListenFn(func(network, _ string) (net.Listener, error) {
					return net.Listen(network, listen)
				}),
				kfake.AllowAutoTopicCreation(),
				kfake.DefaultNumPartitions(partitions),
			}
			if blackhole {
				opts = append(opts, kfake.BlackholeProduce())
			}
			c, err := kfake.NewCluster(opts...)
			if err != nil {
				return err
			}
			defer c.Close()
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			fmt.Fprintf(cmd.OutOrStdout(), "kfake listening on %v (pid %d)\n", c.ListenAddrs(), os.Getpid())
			<-ctx.Done()
			return nil
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:9097", "address to listen on")
	cmd.Flags().BoolVar(&blackhole, "blackhole", false, "acknowledge produce without storing the records")
	cmd.Flags().IntVar(&partitions, "partitions", 16, "partitions of auto-created topics")
	return cmd
}
