package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Lock order: see "Lock order" in doc.go.

// EnsureDefaults fills every zero field that has a default. It is the one
// place the store's defaults live (cmd/gregor's settings table reads them
// from here).
func (c *Config) EnsureDefaults() {
	if c.SegmentBytes == 0 {
		c.SegmentBytes = 1 << 30
	}
	if c.FlushInterval == 0 {
		c.FlushInterval = 500 * time.Millisecond
	}
	if c.ProducerIDExpiration == 0 {
		c.ProducerIDExpiration = 24 * time.Hour
	}
	if c.CheckpointInterval == 0 {
		c.CheckpointInterval = 10 * time.Second
	}
	if c.CheckpointBytes == 0 {
		c.CheckpointBytes = 512 << 20
	}
	if c.RetentionInterval == 0 {
		c.RetentionInterval = 30 * time.Second
	}
	if c.CompactionInterval == 0 {
		c.CompactionInterval = 15 * time.Second
	}
	if c.MaxOpenFiles == 0 {
		c.MaxOpenFiles = 512
	}
	if c.FS == nil {
		c.FS = OSFS{}
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
}

// Validate fills defaults (EnsureDefaults) and rejects impossible values.
func (c *Config) Validate() error {
	c.EnsureDefaults()
	if c.Dir == "" {
		return errors.New("storage: Dir is required")
	}
	if c.SegmentBytes < 4096 {
		return fmt.Errorf("storage: SegmentBytes %d is below the minimum of 4096", c.SegmentBytes)
	}
	if c.FlushMode != FlushAsync && c.FlushMode != FlushSync {
		return fmt.Errorf("storage: unknown FlushMode %d", c.FlushMode)
	}
	if c.FlushInterval < 0 {
		return errors.New("storage: FlushInterval must be positive")
	}
	if c.MaxDiskBytes < 0 {
		return errors.New("storage: MaxDiskBytes must be 0 (no cap) or positive")
	}
	if c.MaxDiskBytes > 0 && c.MaxDiskBytes < 2*c.SegmentBytes {
		return fmt.Errorf("storage: MaxDiskBytes %d must hold at least two segments of %d bytes", c.MaxDiskBytes, c.SegmentBytes)
	}
	if c.ProducerIDExpiration < 0 || c.CheckpointInterval < 0 || c.RetentionInterval < 0 || c.CompactionInterval < 0 || c.MaxOpenFiles < 0 {
		return errors.New("storage: intervals and MaxOpenFiles must be positive")
	}
	return nil
}

// pkey identifies a partition.
type pkey struct {
	topic TopicID
	part  int32
}

// Store is the MetaQ store of one broker: one commit log, a consume queue per
// partition, the dispatcher and internal key/value state.
type Store struct {
	cfg   Config
	fs    FS
	log   *zap.Logger
	clDir string
	cqDir string
	cache *fileCache
	lock  io.Closer // the directory lock

	// mu serialises writers: commit-log appends and their dispatch, and
	// changes to the partition set.
	mu       sync.Mutex
	closed   bool
	writePos atomic.Int64 // end of the commit log (written and dispatched)
	broken   atomic.Pointer[error]
	runGen   uint64 // current append run (append.go); under mu

	partsMu sync.RWMutex
	parts   map[pkey]*Partition

	segMu     sync.RWMutex
	segs      []*segment
	diskBytes atomic.Int64

	// allocMu guards prepared, the next segment made ahead of time by the
	// allocator (held across its creation, so a roll that needs it waits
	// rather than creating the same file twice); allocKick wakes it.
	allocMu   sync.Mutex
	prepared  *segment
	allocKick chan struct{}
	// flushKick asks the async flusher for a flush now: after a roll, so
	// the closed segment is written back at once (outside the writer
	// lock) rather than piling up dirty pages until the next tick.
	flushKick chan struct{}

	kvMu sync.RWMutex
	kv   map[string]map[string][]byte

	// Flushing. durable is the commit-log position known to be on disk.
	flushMu    sync.Mutex
	flushCond  *sync.Cond
	durable    int64 // fsynced up to here
	published  int64 // durable and visible up to here
	syncMu     sync.Mutex
	syncing    bool         // a waiter is leading a group commit
	pending    []pendingVis // dispatched, above the visibility frontier (fence.go)
	limit      atomic.Int64 // commit limit (SetCommitLimit); noLimit when never set
	replaying  bool         // recovery: everything is visible at once
	ckptPos    atomic.Int64 // position covered by the last checkpoint
	ckptMu     sync.Mutex   // one checkpoint at a time
	lastCkptAt int64

	// ckptProdSize is the size of the last snapshot's encoded producer
	// state, so the next one allocates its buffer once (snapshotLocked).
	ckptProdSize atomic.Int64
	// ckptHeld is how long the last checkpoint held the writer lock (ns).
	ckptHeld atomic.Int64
	// ckptSoon asks the housekeeper for a checkpoint when it starts
	// (recovery re-dispatched entries; set before it runs).
	ckptSoon bool

	// autoCreate is set while rebuilding without a checkpoint from a log
	// whose first segments retention already deleted: partitions whose
	// creation entry is gone are recreated from their batches.
	autoCreate bool
	// openCkptPos is the position of the checkpoint the partitions were
	// loaded from (at Open, or by Truncate).
	openCkptPos int64
	// boot is the state of a bootstrap whose catch-up a checkpoint has not
	// covered yet: entries below boot.end only build consume queues
	// (bootstrap.go). Under s.mu.
	boot *bootState
	// following: the log is written by AppendRaw (a slave), so retention
	// writes no log-start moves of its own (see SetFollower).
	following atomic.Bool
	retMu     sync.Mutex // one retention pass at a time
	// kick asks the housekeeper for a retention pass now (disk cap).
	kick chan struct{}

	stop chan struct{}
	// ra advises the kernel to read ahead of consumers far behind
	// (readahead.go).
	ra *readAhead
	wg sync.WaitGroup
}

// pendingVis makes a partition's new end visible once the frontier (commit
// limit, and durability under sync flush) reaches pos, where its entry ends.
type pendingVis struct {
	pos int64
	p   *Partition
	hwm int64
}

// Open opens or creates the store in cfg.Dir, recovering after a crash.
func Open(cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Store{
		cfg:   cfg,
		fs:    cfg.FS,
		log:   cfg.Logger,
		clDir: filepath.Join(cfg.Dir, "commitlog"),
		cqDir: filepath.Join(cfg.Dir, "consumequeue"),
		parts: make(map[pkey]*Partition),
		kv:    make(map[string]map[string][]byte),
		stop:  make(chan struct{}),
		ra:    newReadAhead(),
		kick:  make(chan struct{}, 1),

		allocKick: make(chan struct{}, 1),
		flushKick: make(chan struct{}, 1),
	}
	s.flushCond = sync.NewCond(&s.flushMu)
	s.limit.Store(noLimit)
	s.cache = newFileCache(s.fs, cfg.MaxOpenFiles)
	if err := s.fs.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, err
	}
	lock, err := s.fs.Lock(filepath.Join(cfg.Dir, "LOCK"))
	if err != nil {
		return nil, err
	}
	s.lock = lock
	// Before anything else is read or written (format.go in this package's
	// doc: the FORMAT file).
	adopt, err := checkDirFormat(s.fs, cfg.Dir, s.log)
	if err != nil {
		lock.Close()
		return nil, err
	}
	for _, d := range []string{s.clDir, s.cqDir} {
		if err := s.fs.MkdirAll(d, 0o755); err != nil {
			lock.Close()
			return nil, err
		}
	}
	if err := s.fs.SyncDir(cfg.Dir); err != nil {
		lock.Close()
		return nil, err
	}
	if err := s.openSegments(); err != nil {
		s.closeFiles()
		return nil, err
	}
	if err := s.recover(); err != nil {
		s.closeFiles()
		return nil, err
	}
	if adopt {
		if err := writeDirFormat(s.fs, cfg.Dir); err != nil {
			s.closeFiles()
			return nil, err
		}
	}
	s.wg.Add(4)
	go s.flusher()
	go s.housekeeper()
	go s.allocator()
	go s.readAheader()
	s.kickAllocator()
	return s, nil
}

func (s *Store) closeFiles() {
	defer s.lock.Close()
	s.segMu.Lock()
	for _, seg := range s.segs {
		seg.f.Close()
	}
	s.segMu.Unlock()
	s.allocMu.Lock()
	if s.prepared != nil {
		s.prepared.f.Close() // left on disk: the next Open removes or reuses it
		s.prepared = nil
	}
	s.allocMu.Unlock()
	s.cache.closeAll()
}

// Close flushes, writes a checkpoint and closes the files. Reopening after
// Close does not re-scan the commit log.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	close(s.stop)
	s.flushMu.Lock()
	s.flushCond.Broadcast()
	s.flushMu.Unlock()
	s.wg.Wait()
	var err error
	if s.brokenErr() == nil {
		err = s.checkpoint()
	}
	// Wake anyone still waiting for durability.
	s.flushMu.Lock()
	s.flushCond.Broadcast()
	s.flushMu.Unlock()
	s.closeFiles()
	return err
}

// recover loads the last checkpoint and re-dispatches the commit log from
// the position it covers, truncating a torn or corrupt tail.
func (s *Store) recover() error {
	start := time.Now()
	ck, err := s.loadCheckpoint()
	if err != nil {
		return err
	}
	if len(s.segs) == 0 {
		seg, err := s.createSegment(0)
		if err != nil {
			return err
		}
		s.segs = append(s.segs, seg)
	}
	from := s.segs[0].base
	if ck != nil {
		if ck.pos < s.segs[0].base || ck.pos > s.segs[len(s.segs)-1].base+s.segs[len(s.segs)-1].cap {
			s.log.Error("storage: checkpoint does not match the commit log; rebuilding from the first segment",
				zap.Int64("checkpoint", ck.pos), zap.Int64("firstSegment", s.segs[0].base))
			ck = nil
		} else {
			s.applyCheckpoint(ck)
			from = ck.pos
			s.openCkptPos = ck.pos
		}
	}
	if ck != nil {
		if s.boot, err = s.loadBootstrap(ck.pos); err != nil {
			return err
		}
	} else if ck, err = s.bootstrapBase(); err != nil {
		return err
	} else if ck != nil {
		from = ck.pos
	}
	if ck == nil && s.segs[0].base > 0 {
		s.log.Error("storage: no usable checkpoint and the first segments are gone; "+
			"rebuilding partitions from their batches (internal state older than the first segment is lost)",
			zap.Int64("firstSegment", s.segs[0].base))
		s.autoCreate = true
	}
	loaded := time.Now()
	// Where the log ends, decided before anything is changed (recovery.go).
	end, err := s.checkLog(from)
	if err != nil {
		return err
	}
	if ck != nil && end < ck.maxAt {
		// The commit log is shorter than the checkpoint claims: the disk
		// lost synced data.
		return fmt.Errorf("%w: the commit log ends at %d, before the checkpoint position %d", errRecoveryRefused, end, ck.maxAt)
	}
	if ck == nil {
		// Full rebuild: consume queues are rewritten from scratch.
		s.fs.RemoveAll(s.cqDir)
		if err := s.fs.MkdirAll(s.cqDir, 0o755); err != nil {
			return err
		}
	}
	checked := time.Now()
	s.replaying = true
	sc := s.newScanner(from)
	n := 0
	for sc.pos < end {
		h, b, pos, ok := sc.next()
		if !ok {
			return fmt.Errorf("storage: the commit log became unreadable during recovery: %v", sc.err)
		}
		s.writePos.Store(pos + int64(h.length))
		s.apply(pos, &h, b)
		n++
	}
	if err := s.brokenErr(); err != nil {
		return err // a consume queue could not be rebuilt (partition.go)
	}
	if err := s.truncateTail(end); err != nil {
		return err
	}
	// What the flusher had not synced before the crash is synced before
	// it counts as durable (and visible under FlushSync).
	for _, seg := range s.segs {
		if n > 0 && seg.base+seg.cap > from && seg.base < end {
			if err := s.syncSegment(seg); err != nil {
				return err
			}
		}
	}
	s.writePos.Store(end)
	s.replaying = false
	s.autoCreate = false
	s.durable = end
	s.published = end
	for _, seg := range s.segs {
		s.diskBytes.Add(seg.cap)
	}
	replayed := time.Now()
	switch {
	case ck == nil:
		// A rebuild from the start: checkpoint it before serving.
		if err := s.checkpoint(); err != nil {
			return err
		}
	case n > 0:
		// The checkpoint covering the re-dispatched entries is left to
		// the housekeeper, which writes it at once: until then a crash
		// re-dispatches from the same checkpoint again. Written here, its
		// syncfs (every dirty page of the file system, not only this
		// store's) and its file delayed serving by a checkpoint's time
		// at every restart.
		s.ckptSoon = true
	}
	s.log.Info("storage: opened",
		zap.String("dir", s.cfg.Dir), zap.Int64("checkpoint", from), zap.Int64("end", end),
		zap.Int("replayed", n), zap.Int("partitions", len(s.parts)), zap.Duration("took", time.Since(start)),
		zap.Duration("load", loaded.Sub(start)), zap.Duration("check", checked.Sub(loaded)),
		zap.Duration("replay", replayed.Sub(checked)), zap.Duration("checkpointing", time.Since(replayed)),
		zap.Bool("checkpointSoon", s.ckptSoon))
	return nil
}

// truncateTail makes end the end of the commit log: later segments are
// removed and the rest of end's segment is zeroed, so stale entries past a
// torn one can never be taken for valid ones after new writes.
func (s *Store) truncateTail(end int64) error {
	var keep []*segment
	removed := false
	for _, seg := range s.segs {
		if seg.base > end || (seg.base == end && len(keep) > 0 && keep[len(keep)-1].base+keep[len(keep)-1].cap > end) {
			if s.adoptPrepared(keep, seg) {
				continue
			}
			s.log.Warn("storage: removing commit-log segment past the valid end", zap.String("file", seg.path))
			seg.f.Close()
			if err := s.fs.Remove(seg.path); err != nil {
				return err
			}
			removed = true
			continue
		}
		keep = append(keep, seg)
	}
	s.segs = keep
	last := s.segs[len(s.segs)-1]
	if end == last.base+last.cap {
		seg, err := s.createSegment(end)
		if err != nil {
			return err
		}
		s.segs = append(s.segs, seg)
	} else {
		size, err := last.f.Size()
		if err != nil {
			return err
		}
		if size > end-last.base {
			// Zero what follows end unless it is already zero.
			var hdr [entryHeaderSize]byte
			last.f.ReadAt(hdr[:], end-last.base)
			if hdr != [entryHeaderSize]byte{} || size != last.cap {
				s.log.Warn("storage: truncating the commit-log tail", zap.Int64("position", end))
				if err := last.f.Truncate(end - last.base); err != nil {
					return err
				}
				if err := last.f.Allocate(last.cap); err != nil {
					return err
				}
				if err := last.f.Sync(); err != nil {
					return err
				}
			}
		}
	}
	if removed {
		return s.fs.SyncDir(s.clDir)
	}
	return nil
}

// apply is the dispatcher: it derives partitions, consume queues, producer
// state and key/values from one valid commit-log entry at pos. It runs for
// live appends (under s.mu), for raw appends of a slave and during
// recovery, so all three derive the same state.
func (s *Store) apply(pos int64, h *entryHeader, b []byte) {
	if s.replaying && (h.typ == entryBatch || h.typ == entryLogStart) {
		// Already in the state the checkpoint holds for the partition.
		if p := s.lookup(pkey{h.topic, h.partition}); p != nil && pos < p.covered {
			return
		}
	}
	if s.boot != nil && pos < s.boot.end {
		s.applyCatchUp(pos, h, b)
		return
	}
	switch h.typ {
	case entryBatch:
		p := s.lookup(pkey{h.topic, h.partition})
		if p == nil && s.autoCreate {
			p = s.createLocked(pkey{h.topic, h.partition})
		}
		if p == nil {
			return // its topic was deleted
		}
		p.dispatchBatch(pos, h, b[entryHeaderSize:h.length])
	case entryCreate:
		s.createLocked(pkey{h.topic, h.partition})
	case entryDelete:
		s.deleteLocked(h.topic)
	case entryKV:
		s.applyKV(pos, b[entryHeaderSize:h.length])
	case entryLogStart:
		if p := s.lookup(pkey{h.topic, h.partition}); p != nil {
			p.mu.Lock()
			defer p.mu.Unlock() // also on a panic (breakOnPanic)
			p.ensureTailLocked()
			p.moveLogStartLocked(h.baseOffset)
		}
	}
}

func (s *Store) lookup(k pkey) *Partition {
	s.partsMu.RLock()
	p := s.parts[k]
	s.partsMu.RUnlock()
	return p
}

// appendEntry writes an entry (header built here) and dispatches it, then
// waits until it is durable under the flush mode. Used for everything but
// batches.
func (s *Store) appendEntry(h entryHeader, payload []byte) error {
	end, err := s.appendEntryDeferred(h, payload)
	if err != nil {
		return err
	}
	return s.WaitDurable(end)
}

// appendEntryDeferred is appendEntry without the wait: it returns the
// commit-log end to pass to WaitDurable.
func (s *Store) appendEntryDeferred(h entryHeader, payload []byte) (int64, error) {
	b := make([]byte, entryHeaderSize+len(payload))
	copy(b[entryHeaderSize:], payload)
	h.length = uint32(len(b))
	h.storeTime = time.Now().UnixMilli()
	putEntryHeader(b, &h)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return 0, ErrClosed
	}
	if err := s.brokenErr(); err != nil {
		s.mu.Unlock()
		return 0, err
	}
	err := s.breakOnPanic(func() error {
		pos, err := s.writeEntryLocked(b)
		if err == nil {
			s.apply(pos, &h, b)
		}
		return err
	})
	if err != nil {
		s.mu.Unlock()
		return 0, err
	}
	end := s.writePos.Load()
	s.mu.Unlock()
	return end, nil
}

// CreatePartition is idempotent: it returns the existing partition when it
// exists. The creation is recorded in the commit log, so restarts and
// slaves have it too.
func (s *Store) CreatePartition(topic TopicID, partition int32) (*Partition, error) {
	if partition < 0 {
		return nil, ErrUnknownPartition
	}
	k := pkey{topic, partition}
	if p := s.lookup(k); p != nil {
		return p, nil
	}
	if err := s.appendEntry(entryHeader{typ: entryCreate, topic: topic, partition: partition}, nil); err != nil {
		return nil, err
	}
	if p := s.lookup(k); p != nil {
		p.makeCQDir()
		return p, nil
	}
	return nil, ErrUnknownPartition
}

// createLocked adds a partition (dispatcher); under s.mu or during recovery.
func (s *Store) createLocked(k pkey) *Partition {
	s.partsMu.Lock()
	defer s.partsMu.Unlock()
	if p := s.parts[k]; p != nil {
		return p
	}
	p := newPartition(s, k)
	p.tailLoaded = true // new: nothing on disk yet
	s.parts[k] = p
	return p
}

// Partition returns the partition, nil when it does not exist.
func (s *Store) Partition(topic TopicID, partition int32) *Partition {
	return s.lookup(pkey{topic, partition})
}

// Partitions lists every partition of the store in (topic, partition) order.
func (s *Store) Partitions() []*Partition {
	s.partsMu.RLock()
	ps := make([]*Partition, 0, len(s.parts))
	for _, p := range s.parts {
		ps = append(ps, p)
	}
	s.partsMu.RUnlock()
	sort.Slice(ps, func(i, j int) bool {
		a, b := ps[i].key, ps[j].key
		if a.topic != b.topic {
			return string(a.topic[:]) < string(b.topic[:])
		}
		return a.part < b.part
	})
	return ps
}

// DeleteTopic drops every partition of topic, durably, and frees their
// consume queues; the commit-log space is reclaimed when retention deletes
// the segments holding their data.
func (s *Store) DeleteTopic(topic TopicID) error {
	return s.appendEntry(entryHeader{typ: entryDelete, topic: topic}, nil)
}

// deleteLocked removes topic's partitions (dispatcher).
func (s *Store) deleteLocked(topic TopicID) {
	s.partsMu.Lock()
	var gone []*Partition
	for k, p := range s.parts {
		if k.topic == topic {
			gone = append(gone, p)
			delete(s.parts, k)
		}
	}
	s.partsMu.Unlock()
	for _, p := range gone {
		p.mu.Lock()
		p.deleted = true
		ws := p.watchersLocked()
		p.mu.Unlock()
		s.cache.dropDir(p.cqDir)
		if err := s.fs.RemoveAll(p.cqDir); err != nil {
			s.log.Warn("storage: removing a consume queue", zap.Error(err))
		}
		for _, fn := range ws {
			fn()
		}
	}
}

// DiskUsage is the size of the commit-log files in bytes (segments are
// preallocated, so a new one counts in full).
func (s *Store) DiskUsage() int64 { return s.diskBytes.Load() }

// WaitDurable returns once the commit log is durable up to pos under the
// flush mode: at once for async flush; for sync flush after an fsync that
// covers pos. Group commit, leader style: the first waiter to find no sync
// running fsyncs for everyone written so far, the others wait for it and
// the next leader picks up whoever arrived meanwhile. The leader being a
// waiter (not a flusher goroutine) saves two goroutine hand-offs per
// fsync, which on a busy machine cost more than the fsync.
func (s *Store) WaitDurable(pos int64) error {
	if s.cfg.FlushMode == FlushAsync {
		return nil
	}
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	for s.published < pos {
		if err := s.brokenErr(); err != nil {
			return err
		}
		if s.isStopping() {
			return ErrClosed
		}
		if !s.syncing {
			s.syncing = true
			s.flushMu.Unlock()
			s.syncTo(s.writePos.Load())
			s.flushMu.Lock()
			s.syncing = false
			s.flushCond.Broadcast()
			continue
		}
		s.flushCond.Wait()
	}
	return nil
}

func (s *Store) isStopping() bool {
	select {
	case <-s.stop:
		return true
	default:
		return false
	}
}

// publishLocked makes p's end hwm visible once the commit log up to pos is
// durable under the flush mode and pos is within the commit limit (see
// fence.go). Called by the dispatcher with s.mu and p.mu held.
func (s *Store) publishLocked(p *Partition, hwm, pos int64) []func() {
	if (s.cfg.FlushMode == FlushAsync || s.replaying) && pos <= s.limit.Load() {
		return p.setHWMLocked(hwm)
	}
	s.flushMu.Lock()
	if pos <= s.frontierLocked() {
		s.flushMu.Unlock()
		return p.setHWMLocked(hwm)
	}
	s.addPendingLocked(pendingVis{pos: pos, p: p, hwm: hwm})
	s.flushMu.Unlock()
	return nil
}

// flusher makes the commit log durable every FlushInterval under async
// flush (sync flush needs none: waiters sync, see WaitDurable).
func (s *Store) flusher() {
	defer s.wg.Done()
	if s.cfg.FlushMode != FlushAsync {
		return
	}
	tick := s.cfg.flushTicks
	if tick == nil {
		t := time.NewTicker(s.cfg.FlushInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-s.stop:
			s.syncTo(s.writePos.Load())
			return
		case <-tick:
			s.syncTo(s.writePos.Load())
		case <-s.flushKick:
			s.syncTo(s.writePos.Load())
		}
	}
}

// syncTo fsyncs every segment holding bytes in (durable, target] (a roll
// leaves the segment it closed to be synced here, outside the writer
// lock) and publishes what became durable.
//
// Partition.mu is taken after flushMu is released: the dispatcher holds
// Partition.mu when it takes flushMu (publishLocked), so the reverse order
// here would deadlock. Because of the gap, waiters wait for published (all
// pending ends up to it are visible), not for durable: a waiter that woke
// on durable alone could return before its batch is visible (unless a
// commit limit holds it back: then only durability is waited for). syncMu
// keeps two syncTo calls from publishing out of order, and makes syncTo the
// one place commit-log segments are fsynced while the store runs.
func (s *Store) syncTo(target int64) {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	s.flushMu.Lock()
	done := s.published >= target
	from := s.durable
	s.flushMu.Unlock()
	if done || s.brokenErr() != nil {
		return
	}
	// Segments wholly below durable are never synced again, and retention
	// deletes only segments a checkpoint covers (so below durable): none
	// of these is closed under us.
	var segs []*segment
	s.segMu.RLock()
	for _, seg := range s.segs {
		if seg.base+seg.cap > from && seg.base < target {
			segs = append(segs, seg)
		}
	}
	s.segMu.RUnlock()
	for _, seg := range segs {
		if err := s.syncSegment(seg); err != nil {
			s.flushMu.Lock()
			s.flushCond.Broadcast()
			s.flushMu.Unlock()
			return
		}
	}
	s.flushMu.Lock()
	if target > s.durable {
		s.durable = target
	}
	d := s.durable
	take := s.takeVisibleLocked()
	s.flushMu.Unlock()
	fns := s.makeVisible(take)
	s.flushMu.Lock()
	if d > s.published {
		s.published = d
	}
	s.flushCond.Broadcast()
	s.flushMu.Unlock()
	for _, fn := range fns {
		fn()
	}
}

// housekeeper writes periodic checkpoints and runs retention.
func (s *Store) housekeeper() {
	defer s.wg.Done()
	ck := time.NewTicker(s.cfg.CheckpointInterval)
	defer ck.Stop()
	// cb looks at how far the log has grown since the last checkpoint.
	cb := time.NewTicker(min(time.Second, s.cfg.CheckpointInterval))
	defer cb.Stop()
	rt := time.NewTicker(s.cfg.RetentionInterval)
	defer rt.Stop()
	ct := time.NewTicker(s.cfg.CompactionInterval)
	defer ct.Stop()
	if s.ckptSoon && s.brokenErr() == nil {
		if err := s.checkpoint(); err != nil {
			s.log.Warn("storage: checkpoint failed", zap.Error(err))
		}
	}
	for {
		select {
		case <-s.stop:
			return
		case <-ct.C:
			if err := s.compactThenRetain(); err != nil {
				s.log.Warn("storage: compaction failed", zap.Error(err))
			}
		case <-ck.C:
			if s.ckptPos.Load() != s.writePos.Load() && s.brokenErr() == nil {
				if err := s.checkpoint(); err != nil {
					s.log.Warn("storage: checkpoint failed", zap.Error(err))
				}
			}
		case <-cb.C:
			if s.cfg.CheckpointBytes > 0 && s.writePos.Load()-s.ckptPos.Load() >= s.cfg.CheckpointBytes && s.brokenErr() == nil {
				if err := s.checkpoint(); err != nil {
					s.log.Warn("storage: checkpoint failed", zap.Error(err))
				}
				ck.Reset(s.cfg.CheckpointInterval)
			}
		case <-s.kick:
			if err := s.RunRetention(); err != nil {
				s.log.Warn("storage: retention failed", zap.Error(err))
			}
		case <-rt.C:
			if err := s.RunRetention(); err != nil {
				s.log.Warn("storage: retention failed", zap.Error(err))
			}
		}
	}
}

// --- internal key/values ---

// PutKV appends internal state to the commit log as one entry and applies
// it; it returns after the entry is durable under the flush mode.
// Retention never loses it (it is part of every checkpoint). Namespaces
// starting with ReservedNamespacePrefix are refused.
func (s *Store) PutKV(ns string, kvs ...KV) error {
	end, err := s.PutKVDeferred(ns, kvs...)
	if err != nil {
		return err
	}
	return s.WaitDurable(end)
}

// PutKVDeferred is PutKV without the wait for durability, so a caller can
// let go of its own locks first: it returns the commit-log position the
// entry reaches, and the write must not be reported done (nor its effect
// shown to others) before WaitDurable of that position returns nil. The
// key/values are applied to GetKV and RangeKV at once.
func (s *Store) PutKVDeferred(ns string, kvs ...KV) (int64, error) {
	if reservedNamespace(ns) {
		return 0, fmt.Errorf("storage: namespace %q is reserved for the store", ns)
	}
	b, err := encodeKV(ns, kvs)
	if err != nil {
		return 0, err
	}
	return s.appendEntryDeferred(entryHeader{typ: entryKV}, b)
}

// encodeKV encodes a KV entry payload (layout in doc.go).
func encodeKV(ns string, kvs []KV) ([]byte, error) {
	if len(ns) > 0xffff {
		return nil, errors.New("storage: namespace too long")
	}
	n := 2 + len(ns) + 4
	for _, kv := range kvs {
		n += 8 + len(kv.Key) + len(kv.Value)
	}
	b := make([]byte, 0, n)
	b = binary.BigEndian.AppendUint16(b, uint16(len(ns)))
	b = append(b, ns...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(kvs)))
	for _, kv := range kvs {
		b = binary.BigEndian.AppendUint32(b, uint32(len(kv.Key)))
		b = append(b, kv.Key...)
		if kv.Value == nil {
			b = binary.BigEndian.AppendUint32(b, 0xffffffff)
			continue
		}
		b = binary.BigEndian.AppendUint32(b, uint32(len(kv.Value)))
		b = append(b, kv.Value...)
	}
	return b, nil
}

// decodeKV decodes a KV entry payload; ok is false when it is malformed.
func decodeKV(b []byte) (ns string, kvs []KV, ok bool) {
	if len(b) < 2 {
		return "", nil, false
	}
	l := int(binary.BigEndian.Uint16(b))
	b = b[2:]
	if len(b) < l+4 {
		return "", nil, false
	}
	ns = string(b[:l])
	b = b[l:]
	cnt := binary.BigEndian.Uint32(b)
	b = b[4:]
	for i := uint32(0); i < cnt; i++ {
		if len(b) < 4 {
			return "", nil, false
		}
		kl := binary.BigEndian.Uint32(b)
		b = b[4:]
		if uint64(len(b)) < uint64(kl)+4 {
			return "", nil, false
		}
		kv := KV{Key: b[:kl:kl]}
		b = b[kl:]
		vl := binary.BigEndian.Uint32(b)
		b = b[4:]
		if vl != 0xffffffff {
			if uint64(len(b)) < uint64(vl) {
				return "", nil, false
			}
			kv.Value = b[:vl:vl]
			b = b[vl:]
		}
		kvs = append(kvs, kv)
	}
	return ns, kvs, len(b) == 0
}

func (s *Store) applyKV(pos int64, payload []byte) {
	ns, kvs, ok := decodeKV(payload)
	if !ok {
		s.log.Warn("storage: skipping a malformed key/value entry")
		return
	}
	s.kvMu.Lock()
	defer s.kvMu.Unlock()
	m := s.kv[ns]
	if m == nil {
		m = make(map[string][]byte)
		s.kv[ns] = m
	}
	for _, kv := range kvs {
		if ns == TermNamespace {
			if v, ok := termValue(kv, pos); ok {
				m[string(kv.Key)] = v
			}
			continue
		}
		if kv.Value == nil {
			delete(m, string(kv.Key))
		} else {
			m[string(kv.Key)] = append([]byte{}, kv.Value...)
		}
	}
	if len(m) == 0 {
		delete(s.kv, ns)
	}
}

// GetKV returns a copy of the value of key in namespace ns.
func (s *Store) GetKV(ns string, key []byte) ([]byte, bool) {
	s.kvMu.RLock()
	defer s.kvMu.RUnlock()
	v, ok := s.kv[ns][string(key)]
	if !ok {
		return nil, false
	}
	return append([]byte{}, v...), true
}

// RangeKV calls fn for every key of ns in key order until fn returns false.
// fn gets copies and may call the store.
func (s *Store) RangeKV(ns string, fn func(key, value []byte) bool) {
	s.kvMu.RLock()
	m := s.kv[ns]
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	vals := make([][]byte, len(keys))
	for i, k := range keys {
		vals[i] = append([]byte{}, m[k]...)
	}
	s.kvMu.RUnlock()
	for i, k := range keys {
		if !fn([]byte(k), vals[i]) {
			return
		}
	}
}
