package broker

// DescribeAcls (key 29), versions 1–3.
//
// Lists the ACL bindings a filter matches, grouped by resource (acl.go).
//
// Behaviour:
//   - Needs DESCRIBE on the cluster (CLUSTER_AUTHORIZATION_FAILED).
//   - Without authorizer.class.name: SECURITY_DISABLED, as Kafka.
//   - An UNKNOWN enum in the filter: INVALID_REQUEST with Kafka's message.
//   - Pattern type ANY matches every pattern, MATCH every binding that
//     applies to the named resource (literal, wildcard and prefixed).
//
// Versions: v0 was removed by Kafka 4 (KIP-896); v2+ is flexible.

import (
	"context"

	"github.com/gregor-broker/gregor/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.DescribeACLs, 1, 3, handleDescribeACLs) }

func handleDescribeACLs(_ context.Context, b *Broker, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.DescribeACLsRequest)
	resp := r.ResponseKind().(*kmsg.DescribeACLsResponse)
	fail := func(code int16, msg string) (kmsg.Response, error) {
		resp.ErrorCode, resp.ErrorMessage = code, &msg
		return resp, nil
	}
	if !b.aclEnabled() {
		return fail(kerr.SecurityDisabled.Code, securityDisabledMsg)
	}
	if code, msg := b.authorizeCluster(req, aclOpDescribe); code != 0 {
		return fail(code, msg)
	}
	f := aclFilter{resType: int8(r.ResourceType), name: r.ResourceName, pattern: int8(r.ResourcePatternType),
		principal: r.Principal, host: r.Host, op: int8(r.Operation), perm: int8(r.PermissionType)}
	if err := validFilter(f); err != nil {
		return fail(kerr.InvalidRequest.Code, err.Error())
	}
	type resKey struct {
		typ     int8
		name    string
		pattern int8
	}
	idx := map[resKey]int{}
	for _, a := range b.aclSet().all {
		if !f.matches(a) {
			continue
		}
		k := resKey{a.resType, a.name, a.pattern}
		i, ok := idx[k]
		if !ok {
			res := kmsg.NewDescribeACLsResponseResource()
			res.ResourceType, res.ResourceName, res.ResourcePatternType = kmsg.ACLResourceType(a.resType), a.name, kmsg.ACLResourcePatternType(a.pattern)
			resp.Resources = append(resp.Resources, res)
			i = len(resp.Resources) - 1
			idx[k] = i
		}
		acl := kmsg.NewDescribeACLsResponseResourceACL()
		acl.Principal, acl.Host, acl.Operation, acl.PermissionType = a.principal, a.host, kmsg.ACLOperation(a.op), kmsg.ACLPermissionType(a.perm)
		resp.Resources[i].ACLs = append(resp.Resources[i].ACLs, acl)
	}
	return resp, nil
}
