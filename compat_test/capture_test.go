package compat

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sync"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// With COMPAT_CAPTURE=DIR the gregor target is reached through a recording
// proxy (gregor advertises the proxy's address, so every connection of every
// client goes through it), and the first requests of each kind that each
// client sends are written to DIR as fuzz seeds: one request frame per file,
// without its length prefix (the input of protocol.ParseRequest), named
// <API>_v<version>_<client id>_<n>.bin. compat_test/testdata/requests holds
// the corpus captured from every client of the matrix.

// captureMaxFrame bounds a seed file; larger requests (big produces) add
// nothing a smaller one of the same kind does not.
const captureMaxFrame = 64 << 10

// capturePerKind is how many requests of one (API, version, client) are kept.
const capturePerKind = 2

// recorder writes captured request frames to a folder.
type recorder struct {
	dir  string
	mu   sync.Mutex
	seen map[string]int
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9.-]+`)

// record saves frame (a request without its length prefix) when its kind
// still wants seeds.
func (r *recorder) record(frame []byte) {
	if len(frame) < 8 || len(frame) > captureMaxFrame {
		return
	}
	key := int16(binary.BigEndian.Uint16(frame))
	version := int16(binary.BigEndian.Uint16(frame[2:]))
	client := "null"
	if n := int16(binary.BigEndian.Uint16(frame[8:])); n >= 0 && len(frame) >= 10+int(n) {
		client = string(frame[10 : 10+int(n)])
	}
	if client == "" {
		client = "empty"
	}
	if len(client) > 40 {
		client = client[:40]
	}
	name := kmsg.NameForKey(key)
	if name == "" {
		name = fmt.Sprintf("key%d", key)
	}
	kind := fmt.Sprintf("%s_v%d_%s", name, version, unsafeName.ReplaceAllString(client, "-"))
	r.mu.Lock()
	r.seen[kind]++
	n := r.seen[kind]
	r.mu.Unlock()
	if n > capturePerKind {
		return
	}
	os.WriteFile(filepath.Join(r.dir, fmt.Sprintf("%s_%d.bin", kind, n)), frame, 0o644)
}

// proxy listens on its own loopback port and forwards every connection to
// backend, recording the requests that pass.
type proxy struct {
	ln      net.Listener
	backend string
	rec     *recorder
}

func newProxy(backend, dir string) (*proxy, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &proxy{ln: ln, backend: backend, rec: &recorder{dir: dir, seen: map[string]int{}}}
	go p.serve()
	return p, nil
}

func (p *proxy) port() int { return p.ln.Addr().(*net.TCPAddr).Port }

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.handle(c)
	}
}

func (p *proxy) handle(c net.Conn) {
	defer c.Close()
	b, err := net.Dial("tcp", p.backend)
	if err != nil {
		return
	}
	defer b.Close()
	go func() {
		io.Copy(c, b)
		c.Close()
	}()
	var size [4]byte
	for {
		if _, err := io.ReadFull(c, size[:]); err != nil {
			return
		}
		n := int32(binary.BigEndian.Uint32(size[:]))
		if n < 0 || n > 64<<20 {
			return
		}
		frame := make([]byte, n)
		if _, err := io.ReadFull(c, frame); err != nil {
			return
		}
		p.rec.record(frame)
		if _, err := b.Write(append(size[:], frame...)); err != nil {
			return
		}
	}
}
