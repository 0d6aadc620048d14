package console

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"

	"github.com/gregor-broker/gregor/nameserver"
	"github.com/twmb/franz-go/pkg/kadm"
)

func itoa(n int32) string { return strconv.Itoa(int(n)) }

// clusterData is the cluster page.
type clusterData struct {
	ClusterID  string
	Controller int32
	Brokers    []kadm.BrokerDetail
	// NameServers, each with whether it answered; Standalone when the
	// registry is in-process.
	NameServers []nsState
	Standalone  bool
	Groups      []brokerGroup
	// Self is this member's GET /cluster/status, as the broker reports it.
	Self      map[string]any
	SelfJSON  string
	Topics    int
	Partition int
}

type nsState struct {
	Addr    string
	OK      bool
	Err     string
	Brokers int
	Topics  int
}

// brokerGroup is one broker name: its master and slaves.
type brokerGroup struct {
	Name    string
	Members []member
}

type member struct {
	ID       int64
	NodeID   int32
	Role     string
	Epoch    int32
	LogEnd   int64
	InSync   string
	LagBytes string
	LagMs    string
	Kafka    string
	HTTP     string
}

func (c *Console) clusterPage(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := c.ctx(r)
	defer cancel()
	d := clusterData{Standalone: len(c.cfg.NameServers) == 0}
	var errs []string
	if m, err := c.admin(ctx).BrokerMetadata(ctx); err != nil {
		errs = append(errs, "Kafka metadata: "+err.Error())
	} else {
		d.ClusterID, d.Controller, d.Brokers = m.Cluster, m.Controller, m.Brokers
	}
	if md, err := c.admin(ctx).Metadata(ctx); err == nil {
		d.Topics = len(md.Topics)
		for _, t := range md.Topics {
			d.Partition += len(t.Partitions)
		}
	}
	d.Self = c.selfStatus()
	if d.Self != nil {
		b, _ := json.MarshalIndent(d.Self, "", "  ")
		d.SelfJSON = string(b)
	}
	var routes *nameserver.Routes
	d.NameServers, routes = c.nameServers(ctx)
	if routes != nil {
		d.Groups = groupsOf(routes.Brokers)
	} else if d.Self != nil {
		d.Groups = selfGroup(d.Self)
		for i, m := range d.Groups[0].Members {
			for _, b := range d.Brokers {
				if b.NodeID == m.NodeID && m.Role == "master" {
					d.Groups[0].Members[i].Kafka = b.Host + ":" + itoa(b.Port)
				}
			}
		}
	}
	p := c.newPage(r, "Cluster", "cluster", d)
	if len(errs) > 0 {
		p.Error = errs[0]
	}
	c.render(w, r, "cluster", p, false)
}

// selfStatus is this member's /cluster/status, asked in process.
func (c *Console) selfStatus() map[string]any {
	if c.cfg.Admin == nil {
		return nil
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/cluster/status", nil)
	c.cfg.Admin.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		return nil
	}
	var m map[string]any
	if json.Unmarshal(rec.Body.Bytes(), &m) != nil {
		return nil
	}
	return m
}

// nameServers asks every NameServer for its routes; it returns their
// states and the routes of the one that knows the most brokers.
func (c *Console) nameServers(ctx context.Context) ([]nsState, *nameserver.Routes) {
	out := make([]nsState, len(c.cfg.NameServers))
	all := make([]*nameserver.Routes, len(c.cfg.NameServers))
	var wg sync.WaitGroup
	for i, addr := range c.cfg.NameServers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i].Addr = addr
			rt, err := nameserver.NewClient([]string{addr}).WithSecret(c.cfg.ClusterSecret).WithTLS(c.cfg.NameServerTLS).Routes(ctx)
			if err != nil {
				out[i].Err = err.Error()
				return
			}
			out[i].OK, out[i].Brokers, out[i].Topics = true, len(rt.Brokers), len(rt.Topics)
			all[i] = &rt
		}()
	}
	wg.Wait()
	var best *nameserver.Routes
	for _, rt := range all {
		if rt != nil && (best == nil || len(rt.Brokers) > len(best.Brokers)) {
			best = rt
		}
	}
	return out, best
}

// groupsOf arranges registrations by broker group, master first; lag and
// in-sync come from the master's registration (what `gregor cluster
// members` prints).
func groupsOf(bs []nameserver.Broker) []brokerGroup {
	byName := map[string][]nameserver.Broker{}
	for _, b := range bs {
		byName[b.BrokerName] = append(byName[b.BrokerName], b)
	}
	var out []brokerGroup
	for name, ms := range byName {
		slices.SortFunc(ms, func(a, b nameserver.Broker) int { return int(a.BrokerID - b.BrokerID) })
		var master *nameserver.Broker
		for i := range ms {
			if ms[i].Role == nameserver.RoleMaster && (master == nil || ms[i].MasterEpoch > master.MasterEpoch) {
				master = &ms[i]
			}
		}
		g := brokerGroup{Name: name}
		for _, b := range ms {
			m := member{ID: b.BrokerID, NodeID: b.NodeID, Role: string(b.Role), Epoch: b.MasterEpoch, LogEnd: b.LogEnd,
				InSync: "-", LagBytes: "-", LagMs: "-", HTTP: b.HTTPAddr}
			for _, e := range b.Endpoints {
				m.Kafka = e.Host + ":" + itoa(e.Port)
				break
			}
			switch {
			case master == nil:
				m.InSync = "no master"
			case b.BrokerID == master.BrokerID:
				m.InSync, m.LagBytes, m.LagMs = "yes", "0", "0"
			default:
				m.InSync = "no"
				if slices.Contains(master.InSync, b.BrokerID) {
					m.InSync = "yes"
				}
				for _, s := range master.Slaves {
					if s.Member == b.BrokerID {
						m.LagBytes, m.LagMs = strconv.FormatInt(s.LagBytes, 10), strconv.FormatInt(s.LagMs, 10)
					}
				}
			}
			g.Members = append(g.Members, m)
		}
		out = append(out, g)
	}
	slices.SortFunc(out, func(a, b brokerGroup) int {
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	return out
}

// selfGroup is the one-member table of a broker without NameServers
// (standalone): its own status, its slaves' progress.
func selfGroup(s map[string]any) []brokerGroup {
	num := func(v any) int64 { f, _ := v.(float64); return int64(f) }
	str := func(v any) string { s, _ := v.(string); return s }
	g := brokerGroup{Name: str(s["group"])}
	g.Members = append(g.Members, member{ID: num(s["member"]), NodeID: int32(num(s["node_id"])), Role: str(s["role"]),
		Epoch: int32(num(s["epoch"])), LogEnd: num(s["end"]), InSync: "yes", LagBytes: "0", LagMs: "0"})
	slaves, _ := s["slaves"].([]any)
	for _, sl := range slaves {
		m, _ := sl.(map[string]any)
		inSync := "no"
		if b, _ := m["in_sync"].(bool); b {
			inSync = "yes"
		}
		g.Members = append(g.Members, member{ID: num(m["member"]), Role: "slave", Epoch: int32(num(s["epoch"])),
			LogEnd: num(m["acked"]), InSync: inSync, LagBytes: strconv.FormatInt(num(m["lag_bytes"]), 10),
			LagMs: strconv.FormatInt(num(m["lag_ns"])/1e6, 10)})
	}
	return []brokerGroup{g}
}
