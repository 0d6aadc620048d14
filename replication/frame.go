package replication

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"time"

	"github.com/gregor-broker/gregor/storage"
)

// Frame types (FROZEN: see doc.go).
const (
	frameHello     byte = 1 // slave → master
	frameWelcome   byte = 2 // master → slave
	frameReject    byte = 3 // master → slave, then close
	frameNeedBoot  byte = 4 // slave → master
	frameBootstrap byte = 5 // master → slave
	frameData      byte = 6 // master → slave
	frameAck       byte = 7 // slave → master
)

const (
	helloMagic      uint32 = 0x4752504c // "GRPL"
	protocolVersion uint16 = 1

	frameHeaderSize = 9 // length, crc, type
	// maxControlBytes bounds every frame but data and bootstrap chunks
	// (a hello carries the slave's terms, 20 bytes each).
	maxControlBytes = 1 << 20
	// maxDataBytes bounds a data or bootstrap frame: one commit-log entry
	// can be as large as a segment (1 GiB by default).
	maxDataBytes = 1<<30 + 1<<20

	modeFollow    byte = 1
	modeBootstrap byte = 2
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// errBadFrame marks a frame that breaks the protocol; the connection is
// closed with it as the logged reason.
var errBadFrame = errors.New("replication: bad frame")

func badFrame(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errBadFrame, fmt.Sprintf(format, args...))
}

// frameConn reads and writes frames on a connection. Reads and writes may
// run in two goroutines; each side is used by one goroutine at a time.
type frameConn struct {
	c    net.Conn
	rbuf []byte // reused body buffer; valid until the next read
	hdr  [frameHeaderSize]byte
	whdr [frameHeaderSize]byte
	wbuf []byte
}

func newFrameConn(c net.Conn) *frameConn { return &frameConn{c: c} }

// write sends one frame: body is the message, tail (may be nil) follows
// it without being copied (raw commit-log bytes).
func (fc *frameConn) write(typ byte, body, tail []byte, timeout time.Duration) error {
	n := 1 + len(body) + len(tail)
	if n > maxDataBytes {
		return fmt.Errorf("replication: frame of %d bytes is over the limit", n)
	}
	crc := crc32.Update(0, crcTable, []byte{typ})
	crc = crc32.Update(crc, crcTable, body)
	crc = crc32.Update(crc, crcTable, tail)
	binary.BigEndian.PutUint32(fc.whdr[0:], uint32(n))
	binary.BigEndian.PutUint32(fc.whdr[4:], crc)
	fc.whdr[8] = typ
	if timeout > 0 {
		fc.c.SetWriteDeadline(time.Now().Add(timeout))
	} else {
		fc.c.SetWriteDeadline(time.Time{})
	}
	bufs := net.Buffers{fc.whdr[:], body}
	if len(tail) > 0 {
		bufs = append(bufs, tail)
	}
	_, err := bufs.WriteTo(fc.c)
	return err
}

// read returns the next frame's type and body. The body is valid until the
// next read. A length over the type's limit, a CRC mismatch or an unknown
// type is errBadFrame; memory grows only as bytes actually arrive.
func (fc *frameConn) read(timeout time.Duration) (byte, []byte, error) {
	if timeout > 0 {
		fc.c.SetReadDeadline(time.Now().Add(timeout))
	}
	if _, err := io.ReadFull(fc.c, fc.hdr[:]); err != nil {
		return 0, nil, err
	}
	n := int64(binary.BigEndian.Uint32(fc.hdr[0:]))
	crc := binary.BigEndian.Uint32(fc.hdr[4:])
	typ := fc.hdr[8]
	if typ < frameHello || typ > frameAck {
		return 0, nil, badFrame("unknown frame type %d", typ)
	}
	limit := int64(maxControlBytes)
	if typ == frameData || typ == frameBootstrap {
		limit = maxDataBytes
	}
	if n < 1 || n > limit {
		return 0, nil, badFrame("frame type %d of %d bytes (limit %d)", typ, n, limit)
	}
	body, err := fc.readBody(int(n-1), timeout)
	if err != nil {
		return 0, nil, err
	}
	c := crc32.Update(crc32.Update(0, crcTable, []byte{typ}), crcTable, body)
	if c != crc {
		return 0, nil, badFrame("frame type %d: crc %08x, expected %08x", typ, c, crc)
	}
	return typ, body, nil
}

// readBody reads n bytes into the reused buffer, growing it at most 1 MiB
// ahead of what has arrived, so a lying length costs no memory. A large
// body extends the read deadline as it arrives.
func (fc *frameConn) readBody(n int, timeout time.Duration) ([]byte, error) {
	const step = 1 << 20
	if cap(fc.rbuf) >= n {
		fc.rbuf = fc.rbuf[:n]
		if n <= step {
			_, err := io.ReadFull(fc.c, fc.rbuf)
			return fc.rbuf, err
		}
	} else {
		fc.rbuf = fc.rbuf[:0]
	}
	b := fc.rbuf[:0]
	for len(b) < n {
		k := min(step, n-len(b))
		if cap(b)-len(b) < k {
			nb := make([]byte, len(b), len(b)+max(k, min(n-len(b), len(b))))
			copy(nb, b)
			b = nb
		}
		if timeout > 0 {
			fc.c.SetReadDeadline(time.Now().Add(timeout))
		}
		if _, err := io.ReadFull(fc.c, b[len(b):len(b)+k]); err != nil {
			return nil, err
		}
		b = b[:len(b)+k]
	}
	fc.rbuf = b
	return b, nil
}

// Messages. Integers are big-endian; strings are uint16 length + bytes.

type hello struct {
	Version   uint16
	Group     string
	Member    int64
	End       int64
	First     int64
	Heartbeat time.Duration // the slave's ack interval
	// The last data frame this slave process appended, when its log still
	// ends with it (else zeros): [LastPos, LastNext) and the CRC-32C of
	// its raw bytes, so the master can check it still has those bytes.
	LastPos, LastNext int64
	LastCRC           uint32
	Terms             []storage.Term
}

type welcome struct {
	Master    int64 // the master's member id
	Epoch     int32 // its current epoch; -1 when it has no term
	Mode      byte  // modeFollow or modeBootstrap
	Pos       int64 // follow: truncate to and stream from; bootstrap: install at
	End       int64 // the master's end
	First     int64 // the master's first position
	Heartbeat time.Duration
	StateLen  int64 // bootstrap: bytes of state in the bootstrap frames that follow
}

type dataFrame struct {
	Pos   int64 // where Raw starts; the slave's end
	Next  int64 // position after Raw (a closing pad moves it to the next segment)
	Limit int64 // the master's commit limit (high watermark position)
	End   int64 // the master's end when the frame was read
	Raw   []byte
}

type ack struct {
	Written int64 // the slave's end
	Durable int64 // fsynced up to
	First   int64 // the slave's first position
}

type bootChunk struct {
	Pos    int64
	Offset int64
	Data   []byte
}

type enc struct{ b []byte }

func (e *enc) u8(v byte)    { e.b = append(e.b, v) }
func (e *enc) u16(v uint16) { e.b = binary.BigEndian.AppendUint16(e.b, v) }
func (e *enc) u32(v uint32) { e.b = binary.BigEndian.AppendUint32(e.b, v) }
func (e *enc) i32(v int32)  { e.u32(uint32(v)) }
func (e *enc) i64(v int64)  { e.b = binary.BigEndian.AppendUint64(e.b, uint64(v)) }
func (e *enc) str(s string) { e.u16(uint16(len(s))); e.b = append(e.b, s...) }

type dec struct {
	b   []byte
	err error
}

func (d *dec) take(n int) []byte {
	if d.err != nil || len(d.b) < n {
		if d.err == nil {
			d.err = badFrame("message cut short")
		}
		return make([]byte, n)
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}
func (d *dec) u8() byte    { return d.take(1)[0] }
func (d *dec) u16() uint16 { return binary.BigEndian.Uint16(d.take(2)) }
func (d *dec) u32() uint32 { return binary.BigEndian.Uint32(d.take(4)) }
func (d *dec) i32() int32  { return int32(d.u32()) }
func (d *dec) i64() int64  { return int64(binary.BigEndian.Uint64(d.take(8))) }
func (d *dec) str() string { return string(d.take(int(d.u16()))) }
func (d *dec) pos() int64 { // a position: never negative
	v := d.i64()
	if v < 0 && d.err == nil {
		d.err = badFrame("negative position %d", v)
	}
	return v
}

// done fails unless the message was read exactly.
func (d *dec) done() error {
	if d.err == nil && len(d.b) != 0 {
		d.err = badFrame("%d trailing bytes", len(d.b))
	}
	return d.err
}

func ms(d time.Duration) int64 { return int64(d / time.Millisecond) }

func (h *hello) encode() []byte {
	var e enc
	e.u32(helloMagic)
	e.u16(h.Version)
	e.str(h.Group)
	e.i64(h.Member)
	e.i64(h.End)
	e.i64(h.First)
	e.i64(ms(h.Heartbeat))
	e.i64(h.LastPos)
	e.i64(h.LastNext)
	e.u32(h.LastCRC)
	e.u32(uint32(len(h.Terms)))
	for _, t := range h.Terms {
		e.i32(t.Epoch)
		e.i64(t.Start)
		e.i64(t.Master)
	}
	return e.b
}

func decodeHello(b []byte) (hello, error) {
	d := dec{b: b}
	var h hello
	if m := d.u32(); m != helloMagic && d.err == nil {
		return h, badFrame("hello magic %08x", m)
	}
	h.Version = d.u16()
	if h.Version != protocolVersion && d.err == nil {
		return h, badFrame("protocol version %d, this master speaks %d", h.Version, protocolVersion)
	}
	h.Group = d.str()
	h.Member = d.i64()
	h.End = d.pos()
	h.First = d.pos()
	h.Heartbeat = time.Duration(d.i64()) * time.Millisecond
	h.LastPos, h.LastNext, h.LastCRC = d.pos(), d.pos(), d.u32()
	n := int(d.u32())
	if d.err == nil && n*20 != len(d.b) {
		return h, badFrame("hello with %d terms in %d bytes", n, len(d.b))
	}
	for i := 0; i < n && d.err == nil; i++ {
		t := storage.Term{Epoch: d.i32(), Start: d.pos(), Master: d.i64()}
		if i > 0 && (t.Epoch <= h.Terms[i-1].Epoch || t.Start < h.Terms[i-1].Start) {
			return h, badFrame("hello terms out of order at %d", i)
		}
		h.Terms = append(h.Terms, t)
	}
	if err := d.done(); err != nil {
		return h, err
	}
	if h.First > h.End || h.Heartbeat <= 0 || (h.LastNext != 0 && (h.LastPos >= h.LastNext || h.LastNext != h.End)) {
		return h, badFrame("hello with first %d, end %d, heartbeat %v, last frame [%d,%d)", h.First, h.End, h.Heartbeat, h.LastPos, h.LastNext)
	}
	return h, nil
}

func (w *welcome) encode() []byte {
	var e enc
	e.i64(w.Master)
	e.i32(w.Epoch)
	e.u8(w.Mode)
	e.i64(w.Pos)
	e.i64(w.End)
	e.i64(w.First)
	e.i64(ms(w.Heartbeat))
	e.i64(w.StateLen)
	return e.b
}

func decodeWelcome(b []byte) (welcome, error) {
	d := dec{b: b}
	w := welcome{Master: d.i64(), Epoch: d.i32(), Mode: d.u8(), Pos: d.pos(), End: d.pos(), First: d.pos(),
		Heartbeat: time.Duration(d.i64()) * time.Millisecond, StateLen: d.pos()}
	if err := d.done(); err != nil {
		return w, err
	}
	if (w.Mode != modeFollow && w.Mode != modeBootstrap) || w.Pos > w.End || w.Heartbeat <= 0 ||
		w.StateLen > maxBootstrapBytes || (w.Mode == modeFollow && w.StateLen != 0) {
		return w, badFrame("welcome mode %d pos %d end %d heartbeat %v state %d", w.Mode, w.Pos, w.End, w.Heartbeat, w.StateLen)
	}
	return w, nil
}

// maxBootstrapBytes bounds the state a slave accepts in a bootstrap.
const maxBootstrapBytes = 4 << 30

func (f *dataFrame) encodeHeader() []byte {
	var e enc
	e.b = make([]byte, 0, 32)
	e.i64(f.Pos)
	e.i64(f.Next)
	e.i64(f.Limit)
	e.i64(f.End)
	return e.b
}

func decodeData(b []byte) (dataFrame, error) {
	d := dec{b: b}
	f := dataFrame{Pos: d.pos(), Next: d.pos(), Limit: d.pos(), End: d.pos()}
	if d.err != nil {
		return f, d.err
	}
	f.Raw = d.b
	if f.Next < f.Pos || f.End < f.Next || (len(f.Raw) == 0) != (f.Next == f.Pos) || int64(len(f.Raw)) > f.Next-f.Pos {
		return f, badFrame("data frame pos %d next %d end %d with %d bytes", f.Pos, f.Next, f.End, len(f.Raw))
	}
	return f, nil
}

func (a *ack) encode() []byte {
	var e enc
	e.i64(a.Written)
	e.i64(a.Durable)
	e.i64(a.First)
	return e.b
}

func decodeAck(b []byte) (ack, error) {
	d := dec{b: b}
	a := ack{Written: d.pos(), Durable: d.pos(), First: d.pos()}
	return a, d.done()
}

func (c *bootChunk) encodeHeader() []byte {
	var e enc
	e.i64(c.Pos)
	e.i64(c.Offset)
	return e.b
}

func decodeBootChunk(b []byte) (bootChunk, error) {
	d := dec{b: b}
	c := bootChunk{Pos: d.pos(), Offset: d.pos()}
	c.Data = d.b
	return c, d.err
}

func encodeReject(reason string) []byte {
	if len(reason) > 4096 {
		reason = reason[:4096]
	}
	var e enc
	e.str(reason)
	return e.b
}

func decodeReject(b []byte) (string, error) {
	d := dec{b: b}
	s := d.str()
	return s, d.done()
}
