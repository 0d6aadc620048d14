// Command gregor is the gregor binary: a Kafka-protocol message broker built
// like MetaQ / Apache RocketMQ, and the tools to run and inspect it.
//
//	gregor                      same as gregor standalone
//	gregor standalone           a single-node broker, data in ./data, Kafka on localhost:9092
//	gregor nameserver           a NameServer (route registry) of a cluster
//	gregor broker               one broker of a cluster, registered with NameServers
//	gregor healthcheck          exit 0 when the local broker answers (compose HEALTHCHECK)
//	gregor topic  list|create|describe|delete|alter-config   (any Kafka address)
//	gregor group  list|describe|delete                       (any Kafka address)
//	gregor bench                load generator (internal/bench)
//	gregor version
//
// Configuration comes from a YAML file, GREGOR_* and KAFKA_* environment
// variables and flags, read through viper (settings.go); only this package
// touches viper. The process then runs on plain config structs.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	runAsTool() // started as kafka-topics.sh, nc … (kafkatools.go)
	if err := newRootCommand().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "gregor:", err)
		os.Exit(1)
	}
}

// newRootCommand builds the command tree. Running `gregor` with no
// subcommand runs standalone, so `go run ./cmd/gregor` starts a broker.
func newRootCommand() *cobra.Command {
	standalone := newStandaloneCommand()
	root := &cobra.Command{
		Use:   "gregor",
		Short: "A Kafka-protocol message broker built like MetaQ / RocketMQ",
		Long: `gregor speaks the Apache Kafka protocol, so Kafka clients, admin tools and kcat
work against it unchanged; inside, one commit log per broker and a consume queue
per partition, as in MetaQ and Apache RocketMQ.

Without a subcommand gregor runs standalone: one broker with its data in ./data
and Kafka on localhost:9092.`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE:          standalone.RunE,
	}
	// The root accepts standalone's flags so `gregor --data-dir x` works.
	root.Flags().AddFlagSet(standalone.Flags())
	root.AddCommand(
		standalone,
		newHealthcheckCommand(),
		newVersionCommand(),
		newTopicCommand(),
		newGroupCommand(),
		newBrokerCommand(),
		newNameServerCommand(),
		newClusterCommand(),
	)
	addExtraCommands(root)
	return root
}
