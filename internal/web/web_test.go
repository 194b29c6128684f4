package web

import (
	"bytes"
	"crypto/rand"
	"image"
	"image/jpeg"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/airlock-offline/airlock/internal/armor"
	"github.com/airlock-offline/airlock/qr"
)

func TestSecureHeaders(t *testing.T) {
	h := Secure(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) }))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	csp := rec.Header().Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "frame-ancestors 'none'", "form-action 'self'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
		t.Errorf("CSP allows inline code: %q", csp)
	}
	for h, want := range map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"} {
		if got := rec.Header().Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
}

func TestCSRF(t *testing.T) {
	c := NewCSRF()
	tok := c.Token("s1")
	post := func(form url.Values, header string) *http.Request {
		r := httptest.NewRequest("POST", "/x", strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if header != "" {
			r.Header.Set("X-CSRF-Token", header)
		}
		return r
	}
	if !c.Check(post(url.Values{"csrf": {tok}}, ""), "s1") {
		t.Fatal("the form token is refused")
	}
	if !c.Check(post(nil, tok), "s1") {
		t.Fatal("the header token is refused")
	}
	for name, r := range map[string]*http.Request{
		"none":          post(nil, ""),
		"other session": post(url.Values{"csrf": {c.Token("s2")}}, ""),
		"other key":     post(url.Values{"csrf": {NewCSRF().Token("s1")}}, ""),
		"truncated":     post(url.Values{"csrf": {tok[:len(tok)-1]}}, ""),
	} {
		if c.Check(r, "s1") {
			t.Errorf("%s: accepted", name)
		}
	}
	if c.Check(post(url.Values{"csrf": {c.Token("")}}, ""), "") {
		t.Error("an empty session passes")
	}
}

func TestCookie(t *testing.T) {
	rec := httptest.NewRecorder()
	SetCookie(rec, "airlock", "v", 0, true)
	c := rec.Result().Cookies()[0]
	if !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteStrictMode || c.Path != "/" {
		t.Fatalf("cookie %+v", c)
	}
}

func TestLayout(t *testing.T) {
	fsys := fstest.MapFS{"p.html": {Data: []byte(`{{define "p"}}{{template "layout" .}}{{end}}{{define "content"}}<p>{{.Body}}</p>{{end}}`)}}
	tm, err := Parse(fsys, "p.html")
	if err != nil {
		t.Fatal(err)
	}
	type data struct {
		Page
		Body string
	}
	rec := httptest.NewRecorder()
	Render(rec, tm, "p", 200, data{Page: Page{Title: "Seats", CSRF: "tok", Error: "no seat free", ErrorCode: "no_seat", Nav: []NavItem{{Label: "Seats", Href: "/", Current: true}}}, Body: "<b>"})
	out := rec.Body.String()
	for _, want := range []string{"<title>Seats · airlock</title>", `<meta name="csrf" content="tok">`, `aria-current="page"`, `role="alert"`, "no_seat", "&lt;b&gt;", `href="#main"`} {
		if !strings.Contains(out, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(out, "<script>") || strings.Contains(out, "style=") {
		t.Error("inline script or style in the layout")
	}
	rec = httptest.NewRecorder()
	Render(rec, tm, "missing", 200, nil)
	if rec.Code != 500 {
		t.Fatalf("a failing template answered %d", rec.Code)
	}
}

func TestStatic(t *testing.T) {
	for _, f := range []string{"app.css", "live.js", "camera.js"} {
		rec := httptest.NewRecorder()
		Static().ServeHTTP(rec, httptest.NewRequest("GET", "/static/"+f, nil))
		if rec.Code != 200 || rec.Body.Len() == 0 {
			t.Errorf("%s: %d", f, rec.Code)
		}
	}
}

// message returns a random message of n payload bytes and its parts.
func message(t *testing.T, n, parts int) (string, []string) {
	p := make([]byte, n)
	_, _ = rand.Read(p)
	ps, err := armor.Split(armor.Request, p, parts)
	if err != nil {
		t.Fatal(err)
	}
	return armor.Text(armor.Request, p), ps
}

func codeImage(t *testing.T, text string, asJPEG bool) []byte {
	t.Helper()
	code := qr.Code{Text: text, Level: qr.LevelM}
	img, err := code.Image(qr.Options{PixelsPerModule: 4})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if asJPEG {
		err = jpeg.Encode(&b, img, &jpeg.Options{Quality: 90})
	} else {
		b2, err2 := code.PNG(qr.Options{PixelsPerModule: 4})
		b.Write(b2)
		err = err2
	}
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestScannerParts(t *testing.T) {
	whole, parts := message(t, 300, 3)
	s := NewScanner()
	blank := new(bytes.Buffer)
	_ = jpeg.Encode(blank, image.NewGray(image.Rect(0, 0, 64, 64)), nil)
	if r, err := s.Frame("a", blank.Bytes()); err != nil || r.Done {
		t.Fatalf("blank frame: %+v %v", r, err)
	}
	// parts arrive out of order, one repeated; another session's frames do not mix in
	order := []int{2, 0, 2}
	for _, i := range order {
		r, err := s.Frame("a", codeImage(t, parts[i], true))
		if err != nil || r.Done {
			t.Fatalf("part %d: %+v %v", i, r, err)
		}
	}
	if _, err := s.Frame("b", codeImage(t, parts[1], false)); err != nil {
		t.Fatal(err)
	}
	r, err := s.Frame("a", codeImage(t, parts[1], true))
	if err != nil || !r.Done || r.Text != whole {
		t.Fatalf("last part: %+v %v", r, err)
	}
	if r, err := s.Frame("a", []byte("not an image")); err == nil || r.Code != "bad_frame" {
		t.Fatalf("junk frame: %+v %v", r, err)
	}
	if r, err := s.Frame("a", make([]byte, MaxFrameBytes+1)); err == nil || r.Code != "frame_too_large" {
		t.Fatalf("huge frame: %+v %v", r, err)
	}
}

func TestDecodeUpload(t *testing.T) {
	whole, _ := message(t, 200, 1)
	k, p, _ := armor.Decode([]byte(whole))
	for name, in := range map[string][]byte{
		"armored file": armor.Encode(k, p),
		"one line":     []byte(whole + "\n"),
		"png":          codeImage(t, whole, false),
		"jpeg":         codeImage(t, whole, true),
	} {
		got, err := DecodeUpload(in)
		if err != nil || got != whole {
			t.Errorf("%s: %q %v", name, got, err)
		}
	}
	if _, err := DecodeUpload([]byte("hello")); err == nil {
		t.Error("junk accepted")
	}
	if _, err := DecodeUpload(make([]byte, MaxUploadBytes+1)); err == nil {
		t.Error("a huge text accepted")
	}
}

func TestQRImages(t *testing.T) {
	whole, _ := message(t, 3000, 1)
	urls, err := QRImages(whole)
	if err != nil || len(urls) < 2 {
		t.Fatalf("%d codes, %v", len(urls), err)
	}
	for _, u := range urls {
		if !strings.HasPrefix(string(u), "data:image/png;base64,") {
			t.Fatal(u)
		}
	}
	if _, err := QRImages("junk"); err == nil {
		t.Fatal("junk accepted")
	}
}
