package protocol

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync/atomic"
	"syscall"
)

// BodyWriter is implemented by a response that writes its own body instead
// of being encoded by kmsg: the Fetch response, whose record bytes go from
// the commit-log files to the socket without passing through user space.
// The body must be exactly BodyLen bytes.
type BodyWriter interface {
	BodyLen() int
	WriteBody(w *BodySink) error
}

// File is the read side of a file a response body sends ranges of. It has
// the shape of storage.ReadFile so segment files can be passed as they are.
type File interface {
	ReadAt(p []byte, off int64) (int, error)
	OS() *os.File // nil when the file is not an OS file (tests)
}

// BodySink is where a BodyWriter writes: bytes it encoded, and ranges of
// files. On a TCP connection file ranges go out with sendfile; on any other
// writer they are copied.
type BodySink struct {
	conn io.Writer // the connection, for sendfile when it is a syscall.Conn
	bw   *bufio.Writer
	buf  []byte
}

// NewBodySink returns a sink writing to w; call Flush when done.
func NewBodySink(w io.Writer) *BodySink {
	return &BodySink{conn: w, bw: bufio.NewWriterSize(w, 64<<10)}
}

// Flush writes any buffered bytes.
func (w *BodySink) Flush() error { return w.bw.Flush() }

// smallCopy is the size under which a file range is copied through the
// write buffer: a sendfile call per tiny batch costs more than the copy.
const smallCopy = 16 << 10

// Write appends encoded bytes to the response.
func (w *BodySink) Write(p []byte) (int, error) { return w.bw.Write(p) }

// WriteFile sends n bytes of f starting at pos. It uses sendfile(2) with an
// explicit offset, so no seek position is shared between readers of the
// same segment; small ranges, in-memory files and non-TCP connections are
// copied instead.
func (w *BodySink) WriteFile(f File, pos int64, n int) error {
	if n <= 0 {
		return nil
	}
	osf := f.OS()
	sc, isSys := w.conn.(syscall.Conn)
	if osf == nil || !isSys || n < smallCopy {
		return w.copyFile(f, pos, n)
	}
	if err := w.bw.Flush(); err != nil {
		return err
	}
	err := sendfile(sc, osf, pos, n)
	if errors.Is(err, errNoSendfile) {
		return w.copyFile(f, pos, n)
	}
	return err
}

// copyFile reads the range into the write buffer piece by piece.
func (w *BodySink) copyFile(f File, pos int64, n int) error {
	for n > 0 {
		if w.bw.Available() == 0 {
			if err := w.bw.Flush(); err != nil {
				return err
			}
		}
		buf := w.bw.AvailableBuffer()
		buf = buf[:min(n, cap(buf))]
		m, err := f.ReadAt(buf, pos)
		if m < len(buf) {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("protocol: reading %d bytes at %d: %w", len(buf), pos, err)
		}
		if _, err := w.bw.Write(buf); err != nil {
			return err
		}
		pos += int64(m)
		n -= m
	}
	return nil
}

var errNoSendfile = errors.New("protocol: sendfile not available")

// sendfileBytes counts the file bytes sent with sendfile since the process
// started (the rest of a body is copied).
var sendfileBytes atomic.Int64

// SendfileBytes is how many file bytes response bodies have sent with
// sendfile(2) so far, process-wide: a connection wrapper that hides the
// socket (it must implement syscall.Conn) makes every fetch copy instead.
func SendfileBytes() int64 { return sendfileBytes.Load() }

// sendfile writes n bytes of f at pos to the socket. It waits for the
// socket to become writable through the runtime poller (RawConn.Write
// retries on EAGAIN), so a slow client parks only this goroutine.
func sendfile(sc syscall.Conn, f *os.File, pos int64, n int) error {
	rc, err := sc.SyscallConn()
	if err != nil {
		return errNoSendfile
	}
	fc, err := f.SyscallConn()
	if err != nil {
		return errNoSendfile
	}
	var werr error
	sent := 0
	cerr := fc.Control(func(infd uintptr) {
		off := pos
		err := rc.Write(func(outfd uintptr) bool {
			for sent < n {
				m, err := syscall.Sendfile(int(outfd), int(infd), &off, n-sent)
				if m > 0 {
					sent += m
					sendfileBytes.Add(int64(m))
				}
				switch {
				case err == syscall.EAGAIN:
					return false // wait until writable
				case err == syscall.EINTR:
					continue
				case err != nil:
					werr = err
					return true
				case m == 0:
					werr = io.ErrUnexpectedEOF // file shorter than promised
					return true
				}
			}
			return true
		})
		if werr == nil {
			werr = err
		}
	})
	if cerr != nil {
		return cerr
	}
	if werr != nil && sent == 0 && (errors.Is(werr, syscall.EINVAL) || errors.Is(werr, syscall.ENOSYS)) {
		return errNoSendfile
	}
	if werr != nil {
		return &net.OpError{Op: "sendfile", Net: "tcp", Err: werr}
	}
	return nil
}
