package e2e

// The desk console in a real browser: the real airlock-vendor serve, the
// real airlock client, and Debian's Chromium with its fake camera playing
// a video made from airlock's own QR image of a request.

import (
	"context"
	"fmt"
	"image"
	"image/draw"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/airlock-offline/airlock/internal/testrig/browser"
	"github.com/airlock-offline/airlock/internal/testrig/qrphoto"
	"github.com/airlock-offline/airlock/qr"
)

// deskConsole starts `airlock-vendor serve` on a free loopback port and
// returns its one-time sign-in link.
func deskConsole(t *testing.T, e *env, desk string) string {
	t.Helper()
	cmd := exec.Command(vendorBin, "--dir", desk, "serve", "--listen", "127.0.0.1:0")
	cmd.Env = e.environ()
	var se syncBuffer
	cmd.Stderr = &se
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	link := regexp.MustCompile(`airlock-vendor: sign in with this link; it works once: (http://127\.0\.0\.1:\d+/signin\?token=[A-Za-z0-9_-]+)\n`)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if m := link.FindStringSubmatch(se.String()); m != nil {
			expectNotContains(t, "serve stderr", se.String(), passphrase)
			return m[1]
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the desk console did not start:\n%s", se.String())
	return ""
}

// deskScreenshot saves the page as name in dir, and in $AIRLOCK_SCREENSHOTS
// (docs/screenshots) when that is set.
func deskScreenshot(t *testing.T, ctx context.Context, dir, name string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := browser.Screenshot(ctx, path); err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if docs := os.Getenv("AIRLOCK_SCREENSHOTS"); docs != "" {
		writeFile(t, filepath.Join(docs, name), readFile(t, path))
	}
	return path
}

// deskZbar reads every QR code in a picture with zbarimg, an independent
// decoder, one text per code.
func deskZbar(t *testing.T, path string) []string {
	t.Helper()
	zbar, err := exec.LookPath("zbarimg")
	if err != nil {
		t.Fatal("zbarimg is missing (apt-get install zbar-tools; make test installs it)")
	}
	out, err := exec.Command(zbar, "--nodbus", "-q", "--raw", "-Sdisable", "-Sqrcode.enable", path).Output()
	if err != nil {
		t.Fatalf("zbarimg reads no code in %s: %v", path, err)
	}
	return strings.Fields(string(out))
}

// deskCheckPage checks what every console page must have for a screen reader
// and a keyboard (browser.Audit: title, lang, one h1, labels, names, alt,
// no positive tabindex), and that it reads at 200 % zoom without sideways
// scrolling.
func deskCheckPage(t *testing.T, ctx context.Context, what string) {
	t.Helper()
	if bad, err := browser.Audit(ctx); err != nil || len(bad) > 0 {
		t.Errorf("%s: %v %v", what, bad, err)
	}
	if err := browser.Zoom200(ctx); err != nil {
		t.Errorf("%s: %v", what, err)
	}
	if err := browser.Zoom100(ctx); err != nil {
		t.Fatal(err)
	}
}

// deskTabTo reaches the element with Tab alone, from the top of the page.
func deskTabTo(t *testing.T, ctx context.Context, selector string) {
	t.Helper()
	if _, err := browser.TabTo(ctx, selector, 60); err != nil {
		t.Fatal(err)
	}
}

// deskRequestQR makes a request with the real client and returns its text
// file and airlock's own QR image of it.
func deskRequestQR(t *testing.T, e *env, state, vk, key string) (string, string) {
	t.Helper()
	dir := t.TempDir()
	req := filepath.Join(dir, "request.txt")
	o := e.airlock("--state", state, "request", "--product", "acme-cad", "--license-key", key,
		"--vendor-key", vk, "-o", req, "--qr", filepath.Join(dir, "request.png"), "--scrypt-work-factor", "10")
	expectOK(t, o)
	pngs, _ := filepath.Glob(filepath.Join(dir, "request*.png"))
	if len(pngs) != 1 {
		t.Fatalf("want the request in one QR code, got %v\n%s", pngs, o)
	}
	return req, pngs[0]
}

// The desk's everyday job in a real browser: a request shown to the
// webcam is read, reviewed and signed with one click; the license's QR
// codes, read off a screenshot by zbarimg, activate the real client. A
// photo of a second request dropped on the page is signed with the
// keyboard alone; a deactivation receipt pasted in frees a seat.
func TestConsoleDesk(t *testing.T) {
	e := newEnv(t).on(machineA.tree(t))
	desk, vk := initDesk(t, e)
	// A large license: its QR codes come in parts.
	args := []string{"--max-machines", "2", "--feature", "export=1", "--feature", "seats=25"}
	for i := range 14 {
		args = append(args, "--feature", fmt.Sprintf("module-%02d-advanced-surface-modelling=1", i))
	}
	key := createLicense(t, e, desk, args...)
	stateA := filepath.Join(t.TempDir(), "state-a")
	_, reqPNG := deskRequestQR(t, e, stateA, vk, key)

	shots := t.TempDir()
	f, err := os.Open(reqPNG)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	// The phone held up to the webcam: the code on a 960x720 frame.
	frame := image.NewRGBA(image.Rect(0, 0, 960, 720))
	draw.Draw(frame, frame.Bounds(), image.White, image.Point{}, draw.Src)
	b := img.Bounds()
	at := image.Pt((960-b.Dx())/2, (720-b.Dy())/2)
	if at.X < 0 || at.Y < 0 {
		t.Fatalf("the request's QR image is %dx%d, larger than the camera's frame", b.Dx(), b.Dy())
	}
	draw.Draw(frame, b.Sub(b.Min).Add(at), img, b.Min, draw.Src)
	y4m := filepath.Join(shots, "request.y4m")
	if err := browser.WriteY4M(y4m, frame, 10); err != nil {
		t.Fatal(err)
	}

	link := deskConsole(t, e, desk)
	ctx := browser.New(t, browser.FakeCamera(y4m), browser.Timeout(50*time.Second))
	if err := chromedp.Do(ctx, chromedp.Navigate(link), chromedp.WaitVisible(`[data-scan-start]`)); err != nil {
		t.Fatal(err)
	}
	deskCheckPage(t, ctx, "the scan page")
	deskScreenshot(t, ctx, shots, "desk-scan.png")

	// Scan: the camera's frames go to the server until the request is read;
	// the page then shows the review.
	if err := chromedp.Do(ctx, chromedp.Click(`[data-scan-start]`), chromedp.WaitVisible(`#sign`)); err != nil {
		t.Fatalf("scanning the request: %v", err)
	}
	review, err := chromedp.Run(ctx, chromedp.Text(`main`))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"What the request asks for", key, "acme-cad", "ACME Corp", "0 of 2 used, 2 left", "takes a new seat", "Verdict\nsigns"} {
		expectContains(t, "the review page", review, s)
	}
	deskCheckPage(t, ctx, "the review page")
	deskScreenshot(t, ctx, shots, "desk-review.png")

	// One click signs.
	if err := chromedp.Do(ctx, chromedp.Click(`#sign`), chromedp.WaitVisible(`.qr-parts img`)); err != nil {
		t.Fatal(err)
	}
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll(".qr-parts img").length`))
	if err != nil || n < 2 {
		t.Fatalf("want the license in 2 or more codes on the page, got %d (%v)", n, err)
	}
	labels, _ := chromedp.Run(ctx, chromedp.Text(`.qr-parts`))
	for i := 1; i <= n; i++ {
		expectContains(t, "the license page", labels, fmt.Sprintf("Part %d of %d", i, n))
	}
	deskCheckPage(t, ctx, "the license page")
	shot := deskScreenshot(t, ctx, shots, "desk-license.png")

	// zbarimg reads every part off the screenshot; the parts activate the
	// real client.
	parts := deskZbar(t, shot)
	if len(parts) != n {
		t.Fatalf("zbarimg reads %d codes off the screenshot, the page shows %d", len(parts), n)
	}
	sort.Strings(parts)
	lic := filepath.Join(t.TempDir(), "license-from-screen.txt")
	writeFile(t, lic, []byte(strings.Join(parts, "\n")+"\n"))
	activate(t, e, stateA, vk, lic)
	verify(t, e, stateA, vk, "VALID", 0)

	// A photo of a second machine's request, dropped on the page, is
	// signed with the keyboard alone: Tab to the button, Enter.
	eB := e.on(machineB.tree(t))
	stateB := filepath.Join(t.TempDir(), "state-b")
	_, reqBPNG := deskRequestQR(t, eB, stateB, vk, key)
	// A phone's photo of the code on the customer's screen: what zbarimg
	// reads off airlock's image, drawn small, turned, tilted, blurred,
	// noisy, on a cluttered background, as a JPEG.
	codeB := deskZbar(t, reqBPNG)
	if len(codeB) != 1 {
		t.Fatalf("zbarimg reads %d codes in the request's image", len(codeB))
	}
	photo, err := qrphoto.MakeCode(qr.Code{Text: codeB[0]}, qrphoto.Params{Scale: 0.7, Rotate: 6, TiltX: 0.04, Blur: 0.8, Noise: 4, JPEG: 75, Clutter: true, Seed: 18})
	if err != nil {
		t.Fatal(err)
	}
	reqB := filepath.Join(t.TempDir(), "phone-photo.jpg")
	writeFile(t, reqB, photo.JPEG)
	if err := chromedp.Do(ctx, chromedp.Navigate(strings.SplitN(link, "/signin", 2)[0]+"/"),
		chromedp.WaitVisible(`#request-file`),
		chromedp.SetUploadFiles(`#request-file`, []string{reqB})); err != nil {
		t.Fatal(err)
	}
	deskTabTo(t, ctx, `form[enctype="multipart/form-data"] button[type=submit]`)
	if err := chromedp.Do(ctx, chromedp.KeyEvent("\r"), chromedp.WaitVisible(`#sign`)); err != nil {
		t.Fatalf("the dropped photo: %v", err)
	}
	review, _ = chromedp.Run(ctx, chromedp.Text(`main`))
	expectContains(t, "the review of the photo", review, "1 of 2 used, 1 left")
	deskTabTo(t, ctx, `#sign`)
	outline, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`getComputedStyle(document.activeElement).outlineStyle`))
	if outline == "none" || outline == "" {
		t.Errorf("the focused sign button has no visible focus (outline %q)", outline)
	}
	if err := chromedp.Do(ctx, chromedp.KeyEvent("\r"), chromedp.WaitVisible(`#download`)); err != nil {
		t.Fatalf("signing with Enter: %v", err)
	}
	licB, _ := chromedp.Run(ctx, chromedp.Text(`#license-text`, chromedp.NodeReady))
	if !strings.Contains(licB, "BEGIN AIRLOCK LICENSE") {
		// The text sits in a closed <details>: read its content instead.
		licB, _ = chromedp.Run(ctx, chromedp.TextContent(`#license-text`))
	}
	fileB := filepath.Join(t.TempDir(), "license-b.txt")
	writeFile(t, fileB, []byte(licB))
	activate(t, eB, stateB, vk, fileB)
	verify(t, eB, stateB, vk, "VALID", 0)

	// The licenses list shows both seats taken.
	if err := chromedp.Do(ctx, chromedp.Navigate(strings.SplitN(link, "/signin", 2)[0]+"/licenses"), chromedp.WaitVisible(`table`)); err != nil {
		t.Fatal(err)
	}
	list, _ := chromedp.Run(ctx, chromedp.Text(`main`))
	expectContains(t, "the licenses page", list, "2 of 2")
	deskCheckPage(t, ctx, "the licenses page")
	deskScreenshot(t, ctx, shots, "desk-licenses.png")

	// Machine B gives its license back; its receipt, pasted in, frees the
	// seat.
	rcpt := filepath.Join(t.TempDir(), "receipt.txt")
	expectOK(t, eB.airlock("--state", stateB, "deactivate", "--product", "acme-cad", "--vendor-key", vk, "-o", rcpt))
	if err := chromedp.Do(ctx, chromedp.Navigate(strings.SplitN(link, "/signin", 2)[0]+"/receipts"),
		chromedp.WaitVisible(`#receipt-text`),
		chromedp.SetValue(`#receipt-text`, string(readFile(t, rcpt))),
		chromedp.Submit(`#receipt-text`),
		chromedp.WaitVisible(`#outcome`)); err != nil {
		t.Fatal(err)
	}
	outcome, _ := chromedp.Run(ctx, chromedp.Text(`#outcome`))
	expectContains(t, "the receipt page", outcome, "Seat freed: license "+key)
	deskCheckPage(t, ctx, "the receipt page")
	deskScreenshot(t, ctx, shots, "desk-receipt.png")
	o := e.vendor("--dir", desk, "license", "show", key)
	expectOK(t, o)
	expectContains(t, "license show", o.stdout, "1 of 2 used")
}

// The console holds the signing key: it refuses an address other machines
// can reach before it asks for anything, and with --allow-remote it warns.
func TestConsoleDeskLoopbackOnly(t *testing.T) {
	e := newEnv(t)
	desk, _ := initDesk(t, e)
	for _, addr := range []string{"0.0.0.0:0", ":8470", "192.0.2.1:8470"} {
		o := e.with("AIRLOCK_PASSPHRASE", "").vendor("--dir", desk, "serve", "--listen", addr)
		expect(t, o, 2)
		expectContains(t, "serve stderr", o.stderr, "listens on a loopback address only")
		expectContains(t, "serve stderr", o.stderr, "--allow-remote")
		expectNotContains(t, "serve stderr", o.stderr, "signin?token=")
	}
	cmd := exec.Command(vendorBin, "--dir", desk, "serve", "--listen", "0.0.0.0:0", "--allow-remote")
	cmd.Env = e.environ()
	var se syncBuffer
	cmd.Stderr = &se
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(se.String(), "signin?token=") {
		if time.Now().After(deadline) {
			t.Fatalf("serve --allow-remote did not start:\n%s", se.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	expectContains(t, "serve stderr", se.String(), "airlock-vendor: warning: listening on 0.0.0.0:0: other machines can reach the signing key")
}

// A real floating server's usage report (two clients hold its two seats,
// a third is turned away), pasted into the console, is drawn as charts
// with the report's numbers.
func TestConsoleDeskUsageReport(t *testing.T) {
	f := newFloating(t, "seats=2,ttl=180,heartbeat=60,borrow-days=7")
	addr, srv := f.serve(t)
	for i := 1; i <= 3; i++ {
		o := f.e.airlock("--state", filepath.Join(f.e.work, fmt.Sprint("client-", i)), "floating", "acquire", "--server", addr,
			"--product", "acme-cad", "--vendor-key", f.vendorKey, "--plaintext-key", "--json")
		if want := map[bool]int{true: 0, false: 1}[i <= 2]; o.code != want {
			t.Fatalf("client %d: exit %d, want %d\n%s", i, o.code, want, o)
		}
	}
	// Half an hour later, the server stopped (it writes its history as it
	// goes), the report is made from its database.
	srv.Process.Signal(syscall.SIGTERM)
	srv.Wait()
	later := &floatingSetup{e: f.e.at(t0.Add(30 * time.Minute)), state: f.state, bin: f.bin}
	rep := filepath.Join(t.TempDir(), "usage-report.txt")
	expectOK(t, later.server("report", "-o", rep))

	link := deskConsole(t, f.e, f.desk)
	base := strings.SplitN(link, "/signin", 2)[0]
	ctx := browser.New(t, browser.Timeout(50*time.Second))
	if err := chromedp.Do(ctx, chromedp.Navigate(link), chromedp.WaitVisible(`[data-scan-start]`),
		chromedp.Navigate(base+"/usage"), chromedp.WaitVisible(`#usage-text`),
		chromedp.SetValue(`#usage-text`, string(readFile(t, rep))),
		chromedp.Submit(`#usage-text`),
		chromedp.WaitVisible(`svg.chart`)); err != nil {
		t.Fatal(err)
	}
	page, _ := chromedp.Run(ctx, chromedp.Text(`main`))
	expectContains(t, "the report page", page, "Imported report 1 of server")
	// The charts carry the report's numbers, as the server shows them.
	o := later.server("report", "show", "--json", rep)
	expectOK(t, o)
	shown := decodeJSON[struct {
		Report struct {
			Products []struct {
				Seats uint32 `json:"seats"`
				Usage struct {
					Peak         uint32 `json:"peak"`
					AverageMilli uint64 `json:"average_milli"`
					Denials      uint64 `json:"denials"`
				} `json:"usage"`
			} `json:"products"`
		} `json:"report"`
	}](t, o)
	if len(shown.Report.Products) != 1 {
		t.Fatalf("the report covers %d products, want 1\n%s", len(shown.Report.Products), o)
	}
	p := shown.Report.Products[0]
	if p.Seats != 2 || p.Usage.Peak != 2 || p.Usage.Denials != 1 {
		t.Errorf("the report says %d seats, peak %d, %d denials; the clients took 2 of 2 and one was denied", p.Seats, p.Usage.Peak, p.Usage.Denials)
	}
	bars, err := chromedp.Run(ctx, chromedp.Evaluate[string](`Array.from(document.querySelectorAll("rect[data-label]")).map(r => r.dataset.label + "=" + r.dataset.value + "/" + r.dataset.cap).join(" ")`))
	if err != nil {
		t.Fatal(err)
	}
	expectContains(t, "the seat chart", bars, fmt.Sprintf("peak in use=%d/%d", p.Usage.Peak, p.Seats))
	expectContains(t, "the seat chart", bars, fmt.Sprintf("average in use=%s/%d", strconv.FormatFloat(float64(p.Usage.AverageMilli)/1000, 'f', -1, 64), p.Seats))
	expectContains(t, "the report page", page, fmt.Sprintf("Denied %d time(s)", p.Usage.Denials))
	deskCheckPage(t, ctx, "the usage report page")
	deskScreenshot(t, ctx, t.TempDir(), "desk-usage.png")
}
