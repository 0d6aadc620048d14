package replication

// Authentication of the replication port (issue 15 item 6): a shared secret
// (cluster.secret) proven in both directions before any frame, and/or TLS
// with client certificates, both applied around the listener and the
// dialer so the frame protocol is unchanged.
//
// The secret handshake, before the hello (FROZEN):
//
//	master → slave  "GRAU" | nonceM (32 bytes)
//	slave  → master HMAC-SHA256(secret, "slave"  | nonceM | nonceS) | nonceS (32 bytes)
//	master → slave  HMAC-SHA256(secret, "master" | nonceS | nonceM)
//
// A slave that cannot prove the secret is closed before it reads a byte of
// the log; a master that cannot prove it is refused by the slave, which
// never appends what an impostor streams. The secret never travels.

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

var authMagic = [4]byte{'G', 'R', 'A', 'U'}

// ErrAuth is a replication peer that failed the secret handshake.
var ErrAuth = errors.New("replication: the peer does not know the cluster secret")

func mac(secret []byte, role string, a, b []byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(role))
	h.Write(a)
	h.Write(b)
	return h.Sum(nil)
}

// masterHandshake proves and checks the secret on a freshly accepted conn.
func masterHandshake(c net.Conn, secret []byte) error {
	nonceM := make([]byte, 32)
	rand.Read(nonceM)
	if _, err := c.Write(append(authMagic[:], nonceM...)); err != nil {
		return err
	}
	in := make([]byte, 64)
	if _, err := io.ReadFull(c, in); err != nil {
		return err
	}
	nonceS := in[32:]
	if !hmac.Equal(in[:32], mac(secret, "slave", nonceM, nonceS)) {
		return ErrAuth
	}
	_, err := c.Write(mac(secret, "master", nonceS, nonceM))
	return err
}

// slaveHandshake is the slave's side.
func slaveHandshake(c net.Conn, secret []byte) error {
	in := make([]byte, 36)
	if _, err := io.ReadFull(c, in); err != nil {
		return err
	}
	if [4]byte(in[:4]) != authMagic {
		return ErrAuth
	}
	nonceM := in[4:]
	nonceS := make([]byte, 32)
	rand.Read(nonceS)
	if _, err := c.Write(append(mac(secret, "slave", nonceM, nonceS), nonceS...)); err != nil {
		return err
	}
	proof := make([]byte, 32)
	if _, err := io.ReadFull(c, proof); err != nil {
		return err
	}
	if !hmac.Equal(proof, mac(secret, "master", nonceS, nonceM)) {
		return ErrAuth
	}
	return nil
}

// SecureListener wraps the master's listener: with tlsCfg, connections are
// TLS servers (the caller's config decides client certificates); with a
// secret, Accept returns only connections that proved it, each handshake
// run apart (bounded by timeout) so a silent peer holds up no other.
// onReject, when set, is told of every refused connection.
func SecureListener(ln net.Listener, tlsCfg *tls.Config, secret string, timeout time.Duration, onReject func(net.Addr, error)) net.Listener {
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
	}
	if secret == "" && tlsCfg == nil {
		return ln
	}
	s := &secureListener{Listener: ln, secret: []byte(secret), timeout: timeout, onReject: onReject,
		ready: make(chan net.Conn), done: make(chan struct{})}
	go s.loop()
	return s
}

type secureListener struct {
	net.Listener
	secret   []byte
	timeout  time.Duration
	onReject func(net.Addr, error)
	ready    chan net.Conn
	done     chan struct{}
	once     sync.Once
	err      error
}

func (s *secureListener) loop() {
	for {
		c, err := s.Listener.Accept()
		if err != nil {
			s.err = err
			s.once.Do(func() { close(s.done) })
			return
		}
		go func() {
			c.SetDeadline(time.Now().Add(s.timeout))
			var err error
			if tc, ok := c.(*tls.Conn); ok {
				err = tc.Handshake()
			}
			if err == nil && len(s.secret) > 0 {
				err = masterHandshake(c, s.secret)
			}
			if err != nil {
				if s.onReject != nil {
					s.onReject(c.RemoteAddr(), err)
				}
				c.Close()
				return
			}
			c.SetDeadline(time.Time{})
			select {
			case s.ready <- c:
			case <-s.done:
				c.Close()
			}
		}()
	}
}

func (s *secureListener) Accept() (net.Conn, error) {
	select {
	case c := <-s.ready:
		return c, nil
	case <-s.done:
		return nil, s.err
	}
}

func (s *secureListener) Close() error {
	err := s.Listener.Close()
	s.once.Do(func() { close(s.done) })
	return err
}

// SecureDial wraps a slave's dialer: TLS with tlsCfg (a client config),
// then the secret handshake.
func SecureDial(dial func(ctx context.Context, addr string) (net.Conn, error), tlsCfg *tls.Config, secret string) func(ctx context.Context, addr string) (net.Conn, error) {
	if dial == nil {
		d := &net.Dialer{}
		dial = func(ctx context.Context, addr string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }
	}
	if tlsCfg == nil && secret == "" {
		return dial
	}
	return func(ctx context.Context, addr string) (net.Conn, error) {
		c, err := dial(ctx, addr)
		if err != nil {
			return nil, err
		}
		if dl, ok := ctx.Deadline(); ok {
			c.SetDeadline(dl)
		}
		if tlsCfg != nil {
			tc := tls.Client(c, tlsCfg)
			if err := tc.HandshakeContext(ctx); err != nil {
				c.Close()
				return nil, err
			}
			c = tc
		}
		if secret != "" {
			if err := slaveHandshake(c, []byte(secret)); err != nil {
				c.Close()
				return nil, err
			}
		}
		c.SetDeadline(time.Time{})
		return c, nil
	}
}
