package nameserver

// What the NameServer accepts, and so what a broker reading routes can be
// asked to hold. Anyone who reaches the HTTP port can register, so every
// registration is checked here before it enters the table, and a broker
// checks each registration it reads back (Client.Routes) with the same
// rules: a malformed or oversized table cannot make it allocate without
// bound (routes.go sizes a slice by each topic's partition count).
//
// The bounds, with what they cost at most:
//
//	MaxRegistrationBytes   4 MiB   one register body (JSON)
//	MaxSmallRequestBytes  64 KiB   unregister and lease bodies
//	MaxBrokers              1024   members in one registry (a new one past it is refused)
//	MaxTopics             100000   topics in one registration
//	MaxPartitionsPerTopic  10000   a topic's partition count (the broker's own limit)
//	MaxDeclaredPartitions  2^20    sum of the topics' partition counts in one registration
//	MaxRoutesBytes        64 MiB   a routes answer a broker reads; the registry refuses a
//	                               registration that would take its table past it
//
// Names (cluster, broker, listener, rack, host) are 1–249 bytes of UTF-8
// without control characters; topic names follow Kafka's rule (1–249 of
// [a-zA-Z0-9._-], not "." or ".."); topic ids are UUIDs in canonical text;
// owned partitions lie in [0, partitions) without repeats; ports in
// [0, 65535]; ids and epochs are not negative.

import (
	"errors"
	"fmt"
	"slices"
	"unicode"
	"unicode/utf8"
)

// Limits on what the NameServer accepts (see the file comment).
const (
	MaxRegistrationBytes  = 4 << 20
	MaxSmallRequestBytes  = 64 << 10
	MaxBrokers            = 1024
	MaxTopics             = 100000
	MaxPartitionsPerTopic = 10000
	MaxDeclaredPartitions = 1 << 20
	MaxRoutesBytes        = 64 << 20
	MaxEndpoints          = 64
	maxNameLen            = 249
	maxHostLen            = 255
)

// ErrInvalidRegistration is wrapped by every refusal of a registration;
// the rest of the message says what is wrong.
var ErrInvalidRegistration = errors.New("nameserver: invalid registration")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidRegistration, fmt.Sprintf(format, args...))
}

// Validate checks a registration against the rules above. It changes
// nothing; Registry.Register fills the default role afterwards.
func (r *Registration) Validate() error {
	if err := checkName("cluster", r.Cluster, maxNameLen, false); err != nil {
		return err
	}
	if err := checkName("broker_name", r.BrokerName, maxNameLen, false); err != nil {
		return err
	}
	switch {
	case r.BrokerID < 0:
		return invalid("broker_id %d is negative", r.BrokerID)
	case r.NodeID < 0:
		return invalid("node_id %d is negative", r.NodeID)
	case r.Role != "" && r.Role != RoleMaster && r.Role != RoleSlave:
		return invalid("role %.40q is neither %q nor %q", r.Role, RoleMaster, RoleSlave)
	case r.LogEnd < 0 || r.DataVersion < 0:
		return invalid("log_end %d and data_version %d may not be negative", r.LogEnd, r.DataVersion)
	case len(r.Endpoints) > MaxEndpoints:
		return invalid("%d endpoints, at most %d", len(r.Endpoints), MaxEndpoints)
	case len(r.Topics) > MaxTopics:
		return invalid("%d topics, at most %d", len(r.Topics), MaxTopics)
	}
	if err := checkName("cluster_id", r.ClusterID, maxNameLen, true); err != nil {
		return err
	}
	if r.ClusterIDSince < 0 {
		return invalid("cluster_id_since %d is negative", r.ClusterIDSince)
	}
	if err := checkName("rack", r.Rack, maxNameLen, true); err != nil {
		return err
	}
	if err := checkName("replication_addr", r.ReplicationAddr, maxHostLen+6, true); err != nil {
		return err
	}
	if err := checkName("http_addr", r.HTTPAddr, maxHostLen+6, true); err != nil {
		return err
	}
	if len(r.InSync) > MaxBrokers || len(r.Slaves) > MaxBrokers {
		return invalid("%d in-sync members and %d slaves, at most %d each", len(r.InSync), len(r.Slaves), MaxBrokers)
	}
	for _, m := range r.InSync {
		if m < 0 {
			return invalid("in-sync member id %d is negative", m)
		}
	}
	for _, sl := range r.Slaves {
		if sl.Member < 0 {
			return invalid("slave member id %d is negative", sl.Member)
		}
	}
	for i, e := range r.Endpoints {
		if err := checkName(fmt.Sprintf("endpoint %d listener", i), e.Listener, maxNameLen, false); err != nil {
			return err
		}
		if err := checkName(fmt.Sprintf("endpoint %d host", i), e.Host, maxHostLen, true); err != nil {
			return err
		}
		if e.Port < 0 || e.Port > 65535 {
			return invalid("endpoint %d port %d is outside [0, 65535]", i, e.Port)
		}
	}
	declared := 0
	var seen []uint64 // bitmap of owned partitions, reused across topics
	for i := range r.Topics {
		t := &r.Topics[i]
		if !validTopicName(t.Name) {
			return invalid("topic %d name %.260q is not a Kafka topic name", i, t.Name)
		}
		if !validUUID(t.ID) {
			return invalid("topic %s id %.40q is not a UUID", t.Name, t.ID)
		}
		if t.Partitions < 0 || t.Partitions > MaxPartitionsPerTopic {
			return invalid("topic %s has %d partitions, allowed 0 to %d", t.Name, t.Partitions, MaxPartitionsPerTopic)
		}
		if declared += int(t.Partitions); declared > MaxDeclaredPartitions {
			return invalid("the topics declare more than %d partitions in all", MaxDeclaredPartitions)
		}
		if len(t.Owned) > int(t.Partitions) {
			return invalid("topic %s owns %d of its %d partitions", t.Name, len(t.Owned), t.Partitions)
		}
		seen = slices.Grow(seen[:0], (int(t.Partitions)+63)/64)[:(int(t.Partitions)+63)/64]
		clear(seen)
		for _, p := range t.Owned {
			if p < 0 || p >= t.Partitions {
				return invalid("topic %s owns partition %d, outside [0, %d)", t.Name, p, t.Partitions)
			}
			if seen[p/64]&(1<<(p%64)) != 0 {
				return invalid("topic %s lists partition %d twice", t.Name, p)
			}
			seen[p/64] |= 1 << (p % 64)
		}
	}
	return nil
}

// routesBytes bounds the bytes r adds to a routes answer: its entry under
// "brokers" and its share of "topics" (each owned partition appears there
// as "partition":"broker_name"). JSON escapes can at most sextuple a
// string (\u00XX), hence the factor on names.
func (r *Registration) routesBytes() int {
	n := 512 + 6*(len(r.Cluster)+len(r.BrokerName)+len(r.Rack)+len(r.ReplicationAddr)+len(r.HTTPAddr))
	n += 21*len(r.InSync) + 128*len(r.Slaves)
	for _, e := range r.Endpoints {
		n += 64 + 6*(len(e.Listener)+len(e.Host))
	}
	for _, t := range r.Topics {
		// Once as the registration's TopicRoute, once in the merged Topic.
		n += 2 * (96 + len(t.Name) + len(t.ID))
		n += len(t.Owned) * (2*12 + 6*len(r.BrokerName))
	}
	return n
}

// checkName checks a name field: at most max bytes of UTF-8 without control
// characters, and not empty unless optional.
func checkName(what, s string, max int, optional bool) error {
	switch {
	case s == "" && !optional:
		return invalid("%s is empty", what)
	case len(s) > max:
		return invalid("%s is %d bytes, at most %d", what, len(s), max)
	case !utf8.ValidString(s):
		return invalid("%s %.40q is not UTF-8", what, s)
	}
	for _, c := range s {
		if unicode.IsControl(c) {
			return invalid("%s %.40q holds a control character", what, s)
		}
	}
	return nil
}

// validTopicName is Kafka's Topic.validate.
func validTopicName(s string) bool {
	if s == "" || s == "." || s == ".." || len(s) > maxNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// validUUID reports whether s is a UUID in canonical text form
// (8-4-4-4-12 hex digits).
func validUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}
