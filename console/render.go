package console

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

// funcs are the helpers the templates use.
var funcs = template.FuncMap{
	"bytes":  humanBytes,
	"chart":  chartSVG,
	"join":   strings.Join,
	"ms":     func(t int64) string { return time.UnixMilli(t).UTC().Format("2006-01-02 15:04:05.000") },
	"joinI":  joinInts,
	"joinI6": joinInt64s,
	"deref": func(s *string) string {
		if s == nil {
			return ""
		}
		return *s
	},
	"split": strings.Fields,
	"add":   func(a, b int) int { return a + b },
}

// parseTemplates builds one template per page: the layout plus the page.
func (c *Console) parseTemplates() error {
	c.pages = map[string]*template.Template{}
	files, err := fs.Glob(assets, "assets/templates/*.html")
	if err != nil {
		return err
	}
	for _, f := range files {
		name := strings.TrimSuffix(path.Base(f), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(assets, "assets/templates/layout.html", f)
		if err != nil {
			return fmt.Errorf("console: template %s: %w", name, err)
		}
		c.pages[name] = t
	}
	return nil
}

// render writes page name with p; a template error becomes a 500 unless
// the header is already out (wrote).
func (c *Console) render(w http.ResponseWriter, r *http.Request, name string, p page, _ bool) {
	t, ok := c.pages[name]
	if !ok {
		http.Error(w, "no page "+name, http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout.html", p); err != nil {
		c.cfg.Logger.Sugar().Warnw("console template", "page", name, "error", err)
		http.Error(w, "rendering "+name+": "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes())
}

func humanBytes(n int64) string {
	if n < 0 {
		return "-"
	}
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func joinInts(ns []int32) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, ",")
}

func joinInt64s(ns []int64) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, ",")
}
