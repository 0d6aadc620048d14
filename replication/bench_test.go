package replication

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/storage"
)

// BenchmarkCatchUp: an empty slave copies a master's log over loopback
// (MB/s = catch-up rate; the in-memory Log, so this is the protocol's
// cost: framing, CRC, two copies, the acks).
//
//	go test ./replication -run NONE -bench CatchUp -benchtime 5x
func BenchmarkCatchUp(b *testing.B) {
	for _, entry := range []int{1 << 10, 16 << 10} {
		b.Run(fmt.Sprintf("entry=%dKiB", entry>>10), func(b *testing.B) {
			const total = 64 << 20
			ml := newMemLog(1 << 30)
			ml.BeginTerm(0, 0)
			for ml.EndPosition() < total {
				ml.Append(entry-memHdr, 'b')
			}
			m := startMaster(b, ml, 0, func(c *MasterConfig) { c.ChunkBytes = 1 << 20; c.Heartbeat = time.Second })
			b.SetBytes(ml.EndPosition())
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				sl := newMemLog(1 << 30)
				sl.data = make([]byte, 0, ml.EndPosition())
				s := startSlave(b, sl, 1, m.addr, func(c *SlaveConfig) { c.Heartbeat = time.Second })
				for sl.EndPosition() < ml.EndPosition() {
					time.Sleep(200 * time.Microsecond)
				}
				s.stop()
			}
		})
	}
}

// BenchmarkStoreCatchUp: an empty slave store copies a master store's
// commit log (64 MiB of 16 KiB batches) over loopback: ReadRaw, framing,
// AppendRaw with validation and dispatch into consume queues, acks. Async
// flush on both (the page cache; compare with a dd of the same disk).
//
//	go test ./replication -run NONE -bench StoreCatchUp -benchtime 3x
func BenchmarkStoreCatchUp(b *testing.B) {
	dir := b.TempDir()
	ms, err := storage.Open(storage.Config{Dir: dir + "/m", SegmentBytes: 64 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer ms.Close()
	p, err := ms.CreatePartition(topicA, 0)
	if err != nil {
		b.Fatal(err)
	}
	batch := kbatch(16<<10, 'x')
	for ms.EndPosition() < 64<<20 {
		if _, err := p.Append(batch, 0); err != nil {
			b.Fatal(err)
		}
	}
	m := startMaster(b, asLog(ms), 0, func(c *MasterConfig) { c.ChunkBytes = 1 << 20; c.Heartbeat = time.Second })
	b.SetBytes(ms.EndPosition())
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		ss, err := storage.Open(storage.Config{Dir: fmt.Sprintf("%s/s%d", dir, i), SegmentBytes: 64 << 20})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		s := startSlave(b, asLog(ss), 1, m.addr, func(c *SlaveConfig) { c.Heartbeat = time.Second })
		for ss.EndPosition() < ms.EndPosition() {
			time.Sleep(200 * time.Microsecond)
		}
		b.StopTimer()
		s.stop()
		ss.Close()
		b.StartTimer()
	}
}

// BenchmarkWaitReplicated: one writer appends 1 KiB, notifies and waits
// until the in-sync slave acknowledged it (the sync-mode round trip over
// loopback: wake, read, frame, append, ack), with 1 and 2 slaves.
//
//	go test ./replication -run NONE -bench WaitReplicated -benchtime 2s
func BenchmarkWaitReplicated(b *testing.B) {
	for _, slaves := range []int{1, 2} {
		b.Run(fmt.Sprintf("slaves=%d", slaves), func(b *testing.B) {
			ml := newMemLog(1 << 30)
			ml.BeginTerm(0, 0)
			m := startMaster(b, ml, 0, func(c *MasterConfig) { c.Heartbeat = time.Second; c.ReplicaLagTime = time.Minute })
			for i := 1; i <= slaves; i++ {
				startSlave(b, newMemLog(1<<30), int64(i), m.addr, func(c *SlaveConfig) { c.Heartbeat = time.Second })
			}
			for len(m.InSync()) < slaves {
				time.Sleep(time.Millisecond)
			}
			ctx := context.Background()
			b.SetBytes(1 << 10)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				pos := ml.Append(1<<10-memHdr, 'w')
				m.Notify()
				if err := m.WaitReplicated(ctx, pos, slaves+1); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
