package protocol

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
)

// Handler answers decoded requests. Handle is called on its own goroutine
// and may run concurrently with other requests of the same connection; the
// server writes the responses in request order. A nil response with a nil
// error writes nothing (Produce with acks=0). An error closes the
// connection, as Kafka does for a request it cannot answer.
type Handler interface {
	Handle(ctx context.Context, req *Request) (kmsg.Response, error)
}

// VersionFunc reports the versions of key the broker serves.
type VersionFunc func(key int16) (min, max int16, ok bool)

// ServerConfig configures a Server; Validate fills defaults.
type ServerConfig struct {
	Listener string // listener name, copied into every ConnInfo
	// MaxFrameBytes is socket.request.max.bytes; a larger frame closes the
	// connection. Default 100 MiB.
	MaxFrameBytes int32
	// MaxInFlight bounds how many requests of one connection are processed
	// at once; the connection is not read further until one completes.
	// Default 64.
	MaxInFlight int
	// MaxInFlightBytes bounds the request bytes of one connection held in
	// memory at once (frames read but not yet answered); the connection is
	// not read further until answers free enough. A single larger frame is
	// still accepted when nothing else is in flight. Default 16 MiB.
	MaxInFlightBytes int64
	Handler          Handler
	Versions         VersionFunc
	// Concurrent reports the APIs whose requests may start before the
	// connection's earlier requests finish (read-only ones such as Fetch).
	// Every other request starts only after the previous such request of
	// its connection has been handled, so that pipelined writes (Produce
	// with several requests in flight, OffsetCommit) apply in the order
	// they were sent, as Kafka guarantees. nil: all sequential.
	Concurrent func(key int16) bool
	// Recycle reports the APIs whose handler keeps no reference to the
	// request (its byte slices alias the frame) once it has returned, so
	// the frame's buffer can serve a later request. nil: none.
	Recycle func(key int16) bool
	// ApiVersionsUnsupported builds the v0-shaped response sent to an
	// ApiVersions request whose version is not served.
	ApiVersionsUnsupported func() kmsg.Response
	// IdleTimeout closes a connection that sends no request for this long
	// while none of its requests is in flight (connections.max.idle.ms);
	// it also bounds how long one frame may take to arrive and one
	// response to be written. Default 10m.
	IdleTimeout time.Duration
	// BytesIn and BytesOut, when set, are told how many bytes each frame
	// and each response took on the wire (metrics).
	BytesIn, BytesOut func(n int)
	// OnConnect, when set, is called with each accepted connection before
	// its first request is read (the broker sets ConnInfo.Session there;
	// nc is a *tls.Conn on a TLS listener).
	OnConnect func(info *ConnInfo, nc net.Conn)
	Logger    *zap.Logger
}

// Validate fills defaults and rejects configurations that cannot work.
func (c *ServerConfig) Validate() error {
	if c.Handler == nil || c.Versions == nil {
		return errors.New("protocol: server needs a Handler and a Versions table")
	}
	if c.MaxFrameBytes <= 0 {
		c.MaxFrameBytes = 100 << 20
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = 64
	}
	if c.MaxInFlightBytes <= 0 {
		c.MaxInFlightBytes = 16 << 20
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 10 * time.Minute
	}
	if c.Concurrent == nil {
		c.Concurrent = func(int16) bool { return false }
	}
	if c.BytesIn == nil {
		c.BytesIn = func(int) {}
	}
	if c.BytesOut == nil {
		c.BytesOut = func(int) {}
	}
	return nil
}

// Server serves Kafka connections accepted on one listener.
type Server struct {
	cfg    ServerConfig
	ctx    context.Context // handlers' context; cancelled by Shutdown
	cancel context.CancelFunc

	mu      sync.Mutex
	ln      net.Listener
	conns   map[*conn]struct{}
	closing bool
	wg      sync.WaitGroup // one per connection
}

// NewServer returns a server; Serve starts it.
func NewServer(cfg ServerConfig) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{cfg: cfg, ctx: ctx, cancel: cancel, conns: map[*conn]struct{}{}}, nil
}

// Serve accepts connections on ln until Shutdown, then returns nil. Accept
// errors other than a closed listener (EMFILE when out of descriptors, for
// one) are logged and retried with a growing pause, so a burst of
// connections never stops the listener for good.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		ln.Close()
		return nil
	}
	s.ln = ln
	s.mu.Unlock()
	var pause time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closing := s.closing
			s.mu.Unlock()
			if closing {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			pause = min(max(2*pause, 5*time.Millisecond), time.Second)
			s.cfg.Logger.Warn("accept failed; retrying", zap.Error(err), zap.Duration("pause", pause))
			time.Sleep(pause)
			continue
		}
		pause = 0
		s.ServeConn(c)
	}
}

// ServeConn serves one accepted connection on goroutines of its own.
func (s *Server) ServeConn(nc net.Conn) {
	c := &conn{
		s:     s,
		nc:    nc,
		info:  &ConnInfo{Local: nc.LocalAddr(), Remote: nc.RemoteAddr(), Listener: s.cfg.Listener},
		queue: make(chan *slot, s.cfg.MaxInFlight),
		dead:  make(chan struct{}),
		freed: make(chan struct{}, 1),
	}
	c.ctx, c.cancel = context.WithCancel(s.ctx)
	if s.cfg.OnConnect != nil {
		s.cfg.OnConnect(c.info, nc)
	}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		c.cancel()
		nc.Close()
		return
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	go c.read()
	go c.write()
}

// Shutdown stops accepting, stops reading new requests, cancels the
// handlers' context (long-polling fetches answer at once), writes every
// response already owed, and closes the connections. It returns when all
// connections are closed, or when ctx ends: then it closes them forcibly
// and returns ctx.Err() without waiting for handlers still running.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	if s.ln != nil {
		s.ln.Close()
	}
	for c := range s.conns {
		// Unblock the reader; the writer drains what was read.
		c.nc.SetReadDeadline(time.Now())
	}
	s.mu.Unlock()
	s.cancel()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		// Out of time: close every connection and return without
		// waiting for handlers that ignore their context; they finish
		// on their own and find the connection gone.
		s.mu.Lock()
		for c := range s.conns {
			c.nc.Close()
		}
		s.mu.Unlock()
		return ctx.Err()
	}
}

// Per-connection buffer sizes.
const (
	readBufSize  = 8 << 10
	writeBufSize = 32 << 10
)

// slot is one request's place in its connection's response order.
type slot struct {
	key, version int16
	corr         int32
	size         int64 // frame bytes held until the slot is answered
	done         chan struct{}
	resp         kmsg.Response
	err          error
	frame        []byte // recycled after the handler returns (Recycle)
	// raw: an unframed SASL token's slot; rawReply is written bare
	// (raw_tokens.go).
	raw      bool
	rawReply []byte
}

// conn is one client connection: read reads and dispatches frames, write
// writes responses in the order the requests arrived.
type conn struct {
	s     *Server
	nc    net.Conn
	info  *ConnInfo
	queue chan *slot    // requests in arrival order; capacity = MaxInFlight
	dead  chan struct{} // closed by the writer when it stops
	// ctx is the handlers' context: cancelled when the connection dies or
	// the server shuts down, so a parked fetch of a gone client ends.
	ctx    context.Context
	cancel context.CancelFunc

	inflight atomic.Int64  // frame bytes read and not yet answered
	freed    chan struct{} // signalled when inflight drops
}

// answered releases a slot's share of the in-flight byte budget.
func (c *conn) answered(sl *slot) {
	c.inflight.Add(-sl.size)
	select {
	case c.freed <- struct{}{}:
	default:
	}
}

func (c *conn) log() *zap.Logger { return c.s.cfg.Logger }

// read is the connection's only reader. It stops on a read error, a frame
// it cannot accept, or when the writer dies; closing queue tells the writer
// no more requests come.
func (c *conn) read() {
	defer close(c.queue)
	// No more requests come: a parked handler (a long-polling fetch)
	// answers now instead of holding the connection open until MaxWait.
	defer c.cancel()
	// A panic while framing or decoding (a bug met by hostile bytes)
	// closes this connection, not the process.
	defer c.recoverPanic("reading")
	// Small buffers: an idle connection should cost little, and a large
	// frame is read straight into its own slice, past the buffer.
	br := bufio.NewReaderSize(c.nc, readBufSize)
	var prevSeq chan struct{} // done of the last sequential request
	for {
		// A throttled client is not read until its throttle time ends
		// (ConnInfo.Mute): what it sends meanwhile waits in the socket.
		if !c.waitMuted() {
			return
		}
		// Wait for the start of the next request. Peek consumes nothing,
		// so an idle timeout here leaves the stream intact and the wait
		// can go on while answers are still owed.
		if !c.setReadDeadline() {
			return
		}
		if _, err := br.Peek(4); err != nil {
			if isTimeout(err) && c.inflight.Load() > 0 {
				continue
			}
			if isTimeout(err) && !c.s.isClosing() {
				c.log().Debug("closing idle connection", zap.Stringer("remote", c.info.Remote))
			}
			return
		}
		if !c.setReadDeadline() {
			return
		}
		if h := c.info.rawTokens(); h != nil {
			// After SaslHandshake v0: a bare SASL token (raw_tokens.go),
			// answered in order after what came before it.
			tok, err := readRawToken(br, c.info.frameLimit(c.s.cfg.MaxFrameBytes))
			if err != nil {
				c.log().Info("closing connection: bad SASL token", zap.Stringer("remote", c.info.Remote), zap.Error(err))
				return
			}
			c.s.cfg.BytesIn(len(tok) + 4)
			sl := &slot{raw: true, done: make(chan struct{}), size: int64(len(tok))}
			go func(after chan struct{}) {
				defer close(sl.done)
				defer func() {
					if r := recover(); r != nil {
						c.log().Error("SASL token handler panic", zap.Any("panic", r), zap.Stack("stack"))
						sl.err = fmt.Errorf("protocol: SASL token handler panic")
					}
				}()
				if after != nil {
					<-after
				}
				sl.rawReply, sl.err = h(c.ctx, tok)
			}(prevSeq)
			prevSeq = sl.done
			c.inflight.Add(sl.size)
			select {
			case c.queue <- sl:
			case <-c.dead:
				return
			}
			continue
		}
		// The api key follows the size: it decides whether the frame's
		// buffer may be recycled once the request is handled.
		// Peek at it only behind a plausible size: a bad size must close
		// the connection at once, without waiting for more bytes.
		recycle := false
		limit := c.info.frameLimit(c.s.cfg.MaxFrameBytes)
		if c.s.cfg.Recycle != nil {
			sz, _ := br.Peek(4)
			if n := int32(binary.BigEndian.Uint32(sz)); n >= minFrame && n <= limit {
				if hdr, err := br.Peek(6); err == nil {
					recycle = c.s.cfg.Recycle(int16(binary.BigEndian.Uint16(hdr[4:])))
				}
			}
		}
		var pooled bool
		frame, err := readFrame(br, limit, func(n int) []byte {
			if !recycle {
				return make([]byte, n)
			}
			var b []byte
			b, pooled = getFrame(n)
			return b
		})
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !isTimeout(err) {
				c.log().Info("closing connection", zap.Stringer("remote", c.info.Remote), zap.Error(err))
			}
			return
		}
		c.s.cfg.BytesIn(len(frame) + 4)
		key, version, corr, _ := PeekHeader(frame)
		sl := &slot{key: key, version: version, corr: corr, done: make(chan struct{}), size: int64(len(frame))}

		min, max, ok := c.s.cfg.Versions(key)
		switch {
		case ok && key == int16(kmsg.ApiVersions) && version > max && c.s.cfg.ApiVersionsUnsupported != nil:
			// A client newer than the broker: answer in the v0 shape so
			// it can read the error and retry with a version we list.
			sl.version = 0
			sl.resp = c.s.cfg.ApiVersionsUnsupported()
			close(sl.done)
		case !ok || version < min || version > max:
			c.log().Info("closing connection: unsupported request", zap.Stringer("remote", c.info.Remote),
				zap.Int16("key", key), zap.Int16("version", version))
			return
		default:
			h, body, err := ParseRequest(frame)
			if err != nil {
				c.log().Info("closing connection: unparsable request", zap.Stringer("remote", c.info.Remote), zap.Error(err))
				return
			}
			req := &Request{Header: h, Body: body, Conn: c.info, Size: len(frame) + 4}
			if pooled {
				sl.frame = frame
			}
			if c.s.cfg.Concurrent(key) {
				go c.handle(sl, req, nil)
			} else {
				go c.handle(sl, req, prevSeq)
				prevSeq = sl.done
			}
		}
		c.inflight.Add(sl.size)
		select {
		case c.queue <- sl:
		case <-c.dead:
			return
		}
		// Hold off reading while too many request bytes are unanswered.
		for c.inflight.Load() > c.s.cfg.MaxInFlightBytes {
			select {
			case <-c.freed:
			case <-c.dead:
				return
			}
		}
	}
}

// waitMuted waits while the connection is muted; false when the
// connection died meanwhile.
func (c *conn) waitMuted() bool {
	for {
		d := c.info.mutedFor()
		if d <= 0 {
			return true
		}
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-c.dead:
			t.Stop()
			return false
		case <-c.s.ctx.Done():
			t.Stop()
			return false
		}
	}
}

// setReadDeadline arms the idle timeout for the next read. It reports
// false once the server is shutting down: Shutdown sets closing before it
// sets every connection's deadline to now, so either this check sees
// closing or Shutdown's deadline comes after ours.
func (c *conn) setReadDeadline() bool {
	c.nc.SetReadDeadline(time.Now().Add(c.s.cfg.IdleTimeout))
	return !c.s.isClosing()
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// handle runs the handler, after the request before it when after is not
// nil, and completes sl. A panic in a handler is a bug; it costs this
// request (the connection is closed once the answers before it are
// written, as for a handler error) instead of the whole broker; the
// connection's other requests and every other connection go on.
func (c *conn) handle(sl *slot, req *Request, after chan struct{}) {
	defer close(sl.done)
	if after != nil {
		<-after
	}
	defer func() {
		if r := recover(); r != nil {
			c.log().Error("handler panic", zap.Int16("key", sl.key), zap.Int16("version", sl.version), zap.Any("panic", r), zap.Stack("stack"))
			sl.resp, sl.err = nil, errors.New("protocol: handler panic")
		}
	}()
	sl.resp, sl.err = c.s.cfg.Handler.Handle(c.ctx, req)
	if sl.frame != nil {
		putFrame(sl.frame)
		sl.frame = nil
	}
}

// write writes responses strictly in request order and closes the
// connection when the reader is done and every owed response is written,
// or at the first error.
func (c *conn) write() {
	defer func() {
		c.nc.Close()
		c.cancel()
		close(c.dead)
		// Let any handler still running finish before the connection is
		// forgotten, so resources such as fetch results are released.
		for sl := range c.queue {
			<-sl.done
			releaseResp(sl.resp)
		}
		c.s.mu.Lock()
		delete(c.s.conns, c)
		c.s.mu.Unlock()
		c.s.wg.Done()
	}()
	// A response that panics while encoding (a bug) closes this
	// connection, not the process; the cleanup above still runs.
	defer c.recoverPanic("writing")
	bw := bufio.NewWriterSize(c.nc, writeBufSize)
	w := &BodySink{conn: c.nc, bw: bw}
	for sl := range c.queue {
		select {
		case <-sl.done:
		default:
			// The next answer is not ready (a long poll, say): send what
			// is buffered now rather than holding it behind the wait.
			if err := bw.Flush(); err != nil {
				return
			}
			<-sl.done
		}
		c.answered(sl)
		if sl.err != nil {
			c.log().Info("closing connection: request failed", zap.Stringer("remote", c.info.Remote),
				zap.Int16("key", sl.key), zap.Error(sl.err))
			bw.Flush()
			return
		}
		if sl.raw {
			c.nc.SetWriteDeadline(time.Now().Add(c.s.cfg.IdleTimeout))
			n, err := w.writeRaw(sl.rawReply)
			if err == nil {
				c.s.cfg.BytesOut(n)
				err = bw.Flush()
			}
			if err != nil {
				return
			}
			continue
		}
		if sl.resp == nil {
			continue // acks=0: nothing to write, order kept
		}
		// A client that stops reading cannot hold the connection (and
		// the segments its fetch refers to) forever.
		c.nc.SetWriteDeadline(time.Now().Add(c.s.cfg.IdleTimeout))
		n, err := w.writeReleased(sl)
		if err == nil && c.info.closesAfter(sl.corr) {
			c.s.cfg.BytesOut(n)
			bw.Flush()
			// Close a moment later, not with the answer: a client that
			// reads the answer and the end of the stream in one go may
			// drop the answer (kafka-python does), so it would never
			// learn why (a failed SASL authentication's message).
			time.Sleep(closeLinger)
			return // the handler asked for it (ConnInfo.CloseAfter)
		}
		if err == nil {
			// Counted before the flush, so a client that has its answer
			// always finds it in the metrics.
			c.s.cfg.BytesOut(n)
			if len(c.queue) == 0 {
				// Flush only when no further response is ready to batch.
				err = bw.Flush()
			}
		}
		var ep *errEncodePanic
		if errors.As(err, &ep) {
			// The answers before it are sent; this one cannot be.
			c.log().Error("closing connection: a response could not be encoded", zap.Stringer("remote", c.info.Remote),
				zap.Int16("key", sl.key), zap.Any("panic", ep.v), zap.ByteString("stack", ep.stack))
			bw.Flush()
			return
		}
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				c.log().Debug("write failed", zap.Stringer("remote", c.info.Remote), zap.Error(err))
			}
			return
		}
	}
	bw.Flush()
}

// errEncodePanic reports a response whose encoding panicked (a bug).
type errEncodePanic struct {
	v     any
	stack []byte
}

func (e *errEncodePanic) Error() string {
	return fmt.Sprintf("protocol: encoding a response panicked: %v", e.v)
}

// writeReleased writes sl's response and releases it (the segments a fetch
// answer refers to), also when encoding panics: the panic comes back as an
// *errEncodePanic, and nothing of the response reached the buffer unless it
// writes its body itself (BodyWriter).
func (w *BodySink) writeReleased(sl *slot) (n int, err error) {
	defer releaseResp(sl.resp)
	defer func() {
		if r := recover(); r != nil {
			err = &errEncodePanic{v: r, stack: debug.Stack()}
		}
	}()
	return w.writeResponse(sl)
}

// recoverPanic, deferred by the connection's reader and writer, turns a
// panic into the end of this connection: it is logged with its stack and
// the goroutine returns through its usual cleanup.
func (c *conn) recoverPanic(where string) {
	if r := recover(); r != nil {
		c.log().Error("panic "+where+" a connection; closing it", zap.Stringer("remote", c.info.Remote),
			zap.Any("panic", r), zap.Stack("stack"))
		c.nc.Close()
	}
}

func releaseResp(r kmsg.Response) {
	if rel, ok := r.(interface{ Release() }); ok {
		rel.Release()
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// write writes one response with its header (v0, or v1 with an empty
// tagged-field section for flexible responses; ApiVersions always uses v0
// so that any client can read it) and returns the bytes written.
func (w *BodySink) writeResponse(sl *slot) (int, error) {
	resp := sl.resp
	resp.SetVersion(sl.version)
	flexHeader := resp.IsFlexible() && sl.key != int16(kmsg.ApiVersions)
	w.buf = append(w.buf[:0], 0, 0, 0, 0)
	w.buf = binary.BigEndian.AppendUint32(w.buf, uint32(sl.corr))
	if flexHeader {
		w.buf = append(w.buf, 0)
	}
	if body, ok := resp.(BodyWriter); ok {
		size := len(w.buf) - 4 + body.BodyLen()
		binary.BigEndian.PutUint32(w.buf, uint32(size))
		if _, err := w.bw.Write(w.buf); err != nil {
			return 0, err
		}
		if err := body.WriteBody(w); err != nil {
			return 0, err
		}
		return size + 4, nil
	}
	w.buf = resp.AppendTo(w.buf)
	binary.BigEndian.PutUint32(w.buf, uint32(len(w.buf)-4))
	_, err := w.bw.Write(w.buf)
	return len(w.buf), err
}
