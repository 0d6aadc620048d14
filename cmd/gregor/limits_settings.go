package main

// Client quota measurement and connection limits, Kafka's names (rows
// appended to the settings table at init, so settings.go stays untouched
// by them).

import (
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gregor-broker/gregor/broker"
)

var limitsSettings = []setting{
	{key: "quota.window.num", kind: kindInt, usage: "samples a client quota's rate is measured over", def: func(d *Config) string { return strconv.Itoa(d.Quota.WindowNum) }},
	{key: "quota.window.size.seconds", kind: kindInt, usage: "length of one client quota sample", def: func(d *Config) string { return strconv.Itoa(int(d.Quota.WindowSize / time.Second)) }},
	{key: "max.connections", kind: kindInt, usage: "client connections of the whole broker; at the limit new ones wait to be accepted (0 = no limit)", def: func(d *Config) string { return strconv.Itoa(d.Connections.MaxConnections) }},
	{key: "max.connections.per.ip", kind: kindInt, usage: "client connections from one address; one more is closed at once (0 = no limit)", def: func(d *Config) string { return strconv.Itoa(d.Connections.MaxPerIP) }},
	{key: "max.connections.per.ip.overrides", kind: kindString, usage: "host:limit pairs, comma separated, replacing max.connections.per.ip for those hosts"},
	{key: "max.connection.creation.rate", kind: kindInt, usage: "new connections per second, broker-wide; faster ones are accepted late (0 = no limit)", def: func(d *Config) string { return strconv.Itoa(d.Connections.MaxCreationRate) }},
	{key: "sasl.server.max.receive.size", kind: kindInt, usage: "largest request a SASL connection may send before it is authenticated", def: func(d *Config) string { return strconv.Itoa(int(d.Security.SASLMaxReceive)) }},
	{key: "connections.max.idle.ms", kind: kindInt, usage: "a connection with no request for this long is closed, and an unauthenticated SASL connection this long after its accept", def: func(d *Config) string { return ms(d.ConnectionsMaxIdle) }},
}

func init() { settings = append(settings, limitsSettings...) }

// limits reads the quota and connection settings into c.
func (p *parser) limits(c *Config) {
	if n, ok := p.int("quota.window.num", 2, math.MaxInt32); ok {
		c.Quota.WindowNum = int(n)
	}
	if n, ok := p.int("quota.window.size.seconds", 1, math.MaxInt32); ok {
		c.Quota.WindowSize = time.Duration(n) * time.Second
	}
	// Kafka's "no limit" is Integer.MAX_VALUE; gregor's is 0.
	limit := func(key string, to *int) {
		if n, ok := p.int(key, 0, math.MaxInt32); ok {
			if n == math.MaxInt32 {
				n = 0
			}
			*to = int(n)
		}
	}
	limit("max.connections", &c.Connections.MaxConnections)
	limit("max.connections.per.ip", &c.Connections.MaxPerIP)
	limit("max.connection.creation.rate", &c.Connections.MaxCreationRate)
	if v, ok := p.str("max.connections.per.ip.overrides"); ok {
		o, err := broker.ParseIPOverrides(v)
		if err != nil {
			p.fail("max.connections.per.ip.overrides", "%v", err)
		}
		c.Connections.PerIPOverrides = o
	}
	p.listenerLimits(c)
	if n, ok := p.int("sasl.server.max.receive.size", 1024, math.MaxInt32); ok {
		c.Security.SASLMaxReceive = int32(n)
	}
	if d, ok := p.ms("connections.max.idle.ms", 1, math.MaxInt64/1_000_000); ok {
		c.ConnectionsMaxIdle = d
	}
}

// listenerLimitRe matches Kafka's per-listener connection limits,
// listener.name.<listener>.max.connections and
// listener.name.<listener>.max.connection.creation.rate (KIP-306, KIP-612).
// They name a listener, so they are no rows of the settings table: load
// reads them from the config file and KAFKA_*/GREGOR_* variables
// (KAFKA_LISTENER_NAME_CLIENT_MAX_CONNECTIONS), not from flags.
var listenerLimitRe = regexp.MustCompile(`^listener\.name\.([^.]+)\.(max\.connections|max\.connection\.creation\.rate)$`)

func listenerLimitKey(k string) bool { return listenerLimitRe.MatchString(k) }

// listenerLimits reads the per-listener connection limits into
// c.Connections.Listeners; one naming no listener of listeners is refused.
func (p *parser) listenerLimits(c *Config) {
	var keys []string
	for k := range p.l.values {
		if listenerLimitKey(k) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		m := listenerLimitRe.FindStringSubmatch(k)
		name := ""
		for _, l := range c.Listeners {
			if strings.EqualFold(l.Name, m[1]) {
				name = l.Name
			}
		}
		if name == "" {
			var have []string
			for _, l := range c.Listeners {
				have = append(have, l.Name)
			}
			p.fail(k, "names no listener of listeners (%s)", strings.Join(have, ", "))
			continue
		}
		n, ok := p.int(k, 0, math.MaxInt32)
		if !ok {
			continue
		}
		if n == math.MaxInt32 {
			n = 0 // Kafka's "no limit"
		}
		if c.Connections.Listeners == nil {
			c.Connections.Listeners = map[string]broker.ListenerLimits{}
		}
		ll := c.Connections.Listeners[name]
		if m[2] == "max.connections" {
			ll.MaxConnections = int(n)
		} else {
			ll.MaxCreationRate = int(n)
		}
		c.Connections.Listeners[name] = ll
	}
}
