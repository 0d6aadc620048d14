package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
)

// groupLags is every group's lag (kadm.Lag: describe, committed offsets,
// start and end offsets).
func (c *Console) groupLags(ctx context.Context, only ...string) (kadm.DescribedGroupLags, error) {
	groups := only
	if len(groups) == 0 {
		lg, err := c.admin(ctx).ListGroups(ctx)
		if err != nil {
			return nil, err
		}
		groups = lg.Groups()
		if len(groups) == 0 {
			return kadm.DescribedGroupLags{}, nil
		}
	}
	return c.admin(ctx).Lag(ctx, groups...)
}

type groupRow struct {
	Name         string
	State        string
	ProtocolType string
	Protocol     string
	Members      int
	Coordinator  int32
	Lag          int64
	Err          string
}

func (c *Console) groupsPage(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := c.ctx(r)
	defer cancel()
	lags, err := c.groupLags(ctx)
	if err != nil {
		c.failed(w, r, http.StatusBadGateway, fmt.Errorf("groups: %w", err))
		return
	}
	var rows []groupRow
	for _, l := range lags.Sorted() {
		row := groupRow{Name: l.Group, State: l.State, ProtocolType: l.ProtocolType, Protocol: l.Protocol,
			Members: len(l.Members), Coordinator: l.Coordinator.NodeID, Lag: l.Lag.Total()}
		if err := l.Error(); err != nil {
			row.Err = err.Error()
		}
		rows = append(rows, row)
	}
	c.render(w, r, "groups", c.newPage(r, "Consumer groups", "groups", rows), false)
}

type memberRow struct {
	MemberID   string
	InstanceID string
	ClientID   string
	Host       string
	Assigned   []string // topic: partitions
}

type lagRow struct {
	Topic     string
	Partition int32
	Committed int64
	Start     int64
	End       int64
	Lag       int64
	Member    string
	Err       string
}

func (c *Console) groupPage(w http.ResponseWriter, r *http.Request) {
	group := r.PathValue("group")
	ctx, cancel := c.ctx(r)
	defer cancel()
	lags, err := c.groupLags(ctx, group)
	if err != nil {
		c.failed(w, r, http.StatusBadGateway, fmt.Errorf("group %q: %w", group, err))
		return
	}
	l, ok := lags[group]
	if !ok {
		c.failed(w, r, http.StatusNotFound, fmt.Errorf("no group %q", group))
		return
	}
	var members []memberRow
	for _, m := range l.Members {
		mr := memberRow{MemberID: m.MemberID, ClientID: m.ClientID, Host: m.ClientHost}
		if m.InstanceID != nil {
			mr.InstanceID = *m.InstanceID
		}
		if ca, ok := m.Assigned.AsConsumer(); ok {
			for _, t := range ca.Topics {
				ps := append([]int32(nil), t.Partitions...)
				sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
				mr.Assigned = append(mr.Assigned, t.Topic+": "+joinInts(ps))
			}
		}
		members = append(members, mr)
	}
	var rows []lagRow
	topics := map[string]bool{}
	for _, ml := range l.Lag.Sorted() {
		row := lagRow{Topic: ml.Topic, Partition: ml.Partition, Committed: ml.Commit.At, Start: ml.Start.Offset, End: ml.End.Offset, Lag: ml.Lag}
		if ml.Member != nil {
			row.Member = ml.Member.ClientID + " " + ml.Member.MemberID
		}
		if ml.Err != nil {
			row.Err = ml.Err.Error()
		}
		topics[ml.Topic] = true
		rows = append(rows, row)
	}
	var topicNames []string
	for t := range topics {
		topicNames = append(topicNames, t)
	}
	sort.Strings(topicNames)
	var errText string
	ch, live := c.groupChart(group), groupChartURL(group)
	if err := l.Error(); err != nil {
		errText = err.Error()
		if c.perUser() {
			// The history was sampled by the console's own identity:
			// show it only to a user who may describe the group.
			ch.Series, live = nil, ""
		}
	}
	p := c.newPage(r, "Group "+group, "groups", struct {
		Name, State, ProtocolType, Protocol string
		Coordinator                         int32
		Members                             []memberRow
		Lag                                 []lagRow
		Total                               int64
		Topics                              []string
		Chart                               chart
		Interval                            string
		History                             int
		Resettable                          bool
		Refresh                             string // the chart's live endpoint (live.go)
		Every                               int64
	}{group, l.State, l.ProtocolType, l.Protocol, l.Coordinator.NodeID, members, rows, l.Lag.Total(), topicNames,
		ch, c.cfg.SampleInterval.String(), c.cfg.History, l.State == "Empty" || l.State == "Dead", live, c.refreshMs()})
	p.Error = errText
	c.render(w, r, "group", p, false)
}

// resetOffsets commits new offsets for the group: a topic's partitions
// (or one of them) to the earliest or latest offset, an offset, or the
// first offset at or after a time. As in Kafka, the group must be empty.
func (c *Console) resetOffsets(w http.ResponseWriter, r *http.Request) {
	if !c.canWrite(w, r) {
		return
	}
	group := r.PathValue("group")
	topic := strings.TrimSpace(r.PostForm.Get("topic"))
	to := r.PostForm.Get("to")
	value := strings.TrimSpace(r.PostForm.Get("value"))
	part := int32(-1)
	if s := strings.TrimSpace(r.PostForm.Get("partition")); s != "" {
		p, err := strconv.ParseInt(s, 10, 32)
		if err != nil || p < 0 {
			c.failed(w, r, http.StatusBadRequest, fmt.Errorf("partition %q is not a partition number", s))
			return
		}
		part = int32(p)
	}
	if topic == "" {
		c.failed(w, r, http.StatusBadRequest, errors.New("give the topic whose offsets to reset"))
		return
	}
	ctx, cancel := c.ctx(r)
	defer cancel()
	dg, err := c.admin(ctx).DescribeGroups(ctx, group)
	if err != nil {
		c.failed(w, r, http.StatusBadGateway, err)
		return
	}
	if g, ok := dg[group]; ok && g.Err == nil && g.State != "Empty" && g.State != "Dead" {
		c.failed(w, r, http.StatusConflict, fmt.Errorf("group %q is %s with %d members: stop its consumers first (Kafka resets only an empty group's offsets)", group, g.State, len(g.Members)))
		return
	}
	var listed kadm.ListedOffsets
	switch to {
	case "earliest":
		listed, err = c.admin(ctx).ListStartOffsets(ctx, topic)
	case "latest":
		listed, err = c.admin(ctx).ListEndOffsets(ctx, topic)
	case "timestamp":
		var ms int64
		if ms, err = parseTime(value); err == nil {
			listed, err = c.admin(ctx).ListOffsetsAfterMilli(ctx, ms, topic)
		}
	case "offset":
		var o int64
		if o, err = strconv.ParseInt(value, 10, 64); err == nil {
			listed, err = c.admin(ctx).ListEndOffsets(ctx, topic) // for the partitions; At is replaced below
			for _, ps := range listed {
				for p, lo := range ps {
					lo.Offset, lo.LeaderEpoch = o, -1
					ps[p] = lo
				}
			}
		}
	default:
		err = fmt.Errorf("reset to %q: choose earliest, latest, offset or timestamp", to)
	}
	if err != nil {
		c.failed(w, r, http.StatusBadRequest, err)
		return
	}
	var offsets kadm.Offsets
	for _, ps := range listed {
		for p, lo := range ps {
			if part >= 0 && p != part {
				continue
			}
			if lo.Err != nil {
				c.failed(w, r, http.StatusBadGateway, fmt.Errorf("%s/%d: %w", topic, p, lo.Err))
				return
			}
			at := lo.Offset
			if at < 0 { // after the last record's time: the end
				at = -1
			}
			offsets.AddOffset(topic, p, at, -1)
		}
	}
	if to == "timestamp" {
		ends, err := c.admin(ctx).ListEndOffsets(ctx, topic)
		if err == nil {
			for _, ps := range offsets {
				for p, o := range ps {
					if e, ok := ends.Lookup(topic, p); o.At < 0 && ok {
						o.At = e.Offset
						ps[p] = o
					}
				}
			}
		}
	}
	if len(offsets) == 0 {
		c.failed(w, r, http.StatusBadRequest, fmt.Errorf("topic %q has no partition %d", topic, part))
		return
	}
	if err := c.admin(ctx).CommitAllOffsets(ctx, group, offsets); err != nil {
		c.failed(w, r, http.StatusBadRequest, fmt.Errorf("committing: %w", err))
		return
	}
	n := 0
	for _, ps := range offsets {
		n += len(ps)
	}
	c.done(w, r, Prefix+"groups/"+url.PathEscape(group), fmt.Sprintf("reset %d partition(s) of %s to %s %s", n, topic, to, value))
}
