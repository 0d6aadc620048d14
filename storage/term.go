package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Terms. Each master term is recorded in the commit log itself by the
// term's first entry, so it replicates with the log, survives restarts and
// retention (it is derived state, kept in every checkpoint) and is undone
// by Truncate. The entry is a key/value entry (type 4) in the reserved
// namespace TermNamespace with one key, the epoch (4 bytes big-endian), and
// the master's broker.member.id (8 bytes big-endian) as value: a binary
// that predates terms applies it as an ordinary key/value and loses
// nothing. The dispatcher keeps, under the same key, the master id
// followed by the commit-log position of the entry (the term's start).

// TermNamespace is the key/value namespace of term entries; namespaces
// starting with ReservedNamespacePrefix are the store's own and PutKV
// refuses them.
const (
	ReservedNamespacePrefix = "__gregor."
	TermNamespace           = ReservedNamespacePrefix + "term"
)

// Term is one master term: its epoch, the commit-log position of its first
// entry, and the master's broker.member.id.
type Term struct {
	Epoch  int32
	Start  int64
	Master int64
}

// ErrStaleEpoch is returned by BeginTerm for an epoch not above the
// latest term's.
var ErrStaleEpoch = errors.New("storage: epoch is not above the latest term's")

// BeginTerm appends the first entry of a new term and returns it; epoch
// must be above every earlier term's (and not negative). Durable under the
// flush mode on return.
func (s *Store) BeginTerm(epoch int32, master int64) (Term, error) {
	if epoch < 0 {
		return Term{}, fmt.Errorf("%w: %d is negative", ErrStaleEpoch, epoch)
	}
	// A checkpoint from just before the term: a base for truncating into
	// it (truncate.go).
	if err := s.keepCheckpoint(); err != nil {
		return Term{}, err
	}
	var key [4]byte
	var val [8]byte
	binary.BigEndian.PutUint32(key[:], uint32(epoch))
	binary.BigEndian.PutUint64(val[:], uint64(master))
	payload, _ := encodeKV(TermNamespace, []KV{{Key: key[:], Value: val[:]}})
	b := make([]byte, entryHeaderSize+len(payload))
	copy(b[entryHeaderSize:], payload)
	h := entryHeader{length: uint32(len(b)), typ: entryKV, storeTime: time.Now().UnixMilli()}
	putEntryHeader(b, &h)

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return Term{}, ErrClosed
	}
	if err := s.brokenErr(); err != nil {
		s.mu.Unlock()
		return Term{}, err
	}
	if s.boot != nil && s.writePos.Load() < s.boot.end {
		s.mu.Unlock()
		return Term{}, fmt.Errorf("storage: still catching up after a bootstrap (until %d)", s.boot.end)
	}
	if ts := s.Terms(); len(ts) > 0 && ts[len(ts)-1].Epoch >= epoch {
		s.mu.Unlock()
		return Term{}, fmt.Errorf("%w: %d after %d", ErrStaleEpoch, epoch, ts[len(ts)-1].Epoch)
	}
	pos, err := s.writeEntryLocked(b)
	if err != nil {
		s.mu.Unlock()
		return Term{}, err
	}
	s.following.Store(false)
	s.apply(pos, &h, b)
	end := s.writePos.Load()
	s.mu.Unlock()
	if err := s.WaitDurable(end); err != nil {
		return Term{}, err
	}
	return Term{Epoch: epoch, Start: pos, Master: master}, nil
}

// Terms lists the terms recorded in the commit log, by ascending epoch.
func (s *Store) Terms() []Term {
	s.kvMu.RLock()
	defer s.kvMu.RUnlock()
	m := s.kv[TermNamespace]
	ts := make([]Term, 0, len(m))
	for k, v := range m {
		if len(k) != 4 || len(v) != 16 {
			continue
		}
		ts = append(ts, Term{
			Epoch:  int32(binary.BigEndian.Uint32([]byte(k))),
			Master: int64(binary.BigEndian.Uint64(v)),
			Start:  int64(binary.BigEndian.Uint64(v[8:])),
		})
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].Epoch < ts[j].Epoch })
	return ts
}

// termValue is what the dispatcher keeps for a term entry at pos: the
// master id followed by the position.
func termValue(kv KV, pos int64) ([]byte, bool) {
	if len(kv.Key) != 4 || len(kv.Value) != 8 {
		return nil, false
	}
	return binary.BigEndian.AppendUint64(append([]byte{}, kv.Value...), uint64(pos)), true
}

func reservedNamespace(ns string) bool { return strings.HasPrefix(ns, ReservedNamespacePrefix) }

// FirstPosition is the start of the oldest retained commit-log segment:
// ReadRaw serves every position from here to EndPosition.
func (s *Store) FirstPosition() int64 {
	s.segMu.RLock()
	defer s.segMu.RUnlock()
	return s.segs[0].base
}
