package client

import (
	"bytes"
	crand "crypto/rand"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/dongle"
	"github.com/airlock-offline/airlock/fingerprint"
	"github.com/airlock-offline/airlock/internal/armor"
	"github.com/airlock-offline/airlock/phonecode"
	"github.com/airlock-offline/airlock/receipt"
	"github.com/airlock-offline/airlock/request"
	"github.com/airlock-offline/airlock/response"
	"github.com/airlock-offline/airlock/result"
)

// DefaultClockTolerance is how far the clock may go back behind the last
// time seen before verification reports CLOCK_TAMPERED. It absorbs NTP
// corrections; it is far too short to rewind past an expiry.
const DefaultClockTolerance = 15 * time.Minute

// DefaultSkew is the difference tolerated between the desk's clock and this
// machine's against a license's not-before time.
const DefaultSkew = time.Hour

// Verifier checks the stored license of one product on this machine. The
// zero values of the optional fields mean the real thing: the default state
// directory, the machine's own fingerprint source and the system clock.
type Verifier struct {
	Product    string
	VendorKeys []*crypto.Public // pinned in the product; several during a rotation

	Dir    string             // state directory; "" means DefaultDir
	Source fingerprint.Source // nil means fingerprint.OSSource()
	// Custom adds the ISV's own hardware identifiers to the fingerprint
	// (for example a serial from its own device driver).
	Custom         []fingerprint.CustomComponent
	Now            func() time.Time // nil means time.Now
	ClockTolerance time.Duration    // 0 means DefaultClockTolerance
	Skew           time.Duration    // 0 means DefaultSkew
	// ReadOnly stops Verify from recording the time seen (for status
	// displays that must not change state).
	ReadOnly bool
	// Dongle configures hardware-key access (PIN prompt, deadlines) for
	// licenses bound to a hardware key.
	Dongle dongle.Options
	// DeferHardwareKey leaves the hardware-key check of Verify to the
	// caller, who checks the key itself (a floating server watches its key
	// and refuses every action without it). Activate always checks.
	DeferHardwareKey bool
	// LicenseeSecret is the licensee secret, for licenses bound to one
	// (NetLicensing's Predefined and Client modes). Never logged.
	LicenseeSecret []byte
	// SecretFromKey derives the licensee secret from the hardware key
	// plugged in (DeriveSecret) when LicenseeSecret is empty.
	SecretFromKey bool
	// AttestOpenPGP has EnrolHardwareKey ask an OpenPGP YubiKey (5.2+) to
	// attest its authentication key, for a desk that requires attested
	// keys. It needs the PIN (Dongle.PIN) and overwrites that key's
	// cardholder certificate on the card.
	AttestOpenPGP bool
	// Provisional is the product's opt-in to phone codes: the longest
	// provisional activation a phone code may grant (pin it in the product
	// beside VendorKeys). Zero, the default, refuses phone codes, and a
	// provisional record found in the state counts for nothing.
	//
	// A phone code is an honour system, not proof: the client must know
	// the seed to check the code, so whoever can read this machine's state
	// can compute a code of their own. What bounds the damage is that each
	// installation gets one provisional period per product, ever, and that
	// the product chose to allow it.
	Provisional time.Duration
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

// Fingerprint computes this machine's fingerprint for the product as seen
// by the vendor key kid.
func (v *Verifier) Fingerprint(kid crypto.KeyID) (fingerprint.Fingerprint, error) {
	fp, _, err := v.machine(kid)
	return fp, err
}

// machine returns the fingerprint and the components this process may not
// read.
func (v *Verifier) machine(kid crypto.KeyID) (fingerprint.Fingerprint, []fingerprint.ComponentID, error) {
	src := v.Source
	if src == nil {
		src = fingerprint.OSSource()
	}
	rep, err := fingerprint.CollectWith(src, v.Custom...)
	if err != nil && !errors.Is(err, fingerprint.ErrNoComponents) {
		return fingerprint.Fingerprint{}, nil, err
	}
	return rep.Hash(v.Product, kid), rep.Unreadable(), nil
}

// Verify checks the stored license against this installation, this machine
// and this clock. A nil error means VALID; otherwise the error is a
// *result.Error whose Code says why.
func (v *Verifier) Verify() (lic *response.License, err error) {
	if len(v.VendorKeys) == 0 {
		return nil, result.New(result.Internal, "no vendor public key is pinned")
	}
	st, err := OpenExisting(v.Dir)
	if err != nil {
		return nil, result.Wrap(result.Internal, "cannot open the state directory", err)
	}
	text, err := st.License(v.Product)
	if err != nil {
		if result.CodeOf(err) == result.NotActivated {
			if lic, lerr := v.verifyLease(st, v.now()); result.CodeOf(lerr) != result.NotActivated {
				return lic, lerr // a floating seat stands in for the license
			}
			return nil, v.provisional(st, err)
		}
		return nil, err
	}
	now := v.now()
	if !v.ReadOnly {
		// Record the time seen whatever the outcome: a failed check must
		// not leave a window to turn the clock back in. (Touch never moves
		// the record backwards.)
		defer func() {
			if terr := st.Touch(now); terr != nil && err == nil {
				err = result.Wrap(result.Internal, "cannot record the time seen", terr)
			}
		}()
	}
	inst, instErr := st.InstallationPublic()
	data, err := armor.DecodeKind(text, armor.License)
	if err != nil {
		return nil, result.Wrap(result.Malformed, "the stored license is damaged", err)
	}
	lic, kid, err := response.Parse(data, v.VendorKeys...)
	if err != nil {
		return nil, err
	}
	// A license bound to its hardware key alone needs no installation
	// here: the key's proof stands in for it.
	if instErr != nil && !lic.KeyOnly() {
		return lic, result.Wrap(result.NotActivated, fmt.Sprintf("product %q is not activated on this machine", v.Product), instErr)
	}
	if err := v.checkClock(st, now); err != nil {
		return lic, err
	}
	fp, unreadable, err := v.machine(kid)
	if err != nil {
		return lic, result.Wrap(result.Internal, "cannot compute the fingerprint", err)
	}
	return lic, lic.Check(&response.Expect{
		Product:        v.Product,
		Installation:   inst,
		Fingerprint:    &fp,
		Unreadable:     unreadable,
		Now:            now,
		Skew:           v.skew(),
		LicenseeSecret: v.secretCheck(lic),
		HardwareKey:    v.hardwareKeyCheck(lic),
	})
}

func (v *Verifier) skew() time.Duration {
	if v.Skew == 0 {
		return DefaultSkew
	}
	return v.Skew
}

func (v *Verifier) checkClock(st *State, now time.Time) error {
	// File modification times come from the real clock: they count only
	// when this verifier runs on it.
	last, err := st.lastSeen(v.Now == nil)
	if err != nil {
		return result.Wrap(result.ClockTampered, "cannot trust the clock", err)
	}
	tol := v.ClockTolerance
	if tol == 0 {
		tol = DefaultClockTolerance
	}
	if !last.IsZero() && now.Before(last.Add(-tol)) {
		return result.New(result.ClockTampered, fmt.Sprintf("the clock is behind the last time seen (%s); it was turned back", last.Format(time.RFC3339)))
	}
	return nil
}

// Activate checks an armored license received from the desk and, if it is
// valid here and answers one of this installation's pending requests,
// stores it atomically. If v.Product is empty, the license's own product is
// used. It returns the license.
func (v *Verifier) Activate(text []byte) (*response.License, error) {
	if len(v.VendorKeys) == 0 {
		return nil, result.New(result.Internal, "no vendor public key is pinned")
	}
	data, err := armor.DecodeKind(text, armor.License)
	if err != nil {
		return nil, result.Wrap(result.Malformed, "not a valid license", err)
	}
	lic, kid, err := response.Parse(data, v.VendorKeys...)
	if err != nil {
		return nil, err
	}
	w := *v
	w.DeferHardwareKey = false
	if w.Product == "" {
		w.Product = lic.Product
	}
	st, err := Open(w.Dir)
	if err != nil {
		return nil, result.Wrap(result.Internal, "cannot open the state directory", err)
	}
	// A license bound to its hardware key alone is installed on any
	// machine where that key proves itself: no installation key and no
	// pending request are needed, since the license does not name them.
	keyOnly := lic.KeyOnly()
	inst, err := st.InstallationPublic()
	if err != nil && !keyOnly {
		return nil, result.Wrap(result.InstallationMismatch, "no request was made from here", err)
	}
	pend, err := st.Pending(w.Product)
	if err != nil {
		return nil, result.Wrap(result.Internal, "cannot read the pending requests", err)
	}
	// Installing the license that is already installed again is allowed:
	// its request is no longer pending, but it was this installation's.
	if cur, err := st.License(w.Product); err == nil {
		if b, err := armor.DecodeKind(cur, armor.License); err == nil {
			if old, _, err := response.ParseUnverified(b); err == nil && len(old.RequestHash) == 32 {
				pend = append(pend, [32]byte(old.RequestHash))
			}
		}
	}
	if len(pend) == 0 && !keyOnly {
		// Check the product first so the message says what is wrong.
		if err := lic.Check(&response.Expect{Product: w.Product, Installation: inst, Now: w.now(), Skew: w.skew()}); result.CodeOf(err) == result.ProductMismatch || result.CodeOf(err) == result.InstallationMismatch {
			return nil, err
		}
		return nil, result.New(result.RequestMismatch, fmt.Sprintf("this installation has no pending request for product %q", w.Product))
	}
	now := w.now()
	if err := w.checkClock(st, now); err != nil {
		return nil, err
	}
	fp, unreadable, err := w.machine(kid)
	if err != nil {
		return nil, result.Wrap(result.Internal, "cannot compute the fingerprint", err)
	}
	if err := lic.Check(&response.Expect{
		Product:        w.Product,
		Installation:   inst,
		Fingerprint:    &fp,
		Unreadable:     unreadable,
		LicenseeSecret: w.secretCheck(lic),
		HardwareKey:    w.hardwareKeyCheck(lic),
		RequestHashes:  pend,
		Now:            now,
		Skew:           w.skew(),
	}); err != nil {
		return nil, err
	}
	if err := st.StoreLicense(w.Product, armor.Encode(armor.License, data)); err != nil {
		return nil, result.Wrap(result.Internal, "cannot store the license", err)
	}
	if err := st.markSeen(now); err != nil {
		return nil, result.Wrap(result.Internal, "cannot record the time seen", err)
	}
	if err := st.RemovePending(lic.RequestHash); err != nil {
		return nil, result.Wrap(result.Internal, "cannot update the pending requests", err)
	}
	st.removeProvisional(w.Product) // the signed license replaces it
	return lic, nil
}

// Request builds and signs an activation request for v.Product with the
// installation identity inst, addressed to the first pinned vendor key, and
// records it as pending so that Activate accepts its answer. The
// fingerprint includes v.Custom components.
func (v *Verifier) Request(inst *crypto.Identity, licenseKey string, conf *request.Confidential) (*request.Signed, error) {
	return v.request(inst, licenseKey, conf, request.KindActivate, nil, nil)
}

// RequestWithHardwareKey is Request with a hardware key enrolled (see
// EnrolHardwareKey): the desk binds the license to it.
func (v *Verifier) RequestWithHardwareKey(inst *crypto.Identity, licenseKey string, conf *request.Confidential, hk *request.HardwareKey) (*request.Signed, error) {
	return v.request(inst, licenseKey, conf, request.KindActivate, nil, hk)
}

// RenewRequest builds a renewal of the installed license's lease: the same
// installation asks the desk to extend it without a new seat. The desk
// refuses it if this machine no longer matches the license's fingerprint.
func (v *Verifier) RenewRequest(inst *crypto.Identity) (*request.Signed, error) {
	_, lic, _, err := v.stored()
	if err != nil {
		return nil, err
	}
	// A license bound to a licensee secret renews only with it.
	var conf *request.Confidential
	if len(lic.Binding.SecretHash) > 0 {
		secret := v.LicenseeSecret
		if len(secret) == 0 && v.SecretFromKey {
			if secret, err = v.DeriveSecretFrom(lic.LicenseKey, lic.Binding.HardwareKey); err != nil {
				return nil, err
			}
		}
		if len(secret) == 0 {
			return nil, result.New(result.LicenseeSecretMismatch, "this license needs its licensee secret to renew")
		}
		conf = &request.Confidential{LicenseeSecret: string(secret)}
	}
	return v.request(inst, lic.LicenseKey, conf, request.KindRenew, lic.ActivationID, lic.Binding.HardwareKey)
}

func (v *Verifier) request(inst *crypto.Identity, licenseKey string, conf *request.Confidential, kind uint8, renews []byte, hk *request.HardwareKey) (*request.Signed, error) {
	if len(v.VendorKeys) == 0 {
		return nil, result.New(result.Internal, "no vendor public key is pinned")
	}
	st, err := Open(v.Dir)
	if err != nil {
		return nil, result.Wrap(result.Internal, "cannot open the state directory", err)
	}
	vendor := v.VendorKeys[0]
	fp, _, err := v.machine(vendor.ID())
	if err != nil {
		return nil, result.Wrap(result.Internal, "cannot compute the fingerprint", err)
	}
	comps := make(map[uint8][]byte, len(fp.Components))
	for _, d := range fp.Components {
		comps[uint8(d.ID)] = append([]byte(nil), d.Sum[:]...)
	}
	// The desk learns of this installation's provisional period, if any.
	began, _, _, err := st.ProvisionalUse(v.Product)
	if err != nil {
		return nil, result.Wrap(result.Internal, "cannot read the provisional activation record", err)
	}
	s, err := request.New(request.Params{
		Provisional:  began,
		Product:      v.Product,
		LicenseKey:   licenseKey,
		Fingerprint:  fp.ID[:],
		Components:   comps,
		Env:          uint16(fp.Env),
		Vendor:       vendor,
		Confidential: conf,
		Kind:         kind,
		Renews:       renews,
		HardwareKey:  hk,
		Now:          v.now(),
	}, inst)
	if err != nil {
		return nil, err
	}
	// Remember the request before it leaves, so its license is accepted.
	var seed []byte
	if conf != nil {
		seed = conf.CodeSeed
	}
	if len(seed) > 0 {
		// A new seed means new codes: the count of wrong ones starts over.
		st.setCodeTries(v.Product, 0)
	}
	if err := st.addPending(v.Product, s.Hash, s.Request.CreatedTime(), seed); err != nil {
		return nil, result.Wrap(result.Internal, "cannot record the pending request", err)
	}
	return s, nil
}

// Deactivate makes the signed receipt that gives up this installation's
// license of v.Product, and keeps a copy in the state directory so that it
// can be emitted again. The license is not removed: the caller removes it
// (State.RemoveLicense) once the receipt is safely written. An expired or
// otherwise invalid license can be deactivated too, as long as its
// signature verifies.
func (v *Verifier) Deactivate(inst *crypto.Identity) (*receipt.Signed, error) {
	st, lic, data, err := v.stored()
	if err != nil {
		return nil, err
	}
	r, err := receipt.New(inst, lic, data, v.now(), nil)
	if err != nil {
		return nil, err
	}
	if err := st.StoreReceipt(v.Product, r.Text()); err != nil {
		return nil, result.Wrap(result.Internal, "cannot keep a copy of the receipt", err)
	}
	return r, nil
}

// DefaultGrace is a typical opt-in for Verifier.Provisional.
const DefaultGrace = 72 * time.Hour

// ErrProvisionalOff means the product does not accept phone codes
// (Verifier.Provisional is zero).
var ErrProvisionalOff = errors.New("this product does not accept phone codes (provisional activation is off)")

// ErrTooManyCodes means MaxCodeTries wrong phone codes were entered: the
// pending codes are void until a new request is made with a phone seed.
var ErrTooManyCodes = errors.New("too many wrong phone codes: make a new request with a phone seed and call the vendor again")

// ErrNoPhoneRequest means no pending request of the product carries a
// phone-code seed.
var ErrNoPhoneRequest = errors.New("no pending request asked for a phone code")

// ErrProvisionalUsed means this installation already had its one
// provisional period for the product.
var ErrProvisionalUsed = errors.New("this installation has already had its provisional activation for this product")

// MaxCodeTries is how many wrong phone codes a product accepts before its
// pending codes are void (make a new request).
const MaxCodeTries = 5

// PhoneSeed returns fresh confidential fields with a phone-code seed, for a
// request whose answer may have to come as a code read out on the phone.
func PhoneSeed() (*request.Confidential, error) {
	seed := make([]byte, phonecode.SeedSize)
	if _, err := io.ReadFull(crand.Reader, seed); err != nil {
		return nil, err
	}
	return &request.Confidential{CodeSeed: seed}, nil
}

// ActivateCode accepts a phone code the vendor read out for one of this
// installation's pending requests (made with a phone seed) and grants a
// provisional activation until grace has passed (0 or more than
// v.Provisional: v.Provisional). Only products that opted in
// (v.Provisional > 0) accept codes, and each installation gets one
// provisional period per product, ever: typing the code again never
// extends it, and a new request does not start another. MaxCodeTries wrong
// codes void the pending codes. It returns the end of the provisional
// activation.
func (v *Verifier) ActivateCode(code string, grace time.Duration) (time.Time, error) {
	if v.Provisional <= 0 {
		return time.Time{}, result.Wrap(result.NotActivated, "phone code refused", ErrProvisionalOff)
	}
	if grace <= 0 || grace > v.Provisional {
		grace = v.Provisional
	}
	st, err := Open(v.Dir)
	if err != nil {
		return time.Time{}, result.Wrap(result.Internal, "cannot open the state directory", err)
	}
	inst, err := st.InstallationPublic()
	if err != nil {
		return time.Time{}, result.Wrap(result.NotActivated, "no request was made from here", err)
	}
	instID := inst.ID()
	now := v.now()
	if err := v.checkClock(st, now); err != nil {
		return time.Time{}, err
	}
	tries := st.codeTries(v.Product)
	if tries >= MaxCodeTries {
		return time.Time{}, result.Wrap(result.RequestMismatch, "phone code refused", ErrTooManyCodes)
	}
	ps, err := st.pendingSeeds(v.Product)
	if err != nil {
		return time.Time{}, result.Wrap(result.Internal, "cannot read the pending requests", err)
	}
	if len(ps) == 0 {
		return time.Time{}, result.Wrap(result.RequestMismatch, fmt.Sprintf("phone code refused for product %q", v.Product), ErrNoPhoneRequest)
	}
	for _, p := range ps {
		if !phonecode.Valid(code, p.seed, p.hash, now) {
			continue
		}
		st.setCodeTries(v.Product, 0)
		if old, until, err := st.Provisional(v.Product); err == nil && bytes.Equal(old, p.hash[:]) {
			return until, nil // the same code again: no extension
		}
		if used, err := st.provisionalUsed(v.Product, instID); err != nil {
			return time.Time{}, result.Wrap(result.ClockTampered, "the record of provisional activations is damaged", err)
		} else if used != nil {
			return time.Time{}, result.Wrap(result.NotActivated, "phone code refused: the provisional period began on "+used.began.Format(time.RFC3339), ErrProvisionalUsed)
		}
		until := now.Add(grace).UTC().Truncate(time.Second)
		// Record that the one period is used before granting it.
		if err := st.setProvisionalUsed(v.Product, instID, now, p.hash); err != nil {
			return time.Time{}, result.Wrap(result.Internal, "cannot record the provisional activation", err)
		}
		if err := st.setProvisional(v.Product, p.hash, until); err != nil {
			return time.Time{}, result.Wrap(result.Internal, "cannot record the provisional activation", err)
		}
		if err := st.Touch(now); err != nil {
			return time.Time{}, result.Wrap(result.Internal, "cannot record the time seen", err)
		}
		return until, nil
	}
	if err := st.setCodeTries(v.Product, tries+1); err != nil {
		return time.Time{}, result.Wrap(result.Internal, "cannot count the wrong code", err)
	}
	return time.Time{}, result.New(result.RequestMismatch, fmt.Sprintf("wrong phone code (%d tries left)", MaxCodeTries-tries-1))
}

// provisional turns NOT_ACTIVATED into PROVISIONAL while a phone code's
// grace period lasts (and the clock has not been turned back), for a
// product that opted in; never for more than v.Provisional after the
// period began.
func (v *Verifier) provisional(st *State, notActivated error) error {
	hash, until, err := st.Provisional(v.Product)
	if err != nil || hash == nil {
		return notActivated
	}
	if v.Provisional <= 0 {
		return result.Wrap(result.NotActivated, fmt.Sprintf("product %q is not activated on this machine", v.Product), ErrProvisionalOff)
	}
	if inst, err := st.InstallationPublic(); err != nil {
		return notActivated
	} else if used, err := st.provisionalUsed(v.Product, inst.ID()); err != nil || used == nil || !bytes.Equal(used.request, hash) {
		// A provisional record without its record of use was not made
		// by ActivateCode.
		return notActivated
	} else if end := used.began.Add(v.Provisional); until.After(end) {
		until = end
	}
	now := v.now()
	if err := v.checkClock(st, now); err != nil {
		return err
	}
	if !now.Before(until) {
		return result.New(result.NotActivated, "the provisional activation (phone code) ended on "+until.Format(time.RFC3339)+"; install the signed license")
	}
	if !v.ReadOnly {
		st.Touch(now)
	}
	return result.New(result.Provisional, "provisionally activated by phone code until "+until.Format(time.RFC3339)+"; install the signed license before then")
}

// secretCheck checks the license's licensee-secret binding with the given
// secret, or one derived from the hardware key.
func (v *Verifier) secretCheck(lic *response.License) func([]byte) error {
	return func(bound []byte) error {
		secret := v.LicenseeSecret
		if len(secret) == 0 && v.SecretFromKey {
			var err error
			if secret, err = v.DeriveSecretFrom(lic.LicenseKey, lic.Binding.HardwareKey); err != nil {
				return result.Wrap(result.LicenseeSecretMismatch, "cannot derive the licensee secret from the hardware key", err)
			}
		}
		return lic.CheckSecret(secret)(bound)
	}
}

// stored reads the installed license of v.Product and checks its signature
// (only: an expired license can still be renewed or deactivated).
func (v *Verifier) stored() (*State, *response.License, []byte, error) {
	if len(v.VendorKeys) == 0 {
		return nil, nil, nil, result.New(result.Internal, "no vendor public key is pinned")
	}
	st, err := OpenExisting(v.Dir)
	if err != nil {
		return nil, nil, nil, result.Wrap(result.Internal, "cannot open the state directory", err)
	}
	text, err := st.License(v.Product)
	if err != nil {
		return nil, nil, nil, err
	}
	data, err := armor.DecodeKind(text, armor.License)
	if err != nil {
		return nil, nil, nil, result.Wrap(result.Malformed, "the stored license is damaged", err)
	}
	lic, _, err := response.Parse(data, v.VendorKeys...)
	if err != nil {
		return nil, nil, nil, err
	}
	return st, lic, data, nil
}
