package storage

// This file is the contract between the store and its users (broker, groups,
// replication). The storage owner may add to it; changing a signature means
// updating every caller in the same commit.

import (
	"errors"
	"os"
	"time"

	"go.uber.org/zap"
)

// TopicID identifies a topic for its whole life (Kafka's topic UUID). A topic
// deleted and re-created gets a new id, so entries of the old one never
// reappear in the new one.
type TopicID [16]byte

// FlushMode says when an append is durable.
type FlushMode int

const (
	// FlushAsync acknowledges once the bytes are in the page cache; a
	// background flusher fsyncs every FlushInterval (Kafka's default).
	FlushAsync FlushMode = iota
	// FlushSync acknowledges only after fsync; one fsync covers every writer
	// waiting at that moment (group commit).
	FlushSync
)

// Config configures a Store. Validate fills defaults.
type Config struct {
	Dir           string        // data directory; created if missing
	SegmentBytes  int64         // commit-log segment size; default 1 GiB
	FlushMode     FlushMode     // default FlushAsync
	FlushInterval time.Duration // async flush period; default 500ms
	MaxDiskBytes  int64         // broker-wide cap on commit-log bytes; 0 = none
	// ProducerIDExpiration drops idle producer state (KIP-854,
	// producer.id.expiration.ms); default 24h.
	ProducerIDExpiration time.Duration
	FS                   FS          // filesystem seam; nil = the real OS
	Logger               *zap.Logger // nil = zap.NewNop()

	// CheckpointInterval is how often consume queues and derived state are
	// made durable with a checkpoint, bounding the commit log re-scanned
	// after a crash; default 10s.
	CheckpointInterval time.Duration
	// RetentionInterval is how often retention runs; default 30s.
	RetentionInterval time.Duration
	// MaxOpenFiles bounds the consume-queue file handles kept open; default 512.
	MaxOpenFiles int
	// Decompress, when set, decompresses a batch's records section (codec
	// = attributes & 7: 1 gzip, 2 snappy, 3 lz4, 4 zstd) so ListOffsets by
	// time and max-timestamp find the exact record inside compressed
	// batches. The store knows no codecs itself; nil = the batch's first
	// offset (by time) or last offset (max timestamp) stands in.
	Decompress func(codec int8, records []byte) ([]byte, error)
	// OnApply, when set, is called after each entry AppendRaw dispatched
	// (in log order, outside the store's locks, before AppendRaw returns),
	// with its kind and, for key/values, its namespace, so a slave's broker
	// can reload what changed (topic table, group offsets).
	OnApply func(kind EntryKind, ns string)

	// flushTicks, when set (tests), replaces the FlushInterval ticker of
	// the async flusher: each receive stands for one interval.
	flushTicks <-chan time.Time
}

// RetentionPolicy is a partition's Kafka retention (retention.ms,
// retention.bytes); a negative value means unlimited.
type RetentionPolicy struct {
	Ms    int64
	Bytes int64
}

// AppendResult reports where a batch landed.
type AppendResult struct {
	// BaseOffset is the offset given to the batch's first record. For a
	// Duplicate it is the offset the original batch received.
	BaseOffset     int64
	LogStartOffset int64
	// Duplicate is true when the batch repeats one of the producer's last
	// five batches (same producer id, epoch and sequence range); nothing was
	// written and the caller acknowledges it as success.
	Duplicate bool
}

// Chunk is one stored record batch as a range of a commit-log segment file,
// ready to be written to a socket. The bytes are the Kafka v2 RecordBatch
// with base offset and partition leader epoch already filled in.
type Chunk struct {
	File       ReadFile
	Pos        int64 // position of the batch in File
	Len        int32 // length of the batch in bytes
	BaseOffset int64
	LastOffset int64
}

// ReadFile is the read side of a segment file.
type ReadFile interface {
	ReadAt(p []byte, off int64) (int, error)
	// OS returns the underlying *os.File for sendfile, or nil when the file
	// lives in memory (tests).
	OS() *os.File
}

// ReadResult holds whole batches starting with the one that contains the
// requested offset. The segments it refers to are not deleted until Release.
type ReadResult struct {
	Chunks         []Chunk
	HighWatermark  int64
	LogStartOffset int64
	release        func()
}

// Release lets retention delete the segments the result refers to. It is
// safe to call more than once.
func (r *ReadResult) Release() {
	if r != nil && r.release != nil {
		r.release()
		r.release = nil
	}
}

// KV is one key/value of internal state; a nil Value deletes the key.
type KV struct {
	Key   []byte
	Value []byte
}

// Sentinel errors. Callers map them to Kafka error codes.
var (
	ErrClosed               = errors.New("storage: store is closed")
	ErrUnknownPartition     = errors.New("storage: unknown partition")
	ErrOffsetOutOfRange     = errors.New("storage: offset out of range")
	ErrCorruptBatch         = errors.New("storage: corrupt record batch")
	ErrBatchTooLarge        = errors.New("storage: batch larger than a segment")
	ErrOutOfOrderSequence   = errors.New("storage: out of order sequence number")
	ErrInvalidProducerEpoch = errors.New("storage: invalid producer epoch")
	ErrDiskFull             = errors.New("storage: disk full")
	// ErrBroken wraps the first failed write or fsync, or a panic while
	// writing (breakOnPanic); once returned, every later append fails with
	// it until the store is reopened.
	ErrBroken = errors.New("storage: store refuses writes after a failed write")
)

// The Store and Partition methods below are the API the broker uses. Their
// documentation is the contract:
//
//	func Open(cfg Config) (*Store, error)
//	    Opens or creates the store in cfg.Dir, recovering after a crash.
//	func (s *Store) Close() error
//	    Flushes, writes checkpoints, closes files. Reopening after Close does
//	    not re-scan the commit log.
//	func (s *Store) CreatePartition(topic TopicID, partition int32) (*Partition, error)
//	    Idempotent: returns the existing partition when it exists.
//	func (s *Store) Partition(topic TopicID, partition int32) *Partition
//	    nil when the partition does not exist.
//	func (s *Store) DeleteTopic(topic TopicID) error
//	    Drops every partition of topic (durably: a restart does not bring
//	    them back) and frees their consume queues; space is reclaimed when
//	    the segments holding their data are deleted.
//	func (s *Store) PutKV(ns string, kvs ...KV) error
//	    Appends internal state (committed offsets, topic metadata, producer
//	    id blocks) to the commit log as one entry and applies it; returns
//	    after it is durable under the flush mode. Retention never loses it.
//	func (s *Store) GetKV(ns string, key []byte) ([]byte, bool)
//	func (s *Store) RangeKV(ns string, fn func(key, value []byte) bool)
//	func (s *Store) DiskUsage() int64
//	func (s *Store) EndPosition() int64                          // commit-log end (replication)
//	func (s *Store) ReadRaw(pos int64, max int) ([]byte, error)  // master side of replication
//	func (s *Store) AppendRaw(pos int64, data []byte) error      // slave side of replication
//	    Any SegmentBytes on either side: entries land at the master's
//	    positions; Config.OnApply is called for each dispatched entry.
//	func (s *Store) SetCommitLimit(pos int64)
//	    The visibility fence: no HighWatermark covers a batch ending beyond
//	    pos; Watch callbacks fire when it moves; never called = no limit.
//	func (s *Store) CommitLimit() int64                           // math.MaxInt64 = none
//	func (s *Store) DurablePosition() int64                       // fsynced up to here
//	func (s *Store) FirstPosition() int64                         // oldest retained segment's start
//	func (s *Store) BeginTerm(epoch int32, master int64) (Term, error)
//	    Appends the term's first entry; ErrStaleEpoch unless epoch is above
//	    every earlier term's.
//	func (s *Store) Terms() []Term                                // ascending epoch, from the log
//
//	func (p *Partition) Append(batch []byte, leaderEpoch int32) (AppendResult, error)
//	    batch is one Kafka v2 RecordBatch, already validated by the caller;
//	    the store copies it, assigns offsets, writes base offset and leader
//	    epoch into its copy, and applies idempotence (producer id, epoch,
//	    base sequence read from the batch header). When Append returns nil
//	    the batch is durable under the flush mode and visible to Read.
//	func (p *Partition) AppendDeferred(batch []byte, leaderEpoch int32) (AppendResult, int64, error)
//	func (s *Store) WaitDurable(pos int64) error
//	    Append in two halves: append many partitions, then wait once for the
//	    largest returned position (one fsync under sync flush) before
//	    acknowledging any of them.
//	func (p *Partition) Read(offset int64, maxBytes int32) (*ReadResult, error)
//	    Whole batches from the one containing offset, at least one batch
//	    even if larger than maxBytes. offset == HighWatermark gives no
//	    chunks; offset < LogStartOffset or > HighWatermark gives
//	    ErrOffsetOutOfRange.
//	func (p *Partition) Watch(fn func()) (cancel func())
//	    fn is called (it must not block) each time the high watermark moves,
//	    until cancel.
//	func (p *Partition) HighWatermark() int64
//	func (p *Partition) LogStartOffset() int64
//	func (p *Partition) OffsetForTime(ts int64) (offset, timestamp int64, ok bool)
//	    The first offset whose record timestamp is >= ts.
//	func (p *Partition) MaxTimestamp() (timestamp, offset int64)  // -1,-1 when empty
//	func (p *Partition) EndOffsetForEpoch(epoch int32) (leaderEpoch int32, endOffset int64)
//	    KIP-101 semantics: the largest epoch <= epoch and the offset where the
//	    next epoch starts (or the log end); -1,-1 when unknown.
//	func (p *Partition) LeaderEpoch() int32
//	func (p *Partition) DeleteRecordsBefore(offset int64) (logStart int64, err error)
//	func (p *Partition) SetRetention(RetentionPolicy)
//	func (p *Partition) Size() int64
//
// Added by the store (storage owner):
//
//	func (s *Store) Partitions() []*Partition                    // (topic, partition) order
//	func (s *Store) RunRetention() error                         // a retention pass now
//	func (s *Store) ReadBootstrap() (pos int64, state []byte, err error)  // master: bootstrap a slave
//	func (s *Store) InstallBootstrap(pos int64, state []byte) error       // slave: then AppendRaw from pos
//	func (s *Store) Truncate(pos int64) error     // rebuild as of pos; ErrNeedBootstrap if it cannot
//	func (s *Store) SetFollower(on bool)          // a slave: retention writes nothing of its own
//	func (p *Partition) Topic() (TopicID, int32)
//	func (p *Partition) LogEndOffset() int64  // > HighWatermark while a sync-flush append waits
//	func (p *Partition) ProducerState(id int64) (epoch int16, lastSeq int32, ok bool)
//	Config.CheckpointInterval, RetentionInterval, MaxOpenFiles, Decompress, OnApply (see Config)
//	ErrPositionMismatch (AppendRaw at a position that is not the end)
//	ErrNeedBootstrap, ErrStaleEpoch (Truncate, BeginTerm)
//
// The replication methods are documented in full in doc.go ("Replication")
// and on each method (go doc storage.Store).
