package replication

import (
	"fmt"
	"testing"
	"time"
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
