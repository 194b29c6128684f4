package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// The QR channel end to end: the request leaves as a PNG, the desk reads
// the image and answers with a license PNG, the machine reads that image.
func TestQRRoundTrip(t *testing.T) {
	t.Parallel()
	e := newEnv(t).on(machineA.tree(t))
	desk, vk := initDesk(t, e)
	key := createLicense(t, e, desk, "--feature", "export=1")
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	reqPNG := filepath.Join(dir, "request.png")
	o := e.airlock("--state", state, "request", "--product", "acme-cad", "--license-key", key, "--vendor-key", vk,
		"-o", filepath.Join(dir, "request.txt"), "--qr", reqPNG, "--scrypt-work-factor", "10")
	expectOK(t, o)
	expectContains(t, "stderr", o.stderr, "QR code (version ")
	licPNG := filepath.Join(dir, "license.png")
	o = e.vendor("--dir", desk, "sign", "--qr-image", reqPNG, "-o", filepath.Join(dir, "license.txt"), "--qr", licPNG)
	expectOK(t, o)
	o = e.airlock("--state", state, "activate", "--qr-image", licPNG, "--vendor-key", vk)
	expectOK(t, o)
	verify(t, e, state, vk, "VALID", 0)

	// The independent decoders read our PNGs as the same text.
	text := strings.TrimSpace(oneLine(readFile(t, filepath.Join(dir, "license.txt"))))
	if zbar, err := exec.LookPath("zbarimg"); err == nil {
		out, err := exec.Command(zbar, "--nodbus", "-q", "--raw", "-Sdisable", "-Sqrcode.enable", licPNG).Output()
		if err != nil || strings.TrimSpace(string(out)) != text {
			t.Errorf("zbarimg read %q (%v), want the license text", out, err)
		}
	} else {
		t.Log("zbarimg not installed: cross-check skipped (make test installs it)")
	}
}

// oneLine turns an armored file back into its one-line text form.
func oneLine(armored []byte) string {
	var b strings.Builder
	for _, l := range strings.Split(string(armored), "\n") {
		if !strings.HasPrefix(l, "-----") {
			b.WriteString(strings.TrimSpace(l))
		}
	}
	return b.String()
}

// A license split into parts (small codes for a webcam) comes back through
// several images in any order, and through a keyboard-wedge scanner.
func TestQRPartsAndScanner(t *testing.T) {
	t.Parallel()
	e := newEnv(t).on(machineA.tree(t))
	desk, vk := initDesk(t, e)
	key := createLicense(t, e, desk, "--max-machines", "2", "--feature", "export=1", "--feature", "seats=25")
	dir := t.TempDir()

	for _, mode := range []string{"images", "scanner"} {
		t.Run(mode, func(t *testing.T) {
			state := filepath.Join(t.TempDir(), "state")
			req := request(t, e, state, vk, key)
			base := filepath.Join(t.TempDir(), "license.png")
			o := e.vendor("--dir", desk, "sign", req, "-o", filepath.Join(dir, mode+".txt"), "--qr", base, "--qr-max-version", "8", "--qr-terminal")
			expectOK(t, o)
			expectContains(t, "stderr", o.stderr, "(3 parts) (version ")
			parts, _ := filepath.Glob(strings.TrimSuffix(base, ".png") + "-*of*.png")
			sort.Strings(parts)
			if len(parts) < 2 {
				t.Fatalf("want several part images, got %v", parts)
			}
			if mode == "images" {
				args := []string{"--state", state, "activate", "--vendor-key", vk}
				for i := len(parts) - 1; i >= 0; i-- { // reverse order
					args = append(args, "--qr-image", parts[i])
				}
				o = e.airlock(args...)
				expectOK(t, o)
			} else {
				// What the scanner types for each code, lower case with
				// CRLF and stray spaces, last part first, one part twice.
				var lines []string
				for _, p := range parts {
					lines = append(lines, "  "+strings.ToLower(decodeWithZbarOrSelf(t, e, p))+" ")
				}
				in := lines[len(lines)-1] + "\r\n" + lines[len(lines)-1] + "\r\n"
				for _, l := range lines[:len(lines)-1] {
					in += l + "\r\n"
				}
				o = e.run(airlockBin, []byte(in), "--state", state, "activate", "--interactive", "--vendor-key", vk)
				expectOK(t, o)
				expectContains(t, "stderr", o.stderr, "got part 3 of 3; missing 1, 2\n")
				expectContains(t, "stderr", o.stderr, "got all 3 parts\n")
			}
			verify(t, e, state, vk, "VALID", 0)
		})
	}
}

// decodeWithZbarOrSelf returns the text of one QR image: zbarimg if it is
// installed (an independent decoder), else airlock's own inspect.
func decodeWithZbarOrSelf(t *testing.T, e *env, png string) string {
	t.Helper()
	if zbar, err := exec.LookPath("zbarimg"); err == nil {
		out, err := exec.Command(zbar, "--nodbus", "-q", "--raw", "-Sdisable", "-Sqrcode.enable", png).Output()
		if err != nil {
			t.Fatalf("zbarimg: %v", err)
		}
		return strings.TrimSpace(string(out))
	}
	t.Fatal("zbarimg is not installed (make test installs zbar-tools)")
	return ""
}

// Interactive input that ends before the message is whole says what is
// missing, and a misread line does not abort the scan.
func TestScannerIncomplete(t *testing.T) {
	t.Parallel()
	e := newEnv(t).on(machineA.tree(t))
	desk, vk := initDesk(t, e)
	key := createLicense(t, e, desk)
	state := filepath.Join(t.TempDir(), "state")
	req := request(t, e, state, vk, key)
	base := filepath.Join(t.TempDir(), "l.png")
	expectOK(t, e.vendor("--dir", desk, "sign", req, "-o", filepath.Join(t.TempDir(), "l.txt"), "--qr", base, "--qr-max-version", "8"))
	parts, _ := filepath.Glob(strings.TrimSuffix(base, ".png") + "-*of*.png")
	if len(parts) < 3 {
		t.Fatalf("want at least 3 parts at version 8, got %d", len(parts))
	}
	sort.Strings(parts)
	first := decodeWithZbarOrSelf(t, e, parts[0])
	in := "garbage!!\n" + first + "\n"
	o := e.run(airlockBin, []byte(in), "--state", state, "activate", "-i", "--vendor-key", vk)
	expect(t, o, 1)
	expectContains(t, "stderr", o.stderr, "airlock: warning: that scan was not accepted")
	expectContains(t, "stderr", o.stderr, "input ended with parts missing: 2")
	expectNoLicenses(t, state)
	if _, err := os.Stat(filepath.Join(state, "licenses")); err != nil {
		t.Fatal(err)
	}
}
