// Package qr turns airlock messages into QR codes and reads them back from
// images.
//
// # What a code carries
//
// A QR code carries exactly the text form of a message (see package
// internal/armor): a tag such as "AR1" followed by upper-case base32. Every
// character is in the QR alphanumeric set, so the encoder uses alphanumeric
// mode (5.5 bits a character) and any reader, including a USB barcode scanner
// typing into a terminal, gets back the same text.
//
// # Size
//
// [Plan] puts a message into as few codes as it can, at most
// [armor.MaxParts] (6) codes of one version each, never above a version cap: by
// default version 15 for requests and receipts (what a webcam reads
// comfortably) and 20 for licenses. A message larger than one code is split
// with [armor.Split] into parts that may be scanned in any order. No code
// holds more than [armor.MaxPartText] characters, one terminal line for a
// keyboard-wedge scanner.
//
// A typical request (327 bytes, 527 characters) needs version 14 at level M,
// a typical license (398 bytes) version 16; see TestSizeBudget.
//
// # Rendering
//
// [Code.PNG] draws black modules on white with the 4-module quiet zone and
// a whole number of pixels per module. [Code.Terminal] draws the code with
// Unicode half blocks for a dark-background terminal: light modules are
// drawn, dark modules are left as the terminal's background;
// [Code.TerminalANSI] sets the colours itself for any terminal. A version 15
// code takes 85 columns and 43 lines ([Code.TerminalSize]).
//
// # Reading
//
// [DecodeImage] reads a PNG or JPEG, a clean rendering or a photo of a
// screen, with the pure-Go decoder github.com/makiuchi-d/gozxing: first as
// a perfect rendering (PURE_BARCODE), then by detection (TRY_HARDER, several
// codes per image), then sampling the code through every alignment pattern
// it has (as zbar does: large codes in photos drift off a single
// perspective grid), then after enlarging, smoothing, local thresholding or
// inverting the image. Every code in an image is read: while the codes
// found are parts of a message with parts missing, they are blanked out
// and the image is searched again, so one photo or screenshot of all the
// parts is enough. A large photo (over 1600 pixels a side) first has to
// show three finder-pattern-like places at a scale where a code would be
// readable; a 12-megapixel photo without a code is thus turned down in a
// fraction of a second. The images in testdata/, with the texts they hold,
// are test vectors for any decoder.
//
// # Terminals
//
// [PlanTerminal] plans codes that each fit a terminal with a status line
// ([TerminalVersion]: an 80×24 console takes version 6), for showing a
// message one code at a time.
package qr

import (
	"errors"
	"fmt"
	"strings"

	"github.com/airlock-offline/airlock/internal/armor"
	qrcode "github.com/skip2/go-qrcode"
)

// Level is the error-correction level of a code.
type Level int

// Error-correction levels. M (15% recovery) is for screens, Q (25%) for
// print.
const (
	LevelM Level = iota
	LevelQ
)

func (l Level) String() string {
	switch l {
	case LevelM:
		return "M"
	case LevelQ:
		return "Q"
	}
	return fmt.Sprintf("Level(%d)", int(l))
}

// ParseLevel parses "M" or "Q", in either case.
func ParseLevel(s string) (Level, error) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "M":
		return LevelM, nil
	case "Q":
		return LevelQ, nil
	}
	return 0, fmt.Errorf("qr: unknown error-correction level %q (want M or Q)", s)
}

// MarshalText implements encoding.TextMarshaler.
func (l Level) MarshalText() ([]byte, error) {
	if !l.valid() {
		return nil, fmt.Errorf("qr: invalid level %d", int(l))
	}
	return []byte(l.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (l *Level) UnmarshalText(b []byte) error {
	v, err := ParseLevel(string(b))
	if err != nil {
		return err
	}
	*l = v
	return nil
}

func (l Level) valid() bool { return l == LevelM || l == LevelQ }

func (l Level) recovery() qrcode.RecoveryLevel {
	if l == LevelQ {
		return qrcode.High // skip2's High is ISO level Q (25%)
	}
	return qrcode.Medium
}

// Limits and defaults.
const (
	// DefaultPixelsPerModule is the PNG scale when Options.PixelsPerModule
	// is 0.
	DefaultPixelsPerModule = 8
	// MaxPixelsPerModule keeps the largest PNG (version 40) within
	// MaxImageSide, so that DecodeImage reads every image PNG writes.
	MaxPixelsPerModule = 40
	// QuietZone is the light border around every code, in modules.
	QuietZone = 4
	// MaxVersion is the largest QR version.
	MaxVersion = 40
	// DefaultMaxVersionRequest is the default cap for requests and
	// receipts: codes a 720p webcam reads comfortably.
	DefaultMaxVersionRequest = 15
	// DefaultMaxVersionLicense is the default cap for licenses.
	DefaultMaxVersionLicense = 20
)

// Options control planning and rendering. The zero value is ready to use.
type Options struct {
	Level           Level // default LevelM
	PixelsPerModule int   // default 8; must be >= 1
	MaxVersion      int   // largest version one code may use; 0 means the default for the kind (see Plan)
}

func (o Options) pixels() (int, error) {
	switch {
	case o.PixelsPerModule == 0:
		return DefaultPixelsPerModule, nil
	case o.PixelsPerModule < 1 || o.PixelsPerModule > MaxPixelsPerModule:
		return 0, fmt.Errorf("qr: pixels per module must be between 1 and %d, not %d", MaxPixelsPerModule, o.PixelsPerModule)
	}
	return o.PixelsPerModule, nil
}

// DefaultMaxVersion returns the version cap Plan uses for k when
// Options.MaxVersion is 0: 15 for requests and receipts, 20 for licenses
// and 40 for anything else.
func DefaultMaxVersion(k armor.Kind) int {
	switch k {
	case armor.Request, armor.Receipt:
		return DefaultMaxVersionRequest
	case armor.License:
		return DefaultMaxVersionLicense
	}
	return MaxVersion
}

// Code is one QR code ready to render.
type Code struct {
	Text    string // exactly what the code carries: a text form or one part
	Version int    // 1..40; 0 means the smallest version Text fits
	Level   Level
	// Quiet is the light border drawn around the code, in modules: 0
	// means QuietZone (4), the standard's; PlanTerminal sets 2 when that
	// lets a larger code fit the terminal.
	Quiet int
}

// SizeError reports a message too large for the codes Plan may use.
type SizeError struct {
	Kind       armor.Kind
	Bytes      int // binary payload
	Chars      int // text form
	MaxVersion int
	Level      Level
	// Max is the largest payload, in bytes, that fits these codes: the
	// real limit, to tell the user.
	Max int
}

func (e *SizeError) Error() string {
	return fmt.Sprintf("qr: %s of %d bytes is too large for QR codes: at most %d bytes fit in %d codes of version %d or less at level %s (and %d characters a code)",
		e.Kind, e.Bytes, e.Max, armor.MaxParts, e.MaxVersion, e.Level, armor.MaxPartText)
}

// Plan splits an armored message into as few codes as possible: 1 to
// armor.MaxParts codes, all of the same version, none above the version cap
// and none longer than armor.MaxPartText characters (one terminal line for a
// keyboard-wedge scanner), whether it is a part or a whole message.
//
// The cap is opt.MaxVersion if set (1..40). If it is 0 the cap is
// DefaultMaxVersion(k) and, should the message not fit 4 codes under it,
// Plan uses the smallest version above it that fits 4 codes or fewer, rather
// than fail: the default is a preference, an explicit cap is a limit.
//
// A message that cannot fit returns a *SizeError naming its size and the
// largest that fits.
func Plan(k armor.Kind, payload []byte, opt Options) ([]Code, error) {
	codes, err := plan(k, payload, opt)
	var se *SizeError
	if errors.As(err, &se) {
		// The real limit: the largest payload these codes hold.
		o := opt
		o.MaxVersion = se.MaxVersion
		lo, hi := 0, min(len(payload), armor.MaxPayload+1)
		for hi-lo > 1 {
			mid := (lo + hi) / 2
			if _, err := plan(k, make([]byte, mid), o); err == nil {
				lo = mid
			} else {
				hi = mid
			}
		}
		se.Max = lo
	}
	return codes, err
}

func plan(k armor.Kind, payload []byte, opt Options) ([]Code, error) {
	if k.Tag() == "" {
		return nil, fmt.Errorf("qr: unknown message kind %d", int(k))
	}
	if len(payload) == 0 {
		return nil, errors.New("qr: empty message")
	}
	if !opt.Level.valid() {
		return nil, fmt.Errorf("qr: invalid level %d", int(opt.Level))
	}
	if _, err := opt.pixels(); err != nil {
		return nil, err
	}
	limit, grow := opt.MaxVersion, false
	switch {
	case limit == 0:
		limit, grow = DefaultMaxVersion(k), true
	case limit < 1 || limit > MaxVersion:
		return nil, fmt.Errorf("qr: maximum version must be between 1 and %d, not %d", MaxVersion, opt.MaxVersion)
	}
	tooLarge := &SizeError{Kind: k, Bytes: len(payload), Chars: len(armor.Text(k, payload)), MaxVersion: limit, Level: opt.Level}
	if grow {
		tooLarge.MaxVersion = MaxVersion
	}
	if len(payload) > armor.MaxPayload {
		return nil, tooLarge
	}

	// versions[n-1] is the version n parts need (0: they cannot be made).
	var versions [armor.MaxParts]int
	var splits [armor.MaxParts][]string
	for n := 1; n <= armor.MaxParts; n++ {
		parts := []string{armor.Text(k, payload)} // a message that fits one code is sent whole
		if n > 1 {
			var err error
			if parts, err = armor.Split(k, payload, n); err != nil {
				continue // too short for n parts, a part too long, or a kind never split
			}
		}
		v := 0
		for _, p := range parts {
			pv, err := Version(p, opt.Level)
			if err != nil || len(p) > armor.MaxPartText {
				v = 0
				break
			}
			v = max(v, pv)
		}
		versions[n-1], splits[n-1] = v, parts
	}
	best := -1
	for i, v := range versions { // fewest codes within the cap
		if v > 0 && v <= limit {
			best = i
			break
		}
	}
	if best < 0 && grow { // smallest version, then fewest codes
		for i, v := range versions {
			if v > 0 && (best < 0 || v < versions[best]) {
				best = i
			}
		}
	}
	if best < 0 {
		return nil, tooLarge
	}
	codes := make([]Code, len(splits[best]))
	for i, p := range splits[best] {
		codes[i] = Code{Text: p, Version: versions[best], Level: opt.Level}
	}
	return codes, nil
}

// PlanText is Plan for a message in any text presentation that
// armor.Decode accepts (armored file, bare text form, scanner-typed).
func PlanText(text []byte, opt Options) ([]Code, error) {
	k, payload, err := armor.Decode(text)
	if err != nil {
		return nil, fmt.Errorf("qr: %w", err)
	}
	return Plan(k, payload, opt)
}

// Version returns the smallest QR version that holds text in one code at
// level l.
func Version(text string, l Level) (int, error) {
	if !l.valid() {
		return 0, fmt.Errorf("qr: invalid level %d", int(l))
	}
	q, err := qrcode.New(text, l.recovery())
	if err != nil {
		return 0, fmt.Errorf("qr: %d characters do not fit one QR code at level %s", len(text), l)
	}
	return q.VersionNumber, nil
}

// Budget returns the QR version a request and a license need at level M in
// one code each, for reports. Each text may be the text form or any
// presentation armor.Decode accepts; a text that fits no single code gives
// 0.
func Budget(reqText, licText string) (reqVersion, licVersion int) {
	return budget(reqText), budget(licText)
}

func budget(text string) int {
	if k, p, err := armor.Decode([]byte(text)); err == nil {
		text = armor.Text(k, p)
	}
	v, err := Version(strings.TrimSpace(text), LevelM)
	if err != nil {
		return 0
	}
	return v
}
