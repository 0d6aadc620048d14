package compat

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

var updateDocs = flag.Bool("update-docs", false, "rewrite the ApiVersions table of docs/compatibility.md from this run's kafka and gregor targets")

const (
	docsTableBegin = "<!-- apiversions:begin (written by `go test ./compat_test/ -run TestDocsApiVersionsTable -update-docs` with the kafka and gregor targets; do not edit) -->"
	docsTableEnd   = "<!-- apiversions:end -->"
)

// TestDocsApiVersionsTable builds the ApiVersions table of
// docs/compatibility.md from what the reference Kafka and gregor advertise
// in this run (API ranges, feature levels, and the newest version kmsg can
// encode): with -update-docs it rewrites the table, otherwise it notes in
// the results when the table in the docs is not this run's.
func TestDocsApiVersionsTable(t *testing.T) {
	var ref, gr *target
	for _, tg := range targets {
		switch {
		case tg.name == "kafka":
			ref = tg
		case gr == nil && (tg.name == "gregor" || tg.name == "gregor-inproc"):
			gr = tg
		}
	}
	if ref == nil || gr == nil || ref.down != "" || gr.down != "" {
		t.Skip("needs the kafka target and a gregor target, both up")
	}
	table := apiVersionsDocTable(t, ref, gr)
	path := filepath.Join(repoRoot, "docs", "compatibility.md")
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(doc)
	i, j := strings.Index(s, docsTableBegin), strings.Index(s, docsTableEnd)
	if i < 0 || j < i {
		t.Fatalf("%s has no %q … %q block", path, docsTableBegin, docsTableEnd)
	}
	current := s[i+len(docsTableBegin) : j]
	if *updateDocs {
		s = s[:i+len(docsTableBegin)] + table + s[j:]
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if current != table {
		note := "docs/compatibility.md's ApiVersions table is not this run's: regenerate it with `go test ./compat_test/ -run TestDocsApiVersionsTable -update-docs`"
		t.Log(note)
		results.mu.Lock()
		results.notes = append(results.notes, note)
		results.mu.Unlock()
	}
}

// apiVersionsDocTable renders the table: every key either broker serves.
func apiVersionsDocTable(t *testing.T, ref, gr *target) string {
	kv := kafkaVersion(t)
	kmsgVersion := "?" // as go.mod requires it (a test binary's build info lists no modules)
	if mod, err := os.ReadFile(filepath.Join(repoRoot, "go.mod")); err == nil {
		for _, l := range strings.Split(string(mod), "\n") {
			if f := strings.Fields(l); len(f) >= 2 && f[0] == "github.com/twmb/franz-go/pkg/kmsg" {
				kmsgVersion = f[1]
			}
		}
	}
	keys := map[int16]bool{}
	for k := range ref.apis {
		keys[k] = true
	}
	for k := range gr.apis {
		keys[k] = true
	}
	sorted := make([]int, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, int(k))
	}
	sort.Ints(sorted)
	rng := func(tg *target, k int16) string {
		if v, ok := tg.apis[k]; ok {
			return fmt.Sprintf("%d–%d", v[0], v[1])
		}
		return "—"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n| key | API | Kafka %s | gregor | kmsg %s can encode up to |\n|---|---|---|---|---|\n", kv, kmsgVersion)
	for _, k := range sorted {
		max := "—"
		if r := kmsg.RequestForKey(int16(k)); r != nil {
			max = fmt.Sprintf("v%d", r.MaxVersion())
		}
		g := rng(gr, int16(k))
		if rk, gk := ref.apis[int16(k)], gr.apis[int16(k)]; g != "—" && rng(ref, int16(k)) != "—" && rk[1] != gk[1] {
			g = "**" + g + "**" // a different newest version
		}
		fmt.Fprintf(&b, "| %d | %s | %s | %s | %s |\n", k, kmsg.NameForKey(int16(k)), rng(ref, int16(k)), g, max)
	}
	rf, gf := features(t, ref), features(t, gr)
	names := map[string]bool{}
	for n := range rf {
		names[n] = true
	}
	for n := range gf {
		names[n] = true
	}
	sortedNames := make([]string, 0, len(names))
	for n := range names {
		sortedNames = append(sortedNames, n)
	}
	sort.Strings(sortedNames)
	fmt.Fprintf(&b, "\n| feature (ApiVersions v3+) | Kafka %s: supported, finalized | gregor: supported, finalized |\n|---|---|---|\n", kv)
	for _, n := range sortedNames {
		show := func(m map[string]string) string {
			if v, ok := m[n]; ok {
				return v
			}
			return "—"
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", n, show(rf), show(gf))
	}
	return b.String()
}

// features returns a broker's feature levels, name → "min–max, level".
func features(t *testing.T, tg *target) map[string]string {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req := kmsg.NewPtrApiVersionsRequest()
	req.ClientSoftwareName, req.ClientSoftwareVersion = "gregor-compat", "1"
	resp, err := req.RequestWith(ctx, newClient(t, tg))
	if err != nil {
		t.Fatalf("%s: ApiVersions: %v", tg.name, err)
	}
	out := map[string]string{}
	for _, f := range resp.SupportedFeatures {
		out[f.Name] = fmt.Sprintf("%d–%d, not finalized", f.MinVersion, f.MaxVersion)
	}
	for _, f := range resp.FinalizedFeatures {
		out[f.Name] = strings.TrimSuffix(out[f.Name], "not finalized") + fmt.Sprint(f.MaxVersionLevel)
	}
	return out
}
