package replication

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/gregor-broker/gregor/storage"
)

func rawFrame(typ byte, body []byte) []byte {
	b := make([]byte, frameHeaderSize, frameHeaderSize+len(body))
	binary.BigEndian.PutUint32(b, uint32(1+len(body)))
	b[8] = typ
	b = append(b, body...)
	binary.BigEndian.PutUint32(b[4:], crc32.Checksum(b[8:], crcTable))
	return b
}

func goodHello(member int64) []byte {
	h := hello{Version: protocolVersion, Group: "g", Member: member, Heartbeat: testHB}
	return rawFrame(frameHello, h.encode())
}

// TestMasterBadFrames: every malformed frame closes the connection with a
// logged reason; the master keeps serving good slaves.
func TestMasterBadFrames(t *testing.T) {
	ml := newMemLog(testSeg)
	ml.BeginTerm(0, 0)
	fill(ml, 20, 'a')
	core, logs := observer.New(zapcore.InfoLevel)
	m := startMaster(t, ml, 0, func(c *MasterConfig) { c.Logger = zap.New(core) })

	badCRC := goodHello(1)
	badCRC[len(badCRC)-1] ^= 1
	huge := make([]byte, frameHeaderSize)
	binary.BigEndian.PutUint32(huge, 0xffffffff)
	huge[8] = frameHello
	badMagic := goodHello(1)
	badMagic[frameHeaderSize] ^= 0xff
	binary.BigEndian.PutUint32(badMagic[4:], crc32.Checksum(badMagic[8:], crcTable))
	h := hello{Version: protocolVersion, Group: "g", Member: 1, Heartbeat: testHB}
	cut := h.encode()
	// ack with a short body after a good handshake
	for _, c := range []struct {
		name  string
		frame []byte
		after []byte // sent once the master welcomed
		want  string
	}{
		{"garbage", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), nil, "bad frame"},
		{"bad crc", badCRC, nil, "crc"},
		{"huge length", huge, nil, "limit"},
		{"unknown type", rawFrame(42, nil), nil, "unknown frame type"},
		{"not a hello first", rawFrame(frameAck, make([]byte, 24)), nil, "expected hello"},
		{"bad magic", badMagic, nil, "magic"},
		{"cut hello", rawFrame(frameHello, cut[:len(cut)-3]), nil, "cut short"},
		{"trailing bytes", rawFrame(frameHello, append(h.encode(), 0)), nil, "hello with"},
		{"short ack", goodHello(1), rawFrame(frameAck, make([]byte, 23)), "cut short"},
		{"ack not at the agreed start", goodHello(1), rawFrame(frameAck, (&ack{Written: 5}).encode()), "expected 0"},
		{"data from a slave", goodHello(1), rawFrame(frameData, make([]byte, 32)), "expected ack"},
	} {
		t.Run(c.name, func(t *testing.T) {
			n0 := logs.Len()
			conn, err := net.Dial("tcp", m.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.Write(c.frame)
			if c.after != nil {
				fc := newFrameConn(conn)
				typ, _, err := fc.read(5 * time.Second)
				if err != nil || typ != frameWelcome {
					t.Fatalf("welcome: %d %v", typ, err)
				}
				conn.Write(c.after)
			}
			conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			// EOF or a reset: closed. A timeout: not closed.
			if _, err := io.Copy(io.Discard, conn); err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					t.Fatalf("the master did not close the connection: %v", err)
				}
			}
			waitFor(t, "logged reason", func() bool {
				for _, e := range logs.All()[n0:] {
					if e.Message == "replication connection closed" && strings.Contains(e.ContextMap()["error"].(string), c.want) {
						return true
					}
				}
				return false
			})
		})
	}
	// Still serving.
	sl := newMemLog(testSeg)
	startSlave(t, sl, 1, m.addr, nil)
	waitFor(t, "good slave catches up", caughtUp(ml, sl))
}

// TestSlaveBadFrames: a master sending malformed frames or data at the
// wrong position is dropped with the reason as the slave's last error, and
// the slave's log is not touched.
func TestSlaveBadFrames(t *testing.T) {
	wel := welcome{Master: 0, Epoch: 0, Mode: modeFollow, Heartbeat: testHB}
	goodWelcome := rawFrame(frameWelcome, wel.encode())
	entry := memEntry(memData, []byte("payload"))
	d := dataFrame{Pos: 0, Next: int64(len(entry)), Limit: 0, End: int64(len(entry))}
	goodData := rawFrame(frameData, append(d.encodeHeader(), entry...))
	wrongPos := dataFrame{Pos: 100, Next: 100 + int64(len(entry)), End: 100 + int64(len(entry))}
	corrupt := append([]byte(nil), entry...)
	corrupt[len(corrupt)-1] ^= 1
	for _, c := range []struct {
		name   string
		frames [][]byte
		want   string
	}{
		{"garbage", [][]byte{[]byte("\x00\x00\x00\x05garbage")}, "bad frame"},
		{"bad welcome crc", [][]byte{append(goodWelcome[:len(goodWelcome)-1:len(goodWelcome)-1], goodWelcome[len(goodWelcome)-1]^1)}, "crc"},
		{"data at the wrong position", [][]byte{goodWelcome, rawFrame(frameData, append(wrongPos.encodeHeader(), entry...))}, "this log ends at 0"},
		{"next before pos", [][]byte{goodWelcome, rawFrame(frameData, (&dataFrame{Pos: 0, Next: 0, End: 5}).encodeHeader()[:24])}, "cut short"},
		{"corrupt entry", [][]byte{goodWelcome, rawFrame(frameData, append(d.encodeHeader(), corrupt...))}, "bad entry"},
		{"follow beyond the end", [][]byte{rawFrame(frameWelcome, (&welcome{Mode: modeFollow, Pos: 10, End: 10, Heartbeat: testHB}).encode())}, "beyond this log's end"},
		{"good then bad", [][]byte{goodWelcome, goodData, rawFrame(frameAck, make([]byte, 24))}, "expected data"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			go func() {
				for {
					conn, err := ln.Accept()
					if err != nil {
						return
					}
					go func() {
						defer conn.Close()
						fc := newFrameConn(conn)
						if typ, _, err := fc.read(5 * time.Second); err != nil || typ != frameHello {
							return
						}
						for _, f := range c.frames {
							conn.Write(f)
							time.Sleep(5 * time.Millisecond)
						}
						io.Copy(io.Discard, conn)
					}()
				}
			}()
			sl := newMemLog(testSeg)
			s := startSlave(t, sl, 1, ln.Addr().String(), nil)
			waitFor(t, "the reason", func() bool {
				err := s.Status().LastError
				return err != nil && strings.Contains(err.Error(), c.want)
			})
			s.stop()
			if c.name != "good then bad" && sl.EndPosition() != 0 {
				t.Fatalf("the slave's log moved to %d", sl.EndPosition())
			}
		})
	}
}

func TestFrameRoundTrip(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	wa, rb := newFrameConn(a), newFrameConn(b)
	h := hello{Version: protocolVersion, Group: "group-1", Member: 3, End: 1 << 40, First: 4096, Heartbeat: time.Second,
		Terms: []storage.Term{{Epoch: 0, Start: 0, Master: 0}, {Epoch: 4, Start: 1 << 30, Master: 2}}}
	big := bytes.Repeat([]byte{7}, 3<<20) // several growth steps
	go func() {
		wa.write(frameHello, h.encode(), nil, time.Second)
		wa.write(frameData, (&dataFrame{Pos: 10, Next: 10 + int64(len(big)), Limit: 10, End: 1 << 40}).encodeHeader(), big, 0)
	}()
	typ, body, err := rb.read(5 * time.Second)
	if err != nil || typ != frameHello {
		t.Fatal(typ, err)
	}
	h2, err := decodeHello(body)
	if err != nil || h2.Group != h.Group || h2.End != h.End || len(h2.Terms) != 2 || h2.Terms[1] != h.Terms[1] || h2.Heartbeat != h.Heartbeat {
		t.Fatalf("%+v %v", h2, err)
	}
	typ, body, err = rb.read(5 * time.Second)
	if err != nil || typ != frameData {
		t.Fatal(typ, err)
	}
	f, err := decodeData(body)
	if err != nil || !bytes.Equal(f.Raw, big) || f.Pos != 10 {
		t.Fatalf("data: %v", err)
	}
}

// TestRawNext: a read ending with a segment's closing pad continues at
// the next segment.
func TestRawNext(t *testing.T) {
	l := newMemLog(testSeg)
	for l.EndPosition() < 3*testSeg {
		l.Append(700, 'x')
	}
	pos := int64(0)
	for pos < l.EndPosition() {
		raw, err := l.ReadRaw(pos, 1500)
		if err != nil {
			t.Fatal(err)
		}
		next, err := rawNext(pos, raw)
		if err != nil {
			t.Fatal(err)
		}
		if next <= pos {
			t.Fatalf("no progress at %d", pos)
		}
		pos = next
	}
	if pos != l.EndPosition() {
		t.Fatalf("ended at %d, log at %d", pos, l.EndPosition())
	}
	if _, err := rawNext(0, []byte{0, 0, 0, 9, 1}); err == nil {
		t.Fatal("cut entry accepted")
	}
	if _, err := rawNext(0, []byte{0, 0, 0, 1}); err == nil {
		t.Fatal("tiny entry accepted")
	}
}

// bufConn is a net.Conn reading from fixed bytes (fuzzing the reader).
type bufConn struct {
	net.Conn
	r io.Reader
}

func (c bufConn) Read(p []byte) (int, error)       { return c.r.Read(p) }
func (c bufConn) SetReadDeadline(time.Time) error  { return nil }
func (c bufConn) SetWriteDeadline(time.Time) error { return nil }

func FuzzFrames(f *testing.F) {
	f.Add(goodHello(1))
	f.Add(rawFrame(frameWelcome, (&welcome{Mode: modeBootstrap, Pos: 5, End: 9, Heartbeat: time.Second, StateLen: 3}).encode()))
	f.Add(rawFrame(frameData, append((&dataFrame{Pos: 0, Next: 16, End: 16}).encodeHeader(), memEntry(memData, []byte("1234567"))...)))
	f.Add(rawFrame(frameAck, (&ack{Written: 9, Durable: 3}).encode()))
	f.Add(rawFrame(frameBootstrap, append((&bootChunk{Pos: 1}).encodeHeader(), 1, 2, 3)))
	f.Add(rawFrame(frameReject, encodeReject("no")))
	f.Fuzz(func(t *testing.T, b []byte) {
		fc := newFrameConn(bufConn{r: bytes.NewReader(b)})
		for {
			typ, body, err := fc.read(0)
			if err != nil {
				if !errors.Is(err, errBadFrame) && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			switch typ {
			case frameHello:
				decodeHello(body)
			case frameWelcome:
				decodeWelcome(body)
			case frameData:
				if d, err := decodeData(body); err == nil {
					rawNext(d.Pos, d.Raw)
				}
			case frameAck:
				decodeAck(body)
			case frameBootstrap:
				decodeBootChunk(body)
			case frameReject:
				decodeReject(body)
			}
		}
	})
}
