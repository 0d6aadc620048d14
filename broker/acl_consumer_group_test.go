package broker

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"
)

// TestACLConsumerGroupAPIs: ConsumerGroupHeartbeat needs READ on the group
// and DESCRIBE on each subscribed topic; ConsumerGroupDescribe DESCRIBE on
// each group, others answered in place.
func TestACLConsumerGroupAPIs(t *testing.T) {
	sb := startSecBroker(t, func(c *Config) {
		c.Security.Authorizer = true
		c.Security.SuperUsers = []string{"User:ANONYMOUS"}
		c.Security.PlainUsers = map[string]string{"alice": "alice-secret"}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := kadm.NewClient(dial(t, sb.plain))
	for _, n := range []string{"mine", "theirs"} {
		if _, err := adm.CreateTopic(ctx, 1, 1, nil, n); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := adm.CreateACLs(ctx, kadm.NewACLs().Allow("User:alice").AllowHosts("*").Topics("mine").Groups("gmine").
		ResourcePatternType(kadm.ACLPatternLiteral).Operations(kadm.OpAll)); err != nil {
		t.Fatal(err)
	}
	alice := dial(t, sb.saslPlain, kgo.SASL(plain.Auth{User: "alice", Pass: "alice-secret"}.AsMechanism()), kgo.RetryTimeout(2*time.Second))
	if rs := kadm.NewClient(alice).FindGroupCoordinators(ctx, "gmine"); rs.Error() != nil {
		t.Fatal(rs.Error())
	}
	beat := func(group, topic string) int16 {
		t.Helper()
		r := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		r.Version = 1
		r.Group, r.MemberID, r.MemberEpoch = group, "alice-member", 0
		r.RebalanceTimeoutMillis = 10_000
		r.SubscribedTopicNames = []string{topic}
		r.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		resp, err := alice.SeedBrokers()[0].Request(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		return resp.(*kmsg.ConsumerGroupHeartbeatResponse).ErrorCode
	}
	if c := beat("gother", "mine"); c != kerr.GroupAuthorizationFailed.Code {
		t.Fatalf("heartbeat to a group alice may not read: %v", kerr.ErrorForCode(c))
	}
	if c := beat("gmine", "theirs"); c != kerr.TopicAuthorizationFailed.Code {
		t.Fatalf("heartbeat subscribing to a topic alice may not describe: %v", kerr.ErrorForCode(c))
	}
	if c := beat("gmine", "mine"); c != 0 {
		t.Fatalf("heartbeat alice may send: %v", kerr.ErrorForCode(c))
	}
	d := kmsg.NewPtrConsumerGroupDescribeRequest()
	d.Groups = []string{"gmine", "gother"}
	resp, err := alice.SeedBrokers()[0].Request(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	codes := map[string]int16{}
	for _, g := range resp.(*kmsg.ConsumerGroupDescribeResponse).Groups {
		codes[g.Group] = g.ErrorCode
	}
	if len(codes) != 2 || codes["gmine"] != 0 || codes["gother"] != kerr.GroupAuthorizationFailed.Code {
		t.Fatalf("ConsumerGroupDescribe gmine+gother: %v, want gmine described and gother GROUP_AUTHORIZATION_FAILED", codes)
	}
}
