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
type fileCache struct {
	fs  FS
	max int

	mu  sync.Mutex
	m   map[string]*list.Element // of *cachedFile
	lru list.List                // front = most recently used
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
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.m[path]; ok {
		c.lru.MoveToFront(el)
		cf := el.Value.(*cachedFile)
		cf.refs++
		return cf, nil
	}
	flag := os.O_RDWR
	if create {
		flag |= os.O_CREATE
	}
	f, err := c.fs.OpenFile(path, flag, 0o644)
	if err != nil {
		return nil, err
	}
	cf := &cachedFile{path: path, f: f, refs: 1}
	c.m[path] = c.lru.PushFront(cf)
	c.evictLocked()
	return cf, nil
}

func (c *fileCache) put(cf *cachedFile) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cf.refs--
	if cf.refs == 0 && cf.dropped {
		cf.f.Close()
	}
	c.evictLocked()
}

func (c *fileCache) evictLocked() {
	for el := c.lru.Back(); el != nil && c.lru.Len() > c.max; {
		prev := el.Prev()
		cf := el.Value.(*cachedFile)
		if cf.refs == 0 {
			c.lru.Remove(el)
			delete(c.m, cf.path)
			cf.f.Close()
		}
		el = prev
	}
}

// drop forgets path (its file is being deleted); an in-use handle is closed
// by its last put.
func (c *fileCache) drop(path string) {
	c.mu.Lock()
	defer c.mu.Unlock()
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
