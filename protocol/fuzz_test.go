package protocol

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// FuzzParseRequest feeds arbitrary frames to the header parser and kmsg
// decoding: it must return an error or a request, never panic, and a
// request it accepts must re-encode to a frame it parses the same way.
// The seed corpus holds real requests captured from kgo (testdata/fuzz/requests,
// written by the broker package's capture test), from every client of the
// compat suite (compat_test/testdata/requests) and hand-made ones.
func FuzzParseRequest(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "fuzz", "requests", "*.bin"))
	// Requests captured from every client of the compat suite (sarama,
	// kafka-go, librdkafka, Java, Python, kafkajs), in the same form.
	clients, _ := filepath.Glob(filepath.Join("..", "compat_test", "testdata", "requests", "*.bin"))
	seeds = append(seeds, clients...)
	for _, s := range seeds {
		if b, err := os.ReadFile(s); err == nil {
			f.Add(b)
		}
	}
	f.Add(encodeRequest(metadataReq(12), 1, "c")[4:])
	f.Add(encodeRequest(metadataReq(0), 1, "")[4:])
	av := kmsg.NewPtrApiVersionsRequest()
	av.Version = 3
	f.Add(encodeRequest(av, 9, "kgo")[4:])
	f.Fuzz(func(t *testing.T, frame []byte) {
		h, req, err := ParseRequest(frame)
		if err != nil {
			return
		}
		again := encodeRequest(req, h.CorrelationID, "x")[4:]
		h2, req2, err := ParseRequest(again)
		if err != nil {
			t.Fatalf("re-encoded request does not parse: %v", err)
		}
		if h2.Key != h.Key || h2.Version != h.Version || !bytes.Equal(req2.AppendTo(nil), req.AppendTo(nil)) {
			t.Fatal("re-encoded request differs")
		}
	})
}

// FuzzReadFrame: any byte stream yields frames within the cap or an error.
func FuzzReadFrame(f *testing.F) {
	f.Add([]byte{0, 0, 0, 10, 0, 3, 0, 1, 0, 0, 0, 1, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, stream []byte) {
		r := bytes.NewReader(stream)
		for {
			frame, err := ReadFrame(r, 4096)
			if err != nil {
				return
			}
			if len(frame) > 4096 || len(frame) < minFrame {
				t.Fatalf("frame of %d bytes accepted", len(frame))
			}
		}
	})
}
