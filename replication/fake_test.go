package replication

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"sync"

	"github.com/gregor-broker/gregor/storage"
)

// memLog is an in-memory Log for tests. Its entries mimic storage's frame
// rules closely enough to exercise replication: a length-prefixed entry
// (uint32 length, uint32 CRC-32C of the rest, uint8 type, payload) never
// straddles a segment; a pad fills a segment's rest and ReadRaw returns
// only its 56-byte header. Type 2 entries begin a term.
type memLog struct {
	mu      sync.Mutex
	seg     int64 // segment size
	base    int64 // FirstPosition
	data    []byte
	terms   []storage.Term
	limit   int64
	nLimits int
	durLag  int64 // DurablePosition = end - durLag
	onLimit func(pos int64)
	failAt  int64 // AppendRaw fails when data crosses this position (0 = never)
}

const (
	memData  = 1
	memTerm  = 2
	memPad   = 5
	memHdr   = 9
	memMinPd = entryHeaderSize
)

func newMemLog(seg int64) *memLog { return &memLog{seg: seg, limit: NoCommitLimit} }

func (l *memLog) endLocked() int64 { return l.base + int64(len(l.data)) }

func (l *memLog) EndPosition() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.endLocked()
}

func (l *memLog) DurablePosition() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return max(l.endLocked()-l.durLag, l.base)
}

func (l *memLog) FirstPosition() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.base
}

func memEntry(typ byte, payload []byte) []byte {
	b := make([]byte, memHdr+len(payload))
	binary.BigEndian.PutUint32(b, uint32(len(b)))
	b[8] = typ
	copy(b[memHdr:], payload)
	binary.BigEndian.PutUint32(b[4:], crc32.Checksum(b[8:], crcTable))
	return b
}

// appendLocked places an entry as storage does: a pad first when it would
// not fit in the segment or would leave less than a pad header.
func (l *memLog) appendLocked(e []byte) int64 {
	end := l.endLocked()
	segEnd := (end/l.seg + 1) * l.seg
	rest := segEnd - end
	if n := int64(len(e)); n > rest || (n < rest && rest-n < memMinPd) {
		pad := make([]byte, rest)
		binary.BigEndian.PutUint32(pad, uint32(rest))
		pad[8] = memPad
		binary.BigEndian.PutUint32(pad[4:], crc32.Checksum(pad[8:9], crcTable))
		l.data = append(l.data, pad...)
		end = segEnd
	}
	l.data = append(l.data, e...)
	return end
}

// Append writes a data entry with n payload bytes of fill and returns the
// new end.
func (l *memLog) Append(n int, fill byte) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.appendLocked(memEntry(memData, bytes.Repeat([]byte{fill}, n)))
	return l.endLocked()
}

func (l *memLog) BeginTerm(epoch int32, master int64) storage.Term {
	l.mu.Lock()
	defer l.mu.Unlock()
	var p [12]byte
	binary.BigEndian.PutUint32(p[:], uint32(epoch))
	binary.BigEndian.PutUint64(p[4:], uint64(master))
	start := l.appendLocked(memEntry(memTerm, p[:]))
	t := storage.Term{Epoch: epoch, Start: start, Master: master}
	l.terms = append(l.terms, t)
	return t
}

func (l *memLog) ReadRaw(pos int64, max int) ([]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	end := l.endLocked()
	if pos == end {
		return nil, nil
	}
	if pos < l.base || pos > end {
		return nil, storage.ErrOffsetOutOfRange
	}
	var out []byte
	for pos < end {
		b := l.data[pos-l.base:]
		n := int64(binary.BigEndian.Uint32(b))
		if b[8] == memPad {
			out = append(out, b[:entryHeaderSize]...)
			break
		}
		if len(out) > 0 && len(out)+int(n) > max {
			break
		}
		out = append(out, b[:n]...)
		pos += n
	}
	return out, nil
}

func (l *memLog) AppendRaw(pos int64, data []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if pos != l.endLocked() {
		return fmt.Errorf("%w: got %d, end is %d", storage.ErrPositionMismatch, pos, l.endLocked())
	}
	for len(data) > 0 {
		p := l.endLocked()
		if l.failAt > 0 && p >= l.failAt {
			return errors.New("memlog: injected append failure")
		}
		if len(data) < memHdr {
			return fmt.Errorf("memlog: %d stray bytes at %d", len(data), p)
		}
		n := int(binary.BigEndian.Uint32(data))
		typ := data[8]
		if typ == memPad {
			// ReadRaw sends a pad's header alone, Bytes all of it.
			segEnd := (p/l.seg + 1) * l.seg
			if (len(data) != entryHeaderSize && len(data) < n) || int64(n) != segEnd-p {
				return fmt.Errorf("memlog: bad pad at %d", p)
			}
			if crc32.Checksum(data[8:9], crcTable) != binary.BigEndian.Uint32(data[4:]) {
				return fmt.Errorf("memlog: pad crc at %d", p)
			}
			l.data = append(l.data, make([]byte, n)...)
			copy(l.data[len(l.data)-n:], data[:entryHeaderSize])
			data = data[min(n, len(data)):]
			continue
		}
		if n < memHdr || n > len(data) || crc32.Checksum(data[8:n], crcTable) != binary.BigEndian.Uint32(data[4:]) {
			return fmt.Errorf("memlog: bad entry at %d", p)
		}
		if typ == memTerm {
			t := storage.Term{Epoch: int32(binary.BigEndian.Uint32(data[9:])), Start: p, Master: int64(binary.BigEndian.Uint64(data[13:]))}
			l.terms = append(l.terms, t)
		}
		l.data = append(l.data, data[:n]...)
		data = data[n:]
	}
	return nil
}

// ReadBootstrap: streaming from base delivers every retained entry; the
// state carries the terms that began before it.
func (l *memLog) ReadBootstrap() (int64, []byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := []byte("MEMBOOT")
	for _, t := range l.terms {
		if t.Start < l.base {
			st = binary.BigEndian.AppendUint32(st, uint32(t.Epoch))
			st = binary.BigEndian.AppendUint64(st, uint64(t.Start))
			st = binary.BigEndian.AppendUint64(st, uint64(t.Master))
		}
	}
	return l.base, st, nil
}

func (l *memLog) InstallBootstrap(pos int64, st []byte) error {
	if !bytes.HasPrefix(st, []byte("MEMBOOT")) || (len(st)-7)%20 != 0 {
		return errors.New("memlog: bad bootstrap state")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.base, l.data, l.terms = pos, nil, nil
	for b := st[7:]; len(b) > 0; b = b[20:] {
		l.terms = append(l.terms, storage.Term{Epoch: int32(binary.BigEndian.Uint32(b)),
			Start: int64(binary.BigEndian.Uint64(b[4:])), Master: int64(binary.BigEndian.Uint64(b[12:]))})
	}
	return nil
}

func (l *memLog) Truncate(pos int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if pos < l.base {
		return storage.ErrNeedBootstrap
	}
	if pos > l.endLocked() {
		return fmt.Errorf("memlog: truncate to %d beyond end %d", pos, l.endLocked())
	}
	for p := l.base; p != pos; {
		if p > pos {
			return fmt.Errorf("memlog: %d is not an entry boundary", pos)
		}
		p += int64(binary.BigEndian.Uint32(l.data[p-l.base:]))
	}
	l.data = l.data[:pos-l.base]
	for len(l.terms) > 0 && l.terms[len(l.terms)-1].Start >= pos {
		l.terms = l.terms[:len(l.terms)-1]
	}
	return nil
}

func (l *memLog) Terms() []storage.Term {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]storage.Term(nil), l.terms...)
}

func (l *memLog) SetCommitLimit(pos int64) {
	l.mu.Lock()
	l.limit = pos
	l.nLimits++
	fn := l.onLimit
	l.mu.Unlock()
	if fn != nil {
		fn(pos)
	}
}

func (l *memLog) CommitLimit() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.limit
}

// DeleteBefore drops the entries before pos (an entry boundary), as
// retention deletes segments; the terms stay (storage keeps them).
func (l *memLog) DeleteBefore(pos int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.data = append([]byte(nil), l.data[pos-l.base:]...)
	l.base = pos
}

// Bytes returns the log from pos to its end.
func (l *memLog) Bytes(pos int64) []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]byte(nil), l.data[pos-l.base:]...)
}
