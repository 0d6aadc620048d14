package replication

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/storage"
)

const testSeg = 4096

// fill writes n entries of varied sizes (crossing segments, so pads are
// streamed too).
func fill(l *memLog, n int, fillByte byte) int64 {
	var end int64
	for i := 0; i < n; i++ {
		end = l.Append(100+(i*37)%900, fillByte)
	}
	return end
}

func sameLog(t *testing.T, master, slave *memLog) {
	t.Helper()
	mf := master.FirstPosition()
	if sf := slave.FirstPosition(); sf > mf {
		t.Fatalf("slave starts at %d, after the master's first position %d", sf, mf)
	}
	if !bytes.Equal(master.Bytes(mf), slave.Bytes(mf)) {
		t.Fatalf("slave's log differs from the master's from %d (ends %d vs %d)", mf, slave.EndPosition(), master.EndPosition())
	}
	mt, st := master.Terms(), slave.Terms()
	if fmt.Sprint(mt) != fmt.Sprint(st) {
		t.Fatalf("terms differ: master %v, slave %v", mt, st)
	}
}

func caughtUp(m *memLog, s *memLog) func() bool {
	return func() bool { return s.EndPosition() == m.EndPosition() }
}

func TestCatchUpFromEmpty(t *testing.T) {
	ml := newMemLog(testSeg)
	ml.BeginTerm(0, 0)
	fill(ml, 200, 'a')
	m := startMaster(t, ml, 0, nil)
	sl := newMemLog(testSeg)
	s := startSlave(t, sl, 1, m.addr, nil)
	waitFor(t, "catch-up", caughtUp(ml, sl))
	sameLog(t, ml, sl)
	waitFor(t, "slave in sync", func() bool { return inSync(m.Master, 1) })

	// Live: new appends reach the slave (woken by Notify), the commit
	// limit follows its acks, and the slave mirrors the master's limit.
	for i := 0; i < 50; i++ {
		ml.Append(300, 'b')
		m.Notify()
	}
	waitFor(t, "live appends", caughtUp(ml, sl))
	sameLog(t, ml, sl)
	end := ml.EndPosition()
	waitFor(t, "commit limit at the end", func() bool { return ml.CommitLimit() == end })
	waitFor(t, "slave limit", func() bool { return sl.CommitLimit() == end })
	st := s.Status()
	if !st.Connected || st.MasterMember != 0 || st.MasterEpoch != 0 || st.Truncations+st.Bootstraps != 0 {
		t.Fatalf("slave status %+v", st)
	}
	if st.BytesApplied <= 0 || st.BytesApplied > end || st.Connects != 1 { // pads travel as headers
		t.Fatalf("slave counted %d bytes, %d connects", st.BytesApplied, st.Connects)
	}
	if si := m.Slaves(); len(si) != 1 || !si[0].InSync || !si[0].HoldsAll || si[0].Acked != end || si[0].LagBytes != 0 ||
		si[0].BytesSent != st.BytesApplied || si[0].LastCaughtUp.IsZero() {
		t.Fatalf("master's view %+v", si)
	}
}

func TestCatchUpFromBehind(t *testing.T) {
	ml := newMemLog(testSeg)
	ml.BeginTerm(0, 0)
	fill(ml, 100, 'a')
	// The slave followed this master earlier: its log is a prefix.
	sl := newMemLog(testSeg)
	if err := sl.AppendRaw(0, ml.Bytes(0)); err != nil {
		t.Fatal(err)
	}
	fill(ml, 100, 'b')
	m := startMaster(t, ml, 0, nil)
	s := startSlave(t, sl, 1, m.addr, nil)
	waitFor(t, "catch-up", caughtUp(ml, sl))
	sameLog(t, ml, sl)
	if st := s.Status(); st.Truncations+st.Bootstraps != 0 {
		t.Fatalf("a slave behind was truncated or bootstrapped: %+v", st)
	}
}

func TestMasterRestart(t *testing.T) {
	ml := newMemLog(testSeg)
	ml.BeginTerm(0, 0)
	fill(ml, 50, 'a')
	m := startMaster(t, ml, 0, nil)
	sl := newMemLog(testSeg)
	s := startSlave(t, sl, 1, m.addr, nil)
	waitFor(t, "catch-up", caughtUp(ml, sl))
	m.stop(t)
	fill(ml, 50, 'b') // written while no master served
	m2 := startMaster(t, ml, 0, nil)
	s.setMaster(m2.addr)
	waitFor(t, "catch-up after the restart", caughtUp(ml, sl))
	sameLog(t, ml, sl)
	waitFor(t, "in sync again", func() bool { return inSync(m2.Master, 1) })
}

func TestBootstrapAfterRetention(t *testing.T) {
	ml := newMemLog(testSeg)
	ml.BeginTerm(0, 0)
	fill(ml, 100, 'a')
	ml.BeginTerm(1, 0)
	fill(ml, 100, 'b')
	// Retention deleted the first segments, terms 0 and 1 began there.
	ml.DeleteBefore(5 * testSeg)
	m := startMaster(t, ml, 0, nil)
	sl := newMemLog(testSeg)
	s := startSlave(t, sl, 1, m.addr, nil)
	waitFor(t, "catch-up", caughtUp(ml, sl))
	sameLog(t, ml, sl)
	if sl.FirstPosition() != ml.FirstPosition() {
		t.Fatalf("slave starts at %d, master at %d", sl.FirstPosition(), ml.FirstPosition())
	}
	if st := s.Status(); st.Bootstraps != 1 {
		t.Fatalf("bootstraps = %d", st.Bootstraps)
	}
	waitFor(t, "bootstrapped slave in sync", func() bool { return inSync(m.Master, 1) })

	// A slave holding an older part of the log than the master retains
	// is behind retention: it bootstraps as well.
	old := newMemLog(testSeg)
	old2 := newMemLog(testSeg)
	old2.BeginTerm(0, 0)
	fill(old2, 30, 'a')
	if err := old.AppendRaw(0, old2.Bytes(0)); err != nil {
		t.Fatal(err)
	}
	s2 := startSlave(t, old, 2, m.addr, nil)
	waitFor(t, "old slave catch-up", caughtUp(ml, old))
	sameLog(t, ml, old)
	if st := s2.Status(); st.Bootstraps != 1 {
		t.Fatalf("old slave bootstraps = %d", st.Bootstraps)
	}
}

// TestDivergence: the master of term 0 (member 0) writes a tail its slave
// never receives; member 1 becomes master of term 1 by hand and writes;
// member 0 rejoins as its slave and truncates its extra tail.
func TestDivergence(t *testing.T) {
	a := newMemLog(testSeg)
	a.BeginTerm(0, 0)
	fill(a, 50, 'a')
	ma := startMaster(t, a, 0, nil)
	b := newMemLog(testSeg)
	sb := startSlave(t, b, 1, ma.addr, nil)
	waitFor(t, "b catches up", caughtUp(a, b))
	sb.stop()
	common := a.EndPosition()
	fill(a, 20, 'x') // never replicated
	ma.stop(t)

	b.BeginTerm(1, 1)
	fill(b, 30, 'b')
	mb := startMaster(t, b, 1, nil)
	var resets []int64
	var resetMu sync.Mutex
	sa := startSlave(t, a, 0, mb.addr, func(c *SlaveConfig) {
		c.OnReset = func(pos int64) { resetMu.Lock(); resets = append(resets, pos); resetMu.Unlock() }
	})
	waitFor(t, "a follows b", caughtUp(b, a))
	sameLog(t, b, a)
	st := sa.Status()
	if st.Truncations != 1 || st.Bootstraps != 0 || st.MasterEpoch != 1 {
		t.Fatalf("status %+v", st)
	}
	resetMu.Lock()
	if len(resets) != 1 || resets[0] != common {
		t.Fatalf("OnReset calls %v, want [%d]", resets, common)
	}
	resetMu.Unlock()
	if !bytes.Equal(a.Bytes(0)[:common], b.Bytes(0)[:common]) {
		t.Fatal("common prefix changed")
	}
	waitFor(t, "a in sync", func() bool { return inSync(mb.Master, 0) })
}

// TestStaleMasterRefused: a slave that knows term 1 is never truncated by
// the master of term 0 (a deposed master that does not know it yet).
func TestStaleMasterRefused(t *testing.T) {
	old := newMemLog(testSeg)
	old.BeginTerm(0, 0)
	fill(old, 20, 'a')
	s := newMemLog(testSeg)
	if err := s.AppendRaw(0, old.Bytes(0)); err != nil {
		t.Fatal(err)
	}
	s.BeginTerm(1, 1)
	fill(s, 5, 'b')
	before := s.Bytes(0)
	m := startMaster(t, old, 0, nil)
	ts := startSlave(t, s, 2, m.addr, nil)
	waitFor(t, "refusal", func() bool {
		err := ts.Status().LastError
		return err != nil && strings.Contains(err.Error(), "stale")
	})
	if !bytes.Equal(before, s.Bytes(0)) {
		t.Fatal("a stale master changed the slave's log")
	}
	if len(m.Slaves()) != 0 {
		t.Fatal("refused slave is listed")
	}
}

func TestRefusals(t *testing.T) {
	ml := newMemLog(testSeg)
	ml.BeginTerm(0, 7)
	m := startMaster(t, ml, 7, nil)
	for _, c := range []struct {
		group  string
		member int64
		want   string
	}{{"other", 1, "group"}, {"g", 7, "master's own"}} {
		sl := newMemLog(testSeg)
		ts := startSlave(t, sl, c.member, m.addr, func(sc *SlaveConfig) { sc.Group = c.group })
		waitFor(t, "refusal "+c.want, func() bool {
			err := ts.Status().LastError
			return err != nil && strings.Contains(err.Error(), c.want) && errors.Is(err, errRefused)
		})
		ts.stop()
	}
	if len(m.Slaves()) != 0 || len(m.InSync()) != 0 {
		t.Fatal("refused slaves are tracked")
	}
}

// TestISRShrinkAndGrow: a slave that stops acknowledging leaves the ISR
// after ReplicaLagTime, the commit limit then moves without it, and it
// comes back once it acknowledges again.
func TestISRShrinkAndGrow(t *testing.T) {
	ml := newMemLog(testSeg)
	ml.BeginTerm(0, 0)
	fill(ml, 20, 'a')
	var changes atomic.Int32
	m := startMaster(t, ml, 0, func(c *MasterConfig) {
		c.OnISRChange = func([]int64) { changes.Add(1) }
	})
	var p pauser
	sl := newMemLog(testSeg)
	// The slave's heartbeat sets how long the master waits for a frame
	// before dropping the connection (5 heartbeats + 1s, here 1.25s), so
	// the lag rule (300ms) acts first.
	startSlave(t, sl, 1, m.addr, func(c *SlaveConfig) { c.Dial = p.dial; c.Heartbeat = 50 * time.Millisecond })
	waitFor(t, "in sync", func() bool { return inSync(m.Master, 1) })
	waitFor(t, "ISR callback", func() bool { return changes.Load() >= 1 })

	p.set(true)
	fill(ml, 10, 'b')
	m.Notify()
	waitFor(t, "slave leaves the ISR", func() bool { return !inSync(m.Master, 1) })
	if si := m.Slaves(); len(si) != 1 || si[0].InSync || si[0].LagBytes == 0 {
		t.Fatalf("a lagging slave still connected: %+v", si)
	}
	if err := m.CheckInSync(2); !errors.Is(err, ErrNotEnoughReplicas) {
		t.Fatalf("CheckInSync(2) = %v", err)
	}
	// The master alone is the ISR: its end is committed.
	waitFor(t, "fence lifted", func() bool { return ml.CommitLimit() == NoCommitLimit })

	p.set(false)
	waitFor(t, "slave back in the ISR", func() bool { return inSync(m.Master, 1) })
	waitFor(t, "caught up", caughtUp(ml, sl))
	if changes.Load() < 3 {
		t.Fatalf("ISR callbacks: %d", changes.Load())
	}
	if err := m.CheckInSync(2); err != nil {
		t.Fatal(err)
	}
}

// TestWaitReplicated: a sync-mode wait never returns before every in-sync
// slave has the bytes; it fails with NOT_ENOUGH_REPLICAS_AFTER_APPEND
// when the ISR shrinks below min.insync, and with ctx's error on timeout.
func TestWaitReplicated(t *testing.T) {
	ml := newMemLog(testSeg)
	ml.BeginTerm(0, 0)
	m := startMaster(t, ml, 0, func(c *MasterConfig) { c.ReplicaLagTime = 2 * time.Second })
	var p pauser
	sl := newMemLog(testSeg)
	startSlave(t, sl, 1, m.addr, func(c *SlaveConfig) { c.Dial = p.dial })
	waitFor(t, "in sync", func() bool { return inSync(m.Master, 1) })

	// Many writers, each checking the slave holds its bytes on return.
	var wg sync.WaitGroup
	var bad atomic.Int32
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 30; i++ {
				pos := ml.Append(200, 'w')
				m.Notify()
				if err := m.WaitReplicated(context.Background(), pos, 2); err != nil {
					t.Error(err)
					return
				}
				if sl.EndPosition() < pos {
					bad.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if bad.Load() > 0 {
		t.Fatalf("%d waits returned before the slave had the bytes", bad.Load())
	}

	// A paused slave: the wait times out (ctx), the bytes are not there.
	p.set(true)
	pos := ml.Append(200, 'p')
	m.Notify()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	err := m.WaitReplicated(ctx, pos, 2)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("wait with a paused slave: %v", err)
	}
	// ... and once it leaves the ISR, min.insync=2 fails the wait, while
	// min.insync=1 lets it through.
	errc := make(chan error, 1)
	go func() { errc <- m.WaitReplicated(context.Background(), pos, 2) }()
	if err := <-errc; !errors.Is(err, ErrNotEnoughReplicasAfterAppend) {
		t.Fatalf("wait while the ISR shrinks: %v", err)
	}
	if err := m.WaitReplicated(context.Background(), pos, 1); err != nil {
		t.Fatal(err)
	}
	p.set(false)
}

// TestCommitLimitNeverAheadOfAck: the fence the master sets is never
// ahead of what an in-sync slave holds, while slaves join one by one under
// concurrent appends. Checked at every SetCommitLimit and continuously.
func TestCommitLimitNeverAheadOfAck(t *testing.T) {
	ml := newMemLog(1 << 20)
	ml.BeginTerm(0, 0)
	slaves := []*memLog{newMemLog(1 << 20), newMemLog(1 << 20), newMemLog(1 << 20)}
	var m atomic.Pointer[Master]
	var violations, checks atomic.Int32
	check := func(limit int64) {
		mm := m.Load()
		if limit == NoCommitLimit || mm == nil {
			return
		}
		checks.Add(1)
		for _, id := range mm.InSync() {
			if e := slaves[id-1].EndPosition(); e < limit {
				t.Logf("slave %d ends at %d, commit limit %d", id, e, limit)
				violations.Add(1)
			}
		}
	}
	ml.onLimit = check
	tm := startMaster(t, ml, 0, func(c *MasterConfig) { c.ReplicaLagTime = time.Minute })
	m.Store(tm.Master)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				ml.Append(500, 'c')
				tm.Notify()
				time.Sleep(50 * time.Microsecond)
			}
		}()
	}
	wg.Add(1)
	go func() { // the watcher: (ISR, then limit) never shows a slave behind
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			check(ml.CommitLimit())
			time.Sleep(50 * time.Microsecond)
		}
	}()
	for i, s := range slaves {
		startSlave(t, s, int64(i+1), tm.addr, nil)
		waitFor(t, "in sync", func() bool { return inSync(tm.Master, int64(i+1)) })
	}
	waitFor(t, "many checks", func() bool { return checks.Load() > 500 })
	close(stop)
	wg.Wait()
	if v := violations.Load(); v > 0 {
		t.Fatalf("%d fences ahead of an in-sync slave", v)
	}
}

func TestThrottle(t *testing.T) {
	for _, side := range []string{"leader", "follower"} {
		t.Run(side, func(t *testing.T) {
			const rate = 512 << 10
			ml := newMemLog(1 << 20)
			ml.BeginTerm(0, 0)
			for ml.EndPosition() < 256<<10 {
				ml.Append(4000, 'r')
			}
			total := ml.EndPosition()
			m := startMaster(t, ml, 0, func(c *MasterConfig) {
				if side == "leader" {
					c.RateBytes = rate
				}
			})
			sl := newMemLog(1 << 20)
			start := time.Now()
			startSlave(t, sl, 1, m.addr, func(c *SlaveConfig) {
				if side == "follower" {
					c.RateBytes = rate
				}
			})
			waitFor(t, "catch-up", caughtUp(ml, sl))
			// A lower bound only: a slow machine cannot make it fail.
			// The first tenth of a second's burst passes at once.
			min := time.Duration(float64(total-rate/10) / rate * float64(time.Second))
			if el := time.Since(start); el < min {
				t.Fatalf("%d bytes in %v at %d B/s (expected >= %v)", total, el, rate, min)
			}
			sameLog(t, ml, sl)
		})
	}
}

func TestCommonPoint(t *testing.T) {
	T := func(e int32, s, m int64) storage.Term { return storage.Term{Epoch: e, Start: s, Master: m} }
	for i, c := range []struct {
		m    []storage.Term
		mEnd int64
		s    []storage.Term
		sEnd int64
		want int64
	}{
		{nil, 100, nil, 0, 0},
		{nil, 100, nil, 50, 50},
		{[]storage.Term{T(0, 0, 0)}, 100, []storage.Term{T(0, 0, 0)}, 50, 50},
		// The slave has more of the master's current term than the master
		// (it lost a tail): only the term's start is known common.
		{[]storage.Term{T(0, 0, 0)}, 100, []storage.Term{T(0, 0, 0)}, 150, 0},
		{[]storage.Term{T(0, 0, 0), T(1, 80, 1)}, 100, []storage.Term{T(0, 0, 0), T(1, 80, 1)}, 150, 80},
		// Kafka KIP-101 example: slave wrote more in term 0 than the new master had.
		{[]storage.Term{T(0, 0, 0), T(1, 80, 1)}, 200, []storage.Term{T(0, 0, 0)}, 120, 80},
		// KIP-279: the slave missed term 1 and wrote term 2 that the master never saw.
		{[]storage.Term{T(0, 0, 0), T(1, 80, 1), T(3, 150, 1)}, 300, []storage.Term{T(0, 0, 0), T(2, 100, 2)}, 140, 80},
		// Same epoch begun twice (different masters): not common.
		{[]storage.Term{T(0, 0, 0), T(1, 80, 1)}, 200, []storage.Term{T(0, 0, 0), T(1, 80, 2)}, 120, 80},
		// Legacy bytes before the first term.
		{[]storage.Term{T(0, 1000, 0)}, 2000, nil, 1500, 1000},
		{[]storage.Term{T(0, 1000, 0)}, 2000, nil, 500, 500},
		// Slave at the master's term, behind.
		{[]storage.Term{T(0, 0, 0), T(1, 80, 1)}, 200, []storage.Term{T(0, 0, 0), T(1, 80, 1)}, 150, 150},
	} {
		if got := commonPoint(c.m, c.mEnd, c.s, c.sEnd); got != c.want {
			t.Errorf("case %d: commonPoint = %d, want %d", i, got, c.want)
		}
	}
}

func TestDecide(t *testing.T) {
	T := func(e int32, s, m int64) storage.Term { return storage.Term{Epoch: e, Start: s, Master: m} }
	master := []storage.Term{T(0, 0, 0), T(1, 5000, 1)}
	boot := func(p int64) func() (int64, error) { return func() (int64, error) { return p, nil } }
	for i, c := range []struct {
		h          hello
		end, first int64
		boot       int64
		want       plan
		wantErr    error
	}{
		// empty slave, nothing deleted: follow from 0
		{hello{}, 9000, 0, 0, plan{pos: 0, holdsAll: true}, nil},
		// empty slave, master deleted early segments: bootstrap
		{hello{}, 9000, 4096, 4096, plan{bootstrap: true}, nil},
		// behind, same term: follow from its end
		{hello{End: 3000, Terms: master[:1]}, 9000, 0, 0, plan{pos: 3000, holdsAll: true}, nil},
		// diverged in term 0 past where term 1 began: truncate to 5000
		{hello{End: 7000, Terms: master[:1]}, 9000, 0, 0, plan{pos: 5000, holdsAll: true}, nil},
		// behind the master's first position: bootstrap
		{hello{End: 3000, Terms: master[:1]}, 9000, 4096, 4096, plan{bootstrap: true}, nil},
		// its own first position is past the master's, but at or before
		// every retained record: follows
		{hello{End: 8000, First: 6000, Terms: master}, 9000, 4096, 6000, plan{pos: 8000, holdsAll: true}, nil},
		// ... past a retained record: bootstrap
		{hello{End: 8000, First: 6000, Terms: master}, 9000, 4096, 5500, plan{bootstrap: true}, nil},
		// the common point is below what the slave still has: bootstrap
		{hello{End: 7000, First: 6000, Terms: []storage.Term{T(0, 0, 0), T(1, 5000, 9)}}, 9000, 0, 0, plan{bootstrap: true}, nil},
		// a slave with a newer term: this master is stale
		{hello{End: 7000, Terms: []storage.Term{T(0, 0, 0), T(2, 6000, 2)}}, 9000, 0, 0, plan{}, errStaleMaster},
	} {
		c.h.Heartbeat = time.Second
		got, err := decide(&c.h, master, c.end, c.first, boot(c.boot))
		if !errors.Is(err, c.wantErr) || got != c.want {
			t.Errorf("case %d: decide = %+v, %v; want %+v, %v", i, got, err, c.want, c.wantErr)
		}
	}
}

// TestPushOnNotify: with a heartbeat of an hour, only Notify can wake the
// sender, so bytes reaching the slave show the push is not a poll.
func TestPushOnNotify(t *testing.T) {
	ml := newMemLog(testSeg)
	ml.BeginTerm(0, 0)
	m := startMaster(t, ml, 0, func(c *MasterConfig) { c.Heartbeat = time.Hour; c.ReplicaLagTime = 2 * time.Hour })
	sl := newMemLog(testSeg)
	startSlave(t, sl, 1, m.addr, nil)
	waitFor(t, "connected", caughtUp(ml, sl))
	for i := 0; i < 20; i++ {
		ml.Append(100, 'n')
		m.Notify()
		waitFor(t, "pushed", caughtUp(ml, sl))
	}
}

// TestRetentionUnderLaggingSlave: retention deletes what a connected,
// throttled slave still needs; the master's read fails, the connection
// closes, and the slave comes back through a bootstrap with every record
// the master retains.
func TestRetentionUnderLaggingSlave(t *testing.T) {
	ml := newMemLog(testSeg)
	ml.BeginTerm(0, 0)
	fill(ml, 300, 'a')
	// Throttled on the master's side, so it reads as it sends.
	m := startMaster(t, ml, 0, func(c *MasterConfig) { c.ChunkBytes = 4096; c.RateBytes = 64 << 10 })
	sl := newMemLog(testSeg)
	s := startSlave(t, sl, 1, m.addr, nil)
	waitFor(t, "slave started", func() bool { return sl.EndPosition() > 0 })
	ml.DeleteBefore(40 * testSeg) // far beyond the slave (about 2 s away)
	m.SetRate(0)
	waitFor(t, "catch-up", caughtUp(ml, sl))
	sameLog(t, ml, sl)
	if st := s.Status(); st.Bootstraps != 1 || st.Connects < 2 {
		t.Fatalf("status %+v", st)
	}
	waitFor(t, "in sync", func() bool { return inSync(m.Master, 1) })
}

// TestJoinEmptyISR walks the join of an empty ISR (white box, no
// sockets): the fence freezes at the end, a slave that does not reach it
// within a heartbeat is not admitted and the fence is lifted again (with a
// backoff), and one that reaches it joins with the fence at its ack.
func TestJoinEmptyISR(t *testing.T) {
	ml := newMemLog(1 << 20)
	ml.BeginTerm(0, 0)
	end := fill(ml, 10, 'j')
	m, err := NewMaster(MasterConfig{Group: "g", Log: ml, Heartbeat: 20 * time.Millisecond, ReplicaLagTime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	c := &slaveConn{m: m, member: 1, wake: make(chan struct{}, 1), since: time.Now()}
	defer func() {
		m.mu.Lock()
		delete(m.conns, 1) // not a real connection: Close must not close it
		m.mu.Unlock()
		m.Close()
	}()
	m.mu.Lock()
	c.streaming, c.hasAck, c.holdsAll, c.acked, c.lastCaughtUp = true, true, true, end-100, time.Now()
	m.conns[1] = c
	m.mu.Unlock()

	m.evaluate()
	m.mu.Lock()
	joining, limit := m.joining, m.limit
	m.mu.Unlock()
	if !joining || limit != end || ml.CommitLimit() != end || len(m.InSync()) != 0 {
		t.Fatalf("freeze: joining %v limit %d (log %d), ISR %v", joining, limit, ml.CommitLimit(), m.InSync())
	}
	waitFor(t, "the try to run out", func() bool {
		m.evaluate()
		m.mu.Lock()
		defer m.mu.Unlock()
		return !m.joining
	})
	if ml.CommitLimit() != NoCommitLimit || len(m.InSync()) != 0 || m.joinFails != 1 {
		t.Fatalf("after a failed join: log limit %d, ISR %v, fails %d", ml.CommitLimit(), m.InSync(), m.joinFails)
	}

	end = ml.Append(100, 'k')
	m.mu.Lock()
	c.acked, c.lastCaughtUp = end, time.Now()
	m.mu.Unlock()
	waitFor(t, "the join", func() bool { m.evaluate(); return inSync(m, 1) })
	if got := ml.CommitLimit(); got != end {
		t.Fatalf("fence %d after the join, slave acked %d", got, end)
	}
}

// TestCloseWakesWaiters: a master closing (stepping down) answers every
// waiting sync-mode write with ErrClosed, and leaves the fence alone.
func TestCloseWakesWaiters(t *testing.T) {
	ml := newMemLog(testSeg)
	ml.BeginTerm(0, 0)
	m := startMaster(t, ml, 0, func(c *MasterConfig) { c.ReplicaLagTime = time.Minute })
	var p pauser
	sl := newMemLog(testSeg)
	startSlave(t, sl, 1, m.addr, func(c *SlaveConfig) { c.Dial = p.dial })
	waitFor(t, "in sync", func() bool { return inSync(m.Master, 1) })
	p.set(true)
	pos := ml.Append(100, 'c')
	m.Notify()
	errc := make(chan error, 4)
	for i := 0; i < 4; i++ {
		go func() { errc <- m.WaitReplicated(context.Background(), pos, 1) }()
	}
	time.Sleep(20 * time.Millisecond) // let them wait (not an assertion)
	fence := ml.CommitLimit()
	m.stop(t)
	for i := 0; i < 4; i++ {
		// The slave never acknowledged pos: no waiter may succeed.
		if err := <-errc; !errors.Is(err, ErrClosed) {
			t.Fatalf("waiter: %v", err)
		}
	}
	if got := ml.CommitLimit(); got != fence || got >= pos {
		t.Fatalf("fence moved from %d to %d on Close (append ends %d)", fence, got, pos)
	}
	p.set(false)
}

// TestMasterLostTail: the master loses a tail it had streamed (a power
// loss under async flush) and restarts in the same term. Whether it then
// wrote less than the slave has (the slave is ahead in the master's own
// term) or more (the slave's last frame is not in the master's log), the
// slave truncates to the term's start instead of keeping bytes the master
// no longer has.
func TestMasterLostTail(t *testing.T) {
	for _, c := range []struct {
		name  string
		after int // entries the restarted master writes before the slave returns
	}{{"master behind", 2}, {"master ahead", 40}} {
		t.Run(c.name, func(t *testing.T) {
			ml := newMemLog(testSeg)
			ml.BeginTerm(0, 0)
			fill(ml, 30, 'a')
			lost := ml.EndPosition()
			m := startMaster(t, ml, 0, nil)
			sl := newMemLog(testSeg)
			s := startSlave(t, sl, 1, m.addr, nil)
			fill(ml, 10, 'b')
			m.Notify()
			waitFor(t, "slave has the tail", caughtUp(ml, sl))
			m.stop(t)
			if err := ml.Truncate(lost); err != nil { // the tail is lost
				t.Fatal(err)
			}
			for i := 0; i < c.after; i++ {
				ml.Append(333, 'z')
			}
			m2 := startMaster(t, ml, 0, nil)
			s.setMaster(m2.addr)
			waitFor(t, "slave follows the restarted master", caughtUp(ml, sl))
			sameLog(t, ml, sl)
			if st := s.Status(); st.Truncations != 1 {
				t.Fatalf("status %+v", st)
			}
		})
	}
}

// TestMustHoldCapsCommitLimit: the commit limit never passes what a
// MustHold member (fail-over's committed in-sync set) acknowledged, though
// the replication ISR dropped it — with another slave in sync and with
// none — and moves on once MustHold no longer names it.
func TestMustHoldCapsCommitLimit(t *testing.T) {
	ml := newMemLog(testSeg)
	ml.BeginTerm(0, 0)
	fill(ml, 20, 'a')
	var mu sync.Mutex
	hold := []int64{0, 1, 2}
	m := startMaster(t, ml, 0, func(c *MasterConfig) {
		c.MustHold = func() []int64 {
			mu.Lock()
			defer mu.Unlock()
			return hold
		}
	})
	var p1, p2 pauser
	s1, s2 := newMemLog(testSeg), newMemLog(testSeg)
	startSlave(t, s1, 1, m.addr, func(c *SlaveConfig) { c.Dial = p1.dial; c.Heartbeat = 50 * time.Millisecond })
	startSlave(t, s2, 2, m.addr, func(c *SlaveConfig) { c.Dial = p2.dial; c.Heartbeat = 50 * time.Millisecond })
	waitFor(t, "both in sync", func() bool { return inSync(m.Master, 1) && inSync(m.Master, 2) })
	waitFor(t, "caught up", func() bool { return ml.CommitLimit() == ml.EndPosition() })

	p1.set(true) // slave 1 stops acknowledging
	held := s1.EndPosition()
	fill(ml, 10, 'b')
	m.Notify()
	waitFor(t, "slave 1 leaves the ISR", func() bool { return !inSync(m.Master, 1) })
	waitFor(t, "slave 2 has it", caughtUp(ml, s2))
	time.Sleep(5 * testHB)
	if l := ml.CommitLimit(); l > held {
		t.Fatalf("commit limit %d passed %d, all slave 1 (still in the committed set) holds", l, held)
	}

	p2.set(true) // the ISR empties: the fence must not be lifted
	waitFor(t, "slave 2 leaves the ISR", func() bool { return !inSync(m.Master, 2) })
	fill(ml, 5, 'c')
	time.Sleep(5 * testHB)
	if l := ml.CommitLimit(); l > held {
		t.Fatalf("commit limit %d passed %d with an empty ISR", l, held)
	}

	mu.Lock()
	hold = []int64{0} // the shrink is committed
	mu.Unlock()
	waitFor(t, "fence lifted", func() bool { return ml.CommitLimit() == NoCommitLimit })
	p1.set(false)
	p2.set(false)
}
