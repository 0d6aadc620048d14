package broker

// DeleteAcls (key 31), versions 1–3.
//
// Removes the ACL bindings each filter matches, durably in the commit log
// before the answer (acl.go). A slave forwards the request to its master
// (slave_gate.go).
//
// Behaviour:
//   - Needs ALTER on the cluster (CLUSTER_AUTHORIZATION_FAILED per filter).
//   - Without authorizer.class.name: SECURITY_DISABLED per filter.
//   - Each filter's result lists the bindings it removed; a filter with an
//     UNKNOWN enum gets INVALID_REQUEST.
//
// Versions: v0 was removed by Kafka 4 (KIP-896); v2+ is flexible.

import (
	"context"

	"github.com/gregor-broker/gregor/protocol"
	"github.com/gregor-broker/gregor/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.DeleteACLs, 1, 3, handleDeleteACLs) }

func handleDeleteACLs(_ context.Context, b *Broker, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.DeleteACLsRequest)
	resp := r.ResponseKind().(*kmsg.DeleteACLsResponse)
	denyCode, denyMsg := int16(0), ""
	if !b.aclEnabled() {
		denyCode, denyMsg = kerr.SecurityDisabled.Code, "No Authorizer is configured."
	} else if code, msg := b.authorizeCluster(req, aclOpAlter); code != 0 {
		denyCode, denyMsg = code, msg
	}
	var kvs []storage.KV
	removed := map[string]bool{}
	all := b.aclSet().all
	for _, fr := range r.Filters {
		res := kmsg.NewDeleteACLsResponseResult()
		f := aclFilter{resType: int8(fr.ResourceType), name: fr.ResourceName, pattern: int8(fr.ResourcePatternType),
			principal: fr.Principal, host: fr.Host, op: int8(fr.Operation), perm: int8(fr.PermissionType)}
		if denyCode != 0 {
			res.ErrorCode, res.ErrorMessage = denyCode, &denyMsg
			resp.Results = append(resp.Results, res)
			continue
		}
		if err := validFilter(f); err != nil {
			msg := err.Error()
			res.ErrorCode, res.ErrorMessage = kerr.InvalidRequest.Code, &msg
			resp.Results = append(resp.Results, res)
			continue
		}
		for _, a := range all {
			if !f.matches(a) {
				continue
			}
			m := kmsg.NewDeleteACLsResponseResultMatchingACL()
			m.ResourceType, m.ResourceName, m.ResourcePatternType = kmsg.ACLResourceType(a.resType), a.name, kmsg.ACLResourcePatternType(a.pattern)
			m.Principal, m.Host, m.Operation, m.PermissionType = a.principal, a.host, kmsg.ACLOperation(a.op), kmsg.ACLPermissionType(a.perm)
			res.MatchingACLs = append(res.MatchingACLs, m)
			if k := string(a.key()); !removed[k] {
				removed[k] = true
				kvs = append(kvs, storage.KV{Key: a.key()})
			}
		}
		resp.Results = append(resp.Results, res)
	}
	if err := b.putACLs(kvs); err != nil {
		msg := err.Error()
		for i := range resp.Results {
			if resp.Results[i].ErrorCode == 0 {
				resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = kerr.UnknownServerError.Code, &msg
				resp.Results[i].MatchingACLs = nil
			}
		}
	}
	return resp, nil
}
