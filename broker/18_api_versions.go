package broker

// ApiVersions (key 18), versions 0–4.
//
// Lists the APIs this broker serves, from the apis table (handlers.go).
//
// Behaviour:
//   - Exactly the APIs that have a handler, each with the versions it
//     accepts, in key order; the same table on masters and slaves.
//   - Produce is listed from v0 although v0–v2 are rejected (see
//     00_produce.go).
//   - A request version newer than 4 is answered before decoding, in the v0
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
//     No supported or finalized features are listed.

import (
	"context"
	"sort"

	"github.com/gregor-broker/gregor/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.ApiVersions, 0, 4, handleApiVersions) }

func handleApiVersions(_ context.Context, _ *Broker, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.ApiVersionsRequest)
	resp := apiVersionsTable(r.Version)
	if r.Version >= 3 && (!validSoftwareField(r.ClientSoftwareName) || !validSoftwareField(r.ClientSoftwareVersion)) {
		resp.ErrorCode = kerr.InvalidRequest.Code
	}
	return resp, nil
}

// apiVersionsTable lists every registered API in key order.
func apiVersionsTable(version int16) *kmsg.ApiVersionsResponse {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = version
	for key, a := range apis {
		k := kmsg.NewApiVersionsResponseApiKey()
		k.ApiKey, k.MinVersion, k.MaxVersion = key, a.min, a.max
		resp.ApiKeys = append(resp.ApiKeys, k)
	}
	sort.Slice(resp.ApiKeys, func(i, j int) bool { return resp.ApiKeys[i].ApiKey < resp.ApiKeys[j].ApiKey })
	addFeatures(resp)
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
