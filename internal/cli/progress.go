package cli

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Progress draws a one-line progress bar on a terminal; on anything else it
// stays silent (logs get the summary instead).
type Progress struct {
	w     io.Writer
	label string
	tty   bool
	last  time.Time
	drawn bool
}

// NewProgress returns a progress bar writing to w.
func NewProgress(w io.Writer, label string) *Progress {
	return &Progress{w: w, label: label, tty: IsTerminal(w)}
}

// Update redraws the bar, at most ten times a second.
func (p *Progress) Update(done, total int) {
	if !p.tty || (done < total && time.Since(p.last) < 100*time.Millisecond) {
		return
	}
	p.last = time.Now()
	const width = 30
	n := width * done / max(total, 1)
	fmt.Fprintf(p.w, "\r%s [%s%s] %d/%d", p.label, strings.Repeat("#", n), strings.Repeat(" ", width-n), done, total)
	p.drawn = true
}

// Done ends the bar's line.
func (p *Progress) Done() {
	if p.drawn {
		fmt.Fprintln(p.w)
	}
}
