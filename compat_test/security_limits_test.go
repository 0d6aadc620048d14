package compat

// Connection limits (issue 15 item 5) against the Kafka reference and
// gregor, on each target's secure twin (security_test.go), which both
// start with:
//   - max.connections.per.ip.overrides=127.0.0.2:3: a client connecting
//     from 127.0.0.2 (another loopback address no other test uses) gets
//     three connections; a fourth is closed without an answer, and once one
//     of the three closes a new one is served again;
//   - a PLAINTEXT listener LIMITED with listener.name.limited.max.connections=3
//     (gregor reads it from KAFKA_LISTENER_NAME_LIMITED_MAX_CONNECTIONS): a
//     fourth connection is not served while three are open — it waits,
//     unanswered, to be accepted — and is answered once one of the three
//     closes.
// Every exchange is a raw ApiVersions v0. The waits are bounds on the
// broker's answer, never asserted durations; "not served" is checked over
// two seconds.

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	limitedIP = "127.0.0.2"
	connLimit = 3
)

// limitConn is one raw connection of the limits scenarios.
type limitConn struct {
	c    net.Conn
	corr int32
}

func dialLimit(t *testing.T, from, addr string) *limitConn {
	t.Helper()
	d := net.Dialer{Timeout: 10 * time.Second}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, from, err)
	}
	t.Cleanup(func() { c.Close() })
	return &limitConn{c: c}
}

// send writes an ApiVersions v0 request.
func (lc *limitConn) send() error {
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 0
	lc.corr++
	lc.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err := lc.c.Write(request(req, lc.corr, "compat-limits"))
	return err
}

// answer reads the answer to the last request within wait.
func (lc *limitConn) answer(wait time.Duration) error {
	lc.c.SetReadDeadline(time.Now().Add(wait))
	var size [4]byte
	if _, err := io.ReadFull(lc.c, size[:]); err != nil {
		return err
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(lc.c, body); err != nil {
		return err
	}
	if got := int32(binary.BigEndian.Uint32(body)); got != lc.corr {
		return errors.New("answer to another request")
	}
	return nil
}

func (lc *limitConn) roundTrip(wait time.Duration) error {
	if err := lc.send(); err != nil {
		return err
	}
	return lc.answer(wait)
}

func timedOut(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestConnectionLimits(t *testing.T) {
	matrixGo(t, "raw", "max.connections.per.ip.overrides and listener.name.<l>.max.connections", []kmsg.Key{kmsg.ApiVersions}, func(t *testing.T, tg *target) {
		sa := secureOf(t, tg)
		if sa.limited == "" {
			t.Fatal("the secure twin has no LIMITED listener")
		}

		t.Run("per-ip override", func(t *testing.T) {
			var open []*limitConn
			for i := 0; i < connLimit; i++ {
				lc := dialLimit(t, limitedIP, sa.plain)
				if err := lc.roundTrip(20 * time.Second); err != nil {
					t.Fatalf("connection %d of %d from %s: %v", i+1, connLimit, limitedIP, err)
				}
				open = append(open, lc)
			}
			extra := dialLimit(t, limitedIP, sa.plain)
			err := extra.roundTrip(20 * time.Second)
			if err == nil {
				t.Fatalf("connection %d from %s was served over max.connections.per.ip.overrides=%s:%d", connLimit+1, limitedIP, limitedIP, connLimit)
			}
			if timedOut(err) {
				t.Fatalf("connection %d from %s: no answer and not closed within 20s", connLimit+1, limitedIP)
			}
			t.Logf("over the limit: %v", err)
			// From 127.0.0.1 the limit does not apply.
			if err := dialLimit(t, "", sa.plain).roundTrip(20 * time.Second); err != nil {
				t.Fatalf("a connection from 127.0.0.1: %v", err)
			}
			open[0].c.Close()
			within(t, "a new connection from "+limitedIP+" is served once one closed", func() error {
				lc := dialLimit(t, limitedIP, sa.plain)
				defer lc.c.Close()
				return lc.roundTrip(5 * time.Second)
			})
		})

		t.Run("per-listener max.connections", func(t *testing.T) {
			var open []*limitConn
			for i := 0; i < connLimit; i++ {
				lc := dialLimit(t, "", sa.limited)
				if err := lc.roundTrip(20 * time.Second); err != nil {
					t.Fatalf("connection %d of %d to LIMITED: %v", i+1, connLimit, err)
				}
				open = append(open, lc)
			}
			waiting := dialLimit(t, "", sa.limited) // the kernel completes it; the broker does not accept it
			if err := waiting.send(); err != nil {
				t.Fatalf("write: %v", err)
			}
			err := waiting.answer(2 * time.Second)
			if err == nil {
				t.Fatalf("connection %d to LIMITED was served over listener.name.limited.max.connections=%d", connLimit+1, connLimit)
			}
			if !timedOut(err) {
				t.Fatalf("connection %d to LIMITED was closed (%v); it should wait to be accepted", connLimit+1, err)
			}
			open[0].c.Close()
			if err := waiting.answer(30 * time.Second); err != nil {
				t.Fatalf("the waiting connection was not served once one closed: %v", err)
			}
		})
	})
}
