package replication

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
)

// Short intervals keep the tests fast; nothing asserts a duration.
const (
	testHB  = 20 * time.Millisecond
	testLag = 300 * time.Millisecond
)

type testMaster struct {
	*Master
	log  Log
	addr string
	ln   net.Listener
	done chan error
	once sync.Once
}

func startMaster(t testing.TB, l Log, member int64, mod func(*MasterConfig)) *testMaster {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := MasterConfig{Group: "g", Member: member, Log: l, Logger: testLogger(t), ReplicaLagTime: testLag, Heartbeat: testHB,
		ChunkBytes: 64 << 10}
	if mod != nil {
		mod(&cfg)
	}
	m, err := NewMaster(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tm := &testMaster{Master: m, log: l, addr: ln.Addr().String(), ln: ln, done: make(chan error, 1)}
	go func() { tm.done <- m.Serve(ln) }()
	t.Cleanup(func() { tm.stop(t) })
	return tm
}

func (tm *testMaster) stop(t testing.TB) {
	tm.once.Do(func() {
		tm.Close()
		select {
		case err := <-tm.done:
			if err != nil && err != ErrClosed {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Serve did not return after Close")
		}
	})
}

type testSlave struct {
	*Slave
	log    Log
	cancel context.CancelFunc
	done   chan struct{}
	addrMu sync.Mutex
	addr   string
}

func (ts *testSlave) setMaster(addr string) {
	ts.addrMu.Lock()
	ts.addr = addr
	ts.addrMu.Unlock()
}

func startSlave(t testing.TB, l Log, member int64, addr string, mod func(*SlaveConfig)) *testSlave {
	t.Helper()
	ts := &testSlave{log: l, addr: addr, done: make(chan struct{})}
	cfg := SlaveConfig{Group: "g", Member: member, Log: l, Logger: testLogger(t), Heartbeat: testHB,
		MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, DialTimeout: 5 * time.Second,
		MasterAddr: func() string {
			ts.addrMu.Lock()
			defer ts.addrMu.Unlock()
			return ts.addr
		}}
	if mod != nil {
		mod(&cfg)
	}
	s, err := NewSlave(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts.Slave = s
	ctx, cancel := context.WithCancel(context.Background())
	ts.cancel = cancel
	go func() {
		defer close(ts.done)
		s.Run(ctx)
	}()
	t.Cleanup(ts.stop)
	return ts
}

func (ts *testSlave) stop() {
	ts.cancel()
	<-ts.done
}

func testLogger(t testing.TB) *zap.Logger {
	if testing.Verbose() {
		return zaptest.NewLogger(t)
	}
	return zap.NewNop()
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func inSync(m *Master, member int64) bool {
	for _, id := range m.InSync() {
		if id == member {
			return true
		}
	}
	return false
}

// pausableConn lets a test stop a slave's writes (its acks) without
// closing the connection.
type pausableConn struct {
	net.Conn
	mu     sync.Mutex
	cond   *sync.Cond
	paused bool
	closed bool
}

func newPausable(c net.Conn) *pausableConn {
	p := &pausableConn{Conn: c}
	p.cond = sync.NewCond(&p.mu)
	return p
}

func (p *pausableConn) Write(b []byte) (int, error) {
	p.mu.Lock()
	for p.paused && !p.closed {
		p.cond.Wait()
	}
	p.mu.Unlock()
	return p.Conn.Write(b)
}

func (p *pausableConn) Close() error {
	p.mu.Lock()
	p.closed = true
	p.cond.Broadcast()
	p.mu.Unlock()
	return p.Conn.Close()
}

func (p *pausableConn) setPaused(v bool) {
	p.mu.Lock()
	p.paused = v
	p.cond.Broadcast()
	p.mu.Unlock()
}

// pauser hands out pausable connections and pauses all of them.
type pauser struct {
	mu     sync.Mutex
	conns  []*pausableConn
	paused bool
}

func (p *pauser) dial(ctx context.Context, addr string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	pc := newPausable(c)
	p.mu.Lock()
	pc.paused = p.paused
	p.conns = append(p.conns, pc)
	p.mu.Unlock()
	return pc, nil
}

func (p *pauser) set(v bool) {
	p.mu.Lock()
	p.paused = v
	cs := p.conns
	p.mu.Unlock()
	for _, c := range cs {
		c.setPaused(v)
	}
}
