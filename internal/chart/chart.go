// Package chart draws the consoles' charts on the server as SVG: a line
// chart of values over time and bars of counters against their caps. No
// script runs in the page. Every drawn point and bar carries its number in
// data attributes and a <title>, so a screen reader announces the values
// and a test can check what was drawn against the data it came from.
package chart

import (
	"fmt"
	"html/template"
	"math"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Point is one value at one time.
type Point struct {
	At time.Time
	V  float64
}

// Series is a named line.
type Series struct {
	Name   string
	Points []Point
}

// Geometry of the line chart, in SVG user units.
const (
	Width   = 640
	Height  = 240
	PadLeft = 48
	PadTop  = 16
	PadBot  = 40
	PadRgt  = 16
	plotW   = Width - PadLeft - PadRgt
	plotH   = Height - PadTop - PadBot
	barRow  = 36
)

var ids atomic.Uint64

// MaxPoints bounds the points drawn per series; longer series are drawn
// from their last MaxPoints points.
const MaxPoints = 2000

// Line draws series over time, the y axis from 0 to the largest value
// (rounded up to a tidy number). unit names the values ("seats").
func Line(title, unit string, series ...Series) template.HTML {
	id := "chart" + strconv.FormatUint(ids.Add(1), 10)
	var lo, hi time.Time
	ymax := 0.0
	for i := range series {
		if len(series[i].Points) > MaxPoints {
			series[i].Points = series[i].Points[len(series[i].Points)-MaxPoints:]
		}
		for _, p := range series[i].Points {
			if lo.IsZero() || p.At.Before(lo) {
				lo = p.At
			}
			if p.At.After(hi) {
				hi = p.At
			}
			if !math.IsNaN(p.V) && !math.IsInf(p.V, 0) {
				ymax = math.Max(ymax, p.V)
			}
		}
	}
	top := NiceMax(ymax)
	span := hi.Sub(lo)
	x := func(t time.Time) float64 {
		if span <= 0 {
			return PadLeft + plotW/2
		}
		return PadLeft + float64(t.Sub(lo))/float64(span)*plotW
	}
	y := func(v float64) float64 {
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			v = 0
		}
		return PadTop + plotH - v/top*plotH
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-labelledby="%s-t %s-d" data-ymax="%s" xmlns="http://www.w3.org/2000/svg">`, Width, Height, id, id, num(top))
	fmt.Fprintf(&b, `<title id="%s-t">%s</title>`, id, esc(title))
	fmt.Fprintf(&b, `<desc id="%s-d">%s</desc>`, id, esc(describe(unit, series, lo, hi)))
	for i := 0; i <= 4; i++ {
		v := top * float64(i) / 4
		yy := y(v)
		fmt.Fprintf(&b, `<line class="grid" x1="%d" y1="%s" x2="%d" y2="%s"/>`, PadLeft, num(yy), Width-PadRgt, num(yy))
		fmt.Fprintf(&b, `<text x="%d" y="%s" text-anchor="end">%s</text>`, PadLeft-6, num(yy+4), num(v))
	}
	fmt.Fprintf(&b, `<line class="axis" x1="%d" y1="%d" x2="%d" y2="%d"/>`, PadLeft, PadTop+plotH, Width-PadRgt, PadTop+plotH)
	if !lo.IsZero() {
		fmt.Fprintf(&b, `<text x="%d" y="%d">%s</text>`, PadLeft, Height-PadBot+18, esc(stamp(lo, span)))
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`, Width-PadRgt, Height-PadBot+18, esc(stamp(hi, span)))
	} else {
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">no data yet</text>`, PadLeft+plotW/2, PadTop+plotH/2)
	}
	for i, s := range series {
		cls := "s" + strconv.Itoa(i%4)
		fmt.Fprintf(&b, `<g class="series %s" data-series="%s">`, cls, esc(s.Name))
		if len(s.Points) > 1 {
			b.WriteString(`<polyline points="`)
			for j, p := range s.Points {
				if j > 0 {
					b.WriteByte(' ')
				}
				b.WriteString(num(x(p.At)) + "," + num(y(p.V)))
			}
			b.WriteString(`"/>`)
		}
		for _, p := range s.Points {
			fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="2.5" data-at="%s" data-v="%s"><title>%s %s: %s %s</title></circle>`,
				num(x(p.At)), num(y(p.V)), p.At.UTC().Format(time.RFC3339), num(p.V),
				esc(s.Name), p.At.UTC().Format("2006-01-02 15:04"), num(p.V), esc(unit))
		}
		// the legend
		fmt.Fprintf(&b, `<text x="%d" y="%d">%s</text>`, PadLeft+i*140, Height-6, esc("■ "+s.Name))
		b.WriteString(`</g>`)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// Bar is a counter against its cap.
type Bar struct {
	Label      string
	Value, Cap float64
}

// Bars draws each counter as a bar whose length is Value/Cap of the full
// width (past the cap it is drawn full and marked "over"), with the numbers
// written beside it. A Cap of 0 means no cap: the bar is drawn against the
// largest value.
func Bars(title string, bars ...Bar) template.HTML {
	id := "chart" + strconv.FormatUint(ids.Add(1), 10)
	most := 0.0
	for _, br := range bars {
		most = math.Max(most, br.Value)
	}
	h := PadTop + barRow*max(len(bars), 1) + 8
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-labelledby="%s-t" xmlns="http://www.w3.org/2000/svg">`, Width, h, id)
	fmt.Fprintf(&b, `<title id="%s-t">%s</title>`, id, esc(title))
	if len(bars) == 0 {
		fmt.Fprintf(&b, `<text x="%d" y="%d">nothing to show</text>`, 8, PadTop+16)
	}
	full := float64(Width - 2*8 - 200)
	for i, br := range bars {
		top := float64(PadTop + i*barRow)
		limit := br.Cap
		if limit <= 0 {
			limit = NiceMax(most)
		}
		frac := 0.0
		if limit > 0 {
			frac = math.Min(br.Value/limit, 1)
		}
		over := br.Cap > 0 && br.Value > br.Cap
		cls := "bar"
		if over {
			cls += " over"
		}
		text := num(br.Value)
		if br.Cap > 0 {
			text += " of " + num(br.Cap)
		}
		fmt.Fprintf(&b, `<text x="8" y="%s">%s</text>`, num(top+16), esc(br.Label))
		fmt.Fprintf(&b, `<rect class="cap" x="%d" y="%s" width="%s" height="18"/>`, 200, num(top+3), num(full))
		fmt.Fprintf(&b, `<rect class="%s" x="%d" y="%s" width="%s" height="18" data-label="%s" data-value="%s" data-cap="%s"><title>%s: %s</title></rect>`,
			cls, 200, num(top+3), num(frac*full), esc(br.Label), num(br.Value), num(br.Cap), esc(br.Label), esc(text))
		fmt.Fprintf(&b, `<text x="%s" y="%s">%s</text>`, num(200+full+6), num(top+16), esc(text))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// BarWidth is the full width of a bar at its cap, for tests.
const BarWidth = Width - 2*8 - 200

// NiceMax rounds v up to 1, 2 or 5 times a power of ten (at least 1), the
// top of a chart's y axis.
func NiceMax(v float64) float64 {
	if !(v > 1) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// describe is the chart's text alternative: per series its last, peak
// and time range.
func describe(unit string, series []Series, lo, hi time.Time) string {
	if lo.IsZero() {
		return "no data yet"
	}
	var parts []string
	for _, s := range series {
		if len(s.Points) == 0 {
			continue
		}
		peak := 0.0
		for _, p := range s.Points {
			peak = math.Max(peak, p.V)
		}
		parts = append(parts, fmt.Sprintf("%s: now %s %s, peak %s", s.Name, num(s.Points[len(s.Points)-1].V), unit, num(peak)))
	}
	return fmt.Sprintf("%s from %s to %s", strings.Join(parts, "; "), lo.UTC().Format("2006-01-02 15:04"), hi.UTC().Format("2006-01-02 15:04 UTC"))
}

func stamp(t time.Time, span time.Duration) string {
	if span <= 48*time.Hour {
		return t.UTC().Format("Jan 2 15:04")
	}
	return t.UTC().Format("2006-01-02")
}

// num writes a number with at most two decimals and no trailing zeros.
func num(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "0"
	}
	return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64)
}

func esc(s string) string { return template.HTMLEscapeString(s) }
