package deskconsole

import (
	"encoding/hex"
	"fmt"
	"html/template"
	"net/http"
	"time"

	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/desk"
	"github.com/airlock-offline/airlock/fingerprint"
	"github.com/airlock-offline/airlock/internal/web"
	"github.com/airlock-offline/airlock/request"
)

// field is one line of a description list.
type field struct{ Name, Value string }

// asks describes what a request asks for: public fields only; sealed
// fields are named, never shown.
func asks(rv *desk.Review) []field {
	if rv.Request == nil {
		return nil
	}
	q := rv.Request.Request
	kind := "activation"
	if q.Kind == request.KindRenew {
		kind = fmt.Sprintf("renewal of lease %x", q.Renews)
	}
	f := []field{
		{"Kind", kind},
		{"Product", q.Product},
		{"License key", q.LicenseKey},
		{"Machine fingerprint", hex.EncodeToString(q.Fingerprint)},
		{"Hardware components", fmt.Sprintf("%d readable", len(q.Components))},
	}
	if env := fingerprint.Env(q.Env); env != 0 {
		f = append(f, field{"Environment", env.String()})
	}
	hk := "none"
	if k := q.HardwareKey; k != nil {
		hk = fmt.Sprintf("%s, serial %X", hwType(k.Type), k.Serial)
		if len(k.PublicKey) == 0 {
			hk += " (cannot prove itself)"
		}
	}
	f = append(f, field{"Hardware key", hk})
	if rv.Attestation != "" {
		f = append(f, field{"Attestation", rv.Attestation})
	}
	phone := "no"
	if rv.PhoneCode {
		phone = "yes: a short code to read out is shown after signing"
	}
	f = append(f, field{"Phone code", phone})
	if rv.LicenseeSecret {
		f = append(f, field{"Licensee secret", "brought (sealed to the vendor; not shown)"})
	}
	if q.Provisional != 0 {
		f = append(f, field{"Ran provisionally since", time.Unix(q.Provisional, 0).UTC().Format(dateFormat)})
	}
	f = append(f,
		field{"Installation key", crypto.KeyIDOf(q.InstallSign).String()},
		field{"Made", q.CreatedTime().UTC().Format(dateFormat)},
		field{"Request hash", hex.EncodeToString(rv.Request.Hash[:8])},
	)
	return f
}

const dateFormat = "2006-01-02 15:04 UTC"

func hwType(t uint8) string {
	switch t {
	case request.HWOpenPGP:
		return "OpenPGP card"
	case request.HWPIV:
		return "PIV token"
	case request.HWGeneric:
		return "generic card (UID only)"
	}
	return fmt.Sprintf("hardware key of type %d", t)
}

// answer is the ledger's answer: the license, its seats, and whether this
// machine holds one already.
func answer(rv *desk.Review) []field {
	lic := rv.License
	if lic == nil {
		return nil
	}
	licensee := lic.Licensee
	if licensee == "" {
		licensee = "(none named)"
	}
	f := []field{{"Licensee", licensee}, {"License product", lic.Product}}
	if rv.AutoCreate {
		f = append(f, field{"License", "not in the ledger yet: signing creates it from the product's template"})
	}
	expires := "never"
	if !lic.Expires.IsZero() {
		expires = lic.Expires.UTC().Format(dateFormat)
	}
	f = append(f, field{"Expires", expires},
		field{"Seats", fmt.Sprintf("%d of %d used, %d left", rv.SeatsUsed, lic.MaxMachines, rv.SeatsLeft())})
	if lic.LeasePeriod > 0 {
		f = append(f, field{"Lease period", lic.LeasePeriod.String()})
	}
	switch {
	case rv.Renewal && rv.Existing != "":
		f = append(f, field{"This machine", "renews lease " + rv.Existing + " (no new seat)"})
	case rv.Existing != "":
		f = append(f, field{"This machine", "holds activation " + rv.Existing + " already: it gets its license again, no new seat"})
	case rv.Problem == nil:
		f = append(f, field{"This machine", "takes a new seat"})
	}
	if lic.Suspended {
		f = append(f, field{"State", "suspended"})
	}
	verdict := "signs"
	if rv.Problem != nil {
		verdict = "refused: " + string(rv.ProblemCode())
	}
	return append(f, field{"Verdict", verdict})
}

// qrPart is one QR code of a license.
type qrPart struct {
	Src   template.URL
	N, Of int
}

func (s *Server) showIssued(w http.ResponseWriter, p issuedPage) {
	srcs, err := web.QRImages(p.Text)
	if err != nil && s.cfg.Warn != nil {
		s.cfg.Warn("cannot draw the license as QR codes: %v; it can be downloaded", err)
	}
	for i, src := range srcs {
		p.Parts = append(p.Parts, qrPart{Src: src, N: i + 1, Of: len(srcs)})
	}
	s.render(w, http.StatusOK, "issued", p)
}
