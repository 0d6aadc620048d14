// Package nameserver is gregor's route registry, modelled on RocketMQ's
// NameServer (RouteInfoManager): an in-memory table of broker groups, their
// members and the topic partitions each group owns, filled only by broker
// heartbeats. NameServers never talk to each other and keep nothing on disk;
// a restarted NameServer is whole again after one heartbeat interval.
//
// Tables (RocketMQ names in brackets):
//
//	clusters   cluster name → broker names                [clusterAddrTable]
//	groups     broker name  → broker id → member          [brokerAddrTable]
//	live       (broker name, broker id) → last heartbeat  [brokerLiveTable]
//	topics     topic → id, partition → owning broker name [topicQueueTable]
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
//	POST   /v1/lease                         body LeaseRequest → LeaseResponse (lease.go)
//	GET    /healthz                          → 200 "ok"
//	GET    /metrics                          → Prometheus text format
//
// Client registers with all configured NameServers in parallel and reads
// routes from all of them, merging by the newest registration of each broker.
package nameserver
