package storage

import (
	"container/list"
	"os"
	"path/filepath"
	"sync"
)

// fileCache keeps a bounded number of consume-queue files open, so 10,000
// partitions do not need 10,000 descriptors. Handles are reference counted:
// a handle in use is never closed under its user.
//
// Files are opened and closed outside mu: a checkpoint touching 10,000
// partitions opens and closes 10,000 files, and with the syscalls under mu
// every reader and the writer's block writes queued behind each of them.
type fileCache struct {
	fs  FS
	max int

	mu  sync.Mutex
	m   map[string]*list.Element // of *cachedFile
	lru list.List                // front = most recently used
	// drops counts drop, dropDir and closeAll calls: a handle opened
	// outside mu is not cached when one happened meanwhile, since its file
	// may have been removed (and the path recreated) after it was opened.
	drops uint64
}

type cachedFile struct {
	path    string
	f       File
	refs    int
	dropped bool
}

func newFileCache(fs FS, max int) *fileCache {
	return &fileCache{fs: fs, max: max, m: make(map[string]*list.Element)}
}

// get returns an open handle of path, creating the file when create is set;
// the caller must put it back.
func (c *fileCache) get(path string, create bool) (*cachedFile, error) {
	flag := os.O_RDWR
	if create {
		flag |= os.O_CREATE
	}
	for {
		c.mu.Lock()
		if el, ok := c.m[path]; ok {
			c.lru.MoveToFront(el)
			cf := el.Value.(*cachedFile)
			cf.refs++
			c.mu.Unlock()
			return cf, nil
		}
		drops := c.drops
		c.mu.Unlock()

		f, err := c.fs.OpenFile(path, flag, 0o644)
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		if c.drops != drops {
			c.mu.Unlock()
			f.Close()
			continue // the file may be gone: open it again
		}
		if el, ok := c.m[path]; ok { // another get opened it meanwhile
			c.lru.MoveToFront(el)
			cf := el.Value.(*cachedFile)
			cf.refs++
			c.mu.Unlock()
			f.Close()
			return cf, nil
		}
		cf := &cachedFile{path: path, f: f, refs: 1}
		c.m[path] = c.lru.PushFront(cf)
		victims := c.evictLocked()
		c.mu.Unlock()
		closeAll(victims)
		return cf, nil
	}
}

func (c *fileCache) put(cf *cachedFile) {
	c.mu.Lock()
	cf.refs--
	var victims []File
	if cf.refs == 0 && cf.dropped {
		victims = append(victims, cf.f)
	}
	victims = append(victims, c.evictLocked()...)
	c.mu.Unlock()
	closeAll(victims)
}

// evictLocked removes idle handles beyond max from the cache and returns
// them, to be closed after mu is released.
func (c *fileCache) evictLocked() []File {
	var victims []File
	for el := c.lru.Back(); el != nil && c.lru.Len() > c.max; {
		prev := el.Prev()
		cf := el.Value.(*cachedFile)
		if cf.refs == 0 {
			c.lru.Remove(el)
			delete(c.m, cf.path)
			victims = append(victims, cf.f)
		}
		el = prev
	}
	return victims
}

func closeAll(fs []File) {
	for _, f := range fs {
		f.Close()
	}
}

// drop forgets path (its file is being deleted); an in-use handle is closed
// by its last put.
func (c *fileCache) drop(path string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.drops++
	if el, ok := c.m[path]; ok {
		cf := el.Value.(*cachedFile)
		c.lru.Remove(el)
		delete(c.m, path)
		cf.dropped = true
		if cf.refs == 0 {
			cf.f.Close()
		}
	}
}

// dropDir drops every file under dir.
func (c *fileCache) dropDir(dir string) {
	c.mu.Lock()
	c.drops++
	var paths []string
	for path := range c.m {
		if filepath.Dir(path) == dir {
			paths = append(paths, path)
		}
	}
	c.mu.Unlock()
	for _, p := range paths {
		c.drop(p)
	}
}

// closeAll closes every idle handle.
func (c *fileCache) closeAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.drops++
	for path, el := range c.m {
		cf := el.Value.(*cachedFile)
		cf.dropped = true
		if cf.refs == 0 {
			cf.f.Close()
		}
		delete(c.m, path)
	}
	c.lru.Init()
}
