package replication

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/gregor-broker/gregor/storage"
)

// Log is the part of the store replication uses; *storage.Store satisfies
// it. Positions are commit-log byte positions. The master reads from it,
// a slave writes to it; nothing else writes to a slave's log.
type Log interface {
	// EndPosition is the end of the commit log: every entry below it is
	// written and dispatched.
	EndPosition() int64
	// DurablePosition is the position the commit log is fsynced up to.
	DurablePosition() int64
	// FirstPosition is the start of the oldest retained segment.
	FirstPosition() int64
	// ReadRaw returns whole entries from pos (an entry boundary), at most
	// max bytes but at least one entry; a segment's closing pad entry comes
	// as its header alone and its length says where the next segment
	// starts. pos == EndPosition gives no bytes. The caller owns the slice.
	ReadRaw(pos int64, max int) ([]byte, error)
	// AppendRaw appends entries read by ReadRaw on the master at the same
	// position pos, which must be EndPosition. It does not keep data.
	// Bytes beyond the commit limit are not made visible.
	AppendRaw(pos int64, data []byte) error
	// ReadBootstrap returns derived state and the position to stream from,
	// chosen so that streaming from pos delivers every retained record.
	ReadBootstrap() (pos int64, state []byte, err error)
	// InstallBootstrap discards the log and makes it start at pos with
	// the master's state.
	InstallBootstrap(pos int64, state []byte) error
	// Truncate cuts the log at pos (an entry boundary <= EndPosition) and
	// rebuilds derived state as of pos; storage.ErrNeedBootstrap when it
	// cannot.
	Truncate(pos int64) error
	// Terms lists every master term in the log, ascending by epoch.
	Terms() []storage.Term
	// SetCommitLimit sets the visibility fence (high watermark) as a
	// commit-log position; NoCommitLimit lifts it.
	SetCommitLimit(pos int64)
}

// NoCommitLimit passed to Log.SetCommitLimit lifts the fence: everything
// written is visible (a master whose ISR is only itself).
const NoCommitLimit int64 = math.MaxInt64

var _ Log = (*storage.Store)(nil)

// rawNext returns the position after the entries in data, read with
// ReadRaw at pos. Every commit-log entry starts with its length as a
// big-endian uint32 (storage's FROZEN entry format); a closing pad comes
// as its header alone, so an entry longer than what is left of data must
// be the last one, and the next segment starts at its end.
func rawNext(pos int64, data []byte) (int64, error) {
	off := 0
	for off < len(data) {
		if len(data)-off < 4 {
			return 0, fmt.Errorf("replication: %d stray bytes at %d", len(data)-off, pos+int64(off))
		}
		n := int(binary.BigEndian.Uint32(data[off:]))
		if n < 4 {
			return 0, fmt.Errorf("replication: entry of %d bytes at %d", n, pos+int64(off))
		}
		if off+n > len(data) {
			if off+entryHeaderSize != len(data) {
				return 0, fmt.Errorf("replication: entry at %d is cut (%d of %d bytes)", pos+int64(off), len(data)-off, n)
			}
			return pos + int64(off) + int64(n), nil // pad: the segment ends there
		}
		off += n
	}
	return pos + int64(off), nil
}

// entryHeaderSize is the size of a commit-log entry header (storage's
// FROZEN format), which is all ReadRaw returns of a pad.
const entryHeaderSize = 56
