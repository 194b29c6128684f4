package chart

import (
	"encoding/xml"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
)

type svgNode struct {
	XMLName xml.Name
	Attrs   []xml.Attr `xml:",any,attr"`
	Nodes   []svgNode  `xml:",any"`
	Text    string     `xml:",chardata"`
}

func (n svgNode) attr(name string) string {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

func (n svgNode) walk(f func(svgNode)) {
	f(n)
	for _, c := range n.Nodes {
		c.walk(f)
	}
}

func parse(t *testing.T, s string) svgNode {
	t.Helper()
	var n svgNode
	if err := xml.Unmarshal([]byte(s), &n); err != nil {
		t.Fatalf("not well-formed SVG: %v\n%s", err, s)
	}
	return n
}

func float(t *testing.T, s string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("not a number: %q", s)
	}
	return v
}

// TestLineMatchesData checks every circle against the point it was drawn
// from: its data attributes, and its position on the axes.
func TestLineMatchesData(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	seats := Series{Name: "seats in use"}
	denials := Series{Name: "denials"}
	for i := range 24 {
		seats.Points = append(seats.Points, Point{At: t0.Add(time.Duration(i) * time.Hour), V: float64((i * 7) % 13)})
		denials.Points = append(denials.Points, Point{At: t0.Add(time.Duration(i) * time.Hour), V: float64(i % 3)})
	}
	svg := parse(t, string(Line("Seats, last day", "seats", seats, denials)))
	top := float(t, svg.attr("data-ymax"))
	if top != 20 { // the largest value is 12: the axis goes to 20
		t.Fatalf("y axis top %v, want 20", top)
	}
	var got [][2]float64
	var xs, ys []float64
	svg.walk(func(n svgNode) {
		if n.XMLName.Local == "circle" {
			at, err := time.Parse(time.RFC3339, n.attr("data-at"))
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, [2]float64{float64(at.Sub(t0) / time.Hour), float(t, n.attr("data-v"))})
			xs = append(xs, float(t, n.attr("cx")))
			ys = append(ys, float(t, n.attr("cy")))
		}
	})
	want := append(append([]Point{}, seats.Points...), denials.Points...)
	if len(got) != len(want) {
		t.Fatalf("%d points drawn, want %d", len(got), len(want))
	}
	for i, p := range want {
		if got[i][0] != float64(p.At.Sub(t0)/time.Hour) || got[i][1] != p.V {
			t.Fatalf("point %d: drawn %v, data %v", i, got[i], p)
		}
		wantX := PadLeft + float64(p.At.Sub(t0))/float64(23*time.Hour)*plotW
		wantY := PadTop + plotH - p.V/top*plotH
		if math.Abs(xs[i]-wantX) > 0.01 || math.Abs(ys[i]-wantY) > 0.01 {
			t.Fatalf("point %d at (%v,%v), want (%v,%v)", i, xs[i], ys[i], wantX, wantY)
		}
	}
}

func TestBarsMatchData(t *testing.T) {
	bars := []Bar{{"exports", 250, 1000}, {"renders", 1200, 1000}, {"uncapped", 40, 0}}
	svg := parse(t, string(Bars("Consumption <against> caps", bars...)))
	var i int
	svg.walk(func(n svgNode) {
		if n.XMLName.Local != "rect" || n.attr("data-label") == "" {
			return
		}
		b := bars[i]
		i++
		if n.attr("data-label") != b.Label || float(t, n.attr("data-value")) != b.Value || float(t, n.attr("data-cap")) != b.Cap {
			t.Fatalf("bar %d drawn as %v", i, n.Attrs)
		}
		w := float(t, n.attr("width"))
		limit := b.Cap
		if limit == 0 {
			limit = NiceMax(1200) // the largest value of all bars
		}
		want := math.Min(b.Value/limit, 1) * BarWidth
		if math.Abs(w-want) > 0.01 {
			t.Fatalf("bar %q width %v, want %v", b.Label, w, want)
		}
		if over := strings.Contains(n.attr("class"), "over"); over != (b.Cap > 0 && b.Value > b.Cap) {
			t.Fatalf("bar %q over=%v", b.Label, over)
		}
	})
	if i != len(bars) {
		t.Fatalf("%d bars drawn, want %d", i, len(bars))
	}
	if !strings.Contains(string(Bars("x", Bar{Label: "<script>", Value: 1})), "&lt;script&gt;") {
		t.Fatal("a label is not escaped")
	}
}

func TestEmpty(t *testing.T) {
	parse(t, string(Line("nothing", "seats")))
	parse(t, string(Bars("nothing")))
	parse(t, string(Line("one", "seats", Series{Name: "a", Points: []Point{{At: time.Unix(0, 0), V: math.NaN()}}})))
}

func TestNiceMax(t *testing.T) {
	for _, c := range [][2]float64{{0, 1}, {1, 1}, {1.5, 2}, {3, 5}, {7, 10}, {12, 20}, {99, 100}, {101, 200}, {4999, 5000}} {
		if got := NiceMax(c[0]); got != c[1] {
			t.Errorf("NiceMax(%v) = %v, want %v", c[0], got, c[1])
		}
	}
}
