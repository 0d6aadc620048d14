package faultproxy

import (
	"bufio"
	"errors"
	"net"
	"os"
	"testing"
	"time"
)

// echo serves lines back on 127.0.0.1.
func echo(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					c.Write([]byte(line))
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// roundTrip sends a line and reads it back within wait.
func roundTrip(c net.Conn, wait time.Duration) error {
	c.SetDeadline(time.Now().Add(wait))
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err == nil && line != "ping\n" {
		return errors.New("bad echo " + line)
	}
	return err
}

func dial(t *testing.T, addr string) net.Conn {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestProxyCutAndHeal(t *testing.T) {
	p, err := New("127.0.0.1:0", echo(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	const wait = 2 * time.Second
	const silent = 100 * time.Millisecond

	a := dial(t, p.Addr())
	if err := roundTrip(a, wait); err != nil {
		t.Fatalf("pass: %v", err)
	}

	// Reject: the open connection is closed, a new one closed at once.
	p.Set(Reject)
	if err := roundTrip(a, wait); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("open connection under reject: %v", err)
	}
	if err := roundTrip(dial(t, p.Addr()), wait); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("new connection under reject: %v", err)
	}

	p.Set(Pass)
	b := dial(t, p.Addr())
	if err := roundTrip(b, wait); err != nil {
		t.Fatalf("healed: %v", err)
	}

	// Blackhole: open and new connections stay open and silent.
	p.Set(Blackhole)
	if err := roundTrip(b, silent); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("open connection under blackhole: %v", err)
	}
	c := dial(t, p.Addr())
	if err := roundTrip(c, silent); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("new connection under blackhole: %v", err)
	}

	// Heal: held connections are closed, new ones pass.
	p.Set(Pass)
	if err := roundTrip(c, wait); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("held connection after heal: %v", err)
	}
	if err := roundTrip(dial(t, p.Addr()), wait); err != nil {
		t.Fatalf("after heal: %v", err)
	}
}
