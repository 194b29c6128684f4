// Package deskconsole is the vendor desk in a browser: `airlock-vendor
// serve`. A customer holds a phone showing a request's QR code up to the
// webcam (or the vendor drops the request file or a photo of it), the page
// shows what the request asks for and what the ledger says, one click signs
// it, and the license appears as large QR codes to photograph and as a file
// to download. Deactivation receipts and floating servers' usage reports
// are imported the same way; a usage report is drawn as charts.
//
// # Security
//
// The console holds the signing key, so it is for one person at one
// machine: it binds the loopback interface unless told otherwise, and since
// other local users can reach a loopback port, signing in takes a random
// one-time token (the link printed at start), exchanged for an HttpOnly
// SameSite=Strict session cookie. Every change is a POST with a CSRF token;
// every answer carries strict headers (internal/web). Nothing is loaded
// from outside the machine, and decoding of camera frames and photos runs
// in the server with the qr package.
//
// # Pages
//
//	/                     scan, drop or paste a request
//	/request/review       POST: what the request asks for, and the ledger's answer
//	/request/sign         POST: sign and record; the license as QR codes
//	/licenses             licenses with their seats
//	/licenses/KEY         one license and its activations
//	/licenses/KEY/ID      an issued license as QR codes; /download as a file
//	/receipts             scan, drop or paste a deactivation receipt
//	/usage                scan, drop or paste a floating server's usage report;
//	                      the reports imported
//	/usage/HASH           one report drawn as charts, beside the server's others
//	/signin?token=T       the one-time sign-in link
package deskconsole

import (
	"context"
	"crypto/subtle"
	"embed"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/airlock-offline/airlock/desk"
	"github.com/airlock-offline/airlock/internal/web"
)

//go:embed templates/*.html
var templateFS embed.FS

// Limits.
const (
	// MaxUpload bounds a dropped file or photo and a pasted text.
	MaxUpload = 8 << 20
	// MaxFrame bounds one camera frame.
	MaxFrame = 2 << 20
	// SessionLifetime is how long a sign-in lasts.
	SessionLifetime = 12 * time.Hour
	// maxSessions bounds the sessions kept (one per sign-in; the token
	// works once, so there is normally one).
	maxSessions = 16
)

const cookieName = "airlock_desk"

// Stable codes of the console's own refusals (the desk's are result codes).
const (
	codeNotSignedIn   = "NOT_SIGNED_IN"
	codeSignInRefused = "SIGN_IN_REFUSED"
	codeCSRF          = "CSRF_REFUSED"
	codeHostRefused   = "HOST_REFUSED"
	codeNoSuchPage    = "NO_SUCH_PAGE"
	codeMethod        = "METHOD_NOT_ALLOWED"
)

// Config is what a console needs.
type Config struct {
	// Desk signs and records; its Ledger is the vendor's ledger. The
	// console serializes its use of the signing key.
	Desk *desk.Desk
	// Token is the one-time sign-in token; "" makes a random one (see
	// Server.Token).
	Token string
	// Secure marks cookies Secure (the console is served over TLS).
	Secure bool
	// Warn reports a problem that does not stop the page (an audit
	// checkpoint that could not be signed); nil ignores it.
	Warn func(format string, a ...any)
	// Remote is set when the console listens beyond the loopback
	// interface (serve --allow-remote): any Host header is then accepted.
	// Otherwise a request must name a loopback host (127.0.0.1, [::1],
	// localhost), so that a web page whose name an attacker points at
	// 127.0.0.1 (DNS rebinding) reaches nothing.
	Remote bool
}

// Server is a desk console; it is an http.Handler.
type Server struct {
	cfg     Config
	token   string
	pages   map[string]*pageTemplate
	csrf    *web.CSRF
	scanner *web.Scanner
	static  http.Handler
	mux     *http.ServeMux
	handler http.Handler // mux behind the headers and the Host check

	mu        sync.Mutex
	tokenUsed bool
	sessions  map[string]time.Time // session id -> expiry

	keyMu sync.Mutex // one use of the signing key at a time
}

// New returns a console for cfg.
func New(cfg Config) (*Server, error) {
	if cfg.Desk == nil || cfg.Desk.Ledger == nil {
		return nil, errors.New("deskconsole: a desk with a ledger is needed")
	}
	s := &Server{
		cfg:      cfg,
		token:    cfg.Token,
		csrf:     web.NewCSRF(),
		scanner:  web.NewScanner(),
		static:   web.Static(),
		sessions: map[string]time.Time{},
	}
	if s.token == "" {
		s.token = web.NewSessionID()
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	s.pages = pages
	s.routes()
	s.handler = web.Secure(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.cfg.Remote && !loopbackHost(r.Host) {
			http.Error(w, codeHostRefused+": this console answers on 127.0.0.1, [::1] or localhost only", http.StatusMisdirectedRequest)
			return
		}
		s.mux.ServeHTTP(w, r)
	}))
	return s, nil
}

// Token is the one-time sign-in token.
func (s *Server) Token() string { return s.token }

// SignInURL is the sign-in link for a console listening on addr
// (host:port): print it where only the vendor sees it.
func (s *Server) SignInURL(addr string) string {
	scheme := "http"
	if s.cfg.Secure {
		scheme = "https"
	}
	return fmt.Sprintf("%s://%s/signin?token=%s", scheme, addr, s.token)
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// loopbackHost reports whether a Host header names this machine's
// loopback interface.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	} else {
		host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// CheckListen checks an address to listen on: a loopback address
// ("127.0.0.1:8470", "[::1]:0", "localhost:8470") is always fine; any other
// only with allowRemote, and then remote is true so that the caller warns.
func CheckListen(addr string, allowRemote bool) (remote bool, err error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false, fmt.Errorf("invalid listen address %q: want host:port", addr)
	}
	if host == "localhost" {
		return false, nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return false, nil
	}
	if !allowRemote {
		return true, ErrNotLoopback
	}
	return true, nil
}

// ErrNotLoopback refuses a listen address other machines could reach.
var ErrNotLoopback = errors.New("the desk console holds the signing key and listens on a loopback address only (127.0.0.1, ::1 or localhost)")

// signIn exchanges the one-time token for a session.
func (s *Server) signIn(w http.ResponseWriter, r *http.Request) {
	got := r.URL.Query().Get("token")
	s.mu.Lock()
	ok := !s.tokenUsed && subtle.ConstantTimeCompare([]byte(got), []byte(s.token)) == 1
	var id string
	if ok {
		s.tokenUsed = true
		id = web.NewSessionID()
		s.pruneLocked(time.Now())
		s.sessions[id] = time.Now().Add(SessionLifetime)
	}
	s.mu.Unlock()
	if !ok {
		s.fail(w, r, http.StatusForbidden, codeSignInRefused, "This sign-in link is wrong or was used already. Restart airlock-vendor serve for a new one.")
		return
	}
	web.SetCookie(w, cookieName, id, SessionLifetime, s.cfg.Secure)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// pruneLocked drops expired sessions, and the oldest beyond maxSessions.
func (s *Server) pruneLocked(now time.Time) {
	for id, exp := range s.sessions {
		if now.After(exp) {
			delete(s.sessions, id)
		}
	}
	for len(s.sessions) >= maxSessions {
		var oldest string
		var at time.Time
		for id, exp := range s.sessions {
			if oldest == "" || exp.Before(at) {
				oldest, at = id, exp
			}
		}
		delete(s.sessions, oldest)
	}
}

// session returns the request's signed-in session id, or "".
func (s *Server) session(r *http.Request) string {
	c, err := r.Cookie(cookieName)
	if err != nil || len(c.Value) > 64 {
		return ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, exp := range s.sessions {
		if subtle.ConstantTimeCompare([]byte(id), []byte(c.Value)) == 1 {
			if time.Now().After(exp) {
				delete(s.sessions, id)
				return ""
			}
			return id
		}
	}
	return ""
}

// signOut ends the session.
func (s *Server) signOut(w http.ResponseWriter, r *http.Request, sess string) {
	s.mu.Lock()
	delete(s.sessions, sess)
	s.mu.Unlock()
	web.ClearCookie(w, cookieName, s.cfg.Secure)
	s.render(w, http.StatusOK, "signedout", s.page(r, "", "Signed out"))
}

// handler is a page handler of a signed-in session.
type handler func(w http.ResponseWriter, r *http.Request, sess string)

// authed requires a session, and a CSRF token on anything but GET/HEAD.
func (s *Server) authed(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess := s.session(r)
		if sess == "" {
			s.fail(w, r, http.StatusUnauthorized, codeNotSignedIn, "Sign in with the link airlock-vendor serve printed when it started.")
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			r.Body = http.MaxBytesReader(w, r.Body, MaxUpload+64<<10)
			if !s.csrf.Check(r, sess) {
				s.fail(w, r, http.StatusForbidden, codeCSRF, "This form is out of date or did not come from this console. Reload the page and try again.")
				return
			}
		}
		h(w, r, sess)
	}
}

func (s *Server) routes() {
	m := http.NewServeMux()
	m.Handle("GET /static/", s.static)
	m.HandleFunc("GET /signin", s.signIn)
	m.HandleFunc("POST /signout", s.authed(s.signOut))
	m.HandleFunc("GET /{$}", s.authed(s.home))
	m.HandleFunc("POST /scan/{kind}", s.authed(s.scan))
	m.HandleFunc("POST /request/review", s.authed(s.review))
	m.HandleFunc("POST /request/sign", s.authed(s.sign))
	m.HandleFunc("GET /licenses", s.authed(s.licenses))
	m.HandleFunc("GET /licenses/{key}", s.authed(s.license))
	m.HandleFunc("GET /licenses/{key}/{id}", s.authed(s.issued))
	m.HandleFunc("GET /licenses/{key}/{id}/download", s.authed(s.download))
	m.HandleFunc("GET /receipts", s.authed(s.receipts))
	m.HandleFunc("POST /receipts/import", s.authed(s.importReceipt))
	m.HandleFunc("GET /usage", s.authed(s.usageList))
	m.HandleFunc("POST /usage/import", s.authed(s.importUsage))
	m.HandleFunc("GET /usage/{hash}", s.authed(s.usageReport))
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if msg, ok := web.MethodNotAllowed(m, w, r); ok {
			s.fail(w, r, http.StatusMethodNotAllowed, codeMethod, msg)
			return
		}
		s.fail(w, r, http.StatusNotFound, codeNoSuchPage, "There is no such page.")
	})
	s.mux = m
}

// checkpoint signs the audit log's head after a change, as the commands do.
func (s *Server) checkpoint(ctx context.Context) {
	if _, err := s.cfg.Desk.SignCheckpoint(ctx); err != nil && s.cfg.Warn != nil {
		s.cfg.Warn("the audit log's head is not signed: %v; the next change signs it", err)
	}
}

// DefaultListen is where the console listens unless told otherwise.
const DefaultListen = "127.0.0.1:8470"

// Serve answers on ln until ctx ends, then stops, letting requests in
// flight finish (a signature being recorded) for a few seconds.
func Serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		WriteTimeout:      time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}
