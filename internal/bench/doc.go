// Package bench is `gregor bench`, a load tool for any Kafka-protocol broker,
// in the shape of `nats bench` and Kafka's producer/consumer perf tests, built
// on franz-go.
//
// Three modes share one engine:
//
//   - produce: P producer clients write records of a fixed size at a target
//     rate (0 = as fast as the brokers acknowledge) for a duration or a record
//     count. Latency is the time from kgo.Client.Produce to the acknowledgement.
//   - consume: C consumer clients read a topic from its start offsets to the end
//     offsets seen when the run begins (optionally after preloading it). There
//     is no latency in this mode, only throughput.
//   - e2e: producers at a fixed rate stamp each record's value with the send
//     time (the first 8 bytes, big-endian Unix nanoseconds) and consumers that
//     started at the end offsets measure now minus that stamp. Producer and
//     consumer run on the same host, so both read the same clock.
//
// Consumers never join a group: partitions are assigned to consumer clients
// directly (partition p goes to client p mod C), so the tool measures fetch,
// not group coordination, and works against brokers without groups.
//
// Units: MB is 2^20 bytes (as kafka-producer-perf-test prints), throughput
// counts record values only (not keys or batch overhead), latencies are
// recorded in microseconds in an HdrHistogram with 3 significant digits and
// printed in milliseconds.
//
// The hidden `bench kfake` subcommand runs franz-go's in-memory fake cluster
// as its own process, so that comparisons never share a process with the
// client.
package bench
