package storage

import (
	"errors"
	"sync"
	"testing"
)

// TestStress runs writers, tailing readers, retention, DeleteRecords and
// checkpoints at once (run it with -race). Readers must only ever see
// whole, valid batches with contiguous offsets, or ErrOffsetOutOfRange
// when retention overtook them.
func TestStress(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.SegmentBytes = 16 << 10
	s := mustOpen(t, cfg)
	defer s.Close()
	const parts, per = 4, 300
	ps := make([]*Partition, parts)
	for i := range ps {
		ps[i], _ = s.CreatePartition(tid(9), int32(i))
		ps[i].SetRetention(RetentionPolicy{Ms: -1, Bytes: 20 << 10})
	}
	var wg sync.WaitGroup
	done := make(chan struct{})
	for i := 0; i < parts; i++ {
		wg.Add(2)
		go func(i int) {
			defer wg.Done()
			for b := 0; b < per; b++ {
				if _, err := ps[i].Append(writerBatch(i, b), 0); err != nil {
					t.Error(err)
					return
				}
			}
		}(i)
		go func(i int) {
			defer wg.Done()
			off := int64(0)
			buf := make([]byte, 1<<16)
			for off < per {
				res, err := ps[i].Read(off, 4096)
				if errors.Is(err, ErrOffsetOutOfRange) {
					off = ps[i].LogStartOffset()
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				for _, c := range res.Chunks {
					if c.BaseOffset > off {
						t.Errorf("p%d: gap, chunk at %d reading %d", i, c.BaseOffset, off)
					}
					if _, err := c.File.ReadAt(buf[:c.Len], c.Pos); err != nil || !batchCRCOK(buf[:c.Len]) {
						t.Errorf("p%d: bad chunk at %d: %v", i, c.BaseOffset, err)
					}
					off = c.LastOffset + 1
				}
				res.Release()
				if ps[i].HighWatermark() >= int64(per*4) {
					break
				}
			}
		}(i)
	}
	var bg sync.WaitGroup
	bg.Add(1)
	go func() {
		defer bg.Done()
		for n := 0; ; n++ {
			select {
			case <-done:
				return
			default:
			}
			s.RunRetention()
			if n%3 == 0 {
				p := ps[n%parts]
				if hw := p.HighWatermark(); hw > 10 {
					p.DeleteRecordsBefore(hw - 10)
				}
			}
			if n%5 == 0 {
				s.checkpoint()
			}
		}
	}()
	wg.Wait()
	close(done)
	bg.Wait()
	for i, p := range ps {
		got := readAll(t, p, p.LogStartOffset())
		if len(got) == 0 || got[len(got)-1].offset != p.HighWatermark()-1 {
			t.Fatalf("p%d: tail unreadable", i)
		}
	}
}
