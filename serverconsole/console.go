// Package serverconsole is the floating server's web console: pages that
// airlock-server serves beside its API on the same TLS listener, for the
// same users and roles. An operator signs in, sees the products and pool
// licenses, the authentication method, the hardware key and the server's
// hardware ID, adds a product (the offline request as QR codes and a
// download, the signed license back by upload, paste or webcam), watches
// the seats and releases a stuck one, and reads the charts of use.
//
// Pages are rendered on the server from templates embedded in the binary;
// the only scripts are the shared live.js and camera.js of internal/web.
// Every change is a POST that carries the session's CSRF token and needs
// the admin role.
package serverconsole

import (
	"embed"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/floating"
	"github.com/airlock-offline/airlock/internal/web"
	"github.com/airlock-offline/airlock/result"
	"github.com/airlock-offline/airlock/usage"
)

// Floating is what the console reads and changes on the floating server;
// *floating.Server implements it.
type Floating interface {
	Status() []floating.PoolStatus
	Leases() []floating.LeaseInfo
	Licenses() map[string][]byte
	ForceRelease(id []byte) error
	Login(host, name, password string) (*floating.LoginResponse, error)
	TokenRole(token string) (string, error)
	RevokeToken(token string) error
	Reload() error
	HardwareKey() floating.HardwareKeyStatus
	HardwareID() string
	KeyID() crypto.KeyID
	History(product string, since time.Time) []floating.HistoryPoint
	MakeReport(opt floating.ReportOptions) (*usage.Signed, error)
	AuthMode() string
	SetAuthMode(mode string) error
}

// Config configures a Console.
type Config struct {
	Server Floating
	// Activator makes the server's activation requests and installs its
	// pool licenses (nil: the console cannot add products).
	Activator floating.Activator
	// Insecure drops the Secure flag of the session cookie: only for tests
	// over plain HTTP. The console is served over TLS.
	Insecure bool
	Now      func() time.Time // nil: time.Now

	// HardwareKey and HardwareID, when set, replace the server's own
	// report of its hardware key and hardware ID (tests).
	HardwareKey func() HardwareKeyStatus
	HardwareID  func() string
	// History and Report, when set, replace the server's own history and
	// usage reports (tests).
	History func(product string, since time.Time) []HistoryPoint
	Report  func(pseudonymise bool) (name string, text []byte, err error)
	// Logf receives the failures the pages do not show (nil: nowhere).
	Logf func(format string, a ...any)
}

// Console serves the pages.
type Console struct {
	cfg     Config
	srv     Floating
	now     func() time.Time
	csrf    *web.CSRF
	scanner *web.Scanner
	pages   map[string]*template.Template

	mu       sync.Mutex
	sessions map[string]*session
}

// session is a signed-in browser: its cookie holds the id, the console
// holds the bearer token (checked on every request) and the requests made
// in it, ready for download.
type session struct {
	id       string
	token    string
	name     string
	own      bool // the token was made by this sign-in: revoked at sign-out
	created  time.Time
	requests map[string]string // product → armored request
	report   *namedText        // the last usage report made
}

// Limits.
const (
	sessionCookie = "airlock_console"
	preCookie     = "airlock_console_pre"
	maxSessions   = 1024
	sessionTTL    = floating.LoginTokenTTL
	maxForm       = 64 << 10
	maxLicense    = web.MaxFrameBytes + 64<<10 // a photo of the license's QR codes, with the form around it
	maxRequests   = 16                         // requests kept per session
)

//go:embed templates/*.html
var templateFS embed.FS

// pageNames are the console's pages, one template file each.
var pageNames = []string{"login", "overview", "products", "license", "seats", "features", "charts", "reports"}

// New returns a console for cfg.Server.
func New(cfg Config) (*Console, error) {
	if cfg.Server == nil {
		return nil, errors.New("serverconsole: no server")
	}
	c := &Console{cfg: cfg, srv: cfg.Server, now: cfg.Now, csrf: web.NewCSRF(), scanner: web.NewScanner(),
		pages: map[string]*template.Template{}, sessions: map[string]*session{}}
	if c.now == nil {
		c.now = time.Now
	}
	if c.cfg.HardwareKey == nil {
		c.cfg.HardwareKey = c.srv.HardwareKey
	}
	if c.cfg.HardwareID == nil {
		c.cfg.HardwareID = c.srv.HardwareID
	}
	if c.cfg.History == nil {
		c.cfg.History = c.srv.History
	}
	if c.cfg.Report == nil {
		c.cfg.Report = c.report
	}
	for _, p := range pageNames {
		t, err := web.Parse(templateFS, "templates/common.html", "templates/"+p+".html")
		if err != nil {
			return nil, fmt.Errorf("serverconsole: %w", err)
		}
		c.pages[p] = t
	}
	return c, nil
}

// Handler returns the console: mount it at "/" beside the API.
func (c *Console) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /static/", web.Static())
	mux.HandleFunc("GET /login", c.loginPage)
	mux.HandleFunc("POST /login", c.login)
	mux.HandleFunc("POST /logout", c.change(c.logout, false))
	mux.HandleFunc("GET /{$}", c.view(c.show("overview", c.overviewData)))
	mux.HandleFunc("GET /live/overview", c.view(c.live("overview", c.overviewData)))
	mux.HandleFunc("GET /products", c.view(c.productsPage))
	mux.HandleFunc("POST /products", c.change(c.addProduct, true))
	mux.HandleFunc("GET /products/request", c.view(c.downloadRequest))
	mux.HandleFunc("POST /licenses", c.change(c.installLicense, true))
	mux.HandleFunc("POST /scan", c.change(c.scan, true))
	mux.HandleFunc("GET /seats", c.view(c.show("seats", c.seatsData)))
	mux.HandleFunc("GET /live/seats", c.view(c.live("seats", c.seatsData)))
	mux.HandleFunc("POST /seats/release", c.change(c.release, true))
	mux.HandleFunc("POST /auth", c.change(c.setAuth, true))
	mux.HandleFunc("GET /features", c.view(c.show("features", c.featuresData)))
	mux.HandleFunc("GET /live/features", c.view(c.live("features", c.featuresData)))
	mux.HandleFunc("GET /charts", c.view(c.show("charts", c.chartsData)))
	mux.HandleFunc("GET /live/charts", c.view(c.live("charts", c.chartsData)))
	mux.HandleFunc("GET /reports", c.view(c.reportsPage))
	mux.HandleFunc("POST /reports", c.change(c.makeReport, true))
	mux.HandleFunc("GET /reports/download", c.view(c.reportDownload))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if msg, ok := web.MethodNotAllowed(mux, w, r); ok {
			c.fail(w, r, nil, http.StatusMethodNotAllowed, floating.CodeMethod, msg)
			return
		}
		c.fail(w, r, nil, http.StatusNotFound, floating.CodeNotFound, "there is no such page")
	})
	return web.Secure(mux)
}

// user is the signed-in caller of a request.
type user struct {
	s    *session
	role string
}

func (u *user) admin() bool { return u.role == floating.RoleAdmin }

// current returns the request's session with its token's role, or nil.
func (c *Console) current(r *http.Request) *user {
	ck, err := r.Cookie(sessionCookie)
	if err != nil || ck.Value == "" {
		return nil
	}
	c.mu.Lock()
	s := c.sessions[ck.Value]
	if s != nil && c.now().Sub(s.created) >= sessionTTL {
		delete(c.sessions, s.id)
		s = nil
	}
	c.mu.Unlock()
	if s == nil {
		return nil
	}
	role, err := c.srv.TokenRole(s.token)
	if err != nil {
		c.mu.Lock()
		delete(c.sessions, s.id)
		c.mu.Unlock()
		return nil
	}
	return &user{s: s, role: role}
}

// view wraps a GET handler: signed in, or off to the sign-in page.
func (c *Console) view(h func(http.ResponseWriter, *http.Request, *user)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		u := c.current(r)
		if u == nil {
			if isFragment(r) {
				http.Error(w, "signed out", http.StatusUnauthorized)
				return
			}
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		h(w, r, u)
	}
}

// change wraps a POST handler: signed in, the session's CSRF token, and
// (when admin is set) the admin role. Bodies are bounded.
func (c *Console) change(h func(http.ResponseWriter, *http.Request, *user), admin bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		limit := int64(maxForm)
		switch r.URL.Path {
		case "/licenses":
			limit = maxLicense
		case "/scan":
			limit = web.MaxFrameBytes
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		if err := parseForm(r); err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				c.fail(w, r, c.current(r), http.StatusRequestEntityTooLarge, floating.CodeTooLarge, fmt.Sprintf("the upload is larger than %d bytes", limit))
				return
			}
			c.fail(w, r, c.current(r), http.StatusBadRequest, floating.CodeMalformed, "the form could not be read")
			return
		}
		u := c.current(r)
		if u == nil {
			c.fail(w, r, nil, http.StatusUnauthorized, floating.CodeUnauthorized, "sign in first")
			return
		}
		if !c.csrf.Check(r, u.s.id) {
			c.fail(w, r, u, http.StatusForbidden, CodeCSRF, "the form is stale or did not come from this console: reload the page and try again")
			return
		}
		if admin && !u.admin() {
			c.fail(w, r, u, http.StatusForbidden, floating.CodeForbidden, "this change is for admins")
			return
		}
		h(w, r, u)
	}
}

// parseForm reads a change's form (a camera frame's body is read by its
// handler).
func parseForm(r *http.Request) error {
	switch ct := r.Header.Get("Content-Type"); {
	case strings.HasPrefix(ct, "multipart/form-data"):
		return r.ParseMultipartForm(maxLicense)
	case strings.HasPrefix(ct, "application/x-www-form-urlencoded"):
		return r.ParseForm()
	}
	return nil
}

// CodeCSRF refuses a change without its session's CSRF token.
const CodeCSRF = "csrf_token_invalid"

// request makes the activation request for a product.
func (c *Console) request(product, licenseKey string, renew, hardwareKey bool) ([]byte, error) {
	if hardwareKey {
		ha, ok := c.cfg.Activator.(floating.HardwareKeyActivator)
		if !ok {
			return nil, &floating.Error{Code: floating.CodeNotFound, Message: "this server cannot bind a request to a hardware key", Status: http.StatusNotFound}
		}
		if renew {
			return nil, &floating.Error{Code: floating.CodeMalformed, Message: "a renewal keeps the installed license's hardware key: untick \"requires a hardware key\"", Status: http.StatusBadRequest}
		}
		return ha.RequestHardwareKey(product, licenseKey)
	}
	return c.cfg.Activator.Request(product, licenseKey, renew)
}

func isFragment(r *http.Request) bool {
	return len(r.URL.Path) > 6 && r.URL.Path[:6] == "/live/"
}

// newSession stores a session for token and returns it.
func (c *Console) newSession(token, name string, own bool) *session {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	for id, s := range c.sessions {
		if now.Sub(s.created) >= sessionTTL {
			delete(c.sessions, id)
		}
	}
	for len(c.sessions) >= maxSessions { // the oldest goes
		var oldest *session
		for _, s := range c.sessions {
			if oldest == nil || s.created.Before(oldest.created) {
				oldest = s
			}
		}
		delete(c.sessions, oldest.id)
	}
	s := &session{id: web.NewSessionID(), token: token, name: name, own: own, created: now, requests: map[string]string{}}
	c.sessions[s.id] = s
	return s
}

// problem returns an error's stable code and a message that is safe to
// show: the floating server's own refusals, the result codes of a license
// check (lower case, as the API writes them). A failure of the server
// itself (a database, a file) is internal_error with a fixed sentence; its
// text, which may name paths or the database, goes to the log.
func (c *Console) problem(err error) (code, msg string) {
	var fe *floating.Error
	if errors.As(err, &fe) && fe.Code != floating.CodeInternal {
		return fe.Code, fe.Message
	}
	var re *result.Error
	if errors.As(err, &re) && re.Code != result.Internal {
		return strings.ToLower(string(re.Code)), err.Error()
	}
	if c.cfg.Logf != nil {
		c.cfg.Logf("console: %v", err)
	}
	return floating.CodeInternal, "the server could not finish this; its log says why"
}

// statusFor is the HTTP status of the floating server's refusal, def for
// any other error.
func statusFor(err error, def int) int {
	var fe *floating.Error
	if errors.As(err, &fe) && fe.Status != 0 {
		return fe.Status
	}
	return def
}

// report makes the server's next usage report.
func (c *Console) report(pseudonymise bool) (string, []byte, error) {
	signed, err := c.srv.MakeReport(floating.ReportOptions{Pseudonymise: pseudonymise})
	if err != nil {
		return "", nil, err
	}
	return fmt.Sprintf("usage-report-%d.txt", signed.Report.Seq), signed.Text(), nil
}

// Mount serves the API under floating.APIPrefix and the console everywhere
// else, on one listener.
func Mount(api http.Handler, c *Console) http.Handler {
	mux := http.NewServeMux()
	mux.Handle(floating.APIPrefix+"/", api)
	mux.Handle("/", c.Handler())
	return mux
}
