package storage

import (
	"errors"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
)

// memFS is an in-memory FS that remembers what was made durable: file data
// at its last Sync, directory entries at their directory's last SyncDir (or
// a SyncAll). crash returns the file system a power loss would leave. Faults
// can be injected per operation.
//
// A failed Sync behaves as Linux's writeback does: the dirty bytes it was
// asked to write are dropped (marked clean without reaching the disk), the
// error is reported once, and a later Sync succeeds without writing them;
// crash shows the disk's old bytes there. Bytes written again after the
// failure are dirty again and are written by the next Sync.
type memFS struct {
	mu   sync.Mutex
	root *memDir
	// The fault hook, when set, is asked before every mutating operation and before
	// every read ("read"); a non-nil error fails it. For "write", returning
	// errShort writes half; for "read", errShort reads half and returns
	// io.ErrUnexpectedEOF.
	fault atomic.Pointer[func(op, name string) error] // see setFault
}

// setFault installs (nil: removes) the fault hook. It is safe while the
// store's background goroutines run.
func (fs *memFS) setFault(fn func(op, name string) error) {
	if fn == nil {
		fs.fault.Store(nil)
		return
	}
	fs.fault.Store(&fn)
}

var errShort = errors.New("memfs: short write")

type memDir struct {
	names   map[string]any // *memNode or *memDir, current
	durable map[string]any // as of the last SyncDir
}

type memNode struct {
	data   []byte
	synced []byte
	// lost are byte ranges [lo, hi) whose writeback failed: a later Sync
	// leaves the disk's old bytes there (see memFS).
	lost [][2]int64
}

// dropRange removes [lo, hi) from the lost ranges (it was written again).
func (n *memNode) dropRange(lo, hi int64) {
	var keep [][2]int64
	for _, r := range n.lost {
		if r[1] <= lo || r[0] >= hi {
			keep = append(keep, r)
			continue
		}
		if r[0] < lo {
			keep = append(keep, [2]int64{r[0], lo})
		}
		if r[1] > hi {
			keep = append(keep, [2]int64{hi, r[1]})
		}
	}
	n.lost = keep
}

// syncLocked makes data durable except the lost ranges; under fs.mu.
func (n *memNode) syncLocked() {
	old := n.synced
	n.synced = append([]byte(nil), n.data...)
	for _, r := range n.lost {
		for i := r[0]; i < r[1] && i < int64(len(n.synced)); i++ {
			if i < int64(len(old)) {
				n.synced[i] = old[i]
			} else {
				n.synced[i] = 0
			}
		}
	}
}

// failSyncLocked drops the dirty bytes, as a failed writeback does; under
// fs.mu.
func (n *memNode) failSyncLocked() {
	lo := 0
	for lo < len(n.data) && lo < len(n.synced) && n.data[lo] == n.synced[lo] {
		lo++
	}
	if lo < len(n.data) {
		n.lost = append(n.lost, [2]int64{int64(lo), int64(len(n.data))})
	}
}

func newMemFS() *memFS { return &memFS{root: newMemDir()} }

func newMemDir() *memDir {
	return &memDir{names: map[string]any{}, durable: map[string]any{}}
}

func split(name string) []string {
	name = filepath.Clean(name)
	name = strings.TrimPrefix(name, "/")
	if name == "." || name == "" {
		return nil
	}
	return strings.Split(name, "/")
}

// dir walks to the directory holding name's last element.
func (fs *memFS) dirOf(name string) (*memDir, string, error) {
	parts := split(name)
	if len(parts) == 0 {
		return nil, "", os.ErrInvalid
	}
	d := fs.root
	for _, p := range parts[:len(parts)-1] {
		nd, ok := d.names[p].(*memDir)
		if !ok {
			return nil, "", &os.PathError{Op: "open", Path: name, Err: os.ErrNotExist}
		}
		d = nd
	}
	return d, parts[len(parts)-1], nil
}

func (fs *memFS) check(op, name string) error {
	if fn := fs.fault.Load(); fn != nil {
		return (*fn)(op, name)
	}
	return nil
}

func (fs *memFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	if flag&os.O_CREATE != 0 {
		// The hook runs outside the lock (a slow "disk" must not stop
		// other files' I/O), so it is asked before looking.
		fs.mu.Lock()
		exists := false
		d, base, err := fs.dirOf(name)
		if err == nil {
			_, exists = d.names[base]
		}
		fs.mu.Unlock()
		if err == nil && !exists {
			if err := fs.check("create", name); err != nil {
				return nil, err
			}
		}
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	d, base, err := fs.dirOf(name)
	if err != nil {
		return nil, err
	}
	n, ok := d.names[base].(*memNode)
	if !ok {
		if _, isDir := d.names[base]; isDir || flag&os.O_CREATE == 0 {
			return nil, &os.PathError{Op: "open", Path: name, Err: os.ErrNotExist}
		}
		n = &memNode{}
		d.names[base] = n
	}
	if flag&os.O_TRUNC != 0 {
		n.data = nil
	}
	return &memFile{fs: fs, n: n, name: name}, nil
}

func (fs *memFS) Remove(name string) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	d, base, err := fs.dirOf(name)
	if err != nil {
		return err
	}
	if _, ok := d.names[base]; !ok {
		return &os.PathError{Op: "remove", Path: name, Err: os.ErrNotExist}
	}
	delete(d.names, base)
	return nil
}

func (fs *memFS) RemoveAll(name string) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	d, base, err := fs.dirOf(name)
	if err != nil {
		return nil
	}
	delete(d.names, base)
	return nil
}

func (fs *memFS) Rename(o, n string) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if err := fs.check("rename", n); err != nil {
		return err
	}
	od, ob, err := fs.dirOf(o)
	if err != nil {
		return err
	}
	nd, nb, err := fs.dirOf(n)
	if err != nil {
		return err
	}
	v, ok := od.names[ob]
	if !ok {
		return &os.PathError{Op: "rename", Path: o, Err: os.ErrNotExist}
	}
	delete(od.names, ob)
	nd.names[nb] = v
	return nil
}

func (fs *memFS) MkdirAll(name string, perm os.FileMode) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	d := fs.root
	for _, p := range split(name) {
		switch v := d.names[p].(type) {
		case *memDir:
			d = v
		case nil:
			nd := newMemDir()
			d.names[p] = nd
			d = nd
		default:
			return &os.PathError{Op: "mkdir", Path: name, Err: syscall.ENOTDIR}
		}
	}
	return nil
}

func (fs *memFS) lookupDir(name string) (*memDir, bool) {
	d := fs.root
	for _, p := range split(name) {
		nd, ok := d.names[p].(*memDir)
		if !ok {
			return nil, false
		}
		d = nd
	}
	return d, true
}

func (fs *memFS) ReadDir(dir string) ([]string, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	d, ok := fs.lookupDir(dir)
	if !ok {
		return nil, &os.PathError{Op: "readdir", Path: dir, Err: os.ErrNotExist}
	}
	var names []string
	for n := range d.names {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}

func (fs *memFS) SyncDir(dir string) error {
	if err := fs.check("syncdir", dir); err != nil {
		return err
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	d, ok := fs.lookupDir(dir)
	if !ok {
		return &os.PathError{Op: "sync", Path: dir, Err: os.ErrNotExist}
	}
	d.durable = make(map[string]any, len(d.names))
	for k, v := range d.names {
		d.durable[k] = v
	}
	return nil
}

// SyncAll syncs every file and directory (syncfs covers the whole file
// system).
func (fs *memFS) SyncAll(dir string) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if err := fs.check("syncall", dir); err != nil {
		return err
	}
	var walk func(d *memDir)
	walk = func(d *memDir) {
		d.durable = make(map[string]any, len(d.names))
		for k, v := range d.names {
			d.durable[k] = v
			switch x := v.(type) {
			case *memDir:
				walk(x)
			case *memNode:
				x.syncLocked()
			}
		}
	}
	walk(fs.root)
	return nil
}

// crash returns what survives a power loss now: durable directory entries
// and synced file data; with torn set, files may also keep a random prefix
// of their unsynced appends. The root's entries are always kept (the test's
// directory exists beforehand).
func (fs *memFS) crash(torn *rand.Rand) *memFS {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	var clone func(d *memDir, entries map[string]any) *memDir
	clone = func(d *memDir, entries map[string]any) *memDir {
		nd := newMemDir()
		for k, v := range entries {
			switch x := v.(type) {
			case *memDir:
				c := clone(x, x.durable)
				nd.names[k] = c
			case *memNode:
				s := append([]byte(nil), x.synced...)
				if torn != nil && len(x.data) > len(x.synced) && torn.Intn(2) == 0 {
					// Some of the unsynced pages reached the disk: a
					// prefix of what was written after the last sync.
					s = append([]byte(nil), x.data[:len(x.synced)+torn.Intn(len(x.data)-len(x.synced)+1)]...)
				}
				nd.names[k] = &memNode{data: s, synced: append([]byte(nil), s...)}
			}
		}
		nd.durable = make(map[string]any, len(nd.names))
		for k, v := range nd.names {
			nd.durable[k] = v
		}
		return nd
	}
	return &memFS{root: clone(fs.root, fs.root.names)}
}

// Lock implements FS; in memory there is only this process.
func (fs *memFS) Lock(name string) (io.Closer, error) { return io.NopCloser(nil), nil }

type memFile struct {
	fs     *memFS
	n      *memNode
	name   string
	closed bool
}

func (f *memFile) OS() *os.File { return nil }

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	// The fault hook runs outside the lock, as for Sync.
	if err := f.fs.check("read", f.name); err != nil {
		if err != errShort {
			return 0, &os.PathError{Op: "read", Path: f.name, Err: err}
		}
		f.fs.mu.Lock()
		defer f.fs.mu.Unlock()
		if off >= int64(len(f.n.data)) {
			return 0, io.EOF
		}
		n := copy(p[:len(p)/2], f.n.data[off:])
		return n, io.ErrUnexpectedEOF
	}
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if off >= int64(len(f.n.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.n.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.fs.check("write", f.name); err != nil {
		if err != errShort {
			return 0, err
		}
		p = p[:len(p)/2]
	}
	if end := off + int64(len(p)); end > int64(len(f.n.data)) {
		f.n.data = append(f.n.data, make([]byte, end-int64(len(f.n.data)))...)
	}
	copy(f.n.data[off:], p)
	f.n.dropRange(off, off+int64(len(p)))
	return len(p), nil
}

func (f *memFile) Sync() error {
	// The fault hook runs outside the lock so a slow "disk" does not stop
	// writers.
	if err := f.fs.check("sync", f.name); err != nil {
		f.fs.mu.Lock()
		f.n.failSyncLocked()
		f.fs.mu.Unlock()
		return err
	}
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	f.n.syncLocked()
	return nil
}

func (f *memFile) Truncate(size int64) error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if size < int64(len(f.n.data)) {
		f.n.data = f.n.data[:size]
	} else {
		f.n.data = append(f.n.data, make([]byte, size-int64(len(f.n.data)))...)
	}
	return nil
}

func (f *memFile) Size() (int64, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	return int64(len(f.n.data)), nil
}

func (f *memFile) Allocate(size int64) error {
	return f.fs.check("allocate", f.name)
}

func (f *memFile) Close() error { f.closed = true; return nil }
