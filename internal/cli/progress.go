package cli

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Progress draws a one-line progress bar per phase on a terminal, with the
// rate and the time left (as pv and cargo do); on anything else it stays
// silent (logs get the summary instead).
type Progress struct {
	w     io.Writer
	label string
	tty   bool
	start time.Time
	last  time.Time
	drawn bool
	// now is the clock; tests set it.
	now func() time.Time
}

// NewProgress returns a progress bar writing to w, for a first phase
// named label.
func NewProgress(w io.Writer, label string) *Progress {
	p := &Progress{w: w, tty: IsTerminal(w), now: time.Now}
	p.Phase(label)
	return p
}

// Phase ends the current phase's line, if drawn, and starts another.
func (p *Progress) Phase(label string) {
	p.Done()
	p.label, p.drawn = label, false
	p.start = p.now()
	p.last = time.Time{}
}

// Update redraws the bar, at most ten times a second, and always at the
// end of the phase (done == total).
func (p *Progress) Update(done, total int) {
	if !p.tty {
		return
	}
	now := p.now()
	if done < total && now.Sub(p.last) < 100*time.Millisecond {
		return
	}
	p.last = now
	fmt.Fprint(p.w, "\r"+p.line(done, total, now.Sub(p.start))+"\x1b[K")
	p.drawn = true
}

// line is the bar for done of total after elapsed.
func (p *Progress) line(done, total int, elapsed time.Duration) string {
	const width = 30
	n := width * done / max(total, 1)
	s := fmt.Sprintf("%-24s [%s%s] %d/%d", p.label, strings.Repeat("#", n), strings.Repeat(" ", width-n), done, total)
	secs := elapsed.Seconds()
	switch {
	case done >= total:
		s += fmt.Sprintf("  %s", fmtDuration(elapsed))
		if total > 1 && secs > 0 {
			s += fmt.Sprintf("  %.0f/s", float64(done)/secs)
		}
	case done > 0 && secs > 0:
		rate := float64(done) / secs
		left := time.Duration(float64(total-done) / rate * float64(time.Second))
		s += fmt.Sprintf("  %.0f/s  %s left", rate, fmtDuration(left))
	default:
		s += fmt.Sprintf("  %s", fmtDuration(elapsed))
	}
	return s
}

func fmtDuration(d time.Duration) string {
	if d < 10*time.Second {
		return fmt.Sprintf("%.1f s", d.Seconds())
	}
	return d.Round(time.Second).String()
}

// Done ends the bar's line.
func (p *Progress) Done() {
	if p.drawn {
		fmt.Fprintln(p.w)
		p.drawn = false
	}
}
