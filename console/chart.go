package console

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"strings"
	"time"
)

// series is one line of a chart.
type series struct {
	Name   string
	Points []point
}

type point struct {
	T time.Time
	V float64
}

// chart is what chartSVG draws: a title, a unit and lines over time.
type chart struct {
	Title  string
	Unit   string
	Series []series
}

// palette colours the lines (the CSS has no say inside the SVG's
// presentation attributes, so they are here).
var palette = []string{"#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#db2777"}

// chartSVG draws ch as an inline SVG line chart that scales with its
// container (viewBox), with a legend; only numbers and escaped names go
// into it, so it is safe as template.HTML.
func chartSVG(ch chart) template.HTML {
	const w, h, left, right, top, bottom = 600.0, 240.0, 70.0, 10.0, 24.0, 28.0
	var b strings.Builder
	fmt.Fprintf(&b, `<figure class="chart"><figcaption>%s</figcaption>`, html.EscapeString(ch.Title))
	var t0, t1 time.Time
	maxV := 0.0
	n := 0
	for _, s := range ch.Series {
		for _, p := range s.Points {
			if t0.IsZero() || p.T.Before(t0) {
				t0 = p.T
			}
			if p.T.After(t1) {
				t1 = p.T
			}
			if !math.IsNaN(p.V) && p.V > maxV {
				maxV = p.V
			}
			n++
		}
	}
	if n == 0 {
		b.WriteString(`<p class="muted">No samples yet.</p></figure>`)
		return template.HTML(b.String())
	}
	if maxV == 0 {
		maxV = 1
	}
	span := t1.Sub(t0).Seconds()
	if span <= 0 {
		span = 1
	}
	fmt.Fprintf(&b, `<svg viewBox="0 0 %g %g" role="img" aria-label="%s">`, w, h, html.EscapeString(ch.Title))
	// Axes and three grid lines with their values.
	for i := 0; i <= 2; i++ {
		y := top + (h-top-bottom)*float64(i)/2
		v := maxV * float64(2-i) / 2
		fmt.Fprintf(&b, `<line x1="%g" y1="%.1f" x2="%g" y2="%.1f" stroke="#ddd"/>`, left, y, w-right, y)
		fmt.Fprintf(&b, `<text x="%g" y="%.1f" font-size="14" text-anchor="end" fill="#555">%s</text>`, left-4, y+4, html.EscapeString(shortNum(v)+ch.Unit))
	}
	fmt.Fprintf(&b, `<text x="%g" y="%g" font-size="14" fill="#555">%s</text>`, left, h-6, t0.UTC().Format("15:04:05"))
	fmt.Fprintf(&b, `<text x="%g" y="%g" font-size="14" text-anchor="end" fill="#555">%s</text>`, w-right, h-6, t1.UTC().Format("15:04:05"))
	for i, s := range ch.Series {
		var pts []string
		for _, p := range s.Points {
			if math.IsNaN(p.V) {
				continue
			}
			x := left + (w-left-right)*p.T.Sub(t0).Seconds()/span
			y := top + (h-top-bottom)*(1-p.V/maxV)
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, y))
		}
		c := palette[i%len(palette)]
		if len(pts) == 1 {
			var x, y float64
			fmt.Sscanf(pts[0], "%g,%g", &x, &y)
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`, x, y, c)
			continue
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" vector-effect="non-scaling-stroke" points="%s"/>`, c, strings.Join(pts, " "))
	}
	b.WriteString(`</svg><ul class="legend">`)
	for i, s := range ch.Series {
		last := "-"
		for j := len(s.Points) - 1; j >= 0; j-- {
			if !math.IsNaN(s.Points[j].V) {
				last = shortNum(s.Points[j].V) + ch.Unit
				break
			}
		}
		fmt.Fprintf(&b, `<li><svg class="swatch" viewBox="0 0 10 10"><rect width="10" height="10" fill="%s"/></svg>%s <b>%s</b></li>`, palette[i%len(palette)], html.EscapeString(s.Name), html.EscapeString(last))
	}
	b.WriteString(`</ul></figure>`)
	return template.HTML(b.String())
}

func shortNum(v float64) string {
	switch a := math.Abs(v); {
	case math.IsNaN(v):
		return "-"
	case a >= 1e9:
		return fmt.Sprintf("%.1fG", v/1e9)
	case a >= 1e6:
		return fmt.Sprintf("%.1fM", v/1e6)
	case a >= 1e4:
		return fmt.Sprintf("%.1fk", v/1e3)
	case a == math.Trunc(a):
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.3g", v)
	}
}
