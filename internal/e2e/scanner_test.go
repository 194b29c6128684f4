package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// runOpen runs bin with input on a stdin that stays open: the command must
// finish by itself once the message is whole, as it does in front of a
// user with a scanner, who never types Ctrl-D.
func (e *env) runOpen(bin string, input string, args ...string) out {
	e.t.Helper()
	return e.runOpenAfter(bin, "", input, args...)
}

// lockedBuffer is a bytes.Buffer safe for a writer and a reader at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// runOpenAfter is runOpen that types the input only once the output
// (stdout or stderr) shows prompt: the command is then reading.
func (e *env) runOpenAfter(bin, prompt, input string, args ...string) out {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = e.environ()
	cmd.Dir = e.work
	stdin, err := cmd.StdinPipe()
	if err != nil {
		e.t.Fatal(err)
	}
	var so, se lockedBuffer
	cmd.Stdout, cmd.Stderr = &so, &se
	detach(cmd)
	o := out{cmd: filepath.Base(bin) + " " + strings.Join(args, " ") + " (stdin left open)"}
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	go func() {
		for deadline := time.Now().Add(20 * time.Second); prompt != "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if strings.Contains(so.String()+se.String(), prompt) {
				time.Sleep(100 * time.Millisecond) // from the prompt to the read
				break
			}
		}
		stdin.Write([]byte(input))
	}()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(25 * time.Second):
		cmd.Process.Kill()
		<-done
		stdin.Close()
		o.stdout, o.stderr, o.code = so.String(), se.String(), -1
		// Errorf: e.t may be a parent of the running subtest.
		e.t.Errorf("did not finish by itself with the whole message typed:\n%s", o)
		return o
	}
	stdin.Close()
	o.stdout, o.stderr = so.String(), se.String()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		o.code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatalf("%s: %v", o.cmd, err)
	}
	return o
}

// licenseParts signs req as a license in 3 or more QR codes and returns
// what zbarimg reads from each, in order, and the license file.
func licenseParts(t *testing.T, e *env, desk, req string) ([]string, string) {
	t.Helper()
	base := filepath.Join(t.TempDir(), "license.png")
	lic := filepath.Join(t.TempDir(), "license.txt")
	expectOK(t, e.vendor("--dir", desk, "sign", req, "-o", lic, "--qr", base, "--qr-max-version", "8"))
	files, _ := filepath.Glob(strings.TrimSuffix(base, ".png") + "-*of*.png")
	sort.Strings(files)
	if len(files) < 3 {
		t.Fatalf("want at least 3 parts at version 8, got %v", files)
	}
	var parts []string
	for _, f := range files {
		parts = append(parts, decodeWithZbarOrSelf(t, e, f))
	}
	return parts, lic
}

// Interactive input takes what people really type or paste, finishes by
// itself, sets a foreign part aside and can start over.
func TestInteractiveInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t).on(machineA.tree(t))
	desk, vk := initDesk(t, e)
	key := createLicense(t, e, desk, "--max-machines", "3", "--feature", "export=1", "--feature", "seats=25")
	state := filepath.Join(t.TempDir(), "state")
	req := request(t, e, state, vk, key)
	parts, licFile := licenseParts(t, e, desk, req)
	// Parts of a license for another installation: a foreign message.
	other := request(t, e, filepath.Join(t.TempDir(), "state"), vk, key)
	foreign, _ := licenseParts(t, e, desk, other)

	reqFile := string(readFile(t, req))
	lines := strings.Split(strings.TrimSpace(reqFile), "\n")
	body := strings.Join(lines[1:len(lines)-1], "\n") + "\n"
	bare := oneLine([]byte(reqFile))
	for _, tc := range []struct{ name, in string }{
		{"armored file", reqFile},
		{"armored file, CRLF", strings.ReplaceAll(reqFile, "\n", "\r\n")},
		{"armored file, CR", strings.ReplaceAll(reqFile, "\n", "\r")},
		{"64-column lines without BEGIN and END", body},
		{"64-column lines, Tab, lower case", strings.ToLower(strings.ReplaceAll(body, "\n", "\t"))},
		{"one line, stray spaces, no line end", "  " + bare[:100] + " " + bare[100:]},
	} {
		t.Run("sign/"+tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "license.txt")
			o := e.runOpen(vendorBin, tc.in, "--dir", desk, "sign", "-i", "-o", out)
			expectOK(t, o)
			expectNotContains(t, "stderr", o.stderr, "not accepted")
			dearmor(t, readFile(t, out), "LICENSE", "AL1")
		})
	}

	licText := string(readFile(t, licFile))
	for _, tc := range []struct {
		name, in string
		stderr   []string
	}{
		{"one part a line", parts[2] + "\n" + parts[0] + "\n" + parts[1] + "\n", []string{"got all 3 parts\n"}},
		{"CR", parts[1] + "\r" + parts[2] + "\r" + parts[0] + "\r", nil},
		{"Tab", parts[0] + "\t" + parts[2] + "\t" + parts[1] + "\t", nil},
		{"no line ends", parts[2] + parts[0] + parts[1], nil},
		{"stray spaces, lower case", " " + strings.ToLower(parts[1]) + " \n " + parts[0] + "  \n" + strings.ToLower(parts[2]) + " ", nil},
		{"a part, then the armored file", parts[0] + "\n" + licText, nil},
		{"foreign part first", foreign[0] + "\n" + parts[0] + "\n" + foreign[1] + "\n" + parts[1] + "\n" + parts[2] + "\n",
			[]string{"airlock: warning: set aside: this part belongs to another message", "got all 3 parts\n"}},
		{"start over", parts[0] + "\n" + foreign[1] + "\n0\n" + parts[1] + "\n" + parts[2] + "\n" + parts[0] + "\n",
			[]string{"type 0 and Enter to start over", "started over"}},
	} {
		t.Run("activate/"+tc.name, func(t *testing.T) {
			o := e.runOpen(airlockBin, tc.in, "--state", state, "activate", "-i", "--vendor-key", vk)
			expectOK(t, o)
			expectNotContains(t, "stderr", o.stderr, "scan it again")
			for _, s := range tc.stderr {
				expectContains(t, "stderr", o.stderr, s)
			}
			if n := strings.Count(o.stderr, "set aside"); n > 1 {
				t.Errorf("the foreign part was reported %d times:\n%s", n, o)
			}
			verify(t, e, state, vk, "VALID", 0)
		})
	}
	// The same leniency reading a file or stdin to its end.
	t.Run("activate -/parts glued by Tab", func(t *testing.T) {
		o := e.run(airlockBin, []byte(strings.Join(parts, "\t")), "--state", state, "activate", "-", "--vendor-key", vk)
		expectOK(t, o)
		verify(t, e, state, vk, "VALID", 0)
	})
}

// typeThrough returns what a scanner that types for a US keyboard produces
// on a German (QWERTZ) or French (AZERTY) one. Written from the layouts,
// not from the product's tables.
func typeThrough(layout, s string) string {
	var b strings.Builder
	for _, r := range s {
		switch layout {
		case "qwertz":
			switch r {
			case 'Y':
				r = 'Z'
			case 'Z':
				r = 'Y'
			}
			b.WriteRune(r)
		case "azerty":
			m := map[rune]string{'A': "Q", 'Q': "A", 'Z': "W", 'W': "Z", 'M': "?",
				'1': "&", '2': "é", '3': "\"", '4': "'", '5': "(", '6': "-", '7': "è", '8': "_", '9': "ç", '0': "à"}
			if v, ok := m[r]; ok {
				b.WriteString(v)
			} else {
				b.WriteRune(r)
			}
		}
	}
	return b.String()
}

// A scanner typing through a German or French keyboard layout: the text is
// undone when the signature (or the parts' message id) says so, with one
// line naming the layout; damage no layout explains points at the layout.
func TestScannerLayouts(t *testing.T) {
	t.Parallel()
	e := newEnv(t).on(machineA.tree(t))
	desk, vk := initDesk(t, e)
	key := createLicense(t, e, desk, "--max-machines", "3", "--feature", "export=1", "--feature", "seats=25")
	state := filepath.Join(t.TempDir(), "state")
	req := request(t, e, state, vk, key)
	parts, _ := licenseParts(t, e, desk, req)
	bare := oneLine(readFile(t, req))
	for _, layout := range []struct{ id, name string }{{"qwertz", "German (QWERTZ)"}, {"azerty", "French (AZERTY)"}} {
		t.Run("sign/"+layout.id, func(t *testing.T) {
			for _, mode := range []string{"-i", "-"} { // interactive, and a typed file on stdin
				lic := filepath.Join(t.TempDir(), "license.txt")
				typed := typeThrough(layout.id, bare) + "\r\n"
				var o out
				if mode == "-i" {
					o = e.runOpen(vendorBin, typed, "--dir", desk, "sign", mode, "-o", lic)
				} else { // stdin is read to its end: a plain pipe
					o = e.run(vendorBin, []byte(typed), "--dir", desk, "sign", "-", "-o", lic)
				}
				expectOK(t, o)
				note := "airlock-vendor: warning: the scanner typed as if for a US keyboard on a " + layout.name + " one"
				if n := strings.Count(o.stderr, note); n != 1 {
					t.Errorf("%s named %d times:\n%s", layout.name, n, o)
				}
				dearmor(t, readFile(t, lic), "LICENSE", "AL1")
			}
		})
		t.Run("activate/"+layout.id, func(t *testing.T) {
			in := ""
			for i := len(parts) - 1; i >= 0; i-- {
				in += typeThrough(layout.id, parts[i]) + "\n"
			}
			o := e.runOpen(airlockBin, in, "--state", state, "activate", "-i", "--vendor-key", vk)
			expectOK(t, o)
			expectContains(t, "stderr", o.stderr, "on a "+layout.name+" one")
			verify(t, e, state, vk, "VALID", 0)
		})
	}
	t.Run("damaged", func(t *testing.T) {
		damaged := bare[:40] + "#" + bare[41:]
		o := e.run(vendorBin, []byte(damaged+"\n"), "--dir", desk, "sign", "-i", "-o", filepath.Join(t.TempDir(), "l.txt"))
		expect(t, o, 1)
		expectContains(t, "stderr", o.stderr, "airlock-vendor: warning: that scan was not accepted: column 41: character not allowed")
		expectContains(t, "stderr", o.stderr, "airlock-vendor: hint: if a barcode scanner typed it, check that the scanner's keyboard layout")
	})
}

// One picture of all the parts (a screenshot of the screen that shows
// them, or a photo of it) is enough: every code in it is read.
func TestSeveralCodesInOnePicture(t *testing.T) {
	t.Parallel()
	e := newEnv(t).on(machineA.tree(t))
	desk, vk := initDesk(t, e)
	key := createLicense(t, e, desk, "--feature", "export=1", "--feature", "seats=25")
	state := filepath.Join(t.TempDir(), "state")
	req := request(t, e, state, vk, key)
	base := filepath.Join(t.TempDir(), "license.png")
	expectOK(t, e.vendor("--dir", desk, "sign", req, "-o", filepath.Join(t.TempDir(), "l.txt"), "--qr", base, "--qr-max-version", "8"))
	files, _ := filepath.Glob(strings.TrimSuffix(base, ".png") + "-*of*.png")
	if len(files) < 3 {
		t.Fatalf("want 3 parts or more, got %v", files)
	}
	// Side by side, last part first, on a white screen.
	var imgs []image.Image
	w, h := 40, 0
	for i := len(files) - 1; i >= 0; i-- {
		f, err := os.Open(files[i])
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		imgs = append(imgs, img)
		w += img.Bounds().Dx() + 16
		h = max(h, img.Bounds().Dy())
	}
	all := image.NewGray(image.Rect(0, 0, w, h+80))
	draw.Draw(all, all.Bounds(), image.NewUniform(color.Gray{Y: 255}), image.Point{}, draw.Src)
	x := 20
	for _, img := range imgs {
		draw.Draw(all, img.Bounds().Add(image.Pt(x, 40)), img, image.Point{}, draw.Src)
		x += img.Bounds().Dx() + 16
	}
	shot := filepath.Join(t.TempDir(), "all-parts.png")
	var b bytes.Buffer
	if err := png.Encode(&b, all); err != nil {
		t.Fatal(err)
	}
	writeFile(t, shot, b.Bytes())
	if zbar, err := exec.LookPath("zbarimg"); err == nil {
		out, _ := exec.Command(zbar, "--nodbus", "-q", "--raw", "-Sdisable", "-Sqrcode.enable", shot).Output()
		if n := len(strings.Fields(string(out))); n != len(files) {
			t.Errorf("zbarimg reads %d codes in the picture, want %d", n, len(files))
		}
	}
	o := e.airlock("--state", state, "activate", "--qr-image", shot, "--vendor-key", vk)
	expectOK(t, o)
	verify(t, e, state, vk, "VALID", 0)
}

// A message too large for QR codes gets an error that names the real limit
// and what to do, not "run the same command again".
func TestQRTooLarge(t *testing.T) {
	t.Parallel()
	e := newEnv(t).on(machineA.tree(t))
	desk, vk := initDesk(t, e)
	args := []string{"--feature", "export=1", "--feature", "seats=25"}
	for _, f := range []string{"plot", "render", "cam", "sheet-metal", "simulation", "pdm", "cloud-sync", "viewer"} {
		args = append(args, "--feature", f+"=1")
	}
	key := createLicense(t, e, desk, args...)
	req := request(t, e, filepath.Join(t.TempDir(), "state"), vk, key)
	lic := filepath.Join(t.TempDir(), "license.txt")
	o := e.vendor("--dir", desk, "sign", req, "-o", lic, "--qr", filepath.Join(t.TempDir(), "l.png"), "--qr-max-version", "5")
	expect(t, o, 1)
	expectContains(t, "stderr", o.stderr, "is too large for QR codes: at most ")
	expectContains(t, "stderr", o.stderr, " bytes fit in 6 codes of version 5 or less at level M")
	expectContains(t, "stderr", o.stderr, "airlock-vendor: hint: carry the license as its text file instead (-o FILE, on a USB stick)")
	expectContains(t, "stderr", o.stderr, "--qr-max-version")
	expectNotContains(t, "stderr", o.stderr, "run the same command again")
	dearmor(t, readFile(t, lic), "LICENSE", "AL1") // the file is there to carry
}

// imageMagick returns ImageMagick's convert (package imagemagick), or "".
func imageMagick() string {
	for _, name := range []string{"magick", "convert-im6.q16", "convert"} {
		p, err := exec.LookPath(name)
		if err != nil {
			continue
		}
		if out, _ := exec.Command(p, "-version").Output(); strings.Contains(string(out), "ImageMagick") {
			return p
		}
	}
	return ""
}

// Phone photos of a license in 3 codes of version 17 or 18, made with
// ImageMagick as the issue made them (scaled to 45–60 %, rotated 7°, in
// perspective, blurred, noisy, JPEG 60), come through whole every time,
// as zbarimg reads them.
func TestPhonePhotosOfParts(t *testing.T) {
	t.Parallel()
	convert := imageMagick()
	if convert == "" {
		t.Skip("ImageMagick is not installed (make test installs imagemagick)")
	}
	e := newEnv(t).on(machineA.tree(t))
	desk, vk := initDesk(t, e)
	args := []string{"--max-machines", "9", "--feature", "export=1", "--feature", "seats=25"}
	for i := range 20 { // a large license: three codes of version 17 or 18
		args = append(args, "--feature", fmt.Sprintf("module-%02d-advanced-surface-modelling=1", i))
	}
	key := createLicense(t, e, desk, args...)
	const tries = 6
	zbar, zerr := exec.LookPath("zbarimg")
	zbarOK, ok := 0, 0
	for try := range tries {
		state := filepath.Join(t.TempDir(), "state")
		req := request(t, e, state, vk, key)
		base := filepath.Join(t.TempDir(), "license.png")
		lic := filepath.Join(t.TempDir(), "license.txt")
		o := e.vendor("--dir", desk, "sign", req, "-o", lic, "--qr", base, "--qr-max-version", "18")
		expectOK(t, o)
		files, _ := filepath.Glob(strings.TrimSuffix(base, ".png") + "*.png")
		if len(files) != 3 || !strings.Contains(o.stderr, "(version 1") {
			t.Fatalf("want 3 codes of version 17 or 18:\n%s", o)
		}
		args := []string{"--state", state, "activate", "--vendor-key", vk}
		zbarAll := true
		for i, f := range files {
			jpg := filepath.Join(t.TempDir(), fmt.Sprintf("photo%d.jpg", i))
			scale := []string{"45%", "50%", "60%"}[(try+i)%3]
			cmd := exec.Command(convert, f, "-resize", scale, "-background", "white", "-rotate", "7",
				"-virtual-pixel", "white", "-distort", "Perspective",
				"0,0 8,5  %[fx:w],0 %[fx:w-3],0  0,%[fx:h] 0,%[fx:h-6]  %[fx:w],%[fx:h] %[fx:w-6],%[fx:h-2]",
				"-blur", "0x1", "-attenuate", "0.6", "+noise", "Gaussian", "-seed", fmt.Sprint(10*try+i), "-quality", "60", jpg)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("convert: %v\n%s", err, out)
			}
			args = append(args, "--qr-image", jpg)
			if zerr == nil {
				out, _ := exec.Command(zbar, "--nodbus", "-q", "--raw", "-Sdisable", "-Sqrcode.enable", jpg).Output()
				zbarAll = zbarAll && strings.TrimSpace(string(out)) == decodeWithZbarOrSelf(t, e, f)
			}
		}
		if zbarAll {
			zbarOK++
		}
		if o := e.airlock(args...); o.code == 0 {
			ok++
		} else {
			t.Logf("try %d: %s", try+1, o.stderr)
		}
	}
	t.Logf("a license in 3 photos came through %d of %d times (zbarimg read every part %d times)", ok, tries, zbarOK)
	if ok < tries {
		t.Errorf("the license came through %d of %d times, want every time", ok, tries)
	}
	if zerr == nil && zbarOK > ok {
		t.Errorf("zbarimg read all parts %d times, airlock %d", zbarOK, ok)
	}
}

// At a real terminal (a pseudo-terminal made by script(1)), codes that the
// scanner ends with Tab, or with nothing, are read as they are typed: the
// license is installed without an Enter and without Ctrl-D.
func TestInteractiveAtTerminal(t *testing.T) {
	t.Parallel()
	scriptBin, err := exec.LookPath("script")
	if err != nil {
		t.Skip("script(1) is not installed (util-linux)")
	}
	e := newEnv(t).on(machineA.tree(t))
	desk, vk := initDesk(t, e)
	key := createLicense(t, e, desk, "--max-machines", "3", "--feature", "export=1", "--feature", "seats=25")
	for _, sep := range []struct{ name, s string }{{"Tab", "\t"}, {"nothing", ""}} {
		t.Run(sep.name, func(t *testing.T) {
			state := filepath.Join(t.TempDir(), "state")
			req := request(t, e, state, vk, key)
			parts, _ := licenseParts(t, e, desk, req)
			quote := func(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
			cmd := quote(airlockBin) + " --state " + quote(state) + " activate -i --vendor-key " + quote(vk)
			// Typed once airlock reads, as a user scans: a pseudo-terminal
			// takes what arrives before the program sets it up as it is.
			o := e.runOpenAfter(scriptBin, "scan the license", strings.Join(parts, sep.s)+sep.s, "-qec", cmd, "/dev/null")
			expectOK(t, o)
			expectContains(t, "output", o.stdout, "got all 3 parts")
			verify(t, e, state, vk, "VALID", 0)
		})
	}
}
