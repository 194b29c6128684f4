package deskconsole

import (
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"mime/multipart"
	"net/http"
	"sort"
	"strings"

	"github.com/airlock-offline/airlock/internal/armor"
	"github.com/airlock-offline/airlock/internal/web"
	"github.com/airlock-offline/airlock/ledger"
	"github.com/airlock-offline/airlock/phonecode"
	"github.com/airlock-offline/airlock/result"
)

// pageTemplate is one page: the shared layout with its "content".
type pageTemplate = template.Template

// pageNames are the templates, one file each in templates/.
var pageNames = []string{"home", "review", "issued", "licenses", "license", "receipts", "receipt", "usage", "report", "error", "signedout"}

func parsePages() (map[string]*pageTemplate, error) {
	sub, err := fs.Sub(templateFS, "templates")
	if err != nil {
		return nil, err
	}
	out := map[string]*pageTemplate{}
	for _, name := range pageNames {
		t, err := web.Parse(sub, name+".html", "parts.html")
		if err != nil {
			return nil, fmt.Errorf("deskconsole: template %s: %w", name, err)
		}
		out[name] = t
	}
	return out, nil
}

// nav is the console's navigation; the current page is marked.
var nav = []web.NavItem{
	{Label: "Sign a request", Href: "/"},
	{Label: "Licenses and seats", Href: "/licenses"},
	{Label: "Receipts", Href: "/receipts"},
	{Label: "Usage reports", Href: "/usage"},
}

// page is the common part of every page's data.
func (s *Server) page(r *http.Request, sess, title string) web.Page {
	p := web.Page{Title: title}
	if sess != "" {
		p.CSRF = s.csrf.Token(sess)
		for _, n := range nav {
			n.Current = n.Href == r.URL.Path || n.Href != "/" && strings.HasPrefix(r.URL.Path, n.Href)
			p.Nav = append(p.Nav, n)
		}
	}
	return p
}

func (s *Server) render(w http.ResponseWriter, status int, name string, data any) {
	web.Render(w, s.pages[name], "layout", status, data)
}

// fail answers with a page saying what was refused, with its stable code.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	title := "Refused"
	if code == codeNotSignedIn {
		title = "Not signed in"
	}
	p := s.page(r, s.session(r), title)
	p.ErrorCode, p.Error = code, msg
	s.render(w, status, "error", p)
}

// problem is an error as a page shows it: its stable code and a message
// naming public facts only; the desk's own failures are reported on the
// terminal, not in the page.
func (s *Server) problem(err error) (code, msg string) {
	c := result.CodeOf(err)
	if c == result.Internal {
		if s.cfg.Warn != nil {
			s.cfg.Warn("%v", err)
		}
		return string(c), "The desk could not finish this; the terminal running airlock-vendor serve says why."
	}
	return string(c), err.Error()
}

// scanPage is the data of a page that scans, drops or pastes a message.
type scanPage struct {
	web.Page
	Kind   string // request, receipt, usage: the scanner's and the fields' names
	Noun   string // what is read, in words
	Action string // where the form posts
}

func (s *Server) home(w http.ResponseWriter, r *http.Request, sess string) {
	p := s.page(r, sess, "Sign a request")
	p.Camera = true
	s.render(w, http.StatusOK, "home", scanPage{Page: p, Kind: "request", Noun: "request", Action: "/request/review"})
}

func (s *Server) receipts(w http.ResponseWriter, r *http.Request, sess string) {
	p := s.page(r, sess, "Import a receipt")
	p.Camera = true
	s.render(w, http.StatusOK, "receipts", scanPage{Page: p, Kind: "receipt", Noun: "receipt", Action: "/receipts/import"})
}

// scan decodes one camera frame; the page's camera.js posts them.
func (s *Server) scan(w http.ResponseWriter, r *http.Request, sess string) {
	kind := r.PathValue("kind")
	if kind != "request" && kind != "receipt" && kind != "usage" {
		http.NotFound(w, r)
		return
	}
	img, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxFrame))
	if err != nil {
		web.WriteJSON(w, http.StatusRequestEntityTooLarge, web.ScanResult{Status: fmt.Sprintf("a camera frame is larger than %d bytes", MaxFrame)})
		return
	}
	res, err := s.scanner.Frame(sess+"/"+kind, img)
	if err != nil {
		web.WriteJSON(w, http.StatusUnprocessableEntity, web.ScanResult{Status: "this frame could not be read; hold the code steady"})
		return
	}
	web.WriteJSON(w, http.StatusOK, res)
}

// message reads the message a form brings: a dropped file or photo
// ("file"), else the text field (pasted, typed by a scanner, or filled in
// by the camera).
func message(r *http.Request) ([]byte, error) {
	f, _, err := r.FormFile("file")
	if err == nil {
		defer f.Close()
		return upload(f)
	}
	if !errors.Is(err, http.ErrMissingFile) && !errors.Is(err, http.ErrNotMultipart) {
		return nil, result.New(result.Malformed, fmt.Sprintf("the upload could not be read (at most %d bytes)", MaxUpload))
	}
	text := r.PostFormValue("text")
	if strings.TrimSpace(text) == "" {
		return nil, result.New(result.Malformed, "nothing to read: scan a code, drop a file or a photo, or paste the text")
	}
	return []byte(text), nil
}

func upload(f multipart.File) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(f, MaxUpload+1))
	if err != nil || len(data) > MaxUpload {
		return nil, result.New(result.Malformed, fmt.Sprintf("the upload is larger than %d bytes", MaxUpload))
	}
	if len(data) == 0 {
		return nil, result.New(result.Malformed, "the dropped file is empty")
	}
	text, err := web.DecodeUpload(data)
	if err != nil {
		return nil, result.Wrap(result.Malformed, "no airlock message in this file or photo", err)
	}
	return []byte(text), nil
}

// reviewPage shows a request and the ledger's answer.
type reviewPage struct {
	web.Page
	Text    string // the armored request, carried to the sign form
	Asks    []field
	Answer  []field
	CanSign bool
}

func (s *Server) review(w http.ResponseWriter, r *http.Request, sess string) {
	text, err := message(r)
	if err != nil {
		s.showReview(w, r, sess, nil, err)
		return
	}
	s.showReview(w, r, sess, text, nil)
}

// showReview renders the review of text; err is a problem found before
// (reading the input, or signing).
func (s *Server) showReview(w http.ResponseWriter, r *http.Request, sess string, text []byte, err error) {
	p := reviewPage{Page: s.page(r, sess, "Review the request")}
	status := http.StatusOK
	if text != nil {
		if b, derr := armor.DecodeKind(text, armor.Request); derr == nil {
			// Canonical armor: what the sign form carries back.
			p.Text = armor.Text(armor.Request, b)
		}
		s.keyMu.Lock()
		rv := s.cfg.Desk.ReviewText(r.Context(), text)
		s.keyMu.Unlock()
		p.Asks, p.Answer = asks(rv), answer(rv)
		if err == nil {
			err = rv.Problem
		}
	}
	if err != nil {
		p.ErrorCode, p.Error = s.problem(err)
		status = http.StatusUnprocessableEntity
	}
	p.CanSign = err == nil && p.Text != ""
	s.render(w, status, "review", p)
}

// issuedPage shows a license as QR codes and a download.
type issuedPage struct {
	web.Page
	Text      string
	Key       string
	ID        string
	Product   string
	Licensee  string
	Reused    bool
	Fresh     bool // just signed (else shown again from the ledger)
	PhoneCode string
	Parts     []qrPart
}

func (s *Server) sign(w http.ResponseWriter, r *http.Request, sess string) {
	text := []byte(r.PostFormValue("text"))
	s.keyMu.Lock()
	iss, err := s.cfg.Desk.SignText(r.Context(), text)
	s.checkpoint(r.Context())
	s.keyMu.Unlock()
	if err != nil {
		s.showReview(w, r, sess, text, err)
		return
	}
	lic := iss.License.License
	p := issuedPage{
		Page:     s.page(r, sess, "License signed"),
		Text:     string(iss.Text()),
		Key:      lic.LicenseKey,
		ID:       hex.EncodeToString(lic.ActivationID),
		Product:  lic.Product,
		Licensee: lic.Licensee,
		Reused:   iss.Reused,
		Fresh:    true,
	}
	if iss.PhoneCode != "" {
		p.PhoneCode = phonecode.Format(iss.PhoneCode)
	}
	s.showIssued(w, p)
}

// issued shows a license the ledger released before.
func (s *Server) issued(w http.ResponseWriter, r *http.Request, sess string) {
	a, ok := s.activation(w, r)
	if !ok {
		return
	}
	lic, err := s.cfg.Desk.Ledger.GetLicense(r.Context(), a.LicenseKey)
	if err != nil {
		s.fail(w, r, http.StatusNotFound, string(result.LicenseUnknown), "no such license key")
		return
	}
	s.showIssued(w, issuedPage{
		Page:     s.page(r, sess, "License "+a.LicenseKey),
		Text:     armor.Text(armor.License, a.License),
		Key:      a.LicenseKey,
		ID:       a.ID,
		Product:  lic.Product,
		Licensee: lic.Licensee,
	})
}

func (s *Server) download(w http.ResponseWriter, r *http.Request, _ string) {
	a, ok := s.activation(w, r)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="license-%s.txt"`, a.ID))
	io.WriteString(w, armor.Text(armor.License, a.License))
}

// activation is the activation the path names.
func (s *Server) activation(w http.ResponseWriter, r *http.Request) (*ledger.Activation, bool) {
	key, id := r.PathValue("key"), r.PathValue("id")
	if len(key) > 128 || len(id) > 64 {
		s.fail(w, r, http.StatusNotFound, string(result.LicenseUnknown), "no such activation")
		return nil, false
	}
	a, err := s.cfg.Desk.Ledger.GetActivation(r.Context(), key, id)
	if err != nil || len(a.License) == 0 {
		s.fail(w, r, http.StatusNotFound, string(result.LicenseUnknown), "the ledger has no such activation of this license")
		return nil, false
	}
	return a, true
}

// licenseRow is one license in the list.
type licenseRow struct {
	ledger.License
	Used int
}

type licensesPage struct {
	web.Page
	Licenses []licenseRow
}

func (s *Server) licenses(w http.ResponseWriter, r *http.Request, sess string) {
	ls, err := s.cfg.Desk.Ledger.ListLicenses(r.Context())
	if err != nil {
		code, msg := s.problem(result.Wrap(result.Internal, "cannot read the ledger", err))
		s.fail(w, r, http.StatusInternalServerError, code, msg)
		return
	}
	p := licensesPage{Page: s.page(r, sess, "Licenses and seats")}
	for _, l := range ls {
		n, _ := s.cfg.Desk.Ledger.SeatsUsed(r.Context(), l.Key)
		p.Licenses = append(p.Licenses, licenseRow{License: l, Used: n})
	}
	sort.SliceStable(p.Licenses, func(i, j int) bool { return p.Licenses[i].Created.After(p.Licenses[j].Created) })
	s.render(w, http.StatusOK, "licenses", p)
}

type licensePage struct {
	web.Page
	License     *ledger.License
	Used        int
	Activations []ledger.Activation
}

func (s *Server) license(w http.ResponseWriter, r *http.Request, sess string) {
	key := r.PathValue("key")
	lic, err := s.cfg.Desk.Ledger.GetLicense(r.Context(), key)
	if err != nil {
		s.fail(w, r, http.StatusNotFound, string(result.LicenseUnknown), "no such license key")
		return
	}
	as, _ := s.cfg.Desk.Ledger.Activations(r.Context(), key)
	n, _ := s.cfg.Desk.Ledger.SeatsUsed(r.Context(), key)
	sort.SliceStable(as, func(i, j int) bool { return as[i].Issued.After(as[j].Issued) })
	s.render(w, http.StatusOK, "license", licensePage{Page: s.page(r, sess, "License "+key), License: lic, Used: n, Activations: as})
}

// receiptPage is the outcome of a receipt import.
type receiptPage struct {
	web.Page
	LicenseKey string
	Activation string
	Already    bool
}

func (s *Server) importReceipt(w http.ResponseWriter, r *http.Request, sess string) {
	p := receiptPage{Page: s.page(r, sess, "Receipt")}
	text, err := message(r)
	if err == nil {
		s.keyMu.Lock()
		rc, already, ierr := s.cfg.Desk.ImportReceipt(r.Context(), text)
		s.checkpoint(r.Context())
		s.keyMu.Unlock()
		err = ierr
		if rc != nil {
			p.LicenseKey, p.Activation, p.Already = rc.Receipt.LicenseKey, hex.EncodeToString(rc.Receipt.ActivationID), already
		}
	}
	status := http.StatusOK
	if err != nil {
		p.ErrorCode, p.Error = s.problem(err)
		status = http.StatusUnprocessableEntity
	}
	s.render(w, status, "receipt", p)
}

// writeJSON answers a camera frame.
