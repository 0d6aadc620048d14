package lease

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/nameserver"
)

const d = 40 * time.Millisecond // lease length in these tests (simulated time)

// world is a broker group and its NameServers on simulated time: every
// party has its own clock running at its own rate, links between members
// and NameServers can be cut, NameServers restarted (losing everything) and
// members paused. Nothing sleeps; tests advance time.
type world struct {
	t       *testing.T
	origin  time.Time
	real    time.Duration // since origin
	ns      []*nsNode
	members []*member
	cut     map[[2]int]bool // (member index, NameServer index)
	elected []int32         // every epoch a member began, in order
	syncSet []int64         // what masters report as in sync (nil: every member)
}

type nsNode struct {
	rate   float64
	leases *nameserver.Leases
}

type member struct {
	w         *world
	idx       int
	term      Term
	rate      float64
	k         *Keeper
	paused    bool
	stepDowns int
	events    []string
	unclean   bool
	notReady  bool
}

func (w *world) clock(rate float64) func() time.Time {
	return func() time.Time { return w.origin.Add(time.Duration(float64(w.real) * rate)) }
}

func newWorld(t *testing.T, nNS, nMembers int) *world {
	w := &world{t: t, origin: time.Unix(1e6, 0), cut: map[[2]int]bool{}}
	for range nNS {
		n := &nsNode{rate: 1}
		n.leases = nameserver.NewLeases(d, w.clock(1))
		w.ns = append(w.ns, n)
	}
	for i := range nMembers {
		w.addMember(i, 1)
	}
	return w
}

// restartNS replaces NameServer j's table with an empty one that starts
// now; its clock keeps its rate.
func (w *world) restartNS(j int) {
	w.ns[j].leases = nameserver.NewLeases(d, w.clock(w.ns[j].rate))
}

func (w *world) setNSRate(j int, rate float64) {
	w.ns[j].rate = rate
	w.restartNS(j)
}

type link struct {
	w      *world
	mi, nj int
}

var errCut = errors.New("link cut")

func (l link) Lease(ctx context.Context, req nameserver.LeaseRequest) (nameserver.LeaseResponse, error) {
	if l.w.cut[[2]int{l.mi, l.nj}] {
		return nameserver.LeaseResponse{}, errCut
	}
	return l.w.ns[l.nj].leases.Lease(ctx, req)
}

func (w *world) addMember(i int, rate float64) *member {
	m := &member{w: w, idx: i, rate: rate, term: Term{Epoch: 0, Master: 0}}
	var gs []Granter
	for j := range w.ns {
		gs = append(gs, link{w, i, j})
	}
	k, err := New(Config{
		Cluster: "c", BrokerName: "g", Member: int64(i), Granters: gs, Unclean: false,
		LastTerm: func() Term { return m.term },
		SyncState: func() []int64 {
			set := w.syncSet
			if set == nil {
				for x := range w.members {
					set = append(set, int64(x))
				}
			}
			return set
		},
		Ready: func() error {
			if m.notReady {
				return errors.New("behind")
			}
			return nil
		},
		Elect: func(epoch int32, inSync []int64) error {
			for _, e := range w.elected {
				if epoch <= e {
					w.t.Fatalf("member %d began epoch %d after epoch %d was begun", i, epoch, e)
				}
			}
			w.elected = append(w.elected, epoch)
			m.term = Term{Epoch: epoch, Master: int64(i)}
			m.events = append(m.events, fmt.Sprintf("elected %d", epoch))
			return nil
		},
		StepDown: func(string) {
			m.stepDowns++
			m.events = append(m.events, "stepdown")
		},
		NewerTerm: func(int32, int64) { m.follow() },
		Now:       w.clock(rate),
	})
	if err != nil {
		w.t.Fatal(err)
	}
	m.k = k
	if i < len(w.members) {
		w.members[i] = m
	} else {
		w.members = append(w.members, m)
	}
	return m
}

// follow makes m a slave of the newest term begun (replication is
// instantaneous here: the term is what matters to the lease).
func (m *member) follow() {
	if n := len(m.w.elected); n > 0 {
		e := m.w.elected[n-1]
		for _, o := range m.w.members {
			if o.term.Epoch == e && o.term.Master == int64(o.idx) {
				m.term = o.term
			}
		}
	}
}

// step runs one round of m (slaves first follow the newest term) and
// checks that no two members hold a valid lease.
func (m *member) step() {
	if m.paused {
		return
	}
	if m.term.Master != int64(m.idx) {
		m.follow()
	}
	m.k.cfg.Unclean = m.unclean
	m.k.Step(context.Background())
	m.w.check()
}

func (w *world) check() {
	w.t.Helper()
	var holders []string
	for _, m := range w.members {
		if m.k.Valid() {
			holders = append(holders, fmt.Sprintf("member %d (%s)", m.idx, m.k.Last()))
		}
	}
	if len(holders) > 1 {
		w.t.Fatalf("at %v two valid leases: %s", w.real, strings.Join(holders, "; "))
	}
}

func (w *world) advance(dt time.Duration) {
	w.real += dt
	w.check()
}

// round steps every member once, then advances a quarter lease.
func (w *world) round() {
	for _, m := range w.members {
		m.step()
	}
	w.advance(d / 4)
}

func (w *world) master() *member {
	for _, m := range w.members {
		if m.k.Valid() {
			return m
		}
	}
	return nil
}

func (w *world) cutOff(mi int, on bool) {
	for j := range w.ns {
		w.cut[[2]int{mi, j}] = on
	}
}

func TestMajority(t *testing.T) {
	for n, want := range map[int]int{1: 1, 2: 2, 3: 2, 4: 3, 5: 3} {
		if got := Majority(n); got != want {
			t.Errorf("Majority(%d) = %d, want %d", n, got, want)
		}
	}
}

// With 1, 2, 3 and 5 NameServers the master holds its lease exactly while a
// majority of them grant it: losing one more NameServer than a minority
// makes it step down, and a slave takes over only with a majority.
func TestMajorityOfNameServers(t *testing.T) {
	for _, n := range []int{1, 2, 3, 5} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			w := newWorld(t, n, 2)
			w.advance(d) // start grace
			w.round()
			if w.master() != w.members[0] {
				t.Fatalf("member 0 holds no lease: %s", w.members[0].k.Last())
			}
			minority := n - Majority(n)
			for j := range minority {
				w.cut[[2]int{0, j}] = true
			}
			for range 8 {
				w.round()
			}
			if w.master() != w.members[0] || w.members[0].stepDowns != 0 {
				t.Fatalf("with %d of %d NameServers cut off the master lost its lease: %s", minority, n, w.members[0].k.Last())
			}
			w.cut[[2]int{0, minority}] = true
			for range 8 {
				w.round()
			}
			if w.members[0].stepDowns != 1 {
				t.Fatalf("with %d of %d NameServers cut off the master did not step down: %s", minority+1, n, w.members[0].k.Last())
			}
			// The master dies; the slave reaches every NameServer: it takes
			// over. (While the master still renews with some NameServers,
			// they stay its: with 2 NameServers, 2 of 2 are needed.)
			w.cutOff(0, true)
			for range 8 {
				w.round()
			}
			if w.master() != w.members[1] || w.members[1].term.Epoch != 1 {
				t.Fatalf("slave did not take over: %s", w.members[1].k.Last())
			}
		})
	}
}

// The master, cut off from every NameServer but still running, steps down
// before any NameServer grants the lease to a slave; a slave that asks at
// every moment gets it only after that.
func TestStepDownBeforeRegrant(t *testing.T) {
	w := newWorld(t, 3, 2)
	w.advance(d)
	w.round()
	w.round()
	old, cand := w.members[0], w.members[1]
	if !old.k.Valid() {
		t.Fatal("no lease")
	}
	until, _ := old.k.ValidUntil()
	w.cutOff(0, true)
	var tookAt time.Duration
	for tick := 0; tick < 400; tick++ {
		w.advance(d / 100)
		old.step()
		if old.stepDowns == 0 && !old.k.Valid() {
			t.Fatalf("lease ran out without StepDown")
		}
		cand.step()
		if cand.k.Valid() && tookAt == 0 {
			tookAt = w.real
			if old.stepDowns != 1 {
				t.Fatal("slave took over before the master stepped down")
			}
		}
	}
	if tookAt == 0 {
		t.Fatalf("slave never took over: %s", cand.k.Last())
	}
	downAt := until.Sub(w.origin)
	if tookAt <= downAt {
		t.Fatalf("taken over at %v, master's lease ran to %v", tookAt, downAt)
	}
	if got := slices.Index(old.events, "stepdown"); got != 0 {
		t.Fatalf("master events %v", old.events)
	}
}

// The same with clocks that drift apart within the margin: the master's
// clock slow, the NameServers' fast (the worst case for the master).
func TestStepDownWithDrift(t *testing.T) {
	w := newWorld(t, 3, 2)
	for j := range w.ns {
		w.setNSRate(j, 1.04)
	}
	w.addMember(0, 0.96)
	w.advance(2 * d)
	w.round()
	w.round()
	if w.master() != w.members[0] {
		t.Fatalf("no master: %s", w.members[0].k.Last())
	}
	w.cutOff(0, true)
	for range 400 {
		w.advance(d / 200)
		w.members[1].step() // check() fails the test on two holders
	}
	if w.members[1].term.Master != 1 {
		t.Fatalf("slave never took over: %s", w.members[1].k.Last())
	}
}

// A restarted NameServer grants nothing for a lease, so a slave cannot use
// a majority made of restarted NameServers to take over from a master whose
// lease those NameServers have forgotten.
func TestNameServerRestartGrace(t *testing.T) {
	w := newWorld(t, 3, 2)
	w.advance(d)
	w.round()
	master, slave := w.members[0], w.members[1]
	// The master is cut off from NameServers 1 and 2, which restart; the
	// slave reaches them at once.
	w.cut[[2]int{0, 1}] = true
	w.cut[[2]int{0, 2}] = true
	w.restartNS(1)
	w.restartNS(2)
	for range 3 {
		slave.step()
		if slave.k.Valid() {
			t.Fatalf("slave took over during the grace: %s", slave.k.Last())
		}
		master.step()
		w.advance(d / 4)
	}
	for range 8 {
		w.round()
	}
	if master.stepDowns != 1 || w.master() != slave {
		t.Fatalf("after the grace: master %s; slave %s", master.k.Last(), slave.k.Last())
	}
	// Every NameServer restarts: the new master loses its lease, and gets
	// it back one lease later.
	for j := range w.ns {
		w.restartNS(j)
	}
	for range 4 {
		w.round()
	}
	if w.master() != nil {
		t.Fatalf("a lease during the grace of every NameServer: %s", w.master().k.Last())
	}
	w.round()
	w.round()
	if w.master() != slave || slave.term.Epoch != 1 {
		t.Fatalf("after the grace: %s (epoch %d)", slave.k.Last(), slave.term.Epoch)
	}
}

// A slave outside the last reported in-sync set never takes over, unless
// unclean election is enabled; nor does one that is not caught up.
func TestOutOfSyncCandidateRefused(t *testing.T) {
	w := newWorld(t, 3, 3)
	w.syncSet = []int64{0, 1}
	w.advance(d)
	w.round()
	w.round()
	w.members[1].notReady = true
	w.cutOff(0, true)
	for range 12 {
		w.round()
	}
	if w.master() != nil {
		t.Fatalf("taken over: %s", w.master().k.Last())
	}
	if last := w.members[2].k.Last(); !strings.Contains(last, "not in the last reported in-sync set [0 1]") {
		t.Fatalf("member 2: %s", last)
	}
	if last := w.members[1].k.Last(); !strings.Contains(last, "not ready") {
		t.Fatalf("member 1: %s", last)
	}
	w.members[2].unclean = true
	w.round()
	if w.master() != w.members[2] {
		t.Fatalf("unclean election: %s", w.members[2].k.Last())
	}
}

// Epochs only grow across fail-overs, each is begun once, and the new
// term's first in-sync set leaves out the old master.
func TestEpochsAcrossFailovers(t *testing.T) {
	w := newWorld(t, 3, 3)
	w.advance(d)
	w.round()
	var inSync [][]int64
	for _, m := range w.members {
		m := m
		elect := m.k.cfg.Elect
		m.k.cfg.Elect = func(e int32, set []int64) error {
			inSync = append(inSync, set)
			return elect(e, set)
		}
	}
	cur := 0
	for range 4 {
		w.cutOff(cur, true)
		for range 12 {
			w.round()
		}
		w.cutOff(cur, false)
		next := w.master()
		if next == nil || next.idx == cur {
			t.Fatalf("no fail-over from %d: %s; %s; %s", cur, w.members[0].k.Last(), w.members[1].k.Last(), w.members[2].k.Last())
		}
		cur = next.idx
		for range 4 {
			w.round()
		}
	}
	if want := []int32{1, 2, 3, 4}; !slices.Equal(w.elected, want) {
		t.Fatalf("epochs %v, want %v", w.elected, want)
	}
	for _, set := range inSync {
		if len(set) != 2 {
			t.Fatalf("first in-sync sets %v: each should leave the old master out", inSync)
		}
	}
}

// The in-sync set a master reports counts as committed once a majority took
// it with a granted renewal.
func TestCommittedSyncState(t *testing.T) {
	w := newWorld(t, 3, 3)
	w.advance(d)
	w.round()
	m := w.members[0]
	if c := m.k.CommittedSyncState(); c == nil || len(c.Members) != 3 {
		t.Fatalf("committed %+v", c)
	}
	w.syncSet = []int64{0, 1}
	w.cut[[2]int{0, 1}] = true
	w.cut[[2]int{0, 2}] = true
	m.step()
	if c := m.k.CommittedSyncState(); c != nil && len(c.Members) == 2 {
		t.Fatalf("a shrink taken by 1 of 3 NameServers counts as committed: %+v", c)
	}
	w.cut[[2]int{0, 2}] = false
	m.step()
	if c := m.k.CommittedSyncState(); c == nil || !slices.Equal(c.Members, []int64{0, 1}) {
		t.Fatalf("committed %+v", c)
	}
}

// Randomised schedules (seeded, so failures replay): cuts, NameServer
// restarts, pauses and drifting clocks; world.check fails the test the
// moment two members hold a valid lease, and Elect when an epoch repeats
// or goes back.
func TestNeverTwoHolders(t *testing.T) {
	seeds := 40
	if testing.Short() {
		seeds = 8
	}
	failovers := 0
	for seed := range seeds {
		rng := rand.New(rand.NewSource(int64(seed)))
		nNS := []int{1, 2, 3, 5}[seed%4]
		w := newWorld(t, nNS, 3)
		for j := range w.ns {
			w.setNSRate(j, 1+(rng.Float64()-0.5)*0.06)
		}
		for i := range w.members {
			w.addMember(i, 1+(rng.Float64()-0.5)*0.06)
		}
		for range 600 {
			switch r := rng.Intn(100); {
			case r < 8:
				k := [2]int{rng.Intn(3), rng.Intn(nNS)}
				w.cut[k] = !w.cut[k]
			case r < 10:
				w.cutOff(rng.Intn(3), rng.Intn(2) == 0)
			case r < 11:
				w.restartNS(rng.Intn(nNS))
			case r < 14:
				m := w.members[rng.Intn(3)]
				m.paused = !m.paused
			}
			for _, i := range rng.Perm(3) {
				w.members[i].step()
				if rng.Intn(3) == 0 {
					w.advance(time.Duration(rng.Int63n(int64(d / 8))))
				}
			}
			w.advance(time.Duration(rng.Int63n(int64(d / 3))))
		}
		failovers += len(w.elected)
	}
	if failovers < seeds {
		t.Fatalf("only %d fail-overs in %d runs: the schedules test too little", failovers, seeds)
	}
	t.Logf("%d fail-overs in %d runs", failovers, seeds)
}

// A TakeOver (manual promotion) while a round of the Keeper's own loop is
// under way: the round read the last term before the new one began, and
// must not then run as a slave's round — clearing the lease just won,
// taking a second term, stepping the new master down.
func TestTakeOverDuringRound(t *testing.T) {
	origin := time.Unix(1e6, 0)
	now := origin
	clock := func() time.Time { return now } // stopped: the lease cannot run out
	var gs []Granter
	for range 3 {
		gs = append(gs, nameserver.NewLeases(d, clock))
	}
	now = origin.Add(2 * d) // past the tables' start grace
	var mu sync.Mutex
	term := Term{Epoch: 0, Master: 0}
	var elected []int32
	stepDowns := 0
	reads := 0
	inRound := make(chan struct{})
	k, err := New(Config{
		Cluster: "c", BrokerName: "g", Member: 1, Granters: gs, Now: clock,
		LastTerm: func() Term {
			mu.Lock()
			tm := term
			reads++
			first := reads == 1
			mu.Unlock()
			if first { // the round's read of the term
				close(inRound)
				time.Sleep(100 * time.Millisecond) // the promotion runs meanwhile
			}
			return tm
		},
		Elect: func(epoch int32, _ []int64) error {
			mu.Lock()
			defer mu.Unlock()
			if term.Master == 1 {
				return errors.New("already master") // as the broker answers
			}
			term = Term{Epoch: epoch, Master: 1}
			elected = append(elected, epoch)
			return nil
		},
		StepDown: func(string) {
			mu.Lock()
			stepDowns++
			mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		k.Step(context.Background())
	}()
	<-inRound
	if err := k.TakeOver(context.Background()); err != nil {
		t.Fatalf("take-over: %v", err)
	}
	<-done
	mu.Lock()
	defer mu.Unlock()
	if !k.Valid() || stepDowns != 0 || !slices.Equal(elected, []int32{1}) {
		t.Fatalf("after a take-over during a round: valid %v, step-downs %d, terms begun %v (%s)", k.Valid(), stepDowns, elected, k.Last())
	}
}

// A member that yielded its lease for a hand-over and is promoted back
// (TakeOver) within the yield keeps renewing the term it began: the yield
// was for the other member's term. (It used to stop renewing until the
// yield ran out, so its new lease lapsed a lease later and a slave took
// over: seen in the rolling-restart test when kafka-leader-election gave
// mastership back to member 0 seconds after it had handed it over.)
func TestTakeOverEndsYield(t *testing.T) {
	w := newWorld(t, 3, 2)
	for range 12 {
		w.round()
	}
	m0, m1 := w.members[0], w.members[1]
	if w.master() != m0 {
		t.Fatal("member 0 is not master")
	}
	ctx := context.Background()
	m0.k.Yield(ctx, 30*d)
	m0.stepDowns, m0.events = 0, nil
	if err := m1.k.TakeOver(ctx); err != nil {
		t.Fatalf("member 1 takes over: %v", err)
	}
	for range 4 {
		w.round()
	}
	m1.k.Yield(ctx, 30*d)
	if err := m0.k.TakeOver(ctx); err != nil {
		t.Fatalf("member 0 takes over again: %v", err)
	}
	for range 16 { // four leases
		w.round()
		if w.master() != m0 {
			t.Fatalf("member 0 lost the lease it took back at %v: %s; events %v", w.real, m0.k.Last(), m0.events)
		}
	}
	if m0.stepDowns != 0 {
		t.Fatalf("member 0 stepped down %d times: %v", m0.stepDowns, m0.events)
	}
}
