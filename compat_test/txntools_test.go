package compat

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// apisTxnTools is what kafka-transactions and kafka-consumer-groups ask of
// a broker on top of the transactions themselves.
var apisTxnTools = join(apisTxn, []kmsg.Key{kmsg.ListTransactions, kmsg.DescribeTransactions,
	kmsg.DescribeProducers, kmsg.DescribeGroups, kmsg.ListGroups})

// TestTxnTools runs Kafka's kafka-transactions (TransactionsCommand: list,
// describe, describe-producers) and kafka-consumer-groups
// (ConsumerGroupCommand --describe, --describe --state) of the reference
// version after the same transactional work on every target, and compares
// what each gregor target's tools print with what Kafka's print, line by
// line, after masking what differs from run to run (txnToolsMask).
//
// The work: the Java client's read-process-write loop (Main txn: group G
// reads IN, transactional id X writes OUT with sendOffsetsToTransaction,
// then one aborted transaction), and a franz-go transactional producer Y
// that writes 5 records to HOLD and keeps its transaction open while the
// tools run, with an offset of group G2 in it (IN-1 at 5, committed at 3
// before); Y then commits and is described once more. Kafka's own output
// must show X CompleteAbort and Y Ongoing (then CompleteCommit) on HOLD-0,
// one producer on HOLD-0 whose transaction starts at offset 0, G's
// committed offsets at the end of every IN partition (lag 0), and G2 at 3
// while Y's offset is pending (the tool does not ask for stable offsets),
// at 5 after Y's commit.
func TestTxnTools(t *testing.T) {
	versions, err := javaVersions()
	if err != nil || len(versions) == 0 {
		t.Fatalf("scripts/kafka.sh client-versions: %v %q", err, versions)
	}
	v := versions[0]
	rows := [][2]string{
		{"kafka-transactions " + v, "list, describe, describe-producers after transactional read-process-write: output equal to Kafka's (ids and times masked)"},
		{"kafka-consumer-groups " + v, "--describe, --describe --state of a group that committed offsets in transactions: output equal to Kafka's"},
	}
	setAll := func(tg *target, s string) {
		for _, r := range rows {
			results.set(r[0], r[1], tg.name, s)
		}
	}
	var ref *target
	for _, tg := range targets {
		if tg.name == "kafka" {
			ref = tg
		}
	}
	if ref == nil {
		for _, tg := range targets {
			if !tg.inproc {
				setAll(tg, "skip: no kafka target")
			}
		}
		t.Skip("the reference Kafka is not among COMPAT_TARGETS")
	}
	var want map[string]string
	t.Run("kafka", func(t *testing.T) {
		defer func() {
			if t.Failed() {
				setAll(ref, "FAIL")
			} else {
				setAll(ref, "pass")
			}
		}()
		if ref.down != "" {
			t.Fatalf("the reference Kafka is down: %s", ref.down)
		}
		want = txnToolsRun(t, ref, v)
		checkTxnToolsKafka(t, want)
	})
	for _, tg := range targets {
		if tg == ref || tg.inproc {
			continue
		}
		t.Run(tg.name, func(t *testing.T) {
			failed := map[string]bool{}
			defer func() {
				for _, r := range rows {
					switch {
					case t.Skipped():
					case failed[r[0]] || t.Failed() && len(failed) == 0:
						results.set(r[0], r[1], tg.name, "FAIL")
					default:
						results.set(r[0], r[1], tg.name, "pass")
					}
				}
			}()
			if want == nil {
				t.Fatal("no output from the reference Kafka to compare with")
			}
			if tg.down != "" {
				t.Fatalf("target %s is down: %s", tg.name, tg.down)
			}
			var missing []string
			for _, k := range apisTxnTools {
				if _, ok := tg.apis[int16(k)]; !ok {
					missing = append(missing, k.Name())
				}
			}
			if len(missing) > 0 {
				setAll(tg, "skip: no "+strings.Join(missing, ", "))
				t.Skipf("%s does not implement %s", tg.name, strings.Join(missing, ", "))
			}
			got := txnToolsRun(t, tg, v)
			for _, cmd := range txnToolsCommands {
				if got[cmd] != want[cmd] {
					failed[txnToolsRow(cmd, rows)] = true
					t.Errorf("%s prints on %s:\n%s\nKafka prints:\n%s", cmd, tg.name, got[cmd], want[cmd])
				}
			}
		})
	}
}

// txnToolsCommands are the tool runs, in order, by the names txnToolsRun
// gives them.
var txnToolsCommands = []string{
	"kafka-transactions list",
	"kafka-transactions describe --transactional-id X",
	"kafka-transactions describe --transactional-id Y",
	"kafka-transactions describe-producers --topic HOLD --partition 0",
	"kafka-transactions describe-producers --topic OUT --partition 0",
	"kafka-consumer-groups --describe --group G",
	"kafka-consumer-groups --describe --state --group G",
	"kafka-transactions describe --transactional-id Y (after its commit)",
	"kafka-consumer-groups --describe --group G2 (an offset pending in Y's open transaction)",
	"kafka-consumer-groups --describe --group G2 (after Y's commit)",
}

func txnToolsRow(cmd string, rows [][2]string) string {
	if strings.HasPrefix(cmd, "kafka-consumer-groups") {
		return rows[1][0]
	}
	return rows[0][0]
}

// txnToolsRun does the transactional work on tg, runs the tools and returns
// their masked output by command.
func txnToolsRun(t *testing.T, tg *target, v string) map[string]string {
	t.Helper()
	start := time.Now()
	in := newTopic(t, tg, "tt-in", 3)
	out := newTopic(t, tg, "tt-out", 2)
	hold := newTopic(t, tg, "tt-hold", 1)
	group, group2, x, y := uniq("g-tt"), uniq("g-tt2"), uniq("tt-x"), uniq("tt-y")
	names := map[string]string{in: "IN", out: "OUT", hold: "HOLD", group: "G", group2: "G2", x: "X", y: "Y"}
	const n = 60
	produceKnown(t, tg, in, "franz", n)
	lines := javaRun(t, v, "txn", "--bootstrap", tg.addr, "--topic", in, "--out", out, "--group", group,
		"--txn-id", x, "--count", strconv.Itoa(n), "--aborted", "5")
	if len(lines) != n+1 {
		t.Fatalf("the Java loop printed %d lines, want %d moved and 1 aborted", len(lines), n)
	}

	cl := newClient(t, tg, kgo.TransactionalID(y), kgo.DefaultProduceTopic(hold), kgo.TransactionTimeout(60*time.Second))
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	var rs []*kgo.Record
	for i := 0; i < 5; i++ {
		rs = append(rs, &kgo.Record{Key: []byte("k"), Value: []byte(fmt.Sprintf("open-%d", i))})
	}
	if err := cl.ProduceSync(ctxT(t, 30*time.Second), rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// G2 has committed IN-1 at 3; Y's open transaction commits it at 5
	// (AddOffsetsToTxn, TxnOffsetCommit), pending until Y ends.
	commitGroup(t, tg, group2, in, map[int32]int64{1: 3})
	ctx := ctxT(t, 30*time.Second)
	pid, epoch, err := cl.ProducerID(ctx)
	if err != nil {
		t.Fatalf("Y's producer id: %v", err)
	}
	add := kmsg.NewPtrAddOffsetsToTxnRequest()
	add.TransactionalID, add.ProducerID, add.ProducerEpoch, add.Group = y, pid, epoch, group2
	if resp, err := add.RequestWith(ctx, cl); err != nil || resp.ErrorCode != 0 {
		t.Fatalf("AddOffsetsToTxn: %v %+v", err, resp)
	}
	toc := kmsg.NewPtrTxnOffsetCommitRequest()
	toc.TransactionalID, toc.Group, toc.ProducerID, toc.ProducerEpoch, toc.Generation = y, group2, pid, epoch, -1
	td, err := newAdmin(t, tg).ListTopics(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	tp := kmsg.NewTxnOffsetCommitRequestTopic()
	tp.Topic, tp.TopicID = in, td[in].ID // v6 names topics by id
	pp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
	pp.Partition, pp.Offset, pp.LeaderEpoch = 1, 5, -1
	tp.Partitions = append(tp.Partitions, pp)
	toc.Topics = append(toc.Topics, tp)
	if resp, err := toc.RequestWith(ctx, cl); err != nil || len(resp.Topics) != 1 || resp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("TxnOffsetCommit: %v %+v", err, resp)
	}

	txns := func(args ...string) string {
		return kafkaTool(t, "org.apache.kafka.tools.TransactionsCommand", append([]string{"--bootstrap-server", tg.addr}, args...)...)
	}
	groups := func(args ...string) string {
		return kafkaTool(t, "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand", append([]string{"--bootstrap-server", tg.addr}, args...)...)
	}
	raw := map[string]string{}
	raw[txnToolsCommands[0]] = txns("list")
	raw[txnToolsCommands[1]] = txns("describe", "--transactional-id", x)
	raw[txnToolsCommands[2]] = txns("describe", "--transactional-id", y)
	raw[txnToolsCommands[3]] = txns("describe-producers", "--topic", hold, "--partition", "0")
	raw[txnToolsCommands[4]] = txns("describe-producers", "--topic", out, "--partition", "0")
	raw[txnToolsCommands[5]] = groups("--describe", "--group", group)
	raw[txnToolsCommands[6]] = groups("--describe", "--state", "--group", group)
	raw[txnToolsCommands[8]] = groups("--describe", "--group", group2)
	if err := cl.EndTransaction(ctxT(t, 30*time.Second), kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	raw[txnToolsCommands[7]] = txns("describe", "--transactional-id", y)
	raw[txnToolsCommands[9]] = groups("--describe", "--group", group2)

	got := map[string]string{}
	for _, cmd := range txnToolsCommands {
		got[cmd] = txnToolsMask(raw[cmd], names)
		if cmd == txnToolsCommands[0] {
			// Every transactional id of the broker is listed: keep the
			// header and this run's two, in order.
			var keep, ids []string
			for i, l := range strings.Split(got[cmd], "\n") {
				switch {
				case i == 0:
					keep = append(keep, l)
				case strings.HasPrefix(l, "X |") || strings.HasPrefix(l, "Y |"):
					ids = append(ids, l)
				}
			}
			sort.Strings(ids)
			got[cmd] = strings.Join(append(keep, ids...), "\n")
		}
		t.Logf("%s:\n%s", cmd, got[cmd])
	}
	t.Logf("%s: the work and %d tool runs took %v", tg.name, len(txnToolsCommands), time.Since(start).Round(time.Millisecond))
	return got
}

// txnToolsMasked are the columns whose values differ from run to run or
// from broker to broker by design: ids the broker assigns (producer ids,
// node ids, member ids, hosts), times, and the producer epoch (Kafka 4.4 at
// transaction.version 2 bumps it at every EndTxn; gregor finalizes version
// 1, docs/compatibility.md). A masked number still differs from a masked
// word (None: no start time), and -1 and - stay.
//
// LatestCoordinatorEpoch is masked whatever its value, a difference left:
// Kafka prints the coordinator epoch of the producer's last marker in the
// partition (0 on the reference, -1 before any marker), gregor -1 always
// (broker/61_describe_producers.go: its producer state does not keep the
// marker's epoch).
var txnToolsMasked = map[string]bool{
	"ProducerId": true, "ProducerEpoch": true, "Coordinator": true, "CoordinatorId": true,
	"CurrentTransactionStartTimeMs": true, "TransactionDurationMs": true, "LastTimestamp": true,
	"CONSUMER-ID": true, "HOST": true, "CLIENT-ID": true,
}

var (
	numRE = regexp.MustCompile(`^-?[0-9]+$`)
	// addrRE is a broker address, with the node id as kafka-consumer-groups
	// --state prints it ("127.0.0.1:9092 (1)").
	addrRE = regexp.MustCompile(`[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+:[0-9]+( +\([0-9]+\))?`)
	// offsetsPartRE is a partition of __consumer_offsets.
	offsetsPartRE = regexp.MustCompile(`__consumer_offsets-[0-9]+`)
)

// txnToolsMask replaces the run's names by their roles (names: name →
// role) and broker addresses by <addr>, drops blank lines, splits every line
// into its whitespace-separated fields (the tools pad columns to their
// longest value, which the names change; the header "COORDINATOR (ID)" is
// joined first) and masks the values of txnToolsMasked's columns: a number
// becomes <n>, another word <masked>, -1 and - stay (they mean none).
// TopicPartitions is sorted, __consumer_offsets' partition number masked.
func txnToolsMask(s string, names map[string]string) string {
	// Longest names first, so no name's replacement breaks a longer one.
	keys := make([]string, 0, len(names))
	for k := range names {
		keys = append(keys, k)
	}
	for i := range keys {
		for j := i + 1; j < len(keys); j++ {
			if len(keys[j]) > len(keys[i]) {
				keys[i], keys[j] = keys[j], keys[i]
			}
		}
	}
	for _, k := range keys {
		s = strings.ReplaceAll(s, k, names[k])
	}
	var out []string
	var header []string
	for _, l := range strings.Split(s, "\n") {
		l = strings.TrimSpace(l)
		if l == "" {
			header = nil
			continue
		}
		f := strings.Fields(addrRE.ReplaceAllString(strings.ReplaceAll(l, "COORDINATOR (ID)", "COORDINATOR(ID)"), "<addr>"))
		if isHeader(f) {
			header = f
			out = append(out, strings.Join(f, " | "))
			continue
		}
		for i := range f {
			if i < len(header) && header[i] == "LatestCoordinatorEpoch" {
				f[i] = "<masked>" // -1 too: a difference left, see txnToolsMasked
			}
			if i < len(header) && header[i] == "TopicPartitions" {
				// A set, printed in hash order; a group's offsets show as its
				// __consumer_offsets partition, whose number depends on the
				// partition count (5 on the reference, scripts/kafka.sh; 50
				// on gregor).
				ps := strings.Split(offsetsPartRE.ReplaceAllString(f[i], "__consumer_offsets-<p>"), ",")
				sort.Strings(ps)
				f[i] = strings.Join(ps, ",")
			}
			if i < len(header) && txnToolsMasked[header[i]] && f[i] != "-1" && f[i] != "-" {
				if numRE.MatchString(f[i]) {
					f[i] = "<n>"
				} else {
					f[i] = "<masked>"
				}
			}
		}
		out = append(out, strings.Join(f, " | "))
	}
	return strings.Join(out, "\n")
}

// isHeader says whether fields are a table header of the tools: every field
// a column name (no digits, '.', ':' or quote, and not one of the roles).
func isHeader(f []string) bool {
	if len(f) < 3 {
		return false
	}
	for _, x := range f {
		if x == "" || strings.ContainsAny(x, "0123456789.:'") || x == "X" || x == "Y" || x == "G" || x == "G2" || x == "IN" || x == "OUT" || x == "HOLD" {
			return false
		}
	}
	return true
}

// checkTxnToolsKafka checks that Kafka's own output shows what the work did,
// so the comparison is not of two empty tables.
func checkTxnToolsKafka(t *testing.T, got map[string]string) {
	t.Helper()
	must := map[string][]string{
		txnToolsCommands[0]: {"X | <n> | <n> | CompleteAbort", "Y | <n> | <n> | Ongoing"},
		txnToolsCommands[1]: {"CompleteAbort"},
		txnToolsCommands[2]: {"Ongoing", "HOLD-0,__consumer_offsets-<p>"},
		txnToolsCommands[3]: {"| 0"},
		txnToolsCommands[5]: {"G | IN | 1 | 34 | 34 | 0 | - | - | -", "G | IN | 2 | 26 | 26 | 0 | - | - | -"},
		txnToolsCommands[6]: {"Empty"},
		txnToolsCommands[7]: {"CompleteCommit"},
		txnToolsCommands[8]: {"G2 | IN | 1 | 3 | 34 | 31 | - | - | -"},
		txnToolsCommands[9]: {"G2 | IN | 1 | 5 | 34 | 29 | - | - | -"},
	}
	for _, cmd := range txnToolsCommands {
		for _, s := range must[cmd] {
			if !strings.Contains(got[cmd], s) {
				t.Errorf("Kafka's %s does not show %q:\n%s", cmd, s, got[cmd])
			}
		}
	}
}
