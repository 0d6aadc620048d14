package group

// The server-side assignors of consumer groups (group.consumer.assignors):
//
//   - uniform (Kafka's UniformAssignor, the default): every partition of a
//     subscribed topic goes to one of its subscribers, spreading the
//     partitions as evenly as the subscriptions allow and keeping each
//     partition where the previous target had it when that stays balanced
//     (sticky), so a rebalance moves as few partitions as it can.
//   - range (Kafka's RangeAssignor): topic by topic, the subscribers sorted
//     by member id get consecutive ranges of partitions, the first
//     (partitions mod members) one more.
//
// Which one a group uses is Kafka's rule: the one most members ask for
// (ServerAssignor), else the first of group.consumer.assignors.

import (
	"sort"
)

// Assignor names.
const (
	AssignorUniform = "uniform"
	AssignorRange   = "range"
)

func (c *Coordinator) knownAssignor(name string) bool {
	for _, a := range c.cfg.ConsumerAssignors {
		if a == name {
			return true
		}
	}
	return false
}

// preferredAssignor is the assignor most members asked for (ties: the one
// listed first in group.consumer.assignors), else the default.
func (c *Coordinator) preferredAssignor(cg *consumerGroup) string {
	votes := map[string]int{}
	for _, m := range cg.members {
		if m.assignor != "" {
			votes[m.assignor]++
		}
	}
	best := c.cfg.ConsumerAssignors[0]
	bestVotes := 0
	for _, a := range c.cfg.ConsumerAssignors {
		if votes[a] > bestVotes {
			best, bestVotes = a, votes[a]
		}
	}
	return best
}

// assign computes a target assignment: subs is each member's subscribed
// topic ids, topics the partition counts, prev the previous target.
func assign(assignor string, subs map[string]map[[16]byte]bool, topics map[[16]byte]topicMeta, prev map[string]assignment) map[string]assignment {
	if assignor == AssignorRange {
		return assignRange(subs, topics)
	}
	return assignUniform(subs, topics, prev)
}

func sortedMembers(subs map[string]map[[16]byte]bool) []string {
	ids := make([]string, 0, len(subs))
	for id := range subs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

func sortedTopicKeys(topics map[[16]byte]topicMeta) [][16]byte {
	ids := make([][16]byte, 0, len(topics))
	for id := range topics {
		ids = append(ids, id)
	}
	// By name, so the assignment does not depend on random topic ids.
	sort.Slice(ids, func(i, j int) bool { return topics[ids[i]].Name < topics[ids[j]].Name })
	return ids
}

func assignRange(subs map[string]map[[16]byte]bool, topics map[[16]byte]topicMeta) map[string]assignment {
	out := map[string]assignment{}
	members := sortedMembers(subs)
	for _, id := range members {
		out[id] = assignment{}
	}
	for _, t := range sortedTopicKeys(topics) {
		var subscribers []string
		for _, id := range members {
			if subs[id][t] {
				subscribers = append(subscribers, id)
			}
		}
		if len(subscribers) == 0 {
			continue
		}
		n := int(topics[t].Partitions)
		per, extra := n/len(subscribers), n%len(subscribers)
		p := 0
		for i, id := range subscribers {
			k := per
			if i < extra {
				k++
			}
			for j := 0; j < k; j++ {
				out[id].add(t, int32(p))
				p++
			}
		}
	}
	return out
}

// assignUniform balances partitions over their subscribers, sticky to
// prev. Partitions are visited topic by topic (topics with the fewest
// subscribers first, the most constrained); each stays with its previous
// owner while that owner subscribes and is under its fair share, the rest
// go to the subscriber with the fewest partitions (ties by member id).
func assignUniform(subs map[string]map[[16]byte]bool, topics map[[16]byte]topicMeta, prev map[string]assignment) map[string]assignment {
	out := map[string]assignment{}
	members := sortedMembers(subs)
	if len(members) == 0 {
		return out
	}
	count := map[string]int{}
	for _, id := range members {
		out[id] = assignment{}
	}
	prevOwner := map[[16]byte]map[int32]string{}
	for id, a := range prev {
		if _, live := subs[id]; !live {
			continue
		}
		for t, ps := range a {
			if prevOwner[t] == nil {
				prevOwner[t] = map[int32]string{}
			}
			for _, p := range ps {
				prevOwner[t][p] = id
			}
		}
	}
	order := sortedTopicKeys(topics)
	subscribers := map[[16]byte][]string{}
	for _, t := range order {
		for _, id := range members {
			if subs[id][t] {
				subscribers[t] = append(subscribers[t], id)
			}
		}
	}
	sort.SliceStable(order, func(i, j int) bool { return len(subscribers[order[i]]) < len(subscribers[order[j]]) })

	// The fair share of a member: the partitions it can take, spread over
	// the members that share them. With identical subscriptions this is
	// total/members, rounded up.
	share := map[string]int{}
	for _, id := range members {
		s := 0.0
		for t := range subs[id] {
			if n := len(subscribers[t]); n > 0 {
				s += float64(topics[t].Partitions) / float64(n)
			}
		}
		share[id] = int(s)
		if float64(int(s)) < s {
			share[id]++
		}
	}
	var rest []struct {
		t [16]byte
		p int32
	}
	// First pass: keep what stays balanced.
	for _, t := range order {
		if len(subscribers[t]) == 0 {
			continue
		}
		for p := int32(0); p < topics[t].Partitions; p++ {
			if o, ok := prevOwner[t][p]; ok && subs[o][t] && count[o] < share[o] {
				out[o].add(t, p)
				count[o]++
				continue
			}
			rest = append(rest, struct {
				t [16]byte
				p int32
			}{t, p})
		}
	}
	// Second pass: the rest to the least loaded subscriber.
	for _, r := range rest {
		best := ""
		for _, id := range subscribers[r.t] {
			if best == "" || count[id] < count[best] {
				best = id
			}
		}
		out[best].add(r.t, r.p)
		count[best]++
	}
	// Last: move partitions from the most to the least loaded member
	// while they differ by more than one and the move is allowed.
	for moved := true; moved; {
		moved = false
		for _, from := range members {
			for _, to := range members {
				if count[from] <= count[to]+1 {
					continue
				}
				if t, p, ok := movable(out[from], subs[to]); ok {
					ps := out[from][t]
					for i, q := range ps {
						if q == p {
							out[from][t] = append(ps[:i:i], ps[i+1:]...)
							break
						}
					}
					if len(out[from][t]) == 0 {
						delete(out[from], t)
					}
					out[to].add(t, p)
					count[from]--
					count[to]++
					moved = true
				}
			}
		}
	}
	return out
}

// movable finds the last partition of a of a topic in subscribed.
func movable(a assignment, subscribed map[[16]byte]bool) ([16]byte, int32, bool) {
	for _, t := range sortedTopicIDs(a) {
		if subscribed[t] && len(a[t]) > 0 {
			return t, a[t][len(a[t])-1], true
		}
	}
	return [16]byte{}, 0, false
}
