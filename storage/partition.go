package storage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"go.uber.org/zap"
)

// Partition is one Kafka partition (a MetaQ queue) of the store. Its
// consume queue lives in a file of fixed-size entries; the last incomplete
// block of entries (the tail) is kept in memory, written to the file when
// it fills and into every checkpoint (which so never opens a consume-queue
// file).
type Partition struct {
	s     *Store
	key   pkey
	cqDir string // the partition's consume-queue directory

	mu         sync.RWMutex
	deleted    bool
	tailLoaded bool
	// cqErr is set when the consume queue could not be rebuilt from the
	// commit log (rebuildCQ): reads and appends fail with it.
	cqErr     error
	repairs   atomic.Int64 // consume-queue rebuilds by Read
	dirMade   bool
	count     int64 // consume-queue entries
	tailStart int64 // index of tail[0]; a multiple of cqBlock
	tail      []cqEntry
	// covered is the log position up to which the checkpoint the
	// partition was loaded from holds its state (at or after that
	// checkpoint's position: a checkpoint snapshots partitions in chunks);
	// recovery re-dispatches none of its entries below it. Under s.mu.
	covered int64
	// tailShared is set by a checkpoint's snapshot, which keeps a view of
	// tail to encode outside the locks, and by a reader's view
	// (viewLocked): the next block write then moves the rest of the tail
	// to a new array instead of over the shared one.
	tailShared atomic.Bool
	blocks     []blockInfo // one per cqBlock entries, from block blocksBase
	blocksBase int64       // blocks below the first retained entry are dropped
	// trimmable is the first retained entry as of the last checkpoint:
	// consume-queue files wholly below it may be deleted.
	trimmable   int64
	cqFirstFile int64 // no consume-queue file below this entry index remains
	nextOffset  int64 // log end offset: the next offset to assign
	hwm         int64 // visible end (the dispatch fence)
	logStart    int64
	startIdx    int64 // first consume-queue entry still retained
	totalBytes  int64 // batch bytes of all entries [0, count)
	startCum    int64 // batch bytes of entries [0, startIdx)
	maxTs       int64
	maxTsOff    int64
	epochs      []epochStart
	producers   map[int64]*producerState
	txn         txnIndex // open and aborted transactions (txn.go)
	retention   RetentionPolicy
	watchers    map[uint64]func()
	nextWatch   uint64
	// rebuild marks a partition decoded from a checkpoint whose consume
	// queue must be rebuilt from the log (Truncate).
	rebuild bool
	// inRun is the Store.runGen of the append run holding a batch of this
	// partition (append.go); under s.mu.
	inRun uint64
	// compaction is the cleanup.policy=compact settings (nil: none);
	// cview caches the committed compaction's copies (compact.go).
	compaction atomic.Pointer[CompactionPolicy]
	cview      atomic.Pointer[compactView]
}

// blockInfo indexes one consume-queue block in memory, so a search reads a
// single 4 KiB block from the file.
type blockInfo struct {
	firstBase  int64
	firstRunTs int64
	firstCum   int64 // batch bytes of all entries before the block
}

// epochStart is where a leader epoch starts (KIP-101).
type epochStart struct {
	epoch int32
	start int64
}

func newPartition(s *Store, k pkey) *Partition {
	dir := fmt.Sprintf("%x-%d", k.topic[:], k.part)
	return &Partition{
		s:         s,
		key:       k,
		cqDir:     filepath.Join(s.cqDir, dir),
		maxTs:     -1,
		maxTsOff:  -1,
		producers: make(map[int64]*producerState),
		retention: RetentionPolicy{Ms: -1, Bytes: -1},
	}
}

// Topic returns the partition's topic id and number.
func (p *Partition) Topic() (TopicID, int32) { return p.key.topic, p.key.part }

// ensureTailLocked loads the tail block from the file after a restart;
// under p.mu (write). A consume queue that cannot be read is rebuilt from
// the commit log.
func (p *Partition) ensureTailLocked() {
	if p.tailLoaded {
		return
	}
	p.tailLoaded = true
	n := p.count - p.tailStart
	if n <= 0 {
		return
	}
	es, err := p.readEntries(p.tailStart, n)
	if err != nil {
		p.s.log.Error("storage: consume queue unreadable; rebuilding it from the commit log",
			zap.String("dir", p.cqDir), zap.Error(err))
		p.rebuildCQ(max(p.s.openCkptPos, p.covered))
		return
	}
	p.tail = es
}

// rebuildCQ is rebuildCQLocked for callers that cannot return its error:
// a consume queue that could not be rebuilt is never served short. The
// partition keeps the error (cqErr): its reads and appends fail with it,
// and a batch dispatched to it (replay, a slave) breaks the store. Under
// p.mu (write).
func (p *Partition) rebuildCQ(limit int64) {
	if err := p.rebuildCQLocked(limit); err != nil {
		p.cqErr = fmt.Errorf("storage: consume queue of %x-%d cannot be rebuilt: %w", p.key.topic[:], p.key.part, err)
		p.s.log.Error("storage: rebuilding a consume queue failed", zap.String("dir", p.cqDir), zap.Error(err))
	}
}

// rebuildCQLocked rewrites the partition's consume queue from its batches
// in the commit log below limit (the position of the checkpoint the
// partition was loaded from; later batches are dispatched normally). Log
// start, epochs and producer state are kept. Under p.mu (write).
//
// The commit log up to limit is read and checked once before anything is
// removed: a read error or a bad entry below limit leaves the old queue as
// it was and returns an error naming the file and position. An error in
// the second pass (the disk failed in between) leaves a partial queue and
// returns the error too; it is never silently short.
func (p *Partition) rebuildCQLocked(limit int64) error {
	p.s.segMu.RLock()
	first := p.s.segs[0].base
	p.s.segMu.RUnlock()
	check := p.s.newScanner(first)
	for check.pos < limit {
		if _, _, _, ok := check.next(); !ok {
			return rebuildStopped(check, limit)
		}
	}
	p.s.cache.dropDir(p.cqDir)
	p.s.fs.RemoveAll(p.cqDir)
	p.dirMade = false
	p.blocksBase, p.cqFirstFile, p.trimmable = 0, 0, 0
	p.count, p.tailStart, p.startIdx, p.startCum, p.totalBytes = 0, 0, 0, 0, 0
	p.tail, p.blocks = nil, nil
	runMax := int64(-1)
	sc := p.s.newScanner(first)
	for sc.pos < limit {
		h, b, pos, ok := sc.next()
		if !ok {
			return rebuildStopped(sc, limit)
		}
		if h.typ != entryBatch || h.topic != p.key.topic || h.partition != p.key.part {
			continue
		}
		batch := b[entryHeaderSize:h.length]
		bi, err := parseBatch(batch)
		if err != nil {
			continue
		}
		e := newCQEntry(pos, &h, batch, &bi, runMax)
		runMax = e.runMaxTs
		p.addEntryLocked(e)
		if e.lastOffset() < p.logStart {
			p.startIdx++
			p.startCum += int64(e.size)
		}
	}
	return nil
}

// rebuildStopped is the error of a consume-queue rebuild whose scan
// stopped before limit.
func rebuildStopped(sc *scanner, limit int64) error {
	if sc.err == nil {
		return fmt.Errorf("the commit log ends at %d, before %d", sc.pos, limit)
	}
	return fmt.Errorf("%v (needed up to %d)", sc.err, limit)
}

// newCQEntry builds the consume-queue entry of a batch stored at pos.
func newCQEntry(pos int64, h *entryHeader, batch []byte, bi *batchInfo, runMax int64) cqEntry {
	return cqEntry{
		pos:         pos + entryHeaderSize,
		size:        int32(len(batch)),
		leaderEpoch: h.leaderEpoch,
		baseOffset:  h.baseOffset,
		lastDelta:   bi.lastDelta,
		attributes:  bi.attributes,
		maxTs:       bi.maxTs,
		maxTsOffset: maxTimestampOffset(batch, bi, h.baseOffset),
		runMaxTs:    max(runMax, bi.maxTs),
	}
}

func (p *Partition) ensureTail() {
	p.mu.RLock()
	ok := p.tailLoaded
	p.mu.RUnlock()
	if !ok {
		p.mu.Lock()
		p.ensureTailLocked()
		p.mu.Unlock()
	}
}

// cqFileEntries is how many entries one consume-queue file holds (64 MiB);
// files are named by their first entry index. FROZEN (a variable only so
// tests can use small files).
var cqFileEntries int64 = 1 << 20

// cqFile is the file holding entry idx.
func (p *Partition) cqFile(idx int64) string {
	return filepath.Join(p.cqDir, fmt.Sprintf("%020d.cq", idx/cqFileEntries*cqFileEntries))
}

// readEntries reads n consume-queue entries, all in one file (callers read
// within a block, and blocks never straddle files); it needs no lock
// (written entries never change).
func (p *Partition) readEntries(first, n int64) ([]cqEntry, error) {
	if first/cqFileEntries != (first+n-1)/cqFileEntries {
		return nil, fmt.Errorf("storage: consume-queue read %d+%d straddles files", first, n)
	}
	cf, err := p.s.cache.get(p.cqFile(first), false)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %v", errBadCQEntry, err)
	}
	if err != nil {
		return nil, err
	}
	defer p.s.cache.put(cf)
	buf := make([]byte, n*cqEntrySize)
	if m, err := cf.f.ReadAt(buf, first%cqFileEntries*cqEntrySize); m != len(buf) {
		return nil, fmt.Errorf("%w: read %d of %d bytes at entry %d: %v", errBadCQEntry, m, len(buf), first, err)
	}
	es := make([]cqEntry, n)
	for i := range es {
		e, err := decodeCQEntry(buf[i*cqEntrySize:])
		if err != nil {
			return nil, fmt.Errorf("entry %d: %w", first+int64(i), err)
		}
		es[i] = e
	}
	return es, nil
}

// addEntryLocked appends a consume-queue entry; under p.mu (write).
func (p *Partition) addEntryLocked(e cqEntry) {
	if p.count%cqBlock == 0 {
		if p.count/cqBlock != p.blocksBase+int64(len(p.blocks)) {
			panic("storage: consume-queue block index out of step")
		}
		p.blocks = append(p.blocks, blockInfo{firstBase: e.baseOffset, firstRunTs: e.runMaxTs, firstCum: p.totalBytes})
	}
	p.totalBytes += int64(e.size)
	p.tail = append(p.tail, e)
	p.count++
	if len(p.tail) >= cqBlock {
		p.writeFullBlocksLocked()
	}
}

// writeFullBlocksLocked writes the complete blocks of the tail to the file
// and drops them from memory. A failed write keeps them in memory; the
// checkpoint retries.
func (p *Partition) writeFullBlocksLocked() {
	full := int64(len(p.tail)) / cqBlock * cqBlock
	if full == 0 {
		return
	}
	if err := p.writeTailLocked(0, full); err != nil {
		p.s.log.Warn("storage: writing a consume-queue block", zap.String("dir", p.cqDir), zap.Error(err))
		return
	}
	if p.tailShared.Load() {
		p.tail = append(make([]cqEntry, 0, cqBlock), p.tail[full:]...)
		p.tailShared.Store(false)
	} else {
		rest := copy(p.tail, p.tail[full:])
		p.tail = p.tail[:rest]
	}
	p.tailStart += full
}

// makeCQDir creates the consume-queue directory of a partition just
// created, outside the writer lock: made by the first block write instead,
// under s.mu, it cost a mkdir per partition in the produce path (a third
// of the broker's syscall time in the first seconds of a 10,000-partition
// run). A failure is left to the first block write, which tries again.
func (p *Partition) makeCQDir() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.dirMade || p.deleted {
		return
	}
	if err := p.s.fs.MkdirAll(p.cqDir, 0o755); err == nil {
		p.dirMade = true
	}
}

// writeTailLocked writes tail[lo:hi] to the files holding them.
func (p *Partition) writeTailLocked(lo, hi int64) error {
	if !p.dirMade {
		if err := p.s.fs.MkdirAll(p.cqDir, 0o755); err != nil {
			return err
		}
		p.dirMade = true
	}
	for lo < hi {
		idx := p.tailStart + lo
		n := min(hi-lo, cqFileEntries-idx%cqFileEntries)
		cf, err := p.s.cache.get(p.cqFile(idx), true)
		if err != nil {
			return err
		}
		buf := make([]byte, n*cqEntrySize)
		for i := int64(0); i < n; i++ {
			putCQEntry(buf[i*cqEntrySize:], &p.tail[lo+i])
		}
		_, err = cf.f.WriteAt(buf, idx%cqFileEntries*cqEntrySize)
		p.s.cache.put(cf)
		if err != nil {
			return err
		}
		lo += n
	}
	return nil
}

// trimLocked drops what lies wholly before the first retained entry: the
// in-memory block index below it, and consume-queue files below the first
// retained entry of the last checkpoint (a crash restarts from there, so
// those files must stay until a checkpoint no longer needs them). Under
// p.mu (write).
func (p *Partition) trimLocked() {
	if nb := p.startIdx / cqBlock; nb > p.blocksBase && nb-p.blocksBase <= int64(len(p.blocks)) {
		p.blocks = append([]blockInfo(nil), p.blocks[nb-p.blocksBase:]...)
		p.blocksBase = nb
	}
	first := p.trimmable / cqFileEntries * cqFileEntries
	if first <= p.cqFirstFile || p.deleted {
		return
	}
	names, err := p.s.fs.ReadDir(p.cqDir)
	if err != nil {
		return
	}
	for _, n := range names {
		base, err := strconv.ParseInt(strings.TrimSuffix(n, ".cq"), 10, 64)
		if err != nil || !strings.HasSuffix(n, ".cq") || base >= first {
			continue
		}
		path := filepath.Join(p.cqDir, n)
		p.s.cache.drop(path)
		if err := p.s.fs.Remove(path); err != nil {
			p.s.log.Warn("storage: removing a consume-queue file", zap.Error(err))
			return
		}
	}
	p.cqFirstFile = first
}

// dispatchBatch adds a stored batch to the partition (dispatcher).
func (p *Partition) dispatchBatch(pos int64, h *entryHeader, batch []byte) {
	bi, err := parseBatch(batch)
	if err != nil {
		p.s.log.Warn("storage: skipping an unparsable batch", zap.Int64("position", pos))
		return
	}
	p.dispatchParsed(pos, h, batch, &bi)
}

// dispatchParsed is dispatchBatch of a batch whose header was parsed
// already (the append path parses it once).
func (p *Partition) dispatchParsed(pos int64, h *entryHeader, batch []byte, bip *batchInfo) {
	bi := *bip
	// p.mu is released by a defer, so a panic here (breakOnPanic) leaves
	// the partition readable.
	fns, err := func() ([]func(), error) {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.ensureTailLocked()
		if err := p.cqErr; err != nil {
			return nil, err
		}
		base := h.baseOffset
		e := newCQEntry(pos, h, batch, &bi, p.maxTs)
		if p.count == 0 && p.nextOffset == 0 {
			p.logStart = base
		}
		p.addEntryLocked(e)
		p.nextOffset = e.lastOffset() + 1
		if n := len(p.epochs); n == 0 || h.leaderEpoch > p.epochs[n-1].epoch {
			p.epochs = append(p.epochs, epochStart{epoch: h.leaderEpoch, start: base})
		}
		if bi.maxTs > p.maxTs {
			p.maxTs, p.maxTsOff = bi.maxTs, e.maxTsOffset
		}
		if bi.producerID >= 0 && bi.attributes&attrControl == 0 {
			p.updateProducerLocked(&bi, base, h.storeTime)
		}
		p.dispatchTxnLocked(&bi, batch, base)
		return p.s.publishLocked(p, p.nextOffset, pos+int64(h.length)), nil
	}()
	if err != nil {
		// The batch is in the commit log but cannot be indexed.
		p.s.fail(err)
		return
	}
	for _, fn := range fns {
		fn()
	}
}

// setHWMLocked moves the visible end and returns the watchers to call
// (after unlocking).
func (p *Partition) setHWMLocked(hwm int64) []func() {
	if hwm <= p.hwm {
		return nil
	}
	p.hwm = hwm
	return p.watchersLocked()
}

func (p *Partition) watchersLocked() []func() {
	if len(p.watchers) == 0 {
		return nil
	}
	fns := make([]func(), 0, len(p.watchers))
	for _, fn := range p.watchers {
		fns = append(fns, fn)
	}
	return fns
}

// Append stores one Kafka v2 RecordBatch, already validated by the caller:
// the store copies it, assigns offsets, writes base offset and leader epoch
// into its copy and applies idempotence. When it returns nil the batch is
// durable under the flush mode and visible to Read.
func (p *Partition) Append(batch []byte, leaderEpoch int32) (AppendResult, error) {
	res, end, err := p.AppendDeferred(batch, leaderEpoch)
	if err != nil {
		return AppendResult{}, err
	}
	if err := p.s.WaitDurable(end); err != nil {
		return AppendResult{}, err
	}
	return res, nil
}

// AppendDeferred is Append without the wait for durability: it returns the
// commit-log position the batch (or, for a duplicate, the log) reaches, and
// the caller must not acknowledge the batch before Store.WaitDurable of
// that position returns nil. A request that appends to many partitions
// waits once, so under sync flush one fsync covers all of them instead of
// one fsync per partition. Visibility to readers is unchanged: under sync
// flush the high watermark moves only once the fsync is done.
func (p *Partition) AppendDeferred(batch []byte, leaderEpoch int32) (AppendResult, int64, error) {
	one := [1]BatchAppend{{P: p, Batch: batch}}
	end := p.s.AppendBatches(one[:], leaderEpoch)
	if err := one[0].Err; err != nil {
		return AppendResult{}, 0, err
	}
	return one[0].Result, end, nil
}

// entryBufs recycles the buffers entries are built in: the bytes are
// copied into the page cache by the write, so nothing keeps them. A
// sync.Pool alone is emptied by every second garbage collection, which a
// busy produce path runs often; a buffer made fresh after that (a request's
// bytes, up to megabytes) is new memory the kernel faults in and zeroes
// (clear_page, BENCHMARKS.md "Produce profiles"). So the buffers put back
// last are kept in entryReserve, which the collector leaves alone, up to
// entryReserveBytes in all; the pool takes the rest.
var entryBufs sync.Pool

const entryReserveBytes = 16 << 20

var entryReserve struct {
	mu    sync.Mutex
	bytes int
	bufs  []*[]byte
}

// minEntryBuf is the smallest entry buffer made; buffers of that size
// (a request of small batches) only go through the pool: remaking one
// after a collection costs little, and the pool is cheaper to reach than
// the reserve's mutex on the single-append path.
const minEntryBuf = 64 << 10

func getEntryBuf(n int) *[]byte {
	if n <= minEntryBuf {
		if bp, ok := entryBufs.Get().(*[]byte); ok && cap(*bp) >= n {
			*bp = (*bp)[:n]
			return bp
		}
		b := make([]byte, n, minEntryBuf)
		return &b
	}
	r := &entryReserve
	r.mu.Lock()
	if k := len(r.bufs); k > 0 {
		bp := r.bufs[k-1]
		r.bufs[k-1] = nil
		r.bufs = r.bufs[:k-1]
		r.bytes -= cap(*bp)
		r.mu.Unlock()
		if cap(*bp) >= n {
			*bp = (*bp)[:n]
			return bp
		}
		// Too small for this request: dropped, its replacement below
		// goes back instead.
	} else {
		r.mu.Unlock()
		if bp, ok := entryBufs.Get().(*[]byte); ok {
			if cap(*bp) >= n {
				*bp = (*bp)[:n]
				return bp
			}
			entryBufs.Put(bp) // a small one: for the next small request
		}
	}
	b := make([]byte, n)
	return &b
}

// putEntryBuf gives a buffer from getEntryBuf back; nothing may use it
// afterwards.
func putEntryBuf(bp *[]byte) {
	if cap(*bp) <= minEntryBuf {
		entryBufs.Put(bp)
		return
	}
	r := &entryReserve
	r.mu.Lock()
	if r.bytes+cap(*bp) <= entryReserveBytes {
		r.bufs = append(r.bufs, bp)
		r.bytes += cap(*bp)
		r.mu.Unlock()
		return
	}
	r.mu.Unlock()
	entryBufs.Put(bp)
}

// cqView is a consistent snapshot of a partition's consume-queue state,
// taken under Partition.mu, so searches that read blocks from the file run
// without the lock (a slow disk read must not hold up the dispatcher, which
// needs the lock to append). Blocks before tailStart are immutable once
// written; the tail is copied.
type cqView struct {
	p         *Partition
	blocks    []blockInfo // from block base
	base      int64
	tailStart int64
	count     int64
	startIdx  int64
	tail      []cqEntry
	hwm       int64
	logStart  int64
	total     int64 // totalBytes
	startCum  int64

	cacheB int64 // block held in cache (entry)
	cache  []cqEntry
}

// viewLocked snapshots the partition; under p.mu (read or write).
func (p *Partition) viewLocked() *cqView {
	// The view shares the tail as a checkpoint's snapshot does: the next
	// block write moves the rest of the tail to a new array instead of
	// shifting it over the shared one (writeFullBlocksLocked), so a read
	// costs no copy of up to a block of entries (a caught-up consumer's
	// fetch reads every partition at each append).
	if !p.tailShared.Load() {
		p.tailShared.Store(true)
	}
	return &cqView{
		p:         p,
		blocks:    p.blocks[:len(p.blocks):len(p.blocks)],
		base:      p.blocksBase,
		tailStart: p.tailStart,
		count:     p.count,
		startIdx:  p.startIdx,
		tail:      p.tail[:len(p.tail):len(p.tail)],
		hwm:       p.hwm,
		logStart:  p.logStart,
		total:     p.totalBytes,
		startCum:  p.startCum,
		cacheB:    -1,
	}
}

// entry returns entry idx (< count), reading a block at a time.
func (v *cqView) entry(idx int64) (cqEntry, error) {
	b := idx / cqBlock
	if b != v.cacheB {
		es, err := v.block(b)
		if err != nil {
			return cqEntry{}, err
		}
		v.cache, v.cacheB = es, b
	}
	i := idx - b*cqBlock
	if i >= int64(len(v.cache)) {
		return cqEntry{}, errBadCQEntry
	}
	return v.cache[i], nil
}

// cumBefore is the batch bytes of entries [0, idx).
func (v *cqView) cumBefore(idx int64) (int64, error) {
	b := idx / cqBlock
	if b >= v.base+int64(len(v.blocks)) {
		return v.total, nil
	}
	if b < v.base {
		return 0, errBadCQEntry
	}
	es, err := v.block(b)
	if err != nil {
		return 0, err
	}
	cum := v.blocks[b-v.base].firstCum
	for _, e := range es[:min(idx-b*cqBlock, int64(len(es)))] {
		cum += int64(e.size)
	}
	return cum, nil
}

// block returns the entries of block b.
func (v *cqView) block(b int64) ([]cqEntry, error) {
	first := b * cqBlock
	if first >= v.tailStart {
		lo := first - v.tailStart
		hi := min(lo+cqBlock, int64(len(v.tail)))
		if lo > hi {
			return nil, errBadCQEntry
		}
		return v.tail[lo:hi], nil
	}
	n := min(int64(cqBlock), v.tailStart-first)
	return v.p.readEntries(first, n)
}

// find returns the index of the entry holding offset, which must be in
// [logStart, hwm).
func (v *cqView) find(offset int64) (int64, error) {
	bStart := v.startIdx / cqBlock
	// The last block whose first base offset is <= offset.
	b := bStart + int64(sort.Search(int(v.base+int64(len(v.blocks))-bStart), func(i int) bool {
		return v.blocks[bStart-v.base+int64(i)].firstBase > offset
	})) - 1
	if b < bStart {
		b = bStart
	}
	es, err := v.block(b)
	if err != nil {
		return 0, err
	}
	i := sort.Search(len(es), func(i int) bool { return es[i].baseOffset > offset }) - 1
	return max(b*cqBlock+int64(max(i, 0)), v.startIdx), nil
}

// Read returns whole batches from the one containing offset, at least one
// even if larger than maxBytes. offset == HighWatermark gives no chunks;
// offset < LogStartOffset or > HighWatermark gives ErrOffsetOutOfRange. The
// caller must Release the result.
func (p *Partition) Read(offset int64, maxBytes int32) (*ReadResult, error) {
	res, err := p.readOnce(offset, maxBytes)
	if errors.Is(err, ErrOffsetOutOfRange) && p.compactRaw() != nil && offset >= p.LogStartOffset() {
		// A compaction round committed between the choice of copies or
		// consume queue and the read, and retention took the batch it
		// superseded: read again under the new clean end.
		res.Release()
		res, err = p.readOnce(offset, maxBytes)
	}
	return res, err
}

func (p *Partition) readOnce(offset int64, maxBytes int32) (*ReadResult, error) {
	// Below a compacted partition's clean end the copies serve the read.
	res, next, handled, err := p.readCompacted(offset, maxBytes)
	if handled {
		return res, err
	}
	offset = next
	gen := p.repairs.Load()
	res, err = p.read(offset, maxBytes)
	if errors.Is(err, errBadCQEntry) && offset < p.LogStartOffset() {
		// Retention moved on and trimmed the file under this read.
		return res, ErrOffsetOutOfRange
	}
	if errors.Is(err, errBadCQEntry) {
		// A consume-queue block failed its CRC: rebuild the queue from
		// the commit log (the source of truth) and try once more.
		p.repair(gen)
		res, err = p.read(offset, maxBytes)
	}
	return res, err
}

// repair rebuilds the consume queue from the commit log; it holds the
// writer lock for the scan, which is acceptable for a rare disk fault.
func (p *Partition) repair(gen int64) {
	s := p.s
	s.mu.Lock()
	defer s.mu.Unlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.deleted || p.repairs.Load() != gen {
		return // gone, or another reader repaired it meanwhile
	}
	p.repairs.Add(1)
	s.log.Error("storage: corrupt consume queue; rebuilding it from the commit log", zap.String("dir", p.cqDir))
	p.ensureTailLocked()
	if p.cqErr == nil {
		p.rebuildCQ(s.writePos.Load())
	}
}

func (p *Partition) read(offset int64, maxBytes int32) (*ReadResult, error) {
	p.ensureTail()
	p.mu.RLock()
	if p.deleted {
		p.mu.RUnlock()
		return nil, ErrUnknownPartition
	}
	if err := p.cqErr; err != nil {
		p.mu.RUnlock()
		return nil, err
	}
	res := &ReadResult{HighWatermark: p.hwm, LogStartOffset: p.logStart}
	if offset < p.logStart || offset > p.hwm {
		p.mu.RUnlock()
		return res, ErrOffsetOutOfRange
	}
	if offset == p.hwm {
		p.mu.RUnlock()
		return res, nil
	}
	v := p.viewLocked()
	p.mu.RUnlock()

	idx, err := v.find(offset)
	if err != nil {
		return res, err
	}
	var total int64
	var es []cqEntry
	for idx < v.count {
		b := idx / cqBlock
		blk, err := v.block(b)
		if err != nil {
			return res, err
		}
		stop := false
		for _, e := range blk[idx-b*cqBlock:] {
			if e.baseOffset >= v.hwm || (len(es) > 0 && total+int64(e.size) > int64(maxBytes)) {
				stop = true
				break
			}
			es = append(es, e)
			total += int64(e.size)
			idx++
		}
		if stop {
			break
		}
	}
	// Retention may have moved on since the snapshot: a segment already
	// deleted makes this an out-of-range read; one still there is pinned
	// until Release.
	s := p.s
	var held []*segment
	s.segMu.RLock()
	defer s.segMu.RUnlock()
	for _, e := range es {
		seg := s.segmentForLocked(e.pos)
		if seg == nil || seg.deleted {
			for _, h := range held {
				h.readers.Add(-1)
			}
			return &ReadResult{HighWatermark: res.HighWatermark, LogStartOffset: p.LogStartOffset()}, ErrOffsetOutOfRange
		}
		if len(held) == 0 || held[len(held)-1] != seg {
			seg.readers.Add(1)
			held = append(held, seg)
		}
		res.Chunks = append(res.Chunks, Chunk{
			File:       seg.f,
			Pos:        e.pos - seg.base,
			Len:        e.size,
			BaseOffset: e.baseOffset,
			LastOffset: e.lastOffset(),
		})
	}
	if len(es) > 0 {
		last := es[len(es)-1]
		s.noteReadLocked(last.pos + int64(last.size))
	}
	if len(held) > 0 {
		res.release = func() {
			for _, h := range held {
				h.readers.Add(-1)
			}
		}
	}
	return res, nil
}

// Watch calls fn (which must not block) each time the high watermark moves
// and when the partition is deleted, until cancel is called.
func (p *Partition) Watch(fn func()) (cancel func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.watchers == nil {
		p.watchers = make(map[uint64]func())
	}
	id := p.nextWatch
	p.nextWatch++
	p.watchers[id] = fn
	return func() {
		p.mu.Lock()
		delete(p.watchers, id)
		p.mu.Unlock()
	}
}

// HighWatermark is the end of what readers may see.
func (p *Partition) HighWatermark() int64 {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.hwm
}

// LogEndOffset is the next offset to be assigned (above the high watermark
// while a sync-flush append waits for its fsync).
func (p *Partition) LogEndOffset() int64 {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.nextOffset
}

// LogStartOffset is the first offset still retained.
func (p *Partition) LogStartOffset() int64 {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.logStart
}

// Size is the number of batch bytes retained.
func (p *Partition) Size() int64 {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.totalBytes - p.startCum
}

// MaxTimestamp returns the largest record timestamp and the offset of the
// record holding it; -1, -1 when the partition is empty.
func (p *Partition) MaxTimestamp() (timestamp, offset int64) {
	p.ensureTail()
	p.mu.RLock()
	if p.startIdx >= p.count {
		p.mu.RUnlock()
		return -1, -1
	}
	ts, off := p.maxTs, p.maxTsOff
	v := p.viewLocked()
	p.mu.RUnlock()
	// For a compressed batch the dispatcher recorded its last offset;
	// find the exact record now if the broker gave a decompressor.
	if p.s.cfg.Decompress == nil || off < v.logStart {
		return ts, off
	}
	idx, err := v.find(off)
	if err != nil {
		return ts, off
	}
	e, err := v.entry(idx)
	if err != nil || e.attributes&0x07 == 0 || e.attributes&0x08 != 0 {
		return ts, off
	}
	buf := make([]byte, e.size)
	if p.s.readAtPos(buf, e.pos) != nil {
		return ts, off
	}
	bi, err := parseBatch(buf)
	if err != nil || bi.maxTs != ts {
		return ts, off
	}
	return ts, max(exactMaxTimestampOffset(buf, &bi, e.baseOffset, p.s.cfg.Decompress), v.logStart)
}

// OffsetForTime returns the first offset whose record timestamp is >= ts,
// with that record's timestamp; ok is false when there is none. Compressed
// batches are looked into with Config.Decompress; without it the batch's
// first offset and max timestamp stand in.
func (p *Partition) OffsetForTime(ts int64) (offset, timestamp int64, ok bool) {
	if offset, timestamp, ok, handled := p.offsetForTimeCompacted(ts); handled {
		return offset, timestamp, ok
	}
	p.ensureTail()
	p.mu.RLock()
	if p.startIdx >= p.count || p.deleted {
		p.mu.RUnlock()
		return 0, 0, false
	}
	v := p.viewLocked()
	p.mu.RUnlock()
	bStart := v.startIdx / cqBlock
	b := bStart + int64(sort.Search(int(v.base+int64(len(v.blocks))-bStart), func(i int) bool {
		return v.blocks[bStart-v.base+int64(i)].firstRunTs >= ts
	}))
	// The entry is in block b-1 (when the run crosses ts inside it) or is
	// the first of block b.
	var e cqEntry
	found := false
	for _, bb := range []int64{b - 1, b} {
		if found || bb < bStart || bb >= v.base+int64(len(v.blocks)) {
			continue
		}
		es, err := v.block(bb)
		if err != nil {
			return 0, 0, false
		}
		for i, x := range es {
			if bb*cqBlock+int64(i) >= v.startIdx && x.runMaxTs >= ts {
				e, found = x, true
				break
			}
		}
	}
	if !found || e.baseOffset >= v.hwm {
		return 0, 0, false
	}
	// Walk the batch's records for the exact one.
	buf := make([]byte, e.size)
	if err := p.s.readAtPos(buf, e.pos); err == nil {
		if bi, err := parseBatch(buf); err == nil {
			if off, t, ok := firstOffsetAtOrAfter(buf, &bi, e.baseOffset, ts, p.s.cfg.Decompress); ok {
				return max(off, v.logStart), t, true
			}
		}
	}
	return max(e.baseOffset, v.logStart), e.maxTs, true
}

// LeaderEpoch is the latest leader epoch of the partition's batches, -1
// when none.
func (p *Partition) LeaderEpoch() int32 {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if len(p.epochs) == 0 {
		return -1
	}
	return p.epochs[len(p.epochs)-1].epoch
}

// EndOffsetForEpoch has KIP-101 semantics: the largest epoch <= epoch and
// the offset where the next epoch starts (or the log end); -1, -1 when
// unknown (no epochs, or epoch above the latest).
func (p *Partition) EndOffsetForEpoch(epoch int32) (leaderEpoch int32, endOffset int64) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	n := len(p.epochs)
	if n == 0 || epoch < 0 || epoch > p.epochs[n-1].epoch {
		return -1, -1
	}
	if epoch == p.epochs[n-1].epoch {
		return epoch, p.nextOffset
	}
	i := sort.Search(n, func(i int) bool { return p.epochs[i].epoch > epoch }) // first higher
	if i == 0 {
		return epoch, p.epochs[0].start
	}
	return p.epochs[i-1].epoch, p.epochs[i].start
}

// DeleteRecordsBefore moves the log-start offset to offset (Kafka
// DeleteRecords; it may fall inside a batch), durably. offset -1 means the
// high watermark.
func (p *Partition) DeleteRecordsBefore(offset int64) (int64, error) {
	hwm := p.HighWatermark()
	if offset == -1 {
		offset = hwm
	}
	if offset < 0 || offset > hwm {
		return p.LogStartOffset(), ErrOffsetOutOfRange
	}
	if offset <= p.LogStartOffset() {
		return p.LogStartOffset(), nil
	}
	err := p.s.appendEntry(entryHeader{typ: entryLogStart, topic: p.key.topic, partition: p.key.part, baseOffset: offset}, nil)
	if err != nil {
		return p.LogStartOffset(), err
	}
	if p.isDeleted() {
		return 0, ErrUnknownPartition
	}
	return p.LogStartOffset(), nil
}

func (p *Partition) isDeleted() bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.deleted
}

// moveLogStartLocked advances the log start and the first retained
// consume-queue entry (found by binary search, so a far move costs one
// block read); under p.mu (write).
func (p *Partition) moveLogStartLocked(offset int64) {
	offset = min(offset, p.nextOffset)
	if offset <= p.logStart {
		return
	}
	p.logStart = offset
	if offset >= p.nextOffset {
		p.startIdx, p.startCum = p.count, p.totalBytes
		return
	}
	v := p.viewLocked()
	idx, err := v.find(offset)
	if err == nil {
		var cum int64
		if cum, err = v.cumBefore(idx); err == nil {
			p.startIdx, p.startCum = idx, cum
			return
		}
	}
	p.s.log.Error("storage: reading the consume queue to move the log start", zap.String("dir", p.cqDir), zap.Error(err))
}

// SetRetention sets the partition's retention.ms and retention.bytes; the
// store applies them on its retention pass (moving the log start durably).
// The policy itself is topic configuration and is not persisted: the broker
// sets it again after Open (the default is unlimited).
func (p *Partition) SetRetention(r RetentionPolicy) {
	p.mu.Lock()
	p.retention = r
	p.mu.Unlock()
}
