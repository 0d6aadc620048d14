package deploy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.yaml.in/yaml/v3"
)

// notFromBrokers are series a dashboard or rule may name that no broker
// exports: Prometheus makes `up` itself for every scrape target.
var notFromBrokers = map[string]bool{"up": true}

// use is one metric name, the labels its selector matches on, and where
// deploy/ names it.
type use struct {
	metric, where string
	labels        []string
}

// byPrometheus are the labels Prometheus adds to every scraped series.
var byPrometheus = map[string]bool{"instance": true, "job": true}

// grafanaVar matches Grafana's variables: $name, ${name}, ${name:fmt},
// [[name]]. The interval ones stand in range brackets, the rest in label
// values; both are replaced by something PromQL parses.
var (
	grafanaInterval = regexp.MustCompile(`\$__(rate_interval|interval|range)\b|\$\{__(rate_interval|interval|range)\}`)
	grafanaVar      = regexp.MustCompile(`\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*|\[\[[^\]]*\]\]`)
	labelValues     = regexp.MustCompile(`^\s*label_values\(\s*(.*?)\s*,\s*[A-Za-z_][A-Za-z0-9_]*\s*\)\s*$`)
)

// selector is a metric a PromQL selector names and the labels it matches on.
type selector struct {
	name   string
	labels []string
}

// metricsOf parses a PromQL expression and returns its selectors; a
// selector without a metric name is an error (it would match every series,
// and no check could hold it).
func metricsOf(expr string) ([]selector, error) {
	expr = grafanaInterval.ReplaceAllString(expr, "5m")
	expr = grafanaVar.ReplaceAllString(expr, "x")
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	var sels []selector
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		sel := selector{name: vs.Name}
		for _, m := range vs.LabelMatchers {
			switch {
			case m.Name == model.MetricNameLabel:
				if sel.name == "" {
					sel.name = m.Value
				}
			default:
				sel.labels = append(sel.labels, m.Name)
			}
		}
		if sel.name == "" {
			err = fmt.Errorf("selector %s names no metric", vs)
		}
		sels = append(sels, sel)
		return nil
	})
	return sels, err
}

// dashboardUses returns every metric the dashboard's queries name: panel
// targets (rows' nested panels included), annotation queries, and the
// label_values(...) of template variables.
func dashboardUses(t *testing.T, path string) []use {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var d map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if d["title"] == nil || d["uid"] == nil || d["panels"] == nil {
		t.Fatalf("%s: not a Grafana dashboard (title, uid, panels)", path)
	}
	checkLayout(t, path, d)
	var uses []use
	add := func(where, expr string) {
		sels, err := metricsOf(expr)
		if err != nil {
			t.Errorf("%s: %q: %v", where, expr, err)
		}
		for _, sel := range sels {
			uses = append(uses, use{sel.name, where, sel.labels})
		}
	}
	var walk func(where string, v any)
	walk = func(where string, v any) {
		switch v := v.(type) {
		case map[string]any:
			if title, ok := v["title"].(string); ok {
				where = path + ": " + title
			}
			if e, ok := v["expr"].(string); ok {
				add(where, e)
			}
			for _, c := range v {
				walk(where, c)
			}
		case []any:
			for _, c := range v {
				walk(where, c)
			}
		}
	}
	walk(path, d["panels"])
	walk(path+": annotations", d["annotations"])
	tmpl, _ := d["templating"].(map[string]any)
	vars, _ := tmpl["list"].([]any)
	for _, v := range vars {
		v, _ := v.(map[string]any)
		if v["type"] != "query" {
			continue
		}
		q, _ := v["definition"].(string)
		if qo, ok := v["query"].(map[string]any); ok {
			q, _ = qo["query"].(string)
		} else if qs, ok := v["query"].(string); ok {
			q = qs
		}
		m := labelValues.FindStringSubmatch(q)
		if m == nil {
			t.Errorf("%s: variable %v: query %q is not label_values(metric, label)", path, v["name"], q)
			continue
		}
		add(fmt.Sprintf("%s: variable %v", path, v["name"]), m[1])
	}
	if len(uses) == 0 {
		t.Fatalf("%s: no queries found", path)
	}
	return uses
}

// checkLayout holds what Grafana needs to show the dashboard as meant:
// every panel with a unique id, a type, a gridPos inside the 24 columns, no
// two panels overlapping, and every query on the datasource variable (so
// the import asks for the Prometheus to use).
func checkLayout(t *testing.T, path string, d map[string]any) {
	t.Helper()
	type rect struct {
		title      string
		x, y, w, h int
	}
	var placed []rect
	ids := map[float64]string{}
	panels, _ := d["panels"].([]any)
	for _, p := range panels {
		p, _ := p.(map[string]any)
		title, _ := p["title"].(string)
		id, _ := p["id"].(float64)
		if other, dup := ids[id]; dup || id == 0 {
			t.Errorf("%s: panel %q: id %v missing or shared with %q", path, title, id, other)
		}
		ids[id] = title
		if p["type"] == nil {
			t.Errorf("%s: panel %q has no type", path, title)
		}
		g, _ := p["gridPos"].(map[string]any)
		num := func(k string) int { v, _ := g[k].(float64); return int(v) }
		r := rect{title, num("x"), num("y"), num("w"), num("h")}
		if g == nil || r.w <= 0 || r.h <= 0 || r.x < 0 || r.x+r.w > 24 {
			t.Errorf("%s: panel %q: gridPos %v", path, title, g)
		}
		for _, o := range placed {
			if r.x < o.x+o.w && o.x < r.x+r.w && r.y < o.y+o.h && o.y < r.y+r.h {
				t.Errorf("%s: panels %q and %q overlap", path, o.title, title)
			}
		}
		placed = append(placed, r)
		targets, _ := p["targets"].([]any)
		for _, tg := range targets {
			tg, _ := tg.(map[string]any)
			ds, _ := tg["datasource"].(map[string]any)
			if ds["uid"] != "${datasource}" {
				t.Errorf("%s: panel %q: a query on datasource %v, not ${datasource}", path, title, tg["datasource"])
			}
		}
	}
}

// ruleFile is Prometheus's rule file format (alerting rules only here).
type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Record      string            `yaml:"record"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// alertUses checks the rule file's shape as Prometheus loads it (unknown
// keys refused, expressions parsed, durations valid, every alert with a
// severity, a summary, a description and a runbook section in
// docs/operations.md, every recording rule named level:metric:operation)
// and returns the metrics its expressions name and the series its
// recording rules make.
func alertUses(t *testing.T, path, runbook string) (uses []use, recorded map[string]bool) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(runbook)
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&rf); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	seen := map[string]bool{}
	recorded = map[string]bool{}
	for _, g := range rf.Groups {
		if g.Name == "" || len(g.Rules) == 0 {
			t.Errorf("%s: a group without a name or rules", path)
		}
		for _, r := range g.Rules {
			if r.Record != "" {
				where := path + ": " + r.Record
				if r.Alert != "" || r.For != "" || r.Annotations != nil || recorded[r.Record] ||
					!regexp.MustCompile(`^[a-zA-Z_]+:[a-zA-Z0-9_]+:[a-zA-Z0-9_:]+$`).MatchString(r.Record) {
					t.Errorf("%s: a recording rule is named level:metric:operation, once, and has no alert, for or annotations", where)
				}
				recorded[r.Record] = true
				sels, err := metricsOf(r.Expr)
				if err != nil {
					t.Errorf("%s: %q: %v", where, r.Expr, err)
				}
				for _, sel := range sels {
					uses = append(uses, use{sel.name, where, sel.labels})
				}
				continue
			}
			where := path + ": " + r.Alert
			if r.Alert == "" || seen[r.Alert] {
				t.Errorf("%s: alert name %q empty or repeated", path, r.Alert)
			}
			seen[r.Alert] = true
			if r.For != "" {
				if _, err := model.ParseDuration(r.For); err != nil {
					t.Errorf("%s: for: %v", where, err)
				}
			}
			if s := r.Labels["severity"]; !slices.Contains([]string{"critical", "warning", "info"}, s) {
				t.Errorf("%s: severity %q, want critical, warning or info", where, s)
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("%s: summary or description missing", where)
			}
			if want := "docs/operations.md#" + strings.ToLower(r.Alert); r.Annotations["runbook"] != want {
				t.Errorf("%s: runbook %q, want %q", where, r.Annotations["runbook"], want)
			}
			if !regexp.MustCompile(`(?m)^#+ ` + regexp.QuoteMeta(r.Alert) + `\s*$`).Match(doc) {
				t.Errorf("%s: %s has no section %q", where, runbook, "### "+r.Alert)
			}
			sels, err := metricsOf(r.Expr)
			if err != nil {
				t.Errorf("%s: %q: %v", where, r.Expr, err)
			}
			for _, sel := range sels {
				uses = append(uses, use{sel.name, where, sel.labels})
			}
		}
	}
	if len(seen) == 0 {
		t.Fatalf("%s: no alerts", path)
	}
	return uses, recorded
}

// family is a scraped metric family: its type and its series' label names.
type family struct {
	typ    string
	labels map[string]bool
}

// addFamilies parses a /metrics page into fams (families with at least
// one series only).
func addFamilies(t *testing.T, fams map[string]*family, page string) {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	for name, mf := range mfs {
		if len(mf.GetMetric()) == 0 {
			continue
		}
		f := fams[name]
		if f == nil {
			f = &family{typ: mf.GetType().String(), labels: map[string]bool{}}
			fams[name] = f
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				f.labels[l.GetName()] = true
			}
		}
	}
}

// exported returns the labels of name's series when name is a series of
// the scraped families: a family itself, or a histogram's
// _bucket (with le) /_sum/_count, a summary's _sum/_count; nil otherwise.
func exported(fams map[string]*family, name string) map[string]bool {
	if f, ok := fams[name]; ok {
		return f.labels
	}
	for _, suf := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(name, suf)
		if !ok || fams[base] == nil {
			continue
		}
		f := fams[base]
		if f.typ == "HISTOGRAM" && suf == "_bucket" {
			m := maps.Clone(f.labels)
			m["le"] = true
			return m
		}
		if f.typ == "HISTOGRAM" || f.typ == "SUMMARY" && suf != "_bucket" {
			return f.labels
		}
	}
	return nil
}

// TestDashboardAndAlertsUseExportedMetrics: every metric the Grafana
// dashboard and the alert rules name is exported by running brokers: a
// NameServer, a master and its slave (so the replication series exist),
// a topic with data, a consumer group that lags behind it, and an error
// code answered (so the error series exist). Series appear on /metrics
// only once they have a value, so this also proves the alerts can fire.
func TestDashboardAndAlertsUseExportedMetrics(t *testing.T) {
	uses := dashboardUses(t, filepath.Join("grafana", "gregor.json"))
	ruleUses, recorded := alertUses(t, filepath.Join("prometheus", "alerts.yml"), filepath.Join("..", "docs", "operations.md"))
	uses = append(uses, ruleUses...)
	if t.Failed() {
		t.FailNow()
	}

	dir := t.TempDir()
	ns := freeAddr(t)
	start(t, dir, "ns", "nameserver", "--listen", ns, "--scan-interval", "200ms", "--expiry", "3s", "--logger.level", "warn")
	eventually(t, 60*time.Second, "NameServer up", func() error { _, err := get("http://" + ns + "/healthz"); return err })
	type member struct {
		kafka, http string
		p           *proc
	}
	var members []member
	for i := 0; i < 2; i++ {
		m := member{kafka: freeAddr(t), http: freeAddr(t)}
		m.p = start(t, dir, fmt.Sprintf("member%d", i), "broker",
			"--cluster", "deploy", "--broker-name", "g", "--broker-id", fmt.Sprint(i), "--node-id", fmt.Sprint(i+1),
			"--nameservers", ns, "--register-interval", "200ms", "--route-refresh-interval", "200ms",
			"--listeners", "PLAINTEXT://"+m.kafka, "--http.listener", m.http,
			"--replication.listener", "127.0.0.1:0", "--replica.lag.time.max.ms", "3000",
			"--data-dir", filepath.Join(dir, fmt.Sprintf("data%d", i)),
			"--log.segment.bytes", fmt.Sprint(8<<20), "--group.initial.rebalance.delay.ms", "0",
			"--logger.level", "warn")
		members = append(members, m)
	}
	for _, m := range members {
		ready(t, m.p, m.http)
	}
	master := members[0]

	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(master.kafka), kgo.RequestRetries(20), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	eventually(t, 60*time.Second, "create topic", func() error {
		r, err := adm.CreateTopic(ctx, 2, -1, nil, "orders")
		if err == nil && r.Err != nil && !strings.Contains(r.Err.Error(), "TOPIC_ALREADY_EXISTS") {
			err = r.Err
		}
		return err
	})
	for i := 0; i < 40; i++ {
		r := &kgo.Record{Topic: "orders", Partition: int32(i % 2), Value: []byte(fmt.Sprint("order-", i))}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	// A group 15 records behind on each partition.
	var offs kadm.Offsets
	offs.Add(kadm.Offset{Topic: "orders", Partition: 0, At: 5, LeaderEpoch: -1})
	offs.Add(kadm.Offset{Topic: "orders", Partition: 1, At: 5, LeaderEpoch: -1})
	eventually(t, 60*time.Second, "commit", func() error {
		r, err := adm.CommitOffsets(ctx, "billing", offs)
		if err == nil {
			err = r.Error()
		}
		return err
	})
	// An error code: ListOffsets of a partition the topic does not have.
	lo := kmsg.NewPtrListOffsetsRequest()
	lt := kmsg.NewListOffsetsRequestTopic()
	lt.Topic = "orders"
	lp := kmsg.NewListOffsetsRequestTopicPartition()
	lp.Partition, lp.Timestamp = 9, -1
	lt.Partitions = append(lt.Partitions, lp)
	lo.Topics = append(lo.Topics, lt)
	if _, err := cl.Broker(1).Request(ctx, lo); err != nil {
		t.Fatalf("ListOffsets: %v", err)
	}

	// Scrape both members once the master reports its slave and the lag.
	var pages []string
	eventually(t, 60*time.Second, "replication and lag series on the master", func() error {
		page, err := get("http://" + master.http + "/metrics")
		if err != nil {
			return err
		}
		for _, want := range []string{"gregor_replication_slave_lag_bytes{", `gregor_group_lag{group="billing"`, "gregor_request_errors_total{"} {
			if !strings.Contains(page, want) {
				return fmt.Errorf("no %s… yet", want)
			}
		}
		pages = []string{page}
		return nil
	})
	page, err := get("http://" + members[1].http + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	pages = append(pages, page)
	fams := map[string]*family{}
	for _, p := range pages {
		addFamilies(t, fams, p)
	}

	missing := map[string][]string{}
	checked := map[string]bool{}
	for _, u := range uses {
		checked[u.metric] = true
		if notFromBrokers[u.metric] || recorded[u.metric] { // a recorded series' own expression is checked
			continue
		}
		labels := exported(fams, u.metric)
		if labels == nil {
			missing[u.metric] = append(missing[u.metric], u.where)
			continue
		}
		for _, l := range u.labels {
			if !labels[l] && !byPrometheus[l] {
				t.Errorf("%s: %s has no label %q (it has %v)", u.where, u.metric, l, slices.Sorted(maps.Keys(labels)))
			}
		}
	}
	var names []string
	for n := range missing {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		t.Errorf("%s is not exported by a running broker; named by:\n\t%s", n, strings.Join(slices.Compact(missing[n]), "\n\t"))
	}
	t.Logf("%d metric names checked against %d exported families", len(checked), len(fams))
}

// promtool finds Prometheus's promtool: $GREGOR_PROMTOOL, on PATH, or
// where scripts/install-deps.sh unpacks Debian's prometheus package.
func promtool() string {
	if p := os.Getenv("GREGOR_PROMTOOL"); p != "" {
		return p
	}
	if p, err := exec.LookPath("promtool"); err == nil {
		return p
	}
	cache := os.Getenv("GREGOR_CACHE")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache", "gregor")
	}
	p := filepath.Join(cache, "promtool", "usr", "bin", "promtool")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return ""
}

// TestAlertRulesFire runs Prometheus's own checks of the rule file
// (`promtool check rules`) and its unit tests (prometheus/alerts_test.yml:
// for every alert, series that make it fire, when, with which labels and
// annotations, and series that must not), so a threshold or expression
// that no longer does what docs/operations.md says fails here.
func TestAlertRulesFire(t *testing.T) {
	pt := promtool()
	if pt == "" {
		t.Skip("promtool not found (scripts/install-deps.sh unpacks it from Debian's prometheus package)")
	}
	for _, args := range [][]string{{"check", "rules", "alerts.yml"}, {"test", "rules", "alerts_test.yml"}} {
		cmd := exec.Command(pt, args...)
		cmd.Dir = "prometheus"
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	// Every alert has a case.
	b, err := os.ReadFile(filepath.Join("prometheus", "alerts_test.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range regexp.MustCompile(`(?m)^\s*- alert: (\S+)`).FindAllSubmatch(mustRead(t, filepath.Join("prometheus", "alerts.yml")), -1) {
		if !bytes.Contains(b, []byte("alertname: "+string(u[1])+"\n")) {
			t.Errorf("prometheus/alerts_test.yml has no case for %s", u[1])
		}
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
