package desk_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/desk"
	"github.com/airlock-offline/airlock/fingerprint"
	"github.com/airlock-offline/airlock/internal/armor"
	"github.com/airlock-offline/airlock/internal/testrig/testkeys"
	"github.com/airlock-offline/airlock/internal/wire"
	"github.com/airlock-offline/airlock/ledger"
	"github.com/airlock-offline/airlock/receipt"
	"github.com/airlock-offline/airlock/request"
	"github.com/airlock-offline/airlock/result"
)

func TestImportReceipt(t *testing.T) {
	e := newEnv(t)
	key := e.addLicense(nil)
	iss := e.mustSign(e.request(machine(t, nil), key))
	lic := iss.License
	ctx := context.Background()

	// Another installation cannot free this seat, even with a receipt that
	// names it and is validly signed by that other installation.
	other := testkeys.Identity(crypto.RoleInstallation, "someone else")
	h := sha256.Sum256(lic.Bytes)
	forged := &receipt.Receipt{Version: 1, Product: product, LicenseKey: key, ActivationID: lic.License.ActivationID,
		InstallSign: other.Public().Sign, LicenseHash: h[:], Created: t0.Unix(), Nonce: make([]byte, 16)}
	payload, err := wire.Marshal(forged)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := crypto.Sign(other, crypto.TagReceipt, payload)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = e.desk.ImportReceipt(ctx, armor.Encode(armor.Receipt, signed))
	wantCode(t, err, result.InstallationMismatch, result.ErrInstallationMismatch)
	if e.seats(key) != 1 {
		t.Fatal("a forged receipt freed the seat")
	}

	// The holder's receipt frees it, once.
	r, err := receipt.New(e.inst, lic.License, lic.Bytes, t0, testkeys.Rand("receipt"))
	if err != nil {
		t.Fatal(err)
	}
	if _, already, err := e.desk.ImportReceipt(ctx, r.Text()); err != nil || already {
		t.Fatalf("import: %v %v", already, err)
	}
	if e.seats(key) != 0 {
		t.Fatal("seat not freed")
	}
	if _, already, err := e.desk.ImportReceipt(ctx, r.Text()); err != nil || !already {
		t.Fatalf("second import: %v %v", already, err)
	}

	// A receipt for a license the ledger does not have.
	r2, _ := receipt.New(e.inst, lic.License, lic.Bytes, t0, testkeys.Rand("receipt2"))
	r2.Receipt.LicenseKey = e.newKey()
	p2, _ := wire.Marshal(r2.Receipt)
	s2, _ := crypto.Sign(e.inst, crypto.TagReceipt, p2)
	_, _, err = e.desk.ImportReceipt(ctx, armor.Encode(armor.Receipt, s2))
	wantCode(t, err, result.LicenseUnknown, result.ErrLicenseUnknown)

	// Tampered bytes.
	bad := append([]byte(nil), r.Bytes...)
	bad[len(bad)-1] ^= 1
	_, _, err = e.desk.ImportReceipt(ctx, armor.Encode(armor.Receipt, bad))
	wantCode(t, err, result.SignatureInvalid, result.ErrSignatureInvalid)
}

// Leases renew without a new seat; each renewal names the lease it
// replaces, so an old lease cannot be renewed twice; a changed machine
// cannot renew.
func TestRenew(t *testing.T) {
	e := newEnv(t)
	key := e.addLicense(func(l *ledger.License) { l.LeasePeriod = 30 * day })
	src := machine(t, nil)
	first := e.mustSign(e.request(src, key))
	if first.License.License.LeaseUntil != t0.Add(30*day).Unix() {
		t.Fatal("no lease")
	}
	renew := func(prev []byte, src fingerprint.Source) (*desk.Issued, error) {
		p := e.params(src, key)
		p.Kind, p.Renews, p.Now = request.KindRenew, prev, e.desk.Now().Add(-time.Hour)
		return e.sign(e.makeRequest(p, e.inst))
	}
	e.desk.Now = func() time.Time { return t0.Add(20 * day) }
	second, err := renew(first.License.License.ActivationID, src)
	if err != nil {
		t.Fatal(err)
	}
	l2 := second.License.License
	if !bytes.Equal(l2.PrevLease, first.License.License.ActivationID) || bytes.Equal(l2.ActivationID, first.License.License.ActivationID) {
		t.Fatal("renewal does not chain to the previous lease")
	}
	if l2.LeaseUntil != t0.Add(50*day).Unix() {
		t.Fatalf("lease until %d", l2.LeaseUntil)
	}
	if e.seats(key) != 1 {
		t.Fatalf("renewal took a seat: %d", e.seats(key))
	}
	// The old lease is gone: renewing it again is refused.
	_, err = renew(first.License.License.ActivationID, src)
	wantCode(t, err, result.LicenseUnknown, result.ErrLicenseUnknown)
	// Another installation cannot renew this lease.
	p := e.params(src, key)
	p.Kind, p.Renews, p.Now = request.KindRenew, l2.ActivationID, e.desk.Now().Add(-time.Hour)
	_, err = e.sign(e.makeRequest(p, testkeys.Identity(crypto.RoleInstallation, "intruder")))
	wantCode(t, err, result.InstallationMismatch, result.ErrInstallationMismatch)
	// A renewal cannot add (or swap) a hardware key.
	p = e.params(src, key)
	p.Kind, p.Renews, p.Now = request.KindRenew, l2.ActivationID, e.desk.Now().Add(-time.Hour)
	p.HardwareKey = &request.HardwareKey{Type: request.HWGeneric, Serial: []byte("04A1B2C3")}
	_, err = e.sign(e.makeRequest(p, e.inst))
	wantCode(t, err, result.HardwareKeyMismatch, result.ErrHardwareKeyMismatch)
	// A machine whose hardware changed cannot renew.
	_, err = renew(l2.ActivationID, otherMachine(t))
	wantCode(t, err, result.FingerprintMismatch, result.ErrFingerprintMismatch)
	if e.seats(key) != 1 {
		t.Fatal("a refused renewal changed the seats")
	}
}

func TestSignBatch(t *testing.T) {
	e := newEnv(t)
	key := e.addLicense(func(l *ledger.License) { l.MaxMachines = 2 })
	src := machine(t, nil)
	a1, a2 := e.request(src, key), e.request(src, key) // the same machine twice
	other := testkeys.Identity(crypto.RoleInstallation, "batch other")
	b := e.makeRequest(e.params(otherMachine(t), key), other)
	third := testkeys.Identity(crypto.RoleInstallation, "batch third")
	c := e.makeRequest(e.params(machine(t, map[string]string{"etc/machine-id": "0123456789abcdef0123456789abcdef\n", "sys/class/dmi/id/product_uuid": "A1B2C3D4-0000-1111-2222-333344445555\n"}), key), third)
	var calls int
	res := e.desk.SignBatch(context.Background(), [][]byte{a1.Text(), a2.Text(), b.Text(), []byte("junk"), c.Text()},
		func(p desk.Phase, done, total int) {
			if p == desk.PhaseCheck {
				calls++
			}
		})
	if calls != 5 {
		t.Fatalf("progress called %d times", calls)
	}
	for i, want := range []result.Code{result.Valid, result.Valid, result.Valid, result.Malformed, result.TooManyMachines} {
		if got := result.CodeOf(res[i].Err); got != want {
			t.Errorf("request %d: %s (%v), want %s", i, got, res[i].Err, want)
		}
	}
	if e.seats(key) != 2 {
		t.Fatalf("seats %d, want 2", e.seats(key))
	}
	// Both licenses of the same machine name the seat the ledger kept.
	id1, id2 := res[0].Issued.License.License.ActivationID, res[1].Issued.License.License.ActivationID
	if !bytes.Equal(id1, id2) {
		t.Fatal("the same machine got two activation ids")
	}
	act := e.activations(key)
	for _, a := range act {
		if a.InstallKey[0] == e.inst.Public().Sign[0] && a.ID != fmt.Sprintf("%x", id1) {
			t.Fatal("ledger id differs from the licenses'")
		}
	}
}

// A request that enrols a hardware key gets a license bound to it; the
// license's binding is exactly the request's key.
func TestSignHardwareKey(t *testing.T) {
	e := newEnv(t)
	key := e.addLicense(func(l *ledger.License) { l.MaxMachines = 2 })
	for _, hk := range []*request.HardwareKey{
		{Type: request.HWOpenPGP, Serial: []byte{0xff, 0xfe, 0x0a, 0x0b, 0x0c, 0x0d}, PublicKey: append([]byte{1}, bytes.Repeat([]byte{9}, 32)...)},
		{Type: request.HWGeneric, Serial: []byte("04A1B2C3")},
	} {
		p := e.params(machine(t, nil), key)
		p.HardwareKey = hk
		iss := e.mustSign(e.makeRequest(p, testkeys.Identity(crypto.RoleInstallation, fmt.Sprint("hk", hk.Type))))
		got := iss.License.License.Binding.HardwareKey
		if got == nil || got.Type != hk.Type || !bytes.Equal(got.Serial, hk.Serial) || !bytes.Equal(got.PublicKey, hk.PublicKey) {
			t.Fatalf("binding %+v, want %+v", got, hk)
		}
	}
}

func TestRefuseGenericKeys(t *testing.T) {
	e := newEnv(t)
	key := e.addLicense(func(l *ledger.License) { l.RefuseGenericKeys = true; l.MaxMachines = 2 })
	p := e.params(machine(t, nil), key)
	p.HardwareKey = &request.HardwareKey{Type: request.HWGeneric, Serial: []byte("04A1B2C3")}
	_, err := e.sign(e.makeRequest(p, e.inst))
	wantCode(t, err, result.HardwareKeyProofFailed, result.ErrHardwareKeyProofFailed)
	p.HardwareKey = &request.HardwareKey{Type: request.HWOpenPGP, Serial: []byte{1, 2, 3, 4, 5, 6}, PublicKey: append([]byte{1}, bytes.Repeat([]byte{9}, 32)...)}
	e.mustSign(e.makeRequest(p, e.inst))
}
