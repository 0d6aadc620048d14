package console

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
)

// topicRow is one line of the topics page.
type topicRow struct {
	Name       string
	ID         string
	Partitions int
	Internal   bool
	Records    int64 // end - start, summed
	Size       int64 // bytes on disk (DescribeLogDirs), -1 unknown
	Err        string
}

func (c *Console) topicsPage(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := c.ctx(r)
	defer cancel()
	md, err := c.admin(ctx).Metadata(ctx)
	if err != nil {
		c.failed(w, r, http.StatusBadGateway, fmt.Errorf("metadata: %w", err))
		return
	}
	showInternal := r.URL.Query().Get("internal") == "1"
	names := md.Topics.Names()
	starts, _ := c.admin(ctx).ListStartOffsets(ctx, names...)
	ends, _ := c.admin(ctx).ListEndOffsets(ctx, names...)
	sizes := c.topicSizes(r)
	var rows []topicRow
	for _, t := range md.Topics.Sorted() {
		if t.IsInternal && !showInternal {
			continue
		}
		row := topicRow{Name: t.Topic, ID: t.ID.String(), Partitions: len(t.Partitions), Internal: t.IsInternal, Size: -1}
		if t.Err != nil {
			row.Err = t.Err.Error()
		}
		for p := range t.Partitions {
			s, ok1 := starts.Lookup(t.Topic, p)
			e, ok2 := ends.Lookup(t.Topic, p)
			if ok1 && ok2 && s.Err == nil && e.Err == nil {
				row.Records += e.Offset - s.Offset
			}
		}
		if sz, ok := sizes[t.Topic]; ok {
			row.Size = sz.total
		}
		rows = append(rows, row)
	}
	c.render(w, r, "topics", c.newPage(r, "Topics", "topics", struct {
		Topics   []topicRow
		Internal bool
	}{rows, showInternal}), false)
}

type topicSize struct {
	total int64
	parts map[int32]int64
}

// topicSizes is each topic's size on disk from DescribeLogDirs (the first
// replica's copy of each partition).
func (c *Console) topicSizes(r *http.Request) map[string]topicSize {
	ctx, cancel := c.ctx(r)
	defer cancel()
	dirs, err := c.admin(ctx).DescribeAllLogDirs(ctx, nil)
	if err != nil {
		return nil
	}
	out := map[string]topicSize{}
	seen := map[string]map[int32]bool{}
	dirs.Each(func(d kadm.DescribedLogDir) {
		d.Topics.Each(func(p kadm.DescribedLogDirPartition) {
			if seen[p.Topic] == nil {
				seen[p.Topic] = map[int32]bool{}
			}
			if seen[p.Topic][p.Partition] {
				return // a replica's copy: count each partition once
			}
			seen[p.Topic][p.Partition] = true
			ts := out[p.Topic]
			if ts.parts == nil {
				ts.parts = map[int32]int64{}
			}
			ts.parts[p.Partition] = p.Size
			ts.total += p.Size
			out[p.Topic] = ts
		})
	})
	return out
}

// partRow is one partition on a topic's page.
type partRow struct {
	Partition   int32
	Leader      int32
	LeaderEpoch int32
	Replicas    []int32
	ISR         []int32
	Start, End  int64
	Size        int64
	Err         string
}

type configRow struct {
	Name      string
	Value     string
	Source    string
	Sensitive bool
	ReadOnly  bool
}

func (c *Console) topicPage(w http.ResponseWriter, r *http.Request) {
	topic := r.PathValue("topic")
	ctx, cancel := c.ctx(r)
	defer cancel()
	md, err := c.admin(ctx).Metadata(ctx, topic)
	if err != nil {
		c.failed(w, r, http.StatusBadGateway, fmt.Errorf("metadata: %w", err))
		return
	}
	t, ok := md.Topics[topic]
	if !ok || t.Err != nil {
		msg := "no such topic"
		if ok {
			msg = t.Err.Error()
		}
		c.failed(w, r, http.StatusNotFound, fmt.Errorf("topic %q: %s", topic, msg))
		return
	}
	starts, _ := c.admin(ctx).ListStartOffsets(ctx, topic)
	ends, _ := c.admin(ctx).ListEndOffsets(ctx, topic)
	sizes := c.topicSizes(r)[topic]
	var parts []partRow
	for _, p := range t.Partitions.Sorted() {
		row := partRow{Partition: p.Partition, Leader: p.Leader, LeaderEpoch: p.LeaderEpoch, Replicas: p.Replicas, ISR: p.ISR,
			Start: -1, End: -1, Size: -1}
		if p.Err != nil {
			row.Err = p.Err.Error()
		}
		if o, ok := starts.Lookup(topic, p.Partition); ok && o.Err == nil {
			row.Start = o.Offset
		}
		if o, ok := ends.Lookup(topic, p.Partition); ok && o.Err == nil {
			row.End = o.Offset
		}
		if s, ok := sizes.parts[p.Partition]; ok {
			row.Size = s
		}
		parts = append(parts, row)
	}
	var configs []configRow
	var cfgErr string
	if rcs, err := c.admin(ctx).DescribeTopicConfigs(ctx, topic); err != nil {
		cfgErr = err.Error()
	} else if rc, err := rcs.On(topic, nil); err != nil {
		cfgErr = err.Error()
	} else {
		for _, cf := range rc.Configs {
			v := cf.MaybeValue()
			if cf.Sensitive {
				v = "(sensitive)"
			}
			configs = append(configs, configRow{Name: cf.Key, Value: v, Source: cf.Source.String(), Sensitive: cf.Sensitive})
		}
		sort.Slice(configs, func(i, j int) bool { return configs[i].Name < configs[j].Name })
	}
	c.render(w, r, "topic", c.newPage(r, "Topic "+topic, "topics", struct {
		Name       string
		ID         string
		Internal   bool
		Partitions []partRow
		Configs    []configRow
		ConfigErr  string
	}{topic, t.ID.String(), t.IsInternal, parts, configs, cfgErr}), false)
}

func (c *Console) createTopic(w http.ResponseWriter, r *http.Request) {
	if !c.canWrite(w, r) {
		return
	}
	name := strings.TrimSpace(r.PostForm.Get("name"))
	parts, err1 := strconv.Atoi(r.PostForm.Get("partitions"))
	rf := int64(-1)
	var err2 error
	if s := strings.TrimSpace(r.PostForm.Get("replication_factor")); s != "" {
		rf, err2 = strconv.ParseInt(s, 10, 16)
	}
	if name == "" || err1 != nil || parts < 1 || err2 != nil {
		c.failed(w, r, http.StatusBadRequest, errors.New("give a topic name, a partition count of at least 1 and an optional replication factor"))
		return
	}
	configs, err := parseConfigLines(r.PostForm.Get("configs"))
	if err != nil {
		c.failed(w, r, http.StatusBadRequest, err)
		return
	}
	ctx, cancel := c.ctx(r)
	defer cancel()
	resp, err := c.admin(ctx).CreateTopic(ctx, int32(parts), int16(rf), configs, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		c.failed(w, r, http.StatusBadRequest, fmt.Errorf("creating topic %q: %w", name, errText(err, resp.ErrMessage)))
		return
	}
	c.done(w, r, Prefix+"topics/"+url.PathEscape(name), fmt.Sprintf("created topic %s with %d partitions", name, parts))
}

// parseConfigLines reads key=value lines.
func parseConfigLines(s string) (map[string]*string, error) {
	out := map[string]*string{}
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("config line %q is not key=value", line)
		}
		v = strings.TrimSpace(v)
		out[strings.TrimSpace(k)] = &v
	}
	return out, nil
}

func (c *Console) alterTopicConfig(w http.ResponseWriter, r *http.Request) {
	if !c.canWrite(w, r) {
		return
	}
	topic := r.PathValue("topic")
	key := strings.TrimSpace(r.PostForm.Get("name"))
	if key == "" {
		c.failed(w, r, http.StatusBadRequest, errors.New("give the config's name"))
		return
	}
	ac := kadm.AlterConfig{Name: key}
	what := ""
	if r.PostForm.Get("op") == "delete" {
		ac.Op = kadm.DeleteConfig
		what = fmt.Sprintf("reset %s of %s to its default", key, topic)
	} else {
		v := strings.TrimSpace(r.PostForm.Get("value"))
		ac.Op, ac.Value = kadm.SetConfig, &v
		what = fmt.Sprintf("set %s=%s on %s", key, v, topic)
	}
	ctx, cancel := c.ctx(r)
	defer cancel()
	resps, err := c.admin(ctx).AlterTopicConfigs(ctx, []kadm.AlterConfig{ac}, topic)
	if err == nil {
		var resp kadm.AlterConfigsResponse
		resp, err = resps.On(topic, nil)
		if err == nil && resp.Err != nil {
			err = errText(resp.Err, resp.ErrMessage)
		}
	}
	if err != nil {
		c.failed(w, r, http.StatusBadRequest, fmt.Errorf("altering %s of %q: %w", key, topic, err))
		return
	}
	c.done(w, r, Prefix+"topics/"+url.PathEscape(topic), what)
}

func (c *Console) addPartitions(w http.ResponseWriter, r *http.Request) {
	if !c.canWrite(w, r) {
		return
	}
	topic := r.PathValue("topic")
	n, err := strconv.Atoi(r.PostForm.Get("count"))
	if err != nil || n < 1 {
		c.failed(w, r, http.StatusBadRequest, errors.New("give the new total partition count"))
		return
	}
	ctx, cancel := c.ctx(r)
	defer cancel()
	resps, err := c.admin(ctx).UpdatePartitions(ctx, n, topic)
	if err == nil {
		var resp kadm.CreatePartitionsResponse
		resp, err = resps.On(topic, nil)
		if err == nil && resp.Err != nil {
			err = errText(resp.Err, resp.ErrMessage)
		}
	}
	if err != nil {
		c.failed(w, r, http.StatusBadRequest, fmt.Errorf("partitions of %q: %w", topic, err))
		return
	}
	c.done(w, r, Prefix+"topics/"+url.PathEscape(topic), fmt.Sprintf("%s now has %d partitions", topic, n))
}

func (c *Console) deleteTopic(w http.ResponseWriter, r *http.Request) {
	if !c.canWrite(w, r) {
		return
	}
	topic := r.PathValue("topic")
	if r.PostForm.Get("confirm") != topic {
		c.failed(w, r, http.StatusBadRequest, fmt.Errorf("type the topic's name (%s) to delete it", topic))
		return
	}
	ctx, cancel := c.ctx(r)
	defer cancel()
	resp, err := c.admin(ctx).DeleteTopic(ctx, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		c.failed(w, r, http.StatusBadRequest, fmt.Errorf("deleting %q: %w", topic, errText(err, resp.ErrMessage)))
		return
	}
	c.done(w, r, Prefix+"topics", "deleted topic "+topic)
}

// errText adds a broker's error message to its error.
func errText(err error, msg string) error {
	if msg != "" && err != nil && !strings.Contains(err.Error(), msg) {
		return fmt.Errorf("%w: %s", err, msg)
	}
	return err
}
