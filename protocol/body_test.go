package protocol

import (
	"bytes"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"testing"
)

type osFileOnly struct{ *os.File }

func (f osFileOnly) OS() *os.File { return f.File }

type memFile struct{ b []byte }

func (m memFile) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(m.b)) {
		return 0, io.EOF
	}
	n := copy(p, m.b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
func (memFile) OS() *os.File { return nil }

// File ranges written through a TCP connection (sendfile) and through a
// plain writer (copy) arrive byte-exact, interleaved with encoded bytes,
// and reading one file from two sinks at once shares no seek position.
func TestBodySinkFileRanges(t *testing.T) {
	data := make([]byte, 3<<20)
	for i := range data {
		data[i] = byte(rand.IntN(256))
	}
	path := filepath.Join(t.TempDir(), "seg")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	type rng struct{ pos, n int }
	ranges := []rng{{0, 10}, {100, 1 << 20}, {5, 100 << 10}, {2 << 20, 1<<20 - 1}, {7, 1}}
	var want []byte
	for i, r := range ranges {
		want = append(want, byte(i))
		want = append(want, data[r.pos:r.pos+r.n]...)
	}
	write := func(s *BodySink, file File) error {
		for i, r := range ranges {
			if _, err := s.Write([]byte{byte(i)}); err != nil {
				return err
			}
			if err := s.WriteFile(file, int64(r.pos), r.n); err != nil {
				return err
			}
		}
		return s.Flush()
	}

	// In memory: copy path.
	var buf bytes.Buffer
	if err := write(NewBodySink(&buf), memFile{data}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatal("copied body differs")
	}

	// Over TCP, two connections reading the same *os.File concurrently.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	errs := make(chan error, 2)
	go func() {
		for i := 0; i < 2; i++ {
			c, err := ln.Accept()
			if err != nil {
				errs <- err
				return
			}
			go func() {
				defer c.Close()
				errs <- write(NewBodySink(c), osFileOnly{f})
			}()
		}
	}()
	got := make([][]byte, 2)
	done := make(chan int, 2)
	for i := 0; i < 2; i++ {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		go func(i int) {
			defer c.Close()
			got[i], _ = io.ReadAll(c)
			done <- i
		}(i)
	}
	for i := 0; i < 2; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
		<-done
	}
	for i := range got {
		if !bytes.Equal(got[i], want) {
			t.Fatalf("connection %d: got %d bytes, want %d (content differs)", i, len(got[i]), len(want))
		}
	}
	// A range past the end of the file is an error, not short data.
	if err := NewBodySink(io.Discard).WriteFile(memFile{data}, int64(len(data)-5), 10); err == nil {
		t.Fatal("range past EOF accepted")
	}
}
