package main

import (
	"github.com/spf13/cobra"
)

// newBrokerCommand is `gregor broker`: one broker of a cluster, registered
// with NameServers. It is the standalone process (runStandalone) over
// brokerDefaultConfig (a NameServer on this host, the replication
// listener on RocketMQ's HA port); standalone is the same with an
// in-process NameServer. Its flags are rows of the settings table, with
// aliases RocketMQ users know (flagAliases).
func newBrokerCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "broker",
		Short: "Run one broker of a cluster, registered with NameServers",
		Long: `Run one broker of a gregor cluster:

  gregor broker --cluster C --broker-name broker-a --broker-id 0 --node-id 1 \
      --nameservers ns1:9876,ns2:9876 --listeners PLAINTEXT://:9092 --data-dir ./data-a

A broker group is one --broker-name: its master has --broker-id 0. --node-id is
the cluster-unique Kafka node id. The broker registers with every NameServer
every --register-interval and at once on any change, reads the route table every
--route-refresh-interval, and answers Metadata for the whole cluster. These
flags are other names of the settings nameservers, broker.cluster.name,
broker.name, broker.member.id, node.id, nameserver.register.interval.ms and
nameserver.poll.interval.ms (the intervals take milliseconds or a duration
such as 3s), which GREGOR_* / KAFKA_* variables and the YAML file set as
well; every standalone setting applies.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, l, err := configFromCommand(cmd, cmdBroker)
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
	addSettingFlags(cmd.Flags(), cmdBroker)
	return cmd
}
