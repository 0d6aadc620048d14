package compat

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/internal/kafkadiff"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// TestErrorCodes sends requests a broker must refuse, with kmsg, and expects
// the error code Apache Kafka 4.1 answers (each code below was observed on
// Kafka 4.1.1). On a mismatch the test names both codes.
func TestErrorCodes(t *testing.T) {
	type errCase struct {
		name  string
		needs []kmsg.Key
		want  int16
		run   func(t *testing.T, ec *errCtx) int16
	}
	cases := []errCase{
		{"Produce to an unknown topic", apisData, 3, func(t *testing.T, ec *errCtx) int16 {
			return ec.produce(t, uniq("nosuch"), 0, -1, batch(1))
		}},
		{"Produce to partition 99", apisData, 3, func(t *testing.T, ec *errCtx) int16 {
			return ec.produce(t, ec.topic, 99, -1, batch(1))
		}},
		{"Produce with acks=2", apisData, 21, func(t *testing.T, ec *errCtx) int16 {
			return ec.produce(t, ec.topic, 0, 2, batch(1))
		}},
		{"Produce above max.message.bytes", apisData, 10, func(t *testing.T, ec *errCtx) int16 {
			return ec.produce(t, ec.small, 0, -1, bigBatch(4096))
		}},
		{"Fetch beyond the high watermark", apisData, 1, func(t *testing.T, ec *errCtx) int16 {
			return ec.fetch(t, ec.topic, 0, 1000, -1)
		}},
		{"Fetch with a future leader epoch", apisData, 75, func(t *testing.T, ec *errCtx) int16 {
			return ec.fetch(t, ec.topic, 0, 0, 99)
		}},
		{"ListOffsets of partition 99", apisData, 3, func(t *testing.T, ec *errCtx) int16 {
			req := kmsg.NewPtrListOffsetsRequest()
			req.ReplicaID = -1
			rt := kmsg.NewListOffsetsRequestTopic()
			rt.Topic = ec.topic
			rp := kmsg.NewListOffsetsRequestTopicPartition()
			rp.Partition = 99
			rp.Timestamp = -1
			rp.CurrentLeaderEpoch = -1
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			resp, err := req.RequestWith(ec.ctx, ec.node)
			if err != nil {
				t.Fatal(err)
			}
			return resp.Topics[0].Partitions[0].ErrorCode
		}},
		{"CreateTopics with an invalid name", apisData, 17, func(t *testing.T, ec *errCtx) int16 {
			return ec.create(t, "bad/name", 1, 1, nil)
		}},
		{"CreateTopics with 0 partitions", apisData, 37, func(t *testing.T, ec *errCtx) int16 {
			return ec.create(t, uniq("zero"), 0, 1, nil)
		}},
		{"CreateTopics with replication factor 3 on one node", apisData, 38, func(t *testing.T, ec *errCtx) int16 {
			return ec.create(t, uniq("rf3"), 1, 3, nil)
		}},
		{"CreateTopics with an unknown config", apisData, 40, func(t *testing.T, ec *errCtx) int16 {
			return ec.create(t, uniq("cfg"), 1, 1, map[string]string{"no.such.config": "1"})
		}},
		{"CreateTopics with retention.ms=abc", apisData, 40, func(t *testing.T, ec *errCtx) int16 {
			return ec.create(t, uniq("cfg"), 1, 1, map[string]string{"retention.ms": "abc"})
		}},
		{"CreateTopics of an existing topic", apisData, 36, func(t *testing.T, ec *errCtx) int16 {
			return ec.create(t, ec.topic, 1, 1, nil)
		}},
		{"DeleteTopics of an unknown topic", join(apisData, []kmsg.Key{kmsg.DeleteTopics}), 3, func(t *testing.T, ec *errCtx) int16 {
			req := kmsg.NewPtrDeleteTopicsRequest()
			req.TimeoutMillis = 10000
			name := uniq("nosuch")
			rt := kmsg.NewDeleteTopicsRequestTopic()
			rt.Topic = &name
			req.Topics = append(req.Topics, rt)
			req.TopicNames = append(req.TopicNames, name)
			resp, err := req.RequestWith(ec.ctx, ec.cl)
			if err != nil {
				t.Fatal(err)
			}
			return resp.Topics[0].ErrorCode
		}},
		{"CreatePartitions to fewer partitions", join(apisData, []kmsg.Key{kmsg.CreatePartitions}), 37, func(t *testing.T, ec *errCtx) int16 {
			req := kmsg.NewPtrCreatePartitionsRequest()
			req.TimeoutMillis = 10000
			rt := kmsg.NewCreatePartitionsRequestTopic()
			rt.Topic = ec.topic
			rt.Count = 1
			req.Topics = append(req.Topics, rt)
			resp, err := req.RequestWith(ec.ctx, ec.cl)
			if err != nil {
				t.Fatal(err)
			}
			return resp.Topics[0].ErrorCode
		}},
		{"DescribeConfigs of an unknown topic", join(apisData, []kmsg.Key{kmsg.DescribeConfigs}), 3, func(t *testing.T, ec *errCtx) int16 {
			req := kmsg.NewPtrDescribeConfigsRequest()
			rr := kmsg.NewDescribeConfigsRequestResource()
			rr.ResourceType = kmsg.ConfigResourceTypeTopic
			rr.ResourceName = uniq("nosuch")
			req.Resources = append(req.Resources, rr)
			resp, err := req.RequestWith(ec.ctx, ec.node)
			if err != nil {
				t.Fatal(err)
			}
			return resp.Resources[0].ErrorCode
		}},
		{"IncrementalAlterConfigs with retention.ms=abc", join(apisData, []kmsg.Key{kmsg.IncrementalAlterConfigs}), 40, func(t *testing.T, ec *errCtx) int16 {
			req := kmsg.NewPtrIncrementalAlterConfigsRequest()
			rr := kmsg.NewIncrementalAlterConfigsRequestResource()
			rr.ResourceType = kmsg.ConfigResourceTypeTopic
			rr.ResourceName = ec.topic
			c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
			c.Name = "retention.ms"
			c.Op = kmsg.IncrementalAlterConfigOpSet
			c.Value = kmsg.StringPtr("abc")
			rr.Configs = append(rr.Configs, c)
			req.Resources = append(req.Resources, rr)
			resp, err := req.RequestWith(ec.ctx, ec.node)
			if err != nil {
				t.Fatal(err)
			}
			return resp.Resources[0].ErrorCode
		}},
		{"JoinGroup with a too short session timeout", apisGroup, 26, func(t *testing.T, ec *errCtx) int16 {
			req := kmsg.NewPtrJoinGroupRequest()
			req.Group = uniq("g-err")
			req.SessionTimeoutMillis = 10
			req.RebalanceTimeoutMillis = 10000
			req.ProtocolType = "consumer"
			p := kmsg.NewJoinGroupRequestProtocol()
			p.Name = "range"
			p.Metadata = []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
			req.Protocols = append(req.Protocols, p)
			resp, err := req.RequestWith(ec.ctx, ec.cl)
			if err != nil {
				t.Fatal(err)
			}
			return resp.ErrorCode
		}},
		{"Heartbeat of an unknown member", apisGroup, 25, func(t *testing.T, ec *errCtx) int16 {
			req := kmsg.NewPtrHeartbeatRequest()
			req.Group = ec.group
			req.Generation = 1
			req.MemberID = "nobody"
			resp, err := req.RequestWith(ec.ctx, ec.cl)
			if err != nil {
				t.Fatal(err)
			}
			return resp.ErrorCode
		}},
		{"SyncGroup of an unknown member", apisGroup, 25, func(t *testing.T, ec *errCtx) int16 {
			req := kmsg.NewPtrSyncGroupRequest()
			req.Group = ec.group
			req.Generation = 1
			req.MemberID = "nobody"
			req.ProtocolType = kmsg.StringPtr("consumer")
			req.Protocol = kmsg.StringPtr("range")
			resp, err := req.RequestWith(ec.ctx, ec.cl)
			if err != nil {
				t.Fatal(err)
			}
			return resp.ErrorCode
		}},
		{"OffsetCommit with a generation and an unknown member", apisGroup, 25, func(t *testing.T, ec *errCtx) int16 {
			req := kmsg.NewPtrOffsetCommitRequest()
			req.Group = ec.group
			req.Generation = 5
			req.MemberID = "nobody"
			rt := kmsg.NewOffsetCommitRequestTopic()
			rt.Topic = ec.topic
			rt.TopicID = kafkadiff.TopicID(ec.ctx, ec.cl, ec.topic) // v10 names topics by id
			rp := kmsg.NewOffsetCommitRequestTopicPartition()
			rp.Partition = 0
			rp.Offset = 1
			rp.LeaderEpoch = -1
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			resp, err := req.RequestWith(ec.ctx, ec.cl)
			if err != nil {
				t.Fatal(err)
			}
			return resp.Topics[0].Partitions[0].ErrorCode
		}},
		{"DeleteGroups of an unknown group", join(apisGroup, []kmsg.Key{kmsg.DeleteGroups}), 69, func(t *testing.T, ec *errCtx) int16 {
			req := kmsg.NewPtrDeleteGroupsRequest()
			req.Groups = []string{uniq("g-nosuch")}
			resp, err := req.RequestWith(ec.ctx, ec.cl)
			if err != nil {
				t.Fatal(err)
			}
			return resp.Groups[0].ErrorCode
		}},
	}
	for _, c := range cases {
		matrixGo(t, "error codes (kmsg)", fmt.Sprintf("%s → %d %s", c.name, c.want, kerrName(c.want)), c.needs, func(t *testing.T, tg *target) {
			ec := newErrCtx(t, tg)
			if got := c.run(t, ec); got != c.want {
				t.Errorf("%s: %s answered %d %s; Kafka 4.1 answers %d %s", c.name, tg.name, got, kerrName(got), c.want, kerrName(c.want))
			}
		})
	}
}

func kerrName(code int16) string {
	if code == 0 {
		return "NONE"
	}
	if err := kerr.ErrorForCode(code); err != nil {
		if ke, ok := err.(*kerr.Error); ok {
			return ke.Message
		}
		return strings.SplitN(err.Error(), ":", 2)[0]
	}
	return "?"
}

// errCtx holds what the error cases share: a client, a connection to the
// broker, a topic with one record, a topic with max.message.bytes=1024, and
// a group with a committed offset and no members.
type errCtx struct {
	ctx   context.Context
	tg    *target
	cl    *kgo.Client
	node  *kgo.Broker
	topic string
	small string
	group string
}

func newErrCtx(t *testing.T, tg *target) *errCtx {
	t.Helper()
	// Produce v13 names topics by id; pin v12 so both brokers get the
	// same requests (gregor serves up to v12).
	versions := kversion.Stable()
	versions.SetMaxKeyVersion(int16(kmsg.Produce), 12)
	ec := &errCtx{ctx: ctxT(t, 30*time.Second), tg: tg, cl: newClient(t, tg, kgo.MaxVersions(versions))}
	brokers, err := newAdmin(t, tg).BrokerMetadata(ec.ctx)
	if err != nil || len(brokers.Brokers) == 0 {
		t.Fatalf("broker metadata: %v", err)
	}
	ec.node = ec.cl.Broker(int(brokers.Brokers[0].NodeID))
	ec.topic = newTopic(t, tg, "err", 1)
	produceKnown(t, tg, ec.topic, "franz", 1)
	ec.small = uniq("err-small")
	if code := ec.create(t, ec.small, 1, 1, map[string]string{"max.message.bytes": "1024"}); code != 0 {
		t.Fatalf("create %s: error %d", ec.small, code)
	}
	waitTopic(t, tg, ec.small, 1)
	ec.group = uniq("g-err")
	commitGroup(t, tg, ec.group, ec.topic, map[int32]int64{0: 1})
	return ec
}

func (ec *errCtx) create(t *testing.T, name string, parts int32, rf int16, configs map[string]string) int16 {
	t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 10000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic = name
	rt.NumPartitions = parts
	rt.ReplicationFactor = rf
	for k, v := range configs {
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name = k
		c.Value = kmsg.StringPtr(v)
		rt.Configs = append(rt.Configs, c)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ec.ctx, ec.cl)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Topics[0].ErrorCode
}

// produce sends a Produce v9 over a raw connection: kgo's broker path
// rewrites acks with the client's own setting.
func (ec *errCtx) produce(t *testing.T, topic string, p int32, acks int16, b []byte) int16 {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Version = 9
	req.Acks = acks
	req.TimeoutMillis = 10000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition = p
	rp.Records = b
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	c := dialRaw(t, ec.tg)
	send(t, c, request(req, 3, "compat-errors"))
	o := await(t, c, 15*time.Second)
	if o.closed || o.timeout || o.corr != 3 {
		t.Fatalf("produce: %v", o)
	}
	resp := kmsg.NewPtrProduceResponse()
	resp.Version = 9
	if err := resp.ReadFrom(o.response[1:]); err != nil || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("bad produce response: %v", err)
	}
	return resp.Topics[0].Partitions[0].ErrorCode
}

func (ec *errCtx) fetch(t *testing.T, topic string, p int32, offset int64, epoch int32) int16 {
	t.Helper()
	td, err := kadmOf(ec.cl).ListTopics(ec.ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID = -1
	req.MaxWaitMillis = 10
	req.MaxBytes = 1 << 20
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = topic
	ft.TopicID = td[topic].ID
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.Partition = p
	fp.FetchOffset = offset
	fp.PartitionMaxBytes = 1 << 20
	fp.CurrentLeaderEpoch = epoch
	ft.Partitions = append(ft.Partitions, fp)
	req.Topics = append(req.Topics, ft)
	resp, err := req.RequestWith(ec.ctx, ec.node)
	if err != nil {
		t.Fatal(err)
	}
	if resp.ErrorCode != 0 {
		return resp.ErrorCode
	}
	return resp.Topics[0].Partitions[0].ErrorCode
}

// bigBatch is a valid one-record batch whose value has n bytes.
func bigBatch(n int) []byte {
	return batchOf([][]byte{[]byte(strings.Repeat("x", n))})
}

func kadmOf(cl *kgo.Client) *kadm.Client { return kadm.NewClient(cl) }
