package broker

// SCRAM credentials live in the commit log as key/values of their own
// namespace, so a slave receives them with everything else and a promoted
// slave authenticates the same users. Only the salt, the iteration count
// and RFC 5802's StoredKey and ServerKey are kept, never a password.
//
// Key: mechanism name, NUL, user name. Value (FROZEN):
//
//	iterations int32 | salt len u16 | salt | stored key len u16 | stored key |
//	server key len u16 | server key
//
// They live in the commit log of the owner group (security.owner.group);
// the brokers of other groups authenticate against their copy of the
// owner's set, and refuse SCRAM logins while it is stale (acl_owner.go).

import (
	"encoding/binary"
	"errors"
	"sort"
	"strings"

	"github.com/gregor-broker/gregor/broker/security"
	"github.com/gregor-broker/gregor/storage"
)

// scramNamespace is the store KV namespace of the SCRAM credentials. Frozen.
const scramNamespace = "scram-credentials"

func scramKey(user, mech string) []byte { return []byte(mech + "\x00" + user) }

func encodeScram(c security.ScramCredential) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(c.Iterations))
	for _, f := range [][]byte{c.Salt, c.StoredKey, c.ServerKey} {
		b = binary.BigEndian.AppendUint16(b, uint16(len(f)))
		b = append(b, f...)
	}
	return b
}

func decodeScram(mech string, b []byte) (security.ScramCredential, error) {
	c := security.ScramCredential{Mechanism: mech}
	if len(b) < 4 {
		return c, errors.New("short SCRAM credential")
	}
	c.Iterations = int32(binary.BigEndian.Uint32(b))
	b = b[4:]
	for _, f := range []*[]byte{&c.Salt, &c.StoredKey, &c.ServerKey} {
		if len(b) < 2 || len(b) < 2+int(binary.BigEndian.Uint16(b)) {
			return c, errors.New("short SCRAM credential")
		}
		n := int(binary.BigEndian.Uint16(b))
		*f = b[2 : 2+n]
		b = b[2+n:]
	}
	return c, nil
}

// scramCredential is security.Lookup over the store.
func (b *Broker) scramCredential(user, mech string) (security.ScramCredential, bool) {
	var v []byte
	var ok bool
	if b.ownsSecurity() {
		v, ok = b.store.GetKV(scramNamespace, scramKey(user, mech))
	} else if s, fresh := b.ownerCopy(); fresh {
		v, ok = s.scram[string(scramKey(user, mech))]
	}
	if !ok {
		return security.ScramCredential{}, false
	}
	c, err := decodeScram(mech, v)
	return c, err == nil
}

// scramUsers returns every user with a credential and its credentials,
// users in name order.
func (b *Broker) scramUsers() (users []string, creds map[string][]security.ScramCredential) {
	creds = map[string][]security.ScramCredential{}
	rangeKV := b.store.RangeKV
	if !b.ownsSecurity() {
		rangeKV = func(_ string, fn func(k, v []byte) bool) {
			if s, fresh := b.ownerCopy(); fresh {
				for k, v := range s.scram {
					if !fn([]byte(k), v) {
						return
					}
				}
			}
		}
	}
	rangeKV(scramNamespace, func(k, v []byte) bool {
		mech, user, ok := strings.Cut(string(k), "\x00")
		if !ok {
			return true
		}
		if c, err := decodeScram(mech, v); err == nil {
			if _, seen := creds[user]; !seen {
				users = append(users, user)
			}
			creds[user] = append(creds[user], c)
		}
		return true
	})
	sort.Strings(users)
	return users, creds
}

// putScram stores (or with cred nil deletes) credentials in one entry.
func (b *Broker) putScram(kvs []storage.KV) error {
	if len(kvs) == 0 {
		return nil
	}
	return b.store.PutKV(scramNamespace, kvs...)
}

// CheckLogin reports whether user/password is a login of this broker: a
// PLAIN user of sasl.jaas.config or a stored SCRAM credential (the owner's,
// acl_owner.go). The HTTP port's login uses it (internal/httpauth).
func (b *Broker) CheckLogin(user, password string) bool { return b.plainCheck(user, password) }
