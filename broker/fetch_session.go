package broker

// Fetch sessions (KIP-227).
//
// A client opens a session with a full fetch at epoch 0 and then sends only
// what changed (incremental fetches at epochs 1, 2, …); the broker answers
// an incremental fetch with only the partitions that have records or whose
// offsets/error changed. Sessions are broker-wide (not tied to a
// connection), bounded by max.incremental.fetch.session.cache.slots. When
// the cache is full, the least recently used session is evicted if it has
// been idle for at least minEvictionIdle (Kafka's
// min.incremental.fetch.session.eviction.ms, 2 minutes); its client gets
// FETCH_SESSION_ID_NOT_FOUND on its next incremental fetch and starts over
// with a full fetch. When every cached session is in active use the new
// client gets no session (id 0) and fetches sessionless, so busy consumers
// are never thrashed out of their sessions (Kafka does the same; it also
// weighs session sizes, which gregor does not).
//
// Lock order: fetchSessions.mu, then fetchSession.mu.

import (
	"math/rand/v2"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Session epochs with a meaning of their own.
const (
	initialEpoch = 0  // full fetch that opens a session
	finalEpoch   = -1 // full fetch without (or closing) a session
)

// partKey names a partition: by topic name before Fetch v13, by topic id
// from v13 on (a session keeps the kind it was created with).
type partKey struct {
	topic     string
	id        [16]byte
	partition int32
}

// sessPart is one partition of a fetch: what the client asked for and, in
// a session, what it was last told.
type sessPart struct {
	key                partKey
	fetchOffset        int64
	maxBytes           int32
	currentLeaderEpoch int32
	lastFetchedEpoch   int32 // v12+; -1 when not given

	// Last values sent; -1 before the first response.
	sentHWM, sentLSO, sentLogStart int64
}

type fetchSession struct {
	mu       sync.Mutex
	id       int32
	epoch    int32 // epoch the next incremental fetch must carry
	parts    []*sessPart
	index    map[partKey]*sessPart
	lastUsed time.Time
}

// fetchSessions is the bounded session cache.
type fetchSessions struct {
	mu      sync.Mutex
	max     int
	minIdle time.Duration // a session idle less than this is not evicted
	byID    map[int32]*fetchSession
}

// minEvictionIdle is Kafka's min.incremental.fetch.session.eviction.ms.
const minEvictionIdle = 2 * time.Minute

func newFetchSessions(max int) *fetchSessions {
	return &fetchSessions{max: max, minIdle: minEvictionIdle, byID: map[int32]*fetchSession{}}
}

// fetchPlan is the outcome of applying a request to the session cache.
type fetchPlan struct {
	parts       []*sessPart
	sess        *fetchSession // nil for a sessionless fetch
	sessionID   int32         // id to answer with (0: none)
	incremental bool
	errCode     int16 // top-level error; nothing else is answered
}

// reqParts converts the request's partitions.
func reqParts(r *kmsg.FetchRequest) []*sessPart {
	var out []*sessPart
	for _, t := range r.Topics {
		for _, p := range t.Partitions {
			k := partKey{partition: p.Partition}
			if r.Version >= 13 {
				k.id = t.TopicID
			} else {
				k.topic = t.Topic
			}
			out = append(out, &sessPart{
				key: k, fetchOffset: p.FetchOffset, maxBytes: p.PartitionMaxBytes,
				currentLeaderEpoch: p.CurrentLeaderEpoch, lastFetchedEpoch: p.LastFetchedEpoch,
				sentHWM: -1, sentLSO: -1, sentLogStart: -1,
			})
		}
	}
	return out
}

// plan applies r to the cache: opens, continues or closes a session.
func (c *fetchSessions) plan(r *kmsg.FetchRequest) fetchPlan {
	if r.Version < 7 {
		return fetchPlan{parts: reqParts(r)}
	}
	switch r.SessionEpoch {
	case finalEpoch:
		if r.SessionID != 0 {
			c.remove(r.SessionID)
		}
		return fetchPlan{parts: reqParts(r)}
	case initialEpoch:
		if r.SessionID != 0 {
			c.remove(r.SessionID)
		}
		parts := reqParts(r)
		sess := c.create(parts)
		if sess == nil {
			return fetchPlan{parts: parts}
		}
		return fetchPlan{parts: parts, sess: sess, sessionID: sess.id}
	}
	c.mu.Lock()
	sess := c.byID[r.SessionID]
	c.mu.Unlock()
	if sess == nil {
		return fetchPlan{errCode: kerr.FetchSessionIDNotFound.Code}
	}
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if r.SessionEpoch != sess.epoch {
		return fetchPlan{errCode: kerr.InvalidFetchSessionEpoch.Code}
	}
	sess.epoch = nextEpoch(sess.epoch)
	sess.lastUsed = time.Now()
	for _, p := range reqParts(r) {
		if old, ok := sess.index[p.key]; ok {
			old.fetchOffset, old.maxBytes = p.fetchOffset, p.maxBytes
			old.currentLeaderEpoch, old.lastFetchedEpoch = p.currentLeaderEpoch, p.lastFetchedEpoch
			continue
		}
		sess.index[p.key] = p
		sess.parts = append(sess.parts, p)
	}
	for _, t := range r.ForgottenTopics {
		for _, pn := range t.Partitions {
			k := partKey{partition: pn}
			if r.Version >= 13 {
				k.id = t.TopicID
			} else {
				k.topic = t.Topic
			}
			delete(sess.index, k)
		}
	}
	if len(sess.index) != len(sess.parts) {
		kept := sess.parts[:0]
		for _, p := range sess.parts {
			if sess.index[p.key] == p {
				kept = append(kept, p)
			}
		}
		clear(sess.parts[len(kept):])
		sess.parts = kept
	}
	// The fetch reads a copy of each partition's request, so the next
	// incremental fetch may update the session while this one waits.
	parts := make([]*sessPart, len(sess.parts))
	for i, p := range sess.parts {
		cp := *p
		parts[i] = &cp
	}
	return fetchPlan{parts: parts, sess: sess, sessionID: sess.id, incremental: true}
}

// nextEpoch wraps from int32 max to 1, as Kafka does.
func nextEpoch(e int32) int32 {
	if e == 1<<31-1 {
		return 1
	}
	return e + 1
}

// create opens a session, evicting the least recently used one when the
// cache is full and that one is idle long enough; nil (sessionless) when
// sessions are disabled (0 slots) or every cached session is in use.
func (c *fetchSessions) create(parts []*sessPart) *fetchSession {
	if c.max <= 0 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.byID) >= c.max {
		var lru *fetchSession
		for _, s := range c.byID {
			if lru == nil || s.usedAt().Before(lru.usedAt()) {
				lru = s
			}
		}
		if time.Since(lru.usedAt()) < c.minIdle {
			return nil
		}
		delete(c.byID, lru.id)
	}
	id := rand.Int32()
	for id == 0 || c.byID[id] != nil {
		id = rand.Int32()
	}
	sess := &fetchSession{id: id, epoch: 1, index: map[partKey]*sessPart{}, lastUsed: time.Now()}
	for _, p := range parts {
		cp := *p
		if _, dup := sess.index[cp.key]; dup {
			continue
		}
		sess.index[cp.key] = &cp
		sess.parts = append(sess.parts, &cp)
	}
	c.byID[id] = sess
	return sess
}

// usedAt is when the session last served a fetch.
func (s *fetchSession) usedAt() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastUsed
}

func (c *fetchSessions) remove(id int32) {
	c.mu.Lock()
	delete(c.byID, id)
	c.mu.Unlock()
}

// len is the number of cached sessions.
func (c *fetchSessions) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.byID)
}

// rotate moves the partitions that just returned records to the end of
// the session's order, so that when MaxBytes fills up early the others
// get their turn on the next fetch (Kafka does the same for fairness).
func (s *fetchSession) rotate(served []partKey) {
	if len(served) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	moved := make(map[partKey]bool, len(served))
	for _, k := range served {
		moved[k] = true
	}
	kept := make([]*sessPart, 0, len(s.parts))
	var tail []*sessPart
	for _, p := range s.parts {
		if moved[p.key] {
			tail = append(tail, p)
		} else {
			kept = append(kept, p)
		}
	}
	s.parts = append(kept, tail...)
}

// changed reports whether an incremental response must include a
// partition; sent records what the client was told once the response is
// certain (a quota-throttled one tells it nothing).
func (s *fetchSession) changed(k partKey, hasRecords bool, errCode int16, hwm, lso, logStart int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.index[k]
	if p == nil {
		return hasRecords || errCode != 0
	}
	return hasRecords || errCode != 0 || p.sentHWM != hwm || p.sentLSO != lso || p.sentLogStart != logStart
}

// sent records the offsets a response told the client of partition k.
func (s *fetchSession) sent(k partKey, hwm, lso, logStart int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.index[k]; p != nil {
		p.sentHWM, p.sentLSO, p.sentLogStart = hwm, lso, logStart
	}
}
