package protocol

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// panicHandler answers Metadata like testHandler, except for client ids
// "panic" (the handler panics) and "badresp" (the response panics while it
// is encoded, in the connection's writer).
type panicHandler struct{ handled atomic.Int64 }

type panickyResponse struct{ *kmsg.MetadataResponse }

func (panickyResponse) AppendTo([]byte) []byte { panic("injected: response encoding panics") }

func (h *panicHandler) Handle(ctx context.Context, req *Request) (kmsg.Response, error) {
	h.handled.Add(1)
	cid := ""
	if req.Header.ClientID != nil {
		cid = *req.Header.ClientID
	}
	resp := req.Body.ResponseKind().(*kmsg.MetadataResponse)
	resp.ClusterID = &cid
	switch cid {
	case "panic":
		panic("injected: handler panics")
	case "badresp":
		return panickyResponse{resp}, nil
	}
	return resp, nil
}

// Panics in handlers and in response encoding, injected under load, cost
// only the requests that met them: those connections are closed after the
// answers owed before the panic, every other connection keeps getting every
// answer, the process lives (a panic in the writer used to kill it), and
// new connections are served afterwards.
func TestPanicsCostOnlyTheirRequest(t *testing.T) {
	h := &panicHandler{}
	_, addr := startServer(t, h)
	const clients, perClient = 8, 200
	var wg sync.WaitGroup
	errs := make(chan error, clients+2)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := dial(t, addr)
			cid := fmt.Sprintf("ok-%d", i)
			for n := range perClient {
				if _, err := c.Write(encodeRequest(metadataReq(9), int32(n), cid)); err != nil {
					errs <- err
					return
				}
				frame, err := ReadFrame(c, 1<<20)
				if err != nil {
					errs <- fmt.Errorf("client %d, request %d: %v", i, n, err)
					return
				}
				var resp kmsg.MetadataResponse
				resp.Version = 9
				if err := resp.ReadFrom(frame[5:]); err != nil || resp.ClusterID == nil || *resp.ClusterID != cid {
					errs <- fmt.Errorf("client %d, request %d: answer %v %v", i, n, resp.ClusterID, err)
					return
				}
			}
		}()
	}
	// Meanwhile, connections whose requests panic: each first gets the
	// answer owed before its panic, then is closed.
	for _, kind := range []string{"panic", "badresp"} {
		for range 10 {
			c := dial(t, addr)
			c.Write(encodeRequest(metadataReq(9), 1, "before"))
			c.Write(encodeRequest(metadataReq(9), 2, kind))
			if corr, _ := readResponse(t, c, true); corr != 1 {
				t.Fatalf("%s: first answer has correlation id %d, want 1", kind, corr)
			}
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := ReadFrame(c, 1<<20); !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("%s: after the panic: %v, want the connection closed", kind, err)
			}
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	c := dial(t, addr)
	c.Write(encodeRequest(metadataReq(9), 9, "after"))
	if corr, _ := readResponse(t, c, true); corr != 9 {
		t.Fatalf("a new connection after the panics: correlation id %d", corr)
	}
}
