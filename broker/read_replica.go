package broker

// Read from slave (KIP-392, Fetch v11+): a master names one of its
// in-sync slaves as a consumer's preferred read replica
//   - when the consumer's rack (client.rack, FetchRequest.RackID) is a
//     slave's broker.rack and not the master's own, and
//   - RocketMQ's rule for cold reads, which no Kafka broker has: when the
//     consumer reads more than replica.read.far.behind.bytes behind the
//     partition's end (estimated from the partition's size and offsets), so
//     catching-up consumers load the slave's disk instead of the master's.
//
// The partition then answers at once with no records and the slave's node
// id; the client fetches from the slave, which serves up to its own high
// watermark and answers OFFSET_OUT_OF_RANGE for an offset it does not have
// yet, which sends the client back to the master (as Kafka followers do).
// Only ordinary consumers (replica id -1) are redirected; a debugging
// consumer (-2, Kafka's DebuggingConsumerId) reads where it asks.

import (
	"github.com/gregor-broker/gregor/nameserver"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// choosePreferred sets fp's preferred read replica when a rule applies.
func (b *Broker) choosePreferred(r *kmsg.FetchRequest, fp *fetchPart) {
	replica := r.ReplicaID
	if r.Version >= 15 {
		replica = r.ReplicaState.ID // KIP-903
	}
	if r.Version < 11 || replica != -1 || fp.code != 0 || fp.part == nil || !b.isMaster() {
		return
	}
	slaves := b.inSyncSlaves()
	if len(slaves) == 0 {
		return
	}
	if rack := r.Rack; rack != "" && rack != b.cfg.Cluster.Rack {
		for _, s := range slaves {
			if s.Rack == rack {
				fp.reply.preferredReplica = s.NodeID
				return
			}
		}
	}
	if far := b.cfg.Replication.FarBehindBytes; far > 0 {
		hwm, start := fp.part.HighWatermark(), fp.part.LogStartOffset()
		off := fp.req.fetchOffset
		if off >= start && off < hwm && hwm > start {
			behind := float64(fp.part.Size()) * float64(hwm-off) / float64(hwm-start)
			if behind > float64(far) {
				fp.reply.preferredReplica = slaves[0].NodeID
			}
		}
	}
}

// inSyncSlaves returns the live in-sync slaves of this master's group.
func (b *Broker) inSyncSlaves() []*nameserver.Broker {
	in := map[int64]bool{}
	for _, id := range b.inSyncMembers() {
		in[id] = true
	}
	var out []*nameserver.Broker
	for _, m := range b.cl().currentView().members[b.cfg.Cluster.BrokerName] {
		if !b.cl().isSelf(m) && in[m.BrokerID] {
			out = append(out, m)
		}
	}
	return out
}
