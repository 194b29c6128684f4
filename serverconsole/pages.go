package serverconsole

import (
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/airlock-offline/airlock/floating"
	"github.com/airlock-offline/airlock/internal/chart"
	"github.com/airlock-offline/airlock/internal/web"
	"github.com/airlock-offline/airlock/request"
	"github.com/airlock-offline/airlock/response"
)

// page is the data of every page.
type page struct {
	web.Page
	User     string
	Role     string
	Admin    bool
	Auth     string
	AuthNote string
}

var nav = []struct{ label, href string }{
	{"Overview", "/"}, {"Seats", "/seats"}, {"Features", "/features"}, {"Charts", "/charts"},
	{"Usage reports", "/reports"}, {"Add a product", "/products"},
}

func (c *Console) page(u *user, title, here string) page {
	p := page{Page: web.Page{Title: title}, Auth: c.authMode(), AuthNote: authNote(c.authMode())}
	if u != nil {
		p.CSRF = c.csrf.Token(u.s.id)
		p.User, p.Role, p.Admin = u.s.name, u.role, u.admin()
		for _, n := range nav {
			p.Nav = append(p.Nav, web.NavItem{Label: n.label, Href: n.href, Current: n.href == here})
		}
	}
	return p
}

func (c *Console) authMode() string { return c.srv.AuthMode() }

// authModes are the choices of the overview's authentication form, in the
// seed's words.
var authModes = []authChoice{
	{floating.AuthNone, "none (the proof of the installation key only)"},
	{floating.AuthLicenseKey, "key auth (the pool's license key)"},
	{floating.AuthUsers, "user auth (user name and password)"},
}

// setAuth changes how clients authenticate (admin).
func (c *Console) setAuth(w http.ResponseWriter, r *http.Request, u *user) {
	if err := c.srv.SetAuthMode(r.PostFormValue("mode")); err != nil {
		code, msg := c.problem(err)
		d := c.overviewData(r, u).(overviewPage)
		d.Error, d.ErrorCode = msg, code
		c.render(w, "overview", http.StatusBadRequest, d)
		return
	}
	http.Redirect(w, r, "/?done=auth", http.StatusSeeOther)
}

// authNote says in plain words what the authentication mode means.
func authNote(mode string) string {
	switch mode {
	case floating.AuthLicenseKey:
		return "key auth: a client shows the pool's license key beside the proof of its installation key."
	case floating.AuthUsers:
		return "user auth: a client signs in with a user name and password and shows its token beside the proof of its installation key."
	default:
		return "any client that proves its installation key may take a seat; no user name, password or license key is asked. " +
			"This console still needs a sign-in, and every change carries a CSRF token."
	}
}

// fail renders an error page (or a fragment's or scan's short answer)
// with its stable code.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, u *user, status int, code, msg string) {
	if r.URL.Path == "/scan" {
		web.WriteJSON(w, status, web.ScanResult{Status: msg, Code: code})
		return
	}
	if u == nil && status == http.StatusUnauthorized {
		p := c.page(nil, "Sign in", "")
		p.Error, p.ErrorCode = msg, code
		c.render(w, "login", status, loginPage{page: p, PreCSRF: c.preToken(w, r)})
		return
	}
	p := c.page(u, "Error", "")
	p.Error, p.ErrorCode = msg, code
	c.render(w, "overview", status, overviewPage{page: p, Failed: true})
}

func (c *Console) render(w http.ResponseWriter, name string, status int, data any) {
	web.Render(w, c.pages[name], name, status, data)
}

// Sign-in.

type loginPage struct {
	page
	PreCSRF string
}

// preToken is the CSRF token of the sign-in form, tied to a cookie of its
// own (a browser has no session yet).
func (c *Console) preToken(w http.ResponseWriter, r *http.Request) string {
	v := ""
	if ck, err := r.Cookie(preCookie); err == nil && len(ck.Value) == 43 {
		v = ck.Value
	} else {
		v = web.NewSessionID()
		web.SetCookie(w, preCookie, v, time.Hour, !c.cfg.Insecure)
	}
	return c.csrf.Token("pre:" + v)
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	if c.current(r) != nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	c.render(w, "login", http.StatusOK, loginPage{page: c.page(nil, "Sign in", ""), PreCSRF: c.preToken(w, r)})
}

func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	again := func(status int, code, msg string) {
		p := c.page(nil, "Sign in", "")
		p.Error, p.ErrorCode = msg, code
		c.render(w, "login", status, loginPage{page: p, PreCSRF: c.preToken(w, r)})
	}
	ck, err := r.Cookie(preCookie)
	if err != nil || !c.csrf.Check(r, "pre:"+ck.Value) {
		again(http.StatusForbidden, CodeCSRF, "the sign-in form is stale or did not come from this console: try again")
		return
	}
	var s *session
	if tok := strings.TrimSpace(r.PostFormValue("token")); tok != "" {
		if _, err := c.srv.TokenRole(tok); err != nil {
			code, msg := c.problem(err)
			again(http.StatusUnauthorized, code, msg)
			return
		}
		s = c.newSession(tok, "", false)
	} else {
		name := r.PostFormValue("username")
		lr, err := c.srv.Login(remoteHost(r), name, r.PostFormValue("password"))
		if err != nil {
			code, msg := c.problem(err)
			again(http.StatusUnauthorized, code, msg)
			return
		}
		s = c.newSession(lr.Token, name, true)
	}
	web.ClearCookie(w, preCookie, !c.cfg.Insecure)
	web.SetCookie(w, sessionCookie, s.id, sessionTTL, !c.cfg.Insecure)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request, u *user) {
	c.mu.Lock()
	delete(c.sessions, u.s.id)
	c.mu.Unlock()
	if u.s.own {
		_ = c.srv.RevokeToken(u.s.token)
	}
	web.ClearCookie(w, sessionCookie, !c.cfg.Insecure)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// Overview.

type overviewPage struct {
	page
	Failed      bool
	ServerKeyID string
	HardwareID  string
	Key         *HardwareKeyStatus
	KeySerialID bool   // the hardware ID is the key's serial
	KeyCode     string // what is wrong with the hardware key
	KeyProblem  string
	Products    []productRow
	Modes       []authChoice // the authentication form's choices
}

type authChoice struct{ Value, Label string }

// productRow is one pool license as the overview shows it.
type productRow struct {
	floating.PoolStatus
	State       string
	HardwareKey bool
}

func (c *Console) overviewData(r *http.Request, u *user) any {
	d := overviewPage{page: c.page(u, "Overview", "/"), ServerKeyID: c.srv.KeyID().String(), Modes: authModes}
	d.Flash = flash(r)
	d.HardwareID = c.cfg.HardwareID()
	k := c.cfg.HardwareKey()
	d.Key = &k
	d.KeySerialID = k.Present && k.Serial != "" && k.Serial == d.HardwareID
	d.KeyCode, d.KeyProblem = k.Code, keyProblem(k)
	now := c.now()
	for _, st := range c.srv.Status() {
		row := productRow{PoolStatus: st, State: "serving", HardwareKey: st.HardwareKey != ""}
		switch {
		case st.Error != "":
			row.State = st.Error
		case st.Expires != nil && !st.Expires.After(now):
			row.State = "expired"
		case st.GrantsStop != nil && !st.GrantsStop.After(now):
			row.State = floating.CodeReportOverdue
		case row.HardwareKey && d.Key != nil && d.Key.Code != "":
			row.State = d.Key.Code
		case st.Held >= int(st.Seats) && st.Seats > 0:
			row.State = "serving, all seats taken"
		}
		d.Products = append(d.Products, row)
	}
	return d
}

// keyProblem says in words what a hardware key's code means.
func keyProblem(k HardwareKeyStatus) string {
	var msg string
	switch k.Code {
	case "":
		return ""
	case floating.CodeHWKeyNotAccessible:
		msg = "No valid hardware key can be reached: every action on a license that requires it fails until the key is plugged in again, and the hardware ID is the machine's own."
	case floating.CodeHWKeyMismatch:
		msg = "The hardware key plugged in is not the one the license is bound to."
	case floating.CodeHWKeyProofFailed:
		msg = "The hardware key did not prove itself (a copy of its serial without its key?)."
	default:
		msg = "The hardware key cannot be used."
	}
	if k.Reason != "" {
		msg += " What was found: " + k.Reason + "."
	}
	if k.Holder != "" {
		msg += " The reader is held by another process: " + k.Holder + "."
	}
	return msg
}

// show renders the page name from data; live renders only its part that
// refreshes itself, the template name-live.
func (c *Console) show(name string, data func(*http.Request, *user) any) func(http.ResponseWriter, *http.Request, *user) {
	return func(w http.ResponseWriter, r *http.Request, u *user) { c.render(w, name, http.StatusOK, data(r, u)) }
}

func (c *Console) live(name string, data func(*http.Request, *user) any) func(http.ResponseWriter, *http.Request, *user) {
	return func(w http.ResponseWriter, r *http.Request, u *user) {
		web.Render(w, c.pages[name], name+"-live", http.StatusOK, data(r, u))
	}
}

// flash is the short message a redirect after a change carries.
func flash(r *http.Request) string {
	switch r.URL.Query().Get("done") {
	case "installed":
		return "The license is installed and served."
	case "released":
		return "The seat is released."
	case "auth":
		return "The authentication method is changed."
	}
	return ""
}

// licenses parses the served pool licenses (already verified by the
// server at load).
func (c *Console) licenses() map[string]*response.License {
	out := map[string]*response.License{}
	for p, b := range c.srv.Licenses() {
		if lic, _, err := response.ParseUnverified(b); err == nil {
			out[p] = lic
		}
	}
	return out
}

// Adding a product: the request, then the license.

type productsPage struct {
	page
	Product     string
	LicenseKey  string
	HardwareKey bool
	Renew       bool
	Request     string
	QR          []qrPart
	CanActivate bool
}

// qrPart is one QR code of a message, as an image the page shows.
type qrPart struct {
	URL          template.URL
	Alt, Caption string
}

// qrParts renders an armored message as QR images with their labels.
func qrParts(text, what string) ([]qrPart, error) {
	urls, err := web.QRImages(text)
	if err != nil {
		return nil, err
	}
	out := make([]qrPart, len(urls))
	for i, u := range urls {
		out[i] = qrPart{URL: u, Alt: fmt.Sprintf("QR code %d of %d of the %s", i+1, len(urls), what), Caption: fmt.Sprintf("Part %d of %d", i+1, len(urls))}
	}
	return out, nil
}

func (c *Console) productsPage(w http.ResponseWriter, r *http.Request, u *user) {
	d := productsPage{page: c.page(u, "Add a product", "/products"), CanActivate: c.cfg.Activator != nil}
	d.Camera = true
	c.render(w, "products", http.StatusOK, d)
}

func (c *Console) addProduct(w http.ResponseWriter, r *http.Request, u *user) {
	d := productsPage{page: c.page(u, "Add a product", "/products"), CanActivate: c.cfg.Activator != nil}
	d.Camera = true
	d.Product = strings.TrimSpace(r.PostFormValue("product"))
	d.LicenseKey = strings.TrimSpace(r.PostFormValue("license_key"))
	d.HardwareKey = r.PostFormValue("hardware_key") != ""
	d.Renew = r.PostFormValue("renew") != ""
	bad := func(status int, code, msg string) {
		d.Error, d.ErrorCode = msg, code
		c.render(w, "products", status, d)
	}
	if c.cfg.Activator == nil {
		bad(http.StatusNotFound, floating.CodeNotFound, "this server cannot make activation requests")
		return
	}
	if e := request.ValidText(d.Product, request.MaxProduct); e != "" {
		bad(http.StatusBadRequest, floating.CodeMalformed, "the product name is not valid: "+e)
		return
	}
	if d.LicenseKey == "" && !d.Renew {
		bad(http.StatusBadRequest, floating.CodeMalformed, "a new product needs its license key")
		return
	}
	text, err := c.request(d.Product, d.LicenseKey, d.Renew, d.HardwareKey)
	if err != nil {
		code, msg := c.problem(err)
		status := statusFor(err, http.StatusBadRequest)
		if code == floating.CodeInternal {
			status = http.StatusInternalServerError
		}
		bad(status, code, msg)
		return
	}
	d.Request = string(text)
	if d.QR, err = qrParts(d.Request, "activation request"); err != nil {
		bad(http.StatusInternalServerError, floating.CodeInternal, "cannot draw the request's QR codes")
		return
	}
	c.mu.Lock()
	if len(u.s.requests) >= maxRequests {
		clear(u.s.requests)
	}
	u.s.requests[d.Product] = d.Request
	c.mu.Unlock()
	d.Flash = "The activation request is ready: take it to the vendor's desk as QR codes or as a file."
	c.render(w, "products", http.StatusOK, d)
}

func (c *Console) downloadRequest(w http.ResponseWriter, r *http.Request, u *user) {
	product := r.URL.Query().Get("product")
	c.mu.Lock()
	text, ok := u.s.requests[product]
	c.mu.Unlock()
	if !ok {
		c.fail(w, r, u, http.StatusNotFound, floating.CodeNotFound, "no request for this product was made in this session")
		return
	}
	download(w, "server-request-"+safeName(product)+".txt", []byte(text))
}

func download(w http.ResponseWriter, name string, data []byte) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	_, _ = w.Write(data)
}

// safeName keeps letters, digits, '-', '_' and '.' of a file name part.
func safeName(s string) string {
	b := []byte(s)
	for i, ch := range b {
		if !('a' <= ch && ch <= 'z' || 'A' <= ch && ch <= 'Z' || '0' <= ch && ch <= '9' || ch == '-' || ch == '_' || ch == '.') {
			b[i] = '_'
		}
	}
	return string(b)
}

type licensePage struct {
	page
	Product string
	Status  *floating.PoolStatus
}

// installLicense takes the signed license from the textarea (pasted or
// scanned) or an uploaded file or photo.
func (c *Console) installLicense(w http.ResponseWriter, r *http.Request, u *user) {
	d := productsPage{page: c.page(u, "Add a product", "/products"), CanActivate: c.cfg.Activator != nil}
	d.Camera = true
	bad := func(status int, code, msg string) {
		d.Error, d.ErrorCode = msg, code
		c.render(w, "products", status, d)
	}
	if c.cfg.Activator == nil {
		bad(http.StatusNotFound, floating.CodeNotFound, "this server cannot install licenses")
		return
	}
	text, err := licenseText(r)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			bad(http.StatusRequestEntityTooLarge, floating.CodeTooLarge, "the upload is too large")
			return
		}
		bad(http.StatusBadRequest, floating.CodeMalformed, err.Error())
		return
	}
	product, err := c.cfg.Activator.Install([]byte(text))
	if err != nil {
		code, msg := c.problem(err)
		status := http.StatusBadRequest
		if code == floating.CodeInternal {
			status = http.StatusInternalServerError
		}
		bad(status, code, "the license was not installed: "+msg)
		return
	}
	if err := c.srv.Reload(); err != nil {
		code, msg := c.problem(err)
		bad(http.StatusInternalServerError, code, msg)
		return
	}
	lp := licensePage{page: c.page(u, "License installed", "/products"), Product: product}
	for _, st := range c.srv.Status() {
		if st.Product == product {
			lp.Status = &st
		}
	}
	if lp.Status == nil {
		lp.Error, lp.ErrorCode = "the license for "+product+" is installed but not valid on this machine now", floating.CodeLicenseNotValid
	} else {
		lp.Flash = "The license is installed and served."
	}
	c.render(w, "license", http.StatusOK, lp)
}

// licenseText reads the license from the form: a file (its text, or a
// photo or screenshot of its QR codes) wins over the textarea.
func licenseText(r *http.Request) (string, error) {
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		if err := r.ParseMultipartForm(maxLicense); err != nil {
			return "", err
		}
		if f, _, err := r.FormFile("file"); err == nil {
			defer f.Close()
			data, err := io.ReadAll(io.LimitReader(f, web.MaxFrameBytes+1))
			if err != nil {
				return "", err
			}
			if len(data) > 0 {
				if len(data) > web.MaxFrameBytes {
					return "", &http.MaxBytesError{Limit: web.MaxFrameBytes}
				}
				return web.DecodeUpload(data)
			}
		}
	}
	text := strings.TrimSpace(r.PostFormValue("license"))
	if text == "" {
		return "", errors.New("paste the license, choose its file or scan it")
	}
	return text, nil
}

// scan reads one webcam frame (camera.js) and answers JSON.
func (c *Console) scan(w http.ResponseWriter, r *http.Request, u *user) {
	img, err := io.ReadAll(r.Body)
	if err != nil {
		web.WriteJSON(w, http.StatusRequestEntityTooLarge, web.ScanResult{Status: "frame too large", Code: floating.CodeTooLarge})
		return
	}
	res, err := c.scanner.Frame(u.s.id, img)
	if err != nil {
		web.WriteJSON(w, http.StatusBadRequest, res)
		return
	}
	web.WriteJSON(w, http.StatusOK, res)
}

// Seats.

type seatsPage struct {
	page
	Seats []floating.LeaseInfo
	Nodes bool // a seat names the node that granted it
}

func (c *Console) seatsData(r *http.Request, u *user) any {
	d := seatsPage{page: c.page(u, "Seats", "/seats"), Seats: c.srv.Leases()}
	for _, l := range d.Seats {
		d.Nodes = d.Nodes || l.Node != ""
	}
	d.Flash = flash(r)
	return d
}

func (c *Console) release(w http.ResponseWriter, r *http.Request, u *user) {
	id, err := hex.DecodeString(r.PostFormValue("lease"))
	if err != nil || len(id) != floating.LeaseIDLen {
		c.fail(w, r, u, http.StatusBadRequest, floating.CodeMalformed, "a lease id is hex digits")
		return
	}
	if err := c.srv.ForceRelease(id); err != nil {
		code, msg := c.problem(err)
		d := seatsPage{page: c.page(u, "Seats", "/seats"), Seats: c.srv.Leases()}
		d.Error, d.ErrorCode = msg, code
		c.render(w, "seats", http.StatusConflict, d)
		return
	}
	http.Redirect(w, r, "/seats?done=released", http.StatusSeeOther)
}

// Feature pools and counters.

type featuresPage struct {
	page
	Products []productUse
}

// productUse is one product's feature seats and consumption counters
// against their caps.
type productUse struct {
	Product       string
	Seats         []use
	Counters      []use
	SeatsChart    template.HTML
	CountersChart template.HTML
}

type use struct {
	Name     string
	Used     float64
	Cap      float64
	Overage  float64 // allowed beyond Max (counters)
	Borrowed int
}

func (c *Console) usage() []productUse {
	lics := c.licenses()
	var out []productUse
	for _, st := range c.srv.Status() {
		lic := lics[st.Product]
		if lic == nil || lic.Pool == nil {
			continue
		}
		pu := productUse{Product: st.Product}
		pu.Seats = append(pu.Seats, use{Name: "seats", Used: float64(st.Held), Cap: float64(st.Seats), Borrowed: st.Borrowed})
		for _, f := range slices.Sorted(maps.Keys(lic.Pool.FeatureSeats)) {
			pu.Seats = append(pu.Seats, use{Name: f, Used: float64(st.FeatureSeats[f]), Cap: float64(lic.Pool.FeatureSeats[f])})
		}
		if a := lic.Pool.Consumption; a != nil {
			pu.Counters = append(pu.Counters, use{Name: "consumption", Used: float64(st.Counters[""]), Cap: float64(a.Max), Overage: float64(a.Overage)})
		}
		for _, f := range slices.Sorted(maps.Keys(lic.Pool.FeatureConsumption)) {
			a := lic.Pool.FeatureConsumption[f]
			pu.Counters = append(pu.Counters, use{Name: f, Used: float64(st.Counters[f]), Cap: float64(a.Max), Overage: float64(a.Overage)})
		}
		pu.SeatsChart = chart.Bars(st.Product+": seats in use against the pool", bars(pu.Seats)...)
		if len(pu.Counters) > 0 {
			pu.CountersChart = chart.Bars(st.Product+": consumption against the allowance", bars(pu.Counters)...)
		}
		out = append(out, pu)
	}
	return out
}

func (c *Console) featuresData(r *http.Request, u *user) any {
	return featuresPage{page: c.page(u, "Feature pools and consumption", "/features"), Products: c.usage()}
}

func remoteHost(r *http.Request) string {
	h, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return h
}
