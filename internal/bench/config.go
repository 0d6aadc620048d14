package bench

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Mode is what a run measures.
type Mode string

// The modes of a run.
const (
	ModeProduce Mode = "produce"
	ModeConsume Mode = "consume"
	ModeE2E     Mode = "e2e"
)

// KeyMode chooses the key each produced record carries.
type KeyMode string

// The key modes. Keyed records are spread over partitions by the key's hash
// (Kafka's murmur2); unkeyed records go to a sticky partition per batch.
const (
	KeysNone       KeyMode = "none"
	KeysRandom     KeyMode = "random"     // 8 random bytes
	KeysSequential KeyMode = "sequential" // 8-byte big-endian 0, 1, 2, … over all producers
)

// stampBytes is how many leading value bytes carry the e2e send time.
const stampBytes = 8

// Config is one run of the bench tool. Validate fills the defaults.
type Config struct {
	Mode    Mode
	Brokers []string
	// Security are the TLS and SASL options of every client, from
	// --command-config (internal/clientprops).
	Security []kgo.Opt
	Topic    string
	// Topics, when > 1, makes a produce run write to that many topics,
	// Topic-0 … Topic-(Topics-1), each with Partitions partitions, every
	// producer sending its records to them in turn (many topics against
	// one topic of as many partitions).
	Topics int

	// Partitions and ReplicationFactor are used when the topic is created.
	Partitions        int32
	ReplicationFactor int16
	// Create makes the topic when it does not exist yet.
	Create bool
	// Delete removes the topic when the run ends.
	Delete bool

	// RecordSize is the size of each record value in bytes.
	RecordSize int
	// Records is the total number of records to produce (produce, e2e) or to
	// read (consume); 0 means run for Duration (produce, e2e) or read to the
	// end offsets (consume).
	Records int64
	// Duration bounds the measured part of a run; 0 means no bound (then
	// Records must be set for produce).
	Duration time.Duration
	// Warmup runs before the measured part; what happens in it is not
	// counted.
	Warmup time.Duration
	// Rate is the target records per second over all producers; 0 is
	// unthrottled.
	Rate float64

	// Acks is all, 1 (leader) or 0 (none).
	Acks string
	// Idempotent enables the idempotent producer (only with acks=all).
	Idempotent bool
	// Linger is how long a partition's batch waits for more records.
	Linger time.Duration
	// BatchMaxBytes caps one record batch (kgo ProducerBatchMaxBytes).
	BatchMaxBytes int32
	// MaxBuffered caps the records a producer client holds unacknowledged.
	MaxBuffered int
	// TxnRecords, when positive, makes each producer transactional: it
	// commits a transaction every TxnRecords records (bench/txn.go).
	TxnRecords int
	// ReadCommitted makes consumers read with isolation.level
	// read_committed.
	ReadCommitted bool
	// MaxInflight caps the produce requests in flight to one broker per
	// client; 0 keeps franz-go's default (5 with idempotence).
	MaxInflight int
	// Compression is none, gzip, snappy, lz4 or zstd.
	Compression string
	// Producers and Consumers are the number of clients.
	Producers int
	Consumers int
	// Fanout is how many independent readers of the whole topic a consume
	// run has (as that many consumer groups would be): each is Consumers
	// clients, so a run makes Fanout × Consumers clients and reads every
	// record Fanout times. 0 or 1: one reader.
	Fanout int
	// Keys chooses the record keys.
	Keys KeyMode
	// Partitioner is sticky (franz-go's default: keyed records by murmur2
	// hash, unkeyed ones fill one partition's batch before the next) or
	// round-robin (every record to the next partition, keys ignored: with
	// many partitions each batch then holds few records, so the broker's
	// per-batch cost decides).
	Partitioner string
	// KeySpace, when > 0, makes sequential keys wrap at it (key mod
	// KeySpace), so the same keys are overwritten again and again (a
	// compacted topic's workload).
	KeySpace uint64

	// Preload is how many records consume writes before it reads (0: none).
	Preload int64
	// FetchMaxBytes caps one fetch response (kgo FetchMaxBytes).
	FetchMaxBytes int32
	// Drain is how long e2e waits after the last send for the records still
	// in flight; what has not arrived by then counts as lost.
	Drain time.Duration

	// ClientID is the Kafka client.id of every client.
	ClientID string
	// BrokerPID, when set, is a local broker process whose resident memory
	// is sampled once a second and reported.
	BrokerPID int
	// ReplicaPIDs are more local broker processes (the slaves of a
	// replicated group) whose CPU time counts as broker CPU with
	// BrokerPID's: the cost of a record is what the whole group spends.
	ReplicaPIDs []int
}

// Validate fills the defaults and rejects values a run cannot use.
func (c *Config) Validate() error {
	switch c.Mode {
	case ModeProduce, ModeConsume, ModeE2E:
	default:
		return fmt.Errorf("mode %q is not produce, consume or e2e", c.Mode)
	}
	if len(c.Brokers) == 0 {
		return errors.New("no brokers: give --brokers host:port")
	}
	if c.Topic == "" {
		c.Topic = "gregor-bench"
	}
	if c.Partitions == 0 {
		c.Partitions = 16
	}
	if c.Topics == 0 {
		c.Topics = 1
	}
	if c.Topics < 0 {
		return fmt.Errorf("topics %d is negative", c.Topics)
	}
	if c.Topics > 1 && c.Mode != ModeProduce {
		return fmt.Errorf("--topics %d: only produce writes to many topics", c.Topics)
	}
	if c.Partitions < 0 {
		return fmt.Errorf("partitions %d is negative", c.Partitions)
	}
	if c.ReplicationFactor == 0 {
		c.ReplicationFactor = 1
	}
	if c.ReplicationFactor < 0 {
		return fmt.Errorf("replication factor %d is negative", c.ReplicationFactor)
	}
	if c.RecordSize == 0 {
		c.RecordSize = 1024
	}
	if c.RecordSize < 0 {
		return fmt.Errorf("record size %d is negative", c.RecordSize)
	}
	if c.Mode == ModeE2E && c.RecordSize < stampBytes {
		return fmt.Errorf("e2e needs records of at least %d bytes to carry the send time, not %d", stampBytes, c.RecordSize)
	}
	if c.Records < 0 || c.Preload < 0 {
		return errors.New("record counts cannot be negative")
	}
	if c.Duration < 0 || c.Warmup < 0 || c.Drain < 0 || c.Linger < 0 {
		return errors.New("durations cannot be negative")
	}
	if c.Mode != ModeConsume && c.Records == 0 && c.Duration == 0 {
		return errors.New("give a record count or a duration")
	}
	if c.Rate < 0 {
		return fmt.Errorf("rate %v is negative", c.Rate)
	}
	if c.Mode == ModeE2E && c.Rate == 0 {
		// An unthrottled e2e run measures queueing, not latency.
		return errors.New("e2e needs a fixed --rate")
	}
	switch c.Acks {
	case "":
		c.Acks = "all"
	case "all", "-1", "1", "0":
		if c.Acks == "-1" {
			c.Acks = "all"
		}
	default:
		return fmt.Errorf("acks %q is not all, 1 or 0", c.Acks)
	}
	if c.Acks != "all" {
		c.Idempotent = false
	}
	if c.TxnRecords > 0 && !c.Idempotent {
		return errors.New("transactions need acks=all and the idempotent producer")
	}
	if c.BatchMaxBytes < 0 || c.FetchMaxBytes < 0 || c.MaxBuffered < 0 || c.MaxInflight < 0 || c.TxnRecords < 0 {
		return errors.New("sizes cannot be negative")
	}
	if c.BatchMaxBytes == 0 {
		c.BatchMaxBytes = 1 << 20
	}
	if c.FetchMaxBytes == 0 {
		c.FetchMaxBytes = 50 << 20
	}
	if c.MaxBuffered == 0 {
		c.MaxBuffered = 50000
	}
	if _, err := codec(c.Compression); err != nil {
		return err
	}
	if c.Compression == "" {
		c.Compression = "none"
	}
	if c.Producers == 0 {
		c.Producers = 1
	}
	if c.Consumers == 0 {
		c.Consumers = 1
	}
	if c.Fanout == 0 {
		c.Fanout = 1
	}
	if c.Fanout < 0 {
		return errors.New("fanout cannot be negative")
	}
	if c.Fanout > 1 && c.Mode != ModeConsume {
		return errors.New("fanout is for consume runs only")
	}
	if c.Producers < 0 || c.Consumers < 0 {
		return errors.New("client counts cannot be negative")
	}
	switch c.Keys {
	case "":
		c.Keys = KeysNone
	case KeysNone, KeysRandom, KeysSequential:
	default:
		return fmt.Errorf("keys %q is not none, random or sequential", c.Keys)
	}
	switch c.Partitioner {
	case "":
		c.Partitioner = "sticky"
	case "sticky", "round-robin":
	default:
		return fmt.Errorf("partitioner %q is not sticky or round-robin", c.Partitioner)
	}
	if c.Drain == 0 {
		c.Drain = 10 * time.Second
	}
	if c.ClientID == "" {
		c.ClientID = "gregor-bench"
	}
	return nil
}

// TopicNames is the topics a run writes: Topic, or Topic-0 … Topic-(Topics-1).
func (c *Config) TopicNames() []string {
	if c.Topics <= 1 {
		return []string{c.Topic}
	}
	names := make([]string, c.Topics)
	for i := range names {
		names[i] = fmt.Sprintf("%s-%d", c.Topic, i)
	}
	return names
}

// codec maps a compression name to franz-go's codec.
func codec(name string) (kgo.CompressionCodec, error) {
	switch strings.ToLower(name) {
	case "", "none":
		return kgo.NoCompression(), nil
	case "gzip":
		return kgo.GzipCompression(), nil
	case "snappy":
		return kgo.SnappyCompression(), nil
	case "lz4":
		return kgo.Lz4Compression(), nil
	case "zstd":
		return kgo.ZstdCompression(), nil
	}
	return kgo.NoCompression(), fmt.Errorf("compression %q is not none, gzip, snappy, lz4 or zstd", name)
}
