// Package desk is the vendor's side of airlock: it checks an activation
// request against the ledger and the license's policy, records the
// activation durably, and only then releases the signed license.
package desk

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/fingerprint"
	"github.com/airlock-offline/airlock/internal/armor"
	"github.com/airlock-offline/airlock/internal/attest"
	"github.com/airlock-offline/airlock/ledger"
	"github.com/airlock-offline/airlock/phonecode"
	"github.com/airlock-offline/airlock/receipt"
	"github.com/airlock-offline/airlock/request"
	"github.com/airlock-offline/airlock/response"
	"github.com/airlock-offline/airlock/result"
)

// Defaults for request freshness.
const (
	DefaultMaxRequestAge = 7 * 24 * time.Hour
	DefaultMaxFuture     = time.Hour
)

// Desk signs licenses.
type Desk struct {
	Key    *crypto.Identity
	Ledger *ledger.Ledger

	Now func() time.Time // nil means time.Now
	// Rand is the source of activation ids; nil means crypto/rand. The
	// desk serializes its reads (SignBatch signs on several goroutines),
	// so any reader will do.
	Rand          io.Reader
	MaxRequestAge time.Duration // 0 means DefaultMaxRequestAge
	MaxFuture     time.Duration // 0 means DefaultMaxFuture
	// AttestationRoots, when set, are the token makers' attestation roots
	// and published intermediates (attest.Yubico() for Yubico's): every
	// hardware key, whatever type it claims, must then bring an
	// attestation that chains to one and certifies the enrolled key and
	// serial (see checkAttestation).
	AttestationRoots *attest.Pool
	// Attestation, when set, is a hardware key's attestation that
	// travelled beside the request instead of inside it (airlock request
	// --attestation-file, when the QR budget is tight): used when the
	// request carries none. It needs no signature of its own: it must
	// chain to AttestationRoots and certify the key the request enrols.
	Attestation []byte

	randMu sync.Mutex // serializes reads of Rand
}

// Issued is the outcome of a successful Sign.
type Issued struct {
	Request *request.Signed
	License *response.Signed
	// Reused is true when the same installation on the same machine got
	// its seat again instead of a new one.
	Reused bool
	// PhoneCode is the short code to read out on the phone when the
	// request asked for one (its seed sealed to the vendor); "" otherwise.
	PhoneCode string
}

// issued builds the outcome of a job, with its phone code if asked for.
func (d *Desk) issued(j *job, signed *response.Signed, reused bool) *Issued {
	iss := &Issued{Request: j.signed, License: signed, Reused: reused}
	if len(j.codeSeed) > 0 {
		iss.PhoneCode, _ = phonecode.Code(j.codeSeed, j.signed.Hash, d.now())
	}
	d.auditProvisional(j, iss)
	return iss
}

// auditProvisional tells the ledger about provisional activations once the
// license is issued: a phone code read out for this request, and a
// provisional period the installation reports having had (a code the
// vendor read out earlier, or one the licensee computed from their own
// state: the audit log is where the vendor sees the difference). Entries
// are best effort: the activation itself is already recorded.
func (d *Desk) auditProvisional(j *job, iss *Issued) {
	ctx := context.Background()
	if iss.PhoneCode != "" {
		_ = d.Ledger.Audit(ctx, "provisional.code", j.key, fmt.Sprintf("phone code issued for request %x (activation %x)", j.signed.Hash[:8], j.actID))
	}
	if j.req.Provisional > 0 {
		_ = d.Ledger.Audit(ctx, "provisional.reported", j.key, fmt.Sprintf("installation %x ran provisionally (phone code) since %s; activation %x", j.req.InstallSign[:8], time.Unix(j.req.Provisional, 0).UTC().Format(time.RFC3339), j.actID))
	}
}

// Text returns the armored license.
func (i *Issued) Text() []byte { return i.License.Text() }

func (d *Desk) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

// SignText is Sign for any text presentation of a request.
func (d *Desk) SignText(ctx context.Context, text []byte) (*Issued, error) {
	b, err := armor.DecodeKind(text, armor.Request)
	if err != nil {
		return nil, result.Wrap(result.Malformed, "not a valid request", err)
	}
	return d.Sign(ctx, b)
}

// job is a request that passed every check, ready to be signed and recorded.
type job struct {
	req       *request.Request
	signed    *request.Signed
	lic       *ledger.License
	key       string
	p         response.Params
	secret    []byte
	prevLease []byte
	actID     []byte
	issued    time.Time
	codeSeed  []byte
	keyOnly   bool     // the license binds the hardware key alone; the key holds the seat
	nodes     [][]byte // a request of several floating-server nodes: every node's key (pool.go)
}

// prepare runs every check on a request and chooses its activation id.
func (d *Desk) prepare(ctx context.Context, reqBytes []byte) (*job, error) {
	req, nodes, err := request.VerifyNodes(reqBytes)
	if err != nil {
		return nil, err
	}
	r := req.Request
	kid := d.Key.ID()
	if !bytes.Equal(r.VendorKeyID, kid[:]) {
		var got crypto.KeyID
		copy(got[:], r.VendorKeyID)
		return nil, result.New(result.UnknownVendorKey, fmt.Sprintf("request was made for vendor key %s, this desk signs with %s", got, kid))
	}
	now := d.now()
	maxAge, maxFuture := d.MaxRequestAge, d.MaxFuture
	if maxAge == 0 {
		maxAge = DefaultMaxRequestAge
	}
	if maxFuture == 0 {
		maxFuture = DefaultMaxFuture
	}
	created := r.CreatedTime()
	if created.Before(now.Add(-maxAge)) {
		return nil, result.New(result.RequestStale, fmt.Sprintf("request was made on %s, more than %s ago; make a new one", created.Format(time.RFC3339), maxAge))
	}
	if created.After(now.Add(maxFuture)) {
		return nil, result.New(result.RequestStale, "request was made in the future: the requesting machine's clock is ahead")
	}
	// Open the sealed fields before anything is looked up or created: a
	// request carrying another request's sealed fields changes nothing.
	conf, err := r.Open(d.Key)
	if err != nil {
		return nil, err
	}
	key := r.LicenseKey // canonical: request.Verify checked it
	lic, err := d.lookup(ctx, r, now)
	if err != nil {
		return nil, err
	}
	if lic.Suspended {
		return nil, result.New(result.LicenseSuspended, "license is suspended")
	}
	if lic.Product != r.Product {
		return nil, result.New(result.ProductMismatch, fmt.Sprintf("license is for product %q, the request for %q", lic.Product, r.Product))
	}
	// Licenses carry whole seconds: compare in whole seconds, so a license
	// that expires within the current second is EXPIRED, not unsignable.
	issued := now.UTC().Truncate(time.Second)
	if !lic.Expires.IsZero() && lic.Expires.Unix() <= issued.Unix() {
		return nil, result.New(result.Expired, "license expired on "+lic.Expires.UTC().Format(time.RFC3339))
	}
	keyOnly := lic.MatchPolicy == MatchHardwareKey
	pol := fingerprint.MatchAll
	if keyOnly {
		// A portable license: the hardware key is the hardware ID, and the
		// key must be one that can prove itself on every verify.
		if r.HardwareKey == nil {
			return nil, result.New(result.HardwareKeyNotAccessible, "license is bound to a hardware key alone (match policy hardware-key), and the request enrols none: make the request with --hardware-key")
		}
		if len(r.HardwareKey.PublicKey) == 0 {
			return nil, result.New(result.HardwareKeyProofFailed, "license is bound to a hardware key alone, and this key cannot prove itself (a card known only by its UID): use an OpenPGP card or a PIV token")
		}
	} else if pol, err = fingerprint.ParsePolicy(lic.MatchPolicy); err != nil {
		return nil, result.Wrap(result.Internal, "license has an invalid match policy in the ledger", err)
	}
	if err := checkEnv(lic, fingerprint.Env(r.Env), r.HardwareKey != nil); err != nil {
		return nil, err
	}
	if err := d.checkAttestation(r.HardwareKey); err != nil {
		return nil, err
	}
	if r.HardwareKey != nil && r.HardwareKey.Type == request.HWGeneric && lic.RefuseGenericKeys {
		return nil, result.New(result.HardwareKeyProofFailed, "license refuses hardware keys that cannot prove themselves (a card known only by its UID): use an OpenPGP card or a PIV token")
	}
	secret, err := d.checkSecret(ctx, lic, conf)
	if err != nil {
		return nil, err
	}
	// The combined id must be the one its component digests give for this
	// product and vendor key, or one request could bind two machines.
	if !requestFingerprint(r).CheckID(r.Product, kid) {
		return nil, result.New(result.Malformed, "request fingerprint id does not match its component digests")
	}
	if pol.Kind == fingerprint.PolicyAtLeast && int(pol.N) > len(r.Components) {
		return nil, result.New(result.FingerprintMismatch, fmt.Sprintf("this machine has %d readable hardware components; the license's match policy needs %d", len(r.Components), pol.N))
	}

	// The same installation on the same machine keeps its seat and its
	// activation id; a renewal gets a new lease id that names the old one.
	var actID, prevLease []byte
	if r.Kind == request.KindRenew {
		if err := d.checkRenewal(ctx, key, r, pol, keyOnly); err != nil {
			return nil, err
		}
		prevLease = r.Renews
	} else if actID, err = d.existingActivation(ctx, key, r, keyOnly); err != nil {
		return nil, err
	}
	if actID == nil {
		actID = make([]byte, response.ActivationIDLen)
		if err := d.readRand(actID); err != nil {
			return nil, result.Wrap(result.Internal, "cannot read randomness", err)
		}
	}
	refuse, _ := fingerprint.ParseEnv(orNone(lic.RefuseEnv)) // checked by checkEnv
	licensee := lic.Licensee
	if licensee == "" {
		// A license names its licensee (1 to 128 bytes); an auto-created
		// one has none in the ledger: it is for whoever holds its key.
		licensee = key
	}
	p := response.Params{
		RefuseEnv:    refuse,
		LicenseKey:   key,
		Product:      lic.Product,
		Licensee:     licensee,
		Features:     lic.Features,
		Issued:       issued,
		Expires:      lic.Expires,
		Policy:       pol,
		Confidential: lic.Confidential,
		PrevLease:    prevLease,
		KeyOnly:      keyOnly,
	}
	if lic.LeasePeriod > 0 {
		if lic.LeasePeriod < time.Second {
			return nil, result.New(result.Internal, "license has a lease period under one second in the ledger")
		}
		p.LeaseUntil = issued.Add(lic.LeasePeriod).Truncate(time.Second)
		if !lic.Expires.IsZero() && p.LeaseUntil.After(lic.Expires) {
			p.LeaseUntil = lic.Expires
		}
	}
	if len(conf.CodeSeed) != 0 && len(conf.CodeSeed) != phonecode.SeedSize {
		return nil, result.New(result.Malformed, "the phone code seed has the wrong size")
	}
	return &job{req: r, signed: req, lic: lic, key: key, p: p, secret: secret, prevLease: prevLease, actID: actID, issued: issued, codeSeed: conf.CodeSeed, keyOnly: keyOnly, nodes: nodes}, nil
}

// lookup returns the license the request names. An activation request
// with a license key the ledger does not know creates its license from
// the template of the product it names, if the ledger's settings for that
// product say so (NetLicensing's "Auto-create Licensee"); the new license
// is an ordinary one, and the request then passes every check as against
// any other. A renewal names a lease of an existing license: it creates
// nothing.
func (d *Desk) lookup(ctx context.Context, r *request.Request, now time.Time) (lic *ledger.License, err error) {
	key := r.LicenseKey
	cache := batchCacheOf(ctx)
	if cache != nil {
		if lic, ok := cache.license(key); ok {
			return lic, nil
		}
		defer func() {
			if lic != nil && err == nil {
				cache.keepLicense(lic)
			}
		}()
	}
	lic, err = d.Ledger.GetLicense(ctx, key)
	if errors.Is(err, ledger.ErrNotFound) && r.Kind == request.KindActivate && preview(ctx) {
		// A Review creates nothing: the license as it would be created.
		if plic, auto, _ := d.previewLicense(ctx, r, now); auto {
			return plic, nil
		}
	} else if errors.Is(err, ledger.ErrNotFound) && r.Kind == request.KindActivate {
		lic, err = d.Ledger.AutoCreateLicense(ctx, r.Product, key, now)
		if errors.Is(err, ledger.ErrExists) {
			// Created meanwhile, by another desk or request: use that one.
			lic, err = d.Ledger.GetLicense(ctx, key)
		} else if err != nil && !errors.Is(err, ledger.ErrNotFound) {
			return nil, result.Wrap(result.Internal, "cannot create the license in the ledger", err)
		}
	}
	switch {
	case err == nil:
		return lic, nil
	case errors.Is(err, ledger.ErrNotFound):
		return nil, result.New(result.LicenseUnknown, "no such license key")
	}
	return nil, result.Wrap(result.Internal, "cannot read the ledger", err)
}

// license signs the job's license under its current activation id.
func (d *Desk) license(j *job) (*response.Signed, *ledger.Activation, error) {
	p := j.p
	p.ActivationID = j.actID
	if err := withNodes(&p, j.nodes); err != nil {
		return nil, nil, err
	}
	if j.secret != nil {
		p.SecretHash = response.SecretBinding(j.actID, j.req.InstallSign, j.secret)
	}
	signed, err := response.New(d.Key, j.signed, p)
	if err != nil {
		return nil, nil, result.Wrap(result.Internal, "cannot sign the license", err)
	}
	install, fp := seatOf(j.req, j.keyOnly)
	return signed, &ledger.Activation{
		ID:          hex.EncodeToString(j.actID),
		LicenseKey:  j.key,
		InstallKey:  install,
		Fingerprint: fp,
		RequestHash: j.signed.Hash[:],
		Issued:      j.issued,
		LeaseUntil:  p.LeaseUntil,
		License:     signed.Bytes,
	}, nil
}

// Sign checks a signed request and, if the policy allows it, records the
// activation in the ledger and returns the signed license. The license
// exists only once the ledger has committed the activation.
func (d *Desk) Sign(ctx context.Context, reqBytes []byte) (*Issued, error) {
	j, err := d.prepare(ctx, reqBytes)
	if err == nil {
		d.carryPool(ctx, j)
		var iss *Issued
		if iss, err = d.finish(ctx, j); err == nil {
			return iss, nil
		}
	}
	d.auditRefusal(ctx, reqBytes, err)
	return nil, err
}

// auditRefusal records a refused request and why in the ledger's audit log.
// The reason is the result code and its message, which name public facts
// only. An unsigned or unreadable request is logged without a license key.
func (d *Desk) auditRefusal(ctx context.Context, reqBytes []byte, err error) {
	if rec, ok := refusalRecord(reqBytes, err); ok {
		_ = d.Ledger.Audit(ctx, rec.Action, rec.LicenseKey, rec.Detail)
	}
}

// refusalRecord is the audit entry of a refused request; none (false)
// for a failure of the desk itself.
func refusalRecord(reqBytes []byte, err error) (ledger.AuditRecord, bool) {
	code := result.CodeOf(err)
	if code == result.Internal {
		return ledger.AuditRecord{}, false
	}
	key := ""
	if req, verr := request.Verify(reqBytes); verr == nil {
		key = req.Request.LicenseKey
	} else if _, req, nerr := request.ParseNodeRequest(reqBytes); nerr == nil {
		key = req.Request.LicenseKey
	}
	return ledger.AuditRecord{Action: "refused", LicenseKey: key, Detail: string(code) + ": " + err.Error()}, true
}

// finish signs and records one job, re-signing once if another desk kept
// another activation id for the same machine meanwhile.
func (d *Desk) finish(ctx context.Context, j *job) (*Issued, error) {
	if err := d.checkReports(ctx, j); err != nil {
		return nil, err
	}
	lic, prevLease := j.lic, j.prevLease
	for attempt := 0; ; attempt++ {
		signed, a, err := d.license(j)
		if err != nil {
			return nil, err
		}
		if prevLease != nil {
			err := d.Ledger.Renew(ctx, hex.EncodeToString(prevLease), a)
			switch {
			case errors.Is(err, ledger.ErrNotFound):
				return nil, result.New(result.LicenseUnknown, "this lease is not active: it was renewed or released already; activate again")
			case errors.Is(err, ledger.ErrNotHolder):
				return nil, result.New(result.InstallationMismatch, "the lease is held by another installation")
			case errors.Is(err, ledger.ErrSuspended):
				return nil, result.New(result.LicenseSuspended, "license is suspended")
			case err != nil:
				return nil, result.Wrap(result.Internal, "cannot record the renewal in the ledger", err)
			}
			return d.issued(j, signed, true), nil
		}
		reused, err := d.Ledger.Record(ctx, a)
		if err := recordError(lic, err); err != nil {
			return nil, err
		}
		if a.ID == hex.EncodeToString(j.actID) {
			return d.issued(j, signed, reused), nil
		}
		// Another desk recorded this machine between our look-up and our
		// write: sign again under the id the ledger kept.
		if attempt > 0 {
			return nil, result.New(result.Internal, "the ledger keeps changing this activation; try again")
		}
		if j.actID, err = hex.DecodeString(a.ID); err != nil || len(j.actID) != response.ActivationIDLen {
			return nil, result.New(result.Internal, "the ledger holds an invalid activation id")
		}
	}
}

// recordError maps a ledger Record error to a result.
func recordError(lic *ledger.License, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ledger.ErrTooManyMachines):
		return result.New(result.TooManyMachines, fmt.Sprintf("license allows %d machine(s) and all seats are taken", lic.MaxMachines))
	case errors.Is(err, ledger.ErrTooManyReactivations):
		return result.New(result.TooManyMachines, "license allows no more re-activations on freed seats")
	case errors.Is(err, ledger.ErrSuspended):
		return result.New(result.LicenseSuspended, "license is suspended")
	case errors.Is(err, ledger.ErrNotFound):
		return result.New(result.LicenseUnknown, "no such license key")
	}
	return result.Wrap(result.Internal, "cannot record the activation in the ledger", err)
}

// checkRenewal checks that r renews an active lease of this installation,
// from a machine that still matches the lease's fingerprint under the
// license's policy. A machine that no longer matches must activate again
// (and may take a seat).
func (d *Desk) checkRenewal(ctx context.Context, key string, r *request.Request, pol fingerprint.Policy, keyOnly bool) error {
	old, err := d.Ledger.GetActivation(ctx, key, hex.EncodeToString(r.Renews))
	if errors.Is(err, ledger.ErrNotFound) || err == nil && old.Released {
		return result.New(result.LicenseUnknown, "this lease is not active: it was renewed or released already; activate again")
	}
	if err != nil {
		return result.Wrap(result.Internal, "cannot read the ledger", err)
	}
	if install, _ := seatOf(r, keyOnly); !bytes.Equal(old.InstallKey, install) {
		if keyOnly {
			return result.New(result.HardwareKeyMismatch, "the lease is held by another hardware key")
		}
		return result.New(result.InstallationMismatch, "the lease is held by another installation")
	}
	prev, _, err := response.ParseUnverified(old.License)
	if err != nil {
		return result.Wrap(result.Internal, "the ledger holds an unreadable license for this lease", err)
	}
	if !sameHardwareKey(prev.Binding.HardwareKey, r.HardwareKey) {
		return result.New(result.HardwareKeyMismatch, "a renewal must bring the hardware key the lease is bound to; activate again to change it")
	}
	if keyOnly {
		return nil // the key is the hardware ID, wherever it is plugged in
	}
	m := pol.Match(digests(prev.Binding.Components), requestFingerprint(r).Components)
	if !bytes.Equal(prev.Binding.Fingerprint, r.Fingerprint) && !m.OK {
		e := result.New(result.FingerprintMismatch, "this machine's hardware changed since the lease was issued: it cannot renew; activate again")
		for _, id := range m.Changed {
			e.Details = append(e.Details, "changed: "+id.String())
		}
		return e
	}
	return nil
}

func digests(m map[uint8][]byte) []fingerprint.Digest {
	var fp fingerprint.Fingerprint
	for id := 1; id < 256; id++ {
		if sum, ok := m[uint8(id)]; ok {
			d := fingerprint.Digest{ID: fingerprint.ComponentID(id)}
			copy(d.Sum[:], sum)
			fp.Components = append(fp.Components, d)
		}
	}
	return fp.Components
}

// MatchHardwareKey is the match policy, as the ledger stores it, of a
// license bound to its hardware key alone (`license create --match
// hardware-key`): the key is the hardware ID, the license goes wherever
// the key goes, and the seat is the key's, not a machine's.
const MatchHardwareKey = "hardware-key"

// seatOf returns the identity of the seat a request takes in the ledger:
// its installation key and fingerprint id; for a key-only license a
// stand-in for both derived from the hardware key (kind, serial and public
// key), so the same key on another machine, with another installation,
// holds the same seat and takes no new one.
func seatOf(r *request.Request, keyOnly bool) (install, fp []byte) {
	if !keyOnly || r.HardwareKey == nil {
		return r.InstallSign, r.Fingerprint
	}
	hk := r.HardwareKey
	h := sha256.New()
	h.Write([]byte("airlock hardware-key seat v1\x00"))
	h.Write([]byte{hk.Type, byte(len(hk.Serial))})
	h.Write(hk.Serial)
	h.Write(hk.PublicKey)
	install = h.Sum(nil)
	f := sha256.Sum256(append([]byte("airlock hardware-key seat fingerprint v1\x00"), install...))
	return install, f[:16]
}

func (d *Desk) existingActivation(ctx context.Context, key string, r *request.Request, keyOnly bool) ([]byte, error) {
	install, fp := seatOf(r, keyOnly)
	var id string
	var found, cached bool
	var err error
	if cache := batchCacheOf(ctx); cache != nil {
		id, found, cached, err = cache.activeSeat(ctx, d.Ledger, key, install, fp)
	}
	if !cached && err == nil {
		id, found, err = d.Ledger.ActiveSeat(ctx, key, install, fp)
	}
	if err != nil {
		return nil, result.Wrap(result.Internal, "cannot read the ledger", err)
	}
	if !found {
		return nil, nil
	}
	b, err := hex.DecodeString(id)
	if err != nil || len(b) != response.ActivationIDLen {
		return nil, result.New(result.Internal, "the ledger holds an invalid activation id")
	}
	return b, nil
}

// requestFingerprint rebuilds the fingerprint a request carries.
func requestFingerprint(r *request.Request) fingerprint.Fingerprint {
	fp := fingerprint.Fingerprint{Components: digests(r.Components)}
	copy(fp.ID[:], r.Fingerprint)
	return fp
}

// ParseEnvList parses an environment list for a license policy: flag names
// of fingerprint.Env separated by commas ("vm,container"), in any order;
// "" or "none" is the empty list. It returns the canonical text.
func ParseEnvList(s string) (string, error) {
	if s == "" || s == "none" {
		return "", nil
	}
	var e fingerprint.Env
	for _, part := range strings.Split(s, ",") {
		f, err := fingerprint.ParseEnv(strings.TrimSpace(part))
		if err != nil || f == 0 {
			return "", fmt.Errorf("unknown environment %q: use vm, container, wsl, cloud, shared-machine-id, no-machine-id", strings.TrimSpace(part))
		}
		e |= f
	}
	return e.String(), nil
}

// checkEnv applies the license's policy for virtual machines, containers
// and the like to the environment the request reports.
func checkEnv(lic *ledger.License, env fingerprint.Env, hasHardwareKey bool) error {
	if lic.RefuseEnv != "" {
		refused, err := fingerprint.ParseEnv(lic.RefuseEnv)
		if err != nil {
			return result.Wrap(result.Internal, "license has an invalid environment policy in the ledger", err)
		}
		if hit := env & refused; hit != 0 {
			return result.New(result.EnvironmentRefused, fmt.Sprintf("license does not allow activation on this kind of machine (%s)", hit))
		}
	}
	if lic.HardwareEnv != "" {
		needKey, err := fingerprint.ParseEnv(lic.HardwareEnv)
		if err != nil {
			return result.Wrap(result.Internal, "license has an invalid environment policy in the ledger", err)
		}
		if hit := env & needKey; hit != 0 && !hasHardwareKey {
			return result.New(result.HardwareKeyNotAccessible, fmt.Sprintf("license requires a hardware key on this kind of machine (%s)", hit))
		}
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// ImportReceipt verifies a deactivation receipt and frees its seat in the
// ledger. already is true when the receipt had been imported before (the
// seat is free either way). A receipt from an installation that does not
// hold the activation frees nothing (INSTALLATION_MISMATCH).
func (d *Desk) ImportReceipt(ctx context.Context, text []byte) (r *receipt.Signed, already bool, err error) {
	r, err = receipt.ParseText(text)
	if err != nil {
		return nil, false, err
	}
	lic, err := d.Ledger.GetLicense(ctx, r.Receipt.LicenseKey)
	if errors.Is(err, ledger.ErrNotFound) {
		return r, false, result.New(result.LicenseUnknown, "no such license key")
	}
	if err != nil {
		return r, false, result.Wrap(result.Internal, "cannot read the ledger", err)
	}
	if lic.Product != r.Receipt.Product {
		return r, false, result.New(result.ProductMismatch, fmt.Sprintf("license is for product %q, the receipt for %q", lic.Product, r.Receipt.Product))
	}
	err = d.Ledger.Release(ctx, lic.Key, hex.EncodeToString(r.Receipt.ActivationID), r.Receipt.InstallSign)
	switch {
	case err == nil:
		return r, false, nil
	case errors.Is(err, ledger.ErrAlreadyReleased):
		return r, true, nil
	case errors.Is(err, ledger.ErrNotFound):
		return r, false, result.New(result.LicenseUnknown, "the ledger has no such activation of this license")
	case errors.Is(err, ledger.ErrNotHolder):
		return r, false, result.New(result.InstallationMismatch, "the receipt is signed by an installation that does not hold this seat")
	}
	return r, false, result.Wrap(result.Internal, "cannot record the receipt in the ledger", err)
}

// SecretHash is how the desk stores a licensee secret: keyed with a key
// derived from the vendor identity, so the ledger alone reveals nothing,
// and bound to the license key.
func SecretHash(vendor *crypto.Identity, licenseKey string, secret []byte) []byte {
	m := hmac.New(sha256.New, vendor.DeriveKey("licensee secret"))
	m.Write([]byte(licenseKey))
	m.Write([]byte{0})
	m.Write(secret)
	return m.Sum(nil)
}

// checkSecret applies the license's licensee-secret mode (NetLicensing's
// Disabled / Predefined / Client) to the secret the request brings, and
// returns the secret to bind into the license (nil when disabled).
func (d *Desk) checkSecret(ctx context.Context, lic *ledger.License, conf *request.Confidential) ([]byte, error) {
	if lic.SecretMode == "" || lic.SecretMode == "disabled" {
		return nil, nil
	}
	secret := []byte(conf.LicenseeSecret)
	if len(secret) == 0 {
		return nil, result.New(result.LicenseeSecretMismatch, "license requires a licensee secret and the request brings none")
	}
	h := SecretHash(d.Key, lic.Key, secret)
	stored := lic.SecretHash
	if lic.SecretMode == "client" && stored == nil && preview(ctx) {
		return secret, nil // a Review binds nothing: the first activation would bind this one
	}
	if lic.SecretMode == "client" && stored == nil {
		// The first activation binds the secret it brings.
		err := d.Ledger.BindSecret(ctx, lic.Key, h)
		if err == nil {
			return secret, nil
		}
		if !errors.Is(err, ledger.ErrExists) {
			return nil, result.Wrap(result.Internal, "cannot record the licensee secret", err)
		}
		// Another desk bound one first: compare with that.
		again, err := d.Ledger.GetLicense(ctx, lic.Key)
		if err != nil {
			return nil, result.Wrap(result.Internal, "cannot read the ledger", err)
		}
		stored = again.SecretHash
	}
	if subtle.ConstantTimeCompare(h, stored) != 1 {
		return nil, result.New(result.LicenseeSecretMismatch, "the licensee secret is wrong")
	}
	return secret, nil
}

func sameHardwareKey(a, b *request.HardwareKey) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Type == b.Type && bytes.Equal(a.Serial, b.Serial) && bytes.Equal(a.PublicKey, b.PublicKey)
}

// readRand fills b from Rand (crypto/rand when nil), one reader at a time.
func (d *Desk) readRand(b []byte) error {
	if d.Rand == nil {
		_, err := io.ReadFull(rand.Reader, b)
		return err
	}
	d.randMu.Lock()
	defer d.randMu.Unlock()
	_, err := io.ReadFull(d.Rand, b)
	return err
}
