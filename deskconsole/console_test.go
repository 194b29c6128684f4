package deskconsole

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/desk"
	"github.com/airlock-offline/airlock/fingerprint"
	"github.com/airlock-offline/airlock/internal/armor"
	"github.com/airlock-offline/airlock/internal/testrig/qrphoto"
	"github.com/airlock-offline/airlock/internal/testrig/testkeys"
	"github.com/airlock-offline/airlock/internal/web"
	"github.com/airlock-offline/airlock/ledger"
	"github.com/airlock-offline/airlock/licensekey"
	"github.com/airlock-offline/airlock/phonecode"
	"github.com/airlock-offline/airlock/qr"
	"github.com/airlock-offline/airlock/receipt"
	"github.com/airlock-offline/airlock/request"
	"github.com/airlock-offline/airlock/response"
)

var t0 = time.Date(2030, 3, 1, 12, 0, 0, 0, time.UTC)

const product = "acme-cad"

// rig is a console over a fresh ledger, and a browser-like client.
type rig struct {
	t      *testing.T
	vendor *crypto.Identity
	led    *ledger.Ledger
	con    *Server
	srv    *httptest.Server
	cookie *http.Cookie
	csrf   string
	n      int
}

func newRig(t *testing.T) *rig {
	t.Helper()
	led, err := ledger.Open(filepath.Join(t.TempDir(), "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { led.Close() })
	r := &rig{t: t, vendor: testkeys.Identity(crypto.RoleVendor, "console vendor"), led: led}
	d := &desk.Desk{Key: r.vendor, Ledger: led, Now: func() time.Time { return t0 }, Rand: testkeys.Rand("console ids")}
	r.con, err = New(Config{Desk: d, Warn: func(f string, a ...any) { t.Logf("warning: "+f, a...) }})
	if err != nil {
		t.Fatal(err)
	}
	r.srv = httptest.NewServer(r.con)
	t.Cleanup(r.srv.Close)
	return r
}

// do sends a request without following redirects.
func (r *rig) do(req *http.Request) (*http.Response, string) {
	r.t.Helper()
	if r.cookie != nil {
		req.AddCookie(r.cookie)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

func (r *rig) get(path string) (*http.Response, string) {
	r.t.Helper()
	req, _ := http.NewRequest("GET", r.srv.URL+path, nil)
	return r.do(req)
}

func (r *rig) post(path string, form url.Values) (*http.Response, string) {
	r.t.Helper()
	req, _ := http.NewRequest("POST", r.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return r.do(req)
}

// signIn uses the one-time link and keeps the session cookie and the
// page's CSRF token.
func (r *rig) signIn() {
	r.t.Helper()
	res, _ := r.get("/signin?token=" + url.QueryEscape(r.con.Token()))
	if res.StatusCode != http.StatusSeeOther {
		r.t.Fatalf("sign-in: %s", res.Status)
	}
	for _, c := range res.Cookies() {
		if c.Name == cookieName {
			r.cookie = c
		}
	}
	if r.cookie == nil {
		r.t.Fatal("sign-in set no session cookie")
	}
	_, body := r.get("/")
	m := regexp.MustCompile(`<meta name="csrf" content="([^"]+)">`).FindStringSubmatch(body)
	if m == nil {
		r.t.Fatalf("no CSRF token in the page:\n%s", body)
	}
	r.csrf = m[1]
}

func (r *rig) addLicense(max int) string {
	r.t.Helper()
	r.n++
	key, err := licensekey.New(testkeys.Rand(fmt.Sprintf("console key %d", r.n)))
	if err != nil {
		r.t.Fatal(err)
	}
	if err := r.led.CreateLicense(context.Background(), &ledger.License{Key: key, Product: product, Licensee: "Example GmbH",
		MaxMachines: max, MatchPolicy: "all", Created: t0.Add(-time.Hour)}); err != nil {
		r.t.Fatal(err)
	}
	return key
}

// request is an armored request for key from a machine (its machine-id
// varies with id) and installation inst.
func (r *rig) request(key, id string, inst *crypto.Identity) string {
	r.t.Helper()
	return r.requestWith(key, id, inst, nil)
}

// requestWith is request with a hardware key in it (nil: none).
func (r *rig) requestWith(key, id string, inst *crypto.Identity, hk *request.HardwareKey) string {
	r.t.Helper()
	return armor.Text(armor.Request, r.signedRequest(key, id, inst, func(p *request.Params) { p.HardwareKey = hk }).Bytes)
}

// signedRequest is a request of machine id for key, as set changes it.
func (r *rig) signedRequest(key, id string, inst *crypto.Identity, set func(*request.Params)) *request.Signed {
	r.t.Helper()
	root := r.t.TempDir()
	if err := copyFixture(root, id); err != nil {
		r.t.Fatal(err)
	}
	rep, err := fingerprint.Collect(fingerprint.DirSource(root, "linux"))
	if err != nil {
		r.t.Fatal(err)
	}
	fp := rep.Hash(product, r.vendor.ID())
	comps := map[uint8][]byte{}
	for _, d := range fp.Components {
		comps[uint8(d.ID)] = bytes.Clone(d.Sum[:])
	}
	r.n++
	p := request.Params{Product: product, LicenseKey: key, Fingerprint: bytes.Clone(fp.ID[:]), Components: comps,
		Env: uint16(fp.Env), Vendor: r.vendor.Public(), Now: t0.Add(-time.Hour), Rand: testkeys.Rand(fmt.Sprintf("nonce %d", r.n))}
	set(&p)
	s, err := request.New(p, inst)
	if err != nil {
		r.t.Fatal(err)
	}
	return s
}

func (r *rig) form(kv ...string) url.Values {
	v := url.Values{"csrf": {r.csrf}}
	for i := 0; i < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

// text is a page's visible text, roughly: tags dropped, entities decoded,
// spaces collapsed.
func text(body string) string {
	s := regexp.MustCompile(`(?s)<[^>]*>`).ReplaceAllString(body, " ")
	return strings.Join(strings.Fields(html.UnescapeString(s)), " ")
}

func want(t *testing.T, what, body string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(text(body), s) {
			t.Errorf("%s does not say %q:\n%s", what, s, text(body))
		}
	}
}

func TestCheckListen(t *testing.T) {
	for _, c := range []struct {
		addr          string
		allow, remote bool
		ok            bool
	}{
		{"127.0.0.1:8470", false, false, true},
		{"127.0.0.2:0", false, false, true},
		{"[::1]:8470", false, false, true},
		{"localhost:8470", false, false, true},
		{"0.0.0.0:8470", false, true, false},
		{":8470", false, true, false},
		{"192.168.1.5:8470", false, true, false},
		{"desk.example:8470", false, true, false},
		{"0.0.0.0:8470", true, true, true},
		{"8470", false, false, false},
	} {
		remote, err := CheckListen(c.addr, c.allow)
		if (err == nil) != c.ok || remote != c.remote {
			t.Errorf("CheckListen(%q, %v) = %v, %v; want remote %v, ok %v", c.addr, c.allow, remote, err, c.remote, c.ok)
		}
	}
}

// The sign-in link works once, for the right token only, and gives an
// HttpOnly SameSite=Strict cookie; without it no page opens.
func TestSignInTokenWorksOnce(t *testing.T) {
	r := newRig(t)
	if res, body := r.get("/"); res.StatusCode != http.StatusUnauthorized || !strings.Contains(body, codeNotSignedIn) {
		t.Fatalf("a page without sign-in: %s", res.Status)
	}
	if res, _ := r.get("/signin?token=" + strings.Repeat("A", len(r.con.Token()))); res.StatusCode != http.StatusForbidden {
		t.Fatalf("a wrong token: %s", res.Status)
	}
	res, _ := r.get("/signin?token=" + url.QueryEscape(r.con.Token()))
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("the right token: %s", res.Status)
	}
	c := res.Cookies()
	if len(c) != 1 || !c[0].HttpOnly || c[0].SameSite != http.SameSiteStrictMode || c[0].Path != "/" {
		t.Fatalf("session cookie %+v", c)
	}
	if res, body := r.get("/signin?token=" + url.QueryEscape(r.con.Token())); res.StatusCode != http.StatusForbidden || !strings.Contains(body, codeSignInRefused) {
		t.Fatalf("the token a second time: %s", res.Status)
	}
	r.cookie = c[0]
	if res, _ := r.get("/"); res.StatusCode != http.StatusOK {
		t.Fatalf("a page with the session: %s", res.Status)
	}
	// Signing out ends the session.
	_, home := r.get("/")
	csrf := regexp.MustCompile(`<meta name="csrf" content="([^"]+)">`).FindStringSubmatch(home)[1]
	if res, _ := r.post("/signout", url.Values{"csrf": {csrf}}); res.StatusCode != http.StatusOK {
		t.Fatalf("sign out: %s", res.Status)
	}
	if res, _ := r.get("/"); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a page after signing out: %s", res.Status)
	}
	r.cookie = &http.Cookie{Name: cookieName, Value: web.NewSessionID()}
	if res, _ := r.get("/licenses"); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a made-up session: %s", res.Status)
	}
}

// A request naming another host (a page whose name was pointed at
// 127.0.0.1: DNS rebinding) is refused; loopback names are served.
func TestHostRefused(t *testing.T) {
	r := newRig(t)
	for host, ok := range map[string]bool{"evil.example": false, "evil.example:80": false, "192.168.1.5:8470": false,
		"127.0.0.1:8470": true, "localhost:8470": true, "[::1]:8470": true, "LOCALHOST": true} {
		req, _ := http.NewRequest("GET", r.srv.URL+"/signin?token=x", nil)
		req.Host = host
		res, body := r.do(req)
		if refused := res.StatusCode == http.StatusMisdirectedRequest; refused == ok || refused && !strings.Contains(body, codeHostRefused) {
			t.Errorf("Host %q: %s", host, res.Status)
		}
	}
}

// Every answer, refusals and static files included, has the strict
// headers.
func TestHeaders(t *testing.T) {
	r := newRig(t)
	check := func(path string, res *http.Response) {
		t.Helper()
		for h, v := range map[string]string{
			"Content-Security-Policy": web.CSP, "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
			"Referrer-Policy": "no-referrer", "Cache-Control": "no-store",
		} {
			if got := res.Header.Get(h); got != v {
				t.Errorf("%s: %s = %q, want %q", path, h, got, v)
			}
		}
	}
	res, _ := r.get("/")
	check("/ signed out", res)
	r.signIn()
	for _, p := range []string{"/", "/licenses", "/receipts", "/static/app.css", "/static/camera.js", "/licenses/NOPE"} {
		res, body := r.get(p)
		check(p, res)
		if strings.Contains(body, "<script>") || strings.Contains(body, "style=") || strings.Contains(body, "http://") || strings.Contains(body, "https://") {
			t.Errorf("%s has an inline script or style, or loads from elsewhere", p)
		}
	}
}

// Every POST needs the session's CSRF token.
func TestCSRFRefused(t *testing.T) {
	r := newRig(t)
	r.signIn()
	key := r.addLicense(1)
	req := r.request(key, "a", testkeys.Identity(crypto.RoleInstallation, "inst a"))
	for _, path := range []string{"/request/review", "/request/sign", "/receipts/import", "/signout", "/scan/request"} {
		for name, tok := range map[string]string{"none": "", "wrong": strings.Repeat("x", len(r.csrf))} {
			res, body := r.post(path, url.Values{"csrf": {tok}, "text": {req}})
			if res.StatusCode != http.StatusForbidden || !strings.Contains(body, codeCSRF) {
				t.Errorf("POST %s with %s token: %s", path, name, res.Status)
			}
		}
	}
	if n, _ := r.led.SeatsUsed(context.Background(), key); n != 0 {
		t.Fatalf("a refused POST took a seat")
	}
	if res, _ := r.post("/request/sign", r.form("text", req)); res.StatusCode != http.StatusOK {
		t.Fatalf("POST with the token: %s", res.Status)
	}
}

// The review shows what the request asks for and the ledger's answer
// before anything is signed; signing records the activation and shows the
// license's QR codes, which carry the license; the same machine again
// keeps its seat; one machine too many is refused with its code and no
// sign button.
func TestReviewSignAndRefuse(t *testing.T) {
	r := newRig(t)
	r.signIn()
	ctx := context.Background()
	key := r.addLicense(1)
	instA := testkeys.Identity(crypto.RoleInstallation, "inst a")
	req := r.request(key, "a", instA)

	res, body := r.post("/request/review", r.form("text", strings.ToLower(req)))
	if res.StatusCode != http.StatusOK {
		t.Fatalf("review: %s\n%s", res.Status, text(body))
	}
	want(t, "the review", body, "Product "+product, "License key "+key, "Licensee Example GmbH", "Seats 0 of 1 used, 1 left",
		"This machine takes a new seat", "Verdict signs", "Hardware key none", "Sign the license")
	if n, _ := r.led.SeatsUsed(ctx, key); n != 0 {
		t.Fatal("the review took a seat")
	}

	res, body = r.post("/request/sign", r.form("text", req))
	if res.StatusCode != http.StatusOK {
		t.Fatalf("sign: %s\n%s", res.Status, text(body))
	}
	want(t, "the license page", body, "a new seat, recorded in the ledger", "Part 1 of")
	as, err := r.led.Activations(ctx, key)
	if err != nil || len(as) != 1 {
		t.Fatalf("activations after signing: %d, %v", len(as), err)
	}
	// The page's QR codes carry the license the ledger recorded.
	lic := armor.Text(armor.License, as[0].License)
	if got := decodeImages(t, body); got != lic {
		t.Fatalf("the QR codes carry\n%s\nthe ledger holds\n%s", got, lic)
	}
	res, dl := r.get("/licenses/" + key + "/" + as[0].ID + "/download")
	if res.StatusCode != http.StatusOK || dl != lic || !strings.Contains(res.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("download: %s %q", res.Status, res.Header.Get("Content-Disposition"))
	}
	res, again := r.get("/licenses/" + key + "/" + as[0].ID)
	if res.StatusCode != http.StatusOK || decodeImages(t, again) != lic {
		t.Fatalf("the license shown again from the ledger: %s", res.Status)
	}
	_, list := r.get("/licenses")
	want(t, "the license list", list, key, "1 of 1")
	_, one := r.get("/licenses/" + key)
	want(t, "the license page", one, as[0].ID, "taken")

	// The same machine and installation again: its seat, no new one.
	_, body = r.post("/request/review", r.form("text", r.request(key, "a", instA)))
	want(t, "the review of the same machine", body, "holds activation "+as[0].ID+" already", "Seats 1 of 1 used, 0 left", "Verdict signs")

	// Another machine: all seats taken.
	other := r.request(key, "b", testkeys.Identity(crypto.RoleInstallation, "inst b"))
	res, body = r.post("/request/review", r.form("text", other))
	if res.StatusCode != http.StatusUnprocessableEntity || strings.Contains(body, "Sign the license") {
		t.Fatalf("review of one machine too many: %s, sign button %v", res.Status, strings.Contains(body, "Sign the license"))
	}
	want(t, "the refusal", body, "TOO_MANY_MACHINES", "Verdict refused: TOO_MANY_MACHINES")
	res, body = r.post("/request/sign", r.form("text", other))
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "TOO_MANY_MACHINES") {
		t.Fatalf("signing one machine too many anyway: %s", res.Status)
	}
	res, body = r.post("/request/review", r.form("text", "hello"))
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "MALFORMED") {
		t.Fatalf("review of garbage: %s", res.Status)
	}
}

// decodeImages decodes the page's QR images with the qr package and joins
// the parts.
func decodeImages(t *testing.T, body string) string {
	t.Helper()
	c := &armor.Collector{}
	for _, m := range regexp.MustCompile(`src="data:image/png;base64,([^"]+)"`).FindAllStringSubmatch(body, -1) {
		png, err := base64Decode(html.UnescapeString(m[1]))
		if err != nil {
			t.Fatal(err)
		}
		texts, err := qr.DecodeImage(bytes.NewReader(png))
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range texts {
			c.Write([]byte(s + "\n"))
		}
	}
	c.Close()
	k, p, _, err := c.Result()
	if err != nil {
		t.Fatalf("the page's QR codes: %v", err)
	}
	return armor.Text(k, p)
}

// A phone photo of the request's QR code, dropped on the page, is read in
// the server; so is a camera frame.
func TestDropPhotoAndScanFrame(t *testing.T) {
	r := newRig(t)
	r.signIn()
	key := r.addLicense(2)
	req := r.request(key, "a", testkeys.Identity(crypto.RoleInstallation, "inst a"))
	k, payload, _ := armor.Decode([]byte(req))
	codes, err := qr.Plan(k, payload, qr.Options{})
	if err != nil {
		t.Fatal(err)
	}
	photo, err := qrphoto.MakeSeveral(codes, qrphoto.Params{Scale: 0.8, Rotate: 4, TiltX: 0.03, Blur: 0.6, Noise: 3, JPEG: 85, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	mw.WriteField("csrf", r.csrf)
	fw, _ := mw.CreateFormFile("file", "photo.jpg")
	fw.Write(photo)
	mw.Close()
	hreq, _ := http.NewRequest("POST", r.srv.URL+"/request/review", &b)
	hreq.Header.Set("Content-Type", mw.FormDataContentType())
	res, body := r.do(hreq)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("review of a dropped photo: %s\n%s", res.Status, text(body))
	}
	want(t, "the review of a photo", body, "License key "+key, "Verdict signs")

	if len(codes) != 1 {
		t.Fatalf("the request takes %d codes; this test shows one frame", len(codes))
	}
	frame, err := codes[0].PNG(qr.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// The camera sends frames until the message is whole: a code in view
	// for a moment.
	for i := 0; ; i++ {
		hreq, _ = http.NewRequest("POST", r.srv.URL+"/scan/request", bytes.NewReader(frame))
		hreq.Header.Set("X-CSRF-Token", r.csrf)
		res, body = r.do(hreq)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("a camera frame: %s %s", res.Status, body)
		}
		var sr web.ScanResult
		if err := json.Unmarshal([]byte(body), &sr); err != nil {
			t.Fatal(err)
		}
		if sr.Done {
			if sr.Text != req {
				t.Fatalf("the scan gave\n%s\nnot the request\n%s", sr.Text, req)
			}
			break
		}
		if i == 3 {
			t.Fatalf("four frames of one code did not give the request: %s", body)
		}
	}
}

// A receipt frees the seat, once; the page says so.
func TestReceiptImport(t *testing.T) {
	r := newRig(t)
	r.signIn()
	ctx := context.Background()
	key := r.addLicense(1)
	inst := testkeys.Identity(crypto.RoleInstallation, "inst a")
	if res, body := r.post("/request/sign", r.form("text", r.request(key, "a", inst))); res.StatusCode != http.StatusOK {
		t.Fatalf("sign: %s %s", res.Status, text(body))
	}
	as, _ := r.led.Activations(ctx, key)
	lic, err := responseOf(as[0].License)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := receipt.New(inst, lic, as[0].License, t0, testkeys.Rand("receipt"))
	if err != nil {
		t.Fatal(err)
	}
	res, body := r.post("/receipts/import", r.form("text", string(rc.Text())))
	if res.StatusCode != http.StatusOK {
		t.Fatalf("receipt: %s %s", res.Status, text(body))
	}
	want(t, "the receipt page", body, "Seat freed: license "+key)
	if n, _ := r.led.SeatsUsed(ctx, key); n != 0 {
		t.Fatal("the seat is still taken")
	}
	_, body = r.post("/receipts/import", r.form("text", string(rc.Text())))
	want(t, "the receipt page again", body, "imported before")
	res, body = r.post("/receipts/import", r.form("text", "-----BEGIN AIRLOCK RECEIPT-----\nAAAA\n-----END AIRLOCK RECEIPT-----\n"))
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "MALFORMED") {
		t.Fatalf("a bad receipt: %s %s", res.Status, text(body))
	}
}

func responseOf(b []byte) (*response.License, error) {
	l, _, err := response.ParseUnverified(b)
	return l, err
}

func base64Decode(s string) ([]byte, error) { return base64.StdEncoding.DecodeString(s) }

// copyFixture copies the bare-metal fixture machine into root with its
// machine-id made from id, so each id is another machine.
func copyFixture(root, id string) error {
	if err := os.CopyFS(root, os.DirFS("../testdata/fingerprint/bare-metal")); err != nil {
		return err
	}
	mid := fmt.Sprintf("%032x\n", sha256.Sum256([]byte(id)))[:32] + "\n"
	for _, p := range []string{"etc/machine-id", "var/lib/dbus/machine-id"} {
		if err := os.WriteFile(filepath.Join(root, p), []byte(mid), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// The review names the hardware key a request brings, and says when the
// key cannot prove itself (no public key in the request).
func TestReviewShowsHardwareKey(t *testing.T) {
	r := newRig(t)
	r.signIn()
	key := r.addLicense(1)
	hk := &request.HardwareKey{Type: request.HWGeneric, Serial: []byte{0x04, 0xa2, 0x2b, 0x91, 0x6c, 0x5d, 0x80}}
	req := r.requestWith(key, "a", testkeys.Identity(crypto.RoleInstallation, "inst hk"), hk)
	res, body := r.post("/request/review", r.form("text", req))
	if res.StatusCode != http.StatusOK {
		t.Fatalf("review: %s\n%s", res.Status, text(body))
	}
	want(t, "the review", body, "Hardware key generic card (UID only), serial 04A22B916C5D80 (cannot prove itself)", "Phone code no")
}

// A page asked with a method it does not answer is a 405 naming the ones
// it does (Allow header too); a page that does not exist, a 404; both are
// the console's own pages with a stable code.
func TestWrongMethodAndNoSuchPage(t *testing.T) {
	r := newRig(t)
	r.signIn()
	for _, c := range []struct {
		method, path string
		status       int
		allow, code  string
	}{
		{http.MethodPost, "/licenses", http.StatusMethodNotAllowed, "GET", codeMethod},
		{http.MethodGet, "/request/sign", http.StatusMethodNotAllowed, "POST", codeMethod},
		{http.MethodDelete, "/receipts", http.StatusMethodNotAllowed, "GET", codeMethod},
		{http.MethodGet, "/no-such-page", http.StatusNotFound, "", codeNoSuchPage},
		{http.MethodPost, "/no/such/page", http.StatusNotFound, "", codeNoSuchPage},
	} {
		req, _ := http.NewRequest(c.method, r.srv.URL+c.path, nil)
		res, body := r.do(req)
		if res.StatusCode != c.status || res.Header.Get("Allow") != c.allow || !strings.Contains(body, c.code) {
			t.Errorf("%s %s: %s, Allow %q, want %d, %q, %s", c.method, c.path, res.Status, res.Header.Get("Allow"), c.status, c.allow, c.code)
		}
	}
}

// A request asking for a phone code (its seed sealed to the vendor) says
// so in the review, and once signed the page shows the code to read out:
// the one the machine accepts (phonecode.Valid with the machine's seed)
// at the desk's time.
func TestReviewAndSignPhoneCode(t *testing.T) {
	r := newRig(t)
	r.signIn()
	key := r.addLicense(1)
	seed := bytes.Repeat([]byte{0x5a}, phonecode.SeedSize)
	s := r.signedRequest(key, "a", testkeys.Identity(crypto.RoleInstallation, "inst phone"), func(p *request.Params) {
		p.Confidential = &request.Confidential{CodeSeed: seed}
	})
	req := armor.Text(armor.Request, s.Bytes)
	res, body := r.post("/request/review", r.form("text", req))
	if res.StatusCode != http.StatusOK {
		t.Fatalf("review: %s\n%s", res.Status, text(body))
	}
	want(t, "the review", body, "Phone code yes: a short code to read out is shown after signing")
	res, body = r.post("/request/sign", r.form("text", req))
	if res.StatusCode != http.StatusOK {
		t.Fatalf("sign: %s\n%s", res.Status, text(body))
	}
	m := regexp.MustCompile(`<strong id="phone-code">([0-9 ]+)</strong>`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no phone code on the signed page:\n%s", text(body))
	}
	if !phonecode.Valid(m[1], seed, s.Hash, t0) {
		t.Fatalf("the page's code %q is not the machine's", m[1])
	}
	if phonecode.Valid(m[1], bytes.Repeat([]byte{0xa5}, phonecode.SeedSize), s.Hash, t0) {
		t.Fatal("the code is valid for another seed too")
	}
}
