package broker

// The upgrade path for data: a data directory written by an earlier commit
// of gregor (storage/testdata/upgrade-<commit>/data.tar.gz) opens in this
// one with everything it served still served, equal; and a data directory
// of a later format is refused with a message, nothing changed.
//
// A fixture is made by TestUpgradeGenerate, run against that commit's
// binary (see its comment); the directory holds the data (tar.gz, the
// segments' preallocated zeros compress away) and expected.json, what the
// earlier binary served over Kafka just before it stopped.

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/storage"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// upgradeState is what a broker serves of the fixture's data, read over
// Kafka the same way from the earlier binary and from this one.
type upgradeState struct {
	NodeID    int32                      `json:"node_id"`
	ClusterID string                     `json:"cluster_id"`
	Topics    []upgradeTopic             `json:"topics"`
	Records   map[string][]upgradeRecord `json:"records"`
	Offsets   []upgradeOffset            `json:"offsets"`
}

type upgradeTopic struct {
	Name       string            `json:"name"`
	ID         string            `json:"id"`
	Partitions int               `json:"partitions"`
	Configs    map[string]string `json:"configs"` // set on the topic
}

type upgradeRecord struct {
	Partition int32             `json:"partition"`
	Offset    int64             `json:"offset"`
	Key       string            `json:"key"`
	Value     string            `json:"value"`
	Headers   map[string]string `json:"headers,omitempty"`
	Timestamp int64             `json:"timestamp"`
}

type upgradeOffset struct {
	Group     string `json:"group"`
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	Metadata  string `json:"metadata"`
}

// upgradeProducer is the idempotent producer whose state must survive.
type upgradeProducer struct {
	Topic string `json:"topic"`
	ID    int64  `json:"id"`
	Epoch int16  `json:"epoch"`
	// Batches are the first sequence and base offset of each batch sent,
	// 3 records each.
	Batches [][2]int64 `json:"batches"`
}

// upgradeTxn is a transactional producer whose coordinator state must
// survive: its transactional id and the producer id and epoch it had.
type upgradeTxn struct {
	TransactionalID string `json:"transactional_id"`
	ID              int64  `json:"id"`
	Epoch           int16  `json:"epoch"`
}

type upgradeFixture struct {
	Commit   string          `json:"commit"`
	Made     string          `json:"made"`
	State    upgradeState    `json:"state"`
	Producer upgradeProducer `json:"producer"`
	Txn      *upgradeTxn     `json:"txn,omitempty"`
}

const upgradeGroup = "upgrade-group"

// readUpgradeState reads every user topic whole, the group's offsets and
// the cluster's identity from the broker at addr.
func readUpgradeState(t *testing.T, addr string) upgradeState {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	var st upgradeState
	md, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
	if err != nil || md.ClusterID == nil || len(md.Brokers) != 1 {
		t.Fatalf("metadata: %v %+v", err, md)
	}
	st.NodeID, st.ClusterID = md.Brokers[0].NodeID, *md.ClusterID
	tds, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st.Records = map[string][]upgradeRecord{}
	for _, td := range tds.Sorted() {
		ut := upgradeTopic{Name: td.Topic, ID: topicID(td.ID), Partitions: len(td.Partitions), Configs: map[string]string{}}
		rcs, err := adm.DescribeTopicConfigs(ctx, td.Topic)
		if err != nil {
			t.Fatal(err)
		}
		for _, rc := range rcs {
			for _, c := range rc.Configs {
				if c.Source == kmsg.ConfigSourceDynamicTopicConfig && c.Value != nil {
					ut.Configs[c.Key] = *c.Value
				}
			}
		}
		st.Topics = append(st.Topics, ut)
		st.Records[td.Topic] = readWholeTopic(t, ctx, addr, adm, td.Topic)
	}
	resp, err := adm.FetchOffsets(ctx, upgradeGroup)
	if err != nil {
		t.Fatal(err)
	}
	resp.Each(func(o kadm.OffsetResponse) {
		st.Offsets = append(st.Offsets, upgradeOffset{Group: upgradeGroup, Topic: o.Topic, Partition: o.Partition, Offset: o.At, Metadata: o.Metadata})
	})
	sort.Slice(st.Offsets, func(i, j int) bool {
		a, b := st.Offsets[i], st.Offsets[j]
		return a.Topic < b.Topic || a.Topic == b.Topic && a.Partition < b.Partition
	})
	return st
}

func topicID(id kadm.TopicID) string { return fmt.Sprintf("%x", id[:]) }

// readWholeTopic consumes topic from its start to its end offsets.
func readWholeTopic(t *testing.T, ctx context.Context, addr string, adm *kadm.Client, topic string) []upgradeRecord {
	t.Helper()
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			want[o.Partition] = o.Offset
		}
	})
	out := []upgradeRecord{}
	if len(want) == 0 {
		return out
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for len(want) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %s: partitions %v not read to their end", topic, want)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("reading %s: %v", topic, err) })
		fs.EachRecord(func(r *kgo.Record) {
			u := upgradeRecord{Partition: r.Partition, Offset: r.Offset, Key: string(r.Key), Value: shortValue(r.Value), Timestamp: r.Timestamp.UnixMilli()}
			for _, h := range r.Headers {
				if u.Headers == nil {
					u.Headers = map[string]string{}
				}
				u.Headers[h.Key] = string(h.Value)
			}
			out = append(out, u)
			if end, ok := want[r.Partition]; ok && r.Offset+1 >= end {
				delete(want, r.Partition)
			}
		})
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Partition < out[j].Partition || out[i].Partition == out[j].Partition && out[i].Offset < out[j].Offset
	})
	return out
}

// shortValue is a value as the fixture keeps it: itself when short, else
// its length and a SHA-256 prefix (expected.json stays small).
func shortValue(v []byte) string {
	if len(v) <= 64 {
		return string(v)
	}
	sum := sha256.Sum256(v)
	return fmt.Sprintf("%d bytes, sha256 %x", len(v), sum[:8])
}

// TestUpgradeGenerate writes a fixture with an earlier gregor binary:
//
//	git worktree add --detach /tmp/old <commit> && (cd /tmp/old && go build -o /tmp/gregor-old ./cmd/gregor)
//	GREGOR_UPGRADE_BIN=/tmp/gregor-old GREGOR_UPGRADE_COMMIT=<commit> [GREGOR_UPGRADE_TXN=1] \
//	    go test -count=1 -run TestUpgradeGenerate ./broker/
//
// It writes topics with keyed records with headers over 1 MiB segments, a
// compacted topic (waiting for the earlier binary to compact it), a
// group's committed offsets with metadata and an idempotent producer's
// batches (and, with GREGOR_UPGRADE_TXN, committed and aborted
// transactions), reads all of it back (read_committed), stops the binary and stores the data
// and what was read in storage/testdata/upgrade-<commit>/.
func TestUpgradeGenerate(t *testing.T) {
	bin, commit := os.Getenv("GREGOR_UPGRADE_BIN"), os.Getenv("GREGOR_UPGRADE_COMMIT")
	if bin == "" || commit == "" {
		t.Skip("set GREGOR_UPGRADE_BIN and GREGOR_UPGRADE_COMMIT to write a fixture")
	}
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, "standalone", "--data-dir", dir, "--listeners", "PLAINTEXT://"+addr,
		"--http.listener", "", "--log.segment.bytes", "1048576", "--log.flush.offset.checkpoint.interval.ms", "200",
		"--group.initial.rebalance.delay.ms", "0", "--num.partitions", "1", "--message.max.bytes", "524288")
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("earlier binary's log:\n%s", logs.String())
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if _, err := adm.ListTopics(ctx); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("the earlier binary does not answer: %v", err)
		}
	}
	ms := func(s string) *string { return &s }
	for _, c := range []struct {
		name  string
		parts int32
		cfg   map[string]*string
	}{
		{"orders", 3, map[string]*string{"retention.ms": ms("604800000")}},
		{"compacted", 1, map[string]*string{"cleanup.policy": ms("compact"), "min.cleanable.dirty.ratio": ms("0.01"), "segment.ms": ms("100")}},
		{"idem", 1, nil},
	} {
		if r, err := adm.CreateTopic(ctx, c.parts, 1, c.cfg, c.name); err != nil || r.Err != nil {
			t.Fatalf("create %s: %v %v", c.name, err, r.Err)
		}
	}
	// The compacted topic first, 20 keys written 10 times each, so the
	// segment it is in is closed by what follows and can be compacted.
	// One batch each round.
	var recs []*kgo.Record
	for round := 0; round < 10; round++ {
		recs = recs[:0]
		for k := 0; k < 20; k++ {
			recs = append(recs, &kgo.Record{Topic: "compacted", Key: []byte(fmt.Sprintf("key-%02d", k)), Value: []byte(fmt.Sprintf("round-%d", round))})
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	// Keyed records with headers over the segments: 3 partitions × 100
	// records of ~8 KiB roll the 1 MiB segments twice.
	recs = nil
	for i := 0; i < 300; i++ {
		recs = append(recs, &kgo.Record{Topic: "orders", Partition: int32(i % 3), Key: []byte(fmt.Sprintf("k%03d", i)),
			Value:   []byte(fmt.Sprintf("v%03d-%s", i, strings.Repeat(string(rune('a'+i%26)), 7800+i))),
			Headers: []kgo.RecordHeader{{Key: "h", Value: []byte(fmt.Sprint(i))}, {Key: "src", Value: []byte(commit)}}})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// Committed offsets with metadata.
	var offs kadm.Offsets
	for p := int32(0); p < 3; p++ {
		offs.Add(kadm.Offset{Topic: "orders", Partition: p, At: int64(100 + p), LeaderEpoch: -1, Metadata: fmt.Sprintf("meta-%d", p)})
	}
	if r, err := adm.CommitOffsets(ctx, upgradeGroup, offs); err != nil || r.Error() != nil {
		t.Fatalf("commit: %v %v", err, r.Error())
	}
	// An idempotent producer's batches, raw, so its id and sequences are known.
	ip := initPID(t, cl, 4, -1, -1, nil)
	if ip.ErrorCode != 0 {
		t.Fatalf("InitProducerID: %v", kerr.ErrorForCode(ip.ErrorCode))
	}
	prod := upgradeProducer{Topic: "idem", ID: ip.ProducerID, Epoch: ip.ProducerEpoch}
	for seq := int32(0); seq < 9; seq += 3 {
		r := idemProduce(t, cl, "idem", idemBatch(ip.ProducerID, ip.ProducerEpoch, seq, "a", "b", "c"))
		if r.ErrorCode != 0 {
			t.Fatalf("idempotent produce: %v", kerr.ErrorForCode(r.ErrorCode))
		}
		prod.Batches = append(prod.Batches, [2]int64{int64(seq), r.BaseOffset})
	}
	// With GREGOR_UPGRADE_TXN (a commit with transactions): a committed
	// and an aborted transaction, then a plain record, so the topic ends
	// with a record read_committed returns.
	var txn *upgradeTxn
	if os.Getenv("GREGOR_UPGRADE_TXN") != "" {
		if r, err := adm.CreateTopic(ctx, 1, 1, nil, "txn"); err != nil || r.Err != nil {
			t.Fatalf("create txn: %v %v", err, r.Err)
		}
		tcl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.TransactionalID("upgrade-txn"), kgo.ProducerLinger(0))
		if err != nil {
			t.Fatal(err)
		}
		defer tcl.Close()
		for i, commit := range []bool{true, false, true} {
			if err := tcl.BeginTransaction(); err != nil {
				t.Fatal(err)
			}
			for j := 0; j < 3; j++ {
				r := &kgo.Record{Topic: "txn", Key: []byte(fmt.Sprintf("t%d", i)), Value: []byte(fmt.Sprintf("txn-%d-%d-%v", i, j, commit))}
				if err := tcl.ProduceSync(ctx, r).FirstErr(); err != nil {
					t.Fatal(err)
				}
			}
			if err := tcl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
				t.Fatal(err)
			}
		}
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "txn", Value: []byte("tail")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		id, epoch, err := tcl.ProducerID(ctx)
		if err != nil {
			t.Fatal(err)
		}
		txn = &upgradeTxn{TransactionalID: "upgrade-txn", ID: id, Epoch: epoch}
	}
	// Wait for the earlier binary to compact (its round runs every 15 s).
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(time.Second) {
		if n := len(readWholeTopic(t, ctx, addr, adm, "compacted")); n <= 40 {
			break
		} else if time.Now().After(deadline) {
			t.Logf("the compacted topic still has %d records; the fixture holds them uncompacted\n%s", n, logs.String())
			break
		}
	}
	st := readUpgradeState(t, addr)
	time.Sleep(time.Second) // a checkpoint
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("earlier binary: %v", err)
	}

	out := filepath.Join("..", "storage", "testdata", "upgrade-"+commit)
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command("tar", "-czf", filepath.Join(out, "data.tar.gz"), "-C", dir, ".").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v %s", err, b)
	}
	fx := upgradeFixture{Commit: commit, Made: "TestUpgradeGenerate (broker/upgrade_test.go)", State: st, Producer: prod, Txn: txn}
	b, _ := json.MarshalIndent(fx, "", " ")
	if err := os.WriteFile(filepath.Join(out, "expected.json"), append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

// extractFixture unpacks a fixture's data.tar.gz into a new directory.
func extractFixture(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return dir
		}
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Join(dir, filepath.Clean("/"+h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(name, 0o755); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			w, err := os.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(w, tr); err != nil {
				t.Fatal(err)
			}
			w.Close()
		}
	}
}

// TestUpgradeFromEarlierCommits opens every fixture's data directory with
// this binary's broker and finds what the earlier one served: the topics
// with their ids and configs, every record with its offset, key, value,
// headers and timestamp (the compacted topic as compacted), the group's
// committed offsets with their metadata, the cluster id, and the
// idempotent producer's state (a retried batch gets its first offset
// back, the next sequence is taken, a gap is refused). Then it reopens
// the directory as this binary left it and finds the same again.
func TestUpgradeFromEarlierCommits(t *testing.T) {
	fixtures, _ := filepath.Glob(filepath.Join("..", "storage", "testdata", "upgrade-*", "expected.json"))
	if len(fixtures) == 0 {
		t.Fatal("no fixture in storage/testdata/upgrade-*")
	}
	for _, fxPath := range fixtures {
		var fx upgradeFixture
		b, err := os.ReadFile(fxPath)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &fx); err != nil {
			t.Fatal(err)
		}
		t.Run(fx.Commit, func(t *testing.T) {
			dir := extractFixture(t, filepath.Join(filepath.Dir(fxPath), "data.tar.gz"))
			cb := coreStart(t, dir, func(c *Config) {
				c.NodeID = fx.State.NodeID
				c.Store.SegmentBytes = 1 << 20
				c.Store.CompactionInterval = time.Hour // what the earlier one served, not a new round
			})
			check := func(when string) {
				t.Helper()
				got := readUpgradeState(t, cb.addr)
				if !reflect.DeepEqual(got, fx.State) {
					gj, _ := json.MarshalIndent(got, "", " ")
					t.Fatalf("%s: this binary serves\n%.4000s\nthe earlier one served\n%.4000s", when, gj, b)
				}
			}
			check("opened")

			cl := cb.client()
			p := fx.Producer
			last := p.Batches[len(p.Batches)-1]
			r := idemProduce(t, cl, p.Topic, idemBatch(p.ID, p.Epoch, int32(last[0]), "a", "b", "c"))
			if r.ErrorCode != 0 || r.BaseOffset != last[1] {
				t.Fatalf("the last batch retried: %v at %d, want its offset %d", kerr.ErrorForCode(r.ErrorCode), r.BaseOffset, last[1])
			}
			r = idemProduce(t, cl, p.Topic, idemBatch(p.ID, p.Epoch, int32(last[0])+10, "gap"))
			if r.ErrorCode != kerr.OutOfOrderSequenceNumber.Code {
				t.Fatalf("a sequence gap: %v, want OUT_OF_ORDER_SEQUENCE_NUMBER", kerr.ErrorForCode(r.ErrorCode))
			}
			r = idemProduce(t, cl, p.Topic, idemBatch(p.ID, p.Epoch, int32(last[0])+3, "d"))
			if r.ErrorCode != 0 || r.BaseOffset != last[1]+3 {
				t.Fatalf("the next sequence: %v at %d, want offset %d", kerr.ErrorForCode(r.ErrorCode), r.BaseOffset, last[1]+3)
			}
			recs := fx.State.Records[p.Topic]
			fx.State.Records[p.Topic] = append(recs, upgradeRecord{Partition: 0, Offset: last[1] + 3, Value: "d"})

			// The directory says this binary's format now.
			if b, err := os.ReadFile(filepath.Join(dir, "FORMAT")); err != nil || string(b) != "gregor storage format 2\n" {
				t.Fatalf("FORMAT after the upgrade: %q, %v", b, err)
			}

			// This binary's own restart of the upgraded directory.
			cb.restart()
			got := readUpgradeState(t, cb.addr)
			if n := len(got.Records[p.Topic]); n > 0 {
				got.Records[p.Topic][n-1].Timestamp = 0 // this run's
			}
			if !reflect.DeepEqual(got, fx.State) {
				gj, _ := json.MarshalIndent(got, "", " ")
				t.Fatalf("after a restart this binary serves\n%.4000s", gj)
			}

			// The transactional producer's coordinator state: its
			// transactional id gets its producer id back, one epoch on.
			if tx := fx.Txn; tx != nil {
				r := initPID(t, cb.client(), 4, -1, -1, &tx.TransactionalID)
				if r.ErrorCode != 0 || r.ProducerID != tx.ID || r.ProducerEpoch != tx.Epoch+1 {
					t.Fatalf("InitProducerID(%s): %v id %d epoch %d, want id %d epoch %d", tx.TransactionalID,
						kerr.ErrorForCode(r.ErrorCode), r.ProducerID, r.ProducerEpoch, tx.ID, tx.Epoch+1)
				}
			}

			// With the earlier binary at hand (as for TestUpgradeGenerate),
			// it refuses the upgraded directory instead of misreading it.
			if bin := os.Getenv("GREGOR_UPGRADE_BIN"); bin != "" && os.Getenv("GREGOR_UPGRADE_COMMIT") == fx.Commit {
				cb.stop()
				out, err := exec.Command(bin, "standalone", "--data-dir", dir, "--listeners", "PLAINTEXT://127.0.0.1:0",
					"--http.listener", "", "--log.segment.bytes", "1048576", "--message.max.bytes", "524288").CombinedOutput()
				if err == nil || !strings.Contains(string(out), "written by a later release") {
					t.Fatalf("the earlier binary on the upgraded directory: %v\n%s", err, out)
				}
				t.Logf("the earlier binary refuses the upgraded directory: %s", strings.TrimSpace(string(out)))
			}
		})
	}
}

// TestUpgradeRefusesLaterFormat: a data directory whose FORMAT a later
// release wrote is refused by New with a message that says so and what to
// do, and nothing in it changes.
func TestUpgradeRefusesLaterFormat(t *testing.T) {
	fixtures, _ := filepath.Glob(filepath.Join("..", "storage", "testdata", "upgrade-*", "data.tar.gz"))
	if len(fixtures) == 0 {
		t.Fatal("no fixture in storage/testdata/upgrade-*")
	}
	dir := extractFixture(t, fixtures[0])
	if err := os.WriteFile(filepath.Join(dir, "FORMAT"), []byte("gregor storage format 99\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := dirDigest(t, dir)
	_, err := New(Config{
		Listeners: []Listener{{Name: "PLAINTEXT", Address: "127.0.0.1:0"}},
		Store:     storage.Config{Dir: dir, SegmentBytes: 1 << 20},
	})
	if err == nil {
		t.Fatal("a data directory of format 99 was opened")
	}
	for _, w := range []string{"format 99", "written by a later release", "run the release that wrote it", "nothing was changed"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
	if after := dirDigest(t, dir); after != before {
		t.Fatalf("the refused directory changed:\n%s\n%s", before, after)
	}
}

// dirDigest lists every file of dir with its size and modification time.
func dirDigest(t *testing.T, dir string) string {
	t.Helper()
	var sb strings.Builder
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		fmt.Fprintf(&sb, "%s %d %d\n", strings.TrimPrefix(p, dir), fi.Size(), fi.ModTime().UnixNano())
		return nil
	})
	return sb.String()
}
