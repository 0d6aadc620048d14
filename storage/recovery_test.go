package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// snapshotFS is every file's current bytes and every directory of fs, to
// show that a refused Open changed nothing.
func snapshotFS(fs *memFS) map[string]string {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	out := map[string]string{}
	var walk func(prefix string, d *memDir)
	walk = func(prefix string, d *memDir) {
		for name, v := range d.names {
			switch x := v.(type) {
			case *memDir:
				out[prefix+name+"/"] = ""
				walk(prefix+name+"/", x)
			case *memNode:
				out[prefix+name] = string(x.data)
			}
		}
	}
	walk("/", fs.root)
	return out
}

func sameFS(t *testing.T, before, after map[string]string) {
	t.Helper()
	for k, v := range before {
		if w, ok := after[k]; !ok {
			t.Errorf("%s was removed", k)
		} else if w != v {
			t.Errorf("%s was changed (%d bytes, was %d)", k, len(w), len(v))
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			t.Errorf("%s was created", k)
		}
	}
}

func (fs *memFS) node(t *testing.T, path string) *memNode {
	t.Helper()
	fs.mu.Lock()
	defer fs.mu.Unlock()
	d, base, err := fs.dirOf(path)
	if err != nil {
		t.Fatal(err)
	}
	n, ok := d.names[base].(*memNode)
	if !ok {
		t.Fatalf("%s: no such file", path)
	}
	return n
}

// recoveryStore writes batches over several 16 KiB segments, closes the
// store and removes the checkpoint, so the next Open validates the whole
// commit log. It returns the number of batches.
func recoveryStore(t *testing.T) (*memFS, Config, int) {
	fs := newMemFS()
	s, cfg := memStore(t, fs, FlushSync)
	p, _ := s.CreatePartition(tid(9), 0)
	n := 0
	for ; s.EndPosition() < 40<<10; n++ {
		if _, err := p.Append(writerBatch(0, n), 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := fs.Remove("/data/" + checkpointName); err != nil {
		t.Fatal(err)
	}
	return fs, cfg, n
}

// refused opens cfg, which must fail naming want, with nothing changed.
func refused(t *testing.T, fs *memFS, cfg Config, want ...string) {
	t.Helper()
	before := snapshotFS(fs)
	s, err := Open(cfg)
	if err == nil {
		m := checkPrefix(t, s, 0)
		s.Close()
		t.Fatalf("Open succeeded (%d batches left)", m)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
	sameFS(t, before, snapshotFS(fs))
}

// TestRecoveryReadError: a read error while the commit log is validated at
// Open stops the start with an error naming the file and position, and
// changes nothing; once the disk reads again every batch is there. (It
// used to be taken for the end of the log: the rest was cut.)
func TestRecoveryReadError(t *testing.T) {
	for _, fault := range []error{syscall.EIO, errShort} {
		t.Run(fmt.Sprint(fault), func(t *testing.T) {
			fs, cfg, n := recoveryStore(t)
			second := segmentName(16 << 10)
			fs.setFault(func(op, name string) error {
				if op == "read" && strings.HasSuffix(name, second) {
					return fault
				}
				return nil
			})
			if kind := fmt.Sprint(fault); kind == "input/output error" {
				// A directory from before the FORMAT file: still nothing
				// written by a refused Open.
				fs.Remove("/data/FORMAT")
			}
			refused(t, fs, cfg, "read error", second, "position 16384")
			fs.setFault(nil)
			s := mustOpen(t, cfg)
			defer s.Close()
			if m := checkPrefix(t, s, 0); m != n {
				t.Fatalf("%d batches after the disk recovered, want %d", m, n)
			}
		})
	}
}

// TestRecoveryRefusesDamageInTheMiddle: a corrupt entry, or a hole, with
// valid entries after it in the same segment is not a torn tail: Open
// refuses and changes nothing.
func TestRecoveryRefusesDamageInTheMiddle(t *testing.T) {
	for _, kind := range []string{"bitflip", "hole", "bad length"} {
		t.Run(kind, func(t *testing.T) {
			fs, cfg, _ := recoveryStore(t)
			seg := fs.node(t, "/data/commitlog/"+segmentName(0))
			// The first batch entry follows the partition-creation entry.
			first := int(binary.BigEndian.Uint32(seg.data[0:]))
			l := int(binary.BigEndian.Uint32(seg.data[first:]))
			switch kind {
			case "bitflip":
				seg.data[first+l-3] ^= 0x40
			case "hole":
				clear(seg.data[first : first+l])
			case "bad length":
				binary.BigEndian.PutUint32(seg.data[first:], 7)
			}
			refused(t, fs, cfg, "a valid entry follows", segmentName(0), fmt.Sprintf("offset %d", first))
		})
	}
}

// TestRecoveryUnknownEntryType: an entry whose type this release does not
// know (a later release wrote it) is never cut as torn, at the tail or
// anywhere: Open refuses and changes nothing.
func TestRecoveryUnknownEntryType(t *testing.T) {
	fs, cfg, _ := recoveryStore(t)
	s := mustOpen(t, cfg)
	end := s.EndPosition()
	base := s.active().base
	s.Close()
	fs.Remove("/data/" + checkpointName)
	e := make([]byte, entryHeaderSize+8)
	h := entryHeader{length: uint32(len(e)), typ: 200}
	binary.BigEndian.PutUint32(e[0:], h.length)
	binary.BigEndian.PutUint32(e[4:], entryMagic)
	e[12] = h.typ
	binary.BigEndian.PutUint32(e[8:], entryCRC(e, &h))
	seg := fs.node(t, "/data/commitlog/"+segmentName(base))
	off := end - base
	if int64(len(seg.data)) < off+int64(len(e)) {
		seg.data = append(seg.data, make([]byte, off+int64(len(e))-int64(len(seg.data)))...)
	}
	copy(seg.data[off:], e)
	refused(t, fs, cfg, "type 200", "later release", segmentName(base))
}

// TestRecoveryTornTailAcrossSegments: power lost with a segment's last
// entries torn while the next segment's first pages reached the disk:
// nothing in the later segment was made durable (segments are fsynced in
// order), so the torn tail ends the log there and the later segment goes.
func TestRecoveryTornTailAcrossSegments(t *testing.T) {
	fs, cfg, _ := recoveryStore(t)
	seg := fs.node(t, "/data/commitlog/"+segmentName(16<<10))
	// Tear the second segment in its last batch entry (the third segment
	// holds entries): find the entry before the pad.
	var starts []int
	for off := 0; off+entryHeaderSize <= len(seg.data); {
		l := int(binary.BigEndian.Uint32(seg.data[off:]))
		if seg.data[off+12] == entryPad || l == 0 {
			break
		}
		starts = append(starts, off)
		off += l
	}
	last := starts[len(starts)-1]
	seg.data = seg.data[:last+entryHeaderSize+30] // its pad did not reach the disk either
	s := mustOpen(t, cfg)
	defer s.Close()
	if got, want := s.EndPosition(), int64(16<<10+last); got != want {
		t.Fatalf("end %d, want %d (the torn entry)", got, want)
	}
	m := checkPrefix(t, s, 0)
	p := s.Partition(tid(9), 0)
	if _, err := p.Append(writerBatch(0, m), 0); err != nil {
		t.Fatal(err)
	}
	if checkPrefix(t, s, 0) != m+1 {
		t.Fatal("append after the cut missing")
	}
}

// TestFormatVersion: Open reads <Dir>/FORMAT first; a later format, an
// earlier one without an upgrade, or an unreadable line, is refused with
// nothing changed; a directory written before the file existed, or of
// format 1, is opened and then says format 2.
func TestFormatVersion(t *testing.T) {
	for _, tc := range []struct{ content, want string }{
		{"gregor storage format 3\n", "later release"},
		{"gregor storage format 0\n", "does not migrate"},
		{"something else\n", "not \"gregor storage format \""},
	} {
		t.Run(tc.content, func(t *testing.T) {
			fs, cfg, _ := recoveryStore(t)
			if err := writeFileAtomic(fs, "/data/FORMAT", []byte(tc.content)); err != nil {
				t.Fatal(err)
			}
			before := snapshotFS(fs)
			_, err := Open(cfg)
			if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open: %v, want ErrFormat saying %q", err, tc.want)
			}
			sameFS(t, before, snapshotFS(fs))
		})
	}
	t.Run("adopted", func(t *testing.T) {
		fs, cfg, n := recoveryStore(t)
		if err := fs.Remove("/data/FORMAT"); err != nil {
			t.Fatal(err)
		}
		s := mustOpen(t, cfg)
		defer s.Close()
		if m := checkPrefix(t, s, 0); m != n {
			t.Fatalf("%d batches, want %d", m, n)
		}
		b, err := readWholeFile(fs, "/data/FORMAT")
		if err != nil || string(b) != "gregor storage format 2\n" {
			t.Fatalf("FORMAT %q, %v", b, err)
		}
	})
	t.Run("upgraded from 1", func(t *testing.T) {
		fs, cfg, n := recoveryStore(t)
		if err := writeFileAtomic(fs, "/data/FORMAT", []byte("gregor storage format 1\n")); err != nil {
			t.Fatal(err)
		}
		s := mustOpen(t, cfg)
		defer s.Close()
		if m := checkPrefix(t, s, 0); m != n {
			t.Fatalf("%d batches, want %d", m, n)
		}
		b, err := readWholeFile(fs, "/data/FORMAT")
		if err != nil || string(b) != "gregor storage format 2\n" {
			t.Fatalf("FORMAT %q, %v", b, err)
		}
	})
}

// TestRebuildCQReadError: a consume queue rebuilt from a commit log that
// cannot be read is never served short: Read fails with an error naming
// the segment, and a reopen with a healthy disk has every batch.
func TestRebuildCQReadError(t *testing.T) {
	fs := newMemFS()
	s, cfg := memStore(t, fs, FlushSync)
	p, _ := s.CreatePartition(tid(9), 0)
	n := 2 * cqBlock
	for b := 0; b < n; b++ {
		if _, err := p.Append(writerBatch(0, b), 0); err != nil {
			t.Fatal(err)
		}
	}
	// Corrupt the first consume-queue block on file: Read rebuilds the
	// queue from the commit log, which fails to read.
	cq := fs.node(t, filepath.Join(p.cqDir, fmt.Sprintf("%020d.cq", 0)))
	cq.data[10] ^= 0xff
	s.cache.dropDir(p.cqDir)
	fs.setFault(func(op, name string) error {
		if op == "read" && isSegment(name) {
			return syscall.EIO
		}
		return nil
	})
	res, err := p.Read(0, 1<<20)
	if err == nil {
		t.Fatalf("Read with an unreadable commit log: %d chunks, no error", len(res.Chunks))
	}
	if !strings.Contains(err.Error(), segmentName(0)) {
		t.Errorf("error %q does not name the segment", err)
	}
	fs.setFault(nil)
	if _, err := p.Read(0, 1<<20); err == nil {
		t.Fatal("the partition whose rebuild failed served a read")
	}
	s.Close()
	s = mustOpen(t, cfg)
	defer s.Close()
	if m := checkPrefix(t, s, 0); m != n {
		t.Fatalf("%d batches after reopen, want %d", m, n)
	}
}
