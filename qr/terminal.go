package qr

import (
	"errors"
	"fmt"

	"github.com/airlock-offline/airlock/internal/armor"
)

// MinQuiet is the narrowest quiet zone PlanTerminal draws: half the
// standard's, which every reader tested (zbar, ZXing-C++, gozxing) reads
// on a terminal's dark background.
const MinQuiet = 2

// TerminalVersion returns the largest version whose code, drawn by
// Terminal, fits a terminal of cols × lines with one line to spare for a
// status line, and the quiet zone to draw it with: the standard 4 modules
// if that still fits, else less, down to MinQuiet. An 80×24 console fits
// version 6 (45 columns, 23 lines, quiet zone 2). It returns 0, 0 when not
// even version 1 fits.
func TerminalVersion(cols, lines int) (version, quiet int) {
	for v := MaxVersion; v >= 1; v-- {
		for q := QuietZone; q >= MinQuiet; q-- {
			n := 17 + 4*v + 2*q
			if n <= cols && (n+1)/2 <= lines-1 {
				return v, q
			}
		}
	}
	return 0, 0
}

// TerminalError reports a message that needs more than armor.MaxParts codes
// to fit the terminal.
type TerminalError struct {
	Kind        armor.Kind
	Cols, Lines int
	Version     int // the largest version that fits the terminal
}

func (e *TerminalError) Error() string {
	if e.Version == 0 {
		return fmt.Sprintf("qr: a %dx%d terminal is too small for any QR code", e.Cols, e.Lines)
	}
	return fmt.Sprintf("qr: the %s needs more than %d codes of version %d, the largest that fits this %dx%d terminal", e.Kind, armor.MaxParts, e.Version, e.Cols, e.Lines)
}

// PlanTerminal is Plan for a terminal of cols × lines: every code, with its
// quiet zone and one status line, fits the terminal, so that it can be
// shown whole, one code at a time. The largest version that fits is the
// cap (or opt.MaxVersion, or the kind's default cap, if lower): a larger
// terminal gets fewer, larger codes. A message that needs more codes than
// armor.MaxParts returns a *TerminalError.
func PlanTerminal(k armor.Kind, payload []byte, opt Options, cols, lines int) ([]Code, error) {
	v, q := TerminalVersion(cols, lines)
	if v == 0 {
		return nil, &TerminalError{Kind: k, Cols: cols, Lines: lines}
	}
	limit := DefaultMaxVersion(k)
	if opt.MaxVersion != 0 {
		limit = opt.MaxVersion
	}
	if limit < v {
		v, q = limit, QuietZone
	}
	o := opt
	o.MaxVersion = v
	codes, err := plan(k, payload, o)
	if se := (*SizeError)(nil); errors.As(err, &se) {
		return nil, &TerminalError{Kind: k, Cols: cols, Lines: lines, Version: v}
	}
	if err != nil {
		return nil, err
	}
	for i := range codes {
		codes[i].Quiet = q
	}
	return codes, nil
}
