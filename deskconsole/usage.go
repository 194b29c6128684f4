package deskconsole

import (
	"encoding/hex"
	"fmt"
	"html/template"
	"net/http"
	"sort"
	"time"

	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/internal/chart"
	"github.com/airlock-offline/airlock/internal/web"
	"github.com/airlock-offline/airlock/ledger"
	"github.com/airlock-offline/airlock/response"
	"github.com/airlock-offline/airlock/result"
	"github.com/airlock-offline/airlock/usage"
)

// Usage reports: what a floating server inside a customer's air gap says
// about the use of its pool, imported like a receipt (scanned, dropped or
// pasted), verified and stored by the desk (desk.ImportReport), and drawn
// as charts: each pool's seats and counters against their caps, and the
// server's reports over time.

// usageListPage is the import form and the reports imported so far.
type usageListPage struct {
	scanPage
	Reports []reportRow
}

type reportRow struct {
	Hash, Server, License, Flag string
	Seq                         uint64
	From, To                    time.Time
}

func (s *Server) usageList(w http.ResponseWriter, r *http.Request, sess string) {
	p := s.page(r, sess, "Usage reports")
	p.Camera = true
	reps, err := s.cfg.Desk.Ledger.UsageReports(r.Context(), nil)
	if err != nil {
		p.ErrorCode, p.Error = s.problem(result.Wrap(result.Internal, "cannot read the ledger", err))
	}
	page := usageListPage{scanPage: scanPage{Page: p, Kind: "usage", Noun: "usage report", Action: "/usage/import"}}
	for _, u := range reps {
		page.Reports = append(page.Reports, reportRow{Hash: hex.EncodeToString(u.Hash), Server: crypto.KeyIDOf(u.ServerKey).String(),
			License: u.LicenseKey, Flag: u.Flag, Seq: u.Seq, From: u.From, To: u.To})
	}
	sort.SliceStable(page.Reports, func(i, j int) bool { return page.Reports[i].To.After(page.Reports[j].To) })
	s.render(w, http.StatusOK, "usage", page)
}

func (s *Server) importUsage(w http.ResponseWriter, r *http.Request, sess string) {
	text, err := message(r)
	if err == nil {
		s.keyMu.Lock()
		imp, ierr := s.cfg.Desk.ImportReport(r.Context(), text)
		if ierr == nil {
			s.checkpoint(r.Context())
		}
		s.keyMu.Unlock()
		if err = ierr; err == nil {
			flash := fmt.Sprintf("Imported report %d of server %s.", imp.Report.Report.Seq, imp.Report.Report.ServerID())
			if imp.Already {
				flash = fmt.Sprintf("Report %d of server %s was imported before.", imp.Report.Report.Seq, imp.Report.Report.ServerID())
			}
			s.showReport(w, r, sess, imp.Stored, flash)
			return
		}
	}
	p := s.page(r, sess, "Usage report refused")
	p.ErrorCode, p.Error = s.problem(err)
	s.render(w, http.StatusUnprocessableEntity, "error", p)
}

func (s *Server) usageReport(w http.ResponseWriter, r *http.Request, sess string) {
	hash, err := hex.DecodeString(r.PathValue("hash"))
	var rec *ledger.UsageReport
	if err == nil && len(hash) == 32 {
		rec, err = s.cfg.Desk.Ledger.GetUsageReport(r.Context(), hash)
	}
	if err != nil || rec == nil {
		s.fail(w, r, http.StatusNotFound, string(result.LicenseUnknown), "the ledger has no such usage report")
		return
	}
	s.showReport(w, r, sess, rec, "")
}

// reportPage is one report and its charts.
type reportPage struct {
	web.Page
	Server, Hash  string
	Seq           uint64
	First         bool // report 1 of its server
	From, To      time.Time
	Pseudonymised bool
	Flag, Message string
	Products      []productView
	Events        []usage.EventCount
	ClockJumps    []jumpView
}

type productView struct {
	usage.Product
	SeatsChart   template.HTML // this report: seats against the pool
	Counters     template.HTML // features and consumption against their caps
	Trend        template.HTML // the server's reports over time
	DenialsChart template.HTML
}

type jumpView struct {
	At    time.Time
	Shift string
}

func (s *Server) showReport(w http.ResponseWriter, r *http.Request, sess string, rec *ledger.UsageReport, flash string) {
	signed, err := usage.Verify(rec.Report)
	if err != nil {
		code, msg := s.problem(result.Wrap(result.Internal, "the ledger holds a usage report that does not verify", err))
		s.fail(w, r, http.StatusInternalServerError, code, msg)
		return
	}
	rep := signed.Report
	p := reportPage{
		Page:   s.page(r, sess, fmt.Sprintf("Usage report %d of server %s", rep.Seq, rep.ServerID())),
		Server: rep.ServerID().String(), Hash: hex.EncodeToString(rec.Hash), Seq: rep.Seq, First: rep.Seq == 1,
		From: rep.FromTime(), To: rep.ToTime(), Pseudonymised: rep.Pseudonymised,
		Flag: rec.Flag, Message: rec.Message, Events: rep.Events,
	}
	p.Flash = flash
	if rec.Flag != "" {
		p.ErrorCode, p.Error = rec.Flag, "This report is out of its server's chain: "+rec.Message
	}
	stored, _ := s.cfg.Desk.Ledger.UsageReports(r.Context(), rep.Server)
	var history []*usage.Report // verified once for every product's charts
	for _, h := range stored {
		if v, err := usage.Verify(h.Report); err == nil {
			history = append(history, v.Report)
		}
	}
	for _, prod := range rep.Products {
		pool, _ := s.cfg.Desk.PoolOf(r.Context(), prod.LicenseKey, prod.Product, rep.Server)
		v := productView{Product: prod}
		v.SeatsChart, v.Counters = poolCharts(prod, pool)
		v.Trend, v.DenialsChart = trendCharts(prod, history)
		p.Products = append(p.Products, v)
	}
	for _, j := range rep.ClockJumps {
		shift := (time.Duration(j.Seconds) * time.Second).String()
		if j.Seconds > 0 {
			shift = "forward " + shift
		} else {
			shift = "back " + (time.Duration(-j.Seconds) * time.Second).String()
		}
		p.ClockJumps = append(p.ClockJumps, jumpView{At: time.Unix(j.At, 0).UTC(), Shift: shift})
	}
	s.render(w, http.StatusOK, "report", p)
}

// poolCharts draws one report's use of a pool: its seats against the
// pool's size, and each feature's seats and each consumption counter
// against its cap (from the pool license the desk issued; without it,
// against the largest value).
func poolCharts(p usage.Product, pool *response.Pool) (seats, counters template.HTML) {
	n := float64(p.Seats)
	borrowCap := n
	if pool != nil && pool.BorrowMax > 0 {
		borrowCap = float64(pool.BorrowMax)
	}
	seats = chart.Bars(fmt.Sprintf("Seats of %s in use, of %d", p.Product, p.Seats),
		chart.Bar{Label: "peak in use", Value: float64(p.Usage.Peak), Cap: n},
		chart.Bar{Label: "average in use", Value: p.Usage.Average(), Cap: n},
		chart.Bar{Label: "most borrowed", Value: float64(p.Usage.Borrowed), Cap: borrowCap},
	)
	var bars []chart.Bar
	if pool != nil && pool.Consumption != nil || p.Usage.Consumed > 0 {
		bars = append(bars, chart.Bar{Label: "consumed", Value: float64(p.Usage.Consumed), Cap: allowance(pool, "")})
	}
	for _, f := range p.Features {
		seatCap := 0.0
		if pool != nil {
			seatCap = float64(pool.FeatureSeats[f.Name])
		}
		bars = append(bars, chart.Bar{Label: f.Name + ": peak seats", Value: float64(f.Usage.Peak), Cap: seatCap})
		if c := allowance(pool, f.Name); c > 0 || f.Usage.Consumed > 0 {
			bars = append(bars, chart.Bar{Label: f.Name + ": consumed", Value: float64(f.Usage.Consumed), Cap: c})
		}
	}
	if len(bars) > 0 {
		counters = chart.Bars("Features and counters of "+p.Product+" against their caps", bars...)
	}
	return seats, counters
}

// allowance is a consumption counter's cap: the product's ("") or a
// feature's; 0 when there is none.
func allowance(pool *response.Pool, feature string) float64 {
	if pool == nil {
		return 0
	}
	if feature == "" {
		if pool.Consumption == nil {
			return 0
		}
		return float64(pool.Consumption.Max)
	}
	if a, ok := pool.FeatureConsumption[feature]; ok {
		return float64(a.Max)
	}
	return 0
}

// trendCharts draws the server's reports for one pool over time: peak and
// average seats in use, and denials, one point a report at its end.
func trendCharts(p usage.Product, history []*usage.Report) (seats, denials template.HTML) {
	peak := chart.Series{Name: "peak in use"}
	avg := chart.Series{Name: "average in use"}
	den := chart.Series{Name: "denials"}
	for _, h := range history {
		for _, q := range h.Products {
			if q.LicenseKey != p.LicenseKey || q.Product != p.Product {
				continue
			}
			at := h.ToTime()
			peak.Points = append(peak.Points, chart.Point{At: at, V: float64(q.Usage.Peak)})
			avg.Points = append(avg.Points, chart.Point{At: at, V: q.Usage.Average()})
			den.Points = append(den.Points, chart.Point{At: at, V: float64(q.Usage.Denials)})
		}
	}
	for _, s := range []*chart.Series{&peak, &avg, &den} {
		sort.SliceStable(s.Points, func(i, j int) bool { return s.Points[i].At.Before(s.Points[j].At) })
	}
	seats = chart.Line(fmt.Sprintf("Seats of %s in use, report by report", p.Product), "seats", peak, avg)
	denials = chart.Line(fmt.Sprintf("Denials of %s (no seat free), report by report", p.Product), "denials", den)
	return seats, denials
}
