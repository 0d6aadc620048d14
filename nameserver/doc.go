// Package nameserver is gregor's route registry, modelled on RocketMQ's
// NameServer (RouteInfoManager): an in-memory table of broker groups, their
// members and the topic partitions each group owns, filled only by broker
// heartbeats. NameServers never talk to each other and keep nothing on disk;
// a restarted NameServer is whole again after one heartbeat interval.
//
// # Tables
//
// RocketMQ's RouteInfoManager keeps four tables (clusterAddrTable,
// brokerAddrTable, brokerLiveTable, topicQueueTable). gregor keeps one
// route table, Registry.brokers, and derives the rest when asked, so they
// can never disagree; beside it, Leases.groups holds the fail-over leases
// (RocketMQ 5 keeps those in its controller instead):
//
//	Registry.brokers   (broker name, broker id) → Broker: the member's last
//	                   Registration whole (cluster, node id, role, rack,
//	                   Kafka endpoints, replication and HTTP addresses, log
//	                   end, master epoch, data version, a master's in-sync
//	                   set and each slave's progress, its Kafka cluster id
//	                   and since when it has it, and each topic it holds:
//	                   name, id, partition count, the partitions its group
//	                   owns) and the time of that heartbeat (registry.go)
//	Leases.groups      broker name → the group's master lease: holder and
//	                   epoch, when it ends, the largest epoch known, the last
//	                   in-sync set (lease.go)
//
// Registry.bytes is no table: the running size of a routes answer, kept
// under MaxRoutesBytes. Registry.holders is no table either: an index from
// topic name to the members registering it, kept in step with
// Registry.brokers, so a per-topic read (TopicRoutes) costs what that
// topic's owners hold, not what the whole cluster holds: at 1,000 members
// and 100,000 partitions a whole-table answer is about 3 MiB of JSON
// (BenchmarkNameServerScale).
//
// Routes builds the rest from Registry.brokers on every read: the live
// brokers sorted by (name, id) (a group's members, its master among them,
// are the brokers of that name) and each topic with its largest reported
// partition count and each partition mapped to the broker name whose
// members claim it (a partition two groups claim, a misconfiguration, goes
// to the master with the higher data version). Nothing is kept per cluster
// name: every registered broker is in the one table.
//
// # What it accepts
//
// Anyone who reaches the port can register, so every registration is checked
// (Registration.Validate, validate.go) before it enters the table, and a
// broker checks what it reads back with the same rules: names, topic ids,
// partition numbers and counts, sizes (a register body at most 4 MiB, at most
// 1024 members, a routes answer at most 64 MiB).
//
// A broker registers with every NameServer every RegisterInterval (3 s by
// default) and at once on any change. The server scans every ScanInterval
// (3 s) and drops a broker silent for longer than BrokerExpiry (15 s);
// when a group's master goes, its partitions stay in the table, reported
// without a leader, so clients see them unavailable rather than deleted.
// A group gone altogether (no member heartbeating) leaves the table with its
// partitions; the brokers remember its placement from earlier route reads
// and report those partitions without a leader (broker/routes.go).
//
// It also keeps each group's master lease (lease.go), the safety core of
// fail-over: memory only, like the rest.
//
// The API is HTTP and JSON, easy to inspect with curl:
//
//	POST   /v1/register                      body Registration → RegisterResponse
//	POST   /v1/unregister                    body {"cluster","broker_name","broker_id"}
//	GET    /v1/routes                        → Routes (every live broker and topic)
//	GET    /v1/routes?since=G&instance=I     → RoutesDelta (what changed since generation G; delta.go)
//	GET    /v1/routes/{topic}                → TopicRoutes (one topic, its owners' members)
//	POST   /v1/lease                         body LeaseRequest → LeaseResponse (lease.go)
//	GET    /healthz                          → 200 "ok"
//	GET    /metrics                          → Prometheus text format
//
// Client registers with all configured NameServers in parallel and reads
// routes from all of them, merging by the newest registration of each broker.
// Brokers poll with Client.PollRoutes: delta reads, so an unchanged table
// costs an answer of a few bytes and no merge (delta.go). A per-topic
// answer is kept encoded until the routing changes.
package nameserver
