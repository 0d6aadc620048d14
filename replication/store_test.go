package replication

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/storage"
)

// Tests over real stores (*storage.Store), master and slave in one
// process, talking over loopback.

const storeSeg = 16 << 10

var topicA = storage.TopicID{0xa, 1}

func openStore(t testing.TB, dir string) *storage.Store {
	t.Helper()
	st, err := storage.Open(storage.Config{Dir: dir, SegmentBytes: storeSeg, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func asLog(st *storage.Store) Log { return st }

// kbatch is a Kafka v2 RecordBatch of one record with an n-byte value.
func kbatch(n int, fill byte) []byte {
	var rec []byte
	rec = append(rec, 0)
	rec = binary.AppendVarint(rec, 0)  // timestamp delta
	rec = binary.AppendVarint(rec, 0)  // offset delta
	rec = binary.AppendVarint(rec, -1) // no key
	rec = binary.AppendVarint(rec, int64(n))
	rec = append(rec, bytes.Repeat([]byte{fill}, n)...)
	rec = binary.AppendVarint(rec, 0) // headers
	body := binary.AppendVarint(nil, int64(len(rec)))
	body = append(body, rec...)
	const hdr = 61
	b := make([]byte, hdr, hdr+len(body))
	binary.BigEndian.PutUint32(b[8:], uint32(hdr+len(body)-12))
	binary.BigEndian.PutUint32(b[12:], 0xffffffff)
	b[16] = 2
	ts := time.Now().UnixMilli()
	binary.BigEndian.PutUint64(b[27:], uint64(ts))
	binary.BigEndian.PutUint64(b[35:], uint64(ts))
	binary.BigEndian.PutUint64(b[43:], ^uint64(0)) // producer id -1
	binary.BigEndian.PutUint16(b[51:], 0xffff)
	binary.BigEndian.PutUint32(b[53:], 0xffffffff)
	binary.BigEndian.PutUint32(b[57:], 1)
	b = append(b, body...)
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crcTable))
	return b
}

func produce(t testing.TB, st *storage.Store, m *Master, n int, fill byte) {
	t.Helper()
	p := st.Partition(topicA, 0)
	if p == nil {
		var err error
		if p, err = st.CreatePartition(topicA, 0); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < n; i++ {
		if _, err := p.Append(kbatch(200+(i*53)%1500, fill), 0); err != nil {
			t.Fatal(err)
		}
		if m != nil {
			m.Notify()
		}
	}
}

// partitionBytes reads every visible batch of a partition.
func partitionBytes(t testing.TB, st *storage.Store) (out []byte, start, hwm int64) {
	t.Helper()
	p := st.Partition(topicA, 0)
	if p == nil {
		return nil, 0, 0
	}
	start, hwm = p.LogStartOffset(), p.HighWatermark()
	for off := start; off < hwm; {
		res, err := p.Read(off, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Chunks) == 0 {
			res.Release()
			break
		}
		for _, c := range res.Chunks {
			b := make([]byte, c.Len)
			if _, err := c.File.ReadAt(b, c.Pos); err != nil {
				t.Fatal(err)
			}
			out = append(out, b...)
			off = c.LastOffset + 1
		}
		res.Release()
	}
	return out, start, hwm
}

// sameStores: the slave holds the master's commit log byte for byte from
// the master's first position, the same terms, and serves the same records.
func sameStores(t testing.TB, master, slave *storage.Store) {
	t.Helper()
	from := master.FirstPosition()
	if slave.FirstPosition() > from {
		t.Fatalf("slave starts at %d, after the master's %d", slave.FirstPosition(), from)
	}
	if me, se := master.EndPosition(), slave.EndPosition(); me != se {
		t.Fatalf("ends differ: master %d slave %d", me, se)
	}
	for pos := from; pos < master.EndPosition(); {
		a, err := master.ReadRaw(pos, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		b, err := slave.ReadRaw(pos, 1<<20)
		if err != nil {
			t.Fatalf("slave ReadRaw(%d): %v", pos, err)
		}
		if !bytes.Equal(a, b) {
			t.Fatalf("commit logs differ at %d", pos)
		}
		if pos, err = rawNext(pos, a); err != nil {
			t.Fatal(err)
		}
	}
	if a, b := fmt.Sprint(master.Terms()), fmt.Sprint(slave.Terms()); a != b {
		t.Fatalf("terms differ: master %s slave %s", a, b)
	}
	mb, ms, mh := partitionBytes(t, master)
	sb, ss, sh := partitionBytes(t, slave)
	if ms != ss || mh != sh || !bytes.Equal(mb, sb) {
		t.Fatalf("partition differs: master [%d,%d) %d bytes, slave [%d,%d) %d bytes", ms, mh, len(mb), ss, sh, len(sb))
	}
}

func storeCaughtUp(m, s *storage.Store) func() bool {
	return func() bool {
		if m.EndPosition() != s.EndPosition() {
			return false
		}
		// Everything committed on the master, and the slave told so.
		mp, sp := m.Partition(topicA, 0), s.Partition(topicA, 0)
		return mp == nil || (sp != nil && mp.HighWatermark() == mp.LogEndOffset() && mp.HighWatermark() == sp.HighWatermark())
	}
}

func TestStoreCatchUpFromEmptyAndLive(t *testing.T) {
	md, sd := t.TempDir(), t.TempDir()
	ms := openStore(t, md)
	defer func() { ms.Close() }()
	if _, err := ms.BeginTerm(0, 0); err != nil {
		t.Fatal(err)
	}
	produce(t, ms, nil, 300, 'a') // several segments, so pads are streamed
	m := startMaster(t, asLog(ms), 0, nil)
	ss := openStore(t, sd)
	defer func() { ss.Close() }()
	s := startSlave(t, asLog(ss), 1, m.addr, nil)
	waitFor(t, "catch-up", storeCaughtUp(ms, ss))
	sameStores(t, ms, ss)
	waitFor(t, "in sync", func() bool { return inSync(m.Master, 1) })

	produce(t, ms, m.Master, 100, 'b')
	waitFor(t, "live", storeCaughtUp(ms, ss))
	sameStores(t, ms, ss)
	// The master's high watermark never passes what the in-sync slave has.
	if mh, sh := ms.Partition(topicA, 0).HighWatermark(), ss.Partition(topicA, 0).LogEndOffset(); mh > sh {
		t.Fatalf("master hwm %d beyond the slave's end %d", mh, sh)
	}

	// From behind: the slave stops, the master writes on, the slave's
	// store is reopened and follows again.
	s.stop()
	ss.Close()
	produce(t, ms, m.Master, 100, 'c')
	ss = openStore(t, sd)
	s = startSlave(t, asLog(ss), 1, m.addr, nil)
	waitFor(t, "catch-up from behind", storeCaughtUp(ms, ss))
	sameStores(t, ms, ss)
	if st := s.Status(); st.Bootstraps+st.Truncations != 0 {
		t.Fatalf("status %+v", st)
	}

	// Master restart: its store is reopened and a new Master serves it.
	m.stop(t)
	ms.Close()
	ms = openStore(t, md)
	produce(t, ms, nil, 50, 'd')
	m2 := startMaster(t, asLog(ms), 0, nil)
	s.setMaster(m2.addr)
	produce(t, ms, m2.Master, 50, 'e')
	waitFor(t, "catch-up after the master's restart", storeCaughtUp(ms, ss))
	sameStores(t, ms, ss)
	waitFor(t, "in sync with the new master", func() bool { return inSync(m2.Master, 1) })
	s.stop()
	m2.stop(t)
}

// TestStoreBootstrapAfterRetention: the master deleted its first segments;
// a new slave and a slave left behind retention both get every record the
// master retains (byte-identical from its first position and from the
// partition's log start), then follow.
func TestStoreBootstrapAfterRetention(t *testing.T) {
	ms := openStore(t, t.TempDir())
	defer ms.Close()
	if _, err := ms.BeginTerm(0, 0); err != nil {
		t.Fatal(err)
	}
	produce(t, ms, nil, 20, 'a')
	// A slave that copied the beginning, then went away.
	oldDir := t.TempDir()
	old := openStore(t, oldDir)
	m0 := startMaster(t, asLog(ms), 0, nil)
	s0 := startSlave(t, asLog(old), 2, m0.addr, nil)
	waitFor(t, "old slave copies the start", storeCaughtUp(ms, old))
	s0.stop()
	// With its only slave gone the master alone commits (a closed Master
	// leaves the fence where it was, so write before closing it).
	waitFor(t, "fence lifted", func() bool { return ms.CommitLimit() == NoCommitLimit })
	produce(t, ms, m0.Master, 400, 'b')
	m0.stop(t)
	p := ms.Partition(topicA, 0)
	if _, err := p.DeleteRecordsBefore(p.HighWatermark() - 50); err != nil {
		t.Fatal(err)
	}
	if err := ms.RunRetention(); err != nil {
		t.Fatal(err)
	}
	if ms.FirstPosition() == 0 || ms.FirstPosition() <= old.EndPosition() {
		t.Fatalf("retention kept the first segments (first %d, old slave ends %d)", ms.FirstPosition(), old.EndPosition())
	}
	m := startMaster(t, asLog(ms), 0, nil)
	fresh := openStore(t, t.TempDir())
	defer fresh.Close()
	sf := startSlave(t, asLog(fresh), 1, m.addr, nil)
	so := startSlave(t, asLog(old), 2, m.addr, nil)
	defer old.Close()
	produce(t, ms, m.Master, 20, 'c')
	for _, c := range []struct {
		s  *testSlave
		st *storage.Store
	}{{sf, fresh}, {so, old}} {
		waitFor(t, "catch-up by bootstrap", storeCaughtUp(ms, c.st))
		sameStores(t, ms, c.st)
		if st := c.s.Status(); st.Bootstraps != 1 {
			t.Fatalf("bootstraps %d", st.Bootstraps)
		}
		if got, want := c.st.Partition(topicA, 0).LogStartOffset(), p.LogStartOffset(); got != want {
			t.Fatalf("slave log start %d, master %d", got, want)
		}
	}
	waitFor(t, "both in sync", func() bool { return len(m.InSync()) == 2 })

	// A bootstrapped slave that reconnects holds every retained record:
	// it follows without another bootstrap and is in sync again.
	sf.stop()
	produce(t, ms, m.Master, 20, 'd')
	sf = startSlave(t, asLog(fresh), 1, m.addr, nil)
	waitFor(t, "reconnected slave catches up", storeCaughtUp(ms, fresh))
	sameStores(t, ms, fresh)
	if st := sf.Status(); st.Bootstraps != 0 || st.Truncations != 0 {
		t.Fatalf("reconnected slave: %+v", st)
	}
	waitFor(t, "reconnected slave in sync", func() bool { return inSync(m.Master, 1) })
}

// TestStoreDivergence: member 0, master of term 0, writes a tail its slave
// never gets; member 1 becomes master of term 1 by hand; member 0 rejoins
// as its slave, truncates the tail and follows.
func TestStoreDivergence(t *testing.T) {
	a := openStore(t, t.TempDir())
	defer a.Close()
	if _, err := a.BeginTerm(0, 0); err != nil {
		t.Fatal(err)
	}
	produce(t, a, nil, 100, 'a')
	ma := startMaster(t, asLog(a), 0, nil)
	b := openStore(t, t.TempDir())
	defer b.Close()
	sb := startSlave(t, asLog(b), 1, ma.addr, nil)
	waitFor(t, "b follows a", storeCaughtUp(a, b))
	sb.stop()
	ma.stop(t)
	commonEnd := b.EndPosition()
	produce(t, a, nil, 30, 'x') // the tail nobody has

	if _, err := b.BeginTerm(1, 1); err != nil {
		t.Fatal(err)
	}
	mb := startMaster(t, asLog(b), 1, nil)
	produce(t, b, mb.Master, 40, 'b')
	sa := startSlave(t, asLog(a), 0, mb.addr, nil)
	waitFor(t, "a follows b", storeCaughtUp(b, a))
	sameStores(t, b, a)
	if st := sa.Status(); st.Truncations != 1 || st.Bootstraps != 0 || st.MasterEpoch != 1 {
		t.Fatalf("status %+v", st)
	}
	if ts := a.Terms(); len(ts) != 2 || ts[1].Start < commonEnd {
		t.Fatalf("terms %v", ts)
	}
	waitFor(t, "a in sync", func() bool { return inSync(mb.Master, 0) })
}
