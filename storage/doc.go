// Package storage is gregor's MetaQ store: one shared commit log per broker,
// a consume queue per partition, a dispatcher that derives everything else
// from the commit log, crash recovery, flush policies and retention.
//
// Batches are opaque bytes here. The store reads a few fields of the Kafka v2
// RecordBatch header at fixed offsets and writes two (base offset and
// partition leader epoch, both outside the batch CRC); it imports no Kafka
// client package.
//
// # Directory layout
//
//	<Dir>/commitlog/<20-digit start position>.log   segments, preallocated
//	<Dir>/consumequeue/<topic id hex>-<partition>/<20-digit first entry>.cq
//	<Dir>/checkpoint                                  derived state (atomic)
//	<Dir>/checkpoint.<20-digit pos>-<20-digit first>  kept checkpoints (Truncate)
//	<Dir>/bootstrap                                   a bootstrap's state until caught up
//	<Dir>/LOCK                                        flock: one process per store
//	<Dir>/FORMAT                                      "gregor storage format 2"
//
// FORMAT (FROZEN: its name and the wording of its one line) is read before
// anything else; a directory of a later format, or an earlier one this
// binary has no upgrade for, is refused, touching nothing: a later
// release's data is never misread or cut by an older binary. An earlier
// format it upgrades (recovery_format.go: format 1, and a directory
// without the file, written before it existed) is opened and says the
// current format once open; a new directory gets the file.
//
// # Commit-log entry (FROZEN)
//
// Every entry is a 56-byte header followed by its payload. All integers are
// big-endian. An entry never straddles two segments: when an entry does not
// fit in what is left of a segment, a pad entry fills the rest and the entry
// goes to the next segment (whose start position is the pad's end). An
// entry is only placed where it leaves either nothing or room for a pad
// header, so every segment's end is marked.
//
//	 0       4       8       12  13  14  16                              32
//	+-------+-------+-------+---+---+---+-------------------------------+
//	|length | magic |  crc  |typ|flg|rsv|       topic id (16 bytes)     |
//	+-------+-------+-------+---+---+---+-------------------------------+
//	32      36              44              52      56
//	+-------+---------------+---------------+-------+--------------------
//	| part  |  base offset  |  store time   | epoch | payload ...
//	+-------+---------------+---------------+-------+--------------------
//
//	length      uint32  whole entry, header included
//	magic       uint32  0x47524731 ("GRG1")
//	crc         uint32  CRC-32C (Castagnoli) of bytes 12..length; for a
//	                    batch, of bytes 12..77 (the header and the batch's
//	                    first 21 bytes: its own CRC covers the rest and is
//	                    checked too); for a pad, of bytes 12..56 only (the
//	                    rest of the segment is not written)
//	typ         uint8   1 batch, 2 create partition, 3 delete topic,
//	                    4 key/values, 5 pad, 6 move log start,
//	                    7 compacted copy (see "Compaction")
//	flg         uint8   0 (reserved); for a compacted copy, bit 0 set
//	                    when it holds a tombstone
//	rsv         2 bytes 0
//	topic id    [16]    Kafka topic UUID (batch, copy, create, delete,
//	                    log start)
//	part        int32   partition (batch, copy, create, log start)
//	base offset int64   batch, copy: offset of its first record; log
//	                    start: the new log-start offset
//	store time  int64   broker clock, ms (producer-id expiry; a copy keeps
//	                    its original's: the tombstone clock); never used
//	                    for ListOffsets, which reads record timestamps
//	epoch       int32   partition leader epoch of a batch or copy
//
// Payloads: a batch entry carries the Kafka v2 RecordBatch exactly as the
// producer sent it, except for its base offset (bytes 0..8) and partition
// leader epoch (12..16), which the store fills in; the batch CRC (17..21,
// over 21..end) is unchanged. A key/value entry carries
//
//	uint16 namespace length, namespace, uint32 count, then per key:
//	uint32 key length, key, uint32 value length (0xffffffff = delete), value
//
// Namespaces starting with "__gregor." are the store's own: a term entry
// (BeginTerm) is a key/value entry in "__gregor.term" whose one key is the
// epoch (uint32) and whose value is the master's broker.member.id (int64);
// the term starts at the entry's position (see term.go).
//
// Create, delete, log-start and pad entries have no payload.
//
// Recovery first validates each entry from the checkpoint position
// (length, magic, type and CRCs) without changing anything, and decides
// (recovery.go):
//
//   - a read error: Open fails, naming the file, offset and commit-log
//     position; nothing is changed (a transient EIO must never look like
//     the end of the log);
//   - an entry with the magic and a type this release does not know: Open
//     fails, nothing changed (a later release wrote it; types are only
//     ever added);
//   - the first entry that fails (or is absent: zeros, the end of the
//     file's data) with a valid entry after it in the same segment
//     (searched for in the whole segment after a corrupt entry, within
//     8 MiB after an absent one, since every clean end is one): Open
//     fails, nothing changed: that is damage in the middle, not a torn
//     tail;
//   - otherwise it is the torn tail: it and everything after it are
//     removed (later segments deleted, the rest of its segment zeroed, so
//     an old entry beyond a torn one can never be mistaken for a new one).
//     Later segments may hold valid entries then: segments are fsynced in
//     order, so none of them was ever made durable while the torn one was
//     not.
//
// A consume queue rebuilt from the commit log (unreadable or corrupt
// queue) is checked the same way first; a read error or bad entry leaves
// the old queue, and the partition's reads fail with the error rather than
// serving a short queue.
//
// # Consume-queue entry (FROZEN)
//
// One per stored batch, 64 bytes. A partition's entries live in files of
// 2^20 entries (64 MiB) named by their first entry index; entry i is at
// byte 64*(i mod 2^20) of its file. Retention deletes the files wholly
// before the first retained entry of the last checkpoint. Blocks of 64 entries (4 KiB) are indexed in memory (first base
// offset and running max timestamp of each block), so a lookup by offset or
// time is a binary search over blocks and then within one block read from
// the file; the last, incomplete block (the tail) lives in memory and is
// written to the file when it fills; each checkpoint carries it, so a
// checkpoint opens and writes no consume-queue file.
//
//	 0               8       12      16              24      28  30  32
//	+---------------+-------+-------+---------------+-------+---+---+
//	| position      | size  | epoch | base offset   | last  |att|rsv|
//	+---------------+-------+-------+---------------+-------+---+---+
//	32              40              48              56      60      64
//	+---------------+---------------+---------------+-------+-------+
//	| max timestamp | offset of max | running max ts| rsv   |  crc  |
//	+---------------+---------------+---------------+-------+-------+
//
//	position   int64  commit-log position of the batch bytes (entry + 56)
//	size       int32  batch length
//	epoch      int32  leader epoch
//	last       int32  last offset delta
//	att        int16  batch attributes
//	max ts     int64  the batch's max timestamp (batch header 35..43)
//	offset of max     offset of the record holding it (walked for
//	                  uncompressed batches, else the last offset)
//	running max ts    max over this and all earlier batches
//	crc        uint32 CRC-32C of bytes 0..60
//
// # Checkpoint (FROZEN)
//
// Written atomically (temp file, fsync, rename, directory fsync) after the
// commit log is synced up to its position and the full consume-queue
// blocks below it are synced (syncfs, one call for all files); the
// entries after each partition's last full block are in the checkpoint. It holds
// every piece of derived state, so retention may delete any segment the
// checkpoint covers without losing committed offsets, producer state,
// leader epochs or log starts:
//
//	uint32 magic 0x47524350 ("GRCP"), uint32 version 4 (1-3 are still
//	  read: 1 has no transaction state, 1 and 2 no tails, whose entries
//	  are in the consume-queue files, 1-3 no per-partition positions)
//	int64 position covered, int64 time written (ms)
//	uint32 partitions, each:
//	  [16] topic id, int32 partition, int64 entries, int64 next offset,
//	  int64 log start, int64 first retained entry, int64 batch bytes
//	  before it, int64 batch bytes of all entries,
//	  int64 max timestamp, int64 offset of max timestamp,
//	  int64 index of the first block kept (earlier ones precede the log
//	  start), uint32 blocks, each int64 first base offset, int64 first
//	  running max ts, int64 batch bytes before the block
//	  uint32 epochs, each int32 epoch, int64 start offset
//	  uint32 producers, each int64 id, int16 epoch, int64 last seen (ms),
//	    uint8 batches (<= 5), each int32 first seq, int32 last seq,
//	    int64 base offset, int64 last offset
//	  (version 2) uint32 open transactions, each int64 producer id, int64
//	    first offset; uint32 aborted transactions, each int64 producer id,
//	    int64 first offset, int64 marker offset (txn.go)
//	  (version 3) uint8 1, uint32 entries and that many 64-byte
//	    consume-queue entries: the partition's last ones, after a multiple
//	    of 64 (the tail); or uint8 0 when the tail is in the consume-queue
//	    file (a partition untouched since a version-2 checkpoint was loaded)
//	  (version 4) int64 the log position the partition's state is that of
//	    (>= the position covered: partitions are snapshotted in chunks)
//	uint32 namespaces, each uint32 len + name, uint32 keys, each
//	  uint32 len + key, uint32 len + value
//	uint32 CRC-32C of everything before
//
// A checkpoint snapshots the partitions in chunks of 256, each under the
// writer lock at the log position of that moment; the key/values and the
// list of partitions are taken with the first chunk, whose position is the
// checkpoint's. Recovery re-dispatches from there and skips, for each
// partition, the batches and log-start moves below its own position;
// partitions created after the first chunk are created by their entries.
// The commit log is synced up to the last chunk's position before the
// checkpoint is written.
//
// Open loads the checkpoint and re-dispatches the commit log from its
// position: after a clean Close that is nothing (no re-scan); after a crash
// it is what was written since the last checkpoint (CheckpointInterval).
// The re-dispatched segments are fsynced before they count as durable; the
// checkpoint covering them is written by the housekeeper as soon as Open
// returns, not inside Open (its syncfs and file delayed every restart).
// Without a usable checkpoint the whole log is re-dispatched and the
// consume queues are rebuilt.
//
// # Visibility, flushing, errors
//
// A batch is visible (its partition's high watermark covers it) once its
// commit-log entry ends at or below the frontier: the commit limit
// (SetCommitLimit, set by replication to the high-watermark position: on a
// master the lowest end the in-sync members acknowledged, on a slave the
// master's) and, under FlushSync, the durable position. Never set, the
// limit is no limit: under FlushAsync a batch is visible to Read when
// Append returns; a background flusher fsyncs every FlushInterval. Under
// FlushSync, Append returns, and the high watermark moves, only after an
// fsync covering the batch; one fsync covers every writer waiting at that
// moment (group commit). With a limit, Append (and AppendRaw) return once
// durable; visibility waits for the limit. LogEndOffset always shows what is
// written. Lowering the limit takes high watermarks back (a slave that
// holds more than its master has committed). Batches above the frontier
// wait in one queue ordered by position (fence.go), so moving the frontier
// costs one step per batch it releases. Segments are preallocated
// (fallocate) one segment ahead, so a full disk shows up when a segment is created, not in
// the middle of one; ErrDiskFull is returned without breaking the store and
// appends work again once space returns. Any other failed write, short
// write or fsync breaks the store: every later write fails with ErrBroken
// until it is reopened (after a failed fsync the page cache may have
// dropped the dirty pages, so carrying on could acknowledge lost data).
//
// # Retention
//
// retention.ms and retention.bytes (SetRetention, applied by RunRetention),
// DeleteRecordsBefore and the MaxDiskBytes cap move partitions' log starts;
// each move is written to the commit log (entry type 6), so it survives a
// crash and a slave applies the same. A segment is deleted once no
// partition retains anything in it, a checkpoint covers it, and no
// unreleased ReadResult refers to it. Over MaxDiskBytes the oldest segments
// go anyway, moving the log starts of the partitions that still had data
// there.
//
// # Replication
//
// A master's commit log is copied byte for byte: ReadRaw returns whole
// entries from a position; AppendRaw on a slave validates and writes them
// at the same position and dispatches them, so the slave's partitions,
// offsets, producer state, leader epochs, key/values and terms are the
// master's. A slave must not write through any other method. The two
// stores' SegmentBytes may differ: where the master's pad says its segment
// ends the slave writes the same pad and starts its next segment there;
// where a master entry does not fit the slave's segment, the slave ends
// that segment just before it (no pad, as when an entry fills a segment)
// and makes the next one large enough. Positions, and the bytes ReadRaw
// returns on either side, are the same. Config.OnApply tells the broker of
// each replicated entry (kind, key/value namespace).
//
// Visibility on both sides is fenced by SetCommitLimit (see "Visibility"):
// the replication client sets a slave's limit to the master's
// high-watermark position, so AppendRaw never shows a slave's readers more
// than the master has committed.
//
// Terms: BeginTerm writes a term's first entry (a key/value entry in the
// reserved namespace "__gregor.term"); Terms derives the list from the
// log, so it replicates, survives restarts and retention (it is in every
// checkpoint) and is undone by Truncate. Epochs only increase.
//
// Bootstrap. A new or wiped slave installs ReadBootstrap's state with
// InstallBootstrap and streams from the position it returns: the start of
// the master's oldest retained segment, at or below every partition's
// first retained batch, so the slave receives every retained record. The
// state is the master's derived state at its end E (partitions with next
// offset, log start, leader epochs, producer state, max timestamp;
// key/values and terms) plus, per partition, the position of its first
// retained batch and the running max timestamp there. The entries in
// [pos, E) would re-apply on top of that state what it already holds;
// that is not idempotent (a producer's five-batch window would fill with
// repeats; a topic created and deleted within the range would come back
// for a while; key/values would step back through older values), so they
// are not re-applied: below E an entry only adds a batch at or after its
// partition's first retained batch to that partition's consume queue
// (making it visible under the fence). From E on entries apply as usual.
// The result is the master's state exactly: same partitions, offsets, log
// starts, producer state, epochs, key/values and terms, and Read returns
// byte-identical batches from each log start (consume-queue entry numbers
// start at 0 on the slave; they are local). The state is kept in
// <Dir>/bootstrap until a checkpoint covers E, so a restart during the
// catch-up goes on with it (without a usable checkpoint, that state is the
// base the log is re-dispatched from); until E a store neither serves a
// bootstrap nor begins a term. If retention deletes the master's segment at pos before
// the slave read it, ReadRaw fails with ErrOffsetOutOfRange and the slave
// bootstraps again.
//
// Truncate(pos) cuts the log at an entry boundary and rebuilds every
// derived state as of pos: from the newest checkpoint at or below pos,
// re-dispatching the log from there, as recovery does. Besides the latest
// checkpoint the store keeps a copy of the checkpoint written just before
// each term entry it writes (BeginTerm) or receives (AppendRaw) and at a
// bootstrap (<Dir>/checkpoint.<position>-<first segment>, at most 8): a
// divergence never reaches below the start of the last term both sides
// share. ErrNeedBootstrap when it cannot be done locally (pos below the
// first segment or inside a bootstrap's catch-up; no such checkpoint whose
// segments and consume queues remain); the replication client then
// bootstraps. Partitions that exist before and after keep their
// *Partition and watchers. Before the log is cut, the base checkpoint
// replaces the latest one and later kept ones are removed, so a crash
// leaves either the uncut log or the cut one with a checkpoint below the
// cut (TestTruncateCrash, TestInstallBootstrapCrash fail each write in turn
// and lose power).
//
// A slave's store is a follower (SetFollower; AppendRaw, InstallBootstrap
// and Truncate set it, BeginTerm clears it): retention policies and the
// disk cap write no log-start moves of their own there, since any entry
// of its own would make its log differ from the master's. The master's
// moves arrive in the log, and segments go once nothing retains them.
// Producer-id expiry (ProducerIDExpiration) runs on each store's clock, so
// an idle producer's state may leave a slave a retention pass before or
// after it leaves the master.
//
// # Compaction
//
// cleanup.policy=compact (SetCompaction; Kafka's min.cleanable.dirty.ratio,
// min.compaction.lag.ms, max.compaction.lag.ms, delete.retention.ms and
// segment.ms in CompactionPolicy) keeps the latest record of each key. On
// a shared commit log the old segments hold every topic's data, so a
// compacted partition must not keep them: compaction copies forward. A
// round (RunCompaction: on a master, every CompactionInterval, 15 s
// like Kafka's log.cleaner.backoff.ms, and before each retention pass;
// rounds and retention take turns under Store.retMu)
// reads the partition's clean section (the copies of the last round) and
// its dirty section (the consume-queue batches from the clean end on),
// builds the latest offset of each key (a 128-bit FNV digest per key), and
// appends each batch's surviving records at the head of the log as a
// compacted copy (entry type 7): the same base offset, last offset delta,
// timestamps, producer fields and leader epoch, only the kept records,
// uncompressed, a new batch CRC. Then one key/value entry in the store's
// namespace "__gregor.compact" commits the round:
//
//	key   [16] topic id, int32 partition
//	value int64 clean end, int64 first copy position, int64 end of the
//	      last copy, int64 copies, uint64 round (a random id, so no two
//	      rounds' values are equal)
//
// From the commit on, offsets below the clean end are read from the
// copies in [first, end) (listed by scanning that range once per committed
// value and cached, compact.go); offsets from it on from the consume queue
// as before; ListOffsets by time searches the same two. A deleted topic's
// values are removed by the next round. The superseded originals stay listed in the consume queue
// (64 bytes per batch) but pin nothing: the partition retains from the
// lower of its first copy and its first batch at or past the clean end,
// so retention deletes the old segments as soon as the other topics let
// go of them, and the previous round's copies too. Offsets are never
// renumbered; a consumer from the start reads every key's latest value
// (and the tombstones younger than delete.retention.ms).
//
// What a round cleans: whole batches from the clean end below the last
// stable offset (an open transaction's records may still be aborted, so,
// as Kafka's cleaner, a round stops there) whose max
// timestamp is older than min.compaction.lag.ms, which are not in the
// active segment unless older than segment.ms (Kafka never cleans the
// active segment), stopping at the first that is not, and never the
// partition's last batch (so a read in a gap past the last copy always
// finds a batch). It runs when dirty / (clean + dirty) bytes reach
// min.cleanable.dirty.ratio, when a dirty batch is older than
// max.compaction.lag.ms, or when a copy holds a tombstone appended more
// than delete.retention.ms ago (that tombstone is then dropped; Kafka
// counts the horizon from the tombstone's first cleaning, gregor from its
// append, which is never later). Keyless records are dropped as Kafka's
// cleaner drops them (the broker refuses them on compacted topics);
// the data batches of aborted transactions (the aborted-transaction index)
// are dropped and never count as a key's latest; control batches
// (transaction markers) and batches whose records cannot be decompressed
// are copied whole. With compact,delete, retention.ms and retention.bytes
// count the copies and the dirty batches.
//
// What it reclaims, and what it does not. Segments go as a prefix of the
// shared log (see "Retention"): copy forward means a compacted partition
// never holds that prefix back (its live keys move to the head), so the
// log's oldest segments go as soon as the other topics' retention lets
// them. It does not make a compacted topic's superseded records go sooner
// than that: while another topic retains data older than them (a topic
// with retention.ms of 7 days beside it), the segments they share stay,
// and with them the garbage, where Kafka would shrink the compacted
// partition's own files at once. A log class of its own for compacted
// topics (a second commit log holding only them, replicated beside the
// first) would reclaim it independently; it is not built.
//
// Costs. Each round rewrites the live data once (Kafka's cleaner rewrites
// its clean segments too) through the ordinary write path, one entry per
// surviving batch under Store.mu; the disk holds the live data at most
// twice (the last round's copies and the new ones, until the commit) plus
// the dirty data and the segments other topics retain. The consume queue
// keeps its 64-byte entry of every superseded original (not yet trimmed:
// its files hold 2^20 entries each, 0.4% of 16 KiB batches). Memory: 16
// bytes of digest plus map overhead per key during a round, and 56 bytes
// per copy while its view is cached. Reads below the clean end cost a
// binary search over the cached copies.
//
// Measured on the 2-core development VM (load average 20-30 from other
// work, so only the shape is meaningful):
//
//	make compaction-1g   (1 GiB over 1,000 keys of 8 KiB, 1 MiB segments,
//	                      a short-retention topic beside it)
//	  29 s; live 7.9 MiB; disk 12.3 MiB at the end (bound 2 x live +
//	  one segment = 16.8 MiB), 17.3 MiB at most between rounds
//	go test ./storage -run NONE -bench BenchmarkAppendDuringCompaction \
//	    -benchtime 100000x -count 3   (4 writers of 16 KiB batches)
//	  idle:       p50 9 µs, p99 1.4-3.4 ms, p99.9 36-157 ms, 133-372 MB/s
//	  compacting: p50 9 µs, p99 2.7-6.8 ms, p99.9 44-107 ms, 132-311 MB/s
//
// Rounds back to back (the worst case) leave the median append alone and
// about double its p99: a round's copies take Store.mu one entry at a
// time and its reads compete for the disk. Through the broker, beside
// Kafka 4.1.1 in the same run (scripts/bench-compaction.sh: gregor bench
// e2e at 3,000 records/s of 1 KiB over 1,000 keys, 30 s, a compacted and
// a delete topic, 2 rounds, load average ~40), gregor acknowledged at p50
// 6.3-6.6 ms compacted and 6.8-10.7 ms not, p99 0.35-0.99 s and 0.58-1.13
// s; Kafka p50 42-82 ms and 178-207 ms, p99 0.83-1.52 s and 1.71-1.74 s:
// no cost of compaction shows above that machine's noise.
//
// Crash safety. Nothing changes until the commit entry is in the log, and
// the log is recovered as a prefix, so a commit that survives has its
// copies; a round cut short (SIGKILL, a failed write, power loss) leaves
// copies no commit names, ignored by the dispatcher and reclaimed with
// their segments (TestCompactionCrash fails each write of a round in turn
// and loses power; TestCompactionSigkill kills a process compacting back
// to back with SIGKILL and finds every acknowledged key's latest record).
// The previous round's copies stay pinned until the next commit.
//
// Replication. Copies and commits are commit-log entries, so a slave gets
// them byte for byte and derives the same view; slaves never clean. A
// slave bootstrapped from a master that has compacted streams from the
// lower of the master's first segment and each compacted partition's pin
// (ReadBootstrap), so it receives the copies; the committed state comes
// with the bootstrap's key/values, and its consume queue is indexed from
// the first batch at or past the clean end. Until the copies have arrived
// a read below the clean end returns no batches. Truncate and restarts
// restore the committed value with every other key/value.
//
// # Performance (measured on the 2-core development VM, shared disk)
//
//	go test ./storage -run NONE -bench 'BenchmarkAppend$' -benchtime 20000x
//	go test ./storage -run NONE -bench 'BenchmarkAppendSync|BenchmarkRead' -benchtime 2s
//	go test ./storage -run NONE -bench BenchmarkRecovery -benchtime 3x
//	go test ./storage -run NONE -bench BenchmarkAppendAcrossRolls -benchtime 10000x -count 4
//	go test ./storage -run NONE -bench BenchmarkReplicate -benchtime 3x
//
// Async appends of 16 KiB batches run at 0.79-0.94 of a plain file written
// with the same bytes in the same run, with 10,000 partitions as fast as 16
// (the log stays one sequential file; consume-queue writes are 4 KiB
// blocks). 1 KiB batches are CPU-bound at 0.64-0.79 of the plain file (the
// per-append bookkeeping next to a 1 µs pwrite; by the appending thread's
// CPU time, which BenchmarkAppend also reports as store/raw-cpu, 0.77-0.83
// at 16 partitions on a machine at load 36-39). A Produce request's
// batches go through Store.AppendBatches: consecutive entries are written
// with one pwrite (append.go), so a request of many one-record batches
// (10,000 partitions, round-robin) costs one syscall, not one per
// partition. Sync appends: one
// producer waits one fdatasync (~0.2-0.7 ms here); 64 producers share
// them at about 23 µs per append. Sequential reads ~2.5 GB/s from the page
// cache. Opening a 1 GiB log takes ~7 ms after a clean Close and ~0.5 s
// for a full re-scan and rebuild without a checkpoint (validation first,
// then dispatch: 2.3 s before that order, 3.2 s after, on a loaded VM).
// Across segment rolls (1 MiB segments, 4 producers of 4 KiB batches),
// preparing segments ahead and fsyncing outside the writer lock took the
// async p99.9 from 7.5-19.8 ms to 4.1-9.1 ms and p99 from 2.7-4.0 ms to
// 1.0-1.2 ms; sync p99.9 from 50-75 ms to 22-74 ms (this disk's fsync
// latency dominates). A slave's catch-up (ReadRaw of 1 MiB, AppendRaw,
// dispatch, final fsync; 128 MiB of 16 KiB batches) ran at 200-410 MB/s
// beside 157-376 MB/s for a plain file written in the same runs, with
// equal or different segment sizes: the disk's pace. The visibility fence
// costs the append path one atomic load (BenchmarkAppend with and without
// it: no difference beyond the run-to-run noise of a loaded VM).
//
// A checkpoint holds the writer lock only for a snapshot of 256 partitions
// at a time (snapshot, snapshotPartsLocked: each partition's fixed fields, capped views of its append-only block
// index and epochs, its producer state and transaction index encoded into
// one buffer, key/value references, a capped view of the tail); sorting
// and encoding follow outside it. Since the tails moved into the checkpoint
// it opens no consume-queue file at all (before, each of 10,000 tails was
// written to its file, which at 10,000 partitions meant 10,000 opens and
// closes through a 512-handle cache, each pwrite under the partition lock).
// At 10,000 partitions shaped like a 10 GiB log (16 blocks and 2 producers
// each, 10,000 committed offsets; BenchmarkCheckpointWriterLock) the
// locked part costs 9-10 ms of CPU where the whole encoding, which it used
// to hold, costs 19-20 ms (load average 38-46, so both high); before, each
// of the 10,000 tail flushes also opened and closed a file under the
// partition lock and the file cache's mutex, and a writer waiting there
// held the writer lock. What remains grows with partitions and producers:
// a partition written by 100 idempotent producers carries 100 producer
// states into every snapshot.
//
// # Lock order
//
// Store.retMu → Store.ckptMu → Store.mu (writers) → Partition.mu →
// Store.flushMu. A compaction round holds Store.retMu throughout and takes
// Store.mu once per copy it writes; its reads of the log take no lock
// but Store.segMu. Store.syncMu (one fsync-and-publish at a time) is taken
// before Store.flushMu and before Partition.mu, never while holding
// Store.flushMu or Partition.mu. Store.allocMu (the prepared next
// segment) is taken under Store.mu (by a roll, and by the allocator to read
// where the log ends, letting go of Store.mu before it creates the file),
// and only Store.segMu is taken under it. Store.segMu, Store.kvMu,
// Store.partsMu and fileCache.mu are leaves: nothing is locked while one
// is held.
//
// No lock a writer needs is held across slow I/O: the allocator creates
// and preallocates the next segment (file, fallocate, directory fsync)
// ahead of time, as RocketMQ's AllocateMappedFileService does; a roll
// under Store.mu writes the pad and swaps the prepared file in; the
// segment it closed is fsynced by the next flush (async: the flusher is
// woken at once) or group commit, in syncTo, which holds only
// Store.syncMu. What remains under Store.mu is the pwrite of each run of
// entries (a copy into the page cache).
package storage
