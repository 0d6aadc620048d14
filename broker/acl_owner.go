package broker

// One owner for the cluster's ACLs, SCRAM credentials and client quotas.
//
// The bindings (acl.go), credentials (scram_store.go) and client quotas
// (quota.go) live in the commit log of one broker group, the owner: security.owner.group names it, the
// same on every broker of the cluster (default: the broker's own group,
// which is right for a single group and wrong for several: set it). The
// owner is a group, not a process: its slaves receive the log with
// everything else, and when its master fails a promoted slave is the
// owner's new master with the same set (docs/replication.md's fail-over),
// so ownership never moves between groups and nothing is copied on
// fail-over. To move it on purpose, set security.owner.group to another
// group after copying the set there (kafka-acls --list / --add).
//
// Every other broker (the members of the other groups) follows the
// owner's set:
//   - every security.owner.refresh.ms (1 s) it asks the owner's master for
//     the set, naming the digest of the copy it holds; the owner answers
//     "unchanged" or the whole set (ACL bindings and credentials, a few
//     hundred bytes to kilobytes), inside an Envelope (envelope.go), so
//     only brokers can ask;
//   - its copy is fresh for security.owner.max.staleness.ms (15 s) after the
//     request that brought or confirmed it was sent. With a copy older than
//     that (the owner unreachable, or this broker just started and has none
//     yet) it refuses rather than enforce an old set: every authorization
//     is denied except for super.users and brokers, and SCRAM logins fail
//     (PLAIN logins of sasl.jaas.config still work). A group that was down
//     therefore never serves with ACLs revoked while it was away: it has no
//     fresh copy until it has asked the owner;
//   - quotas are not permissions: a stale copy of them stays in force
//     (quota.go), and a broker that has no copy yet enforces none;
//   - CreateAcls, DeleteAcls, DescribeAcls, the two SCRAM APIs and the two
//     client-quota APIs sent to it are forwarded to the owner's master in an Envelope carrying the
//     client's principal (ownerGate), and after a change it asks for the set
//     at once, so a client that changed an ACL through it sees the change
//     enforced there when the answer arrives.
//
// The staleness bound: a change acknowledged by the owner is enforced by
// every broker that can reach the owner within one refresh interval plus a
// round trip; a broker that cannot reach it stops enforcing its copy
// max.staleness after its last successful refresh began.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gregor-broker/gregor/broker/security"
	"github.com/gregor-broker/gregor/protocol"
	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
)

// OwnerConfig places the cluster's ACLs and SCRAM credentials.
type OwnerConfig struct {
	// Group is security.owner.group: the broker group whose commit log
	// holds them. Empty: this broker's own group.
	Group string
	// Refresh is security.owner.refresh.ms: how often another group's
	// broker asks the owner for the set (1 s).
	Refresh time.Duration
	// MaxStaleness is security.owner.max.staleness.ms: how long a copy is
	// enforced without a successful refresh (15 s).
	MaxStaleness time.Duration
}

// InterBrokerConfig is how a broker authenticates to its peers.
type InterBrokerConfig struct {
	// Listener is inter.broker.listener.name; default the first PLAINTEXT
	// listener, else the first.
	Listener string
	// Mechanism is sasl.mechanism.inter.broker.protocol (PLAIN,
	// SCRAM-SHA-256, SCRAM-SHA-512; default PLAIN) when that listener is
	// SASL_*.
	Mechanism string
	// Username and Password are the broker's own login, the username="…"
	// password="…" options of sasl.jaas.config as in Kafka.
	Username, Password string
}

// EnsureDefaults fills every zero field that has a default.
func (c *InterBrokerConfig) EnsureDefaults() {
	if c.Mechanism == "" {
		c.Mechanism = security.Plain
	}
}

// Owner defaults.
const (
	defaultOwnerRefresh      = time.Second
	defaultOwnerMaxStaleness = 15 * time.Second
)

// EnsureDefaults fills every zero field that has a default.
func (c *OwnerConfig) EnsureDefaults() {
	if c.Refresh == 0 {
		c.Refresh = defaultOwnerRefresh
	}
	if c.MaxStaleness == 0 {
		c.MaxStaleness = defaultOwnerMaxStaleness
	}
}

// validateOwner checks the owner and inter-broker settings.
func (c *SecurityConfig) validateOwner(ls []Listener) error {
	if c.Owner.Refresh < 0 || c.Owner.MaxStaleness < c.Owner.Refresh {
		return fmt.Errorf("security.owner.max.staleness.ms (%v) must be at least security.owner.refresh.ms (%v), both positive", c.Owner.MaxStaleness, c.Owner.Refresh)
	}
	if n := c.InterBroker.Listener; n != "" {
		found := false
		for _, l := range ls {
			found = found || l.Name == n
		}
		if !found {
			return fmt.Errorf("inter.broker.listener.name %s names no listener of listeners", n)
		}
	}
	m := strings.ToUpper(strings.TrimSpace(c.InterBroker.Mechanism))
	c.InterBroker.Mechanism = m
	switch {
	case m == "" || security.Supported(m):
	case m == "GSSAPI":
		return errors.New("sasl.mechanism.inter.broker.protocol: GSSAPI (Kerberos) is out of gregor's scope; use PLAIN or SCRAM-SHA-512 over SASL_SSL")
	default:
		return fmt.Errorf("sasl.mechanism.inter.broker.protocol %q: give PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", m)
	}
	return nil
}

// secState is a broker's security state beside its store: the copy of the
// owner's set (another group's broker) and the inter-broker client's
// material.
type secState struct {
	corr      atomic.Int32
	ibTLS     atomic.Pointer[tls.Config]
	snap      atomic.Pointer[ownerSnapshot]
	refreshMu sync.Mutex
	failing   atomic.Bool // the last refresh failed (logged once)
}

// ownerSnapshot is a copy of the owner's set.
type ownerSnapshot struct {
	acls   *aclSet
	scram  map[string][]byte // scramKey → encoded credential
	quotas *quotaSet
	hash   [32]byte
	at     time.Time // when the refresh that brought or confirmed it began
}

// ownerGroup names the group owning the ACLs and credentials.
func (b *Broker) ownerGroup() string {
	if g := b.cfg.Security.Owner.Group; g != "" {
		return g
	}
	return b.cfg.Cluster.BrokerName
}

// ownsSecurity reports whether this broker's group is the owner: its store
// is the set.
func (b *Broker) ownsSecurity() bool { return b.ownerGroup() == b.cfg.Cluster.BrokerName }

// ownerCopy returns another group's broker's copy of the owner's set when
// it is within the staleness bound.
func (b *Broker) ownerCopy() (*ownerSnapshot, bool) {
	s := b.sec.snap.Load()
	if s == nil || time.Since(s.at) > b.cfg.Security.Owner.MaxStaleness {
		return s, false
	}
	return s, true
}

// ownerAPIs are answered by the owner.
var ownerAPIs = map[int16]bool{
	int16(kmsg.CreateACLs): true, int16(kmsg.DeleteACLs): true, int16(kmsg.DescribeACLs): true,
	int16(kmsg.AlterUserSCRAMCredentials): true, int16(kmsg.DescribeUserSCRAMCredentials): true,
	int16(kmsg.AlterClientQuotas): true, int16(kmsg.DescribeClientQuotas): true,
}

// ownerGate forwards the ACL and SCRAM APIs from a broker outside the
// owner group to the owner's master, as the client; ok false lets the
// handler run.
func (b *Broker) ownerGate(ctx context.Context, req *protocol.Request) (resp kmsg.Response, err error, ok bool) {
	if !ownerAPIs[req.Header.Key] || b.ownsSecurity() {
		return nil, nil, false
	}
	if viaEnvelope(ctx) {
		// Another broker took this one for the owner: the two disagree on
		// security.owner.group. Refuse rather than pass it on again.
		return nil, fmt.Errorf("broker: forwarded %s to %s, which is not the owner (security.owner.group=%s here)",
			kmsg.NameForKey(req.Header.Key), b.cfg.Cluster.BrokerName, b.ownerGroup()), true
	}
	m := b.cl().currentView().masters[b.ownerGroup()]
	if m == nil {
		return nil, fmt.Errorf("broker: the owner of ACLs and credentials, group %s, has no live master", b.ownerGroup()), true
	}
	clientID := ""
	if req.Header.ClientID != nil {
		clientID = *req.Header.ClientID
	}
	resp, err = b.cl().sendAs(ctx, m, req.Body, clientID)
	switch req.Header.Key {
	case int16(kmsg.CreateACLs), int16(kmsg.DeleteACLs), int16(kmsg.AlterUserSCRAMCredentials), int16(kmsg.AlterClientQuotas):
		if err == nil {
			if rerr := b.refreshOwnerState(ctx); rerr != nil {
				b.log.Warn("reading the owner's ACLs after a change failed", zap.Error(rerr))
			}
		}
	}
	return resp, err, true
}

// ownerLoop keeps a copy of the owner's set on a broker of another group
// until stop is closed.
func (b *Broker) ownerLoop(stop <-chan struct{}) {
	if b.ownsSecurity() {
		return
	}
	t := time.NewTicker(b.cfg.Security.Owner.Refresh)
	defer t.Stop()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), b.cfg.Security.Owner.MaxStaleness)
		err := b.refreshOwnerState(ctx)
		cancel()
		switch {
		case err != nil && !b.sec.failing.Swap(true):
			b.log.Warn("cannot read the ACLs and credentials from their owner; enforcing the last copy until it is stale, then refusing",
				zap.String("owner", b.ownerGroup()), zap.Duration("max staleness", b.cfg.Security.Owner.MaxStaleness), zap.Error(err))
		case err == nil && b.sec.failing.Swap(false):
			b.log.Info("reading the ACLs and credentials from their owner again", zap.String("owner", b.ownerGroup()))
		}
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}

// securityStateKey is the api key of the owner-set request, which exists
// only inside an Envelope between gregor brokers (no Kafka API has it).
const securityStateKey int16 = 10000

// Answers of the owner-set request (the first byte).
const (
	stateUnchanged byte = 0
	stateFull      byte = 1
	stateNotOwner  byte = 2
)

// refreshOwnerState asks the owner's master for its set.
func (b *Broker) refreshOwnerState(ctx context.Context) error {
	b.sec.refreshMu.Lock()
	defer b.sec.refreshMu.Unlock()
	began := time.Now()
	m := b.cl().currentView().masters[b.ownerGroup()]
	if m == nil {
		return fmt.Errorf("group %s has no live master", b.ownerGroup())
	}
	cur := b.sec.snap.Load()
	var have [32]byte
	if cur != nil {
		have = cur.hash
	}
	data := kbin.AppendInt16(nil, securityStateKey)
	data = kbin.AppendInt16(data, 0)
	data = kbin.AppendInt32(data, b.sec.corr.Add(1))
	id := interBrokerClientID
	data = kbin.AppendNullableString(data, &id)
	data = append(data, have[:]...)
	env := kmsg.NewPtrEnvelopeRequest()
	env.RequestData = data
	env.RequestPrincipal = encodePrincipal(b.cl().brokerPrincipal())
	env.ClientHostAddress = net.IPv4(127, 0, 0, 1).To4()
	raw, err := b.cl().rawSend(ctx, m, env)
	if err != nil {
		return err
	}
	resp := raw.(*kmsg.EnvelopeResponse)
	if resp.ErrorCode != 0 {
		return fmt.Errorf("owner %s/%d: %w", m.BrokerName, m.BrokerID, kerr.ErrorForCode(resp.ErrorCode))
	}
	d := resp.ResponseData
	if len(d) == 0 {
		return errors.New("empty answer from the owner")
	}
	switch d[0] {
	case stateUnchanged:
		if cur == nil {
			return errors.New("the owner answered unchanged to a broker holding nothing")
		}
		next := *cur
		next.at = began
		b.sec.snap.Store(&next)
		return nil
	case stateNotOwner:
		return fmt.Errorf("%s/%d says it does not own the ACLs (security.owner.group differs there)", m.BrokerName, m.BrokerID)
	case stateFull:
	default:
		return fmt.Errorf("unknown answer %d from the owner", d[0])
	}
	s, err := decodeOwnerSet(d[1:])
	if err != nil {
		return err
	}
	s.at = began
	b.sec.snap.Store(s)
	return nil
}

// Namespaces in the owner-set answer.
const (
	setACL   byte = 0
	setSCRAM byte = 1
	setQuota byte = 2 // a broker from before quotas followed the owner skips these
)

type setEntry struct {
	ns   byte
	k, v []byte
}

// ownerSet reads this broker's store: the entries in a fixed order and
// their digest.
func (b *Broker) ownerSet() ([]setEntry, [32]byte) {
	var es []setEntry
	for _, ns := range []struct {
		tag  byte
		name string
	}{{setACL, aclNamespace}, {setSCRAM, scramNamespace}, {setQuota, quotaNamespace}} {
		b.store.RangeKV(ns.name, func(k, v []byte) bool {
			es = append(es, setEntry{ns.tag, bytes.Clone(k), bytes.Clone(v)})
			return true
		})
	}
	sort.Slice(es, func(i, j int) bool {
		if es[i].ns != es[j].ns {
			return es[i].ns < es[j].ns
		}
		return bytes.Compare(es[i].k, es[j].k) < 0
	})
	return es, sha256.Sum256(encodeEntries(nil, es))
}

func encodeEntries(dst []byte, es []setEntry) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(es)))
	for _, e := range es {
		dst = append(dst, e.ns)
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(e.k)))
		dst = append(dst, e.k...)
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(e.v)))
		dst = append(dst, e.v...)
	}
	return dst
}

// serveSecurityState answers an owner-set request (already inside an
// authorized envelope): header, then the digest the asker holds.
func (b *Broker) serveSecurityState(req []byte) []byte {
	if !b.ownsSecurity() {
		return []byte{stateNotOwner}
	}
	r := kbin.Reader{Src: req[8:]}
	r.NullableString()
	have := r.Span(32)
	es, hash := b.ownerSet()
	if r.Complete() == nil && bytes.Equal(have, hash[:]) {
		return []byte{stateUnchanged}
	}
	out := append([]byte{stateFull}, hash[:]...)
	return encodeEntries(out, es)
}

// decodeOwnerSet reads a full answer: digest, then the entries.
func decodeOwnerSet(d []byte) (*ownerSnapshot, error) {
	bad := errors.New("broker: malformed owner set")
	if len(d) < 36 {
		return nil, bad
	}
	s := &ownerSnapshot{acls: &aclSet{}, scram: map[string][]byte{}, quotas: &quotaSet{}}
	copy(s.hash[:], d)
	d = d[32:]
	n := binary.BigEndian.Uint32(d)
	d = d[4:]
	field := func() ([]byte, bool) {
		if len(d) < 4 || uint64(len(d)-4) < uint64(binary.BigEndian.Uint32(d)) {
			return nil, false
		}
		l := binary.BigEndian.Uint32(d)
		f := d[4 : 4+l]
		d = d[4+l:]
		return f, true
	}
	for i := uint32(0); i < n; i++ {
		if len(d) < 1 {
			return nil, bad
		}
		ns := d[0]
		d = d[1:]
		k, ok1 := field()
		v, ok2 := field()
		if !ok1 || !ok2 {
			return nil, bad
		}
		switch ns {
		case setACL:
			if a, err := decodeACL(k); err == nil {
				s.acls.all = append(s.acls.all, a)
			}
		case setSCRAM:
			s.scram[string(k)] = v
		case setQuota:
			s.quotas.add(k, v)
		}
	}
	return s, nil
}
