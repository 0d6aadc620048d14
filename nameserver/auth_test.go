package nameserver

import (
	"context"
	"net/http"
	"testing"
)

// TestSecretRequired: with cluster.secret set, a client without it can
// neither register, unregister nor read routes; the broker registered with
// the secret stays; /healthz stays open.
func TestSecretRequired(t *testing.T) {
	ctx := context.Background()
	s, err := NewServer(Config{Listen: "127.0.0.1:0", Secret: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	t.Cleanup(func() { s.Shutdown(ctx) })
	addr := s.Addr().String()
	good := NewClient([]string{addr}).WithSecret("s3cret")
	bad := NewClient([]string{addr}).WithSecret("guess")
	none := NewClient([]string{addr})

	if _, err := good.Register(ctx, reg("broker-a", 0, 1)); err != nil {
		t.Fatalf("register with the secret: %v", err)
	}
	for _, c := range []*Client{bad, none} {
		if _, err := c.Register(ctx, reg("broker-x", 0, 2)); err == nil {
			t.Fatal("a registration without the secret was accepted")
		}
		c.Unregister(ctx, "c", "broker-a", 0)
		if _, err := c.Routes(ctx); err == nil {
			t.Fatal("routes were read without the secret")
		}
	}
	r, err := good.Routes(ctx)
	if err != nil || len(r.Brokers) != 1 || r.Brokers[0].BrokerName != "broker-a" {
		t.Fatalf("routes with the secret: %v %+v (broker-a must survive the unregistrations without the secret)", err, r.Brokers)
	}
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz: %v %v", err, resp)
	}
	resp.Body.Close()
}
