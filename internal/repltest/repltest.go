// Package repltest reads what one broker serves of one partition, raw, so
// that tests can check that replicas hold the same record batches byte for
// byte (cluster_test, deploy_test and compat_test's replicated target).
// It is test support: nothing shipped imports it.
package repltest

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Partition is what one broker serves of one partition.
type Partition struct {
	Start, HWM int64  // log start offset and high watermark (ListOffsets)
	Batches    []byte // every record batch from Start to HWM, as served
	Records    int64  // records in Batches from Start on
	NumBatches int    // batches in Batches
	// Compacted is true when the topic's cleanup.policy includes compact:
	// its batches need not hold every offset of the range.
	Compacted bool
}

// Read fetches partition p of topic (topic id id) from the broker at addr
// itself, from its log start to its high watermark, within 10 seconds.
func Read(addr, topic string, id [16]byte, p int32) (Partition, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return Partition{}, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := ReadBroker(ctx, cl.SeedBrokers()[0], topic, id, p)
	if err != nil {
		return out, fmt.Errorf("%s: %w", addr, err)
	}
	return out, nil
}

// ReadBroker is Read through a connection to one broker. It fetches as a
// debugging consumer (replica id -2), which a broker serves where it asks,
// never sending it to a preferred read replica, and with no leader epoch,
// so a slave answers from its own log whatever term it is in.
func ReadBroker(ctx context.Context, br *kgo.Broker, topic string, id [16]byte, p int32) (Partition, error) {
	var out Partition
	list := func(ts int64) (int64, error) {
		req := kmsg.NewPtrListOffsetsRequest()
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition, rp.Timestamp, rp.CurrentLeaderEpoch = p, ts, -1
		rt.Partitions = []kmsg.ListOffsetsRequestTopicPartition{rp}
		req.Topics = []kmsg.ListOffsetsRequestTopic{rt}
		resp, err := br.Request(ctx, req)
		if err != nil {
			return 0, err
		}
		lr := resp.(*kmsg.ListOffsetsResponse)
		if len(lr.Topics) != 1 || len(lr.Topics[0].Partitions) != 1 {
			return 0, fmt.Errorf("ListOffsets answered %d topics", len(lr.Topics))
		}
		sp := lr.Topics[0].Partitions[0]
		if sp.ErrorCode != 0 {
			return 0, kerr.ErrorForCode(sp.ErrorCode)
		}
		return sp.Offset, nil
	}
	var err error
	if out.Start, err = list(-2); err != nil {
		return out, fmt.Errorf("%s/%d earliest: %w", topic, p, err)
	}
	if out.HWM, err = list(-1); err != nil {
		return out, fmt.Errorf("%s/%d latest: %w", topic, p, err)
	}
	var buf bytes.Buffer
	for off := out.Start; off < out.HWM; {
		req := kmsg.NewPtrFetchRequest()
		req.MaxWaitMillis, req.MinBytes, req.MaxBytes = 100, 1, 1<<20
		req.ReplicaID, req.ReplicaState.ID = -2, -2
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = topic, id
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch, rp.LastFetchedEpoch = p, off, 1<<20, -1, -1
		rt.Partitions = []kmsg.FetchRequestTopicPartition{rp}
		req.Topics = []kmsg.FetchRequestTopic{rt}
		resp, err := br.Request(ctx, req)
		if err != nil {
			return out, err
		}
		fr := resp.(*kmsg.FetchResponse)
		if fr.ErrorCode != 0 || len(fr.Topics) != 1 || len(fr.Topics[0].Partitions) != 1 {
			return out, fmt.Errorf("fetch %s/%d: code %d", topic, p, fr.ErrorCode)
		}
		sp := fr.Topics[0].Partitions[0]
		if sp.ErrorCode != 0 {
			return out, fmt.Errorf("fetch %s/%d@%d: %w", topic, p, off, kerr.ErrorForCode(sp.ErrorCode))
		}
		data := sp.RecordBatches
		if len(data) == 0 {
			return out, fmt.Errorf("fetch %s/%d@%d below the high watermark %d: no data", topic, p, off, out.HWM)
		}
		// Whole batches up to the high watermark read at the start (a
		// later fetch may see more); a batch holding off is kept whole.
		for len(data) >= 61 {
			base := int64(binary.BigEndian.Uint64(data[0:]))
			n := int(binary.BigEndian.Uint32(data[8:])) + 12
			if n > len(data) {
				break
			}
			last := base + int64(binary.BigEndian.Uint32(data[23:]))
			if last >= out.HWM {
				break
			}
			if last >= off {
				buf.Write(data[:n])
				out.Records += last - max(base, off) + 1
				out.NumBatches++
				off = last + 1
			}
			data = data[n:]
		}
	}
	out.Batches = buf.Bytes()
	if out.Records != out.HWM-out.Start {
		// Gaps: fine only on a compacted topic (asked only then).
		out.Compacted = compactedTopic(ctx, br, topic)
	}
	return out, nil
}

// Diff says how b differs from a, nil when they hold the same range and
// the same bytes. It also reports a partition whose batches do not hold
// every record of its range.
func Diff(a, b Partition) error {
	switch {
	case a.Start != b.Start || a.HWM != b.HWM:
		return fmt.Errorf("offsets %d..%d and %d..%d", a.Start, a.HWM, b.Start, b.HWM)
	case !bytes.Equal(a.Batches, b.Batches):
		return fmt.Errorf("different bytes (%d and %d bytes, %d and %d batches)", len(a.Batches), len(b.Batches), a.NumBatches, b.NumBatches)
	case a.Records != a.HWM-a.Start && !a.Compacted:
		return fmt.Errorf("read %d records of %d", a.Records, a.HWM-a.Start)
	}
	return nil
}

// compactedTopic asks br whether topic's cleanup.policy includes compact;
// false when it cannot tell.
func compactedTopic(ctx context.Context, br *kgo.Broker, topic string) bool {
	req := kmsg.NewPtrDescribeConfigsRequest()
	rr := kmsg.NewDescribeConfigsRequestResource()
	rr.ResourceType, rr.ResourceName, rr.ConfigNames = kmsg.ConfigResourceTypeTopic, topic, []string{"cleanup.policy"}
	req.Resources = []kmsg.DescribeConfigsRequestResource{rr}
	resp, err := br.Request(ctx, req)
	if err != nil {
		return false
	}
	for _, r := range resp.(*kmsg.DescribeConfigsResponse).Resources {
		for _, c := range r.Configs {
			if c.Name == "cleanup.policy" && c.Value != nil && strings.Contains(*c.Value, "compact") {
				return true
			}
		}
	}
	return false
}
