package broker

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"
)

// saslRaw is a raw connection to a SASL listener.
func saslRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	return (&coreBroker{t: t, addr: addr}).raw()
}

// plainLogin authenticates rc with PLAIN and returns SaslAuthenticate's
// error code.
func (rc *rawConn) plainLogin(user, pass string) int16 {
	rc.t.Helper()
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Version, hs.Mechanism = 1, "PLAIN"
	if r := rc.do(hs).(*kmsg.SASLHandshakeResponse); r.ErrorCode != 0 {
		rc.t.Fatalf("handshake: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	au := kmsg.NewPtrSASLAuthenticateRequest()
	au.Version, au.SASLAuthBytes = 1, []byte("\x00"+user+"\x00"+pass)
	return rc.do(au).(*kmsg.SASLAuthenticateResponse).ErrorCode
}

// TestSASLPreAuthFrameLimit: before a SASL connection authenticates, a
// request larger than sasl.server.max.receive.size closes it; once
// authenticated the usual socket.request.max.bytes applies.
func TestSASLPreAuthFrameLimit(t *testing.T) {
	sb := startSecBroker(t, func(c *Config) { c.Security.SASLMaxReceive = 4096 })
	sb.topic("prelimit", 1, nil)
	big := produceReq(9, 1, "prelimit", 0, coreBatch(1, -1, -1, -1, coreRecord{value: make([]byte, 8<<10)}))
	// An ApiVersions request (allowed before authentication) of 8 KiB.
	bigAV := kmsg.NewPtrApiVersionsRequest()
	bigAV.Version, bigAV.ClientSoftwareName, bigAV.ClientSoftwareVersion = 3, strings.Repeat("a", 8<<10), "1"

	rc := saslRaw(t, sb.saslPlain)
	rc.do(kmsg.NewPtrApiVersionsRequest()) // within the limit: answered
	rc.send(bigAV)                         // over it: the connection closes unanswered
	if !rc.closedWithin() {
		t.Fatal("an 8 KiB request before authentication was served with sasl.server.max.receive.size=4096")
	}

	rc = saslRaw(t, sb.saslPlain)
	if code := rc.plainLogin("alice", "alice-secret"); code != 0 {
		t.Fatalf("login: %v", kerr.ErrorForCode(code))
	}
	if p := producePart(rc.do(big)); p.ErrorCode != 0 {
		t.Fatalf("an 8 KiB produce after authentication: %v", kerr.ErrorForCode(p.ErrorCode))
	}
	rc.do(bigAV) // and an 8 KiB ApiVersions is answered
}

// closedWithin reports whether the broker closes the connection within
// 10 s (false: it is still open, nothing more arriving).
func (rc *rawConn) closedWithin() bool {
	rc.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		if _, err := rc.br.ReadByte(); err != nil {
			ne, ok := err.(net.Error)
			return !ok || !ne.Timeout()
		}
	}
}

// TestSASLHandshakeNeverFinishes: a client that starts a SASL handshake
// and never authenticates is closed, even if it keeps sending the requests
// allowed before authentication (connections.max.idle.ms from its accept).
func TestSASLHandshakeNeverFinishes(t *testing.T) {
	sb := startSecBroker(t, func(c *Config) { c.ConnectionsMaxIdle = 500 * time.Millisecond })
	rc := saslRaw(t, sb.saslPlain)
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Version, hs.Mechanism = 1, "SCRAM-SHA-256"
	rc.do(hs)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		rc.c.SetDeadline(time.Now().Add(10 * time.Second))
		corr := rc.send(kmsg.NewPtrApiVersionsRequest())
		if _, err := rc.br.Peek(4); err != nil {
			return // closed
		}
		rc.recv(kmsg.NewPtrApiVersionsRequest(), corr)
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("a connection that never authenticated was still served after 30 s of ApiVersions")
}

// TestSASLMalformed: malformed SASL exchanges get Kafka's codes and leave
// the broker serving others.
func TestSASLMalformed(t *testing.T) {
	sb := startSecBroker(t, nil)
	// SaslAuthenticate without a handshake.
	rc := saslRaw(t, sb.saslPlain)
	au := kmsg.NewPtrSASLAuthenticateRequest()
	au.Version, au.SASLAuthBytes = 1, []byte("garbage")
	if r := rc.do(au).(*kmsg.SASLAuthenticateResponse); r.ErrorCode != kerr.IllegalSaslState.Code {
		t.Errorf("SaslAuthenticate before SaslHandshake: %v, want ILLEGAL_SASL_STATE", kerr.ErrorForCode(r.ErrorCode))
	}
	// An unknown mechanism.
	rc = saslRaw(t, sb.saslPlain)
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Version, hs.Mechanism = 1, "NOPE"
	if r := rc.do(hs).(*kmsg.SASLHandshakeResponse); r.ErrorCode != kerr.UnsupportedSaslMechanism.Code {
		t.Errorf("unknown mechanism: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	// Garbage SCRAM and PLAIN messages, and an empty one.
	for _, c := range []struct{ mech, msg string }{{"SCRAM-SHA-512", "\xff\xfe not scram"}, {"PLAIN", "no-nul-here"}, {"PLAIN", ""}, {"SCRAM-SHA-256", ""}} {
		rc = saslRaw(t, sb.saslPlain)
		hs := kmsg.NewPtrSASLHandshakeRequest()
		hs.Version, hs.Mechanism = 1, c.mech
		rc.do(hs)
		au := kmsg.NewPtrSASLAuthenticateRequest()
		au.Version, au.SASLAuthBytes = 1, []byte(c.msg)
		if r := rc.do(au).(*kmsg.SASLAuthenticateResponse); r.ErrorCode != kerr.SaslAuthenticationFailed.Code {
			t.Errorf("%s %q: %v, want SASL_AUTHENTICATION_FAILED", c.mech, c.msg, kerr.ErrorForCode(r.ErrorCode))
		}
		if !rc.closedWithin() {
			t.Errorf("%s %q: the connection stayed open after a failed authentication", c.mech, c.msg)
		}
	}
	// A SaslAuthenticate frame whose body is cut short closes the
	// connection.
	rc = saslRaw(t, sb.saslPlain)
	frame := coreFrame(au, 9)
	frame = frame[:len(frame)-5]
	frame[0], frame[1], frame[2], frame[3] = 0, 0, 0, byte(len(frame)-4)
	rc.c.Write(frame)
	if !rc.closedWithin() {
		t.Error("a truncated SaslAuthenticate body did not close the connection")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := roundTrip(ctx, dial(t, sb.saslPlain, kgo.SASL(plain.Auth{User: "alice", Pass: "alice-secret"}.AsMechanism())), "after-malformed"); err != nil {
		t.Fatal(err)
	}
}

// TestSASLFailedLoginStorm: a thousand failed logins, fifty at a time,
// are each delayed and counted, and a good client is served meanwhile.
func TestSASLFailedLoginStorm(t *testing.T) {
	reg := prometheus.NewRegistry()
	sb := startSecBroker(t, func(c *Config) {
		c.Registerer = reg
		c.Security.FailedAuthDelay = 20 * time.Millisecond
	})
	const n, workers = 1000, 50
	var wg sync.WaitGroup
	jobs := make(chan int)
	var mu sync.Mutex
	bad := 0
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				rc := saslRaw(t, sb.saslPlain)
				code := rc.plainLogin("alice", "wrong")
				rc.c.Close()
				mu.Lock()
				if code != kerr.SaslAuthenticationFailed.Code {
					bad++
				}
				mu.Unlock()
			}
		}()
	}
	storm := make(chan struct{})
	go func() {
		defer close(storm)
		for i := range n {
			jobs <- i
		}
		close(jobs)
		wg.Wait()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	good := dial(t, sb.saslPlain, kgo.SASL(plain.Auth{User: "alice", Pass: "alice-secret"}.AsMechanism()))
	served := 0
	for done := false; !done; {
		select {
		case <-storm:
			done = true
		default:
		}
		if err := good.ProduceSync(ctx, &kgo.Record{Topic: "storm", Value: []byte("v")}).FirstErr(); err != nil {
			t.Fatalf("a good client during the storm: %v", err)
		}
		served++
	}
	if bad != 0 {
		t.Fatalf("%d of %d bad logins were not SASL_AUTHENTICATION_FAILED", bad, n)
	}
	if got := gauge(t, reg, "gregor_sasl_authentications_total", map[string]string{"mechanism": "PLAIN", "result": "failed"}); got != n {
		t.Fatalf("failed authentications counted %v, want %d", got, n)
	}
	if got := gauge(t, reg, "gregor_sasl_authentications_total", map[string]string{"mechanism": "PLAIN", "result": "ok"}); got < 1 {
		t.Fatalf("successful authentications counted %v", got)
	}
	t.Logf("%d produce round trips of a good client during %d failed logins", served, n)
}
