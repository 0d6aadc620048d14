package nameserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"
)

// Client talks to every configured NameServer. Brokers register through it;
// any broker reads the route table through it.
type Client struct {
	addrs []string
	http  *http.Client
	// maxRoutes bounds a routes answer: MaxRoutesBytes (tests lower it).
	maxRoutes int64

	// PollRoutes's state: each NameServer's table as its deltas built it,
	// the NameServers merged last time and that merge.
	pollMu    sync.Mutex
	held      map[string]*heldTable
	mergedOf  string
	merged    Routes
	mergedVer uint64
	// secret is cluster.secret, sent with every request (auth.go).
	secret string
	// tls: the NameServers are reached over https (tls.go).
	tls bool
}

// heldTable is one NameServer's table as a delta reader holds it.
type heldTable struct {
	instance string
	gen      uint64
	brokers  map[brokerKey]Broker
}

// NewClient returns a client for the NameServers at addrs (host:port).
func NewClient(addrs []string) *Client {
	return &Client{addrs: addrs, http: &http.Client{Timeout: 5 * time.Second}, maxRoutes: MaxRoutesBytes}
}

// Addrs returns the NameServer addresses.
func (c *Client) Addrs() []string { return c.addrs }

// Register sends reg to every NameServer in parallel. It succeeds when at
// least one accepted it (a dead NameServer must not stop a broker) and
// returns the first answer; the error lists the NameServers that failed.
func (c *Client) Register(ctx context.Context, reg Registration) (RegisterResponse, error) {
	body, err := json.Marshal(reg)
	if err != nil {
		return RegisterResponse{}, err
	}
	type result struct {
		resp RegisterResponse
		err  error
	}
	results := make([]result, len(c.addrs))
	var wg sync.WaitGroup
	for i, addr := range c.addrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i].err = c.post(ctx, addr, "/v1/register", body, MaxSmallRequestBytes, &results[i].resp)
		}()
	}
	wg.Wait()
	var errs []string
	var first *RegisterResponse
	for i, r := range results {
		if r.err != nil {
			errs = append(errs, c.addrs[i]+": "+r.err.Error())
			continue
		}
		if first == nil {
			first = &results[i].resp
		}
	}
	if first == nil {
		return RegisterResponse{}, fmt.Errorf("nameserver: no NameServer accepted the registration: %s", strings.Join(errs, "; "))
	}
	if len(errs) > 0 {
		return *first, fmt.Errorf("nameserver: some NameServers failed: %s", strings.Join(errs, "; "))
	}
	return *first, nil
}

// Unregister tells every NameServer that the broker is leaving.
func (c *Client) Unregister(ctx context.Context, cluster, brokerName string, brokerID int64) {
	body, _ := json.Marshal(map[string]any{"cluster": cluster, "broker_name": brokerName, "broker_id": brokerID})
	var wg sync.WaitGroup
	for _, addr := range c.addrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.post(ctx, addr, "/v1/unregister", body, MaxSmallRequestBytes, nil)
		}()
	}
	wg.Wait()
}

// Routes reads the route table from every NameServer and merges them: each
// broker's newest registration wins, so one stale or freshly restarted
// NameServer does not hide a broker the others know. It fails only when no
// NameServer answers.
//
// Nothing read is trusted: an answer is read up to MaxRoutesBytes and a
// larger one fails; only the brokers (the topics are rebuilt from them) are
// decoded, at most MaxBrokers of them, and a broker whose registration
// Validate refuses is left out, so a hostile or broken NameServer cannot
// make this broker allocate without bound (a topic claiming 2^31
// partitions, say).
func (c *Client) Routes(ctx context.Context) (Routes, error) {
	all := make([]Routes, len(c.addrs))
	errs := make([]error, len(c.addrs))
	var wg sync.WaitGroup
	for i, addr := range c.addrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			all[i], errs[i] = c.routesFrom(ctx, addr)
		}()
	}
	wg.Wait()
	var ok []Routes
	for i := range all {
		if errs[i] == nil {
			ok = append(ok, all[i])
		}
	}
	if len(ok) == 0 {
		return Routes{}, fmt.Errorf("nameserver: no NameServer answered: %w", errors.Join(errs...))
	}
	return Merge(ok...), nil
}

// routesFrom reads one NameServer's brokers and keeps the valid ones.
func (c *Client) routesFrom(ctx context.Context, addr string) (Routes, error) {
	var in struct {
		Brokers []Broker `json:"brokers"`
	}
	if err := c.get(ctx, addr, "/v1/routes", c.maxRoutes, &in); err != nil {
		return Routes{}, err
	}
	if len(in.Brokers) > MaxBrokers {
		return Routes{}, fmt.Errorf("nameserver %s: %d brokers, at most %d", addr, len(in.Brokers), MaxBrokers)
	}
	out := Routes{Brokers: in.Brokers[:0]}
	for _, b := range in.Brokers {
		if b.Registration.Validate() == nil {
			out.Brokers = append(out.Brokers, b)
		}
	}
	return out, nil
}

// PollRoutes is Routes for a reader that polls (a broker, every
// RouteRefreshInterval): each NameServer is asked only for what changed
// since the generation read from it last (GET /v1/routes?since=, delta.go),
// so an unchanged table costs a small answer and no merge. version grows
// whenever the merged table changes; while it stays the same the same
// Routes is returned, so a reader that remembers the version it applied
// skips the rest (several readers may share one Client). The members'
// LogEnd and lag figures are those of their last routing change; Routes
// reads them fresh. Answers are checked as Routes checks them. It fails
// only when no NameServer answers; a NameServer that does not answer is
// left out of the merge, as Routes leaves it out.
func (c *Client) PollRoutes(ctx context.Context) (routes Routes, version uint64, err error) {
	c.pollMu.Lock()
	defer c.pollMu.Unlock()
	if c.held == nil {
		c.held = make(map[string]*heldTable)
	}
	moved := make([]bool, len(c.addrs))
	errs := make([]error, len(c.addrs))
	held := make([]*heldTable, len(c.addrs))
	for i, addr := range c.addrs {
		if held[i] = c.held[addr]; held[i] == nil {
			held[i] = &heldTable{}
		}
	}
	var wg sync.WaitGroup
	for i, addr := range c.addrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			moved[i], errs[i] = c.pollFrom(ctx, addr, held[i])
		}()
	}
	wg.Wait()
	var answered []string
	changed := false
	for i, addr := range c.addrs {
		if errs[i] != nil {
			continue
		}
		c.held[addr] = held[i]
		answered = append(answered, addr)
		changed = changed || moved[i]
	}
	if len(answered) == 0 {
		return Routes{}, 0, fmt.Errorf("nameserver: no NameServer answered: %w", errors.Join(errs...))
	}
	of := strings.Join(answered, ",")
	if !changed && of == c.mergedOf && c.mergedVer > 0 {
		return c.merged, c.mergedVer, nil
	}
	tables := make([]Routes, 0, len(answered))
	for _, addr := range answered {
		h := c.held[addr]
		t := Routes{Brokers: make([]Broker, 0, len(h.brokers))}
		for _, b := range h.brokers {
			t.Brokers = append(t.Brokers, b)
		}
		tables = append(tables, t)
	}
	c.merged, c.mergedOf = Merge(tables...), of
	c.mergedVer++
	return c.merged, c.mergedVer, nil
}

// pollFrom applies one NameServer's delta to h (a copy is changed, so a
// failed read leaves h as it was) and reports whether anything changed.
func (c *Client) pollFrom(ctx context.Context, addr string, h *heldTable) (bool, error) {
	var d RoutesDelta
	path := fmt.Sprintf("/v1/routes?since=%d&instance=%s", h.gen, url.QueryEscape(h.instance))
	if err := c.get(ctx, addr, path, c.maxRoutes, &d); err != nil {
		return false, err
	}
	if len(d.Brokers) > MaxBrokers {
		return false, fmt.Errorf("nameserver %s: %d brokers, at most %d", addr, len(d.Brokers), MaxBrokers)
	}
	if !d.Full && d.Instance == h.instance && len(d.Brokers) == 0 && len(d.Removed) == 0 {
		h.gen = d.Gen
		return false, nil
	}
	next := make(map[brokerKey]Broker, len(h.brokers)+len(d.Brokers))
	if !d.Full {
		if d.Instance != h.instance {
			return false, fmt.Errorf("nameserver %s: a delta of instance %q, held %q", addr, d.Instance, h.instance)
		}
		for k, b := range h.brokers {
			next[k] = b
		}
		for _, m := range d.Removed {
			delete(next, brokerKey{m.BrokerName, m.BrokerID})
		}
	}
	for _, b := range d.Brokers {
		k := brokerKey{b.BrokerName, b.BrokerID}
		if b.Registration.Validate() != nil {
			delete(next, k) // as Routes leaves an invalid member out
			continue
		}
		next[k] = b
	}
	if len(next) > MaxBrokers {
		return false, fmt.Errorf("nameserver %s: %d brokers, at most %d", addr, len(next), MaxBrokers)
	}
	*h = heldTable{instance: d.Instance, gen: d.Gen, brokers: next}
	return true, nil
}

// Merge combines route tables from several NameServers: the newest heartbeat
// of each broker wins and topics are rebuilt from the merged brokers.
func Merge(tables ...Routes) Routes {
	reg := NewRegistry(nil)
	for k, b := range newestBrokers(tables) {
		b := b
		reg.setLocked(k, &b)
	}
	return reg.Routes()
}

// TopicRoutes reads one topic's route from every NameServer
// (GET /v1/routes/{topic}) and merges the answers as Routes does: each
// member's newest registration wins and the topic is rebuilt from them. It
// fails only when no NameServer answers; Found is false when none knows
// the topic. Answers are checked as Routes checks them.
func (c *Client) TopicRoutes(ctx context.Context, topic string) (TopicRoutes, error) {
	if err := checkName("topic", topic, maxNameLen, false); err != nil {
		return TopicRoutes{}, err
	}
	all := make([]Routes, len(c.addrs))
	errs := make([]error, len(c.addrs))
	var wg sync.WaitGroup
	for i, addr := range c.addrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var in struct {
				Brokers []Broker `json:"brokers"`
			}
			if errs[i] = c.get(ctx, addr, "/v1/routes/"+url.PathEscape(topic), c.maxRoutes, &in); errs[i] != nil {
				return
			}
			if len(in.Brokers) > MaxBrokers {
				errs[i] = fmt.Errorf("nameserver %s: %d brokers, at most %d", addr, len(in.Brokers), MaxBrokers)
				return
			}
			for _, b := range in.Brokers {
				if b.Registration.Validate() == nil {
					all[i].Brokers = append(all[i].Brokers, b)
				}
			}
		}()
	}
	wg.Wait()
	var ok []Routes
	for i := range all {
		if errs[i] == nil {
			ok = append(ok, all[i])
		}
	}
	if len(ok) == 0 {
		return TopicRoutes{}, fmt.Errorf("nameserver: no NameServer answered: %w", errors.Join(errs...))
	}
	reg := NewRegistry(nil)
	for k, b := range newestBrokers(ok) {
		b := b
		reg.setLocked(k, &b)
	}
	return reg.TopicRoutes(topic), nil
}

// newestBrokers keeps each member's newest heartbeat across the tables.
func newestBrokers(tables []Routes) map[brokerKey]Broker {
	newest := make(map[brokerKey]Broker)
	for _, t := range tables {
		for _, b := range t.Brokers {
			k := brokerKey{b.BrokerName, b.BrokerID}
			if cur, ok := newest[k]; !ok || b.LastHeartbeat.After(cur.LastHeartbeat) {
				newest[k] = b
			}
		}
	}
	return newest
}

// Lease sends req to the NameServer at addr alone: a lease counts each
// NameServer's answer separately (package nameserver/lease).
func (c *Client) Lease(ctx context.Context, addr string, req LeaseRequest) (LeaseResponse, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return LeaseResponse{}, err
	}
	var resp LeaseResponse
	err = c.post(ctx, addr, "/v1/lease", body, MaxSmallRequestBytes, &resp)
	return resp, err
}

func (c *Client) post(ctx context.Context, addr, path string, body []byte, limit int64, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.scheme()+addr+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	return c.do(req, limit, out)
}

func (c *Client) get(ctx context.Context, addr, path string, limit int64, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.scheme()+addr+path, nil)
	if err != nil {
		return err
	}
	return c.do(req, limit, out)
}

// do sends req and decodes the JSON answer into out, reading at most limit
// bytes of it: a larger answer is an error, never a larger allocation.
func (c *Client) do(req *http.Request, limit int64, out any) error {
	if c.secret != "" {
		req.Header.Set("Authorization", "Bearer "+c.secret)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("%s %s: %s: %s", req.Method, req.URL.Path, resp.Status, strings.TrimSpace(string(msg)))
	}
	if out == nil {
		return nil
	}
	body := &io.LimitedReader{R: resp.Body, N: limit + 1}
	err = json.NewDecoder(body).Decode(out)
	if body.N <= 0 {
		return fmt.Errorf("%s %s: answer larger than %d bytes", req.Method, req.URL.Path, limit)
	}
	return err
}

// Leader returns, for a topic partition, the live master of the owning group
// and the group's live members (master first); ok is false when the
// partition has no owner in the table. A nil leader means the owning group
// has no live master: the partition is unavailable.
func (r Routes) Leader(topic string, partition int32) (leader *Broker, members []Broker, ok bool) {
	i := sort.Search(len(r.Topics), func(i int) bool { return r.Topics[i].Name >= topic })
	if i == len(r.Topics) || r.Topics[i].Name != topic {
		return nil, nil, false
	}
	owner, ok := r.Topics[i].Owners[partition]
	if !ok {
		return nil, nil, false
	}
	for j := range r.Brokers {
		b := r.Brokers[j]
		if b.BrokerName != owner {
			continue
		}
		if b.Role == RoleMaster {
			leader = &r.Brokers[j]
			members = append([]Broker{b}, members...)
		} else {
			members = append(members, b)
		}
	}
	return leader, members, true
}
