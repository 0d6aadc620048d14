package broker

import (
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// connAnswers reports whether a new connection to addr answers ApiVersions
// within wait (false: closed, or no answer yet), and returns it open.
func connAnswers(t *testing.T, addr string, wait time.Duration) (net.Conn, bool) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	req := kmsg.NewPtrApiVersionsRequest()
	if _, err := c.Write(coreFrame(req, 1)); err != nil {
		return c, false
	}
	c.SetReadDeadline(time.Now().Add(wait))
	var b [4]byte
	_, err = c.Read(b[:])
	c.SetReadDeadline(time.Time{})
	return c, err == nil
}

func gauge(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.Metric {
			for _, l := range m.Label {
				if v, ok := labels[l.GetName()]; ok && v != l.GetValue() {
					continue next
				}
			}
			if m.Counter != nil {
				return m.Counter.GetValue()
			}
			return m.Gauge.GetValue()
		}
	}
	return 0
}

// TestConnectionsPerIP: a connection over max.connections.per.ip is closed
// before it is read, and counted; closing one makes room again. An
// override for the address replaces the limit.
func TestConnectionsPerIP(t *testing.T) {
	reg := prometheus.NewRegistry()
	cb := coreStart(t, "", func(c *Config) {
		c.Registerer = reg
		c.Connections.MaxPerIP = 2
	})
	first, ok1 := connAnswers(t, cb.addr, 10*time.Second)
	_, ok2 := connAnswers(t, cb.addr, 10*time.Second)
	if !ok1 || !ok2 {
		t.Fatal("the first two connections were not served")
	}
	if _, ok := connAnswers(t, cb.addr, 10*time.Second); ok {
		t.Fatal("a third connection from 127.0.0.1 was served with max.connections.per.ip=2")
	}
	if n := gauge(t, reg, "gregor_connections_rejected_total", map[string]string{"reason": "per_ip"}); n != 1 {
		t.Fatalf("rejected %v, want 1", n)
	}
	if n := gauge(t, reg, "gregor_connections", nil); n != 2 {
		t.Fatalf("gregor_connections %v, want 2", n)
	}
	first.Close()
	eventuallyTrue(t, "a connection after one closed is served", func() bool {
		c, ok := connAnswers(t, cb.addr, 10*time.Second)
		c.Close()
		return ok
	})

	cb2 := coreStart(t, "", func(c *Config) {
		c.Connections.MaxPerIP = 1
		c.Connections.PerIPOverrides = map[string]int{"127.0.0.1": 3}
	})
	for i := 0; i < 3; i++ {
		if _, ok := connAnswers(t, cb2.addr, 10*time.Second); !ok {
			t.Fatalf("connection %d refused under an override of 3", i+1)
		}
	}
}

func eventuallyTrue(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal(what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestMaxConnections: at max.connections a new client is not accepted (it
// waits, unanswered) until a connection closes.
func TestMaxConnections(t *testing.T) {
	cb := coreStart(t, "", func(c *Config) { c.Connections.MaxConnections = 2 })
	first, _ := connAnswers(t, cb.addr, 10*time.Second)
	connAnswers(t, cb.addr, 10*time.Second)
	third, ok := connAnswers(t, cb.addr, 300*time.Millisecond)
	if ok {
		t.Fatal("a third connection was served with max.connections=2")
	}
	first.Close()
	third.SetReadDeadline(time.Now().Add(20 * time.Second))
	var b [4]byte
	if _, err := third.Read(b[:]); err != nil {
		t.Fatalf("the waiting connection was not served after one closed: %v", err)
	}
}

// TestConnectionCreationRate: accepts over max.connection.creation.rate
// are held back, and the hold counted.
func TestConnectionCreationRate(t *testing.T) {
	reg := prometheus.NewRegistry()
	cb := coreStart(t, "", func(c *Config) {
		c.Registerer = reg
		c.Connections.MaxCreationRate = 1
		c.Quota.WindowNum = 2
	})
	for i := 0; i < 3; i++ {
		if _, ok := connAnswers(t, cb.addr, 20*time.Second); !ok {
			t.Fatalf("connection %d not served", i+1)
		}
	}
	if d := gauge(t, reg, "gregor_connection_accept_throttle_seconds_total", nil); d <= 0 {
		t.Fatal("three connections at a rate of 1/s were not held back")
	}
	if n := gauge(t, reg, "gregor_connections_accepted_total", nil); n != 3 {
		t.Fatalf("accepted %v, want 3", n)
	}
}

// TestConnectionsMaxIdle: an idle connection is closed after
// connections.max.idle.ms.
func TestConnectionsMaxIdle(t *testing.T) {
	cb := coreStart(t, "", func(c *Config) { c.ConnectionsMaxIdle = 200 * time.Millisecond })
	c, ok := connAnswers(t, cb.addr, 10*time.Second)
	if !ok {
		t.Fatal("not served")
	}
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	buf := make([]byte, 1024)
	for {
		if _, err := c.Read(buf); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("an idle connection was not closed")
			}
			return
		}
	}
}
