package protocol

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// encodeRequest frames req as a client would: size, header v1/v2, body.
func encodeRequest(req kmsg.Request, corr int32, clientID string) []byte {
	b := []byte{0, 0, 0, 0}
	b = binary.BigEndian.AppendUint16(b, uint16(req.Key()))
	b = binary.BigEndian.AppendUint16(b, uint16(req.GetVersion()))
	b = binary.BigEndian.AppendUint32(b, uint32(corr))
	b = binary.BigEndian.AppendUint16(b, uint16(len(clientID)))
	b = append(b, clientID...)
	if req.IsFlexible() {
		b = append(b, 0)
	}
	b = req.AppendTo(b)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

// readResponse reads one response frame and returns its correlation id and
// the body after the header (v0 header, or v1 when flexible).
func readResponse(t *testing.T, r io.Reader, flexible bool) (int32, []byte) {
	t.Helper()
	frame, err := ReadFrame(r, 1<<30)
	if err != nil {
		t.Fatalf("reading response: %v", err)
	}
	corr := int32(binary.BigEndian.Uint32(frame))
	body := frame[4:]
	if flexible {
		if body[0] != 0 {
			t.Fatalf("response header tags = %d, want 0", body[0])
		}
		body = body[1:]
	}
	return corr, body
}

// testHandler answers Metadata with the request's client id as cluster id;
// a Metadata request whose client id is "slow" waits for release.
type testHandler struct {
	release chan struct{}
	mu      sync.Mutex
	seen    []string
}

func (h *testHandler) Handle(ctx context.Context, req *Request) (kmsg.Response, error) {
	cid := ""
	if req.Header.ClientID != nil {
		cid = *req.Header.ClientID
	}
	h.mu.Lock()
	h.seen = append(h.seen, cid)
	h.mu.Unlock()
	switch body := req.Body.(type) {
	case *kmsg.MetadataRequest:
		if cid == "slow" {
			select {
			case <-h.release:
			case <-ctx.Done():
			}
		}
		resp := body.ResponseKind().(*kmsg.MetadataResponse)
		resp.ClusterID = &cid
		return resp, nil
	case *kmsg.ProduceRequest:
		return nil, nil // like acks=0
	case *kmsg.ApiVersionsRequest:
		return body.ResponseKind(), nil
	}
	return nil, errors.New("unexpected request")
}

func testVersions(key int16) (int16, int16, bool) {
	switch kmsg.Key(key) {
	case kmsg.Metadata:
		return 0, 12, true
	case kmsg.Produce:
		return 0, 12, true
	case kmsg.ApiVersions:
		return 0, 4, true
	}
	return 0, 0, false
}

func startServer(t *testing.T, h Handler) (*Server, string) {
	return startServerWith(t, h, nil)
}

func startServerWith(t *testing.T, h Handler, mod func(*ServerConfig)) (*Server, string) {
	t.Helper()
	cfg := ServerConfig{
		Listener: "TEST", MaxFrameBytes: 1 << 20, Handler: h, Versions: testVersions,
		Concurrent: func(key int16) bool { return key == int16(kmsg.Metadata) },
		ApiVersionsUnsupported: func() kmsg.Response {
			r := kmsg.NewPtrApiVersionsResponse()
			r.ErrorCode = kerr.UnsupportedVersion.Code
			return r
		},
	}
	if mod != nil {
		mod(&cfg)
	}
	srv, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return srv, ln.Addr().String()
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	return c
}

func metadataReq(version int16) *kmsg.MetadataRequest {
	r := kmsg.NewPtrMetadataRequest()
	r.Version = version
	return r
}

// A slow request followed by fast ones: the fast ones are handled while the
// slow one waits, but every response comes back in request order.
func TestResponsesInRequestOrder(t *testing.T) {
	h := &testHandler{release: make(chan struct{})}
	_, addr := startServer(t, h)
	c := dial(t, addr)
	var out []byte
	out = append(out, encodeRequest(metadataReq(9), 1, "slow")...)
	out = append(out, encodeRequest(metadataReq(9), 2, "fast-a")...)
	ack0 := kmsg.NewPtrProduceRequest()
	ack0.Version, ack0.Acks = 9, 0
	out = append(out, encodeRequest(ack0, 3, "acks0")...) // no response
	out = append(out, encodeRequest(metadataReq(1), 4, "fast-b")...)
	if _, err := c.Write(out); err != nil {
		t.Fatal(err)
	}
	// Wait until the fast requests were handled, proving concurrency.
	for deadline := time.Now().Add(10 * time.Second); ; {
		h.mu.Lock()
		n := len(h.seen)
		h.mu.Unlock()
		if n == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("handled %d of 4 requests while the first was blocked", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(h.release)
	br := bufio.NewReader(c)
	for _, want := range []struct {
		corr    int32
		version int16
		cid     string
	}{{1, 9, "slow"}, {2, 9, "fast-a"}, {4, 1, "fast-b"}} {
		corr, body := readResponse(t, br, want.version >= 9)
		if corr != want.corr {
			t.Fatalf("correlation id %d, want %d", corr, want.corr)
		}
		resp := kmsg.NewPtrMetadataResponse()
		resp.Version = want.version
		if err := resp.ReadFrom(body); err != nil {
			t.Fatalf("decoding response %d: %v", corr, err)
		}
		if want.version >= 2 && (resp.ClusterID == nil || *resp.ClusterID != want.cid) {
			t.Fatalf("response %d: cluster id %v, want %q", corr, resp.ClusterID, want.cid)
		}
	}
}

// Sequential requests (all but those marked Concurrent) are handled one
// after the other in arrival order, even when each could run at once.
func TestSequentialRequestsHandledInOrder(t *testing.T) {
	h := &testHandler{release: make(chan struct{})}
	_, addr := startServer(t, h)
	c := dial(t, addr)
	var out []byte
	const n = 200
	for i := 0; i < n; i++ {
		p := kmsg.NewPtrProduceRequest()
		p.Version, p.Acks = 9, 0
		out = append(out, encodeRequest(p, int32(i), strconv.Itoa(i))...)
	}
	out = append(out, encodeRequest(metadataReq(9), n, "end")...)
	c.Write(out)
	if corr, _ := readResponse(t, c, true); corr != n {
		t.Fatalf("corr %d", corr)
	}
	// The concurrent Metadata may have been handled anywhere in between;
	// the sequential ones in order, all before its response was written.
	h.mu.Lock()
	defer h.mu.Unlock()
	var order []string
	for _, s := range h.seen {
		if s != "end" {
			order = append(order, s)
		}
	}
	if len(order) != n {
		t.Fatalf("%d sequential requests handled, want %d", len(order), n)
	}
	for i, s := range order {
		if s != strconv.Itoa(i) {
			t.Fatalf("handling order %v", order)
		}
	}
}

// A ready response is sent while the one after it is still being handled.
func TestReadyResponseNotHeldBehindSlowOne(t *testing.T) {
	h := &testHandler{release: make(chan struct{})}
	defer close(h.release)
	_, addr := startServer(t, h)
	c := dial(t, addr)
	c.Write(append(encodeRequest(metadataReq(9), 1, "fast"), encodeRequest(metadataReq(9), 2, "slow")...))
	if corr, _ := readResponse(t, c, true); corr != 1 {
		t.Fatalf("corr %d, want 1", corr)
	}
}

// With an in-flight byte budget smaller than one request, the connection
// is read one request at a time: the second request is not even read
// while the first is unanswered.
func TestInFlightByteBudget(t *testing.T) {
	h := &testHandler{release: make(chan struct{})}
	_, addr := startServerWith(t, h, func(c *ServerConfig) { c.MaxInFlightBytes = 1 })
	c := dial(t, addr)
	c.Write(append(encodeRequest(metadataReq(9), 1, "slow"), encodeRequest(metadataReq(9), 2, "fast")...))
	// A third connection's request is a barrier: once it is answered the
	// server had every chance to read "fast" had it been allowed to.
	other := dial(t, addr)
	other.Write(encodeRequest(metadataReq(9), 3, "other"))
	readResponse(t, other, true)
	h.mu.Lock()
	seen := append([]string(nil), h.seen...)
	h.mu.Unlock()
	for _, s := range seen {
		if s == "fast" {
			t.Fatalf("second request handled while the first held the budget: %v", seen)
		}
	}
	close(h.release)
	for _, want := range []int32{1, 2} {
		if corr, _ := readResponse(t, c, true); corr != want {
			t.Fatalf("corr %d, want %d", corr, want)
		}
	}
}

// A connection idle past IdleTimeout is closed, but not while one of its
// requests is still being handled.
func TestIdleTimeout(t *testing.T) {
	h := &testHandler{release: make(chan struct{})}
	_, addr := startServerWith(t, h, func(c *ServerConfig) { c.IdleTimeout = 50 * time.Millisecond })
	busy := dial(t, addr)
	busy.Write(encodeRequest(metadataReq(9), 1, "slow"))
	idle := dial(t, addr)
	if _, err := idle.Read(make([]byte, 1)); err == nil {
		t.Fatal("idle connection not closed")
	}
	close(h.release)
	if corr, _ := readResponse(t, busy, true); corr != 1 {
		t.Fatalf("corr %d", corr)
	}
}

// A client that never reads its responses is disconnected once a write
// cannot complete within IdleTimeout.
func TestNonReadingClient(t *testing.T) {
	big := &bigHandler{size: 8 << 20}
	_, addr := startServerWith(t, big, func(c *ServerConfig) { c.IdleTimeout = 100 * time.Millisecond })
	c := dial(t, addr)
	for i := 0; i < 4; i++ {
		c.Write(encodeRequest(metadataReq(9), int32(i), "x"))
	}
	// Eventually the server gives up; reading now drains what was sent
	// and then sees the close.
	time.Sleep(500 * time.Millisecond)
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	n, err := io.Copy(io.Discard, c)
	if err != nil {
		t.Fatalf("connection not closed by the server: %v", err)
	}
	// The server gave up mid-way: not every response arrived.
	if n >= 4*8<<20 {
		t.Fatalf("received all %d bytes; the server should have given up writing", n)
	}
}

// bigHandler answers Metadata with a response of about size bytes.
type bigHandler struct{ size int }

func (h *bigHandler) Handle(ctx context.Context, req *Request) (kmsg.Response, error) {
	resp := req.Body.ResponseKind().(*kmsg.MetadataResponse)
	s := strings.Repeat("x", h.size)
	resp.ClusterID = &s
	return resp, nil
}

// A request on one connection that blocks does not hold up another
// connection.
func TestConnectionsIndependent(t *testing.T) {
	h := &testHandler{release: make(chan struct{})}
	defer close(h.release)
	_, addr := startServer(t, h)
	slow, fast := dial(t, addr), dial(t, addr)
	slow.Write(encodeRequest(metadataReq(9), 1, "slow"))
	fast.Write(encodeRequest(metadataReq(9), 7, "quick"))
	corr, _ := readResponse(t, fast, true)
	if corr != 7 {
		t.Fatalf("correlation id %d, want 7", corr)
	}
}

// Unknown ApiVersions versions get a v0-shaped UNSUPPORTED_VERSION answer;
// the connection stays usable.
func TestApiVersionsUnknownVersion(t *testing.T) {
	_, addr := startServer(t, &testHandler{})
	c := dial(t, addr)
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 4
	frame := encodeRequest(req, 11, "x")
	binary.BigEndian.PutUint16(frame[6:], 99) // a version from the future
	c.Write(frame)
	corr, body := readResponse(t, c, false)
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = 0
	if err := resp.ReadFrom(body); err != nil {
		t.Fatal(err)
	}
	if corr != 11 || resp.ErrorCode != kerr.UnsupportedVersion.Code {
		t.Fatalf("corr %d error %d, want 11 and UNSUPPORTED_VERSION", corr, resp.ErrorCode)
	}
	req.Version = 3
	req.ClientSoftwareName, req.ClientSoftwareVersion = "t", "1"
	c.Write(encodeRequest(req, 12, "x"))
	if corr, _ := readResponse(t, c, false); corr != 12 {
		t.Fatalf("corr %d, want 12", corr)
	}
}

// Frames the server must refuse close the connection, with no response.
func TestBadFramesCloseConnection(t *testing.T) {
	_, addr := startServer(t, &testHandler{})
	good := encodeRequest(metadataReq(9), 1, "c")
	cases := map[string][]byte{
		"oversized frame": {0x00, 0x20, 0x00, 0x01}, // 2 MiB > 1 MiB cap
		"negative size":   {0xff, 0xff, 0xff, 0xff},
		"tiny frame":      {0, 0, 0, 3, 0, 3, 0},
		"unknown api key": append([]byte{0, 0, 0, 10, 0x7f, 0x00, 0, 0}, 0, 0, 0, 1, 0, 0),
		"version too new": func() []byte { b := append([]byte(nil), good...); binary.BigEndian.PutUint16(b[6:], 13); return b }(),
		"truncated body": func() []byte {
			b := append([]byte(nil), good[:len(good)-1]...)
			binary.BigEndian.PutUint32(b, uint32(len(b)-4))
			return b
		}(),
		"bad client id":    {0, 0, 0, 10, 0, 3, 0, 9, 0, 0, 0, 1, 0x7f, 0xff},
		"metadata garbage": append([]byte{0, 0, 0, 16, 0, 3, 0, 9, 0, 0, 0, 1, 0, 0, 0}, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff),
	}
	for name, frame := range cases {
		t.Run(name, func(t *testing.T) {
			c := dial(t, addr)
			c.Write(frame)
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			n, err := c.Read(make([]byte, 1))
			if n != 0 || err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("read %d bytes, err %v; want the connection closed", n, err)
			}
		})
	}
}

// Shutdown answers a parked request (its context is cancelled) and closes.
func TestShutdownAnswersInFlight(t *testing.T) {
	h := &testHandler{release: make(chan struct{})}
	srv, addr := startServer(t, h)
	c := dial(t, addr)
	c.Write(encodeRequest(metadataReq(9), 5, "slow"))
	for {
		h.mu.Lock()
		n := len(h.seen)
		h.mu.Unlock()
		if n == 1 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Shutdown(context.Background()) }()
	if corr, _ := readResponse(t, c, true); corr != 5 {
		t.Fatalf("corr %d, want 5", corr)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("connection still open after Shutdown")
	}
}

func TestParseRequestHeader(t *testing.T) {
	r := metadataReq(12)
	r.Topics = []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr("orders")}}
	frame := encodeRequest(r, 42, "client-1")[4:]
	h, body, err := ParseRequest(frame)
	if err != nil {
		t.Fatal(err)
	}
	got := body.(*kmsg.MetadataRequest)
	if h.Key != 3 || h.Version != 12 || h.CorrelationID != 42 || *h.ClientID != "client-1" ||
		len(got.Topics) != 1 || *got.Topics[0].Topic != "orders" {
		t.Fatalf("parsed %+v %+v", h, got)
	}
	// A null client id (length -1) is accepted.
	frame = encodeRequest(metadataReq(1), 43, "")[4:]
	frame = append(frame[:8:8], append([]byte{0xff, 0xff}, frame[10:]...)...)
	if h, _, err := ParseRequest(frame); err != nil || h.ClientID != nil {
		t.Fatalf("null client id: %+v %v", h, err)
	}
	if _, _, err := ParseRequest([]byte{0, 3, 0}); err == nil {
		t.Fatal("short header parsed")
	}
	if !strings.Contains(ErrFrameTooLarge.Error(), "socket.request.max.bytes") {
		t.Fatal("error text")
	}
}
