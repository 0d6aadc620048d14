package broker

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/nameserver"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// ownerCluster starts n broker groups (one master each) whose ACLs and
// credentials live in broker-a. Listeners: CLIENT (SASL_PLAINTEXT, first,
// cb.addr), INTERNAL (SASL_PLAINTEXT, inter-broker, the brokers log in as
// User:broker), PLAIN (PLAINTEXT). admin and broker are super users.
func ownerCluster(t *testing.T, n int) []*coreBroker {
	t.Helper()
	ns := nameserver.NewLocal()
	var out []*coreBroker
	for i := 0; i < n; i++ {
		out = append(out, coreStart(t, "", func(c *Config) {
			c.NodeID = int32(i + 1)
			c.Listeners = []Listener{
				{Name: "CLIENT", Address: "127.0.0.1:0", Protocol: ProtoSASLPlaintext},
				{Name: "INTERNAL", Address: "127.0.0.1:0", Protocol: ProtoSASLPlaintext},
				{Name: "PLAIN", Address: "127.0.0.1:0"},
			}
			c.Cluster = ClusterConfig{Name: "test", BrokerName: fmt.Sprintf("broker-%c", 'a'+i), Client: ns,
				RegisterInterval: 50 * time.Millisecond, RouteRefreshInterval: 50 * time.Millisecond}
			c.Security.PlainUsers = map[string]string{"admin": "admin-secret", "dana": "dana-secret", "broker": "broker-secret"}
			c.Security.Authorizer = true
			c.Security.SuperUsers = []string{"User:admin", "User:broker"}
			c.Security.FailedAuthDelay = time.Millisecond
			c.Security.InterBroker = InterBrokerConfig{Listener: "INTERNAL", Username: "broker", Password: "broker-secret"}
			c.Security.Owner = OwnerConfig{Group: "broker-a", Refresh: 50 * time.Millisecond, MaxStaleness: 500 * time.Millisecond}
			c.Store.SegmentBytes = 4 << 20
		}))
	}
	for _, cb := range out {
		cb.b.cl().refreshNow()
	}
	return out
}

func (cb *coreBroker) as(user string, opts ...kgo.Opt) *kgo.Client {
	return cb.client(append([]kgo.Opt{kgo.SASL(plain.Auth{User: user, Pass: user + "-secret"}.AsMechanism())}, opts...)...)
}

func dana() requester { return requester{principal: "User:dana", host: "127.0.0.1"} }

// eventually polls cond for up to 30 s (never a time asserted: the bound
// is what the broker enforces, the poll only waits for it).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(30 * time.Second); !cond(); {
		if time.Now().After(end) {
			t.Fatalf("%s: not within 30s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func countKV(b *Broker, ns string) int {
	n := 0
	b.store.RangeKV(ns, func(_, _ []byte) bool { n++; return true })
	return n
}

// TestSecurityOwnerSharedSet: ACLs and credentials changed through any
// broker live in the owner's commit log only, the broker they went
// through enforces them as soon as it answers, and every other broker
// within its refresh.
func TestSecurityOwnerSharedSet(t *testing.T) {
	bs := ownerCluster(t, 3)
	ctx := coreCtx(t)
	topic := "owned-t"
	acl := kadm.NewACLs().Allow("User:dana").AllowHosts("*").Topics(topic).
		ResourcePatternType(kadm.ACLPatternLiteral).Operations(kadm.OpWrite)
	res, err := kadm.NewClient(bs[1].as("admin")).CreateACLs(ctx, acl)
	if err != nil || len(res) != 1 || res[0].Err != nil {
		t.Fatalf("CreateAcls through broker-b: %v %+v", err, res)
	}
	if !bs[1].b.allowed(dana(), resTopic, topic, aclOpWrite) {
		t.Fatal("broker-b does not enforce the ACL it just forwarded")
	}
	if n := countKV(bs[0].b, aclNamespace); n != 1 {
		t.Fatalf("the owner broker-a holds %d bindings, want 1", n)
	}
	if n := countKV(bs[1].b, aclNamespace); n != 0 {
		t.Fatalf("broker-b wrote %d bindings into its own log", n)
	}
	for _, cb := range bs {
		eventually(t, cb.b.cfg.Cluster.BrokerName+" allows dana WRITE", func() bool { return cb.b.allowed(dana(), resTopic, topic, aclOpWrite) })
	}
	// DescribeAcls through a non-owner answers the owner's set.
	d, err := kadm.NewClient(bs[2].as("admin")).DescribeACLs(ctx, kadm.NewACLs().AnyResource().
		ResourcePatternType(kadm.ACLPatternAny).Operations(kadm.OpAny).Allow().AllowHosts().Deny().DenyHosts())
	if err != nil || len(d) != 1 || len(d[0].Described) != 1 {
		t.Fatalf("DescribeAcls through broker-c: %v %+v", err, d)
	}

	// A SCRAM user created through broker-c logs in everywhere.
	up := kadm.UpsertSCRAM{User: "erin", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "erin-pw"}
	ar, err := kadm.NewClient(bs[2].as("admin")).AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{up})
	if err != nil || ar["erin"].Err != nil {
		t.Fatalf("AlterUserScramCredentials through broker-c: %v %+v", err, ar)
	}
	if n := countKV(bs[0].b, scramNamespace); n != 1 {
		t.Fatalf("the owner holds %d credentials, want 1", n)
	}
	for _, cb := range bs {
		eventually(t, "erin logs in at "+cb.b.cfg.Cluster.BrokerName, func() bool {
			cl := cb.client(kgo.SASL(scram.Auth{User: "erin", Pass: "erin-pw"}.AsSha512Mechanism()))
			defer cl.Close()
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			return cl.Ping(pctx) == nil
		})
	}

	// Revoked through broker-c: denied everywhere.
	del, err := kadm.NewClient(bs[2].as("admin")).DeleteACLs(ctx, kadm.NewACLs().Allow("User:dana").AllowHosts("*").Topics(topic).
		ResourcePatternType(kadm.ACLPatternLiteral).Operations(kadm.OpWrite))
	if err != nil || len(del) != 1 || del[0].Err != nil || len(del[0].Deleted) != 1 {
		t.Fatalf("DeleteAcls through broker-c: %v %+v", err, del)
	}
	if bs[2].b.allowed(dana(), resTopic, topic, aclOpWrite) {
		t.Fatal("broker-c still allows what it just revoked")
	}
	for _, cb := range bs {
		eventually(t, cb.b.cfg.Cluster.BrokerName+" denies dana WRITE", func() bool { return !cb.b.allowed(dana(), resTopic, topic, aclOpWrite) })
	}
}

// TestSecurityOwnerStaleRefuses: a broker without a fresh copy of the
// owner's set denies (super users excepted); one that was down while an
// ACL was revoked never enforces it after its return.
func TestSecurityOwnerStaleRefuses(t *testing.T) {
	bs := ownerCluster(t, 3)
	ctx := coreCtx(t)
	grant := func(topic string) {
		t.Helper()
		res, err := kadm.NewClient(bs[0].as("admin")).CreateACLs(ctx, kadm.NewACLs().Allow("User:dana").AllowHosts("*").
			Topics(topic).ResourcePatternType(kadm.ACLPatternLiteral).Operations(kadm.OpRead))
		if err != nil || res[0].Err != nil {
			t.Fatalf("CreateAcls: %v %+v", err, res)
		}
	}
	grant("kept")
	grant("revoked")
	for _, cb := range bs {
		eventually(t, "the grants reach "+cb.b.cfg.Cluster.BrokerName, func() bool {
			return cb.b.allowed(dana(), resTopic, "revoked", aclOpRead) && cb.b.allowed(dana(), resTopic, "kept", aclOpRead)
		})
	}

	// broker-c is down while the ACL is revoked.
	bs[2].stop()
	del, err := kadm.NewClient(bs[0].as("admin")).DeleteACLs(ctx, kadm.NewACLs().Allow("User:dana").AllowHosts("*").
		Topics("revoked").ResourcePatternType(kadm.ACLPatternLiteral).Operations(kadm.OpRead))
	if err != nil || len(del[0].Deleted) != 1 {
		t.Fatalf("DeleteAcls: %v %+v", err, del)
	}
	bs[2].start()
	if bs[2].b.allowed(dana(), resTopic, "revoked", aclOpRead) {
		t.Fatal("broker-c, back, allows what was revoked while it was down")
	}
	eventually(t, "broker-c reads the owner's set", func() bool { return bs[2].b.allowed(dana(), resTopic, "kept", aclOpRead) })
	if bs[2].b.allowed(dana(), resTopic, "revoked", aclOpRead) {
		t.Fatal("broker-c allows the revoked ACL")
	}

	// The owner group goes down: the others stop enforcing their copy
	// once it is stale, except for super users.
	bs[0].stop()
	eventually(t, "broker-b refuses with a stale copy", func() bool { return !bs[1].b.allowed(dana(), resTopic, "kept", aclOpRead) })
	if !bs[1].b.allowed(requester{principal: "User:admin", host: "127.0.0.1"}, resTopic, "kept", aclOpRead) {
		t.Fatal("a super user is refused while the copy is stale")
	}
	if _, ok := bs[1].b.scramCredential("nobody", "SCRAM-SHA-512"); ok {
		t.Fatal("a stale copy finds credentials")
	}
	bs[0].start()
	eventually(t, "broker-b follows the owner again", func() bool { return bs[1].b.allowed(dana(), resTopic, "kept", aclOpRead) })
}

// TestEnvelope: the rules of who may send an Envelope, and that the
// request inside is authorized as the principal it carries.
func TestEnvelope(t *testing.T) {
	bs := ownerCluster(t, 2)
	ctx := coreCtx(t)
	b := bs[1]
	internal := b.b.Addrs()[1].String()
	create := func(topic string) *kmsg.CreateTopicsRequest {
		r := kmsg.NewPtrCreateTopicsRequest()
		r.Version, r.TimeoutMillis = 7, 10000
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, 1, -1
		r.Topics = append(r.Topics, rt)
		return r
	}
	envelope := func(principal string, inner kmsg.Request) *kmsg.EnvelopeRequest {
		env := kmsg.NewPtrEnvelopeRequest()
		env.RequestPrincipal = encodePrincipal(principal)
		env.ClientHostAddress = net.IPv4(127, 0, 0, 1).To4()
		env.RequestData = appendRequest(nil, inner, 1, "test")
		return env
	}
	send := func(user string, env *kmsg.EnvelopeRequest) (*kmsg.EnvelopeResponse, error) {
		cl, err := kgo.NewClient(kgo.SeedBrokers(internal), kgo.SoftwareNameAndVersion(interBrokerSoftware, "1"),
			kgo.SASL(plain.Auth{User: user, Pass: user + "-secret"}.AsMechanism()))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		r, err := cl.Request(ctx, env)
		if err != nil {
			return nil, err
		}
		return r.(*kmsg.EnvelopeResponse), nil
	}
	innerCode := func(resp *kmsg.EnvelopeResponse, inner *kmsg.CreateTopicsRequest) int16 {
		out := inner.ResponseKind()
		out.SetVersion(inner.Version)
		if err := readResponse(resp.ResponseData, inner.Key(), out); err != nil {
			t.Fatal(err)
		}
		return out.(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode
	}

	// From a broker: the inner request is dana's, and dana may not create.
	resp, err := send("broker", envelope("User:dana", create("env-dana")))
	if err != nil || resp.ErrorCode != 0 {
		t.Fatalf("envelope from the broker: %v %+v", err, resp)
	}
	if code := innerCode(resp, create("env-dana")); code != kerr.TopicAuthorizationFailed.Code {
		t.Fatalf("dana's CreateTopics in an envelope: code %d, want TOPIC_AUTHORIZATION_FAILED", code)
	}
	// The same as admin is created.
	resp, err = send("broker", envelope("User:admin", create("env-admin")))
	if err != nil || resp.ErrorCode != 0 || innerCode(resp, create("env-admin")) != 0 {
		t.Fatalf("admin's CreateTopics in an envelope: %v %+v", err, resp)
	}
	// dana herself may not send envelopes.
	resp, err = send("dana", envelope("User:admin", create("env-forged")))
	if err != nil || resp.ErrorCode != kerr.ClusterAuthorizationFailed.Code {
		t.Fatalf("envelope from dana: %v %+v, want CLUSTER_AUTHORIZATION_FAILED", err, resp)
	}
	if _, ok := b.b.topics.Get("env-forged"); ok {
		t.Fatal("a forged envelope created its topic")
	}
	// Not on the inter-broker listener: the connection is closed.
	c, err := net.Dial("tcp", b.b.Addrs()[2].String())
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	defer c.Close()
	rc := &rawConn{t: t, c: c, br: bufio.NewReader(c)}
	rc.send(envelope("User:admin", create("env-plain")))
	if !rc.closed() {
		t.Fatal("an envelope on the PLAINTEXT listener was answered")
	}
	// Clients are not told of Envelope.
	av, err := kmsg.NewPtrApiVersionsRequest().RequestWith(ctx, b.as("admin"))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range av.ApiKeys {
		if k.ApiKey == int16(kmsg.Envelope) {
			t.Fatal("ApiVersions lists Envelope to a client")
		}
	}
}

// TestPrincipalMappingRules: ssl.principal.mapping.rules names a TLS
// client's principal (here User:alice from CN=alice,O=gregor, a super
// user), and a certificate no rule applies to is refused at the handshake.
func TestPrincipalMappingRules(t *testing.T) {
	for _, c := range []struct {
		rules string
		ok    bool
	}{
		{`RULE:^CN=([a-z]+),O=gregor$/$1/L`, true},
		{`RULE:^CN=bob,O=gregor$/bob/`, false},
	} {
		sb := startSecBroker(t, func(cfg *Config) {
			cfg.Security.TLS.PrincipalMappingRules = c.rules
			cfg.Security.Authorizer = true
			cfg.Security.SuperUsers = []string{"User:alice"}
		})
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		cl := dial(t, sb.ssl, kgo.DialTLSConfig(sb.tlsConfig(true)), kgo.RetryTimeout(time.Second))
		res, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, "mapped")
		if err == nil {
			err = res.Err
		}
		cancel()
		switch {
		case c.ok && err != nil:
			t.Errorf("%s: CreateTopics as the mapped super user: %v", c.rules, err)
		case !c.ok:
			var ke *kerr.Error
			if err == nil || errors.As(err, &ke) {
				t.Errorf("%s: a certificate no rule applies to was served (%v), not refused at the handshake", c.rules, err)
			}
		}
	}
}

// TestSecurityOwnerQuotas: client quotas altered through any broker live in
// the owner's commit log only, and every broker group enforces them (the
// one the change went through as soon as it answers); DescribeClientQuotas
// through a non-owner answers the owner's set; a deletion reaches every
// group too.
func TestSecurityOwnerQuotas(t *testing.T) {
	bs := ownerCluster(t, 3)
	ctx := coreCtx(t)
	client := "owned-quota-client"
	alter := func(cb *coreBroker, v float64, remove bool) {
		t.Helper()
		res, err := kadm.NewClient(cb.as("admin")).AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{{
			Entity: kadm.ClientQuotaEntity{{Type: "client-id", Name: &client}},
			Ops:    []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: v, Remove: remove}},
		}})
		if err != nil || len(res) != 1 || res[0].Err != nil {
			t.Fatalf("AlterClientQuotas through %s: %v %+v", cb.b.cfg.Cluster.BrokerName, err, res)
		}
	}
	bound := func(cb *coreBroker) float64 {
		v, _, ok := cb.b.quotas().resolve(quotaProducerByteRate, "dana", client)
		if !ok {
			return 0
		}
		return v
	}
	alter(bs[1], 4096, false)
	if got := bound(bs[1]); got != 4096 {
		t.Fatalf("broker-b enforces %v right after forwarding the quota, want 4096", got)
	}
	if n := countKV(bs[0].b, quotaNamespace); n != 1 {
		t.Fatalf("the owner broker-a holds %d quotas, want 1", n)
	}
	if n := countKV(bs[1].b, quotaNamespace); n != 0 {
		t.Fatalf("broker-b wrote %d quotas into its own log", n)
	}
	for _, cb := range bs {
		eventually(t, cb.b.cfg.Cluster.BrokerName+" enforces producer_byte_rate=4096", func() bool { return bound(cb) == 4096 })
	}
	d, err := kadm.NewClient(bs[2].as("admin")).DescribeClientQuotas(ctx, true, []kadm.DescribeClientQuotaComponent{{Type: "client-id", MatchName: &client}})
	if err != nil || len(d) != 1 || len(d[0].Values) != 1 || d[0].Values[0].Value != 4096 {
		t.Fatalf("DescribeClientQuotas through broker-c: %v %+v", err, d)
	}

	alter(bs[2], 0, true)
	for _, cb := range bs {
		eventually(t, cb.b.cfg.Cluster.BrokerName+" drops the quota", func() bool { return bound(cb) == 0 })
	}
}
