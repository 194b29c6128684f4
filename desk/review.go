package desk

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/airlock-offline/airlock/internal/armor"
	"github.com/airlock-offline/airlock/ledger"
	"github.com/airlock-offline/airlock/request"
	"github.com/airlock-offline/airlock/response"
	"github.com/airlock-offline/airlock/result"
)

// Review is the desk's answer to a request before anything is signed or
// recorded: what the request asks for, and what the ledger and the
// license's policy say about it. The checks are Sign's own (the same
// prepare step), run without side effects: a license that would be
// auto-created is built in memory from its product's template, a client
// licensee secret that would be bound is only compared, nothing is
// written to the ledger or its audit log. Sign has the final word: the
// ledger may change between Review and Sign (another desk takes the last
// seat, a re-activation limit is reached).
type Review struct {
	// Request is the verified request; nil when it does not verify.
	Request *request.Signed
	// License is the license the request names as the ledger holds it, or
	// as it would be auto-created (AutoCreate); nil when there is none.
	License    *ledger.License
	AutoCreate bool
	// SeatsUsed is the number of seats taken on License now.
	SeatsUsed int
	// Existing is the activation id this request would get again (the
	// same installation on the same machine keeps its seat) or the lease
	// a renewal extends; "" when the request takes a new seat.
	Existing string
	Renewal  bool
	// PhoneCode: the request asks for a short code to read out.
	PhoneCode bool
	// LicenseeSecret: the request brings a licensee secret (sealed to
	// the vendor, never shown).
	LicenseeSecret bool
	// Attestation describes the hardware key's attestation: "" without a
	// hardware key, else "none", "carried (not checked: no roots)" or
	// "checked".
	Attestation string
	// Problem is why Sign would refuse the request now (a *result.Error
	// with a stable code); nil when it would sign.
	Problem error
}

// SeatsLeft is the number of free seats on the license (0 when unknown).
func (r *Review) SeatsLeft() int {
	if r.License == nil || r.SeatsUsed >= r.License.MaxMachines {
		return 0
	}
	return r.License.MaxMachines - r.SeatsUsed
}

// ProblemCode is the result code of Problem, or "" when there is none.
func (r *Review) ProblemCode() result.Code {
	if r.Problem == nil {
		return ""
	}
	return result.CodeOf(r.Problem)
}

type previewKey struct{}

// preview reports whether ctx is a Review's: nothing may be written.
func preview(ctx context.Context) bool { return ctx.Value(previewKey{}) != nil }

// ReviewText is Review for any text presentation of a request.
func (d *Desk) ReviewText(ctx context.Context, text []byte) *Review {
	b, err := armor.DecodeKind(text, armor.Request)
	if err != nil {
		return &Review{Problem: result.Wrap(result.Malformed, "not a valid request", err)}
	}
	return d.Review(ctx, b)
}

// Review runs every check Sign runs on reqBytes, writing nothing, and
// says what the ledger holds for it.
func (d *Desk) Review(ctx context.Context, reqBytes []byte) *Review {
	ctx = context.WithValue(ctx, previewKey{}, true)
	rv := &Review{}
	s, nodes, err := request.VerifyNodes(reqBytes)
	if err != nil {
		rv.Problem = err
		return rv
	}
	r := s.Request
	rv.Request = s
	if len(nodes) > 0 {
		rv.Problem = result.New(result.Malformed, fmt.Sprintf("a request of %d floating-server nodes is for a pool license only: sign it as one, with the pool's terms", len(nodes)))
		return rv
	}
	rv.Renewal = r.Kind == request.KindRenew
	if hk := r.HardwareKey; hk != nil {
		switch {
		case len(hk.Attestation) == 0 && len(d.Attestation) == 0:
			rv.Attestation = "none"
		case d.AttestationRoots == nil:
			rv.Attestation = "carried (not checked: no attestation roots)"
		default:
			rv.Attestation = "checked against the attestation roots"
		}
	}
	j, err := d.prepare(ctx, reqBytes)
	if lic, auto, lerr := d.previewLicense(ctx, r, d.now()); lerr == nil {
		rv.License, rv.AutoCreate = lic, auto
		if !auto {
			if rv.SeatsUsed, lerr = d.Ledger.SeatsUsed(ctx, lic.Key); lerr != nil && err == nil {
				err = result.Wrap(result.Internal, "cannot read the ledger", lerr)
			}
		}
	}
	if err != nil {
		rv.Problem = err
		return rv
	}
	rv.PhoneCode = len(j.codeSeed) > 0
	rv.LicenseeSecret = j.secret != nil
	switch {
	case j.prevLease != nil:
		rv.Existing = fmt.Sprintf("%x", j.prevLease)
	default:
		existing, err := d.existingActivation(ctx, j.key, r, j.keyOnly)
		if err != nil {
			rv.Problem = err
			return rv
		}
		if existing != nil {
			rv.Existing = fmt.Sprintf("%x", existing)
		} else if rv.SeatsUsed >= j.lic.MaxMachines {
			rv.Problem = recordError(j.lic, ledger.ErrTooManyMachines)
		}
	}
	return rv
}

// previewLicense returns the license r names, or the one its product's
// template would create (auto true), without creating it.
func (d *Desk) previewLicense(ctx context.Context, r *request.Request, now time.Time) (lic *ledger.License, auto bool, err error) {
	lic, err = d.Ledger.GetLicense(ctx, r.LicenseKey)
	if !errors.Is(err, ledger.ErrNotFound) || r.Kind != request.KindActivate {
		return lic, false, err
	}
	p, perr := d.Ledger.GetProduct(ctx, r.Product)
	if perr != nil || !p.AutoCreate || p.Template.SecretMode == "predefined" {
		return nil, false, err
	}
	c := p.Template
	c.Key, c.Product, c.Created = r.LicenseKey, p.Name, now.UTC()
	if p.Validity > 0 {
		c.Expires = now.Add(p.Validity).UTC()
	}
	return &c, true, nil
}

// PoolOf returns the pool of the pool license licenseKey (for product)
// that the floating server with key server holds in the ledger: the seats
// and caps a usage report of that server is measured against.
func (d *Desk) PoolOf(ctx context.Context, licenseKey, product string, server []byte) (*response.Pool, error) {
	a, err := d.poolActivation(ctx, licenseKey, product, server)
	if err != nil {
		return nil, err
	}
	l, _, err := response.ParseUnverified(a.License)
	if err != nil || l.Pool == nil {
		return nil, result.New(result.Internal, "the ledger holds an unreadable pool license")
	}
	return l.Pool, nil
}
