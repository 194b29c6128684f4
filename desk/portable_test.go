package desk_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"testing"

	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/desk"
	"github.com/airlock-offline/airlock/internal/testrig/testkeys"
	"github.com/airlock-offline/airlock/ledger"
	"github.com/airlock-offline/airlock/request"
	"github.com/airlock-offline/airlock/response"
	"github.com/airlock-offline/airlock/result"
)

// A license bound to its hardware key alone (match policy hardware-key):
// the key holds the seat, so the same key from another machine and
// another installation takes no new one; another key takes another seat;
// a request without a key that can prove itself is refused. The license
// says KeyOnly, and Check then skips the installation and fingerprint
// checks but never the hardware key's.
func TestKeyOnlyLicense(t *testing.T) {
	e := newEnv(t)
	key := e.addLicense(func(l *ledger.License) { l.MaxMachines = 2; l.MatchPolicy = desk.MatchHardwareKey })
	seed := sha256.Sum256([]byte("portable key"))
	pub := ed25519.NewKeyFromSeed(seed[:]).Public().(ed25519.PublicKey)
	hk := &request.HardwareKey{Type: request.HWOpenPGP, Serial: []byte{0xFF, 0xFE, 0, 0, 0, 9}, PublicKey: append([]byte{1}, pub...)}

	p := e.params(machine(t, nil), key)
	p.HardwareKey = hk
	first := e.mustSign(e.makeRequest(p, e.inst))
	if !first.License.License.Binding.KeyOnly {
		t.Fatal("the license is not bound to the key alone")
	}

	// The same key on another machine, from another installation.
	other := testkeys.Identity(crypto.RoleInstallation, "desk-test second machine")
	p2 := e.params(otherMachine(t), key)
	p2.HardwareKey = hk
	if string(p2.Fingerprint) == string(p.Fingerprint) {
		t.Fatal("the second machine has the first one's fingerprint")
	}
	second := e.mustSign(e.makeRequest(p2, other))
	if !second.Reused || e.seats(key) != 1 {
		t.Fatalf("the same key on another machine: reused %v, %d seats; want the key's one seat", second.Reused, e.seats(key))
	}

	// Another key: another seat.
	p3 := e.params(machine(t, nil), key)
	p3.HardwareKey = &request.HardwareKey{Type: request.HWOpenPGP, Serial: []byte{0xFF, 0xFE, 0, 0, 0, 10}, PublicKey: hk.PublicKey}
	e.mustSign(e.makeRequest(p3, e.inst))
	if e.seats(key) != 2 {
		t.Fatalf("%d seats, want 2", e.seats(key))
	}

	// No key, or a key that cannot prove itself.
	p4 := e.params(machine(t, nil), key)
	_, err := e.sign(e.makeRequest(p4, e.inst))
	if result.CodeOf(err) != result.HardwareKeyNotAccessible {
		t.Fatalf("no key: %v", err)
	}
	p4.HardwareKey = &request.HardwareKey{Type: request.HWGeneric, Serial: []byte{1, 2, 3, 4}}
	_, err = e.sign(e.makeRequest(p4, e.inst))
	if result.CodeOf(err) != result.HardwareKeyProofFailed {
		t.Fatalf("generic key: %v", err)
	}

	// Check: the installation and the fingerprint do not matter, the
	// hardware key's check always runs.
	lic := first.License.License
	stranger := testkeys.Identity(crypto.RoleInstallation, "desk-test stranger").Public()
	called := 0
	exp := &response.Expect{Installation: stranger, Now: t0,
		HardwareKey: func(*request.HardwareKey) error { called++; return nil }}
	if err := lic.Check(exp); err != nil || called != 1 {
		t.Fatalf("key-only license on another installation: %v (hardware key checked %d times)", err, called)
	}
	exp.HardwareKey = nil
	if err := lic.Check(exp); result.CodeOf(err) != result.HardwareKeyNotAccessible {
		t.Fatalf("without a hardware-key check: %v", err)
	}
	// An ordinary hardware-key license keeps its installation binding.
	e2 := newEnv(t)
	key2 := e2.addLicense(func(l *ledger.License) { l.MaxMachines = 2 })
	p5 := e2.params(machine(t, nil), key2)
	p5.HardwareKey = hk
	bound := e2.mustSign(e2.makeRequest(p5, e2.inst)).License.License
	if bound.Binding.KeyOnly {
		t.Fatal("an ordinary license is key-only")
	}
	exp.HardwareKey = func(*request.HardwareKey) error { return nil }
	if err := bound.Check(exp); result.CodeOf(err) != result.InstallationMismatch {
		t.Fatalf("ordinary license on another installation: %v", err)
	}
}
