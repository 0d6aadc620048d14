package broker

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"
)

// TestACLRulesCoverEveryAPI: every advertised API says what it needs.
func TestACLRulesCoverEveryAPI(t *testing.T) {
	for key := range joinAPIs(apis, interBrokerAPIs) {
		if _, ok := aclRules[key]; !ok {
			t.Errorf("%s (key %d) is advertised but has no entry in aclRules (acl_enforce.go)", kmsg.NameForKey(key), key)
		}
	}
}

func TestImplies(t *testing.T) {
	for _, c := range []struct {
		have, want int8
		ok         bool
	}{
		{aclOpRead, aclOpDescribe, true}, {aclOpWrite, aclOpDescribe, true}, {aclOpAlterConfigs, aclOpDescribeConfigs, true},
		{aclOpAll, aclOpWrite, true}, {aclOpDescribe, aclOpRead, false}, {aclOpRead, aclOpWrite, false},
	} {
		if implies(c.have, c.want) != c.ok {
			t.Errorf("implies(%d, %d) = %v", c.have, c.want, !c.ok)
		}
	}
}

func TestACLs(t *testing.T) {
	sb := startSecBroker(t, func(c *Config) {
		c.Security.Authorizer = true
		c.Security.SuperUsers = []string{"User:ANONYMOUS"} // the PLAINTEXT listener administers
		c.Security.PlainUsers = map[string]string{"alice": "alice-secret", "bob": "bob-secret"}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	adm := kadm.NewClient(dial(t, sb.plain))
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "a-data"); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "b-data"); err != nil {
		t.Fatal(err)
	}
	as := func(user string, opts ...kgo.Opt) *kgo.Client {
		return dial(t, sb.saslPlain, append([]kgo.Opt{kgo.SASL(plain.Auth{User: user, Pass: user + "-secret"}.AsMechanism()),
			kgo.RetryTimeout(2 * time.Second)}, opts...)...)
	}
	produce := func(cl *kgo.Client, topic string) error {
		return cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("v")}).FirstErr()
	}
	alice := as("alice", kgo.DisableIdempotentWrite())

	// No ACL: denied everywhere, and Metadata hides the topics.
	if err := produce(alice, "a-data"); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("produce without ACLs: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
	md, err := kadm.NewClient(alice).ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(md) != 0 {
		t.Fatalf("alice sees topics %v without DESCRIBE", md.Names())
	}
	// DescribeCluster is answered to everyone (as Kafka); the authorized
	// operations say she may do nothing on the cluster.
	dcr := kmsg.NewPtrDescribeClusterRequest()
	dcr.IncludeClusterAuthorizedOperations = true
	dc, err := dcr.RequestWith(ctx, alice)
	if err != nil || dc.ErrorCode != 0 || dc.ClusterAuthorizedOperations != 0 {
		t.Fatalf("DescribeCluster: %v %+v, want no error and no authorized operations", err, dc)
	}
	ct, err := kadm.NewClient(alice).CreateTopic(ctx, 1, 1, nil, "a-new")
	if !errors.Is(err, kerr.TopicAuthorizationFailed) && !errors.Is(ct.Err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("CreateTopics: %v %v, want TOPIC_AUTHORIZATION_FAILED", err, ct.Err)
	}
	own, err := kadm.NewClient(alice).CreateACLs(ctx, kadm.NewACLs().Allow("User:alice").AllowHosts("*").Topics("x").
		Operations(kadm.OpAll).ResourcePatternType(kadm.ACLPatternLiteral))
	if err != nil || len(own) != 1 || !errors.Is(own[0].Err, kerr.ClusterAuthorizationFailed) {
		t.Fatalf("alice granting herself: %v %+v, want CLUSTER_AUTHORIZATION_FAILED", err, own)
	}

	// Grant: WRITE and READ on the topics prefixed a-, READ on group ga.
	b := kadm.NewACLs().Allow("User:alice").AllowHosts("*").Topics("a-").ResourcePatternType(kadm.ACLPatternPrefixed).
		Operations(kadm.OpWrite, kadm.OpRead)
	g := kadm.NewACLs().Allow("User:alice").AllowHosts("*").Groups("ga").ResourcePatternType(kadm.ACLPatternLiteral).Operations(kadm.OpRead)
	for _, acl := range []*kadm.ACLBuilder{b, g} {
		res, err := adm.CreateACLs(ctx, acl)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if r.Err != nil {
				t.Fatalf("CreateACLs: %v", r.Err)
			}
		}
	}
	if err := produce(alice, "a-data"); err != nil {
		t.Fatalf("produce with WRITE: %v", err)
	}
	if err := produce(alice, "b-data"); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("produce to b-data: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
	md, err = kadm.NewClient(alice).ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if names := md.Names(); len(names) != 1 || names[0] != "a-data" {
		t.Fatalf("alice sees %v, want [a-data]", names)
	}
	// A group she may read, and one she may not.
	consume := func(group string) error {
		cl := as("alice", kgo.ConsumerGroup(group), kgo.ConsumeTopics("a-data"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		for {
			fs := cl.PollFetches(ctx)
			if errs := fs.Errors(); len(errs) > 0 {
				return errs[0].Err
			}
			if fs.NumRecords() > 0 {
				return nil
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
	}
	if err := consume("ga"); err != nil {
		t.Fatalf("consume in group ga: %v", err)
	}
	if err := consume("gb"); !errors.Is(err, kerr.GroupAuthorizationFailed) {
		t.Fatalf("consume in group gb: %v, want GROUP_AUTHORIZATION_FAILED", err)
	}
	// bob has nothing.
	if err := produce(as("bob", kgo.DisableIdempotentWrite()), "a-data"); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("bob: %v", err)
	}

	// A DENY wins over the prefixed ALLOW.
	deny := kadm.NewACLs().Deny("User:alice").DenyHosts("*").Topics("a-data").ResourcePatternType(kadm.ACLPatternLiteral).Operations(kadm.OpWrite)
	if _, err := adm.CreateACLs(ctx, deny); err != nil {
		t.Fatal(err)
	}
	if err := produce(alice, "a-data"); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("produce under a DENY: %v", err)
	}

	// DescribeAcls lists the three; they survive a restart; DeleteAcls
	// removes them.
	dreq := kmsg.NewPtrDescribeACLsRequest()
	dreq.ResourceType, dreq.ResourcePatternType, dreq.Operation, dreq.PermissionType = 1, 1, 1, 1 // ANY
	described, err := dreq.RequestWith(ctx, dial(t, sb.plain))
	if err != nil || described.ErrorCode != 0 {
		t.Fatalf("DescribeAcls: %v %+v", err, described)
	}
	n := 0
	for _, r := range described.Resources {
		n += len(r.ACLs)
	}
	if n != 4 { // a- WRITE, a- READ, ga READ, a-data DENY WRITE
		t.Fatalf("DescribeAcls found %d bindings, want 4: %+v", n, described.Resources)
	}
	sb.restart()
	a := sb.b.Addrs()
	sb.plain, sb.saslPlain = a[0].String(), a[1].String()
	adm = kadm.NewClient(dial(t, sb.plain))
	alice = as("alice", kgo.DisableIdempotentWrite())
	if err := produce(alice, "a-data"); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("after a restart, produce under the DENY: %v", err)
	}
	if _, err := adm.DeleteACLs(ctx, kadm.NewACLs().Deny("User:alice").DenyHosts("*").Topics("a-data").
		ResourcePatternType(kadm.ACLPatternLiteral).Operations(kadm.OpWrite)); err != nil {
		t.Fatal(err)
	}
	if err := produce(alice, "a-data"); err != nil {
		t.Fatalf("produce after deleting the DENY: %v", err)
	}
}

func TestACLAPIsWithoutAuthorizer(t *testing.T) {
	cb := coreStart(t, "", func(c *Config) { c.Store.SegmentBytes = 4 << 20 })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req := kmsg.NewPtrDescribeACLsRequest()
	req.ResourceType, req.ResourcePatternType, req.Operation, req.PermissionType = 1, 1, 1, 1
	resp, err := req.RequestWith(ctx, cb.client())
	if err != nil {
		t.Fatal(err)
	}
	if resp.ErrorCode != kerr.SecurityDisabled.Code {
		t.Fatalf("DescribeAcls without an authorizer: code %d, want SECURITY_DISABLED", resp.ErrorCode)
	}
}

// TestACLDeniedEntriesAnsweredInPlace: APIs that name several resources
// answer a denied one with its authorization error beside the allowed
// ones' answers (acl_enforce.go, denyEach), as Kafka does.
func TestACLDeniedEntriesAnsweredInPlace(t *testing.T) {
	sb := startSecBroker(t, func(c *Config) {
		c.Security.Authorizer = true
		c.Security.SuperUsers = []string{"User:ANONYMOUS"}
		c.Security.PlainUsers = map[string]string{"alice": "alice-secret"}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := kadm.NewClient(dial(t, sb.plain))
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "mine"); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "theirs"); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CreateACLs(ctx, kadm.NewACLs().Allow("User:alice").AllowHosts("*").Topics("mine").
		ResourcePatternType(kadm.ACLPatternLiteral).Operations(kadm.OpAll)); err != nil {
		t.Fatal(err)
	}
	alice := dial(t, sb.saslPlain, kgo.SASL(plain.Auth{User: "alice", Pass: "alice-secret"}.AsMechanism()), kgo.RetryTimeout(2*time.Second))

	dc := kmsg.NewPtrDescribeConfigsRequest()
	for _, n := range []string{"mine", "theirs"} {
		r := kmsg.NewDescribeConfigsRequestResource()
		r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeTopic, n
		dc.Resources = append(dc.Resources, r)
	}
	dr, err := dc.RequestWith(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	codes := map[string]int16{}
	for _, r := range dr.Resources {
		codes[r.ResourceName] = r.ErrorCode
	}
	if len(dr.Resources) != 2 || codes["mine"] != 0 || codes["theirs"] != kerr.TopicAuthorizationFailed.Code {
		t.Fatalf("DescribeConfigs mine+theirs: %v, want mine answered and theirs TOPIC_AUTHORIZATION_FAILED", codes)
	}

	lo := kmsg.NewPtrListOffsetsRequest()
	lo.ReplicaID = -1
	for _, n := range []string{"mine", "theirs"} {
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = n
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Timestamp = -1
		rt.Partitions = append(rt.Partitions, rp)
		lo.Topics = append(lo.Topics, rt)
	}
	resp, err := alice.SeedBrokers()[0].Request(ctx, lo) // not sharded: kgo would route by the Metadata alice cannot see
	if err != nil {
		t.Fatal(err)
	}
	lr := resp.(*kmsg.ListOffsetsResponse)
	codes = map[string]int16{}
	for _, rt := range lr.Topics {
		codes[rt.Topic] = rt.Partitions[0].ErrorCode
	}
	if len(lr.Topics) != 2 || codes["mine"] != 0 || codes["theirs"] != kerr.TopicAuthorizationFailed.Code {
		t.Fatalf("ListOffsets mine+theirs: %v, want mine answered and theirs TOPIC_AUTHORIZATION_FAILED", codes)
	}
}
