package nameserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// Each registration breaks one rule; the registry refuses it with
// ErrInvalidRegistration and keeps nothing of it.
func TestRegistryRefusesHostileRegistrations(t *testing.T) {
	big := make([]int32, MaxPartitionsPerTopic)
	for i := range big {
		big[i] = int32(i)
	}
	manyTopics := make([]TopicRoute, 0, MaxDeclaredPartitions/MaxPartitionsPerTopic+1)
	for i := 0; i <= MaxDeclaredPartitions/MaxPartitionsPerTopic; i++ {
		manyTopics = append(manyTopics, TopicRoute{Name: fmt.Sprintf("t%d", i), ID: idT, Partitions: MaxPartitionsPerTopic})
	}
	for _, c := range []struct {
		name string
		mod  func(*Registration)
	}{
		{"no cluster", func(r *Registration) { r.Cluster = "" }},
		{"no broker name", func(r *Registration) { r.BrokerName = "" }},
		{"negative broker id", func(r *Registration) { r.BrokerID = -1 }},
		{"negative node id", func(r *Registration) { r.NodeID = -5 }},
		{"unknown role", func(r *Registration) { r.Role = "emperor" }},
		{"huge broker name", func(r *Registration) { r.BrokerName = strings.Repeat("b", 10<<20) }},
		{"control character", func(r *Registration) { r.BrokerName = "a\nb" }},
		{"not UTF-8", func(r *Registration) { r.Cluster = "\xff\xfe" }},
		{"port out of range", func(r *Registration) { r.Endpoints[0].Port = 70000 }},
		{"negative port", func(r *Registration) { r.Endpoints[0].Port = -1 }},
		{"too many endpoints", func(r *Registration) { r.Endpoints = make([]Endpoint, MaxEndpoints+1) }},
		{"huge host", func(r *Registration) { r.Endpoints[0].Host = strings.Repeat("h", 300) }},
		{"bad topic name", func(r *Registration) { r.Topics[0].Name = "a/b" }},
		{"dot topic", func(r *Registration) { r.Topics[0].Name = ".." }},
		{"long topic", func(r *Registration) { r.Topics[0].Name = strings.Repeat("t", 250) }},
		{"id not a UUID", func(r *Registration) { r.Topics[0].ID = "u1" }},
		{"2^31-1 partitions", func(r *Registration) { r.Topics[0].Partitions = 1<<31 - 1 }},
		{"negative partitions", func(r *Registration) { r.Topics[0].Partitions = -3 }},
		{"owned past the count", func(r *Registration) { r.Topics[0].Owned = []int32{0, 4} }},
		{"negative owned", func(r *Registration) { r.Topics[0].Owned = []int32{-1} }},
		{"owned twice", func(r *Registration) { r.Topics[0].Owned = []int32{1, 2, 1} }},
		{"owned more than the count", func(r *Registration) { r.Topics[0].Owned = big }},
		{"declared partitions past the total", func(r *Registration) { r.Topics = manyTopics }},
		{"too many topics", func(r *Registration) { r.Topics = make([]TopicRoute, MaxTopics+1) }},
		{"negative log end", func(r *Registration) { r.LogEnd = -1 }},
		{"huge http addr", func(r *Registration) { r.HTTPAddr = strings.Repeat("h", 1000) }},
		{"too many in-sync members", func(r *Registration) { r.InSync = make([]int64, MaxBrokers+1) }},
		{"negative in-sync member", func(r *Registration) { r.InSync = []int64{0, -2} }},
		{"too many slaves", func(r *Registration) { r.Slaves = make([]SlaveState, MaxBrokers+1) }},
		{"negative slave", func(r *Registration) { r.Slaves = []SlaveState{{Member: -1}} }},
	} {
		r := NewRegistry(nil)
		reg := reg("broker-a", 0, 1, TopicRoute{Name: "t", ID: idT, Partitions: 4, Owned: []int32{0, 1, 2, 3}})
		if _, err := r.Register(reg); err != nil {
			t.Fatalf("%s: the valid registration is refused: %v", c.name, err)
		}
		r = NewRegistry(nil)
		c.mod(&reg)
		_, err := r.Register(reg)
		if !errors.Is(err, ErrInvalidRegistration) {
			t.Errorf("%s: got %v, want ErrInvalidRegistration", c.name, err)
			continue
		}
		if len(err.Error()) > 1000 {
			t.Errorf("%s: the error echoes the input (%d bytes)", c.name, len(err.Error()))
		}
		if rt := r.Routes(); len(rt.Brokers) != 0 || len(rt.Topics) != 0 {
			t.Errorf("%s: the registry kept %+v", c.name, rt)
		}
	}
}

// The registry holds at most MaxBrokers members and a route table of at
// most MaxRoutesBytes; known members still renew.
func TestRegistryBounds(t *testing.T) {
	r := NewRegistry(nil)
	for i := 0; i < MaxBrokers; i++ {
		if _, err := r.Register(member(i)); err != nil {
			t.Fatalf("member %d: %v", i, err)
		}
	}
	if _, err := r.Register(member(MaxBrokers)); !errors.Is(err, ErrInvalidRegistration) {
		t.Fatalf("member %d: got %v, want refused", MaxBrokers+1, err)
	}
	if _, err := r.Register(member(7)); err != nil {
		t.Fatalf("a known member renewing: %v", err)
	}
	r.Unregister("b7", 0)
	if _, err := r.Register(member(MaxBrokers)); err != nil {
		t.Fatalf("after an unregister: %v", err)
	}

	// Members each declaring the most partitions allowed: the table stops
	// growing before its routes answer passes MaxRoutesBytes.
	r = NewRegistry(nil)
	owned := make([]int32, MaxPartitionsPerTopic)
	for i := range owned {
		owned[i] = int32(i)
	}
	var topics []TopicRoute
	for i := 0; i < 100; i++ {
		topics = append(topics, TopicRoute{Name: fmt.Sprintf("t%d", i), ID: idT, Partitions: MaxPartitionsPerTopic, Owned: owned})
	}
	var err error
	n := 0
	for ; n < MaxBrokers && err == nil; n++ {
		m := member(n)
		m.Topics = topics
		_, err = r.Register(m)
	}
	if err == nil {
		t.Fatalf("%d members of %d owned partitions each were all accepted", n, 100*MaxPartitionsPerTopic)
	}
	var buf countWriter
	if err := json.NewEncoder(&buf).Encode(r.Routes()); err != nil {
		t.Fatal(err)
	}
	if buf.n > MaxRoutesBytes {
		t.Fatalf("routes answer is %d bytes, past MaxRoutesBytes %d", buf.n, MaxRoutesBytes)
	}
	t.Logf("%d members accepted, routes answer %d bytes", n-1, buf.n)
}

func member(i int) Registration {
	return Registration{Cluster: "c", BrokerName: fmt.Sprintf("b%d", i), NodeID: int32(i),
		Endpoints: []Endpoint{{Listener: "PLAINTEXT", Host: "127.0.0.1", Port: 9000}}}
}

type countWriter struct{ n int }

func (w *countWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }

// Over HTTP: a body past MaxRegistrationBytes is refused with 413 after
// reading at most that much, a malformed one with 400, and hostile
// unregister and lease bodies too; the server keeps serving.
func TestServerRefusesHostileBodies(t *testing.T) {
	s := startServer(t, "127.0.0.1:0")
	base := "http://" + s.Addr().String()
	post := func(path string, body io.Reader) int {
		t.Helper()
		resp, err := http.Post(base+path, "application/json", body)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	// An endless body: the server must stop reading it.
	endless := io.MultiReader(strings.NewReader(`{"cluster":"c","broker_name":"`), &repeatReader{b: 'x'})
	if code := post("/v1/register", endless); code != http.StatusRequestEntityTooLarge {
		t.Errorf("endless register body: status %d, want 413", code)
	}
	if code := post("/v1/register", strings.NewReader(`{"cluster":`)); code != http.StatusBadRequest {
		t.Errorf("truncated register body: status %d, want 400", code)
	}
	hostile, _ := json.Marshal(reg("b", 0, 1, TopicRoute{Name: "t", ID: idT, Partitions: 1<<31 - 1, Owned: []int32{0}}))
	if code := post("/v1/register", bytes.NewReader(hostile)); code != http.StatusBadRequest {
		t.Errorf("2^31-1 partitions: status %d, want 400", code)
	}
	if code := post("/v1/unregister", strings.NewReader(`{"broker_name":"`+strings.Repeat("x", MaxSmallRequestBytes)+`"}`)); code != http.StatusRequestEntityTooLarge {
		t.Errorf("huge unregister: status %d, want 413", code)
	}
	if code := post("/v1/lease", strings.NewReader(`{"op":"query","broker_name":"a\u0000b","broker_id":0}`)); code != http.StatusBadRequest {
		t.Errorf("lease with a control character: status %d, want 400", code)
	}
	good, _ := json.Marshal(reg("b", 0, 1, TopicRoute{Name: "t", ID: idT, Partitions: 2, Owned: []int32{0, 1}}))
	if code := post("/v1/register", bytes.NewReader(good)); code != http.StatusOK {
		t.Fatalf("valid registration after the hostile ones: status %d", code)
	}
	if n := len(s.Registry().Routes().Brokers); n != 1 {
		t.Fatalf("%d brokers registered, want 1", n)
	}
}

type repeatReader struct{ b byte }

func (r *repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = r.b
	}
	return len(p), nil
}

// A NameServer answering routes with an endless body, or with a broker
// claiming a topic of 2^31-1 partitions: the client stops reading at its
// limit (MaxRoutesBytes; 4 MiB here, so the test does not depend on how
// fast this machine decodes 64 MiB), leaves the hostile broker out, and
// keeps the valid ones; reading costs memory bounded by the limit even
// with several reads at once.
func TestClientBoundsHostileRoutes(t *testing.T) {
	valid := Broker{Registration: reg("good", 0, 1, TopicRoute{Name: "t", ID: idT, Partitions: 2, Owned: []int32{0, 1}}), LastHeartbeat: time.Now()}
	bad := Broker{Registration: reg("evil", 0, 2, TopicRoute{Name: "t", ID: idT, Partitions: 1<<31 - 1, Owned: []int32{5}}), LastHeartbeat: time.Now()}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("kind") {
		case "":
			json.NewEncoder(w).Encode(Routes{Brokers: []Broker{valid, bad}})
		}
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	rt, err := NewClient([]string{ln.Addr().String()}).Routes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rt.Brokers) != 1 || rt.Brokers[0].BrokerName != "good" {
		t.Fatalf("brokers %+v, want only the valid one", rt.Brokers)
	}
	if len(rt.Topics) != 1 || rt.Topics[0].Partitions != 2 {
		t.Fatalf("topics %+v", rt.Topics)
	}

	// Endless answers: '[' then zeros for ever, inside a broker's owned
	// partitions (the cheapest bytes per decoded value).
	ln2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	endless := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"brokers":[{"cluster":"c","broker_name":"x","topics":[{"name":"t","owned":[0`)
		chunk := bytes.Repeat([]byte(",0"), 32<<10)
		for r.Context().Err() == nil {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})}
	go endless.Serve(ln2)
	t.Cleanup(func() { endless.Close() })
	const readers, limit = 4, 4 << 20
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var wg sync.WaitGroup
	errs := make([]error, readers)
	for i := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := NewClient([]string{ln2.Addr().String()})
			c.maxRoutes = limit
			_, errs[i] = c.Routes(ctx)
		}()
	}
	wg.Wait()
	runtime.ReadMemStats(&after)
	for _, err := range errs {
		if err == nil || !strings.Contains(err.Error(), "larger than") {
			t.Fatalf("endless routes answer: %v, want refused as too large", err)
		}
	}
	// Each read decodes at most limit bytes of ",0" (4 bytes of int32 per
	// 2 bytes read, in a slice that doubles): a few times the limit.
	total := after.TotalAlloc - before.TotalAlloc
	if bound := uint64(readers) * 8 * limit; total > bound {
		t.Fatalf("%d concurrent endless reads allocated %d MiB, more than %d MiB", readers, total>>20, bound>>20)
	}
	t.Logf("%d concurrent endless routes reads: %d MiB allocated in all (%d MiB each)", readers, total>>20, total>>20/readers)
}
