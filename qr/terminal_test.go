package qr

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/png"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/airlock-offline/airlock/internal/armor"
)

// screen simulates a terminal showing text: each character cell is cw
// pixels wide and 2·cw high (a half block is then a square module), the
// foreground colour is fg and the background bg, around the text is a
// margin of bg cells.
func screen(t *testing.T, text string, cw int, fg, bg uint8, margin int) *image.Gray {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	cols := utf8.RuneCountInString(lines[0])
	img := image.NewGray(image.Rect(0, 0, (cols+2*margin)*cw, (len(lines)+2*margin)*2*cw))
	for i := range img.Pix {
		img.Pix[i] = bg
	}
	for row, line := range lines {
		if n := utf8.RuneCountInString(line); n != cols {
			t.Fatalf("line %d has %d columns, line 1 has %d", row+1, n, cols)
		}
		col := 0
		for _, r := range line {
			var top, bottom bool // drawn in the foreground colour
			switch string(r) {
			case blockFull:
				top, bottom = true, true
			case blockUpper:
				top = true
			case blockLower:
				bottom = true
			case blockNone:
			default:
				t.Fatalf("line %d column %d: unexpected character %q", row+1, col+1, r)
			}
			x0, y0 := (col+margin)*cw, (row+margin)*2*cw
			for dy := range 2 * cw {
				on := top
				if dy >= cw {
					on = bottom
				}
				if on {
					for dx := range cw {
						img.Pix[img.PixOffset(x0+dx, y0+dy)] = fg
					}
				}
			}
			col++
		}
	}
	return img
}

func TestTerminal(t *testing.T) {
	req, _ := typical(t, false)
	codes, err := Plan(armor.Request, req.Bytes, Options{})
	if err != nil {
		t.Fatal(err)
	}
	small := Code{Text: "AR1" + strings.Repeat("AB", 20), Level: LevelQ}
	var images []extImage
	for _, c := range []Code{small, codes[0]} {
		text := c.Terminal()
		m, err := c.modules()
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
		if len(lines) != (len(m)+1)/2 || utf8.RuneCountInString(lines[0]) != len(m) {
			t.Fatalf("%d lines of %d columns for %d modules", len(lines), utf8.RuneCountInString(lines[0]), len(m))
		}
		if cols, rows := c.TerminalSize(); cols != len(m) || rows != len(lines) {
			t.Errorf("TerminalSize = %d, %d; Terminal has %d columns, %d lines", cols, rows, len(m), len(lines))
		}
		t.Logf("version %d-%s: %d columns × %d lines", len(m)/4-6, c.Level, len(m), len(lines))

		// Pixel for pixel, the drawn (light) parts are exactly the light
		// modules and the quiet zone.
		const cw = 4
		dark := screen(t, text, cw, 230, 20, 0)
		for y := range m {
			for x := range m[y] {
				light := dark.Pix[dark.PixOffset(x*cw, y*cw)] == 230
				if light == m[y][x] {
					t.Fatalf("module %d,%d: terminal shows light=%v, module dark=%v", x, y, light, m[y][x])
				}
			}
		}

		// A dark-background terminal, with more dark terminal around.
		img := screen(t, text, cw, 230, 20, 6)
		var b bytes.Buffer
		if err := png.Encode(&b, img); err != nil {
			t.Fatal(err)
		}
		g := toGray(img)
		if res, how := decodeGray(g); len(res) != 1 || res[0].GetText() != c.Text {
			t.Errorf("version %d: dark terminal rendering does not decode", c.Version)
		} else if strings.Contains(how, "inverted") {
			t.Errorf("dark terminal rendering decoded only inverted (%s)", how)
		} else {
			t.Logf("dark terminal: decoded (%s)", how)
		}
		images = append(images, extImage{name: fmt.Sprintf("terminal v%d", c.Version), text: c.Text, level: c.Level.String(), data: b.Bytes()})

		// TerminalANSI: the same characters, every line in white on black.
		ansi := c.TerminalANSI()
		var plain strings.Builder
		for _, line := range strings.SplitAfter(ansi, "\n") {
			if line == "" {
				continue
			}
			if !strings.HasPrefix(line, "\x1b[97;40m") || !strings.HasSuffix(line, "\x1b[0m\n") {
				t.Fatalf("ANSI line %q", line)
			}
			plain.WriteString(strings.TrimSuffix(strings.TrimPrefix(line, "\x1b[97;40m"), "\x1b[0m\n") + "\n")
		}
		if plain.String() != text {
			t.Error("TerminalANSI without escapes differs from Terminal")
		}

		// On a light-background terminal Terminal shows the code inverted;
		// DecodeImage still reads that (phones may not: use TerminalANSI).
		light := toGray(screen(t, text, cw, 20, 235, 6))
		if res, how := decodeGray(light); len(res) != 1 || res[0].GetText() != c.Text {
			t.Errorf("light terminal rendering does not decode")
		} else {
			t.Logf("light terminal (inverted code): decoded (%s)", how)
		}
	}
	if (Code{}).Terminal() != "" {
		t.Error("invalid code rendered")
	}
	// What a phone sees of a dark terminal, read by zbar and ZXing-C++.
	runExternal(t, images)
}

// TestKeyboardWedge simulates a USB scanner typing part lines into a
// terminal: any case (Caps Lock), CR, LF or CRLF suffixes, stray spaces and
// tabs, parts in any order, a part scanned twice.
func TestKeyboardWedge(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	payload := randomPayload(r, 1300)
	codes, err := Plan(armor.License, payload, Options{})
	if err != nil || len(codes) != 3 {
		t.Fatalf("Plan: %d codes, %v", len(codes), err)
	}
	mangle := func(s string, how int) string {
		switch how % 4 {
		case 0:
			s = strings.ToLower(s)
		case 1: // Caps Lock on a mixed-case source: random case
			b := []byte(s)
			for i := range b {
				if r.IntN(2) == 0 && b[i] >= 'A' && b[i] <= 'Z' {
					b[i] += 'a' - 'A'
				}
			}
			s = string(b)
		}
		for range 1 + r.IntN(4) { // stray spaces and tabs
			i := r.IntN(len(s) + 1)
			s = s[:i] + []string{" ", "  ", "\t"}[r.IntN(3)] + s[i:]
		}
		return s + []string{"\r\n", "\n", "\r", ""}[how%4]
	}

	for trial := range 8 {
		var a armor.Assembler
		order := r.Perm(len(codes))
		order = append(order, order[0]) // the first part scanned again
		for i, idx := range order {
			line := mangle(codes[idx].Text, trial+i)
			st, err := a.Add([]byte(line))
			if err != nil {
				t.Fatalf("trial %d: part %d as %q: %v", trial, idx+1, line, err)
			}
			if st.Total != len(codes) || st.Kind != armor.License {
				t.Fatalf("status %+v", st)
			}
			if want := len(codes) - min(i+1, len(codes)); len(st.Missing) != want {
				t.Fatalf("after %d scans %d missing, want %d", i+1, len(st.Missing), want)
			}
			if a.Done() != (i+1 >= len(codes)) {
				t.Fatalf("Done = %v after %d scans", a.Done(), i+1)
			}
		}
		k, p, err := a.Result()
		if err != nil || k != armor.License || !bytes.Equal(p, payload) {
			t.Fatalf("trial %d: Result = %v, %d bytes, %v", trial, k, len(p), err)
		}
	}

	// All parts pasted at once, CRLF line ends, lower case.
	var all strings.Builder
	for _, i := range []int{2, 0, 1} {
		all.WriteString(mangle(codes[i].Text, 0) + "\r\n")
	}
	if k, p, err := armor.Decode([]byte(all.String())); err != nil || k != armor.License || !bytes.Equal(p, payload) {
		t.Errorf("Decode of the pasted parts: %v", err)
	}

	// A whole single-code message, typed the same way.
	small, _ := Plan(armor.Request, payload[:200], Options{})
	var a armor.Assembler
	if _, err := a.Add([]byte(mangle(small[0].Text, 1) + "\r\n")); err != nil || !a.Done() {
		t.Fatalf("single code: %v", err)
	}
	if _, p, err := a.Result(); err != nil || !bytes.Equal(p, payload[:200]) {
		t.Errorf("single code: %v", err)
	}

	// Mistakes are caught: a part of another message, a dropped character.
	other, _ := Plan(armor.License, randomPayload(r, 1300), Options{})
	var b armor.Assembler
	if _, err := b.Add([]byte(codes[0].Text)); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Add([]byte(other[1].Text)); err == nil {
		t.Error("a part of another message was accepted")
	}
	damaged := codes[1].Text[:100] + codes[1].Text[101:]
	b.Add([]byte(damaged))
	b.Add([]byte(codes[2].Text))
	if _, _, err := b.Result(); err == nil {
		t.Error("a part with a dropped character was accepted")
	}
}

// TestTerminalVersion: the largest code that fits a terminal with a status
// line. An 80×24 console takes version 6 with a 2-module quiet zone; the
// version comes first, the border second.
func TestTerminalVersion(t *testing.T) {
	for _, c := range []struct{ cols, lines, v, q int }{
		{80, 24, 6, 2},
		{80, 25, 6, 3},
		{80, 26, 7, 2}, // a larger code rather than a wider border
		{82, 27, 7, 3},
		{100, 40, 14, 2},
		{85, 44, 16, 2},
		{85, 45, 16, 2},
		{200, 60, 24, 2},
		{20, 10, 0, 0},
	} {
		v, q := TerminalVersion(c.cols, c.lines)
		if v != c.v || q != c.q {
			t.Errorf("%dx%d: version %d quiet %d, want %d and %d", c.cols, c.lines, v, q, c.v, c.q)
			continue
		}
		if v == 0 {
			continue
		}
		code := Code{Text: "AL1ABCDEFG", Version: v, Quiet: q}
		lines := strings.Split(strings.TrimSuffix(code.Terminal(), "\n"), "\n")
		cols, rows := code.TerminalSize()
		if utf8.RuneCountInString(lines[0]) != cols || len(lines) != rows || cols > c.cols || rows+1 > c.lines {
			t.Errorf("%dx%d: drawn %dx%d, TerminalSize %dx%d", c.cols, c.lines, utf8.RuneCountInString(lines[0]), len(lines), cols, rows)
		}
	}
	// A message too large for 6 codes on the terminal says so.
	_, err := PlanTerminal(armor.License, make([]byte, 1000), Options{}, 80, 24)
	var te *TerminalError
	if !errors.As(err, &te) || !strings.Contains(err.Error(), "more than 6 codes of version 6, the largest that fits this 80x24 terminal") {
		t.Errorf("PlanTerminal: %v", err)
	}
	codes, err := PlanTerminal(armor.License, make([]byte, 400), Options{}, 80, 24)
	if err != nil || len(codes) != 5 || codes[0].Version != 6 || codes[0].Quiet != 2 {
		t.Errorf("a typical license on 80x24: %d codes, %v", len(codes), err)
	}
}
