package protocol

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"sync"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Errors from frame and header parsing. Each one closes the connection, as
// a Kafka broker does for a request it cannot parse.
var (
	ErrFrameTooLarge = errors.New("protocol: request frame larger than socket.request.max.bytes")
	ErrFrameTooSmall = errors.New("protocol: request frame shorter than a request header")
	ErrBadHeader     = errors.New("protocol: malformed request header")
)

// minFrame is the smallest request: api key, version, correlation id and
// the client id's length.
const minFrame = 2 + 2 + 4 + 2

// ReadFrame reads one size-prefixed frame from r. A size above max (or
// negative) returns ErrFrameTooLarge without reading the body, so a peer
// cannot make the broker allocate more than max bytes.
func ReadFrame(r io.Reader, max int32) ([]byte, error) {
	return readFrame(r, max, nil)
}

// readFrame is ReadFrame with the frame's buffer taken from alloc when it is
// not nil.
func readFrame(r io.Reader, max int32, alloc func(n int) []byte) ([]byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		return nil, err
	}
	n := int32(binary.BigEndian.Uint32(size[:]))
	if n < 0 || n > max {
		return nil, fmt.Errorf("%w: %d bytes", ErrFrameTooLarge, uint32(n))
	}
	if n < minFrame {
		return nil, ErrFrameTooSmall
	}
	var frame []byte
	if alloc != nil {
		frame = alloc(int(n))
	} else {
		frame = make([]byte, n)
	}
	if _, err := io.ReadFull(r, frame); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return frame, nil
}

// PeekHeader returns the api key, version and correlation id at the start
// of a frame, before anything else is known about the request.
func PeekHeader(frame []byte) (key, version int16, corr int32, err error) {
	if len(frame) < 8 {
		return 0, 0, 0, ErrFrameTooSmall
	}
	key = int16(binary.BigEndian.Uint16(frame[0:]))
	version = int16(binary.BigEndian.Uint16(frame[2:]))
	corr = int32(binary.BigEndian.Uint32(frame[4:]))
	return key, version, corr, nil
}

// ParseRequest parses the header of frame (v1 for non-flexible requests, v2
// with tagged fields for flexible ones; v0 has no client id and is used by
// no API gregor serves) and decodes the body with kmsg. The caller has
// checked that key and version are supported.
func ParseRequest(frame []byte) (Header, kmsg.Request, error) {
	key, version, corr, err := PeekHeader(frame)
	if err != nil {
		return Header{}, nil, err
	}
	req := kmsg.RequestForKey(key)
	if req == nil {
		return Header{}, nil, fmt.Errorf("%w: unknown api key %d", ErrBadHeader, key)
	}
	req.SetVersion(version)
	r := kbin.Reader{Src: frame[8:]}
	h := Header{Key: key, Version: version, CorrelationID: corr, ClientID: r.NullableString()}
	if req.IsFlexible() {
		kmsg.SkipTags(&r)
	}
	if err := r.Complete(); err != nil {
		return Header{}, nil, fmt.Errorf("%w: %v", ErrBadHeader, err)
	}
	if err := req.ReadFrom(r.Src); err != nil {
		return Header{}, nil, fmt.Errorf("protocol: decoding %s v%d: %w", kmsg.NameForKey(key), version, err)
	}
	return h, req, nil
}

// Frame buffers of requests whose handler keeps nothing of the request once
// it returns (ServerConfig.Recycle: Produce, whose batches the store copies)
// are recycled by size class. A fresh frame-sized buffer per produce request
// was most of the broker's allocation and its zeroing a sixth of its CPU
// (BENCHMARKS.md, produce profile). Frames under 4 KiB are not worth it;
// frames over 16 MiB are rare and would pin too much memory.
const (
	minPooledFrame = 4 << 10
	maxPooledFrame = 16 << 20
)

var framePools [bits.UintSize]sync.Pool

// A sync.Pool is emptied by every second garbage collection, and a busy
// produce path collects often (each request leaves its decoded request and
// its response behind). A frame taken fresh after that is new memory,
// faulted in and zeroed by the kernel (clear_page was a fifth of the
// broker's CPU in the 10,000-partition round-robin profile, BENCHMARKS.md
// "Produce profiles"). So the last buffers put back are also kept in a
// reserve the collector leaves alone, up to frameReserveBytes in all.
const frameReserveBytes = 32 << 20

var frameReserve struct {
	mu    sync.Mutex
	bytes int
	bufs  [bits.UintSize][]*[]byte
}

// frameClass is the pool of buffers with capacity 1<<class >= n.
func frameClass(n int) int { return bits.Len(uint(n - 1)) }

// getFrame returns a buffer of length n, recycled when n is in the pooled
// range, and whether it must go back with putFrame.
func getFrame(n int) ([]byte, bool) {
	if n < minPooledFrame || n > maxPooledFrame {
		return make([]byte, n), false
	}
	c := frameClass(n)
	r := &frameReserve
	r.mu.Lock()
	if k := len(r.bufs[c]); k > 0 {
		bp := r.bufs[c][k-1]
		r.bufs[c][k-1] = nil
		r.bufs[c] = r.bufs[c][:k-1]
		r.bytes -= cap(*bp)
		r.mu.Unlock()
		return (*bp)[:n], true
	}
	r.mu.Unlock()
	if bp, ok := framePools[c].Get().(*[]byte); ok {
		return (*bp)[:n], true
	}
	return make([]byte, n, 1<<c), true
}

// putFrame recycles a buffer from getFrame; nothing may use it afterwards.
func putFrame(b []byte) {
	c := frameClass(cap(b))
	if cap(b) != 1<<c {
		return
	}
	b = b[:cap(b)]
	r := &frameReserve
	r.mu.Lock()
	if r.bytes+cap(b) <= frameReserveBytes {
		r.bufs[c] = append(r.bufs[c], &b)
		r.bytes += cap(b)
		r.mu.Unlock()
		return
	}
	r.mu.Unlock()
	framePools[c].Put(&b)
}
