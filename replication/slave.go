package replication

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/gregor-broker/gregor/storage"
)

// SlaveConfig configures a Slave. Validate fills defaults.
type SlaveConfig struct {
	Group  string // broker.name, checked by the master
	Member int64  // broker.member.id
	Log    Log
	Logger *zap.Logger // nil = zap.NewNop()

	// MasterAddr returns the address of the group's master's replication
	// listener ("" = not known yet). It is asked before every connection
	// and every Heartbeat while connected; a new answer reconnects.
	MasterAddr func() string
	// Heartbeat is how often an ack is sent when nothing arrives (acks
	// also follow every append). Default 1s.
	Heartbeat time.Duration
	// DialTimeout bounds connecting and the handshake. Default 10s.
	DialTimeout time.Duration
	// MinBackoff and MaxBackoff bound the wait between connection
	// attempts (doubling after each failure). Defaults 100ms and 5s.
	MinBackoff, MaxBackoff time.Duration
	// RateBytes is follower.replication.throttled.rate in bytes per
	// second; 0 = unlimited. SetRate changes it later.
	RateBytes int64
	// OnReset is called after the log was truncated or replaced by a
	// bootstrap (derived state changed other than by appends), with the
	// position the log now ends at.
	OnReset func(pos int64)
	// Dial connects to the master; nil = net.Dialer.
	Dial func(ctx context.Context, addr string) (net.Conn, error)
}

// Validate fills defaults and rejects impossible values.
func (c *SlaveConfig) Validate() error {
	if c.Log == nil || c.MasterAddr == nil {
		return errors.New("replication: SlaveConfig.Log and MasterAddr are required")
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.Heartbeat == 0 {
		c.Heartbeat = time.Second
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = 10 * time.Second
	}
	if c.MinBackoff == 0 {
		c.MinBackoff = 100 * time.Millisecond
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = 5 * time.Second
	}
	if c.Heartbeat < time.Millisecond || c.DialTimeout < 0 || c.MinBackoff < 0 || c.MaxBackoff < c.MinBackoff {
		return errors.New("replication: Heartbeat (>= 1ms), DialTimeout and backoffs must be positive, MaxBackoff >= MinBackoff")
	}
	if c.RateBytes < 0 {
		return errors.New("replication: RateBytes must be 0 (unlimited) or positive")
	}
	if c.Dial == nil {
		d := &net.Dialer{}
		c.Dial = func(ctx context.Context, addr string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }
	}
	return nil
}

// SlaveStatus is what a slave knows about its replication.
type SlaveStatus struct {
	Connected    bool
	Master       string // address of the master it follows (or tries)
	MasterMember int64
	MasterEpoch  int32
	End          int64 // this log's end
	MasterEnd    int64 // the master's end, as of the last frame
	CommitLimit  int64 // the master's commit limit, as of the last frame
	LagBytes     int64 // MasterEnd - End
	LastContact  time.Time
	LastError    error
	Truncations  int   // times the log was truncated to a master's
	Bootstraps   int   // times the log was replaced by a bootstrap
	Connects     int   // handshakes completed
	BytesApplied int64 // commit-log bytes appended from masters
}

// Slave follows its group's master: it connects, agrees where its log
// and the master's part (truncating or bootstrapping), appends what the
// master streams, mirrors the master's commit limit and acknowledges.
type Slave struct {
	cfg SlaveConfig
	log Log
	lg  *zap.Logger
	thr throttle

	mu   sync.Mutex
	st   SlaveStatus
	last lastFrame // the last data frame appended (this process)
}

// lastFrame is the last data frame a slave appended: [pos, next) and the
// CRC-32C of its raw bytes. Reported in the next hello while the log
// still ends there, it lets the master see that it lost bytes it had sent.
type lastFrame struct {
	pos, next int64
	crc       uint32
}

// NewSlave returns a slave; Run makes it follow.
func NewSlave(cfg SlaveConfig) (*Slave, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Slave{cfg: cfg, log: cfg.Log, lg: cfg.Logger.With(zap.String("component", "replication-slave"))}
	s.thr.set(cfg.RateBytes)
	s.st.MasterMember, s.st.MasterEpoch = -1, -1
	return s, nil
}

// SetRate changes follower.replication.throttled.rate (bytes/s, 0 = none).
func (s *Slave) SetRate(bytesPerSec int64) { s.thr.set(bytesPerSec) }

// Status reports the slave's state.
func (s *Slave) Status() SlaveStatus {
	s.mu.Lock()
	st := s.st
	s.mu.Unlock()
	st.End = s.log.EndPosition()
	if st.MasterEnd > st.End {
		st.LagBytes = st.MasterEnd - st.End
	}
	return st
}

// Run follows the master until ctx ends, reconnecting with backoff; it
// returns ctx's error.
func (s *Slave) Run(ctx context.Context) error {
	backoff := s.cfg.MinBackoff
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		addr := s.cfg.MasterAddr()
		var err error
		streamed := false
		if addr == "" {
			err = errors.New("no master known")
		} else {
			streamed, err = s.session(ctx, addr)
		}
		s.mu.Lock()
		s.st.Connected = false
		s.st.LastError = err
		s.mu.Unlock()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if streamed {
			backoff = s.cfg.MinBackoff
		}
		switch {
		case errors.Is(err, errBadFrame) || errors.Is(err, errRefused) || errors.Is(err, errStaleMaster):
			s.lg.Warn("replication session ended", zap.String("master", addr), zap.Error(err))
		case addr != "":
			s.lg.Info("replication session ended", zap.String("master", addr), zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, s.cfg.MaxBackoff)
	}
}

// session is one connection: handshake, then streaming until it fails.
// streamed says the handshake completed (the backoff starts over).
func (s *Slave) session(ctx context.Context, addr string) (streamed bool, err error) {
	s.mu.Lock()
	s.st.Master = addr
	s.mu.Unlock()
	dctx, cancel := context.WithTimeout(ctx, s.cfg.DialTimeout)
	nc, err := s.cfg.Dial(dctx, addr)
	cancel()
	if err != nil {
		return false, err
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	fc := newFrameConn(nc)
	sctx, stop := context.WithCancel(ctx)
	var closeErr error
	var closeOnce sync.Once
	closeWith := func(err error) {
		closeOnce.Do(func() {
			closeErr = err
			stop()
			nc.Close()
		})
	}
	defer closeWith(nil)
	go func() {
		<-sctx.Done()
		closeWith(ctx.Err())
	}()

	start, peerHB, err := s.handshake(sctx, fc)
	if err != nil {
		return false, err
	}
	s.mu.Lock()
	s.st.Connected = true
	s.st.Connects++
	s.st.LastContact = time.Now()
	s.mu.Unlock()

	// The acker: after every append (coalesced) and every Heartbeat.
	kick := make(chan struct{}, 1)
	acked := make(chan struct{})
	go func() {
		defer close(acked)
		t := time.NewTicker(s.cfg.Heartbeat)
		defer t.Stop()
		for {
			select {
			case <-sctx.Done():
				return
			case <-kick:
			case <-t.C:
				if a := s.cfg.MasterAddr(); a != addr {
					closeWith(fmt.Errorf("the master moved from %s to %q", addr, a))
					return
				}
			}
			a := ack{Written: s.log.EndPosition(), Durable: s.log.DurablePosition(), First: s.log.FirstPosition()}
			a.Durable = min(a.Durable, a.Written)
			a.First = min(a.First, a.Written)
			if err := fc.write(frameAck, a.encode(), nil, 5*peerHB+time.Second); err != nil {
				closeWith(err)
				return
			}
		}
	}()
	err = s.follow(sctx, fc, start, peerHB, kick)
	closeWith(err)
	<-acked
	return true, closeErr
}

// handshake says hello, truncates or bootstraps as the master answers and
// acks the position streaming starts from.
func (s *Slave) handshake(ctx context.Context, fc *frameConn) (int64, time.Duration, error) {
	terms := s.log.Terms()
	h := hello{Version: protocolVersion, Group: s.cfg.Group, Member: s.cfg.Member, End: s.log.EndPosition(),
		First: s.log.FirstPosition(), Heartbeat: s.cfg.Heartbeat, Terms: terms}
	h.First = min(h.First, h.End)
	s.mu.Lock()
	if lf := s.last; lf.next == h.End && lf.pos < lf.next {
		h.LastPos, h.LastNext, h.LastCRC = lf.pos, lf.next, lf.crc
	}
	s.mu.Unlock()
	if err := fc.write(frameHello, h.encode(), nil, s.cfg.DialTimeout); err != nil {
		return 0, 0, err
	}
	w, err := s.readWelcome(fc)
	if err != nil {
		return 0, 0, err
	}
	if mine := lastEpoch(terms); w.Epoch < mine {
		return 0, 0, fmt.Errorf("%w: master %d is at term %d, this log has term %d", errStaleMaster, w.Master, w.Epoch, mine)
	}
	s.mu.Lock()
	s.st.MasterMember, s.st.MasterEpoch, s.st.MasterEnd = w.Master, w.Epoch, w.End
	s.mu.Unlock()
	if w.Mode == modeFollow {
		end := s.log.EndPosition()
		switch {
		case w.Pos > end:
			return 0, 0, badFrame("master says follow from %d, beyond this log's end %d", w.Pos, end)
		case w.Pos < end:
			err := s.log.Truncate(w.Pos)
			if errors.Is(err, storage.ErrNeedBootstrap) {
				s.lg.Info("cannot truncate locally, asking for a bootstrap", zap.Int64("pos", w.Pos), zap.Int64("end", end))
				if err := fc.write(frameNeedBoot, nil, nil, s.cfg.DialTimeout); err != nil {
					return 0, 0, err
				}
				if w, err = s.readWelcome(fc); err != nil {
					return 0, 0, err
				}
				if w.Mode != modeBootstrap {
					return 0, 0, badFrame("asked for a bootstrap, got mode %d", w.Mode)
				}
				break
			}
			if err != nil {
				return 0, 0, fmt.Errorf("truncating to %d: %w", w.Pos, err)
			}
			s.lg.Warn("log truncated to the master's", zap.Int64("from", end), zap.Int64("to", w.Pos),
				zap.Int64("master", w.Master), zap.Int32("epoch", w.Epoch))
			s.mu.Lock()
			s.st.Truncations++
			s.last = lastFrame{}
			s.mu.Unlock()
			if s.cfg.OnReset != nil {
				s.cfg.OnReset(w.Pos)
			}
		}
	}
	if w.Mode == modeBootstrap {
		if err := s.installBootstrap(ctx, fc, &w); err != nil {
			return 0, 0, err
		}
	}
	if end := s.log.EndPosition(); end != w.Pos {
		return 0, 0, fmt.Errorf("this log ends at %d after the handshake, the master expects %d", end, w.Pos)
	}
	a := ack{Written: w.Pos, Durable: min(s.log.DurablePosition(), w.Pos), First: min(s.log.FirstPosition(), w.Pos)}
	if err := fc.write(frameAck, a.encode(), nil, s.cfg.DialTimeout); err != nil {
		return 0, 0, err
	}
	return w.Pos, w.Heartbeat, nil
}

func (s *Slave) readWelcome(fc *frameConn) (welcome, error) {
	typ, body, err := fc.read(s.cfg.DialTimeout)
	if err != nil {
		return welcome{}, err
	}
	switch typ {
	case frameReject:
		why, err := decodeReject(body)
		if err != nil {
			return welcome{}, err
		}
		return welcome{}, fmt.Errorf("%w by the master: %s", errRefused, why)
	case frameWelcome:
		return decodeWelcome(body)
	}
	return welcome{}, badFrame("expected welcome, got frame type %d", typ)
}

func (s *Slave) installBootstrap(ctx context.Context, fc *frameConn, w *welcome) error {
	state := make([]byte, 0, min(w.StateLen, 1<<20))
	for int64(len(state)) < w.StateLen {
		typ, body, err := fc.read(s.cfg.DialTimeout)
		if err != nil {
			return err
		}
		if typ != frameBootstrap {
			return badFrame("expected bootstrap, got frame type %d", typ)
		}
		bc, err := decodeBootChunk(body)
		if err != nil {
			return err
		}
		if bc.Pos != w.Pos || bc.Offset != int64(len(state)) || int64(len(state)+len(bc.Data)) > w.StateLen || len(bc.Data) == 0 {
			return badFrame("bootstrap chunk at %d of %d bytes for %d, expected offset %d of %d for %d",
				bc.Offset, len(bc.Data), bc.Pos, len(state), w.StateLen, w.Pos)
		}
		if err := s.thr.wait(ctx, len(bc.Data)); err != nil {
			return err
		}
		state = append(state, bc.Data...)
	}
	if err := s.log.InstallBootstrap(w.Pos, state); err != nil {
		return fmt.Errorf("installing the master's bootstrap at %d: %w", w.Pos, err)
	}
	s.lg.Warn("log replaced by the master's bootstrap", zap.Int64("pos", w.Pos), zap.Int("state_bytes", len(state)),
		zap.Int64("master", w.Master), zap.Int32("epoch", w.Epoch))
	s.mu.Lock()
	s.st.Bootstraps++
	s.last = lastFrame{}
	s.mu.Unlock()
	if s.cfg.OnReset != nil {
		s.cfg.OnReset(w.Pos)
	}
	return nil
}

// follow appends data frames until the connection fails.
func (s *Slave) follow(ctx context.Context, fc *frameConn, pos int64, peerHB time.Duration, kick chan struct{}) error {
	timeout := 5*peerHB + time.Second
	limit := int64(-1)
	for {
		typ, body, err := fc.read(timeout)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return errors.New("the master closed the connection")
			}
			return err
		}
		if typ != frameData {
			return badFrame("expected data, got frame type %d", typ)
		}
		f, err := decodeData(body)
		if err != nil {
			return err
		}
		if f.Pos != pos {
			return badFrame("data at %d, this log ends at %d", f.Pos, pos)
		}
		if len(f.Raw) > 0 {
			if err := s.thr.wait(ctx, len(f.Raw)); err != nil {
				return err
			}
			if err := s.log.AppendRaw(f.Pos, f.Raw); err != nil {
				return fmt.Errorf("appending %d bytes at %d: %w", len(f.Raw), f.Pos, err)
			}
			if end := s.log.EndPosition(); end != f.Next {
				return fmt.Errorf("appended at %d up to %d, the master's next is %d", f.Pos, end, f.Next)
			}
			pos = f.Next
			s.mu.Lock()
			s.last = lastFrame{pos: f.Pos, next: f.Next, crc: crc32.Checksum(f.Raw, crcTable)}
			s.mu.Unlock()
		}
		if f.Limit != limit {
			s.log.SetCommitLimit(f.Limit)
			limit = f.Limit
		}
		s.mu.Lock()
		s.st.MasterEnd, s.st.CommitLimit, s.st.LastContact = f.End, f.Limit, time.Now()
		s.st.BytesApplied += int64(len(f.Raw))
		s.mu.Unlock()
		if len(f.Raw) > 0 {
			// Acks follow appends; an empty frame (the master's heartbeat
			// or a new limit) is answered by the periodic ack.
			select {
			case kick <- struct{}{}:
			default:
			}
		}
	}
}
