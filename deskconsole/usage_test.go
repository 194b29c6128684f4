package deskconsole

import (
	"context"
	"encoding/xml"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/internal/armor"
	"github.com/airlock-offline/airlock/internal/chart"
	"github.com/airlock-offline/airlock/internal/testrig/testkeys"
	"github.com/airlock-offline/airlock/response"
	"github.com/airlock-offline/airlock/usage"
)

// svgRect is a bar of chart.Bars; svgCircle a point of chart.Line.
type svgRect struct {
	Class string  `xml:"class,attr"`
	Label string  `xml:"data-label,attr"`
	Value string  `xml:"data-value,attr"`
	Cap   string  `xml:"data-cap,attr"`
	Width float64 `xml:"width,attr"`
}

type svgCircle struct {
	At string `xml:"data-at,attr"`
	V  string `xml:"data-v,attr"`
}

type svgDoc struct {
	Title   string      `xml:"title"`
	Rects   []svgRect   `xml:"rect"`
	Series  []svgSeries `xml:"g"`
	Circles []svgCircle `xml:"circle"`
}

type svgSeries struct {
	Name    string      `xml:"data-series,attr"`
	Circles []svgCircle `xml:"circle"`
}

// charts parses the page's SVG charts by title.
func charts(t *testing.T, body string) map[string]svgDoc {
	t.Helper()
	out := map[string]svgDoc{}
	for _, svg := range regexp.MustCompile(`(?s)<svg .*?</svg>`).FindAllString(body, -1) {
		var d svgDoc
		if err := xml.Unmarshal([]byte(svg), &d); err != nil {
			t.Fatalf("a chart is not XML: %v\n%s", err, svg)
		}
		out[d.Title] = d
	}
	return out
}

// bar finds a bar by label and checks its numbers and its length against
// value and cap.
func checkBar(t *testing.T, d svgDoc, label string, value, cap float64) {
	t.Helper()
	for _, r := range d.Rects {
		if r.Label != label {
			continue
		}
		v, _ := strconv.ParseFloat(r.Value, 64)
		c, _ := strconv.ParseFloat(r.Cap, 64)
		if v != value || c != cap {
			t.Errorf("%s / %s: drawn as %v of %v, the report says %v of %v", d.Title, label, v, c, value, cap)
		}
		if cap > 0 {
			if want := math.Min(value/cap, 1) * chart.BarWidth; math.Abs(r.Width-want) > 0.5 {
				t.Errorf("%s / %s: bar %.1f long, want %.1f", d.Title, label, r.Width, want)
			}
		}
		return
	}
	t.Errorf("%s: no bar %q", d.Title, label)
}

// A floating server's usage reports, imported into the console, are
// drawn as charts whose numbers and bar lengths are the report's and the
// pool license's; a second report extends the trend; a report out of the
// chain is flagged; a report of an unknown server is refused.
func TestUsageReportCharts(t *testing.T) {
	r := newRig(t)
	r.signIn()
	ctx := context.Background()
	key := r.addLicense(1)
	server := testkeys.Identity(crypto.RoleInstallation, "floating server")
	req := r.request(key, "server", server)
	b, _ := armor.DecodeKind([]byte(req), armor.Request)
	pool := &response.Pool{Seats: 5, LeaseTTL: 180, Heartbeat: 60, BorrowDays: 7, BorrowMax: 2,
		FeatureSeats: map[string]uint32{"render": 2}, FeatureConsumption: map[string]response.Allowance{"export": {Max: 100}}}
	if _, err := r.con.cfg.Desk.SignPool(ctx, b, pool); err != nil {
		t.Fatal(err)
	}

	report := func(seq uint64, prev []byte, peak uint32, avgMilli uint64, denials uint64, at time.Time) *usage.Signed {
		rep := &usage.Report{Seq: seq, Prev: prev, From: at.Add(-24 * time.Hour).Unix(), To: at.Unix(),
			Products: []usage.Product{{Product: product, LicenseKey: key, Seats: 5,
				Usage:    usage.Usage{Peak: peak, AverageMilli: avgMilli, Borrowed: 1, Denials: denials},
				Features: []usage.Feature{{Name: "render", Usage: usage.Usage{Peak: 2}}, {Name: "export", Usage: usage.Usage{Consumed: 40}}},
				Holders:  []usage.Holder{{Host: "cad-ws-07", Installation: "c1e6eb3b15c98198", Grants: 12}},
				Events:   []usage.EventCount{{Kind: "hwkey.present", Count: 2}, {Kind: "hwkey.missing", Count: 1}},
			}}}
		s, err := usage.Sign(server, rep)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	first := report(1, make([]byte, 32), 4, 2500, 3, t0.Add(-24*time.Hour))
	res, body := r.post("/usage/import", r.form("text", string(first.Text())))
	if res.StatusCode != http.StatusOK {
		t.Fatalf("import: %s\n%s", res.Status, text(body))
	}
	want(t, "the report page", body, "Imported report 1 of server", "the first report of this server", "cad-ws-07", "Denied 3 time(s)",
		"Events of its hardware key: hwkey.present 2, hwkey.missing 1.")
	c := charts(t, body)
	seats := c["Seats of "+product+" in use, of 5"]
	checkBar(t, seats, "peak in use", 4, 5)
	checkBar(t, seats, "average in use", 2.5, 5)
	checkBar(t, seats, "most borrowed", 1, 2)
	counters := c["Features and counters of "+product+" against their caps"]
	checkBar(t, counters, "render: peak seats", 2, 2)
	checkBar(t, counters, "export: consumed", 40, 100)

	second := report(2, first.Hash[:], 5, 4200, 9, t0)
	_, body = r.post("/usage/import", r.form("text", string(second.Text())))
	want(t, "the second report's page", body, "follows the report before")
	trend := charts(t, body)["Seats of "+product+" in use, report by report"]
	var got []string
	for _, s := range trend.Series {
		for _, p := range s.Circles {
			got = append(got, s.Name+" "+p.At+" "+p.V)
		}
	}
	wantPoints := []string{
		"peak in use " + t0.Add(-24*time.Hour).Format(time.RFC3339) + " 4", "peak in use " + t0.Format(time.RFC3339) + " 5",
		"average in use " + t0.Add(-24*time.Hour).Format(time.RFC3339) + " 2.5", "average in use " + t0.Format(time.RFC3339) + " 4.2",
	}
	if strings.Join(got, "\n") != strings.Join(wantPoints, "\n") {
		t.Errorf("the trend chart's points:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantPoints, "\n"))
	}

	// A report 4 after report 2: reports are missing.
	gap := report(4, second.Hash[:], 1, 500, 0, t0.Add(48*time.Hour))
	_, body = r.post("/usage/import", r.form("text", string(gap.Text())))
	want(t, "a report after a gap", body, usage.FlagGap)
	_, list := r.get("/usage")
	want(t, "the report list", list, "Report 1", "Report 2", "Report 4", usage.FlagGap, "in order")

	// A report of a server the ledger does not know.
	stranger := testkeys.Identity(crypto.RoleInstallation, "someone else's server")
	s, err := usage.Sign(stranger, &usage.Report{Seq: 1, Prev: make([]byte, 32), From: t0.Unix() - 60, To: t0.Unix(),
		Products: []usage.Product{{Product: product, LicenseKey: key, Seats: 5}}})
	if err != nil {
		t.Fatal(err)
	}
	res, body = r.post("/usage/import", r.form("text", string(s.Text())))
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "LICENSE_UNKNOWN") {
		t.Fatalf("a stranger's report: %s\n%s", res.Status, text(body))
	}
}
