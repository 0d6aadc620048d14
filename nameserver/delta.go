package nameserver

import (
	"crypto/rand"
	"encoding/hex"
	"reflect"
	"strconv"
	"sync/atomic"
)

// Delta route reads (issue 14 item 8).
//
// Brokers poll the route table every couple of seconds. At internet scale
// (1,000 members, 100,000 partitions) the whole table is several MB, and
// re-reading and re-merging it every poll while nothing changed is most of
// what a NameServer and a broker do. So the registry numbers its routing
// changes (gen): a registration whose routing content differs from the
// member's previous one, a new member, a member leaving. A reader that
// remembers the generation it has asks GET /v1/routes?since=G&instance=I
// and gets only the members whose routing changed after G (whole) and the
// members that left; an unchanged table answers with no member at all.
//
// Routing content is everything a member registers except what moves with
// every heartbeat of a busy broker: its commit-log end (LogEnd), its
// slaves' lag figures (LagBytes, LagMs) and the heartbeat time. A delta
// reader therefore holds those as of the member's last routing change;
// whoever needs them fresh (the cluster command, an unclean election)
// reads the whole table (Routes).
//
// instance is random per registry: a restarted NameServer starts its
// generations again, and a reader whose instance differs gets the whole
// table (full). So does one asking about a generation older than the
// removals the registry still remembers (maxTombs).

// maxTombs bounds the removals remembered for delta readers.
const maxTombs = 4096

// tomb is a member removed at a generation.
type tomb struct {
	k   brokerKey
	gen uint64
}

// MemberKey names a member (group and id).
type MemberKey struct {
	BrokerName string `json:"broker_name"`
	BrokerID   int64  `json:"broker_id"`
}

// RoutesDelta answers a delta read (Registry.RoutesSince).
type RoutesDelta struct {
	// Instance identifies the registry (a restart changes it).
	Instance string `json:"instance"`
	// Gen is the generation the reader holds once it applied this answer.
	Gen uint64 `json:"gen"`
	// Full means Brokers is the whole table: forget what was held.
	Full bool `json:"full,omitempty"`
	// Brokers are the members whose routing changed since the generation
	// asked about (or all of them when Full), each whole.
	Brokers []Broker `json:"brokers,omitempty"`
	// Removed are members that left since then and are not registered now.
	Removed []MemberKey `json:"removed,omitempty"`
}

// instancePrefix is random per process; newInstance numbers the
// registries after it (a Merge builds one per call: no syscall each).
var (
	instancePrefix = func() string {
		var b [8]byte
		rand.Read(b[:])
		return hex.EncodeToString(b[:])
	}()
	instances atomic.Uint64
)

func newInstance() string {
	return instancePrefix + "-" + strconv.FormatUint(instances.Add(1), 10)
}

// sameRoute reports whether two registrations of one member carry the same
// routing content (see the file comment: LogEnd and lag figures aside).
// Every other field counts, including fields added later.
func sameRoute(a, b *Registration) bool {
	x, y := *a, *b
	x.LogEnd, y.LogEnd = 0, 0
	x.Slaves, y.Slaves = routeSlaves(a.Slaves), routeSlaves(b.Slaves)
	return reflect.DeepEqual(x, y)
}

// routeSlaves is ss without the lag figures.
func routeSlaves(ss []SlaveState) []SlaveState {
	if ss == nil {
		return nil
	}
	out := make([]SlaveState, len(ss))
	for i, s := range ss {
		out[i] = SlaveState{Member: s.Member, InSync: s.InSync}
	}
	return out
}

// removedLocked records that k left; under r.mu (write).
func (r *Registry) removedLocked(k brokerKey) {
	r.gen++
	r.tombs = append(r.tombs, tomb{k, r.gen})
	if len(r.tombs) > maxTombs {
		drop := len(r.tombs) - maxTombs/2
		r.tombFloor = r.tombs[drop-1].gen
		r.tombs = append(r.tombs[:0], r.tombs[drop:]...)
	}
}

// Gen is the registry's routing generation: it moves whenever a delta
// reader would get something.
func (r *Registry) Gen() uint64 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.gen
}

// RoutesSince answers a reader that holds generation since of registry
// instance: the members whose routing changed after it and the members
// that left, or the whole table (Full) when the reader's instance is
// another or since is older than the removals remembered. The members
// returned share their slices with the registry (records are replaced
// whole, never modified): callers must not modify them.
func (r *Registry) RoutesSince(instance string, since uint64) RoutesDelta {
	r.mu.RLock()
	defer r.mu.RUnlock()
	d := RoutesDelta{Instance: r.instance, Gen: r.gen}
	if instance != r.instance || since < r.tombFloor || since > r.gen {
		d.Full = true
		d.Brokers = make([]Broker, 0, len(r.brokers))
		for _, b := range r.brokers {
			d.Brokers = append(d.Brokers, *b)
		}
		return d
	}
	if since == r.gen {
		return d
	}
	for _, b := range r.brokers {
		if b.changed > since {
			d.Brokers = append(d.Brokers, *b)
		}
	}
	for i := len(r.tombs) - 1; i >= 0 && r.tombs[i].gen > since; i-- {
		k := r.tombs[i].k
		if _, back := r.brokers[k]; !back {
			d.Removed = append(d.Removed, MemberKey{k.name, k.id})
		}
	}
	return d
}
