package serverconsole

import (
	"html/template"
	"net/http"
	"time"

	"github.com/airlock-offline/airlock/floating"
	"github.com/airlock-offline/airlock/internal/chart"
)

// HistoryPoint is one interval of a product's use, as the floating
// server's history keeps it.
type HistoryPoint = floating.HistoryPoint

// HardwareKeyStatus is the server's hardware key as the floating server
// reports it.
type HardwareKeyStatus = floating.HardwareKeyStatus

// spans are the charts' time ranges.
var spans = []struct {
	Key, Label string
	D          time.Duration
}{
	{"day", "Last day", 24 * time.Hour},
	{"week", "Last week", 7 * 24 * time.Hour},
	{"month", "Last month", 30 * 24 * time.Hour},
}

type span struct {
	Key, Label string
	Current    bool
}

type chartsPage struct {
	page
	Span      string
	Spans     []span
	NoHistory bool
	Charts    []productCharts
	LiveURL   string
}

// productCharts are one product's charts over the chosen span.
type productCharts struct {
	Product string
	Seats   template.HTML
	Denials template.HTML
	Points  int
}

// maxPoints bounds a chart's points per series: a day of minutes is drawn
// as 96 quarter hours, so the page stays small and its refresh cheap.
const maxPoints = 120

// downsample merges runs of consecutive points so that at most maxPoints
// remain: the peak and the borrowed seats are the run's largest, the
// average its mean, denials and consumption its sums, at the run's start.
func downsample(h []HistoryPoint) []HistoryPoint {
	if len(h) <= maxPoints {
		return h
	}
	k := (len(h) + maxPoints - 1) / maxPoints
	out := make([]HistoryPoint, 0, maxPoints)
	for i := 0; i < len(h); i += k {
		run := h[i:min(i+k, len(h))]
		p := HistoryPoint{At: run[0].At}
		for _, q := range run {
			p.Peak = max(p.Peak, q.Peak)
			p.Borrowed = max(p.Borrowed, q.Borrowed)
			p.Average += q.Average
			p.Denials += q.Denials
			p.Consumed += q.Consumed
		}
		p.Average /= float64(len(run))
		out = append(out, p)
	}
	return out
}

// seriesOf turns a product's history into the charts' series: seats in use
// (peak and average per interval, borrowed seats) and denials.
func seriesOf(h []HistoryPoint) (seats, denials []chart.Series) {
	peak := chart.Series{Name: "peak"}
	avg := chart.Series{Name: "average"}
	bor := chart.Series{Name: "borrowed"}
	den := chart.Series{Name: "denials"}
	for _, p := range h {
		peak.Points = append(peak.Points, chart.Point{At: p.At, V: p.Peak})
		avg.Points = append(avg.Points, chart.Point{At: p.At, V: p.Average})
		bor.Points = append(bor.Points, chart.Point{At: p.At, V: float64(p.Borrowed)})
		den.Points = append(den.Points, chart.Point{At: p.At, V: float64(p.Denials)})
	}
	return []chart.Series{peak, avg, bor}, []chart.Series{den}
}

func (c *Console) chartsData(r *http.Request, u *user) any {
	key := r.URL.Query().Get("span")
	d := chartsPage{page: c.page(u, "Charts", "/charts")}
	dur := spans[0].D
	d.Span = spans[0].Key
	for _, s := range spans {
		if s.Key == key {
			dur, d.Span = s.D, s.Key
		}
	}
	for _, s := range spans {
		d.Spans = append(d.Spans, span{Key: s.Key, Label: s.Label, Current: s.Key == d.Span})
	}
	d.LiveURL = "/live/charts?span=" + d.Span
	if c.cfg.History == nil {
		d.NoHistory = true
		return d
	}
	since := c.now().Add(-dur)
	for _, st := range c.srv.Status() {
		h := downsample(c.cfg.History(st.Product, since))
		seats, denials := seriesOf(h)
		d.Charts = append(d.Charts, productCharts{Product: st.Product, Points: len(h),
			Seats:   chart.Line(st.Product+": seats in use", "seats", seats...),
			Denials: chart.Line(st.Product+": denials", "denials", denials...)})
	}
	return d
}

// bars are a product's seat pools and counters as bars against their caps.
func bars(uses []use) []chart.Bar {
	out := make([]chart.Bar, 0, len(uses))
	for _, u := range uses {
		out = append(out, chart.Bar{Label: u.Name, Value: u.Used, Cap: u.Cap})
	}
	return out
}
