package broker

// ApiVersions (key 18), versions 0–5.
//
// Lists the APIs this broker serves, from the apis table (handlers.go).
//
// Behaviour:
//   - Exactly the APIs that have a handler, each with the versions it
//     accepts, in key order; the same table on masters and slaves.
//   - Produce is listed from v0 although v0–v2 are rejected (see
//     00_produce.go).
//   - A request version newer than 5 is answered before decoding, in the v0
//     shape, with UNSUPPORTED_VERSION and the table
//     (protocol.ServerConfig.ApiVersionsUnsupported), so the client can
//     retry with a version listed.
//   - ApiVersions is a concurrent API (server.go): it never waits behind
//     other requests of its connection.
//
// Versions:
//   - v3+: the request carries the client's software name and version;
//     Kafka rejects names outside [a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?
//     with INVALID_REQUEST and so does gregor (the table is still sent).
//     The answer carries the feature levels of the features table below
//     (supported ranges, and the finalized level of each feature above
//     level 0, as Kafka lists them).
//   - v5 (KIP-1102 rebootstrap): a request naming a cluster id is checked
//     as Kafka 4.4 checks it: a node id below 0 with it is INVALID_REQUEST;
//     another node id, or another cluster id on a single broker group, is
//     REBOOTSTRAP_REQUIRED (in a cluster of several groups the groups agree
//     on one id only after their first route reads, cluster_id.go, so the
//     id is not compared there). Either error answer lists no APIs and no
//     features (finalized epoch -1).

import (
	"context"
	"sort"

	"github.com/gregor-broker/gregor/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.ApiVersions, 0, 5, handleApiVersions) }

// feature is one feature level advertised in ApiVersions v3+.
type feature struct {
	name     string
	min, max int16 // the levels this broker supports
	level    int16 // the finalized level (not listed when 0, as in Kafka)
}

// features are the feature levels gregor advertises. Each says what works
// end to end, not what Kafka 4.4.0 finalizes:
//   - metadata.version 33 (4.4-IV2) is the level of the Kafka release
//     whose API versions gregor serves (Kafka 4.4.0's latest production
//     level); gregor has no KRaft metadata log, so it supports that one
//     level only and UpdateFeatures is not served.
//   - group.version 1 turns on the KIP-848 consumer protocol
//     (ConsumerGroupHeartbeat, ConsumerGroupDescribe), served by
//     broker/group (consumer.go); finalized at 1 as in Kafka 4.
//   - transaction.version: the level the transaction coordinator serves,
//     transactionVersion (txn_features.go, owned with the transaction APIs).
//
// Kafka's other features (kraft.version, share.version, streams.version,
// eligible.leader.replicas.version) name protocols gregor does not serve
// and are not listed.
var features = []feature{
	{name: "metadata.version", min: 33, max: 33, level: 33},
	{name: "group.version", min: 0, max: 1, level: 1},
	{name: "transaction.version", min: 0, max: transactionVersion, level: transactionVersion},
}

// featuresEpoch is the finalized features' epoch. In Kafka it is the
// metadata log offset of their last change; gregor's levels are fixed by
// the build, so it is a constant.
const featuresEpoch = 1

func handleApiVersions(_ context.Context, b *Broker, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.ApiVersionsRequest)
	if r.Version >= 5 && r.ClusterID != nil {
		code := int16(0)
		switch {
		case r.NodeID < 0:
			code = kerr.InvalidRequest.Code
		case r.NodeID != b.cfg.NodeID,
			*r.ClusterID != b.ClusterID() && b.ClusterID() != "" && len(b.cl().currentView().members) <= 1:
			// The cluster id only on a single broker group: without a
			// configured cluster.id the groups of a cluster converge on
			// one id after their first route reads (cluster_id.go), and a
			// client that learned the id a moment before is not sent
			// away; a new slave knows no id until its master's log
			// brings it.
			code = kerr.RebootstrapRequired.Code
		}
		if code != 0 {
			resp := kmsg.NewPtrApiVersionsResponse()
			resp.Version, resp.ErrorCode, resp.FinalizedFeaturesEpoch = r.Version, code, -1
			return resp, nil
		}
	}
	resp := apiVersionsTable(r.Version)
	if r.ClientSoftwareName == interBrokerSoftware && req.Conn != nil && req.Conn.Listener == b.interBrokerListener() {
		// Envelope, to the forwarding client of another broker only
		// (envelope.go); its handler decides who may send it.
		k := kmsg.NewApiVersionsResponseApiKey()
		k.ApiKey = int16(kmsg.Envelope)
		resp.ApiKeys = append(resp.ApiKeys, k)
		sort.Slice(resp.ApiKeys, func(i, j int) bool { return resp.ApiKeys[i].ApiKey < resp.ApiKeys[j].ApiKey })
	}
	if r.Version >= 3 && (!validSoftwareField(r.ClientSoftwareName) || !validSoftwareField(r.ClientSoftwareVersion)) {
		resp.ErrorCode = kerr.InvalidRequest.Code
	}
	return resp, nil
}

// apiVersionsTable lists every registered API in key order, and the
// feature levels.
func apiVersionsTable(version int16) *kmsg.ApiVersionsResponse {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = version
	for key, a := range apis {
		k := kmsg.NewApiVersionsResponseApiKey()
		k.ApiKey, k.MinVersion, k.MaxVersion = key, a.min, a.max
		resp.ApiKeys = append(resp.ApiKeys, k)
	}
	sort.Slice(resp.ApiKeys, func(i, j int) bool { return resp.ApiKeys[i].ApiKey < resp.ApiKeys[j].ApiKey })
	resp.FinalizedFeaturesEpoch = featuresEpoch
	for _, f := range features {
		sf := kmsg.NewApiVersionsResponseSupportedFeature()
		sf.Name, sf.MinVersion, sf.MaxVersion = f.name, f.min, f.max
		resp.SupportedFeatures = append(resp.SupportedFeatures, sf)
		if f.level > 0 {
			ff := kmsg.NewApiVersionsResponseFinalizedFeature()
			ff.Name, ff.MinVersionLevel, ff.MaxVersionLevel = f.name, f.level, f.level
			resp.FinalizedFeatures = append(resp.FinalizedFeatures, ff)
		}
	}
	return resp
}

// validSoftwareField is Kafka's check of ClientSoftwareName/Version.
func validSoftwareField(s string) bool {
	if s == "" {
		return false
	}
	alnum := func(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' }
	if !alnum(s[0]) || !alnum(s[len(s)-1]) {
		return false
	}
	for i := 1; i < len(s)-1; i++ {
		if c := s[i]; !alnum(c) && c != '-' && c != '.' {
			return false
		}
	}
	return true
}
