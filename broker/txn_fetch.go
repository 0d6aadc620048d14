package broker

// Fetch and transactions: read_committed (isolation level 1) returns only
// batches below the partition's last stable offset, and with them the
// aborted transactions they contain (storage/txn.go), so the client drops
// the aborted batches as Kafka's clients do. read_uncommitted returns
// everything below the high watermark, with a null aborted list.

import (
	"encoding/binary"

	"github.com/gregor-broker/gregor/storage"
)

// stableChunks drops, for a read_committed fetch, the batches at or past
// the last stable offset.
func stableChunks(fp *fetchPart, chunks []storage.Chunk) []storage.Chunk {
	if !fp.readCommitted || len(chunks) == 0 {
		return chunks
	}
	lso := fp.part.LastStableOffset()
	for i, c := range chunks {
		if c.BaseOffset >= lso {
			return chunks[:i]
		}
	}
	return chunks
}

// abortedIn lists the aborted transactions a read_committed client needs
// for the batches returned.
func abortedIn(fp *fetchPart, chunks []storage.Chunk) []storage.AbortedTxn {
	if !fp.readCommitted || len(chunks) == 0 {
		return nil
	}
	return fp.part.AbortedTxns(fp.req.fetchOffset, chunks[len(chunks)-1].LastOffset+1)
}

// appendAborted encodes a Fetch partition's AbortedTransactions array
// (ProducerID int64, FirstOffset int64, tags in flexible versions).
func appendAborted(e []byte, aborted []storage.AbortedTxn, flex bool) []byte {
	e = appendArrayLen(e, len(aborted), flex)
	for _, a := range aborted {
		e = binary.BigEndian.AppendUint64(e, uint64(a.ProducerID))
		e = binary.BigEndian.AppendUint64(e, uint64(a.FirstOffset))
		if flex {
			e = append(e, 0)
		}
	}
	return e
}
