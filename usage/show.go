package usage

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// WriteText writes the report for a person to read: what the server will
// tell the vendor, before it leaves.
func (s *Signed) WriteText(w io.Writer) error {
	r := s.Report
	var b strings.Builder
	day := func(t int64) string { return time.Unix(t, 0).UTC().Format(time.RFC3339) }
	fmt.Fprintf(&b, "usage report %d of server %s\n", r.Seq, r.ServerID())
	fmt.Fprintf(&b, "period:        %s to %s (%s)\n", day(r.From), day(r.To), time.Duration(r.To-r.From)*time.Second)
	fmt.Fprintf(&b, "follows:       %x\n", r.Prev)
	fmt.Fprintf(&b, "hash:          %x\n", s.Hash)
	if r.Pseudonymised {
		fmt.Fprintf(&b, "pseudonymised: yes (host names and installations are keyed hashes; the key stays on the server)\n")
	}
	for _, p := range r.Products {
		fmt.Fprintf(&b, "\nproduct %s (license %s, %d seats)\n", p.Product, p.LicenseKey, p.Seats)
		writeUsage(&b, "  ", p.Usage)
		for _, f := range p.Features {
			fmt.Fprintf(&b, "  feature %s\n", f.Name)
			writeUsage(&b, "    ", f.Usage)
		}
		if len(p.Events) > 0 {
			fmt.Fprintf(&b, "  events:")
			for i, e := range p.Events {
				sep := ","
				if i == 0 {
					sep = ""
				}
				fmt.Fprintf(&b, "%s %s %d", sep, e.Kind, e.Count)
			}
			b.WriteByte('\n')
		}
		if len(p.Holders) > 0 {
			fmt.Fprintf(&b, "  holders:\n")
			for _, h := range p.Holders {
				host := h.Host
				if host == "" {
					host = "-"
				}
				fmt.Fprintf(&b, "    %-24s %-20s %d grant(s)\n", host, h.Installation, h.Grants)
			}
		}
	}
	if len(r.Events) > 0 {
		fmt.Fprintf(&b, "\nevents:\n")
		for _, e := range r.Events {
			fmt.Fprintf(&b, "  %-20s %d\n", e.Kind, e.Count)
		}
		for _, e := range r.Listed {
			fmt.Fprintf(&b, "  %s %s %s %s\n", day(e.At), e.Kind, e.Product, e.Detail)
		}
	}
	if len(r.ClockJumps) > 0 {
		fmt.Fprintf(&b, "\nclock jumps:\n")
		for _, j := range r.ClockJumps {
			dir := "forward"
			if j.Seconds < 0 {
				dir = "back"
			}
			fmt.Fprintf(&b, "  %s %s %s\n", day(j.At), dir, time.Duration(abs(j.Seconds))*time.Second)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeUsage(b *strings.Builder, ind string, u Usage) {
	fmt.Fprintf(b, "%speak %d seats, average %.3f", ind, u.Peak, u.Average())
	if u.Borrowed > 0 {
		fmt.Fprintf(b, ", borrowed up to %d", u.Borrowed)
	}
	fmt.Fprintf(b, "; denials %d; consumed %d", u.Denials, u.Consumed)
	if u.OverageUsed > 0 {
		fmt.Fprintf(b, " (overage used %d)", u.OverageUsed)
	}
	b.WriteByte('\n')
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}
