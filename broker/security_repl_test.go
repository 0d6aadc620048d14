package broker

import (
	"context"
	"errors"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/nameserver"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestSecurityStateReplicates: SCRAM credentials and ACLs written on the
// master reach the slave through the commit log; the slave authenticates
// the user and enforces the ACLs, and a credential altered through the
// slave is forwarded to the master.
func TestSecurityStateReplicates(t *testing.T) {
	ns := nameserver.NewLocal()
	var g []*coreBroker
	for i := range 2 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		cb := coreStart(t, "", func(c *Config) {
			c.NodeID = int32(i + 1)
			c.Store.SegmentBytes = 4 << 20
			c.Listeners = append(c.Listeners, Listener{Name: "SASL_PLAINTEXT", Address: "127.0.0.1:0", Protocol: ProtoSASLPlaintext})
			c.Security.Authorizer = true
			c.Security.SuperUsers = []string{"User:ANONYMOUS"}
			c.Cluster = ClusterConfig{Name: "test", BrokerName: "g", BrokerID: int64(i), Client: ns,
				RegisterInterval: 50 * time.Millisecond, RouteRefreshInterval: 50 * time.Millisecond, HTTPAddr: ln.Addr().String()}
			c.Replication = ReplicationConfig{Listener: "127.0.0.1:0", Mode: ReplicationSync, LagTimeMax: 2 * time.Second}
		})
		srv := &http.Server{Handler: cb.b.AdminHandler()}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
		g = append(g, cb)
	}
	master, slave := g[0], g[1]
	if !master.b.isMaster() || slave.b.isMaster() {
		t.Fatal("member 0 is not the master")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	within := func(what string, check func() error) {
		t.Helper()
		for {
			err := check()
			if err == nil {
				return
			}
			if ctx.Err() != nil {
				t.Fatalf("%s: %v", what, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	madm := kadm.NewClient(dial(t, master.b.Addrs()[0].String()))
	if _, err := madm.CreateTopic(ctx, 1, -1, nil, "sec-repl"); err != nil {
		t.Fatal(err)
	}
	res, err := madm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "sam", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "sam-pw"}})
	if err != nil || res.Error() != nil {
		t.Fatalf("AlterUserSCRAMs on the master: %v %v", err, res.Error())
	}
	slaveSASL := slave.b.Addrs()[1].String()
	asSam := func() *kgo.Client {
		return dial(t, slaveSASL, kgo.SASL(scram512("sam", "sam-pw")), kgo.RetryTimeout(time.Second))
	}
	metaCode := func(cl *kgo.Client) (int16, error) {
		req := kmsg.NewPtrMetadataRequest()
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr("sec-repl")
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return 0, err
		}
		return resp.Topics[0].ErrorCode, nil
	}
	// The slave knows sam and, with no ACL, hides the topic from him.
	within("sam logs in on the slave and is denied the topic", func() error {
		code, err := metaCode(asSam())
		if err != nil {
			return err
		}
		if code != kerr.TopicAuthorizationFailed.Code {
			return errors.New("Metadata answered code " + kerr.ErrorForCode(code).Error())
		}
		return nil
	})
	// An ACL created on the master opens it on the slave.
	acl := kadm.NewACLs().Allow("User:sam").AllowHosts("*").Topics("sec-repl").ResourcePatternType(kadm.ACLPatternLiteral).Operations(kadm.OpDescribe)
	if r, err := madm.CreateACLs(ctx, acl); err != nil || r[0].Err != nil {
		t.Fatalf("CreateACLs: %v %+v", err, r)
	}
	within("the slave enforces the master's ACL", func() error {
		code, err := metaCode(asSam())
		if err != nil {
			return err
		}
		if code != 0 {
			return kerr.ErrorForCode(code)
		}
		return nil
	})
	// A credential altered through the slave is forwarded to the master.
	sadm := kadm.NewClient(dial(t, slave.b.Addrs()[0].String()))
	res, err = sadm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "tess", Mechanism: kadm.ScramSha256, Iterations: 4096, Password: "tess-pw"}})
	if err != nil || res.Error() != nil {
		t.Fatalf("AlterUserSCRAMs through the slave: %v %v", err, res.Error())
	}
	if _, ok := master.b.scramCredential("tess", "SCRAM-SHA-256"); !ok {
		t.Fatal("the master has no credential for tess")
	}
}
