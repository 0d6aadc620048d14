package group

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestConcurrentMembers runs many members against the real clock through the
// blocking API, joining, syncing, heartbeating, committing and leaving in
// parallel. Live members must never be told UNKNOWN_MEMBER_ID, every member
// of a generation must be in its leader's member list, and every synced
// member must get exactly the assignment its leader made for it.
func TestConcurrentMembers(t *testing.T) {
	cfg := Config{InitialRebalanceDelay: 10 * time.Millisecond, MinSessionTimeout: time.Second}
	c, err := newCoordinator(cfg, newMemKV(), realClock{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const members, rounds = 20, 6
	var mu sync.Mutex
	gotGen := map[int32]map[string]bool{}     // generation → members answered with it
	leaderList := map[int32]map[string]bool{} // generation → the leader's member list
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for i := 0; i < members; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			fail := func(format string, args ...any) { t.Errorf("member %d: "+format, append([]any{i}, args...)...) }
			memberID := ""
			for round := 0; round < rounds && ctx.Err() == nil; {
				req := kmsg.NewPtrJoinGroupRequest()
				req.Version = 9
				req.Group, req.MemberID = "cg", memberID
				req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = 5000, 10000
				req.ProtocolType = "consumer"
				req.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte{byte(i)}}}
				jr := c.JoinGroup(ctx, req, JoinInfo{ClientID: fmt.Sprintf("m%d", i)})
				switch jr.ErrorCode {
				case kerr.MemberIDRequired.Code:
					memberID = jr.MemberID
					continue
				case kerr.RebalanceInProgress.Code:
					continue
				case 0:
				default:
					fail("join: %v", kerr.ErrorForCode(jr.ErrorCode))
					return
				}
				gen := jr.Generation
				mu.Lock()
				if gotGen[gen] == nil {
					gotGen[gen] = map[string]bool{}
				}
				gotGen[gen][memberID] = true
				sreq := kmsg.NewPtrSyncGroupRequest()
				sreq.Version = 5
				sreq.Group, sreq.MemberID, sreq.Generation = "cg", memberID, gen
				if jr.LeaderID == memberID {
					list := map[string]bool{}
					for _, m := range jr.Members {
						list[m.MemberID] = true
						sreq.GroupAssignment = append(sreq.GroupAssignment, kmsg.SyncGroupRequestGroupAssignment{
							MemberID: m.MemberID, MemberAssignment: []byte(fmt.Sprintf("%d:%s", gen, m.MemberID)),
						})
					}
					leaderList[gen] = list
				}
				mu.Unlock()
				sr := c.SyncGroup(ctx, sreq)
				if sr.ErrorCode == kerr.RebalanceInProgress.Code {
					continue
				}
				if sr.ErrorCode != 0 {
					fail("sync: %v", kerr.ErrorForCode(sr.ErrorCode))
					return
				}
				if want := fmt.Sprintf("%d:%s", gen, memberID); string(sr.MemberAssignment) != want {
					fail("assignment %q, want %q", sr.MemberAssignment, want)
				}
				rejoin := false
				for k := 0; k < 10 && !rejoin; k++ {
					time.Sleep(2 * time.Millisecond)
					hb := kmsg.NewPtrHeartbeatRequest()
					hb.Group, hb.MemberID, hb.Generation = "cg", memberID, gen
					switch code := c.Heartbeat(hb).ErrorCode; code {
					case 0:
					case kerr.RebalanceInProgress.Code:
						rejoin = true
					default:
						fail("heartbeat: %v", kerr.ErrorForCode(code))
						return
					}
					oc := kmsg.NewPtrOffsetCommitRequest()
					oc.Version = 8
					oc.Group, oc.MemberID, oc.Generation = "cg", memberID, gen
					oc.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: int32(i), Offset: int64(k)}}}}
					switch code := c.OffsetCommit(oc, nil).Topics[0].Partitions[0].ErrorCode; code {
					case 0, kerr.RebalanceInProgress.Code, kerr.IllegalGeneration.Code:
					default:
						fail("commit: %v", kerr.ErrorForCode(code))
						return
					}
				}
				round++
				if round == rounds || i%3 == 0 {
					// Leave and come back as a new member now and then.
					lr := kmsg.NewPtrLeaveGroupRequest()
					lr.Version = 5
					lr.Group = "cg"
					lr.Members = []kmsg.LeaveGroupRequestMember{{MemberID: memberID}}
					if code := c.LeaveGroup(lr).Members[0].ErrorCode; code != 0 {
						fail("leave: %v", kerr.ErrorForCode(code))
						return
					}
					memberID = ""
				}
			}
		}(i)
	}
	wg.Wait()
	if ctx.Err() != nil {
		t.Fatal("members did not finish")
	}
	mu.Lock()
	defer mu.Unlock()
	t.Logf("%d generations", len(gotGen))
	if len(gotGen) < 2 {
		t.Fatalf("only %d generations ran", len(gotGen))
	}
	for gen, ms := range gotGen {
		list, ok := leaderList[gen]
		if !ok {
			t.Errorf("generation %d: no leader answered", gen)
			continue
		}
		for m := range ms {
			if !list[m] {
				t.Errorf("generation %d: member %s is not in its leader's list", gen, m)
			}
		}
		if len(list) != len(ms) {
			t.Errorf("generation %d: leader listed %d members, %d were answered", gen, len(list), len(ms))
		}
	}
	d := c.DescribeGroups(&kmsg.DescribeGroupsRequest{Groups: []string{"cg"}}).Groups[0]
	if d.State != "Empty" || len(d.Members) != 0 {
		t.Fatalf("after everyone left: %s with %d members", d.State, len(d.Members))
	}
}
