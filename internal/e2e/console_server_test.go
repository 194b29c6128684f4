package e2e

// The floating server's console in a real browser: the real airlock-server
// serve over TLS, the real desk signing its license, the real client
// holding a seat, a real pcscd with an emulated OpenPGP card as the
// server's hardware key, and Debian's Chromium driven headless — the
// seed's steps from "navigate to the configuration page" to "unplug the
// key".

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"image"
	"image/draw"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/airlock-offline/airlock/internal/testrig/browser"
	"github.com/airlock-offline/airlock/internal/testrig/cardemu"
	"github.com/airlock-offline/airlock/qr"
	"github.com/airlock-offline/airlock/usage"
)

// serverConsolePage checks what every console page promises a screen
// reader and a keyboard user (the rig's audit) and that it reads at 200 %
// zoom without sideways scrolling, then saves a screenshot as name (in
// $AIRLOCK_SCREENSHOTS too, for docs/screenshots).
func serverConsolePage(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	problems, err := browser.Audit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", name, p)
	}
	if err := browser.Zoom200(ctx); err != nil {
		t.Errorf("%s: %v", name, err)
	}
	if err := browser.Zoom100(ctx); err != nil {
		t.Fatal(err)
	}
	tabReachesAll(t, ctx, name)
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0)`)); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := browser.Screenshot(ctx, path); err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if docs := os.Getenv("AIRLOCK_SCREENSHOTS"); docs != "" {
		writeFile(t, filepath.Join(docs, name), readFile(t, path))
	}
}

// qrStrip draws a message's QR codes side by side on white, as a phone
// held up to a webcam would show them one after another.
func qrStrip(t *testing.T, text []byte) image.Image {
	t.Helper()
	codes, err := qr.PlanText(text, qr.Options{PixelsPerModule: 4})
	if err != nil {
		t.Fatal(err)
	}
	var imgs []image.Image
	w, h := 0, 0
	for _, c := range codes {
		b, err := c.PNG(qr.Options{PixelsPerModule: 4})
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		imgs = append(imgs, img)
		w += img.Bounds().Dx() + 40
		h = max(h, img.Bounds().Dy()+80)
	}
	out := image.NewGray(image.Rect(0, 0, w+40, h))
	draw.Draw(out, out.Bounds(), image.White, image.Point{}, draw.Src)
	x := 40
	for _, img := range imgs {
		draw.Draw(out, img.Bounds().Add(image.Pt(x, 40)), img, img.Bounds().Min, draw.Src)
		x += img.Bounds().Dx() + 40
	}
	return out
}

// focusables describes every element a keyboard user must reach on the
// page: links, buttons, form controls (not hidden, not disabled).
const focusables = `Array.from(document.querySelectorAll("a[href], button, input, textarea, select"))
  .filter(el => !el.disabled && el.type !== "hidden" && el.getClientRects().length > 0)`

const describeJS = `(el => el ? el.tagName + "#" + el.id + "[" + (el.name || "") + "]" + (el.getAttribute("aria-label") || el.textContent.trim().slice(0, 40)) + (el.getAttribute("href") || "") : "")`

// tabReachesAll presses Tab through the page and checks that it reaches
// every link, button and form control, each with a visible focus outline
// (a focusin listener notes each element as the focus lands on it).
func tabReachesAll(t *testing.T, ctx context.Context, page string) {
	t.Helper()
	want, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`(() => {
  const d = `+describeJS+`;
  window.tabSeen = {};
  document.addEventListener("focusin", e => { window.tabSeen[d(e.target)] = getComputedStyle(e.target).outlineStyle; });
  document.activeElement && document.activeElement.blur(); window.focus();
  return `+focusables+`.map(d);
})()`))
	if err != nil {
		t.Fatal(err)
	}
	for range len(want) + 2 { // and the skip link
		if err := chromedp.Do(ctx, chromedp.KeyEvent(kb.Tab)); err != nil {
			t.Fatal(err)
		}
	}
	seen, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]string](`window.tabSeen`))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range want {
		switch outline, ok := seen[w]; {
		case !ok:
			t.Errorf("%s: Tab never reaches %s", page, w)
		case outline == "none":
			t.Errorf("%s: %s has the focus with no visible outline", page, w)
		}
	}
}

// consoleText is the visible text of the page's main part.
func consoleText(t *testing.T, ctx context.Context) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("main").innerText`))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConsoleServer(t *testing.T) {
	cardemu.SkipUnlessStack(t)
	slot := cardemu.Slots()[0]
	seed := sha256.Sum256([]byte("server console key"))
	card := cardemu.New(cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{Manufacturer: 0xFFFE, Serial: 0x0C0A5E11, AuthKey: ed25519.NewKeyFromSeed(seed[:])}})
	const serial = "openpgp:FFFE0C0A5E11"
	if err := card.Insert(slot.Addr); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(card.Remove) // a card left in the slot would block every later test's card
	if err := card.WaitReady(15 * time.Second); err != nil {
		t.Fatal(err)
	}

	e := newEnv(t).on(machineA.tree(t)).with("AIRLOCK_PIN", "123456")
	desk, vk := initDesk(t, e)
	f := &floatingSetup{e: e, desk: desk, vendorKey: vk, state: filepath.Join(t.TempDir(), "server"), bin: airlockServer(t)}
	key := createLicense(t, e, desk, "--max-machines", "1")
	expectOK(t, f.server("init", "--vendor-key", vk))
	addr, _ := f.serve(t)
	token := strings.TrimSpace(string(readFile(t, filepath.Join(f.state, "admin.token"))))
	base := "https://" + addr
	shots := t.TempDir()
	// The webcam: Chromium's fake camera plays cam.y4m, a blank picture
	// until the test puts a license's QR codes in it.
	cam := filepath.Join(t.TempDir(), "cam.y4m")
	if err := browser.WriteY4M(cam, image.NewGray(image.Rect(0, 0, 64, 64)), 1); err != nil {
		t.Fatal(err)
	}
	ctx := browser.New(t, browser.IgnoreCertErrors(), browser.FakeCamera(cam), browser.Timeout(90*time.Second))
	wait := func(what, expr string) {
		t.Helper()
		if err := browser.WaitFor(ctx, expr, 15*time.Second); err != nil {
			t.Fatalf("%s: %v\npage:\n%s", what, err, consoleText(t, ctx))
		}
	}
	run := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}

	// Sign in: the console asks, and says how clients authenticate.
	run("open the console", chromedp.Navigate(base+"/"))
	wait("the sign-in page", `document.title.startsWith("Sign in")`)
	if txt := consoleText(t, ctx); !strings.Contains(txt, "none: any client") {
		t.Errorf("the sign-in page does not say the authentication method:\n%s", txt)
	}
	serverConsolePage(t, ctx, shots, "server-signin.png")
	run("sign in", chromedp.SetValue("#token", token), chromedp.Submit("#token"))
	wait("the overview", `document.title.startsWith("Overview")`)
	machineHWID, err := chromedp.Run(ctx, chromedp.TextContent("#hardware-id"))
	if err != nil || machineHWID == "" || machineHWID == serial {
		t.Fatalf("before the product: hardware ID %q (%v)", machineHWID, err)
	}

	// Select the authentication method (the seed's dropdown): key auth,
	// applied at once; then back to none for the clients below.
	for _, mode := range []string{"license-key", "none"} {
		run("choose "+mode, chromedp.SetValue("#auth-mode", mode), chromedp.Click("#auth-change"))
		wait("the method changed", `document.body.innerText.includes("The authentication method is changed.") && document.getElementById("auth-method").innerText.startsWith("`+mode+`")`)
	}

	// Add the product that requires the hardware key; the request comes as
	// QR codes, a download and text.
	run("add a product", chromedp.Navigate(base+"/products"))
	wait("the add-product page", `document.title.startsWith("Add a product")`)
	run("fill the form", chromedp.SetValue("#product", "acme-cad"), chromedp.SetValue("#license_key", key),
		chromedp.Click("#hardware_key"), chromedp.Submit("#product"))
	wait("the request", `!!document.getElementById("request-text")`)
	reqText, err := chromedp.Run(ctx, chromedp.Value("#request-text"))
	if err != nil {
		t.Fatal(err)
	}
	nQR, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll(".qr-parts img[src^='data:image/png']").length`))
	if nQR < 1 {
		t.Error("the request is not shown as QR codes")
	}
	serverConsolePage(t, ctx, shots, "server-add-product.png")

	// The desk signs it; the license goes back by upload.
	req := filepath.Join(t.TempDir(), "server-request.txt")
	writeFile(t, req, []byte(reqText))
	lic := filepath.Join(t.TempDir(), "pool.txt")
	expectOK(t, e.vendor("--dir", desk, "sign", "--pool", "seats=2,ttl=180,heartbeat=60,borrow-days=7,consumption=1000+100", req, "-o", lic))
	run("upload the license", chromedp.SetUploadFiles("#file", []string{lic}), chromedp.Submit("#file"))
	wait("the license installed", `!!document.getElementById("installed-product")`)
	serverConsolePage(t, ctx, shots, "server-license-installed.png")

	// The hardware ID is now the key's serial.
	run("overview", chromedp.Navigate(base+"/"))
	wait("the hardware ID is the key's serial", fmt.Sprintf(`document.getElementById("hardware-id").textContent === %q`, serial))
	if txt := consoleText(t, ctx); !strings.Contains(txt, "plugged in and proved") || !strings.Contains(txt, "acme-cad") {
		t.Errorf("overview with the key:\n%s", txt)
	}

	// A client holds a seat; the admin releases it with the keyboard alone.
	o := e.airlock("--state", filepath.Join(e.work, "c1"), "floating", "acquire", "--server", addr, "--product", "acme-cad",
		"--vendor-key", vk, "--plaintext-key", "--json")
	expectOK(t, o)
	o = e.airlock("--state", filepath.Join(e.work, "c1"), "floating", "consume", "--server", addr, "--product", "acme-cad",
		"--vendor-key", vk, "--amount", "420", "--json")
	expectOK(t, o)
	run("overview with a seat", chromedp.Navigate(base+"/"))
	wait("one seat in use", `document.getElementById("main").innerText.includes("1 of 2")`)
	serverConsolePage(t, ctx, shots, "server-overview.png")
	run("features", chromedp.Navigate(base+"/features"))
	wait("the consumption against its cap", `!!document.querySelector('svg rect[data-label="consumption"][data-value="420"][data-cap="1000"]')`)
	serverConsolePage(t, ctx, shots, "server-features.png")
	run("charts", chromedp.Navigate(base+"/charts"))
	// The server's own history: the seat held now is the last point of
	// the day's peak.
	wait("the seat in the chart", `(() => { const c = document.querySelectorAll('svg g[data-series="peak"] circle[data-v]'); return c.length > 1 && c[c.length-1].dataset.v === "1"; })()`)
	serverConsolePage(t, ctx, shots, "server-charts.png")
	run("reports", chromedp.Navigate(base+"/reports"))
	wait("the reports page", `document.title.startsWith("Usage reports")`)
	run("make a report", chromedp.Submit("#pseudonymise"))
	wait("the report", `!!document.getElementById("report-text")`)
	repText, err := chromedp.Run(ctx, chromedp.Value("#report-text"))
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := usage.ParseText([]byte(repText)); err != nil || rep.Report.Seq != 1 {
		t.Fatalf("the console's usage report: %v", err)
	}
	serverConsolePage(t, ctx, shots, "server-reports.png")
	run("seats", chromedp.Navigate(base+"/seats"))
	wait("the seat listed", `document.querySelectorAll("#seats tbody tr").length === 1`)
	serverConsolePage(t, ctx, shots, "server-seats.png")
	const releaseButton = `form[action="/seats/release"] button`
	presses, err := browser.TabTo(ctx, releaseButton, 40)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the force-release button is %d presses of Tab from the top", presses)
	run("press Enter", chromedp.KeyEvent(kb.Enter))
	wait("the seat released", `!!document.getElementById("no-seats")`)
	if txt := consoleText(t, ctx); !strings.Contains(txt, "The seat is released.") {
		t.Errorf("after the release:\n%s", txt)
	}

	// Another product, its license shown to the webcam: the page sends the
	// frames, the server reads the QR codes and installs the license.
	key2 := createLicense(t, e, desk, "--product", "acme-view", "--max-machines", "1")
	run("add a second product", chromedp.Navigate(base+"/products"))
	wait("the add-product page", `document.title.startsWith("Add a product")`)
	run("fill the form", chromedp.SetValue("#product", "acme-view"), chromedp.SetValue("#license_key", key2), chromedp.Submit("#product"))
	wait("the request", `!!document.getElementById("request-text")`)
	if reqText, err = chromedp.Run(ctx, chromedp.Value("#request-text")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, req, []byte(reqText))
	expectOK(t, e.vendor("--dir", desk, "sign", "--pool", "seats=3", req, "-o", lic))
	if err := browser.WriteY4M(cam, qrStrip(t, readFile(t, lic)), 5); err != nil {
		t.Fatal(err)
	}
	run("start the camera", chromedp.Click("button[data-scan-start]"))
	wait("the license read off the webcam and installed", `document.getElementById("installed-product") && document.getElementById("installed-product").textContent === "acme-view"`)

	// Unplug the key: the overview, refreshing itself, shows the code and
	// the machine's own hardware ID again.
	run("overview", chromedp.Navigate(base+"/"))
	wait("the key proved", fmt.Sprintf(`document.getElementById("hardware-id").textContent === %q`, serial))
	card.Remove()
	wait("the code shown without a reload", `!!document.getElementById("hardware-key-problem") && document.getElementById("hardware-key-problem").innerText.includes("hardware_key_not_accessible")`)
	if id, _ := chromedp.Run(ctx, chromedp.TextContent("#hardware-id")); id != machineHWID {
		t.Errorf("with the key pulled the hardware ID is %q, want the machine's %q", id, machineHWID)
	}
	serverConsolePage(t, ctx, shots, "server-key-missing.png")
}
