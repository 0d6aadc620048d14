package kafkadiff

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"hash/crc32"
	"sort"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TxnVersionCases sends the transaction APIs at the newest versions Kafka
// 4.4 serves, each with the fields that version added, to the broker cl
// was seeded with (which must coordinate the transactional id and the
// group: a single broker, or a single broker group): InitProducerId v5,
// AddPartitionsToTxn v5 (batched, VerifyOnly and adding), Produce v13 of a
// transactional batch the partition was added for, DescribeTransactions
// v0, ListTransactions v2 (state, duration and transactional-id pattern
// filters, a bad pattern), EndTxn v5 (commit, its retry, an empty abort,
// the refusals of Kafka's table), TxnOffsetCommit v5 (the group added to
// the transaction) and v6 (topics by id), and WriteTxnMarkers v2 (markers
// of transaction.version 2 and 0, stale ones). It returns every whole
// answer, normalized by MaskTxn, in a fixed order. Names and ids get
// prefix.
func TxnVersionCases(t testing.TB, cl *kgo.Client, prefix string) []Answer {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	br := cl.SeedBrokers()[0]
	var out []Answer
	send := func(label string, req kmsg.Request, v int16) kmsg.Response {
		t.Helper()
		req.SetVersion(v)
		resp, err := br.Request(ctx, pinned{req})
		if err != nil {
			t.Fatalf("%s: %v", label, err)
		}
		return resp
	}
	record := func(label string, resp kmsg.Response) {
		out = append(out, Answer{Case: label, JSON: MaskTxn(resp)})
	}
	eventually := func(what string, ok func() bool) {
		t.Helper()
		for i := 0; !ok(); i++ {
			if i == 150 {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	topic, id, grp := prefix+"x-t", prefix+"x-txn", prefix+"x-g"
	ct := kmsg.NewPtrCreateTopicsRequest()
	ct.TimeoutMillis = 5000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, 2, 1
	ct.Topics = append(ct.Topics, rt)
	if _, err := ct.RequestWith(ctx, cl); err != nil {
		t.Fatal(err)
	}
	tid := TopicID(ctx, cl, topic)
	for p := int32(0); p < 2; p++ {
		eventually("a leader of "+topic, func() bool {
			lo := kmsg.NewPtrListOffsetsRequest()
			lo.Topics = []kmsg.ListOffsetsRequestTopic{{Topic: topic, Partitions: []kmsg.ListOffsetsRequestTopicPartition{{Partition: p, Timestamp: -1, CurrentLeaderEpoch: -1}}}}
			resp, err := br.Request(ctx, lo)
			return err == nil && resp.(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0].ErrorCode == 0
		})
	}
	// The coordinators: Kafka creates __transaction_state and
	// __consumer_offsets at the first FindCoordinator.
	for _, k := range []struct {
		typ int8
		key string
	}{{1, id}, {0, grp}} {
		eventually("a coordinator for "+k.key, func() bool {
			fc := kmsg.NewPtrFindCoordinatorRequest()
			fc.CoordinatorType, fc.CoordinatorKeys = k.typ, []string{k.key}
			resp, err := br.Request(ctx, fc)
			return err == nil && resp.(*kmsg.FindCoordinatorResponse).Coordinators[0].ErrorCode == 0
		})
	}

	ip := kmsg.NewPtrInitProducerIDRequest()
	ip.TransactionalID, ip.TransactionTimeoutMillis = kmsg.StringPtr(id), 60000
	var ipr *kmsg.InitProducerIDResponse
	eventually("InitProducerId", func() bool {
		ipr = send("InitProducerId v5", ip, 5).(*kmsg.InitProducerIDResponse)
		return ipr.ErrorCode == 0
	})
	record("InitProducerId v5", ipr)
	pid, epoch := ipr.ProducerID, ipr.ProducerEpoch

	addTxn := func(id string, pid int64, epoch int16, verify bool, parts ...int32) kmsg.AddPartitionsToTxnRequestTransaction {
		tr := kmsg.NewAddPartitionsToTxnRequestTransaction()
		tr.TransactionalID, tr.ProducerID, tr.ProducerEpoch, tr.VerifyOnly = id, pid, epoch, verify
		tr.Topics = []kmsg.AddPartitionsToTxnRequestTransactionTopic{{Topic: topic, Partitions: parts}}
		return tr
	}
	apt := func(label string, trs ...kmsg.AddPartitionsToTxnRequestTransaction) {
		r := kmsg.NewPtrAddPartitionsToTxnRequest()
		r.Transactions = trs
		resp := send(label, r, 5).(*kmsg.AddPartitionsToTxnResponse)
		sort.Slice(resp.Transactions, func(i, j int) bool {
			return resp.Transactions[i].TransactionalID < resp.Transactions[j].TransactionalID
		})
		for _, tr := range resp.Transactions {
			for _, tp := range tr.Topics {
				sort.Slice(tp.Partitions, func(i, j int) bool { return tp.Partitions[i].Partition < tp.Partitions[j].Partition })
			}
		}
		record(label, resp)
	}
	apt("AddPartitionsToTxn v5 verify before any add", addTxn(id, pid, epoch, true, 0))
	apt("AddPartitionsToTxn v5 add", addTxn(id, pid, epoch, false, 0))
	apt("AddPartitionsToTxn v5 verify: added, fenced, unknown id",
		addTxn(id, pid, epoch, true, 0, 1), addTxn(prefix+"x-none", 5, 0, true, 0), addTxn(prefix+"x-none2", pid, epoch, false, 1))
	apt("AddPartitionsToTxn v5 a stale epoch", addTxn(id, pid, epoch+3, false, 1))

	batch := TxnBatch(1700000000000, pid, epoch, 0, "k", "v")
	pr := kmsg.NewPtrProduceRequest()
	pr.TransactionID, pr.Acks, pr.TimeoutMillis = kmsg.StringPtr(id), -1, 5000
	prt := kmsg.NewProduceRequestTopic()
	prt.TopicID = tid
	prt.Partitions = []kmsg.ProduceRequestTopicPartition{{Partition: 1, Records: batch}}
	pr.Topics = append(pr.Topics, prt)
	record("Produce v13 transactional (the partition added by it)", send("produce", pr, 13))

	describe := func(label string) {
		r := kmsg.NewPtrDescribeTransactionsRequest()
		r.TransactionalIDs = []string{id, prefix + "x-none"}
		resp := send(label, r, 0).(*kmsg.DescribeTransactionsResponse)
		for _, st := range resp.TransactionStates {
			sort.Slice(st.Topics, func(i, j int) bool { return st.Topics[i].Topic < st.Topics[j].Topic })
			for i, tp := range st.Topics {
				sort.Slice(tp.Partitions, func(i, j int) bool { return tp.Partitions[i] < tp.Partitions[j] })
				if tp.Topic == "__consumer_offsets" {
					// offsets.topic.num.partitions differs (the
					// reference runs with 5): the partition, not its
					// number, is compared.
					st.Topics[i].Partitions = []int32{-1}
				}
			}
		}
		record(label, resp)
	}
	describe("DescribeTransactions v0 ongoing")

	list := func(label string, states []string, pattern *string, duration int64) {
		r := kmsg.NewPtrListTransactionsRequest()
		r.StateFilters, r.TransactionalIDPattern, r.DurationFilterMillis = states, pattern, duration
		resp := send(label, r, 2).(*kmsg.ListTransactionsResponse)
		// Only this run's ids: the broker may hold others.
		var keep []kmsg.ListTransactionsResponseTransactionState
		for _, st := range resp.TransactionStates {
			if len(st.TransactionalID) >= len(prefix) && st.TransactionalID[:len(prefix)] == prefix {
				keep = append(keep, st)
			}
		}
		sort.Slice(keep, func(i, j int) bool { return keep[i].TransactionalID < keep[j].TransactionalID })
		resp.TransactionStates = keep
		record(label, resp)
	}
	list("ListTransactions v2 pattern", nil, kmsg.StringPtr(prefix+"x-.*"), -1)
	list("ListTransactions v2 pattern matching part of the id", nil, kmsg.StringPtr("x-tx"), -1)
	list("ListTransactions v2 empty pattern, Ongoing", []string{"Ongoing", "Nope"}, kmsg.StringPtr(""), -1)
	list("ListTransactions v2 running longer than an hour", nil, kmsg.StringPtr(prefix+".*"), 3600000)
	list("ListTransactions v2 running longer than 0 ms", nil, kmsg.StringPtr(prefix+".*"), 0)
	list("ListTransactions v2 a bad pattern", nil, kmsg.StringPtr("(ab(cd"), -1)

	// TxnOffsetCommit v5 adds the group to the transaction; v6 names
	// topics by id.
	toc := func(label string, v int16, byID bool) {
		r := kmsg.NewPtrTxnOffsetCommitRequest()
		r.TransactionalID, r.Group, r.ProducerID, r.ProducerEpoch = id, grp, pid, epoch
		tp := kmsg.NewTxnOffsetCommitRequestTopic()
		tp.Topic = topic
		if byID {
			tp.Topic, tp.TopicID = "", tid
		}
		tp.Partitions = []kmsg.TxnOffsetCommitRequestTopicPartition{{Partition: 0, Offset: 7, LeaderEpoch: -1, Metadata: kmsg.StringPtr("m")}}
		r.Topics = append(r.Topics, tp)
		if byID {
			nope := kmsg.NewTxnOffsetCommitRequestTopic()
			nope.TopicID = [16]byte{0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
			nope.Partitions = []kmsg.TxnOffsetCommitRequestTopicPartition{{Partition: 0, Offset: 1, LeaderEpoch: -1}}
			r.Topics = append(r.Topics, nope)
		}
		var resp *kmsg.TxnOffsetCommitResponse
		eventually("the group coordinator loaded", func() bool {
			resp = send(label, r, v).(*kmsg.TxnOffsetCommitResponse)
			c := resp.Topics[0].Partitions[0].ErrorCode
			return c != 14 && c != 15 // COORDINATOR_LOAD_IN_PROGRESS, _NOT_AVAILABLE: a new __consumer_offsets
		})
		record(label, resp)
	}
	toc("TxnOffsetCommit v5", 5, false)
	toc("TxnOffsetCommit v6 by topic id", 6, true)
	describe("DescribeTransactions v0 with the group's offsets")

	end := func(label string, pid int64, epoch int16, commit bool) *kmsg.EndTxnResponse {
		r := kmsg.NewPtrEndTxnRequest()
		r.TransactionalID, r.ProducerID, r.ProducerEpoch, r.Commit = id, pid, epoch, commit
		resp := send(label, r, 5).(*kmsg.EndTxnResponse)
		record(label, resp)
		return resp
	}
	end("EndTxn v5 commit", pid, epoch, true)
	// Kafka answers before its markers are written (PrepareCommit); what
	// follows is compared once the transaction is complete.
	eventually("the commit complete", func() bool {
		r := kmsg.NewPtrDescribeTransactionsRequest()
		r.TransactionalIDs = []string{id}
		resp := send("describe", r, 0).(*kmsg.DescribeTransactionsResponse)
		return resp.TransactionStates[0].State == "CompleteCommit"
	})
	end("EndTxn v5 commit retried", pid, epoch, true)
	end("EndTxn v5 abort retried after the commit", pid, epoch, false)
	end("EndTxn v5 another producer id", pid+1, epoch+1, false)
	end("EndTxn v5 empty abort", pid, epoch+1, false)
	eventually("the empty abort complete", func() bool {
		r := kmsg.NewPtrDescribeTransactionsRequest()
		r.TransactionalIDs = []string{id}
		resp := send("describe", r, 0).(*kmsg.DescribeTransactionsResponse)
		return resp.TransactionStates[0].State == "CompleteAbort"
	})
	end("EndTxn v5 commit after an abort", pid, epoch+2, true)
	describe("DescribeTransactions v0 after the ends")

	// WriteTxnMarkers v2 (what brokers send each other): partition 1 holds
	// the producer at epoch+1 (the commit's marker).
	wtm := func(label string, pid int64, epoch int16, tv int8, parts ...int32) {
		r := kmsg.NewPtrWriteTxnMarkersRequest()
		mk := kmsg.NewWriteTxnMarkersRequestMarker()
		mk.ProducerID, mk.ProducerEpoch, mk.Committed, mk.TransactionVersion = pid, epoch, false, tv
		mk.Topics = []kmsg.WriteTxnMarkersRequestMarkerTopic{{Topic: topic, Partitions: parts}}
		r.Markers = append(r.Markers, mk)
		resp := send(label, r, 2).(*kmsg.WriteTxnMarkersResponse)
		for _, m := range resp.Markers {
			for _, tp := range m.Topics {
				sort.Slice(tp.Partitions, func(i, j int) bool { return tp.Partitions[i].Partition < tp.Partitions[j].Partition })
			}
		}
		record(label, resp)
	}
	wtm("WriteTxnMarkers v2 transaction.version 2, the producer's epoch", pid, epoch+1, 2, 1)
	wtm("WriteTxnMarkers v2 transaction.version 0, an older epoch", pid, epoch, 0, 1)
	wtm("WriteTxnMarkers v2 transaction.version 2, a newer epoch; an unknown partition", pid, epoch+2, 2, 1, 9)
	wtm("WriteTxnMarkers v2 a producer the partition does not know", pid+7, 0, 2, 0)
	return out
}

// MaskTxn is Mask with the producer ids (every one at or above 0) and the
// transactions' start times replaced by a placeholder too: each broker
// hands out its own.
func MaskTxn(resp kmsg.Response) string {
	var v any
	if err := json.Unmarshal([]byte(Mask(resp)), &v); err != nil {
		return "undecodable: " + err.Error()
	}
	v = maskTxn("", v)
	b, _ := json.Marshal(v)
	return string(b)
}

func maskTxn(key string, v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = maskTxn(k, e)
		}
	case []any:
		for i, e := range x {
			x[i] = maskTxn(key, e)
		}
	case float64:
		if (key == "ProducerID" || key == "StartTimestamp") && x >= 0 {
			return "<" + key + ">"
		}
	}
	return v
}

// TxnBatch is Batch as a transactional producer sends it: producer id,
// epoch and base sequence set, the transactional attribute on.
func TxnBatch(ts int64, pid int64, epoch int16, seq int32, kv ...string) []byte {
	b := Batch(ts, kv...)
	b[22] |= 0x10 // attributes (int16 at 21): transactional
	binary.BigEndian.PutUint64(b[43:], uint64(pid))
	binary.BigEndian.PutUint16(b[51:], uint16(epoch))
	binary.BigEndian.PutUint32(b[53:], uint32(seq))
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}
