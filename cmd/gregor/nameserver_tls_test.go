package main

import (
	"context"
	"crypto/x509/pkix"
	"net"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/internal/testcerts"
	"github.com/gregor-broker/gregor/nameserver"
	"go.uber.org/zap"
)

// TestNameServerTLS: `gregor nameserver --nameserver.ssl.enable
// --nameserver.ssl.client.auth=required` with ssl.keystore/ssl.truststore
// serves TLS only and wants a client certificate; a broker's settings with
// nameserver.ssl.enable give it a client that registers and reads routes
// there; a client without a certificate, and plain http, are refused.
func TestNameServerTLS(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	ca, err := testcerts.NewCA("ns CA")
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := ca.Issue(pkix.Name{CommonName: "nameserver"}, true, time.Time{}, time.Time{})
	cli, _ := ca.Issue(pkix.Name{CommonName: "broker"}, false, time.Time{}, time.Time{})
	caFile, _ := testcerts.Write(dir, "ca.pem", ca.PEM)
	srvFile, _ := testcerts.Write(dir, "ns.pem", srv.KeystorePEM())
	cliFile, _ := testcerts.Write(dir, "broker.pem", cli.KeystorePEM())

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	parse := func(cmd command, args ...string) Config {
		t.Helper()
		c := newNameServerCommand()
		if cmd != cmdNameServer {
			c = newBrokerCommand()
		}
		if err := c.Flags().Parse(args); err != nil {
			t.Fatal(err)
		}
		l, err := load(c.Flags(), nil, cmd)
		if err != nil {
			t.Fatal(err)
		}
		def := nameServerDefaultConfig()
		if cmd != cmdNameServer {
			def = brokerDefaultConfig()
		}
		cfg, err := parseConfigOver(def, l)
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	nsCfg := parse(cmdNameServer, "--nameserver.listener", addr, "--nameserver.ssl.enable=true", "--nameserver.ssl.client.auth", "required",
		"--ssl.keystore.location", srvFile, "--ssl.truststore.location", caFile)
	if err := nameServerTLS(&nsCfg, true, zap.NewNop()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runNameServer(ctx, nsCfg.NameServer, zap.NewNop()) }()
	defer func() { cancel(); <-done }()

	bCfg := parse(cmdBroker, "--nameserver.ssl.enable=true", "--ssl.keystore.location", cliFile, "--ssl.truststore.location", caFile)
	if err := nameServerTLS(&bCfg, false, zap.NewNop()); err != nil {
		t.Fatal(err)
	}
	if bCfg.Cluster.NameServerTLS == nil {
		t.Fatal("nameserver.ssl.enable gave the broker no NameServer TLS configuration")
	}
	rctx, rcancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer rcancel()
	reg := nameserver.Registration{Cluster: "c", BrokerName: "g1", NodeID: 1,
		Endpoints: []nameserver.Endpoint{{Listener: "PLAINTEXT", Host: "127.0.0.1", Port: 9092}}}
	good := nameserver.NewClient([]string{addr}).WithTLS(bCfg.Cluster.NameServerTLS)
	for i := 0; ; i++ {
		_, err := good.Register(rctx, reg)
		if err == nil {
			break
		}
		if i > 100 {
			t.Fatalf("register over TLS: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if r, err := good.Routes(rctx); err != nil || len(r.Brokers) != 1 {
		t.Fatalf("routes over TLS: %v %+v", err, r)
	}

	// Without a client certificate (a broker configured with only the trust
	// store cannot present one), and without TLS: refused.
	noCert := bCfg.Cluster.NameServerTLS.Clone()
	noCert.GetClientCertificate = nil
	for name, c := range map[string]*nameserver.Client{
		"no client certificate": nameserver.NewClient([]string{addr}).WithTLS(noCert),
		"plain http":            nameserver.NewClient([]string{addr}),
	} {
		if _, err := c.Routes(rctx); err == nil {
			t.Fatalf("%s: routes were read", name)
		}
		if _, err := c.Register(rctx, reg); err == nil {
			t.Fatalf("%s: a registration was accepted", name)
		}
	}
}
