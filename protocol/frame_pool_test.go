package protocol

import (
	"runtime"
	"testing"
)

func TestFramePoolClasses(t *testing.T) {
	for _, n := range []int{1, minPooledFrame - 1, minPooledFrame, minPooledFrame + 1, 1 << 20, maxPooledFrame, maxPooledFrame + 1} {
		b, pooled := getFrame(n)
		if len(b) != n {
			t.Fatalf("getFrame(%d) gave %d bytes", n, len(b))
		}
		wantPooled := n >= minPooledFrame && n <= maxPooledFrame
		if pooled != wantPooled {
			t.Fatalf("getFrame(%d) pooled = %v, want %v", n, pooled, wantPooled)
		}
		if pooled && cap(b) < n || pooled && cap(b)&(cap(b)-1) != 0 {
			t.Fatalf("getFrame(%d): capacity %d is not a power of two >= n", n, cap(b))
		}
		if pooled {
			putFrame(b)
		}
	}
	// A recycled buffer comes back for a request of the same class, at
	// the asked length, and a put of a foreign capacity is ignored.
	b, _ := getFrame(5000)
	b[0] = 42
	putFrame(b)
	putFrame(make([]byte, 5000)) // capacity not a power of two: dropped
	c, _ := getFrame(6000)
	if len(c) != 6000 || cap(c) != 8192 {
		t.Fatalf("recycled frame len %d cap %d, want 6000/8192", len(c), cap(c))
	}
}

// A recycled frame survives garbage collections (the reserve): a sync.Pool
// alone dropped it after two, and the next frame was fresh memory.
func TestFrameReserveSurvivesGC(t *testing.T) {
	b, _ := getFrame(100 << 10)
	b[0] = 7
	putFrame(b)
	runtime.GC()
	runtime.GC()
	c, pooled := getFrame(90 << 10)
	if !pooled || &c[:cap(c)][cap(c)-1] != &b[:cap(b)][cap(b)-1] {
		t.Fatal("the frame put back before two collections was not reused")
	}
	putFrame(c)
}
