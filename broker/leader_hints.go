package broker

// KIP-951 current-leader hints: a Produce (v10+) or Fetch (v12+) partition
// answered NOT_LEADER_OR_FOLLOWER or FENCED_LEADER_EPOCH carries the
// partition's current leader and epoch as this broker's cluster view has
// them, and the answer lists that leader's endpoint (NodeEndpoints, on the
// listener the request arrived on), so the client goes there without a
// Metadata round trip. As in Kafka, a leader that is unknown, or is this
// broker (a master stepping down, a lapsed lease), gives no hint.

import (
	"github.com/gregor-broker/gregor/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// leaderHint returns the live master leading partition p of a topic (by
// name, or by id when name is ""), and its epoch, when it is another
// broker.
func (b *Broker) leaderHint(v *view, name string, id [16]byte, p int32) (leader, epoch int32, ok bool) {
	vt := v.byName[name]
	if name == "" {
		vt = v.byID[id]
	}
	if vt == nil {
		return -1, -1, false
	}
	_, master := v.owner(vt, p)
	if master == nil || b.cl().isSelf(master) {
		return -1, -1, false
	}
	return master.NodeID, master.MasterEpoch, true
}

// hintEndpoints returns the endpoints of nodes on the request's listener.
func (b *Broker) hintEndpoints(v *view, conn *protocol.ConnInfo, nodes map[int32]bool) []kmsg.MetadataResponseBroker {
	var out []kmsg.MetadataResponseBroker
	for _, br := range b.metadataBrokers(v, conn) {
		if nodes[br.NodeID] {
			out = append(out, br)
		}
	}
	return out
}

// notLeaderCode reports whether code asks the client to find the leader.
func notLeaderCode(code int16) bool {
	return code == kerr.NotLeaderForPartition.Code || code == kerr.FencedLeaderEpoch.Code
}

// addProduceLeaderHints fills the KIP-951 hints of a v10+ Produce answer.
func (b *Broker) addProduceLeaderHints(resp *kmsg.ProduceResponse, conn *protocol.ConnInfo, names []string) {
	if resp.Version < 10 {
		return
	}
	v := b.cl().currentView()
	nodes := map[int32]bool{}
	for ti := range resp.Topics {
		st := &resp.Topics[ti]
		for pi := range st.Partitions {
			sp := &st.Partitions[pi]
			if !notLeaderCode(sp.ErrorCode) {
				continue
			}
			if leader, epoch, ok := b.leaderHint(v, names[ti], st.TopicID, sp.Partition); ok {
				sp.CurrentLeader.LeaderID, sp.CurrentLeader.LeaderEpoch = leader, epoch
				nodes[leader] = true
			}
		}
	}
	for _, mb := range b.hintEndpoints(v, conn, nodes) {
		resp.Brokers = append(resp.Brokers, kmsg.ProduceResponseBroker{NodeID: mb.NodeID, Host: mb.Host, Port: mb.Port, Rack: mb.Rack})
	}
}
