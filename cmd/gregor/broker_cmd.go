package main

import (
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// newBrokerCommand is `gregor broker`: one broker of a cluster, registered
// with NameServers. It is the standalone process (runStandalone) with the
// cluster settings filled in; standalone is this with an in-process
// NameServer.
func newBrokerCommand() *cobra.Command {
	var (
		clusterName string
		brokerName  string
		brokerID    int64
		nodeID      int32
		nameservers string
		register    time.Duration
		refresh     time.Duration
	)
	cmd := &cobra.Command{
		Use:   "broker",
		Short: "Run one broker of a cluster, registered with NameServers",
		Long: `Run one broker of a gregor cluster:

  gregor broker --cluster C --broker-name broker-a --broker-id 0 --node-id 1 \
      --nameservers ns1:9876,ns2:9876 --listeners PLAINTEXT://:9092 --data-dir ./data-a

A broker group is one --broker-name: its master has --broker-id 0. --node-id is
the cluster-unique Kafka node id. The broker registers with every NameServer
every --register-interval and at once on any change, reads the route table every
--route-refresh-interval, and answers Metadata for the whole cluster. Every
standalone setting (flags, GREGOR_*, KAFKA_*, YAML) applies as well.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, l, err := configFromCommand(cmd)
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("node-id") {
				cfg.NodeID = nodeID
			}
			cfg.Cluster.Name = clusterName
			cfg.Cluster.BrokerName = brokerName
			cfg.Cluster.BrokerID = brokerID
			cfg.Cluster.RegisterInterval = register
			cfg.Cluster.RouteRefreshInterval = refresh
			for _, a := range strings.Split(nameservers, ",") {
				if a = strings.TrimSpace(a); a != "" {
					cfg.Cluster.NameServers = append(cfg.Cluster.NameServers, a)
				}
			}
			if err := cfg.Cluster.Validate(cfg.NodeID); err != nil {
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
	addSettingFlags(cmd.Flags())
	f := cmd.Flags()
	f.StringVar(&clusterName, "cluster", "DefaultCluster", "cluster name")
	f.StringVar(&brokerName, "broker-name", "", "broker group name (default broker-<node id>)")
	f.Int64Var(&brokerID, "broker-id", 0, "id in the broker group: 0 = master")
	f.Int32Var(&nodeID, "node-id", 1, "cluster-unique Kafka node id (same as --node.id)")
	f.StringVar(&nameservers, "nameservers", "127.0.0.1:9876", "NameServers, host:port,… (every one is registered with)")
	f.DurationVar(&register, "register-interval", 30*time.Second, "heartbeat period to the NameServers")
	f.DurationVar(&refresh, "route-refresh-interval", 30*time.Second, "how often the route table is read from the NameServers")
	return cmd
}
