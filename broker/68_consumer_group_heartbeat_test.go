package broker

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestConsumerGroupSurvivesFailover: a KIP-848 consumer group formed on
// the master reaches the slaves through the commit log; after a fail-over
// the new master knows every member at its epoch with its assignment, so
// the members carry on heartbeating without rejoining.
func TestConsumerGroupSurvivesFailover(t *testing.T) {
	g := startLeaseGroup(t, 3, time.Second)
	var old *coreBroker
	waitCond(t, "a master with both slaves in sync", func() bool {
		old = g.master()
		return old != nil && len(old.b.inSyncMembers()) == 3
	})
	tp := old.topic("cg848", 4, nil)
	waitCond(t, "the topic on the slaves", func() bool {
		for _, cb := range g.members {
			if _, ok := cb.b.topics.Get("cg848"); !ok {
				return false
			}
		}
		return true
	})
	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.Version = 4
	fc.CoordinatorKeys = []string{"g848"}
	waitCond(t, "the coordinator", func() bool {
		r := old.raw().do(fc).(*kmsg.FindCoordinatorResponse)
		return len(r.Coordinators) == 1 && r.Coordinators[0].ErrorCode == 0
	})

	type member struct {
		id    string
		epoch int32
		owned []int32
	}
	beat := func(cb *coreBroker, m *member) *kmsg.ConsumerGroupHeartbeatResponse {
		t.Helper()
		r := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		r.Version = 1
		r.Group, r.MemberID, r.MemberEpoch = "g848", m.id, m.epoch
		r.RebalanceTimeoutMillis = -1
		if m.epoch == 0 {
			r.RebalanceTimeoutMillis = 30_000
			r.SubscribedTopicNames = []string{"cg848"}
		}
		r.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		if len(m.owned) > 0 {
			r.Topics = append(r.Topics, kmsg.ConsumerGroupHeartbeatRequestTopic{TopicID: tp.ID, Partitions: m.owned})
		}
		resp := cb.raw().do(r).(*kmsg.ConsumerGroupHeartbeatResponse)
		if resp.ErrorCode == 0 {
			m.epoch = resp.MemberEpoch
			if resp.Assignment != nil {
				m.owned = nil
				for _, at := range resp.Assignment.Topics {
					m.owned = append(m.owned, at.Partitions...)
				}
			}
		}
		return resp
	}
	a, b := &member{id: "member-a"}, &member{id: "member-b"}
	waitCond(t, "two members sharing the partitions at one epoch", func() bool {
		for _, m := range []*member{a, b} {
			if r := beat(old, m); r.ErrorCode != 0 {
				t.Fatalf("heartbeat to the master: %v", kerr.ErrorForCode(r.ErrorCode))
			}
		}
		return a.epoch == b.epoch && len(a.owned) == 2 && len(b.owned) == 2
	})

	oldIdx := 0
	for i, cb := range g.members {
		if cb == old {
			oldIdx = i
		}
	}
	g.cuts[oldIdx].Store(true)
	var next *coreBroker
	waitCond(t, "a slave to take over", func() bool {
		next = g.master()
		return next != nil && next != old
	})
	for _, m := range []*member{a, b} {
		epoch, owned := m.epoch, append([]int32(nil), m.owned...)
		var r *kmsg.ConsumerGroupHeartbeatResponse
		waitCond(t, "the new master's coordinator", func() bool {
			r = beat(next, m)
			return r.ErrorCode != kerr.CoordinatorLoadInProgress.Code && r.ErrorCode != kerr.NotCoordinator.Code
		})
		if r.ErrorCode != 0 || m.epoch != epoch || len(m.owned) != len(owned) {
			t.Fatalf("member %s after the fail-over: %v, epoch %d→%d, partitions %v→%v; want it to carry on unchanged",
				m.id, kerr.ErrorForCode(r.ErrorCode), epoch, m.epoch, owned, m.owned)
		}
	}
}
