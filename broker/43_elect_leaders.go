package broker

// ElectLeaders (key 43), versions 0–2.
//
// Behaviour:
//   - A gregor broker group fails over as a whole: its partitions share one
//     commit log, so "the leader of a partition" is the group's master and
//     an election moves every partition the group owns, listed in the
//     request or not. The answer lists the partitions asked for (for a
//     request naming none: every partition of the cluster whose election
//     was needed, as Kafka's controller omits ELECTION_NOT_NEEDED then).
//   - PREFERRED: a partition's preferred replica is the first of its
//     replicas, which Metadata lists by broker.member.id — the group's
//     lowest member, member 0 (RocketMQ's brokerId 0, the member that began
//     the group's first term). Already master: ELECTION_NOT_NEEDED. Not
//     live, not in the master's in-sync set, or the group without a live
//     master: PREFERRED_LEADER_NOT_AVAILABLE (the message says which).
//     Otherwise the planned hand-over of `gregor cluster promote` (the
//     master steps down and yields its lease, the member catches up to its
//     end and begins the next term: no acknowledged write lost), asked of
//     the member over its HTTP port.
//   - UNCLEAN: as Kafka, only for a partition without a leader; a group
//     with a live master gets ELECTION_NOT_NEEDED. Otherwise the live
//     member whose commit log reaches furthest is promoted with force (what
//     the gone master alone had is lost and truncated on it when it
//     returns); no live member: ELIGIBLE_LEADERS_NOT_AVAILABLE. Under
//     fail-over leases the term still begins only with the lease, so an
//     old master that is alive but unregistered is never doubled.
//   - The request's timeout bounds each hand-over (REQUEST_TIMED_OUT past
//     it); a hand-over that fails answers the election's "not available"
//     code with the reason. On success the answer waits (within the
//     timeout) until this broker's routes name the new master, so a
//     Metadata request right after it shows the new leader.
//   - Needs ALTER on the cluster (authorizeCluster): without it
//     CLUSTER_AUTHORIZATION_FAILED, top level and per partition, as Kafka's
//     controller answers.
//
// Versions:
//   - v0: no election type (PREFERRED); no top-level error code.
//   - v1: election type; an unknown one gets INVALID_REQUEST, top level
//     and per partition (Kafka's controller throws InvalidRequestException).
//   - v2: flexible.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gregor-broker/gregor/nameserver"
	"github.com/gregor-broker/gregor/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.ElectLeaders, 0, 2, handleElectLeaders) }

// Kafka's ElectionType values.
const (
	electionPreferred int8 = 0
	electionUnclean   int8 = 1
)

// electDefaultTimeout bounds a hand-over when the request gives no timeout.
const electDefaultTimeout = 30 * time.Second

// electOutcome is one group's election result, shared by every partition
// of the request the group owns.
type electOutcome struct {
	code int16
	msg  string
}

func handleElectLeaders(ctx context.Context, b *Broker, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.ElectLeadersRequest)
	resp := r.ResponseKind().(*kmsg.ElectLeadersResponse)
	how := electionPreferred
	if r.Version >= 1 {
		how = r.ElectionType
	}
	v := b.cl().currentView()

	// The partitions asked for, in the request's order (all: by name).
	type tp struct {
		topic string
		parts []int32
	}
	var asked []tp
	all := r.Topics == nil
	if all {
		for _, t := range v.topics {
			ps := make([]int32, t.Partitions)
			for i := range ps {
				ps[i] = int32(i)
			}
			asked = append(asked, tp{t.Name, ps})
		}
	} else {
		for _, t := range r.Topics {
			asked = append(asked, tp{t.Topic, t.Partitions})
		}
	}

	failAll := func(code int16, msg string) {
		resp.ErrorCode = code
		for _, t := range asked {
			rt := kmsg.NewElectLeadersResponseTopic()
			rt.Topic = t.topic
			for _, p := range t.parts {
				rp := kmsg.NewElectLeadersResponseTopicPartition()
				rp.Partition, rp.ErrorCode, rp.ErrorMessage = p, code, kmsg.StringPtr(msg)
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
	}
	if code, msg := b.authorizeCluster(req, aclOpAlter); code != 0 {
		failAll(code, msg)
		return resp, nil
	}
	if how != electionPreferred && how != electionUnclean {
		failAll(kerr.InvalidRequest.Code, fmt.Sprintf("Unknown election type %d", how))
		return resp, nil
	}

	timeout := time.Duration(r.TimeoutMillis) * time.Millisecond
	if timeout <= 0 {
		timeout = electDefaultTimeout
	}
	ectx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	// Which group each asked partition belongs to; each group elects once,
	// all of them at the same time.
	type slot struct {
		group string
		code  int16 // set when the partition is not a group's
		msg   string
	}
	slots := make([][]slot, len(asked))
	groups := map[string]*electOutcome{}
	for i, t := range asked {
		vt := v.byName[t.topic]
		for _, p := range t.parts {
			var s slot
			switch {
			case vt == nil:
				s.code, s.msg = kerr.UnknownTopicOrPartition.Code, "No such topic as "+t.topic
			case p < 0 || p >= vt.Partitions:
				s.code, s.msg = kerr.UnknownTopicOrPartition.Code, fmt.Sprintf("No such partition as %s-%d", t.topic, p)
			default:
				s.group = vt.Owners[p]
				if s.group == "" {
					s.code, s.msg = notAvailable(how), fmt.Sprintf("no broker group is known to own %s-%d", t.topic, p)
				} else {
					groups[s.group] = nil
				}
			}
			slots[i] = append(slots[i], s)
		}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	for g := range groups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out := b.electGroup(ectx, v, g, how)
			mu.Lock()
			groups[g] = &out
			mu.Unlock()
		}()
	}
	wg.Wait()

	for i, t := range asked {
		rt := kmsg.NewElectLeadersResponseTopic()
		rt.Topic = t.topic
		for j, p := range t.parts {
			s := slots[i][j]
			code, msg := s.code, s.msg
			if s.group != "" {
				code, msg = groups[s.group].code, groups[s.group].msg
			}
			if all && code == kerr.ElectionNotNeeded.Code {
				continue
			}
			rp := kmsg.NewElectLeadersResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p, code
			if msg != "" {
				rp.ErrorMessage = kmsg.StringPtr(msg)
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}

// notAvailable is the code of an election that found nobody to elect.
func notAvailable(how int8) int16 {
	if how == electionUnclean {
		return kerr.EligibleLeadersNotAvailable.Code
	}
	return kerr.PreferredLeaderNotAvailable.Code
}

// preferredMember is group's preferred master: its lowest member id among
// the members live now and those seen before (Metadata lists replicas in
// that order, so it is the partitions' first replica), -1 when none is
// known.
func (b *Broker) preferredMember(v *view, group string) int64 {
	ids := b.cl().membersSeen(group)
	for _, m := range v.members[group] {
		ids = append(ids, m.BrokerID)
	}
	if len(ids) == 0 {
		return -1
	}
	return slices.Min(ids)
}

// electGroup runs one group's election.
func (b *Broker) electGroup(ctx context.Context, v *view, group string, how int8) electOutcome {
	master := v.masters[group]
	live := map[int64]*nameserver.Broker{}
	for _, m := range v.members[group] {
		live[m.BrokerID] = m
	}
	var target *nameserver.Broker
	force := false
	switch how {
	case electionPreferred:
		pref := b.preferredMember(v, group)
		switch {
		case master != nil && master.BrokerID == pref:
			return electOutcome{code: kerr.ElectionNotNeeded.Code}
		case master == nil:
			return electOutcome{kerr.PreferredLeaderNotAvailable.Code, fmt.Sprintf(
				"broker group %s has no live master: a hand-over needs one (fail-over promotes an in-sync member; an UNCLEAN election a member outside it)", group)}
		case live[pref] == nil:
			return electOutcome{kerr.PreferredLeaderNotAvailable.Code, fmt.Sprintf(
				"the preferred master, member %d of broker group %s, is not live", pref, group)}
		}
		target = live[pref]
		// In sync: checked by the member itself (promote), from the
		// master's registration or, when that trails, its status.
	case electionUnclean:
		if master != nil {
			return electOutcome{code: kerr.ElectionNotNeeded.Code}
		}
		// The live member whose log reaches furthest loses least.
		for _, m := range b.cl().freshMembers(group, v.members[group]) {
			if target == nil || m.LogEnd > target.LogEnd {
				target = m
			}
		}
		if target == nil {
			return electOutcome{kerr.EligibleLeadersNotAvailable.Code, fmt.Sprintf("broker group %s has no live member", group)}
		}
		force = true
	}
	err := b.promoteMember(ctx, group, target, force)
	// A lease not granted in time (the NameServers' answers came back
	// late on a starved machine) is worth another try within the
	// request's timeout; the master stays stepped down meanwhile, and
	// asking it again is harmless.
	for err != nil && ctx.Err() == nil && strings.Contains(err.Error(), "lease: ") {
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
		if m := b.cl().currentView().masters[group]; m != nil && m.BrokerID == target.BrokerID {
			err = nil // it got there after all
			break
		}
		err = b.promoteMember(ctx, group, target, force)
	}
	if err != nil {
		if ctx.Err() != nil {
			return electOutcome{kerr.RequestTimedOut.Code, fmt.Sprintf("promoting member %d of broker group %s: %v", target.BrokerID, group, err)}
		}
		return electOutcome{notAvailable(how), fmt.Sprintf("promoting member %d of broker group %s: %v", target.BrokerID, group, err)}
	}
	// Answer once this broker's routes name the new master, so the
	// client's next Metadata shows it.
	for ctx.Err() == nil {
		b.cl().refreshSoon()
		if m := b.cl().currentView().masters[group]; m != nil && m.BrokerID == target.BrokerID {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
	return electOutcome{}
}

// promoteMember makes member m of group master of a new term: directly
// when m is this broker, else through m's HTTP port (/cluster/promote,
// promote.go).
func (b *Broker) promoteMember(ctx context.Context, group string, m *nameserver.Broker, force bool) error {
	if b.cl().isSelf(m) {
		_, err := b.promote(ctx, force)
		return err
	}
	if m.HTTPAddr == "" {
		return fmt.Errorf("it registered no HTTP address (http.listener)")
	}
	q := url.Values{"member": {strconv.FormatInt(m.BrokerID, 10)}}
	if force {
		q.Set("force", "true")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+m.HTTPAddr+"/cluster/promote?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", resp.Status, bytesTrim(body))
	}
	var t term
	if err := json.Unmarshal(body, &t); err != nil {
		return fmt.Errorf("promotion answered %q: %w", bytesTrim(body), err)
	}
	if t.Master != m.BrokerID {
		return errors.New("promotion answered a term of another member")
	}
	return nil
}

func bytesTrim(b []byte) string {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return string(b)
}

// sortedMemberNodes orders a group's replicas by member id, so the first
// is the preferred master (ElectLeaders PREFERRED).
func sortedMemberNodes(members []int64, nodes []int32) []int32 {
	idx := make([]int, len(members))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(i, j int) bool { return members[idx[i]] < members[idx[j]] })
	out := make([]int32, len(idx))
	for i, k := range idx {
		out[i] = nodes[k]
	}
	return out
}
