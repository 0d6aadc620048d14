package compat

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The batch checks read back, with raw Fetch requests (kmsg), the record
// batches a client's producer left in a topic, as the broker stores them,
// and check what the client asked for: the compression codec in the batch
// attributes, and for an idempotent producer a producer id, epoch and
// sequence numbers on every batch. A broker that recompressed, dropped the
// idempotence fields or renumbered sequences fails here even when the
// records read back right.

// Codec bits of a batch's attributes (the low three).
const (
	codecNone int8 = iota
	codecGzip
	codecSnappy
	codecLz4
	codecZstd
)

var codecNames = []string{"none", "gzip", "snappy", "lz4", "zstd"}

// storedBatches returns every record batch of partition p of topic, from
// offset 0 to the high watermark, as stored (raw Fetch requests to the
// partition's leader, one after the other).
func storedBatches(t *testing.T, tg *target, topic string, p int32) []kmsg.RecordBatch {
	t.Helper()
	cl := newClient(t, tg)
	ctx := ctxT(t, 30*time.Second)
	td, err := kadm.NewClient(cl).ListTopics(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	if int(p) >= len(td[topic].Partitions) {
		t.Fatalf("%s has no partition %d", topic, p)
	}
	leader := cl.Broker(int(td[topic].Partitions[p].Leader))
	var out []kmsg.RecordBatch
	for offset := int64(0); ; {
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID = -1
		req.MaxWaitMillis = 0
		req.MaxBytes = 4 << 20
		ft := kmsg.NewFetchRequestTopic()
		ft.Topic = topic
		ft.TopicID = td[topic].ID
		fp := kmsg.NewFetchRequestTopicPartition()
		fp.Partition = p
		fp.FetchOffset = offset
		fp.PartitionMaxBytes = 4 << 20
		fp.CurrentLeaderEpoch = -1
		ft.Partitions = append(ft.Partitions, fp)
		req.Topics = append(req.Topics, ft)
		resp, err := req.RequestWith(ctx, leader)
		if err != nil {
			t.Fatalf("raw fetch %s/%d at %d: %v", topic, p, offset, err)
		}
		if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("raw fetch %s/%d at %d: error %d, %d topics", topic, p, offset, resp.ErrorCode, len(resp.Topics))
		}
		rp := resp.Topics[0].Partitions[0]
		if rp.ErrorCode != 0 {
			t.Fatalf("raw fetch %s/%d at %d: error code %d", topic, p, offset, rp.ErrorCode)
		}
		if offset >= rp.HighWatermark {
			return out
		}
		n := len(out)
		for b := rp.RecordBatches; len(b) >= 12; {
			var rb kmsg.RecordBatch
			if err := rb.ReadFrom(b); err != nil {
				break // a partial batch at the end of the response
			}
			b = b[12+int(rb.Length):]
			if rb.FirstOffset+int64(rb.LastOffsetDelta) < offset {
				continue // before the offset asked for
			}
			out = append(out, rb)
			offset = rb.FirstOffset + int64(rb.LastOffsetDelta) + 1
		}
		if len(out) == n {
			t.Fatalf("raw fetch %s/%d at %d (high watermark %d): no whole batch", topic, p, offset, rp.HighWatermark)
		}
	}
}

// checkBatches checks the batches in partitions 0..parts-1 of topic, all
// written by one client: at least one batch carries codec (a client may send
// a batch uncompressed when compressing does not shrink it) and none carries
// another; with idempotent, every batch has a producer id and epoch, and per
// producer id and partition the sequences start at 0 and each batch's first
// sequence follows the previous batch's last (0 again after an epoch bump).
func checkBatches(t *testing.T, tg *target, topic string, parts int32, codec int8, idempotent bool) {
	t.Helper()
	withCodec, total := 0, 0
	for p := int32(0); p < parts; p++ {
		type seqState struct {
			epoch int16
			next  int32
		}
		seqs := map[int64]seqState{}
		for _, b := range storedBatches(t, tg, topic, p) {
			total++
			switch c := int8(b.Attributes & 7); {
			case c == codec:
				withCodec++
			case c != codecNone:
				t.Errorf("%s: %s/%d batch at %d: codec %s, the client wrote %s", tg.name, topic, p, b.FirstOffset, codecName(c), codecName(codec))
			}
			if !idempotent {
				continue
			}
			if b.ProducerID < 0 || b.ProducerEpoch < 0 || b.FirstSequence < 0 {
				t.Errorf("%s: %s/%d batch at %d: producer id %d epoch %d sequence %d; the client is idempotent",
					tg.name, topic, p, b.FirstOffset, b.ProducerID, b.ProducerEpoch, b.FirstSequence)
				continue
			}
			want := int32(0)
			if st, ok := seqs[b.ProducerID]; ok && st.epoch == b.ProducerEpoch {
				want = st.next
			} else if ok && b.ProducerEpoch < st.epoch {
				t.Errorf("%s: %s/%d batch at %d: producer %d epoch %d after epoch %d", tg.name, topic, p, b.FirstOffset, b.ProducerID, b.ProducerEpoch, st.epoch)
			}
			if b.FirstSequence != want {
				t.Errorf("%s: %s/%d batch at %d (%d records): producer %d epoch %d first sequence %d, want %d",
					tg.name, topic, p, b.FirstOffset, b.NumRecords, b.ProducerID, b.ProducerEpoch, b.FirstSequence, want)
			}
			next := int64(b.FirstSequence) + int64(b.NumRecords)
			if next > 1<<31-1 {
				next -= 1 << 31 // sequences wrap at int32 max
			}
			seqs[b.ProducerID] = seqState{epoch: b.ProducerEpoch, next: int32(next)}
		}
	}
	if total == 0 {
		t.Errorf("%s: %s holds no batch", tg.name, topic)
	} else if withCodec == 0 {
		t.Errorf("%s: none of the %d batches in %s carries codec %s", tg.name, total, topic, codecName(codec))
	}
	t.Logf("%s: %d batches in %s, %d with codec %s", tg.name, total, topic, withCodec, codecName(codec))
}

func codecName(c int8) string {
	if c >= 0 && int(c) < len(codecNames) {
		return codecNames[c]
	}
	return "unknown"
}
