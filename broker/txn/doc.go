// Package txn is gregor's transaction coordinator (Kafka KIP-98, at
// transaction.version 2, KIP-890 part 2, which ApiVersions finalizes).
//
// # transaction.version 2
//
// As in Kafka, the level of a request is its version, so clients at level
// 1 keep working: a client at level 2 adds partitions implicitly (Produce
// v12+ and TxnOffsetCommit v5+ ask the coordinator to add the partition or
// the group: broker/txn_produce.go, 28_txn_offset_commit.go; a leader on
// another broker group asks with AddPartitionsToTxn v4+, AddOffsetsToTxn)
// and ends transactions with EndTxn v5, which bumps the producer epoch at
// every commit or abort (endTxnV2 has Kafka's table). The markers carry the
// bumped epoch, so the partitions' producer state moves to it and a batch
// of the ended transaction still in flight is refused
// (INVALID_PRODUCER_EPOCH); the producer continues with the epoch EndTxn
// answers. When a bump reaches the last epoch (32767), the id moves to a
// new producer id at epoch 0 once the markers are written
// (Metadata.NextProducer), which EndTxn answers at once; a retry with the
// old id and its last epoch is recognised. An abort the coordinator starts
// itself (a timeout, InitProducerId taking over an open transaction) bumps
// once and rotates the same way.
//
// # Where the state lives
//
// A transactional id is coordinated by the live master owning partition
// PartitionFor(id) of the internal topic __transaction_state (50
// partitions, as Kafka's transaction.state.log.num.partitions), the same
// formula and the same placement as groups under __consumer_offsets
// (broker/coordination.go, internalCoordinator). That master keeps the
// id's metadata (producer id and epoch, the previous ones, timeout, state,
// the partitions and groups in the open transaction, its start time) as
// one key/value of namespace "txn_state" in its commit log. Every change
// of state is written there before it is answered, so a slave holds the
// same metadata and a restart or fail-over resumes where the old master
// stopped: a transaction left in PrepareCommit or PrepareAbort is
// completed (its markers written again, which is harmless), an Ongoing one
// is kept until its producer ends it or its timeout aborts it. That is how
// Kafka's coordinator recovers from __transaction_state.
//
// # States (Kafka's TransactionState)
//
//	Empty -> Ongoing (AddPartitionsToTxn, AddOffsetsToTxn; Produce v12+,
//	  TxnOffsetCommit v5+)
//	Ongoing -> PrepareCommit | PrepareAbort (EndTxn, or the timeout: abort)
//	Prepare* -> Complete* (markers written to every partition, offsets
//	  of every group committed or dropped)
//	Complete* -> Ongoing (the next transaction)
//	Empty, Complete* -> PrepareAbort (EndTxn v5 abort with nothing open:
//	  the epoch is bumped, no marker is written)
//
// The decision is durable once Prepare* is written: EndTxn answers then;
// writing the markers may fail (a partition's group without a master) and
// is retried by the coordinator's loop until it succeeds. Meanwhile the
// producer's next request gets CONCURRENT_TRANSACTIONS, as in Kafka.
//
// # Markers, the last stable offset, and one shared commit log
//
// A marker is a control batch (attributes transactional|control, one
// record whose key is int16 version 0, int16 type 0 abort / 1 commit)
// appended to the partition like any batch: it goes into the shared commit
// log, gets an offset and a consume-queue entry. The store's dispatcher
// (storage/txn.go) derives from the batches, per partition, the open
// transactions (producer id -> first offset) and the aborted-transaction
// index (producer id, first offset, marker offset); both are in every
// checkpoint, so retention and restarts keep them, and a slave derives
// the same from the replicated log. The last stable offset is the high
// watermark or the first offset of the earliest open transaction, whichever
// is lower; read_committed fetches stop there and carry the aborted list so
// the client drops the aborted batches. The marker's epoch also fences: a
// marker with a newer epoch than the partition's producer state (a timeout
// or a new InitProducerId fenced the old producer) resets that state, so
// the zombie's batches get INVALID_PRODUCER_EPOCH.
//
// In replication.mode=sync EndTxn is answered once the in-sync slaves hold
// the decision and the markers (broker/txn_coordination.go,
// txnAwaitInSync), as Produce acks=all waits: a slave promoted after the
// answer has the commit (cluster_test's TestTxnCommitSurvivesFailover).
//
// Markers for partitions another broker group owns go to its master as
// WriteTxnMarkers (key 27, inter-broker); offsets committed in the
// transaction (TxnOffsetCommit) wait at the group's coordinator as pending
// offsets (broker/group/txn.go) and are committed or dropped by the marker
// for the group's __consumer_offsets partition.
package txn
