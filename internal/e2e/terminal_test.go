package e2e

import (
	"bytes"
	"fmt"
	"image"
	"image/png"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// drawTerminal renders text as a terminal shows it: each cell 8×16 pixels,
// light foreground on a dark background, two cells of background around.
// Only the half blocks and space are expected.
func drawTerminal(t *testing.T, lines []string) []byte {
	t.Helper()
	const cw, ch, margin = 8, 16, 2
	cols := 0
	for _, l := range lines {
		cols = max(cols, utf8.RuneCountInString(l))
	}
	img := image.NewGray(image.Rect(0, 0, (cols+2*margin)*cw, (len(lines)+2*margin)*ch))
	for i := range img.Pix {
		img.Pix[i] = 20
	}
	for row, l := range lines {
		col := 0
		for _, r := range l {
			var top, bottom bool
			switch r {
			case '█':
				top, bottom = true, true
			case '▀':
				top = true
			case '▄':
				bottom = true
			case ' ':
			default:
				t.Fatalf("line %d: unexpected character %q", row+1, r)
			}
			for dy := range ch {
				if (dy < ch/2 && top) || (dy >= ch/2 && bottom) {
					for dx := range cw {
						img.Pix[img.PixOffset((col+margin)*cw+dx, (row+margin)*ch+dy)] = 230
					}
				}
			}
			col++
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// --qr-terminal fits the terminal: on an 80×24 console the license comes as
// a few small codes, each whole on one screen with its status line; a
// large terminal gets fewer, larger codes. What was drawn is decoded by
// zbarimg, and the parts read make the license.
func TestQRTerminalFits(t *testing.T) {
	t.Parallel()
	zbar, err := exec.LookPath("zbarimg")
	if err != nil {
		t.Skip("zbarimg is not installed (make test installs zbar-tools)")
	}
	e := newEnv(t).on(machineA.tree(t))
	desk, vk := initDesk(t, e)
	key := createLicense(t, e, desk, "--max-machines", "2", "--feature", "export=1", "--feature", "seats=25")
	for _, size := range []struct {
		cols, lines string
		minCodes    int
		maxCodes    int
	}{{"80", "24", 3, 6}, {"200", "60", 1, 1}} {
		t.Run(size.cols+"x"+size.lines, func(t *testing.T) {
			state := filepath.Join(t.TempDir(), "state")
			req := request(t, e, state, vk, key)
			o := e.with("COLUMNS", size.cols, "LINES", size.lines).vendor("--dir", desk, "sign", req, "-o", filepath.Join(t.TempDir(), "l.txt"), "--qr-terminal")
			expectOK(t, o)
			// Cut stdout into codes: "part i of N …" lines head each one.
			var blocks [][]string
			for _, l := range strings.Split(strings.TrimSuffix(o.stdout, "\n"), "\n") {
				if strings.HasPrefix(l, "part ") {
					blocks = append(blocks, nil)
					continue
				}
				if len(blocks) == 0 {
					blocks = append(blocks, nil)
				}
				blocks[len(blocks)-1] = append(blocks[len(blocks)-1], l)
			}
			if len(blocks) < size.minCodes || len(blocks) > size.maxCodes {
				t.Fatalf("%d codes, want %d to %d:\n%s", len(blocks), size.minCodes, size.maxCodes, o.stdout)
			}
			var scanned string
			for i, b := range blocks {
				cols := 0
				for _, l := range b {
					cols = max(cols, utf8.RuneCountInString(l))
				}
				if w, h := atoi(size.cols), atoi(size.lines); cols > w || len(b)+1 > h {
					t.Errorf("code %d is %d×%d characters: with its status line it does not fit %s×%s", i+1, cols, len(b), size.cols, size.lines)
				}
				f := filepath.Join(t.TempDir(), "screen.png")
				writeFile(t, f, drawTerminal(t, b))
				out, err := exec.Command(zbar, "--nodbus", "-q", "--raw", "-Sdisable", "-Sqrcode.enable", f).Output()
				if err != nil {
					t.Fatalf("zbarimg cannot read code %d of %d as drawn (%d×%d characters): %v", i+1, len(blocks), cols, len(b), err)
				}
				scanned += strings.TrimSpace(string(out)) + "\n"
				t.Logf("code %d of %d: %d×%d characters, read by zbarimg", i+1, len(blocks), cols, len(b))
			}
			o = e.run(airlockBin, []byte(scanned), "--state", state, "activate", "-i", "--vendor-key", vk)
			expectOK(t, o)
			verify(t, e, state, vk, "VALID", 0)
		})
	}
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = 10*n + int(c-'0')
	}
	return n
}

// On a terminal (a pseudo-terminal made by script(1)), --qr-terminal shows
// one code at a time with "part i of N — Enter for the next".
func TestQRTerminalOneAtATime(t *testing.T) {
	t.Parallel()
	scriptBin, err := exec.LookPath("script")
	if err != nil {
		t.Skip("script(1) is not installed (util-linux)")
	}
	e := newEnv(t).on(machineA.tree(t))
	desk, vk := initDesk(t, e)
	key := createLicense(t, e, desk, "--feature", "export=1", "--feature", "seats=25")
	req := request(t, e, filepath.Join(t.TempDir(), "state"), vk, key)
	quote := func(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
	cmd := quote(vendorBin) + " --dir " + quote(desk) + " sign " + quote(req) + " -o " + quote(filepath.Join(t.TempDir(), "l.txt")) + " --qr-terminal"
	// The pseudo-terminal has no size: $COLUMNS and $LINES give it one.
	o := e.with("COLUMNS", "80", "LINES", "24").runOpenAfter(scriptBin, "Enter for the next", "\n\n\n\n\n\n", "-qec", cmd, "/dev/null")
	expectOK(t, o)
	n := strings.Count(o.stdout, "\x1b[H\x1b[2J")
	if n < 4 {
		t.Fatalf("the screen was cleared %d times, want once a code and once at the end:\n%s", n, o)
	}
	for i := 1; i < n-1; i++ {
		expectContains(t, "stdout", o.stdout, fmt.Sprintf("part %d of %d — Enter for the next", i, n-1))
	}
	expectContains(t, "stdout", o.stdout, fmt.Sprintf("part %d of %d — Enter when all are read", n-1, n-1))
}
