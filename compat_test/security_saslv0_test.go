package compat

// SaslHandshake v0 (KIP-43's unframed exchange), against the Kafka
// reference and gregor's secure twins: after a v0 handshake the client
// sends its SASL tokens as bare size-prefixed frames and reads the
// server's the same way; when the mechanism's exchange ends, Kafka
// requests follow on the same connection as the authenticated user. A
// wrong password closes the connection without an answer.

import (
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/xdg-go/scram"
)

// rawSASLConn is a raw connection to a SASL_PLAINTEXT listener.
type rawSASLConn struct {
	t    *testing.T
	c    net.Conn
	corr int32
}

func (rc *rawSASLConn) frame(b []byte) error {
	rc.c.SetDeadline(time.Now().Add(20 * time.Second))
	_, err := rc.c.Write(b)
	return err
}

func (rc *rawSASLConn) read() ([]byte, error) {
	rc.c.SetDeadline(time.Now().Add(20 * time.Second))
	var size [4]byte
	if _, err := io.ReadFull(rc.c, size[:]); err != nil {
		return nil, err
	}
	b := make([]byte, binary.BigEndian.Uint32(size[:]))
	_, err := io.ReadFull(rc.c, b)
	return b, err
}

// request sends req and decodes its answer (non-flexible versions only).
func (rc *rawSASLConn) request(req kmsg.Request) (kmsg.Response, error) {
	rc.corr++
	if err := rc.frame(request(req, rc.corr, "compat-sasl-v0")); err != nil {
		return nil, err
	}
	b, err := rc.read()
	if err != nil {
		return nil, err
	}
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if len(b) < 4 {
		return nil, errors.New("short answer")
	}
	return resp, resp.ReadFrom(b[4:])
}

// token sends one bare SASL token and reads the server's.
func (rc *rawSASLConn) token(tok []byte) ([]byte, error) {
	if err := rc.frame(binary.BigEndian.AppendUint32(nil, uint32(len(tok)))); err != nil {
		return nil, err
	}
	if err := rc.frame(tok); err != nil {
		return nil, err
	}
	return rc.read()
}

func TestSASLHandshakeV0(t *testing.T) {
	matrixGo(t, "raw", "SaslHandshake v0: unframed PLAIN and SCRAM-SHA-512 exchanges", []kmsg.Key{kmsg.SASLHandshake}, func(t *testing.T, tg *target) {
		sa := secureOf(t, tg)
		dial := func(mech string) *rawSASLConn {
			t.Helper()
			c, err := net.DialTimeout("tcp", sa.saslPlain, 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			rc := &rawSASLConn{t: t, c: c}
			hs := kmsg.NewPtrSASLHandshakeRequest()
			hs.Version, hs.Mechanism = 0, mech
			resp, err := rc.request(hs)
			if err != nil {
				t.Fatalf("SaslHandshake v0 %s: %v", mech, err)
			}
			if code := resp.(*kmsg.SASLHandshakeResponse).ErrorCode; code != 0 {
				t.Fatalf("SaslHandshake v0 %s: error %d", mech, code)
			}
			return rc
		}
		// After the exchange, a Metadata request is answered on the same
		// connection.
		served := func(rc *rawSASLConn) {
			t.Helper()
			md := kmsg.NewPtrMetadataRequest()
			md.Version = 1
			if _, err := rc.request(md); err != nil {
				t.Fatalf("Metadata after the v0 exchange: %v", err)
			}
		}
		closed := func(rc *rawSASLConn, what string, tok []byte) {
			t.Helper()
			reply, err := rc.token(tok)
			if err == nil {
				t.Fatalf("%s: answered %q, want the connection closed", what, reply)
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("%s: no answer and not closed within 20s", what)
			}
		}

		t.Run("PLAIN", func(t *testing.T) {
			rc := dial("PLAIN")
			reply, err := rc.token([]byte("\x00alice\x00alice-secret"))
			if err != nil || len(reply) != 0 {
				t.Fatalf("PLAIN token: %q %v, want an empty token", reply, err)
			}
			served(rc)
			closed(dial("PLAIN"), "PLAIN with a wrong password", []byte("\x00alice\x00wrong"))
		})

		t.Run("SCRAM-SHA-512", func(t *testing.T) {
			conv := func(pass string) (*rawSASLConn, *scram.ClientConversation, []byte) {
				cl, err := scram.HashGeneratorFcn(sha512.New).NewClient("carol", pass, "")
				if err != nil {
					t.Fatal(err)
				}
				c := cl.NewConversation()
				first, _ := c.Step("")
				rc := dial("SCRAM-SHA-512")
				srvFirst, err := rc.token([]byte(first))
				if err != nil {
					t.Fatalf("client-first: %v", err)
				}
				final, err := c.Step(string(srvFirst))
				if err != nil {
					t.Fatalf("server-first %q: %v", srvFirst, err)
				}
				return rc, c, []byte(final)
			}
			rc, c, final := conv("carol-secret")
			srvFinal, err := rc.token(final)
			if err != nil {
				t.Fatalf("client-final: %v", err)
			}
			if _, err := c.Step(string(srvFinal)); err != nil || !c.Valid() {
				t.Fatalf("server-final %q: %v (valid %v)", srvFinal, err, c.Valid())
			}
			served(rc)
			bad, _, badFinal := conv("wrong")
			closed(bad, "SCRAM-SHA-512 with a wrong password", badFinal)
		})
	})
}
