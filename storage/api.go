package storage

// This file holds the types shared between the store and its users (broker,
// groups, replication); the methods are documented where they are defined
// (`go doc -all ./storage`). Changing a signature means updating every
// caller in the same commit.

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
	// CheckpointBytes also checkpoints once the commit log has grown this
	// much since the last checkpoint (looked at every second), so the log
	// re-scanned after a crash stays bounded however fast it is written;
	// default 512 MiB, negative: never.
	CheckpointBytes int64
	// RetentionInterval is how often retention runs; default 30s.
	RetentionInterval time.Duration
	// CompactionInterval is how often compacted partitions are checked
	// for a cleaning round (Kafka's log.cleaner.backoff.ms); default 15s.
	// Retention runs after a round that cleaned something.
	CompactionInterval time.Duration
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
	// OnSync, when set, is called after each fsync of a commit-log segment
	// with how long the fsync took (the broker's fsync latency histogram).
	OnSync func(took time.Duration)

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

// The Store and Partition methods are the API the broker, the group
// coordinator and replication use; each method's doc comment is its
// contract (ranges, who owns returned slices, which sentinel error comes
// back when). Read them with `go doc -all ./storage` rather than from a
// list here: a hand-written copy of the signatures drifts.
