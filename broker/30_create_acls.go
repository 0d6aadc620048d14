package broker

// CreateAcls (key 30), versions 1–3.
//
// Adds ACL bindings, durably in the commit log before the answer (acl.go).
// A slave forwards the request to its master (slave_gate.go).
//
// Behaviour:
//   - Needs ALTER on the cluster (CLUSTER_AUTHORIZATION_FAILED per
//     creation).
//   - Without authorizer.class.name: SECURITY_DISABLED per creation.
//   - Validation and messages are Kafka's (AclApis, AclControlManager):
//     a CLUSTER resource not named kafka-cluster, an empty name, an
//     ANY/UNKNOWN/MATCH enum or a principal without a colon is
//     INVALID_REQUEST.
//   - Creating an existing binding succeeds and changes nothing.
//
// Versions: v0 was removed by Kafka 4 (KIP-896); v2+ is flexible.

import (
	"context"
	"strings"

	"github.com/gregor-broker/gregor/protocol"
	"github.com/gregor-broker/gregor/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.CreateACLs, 1, 3, handleCreateACLs) }

// validateNewACL is AclControlManager.validateNewAcl with AclApis' name
// checks before it.
func validateNewACL(a aclBinding) string {
	switch {
	case a.resType == resCluster && a.name != clusterResourceName:
		return "The only valid name for the CLUSTER resource is kafka-cluster"
	case a.name == "":
		return "Invalid empty resource name"
	case a.resType < resTopic || a.resType > 7:
		return "Invalid resourceType " + kmsg.ACLResourceType(a.resType).String()
	case a.pattern != patLiteral && a.pattern != patPrefixed:
		return "Invalid patternType " + kmsg.ACLResourcePatternType(a.pattern).String()
	case a.op < aclOpAll || a.op > 14:
		return "Invalid operation " + kmsg.ACLOperation(a.op).String()
	case a.perm != permAllow && a.perm != permDeny:
		return "Invalid permissionType " + kmsg.ACLPermissionType(a.perm).String()
	case !strings.Contains(a.principal, ":"):
		return "Could not parse principal from `" + a.principal + "` (no colon is present separating the principal type from the principal name)"
	}
	return ""
}

func handleCreateACLs(_ context.Context, b *Broker, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.CreateACLsRequest)
	resp := r.ResponseKind().(*kmsg.CreateACLsResponse)
	denyCode, denyMsg := int16(0), ""
	if !b.aclEnabled() {
		denyCode, denyMsg = kerr.SecurityDisabled.Code, "No Authorizer is configured."
	} else if code, msg := b.authorizeCluster(req, aclOpAlter); code != 0 {
		denyCode, denyMsg = code, msg
	}
	var kvs []storage.KV
	var ok []int
	for i, c := range r.Creations {
		res := kmsg.NewCreateACLsResponseResult()
		a := aclBinding{resType: int8(c.ResourceType), name: c.ResourceName, pattern: int8(c.ResourcePatternType),
			principal: c.Principal, host: c.Host, op: int8(c.Operation), perm: int8(c.PermissionType)}
		switch msg := validateNewACL(a); {
		case denyCode != 0:
			res.ErrorCode, res.ErrorMessage = denyCode, &denyMsg
		case msg != "":
			res.ErrorCode, res.ErrorMessage = kerr.InvalidRequest.Code, &msg
		default:
			kvs = append(kvs, storage.KV{Key: a.key(), Value: []byte{1}})
			ok = append(ok, i)
		}
		resp.Results = append(resp.Results, res)
	}
	if err := b.putACLs(kvs); err != nil {
		msg := "Unknown error while trying to create ACL: " + err.Error()
		for _, i := range ok {
			resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = kerr.UnknownServerError.Code, &msg
		}
	}
	return resp, nil
}
