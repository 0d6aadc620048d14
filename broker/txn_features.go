package broker

// Features in ApiVersions (v3+, KIP-584): gregor supports and finalizes
// transaction.version 2 (KIP-890 part 2), as Kafka 4.4 does: clients at
// that level (the Java client from 4.0, franz-go) add partitions with
// Produce v12+ and group offsets with TxnOffsetCommit v5+ instead of
// AddPartitionsToTxn and AddOffsetsToTxn, and every EndTxn v5 bumps the
// producer epoch (broker/txn). A client at level 1 is served as before:
// the level of each request is its version, as in Kafka.

// transactionVersion is the transaction.version gregor supports and
// finalizes; 18_api_versions.go lists it with the other feature levels.
const transactionVersion = 2
