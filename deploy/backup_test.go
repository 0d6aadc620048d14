package deploy_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// standalone starts `gregor` (NameServer and broker in one process) on
// data, and waits until it is ready; it returns the process and its Kafka
// address.
func standalone(t *testing.T, dir, name, data string) (*proc, string) {
	t.Helper()
	kafka, http := freeAddr(t), freeAddr(t)
	p := start(t, dir, name, "--listeners", "PLAINTEXT://"+kafka, "--http.listener", http,
		"--data-dir", data, "--log.segment.bytes", fmt.Sprint(4<<20),
		"--group.initial.rebalance.delay.ms", "0", "--logger.level", "warn")
	ready(t, p, http)
	return p, kafka
}

// snapshot is what a broker serves of the test's data over Kafka.
type snapshot struct {
	clusterID string
	topicID   string
	config    string
	records   []string // partition/offset key=value headers
	committed []string // partition=offset
}

func read(t *testing.T, kafka string, n int) snapshot {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(kafka), kgo.ConsumeTopics("ledger"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.RequestRetries(20))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	var s snapshot
	md, err := adm.Metadata(ctx, "ledger")
	if err != nil {
		t.Fatal(err)
	}
	s.clusterID = md.Cluster
	s.topicID = fmt.Sprint(md.Topics["ledger"].ID)
	rc, err := adm.DescribeTopicConfigs(ctx, "ledger")
	if err != nil {
		t.Fatal(err)
	}
	if c, err := rc.On("ledger", nil); err == nil {
		for _, kv := range c.Configs {
			if kv.Key == "retention.ms" && kv.Value != nil {
				s.config = kv.Key + "=" + *kv.Value
			}
		}
	}
	for len(s.records) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read %d of %d records: %v", len(s.records), n, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			var h []string
			for _, hd := range r.Headers {
				h = append(h, hd.Key+":"+string(hd.Value))
			}
			s.records = append(s.records, fmt.Sprintf("%d/%d %s=%s %s", r.Partition, r.Offset, r.Key, r.Value, strings.Join(h, ",")))
		})
	}
	sort.Strings(s.records)
	os, err := adm.FetchOffsets(ctx, "audit")
	if err != nil {
		t.Fatal(err)
	}
	os.Each(func(o kadm.OffsetResponse) {
		s.committed = append(s.committed, fmt.Sprintf("%s/%d=%d", o.Topic, o.Partition, o.At))
	})
	sort.Strings(s.committed)
	return s
}

// TestBackupRestore follows docs/operations.md "Backup and restore": stop
// the broker, archive its data directory with tar, unpack the archive
// elsewhere and start a broker there: it serves the same records (offsets,
// keys, values, headers), the same topic id and config, the same cluster
// id and the group's committed offsets.
func TestBackupRestore(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	p, kafka := standalone(t, dir, "original", data)

	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(kafka), kgo.RequestRetries(20))
	if err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(cl)
	ret := "604800000"
	if r, err := adm.CreateTopic(ctx, 3, -1, map[string]*string{"retention.ms": &ret}, "ledger"); err != nil || r.Err != nil {
		t.Fatalf("create topic: %v %v", err, r.Err)
	}
	const n = 300
	for i := 0; i < n; i++ {
		r := &kgo.Record{Topic: "ledger", Partition: int32(i % 3), Key: []byte(fmt.Sprint("k", i)),
			Value: []byte(fmt.Sprint("entry-", i)), Headers: []kgo.RecordHeader{{Key: "seq", Value: []byte(fmt.Sprint(i))}}}
		cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce: %v", err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var offs kadm.Offsets
	for p := int32(0); p < 3; p++ {
		offs.Add(kadm.Offset{Topic: "ledger", Partition: p, At: int64(10 * (p + 1)), LeaderEpoch: -1})
	}
	if r, err := adm.CommitOffsets(ctx, "audit", offs); err != nil || r.Error() != nil {
		t.Fatalf("commit: %v %v", err, r.Error())
	}
	cl.Close()
	before := read(t, kafka, n)

	// The procedure: stop, archive, restore elsewhere, start there.
	p.stop()
	archive := filepath.Join(dir, "gregor-backup.tar.gz")
	restored := filepath.Join(dir, "restored")
	for _, c := range [][]string{
		{"tar", "-C", data, "-czf", archive, "."},
		{"mkdir", "-p", restored},
		{"tar", "-C", restored, "-xzf", archive},
	} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(c, " "), err, out)
		}
	}
	if err := os.RemoveAll(data); err != nil { // nothing can come from the original
		t.Fatal(err)
	}
	_, kafka2 := standalone(t, dir, "restored", restored)
	after := read(t, kafka2, n)

	if before.clusterID == "" || before.clusterID != after.clusterID {
		t.Errorf("cluster id %q, restored %q", before.clusterID, after.clusterID)
	}
	if before.topicID != after.topicID || after.config != "retention.ms="+ret {
		t.Errorf("topic id %s config %q, restored %s %q", before.topicID, before.config, after.topicID, after.config)
	}
	if len(after.records) != n || strings.Join(before.records, "\n") != strings.Join(after.records, "\n") {
		t.Errorf("records differ: %d before, %d restored", len(before.records), len(after.records))
	}
	if want := "[ledger/0=10 ledger/1=20 ledger/2=30]"; fmt.Sprint(after.committed) != want {
		t.Errorf("committed offsets %v, restored %v, want %s", before.committed, after.committed, want)
	}
}
