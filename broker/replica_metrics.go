package broker

// Replication metrics on /metrics, from the same sources Metadata uses:
//
//	gregor_replication_slave_lag_bytes{member}    master's end - the slave's acknowledged end
//	gregor_replication_slave_lag_seconds{member}  since the slave last had the master's end
//	gregor_replication_slave_in_sync{member}      1 while in the ISR
//	gregor_replication_isr_size                   members in sync, the master counted
//	gregor_under_replicated_partitions            partitions led here whose ISR is smaller
//	                                              than their replicas (Kafka's UnderReplicatedPartitions)
//	gregor_replication_master                     1 on the group's master
//	gregor_replication_epoch                      the group's master epoch as this member knows it
//
// The slave series exist on the master only.

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

type replicaCollector struct {
	b                                     *Broker
	lagBytes, lagSeconds, inSync, isrSize *prometheus.Desc
	underReplicated, master, epoch        *prometheus.Desc
}

func newReplicaCollector(b *Broker) *replicaCollector {
	return &replicaCollector{
		b:               b,
		lagBytes:        prometheus.NewDesc("gregor_replication_slave_lag_bytes", "Commit-log bytes the slave has not acknowledged (master only).", []string{"member"}, nil),
		lagSeconds:      prometheus.NewDesc("gregor_replication_slave_lag_seconds", "Seconds since the slave last had everything the master had; 0 when it has now (master only).", []string{"member"}, nil),
		inSync:          prometheus.NewDesc("gregor_replication_slave_in_sync", "1 while the slave is in the ISR (master only).", []string{"member"}, nil),
		isrSize:         prometheus.NewDesc("gregor_replication_isr_size", "Members of the group in sync, the master counted (master only).", nil, nil),
		underReplicated: prometheus.NewDesc("gregor_under_replicated_partitions", "Partitions led by this broker whose ISR is smaller than their replicas.", nil, nil),
		master:          prometheus.NewDesc("gregor_replication_master", "1 when this broker is its group's master.", nil, nil),
		epoch:           prometheus.NewDesc("gregor_replication_epoch", "The group's master epoch as this member knows it.", nil, nil),
	}
}

func (c *replicaCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.lagBytes, c.lagSeconds, c.inSync, c.isrSize, c.underReplicated, c.master, c.epoch} {
		ch <- d
	}
}

func (c *replicaCollector) Collect(ch chan<- prometheus.Metric) {
	b := c.b
	isMaster := 0.0
	if b.isMaster() {
		isMaster = 1
	}
	ch <- prometheus.MustNewConstMetric(c.master, prometheus.GaugeValue, isMaster)
	ch <- prometheus.MustNewConstMetric(c.epoch, prometheus.GaugeValue, float64(b.leaderEpoch()))
	if !b.isMaster() {
		ch <- prometheus.MustNewConstMetric(c.underReplicated, prometheus.GaugeValue, 0)
		return
	}
	for _, s := range b.slaveProgress() {
		m := strconv.FormatInt(s.Member, 10)
		in := 0.0
		if s.InSync {
			in = 1
		}
		ch <- prometheus.MustNewConstMetric(c.lagBytes, prometheus.GaugeValue, float64(s.LagBytes), m)
		ch <- prometheus.MustNewConstMetric(c.lagSeconds, prometheus.GaugeValue, s.LagTime.Seconds(), m)
		ch <- prometheus.MustNewConstMetric(c.inSync, prometheus.GaugeValue, in, m)
	}
	isr := b.inSyncMembers()
	ch <- prometheus.MustNewConstMetric(c.isrSize, prometheus.GaugeValue, float64(len(isr)))
	// The same replicas and ISR Metadata reports for this group.
	v := b.cl().currentView()
	under := 0
	if master := v.masters[b.cfg.Cluster.BrokerName]; master != nil && b.cl().isSelf(master) {
		replicas, inSync, _ := b.groupReplicas(v, b.cfg.Cluster.BrokerName, master)
		if len(inSync) < len(replicas) {
			for _, t := range b.topics.List() {
				for p := int32(0); p < t.Partitions; p++ {
					if t.hosts(p) {
						under++
					}
				}
			}
		}
	}
	ch <- prometheus.MustNewConstMetric(c.underReplicated, prometheus.GaugeValue, float64(under))
}
