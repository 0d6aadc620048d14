package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
)

// kgoLogger hands franz-go's log lines to zap.
type kgoLogger struct{ l *zap.Logger }

func (k kgoLogger) Level() kgo.LogLevel {
	switch {
	case k.l.Core().Enabled(zap.DebugLevel):
		return kgo.LogLevelDebug
	case k.l.Core().Enabled(zap.InfoLevel):
		return kgo.LogLevelInfo
	case k.l.Core().Enabled(zap.WarnLevel):
		return kgo.LogLevelWarn
	case k.l.Core().Enabled(zap.ErrorLevel):
		return kgo.LogLevelError
	}
	return kgo.LogLevelNone
}

func (k kgoLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	fields := make([]zap.Field, 0, len(keyvals)/2)
	for i := 0; i+1 < len(keyvals); i += 2 {
		fields = append(fields, zap.Any(fmt.Sprint(keyvals[i]), keyvals[i+1]))
	}
	switch level {
	case kgo.LogLevelError:
		k.l.Error(msg, fields...)
	case kgo.LogLevelWarn:
		k.l.Warn(msg, fields...)
	case kgo.LogLevelInfo:
		k.l.Info(msg, fields...)
	default:
		k.l.Debug(msg, fields...)
	}
}

// baseOpts are the options every client of a run shares.
func baseOpts(cfg *Config, log *zap.Logger) []kgo.Opt {
	return append([]kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ClientID(cfg.ClientID),
		kgo.WithLogger(kgoLogger{log}),
	}, cfg.Security...)
}

// producerOpts are the options of one producer client.
func producerOpts(cfg *Config, log *zap.Logger) []kgo.Opt {
	c, _ := codec(cfg.Compression) // checked by Validate
	opts := append(baseOpts(cfg, log),
		kgo.DefaultProduceTopic(cfg.Topic),
		kgo.ProducerLinger(cfg.Linger),
		kgo.ProducerBatchMaxBytes(cfg.BatchMaxBytes),
		kgo.MaxBufferedRecords(cfg.MaxBuffered),
		kgo.ProducerBatchCompression(c),
		// A broker that stops answering fails records instead of
		// hanging the run.
		kgo.RecordDeliveryTimeout(60*time.Second),
	)
	switch cfg.Acks {
	case "all":
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	case "1":
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()))
	case "0":
		opts = append(opts, kgo.RequiredAcks(kgo.NoAck()))
	}
	if !cfg.Idempotent {
		opts = append(opts, kgo.DisableIdempotentWrite())
	}
	if cfg.Partitioner == "round-robin" {
		opts = append(opts, kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	}
	if cfg.MaxInflight > 0 {
		opts = append(opts, kgo.MaxProduceRequestsInflightPerBroker(cfg.MaxInflight))
	}
	return opts
}

// consumerOpts are the options of one consumer client reading the given
// partitions from the given offsets.
func consumerOpts(cfg *Config, log *zap.Logger, from map[int32]kgo.Offset, pool *recordPool) []kgo.Opt {
	return append(baseOpts(cfg, log),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{cfg.Topic: from}),
		kgo.FetchMaxBytes(cfg.FetchMaxBytes),
		kgo.FetchMaxWait(500*time.Millisecond),
		kgo.WithPools(pool),
		isolation(cfg), keepControl,
	)
}

// newAdmin is an admin client whose requests may take a minute: creating
// 10,000 partitions on a real Kafka does.
func newAdmin(cfg *Config, log *zap.Logger) (*kgo.Client, *kadm.Client, error) {
	// kgo answers a metadata request less than MetadataMinAge (5 s by
	// default) after the last one from its cache, so polling for a new
	// topic's leaders would wait that long for each round.
	cl, err := kgo.NewClient(append(baseOpts(cfg, log), kgo.MetadataMinAge(50*time.Millisecond))...)
	if err != nil {
		return nil, nil, err
	}
	adm := kadm.NewClient(cl)
	adm.SetTimeoutMillis(60_000)
	return cl, adm, nil
}

// ensureTopic creates the topic when it is missing (and cfg.Create allows)
// and waits until every partition has a leader. It returns the partition
// count the topic really has.
func ensureTopic(ctx context.Context, adm *kadm.Client, cfg *Config, log *zap.Logger) (int32, error) {
	tds, err := adm.ListTopics(ctx, cfg.Topic)
	if err != nil {
		return 0, fmt.Errorf("metadata for %s: %w", cfg.Topic, err)
	}
	td, ok := tds[cfg.Topic]
	exists := ok && td.Err == nil
	if !exists {
		if !cfg.Create {
			return 0, fmt.Errorf("topic %s does not exist and --create=false", cfg.Topic)
		}
		if err := createTopic(ctx, adm, cfg); err != nil {
			return 0, err
		}
		log.Info("created topic", zap.String("topic", cfg.Topic), zap.Int32("partitions", cfg.Partitions))
	}
	// A new topic's leaders appear in metadata a moment after the
	// creation is acknowledged (at once on kfake, seconds on Kafka with
	// many partitions).
	deadline := time.Now().Add(2 * time.Minute)
	for {
		tds, err := adm.ListTopics(ctx, cfg.Topic)
		if err != nil {
			return 0, err
		}
		td := tds[cfg.Topic]
		ready := td.Err == nil && len(td.Partitions) > 0
		for _, p := range td.Partitions {
			if p.Err != nil || p.Leader < 0 {
				ready = false
				break
			}
		}
		if !exists && int32(len(td.Partitions)) < cfg.Partitions {
			ready = false // the partitions added in steps are not all visible yet
		}
		if ready {
			ready = offsetsReady(ctx, adm, cfg.Topic, len(td.Partitions))
		}
		if ready {
			if exists && int32(len(td.Partitions)) != cfg.Partitions {
				log.Info("topic exists with another partition count; using it as it is",
					zap.String("topic", cfg.Topic), zap.Int("partitions", len(td.Partitions)))
			}
			return int32(len(td.Partitions)), nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("topic %s has partitions without a leader after 2 minutes (topic error: %v)", cfg.Topic, td.Err)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// offsetsReady reports whether every partition of the topic answers
// ListOffsets: Kafka lists a new partition's leader in metadata before the
// leader has created its log, and produce to it times out until it has.
func offsetsReady(ctx context.Context, adm *kadm.Client, topic string, partitions int) bool {
	lo, err := adm.ListEndOffsets(ctx, topic)
	if err != nil || lo.Error() != nil {
		return false
	}
	n := 0
	lo.Each(func(kadm.ListedOffset) { n++ })
	return n == partitions
}

// ensureTopics is ensureTopic for a run of many topics (cfg.Topics > 1): it
// creates the missing ones in requests of at most createStep partitions and
// waits until every partition of every topic has a leader and answers
// ListOffsets. Topics that exist must have cfg.Partitions partitions. It
// returns the partition count over all topics.
func ensureTopics(ctx context.Context, adm *kadm.Client, cfg *Config, log *zap.Logger) (int32, error) {
	names := cfg.TopicNames()
	tds, err := adm.ListTopics(ctx, names...)
	if err != nil {
		return 0, fmt.Errorf("metadata for %s-*: %w", cfg.Topic, err)
	}
	var missing []string
	for _, n := range names {
		if td, ok := tds[n]; !ok || td.Err != nil {
			missing = append(missing, n)
		} else if int32(len(td.Partitions)) != cfg.Partitions {
			return 0, fmt.Errorf("topic %s exists with %d partitions, not %d", n, len(td.Partitions), cfg.Partitions)
		}
	}
	if len(missing) > 0 && !cfg.Create {
		return 0, fmt.Errorf("%d of the %d topics %s-* do not exist and --create=false", len(missing), len(names), cfg.Topic)
	}
	step := max(1, createStep/int(cfg.Partitions))
	for i := 0; i < len(missing); i += step {
		part := missing[i:min(i+step, len(missing))]
		resps, err := adm.CreateTopics(ctx, cfg.Partitions, cfg.ReplicationFactor, nil, part...)
		if err != nil {
			return 0, fmt.Errorf("creating %d topics: %w", len(part), err)
		}
		for _, r := range resps {
			if r.Err != nil && !errors.Is(r.Err, kerr.TopicAlreadyExists) {
				return 0, fmt.Errorf("creating %s: %w %s", r.Topic, r.Err, r.ErrMessage)
			}
		}
	}
	if len(missing) > 0 {
		log.Info("created topics", zap.Int("topics", len(missing)), zap.Int32("partitions each", cfg.Partitions))
	}
	total := int32(len(names)) * cfg.Partitions
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if n, err := leadersAndOffsets(ctx, adm, names); err == nil && n == total {
			return total, nil
		} else if time.Now().After(deadline) {
			return 0, fmt.Errorf("topics %s-*: %d of %d partitions ready after 2 minutes (%v)", cfg.Topic, n, total, err)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// leadersAndOffsets counts the partitions of the topics that have a leader
// in metadata and answer ListOffsets (see offsetsReady).
func leadersAndOffsets(ctx context.Context, adm *kadm.Client, topics []string) (int32, error) {
	tds, err := adm.ListTopics(ctx, topics...)
	if err != nil {
		return 0, err
	}
	for _, td := range tds {
		if td.Err != nil {
			return 0, fmt.Errorf("%s: %w", td.Topic, td.Err)
		}
		for _, p := range td.Partitions {
			if p.Err != nil || p.Leader < 0 {
				return 0, fmt.Errorf("%s/%d has no leader", td.Topic, p.Partition)
			}
		}
	}
	lo, err := adm.ListEndOffsets(ctx, topics...)
	if err == nil {
		err = lo.Error()
	}
	if err != nil {
		return 0, err
	}
	var n int32
	lo.Each(func(kadm.ListedOffset) { n++ })
	return n, nil
}

// createStep is the most partitions one CreateTopics or CreatePartitions
// request asks for: Kafka's controller refuses an operation that writes
// more than max.records.per.user.op (10,000) metadata records with
// POLICY_VIOLATION, and a topic of 10,000 partitions is 10,001 records.
const createStep = 5000

// createTopic creates cfg's topic, growing it in steps of createStep
// partitions.
func createTopic(ctx context.Context, adm *kadm.Client, cfg *Config) error {
	first := min(cfg.Partitions, createStep)
	resp, err := adm.CreateTopic(ctx, first, cfg.ReplicationFactor, nil, cfg.Topic)
	if err == nil {
		err = resp.Err
	}
	if errors.Is(err, kerr.TopicAlreadyExists) {
		return nil // made by a concurrent run; used as it is
	}
	if err != nil {
		return fmt.Errorf("creating %s (%d partitions, replication factor %d): %w %s",
			cfg.Topic, first, cfg.ReplicationFactor, err, resp.ErrMessage)
	}
	for n := first; n < cfg.Partitions; {
		n = min(n+createStep, cfg.Partitions)
		resps, err := adm.UpdatePartitions(ctx, int(n), cfg.Topic)
		if err == nil {
			err = resps.Error()
		}
		if err != nil {
			return fmt.Errorf("growing %s to %d partitions: %w", cfg.Topic, n, err)
		}
	}
	return nil
}

// deleteTopics removes the run's topics at its end.
func deleteTopics(ctx context.Context, adm *kadm.Client, topics ...string) error {
	resps, err := adm.DeleteTopics(ctx, topics...)
	if err != nil {
		return err
	}
	return resps.Error()
}

// listOffsets returns each partition's start or end offset.
func listOffsets(ctx context.Context, adm *kadm.Client, topic string, end bool) (map[int32]int64, error) {
	var (
		lo  kadm.ListedOffsets
		err error
	)
	if end {
		lo, err = adm.ListEndOffsets(ctx, topic)
	} else {
		lo, err = adm.ListStartOffsets(ctx, topic)
	}
	if err == nil {
		err = lo.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("listing offsets of %s: %w", topic, err)
	}
	out := make(map[int32]int64)
	lo.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out, nil
}
