package replication

import (
	"math/rand"
	"testing"

	"github.com/gregor-broker/gregor/storage"
)

// modelEntry is one unit-size commit-log entry of the model: the term that
// wrote it and whether it begins the term.
type modelEntry struct {
	epoch int32
	first bool
}

type modelLog []modelEntry

func (l modelLog) terms(masters map[int32]int64) []storage.Term {
	var ts []storage.Term
	for i, e := range l {
		if e.first {
			ts = append(ts, storage.Term{Epoch: e.epoch, Start: int64(i), Master: masters[e.epoch]})
		}
	}
	return ts
}

func lcp(a, b modelLog) int64 {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return int64(n)
}

// TestCommonPointModel: random histories of masters changing (each new
// term begun on some member's own log), slaves following with truncation
// at commonPoint and copying part of the master's log. The truncation
// point is always exactly the longest common prefix of the two logs: never
// more (a slave would keep bytes the master does not have) and never less
// (it would throw away good bytes).
func TestCommonPointModel(t *testing.T) {
	for seed := int64(1); seed <= 300; seed++ {
		rng := rand.New(rand.NewSource(seed))
		const members = 4
		logs := make([]modelLog, members)
		masters := map[int32]int64{}
		epoch := int32(-1)
		master := 0
		begin := func(m int) {
			epoch++
			masters[epoch] = int64(m)
			master = m
			logs[m] = append(logs[m], modelEntry{epoch: epoch, first: true})
		}
		begin(0)
		for step := 0; step < 60; step++ {
			switch r := rng.Intn(10); {
			case r < 4: // the master writes
				for k := rng.Intn(5); k > 0; k-- {
					logs[master] = append(logs[master], modelEntry{epoch: epoch})
				}
			case r < 8: // a slave follows for a while
				s := rng.Intn(members)
				if s == master {
					continue
				}
				mt, st := logs[master].terms(masters), logs[s].terms(masters)
				if lastEpoch(st) > lastEpoch(mt) {
					t.Fatalf("seed %d: slave %d has a newer term than master %d", seed, s, master)
				}
				p := commonPoint(mt, int64(len(logs[master])), st, int64(len(logs[s])))
				if want := lcp(logs[master], logs[s]); p != want {
					t.Fatalf("seed %d step %d: commonPoint %d, longest common prefix %d\nmaster %v\nslave  %v",
						seed, step, p, want, logs[master], logs[s])
				}
				logs[s] = append(modelLog(nil), logs[s][:p]...)
				n := p + rng.Int63n(int64(len(logs[master]))-p+1)
				logs[s] = append(logs[s], logs[master][p:n]...)
			default: // a change of term: any member may become master,
				// with whatever it has (an unclean choice included)
				begin(rng.Intn(members))
			}
		}
	}
}
