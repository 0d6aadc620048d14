package storage

import (
	"os"
	"testing"
)

// openHookFS calls onOpen after every successful OpenFile, before the
// handle reaches the cache: the window in which fileCache.get holds no lock.
type openHookFS struct {
	FS
	onOpen func(name string)
}

func (h openHookFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := h.FS.OpenFile(name, flag, perm)
	if err == nil && h.onOpen != nil {
		h.onOpen(name)
	}
	return f, err
}

func writeMemFile(t *testing.T, fs FS, name, data string) {
	t.Helper()
	f, err := fs.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte(data), 0); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// TestFileCacheDropDuringOpen: a file removed and created again (a
// consume-queue rebuild) between get's open and its caching the handle
// must not leave the old file's handle in the cache, where later writes
// would go to the removed file.
func TestFileCacheDropDuringOpen(t *testing.T) {
	mem := newMemFS()
	if err := mem.MkdirAll("/d", 0o755); err != nil {
		t.Fatal(err)
	}
	writeMemFile(t, mem, "/d/a", "old")
	var c *fileCache
	fired := false
	c = newFileCache(openHookFS{FS: mem, onOpen: func(name string) {
		if fired {
			return
		}
		fired = true
		c.drop(name)
		if err := mem.Remove(name); err != nil {
			t.Error(err)
		}
		writeMemFile(t, mem, name, "new")
	}}, 4)
	cf, err := c.get("/d/a", false)
	if err != nil {
		t.Fatal(err)
	}
	defer c.put(cf)
	buf := make([]byte, 3)
	if _, err := cf.f.ReadAt(buf, 0); err != nil {
		t.Fatal(err)
	}
	if string(buf) != "new" {
		t.Fatalf("cached handle reads %q, want the file now at the path (%q)", buf, "new")
	}
	cf2, err := c.get("/d/a", false)
	if err != nil {
		t.Fatal(err)
	}
	defer c.put(cf2)
	if cf2 != cf {
		t.Fatal("second get did not find the cached handle")
	}
}

// TestFileCacheBound: idle handles beyond max are closed; handles in use
// are not.
func TestFileCacheBound(t *testing.T) {
	mem := newMemFS()
	mem.MkdirAll("/d", 0o755)
	c := newFileCache(mem, 2)
	held, err := c.get("/d/0", true)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"/d/1", "/d/2", "/d/3"} {
		cf, err := c.get(n, true)
		if err != nil {
			t.Fatal(err)
		}
		c.put(cf)
	}
	if held.f.(*memFile).closed {
		t.Fatal("a handle in use was closed")
	}
	c.mu.Lock()
	n := c.lru.Len()
	c.mu.Unlock()
	if n > 2 {
		t.Fatalf("%d handles cached, max 2", n)
	}
	c.put(held)
}
