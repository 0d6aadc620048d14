package compat

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// Authorized operations (KIP-430, issue 18 item 4): with no authorizer,
// Kafka 4.1 answers every operation that applies to the resource. As
// AclOperation bits: cluster 8096, topic 3576, group 3400; a field not asked
// for holds math.MinInt32.
const (
	opsCluster = 1<<5 | 1<<7 | 1<<8 | 1<<9 | 1<<10 | 1<<11 | 1<<12       // CREATE ALTER DESCRIBE CLUSTER_ACTION DESCRIBE_CONFIGS ALTER_CONFIGS IDEMPOTENT_WRITE
	opsTopic   = 1<<3 | 1<<4 | 1<<5 | 1<<6 | 1<<7 | 1<<8 | 1<<10 | 1<<11 // READ WRITE CREATE DELETE ALTER DESCRIBE DESCRIBE_CONFIGS ALTER_CONFIGS
	opsGroup   = 1<<3 | 1<<6 | 1<<8 | 1<<10 | 1<<11                      // READ DELETE DESCRIBE DESCRIBE_CONFIGS ALTER_CONFIGS
)

// aclOpNames names the bits as librdkafka does.
func aclOpNames(bits int32) string {
	names := map[int]string{3: "READ", 4: "WRITE", 5: "CREATE", 6: "DELETE", 7: "ALTER", 8: "DESCRIBE",
		9: "CLUSTER_ACTION", 10: "DESCRIBE_CONFIGS", 11: "ALTER_CONFIGS", 12: "IDEMPOTENT_WRITE"}
	var out []string
	for i := 0; i < 31; i++ {
		if bits&(1<<i) != 0 {
			n, ok := names[i]
			if !ok {
				n = fmt.Sprint(i)
			}
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return strings.Join(out, ",")
}

func ckOpNames(ops []kafka.ACLOperation) string {
	var out []string
	for _, o := range ops {
		out = append(out, strings.ToUpper(strings.ReplaceAll(o.String(), " ", "_")))
	}
	slices.Sort(out)
	return strings.Join(out, ",")
}

func TestAuthorizedOperations(t *testing.T) {
	matrixGo(t, "confluent-kafka-go", "authorized operations of topic, cluster, group (no authorizer)",
		join(apisGroup, []kmsg.Key{kmsg.DescribeGroups, kmsg.DescribeCluster}), func(t *testing.T, tg *target) {
			topic := newTopic(t, tg, "authops", 2)
			group := uniq("g-authops")
			commitGroup(t, tg, group, topic, map[int32]int64{0: 0})
			ad, err := kafka.NewAdminClient(&kafka.ConfigMap{"bootstrap.servers": tg.addr, "client.id": "compat-ckg-authops"})
			if err != nil {
				t.Fatal(err)
			}
			defer ad.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			with := kafka.SetAdminOptionIncludeAuthorizedOperations(true)

			dt, err := ad.DescribeTopics(ctx, kafka.NewTopicCollectionOfTopicNames([]string{topic}), with)
			if err != nil || len(dt.TopicDescriptions) != 1 || dt.TopicDescriptions[0].Error.Code() != kafka.ErrNoError {
				t.Fatalf("describe topics: %v %+v", err, dt)
			}
			if got, want := ckOpNames(dt.TopicDescriptions[0].AuthorizedOperations), aclOpNames(opsTopic); got != want {
				t.Errorf("topic authorized operations %s, want %s", got, want)
			}
			dc, err := ad.DescribeCluster(ctx, with)
			if err != nil {
				t.Fatalf("describe cluster: %v", err)
			}
			if got, want := ckOpNames(dc.AuthorizedOperations), aclOpNames(opsCluster); got != want {
				t.Errorf("cluster authorized operations %s, want %s", got, want)
			}
			dg, err := ad.DescribeConsumerGroups(ctx, []string{group}, with)
			if err != nil || len(dg.ConsumerGroupDescriptions) != 1 || dg.ConsumerGroupDescriptions[0].Error.Code() != kafka.ErrNoError {
				t.Fatalf("describe groups: %v %+v", err, dg)
			}
			if got, want := ckOpNames(dg.ConsumerGroupDescriptions[0].AuthorizedOperations), aclOpNames(opsGroup); got != want {
				t.Errorf("group authorized operations %s, want %s", got, want)
			}
		})

	matrixGo(t, "kmsg", "authorized operations in Metadata v8–10 / v12, DescribeCluster, DescribeGroups",
		join(apisGroup, []kmsg.Key{kmsg.DescribeGroups, kmsg.DescribeCluster}), func(t *testing.T, tg *target) {
			topic := newTopic(t, tg, "authops-k", 1)
			group := uniq("g-authops-k")
			commitGroup(t, tg, group, topic, map[int32]int64{0: 0})
			ctx := ctxT(t, 30*time.Second)
			check := func(what string, got, want int32) {
				t.Helper()
				if got != want {
					t.Errorf("%s: authorized operations %d (%s), want %d (%s)", what, got, aclOpNames(got), want, aclOpNames(want))
				}
			}
			metadata := func(cl *kgo.Client, ask bool) *kmsg.MetadataResponse {
				t.Helper()
				req := kmsg.NewPtrMetadataRequest()
				req.IncludeClusterAuthorizedOperations, req.IncludeTopicAuthorizedOperations = ask, ask
				rt := kmsg.NewMetadataRequestTopic()
				rt.Topic = kmsg.StringPtr(topic)
				req.Topics = append(req.Topics, rt)
				resp, err := req.RequestWith(ctx, cl)
				if err != nil || len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 {
					t.Fatalf("metadata: %v %+v", err, resp)
				}
				return resp
			}
			// Metadata v9 carries the cluster's operations (v8–10 only).
			v9 := newClient(t, tg, kgo.MaxVersions(kversion.V2_4_0()))
			resp := metadata(v9, true)
			check("Metadata v9 cluster", resp.AuthorizedOperations, opsCluster)
			check("Metadata v9 topic", resp.Topics[0].AuthorizedOperations, opsTopic)
			resp = metadata(v9, false)
			check("Metadata v9 cluster, not asked", resp.AuthorizedOperations, math.MinInt32)
			check("Metadata v9 topic, not asked", resp.Topics[0].AuthorizedOperations, math.MinInt32)
			cl := newClient(t, tg)
			resp = metadata(cl, true)
			check(fmt.Sprintf("Metadata v%d topic", resp.Version), resp.Topics[0].AuthorizedOperations, opsTopic)

			dc := kmsg.NewPtrDescribeClusterRequest()
			for _, ask := range []bool{true, false} {
				dc.IncludeClusterAuthorizedOperations = ask
				r, err := dc.RequestWith(ctx, cl)
				if err != nil || r.ErrorCode != 0 {
					t.Fatalf("describe cluster: %v %+v", err, r)
				}
				want := int32(opsCluster)
				if !ask {
					want = math.MinInt32
				}
				check(fmt.Sprintf("DescribeCluster (asked %v)", ask), r.ClusterAuthorizedOperations, want)
			}
			dg := kmsg.NewPtrDescribeGroupsRequest()
			dg.Groups = []string{group}
			for _, ask := range []bool{true, false} {
				dg.IncludeAuthorizedOperations = ask
				r, err := dg.RequestWith(ctx, cl)
				if err != nil || len(r.Groups) != 1 || r.Groups[0].ErrorCode != 0 {
					t.Fatalf("describe groups: %v %+v", err, r)
				}
				want := int32(opsGroup)
				if !ask {
					want = math.MinInt32
				}
				check(fmt.Sprintf("DescribeGroups (asked %v)", ask), r.Groups[0].AuthorizedOperations, want)
			}
		})
}
