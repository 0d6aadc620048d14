package broker

import (
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/gregor-broker/gregor/protocol"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var capture = flag.Bool("capture", false, "rewrite the fuzz seed corpora from real kgo traffic")

// recConn records what a client writes.
type recConn struct {
	net.Conn
	mu  *sync.Mutex
	out *[]byte
}

func (c recConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	*c.out = append(*c.out, p...)
	c.mu.Unlock()
	return c.Conn.Write(p)
}

// TestCoreCaptureRequests (with -capture) records the requests kgo and kadm
// send for the data path and writes them as seed corpora:
// protocol/testdata/fuzz/requests (FuzzParseRequest) and
// broker/testdata/fuzz/batches (FuzzValidateBatch).
func TestCoreCaptureRequests(t *testing.T) {
	if !*capture {
		t.Skip("run with -capture to rewrite the seed corpora")
	}
	cb := coreStart(t, "", nil)
	var mu sync.Mutex
	var streams [][]byte
	dial := func(ctx context.Context, network, host string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, host)
		if err != nil {
			return nil, err
		}
		mu.Lock()
		streams = append(streams, nil)
		out := &streams[len(streams)-1]
		mu.Unlock()
		return recConn{Conn: c, mu: &mu, out: out}, nil
	}
	ctx := coreCtx(t)
	for name, codec := range map[string]kgo.CompressionCodec{"none": kgo.NoCompression(), "gzip": kgo.GzipCompression(),
		"snappy": kgo.SnappyCompression(), "lz4": kgo.Lz4Compression(), "zstd": kgo.ZstdCompression()} {
		cl := cb.client(kgo.Dialer(dial), kgo.ProducerBatchCompression(codec), kgo.AllowAutoTopicCreation())
		for i := 0; i < 3; i++ {
			r := &kgo.Record{Topic: "cap-" + name, Key: []byte(fmt.Sprint(i)), Value: []byte("captured value"),
				Headers: []kgo.RecordHeader{{Key: "h", Value: []byte("v")}}}
			if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		cl.Close()
	}
	cb.consume(3, kgo.Dialer(dial), kgo.ConsumeTopics("cap-gzip"))
	adm := kadm.NewClient(cb.client(kgo.Dialer(dial)))
	adm.ListEndOffsets(ctx, "cap-none")
	adm.ListOffsetsAfterMilli(ctx, 0, "cap-none")
	adm.Metadata(ctx)
	adm.CreateTopics(ctx, 2, 1, nil, "cap-admin")

	mu.Lock()
	defer mu.Unlock()
	reqDir := filepath.Join("..", "protocol", "testdata", "fuzz", "requests")
	batchDir := filepath.Join("testdata", "fuzz", "batches")
	os.RemoveAll(reqDir)
	os.RemoveAll(batchDir)
	os.MkdirAll(reqDir, 0o755)
	os.MkdirAll(batchDir, 0o755)
	seen := map[string]int{}
	nb := 0
	for _, s := range streams {
		for len(s) >= 4 {
			n := int(binary.BigEndian.Uint32(s))
			frame := s[4 : 4+n]
			s = s[4+n:]
			key, version, _, _ := protocol.PeekHeader(frame)
			if key == int16(kmsg.Produce) {
				_, req, err := protocol.ParseRequest(frame)
				if err != nil {
					t.Fatal(err)
				}
				for _, tp := range req.(*kmsg.ProduceRequest).Topics {
					for _, p := range tp.Partitions {
						nb++
						os.WriteFile(filepath.Join(batchDir, fmt.Sprintf("%s_%d.bin", tp.Topic, nb)), p.Records, 0o644)
					}
				}
			}
			name := fmt.Sprintf("%s_v%d", kmsg.NameForKey(key), version)
			if seen[name] >= 3 {
				continue
			}
			seen[name]++
			os.WriteFile(filepath.Join(reqDir, fmt.Sprintf("%s_%d.bin", name, seen[name])), frame, 0o644)
		}
	}
	t.Logf("captured %v and %d batches", seen, nb)
}
