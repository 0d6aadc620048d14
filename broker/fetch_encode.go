package broker

// Fetch response encoding by hand, so record bytes can go from the segment
// files to the socket with sendfile instead of through a []byte.
//
// The layout is Kafka's FetchResponse for v4–v18 (kmsg's FetchResponse is
// the reference; fetch_encode_test.go decodes our bytes with it for every
// version and compares):
//
//	ThrottleMillis int32 | ErrorCode int16 (v7+) | SessionID int32 (v7+)
//	Topics [ Topic string (≤v12) or TopicID uuid (v13+)
//	         Partitions [ Partition int32 | ErrorCode int16 | HighWatermark int64
//	                      LastStableOffset int64 | LogStartOffset int64 (v5+)
//	                      AbortedTransactions nullable [ProducerID int64, FirstOffset int64]
//	                      PreferredReadReplica int32 (v11+)
//	                      RecordBatches nullable bytes   ← file ranges
//	                      tags (v12+) ] tags (v12+) ]
//	tags (v12+)
//
// From v12 ("flexible") array lengths are uvarint(n+1), strings and bytes
// compact, and every struct ends with a tagged-field count (always 0 here).

import (
	"encoding/binary"
	"time"

	"github.com/gregor-broker/gregor/protocol"
	"github.com/gregor-broker/gregor/storage"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fetchReply is a Fetch response whose record bytes stay in the files. It
// embeds kmsg's response for the top-level fields and the kmsg.Response
// methods; its Topics are unused.
type fetchReply struct {
	*kmsg.FetchResponse
	topics  []replyTopic
	results []*storage.ReadResult // released after the write

	// endpoints, in v16+, is the NodeEndpoints tag: the leaders the
	// partitions' KIP-951 hints name (leader_hints.go).
	endpoints []kmsg.MetadataResponseBroker

	// quotaDone: the handler recorded the reply against
	// consumer_byte_rate and throttle is the time it gave
	// (quota_throttle.go's quotaFetch).
	quotaDone bool
	throttle  time.Duration

	enc    []byte  // encoded non-record bytes
	pieces []piece // enc[start:end] then chunks, in order
	size   int
}

type replyTopic struct {
	name  string
	id    [16]byte
	parts []replyPart
}

type replyPart struct {
	partition     int32
	errCode       int16
	hwm, lso, lss int64
	// abortedEmpty sends an empty aborted-transactions list instead of
	// null (read_committed fetches; there are no aborted transactions).
	abortedEmpty     bool
	aborted          []storage.AbortedTxn // read_committed: the aborted transactions in the records (txn_fetch.go)
	preferredReplica int32
	chunks           []storage.Chunk
	// diverging, in v12+, sends the DivergingEpoch tag (KIP-320): the
	// client's last fetched epoch ends at divEnd on this leader.
	diverging bool
	divEpoch  int32
	divEnd    int64
	// leaderHint, in v12+, sends the CurrentLeader tag (KIP-951).
	leaderHint            bool
	leaderID, leaderEpoch int32
}

type piece struct {
	start, end int
	chunks     []storage.Chunk
}

var _ protocol.BodyWriter = (*fetchReply)(nil)

func newFetchReply(version int16) *fetchReply {
	r := &fetchReply{FetchResponse: kmsg.NewPtrFetchResponse()}
	r.Version = version
	return r
}

// Release lets retention delete the segments the reply refers to.
func (r *fetchReply) Release() {
	for _, res := range r.results {
		res.Release()
	}
	r.results = nil
}

// BodyLen encodes the framing for the current version and returns the
// body's size.
func (r *fetchReply) BodyLen() int {
	r.encode()
	return r.size
}

// WriteBody writes the framing and the file ranges.
func (r *fetchReply) WriteBody(w *protocol.BodySink) error {
	for _, p := range r.pieces {
		if _, err := w.Write(r.enc[p.start:p.end]); err != nil {
			return err
		}
		for _, c := range p.chunks {
			if err := w.WriteFile(c.File, c.Pos, int(c.Len)); err != nil {
				return err
			}
		}
	}
	return nil
}

func (r *fetchReply) encode() {
	v := r.Version
	flex := v >= 12
	e := r.enc[:0]
	r.pieces = r.pieces[:0]
	start := 0
	e = binary.BigEndian.AppendUint32(e, uint32(r.ThrottleMillis))
	if v >= 7 {
		e = binary.BigEndian.AppendUint16(e, uint16(r.ErrorCode))
		e = binary.BigEndian.AppendUint32(e, uint32(r.SessionID))
	}
	e = appendArrayLen(e, len(r.topics), flex)
	records := 0
	for _, t := range r.topics {
		if v >= 13 {
			e = append(e, t.id[:]...)
		} else {
			e = appendString(e, t.name, flex)
		}
		e = appendArrayLen(e, len(t.parts), flex)
		for _, p := range t.parts {
			e = binary.BigEndian.AppendUint32(e, uint32(p.partition))
			e = binary.BigEndian.AppendUint16(e, uint16(p.errCode))
			e = binary.BigEndian.AppendUint64(e, uint64(p.hwm))
			e = binary.BigEndian.AppendUint64(e, uint64(p.lso))
			if v >= 5 {
				e = binary.BigEndian.AppendUint64(e, uint64(p.lss))
			}
			if p.abortedEmpty {
				e = appendAborted(e, p.aborted, flex)
			} else if flex {
				e = append(e, 0) // null compact array
			} else {
				e = binary.BigEndian.AppendUint32(e, 0xffffffff)
			}
			if v >= 11 {
				e = binary.BigEndian.AppendUint32(e, uint32(p.preferredReplica))
			}
			n := 0
			for _, c := range p.chunks {
				n += int(c.Len)
			}
			// Records are never null: an empty partition sends zero bytes,
			// as Kafka does.
			if flex {
				e = binary.AppendUvarint(e, uint64(n)+1)
			} else {
				e = binary.BigEndian.AppendUint32(e, uint32(n))
			}
			if n > 0 {
				r.pieces = append(r.pieces, piece{start: start, end: len(e), chunks: p.chunks})
				start = len(e)
				records += n
			}
			if flex {
				// Tagged fields in tag order: 0 DivergingEpoch (size 13:
				// epoch, end offset, its own empty tags), 1 CurrentLeader
				// (size 9: leader id, epoch, empty tags).
				n := 0
				if p.diverging {
					n++
				}
				if p.leaderHint {
					n++
				}
				e = append(e, byte(n))
				if p.diverging {
					e = append(e, 0, 13)
					e = binary.BigEndian.AppendUint32(e, uint32(p.divEpoch))
					e = binary.BigEndian.AppendUint64(e, uint64(p.divEnd))
					e = append(e, 0)
				}
				if p.leaderHint {
					e = append(e, 1, 9)
					e = binary.BigEndian.AppendUint32(e, uint32(p.leaderID))
					e = binary.BigEndian.AppendUint32(e, uint32(p.leaderEpoch))
					e = append(e, 0)
				}
			}
		}
		if flex {
			e = append(e, 0) // topic tags
		}
	}
	if flex && v >= 16 && len(r.endpoints) > 0 {
		// One tagged field: tag 0, NodeEndpoints.
		var body []byte
		body = binary.AppendUvarint(body, uint64(len(r.endpoints))+1)
		for _, ep := range r.endpoints {
			body = binary.BigEndian.AppendUint32(body, uint32(ep.NodeID))
			body = appendString(body, ep.Host, true)
			body = binary.BigEndian.AppendUint32(body, uint32(ep.Port))
			if ep.Rack == nil {
				body = append(body, 0)
			} else {
				body = appendString(body, *ep.Rack, true)
			}
			body = append(body, 0) // endpoint tags
		}
		e = append(e, 1, 0)
		e = binary.AppendUvarint(e, uint64(len(body)))
		e = append(e, body...)
	} else if flex {
		e = append(e, 0) // response tags
	}
	r.pieces = append(r.pieces, piece{start: start, end: len(e)})
	r.enc = e
	r.size = len(e) + records
}

func appendArrayLen(e []byte, n int, flex bool) []byte {
	if flex {
		return binary.AppendUvarint(e, uint64(n)+1)
	}
	return binary.BigEndian.AppendUint32(e, uint32(n))
}

func appendString(e []byte, s string, flex bool) []byte {
	if flex {
		e = binary.AppendUvarint(e, uint64(len(s))+1)
	} else {
		e = binary.BigEndian.AppendUint16(e, uint16(len(s)))
	}
	return append(e, s...)
}
