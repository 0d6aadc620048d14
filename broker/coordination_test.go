package broker

import (
	"fmt"
	"testing"

	"github.com/gregor-broker/gregor/storage"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// requestsOK is the broker's count of requests of key answered without a
// connection error (gregor_requests_total{result="ok"}).
func requestsOK(t *testing.T, b *Broker, key kmsg.Key) float64 {
	t.Helper()
	var m dto.Metric
	if err := b.metrics.reqOK[int16(key)].Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// A request naming groups of two coordinators gets, per group, the real
// answer from the coordinator and NOT_COORDINATOR for the other's
// (DescribeGroups, OffsetFetch v8+, DeleteGroups); a group request answered
// NOT_COORDINATOR is counted in the request metrics like any other.
func TestClusterGroupsOfTwoCoordinators(t *testing.T) {
	bs, _ := clusterStart(t, 2)
	ctx := coreCtx(t)
	if res, err := kadm.NewClient(bs[0].client()).CreateTopic(ctx, 2, 1, nil, "t"); err != nil || res.Err != nil {
		t.Fatalf("create: %v %v", err, res.Err)
	}
	byNode := map[int32]string{} // a group coordinated by each node
	for i := 0; i < 100 && len(byNode) < 2; i++ {
		g := fmt.Sprintf("g-%d", i)
		m, code := bs[0].b.coordinator(ctx, g, true)
		if code != 0 || m == nil {
			t.Fatalf("%s: coordinator code %d", g, code)
		}
		if _, ok := byNode[m.NodeID]; !ok {
			byNode[m.NodeID] = g
		}
	}
	if len(byNode) != 2 {
		t.Fatalf("100 groups, coordinators %v", byNode)
	}
	for _, cb := range bs {
		cb.b.cl().refreshNow()
	}
	here, there := byNode[1], byNode[2] // bs[0] is node 1
	commit := func(cb *coreBroker, group string) int16 {
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Version = 8
		req.Group, req.Generation = group, -1
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = "t"
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset, rp.LeaderEpoch = 0, 42, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return cb.raw().do(req).(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode
	}
	if code := commit(bs[0], here); code != 0 {
		t.Fatalf("commit of %s on its coordinator: %v", here, kerr.ErrorForCode(code))
	}
	if code := commit(bs[1], there); code != 0 {
		t.Fatalf("commit of %s on its coordinator: %v", there, kerr.ErrorForCode(code))
	}

	// The metrics count a group request another broker coordinates.
	before := requestsOK(t, bs[1].b, kmsg.OffsetCommit)
	if code := commit(bs[1], here); code != kerr.NotCoordinator.Code {
		t.Fatalf("commit of %s on node 2: %v, want NOT_COORDINATOR", here, kerr.ErrorForCode(code))
	}
	if got := requestsOK(t, bs[1].b, kmsg.OffsetCommit); got != before+1 {
		t.Fatalf("OffsetCommit answered NOT_COORDINATOR: requests counted %v -> %v, want +1", before, got)
	}

	before = requestsOK(t, bs[0].b, kmsg.DescribeGroups)
	dg := kmsg.NewPtrDescribeGroupsRequest()
	dg.Version = 5
	dg.Groups = []string{there, here}
	dr := bs[0].raw().do(dg).(*kmsg.DescribeGroupsResponse)
	if len(dr.Groups) != 2 || dr.Groups[0].Group != there || dr.Groups[1].Group != here {
		t.Fatalf("DescribeGroups: %+v", dr.Groups)
	}
	if g := dr.Groups[0]; g.ErrorCode != kerr.NotCoordinator.Code {
		t.Fatalf("DescribeGroups %s (coordinated by node 2) on node 1: %v state %q, want NOT_COORDINATOR", g.Group, kerr.ErrorForCode(g.ErrorCode), g.State)
	}
	if g := dr.Groups[1]; g.ErrorCode != 0 || g.State != "Empty" {
		t.Fatalf("DescribeGroups %s on its coordinator: %v state %q, want Empty", g.Group, kerr.ErrorForCode(g.ErrorCode), g.State)
	}
	if got := requestsOK(t, bs[0].b, kmsg.DescribeGroups); got != before+1 {
		t.Fatalf("DescribeGroups: requests counted %v -> %v, want +1", before, got)
	}

	of := kmsg.NewPtrOffsetFetchRequest()
	of.Version = 8
	for _, g := range []string{here, there} {
		rg := kmsg.NewOffsetFetchRequestGroup()
		rg.Group = g
		of.Groups = append(of.Groups, rg)
	}
	or := bs[0].raw().do(of).(*kmsg.OffsetFetchResponse)
	if len(or.Groups) != 2 {
		t.Fatalf("OffsetFetch v8: %+v", or.Groups)
	}
	if g := or.Groups[0]; g.Group != here || g.ErrorCode != 0 || len(g.Topics) != 1 || g.Topics[0].Partitions[0].Offset != 42 {
		t.Fatalf("OffsetFetch v8 %s on its coordinator: %+v", here, g)
	}
	if g := or.Groups[1]; g.Group != there || g.ErrorCode != kerr.NotCoordinator.Code || len(g.Topics) != 0 {
		t.Fatalf("OffsetFetch v8 %s (coordinated by node 2) on node 1: %v topics %+v, want NOT_COORDINATOR", g.Group, kerr.ErrorForCode(g.ErrorCode), g.Topics)
	}

	// Before v2 there is no group-level error code: the error is on every
	// requested partition, as Kafka answers.
	of1 := kmsg.NewPtrOffsetFetchRequest()
	of1.Version = 1
	of1.Group = there
	ot := kmsg.NewOffsetFetchRequestTopic()
	ot.Topic = "t"
	ot.Partitions = []int32{0, 1}
	of1.Topics = append(of1.Topics, ot)
	o1 := bs[0].raw().do(of1).(*kmsg.OffsetFetchResponse)
	if len(o1.Topics) != 1 || len(o1.Topics[0].Partitions) != 2 {
		t.Fatalf("OffsetFetch v1 %s on node 1: %+v, want both partitions answered", there, o1.Topics)
	}
	for _, p := range o1.Topics[0].Partitions {
		if p.ErrorCode != kerr.NotCoordinator.Code || p.Offset != -1 {
			t.Fatalf("OffsetFetch v1 %s on node 1: partition %d %v offset %d, want NOT_COORDINATOR and -1", there, p.Partition, kerr.ErrorForCode(p.ErrorCode), p.Offset)
		}
	}

	del := kmsg.NewPtrDeleteGroupsRequest()
	del.Version = 2
	del.Groups = []string{there, here}
	xr := bs[0].raw().do(del).(*kmsg.DeleteGroupsResponse)
	if len(xr.Groups) != 2 || xr.Groups[0].Group != there || xr.Groups[0].ErrorCode != kerr.NotCoordinator.Code ||
		xr.Groups[1].Group != here || xr.Groups[1].ErrorCode != 0 {
		t.Fatalf("DeleteGroups [%s %s] on node 1: %+v, want NOT_COORDINATOR then deleted", there, here, xr.Groups)
	}
	// The other coordinator's group is untouched.
	dg.Groups = []string{there}
	if g := bs[1].raw().do(dg).(*kmsg.DescribeGroupsResponse).Groups[0]; g.ErrorCode != 0 || g.State != "Empty" {
		t.Fatalf("%s on node 2 after the DeleteGroups on node 1: %v state %q", there, kerr.ErrorForCode(g.ErrorCode), g.State)
	}
}

// A slave coordinates no group: every group it is asked about gets
// NOT_COORDINATOR, ListGroups lists none.
func TestSlaveCoordinatesNoGroup(t *testing.T) {
	cb, _ := replicaBroker(t, ReplicationAsync, 1)
	cb.b.setRole(roleSlave)
	defer cb.b.setRole(roleMaster)
	nc := kerr.NotCoordinator.Code
	dg := kmsg.NewPtrDescribeGroupsRequest()
	dg.Groups = []string{"a", "b"}
	for _, g := range cb.raw().do(dg).(*kmsg.DescribeGroupsResponse).Groups {
		if g.ErrorCode != nc {
			t.Fatalf("slave DescribeGroups %s: %v", g.Group, kerr.ErrorForCode(g.ErrorCode))
		}
	}
	del := kmsg.NewPtrDeleteGroupsRequest()
	del.Groups = []string{"a", "b"}
	for _, g := range cb.raw().do(del).(*kmsg.DeleteGroupsResponse).Groups {
		if g.ErrorCode != nc {
			t.Fatalf("slave DeleteGroups %s: %v", g.Group, kerr.ErrorForCode(g.ErrorCode))
		}
	}
	of := kmsg.NewPtrOffsetFetchRequest()
	of.Version = 8
	of.Groups = []kmsg.OffsetFetchRequestGroup{{Group: "a"}, {Group: "b"}}
	if r := cb.raw().do(of).(*kmsg.OffsetFetchResponse); len(r.Groups) != 2 || r.Groups[0].ErrorCode != nc || r.Groups[1].ErrorCode != nc {
		t.Fatalf("slave OffsetFetch v8: %+v", r.Groups)
	}
	of7 := kmsg.NewPtrOffsetFetchRequest()
	of7.Version, of7.Group = 7, "a"
	if r := cb.raw().do(of7).(*kmsg.OffsetFetchResponse); r.ErrorCode != nc {
		t.Fatalf("slave OffsetFetch v7: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Version, hb.Group, hb.MemberID = 4, "a", "m"
	if r := cb.raw().do(hb).(*kmsg.HeartbeatResponse); r.ErrorCode != nc {
		t.Fatalf("slave Heartbeat: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	lg := kmsg.NewPtrListGroupsRequest()
	lg.Version = 4
	if r := cb.raw().do(lg).(*kmsg.ListGroupsResponse); r.ErrorCode != 0 || len(r.Groups) != 0 {
		t.Fatalf("slave ListGroups: %+v", r)
	}
}

// A live broker group that lost its share of __consumer_offsets (a master
// killed right after creating it, before its slaves had it: the promoted
// slave never had the share, the old master truncates it on return) owns
// those partitions no more, and no other group claims them. FindCoordinator
// for a group filed there must place them again (Jepsen run on 2603a07: the
// committing group got COORDINATOR_NOT_AVAILABLE to the end of the run).
func TestCoordinatorAfterLostOffsetsShare(t *testing.T) {
	bs, _ := clusterStart(t, 2)
	ctx := coreCtx(t)
	if _, code := bs[0].b.coordinator(ctx, "first", true); code != 0 {
		t.Fatalf("creating __consumer_offsets: code %d", code)
	}
	for _, cb := range bs {
		cb.b.cl().refreshNow()
	}
	// A group filed under a partition broker-b (node 2) owns.
	var lostGroup string
	for i := 0; i < 200 && lostGroup == ""; i++ {
		g := fmt.Sprintf("g-%d", i)
		if m, code := bs[0].b.coordinator(ctx, g, false); code == 0 && m != nil && m.NodeID == 2 {
			lostGroup = g
		}
	}
	if lostGroup == "" {
		t.Fatal("no group coordinated by node 2")
	}
	// broker-b loses its share, as a slave promoted without it has none.
	if _, err := bs[1].b.topics.delete(offsetsTopic, storage.TopicID{}); err != nil {
		t.Fatal(err)
	}
	bs[1].b.cl().version.Add(1)
	bs[1].b.cl().registerNow()
	for _, cb := range bs {
		cb.b.cl().refreshNow()
	}
	for _, cb := range bs {
		m, code := cb.b.coordinator(ctx, lostGroup, true)
		if code != 0 || m == nil {
			t.Fatalf("FindCoordinator %s on node %d after the share was lost: %v", lostGroup, cb.b.cfg.NodeID, kerr.ErrorForCode(code))
		}
		if _, code := cb.b.validateGroup(ctx, lostGroup); (code == 0) != (m.NodeID == cb.b.cfg.NodeID) {
			t.Fatalf("%s on node %d: validateGroup code %d disagrees with coordinator %d", lostGroup, cb.b.cfg.NodeID, code, m.NodeID)
		}
	}
	// Every partition is owned again, each by one group, and the groups
	// coordinated by broker-a's share did not move.
	bs[0].b.cl().refreshNow()
	vt := bs[0].b.cl().currentView().byName[offsetsTopic]
	if vt == nil || !vt.complete() {
		t.Fatalf("__consumer_offsets after the repair: %+v", vt)
	}
	if m, code := bs[0].b.coordinator(ctx, "first", false); code != 0 || m == nil {
		t.Fatalf("first: code %d", code)
	}
}

// A master whose group coordinator is not running (it failed to start)
// answers COORDINATOR_LOAD_IN_PROGRESS, which the client retries here, not
// NOT_COORDINATOR, which says another broker coordinates the group.
func TestMasterWithoutCoordinatorLoading(t *testing.T) {
	cb := coreStart(t, "", nil)
	saved := cb.b.groups
	cb.b.groups = nil
	defer func() { cb.b.groups = saved }()
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Version, hb.Group, hb.MemberID = 4, "a", "m"
	if r := cb.raw().do(hb).(*kmsg.HeartbeatResponse); r.ErrorCode != kerr.CoordinatorLoadInProgress.Code {
		t.Fatalf("Heartbeat on a master without a coordinator: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	cb.b.setRole(roleSteppingDown)
	defer cb.b.setRole(roleMaster)
	if r := cb.raw().do(hb).(*kmsg.HeartbeatResponse); r.ErrorCode != kerr.NotCoordinator.Code {
		t.Fatalf("Heartbeat on a master stepping down: %v", kerr.ErrorForCode(r.ErrorCode))
	}
}
