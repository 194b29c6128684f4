// Package web holds what airlock's two consoles share: the strict headers
// every answer carries, CSRF tokens, session cookies, the page layout, the
// few static files (a style sheet and two small scripts), and the reader
// that turns webcam frames and uploaded photos into message text.
//
// Pages are rendered on the server from html/template; the only scripts are
// live.js (refreshes marked parts of a page) and camera.js (sends webcam
// frames to the server, which decodes them with the qr package). Nothing is
// loaded from outside the machine, and the Content-Security-Policy says so:
// no inline script or style, no other origin.
package web

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/json"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"time"
)

// CSP is the Content-Security-Policy of every answer: this origin only,
// scripts and styles from files (never inline), images also from data: and
// blob: URLs (QR codes, camera frames), no framing, forms post here only.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " +
	"media-src 'self' blob:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// Secure sets the strict headers on every answer of h.
func Secure(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", CSP)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Cache-Control", "no-store")
		hd.Set("Cross-Origin-Opener-Policy", "same-origin")
		hd.Set("Cross-Origin-Resource-Policy", "same-origin")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Permissions-Policy", "camera=(self), microphone=(), geolocation=()")
		h.ServeHTTP(w, r)
	})
}

// CSRF makes and checks the tokens that every state-changing request must
// carry: an HMAC of the session under a key made at start, so a token is
// good for one session of one process only.
type CSRF struct{ key [32]byte }

// NewCSRF returns a CSRF with a fresh random key.
func NewCSRF() *CSRF {
	c := new(CSRF)
	if _, err := rand.Read(c.key[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported systems
	}
	return c
}

// Token is the CSRF token of session.
func (c *CSRF) Token(session string) string {
	m := hmac.New(sha256.New, c.key[:])
	m.Write([]byte("airlock csrf v1\x00"))
	m.Write([]byte(session))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Check reports whether r carries session's token, in the form field
// "csrf" or the header X-CSRF-Token. It compares in constant time, and an
// empty session never passes.
func (c *CSRF) Check(r *http.Request, session string) bool {
	if session == "" {
		return false
	}
	got := r.Header.Get("X-CSRF-Token")
	if got == "" {
		got = r.PostFormValue("csrf")
	}
	return hmac.Equal([]byte(got), []byte(c.Token(session)))
}

// SetCookie sets a session cookie: HttpOnly, SameSite=Strict, path /, and
// Secure when the console is served over TLS.
func SetCookie(w http.ResponseWriter, name, value string, maxAge time.Duration, secure bool) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: "/", MaxAge: int(maxAge / time.Second),
		HttpOnly: true, Secure: secure, SameSite: http.SameSiteStrictMode,
	})
}

// ClearCookie removes the cookie name.
func ClearCookie(w http.ResponseWriter, name string, secure bool) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: secure, SameSite: http.SameSiteStrictMode,
	})
}

// NewSessionID returns 32 random bytes, URL-safe base64: a session id or a
// one-time sign-in token.
func NewSessionID() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Page is the part of every page's data that the layout reads. A console's
// page data embeds it.
type Page struct {
	Title     string    // the page's title, also its first heading
	CSRF      string    // the session's CSRF token ("" before sign-in)
	Nav       []NavItem // the navigation links
	Camera    bool      // load camera.js
	Flash     string    // a message saying what was just done
	Error     string    // a message saying what went wrong
	ErrorCode string    // the stable code of that error
}

// NavItem is one navigation link.
type NavItem struct {
	Label, Href string
	Current     bool
}

//go:embed templates/*.html
var layoutFS embed.FS

//go:embed static
var staticFS embed.FS

// Parse parses the shared layout and then the console's templates from
// fsys. The layout defines "layout", which renders a whole page around the
// console's "content" template; a console page template is typically
//
//	{{define "overview"}}{{template "layout" .}}{{end}}
//
// with its own {{define "content"}}…{{end}} in a template set of its own
// (Parse once per page, or use Clone).
func Parse(fsys fs.FS, patterns ...string) (*template.Template, error) {
	t, err := template.New("web").Funcs(Funcs()).ParseFS(layoutFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	if len(patterns) == 0 {
		return t, nil
	}
	return t.ParseFS(fsys, patterns...)
}

// Render executes the template name with data into a buffer and writes it
// with status; if execution fails, the client gets a plain 500 and nothing
// of the error.
func Render(w http.ResponseWriter, t *template.Template, name string, status int, data any) {
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, name, data); err != nil {
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// Static serves the embedded style sheet and scripts; mount it at
// "/static/" (it strips that prefix itself).
func Static() http.Handler {
	sub, _ := fs.Sub(staticFS, "static")
	return http.StripPrefix("/static/", http.FileServer(http.FS(sub)))
}

// Allowed lists the methods mux has a route for at r's path, other than
// the catch-all pattern "/".
func Allowed(mux *http.ServeMux, r *http.Request) []string {
	var out []string
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		if m == r.Method {
			continue
		}
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := mux.Handler(probe); pattern != "" && pattern != "/" {
			out = append(out, m)
		}
	}
	return out
}

// MethodNotAllowed is for a catch-all handler: where the page exists for
// other methods, it sets the Allow header and returns the sentence that
// says so (a 405 then, rather than a 404).
func MethodNotAllowed(mux *http.ServeMux, w http.ResponseWriter, r *http.Request) (string, bool) {
	allow := Allowed(mux, r)
	if len(allow) == 0 {
		return "", false
	}
	w.Header().Set("Allow", strings.Join(allow, ", "))
	return "This page answers " + strings.Join(allow, " and ") + " only.", true
}

// WriteJSON answers with v as JSON.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
