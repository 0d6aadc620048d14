package broker

// Connection limits, as Kafka's ConnectionQuotas applies them at accept
// (KIP-306 per listener, KIP-402 broker-wide, KIP-612 creation rate):
//
//   - max.connections (and a listener's own MaxConnections): when reached,
//     the listener stops accepting until a connection closes; a new client
//     waits in the kernel's backlog, as Kafka's acceptor blocks. The
//     inter-broker listener (interBrokerListener) is not held by the
//     broker-wide limit when there are several listeners, as Kafka
//     protects it (Kafka then closes the least recently used connection of
//     another listener; gregor does not).
//   - max.connections.per.ip and max.connections.per.ip.overrides: a
//     connection over its address's limit is closed at once, before it is
//     read, as Kafka closes it (TooManyConnectionsException).
//   - max.connection.creation.rate (and a listener's own): a rate over it
//     delays the accepted connection by the throttle time Kafka computes
//     (quota_rate.go), at most one quota window.
//
// Counts, rejections and accept delays are exported as metrics.

import (
	"errors"
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ConnectionLimits are the connection settings, Kafka's names; zero values
// mean no limit.
type ConnectionLimits struct {
	// MaxConnections is max.connections: connections of the whole broker.
	MaxConnections int
	// MaxPerIP is max.connections.per.ip.
	MaxPerIP int
	// PerIPOverrides is max.connections.per.ip.overrides: host or address
	// → limit, replacing MaxPerIP for it.
	PerIPOverrides map[string]int
	// MaxCreationRate is max.connection.creation.rate: new connections per
	// second, broker-wide.
	MaxCreationRate int
	// Listeners holds a listener's own limits by listener name
	// (listener.name.<name>.max.connections and
	// .max.connection.creation.rate).
	Listeners map[string]ListenerLimits
}

// ListenerLimits are one listener's own connection limits.
type ListenerLimits struct {
	MaxConnections  int
	MaxCreationRate int
}

// ParseIPOverrides reads max.connections.per.ip.overrides: host:limit
// pairs separated by commas.
func ParseIPOverrides(s string) (map[string]int, error) {
	out := map[string]int{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		i := strings.LastIndex(part, ":")
		if i <= 0 {
			return nil, fmt.Errorf("%q is not host:limit", part)
		}
		n, err := strconv.Atoi(part[i+1:])
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%q: the limit must be a whole number, at least 0", part)
		}
		out[strings.Trim(part[:i], "[]")] = n
	}
	return out, nil
}

func (c *ConnectionLimits) validate() error {
	if c.MaxConnections < 0 || c.MaxPerIP < 0 || c.MaxCreationRate < 0 {
		return errors.New("max.connections, max.connections.per.ip and max.connection.creation.rate must not be negative")
	}
	for name, l := range c.Listeners {
		if l.MaxConnections < 0 || l.MaxCreationRate < 0 {
			return fmt.Errorf("listener %s: connection limits must not be negative", name)
		}
	}
	for h, n := range c.PerIPOverrides {
		if n < 0 {
			return fmt.Errorf("max.connections.per.ip.overrides: %s: negative limit", h)
		}
	}
	return nil
}

func limitOrMax(n int) int {
	if n <= 0 {
		return math.MaxInt
	}
	return n
}

// connLimits counts the connections of every listener of a broker.
type connLimits struct {
	b         *Broker
	protected string // the inter-broker listener, when several exist
	perIP     map[string]int
	mu        sync.Mutex
	total     int
	byLn      map[string]int
	byIP      map[string]int
	freed     chan struct{} // closed, and replaced, when a connection closes
	rate      *sampledRate  // broker-wide creation rate
	lnRate    map[string]*sampledRate

	count    *prometheus.GaugeVec   // connections by listener
	accepted *prometheus.CounterVec // by listener
	rejected *prometheus.CounterVec // by listener and reason
	delayed  *prometheus.CounterVec // seconds accepts were held, by listener
}

func newConnLimits(b *Broker) *connLimits {
	cl := &connLimits{
		b: b, byLn: map[string]int{}, byIP: map[string]int{}, freed: make(chan struct{}),
		lnRate: map[string]*sampledRate{}, perIP: map[string]int{},
		count: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "gregor", Name: "connections",
			Help: "Open client connections, by listener."}, []string{"listener"}),
		accepted: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "gregor", Name: "connections_accepted_total",
			Help: "Client connections accepted, by listener."}, []string{"listener"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "gregor", Name: "connections_rejected_total",
			Help: "Client connections closed at accept for a limit (reason per_ip: max.connections.per.ip), by listener."}, []string{"listener", "reason"}),
		delayed: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "gregor", Name: "connection_accept_throttle_seconds_total",
			Help: "Time accepting was held back by max.connections or max.connection.creation.rate, by listener."}, []string{"listener"}),
	}
	lim := b.cfg.Connections
	if len(b.cfg.Listeners) > 1 {
		cl.protected = b.interBrokerListener()
	}
	for h, n := range lim.PerIPOverrides {
		if ip := net.ParseIP(h); ip != nil {
			cl.perIP[ip.String()] = n
			continue
		}
		// A host name: its addresses, as Kafka resolves it once.
		if addrs, err := net.LookupHost(h); err == nil {
			for _, a := range addrs {
				cl.perIP[net.ParseIP(a).String()] = n
			}
		}
	}
	win := b.cfg.Quota
	if lim.MaxCreationRate > 0 {
		cl.rate = newSampledRate(win.WindowNum, win.WindowSize)
	}
	for name, l := range lim.Listeners {
		if l.MaxCreationRate > 0 {
			cl.lnRate[name] = newSampledRate(win.WindowNum, win.WindowSize)
		}
	}
	return cl
}

func (cl *connLimits) collectors() []prometheus.Collector {
	return []prometheus.Collector{cl.count, cl.accepted, cl.rejected, cl.delayed}
}

// slotFree reports whether listener may have one more connection.
func (cl *connLimits) slotFree(listener string) bool {
	lim := cl.b.cfg.Connections
	if cl.byLn[listener] >= limitOrMax(lim.Listeners[listener].MaxConnections) {
		return false
	}
	return listener == cl.protected || cl.total < limitOrMax(lim.MaxConnections)
}

// waitSlot blocks until listener may have one more connection or done is
// closed (false).
func (cl *connLimits) waitSlot(listener string, done <-chan struct{}) bool {
	start := time.Time{}
	for {
		cl.mu.Lock()
		if cl.slotFree(listener) {
			cl.mu.Unlock()
			if !start.IsZero() {
				cl.delayed.WithLabelValues(listener).Add(time.Since(start).Seconds())
			}
			return true
		}
		freed := cl.freed
		cl.mu.Unlock()
		if start.IsZero() {
			start = time.Now()
		}
		select {
		case <-freed:
		case <-done:
			return false
		}
	}
}

// creationDelay records a new connection on listener's and the broker's
// creation rates and returns how long to hold it (at most one window).
func (cl *connLimits) creationDelay(listener string) time.Duration {
	lim := cl.b.cfg.Connections
	now := time.Now()
	var d time.Duration
	if cl.rate != nil && listener != cl.protected {
		d = cl.rate.record(1, now, float64(lim.MaxCreationRate))
	}
	if r := cl.lnRate[listener]; r != nil {
		d = max(d, r.record(1, now, float64(lim.Listeners[listener].MaxCreationRate)))
	}
	return min(d, cl.b.cfg.Quota.WindowSize)
}

// admit counts a new connection from ip; false when ip is over its limit.
func (cl *connLimits) admit(listener, ip string) bool {
	lim, ok := cl.perIP[ip]
	if !ok {
		lim = limitOrMax(cl.b.cfg.Connections.MaxPerIP)
	}
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.byIP[ip] >= lim {
		return false
	}
	cl.byIP[ip]++
	cl.byLn[listener]++
	cl.total++
	cl.count.WithLabelValues(listener).Inc()
	return true
}

// release forgets a closed connection and wakes a waiting accept.
func (cl *connLimits) release(listener, ip string) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	cl.byIP[ip]--
	if cl.byIP[ip] <= 0 {
		delete(cl.byIP, ip)
	}
	cl.byLn[listener]--
	cl.total--
	cl.count.WithLabelValues(listener).Dec()
	close(cl.freed)
	cl.freed = make(chan struct{})
}

// limitedListener applies the limits to one listener's accepts.
type limitedListener struct {
	net.Listener
	cl        *connLimits
	name      string
	done      chan struct{}
	closeOnce sync.Once
}

func (cl *connLimits) wrap(name string, ln net.Listener) net.Listener {
	return &limitedListener{Listener: ln, cl: cl, name: name, done: make(chan struct{})}
}

func (l *limitedListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

func (l *limitedListener) Accept() (net.Conn, error) {
	for {
		if !l.cl.waitSlot(l.name, l.done) {
			return nil, net.ErrClosed
		}
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := remoteIP(c)
		if !l.cl.admit(l.name, ip) {
			l.cl.rejected.WithLabelValues(l.name, "per_ip").Inc()
			l.cl.b.log.Info("closing a connection over max.connections.per.ip: " + ip)
			c.Close()
			continue
		}
		l.cl.accepted.WithLabelValues(l.name).Inc()
		if d := l.cl.creationDelay(l.name); d > 0 {
			l.cl.delayed.WithLabelValues(l.name).Add(d.Seconds())
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-l.done:
				t.Stop()
				l.cl.release(l.name, ip)
				c.Close()
				return nil, net.ErrClosed
			}
		}
		return &limitedConn{Conn: c, release: func() { l.cl.release(l.name, ip) }}, nil
	}
}

func remoteIP(c net.Conn) string {
	h, _, err := net.SplitHostPort(c.RemoteAddr().String())
	if err != nil {
		return c.RemoteAddr().String()
	}
	if ip := net.ParseIP(h); ip != nil {
		return ip.String()
	}
	return h
}

// limitedConn releases its place once, at the first Close.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

// SyscallConn exposes the socket underneath, so a Fetch response's record
// bytes still go out with sendfile (protocol.BodySink) through this
// wrapper. A connection that is not a plain socket (TLS) answers with an
// error, and the body is copied through it instead.
func (c *limitedConn) SyscallConn() (syscall.RawConn, error) {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, errNotSocket
	}
	return sc.SyscallConn()
}

var errNotSocket = errors.New("broker: connection is not a plain socket")

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
