package broker

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ListOffsets: earliest, latest, max timestamp (the exact record), and by
// time (first offset whose timestamp is >= the target), through kadm and
// raw requests.
func TestCoreListOffsets(t *testing.T) {
	cb := coreStart(t, "", nil)
	cb.topic("lo", 1, nil)
	rc := cb.raw()
	// Batch 1: offsets 0..2 at 1000, 1001, 1002. Batch 2: offsets 3..5 at
	// 5000, 9000 (the max), 2000 — out of order on purpose.
	rc.do(produceReq(9, -1, "lo", 0, coreBatch(1000, -1, -1, -1, coreRecs(3, "a")...)))
	rc.do(produceReq(9, -1, "lo", 0, coreBatch(5000, -1, -1, -1,
		coreRecord{value: []byte("x"), tsDelta: 0}, coreRecord{value: []byte("y"), tsDelta: 4000}, coreRecord{value: []byte("z"), tsDelta: -3000})))

	adm := kadm.NewClient(cb.client())
	ctx := coreCtx(t)
	check := func(what string, got kadm.ListedOffsets, err error, offset int64) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		o, ok := got.Lookup("lo", 0)
		if !ok || o.Err != nil || o.Offset != offset {
			t.Fatalf("%s: %+v, want offset %d", what, o, offset)
		}
	}
	start, err := adm.ListStartOffsets(ctx, "lo")
	check("earliest", start, err, 0)
	end, err := adm.ListEndOffsets(ctx, "lo")
	check("latest", end, err, 6)
	for _, c := range []struct{ ts, offset int64 }{{0, 0}, {1000, 0}, {1001, 1}, {1003, 3}, {5000, 3}, {5001, 4}, {9000, 4}, {9001, -1}} {
		got, err := adm.ListOffsetsAfterMilli(ctx, c.ts, "lo")
		if c.offset == -1 {
			// kadm maps "no such offset" to the end offset.
			o, _ := got.Lookup("lo", 0)
			if err != nil || (o.Offset != -1 && o.Offset != 6) {
				t.Fatalf("after %d: %+v %v", c.ts, o, err)
			}
			continue
		}
		check("after", got, err, c.offset)
	}

	lo := func(version int16, ts int64) kmsg.ListOffsetsResponseTopicPartition {
		r := kmsg.NewPtrListOffsetsRequest()
		r.Version = version
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = "lo"
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Timestamp = ts
		rt.Partitions = []kmsg.ListOffsetsRequestTopicPartition{rp}
		r.Topics = []kmsg.ListOffsetsRequestTopic{rt}
		return rc.do(r).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]
	}
	for v := int16(1); v <= 10; v++ {
		if p := lo(v, -1); p.ErrorCode != 0 || p.Offset != 6 || p.Timestamp != -1 {
			t.Fatalf("v%d latest: %+v", v, p)
		}
		if p := lo(v, -2); p.ErrorCode != 0 || p.Offset != 0 {
			t.Fatalf("v%d earliest: %+v", v, p)
		}
		if p := lo(v, 1002); p.ErrorCode != 0 || p.Offset != 2 || p.Timestamp != 1002 {
			t.Fatalf("v%d by time: %+v", v, p)
		}
	}
	if p := lo(7, -3); p.Offset != 4 || p.Timestamp != 9000 {
		t.Fatalf("max timestamp: %+v", p)
	}
	if p := lo(9, -4); p.Offset != 0 {
		t.Fatalf("earliest local: %+v", p)
	}
	if p := lo(9, -5); p.Offset != -1 {
		t.Fatalf("latest tiered: %+v", p)
	}
	if p := lo(9, 9001); p.Offset != -1 || p.Timestamp != -1 {
		t.Fatalf("after the last timestamp: %+v", p)
	}

	// Errors: unknown topic/partition, a partition asked for twice,
	// a newer leader epoch.
	r := kmsg.NewPtrListOffsetsRequest()
	r.Version = 7
	for _, name := range []string{"lo", "nope"} {
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = name
		for _, p := range []int32{0, 0, 9} {
			rp := kmsg.NewListOffsetsRequestTopicPartition()
			rp.Partition, rp.Timestamp = p, -1
			rt.Partitions = append(rt.Partitions, rp)
		}
		r.Topics = append(r.Topics, rt)
	}
	resp := rc.do(r).(*kmsg.ListOffsetsResponse)
	want := [][]int16{
		{kerr.InvalidRequest.Code, kerr.InvalidRequest.Code, kerr.UnknownTopicOrPartition.Code},
		{kerr.InvalidRequest.Code, kerr.InvalidRequest.Code, kerr.UnknownTopicOrPartition.Code},
	}
	for i, rt := range resp.Topics {
		for j, p := range rt.Partitions {
			if p.ErrorCode != want[i][j] {
				t.Fatalf("topic %d partition %d: error %d, want %d", i, j, p.ErrorCode, want[i][j])
			}
		}
	}
	r = kmsg.NewPtrListOffsetsRequest()
	r.Version = 4
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = "lo"
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Timestamp, rp.CurrentLeaderEpoch = -1, 42
	rt.Partitions = []kmsg.ListOffsetsRequestTopicPartition{rp}
	r.Topics = []kmsg.ListOffsetsRequestTopic{rt}
	if p := rc.do(r).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]; p.ErrorCode != kerr.UnknownLeaderEpoch.Code {
		t.Fatalf("newer epoch: %+v", p)
	}
	_ = kgo.NewOffset
	_ = context.Background
}

// By time and max timestamp find the exact record inside compressed
// batches (the store decompresses with the broker's codecs).
func TestCoreListOffsetsCompressed(t *testing.T) {
	cb := coreStart(t, "", nil)
	cb.topic("loz", 1, nil)
	rc := cb.raw()
	plain := coreBatch(1000, -1, -1, -1,
		coreRecord{value: []byte("a")}, coreRecord{value: []byte("b"), tsDelta: 10},
		coreRecord{value: []byte("c"), tsDelta: 50}, coreRecord{value: []byte("d"), tsDelta: 20})
	for _, codec := range []uint16{codecGzip, codecSnappy, codecLZ4, codecZstd} {
		if p := producePart(rc.do(produceReq(9, -1, "loz", 0, compressBatch(t, plain, codec, false)))); p.ErrorCode != 0 {
			t.Fatalf("codec %d: error %d", codec, p.ErrorCode)
		}
	}
	lo := func(ts int64) kmsg.ListOffsetsResponseTopicPartition {
		r := kmsg.NewPtrListOffsetsRequest()
		r.Version = 8
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = "loz"
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Timestamp = ts
		rt.Partitions = []kmsg.ListOffsetsRequestTopicPartition{rp}
		r.Topics = []kmsg.ListOffsetsRequestTopic{rt}
		return rc.do(r).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]
	}
	if p := lo(1005); p.Offset != 1 || p.Timestamp != 1010 {
		t.Fatalf("by time 1005: %+v", p)
	}
	if p := lo(1040); p.Offset != 2 || p.Timestamp != 1050 {
		t.Fatalf("by time 1040: %+v", p)
	}
	// The max timestamp 1050 first occurs at offset 2 (first batch).
	if p := lo(-3); p.Offset != 2 || p.Timestamp != 1050 {
		t.Fatalf("max timestamp: %+v", p)
	}
}

// OffsetForLeaderEpoch v2–v4: the end offset of the (only) epoch, and
// errors for unknown partitions and newer epochs.
func TestCoreOffsetForLeaderEpoch(t *testing.T) {
	cb := coreStart(t, "", nil)
	tp := cb.topic("ofle", 1, nil)
	rc := cb.raw()
	rc.do(produceReq(9, -1, "ofle", 0, coreBatch(1, -1, -1, -1, coreRecs(5, "a")...)))
	epoch := cb.b.leaderEpoch()
	if got := cb.b.store.Partition(tp.ID, 0).LeaderEpoch(); got != epoch {
		t.Fatalf("stored epoch %d, want %d", got, epoch)
	}
	for v := int16(2); v <= 4; v++ {
		r := kmsg.NewPtrOffsetForLeaderEpochRequest()
		r.Version, r.ReplicaID = v, -1
		rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
		rt.Topic = "ofle"
		for _, c := range []struct{ p, cur, epoch int32 }{{0, -1, epoch}, {0, epoch + 1, epoch}, {3, -1, 0}} {
			rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
			rp.Partition, rp.CurrentLeaderEpoch, rp.LeaderEpoch = c.p, c.cur, c.epoch
			rt.Partitions = append(rt.Partitions, rp)
		}
		r.Topics = []kmsg.OffsetForLeaderEpochRequestTopic{rt}
		ps := rc.do(r).(*kmsg.OffsetForLeaderEpochResponse).Topics[0].Partitions
		if ps[0].ErrorCode != 0 || ps[0].LeaderEpoch != epoch || ps[0].EndOffset != 5 {
			t.Fatalf("v%d: %+v", v, ps[0])
		}
		if ps[1].ErrorCode != kerr.UnknownLeaderEpoch.Code || ps[2].ErrorCode != kerr.UnknownTopicOrPartition.Code {
			t.Fatalf("v%d errors: %d %d", v, ps[1].ErrorCode, ps[2].ErrorCode)
		}
	}
}

// After an epoch bump, each epoch ends where the next began, and Metadata
// and ListOffsets report the new epoch.
func TestCoreEpochsAfterBump(t *testing.T) {
	cb := coreStart(t, "", nil)
	cb.topic("ep", 1, nil)
	rc := cb.raw()
	rc.do(produceReq(9, -1, "ep", 0, coreBatch(1, -1, -1, -1, coreRecs(3, "a")...)))
	cb.b.epoch.Store(1)
	rc.do(produceReq(9, -1, "ep", 0, coreBatch(1, -1, -1, -1, coreRecs(2, "b")...)))
	r := kmsg.NewPtrOffsetForLeaderEpochRequest()
	r.Version, r.ReplicaID = 4, -1
	rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
	rt.Topic = "ep"
	for _, e := range []int32{0, 1} {
		rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		rp.CurrentLeaderEpoch, rp.LeaderEpoch = 1, e
		rt.Partitions = append(rt.Partitions, rp)
	}
	r.Topics = []kmsg.OffsetForLeaderEpochRequestTopic{rt}
	ps := rc.do(r).(*kmsg.OffsetForLeaderEpochResponse).Topics[0].Partitions
	if ps[0].LeaderEpoch != 0 || ps[0].EndOffset != 3 || ps[1].LeaderEpoch != 1 || ps[1].EndOffset != 5 {
		t.Fatalf("epoch ends: %+v", ps)
	}
	md := kmsg.NewPtrMetadataRequest()
	md.Version = 12
	md.Topics = []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr("ep")}}
	if p := rc.do(md).(*kmsg.MetadataResponse).Topics[0].Partitions[0]; p.LeaderEpoch != 1 {
		t.Fatalf("metadata leader epoch %d", p.LeaderEpoch)
	}
	lo := kmsg.NewPtrListOffsetsRequest()
	lo.Version = 9
	lt := kmsg.NewListOffsetsRequestTopic()
	lt.Topic = "ep"
	lp := kmsg.NewListOffsetsRequestTopicPartition()
	lp.Timestamp = -1
	lt.Partitions = []kmsg.ListOffsetsRequestTopicPartition{lp}
	lo.Topics = []kmsg.ListOffsetsRequestTopic{lt}
	if p := rc.do(lo).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]; p.LeaderEpoch != 1 || p.Offset != 5 {
		t.Fatalf("list offsets: %+v", p)
	}
}
