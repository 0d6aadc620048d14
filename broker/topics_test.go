package broker

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"
	"sync"
	"testing"

	"github.com/gregor-broker/gregor/protocol"
	"github.com/gregor-broker/gregor/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
)

// admBroker is a broker with a real store in dir and the topic registry,
// without listeners: enough to call the admin handlers directly.
type admBroker struct {
	*Broker
	t testing.TB
}

func admOpen(t testing.TB, dir string, def TopicDefaults) *admBroker {
	t.Helper()
	log := zap.NewNop()
	if tt, ok := t.(*testing.T); ok {
		log = zaptest.NewLogger(tt) // not for fuzz targets, which may not log through f
	}
	st, err := storage.Open(storage.Config{Dir: dir, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	tp, err := newTopics(st, def, log)
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	b := &Broker{
		cfg: Config{
			NodeID:    1,
			ClusterID: "adm-cluster",
			Store:     storage.Config{Dir: dir},
			Listeners: []Listener{{Name: "PLAINTEXT", Address: "127.0.0.1:9092", Advertised: "broker.example:19092"}},
			Topics:    def,
		},
		log:    zap.NewNop(),
		store:  st,
		topics: tp,
	}
	// A single node with an in-process registry, never started, whose view
	// is rebuilt on every call (no OnChange hook tells it of topic changes).
	cfg := b.cfg.Cluster
	_ = cfg.Validate(b.cfg.NodeID)
	b.cluster = newCluster(b, cfg, b.log)
	b.cluster.uncached = true
	return &admBroker{Broker: b, t: t}
}

func (b *admBroker) close() {
	if err := b.store.Close(); err != nil {
		b.t.Fatal(err)
	}
}

// call runs req through its registered handler and returns the response
// after encoding and decoding it at the request's version, so fields a
// version lacks are seen as a client sees them.
func (b *admBroker) call(req kmsg.Request) kmsg.Response {
	b.t.Helper()
	a, ok := apis[req.Key()]
	if !ok {
		b.t.Fatalf("API %d not registered", req.Key())
	}
	if v := req.GetVersion(); v < a.min || v > a.max {
		b.t.Fatalf("API %d version %d outside %d–%d", req.Key(), v, a.min, a.max)
	}
	// Encode and decode the request too, as the wire would.
	body := req.AppendTo(nil)
	in := kmsg.RequestForKey(req.Key())
	in.SetVersion(req.GetVersion())
	if err := in.ReadFrom(body); err != nil {
		b.t.Fatalf("decode request: %v", err)
	}
	resp, err := a.fn(context.Background(), b.Broker, &protocol.Request{
		Header: protocol.Header{Key: req.Key(), Version: req.GetVersion()},
		Body:   in,
		Conn:   &protocol.ConnInfo{Listener: "PLAINTEXT"},
	})
	if err != nil {
		b.t.Fatalf("handler: %v", err)
	}
	if resp.GetVersion() != req.GetVersion() {
		b.t.Fatalf("response version %d, request %d", resp.GetVersion(), req.GetVersion())
	}
	out := kmsg.ResponseForKey(req.Key())
	out.SetVersion(req.GetVersion())
	if err := out.ReadFrom(resp.AppendTo(nil)); err != nil {
		b.t.Fatalf("decode response: %v", err)
	}
	return out
}

// admBatch builds an uncompressed v2 record batch with a valid CRC, one
// record per value, all stamped ts.
func admBatch(ts int64, values ...string) []byte {
	var recs []byte
	for i, v := range values {
		r := kmsg.Record{OffsetDelta: int32(i), Value: []byte(v)}
		r.Length = int32(len(r.AppendTo(nil)) - 1)
		recs = r.AppendTo(recs)
	}
	rb := kmsg.RecordBatch{
		Magic: 2, LastOffsetDelta: int32(len(values) - 1), FirstTimestamp: ts, MaxTimestamp: ts,
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: int32(len(values)), Records: recs,
	}
	raw := rb.AppendTo(nil)
	rb.Length = int32(len(raw) - 12)
	raw = rb.AppendTo(nil)
	crc := crc32.Checksum(raw[21:], crc32.MakeTable(crc32.Castagnoli))
	raw[17], raw[18], raw[19], raw[20] = byte(crc>>24), byte(crc>>16), byte(crc>>8), byte(crc)
	return raw
}

func (b *admBroker) produce(topic string, partition int32, ts int64, values ...string) {
	b.t.Helper()
	tp, ok := b.topics.Get(topic)
	if !ok {
		b.t.Fatalf("no topic %s", topic)
	}
	p := b.store.Partition(tp.ID, partition)
	if p == nil {
		b.t.Fatalf("no partition %s-%d in the store", topic, partition)
	}
	if _, err := p.Append(admBatch(ts, values...), 0); err != nil {
		b.t.Fatal(err)
	}
}

// TestTopicsDurable checks that ids, partition counts and configs survive a
// restart, that deleted topics stay deleted, and that the store's
// partitions are recreated with their data.
func TestTopicsDurable(t *testing.T) {
	dir := t.TempDir()
	b := admOpen(t, dir, TopicDefaults{})
	a, err := b.topics.Create("alpha", 3, map[string]string{"retention.ms": "60000", "max.message.bytes": "2048"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := b.topics.Create("charlie", 0, nil) // 0 = num.partitions
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.topics.Create("bravo", 1, nil); err != nil {
		t.Fatal(err)
	}
	if err := b.topics.addPartitions("charlie", 4, false); err != nil {
		t.Fatal(err)
	}
	if err := b.topics.setConfigs("charlie", map[string]string{"message.timestamp.type": "LogAppendTime"}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := b.topics.delete("bravo", storage.TopicID{}); err != nil {
		t.Fatal(err)
	}
	b.produce("alpha", 2, 1000, "x", "y")
	b.close()

	b = admOpen(t, dir, TopicDefaults{})
	defer b.close()
	got := b.topics.List()
	if len(got) != 2 || got[0].Name != "alpha" || got[1].Name != "charlie" {
		t.Fatalf("topics after restart: %v", topicNames(got))
	}
	a2, c2 := got[0], got[1]
	if a2.ID != a.ID || a2.Partitions != 3 || a2.Configs["retention.ms"] != "60000" || len(a2.Configs) != 2 ||
		a2.MaxMessageBytes != 2048 || a2.RetentionMs != 60000 || a2.LogAppendTime {
		t.Errorf("alpha after restart: %+v (was %+v)", a2, a)
	}
	if c2.ID != c.ID || c2.Partitions != 4 || !c2.LogAppendTime || len(c2.Configs) != 1 || c2.MaxMessageBytes != 1048588 {
		t.Errorf("charlie after restart: %+v", c2)
	}
	if byID, ok := b.topics.GetByID(a.ID); !ok || byID != a2 {
		t.Errorf("GetByID after restart")
	}
	for p := int32(0); p < 4; p++ {
		if b.store.Partition(c2.ID, p) == nil {
			t.Errorf("charlie-%d missing from the store", p)
		}
	}
	if hwm := b.store.Partition(a2.ID, 2).HighWatermark(); hwm != 2 {
		t.Errorf("alpha-2 high watermark after restart: %d, want 2", hwm)
	}
}

func topicNames(ts []*Topic) []string {
	var out []string
	for _, tp := range ts {
		out = append(out, tp.Name)
	}
	return out
}

// TestTopicsRetentionReachesStore checks that retention.ms from the topic
// config, then from an alter, and the broker default all reach the store.
func TestTopicsRetentionReachesStore(t *testing.T) {
	b := admOpen(t, t.TempDir(), TopicDefaults{RetentionMs: -1})
	defer b.close()
	if _, err := b.topics.Create("keep", 1, nil); err != nil { // broker default: unlimited
		t.Fatal(err)
	}
	if _, err := b.topics.Create("expire", 1, map[string]string{"retention.ms": "3600000"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.topics.Create("later", 1, nil); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"keep", "expire", "later"} {
		b.produce(n, 0, 1000, "a", "b", "c") // timestamps in 1970: older than any retention
	}
	if err := b.store.RunRetention(); err != nil {
		t.Fatal(err)
	}
	logStart := func(n string) int64 {
		tp, _ := b.topics.Get(n)
		return b.store.Partition(tp.ID, 0).LogStartOffset()
	}
	if got := logStart("keep"); got != 0 {
		t.Errorf("keep: log start %d, want 0 (unlimited retention)", got)
	}
	if got := logStart("expire"); got != 3 {
		t.Errorf("expire: log start %d, want 3", got)
	}
	if got := logStart("later"); got != 0 {
		t.Errorf("later before alter: log start %d, want 0", got)
	}
	if err := b.topics.setConfigs("later", map[string]string{"retention.bytes": "0"}, false); err != nil {
		t.Fatal(err)
	}
	if err := b.store.RunRetention(); err != nil {
		t.Fatal(err)
	}
	if got := logStart("later"); got != 3 {
		t.Errorf("later after retention.bytes=0: log start %d, want 3", got)
	}
	// An empty cleanup.policy keeps everything, whatever the retention.
	if _, err := b.topics.Create("nocleanup", 1, map[string]string{"cleanup.policy": "", "retention.bytes": "0"}); err != nil {
		t.Fatal(err)
	}
	b.produce("nocleanup", 0, 1000, "a")
	if err := b.store.RunRetention(); err != nil {
		t.Fatal(err)
	}
	if got := logStart("nocleanup"); got != 0 {
		t.Errorf("nocleanup: log start %d, want 0", got)
	}
}

// TestTopicsConcurrentCreate checks that of many concurrent creations of
// one name exactly one succeeds and every caller sees the same topic.
func TestTopicsConcurrentCreate(t *testing.T) {
	b := admOpen(t, t.TempDir(), TopicDefaults{})
	defer b.close()
	const n = 8
	var wg sync.WaitGroup
	ids := make([]storage.TopicID, n)
	errs := make([]error, n)
	exists := 0
	var mu sync.Mutex
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			tp, err := b.topics.create("race", 2, nil, false)
			if errors.Is(err, kerr.TopicAlreadyExists) {
				mu.Lock()
				exists++
				mu.Unlock()
				return
			}
			errs[i] = err
			if tp != nil {
				ids[i] = tp.ID
			}
		}(i)
	}
	wg.Wait()
	if exists != n-1 {
		t.Fatalf("%d of %d creations got TOPIC_ALREADY_EXISTS, want %d (errors %v)", exists, n, n-1, errs)
	}
	tp, _ := b.topics.Get("race")
	for i, id := range ids {
		if id != (storage.TopicID{}) && id != tp.ID {
			t.Errorf("creator %d got id %x, registry has %x", i, id, tp.ID)
		}
	}
	// The auto-creation path returns the existing topic instead.
	again, err := b.topics.Create("race", 5, nil)
	if err != nil || again != tp {
		t.Errorf("Create of an existing topic: %v, %v", again, err)
	}
	if _, err := b.topics.Create("bad name", 1, nil); !errors.Is(err, kerr.InvalidTopicException) {
		t.Errorf("Create with a bad name: %v", err)
	}
	if _, err := b.topics.Create("badconf", 1, map[string]string{"cleanup.policy": "compact,shred"}); !errors.Is(err, kerr.InvalidConfig) {
		t.Errorf("Create with a bad cleanup.policy: %v", err)
	}
	if got := fmt.Sprint(topicNames(b.topics.List())); got != "[race]" {
		t.Errorf("topics: %s", got)
	}
}

// BenchmarkTopicsGet is the data path's lookup of a topic by name.
func BenchmarkTopicsGet(b *testing.B) {
	ab := admOpen(b, b.TempDir(), TopicDefaults{})
	defer ab.close()
	for i := 0; i < 1000; i++ {
		if _, err := ab.topics.Create(fmt.Sprintf("t%04d", i), 1, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, ok := ab.topics.Get(fmt.Sprintf("t%04d", i%1000)); !ok {
				b.Fatal("missing")
			}
			i++
		}
	})
}

// BenchmarkTopicsCreate creates topics of 4 partitions (durable record,
// store partitions, retention).
func BenchmarkTopicsCreate(b *testing.B) {
	ab := admOpen(b, b.TempDir(), TopicDefaults{})
	defer ab.close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := ab.topics.create(fmt.Sprintf("c%08d", i), 4, map[string]string{"retention.ms": "60000"}, false); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTopicsReload measures a restart's reload of 1000 topics of 4
// partitions.
func BenchmarkTopicsReload(b *testing.B) {
	dir := b.TempDir()
	ab := admOpen(b, dir, TopicDefaults{})
	for i := 0; i < 1000; i++ {
		if _, err := ab.topics.Create(fmt.Sprintf("r%04d", i), 4, map[string]string{"retention.bytes": "1000000"}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tp, err := newTopics(ab.store, TopicDefaults{}, zap.NewNop())
		if err != nil || len(tp.List()) != 1000 {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	ab.close()
}

// TestTopicsOwnedDurable checks the partitions a broker group owns of a
// topic spread over groups: only those exist in the store, and the set
// (including "none") survives alters and a restart. It builds the topics
// the way a placement does, below the admin API.
func TestTopicsOwnedDurable(t *testing.T) {
	dir := t.TempDir()
	b := admOpen(t, dir, TopicDefaults{})
	changes := 0
	b.topics.OnChange(func() { changes++ })
	place := func(name string, n int32, owned []int32) *Topic {
		tp := b.topics.snapshot(name, storage.TopicID{byte(len(name)), 7}, n, map[string]string{})
		tp.Owned = owned
		if err := b.topics.ensurePartitions(tp, 0); err != nil {
			t.Fatal(err)
		}
		if err := b.topics.persist(tp); err != nil {
			t.Fatal(err)
		}
		b.topics.swap(tp)
		return tp
	}
	some := place("some", 4, []int32{1, 3})
	place("none", 2, []int32{})
	for p := int32(0); p < 4; p++ {
		if got := b.store.Partition(some.ID, p) != nil; got != (p == 1 || p == 3) {
			t.Errorf("some-%d in the store: %v", p, got)
		}
	}
	if err := b.topics.setConfigs("some", map[string]string{"retention.ms": "1000"}, false); err != nil {
		t.Fatal(err)
	}
	if err := b.topics.addPartitions("some", 6, false); err != nil {
		t.Fatal(err)
	}
	if changes != 2 {
		t.Errorf("OnChange called %d times, want 2", changes)
	}
	b.close()

	b = admOpen(t, dir, TopicDefaults{})
	defer b.close()
	s, _ := b.topics.Get("some")
	n, _ := b.topics.Get("none")
	if !slices.Equal(s.Owned, []int32{1, 3}) || s.Partitions != 6 || s.RetentionMs != 1000 {
		t.Errorf("some after restart: %+v", s)
	}
	if n.Owned == nil || len(n.Owned) != 0 {
		t.Errorf("none after restart: owned %v, want empty (not nil)", n.Owned)
	}
	if b.store.Partition(s.ID, 4) != nil || b.store.Partition(s.ID, 0) != nil || b.store.Partition(s.ID, 3) == nil {
		t.Errorf("store partitions of some after restart")
	}
	// DeleteRecords on a partition another group owns: NOT_LEADER_OR_FOLLOWER.
	dr := kmsg.NewPtrDeleteRecordsRequest()
	dr.Version = 2
	dr.Topics = []kmsg.DeleteRecordsRequestTopic{{Topic: "some", Partitions: []kmsg.DeleteRecordsRequestTopicPartition{{Partition: 0, Offset: -1}, {Partition: 1, Offset: -1}}}}
	ps := b.call(dr).(*kmsg.DeleteRecordsResponse).Topics[0].Partitions
	if len(ps) != 2 || ps[0].ErrorCode != kerr.NotLeaderForPartition.Code || ps[1].ErrorCode != 0 || ps[1].LowWatermark != 0 {
		t.Errorf("delete records on a spread topic: %+v", ps)
	}
	whole, err := b.topics.Create("whole", 2, nil)
	if err != nil || whole.Owned != nil || !whole.hosts(0) || !whole.hosts(1) || whole.hosts(2) {
		t.Errorf("a topic created here owns every partition: %+v %v", whole, err)
	}
}
