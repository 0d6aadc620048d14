package replication

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// slaveConn is the master's side of one slave's connection: the handshake,
// then a sender goroutine (data frames) and a receiver (acks).
type slaveConn struct {
	m      *Master
	fc     *frameConn
	addr   string
	member int64
	since  time.Time
	wake   chan struct{} // cap 1: the log grew or the limit moved
	ctx    context.Context
	cancel context.CancelFunc
	done   <-chan struct{} // ctx.Done()
	once   sync.Once
	err    error // why it closed, set once
	peerHB time.Duration
	// bytesSent counts commit-log and bootstrap bytes (metrics).
	bytesSent atomic.Int64

	// Guarded by Master.mu.
	streaming    bool // handshake over, acks count
	holdsAll     bool
	gone         bool
	hasAck       bool
	acked        int64
	durable      int64
	first        int64
	lastCaughtUp time.Time
	lastAck      time.Time

	// mu (a leaf) guards what the sender shares with the receiver.
	mu       sync.Mutex
	sentNext int64      // end of the bytes sent so far
	marks    []sentMark // master ends at send times, ascending
}

// sentMark: at time at the master's end was end. An ack covering end
// shows the slave was caught up at that time (Kafka's lastCaughtUpTime).
type sentMark struct {
	end int64
	at  time.Time
}

const maxMarks = 4096

func (c *slaveConn) wakeUp() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *slaveConn) close(err error) {
	c.once.Do(func() {
		c.err = err
		c.cancel()
		c.fc.c.Close()
	})
}

func (c *slaveConn) notInSyncReason(now time.Time, lag time.Duration) string {
	switch {
	case c.gone:
		return "disconnected"
	case !c.holdsAll:
		return "does not hold every retained record"
	case now.Sub(c.lastCaughtUp) > lag:
		return fmt.Sprintf("last caught up %v ago", now.Sub(c.lastCaughtUp).Round(time.Millisecond))
	}
	return "not streaming"
}

func (m *Master) serveConn(nc net.Conn) {
	defer m.wg.Done()
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	c := &slaveConn{m: m, fc: newFrameConn(nc), addr: nc.RemoteAddr().String(), since: time.Now(),
		wake: make(chan struct{}, 1), member: -1}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.done = c.ctx.Done()
	lg := m.lg.With(zap.String("slave", c.addr))
	c.close(m.runConn(c, lg))
	err := c.err
	m.mu.Lock()
	if m.conns[c.member] == c {
		delete(m.conns, c.member)
		m.publishConnsLocked()
	}
	c.gone = true
	m.mu.Unlock()
	m.evaluate()
	switch {
	case errors.Is(err, ErrClosed):
	case errors.Is(err, errBadFrame) || errors.Is(err, errRefused):
		lg.Warn("replication connection closed", zap.Int64("member", c.member), zap.Error(err))
	default:
		lg.Info("replication connection closed", zap.Int64("member", c.member), zap.Error(err))
	}
}

var errRefused = errors.New("replication: slave refused")

// runConn does the handshake, then streams until the connection fails.
func (m *Master) runConn(c *slaveConn, lg *zap.Logger) error {
	typ, body, err := c.fc.read(m.cfg.HandshakeTimeout)
	if err != nil {
		return err
	}
	if typ != frameHello {
		return badFrame("expected hello, got frame type %d", typ)
	}
	h, err := decodeHello(body)
	if err != nil {
		return err
	}
	c.peerHB = h.Heartbeat
	refuse := func(why string) error {
		c.fc.write(frameReject, encodeReject(why), nil, m.cfg.HandshakeTimeout)
		return fmt.Errorf("%w: member %d: %s", errRefused, h.Member, why)
	}
	if h.Group != m.cfg.Group {
		return refuse(fmt.Sprintf("slave of group %q, this master leads %q", h.Group, m.cfg.Group))
	}
	if h.Member == m.cfg.Member {
		return refuse(fmt.Sprintf("member id %d is the master's own", h.Member))
	}
	terms := m.log.Terms()
	end, first := m.log.EndPosition(), m.log.FirstPosition()
	var bootPos int64 = -1
	var bootState []byte
	readBoot := func() (int64, error) {
		if bootPos < 0 {
			p, st, err := m.log.ReadBootstrap()
			if err != nil {
				return 0, err
			}
			bootPos, bootState = p, st
		}
		return bootPos, nil
	}
	pl, err := decide(&h, terms, end, first, readBoot)
	if errors.Is(err, errStaleMaster) {
		return refuse(err.Error())
	}
	if err != nil {
		return err
	}
	if !pl.bootstrap && h.LastNext > 0 && pl.pos >= h.LastNext && !m.hasFrame(h.LastPos, h.LastNext, h.LastCRC) {
		// The slave keeps a frame this log no longer has: this master
		// lost a tail it had sent and wrote other bytes there since.
		// Only the start of the last term both hold is known common.
		p := commonTermStart(terms, h.Terms)
		lg.Warn("the slave's last frame is not in this log (a lost tail, restarted in the same term?): it truncates to the term's start",
			zap.Int64("member", h.Member), zap.Int64("frame", h.LastPos), zap.Int64("frame_end", h.LastNext), zap.Int64("pos", p))
		if p < first || p < h.First {
			pl = plan{bootstrap: true}
		} else {
			pl.pos = p
		}
	}
	c.member = h.Member
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return ErrClosed
	}
	old := m.conns[h.Member]
	m.conns[h.Member] = c
	m.publishConnsLocked()
	m.mu.Unlock()
	if old != nil {
		old.close(fmt.Errorf("replaced by a new connection from %s", c.addr))
	}
	lg.Info("slave connected", zap.Int64("member", h.Member), zap.Int64("slave_end", h.End),
		zap.Int64("slave_first", h.First), zap.Int32("slave_epoch", lastEpoch(h.Terms)),
		zap.Bool("bootstrap", pl.bootstrap), zap.Int64("pos", pl.pos), zap.Int64("master_end", end))

	w := welcome{Master: m.cfg.Member, Epoch: lastEpoch(terms), Mode: modeFollow, Pos: pl.pos, End: end,
		First: first, Heartbeat: m.cfg.Heartbeat}
	start := pl.pos
	if pl.bootstrap {
		if start, err = m.sendBootstrap(c, &w, readBoot, &bootState); err != nil {
			return err
		}
	} else if err := c.fc.write(frameWelcome, w.encode(), nil, m.cfg.HandshakeTimeout); err != nil {
		return err
	}
	// The slave truncates or installs, then acks where it stands, or asks
	// for a bootstrap when it cannot truncate.
	for {
		typ, body, err := c.fc.read(m.cfg.HandshakeTimeout + 5*c.peerHB)
		if err != nil {
			return err
		}
		if typ == frameNeedBoot {
			if len(body) != 0 {
				return badFrame("need-bootstrap frame with %d bytes", len(body))
			}
			if start, err = m.sendBootstrap(c, &w, readBoot, &bootState); err != nil {
				return err
			}
			pl.bootstrap = true
			continue
		}
		if typ != frameAck {
			return badFrame("expected ack or need-bootstrap, got frame type %d", typ)
		}
		a, err := decodeAck(body)
		if err != nil {
			return err
		}
		if a.Written != start {
			return badFrame("slave stands at %d, expected %d", a.Written, start)
		}
		c.mu.Lock()
		c.sentNext = start
		c.mu.Unlock()
		m.mu.Lock()
		c.streaming = true
		c.holdsAll = pl.holdsAll || pl.bootstrap
		m.mu.Unlock()
		m.onAck(c, a)
		break
	}
	bootState = nil
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		c.close(c.sendLoop(start))
	}()
	c.close(c.recvLoop())
	<-sent
	return c.err // whichever side failed first
}

// hasFrame reports whether this log holds, at [pos, next), the bytes of a
// data frame whose raw bytes had the CRC-32C crc.
func (m *Master) hasFrame(pos, next int64, crc uint32) bool {
	if next > m.log.EndPosition() || pos < m.log.FirstPosition() {
		return false
	}
	raw, err := m.log.ReadRaw(pos, int(next-pos))
	if err != nil {
		return false // not even an entry boundary here
	}
	n, err := rawNext(pos, raw)
	return err == nil && n == next && crc32.Checksum(raw, crcTable) == crc
}

func (m *Master) sendBootstrap(c *slaveConn, w *welcome, readBoot func() (int64, error), state *[]byte) (int64, error) {
	pos, err := readBoot()
	if err != nil {
		return 0, fmt.Errorf("reading a bootstrap: %w", err)
	}
	w.Mode, w.Pos, w.StateLen = modeBootstrap, pos, int64(len(*state))
	w.End, w.First = max(m.log.EndPosition(), pos), m.log.FirstPosition()
	if err := c.fc.write(frameWelcome, w.encode(), nil, m.cfg.HandshakeTimeout); err != nil {
		return 0, err
	}
	st := *state
	for off := 0; off < len(st); off += m.cfg.ChunkBytes {
		chunk := st[off:min(off+m.cfg.ChunkBytes, len(st))]
		if err := m.thr.wait(c.ctx, len(chunk)); err != nil {
			return 0, err
		}
		bc := bootChunk{Pos: pos, Offset: int64(off)}
		if err := c.fc.write(frameBootstrap, bc.encodeHeader(), chunk, 0); err != nil {
			return 0, err
		}
		c.bytesSent.Add(int64(len(chunk)))
	}
	m.lg.Info("bootstrap sent", zap.Int64("member", c.member), zap.Int64("pos", pos), zap.Int("state_bytes", len(st)))
	return pos, nil
}

// sendLoop pushes commit-log bytes from pos as soon as they exist (woken by
// Notify, with Heartbeat as the backstop) and an empty frame with the
// master's end and commit limit when idle for Heartbeat or when the limit
// moved.
func (c *slaveConn) sendLoop(pos int64) error {
	m := c.m
	ctx := c.ctx
	t := time.NewTimer(m.cfg.Heartbeat)
	defer t.Stop()
	lastLimit := int64(-1)
	lastSend := time.Time{}
	empty := 0 // reads that gave nothing below the end, in a row
	for {
		end := m.log.EndPosition()
		limit := m.limitSeen.Load()
		if limit == NoCommitLimit {
			limit = end
		}
		now := time.Now()
		f := dataFrame{Pos: pos, Next: pos, Limit: limit, End: end}
		if pos < end {
			raw, err := m.log.ReadRaw(pos, m.cfg.ChunkBytes)
			if err != nil {
				return fmt.Errorf("reading the commit log at %d for the slave: %w", pos, err)
			}
			if len(raw) == 0 {
				// A segment being rolled can show its end before the
				// next one exists: try again shortly, not for ever.
				if empty++; empty > 100 {
					return fmt.Errorf("the commit log gave no bytes at %d below its end %d", pos, end)
				}
				select {
				case <-c.done:
					return ErrClosed
				case <-time.After(time.Millisecond):
				}
				continue
			}
			empty = 0
			next, err := rawNext(pos, raw)
			if err != nil {
				return err
			}
			if err := m.thr.wait(ctx, len(raw)); err != nil {
				return err
			}
			// The log may have grown since end was read.
			f.Raw, f.Next, f.End = raw, next, max(end, next)
		} else if limit == lastLimit && now.Sub(lastSend) < m.cfg.Heartbeat {
			select {
			case <-c.done:
				return ErrClosed
			case <-c.wake:
			case <-t.C:
				t.Reset(m.cfg.Heartbeat)
			}
			continue
		}
		c.mark(f.Next, end, now)
		if err := c.fc.write(frameData, f.encodeHeader(), f.Raw, 0); err != nil {
			return err
		}
		c.bytesSent.Add(int64(len(f.Raw)))
		pos, lastLimit, lastSend = f.Next, limit, now
	}
}

func (c *slaveConn) mark(next, end int64, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sentNext = next
	if n := len(c.marks); n > 0 && c.marks[n-1].end == end {
		c.marks[n-1].at = at
		return
	}
	if len(c.marks) == maxMarks {
		// Conservative: losing the oldest marks can only make the slave
		// look caught up later than it was.
		c.marks = c.marks[:copy(c.marks, c.marks[maxMarks/2:])]
	}
	c.marks = append(c.marks, sentMark{end: end, at: at})
}

// caughtUp pops the marks an ack at w covers and returns the latest time
// among them (zero when none).
func (c *slaveConn) caughtUp(w int64) (time.Time, int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var at time.Time
	i := 0
	for ; i < len(c.marks) && c.marks[i].end <= w; i++ {
		at = c.marks[i].at
	}
	c.marks = c.marks[i:]
	return at, c.sentNext, true
}

// recvLoop reads acks until the connection fails.
func (c *slaveConn) recvLoop() error {
	timeout := 5*c.peerHB + time.Second
	for {
		typ, body, err := c.fc.read(timeout)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return fmt.Errorf("the slave closed the connection")
			}
			return err
		}
		if typ != frameAck {
			return badFrame("expected ack, got frame type %d", typ)
		}
		a, err := decodeAck(body)
		if err != nil {
			return err
		}
		if err := c.m.onAck(c, a); err != nil {
			return err
		}
	}
}

// onAck records a slave's progress and re-evaluates the ISR and limit.
func (m *Master) onAck(c *slaveConn, a ack) error {
	at, sent, _ := c.caughtUp(a.Written)
	if a.Written > sent {
		return badFrame("ack of %d beyond the %d bytes sent", a.Written, sent)
	}
	if a.Durable > a.Written || a.First > a.Written {
		return badFrame("ack written %d durable %d first %d", a.Written, a.Durable, a.First)
	}
	now := time.Now()
	end := m.log.EndPosition()
	m.mu.Lock()
	if c.hasAck && a.Written < c.acked {
		m.mu.Unlock()
		return badFrame("ack went back from %d to %d", c.acked, a.Written)
	}
	c.hasAck, c.acked, c.durable, c.first, c.lastAck = true, a.Written, a.Durable, a.First, now
	if a.Written >= end {
		at = now
	}
	if at.After(c.lastCaughtUp) {
		c.lastCaughtUp = at
	}
	if _, in := m.isr[c.member]; in {
		m.broadcastLocked() // waiters check acks
	}
	m.mu.Unlock()
	m.evaluate()
	return nil
}
