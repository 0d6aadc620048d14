package broker

import (
	"reflect"
	"strings"
	"testing"

	"github.com/gregor-broker/gregor/storage"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// gathered is reg's series as "name,label=value,…" → value (a histogram's
// sample count).
func gathered(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.Metric {
			key := mf.GetName()
			for _, l := range m.Label {
				key += "," + l.GetName() + "=" + l.GetValue()
			}
			switch {
			case m.Counter != nil:
				got[key] = m.Counter.GetValue()
			case m.Gauge != nil:
				got[key] = m.Gauge.GetValue()
			case m.Histogram != nil:
				got[key] = float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return got
}

// The operator's series move when their thing happens: a group's lag grows
// with produced records and shrinks with its commits, the high watermark
// follows produce, each fsync lands in the histogram, error codes in
// responses are counted by API and code (the hand-walked Fetch and the
// reflection-walked others), and the data directory's filesystem is
// reported.
func TestOpsMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	cb := coreStart(t, "", func(c *Config) {
		c.Registerer = reg
		c.Store.FlushMode = storage.FlushSync // every acknowledged produce was fsynced
	})
	tp := cb.topic("lagged", 1, nil)
	rc := cb.raw()
	produce := func(n int) {
		t.Helper()
		resp := rc.do(produceReq(9, -1, "lagged", 0, coreBatch(1, -1, -1, -1, coreRecs(n, "v")...))).(*kmsg.ProduceResponse)
		if c := resp.Topics[0].Partitions[0].ErrorCode; c != 0 {
			t.Fatalf("produce: error %d", c)
		}
	}
	adm := kadm.NewClient(cb.client())
	commit := func(at int64) {
		t.Helper()
		var os kadm.Offsets
		os.Add(kadm.Offset{Topic: "lagged", Partition: 0, At: at, LeaderEpoch: -1})
		if r, err := adm.CommitOffsets(coreCtx(t), "g", os); err != nil || r.Error() != nil {
			t.Fatalf("commit: %v %v", err, r.Error())
		}
	}
	const lag = "gregor_group_lag,group=g,partition=0,topic=lagged"
	const hwm = "gregor_partition_high_watermark,partition=0,topic=lagged"

	fsyncs := gathered(t, reg)["gregor_log_fsync_duration_seconds"]
	produce(5)
	commit(2)
	got := gathered(t, reg)
	if got[lag] != 3 || got[hwm] != 5 {
		t.Fatalf("after 5 records and a commit at 2: lag %v hwm %v, want 3 5\n%v", got[lag], got[hwm], got)
	}
	if got["gregor_log_fsync_duration_seconds"] <= fsyncs {
		t.Fatalf("fsync histogram did not move with a synced produce: %v → %v", fsyncs, got["gregor_log_fsync_duration_seconds"])
	}
	if got["gregor_disk_free_bytes"] <= 0 || got["gregor_disk_size_bytes"] < got["gregor_disk_free_bytes"] {
		t.Fatalf("disk: free %v size %v", got["gregor_disk_free_bytes"], got["gregor_disk_size_bytes"])
	}
	produce(4)
	if got := gathered(t, reg); got[lag] != 7 || got[hwm] != 9 {
		t.Fatalf("after 4 more records: lag %v hwm %v, want 7 9", got[lag], got[hwm])
	}
	commit(9)
	if got := gathered(t, reg); got[lag] != 0 || got["gregor_group_committed_offset,group=g,partition=0,topic=lagged"] != 9 {
		t.Fatalf("after committing the end: lag %v committed %v, want 0 9", got[lag], got["gregor_group_committed_offset,group=g,partition=0,topic=lagged"])
	}

	// A Fetch beyond the end: OFFSET_OUT_OF_RANGE, counted once.
	fr := rc.do(fetchReq(12, "lagged", tp.ID, 0, 1000)).(*kmsg.FetchResponse)
	if c := fr.Topics[0].Partitions[0].ErrorCode; c == 0 {
		t.Fatal("fetch beyond the end succeeded")
	}
	// ListOffsets of a partition that does not exist, next to one that
	// does: one UNKNOWN_TOPIC_OR_PARTITION, nothing for the good one.
	lo := kmsg.NewPtrListOffsetsRequest()
	lo.Version, lo.ReplicaID = 4, -1
	lt := kmsg.NewListOffsetsRequestTopic()
	lt.Topic = "lagged"
	for _, p := range []int32{0, 7} {
		lp := kmsg.NewListOffsetsRequestTopicPartition()
		lp.Partition, lp.Timestamp, lp.CurrentLeaderEpoch = p, -1, -1
		lt.Partitions = append(lt.Partitions, lp)
	}
	lo.Topics = append(lo.Topics, lt)
	rc.do(lo)
	got = gathered(t, reg)
	if v := got["gregor_request_errors_total,api=Fetch,code=OFFSET_OUT_OF_RANGE"]; v != 1 {
		t.Errorf("Fetch OFFSET_OUT_OF_RANGE counted %v times, want 1", v)
	}
	if v := got["gregor_request_errors_total,api=ListOffsets,code=UNKNOWN_TOPIC_OR_PARTITION"]; v != 1 {
		t.Errorf("ListOffsets UNKNOWN_TOPIC_OR_PARTITION counted %v times, want 1", v)
	}
	for k, v := range got {
		if strings.HasPrefix(k, "gregor_request_errors_total,api=Produce") || strings.HasPrefix(k, "gregor_request_errors_total,api=OffsetCommit") {
			t.Errorf("%s = %v: a successful request counted as an error", k, v)
		}
	}
}

// The reflection walk finds error codes at every depth and in every
// element, and none where there are none.
func TestCountErrorCodesWalk(t *testing.T) {
	resp := kmsg.NewPtrDescribeConfigsResponse()
	for _, c := range []int16{0, 3, 0, 3, 29} {
		r := kmsg.NewDescribeConfigsResponseResource()
		r.ErrorCode = c
		resp.Resources = append(resp.Resources, r)
	}
	codes := map[int16]int{}
	walkErrorCodes(reflect.ValueOf(resp), func(c int16) {
		if c != 0 {
			codes[c]++
		}
	})
	if codes[3] != 2 || codes[29] != 1 || len(codes) != 2 {
		t.Fatalf("codes %v", codes)
	}
	oc := kmsg.NewPtrOffsetCommitResponse()
	ot := kmsg.NewOffsetCommitResponseTopic()
	for _, c := range []int16{0, 25} {
		p := kmsg.NewOffsetCommitResponseTopicPartition()
		p.ErrorCode = c
		ot.Partitions = append(ot.Partitions, p)
	}
	oc.Topics = append(oc.Topics, ot)
	n := 0
	walkErrorCodes(reflect.ValueOf(oc), func(c int16) {
		if c == 25 {
			n++
		}
	})
	if n != 1 {
		t.Fatalf("nested OffsetCommit code seen %d times, want 1", n)
	}
}

// The hand walks and the reflection walk agree, on a Metadata response of
// errors at both levels.
func TestCountErrorsMetadata(t *testing.T) {
	resp := kmsg.NewPtrMetadataResponse()
	for i, c := range []int16{0, 3, 5} {
		mt := kmsg.NewMetadataResponseTopic()
		mt.ErrorCode = c
		for j := 0; j <= i; j++ {
			mp := kmsg.NewMetadataResponseTopicPartition()
			if j > 0 {
				mp.ErrorCode = 5 // LEADER_NOT_AVAILABLE
			}
			mt.Partitions = append(mt.Partitions, mp)
		}
		resp.Topics = append(resp.Topics, mt)
	}
	reflected := map[int16]int{}
	walkErrorCodes(reflect.ValueOf(resp), func(c int16) {
		if c != 0 {
			reflected[c]++
		}
	})
	reg := prometheus.NewRegistry()
	m := newOpsMetrics(&storage.Config{})
	reg.MustRegister(m.errors)
	m.countErrors(3, resp)
	got := gathered(t, reg)
	if reflected[3] != 1 || reflected[5] != 4 ||
		got["gregor_request_errors_total,api=Metadata,code=UNKNOWN_TOPIC_OR_PARTITION"] != 1 ||
		got["gregor_request_errors_total,api=Metadata,code=LEADER_NOT_AVAILABLE"] != 4 {
		t.Fatalf("reflection %v, counted %v", reflected, got)
	}
}
