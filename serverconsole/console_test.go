package serverconsole

import (
	"bytes"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"html"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/floating"
	"github.com/airlock-offline/airlock/internal/armor"
	"github.com/airlock-offline/airlock/internal/testrig/testkeys"
	"github.com/airlock-offline/airlock/licensekey"
	"github.com/airlock-offline/airlock/request"
	"github.com/airlock-offline/airlock/response"
	"github.com/airlock-offline/airlock/result"
	"github.com/airlock-offline/airlock/usage"
)

var t0 = time.Date(2030, 3, 1, 12, 0, 0, 0, time.UTC)

type clock struct{ t atomic.Int64 }

func (c *clock) Now() time.Time { return time.Unix(0, c.t.Load()).UTC() }

// fixture is a real floating server with one pool license, its console,
// and a browser-like client (cookie jar, no redirects followed).
type fixture struct {
	vendor, server *crypto.Identity
	srv            *floating.Server
	con            *Console
	ts             *httptest.Server
	jar            http.CookieJar
	hc             *http.Client
	clock          *clock
	act            *fakeActivator
	cfg            Config
}

func pool() *response.Pool {
	return &response.Pool{Seats: 2, LeaseTTL: 180, Heartbeat: 60, BorrowDays: 7, BorrowMax: 1,
		FeatureSeats:       map[string]uint32{"render": 1},
		Consumption:        &response.Allowance{Max: 100, Overage: 10},
		FeatureConsumption: map[string]response.Allowance{"export": {Max: 5}},
	}
}

// signed makes a request of server for product and the vendor's pool
// license answering it.
func signed(t testing.TB, vendor, server *crypto.Identity, product string, pl ...*response.Pool) (*request.Signed, *response.Signed) {
	t.Helper()
	key, err := licensekey.New(testkeys.Rand("key " + product))
	if err != nil {
		t.Fatal(err)
	}
	req, err := request.New(request.Params{Product: product, LicenseKey: key, Fingerprint: bytes.Repeat([]byte{7}, request.FPSize),
		Vendor: vendor.Public(), Now: t0.Add(-time.Hour), Rand: testkeys.Rand("req " + product)}, server)
	if err != nil {
		t.Fatal(err)
	}
	lic, err := response.New(vendor, req, response.Params{LicenseKey: key, ActivationID: bytes.Repeat([]byte{1}, 16), Product: product,
		Licensee: "ACME Corp", Features: map[string]uint64{"render": 0}, Issued: t0.Add(-time.Hour), Pool: append(pl, pool())[0]})
	if err != nil {
		t.Fatal(err)
	}
	return req, lic
}

// fakeActivator stands in for airlock-server's state folder: it hands out
// a real signed request and "installs" a license by keeping its bytes.
type fakeActivator struct {
	req       []byte
	installed [][]byte
	asked     []string
}

func (a *fakeActivator) Request(product, licenseKey string, renew bool) ([]byte, error) {
	a.asked = append(a.asked, product+"|"+licenseKey)
	return a.req, nil
}

func (a *fakeActivator) Install(text []byte) (string, error) {
	// What is not a license is MALFORMED, as the real activator says
	// (client.Verifier.Activate).
	raw, err := armor.DecodeKind(text, armor.License)
	if err != nil {
		return "", result.Wrap(result.Malformed, "not a valid license", err)
	}
	lic, _, err := response.ParseUnverified(raw)
	if err != nil {
		return "", result.Wrap(result.Malformed, "not a valid license", err)
	}
	a.installed = append(a.installed, raw)
	return lic.Product, nil
}

func (a *fakeActivator) Licenses() ([][]byte, error) { return a.installed, nil }

func newFixture(t testing.TB, mod ...func(*Config)) *fixture {
	t.Helper()
	f := &fixture{vendor: testkeys.Identity(crypto.RoleVendor, "vendor"), server: testkeys.Identity(crypto.RoleInstallation, "server"), clock: new(clock)}
	f.clock.t.Store(t0.UnixNano())
	_, lic := signed(t, f.vendor, f.server, "acme-cad")
	req2, _ := signed(t, f.vendor, f.server, "acme-cam")
	f.act = &fakeActivator{req: req2.Text(), installed: [][]byte{lic.Bytes}}
	srv, err := floating.New(floating.Config{Identity: f.server, Licenses: [][]byte{lic.Bytes}, DB: filepath.Join(t.TempDir(), "s.db"),
		Now: f.clock.Now, Activator: f.act})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	f.srv = srv
	f.cfg = Config{Server: srv, Activator: f.act, Now: f.clock.Now}
	for _, m := range mod {
		m(&f.cfg)
	}
	if f.con, err = New(f.cfg); err != nil {
		t.Fatal(err)
	}
	f.ts = httptest.NewTLSServer(Mount(srv.Handler(), f.con))
	t.Cleanup(f.ts.Close)
	f.jar, _ = cookiejar.New(nil)
	f.hc = f.ts.Client()
	f.hc.Jar = f.jar
	f.hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return f
}

type answer struct {
	status int
	header http.Header
	body   string
}

func (f *fixture) get(t *testing.T, path string) answer {
	t.Helper()
	resp, err := f.hc.Get(f.ts.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, string(b)}
}

func (f *fixture) post(t *testing.T, path string, form url.Values) answer {
	t.Helper()
	resp, err := f.hc.PostForm(f.ts.URL+path, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, string(b)}
}

var csrfMeta = regexp.MustCompile(`<meta name="csrf" content="([^"]*)">`)
var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// signIn signs in with a token of role and returns the session's CSRF
// token.
func (f *fixture) signIn(t *testing.T, role string) string {
	t.Helper()
	tok, _, err := f.srv.CreateToken("tester", role, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	p := f.get(t, "/login")
	m := csrfField.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no CSRF field on the sign-in page:\n%s", p.body)
	}
	p = f.post(t, "/login", url.Values{"csrf": {m[1]}, "token": {tok}})
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/" {
		t.Fatalf("sign in: %d %s\n%s", p.status, p.header.Get("Location"), p.body)
	}
	p = f.get(t, "/")
	m = csrfMeta.FindStringSubmatch(p.body)
	if p.status != 200 || m == nil || m[1] == "" {
		t.Fatalf("overview after sign-in: %d\n%s", p.status, p.body)
	}
	return m[1]
}

// acquire takes a seat with a fresh client key.
func (f *fixture) acquire(t *testing.T, label, host string) *floating.Grant {
	t.Helper()
	inst := testkeys.Identity(crypto.RoleInstallation, label)
	n, err := f.srv.Nonce()
	if err != nil {
		t.Fatal(err)
	}
	kid := f.server.ID()
	proof, err := floating.SignProof(inst, &floating.Proof{Op: floating.OpAcquire, Nonce: n, Server: kid[:], Product: "acme-cad", Hostname: host})
	if err != nil {
		t.Fatal(err)
	}
	g, err := f.srv.Acquire(proof, floating.Credentials{})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestSignInCookieAndHeaders(t *testing.T) {
	f := newFixture(t)
	p := f.get(t, "/")
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/login" {
		t.Fatalf("signed out: %d %q", p.status, p.header.Get("Location"))
	}
	p = f.get(t, "/login")
	for h, want := range map[string]string{"Content-Security-Policy": "default-src 'none'", "X-Frame-Options": "DENY",
		"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store", "Referrer-Policy": "no-referrer"} {
		if !strings.Contains(p.header.Get(h), want) {
			t.Errorf("%s: %q, want %q", h, p.header.Get(h), want)
		}
	}
	for _, want := range []string{"<title>Sign in · airlock</title>", `<label for="username">`, `<label for="token">`, "none</strong>: any client"} {
		if !strings.Contains(p.body, want) {
			t.Errorf("sign-in page lacks %q", want)
		}
	}
	if strings.Contains(p.body, "<script>") || strings.Contains(p.body, "style=") || strings.Contains(p.body, "http://") {
		t.Error("the page has inline script or style, or an outside link")
	}
	// No CSRF token: refused even with a good token.
	tok, _, _ := f.srv.CreateToken("a", floating.RoleAdmin, time.Hour)
	p = f.post(t, "/login", url.Values{"token": {tok}})
	if p.status != http.StatusForbidden || !strings.Contains(p.body, CodeCSRF) {
		t.Fatalf("sign-in without CSRF: %d\n%s", p.status, p.body)
	}
	// A wrong token: unauthorized, with its code.
	m := csrfField.FindStringSubmatch(f.get(t, "/login").body)
	p = f.post(t, "/login", url.Values{"csrf": {m[1]}, "token": {"alst_nope"}})
	if p.status != http.StatusUnauthorized || !strings.Contains(p.body, floating.CodeUnauthorized) {
		t.Fatalf("wrong token: %d\n%s", p.status, p.body)
	}
	resp, err := f.hc.PostForm(f.ts.URL+"/login", url.Values{"csrf": {m[1]}, "token": {tok}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var sc *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookie {
			sc = c
		}
	}
	if sc == nil || !sc.HttpOnly || !sc.Secure || sc.SameSite != http.SameSiteStrictMode || sc.Value == tok || strings.Contains(sc.Value, "alst_") {
		t.Fatalf("session cookie: %+v", sc)
	}
	p = f.get(t, "/")
	for _, want := range []string{"<title>Overview · airlock</title>", "acme-cad", "ACME Corp", "0 of 2", `<th scope="col">Product</th>`, "none</strong>: any client"} {
		if !strings.Contains(p.body, want) {
			t.Errorf("overview lacks %q", want)
		}
	}
	// The API still answers on the same handler.
	p = f.get(t, floating.APIPrefix+"/info")
	if p.status != 200 || !strings.Contains(p.body, `"server_key_id"`) {
		t.Fatalf("API info: %d %s", p.status, p.body)
	}
	// Revoking the token through the API ends the session.
	if err := f.srv.RevokeToken(tok); err != nil {
		t.Fatal(err)
	}
	if p = f.get(t, "/"); p.status != http.StatusSeeOther {
		t.Fatalf("after revocation: %d", p.status)
	}
}

func TestPasswordSignInAndOut(t *testing.T) {
	f := newFixture(t)
	if err := f.srv.SetUser("alice", "correct horse battery", floating.RoleUser); err != nil {
		t.Fatal(err)
	}
	m := csrfField.FindStringSubmatch(f.get(t, "/login").body)
	p := f.post(t, "/login", url.Values{"csrf": {m[1]}, "username": {"alice"}, "password": {"wrong password!!"}})
	if p.status != http.StatusUnauthorized || !strings.Contains(p.body, "wrong user name or password") || strings.Contains(p.body, "wrong password!!") {
		t.Fatalf("wrong password: %d\n%s", p.status, p.body)
	}
	p = f.post(t, "/login", url.Values{"csrf": {m[1]}, "username": {"alice"}, "password": {"correct horse battery"}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("sign in: %d\n%s", p.status, p.body)
	}
	p = f.get(t, "/")
	if !strings.Contains(p.body, "Signed in as <strong>alice</strong> (user") {
		t.Fatalf("overview:\n%s", p.body)
	}
	c := f.con.sessionsOf("alice")
	if len(c) != 1 {
		t.Fatalf("sessions: %d", len(c))
	}
	csrf := csrfMeta.FindStringSubmatch(p.body)[1]
	if p = f.post(t, "/logout", url.Values{}); p.status != http.StatusForbidden {
		t.Fatalf("sign-out without CSRF: %d", p.status)
	}
	if p = f.post(t, "/logout", url.Values{"csrf": {csrf}}); p.status != http.StatusSeeOther {
		t.Fatalf("sign-out: %d", p.status)
	}
	if _, err := f.srv.TokenRole(c[0].token); !floating.IsCode(err, floating.CodeUnauthorized) {
		t.Fatalf("the sign-in's token lives on after sign-out: %v", err)
	}
	if p = f.get(t, "/seats"); p.status != http.StatusSeeOther {
		t.Fatalf("after sign-out: %d", p.status)
	}
}

func (c *Console) sessionsOf(name string) []*session {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*session
	for _, s := range c.sessions {
		if s.name == name {
			out = append(out, s)
		}
	}
	return out
}

func TestForceReleaseNeedsCSRFAndAdmin(t *testing.T) {
	f := newFixture(t)
	g := f.acquire(t, "c1", "build-07")
	id := hex.EncodeToString(g.Lease.ID)

	csrf := f.signIn(t, floating.RoleUser)
	p := f.get(t, "/seats")
	if !strings.Contains(p.body, "build-07") || strings.Contains(p.body, "Force release") {
		t.Fatalf("a user sees the seat without a release button:\n%s", p.body)
	}
	p = f.post(t, "/seats/release", url.Values{"csrf": {csrf}, "lease": {id}})
	if p.status != http.StatusForbidden || !strings.Contains(p.body, floating.CodeForbidden) {
		t.Fatalf("user release: %d\n%s", p.status, p.body)
	}

	f.jar, _ = cookiejar.New(nil)
	f.hc.Jar = f.jar
	csrf = f.signIn(t, floating.RoleAdmin)
	p = f.get(t, "/seats")
	if !strings.Contains(p.body, `aria-label="Force release the seat of build-07 (acme-cad)"`) {
		t.Fatalf("no release button:\n%s", p.body)
	}
	for _, bad := range []url.Values{{"lease": {id}}, {"lease": {id}, "csrf": {"x" + csrf}}} {
		p = f.post(t, "/seats/release", bad)
		if p.status != http.StatusForbidden || !strings.Contains(p.body, CodeCSRF) {
			t.Fatalf("release without the CSRF token: %d\n%s", p.status, p.body)
		}
	}
	if n := len(f.srv.Leases()); n != 1 {
		t.Fatalf("a refused release released: %d leases", n)
	}
	p = f.post(t, "/seats/release", url.Values{"csrf": {csrf}, "lease": {id}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("release: %d\n%s", p.status, p.body)
	}
	if n := len(f.srv.Leases()); n != 0 {
		t.Fatalf("%d leases after release", n)
	}
	p = f.get(t, "/seats?done=released")
	if !strings.Contains(p.body, "The seat is released.") || !strings.Contains(p.body, "No seat is held.") {
		t.Fatalf("after release:\n%s", p.body)
	}
	// Again: the lease is unknown, and the page says so with the code.
	p = f.post(t, "/seats/release", url.Values{"csrf": {csrf}, "lease": {id}})
	if p.status != http.StatusConflict || !strings.Contains(p.body, floating.CodeLeaseUnknown) {
		t.Fatalf("second release: %d\n%s", p.status, p.body)
	}
	// GET never changes anything.
	if p = f.get(t, "/seats/release"); p.status != http.StatusNotFound && p.status != http.StatusMethodNotAllowed {
		t.Fatalf("GET release: %d", p.status)
	}
}

func TestFragments(t *testing.T) {
	f := newFixture(t)
	if p := f.get(t, "/live/seats"); p.status != http.StatusUnauthorized {
		t.Fatalf("signed-out fragment: %d", p.status)
	}
	f.signIn(t, floating.RoleAdmin)
	p := f.get(t, "/seats")
	if !strings.Contains(p.body, `data-live="/live/seats"`) {
		t.Fatal("the seats page does not refresh live")
	}
	f.acquire(t, "c1", "lab-3")
	p = f.get(t, "/live/seats")
	if p.status != 200 || strings.Contains(p.body, "<html") || !strings.Contains(p.body, "lab-3") || !strings.Contains(p.body, `name="csrf"`) {
		t.Fatalf("seats fragment: %d\n%s", p.status, p.body)
	}
	p = f.get(t, "/live/overview")
	if p.status != 200 || strings.Contains(p.body, "<html") || !strings.Contains(p.body, "1 of 2") {
		t.Fatalf("overview fragment: %d\n%s", p.status, p.body)
	}
	if p.header.Get("Content-Security-Policy") == "" {
		t.Fatal("a fragment without CSP")
	}
}

func TestAddProductRequestAndLicense(t *testing.T) {
	f := newFixture(t)
	_, lic := signed(t, f.vendor, f.server, "acme-cam")
	csrf := f.signIn(t, floating.RoleAdmin)
	p := f.get(t, "/products")
	for _, want := range []string{`<label for="product">`, `<label class="inline" for="hardware_key">`, `data-scan="/scan"`, `src="/static/camera.js"`} {
		if !strings.Contains(p.body, want) {
			t.Errorf("add-product page lacks %q", want)
		}
	}
	p = f.post(t, "/products", url.Values{"product": {"acme-cam"}, "license_key": {"K"}})
	if p.status != http.StatusForbidden {
		t.Fatalf("request without CSRF: %d", p.status)
	}
	p = f.post(t, "/products", url.Values{"csrf": {csrf}, "product": {"acme-cam"}, "license_key": {"K"}, "hardware_key": {"yes"}})
	if p.status != http.StatusNotFound || !strings.Contains(p.body, floating.CodeNotFound) {
		t.Fatalf("a hardware-key request on a server without a key: %d\n%s", p.status, p.body)
	}
	p = f.post(t, "/products", url.Values{"csrf": {csrf}, "product": {"acme-cam"}, "license_key": {"K"}})
	if p.status != 200 || !strings.Contains(p.body, `src="data:image/png;base64,`) || !strings.Contains(p.body, "QR code 1 of") {
		t.Fatalf("request page: %d\n%s", p.status, p.body)
	}
	if got := f.act.asked; len(got) != 1 || got[0] != "acme-cam|K" {
		t.Fatalf("asked: %v", got)
	}
	d := f.get(t, "/products/request?product=acme-cam")
	if d.status != 200 || d.body != string(f.act.req) || !strings.Contains(d.header.Get("Content-Disposition"), "server-request-acme-cam.txt") {
		t.Fatalf("download: %d %q", d.status, d.header.Get("Content-Disposition"))
	}
	// Garbage pasted: refused with a code, nothing installed.
	p = f.post(t, "/licenses", url.Values{"csrf": {csrf}, "license": {"not a license"}})
	if p.status != http.StatusBadRequest || !strings.Contains(p.body, "Code: <code class=\"code\">") {
		t.Fatalf("garbage license: %d\n%s", p.status, p.body)
	}
	// The license as an uploaded file.
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("csrf", csrf)
	_ = mw.WriteField("license", "")
	fw, _ := mw.CreateFormFile("file", "license.txt")
	_, _ = fw.Write(lic.Text())
	mw.Close()
	resp, err := f.hc.Post(f.ts.URL+"/licenses", mw.FormDataContentType(), &body)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `<dd id="installed-product">acme-cam</dd>`) {
		t.Fatalf("upload: %d\n%s", resp.StatusCode, b)
	}
	if len(f.srv.Status()) != 2 {
		t.Fatalf("served: %+v", f.srv.Status())
	}
}

func TestHardwareKeyShown(t *testing.T) {
	key := HardwareKeyStatus{Required: true, Present: true, Serial: "FFFE0A0B0C0D", Products: []string{"acme-cad"}, Reader: "Virtual PCD 00 00", LastProof: t0.Add(-time.Minute)}
	id := "FFFE0A0B0C0D"
	f := newFixture(t, func(c *Config) {
		c.HardwareKey = func() HardwareKeyStatus { return key }
		c.HardwareID = func() string { return id }
	})
	f.signIn(t, floating.RoleUser)
	p := f.get(t, "/live/overview")
	if !strings.Contains(p.body, `<code id="hardware-id">FFFE0A0B0C0D</code> <span class="ok">(the hardware key's serial)</span>`) ||
		!strings.Contains(p.body, "plugged in") || strings.Contains(p.body, "hardware-key-problem") {
		t.Fatalf("key present:\n%s", p.body)
	}
	key = HardwareKeyStatus{Required: true, Code: "hardware_key_not_accessible", Holder: "scdaemon (pid 812)"}
	id = "machine-7c1f"
	p = f.get(t, "/live/overview")
	for _, want := range []string{`<code id="hardware-id">machine-7c1f</code>`, "not present", "hardware_key_not_accessible", "held by another process: scdaemon (pid 812)"} {
		if !strings.Contains(p.body, want) {
			t.Errorf("key pulled: no %q", want)
		}
	}
}

// The charts are drawn from the history: every point of every series, in
// order, with its time and value.
func TestChartNumbers(t *testing.T) {
	var asked []time.Time
	hist := []HistoryPoint{
		{At: t0.Add(-3 * time.Hour), Peak: 2, Average: 1.5, Borrowed: 0, Denials: 0},
		{At: t0.Add(-2 * time.Hour), Peak: 2, Average: 2, Borrowed: 1, Denials: 4},
		{At: t0.Add(-time.Hour), Peak: 1, Average: 0.25, Borrowed: 1, Denials: 1},
	}
	f := newFixture(t, func(c *Config) {
		c.History = func(product string, since time.Time) []HistoryPoint {
			asked = append(asked, since)
			if product != "acme-cad" {
				return nil
			}
			return hist
		}
	})
	f.signIn(t, floating.RoleUser)
	p := f.get(t, "/charts?span=week")
	if p.status != 200 || len(asked) != 1 || !asked[0].Equal(t0.Add(-7*24*time.Hour)) {
		t.Fatalf("charts: %d, asked since %v", p.status, asked)
	}
	svgs := regexp.MustCompile(`(?s)<svg.*?</svg>`).FindAllString(p.body, -1)
	if len(svgs) != 2 {
		t.Fatalf("%d charts, want 2", len(svgs))
	}
	want := [][]float64{{2, 2, 1}, {1.5, 2, 0.25}, {0, 1, 1}}
	checkLine(t, svgs[0], want)
	checkLine(t, svgs[1], [][]float64{{0, 4, 1}})
	if !strings.Contains(p.body, `aria-current="page">Last week`) {
		t.Error("the chosen range is not marked")
	}

	// The bars: seats and counters against their caps.
	f.acquire(t, "c1", "h1")
	p = f.get(t, "/features")
	bars := regexp.MustCompile(`<rect[^>]*data-label="([^"]*)"[^>]*>`).FindAllStringSubmatch(p.body, -1)
	got := map[string]string{}
	for _, b := range bars {
		got[b[1]] = attr(b[0], "data-value") + "/" + attr(b[0], "data-cap")
	}
	for label, w := range map[string]string{"seats": "1/2", "render": "0/1", "consumption": "0/100", "export": "0/5"} {
		if got[label] != w {
			t.Errorf("bar %s: %q, want %q (all: %v)", label, got[label], w, got)
		}
	}
}

// checkLine checks a line chart's points against series of values at the
// history's times.
func checkLine(t *testing.T, svg string, want [][]float64) {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(svg))
	var vals []float64
	var ats []string
	for {
		tok, err := d.Token()
		if err != nil {
			break
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "circle" {
			for _, a := range se.Attr {
				switch a.Name.Local {
				case "data-v":
					v, err := strconv.ParseFloat(a.Value, 64)
					if err != nil {
						t.Fatalf("data-v %q", a.Value)
					}
					vals = append(vals, v)
				case "data-at":
					ats = append(ats, a.Value)
				}
			}
		}
	}
	var flat []float64
	for _, s := range want {
		flat = append(flat, s...)
	}
	if fmt.Sprint(vals) != fmt.Sprint(flat) {
		t.Fatalf("chart values %v, want %v", vals, flat)
	}
	for i, at := range ats {
		if w := t0.Add(time.Duration(i%3-3) * time.Hour).Format(time.RFC3339); at != w {
			t.Fatalf("point %d at %s, want %s", i, at, w)
		}
	}
}

func attr(tag, name string) string {
	m := regexp.MustCompile(name + `="([^"]*)"`).FindStringSubmatch(tag)
	if m == nil {
		return ""
	}
	return m[1]
}

func TestScanNeedsCSRF(t *testing.T) {
	f := newFixture(t)
	csrf := f.signIn(t, floating.RoleAdmin)
	req, _ := http.NewRequest("POST", f.ts.URL+"/scan", strings.NewReader("not an image"))
	resp, err := f.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(b), CodeCSRF) || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("scan without CSRF: %d %s", resp.StatusCode, b)
	}
	req, _ = http.NewRequest("POST", f.ts.URL+"/scan", strings.NewReader("not an image"))
	req.Header.Set("X-CSRF-Token", csrf)
	resp, err = f.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), `"code"`) {
		t.Fatalf("scan of garbage: %d %s", resp.StatusCode, b)
	}
}

// A usage report is a change (the report chain moves on): POST, CSRF and
// admin; it comes as QR codes, text and a download, and parses.
func TestUsageReport(t *testing.T) {
	f := newFixture(t)
	csrf := f.signIn(t, floating.RoleAdmin)
	if p := f.post(t, "/reports", url.Values{}); p.status != http.StatusForbidden {
		t.Fatalf("report without CSRF: %d", p.status)
	}
	if p := f.get(t, "/reports/download"); p.status != http.StatusNotFound {
		t.Fatalf("download before a report: %d", p.status)
	}
	f.acquire(t, "c1", "lab-3")
	p := f.post(t, "/reports", url.Values{"csrf": {csrf}})
	if p.status != 200 || !strings.Contains(p.body, `src="data:image/png;base64,`) {
		t.Fatalf("report: %d\n%s", p.status, p.body)
	}
	d := f.get(t, "/reports/download")
	if d.status != 200 || !strings.Contains(d.header.Get("Content-Disposition"), `filename="usage-report-1.txt"`) {
		t.Fatalf("download: %d %q", d.status, d.header.Get("Content-Disposition"))
	}
	signed, err := usage.ParseText([]byte(d.body))
	if err != nil {
		t.Fatalf("the downloaded report does not parse: %v", err)
	}
	if signed.Report.Seq != 1 || !strings.Contains(p.body, html.EscapeString(strings.TrimSpace(d.body))) {
		t.Fatalf("report %d; the page's text is not the download's", signed.Report.Seq)
	}
	// The next one is number 2.
	f.post(t, "/reports", url.Values{"csrf": {csrf}, "pseudonymise": {"yes"}})
	if d = f.get(t, "/reports/download"); !strings.Contains(d.header.Get("Content-Disposition"), "usage-report-2.txt") {
		t.Fatalf("second report: %q", d.header.Get("Content-Disposition"))
	}
}

// A day of minutes is drawn as at most maxPoints points that keep what
// matters: the peaks, the mean of the averages, every denial.
func TestDownsample(t *testing.T) {
	var h []HistoryPoint
	var denials, peak int
	for i := range 1441 {
		p := HistoryPoint{At: t0.Add(time.Duration(i) * time.Minute), Peak: float64(i % 7), Average: 1, Denials: i % 3, Borrowed: i % 5}
		denials += p.Denials
		peak = max(peak, int(p.Peak))
		h = append(h, p)
	}
	d := downsample(h)
	if len(d) > maxPoints || len(d) < maxPoints/2 {
		t.Fatalf("%d points", len(d))
	}
	var gotDen int
	for i, p := range d {
		gotDen += p.Denials
		if p.Average != 1 || p.Peak != float64(peak) && i < len(d)-1 || p.Borrowed != 4 && i < len(d)-1 {
			t.Fatalf("point %d: %+v", i, p)
		}
		if i > 0 && !p.At.After(d[i-1].At) {
			t.Fatal("points out of order")
		}
	}
	if gotDen != denials || !d[0].At.Equal(t0) {
		t.Fatalf("denials %d, want %d; first at %v", gotDen, denials, d[0].At)
	}
	if short := h[:50]; len(downsample(short)) != 50 {
		t.Fatal("a short history was merged")
	}
}

// An upload past the limit is refused as too large, not as a stale form.
func TestUploadTooLarge(t *testing.T) {
	f := newFixture(t)
	csrf := f.signIn(t, floating.RoleAdmin)
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("csrf", csrf)
	fw, _ := mw.CreateFormFile("file", "photo.jpg")
	_, _ = fw.Write(bytes.Repeat([]byte{0xff}, maxLicense+1))
	mw.Close()
	resp, err := f.hc.Post(f.ts.URL+"/licenses", mw.FormDataContentType(), &body)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(b), floating.CodeTooLarge) {
		t.Fatalf("too large: %d\n%s", resp.StatusCode, b)
	}
	if len(f.act.installed) != 1 {
		t.Fatal("something was installed")
	}
}

// A pool license that wants usage reports: the overview says when the
// next is due, and once grants stop the product's state is report_overdue.
func TestReportOverdueShown(t *testing.T) {
	vendor, server := testkeys.Identity(crypto.RoleVendor, "vendor"), testkeys.Identity(crypto.RoleInstallation, "server")
	pl := pool()
	pl.ReportEvery, pl.ReportGrace = 1, 1
	_, lic := signed(t, vendor, server, "acme-cad", pl)
	clk := new(clock)
	clk.t.Store(t0.UnixNano())
	srv, err := floating.New(floating.Config{Identity: server, Licenses: [][]byte{lic.Bytes}, DB: filepath.Join(t.TempDir(), "s.db"), Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c, err := New(Config{Server: srv, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	u := &user{s: &session{id: "x"}, role: floating.RoleUser}
	r := httptest.NewRequest("GET", "/", nil)
	d := c.overviewData(r, u).(overviewPage)
	if len(d.Products) != 1 || d.Products[0].State != "serving" || d.Products[0].ReportDue == nil {
		t.Fatalf("before: %+v", d.Products)
	}
	clk.t.Store(t0.Add(3 * 24 * time.Hour).UnixNano())
	d = c.overviewData(r, u).(overviewPage)
	if d.Products[0].State != floating.CodeReportOverdue {
		t.Fatalf("after the grace: state %q", d.Products[0].State)
	}
}

// The overview's authentication form: admin and CSRF only, an unknown
// mode refused with its code, the change applied to the server at once.
func TestChangeAuthMethod(t *testing.T) {
	f := newFixture(t)
	csrf := f.signIn(t, floating.RoleUser)
	if p := f.get(t, "/"); strings.Contains(p.body, `action="/auth"`) {
		t.Fatal("a user sees the authentication form")
	}
	if p := f.post(t, "/auth", url.Values{"csrf": {csrf}, "mode": {floating.AuthUsers}}); p.status != http.StatusForbidden {
		t.Fatalf("a user's change: %d", p.status)
	}
	f.jar, _ = cookiejar.New(nil)
	f.hc.Jar = f.jar
	csrf = f.signIn(t, floating.RoleAdmin)
	p := f.get(t, "/")
	if !strings.Contains(p.body, `<option value="none" selected>`) || !strings.Contains(p.body, `<label for="auth-mode">`) {
		t.Fatalf("the form does not show the mode in force:\n%s", p.body)
	}
	if p = f.post(t, "/auth", url.Values{"mode": {floating.AuthUsers}}); p.status != http.StatusForbidden || !strings.Contains(p.body, CodeCSRF) {
		t.Fatalf("a change without the CSRF token: %d", p.status)
	}
	if p = f.post(t, "/auth", url.Values{"csrf": {csrf}, "mode": {"<b>magic</b>"}}); p.status != http.StatusBadRequest || !strings.Contains(p.body, floating.CodeMalformed) || strings.Contains(p.body, "<b>magic") {
		t.Fatalf("an unknown mode: %d\n%s", p.status, p.body)
	}
	if f.srv.AuthMode() != floating.AuthNone {
		t.Fatalf("refused changes changed the mode to %s", f.srv.AuthMode())
	}
	if p = f.post(t, "/auth", url.Values{"csrf": {csrf}, "mode": {floating.AuthLicenseKey}}); p.status != http.StatusSeeOther {
		t.Fatalf("change: %d\n%s", p.status, p.body)
	}
	if f.srv.AuthMode() != floating.AuthLicenseKey {
		t.Fatalf("mode after the change: %s", f.srv.AuthMode())
	}
	p = f.get(t, "/?done=auth")
	if !strings.Contains(p.body, "The authentication method is changed.") || !strings.Contains(p.body, `<option value="license-key" selected>`) {
		t.Fatalf("after the change:\n%s", p.body)
	}
}

// A page asked with a method it does not answer is a 405 that names the
// methods it does (Allow header too); a page that does not exist, a 404.
func TestWrongMethod(t *testing.T) {
	f := newFixture(t)
	f.signIn(t, floating.RoleAdmin)
	for _, c := range []struct {
		method, path string
		status       int
		allow        string
	}{
		{http.MethodPost, "/seats", http.StatusMethodNotAllowed, "GET"},
		{http.MethodDelete, "/reports", http.StatusMethodNotAllowed, "GET, POST"},
		{http.MethodGet, "/licenses", http.StatusMethodNotAllowed, "POST"},
		{http.MethodPut, "/products", http.StatusMethodNotAllowed, "GET, POST"},
		{http.MethodGet, "/no-such-page", http.StatusNotFound, ""},
		{http.MethodPost, "/no-such-page", http.StatusNotFound, ""},
	} {
		req, err := http.NewRequest(c.method, f.ts.URL+c.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := f.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		code := floating.CodeNotFound
		if c.status == http.StatusMethodNotAllowed {
			code = floating.CodeMethod
		}
		if resp.StatusCode != c.status || resp.Header.Get("Allow") != c.allow || !strings.Contains(string(b), code) {
			t.Errorf("%s %s: %d, Allow %q, want %d, %q, %s", c.method, c.path, resp.StatusCode, resp.Header.Get("Allow"), c.status, c.allow, code)
		}
	}
}

// A failure of the server itself (here the report, failing on a file) is
// internal_error with a fixed sentence on the page; its text, which names
// a path, goes to the log only.
func TestInternalErrorNotShown(t *testing.T) {
	var logged []string
	f := newFixture(t, func(c *Config) {
		c.Report = func(bool) (string, []byte, error) {
			return "", nil, errors.New("open /var/lib/airlock/secret-state.db: permission denied")
		}
		c.Logf = func(format string, a ...any) { logged = append(logged, fmt.Sprintf(format, a...)) }
	})
	csrf := f.signIn(t, floating.RoleAdmin)
	p := f.post(t, "/reports", url.Values{"csrf": {csrf}})
	if p.status != http.StatusInternalServerError || !strings.Contains(p.body, floating.CodeInternal) || strings.Contains(p.body, "secret-state.db") {
		t.Fatalf("report failure: %d\n%s", p.status, p.body)
	}
	if len(logged) != 1 || !strings.Contains(logged[0], "/var/lib/airlock/secret-state.db") {
		t.Fatalf("logged: %q", logged)
	}
}
