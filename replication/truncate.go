package replication

import (
	"errors"
	"fmt"

	"github.com/gregor-broker/gregor/storage"
)

// commonPoint returns the position up to which a slave's commit log is
// known to equal the master's, from both sides' terms and ends.
//
// A term is identified by (epoch, start, master): its first entry is
// written by one master at one position and copied byte for byte, so two
// logs holding the same term hold the same bytes from its start up to
// where the shorter of the two ends it (the next term's start, or the log
// end), and the same bytes before its start (a log only ever receives a
// term by following the master that began it, after truncating to the
// common point). So the answer is the largest term both hold, ended at the
// earlier of its two ends. That is Kafka's KIP-101/KIP-279 rule (the
// largest master epoch <= the slave's last epoch, and where it ends on
// each side) done in one step, because the master has both term lists;
// RocketMQ's controller mode (EpochFileCache.findConsistentPoint) does the
// same. Without a common term only what precedes every term can be
// shared.
func commonPoint(master []storage.Term, masterEnd int64, slave []storage.Term, slaveEnd int64) int64 {
	for i := len(slave) - 1; i >= 0; i-- {
		t := slave[i]
		j := findTerm(master, t.Epoch)
		if j < 0 || master[j] != t {
			continue
		}
		mEnd, sEnd := masterEnd, slaveEnd
		if j+1 < len(master) {
			mEnd = master[j+1].Start
		}
		if i+1 < len(slave) {
			sEnd = slave[i+1].Start
		}
		if j+1 == len(master) && sEnd > mEnd {
			// The slave holds more of the master's current term than
			// the master: the master lost a tail it had streamed (a
			// crash losing unsynced bytes, restarted in the same term)
			// and may since have written other bytes there. Only the
			// term's start is known to be common.
			return t.Start
		}
		return max(min(mEnd, sEnd), t.Start)
	}
	p := min(masterEnd, slaveEnd)
	if len(master) > 0 {
		p = min(p, master[0].Start)
	}
	if len(slave) > 0 {
		p = min(p, slave[0].Start)
	}
	return p
}

// commonTermStart is the start of the latest term both lists hold (0 when
// none).
func commonTermStart(master, slave []storage.Term) int64 {
	for i := len(slave) - 1; i >= 0; i-- {
		if j := findTerm(master, slave[i].Epoch); j >= 0 && master[j] == slave[i] {
			return slave[i].Start
		}
	}
	return 0
}

func findTerm(ts []storage.Term, epoch int32) int {
	lo, hi := 0, len(ts)
	for lo < hi {
		m := (lo + hi) / 2
		if ts[m].Epoch < epoch {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(ts) && ts[lo].Epoch == epoch {
		return lo
	}
	return -1
}

func lastEpoch(ts []storage.Term) int32 {
	if len(ts) == 0 {
		return -1
	}
	return ts[len(ts)-1].Epoch
}

// errStaleMaster: a slave knows a newer term than the master it reached.
var errStaleMaster = errors.New("replication: stale master")

// plan is the master's answer to a hello.
type plan struct {
	bootstrap bool
	pos       int64 // follow: truncate to and stream from
	holdsAll  bool  // the slave will hold every record the master retains
}

// decide plans how a slave joins. first is the master's FirstPosition;
// bootPos, called at most once and only when needed, is where a bootstrap
// would start (every retained record is at or after it).
func decide(h *hello, terms []storage.Term, end, first int64, bootPos func() (int64, error)) (plan, error) {
	if le, ls := lastEpoch(terms), lastEpoch(h.Terms); ls > le {
		return plan{}, fmt.Errorf("%w: the slave has term %d, newer than this master's %d", errStaleMaster, ls, le)
	}
	if h.End == 0 && first == 0 {
		return plan{pos: 0, holdsAll: true}, nil // empty slave, nothing deleted: follow from the start
	}
	p := commonPoint(terms, end, h.Terms, h.End)
	if p < first || p < h.First {
		// Below what the master retains, or below what the slave
		// still has (it could not truncate there).
		return plan{bootstrap: true}, nil
	}
	if h.First <= first {
		return plan{pos: p, holdsAll: true}, nil
	}
	// The slave lacks records at the start of what the master retains
	// (its own retention went further, or it bootstrapped earlier): fine
	// if none of them is a record the master still retains.
	bp, err := bootPos()
	if err != nil {
		return plan{}, err
	}
	if h.First > bp {
		return plan{bootstrap: true}, nil
	}
	return plan{pos: p, holdsAll: true}, nil
}
