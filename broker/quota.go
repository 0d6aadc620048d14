package broker

// Client quotas (KIP-13, KIP-55, KIP-124): producer_byte_rate,
// consumer_byte_rate and request_percentage per user, per client id, or
// per user and client id, with defaults at each level. They are set with
// AlterClientQuotas (49_alter_client_quotas.go; Kafka's kafka-configs
// --entity-type users|clients --alter --add-config) and kept as a KV
// namespace of the commit log, as the ACLs are, so slaves and a promoted
// slave enforce the same quotas. quota_throttle.go measures and throttles.
//
// Which quota applies to a request of (user, client id) is Kafka's
// precedence, first match wins, separately for each quota key:
//
//	1. user=U, client-id=C          5. user=<default>, client-id=<default>
//	2. user=U, client-id=<default>  6. user=<default>
//	3. user=U                       7. client-id=C
//	4. user=<default>, client-id=C  8. client-id=<default>
//
// The matched entity also decides who shares the measured rate: a quota of
// user U (3) or of the default user (6) is shared by all of U's clients; a
// quota naming a client id or the default client id is measured per
// (user, client id) or per client id, as Kafka's metric tags do.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sort"
	"sync/atomic"
	"time"

	"github.com/gregor-broker/gregor/storage"
)

// Quota keys of users and client ids (Kafka's QuotaConfig).
const (
	quotaProducerByteRate  = "producer_byte_rate"
	quotaConsumerByteRate  = "consumer_byte_rate"
	quotaRequestPercentage = "request_percentage"
	// Known to Kafka but not enforced by gregor: refused when set.
	quotaControllerMutationRate = "controller_mutation_rate"
)

// quotaNamespace is the store KV namespace of the client quotas. Frozen.
const quotaNamespace = "client-quotas"

// QuotaConfig is the quota measurement settings, Kafka's names.
type QuotaConfig struct {
	// WindowNum is quota.window.num: samples a rate is measured over
	// (default 11).
	WindowNum int
	// WindowSize is quota.window.size.seconds: one sample's length
	// (default 1s).
	WindowSize time.Duration
}

// EnsureDefaults fills Kafka's defaults.
func (c *QuotaConfig) EnsureDefaults() {
	if c.WindowNum == 0 {
		c.WindowNum = 11
	}
	if c.WindowSize == 0 {
		c.WindowSize = time.Second
	}
}

// Validate fills defaults and rejects values that cannot work.
func (c *QuotaConfig) Validate() error {
	c.EnsureDefaults()
	if c.WindowNum < 2 {
		return fmt.Errorf("quota.window.num must be at least 2, got %d", c.WindowNum)
	}
	if c.WindowSize < time.Second || c.WindowSize%time.Second != 0 {
		return fmt.Errorf("quota.window.size.seconds must be a whole number of seconds, at least 1, got %v", c.WindowSize)
	}
	return nil
}

// quotaEntity names who a quota applies to. A component is absent, named,
// or the default of its type.
type quotaEntity struct {
	hasUser, userDefault     bool
	user                     string
	hasClient, clientDefault bool
	client                   string
}

// key encodes e as the start of its store keys (FROZEN): for user then
// client-id, a state byte (0 absent, 1 named, 2 default) and, when named,
// the name with a u16 length.
func (e quotaEntity) key() []byte {
	var k []byte
	add := func(has, def bool, name string) {
		switch {
		case !has:
			k = append(k, 0)
		case def:
			k = append(k, 2)
		default:
			k = append(k, 1)
			k = binary.BigEndian.AppendUint16(k, uint16(len(name)))
			k = append(k, name...)
		}
	}
	add(e.hasUser, e.userDefault, e.user)
	add(e.hasClient, e.clientDefault, e.client)
	return k
}

// quotaKey is the store key of one quota of e: the entity, then the quota
// key with a u16 length. The value is the quota as a float64's bits.
func quotaKey(e quotaEntity, name string) []byte {
	k := e.key()
	k = binary.BigEndian.AppendUint16(k, uint16(len(name)))
	return append(k, name...)
}

func decodeQuotaKey(k []byte) (quotaEntity, string, error) {
	var e quotaEntity
	short := errors.New("short quota key")
	read := func(has, def *bool, name *string) error {
		if len(k) < 1 {
			return short
		}
		st := k[0]
		k = k[1:]
		switch st {
		case 0:
		case 2:
			*has, *def = true, true
		case 1:
			if len(k) < 2 || len(k) < 2+int(binary.BigEndian.Uint16(k)) {
				return short
			}
			n := int(binary.BigEndian.Uint16(k))
			*has, *name = true, string(k[2:2+n])
			k = k[2+n:]
		default:
			return fmt.Errorf("quota key: bad component state %d", st)
		}
		return nil
	}
	if err := read(&e.hasUser, &e.userDefault, &e.user); err != nil {
		return e, "", err
	}
	if err := read(&e.hasClient, &e.clientDefault, &e.client); err != nil {
		return e, "", err
	}
	if len(k) < 2 || len(k) != 2+int(binary.BigEndian.Uint16(k)) {
		return e, "", short
	}
	return e, string(k[2:]), nil
}

func encodeQuotaValue(v float64) []byte {
	return binary.BigEndian.AppendUint64(nil, math.Float64bits(v))
}

// quotaSet is every configured quota, read from the store.
type quotaSet struct {
	all map[quotaEntity]map[string]float64
}

// quotaCache holds the set in force; reset when the namespace changes (a
// local write, or a replicated entry on a slave, slave_apply.go).
type quotaCache struct{ p atomic.Pointer[quotaSet] }

func (c *quotaCache) invalidate() { c.p.Store(nil) }

// quotas returns the quotas in force.
func (b *Broker) quotas() *quotaSet {
	if !b.ownsSecurity() {
		// Another group owns them: its set as last read (acl_owner.go).
		// Unlike ACLs a stale copy stays in force: quotas bound use, they
		// grant nothing.
		if s := b.sec.snap.Load(); s != nil && s.quotas != nil {
			return s.quotas
		}
		return &quotaSet{}
	}
	if s := b.quotac.p.Load(); s != nil {
		return s
	}
	s := &quotaSet{all: map[quotaEntity]map[string]float64{}}
	b.store.RangeKV(quotaNamespace, func(k, v []byte) bool {
		s.add(k, v)
		return true
	})
	b.quotac.p.Store(s)
	return s
}

// add reads one stored quota (key, value) into s; a malformed one is
// skipped.
func (s *quotaSet) add(k, v []byte) {
	e, name, err := decodeQuotaKey(k)
	if err != nil || len(v) != 8 {
		return
	}
	if s.all == nil {
		s.all = map[quotaEntity]map[string]float64{}
	}
	if s.all[e] == nil {
		s.all[e] = map[string]float64{}
	}
	s.all[e][name] = math.Float64frombits(binary.BigEndian.Uint64(v))
}

// putQuotas stores (or with a nil value deletes) quotas in one entry.
func (b *Broker) putQuotas(kvs []storage.KV) error {
	if len(kvs) == 0 {
		return nil
	}
	defer b.quotac.invalidate()
	return b.store.PutKV(quotaNamespace, kvs...)
}

// quotaBucket names the rate a request is measured against: the quota key
// and the (user, client id) tags Kafka's DefaultQuotaCallback gives the
// matched entity.
type quotaBucket struct {
	key          string
	user, client string
}

// resolve finds the quota of name for (user, client) by Kafka's
// precedence; ok false when none applies.
func (s *quotaSet) resolve(name, user, client string) (bound float64, bucket quotaBucket, ok bool) {
	if len(s.all) == 0 {
		return 0, quotaBucket{}, false
	}
	type level struct {
		e            quotaEntity
		tUser, tClnt string
	}
	levels := [...]level{
		{quotaEntity{hasUser: true, user: user, hasClient: true, client: client}, user, client},
		{quotaEntity{hasUser: true, user: user, hasClient: true, clientDefault: true}, user, client},
		{quotaEntity{hasUser: true, user: user}, user, ""},
		{quotaEntity{hasUser: true, userDefault: true, hasClient: true, client: client}, user, client},
		{quotaEntity{hasUser: true, userDefault: true, hasClient: true, clientDefault: true}, user, client},
		{quotaEntity{hasUser: true, userDefault: true}, user, ""},
		{quotaEntity{hasClient: true, client: client}, "", client},
		{quotaEntity{hasClient: true, clientDefault: true}, "", client},
	}
	for _, l := range levels {
		if v, found := s.all[l.e][name]; found {
			return v, quotaBucket{key: name, user: l.tUser, client: l.tClnt}, true
		}
	}
	return 0, quotaBucket{}, false
}

// entities returns the configured entities in a stable order.
func (s *quotaSet) entities() []quotaEntity {
	out := make([]quotaEntity, 0, len(s.all))
	for e := range s.all {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return string(out[i].key()) < string(out[j].key()) })
	return out
}
