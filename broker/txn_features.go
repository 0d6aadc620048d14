package broker

// Features in ApiVersions (v3+, KIP-584): gregor supports and finalizes
// transaction.version 1 (KIP-890's level 2, where producers add partitions
// implicitly and every EndTxn bumps the epoch, is not implemented), so the
// Java 4.x client uses AddPartitionsToTxn as with a Kafka broker at level 1.

// transactionVersion is the transaction.version gregor supports and
// finalizes; 18_api_versions.go lists it with the other feature levels.
const transactionVersion = 1
