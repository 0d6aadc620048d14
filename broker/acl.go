package broker

// Authorization as Kafka's StandardAuthorizer does it: ACL bindings
// (resource type, name, pattern type; principal, host, operation,
// permission) kept in the commit log, and the decision rule
//
//   - super.users are allowed everything;
//   - a matching DENY (same operation or ALL) denies;
//   - a matching ALLOW of the operation, of ALL, or of an operation that
//     implies it (READ, WRITE, DELETE, ALTER imply DESCRIBE; ALTER_CONFIGS
//     implies DESCRIBE_CONFIGS) allows;
//   - a resource no ACL matches at all is allowed only with
//     allow.everyone.if.no.acl.found;
//   - otherwise denied.
//
// A binding matches a resource when the types are equal and it is LITERAL
// with the same name or the wildcard "*", or PREFIXED with a prefix of the
// name; its principal is the request's or User:*, its host the client's IP
// or "*".
//
// Without authorizer.class.name every request is allowed and the ACL APIs
// answer SECURITY_DISABLED, as Kafka without an authorizer. The bindings
// are a KV namespace of the commit log of the owner group, so its slaves
// and a promoted slave enforce the same set; the other groups' brokers
// follow the owner's set with a bounded staleness (acl_owner.go).

import (
	"encoding/binary"
	"errors"
	"net"
	"strings"
	"sync/atomic"

	"github.com/gregor-broker/gregor/protocol"
	"github.com/gregor-broker/gregor/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Kafka AclOperation codes.
const (
	aclOpAll             int8 = 2
	aclOpRead            int8 = 3
	aclOpWrite           int8 = 4
	aclOpCreate          int8 = 5
	aclOpDelete          int8 = 6
	aclOpAlter           int8 = 7
	aclOpDescribe        int8 = 8
	aclOpClusterAction   int8 = 9
	aclOpDescribeConfigs int8 = 10
	aclOpAlterConfigs    int8 = 11
	aclOpIdempotentWrite int8 = 12
)

// Kafka resource types, pattern types and permissions.
const (
	resTopic   int8 = 2
	resGroup   int8 = 3
	resCluster int8 = 4
	resTxnID   int8 = 5

	patLiteral  int8 = 3
	patPrefixed int8 = 4

	permDeny  int8 = 2
	permAllow int8 = 3
)

// clusterResourceName is the only name of the CLUSTER resource.
const clusterResourceName = "kafka-cluster"

// aclNamespace is the store KV namespace of the ACL bindings. Frozen.
const aclNamespace = "acls"

// aclBinding is one ACL.
type aclBinding struct {
	resType   int8
	name      string
	pattern   int8
	principal string
	host      string
	op        int8
	perm      int8
}

// key encodes b as its store key (FROZEN): the four int8 fields, then the
// three strings each with a u16 length.
func (a aclBinding) key() []byte {
	k := []byte{byte(a.resType), byte(a.pattern), byte(a.op), byte(a.perm)}
	for _, s := range []string{a.name, a.principal, a.host} {
		k = binary.BigEndian.AppendUint16(k, uint16(len(s)))
		k = append(k, s...)
	}
	return k
}

func decodeACL(k []byte) (aclBinding, error) {
	if len(k) < 4 {
		return aclBinding{}, errors.New("short ACL key")
	}
	a := aclBinding{resType: int8(k[0]), pattern: int8(k[1]), op: int8(k[2]), perm: int8(k[3])}
	k = k[4:]
	for _, s := range []*string{&a.name, &a.principal, &a.host} {
		if len(k) < 2 || len(k) < 2+int(binary.BigEndian.Uint16(k)) {
			return aclBinding{}, errors.New("short ACL key")
		}
		n := int(binary.BigEndian.Uint16(k))
		*s = string(k[2 : 2+n])
		k = k[2+n:]
	}
	return a, nil
}

// aclSet is the bindings in force, read from the store.
type aclSet struct{ all []aclBinding }

// aclCache holds the set of each broker; reloaded when the namespace
// changes (a local write or a replicated entry, slave_apply.go).
type aclCache struct{ p atomic.Pointer[aclSet] }

func (b *Broker) aclSet() *aclSet {
	if !b.ownsSecurity() {
		// The owner's, as last read (acl_owner.go); allowed refuses to
		// use it once stale.
		if s := b.sec.snap.Load(); s != nil {
			return s.acls
		}
		return &aclSet{}
	}
	if s := b.aclc.p.Load(); s != nil {
		return s
	}
	return b.reloadACLs()
}

// reloadACLs reads the bindings from the store.
func (b *Broker) reloadACLs() *aclSet {
	s := &aclSet{}
	b.store.RangeKV(aclNamespace, func(k, _ []byte) bool {
		if a, err := decodeACL(k); err == nil {
			s.all = append(s.all, a)
		}
		return true
	})
	b.aclc.p.Store(s)
	return s
}

// putACLs writes bindings (value nil: delete) and reloads the set.
func (b *Broker) putACLs(kvs []storage.KV) error {
	if len(kvs) == 0 {
		return nil
	}
	err := b.store.PutKV(aclNamespace, kvs...)
	b.reloadACLs()
	return err
}

// aclEnabled reports whether an authorizer is configured.
func (b *Broker) aclEnabled() bool { return b.cfg.Security.Authorizer }

// implies reports whether an ALLOW of have grants want.
func implies(have, want int8) bool {
	if have == want || have == aclOpAll {
		return true
	}
	switch want {
	case aclOpDescribe:
		return have == aclOpRead || have == aclOpWrite || have == aclOpDelete || have == aclOpAlter
	case aclOpDescribeConfigs:
		return have == aclOpAlterConfigs
	}
	return false
}

// matchesResource reports whether a applies to resource (typ, name).
func (a aclBinding) matchesResource(typ int8, name string) bool {
	if a.resType != typ {
		return false
	}
	switch a.pattern {
	case patLiteral:
		return a.name == name || a.name == "*"
	case patPrefixed:
		return strings.HasPrefix(name, a.name)
	}
	return false
}

// requester is who a request comes from.
type requester struct {
	principal string
	host      string
	internal  bool // not from a client connection: the broker's own
}

func requesterOf(req *protocol.Request) requester {
	if req == nil || req.Conn == nil {
		return requester{internal: true}
	}
	if s := sessionOf(req); s != nil && s.internal {
		return requester{internal: true} // a broker's own, in an envelope
	}
	r := requester{principal: principalOf(req), host: "*"}
	if req.Conn.Remote != nil {
		if h, _, err := net.SplitHostPort(req.Conn.Remote.String()); err == nil {
			r.host = h
		}
	}
	return r
}

// allowed decides whether who may do op on resource (typ, name).
func (b *Broker) allowed(who requester, typ int8, name string, op int8) bool {
	if !b.aclEnabled() || who.internal {
		return true
	}
	for _, su := range b.cfg.Security.SuperUsers {
		if su == who.principal {
			return true
		}
	}
	if !b.ownsSecurity() {
		if _, fresh := b.ownerCopy(); !fresh {
			return false // no copy of the owner's set within the bound (acl_owner.go)
		}
	}
	any, allow := false, false
	for _, a := range b.aclSet().all {
		if !a.matchesResource(typ, name) {
			continue
		}
		any = true
		if a.principal != who.principal && a.principal != "User:*" {
			continue
		}
		if a.host != "*" && a.host != who.host {
			continue
		}
		switch a.perm {
		case permDeny:
			if a.op == op || a.op == aclOpAll {
				return false
			}
		case permAllow:
			if implies(a.op, op) {
				allow = true
			}
		}
	}
	if !any {
		return b.cfg.Security.AllowEveryoneIfNoACL
	}
	return allow
}

// authorizeCluster reports whether req's principal may do op on the
// cluster: 0, or CLUSTER_AUTHORIZATION_FAILED and its message.
func (b *Broker) authorizeCluster(req *protocol.Request, op int8) (int16, string) {
	if b.allowed(requesterOf(req), resCluster, clusterResourceName, op) {
		return 0, ""
	}
	return kerr.ClusterAuthorizationFailed.Code, kerr.ClusterAuthorizationFailed.Message
}

// aclFilter is a DescribeAcls / DeleteAcls filter.
type aclFilter struct {
	resType   int8
	name      *string
	pattern   int8
	principal *string
	host      *string
	op        int8
	perm      int8
}

const (
	filterAny   int8 = 1
	filterMatch int8 = 2
)

func (f aclFilter) matches(a aclBinding) bool {
	if f.resType != filterAny && f.resType != a.resType {
		return false
	}
	switch f.pattern {
	case filterAny:
		if f.name != nil && *f.name != a.name {
			return false
		}
	case filterMatch:
		if f.name != nil && !a.matchesResource(a.resType, *f.name) {
			return false
		}
		if f.name == nil && a.pattern != patLiteral && a.pattern != patPrefixed {
			return false
		}
	default:
		if f.pattern != a.pattern || (f.name != nil && *f.name != a.name) {
			return false
		}
	}
	if f.principal != nil && *f.principal != a.principal {
		return false
	}
	if f.host != nil && *f.host != a.host {
		return false
	}
	if f.op != filterAny && f.op != a.op {
		return false
	}
	if f.perm != filterAny && f.perm != a.perm {
		return false
	}
	return true
}

// validFilter checks a filter's enums as Kafka does (UNKNOWN is invalid).
func validFilter(f aclFilter) error {
	switch {
	case f.resType <= 0 || f.resType > 7:
		return errors.New("Invalid resourceType " + kmsg.ACLResourceType(f.resType).String())
	case f.pattern <= 0 || f.pattern > patPrefixed:
		return errors.New("Unknown patternFilter.")
	case f.op <= 0 || f.op > 14:
		return errors.New("Invalid operation " + kmsg.ACLOperation(f.op).String())
	case f.perm <= 0 || f.perm > permAllow:
		return errors.New("Invalid permissionType " + kmsg.ACLPermissionType(f.perm).String())
	}
	return nil
}

// securityDisabled is the answer of the ACL APIs without an authorizer.
const securityDisabledMsg = "No Authorizer is configured on the broker"
