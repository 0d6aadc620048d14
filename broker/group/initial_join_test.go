package group

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// With group.initial.rebalance.delay.ms=0 a new group's first generation
// completes from the timer, as Kafka's initial delayed join does: never
// inside the JoinGroup that started it, and without waiting for a member id
// handed out with MEMBER_ID_REQUIRED (that client joins the next one).
func TestInitialJoinCompletesFromTimerWithZeroDelay(t *testing.T) {
	cfg := testConfig()
	cfg.InitialRebalanceDelay = -1 // Kafka's 0
	h := newHarness(t, cfg)
	first := h.join(joinReq("g", "", nil)).get(t)
	wantCode(t, first.ErrorCode, kerr.MemberIDRequired)

	p := h.join(joinReq("g", "", str("s1")))
	if p.done() {
		t.Fatal("the first generation completed inside the first JoinGroup; Kafka completes it from a timer")
	}
	// A second static member arriving before the timer runs joins the
	// same generation.
	p2 := h.join(joinReq("g", "", str("s2")))
	h.clk.Advance(0)
	r, r2 := p.get(t), p2.get(t)
	wantCode(t, r.ErrorCode, nil)
	wantCode(t, r2.ErrorCode, nil)
	if r.Generation != 1 || r2.Generation != 1 || len(r.Members)+len(r2.Members) != 2 {
		t.Fatalf("generations %d and %d, %d+%d members listed; want both in generation 1, the leader listing 2",
			r.Generation, r2.Generation, len(r.Members), len(r2.Members))
	}
	// The member id handed out first joins later and starts the next
	// rebalance, which waits for the others as usual.
	p3 := h.join(joinReq("g", first.MemberID, nil))
	if p3.done() {
		t.Fatal("a rebalance of a non-empty group completed before its members rejoined")
	}
	h.clk.Advance(30 * time.Second)
	if r3 := p3.get(t); r3.ErrorCode != 0 || r3.Generation != 2 {
		t.Fatalf("late member: %+v", r3)
	}
}
