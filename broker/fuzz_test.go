package broker

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/protocol"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// FuzzDataPath decodes arbitrary frames and hands those of the data-path
// APIs (Produce, Fetch, ListOffsets, Metadata, ApiVersions,
// OffsetForLeaderEpoch) to the broker: any field values must give a
// response or an error, never a panic or a hang. Seeds: requests captured
// from kgo (protocol/testdata/fuzz/requests).
func FuzzDataPath(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("..", "protocol", "testdata", "fuzz", "requests", "*.bin"))
	for _, s := range seeds {
		if b, err := os.ReadFile(s); err == nil {
			f.Add(b)
		}
	}
	cb := coreStart(f, "", nil)
	cb.topic("cap-none", 3, nil)
	cb.topic("cap-gzip", 1, nil)
	cb.raw().do(produceReq(9, -1, "cap-none", 0, coreBatch(1, -1, -1, -1, coreRecs(5, "f")...)))
	dataPath := map[kmsg.Key]bool{kmsg.Produce: true, kmsg.Fetch: true, kmsg.ListOffsets: true,
		kmsg.Metadata: true, kmsg.ApiVersions: true, kmsg.OffsetForLeaderEpoch: true}
	f.Fuzz(func(t *testing.T, frame []byte) {
		key, version, _, err := protocol.PeekHeader(frame)
		if err != nil || !dataPath[kmsg.Key(key)] {
			return
		}
		if a := apis[key]; version < a.min || version > a.max {
			return
		}
		h, body, err := protocol.ParseRequest(frame)
		if err != nil {
			return
		}
		if r, ok := body.(*kmsg.MetadataRequest); ok {
			r.AllowAutoTopicCreation = false // keep the topic table small
			if r.Version < 4 {
				r.Topics = nil
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		done := make(chan struct{})
		go func() {
			defer close(done)
			resp, err := cb.b.Handle(ctx, &protocol.Request{Header: h, Body: body, Conn: &protocol.ConnInfo{Listener: "PLAINTEXT"}})
			if err == nil && resp != nil {
				resp.SetVersion(version)
				if bw, ok := resp.(protocol.BodyWriter); ok {
					encodeReply(t, bw.(*fetchReply))
				} else {
					resp.AppendTo(nil)
				}
				releaseAny(resp)
			}
		}()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Fatalf("%s v%d did not return", kmsg.NameForKey(key), version)
		}
	})
}

func releaseAny(r kmsg.Response) {
	if rel, ok := r.(interface{ Release() }); ok {
		rel.Release()
	}
}
