package storage

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"syscall"

	"golang.org/x/sys/unix"
)

// FS is the filesystem seam. The store does all its I/O through it, so fault
// and power-loss tests can run against an in-memory implementation. OSFS is
// the real one.
type FS interface {
	// OpenFile opens name like os.OpenFile.
	OpenFile(name string, flag int, perm os.FileMode) (File, error)
	Remove(name string) error
	RemoveAll(name string) error
	// Rename replaces newname atomically (POSIX rename).
	Rename(oldname, newname string) error
	MkdirAll(name string, perm os.FileMode) error
	// ReadDir returns the names in dir, sorted; a missing dir is an error
	// satisfying errors.Is(err, os.ErrNotExist).
	ReadDir(dir string) ([]string, error)
	// SyncDir makes the directory's entries (created, renamed, removed
	// files) durable.
	SyncDir(dir string) error
	// SyncAll makes every written byte of every file under dir durable, open
	// or already closed (syncfs(2)); consume-queue files are synced this way
	// so that 10,000 of them cost one call.
	SyncAll(dir string) error
	// Lock takes an exclusive lock on the file name (created if missing),
	// held until the returned Closer is closed or the process dies, so two
	// processes never open one store.
	Lock(name string) (io.Closer, error)
}

// File is one open file of an FS.
type File interface {
	ReadFile
	WriteAt(p []byte, off int64) (int, error)
	// Sync makes the file's data durable (fdatasync).
	Sync() error
	Truncate(size int64) error
	Size() (int64, error)
	// Allocate reserves disk blocks up to size so later writes neither
	// extend the file nor hit a full disk; it may be a no-op.
	Allocate(size int64) error
	Close() error
}

// OSFS is the FS of the operating system.
type OSFS struct{}

type osFile struct{ *os.File }

// OS returns the underlying file for sendfile.
func (f osFile) OS() *os.File { return f.File }

func (f osFile) Sync() error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if err != syscall.EINTR {
			if err != nil {
				return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: err}
			}
			return nil
		}
	}
}

// SeekData implements dataSeeker with lseek(SEEK_DATA): holes and
// unwritten preallocated blocks are skipped. The file offset it moves is
// not used (all I/O is pread/pwrite).
func (f osFile) SeekData(off int64) (int64, error) {
	d, err := unix.Seek(int(f.Fd()), off, unix.SEEK_DATA)
	if err == unix.ENXIO {
		return 0, io.EOF
	}
	if err == unix.EINVAL || err == unix.EOPNOTSUPP {
		return off, nil // no SEEK_DATA here: read everything
	}
	if err != nil {
		return 0, &os.PathError{Op: "lseek", Path: f.Name(), Err: err}
	}
	return d, nil
}

func (f osFile) Size() (int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

func (f osFile) Allocate(size int64) error {
	err := syscall.Fallocate(int(f.Fd()), 0, 0, size)
	if err == syscall.EOPNOTSUPP || err == syscall.ENOSYS || err == syscall.EINTR {
		return nil // filesystems without fallocate just grow the file
	}
	if err != nil {
		return &os.PathError{Op: "fallocate", Path: f.Name(), Err: err}
	}
	return nil
}

// OpenFile implements FS. Files are opened with O_NOATIME where the
// process may (it owns them): under the usual relatime mount every fetch
// after an append would otherwise update the segment's access time (the
// append moved its mtime), dirtying the inode, so the read path (sendfile)
// starts a filesystem journal handle and can wait for a journal commit an
// fsync forced. Nothing in gregor reads access times.
func (OSFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag|unix.O_NOATIME, perm)
	if errors.Is(err, os.ErrPermission) {
		f, err = os.OpenFile(name, flag, perm) // not the owner: O_NOATIME is refused
	}
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

// Remove implements FS.
func (OSFS) Remove(name string) error { return os.Remove(name) }

// RemoveAll implements FS.
func (OSFS) RemoveAll(name string) error { return os.RemoveAll(name) }

// Rename implements FS.
func (OSFS) Rename(o, n string) error { return os.Rename(o, n) }

// MkdirAll implements FS.
func (OSFS) MkdirAll(name string, perm os.FileMode) error { return os.MkdirAll(name, perm) }

// ReadDir implements FS.
func (OSFS) ReadDir(dir string) ([]string, error) {
	es, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(es))
	for i, e := range es {
		names[i] = e.Name()
	}
	sort.Strings(names)
	return names, nil
}

// SyncDir implements FS.
func (OSFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// SyncAll implements FS with syncfs(2) on the file system holding dir.
func (OSFS) SyncAll(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := unix.Syncfs(int(d.Fd())); err != nil {
		return &os.PathError{Op: "syncfs", Path: dir, Err: err}
	}
	return nil
}

// Lock implements FS with flock(2).
func (OSFS) Lock(name string) (io.Closer, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("storage: %s is in use by another process: %w", filepath.Dir(name), err)
	}
	return f, nil
}

// isNoSpace reports whether err means the disk is full.
func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) || errors.Is(err, ErrDiskFull)
}

// writeFileAtomic writes data to name through a temporary file, fsync and
// rename, then fsyncs the directory, so a crash leaves the old or the new
// content, never a mix.
func writeFileAtomic(fs FS, name string, data []byte) error {
	tmp := name + ".tmp"
	f, err := fs.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if n, err := f.WriteAt(data, 0); err != nil || n != len(data) {
		f.Close()
		if err == nil {
			err = io.ErrShortWrite
		}
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := fs.Rename(tmp, name); err != nil {
		return err
	}
	return fs.SyncDir(filepath.Dir(name))
}

// readWholeFile reads a file of fs; a missing file gives os.ErrNotExist.
func readWholeFile(fs FS, name string) ([]byte, error) {
	f, err := fs.OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return nil, err
	}
	buf := make([]byte, size)
	if _, err := f.ReadAt(buf, 0); err != nil && err != io.EOF {
		return nil, err
	}
	return buf, nil
}
