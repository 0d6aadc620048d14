package broker

import (
	"net"
	"strconv"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// KIP-951: Produce (v10+) and Fetch (v12+) sent to a broker that does not
// lead the partition answer NOT_LEADER_OR_FOLLOWER with the leader's id
// and epoch, and (Produce v10+, Fetch v16+) the leader's endpoint; older
// versions carry no hint.
func TestLeaderHintsKIP951(t *testing.T) {
	bs, _ := clusterStart(t, 2)
	ctx := coreCtx(t)
	if res, err := kadm.NewClient(bs[0].client()).CreateTopic(ctx, 2, 1, nil, "hint"); err != nil || res.Err != nil {
		t.Fatalf("create: %v %v", err, res.Err)
	}
	for _, cb := range bs {
		cb.b.cl().refreshNow()
	}
	leaders, _ := clusterLeaders(t, bs[0], "hint")
	p := int32(-1)
	for i, l := range leaders {
		if l == 2 {
			p = int32(i)
		}
	}
	if p < 0 {
		t.Fatalf("no partition led by node 2: %v", leaders)
	}
	vt := bs[0].b.cl().currentView().byName["hint"]
	epoch := bs[1].b.leaderEpoch()
	host, port, _ := net.SplitHostPort(bs[1].addr)
	wantPort, _ := strconv.Atoi(port)
	node1 := bs[0].client().Broker(1)
	send := func(req kmsg.Request) kmsg.Response {
		t.Helper()
		resp, err := node1.Request(ctx, pinnedVersion{req})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	checkEndpoint := func(what string, n int, id int32, h string, port int32) {
		t.Helper()
		if n != 1 || id != 2 || h != host || int(port) != wantPort {
			t.Errorf("%s: endpoints %d, node %d at %s:%d, want node 2 at %s", what, n, id, h, port, bs[1].addr)
		}
	}

	for _, v := range []int16{9, 10, 13} {
		req := kmsg.NewPtrProduceRequest()
		req.Version, req.Acks, req.TimeoutMillis = v, -1, 5000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic, rt.TopicID = "hint", vt.ID
		rt.Partitions = []kmsg.ProduceRequestTopicPartition{{Partition: p, Records: coreBatch(1, -1, -1, -1, coreRecs(1, "a")...)}}
		req.Topics = []kmsg.ProduceRequestTopic{rt}
		resp := send(req).(*kmsg.ProduceResponse)
		sp := resp.Topics[0].Partitions[0]
		if sp.ErrorCode != kerr.NotLeaderForPartition.Code {
			t.Fatalf("produce v%d: error %d", v, sp.ErrorCode)
		}
		if v < 10 {
			if sp.CurrentLeader.LeaderID != -1 || len(resp.Brokers) != 0 {
				t.Errorf("produce v%d: a hint %+v %+v", v, sp.CurrentLeader, resp.Brokers)
			}
			continue
		}
		if sp.CurrentLeader.LeaderID != 2 || sp.CurrentLeader.LeaderEpoch != epoch {
			t.Errorf("produce v%d: current leader %+v, want 2 at epoch %d", v, sp.CurrentLeader, epoch)
		}
		if len(resp.Brokers) == 1 {
			checkEndpoint("produce", 1, resp.Brokers[0].NodeID, resp.Brokers[0].Host, resp.Brokers[0].Port)
		} else {
			checkEndpoint("produce", len(resp.Brokers), -1, "", 0)
		}
	}

	for _, v := range []int16{11, 12, 16, 18} {
		resp := send(fetchReq(v, "hint", vt.ID, p, 0)).(*kmsg.FetchResponse)
		fp := resp.Topics[0].Partitions[0]
		if fp.ErrorCode != kerr.NotLeaderForPartition.Code {
			t.Fatalf("fetch v%d: error %d", v, fp.ErrorCode)
		}
		if v < 12 {
			continue // no tags before v12
		}
		if fp.CurrentLeader.LeaderID != 2 || fp.CurrentLeader.LeaderEpoch != epoch {
			t.Errorf("fetch v%d: current leader %+v, want 2 at epoch %d", v, fp.CurrentLeader, epoch)
		}
		switch {
		case v < 16 && len(resp.Brokers) != 0:
			t.Errorf("fetch v%d: endpoints %+v before v16", v, resp.Brokers)
		case v >= 16 && len(resp.Brokers) == 1:
			checkEndpoint("fetch", 1, resp.Brokers[0].NodeID, resp.Brokers[0].Host, resp.Brokers[0].Port)
		case v >= 16:
			checkEndpoint("fetch", len(resp.Brokers), -1, "", 0)
		}
	}
}
