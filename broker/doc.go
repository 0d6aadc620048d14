// Package broker is a gregor broker: it answers the Kafka APIs over the
// MetaQ store, as one member of a broker group in a cluster of groups. Each
// API has a file named by its key (00_produce.go, 01_fetch.go, …) that
// opens with one form of header: the API, its key and the versions it
// serves on the first line, then its behaviour as bullets and what changes
// with each version (TestAPIFileHeaders holds every file to it).
//
// # Wiring
//
// New opens the store, the topic table and the group coordinator; Start
// binds every listener and hands each accepted connection to a
// protocol.Server, which calls Broker.Handle for each request (server.go).
// Handlers find their API in the apis table (handlers.go); errors become
// Kafka codes in one place (errors.go).
//
// # The cluster
//
// A cluster is several broker groups (RocketMQ's brokerName): each group is
// one master and zero or more slaves holding the same commit log, and every
// process has a cluster-unique Kafka node.id. Brokers know each other only
// through the NameServers (package nameserver), never directly:
//
//   - Membership (cluster.go): every broker registers with every NameServer
//     every few seconds and at once on a change: its listeners, role, log
//     end, master epoch, and every topic it holds with the partitions its
//     group owns. It reads the route table back just as often. A single-node
//     gregor is the same code over an in-process registry.
//   - The view (routes.go): what a broker believes about the cluster is the
//     last route table merged with its own registration as it is now, plus
//     the remembered owners of partitions whose group has expired (reported
//     without a leader rather than vanishing). Metadata, FindCoordinator and
//     the data path's "does another group lead this partition?" read it.
//   - Placement (placement.go): a topic's partitions are spread over the
//     live master groups when it is created, by one deciding broker per topic
//     (a hash of the name over the live masters) to which every other broker
//     forwards CreateTopics, CreatePartitions and auto-creation; each owning
//     group records its share durably (Topic.Owned) and registers it. The
//     placement is explicit, never derived from a broker list at read time.
//   - Data: Produce, Fetch, ListOffsets and DeleteRecords are served by the
//     master of the owning group (leader = that master, replicas = the
//     group's members, ISR = the master and the slaves whose log is within
//     a bound of it, leader epoch = the group's master epoch); another
//     broker answers NOT_LEADER_OR_FOLLOWER. A slave serves reads only and
//     may be named a consumer's preferred read replica (read_replica.go).
//   - Groups: a group is coordinated by the master of the group owning its
//     __consumer_offsets partition (group.PartitionFor, Kafka's formula);
//     __consumer_offsets is created and placed like any topic at the first
//     FindCoordinator. Each group handler checks every group it names
//     (validateGroup, coordination.go): one another broker coordinates gets
//     NOT_COORDINATOR; a slave coordinates nothing.
//   - Topic configs and deletions that span groups are sent to each owning
//     group's master (cluster_configs.go, topic_deletion.go, over
//     forwarding.go); a slave forwards admin writes to its own master
//     (slave_gate.go).
//   - Roles and replication (role.go, replica.go, replication.go, lease.go,
//     promote.go; docs/replication.md): which member is master is decided by
//     the group's current term, kept in the commit log itself; the master
//     streams its commit log to the slaves, and with three or more
//     NameServers holds a lease that a slave of the last in-sync set takes
//     over, with the next epoch, once it has provably run out.
//
// # Advertised addresses
//
// A listener with an empty Advertised address tells clients its bound
// address; when that is a wildcard (0.0.0.0, ::) it tells them the local
// address of the connection the request arrived on, i.e. the address the
// client already reached, which is always reachable by that client (Kafka
// uses the host's canonical name instead, which often is not).
package broker
