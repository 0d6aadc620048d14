package cluster_test

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/nameserver"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"
)

// TestSecurityOwnerProcesses (issue 15 items 3 and 6) with real processes:
// a NameServer and two broker groups sharing cluster.secret, SASL listeners
// with an authenticated inter-broker listener, ACLs owned by broker-a.
//   - a process without the secret cannot register with the NameServer;
//   - an ACL created through broker-b lives with the owner and is
//     enforced by broker-b (dana may describe the topic there);
//   - revoked while broker-b is down, it is not enforced by broker-b
//     after its restart.
func TestSecurityOwnerProcesses(t *testing.T) {
	dir := t.TempDir()
	const secret = "s3cret"
	nsAddr := net.JoinHostPort("127.0.0.10", freePort(t, "127.0.0.10"))
	ns := &proc{t: t, name: "ns", log: filepath.Join(dir, "ns.log"), args: []string{"nameserver", "--listen", nsAddr,
		"--scan-interval", scanInterval.String(), "--expiry", brokerExpiry.String(), "--cluster.secret", secret, "--logger.level", "warn"}}
	ns.start()
	t.Cleanup(ns.stop)
	waitHTTP(t, "http://"+nsAddr+"/healthz")

	jaas := `org.apache.kafka.common.security.plain.PlainLoginModule required username="broker" password="broker-secret" ` +
		`user_broker="broker-secret" user_admin="admin-secret" user_dana="dana-secret";`
	var nodes []*node
	for i, g := range []string{"a", "b"} {
		host := fmt.Sprintf("127.0.0.%d", i+2)
		n := &node{group: "broker-" + g, nodeID: int32(i + 1)}
		n.addr = net.JoinHostPort(host, freePort(t, host))
		internal := net.JoinHostPort(host, freePort(t, host))
		n.http = net.JoinHostPort(host, freePort(t, host))
		n.proc = proc{t: t, name: n.group, log: filepath.Join(dir, n.group+".log"), args: []string{
			"broker", "--cluster", "test", "--broker-name", n.group, "--broker-id", "0",
			"--node-id", fmt.Sprint(n.nodeID), "--nameservers", nsAddr,
			"--register-interval", registerInterval.String(), "--route-refresh-interval", registerInterval.String(),
			"--listeners", "CLIENT://" + n.addr + ",INTERNAL://" + internal,
			"--listener.security.protocol.map", "CLIENT:SASL_PLAINTEXT,INTERNAL:SASL_PLAINTEXT",
			"--inter.broker.listener.name", "INTERNAL",
			"--sasl.jaas.config", jaas,
			"--authorizer.class.name", "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
			"--super.users", "User:admin;User:broker",
			"--security.owner.group", "broker-a",
			"--security.owner.refresh.ms", "200", "--security.owner.max.staleness.ms", "3000",
			"--cluster.secret", secret,
			"--data-dir", filepath.Join(dir, n.group), "--http.listener", n.http,
			"--replication.listener", net.JoinHostPort(host, "0"),
			"--log.segment.bytes", fmt.Sprint(4 << 20),
			"--logger.level", "warn",
		}}
		n.start()
		nodes = append(nodes, n)
	}
	t.Cleanup(func() {
		for _, n := range nodes {
			n.stop()
		}
		if t.Failed() {
			for _, p := range append([]*proc{ns}, nodesProcs(nodes)...) {
				t.Logf("--- log of %s:\n%s", p.name, p.tail())
			}
		}
	})
	a, b := nodes[0], nodes[1]
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	as := func(n *node, user string) *kgo.Client {
		cl, err := kgo.NewClient(kgo.SeedBrokers(n.addr), kgo.SASL(plain.Auth{User: user, Pass: user + "-secret"}.AsMechanism()),
			kgo.RetryTimeout(2*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		return cl
	}
	within := func(what string, cond func() error) {
		t.Helper()
		for {
			err := cond()
			if err == nil {
				return
			}
			if ctx.Err() != nil {
				t.Fatalf("%s: %v", what, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	// Without the secret, no registration.
	if _, err := nameserver.NewClient([]string{nsAddr}).Register(ctx, nameserver.Registration{Cluster: "test", BrokerName: "intruder",
		Endpoints: []nameserver.Endpoint{{Listener: "CLIENT", Host: "127.0.0.9", Port: 9}}}); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("a registration without the secret: %v", err)
	}
	within("both groups registered", func() error {
		r, err := nameserver.NewClient([]string{nsAddr}).WithSecret(secret).Routes(ctx)
		if err != nil || len(r.Brokers) != 2 {
			return fmt.Errorf("%v %d brokers", err, len(r.Brokers))
		}
		return nil
	})

	topic := "owned"
	within("the topic is created through broker-b", func() error {
		_, err := kadm.NewClient(as(b, "admin")).CreateTopic(ctx, 2, 1, nil, topic)
		if err != nil && !strings.Contains(err.Error(), "TOPIC_ALREADY_EXISTS") {
			return err
		}
		return nil
	})
	describe := func(n *node) int16 {
		req := kmsg.NewPtrMetadataRequest()
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(topic)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, as(n, "dana"))
		if err != nil || len(resp.Topics) != 1 {
			return -1
		}
		return resp.Topics[0].ErrorCode
	}
	if code := describe(b); code != kerr.TopicAuthorizationFailed.Code {
		t.Fatalf("dana describes %s at broker-b without an ACL: code %d", topic, code)
	}
	acl := kadm.NewACLs().Allow("User:dana").AllowHosts("*").Topics(topic).ResourcePatternType(kadm.ACLPatternLiteral).Operations(kadm.OpDescribe)
	within("CreateAcls through broker-b", func() error {
		res, err := kadm.NewClient(as(b, "admin")).CreateACLs(ctx, acl)
		if err == nil && len(res) == 1 {
			err = res[0].Err
		}
		return err
	})
	if code := describe(b); code != 0 {
		t.Fatalf("broker-b does not enforce the ACL it forwarded: code %d", code)
	}
	within("broker-a enforces it", func() error {
		if code := describe(a); code != 0 {
			return fmt.Errorf("code %d", code)
		}
		return nil
	})

	// broker-b is down while the ACL is revoked.
	b.stop()
	within("DeleteAcls through broker-a", func() error {
		res, err := kadm.NewClient(as(a, "admin")).DeleteACLs(ctx, kadm.NewACLs().Allow("User:dana").AllowHosts("*").Topics(topic).
			ResourcePatternType(kadm.ACLPatternLiteral).Operations(kadm.OpDescribe))
		if err == nil && (len(res) != 1 || len(res[0].Deleted) != 1) {
			err = fmt.Errorf("%+v", res)
		}
		return err
	})
	b.start()
	within("broker-b answers again", func() error {
		return as(b, "admin").Ping(ctx)
	})
	if code := describe(b); code != kerr.TopicAuthorizationFailed.Code {
		t.Fatalf("broker-b, back, lets dana describe %s after the ACL was revoked while it was down: code %d", topic, code)
	}
}
