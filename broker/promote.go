package broker

// A manual change of term, and the group's state, over the broker's HTTP
// port (cmd/gregor mounts AdminHandler under /cluster/):
//
//	GET  /cluster/status                  this member: role, epoch, terms, ends, slaves
//	POST /cluster/promote?member=N[&force=true]
//	POST /cluster/step-down               (internal: asked by the member being promoted)
//
// promote reaches member N of this broker's group (forwarded to N's HTTP
// address, from its registration, when N is another member). N then:
//  1. asks the master to step down: the master takes the write gate, so no
//     append starts after it, stops acknowledging (Produce gets
//     NOT_LEADER_OR_FOLLOWER) and answers with its commit-log end;
//  2. waits until its own log reaches that end (replication keeps running);
//  3. stops following and begins term epoch+1 with itself as master
//     (BeginTerm appends the term's first entry), starts the replication
//     listener and the group coordinator, and registers at once.
//
// The old master, stepping down, sees the new master's later epoch in the
// routes, becomes its slave and truncates whatever it has beyond the
// common point (the replication handshake compares terms).
//
// force=true skips steps 1–2: for a master that is gone. What the old
// master had and N lacks is then lost, and truncated on the old master
// when it returns (that is the divergence the term change makes visible
// to clients through OffsetForLeaderEpoch and DivergingEpoch).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/gregor-broker/gregor/nameserver"
	"go.uber.org/zap"
)

// promoteCatchUpTimeout bounds how long a promoted slave waits to reach the
// end the master reported when it stepped down.
const promoteCatchUpTimeout = 30 * time.Second

// clusterStatus is GET /cluster/status.
type clusterStatus struct {
	Group       string          `json:"group"`
	Member      int64           `json:"member"`
	NodeID      int32           `json:"node_id"`
	Role        string          `json:"role"`
	Epoch       int32           `json:"epoch"`
	Terms       []term          `json:"terms"`
	End         int64           `json:"end"`
	Following   string          `json:"following,omitempty"`
	Replication string          `json:"replication_addr,omitempty"`
	InSync      []int64         `json:"in_sync,omitempty"`
	Slaves      []slaveProgress `json:"slaves,omitempty"`
	// Replica is a slave's own view of its replication: connected, the
	// master's end and commit limit as last heard, its lag, truncations
	// and bootstraps.
	Replica any `json:"replica,omitempty"`
	// Lease is the fail-over lease (lease.go), nil without fail-over.
	Lease *leaseStatus `json:"lease,omitempty"`
}

// stepDownAnswer is POST /cluster/step-down's answer.
type stepDownAnswer struct {
	End   int64 `json:"end"`
	Epoch int32 `json:"epoch"`
}

// AdminHandler serves /cluster/status, /cluster/promote and
// /cluster/step-down.
func (b *Broker) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /cluster/status", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, b.status())
	})
	mux.HandleFunc("POST /cluster/step-down", func(w http.ResponseWriter, r *http.Request) {
		ans, err := b.stepDown()
		if err != nil {
			http.Error(w, err.Error(), http.StatusConflict)
			return
		}
		b.yieldLease() // the member being promoted takes the lease at once (lease.go)
		writeJSON(w, http.StatusOK, ans)
	})
	mux.HandleFunc("POST /cluster/promote", func(w http.ResponseWriter, r *http.Request) {
		member, err := strconv.ParseInt(r.URL.Query().Get("member"), 10, 64)
		if err != nil || member < 0 {
			http.Error(w, "member: give the broker.member.id to promote", http.StatusBadRequest)
			return
		}
		force := r.URL.Query().Get("force") == "true"
		if member != b.memberID() {
			b.forwardPromote(w, r, member)
			return
		}
		t, err := b.promote(r.Context(), force)
		if err != nil {
			http.Error(w, err.Error(), http.StatusConflict)
			return
		}
		writeJSON(w, http.StatusOK, t)
	})
	return mux
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// status describes this member.
func (b *Broker) status() clusterStatus {
	st := clusterStatus{
		Group:  b.cfg.Cluster.BrokerName,
		Member: b.memberID(),
		NodeID: b.cfg.NodeID,
		Role:   b.roleName(),
		Epoch:  b.leaderEpoch(),
		End:    b.store.EndPosition(),
		InSync: b.inSyncMembers(),
		Slaves: b.slaveProgress(),
	}
	if b.terms != nil {
		st.Terms = b.terms.Terms()
	}
	st.Lease = b.leaseStatus()
	b.replMu.Lock()
	st.Following = b.following
	if r, ok := b.rslave.(interface{ Status() any }); ok {
		st.Replica = r.Status()
	}
	b.replMu.Unlock()
	if b.isMaster() {
		st.Replication = b.replicationAdvertised()
	}
	return st
}

// stepDown stops this master from acknowledging: after it returns no
// append starts until a new term makes this broker a slave (or master
// again). It reports the final commit-log end.
func (b *Broker) stepDown() (stepDownAnswer, error) {
	b.roleMu.Lock()
	defer b.roleMu.Unlock()
	switch b.roleState.Load() {
	case roleSlave:
		return stepDownAnswer{}, errors.New("not the master")
	case roleMaster:
		b.gate.Lock()
		b.setRole(roleSteppingDown)
		b.gate.Unlock()
		if g := b.groups; g != nil {
			_ = g.Close() // coordination moves with the master
		}
		b.log.Warn("stepped down: no longer acknowledging writes; waiting for the new term")
		b.cl().changed()
	}
	return stepDownAnswer{End: b.store.EndPosition(), Epoch: b.leaderEpoch()}, nil
}

// promote makes this slave the master of a new term (see the file
// comment).
func (b *Broker) promote(ctx context.Context, force bool) (term, error) {
	if b.terms == nil {
		return term{}, errors.New("this store keeps no terms")
	}
	if b.isMaster() {
		t, _ := b.lastTerm()
		return t, nil // already master
	}
	v := b.cl().currentView()
	master := v.masters[b.cfg.Cluster.BrokerName]
	epoch := b.leaderEpoch()
	if last, ok := b.lastTerm(); ok {
		epoch = max(epoch, last.Epoch)
	}
	if master != nil && !b.cl().isSelf(master) {
		epoch = max(epoch, master.MasterEpoch)
	}
	if !force {
		if master == nil || b.cl().isSelf(master) {
			return term{}, errors.New("no live master to hand over from; use force=true if it is gone for good (what it alone had is lost)")
		}
		if inSync := b.masterInSync(ctx, master); !slices.Contains(inSync, b.memberID()) {
			return term{}, fmt.Errorf("member %d is not in the master's in-sync set %v: wait until it has caught up (gregor cluster members), or use force=true (what it lacks is lost)", b.memberID(), inSync)
		}
		ans, err := b.askStepDown(ctx, master)
		if err != nil {
			return term{}, fmt.Errorf("asking the master to step down: %w", err)
		}
		epoch = max(epoch, ans.Epoch)
		deadline := time.Now().Add(promoteCatchUpTimeout)
		for b.store.EndPosition() < ans.End {
			if time.Now().After(deadline) || ctx.Err() != nil {
				return term{}, fmt.Errorf("did not reach the master's end %d (at %d) in %v; the master stays stepped down: promote again, or with force=true",
					ans.End, b.store.EndPosition(), promoteCatchUpTimeout)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if b.failover != nil {
		// Under leases a term begins only with the lease (lease.go).
		return b.promoteUnderLease(ctx)
	}
	b.roleMu.Lock()
	defer b.roleMu.Unlock()
	t, err := b.becomeMasterLocked(epoch + 1)
	if err != nil {
		return term{}, err
	}
	b.log.Warn("promoted: master of a new term", zap.Int32("epoch", t.Epoch), zap.Int64("start", t.Start))
	return t, nil
}

// becomeMasterLocked stops following, begins term epoch with this broker
// as master, starts the master side and registers at once (a promotion,
// or a take-over after the master's lease ran out, lease.go). The caller
// holds roleMu.
func (b *Broker) becomeMasterLocked(epoch int32) (term, error) {
	// Stop following before writing: from here on only this broker writes
	// to its log.
	b.replMu.Lock()
	s := b.rslave
	b.rslave, b.following = nil, ""
	b.replMu.Unlock()
	if s != nil {
		_ = s.Close()
	}
	t, err := b.terms.BeginTerm(epoch, b.memberID())
	if err != nil {
		return term{}, fmt.Errorf("beginning term %d: %w", epoch, err)
	}
	b.epoch.Store(t.Epoch)
	if b.groups != nil {
		b.groups = nil // closed when this broker stepped down; a fresh one loads the offsets
	}
	if err := b.startMasterSide(); err != nil {
		b.log.Error("master of a new term, but the master side did not start", zap.Error(err))
	}
	b.setRole(roleMaster)
	b.cl().changed()
	return t, nil
}

// masterInSync is the master's in-sync set: from its registration, or,
// when that does not list this member (it trails the master by a
// registration and a route poll), from the master's own /cluster/status.
func (b *Broker) masterInSync(ctx context.Context, master *nameserver.Broker) []int64 {
	if slices.Contains(master.InSync, b.memberID()) || master.HTTPAddr == "" {
		return master.InSync
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.httpScheme()+"://"+master.HTTPAddr+"/cluster/status", nil)
	if err != nil {
		return master.InSync
	}
	resp, err := b.httpDo(req)
	if err != nil {
		return master.InSync
	}
	defer resp.Body.Close()
	var st clusterStatus
	if resp.StatusCode != http.StatusOK || json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&st) != nil || st.Role != "master" {
		return master.InSync
	}
	return st.InSync
}

// askStepDown asks master, over its HTTP port, to stop acknowledging.
func (b *Broker) askStepDown(ctx context.Context, master *nameserver.Broker) (stepDownAnswer, error) {
	if master.HTTPAddr == "" {
		return stepDownAnswer{}, fmt.Errorf("member %d registered no HTTP address", master.BrokerID)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.httpScheme()+"://"+master.HTTPAddr+"/cluster/step-down", nil)
	if err != nil {
		return stepDownAnswer{}, err
	}
	resp, err := b.httpDo(req)
	if err != nil {
		return stepDownAnswer{}, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		return stepDownAnswer{}, fmt.Errorf("%s: %s", resp.Status, body)
	}
	var ans stepDownAnswer
	if err := json.Unmarshal(body, &ans); err != nil {
		return stepDownAnswer{}, err
	}
	return ans, nil
}

// forwardPromote passes a promotion to the member it names.
func (b *Broker) forwardPromote(w http.ResponseWriter, r *http.Request, member int64) {
	var target *nameserver.Broker
	for _, m := range b.cl().currentView().members[b.cfg.Cluster.BrokerName] {
		if m.BrokerID == member {
			target = m
		}
	}
	if target == nil || target.HTTPAddr == "" {
		http.Error(w, fmt.Sprintf("member %d of %s is not live or registered no HTTP address", member, b.cfg.Cluster.BrokerName), http.StatusNotFound)
		return
	}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, b.httpScheme()+"://"+target.HTTPAddr+r.URL.RequestURI(), nil)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	resp, err := b.httpDo(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}
