// Package faultproxy is a TCP proxy a test controls, for cutting one
// process off from another without network namespaces (which CI may not
// allow): a broker is given the proxy's address instead of a NameServer's,
// and the test cuts and heals that path alone, while clients and slaves
// still reach the broker directly.
//
// Two ways to cut, because they fail differently on the far side:
//
//	Blackhole  connections stay open and nothing passes, as when a network
//	           partition drops packets: the client sees timeouts.
//	Reject     every connection is closed at once and new ones are closed
//	           on accept, as when the peer is down: the client sees errors.
//
// Heal lets new connections through again (connections cut by Reject or
// Blackhole are closed; clients reconnect).
package faultproxy

import (
	"io"
	"net"
	"sync"
)

// Mode is the proxy's state.
type Mode int

const (
	Pass Mode = iota
	Blackhole
	Reject
)

func (m Mode) String() string {
	switch m {
	case Pass:
		return "pass"
	case Blackhole:
		return "blackhole"
	case Reject:
		return "reject"
	}
	return "unknown"
}

// Proxy forwards connections accepted on its listener to a target address.
type Proxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	mode  Mode
	conns map[net.Conn]struct{} // both ends of every open connection
	held  map[net.Conn]struct{} // connections accepted while blackholed
	wg    sync.WaitGroup
	done  bool
}

// New listens on listen (e.g. "127.0.0.1:0") and forwards to target.
func New(listen, target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}, held: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the address to give the process whose path is cut.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Mode reports the current mode.
func (p *Proxy) Mode() Mode {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mode
}

// Set switches the mode. Leaving Pass closes every forwarded connection
// (Blackhole keeps the client's end open, silent); returning to Pass closes
// connections held while blackholed, so their clients reconnect.
func (p *Proxy) Set(m Mode) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if m == p.mode {
		return
	}
	p.mode = m
	switch m {
	case Pass:
		for c := range p.held {
			c.Close()
		}
		clear(p.held)
	case Blackhole, Reject:
		for c := range p.conns {
			if m == Blackhole {
				// Keep the client's end open and silent: stop forwarding by
				// closing only the target side; the pipe goroutines then
				// park the client end in held.
				if tc, ok := c.(*targetConn); ok {
					tc.Close()
				}
				continue
			}
			c.Close()
		}
		if m == Reject {
			for c := range p.held {
				c.Close()
			}
			clear(p.held)
		}
	}
}

// Close stops the proxy and closes every connection.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.done = true
	for c := range p.conns {
		c.Close()
	}
	for c := range p.held {
		c.Close()
	}
	p.mu.Unlock()
	err := p.ln.Close()
	p.wg.Wait()
	return err
}

// targetConn marks the proxy's connection to the target.
type targetConn struct{ net.Conn }

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		switch {
		case p.done || p.mode == Reject:
			c.Close()
		case p.mode == Blackhole:
			p.held[c] = struct{}{}
			p.wg.Add(1)
			go p.drain(c)
		default:
			p.wg.Add(1)
			go p.forward(c)
		}
		p.mu.Unlock()
	}
}

// drain reads and drops what a held connection sends until it is closed.
func (p *Proxy) drain(c net.Conn) {
	defer p.wg.Done()
	io.Copy(io.Discard, c)
	p.mu.Lock()
	delete(p.held, c)
	p.mu.Unlock()
	c.Close()
}

func (p *Proxy) forward(c net.Conn) {
	defer p.wg.Done()
	raw, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	t := &targetConn{raw}
	p.mu.Lock()
	if p.mode != Pass || p.done {
		p.mu.Unlock()
		c.Close()
		t.Close()
		return
	}
	p.conns[c] = struct{}{}
	p.conns[t] = struct{}{}
	p.mu.Unlock()

	errc := make(chan error, 2)
	go func() { _, err := io.Copy(t, c); errc <- err }()
	go func() { _, err := io.Copy(c, t); errc <- err }()
	<-errc
	t.Close()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, t)
	blackholed := p.mode == Blackhole && !p.done
	if blackholed {
		// The target side was cut: the client's end stays open and silent.
		p.held[c] = struct{}{}
	}
	p.mu.Unlock()
	if !blackholed {
		c.Close()
	}
	<-errc
	if blackholed {
		p.drain0(c)
	}
}

// drain0 is drain for a connection already in held, run on this goroutine.
func (p *Proxy) drain0(c net.Conn) {
	io.Copy(io.Discard, c)
	p.mu.Lock()
	delete(p.held, c)
	p.mu.Unlock()
	c.Close()
}
