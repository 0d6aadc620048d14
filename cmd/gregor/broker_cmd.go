package main

import (
	"time"

	"github.com/gregor-broker/gregor/broker"
	"github.com/spf13/cobra"
)

// defaultNameServer is where `gregor broker` registers when no NameServer
// is named (RocketMQ's port on this host).
const defaultNameServer = "127.0.0.1:9876"

// newBrokerCommand is `gregor broker`: one broker of a cluster, registered
// with NameServers. It is the standalone process (runStandalone) with the
// cluster settings filled in; standalone is the same with an in-process
// NameServer.
func newBrokerCommand() *cobra.Command {
	var (
		clusterName string
		brokerName  string
		brokerID    int64
		nodeID      int32
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
--route-refresh-interval, and answers Metadata for the whole cluster. The same
settings have property names (nameservers, broker.cluster.name, broker.name,
broker.member.id, nameserver.register.interval.ms, nameserver.poll.interval.ms)
for GREGOR_* / KAFKA_* variables and the YAML file; every standalone setting
applies as well.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, l, err := configFromCommand(cmd)
			if err != nil {
				return err
			}
			f := cmd.Flags()
			if f.Changed("node-id") {
				cfg.NodeID = nodeID
			}
			if f.Changed("cluster") {
				cfg.Cluster.Name = clusterName
			}
			if f.Changed("broker-name") {
				cfg.Cluster.BrokerName = brokerName
			}
			if f.Changed("broker-id") {
				cfg.Cluster.BrokerID = brokerID
			}
			if f.Changed("register-interval") {
				cfg.Cluster.RegisterInterval = register
			}
			if f.Changed("route-refresh-interval") {
				cfg.Cluster.RouteRefreshInterval = refresh
			}
			if len(cfg.Cluster.NameServers) == 0 {
				cfg.Cluster.NameServers = []string{defaultNameServer}
			}
			if cfg.Replication.Listener == "" {
				cfg.Replication.Listener = broker.DefaultReplicationListener
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
	f.StringVar(&clusterName, "cluster", "DefaultCluster", "cluster name (same as --broker.cluster.name)")
	f.StringVar(&brokerName, "broker-name", "", "broker group name (same as --broker.name; default broker-<node id>)")
	f.Int64Var(&brokerID, "broker-id", 0, "id in the broker group, 0 = master (same as --broker.member.id)")
	f.Int32Var(&nodeID, "node-id", 1, "cluster-unique Kafka node id (same as --node.id)")
	f.DurationVar(&register, "register-interval", 3*time.Second, "heartbeat period to the NameServers (same as --nameserver.register.interval.ms)")
	f.DurationVar(&refresh, "route-refresh-interval", 2*time.Second, "how often routes are read from the NameServers (same as --nameserver.poll.interval.ms)")
	return cmd
}
