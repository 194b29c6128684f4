package qr

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"

	"github.com/airlock-offline/airlock/internal/atomicfile"
	qrcode "github.com/skip2/go-qrcode"
)

// modules returns the code's modules, quiet zone included: m[y][x] is true
// for a dark module.
func (c Code) modules() (m [][]bool, err error) {
	if c.Text == "" {
		return nil, errors.New("qr: empty code")
	}
	if !c.Level.valid() {
		return nil, fmt.Errorf("qr: invalid level %d", int(c.Level))
	}
	if c.Version < 0 || c.Version > MaxVersion {
		return nil, fmt.Errorf("qr: version must be between 1 and %d, not %d", MaxVersion, c.Version)
	}
	var q *qrcode.QRCode
	if c.Version == 0 {
		q, err = qrcode.New(c.Text, c.Level.recovery())
	} else {
		q, err = qrcode.NewWithForcedVersion(c.Text, c.Version, c.Level.recovery())
	}
	if err != nil {
		return nil, fmt.Errorf("qr: %d characters do not fit a version %d code at level %s", len(c.Text), c.Version, c.Level)
	}
	defer func() {
		if r := recover(); r != nil {
			m, err = nil, fmt.Errorf("qr: encoder failed: %v", r)
		}
	}()
	q.DisableBorder = false
	m = q.Bitmap()
	if want := 17 + 4*q.VersionNumber + 2*QuietZone; len(m) != want {
		return nil, fmt.Errorf("qr: encoder returned %d modules, want %d", len(m), want)
	}
	if cut := QuietZone - c.quiet(); cut > 0 {
		m = m[cut : len(m)-cut]
		for i := range m {
			m[i] = m[i][cut : len(m[i])-cut]
		}
	}
	return m, nil
}

// quiet returns the quiet zone the code is drawn with.
func (c Code) quiet() int {
	if c.Quiet <= 0 || c.Quiet > QuietZone {
		return QuietZone
	}
	return c.Quiet
}

// Image returns c as a black-on-white image with the quiet zone, each
// module opt.PixelsPerModule pixels square. c.Level and c.Version are used;
// opt.Level and opt.MaxVersion are not.
func (c Code) Image(opt Options) (*image.Paletted, error) {
	ppm, err := opt.pixels()
	if err != nil {
		return nil, err
	}
	m, err := c.modules()
	if err != nil {
		return nil, err
	}
	n := len(m) * ppm
	img := image.NewPaletted(image.Rect(0, 0, n, n), color.Palette{color.White, color.Black})
	for y, row := range m {
		for x, dark := range row {
			if !dark {
				continue
			}
			for dy := range ppm {
				off := img.PixOffset(x*ppm, y*ppm+dy)
				for dx := range ppm {
					img.Pix[off+dx] = 1
				}
			}
		}
	}
	return img, nil
}

// PNG renders c: black on white, 4-module quiet zone, opt.PixelsPerModule
// pixels per module (integer scaling). See Image.
func (c Code) PNG(opt Options) ([]byte, error) {
	img, err := c.Image(opt)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(&b, img); err != nil {
		return nil, fmt.Errorf("qr: %w", err)
	}
	return b.Bytes(), nil
}

// Half blocks: which halves of a character cell are drawn in the
// terminal's foreground colour.
const (
	blockFull  = "█"
	blockUpper = "▀"
	blockLower = "▄"
	blockNone  = " "
)

// Terminal renders c for a terminal with Unicode half blocks, two module
// rows per text row, with the 4-module quiet zone.
//
// It is drawn for the usual dark-background terminal: light modules and
// the quiet zone are drawn with block characters in the (light) foreground
// colour and dark modules are left blank, so that the terminal shows dark
// modules on a light field, which is what scanners expect. On a terminal
// with a light background use TerminalANSI. An invalid code gives "".
func (c Code) Terminal() string {
	return c.terminal("", "")
}

// TerminalANSI is Terminal with ANSI colours that set a bright white
// foreground and a black background on every line, so that the code reads
// the right way round whatever the terminal's colour scheme. Only for a
// terminal that understands ANSI escapes.
func (c Code) TerminalANSI() string {
	return c.terminal("\x1b[97;40m", "\x1b[0m")
}

// TerminalSize returns the columns and lines Terminal needs: a version 15
// code with its quiet zone takes 85 columns and 43 lines. An invalid code
// gives 0, 0.
func (c Code) TerminalSize() (cols, lines int) {
	v := c.Version
	if v == 0 {
		var err error
		if v, err = Version(c.Text, c.Level); err != nil {
			return 0, 0
		}
	}
	if v < 1 || v > MaxVersion {
		return 0, 0
	}
	n := 17 + 4*v + 2*c.quiet()
	return n, (n + 1) / 2
}

func (c Code) terminal(pre, post string) string {
	m, err := c.modules()
	if err != nil {
		return ""
	}
	var b strings.Builder
	b.Grow((len(m) + 1) / 2 * (len(m)*3 + len(pre) + len(post) + 1))
	for y := 0; y < len(m); y += 2 {
		b.WriteString(pre)
		for x := range m[y] {
			top := !m[y][x]
			bottom := y+1 < len(m) && !m[y+1][x] // past the last row: background
			switch {
			case top && bottom:
				b.WriteString(blockFull)
			case top:
				b.WriteString(blockUpper)
			case bottom:
				b.WriteString(blockLower)
			default:
				b.WriteString(blockNone)
			}
		}
		b.WriteString(post)
		b.WriteByte('\n')
	}
	return b.String()
}

// PartPath returns the file name WritePNGs uses for code i (0-based) of n:
// base itself when n is 1, else base with "-<i+1>of<n>" inserted before the
// extension ("license.png" becomes "license-2of3.png").
func PartPath(base string, i, n int) string {
	if n == 1 {
		return base
	}
	ext := filepath.Ext(base)
	return fmt.Sprintf("%s-%dof%d%s", strings.TrimSuffix(base, ext), i+1, n, ext)
}

// WritePNGs writes codes as PNG files and returns their paths (see
// PartPath). Each file is written atomically, through a temporary file in
// the same directory. Every image is rendered before the first file is
// written; if writing one fails, the files already written by this call are
// removed.
func WritePNGs(base string, codes []Code, opt Options) ([]string, error) {
	if len(codes) == 0 {
		return nil, errors.New("qr: no codes to write")
	}
	if base == "" {
		return nil, errors.New("qr: empty file name")
	}
	data := make([][]byte, len(codes))
	for i, c := range codes {
		var err error
		if data[i], err = c.PNG(opt); err != nil {
			return nil, err
		}
	}
	paths := make([]string, 0, len(codes))
	for i := range codes {
		p := PartPath(base, i, len(codes))
		if err := atomicfile.Write(p, data[i], 0o644); err != nil {
			for _, done := range paths {
				os.Remove(done)
			}
			return nil, fmt.Errorf("qr: cannot write %s: %w", p, err)
		}
		paths = append(paths, p)
	}
	return paths, nil
}
