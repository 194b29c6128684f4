package serverconsole

import (
	"net/http"
)

type reportsPage struct {
	page
	Available    bool
	Pseudonymise bool
	Name         string
	Report       string
	QR           []qrPart
}

func (c *Console) reportsPage(w http.ResponseWriter, r *http.Request, u *user) {
	c.render(w, "reports", http.StatusOK, reportsPage{page: c.page(u, "Usage reports", "/reports"), Available: c.cfg.Report != nil})
}

// makeReport makes a usage report (a report may advance the server's
// report sequence, so it is a change: POST, admin) and shows it as QR
// codes with a download link.
func (c *Console) makeReport(w http.ResponseWriter, r *http.Request, u *user) {
	d := reportsPage{page: c.page(u, "Usage reports", "/reports"), Available: c.cfg.Report != nil}
	if c.cfg.Report == nil {
		d.Error, d.ErrorCode = "this server makes no usage reports", "not_found"
		c.render(w, "reports", http.StatusNotFound, d)
		return
	}
	d.Pseudonymise = r.PostFormValue("pseudonymise") != ""
	name, text, err := c.cfg.Report(d.Pseudonymise)
	if err != nil {
		code, msg := c.problem(err)
		d.Error, d.ErrorCode = msg, code
		c.render(w, "reports", http.StatusInternalServerError, d)
		return
	}
	d.Name, d.Report = safeName(name), string(text)
	if d.QR, err = qrParts(d.Report, "usage report"); err != nil {
		d.Error, d.ErrorCode = "cannot draw the report's QR codes", "internal_error"
		c.render(w, "reports", http.StatusInternalServerError, d)
		return
	}
	c.mu.Lock()
	u.s.report = &namedText{name: d.Name, text: d.Report}
	c.mu.Unlock()
	d.Flash = "The usage report is ready: take it to the vendor as QR codes or as a file."
	c.render(w, "reports", http.StatusOK, d)
}

func (c *Console) reportDownload(w http.ResponseWriter, r *http.Request, u *user) {
	c.mu.Lock()
	rep := u.s.report
	c.mu.Unlock()
	if rep == nil {
		c.fail(w, r, u, http.StatusNotFound, "not_found", "no usage report was made in this session")
		return
	}
	download(w, rep.name, []byte(rep.text))
}

type namedText struct{ name, text string }
