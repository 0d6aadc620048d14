package storage

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A panic inside a write section, injected as a filesystem whose commit-log
// write panics once while eight writers append batches and key/values,
// wedges nothing: every writer returns (the one that met the panic with
// ErrBroken naming it, every later write with ErrBroken), reads still serve
// every batch acknowledged before, and the store closes. Before
// breakOnPanic the panic left Store.mu held and every other writer hung.
func TestPanicInWriteBreaksStore(t *testing.T) {
	fs := newMemFS()
	s, _ := memStore(t, fs, FlushAsync)
	defer s.Close()
	const writers = 8
	parts := make([]*Partition, writers)
	for i := range parts {
		p, err := s.CreatePartition(tid(1), int32(i))
		if err != nil {
			t.Fatal(err)
		}
		parts[i] = p
	}
	var armed, fired atomic.Bool
	fs.setFault(func(op, name string) error {
		if op == "write" && isSegment(name) && armed.Load() && fired.CompareAndSwap(false, true) {
			panic("injected: filesystem panics in WriteAt")
		}
		return nil
	})

	var acked [writers]atomic.Int64 // records acknowledged per partition
	var panics atomic.Int32
	errs := make(chan error, writers)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				var err error
				func() {
					// What the protocol layer does for a handler.
					defer func() {
						if r := recover(); r != nil {
							panics.Add(1)
							err = fmt.Errorf("panic reached the caller: %v", r)
						}
					}()
					if i%2 == 0 || n%3 != 0 {
						_, err = parts[i].Append(simpleBatch(fmt.Sprintf("w%d-%d", i, n), 2, 1000), 0)
						if err == nil {
							acked[i].Add(2)
						}
					} else {
						err = s.PutKV("ns", KV{Key: []byte(fmt.Sprint(i)), Value: []byte(fmt.Sprint(n))})
					}
				}()
				if n == 20 && i == 0 {
					armed.Store(true)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("writers still blocked 20 s after the panic (fired %v): a lock is held", fired.Load())
	}
	close(errs)
	for err := range errs {
		if !errors.Is(err, ErrBroken) {
			t.Errorf("writer stopped with %v, want ErrBroken", err)
		}
	}
	if n := panics.Load(); n != 0 {
		t.Errorf("%d panics reached the writers", n)
	}
	if err := s.brokenErr(); err == nil || !strings.Contains(err.Error(), "injected") {
		t.Fatalf("store error %v, want ErrBroken naming the panic", err)
	}
	if _, err := parts[1].Append(simpleBatch("after", 1, 1000), 0); !errors.Is(err, ErrBroken) {
		t.Fatalf("append after the panic: %v, want ErrBroken", err)
	}
	// Reads still serve what was acknowledged, in every partition.
	for i, p := range parts {
		if got := int64(len(readAll(t, p, 0))); got < acked[i].Load() {
			t.Errorf("partition %d: %d records readable, %d acknowledged", i, got, acked[i].Load())
		}
	}
}
