package compat

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestCapturedCorpus checks the seed corpus captured from every client of
// the matrix (testdata/requests, written with COMPAT_CAPTURE, see
// capture_test.go): each file is one whole request as a client sent it, with
// the API and version its name says, and kmsg decodes it. The fuzzers of
// protocol/ and broker/ can seed from these files.
func TestCapturedCorpus(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "requests", "*.bin"))
	if err != nil || len(files) < 100 {
		t.Fatalf("%d seed files (%v); want the captured corpus", len(files), err)
	}
	clients := map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(f)
		parts := strings.SplitN(strings.TrimSuffix(name, ".bin"), "_", 3)
		if len(parts) != 3 || len(b) < 10 {
			t.Errorf("%s: not <API>_v<version>_<client>_<n>.bin or too short", name)
			continue
		}
		key := int16(binary.BigEndian.Uint16(b))
		version := int16(binary.BigEndian.Uint16(b[2:]))
		if got := kmsg.NameForKey(key); got != parts[0] || fmt.Sprintf("v%d", version) != parts[1] {
			t.Errorf("%s: holds %s v%d", name, got, version)
			continue
		}
		clients[parts[2][:strings.LastIndexByte(parts[2], '_')]] = true
		if strings.Contains(name, "_hostile_") {
			continue // deliberately damaged batches from hostile_test.go
		}
		req := kmsg.RequestForKey(key)
		req.SetVersion(version)
		body, ok := skipHeader(b, req.IsFlexible())
		if !ok {
			t.Errorf("%s: bad request header", name)
			continue
		}
		if err := req.ReadFrom(body); err != nil {
			t.Errorf("%s: kmsg cannot decode what a client sent: %v", name, err)
		}
	}
	t.Logf("%d seeds from %d client ids", len(files), len(clients))
	if len(clients) < 9 {
		t.Errorf("seeds from %d client ids, want every client of the matrix: %v", len(clients), clients)
	}
}

// skipHeader returns the body after a request header v1 (v2 when flexible:
// tagged fields follow the client id).
func skipHeader(b []byte, flexible bool) ([]byte, bool) {
	n := int(int16(binary.BigEndian.Uint16(b[8:])))
	b = b[10:]
	if n > 0 {
		if n > len(b) {
			return nil, false
		}
		b = b[n:]
	}
	if !flexible {
		return b, true
	}
	count, l := binary.Uvarint(b)
	if l <= 0 {
		return nil, false
	}
	b = b[l:]
	for i := uint64(0); i < count; i++ {
		_, l := binary.Uvarint(b) // tag
		if l <= 0 {
			return nil, false
		}
		b = b[l:]
		size, l := binary.Uvarint(b)
		if l <= 0 || int(size) > len(b[l:]) {
			return nil, false
		}
		b = b[l+int(size):]
	}
	return b, true
}
