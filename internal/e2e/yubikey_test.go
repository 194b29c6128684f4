package e2e

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"path/filepath"
	"testing"
	"time"

	"github.com/airlock-offline/airlock/internal/testrig/cardemu"
)

// The ways a real YubiKey failed where the emulator used to hide it, each
// end to end through the binaries, pcscd and vpcd: enrol, sign, activate,
// verify.

func edKey(label string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte(label))
	return ed25519.NewKeyFromSeed(seed[:])
}

func p256Key(t *testing.T, label string) *ecdsa.PrivateKey {
	t.Helper()
	seed := sha256.Sum256([]byte(label))
	k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), seed[:])
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// slot0 inserts cards into one of vpcd's readers (the first unless i is
// set) and pulls them again.
type slot0 struct {
	t   *testing.T
	i   int
	cur *cardemu.Card
}

func (s *slot0) insert(c *cardemu.Card) {
	s.t.Helper()
	s.pull()
	if err := c.Insert(cardemu.Slots()[s.i].Addr); err != nil {
		s.t.Fatal(err)
	}
	s.cur = c // pulled at the end of the test even when it never got ready
	if err := c.WaitReady(15 * time.Second); err != nil {
		s.t.Fatal(err)
	}
}

func (s *slot0) pull() {
	if s.cur != nil {
		s.cur.Remove()
		s.cur = nil
		time.Sleep(800 * time.Millisecond) // pcscd polls every 400 ms
	}
}

func newSlot(t *testing.T) *slot0 {
	s := &slot0{t: t}
	t.Cleanup(s.pull)
	return s
}

// hwFlow is a desk, a license, and a machine's state that enrolled the
// card in the reader.
type hwFlow struct {
	e             *env
	desk, vk, lk  string
	state, licTxt string
}

func enrolAndActivate(t *testing.T, e *env, enrolled string, createArgs ...string) *hwFlow {
	t.Helper()
	f := &hwFlow{e: e}
	f.desk, f.vk = initDesk(t, e)
	f.lk = createLicense(t, e, f.desk, createArgs...)
	f.state = filepath.Join(t.TempDir(), "s")
	req := filepath.Join(t.TempDir(), "req.txt")
	o := e.airlock("--state", f.state, "request", "--product", "acme-cad", "--license-key", f.lk, "--vendor-key", f.vk,
		"-o", req, "--hardware-key", "--scrypt-work-factor", "10")
	expectOK(t, o)
	expectContains(t, "stderr", o.stderr, "hardware key enrolled: "+enrolled)
	f.licTxt = sign(t, e, f.desk, req)
	activate(t, e, f.state, f.vk, f.licTxt)
	return f
}

// A PIV key generated without a certificate (ykman piv keys generate 9a,
// and nothing else): enrolment reads the key from GET METADATA, and every
// verify proves with it. The old client enrolled it from the attestation
// and then said HARDWARE_KEY_NOT_ACCESSIBLE on every verify.
func TestYubiKeyPIVWithoutCertificate(t *testing.T) {
	cardemu.SkipUnlessStack(t)
	s := newSlot(t)
	key := p256Key(t, "piv no cert")
	card := func() *cardemu.Card {
		return cardemu.New(cardemu.Config{PIV: &cardemu.PIVConfig{Serial: 12000001, Key: key, NoCert: true, AttestationKey: p256Key(t, "f9")}})
	}
	c := card()
	s.insert(c)
	e := newEnv(t).on(machineA.tree(t)).with("AIRLOCK_PIN", "123456")
	f := enrolAndActivate(t, e, "piv card 12000001 (p256)")
	c.ResetLog()
	verify(t, e, f.state, f.vk, "VALID", 0)
	for _, h := range c.Log() {
		if h[:4] == "00F9" {
			t.Fatalf("verify sent ATTEST (attestation is for enrolment): %v", c.Log())
		}
	}
	// The same serial with the slot emptied (a new key not generated
	// yet): the card is there but cannot prove, which is a failed proof.
	s.insert(cardemu.New(cardemu.Config{PIV: &cardemu.PIVConfig{Serial: 12000001}}))
	verify(t, e, f.state, f.vk, "HARDWARE_KEY_PROOF_FAILED", 21)
	s.insert(card())
	verify(t, e, f.state, f.vk, "VALID", 0)
}

// A YubiKey with both applets: enrolled by its PIV key while the OpenPGP
// applet was empty; then its owner sets up gpg (an OpenPGP key, the usual
// SSH set-up). The old client identified the OpenPGP applet first and
// said HARDWARE_KEY_MISMATCH from then on.
func TestYubiKeyDualApplet(t *testing.T) {
	cardemu.SkipUnlessStack(t)
	s := newSlot(t)
	pivKey := p256Key(t, "dual piv")
	yubikey := func(gpg bool) *cardemu.Card {
		pgp := &cardemu.OpenPGPConfig{Manufacturer: 0x0006, Serial: 12000002}
		if gpg {
			pgp.AuthKey = edKey("dual gpg")
		}
		return cardemu.New(cardemu.Config{OpenPGP: pgp, PIV: &cardemu.PIVConfig{Serial: 12000002, Key: pivKey}})
	}
	s.insert(yubikey(false))
	e := newEnv(t).on(machineA.tree(t)).with("AIRLOCK_PIN", "123456")
	f := enrolAndActivate(t, e, "piv card 12000002 (p256)")
	verify(t, e, f.state, f.vk, "VALID", 0)
	s.insert(yubikey(true))
	verify(t, e, f.state, f.vk, "VALID", 0)
	// Enrolled by OpenPGP on a card with both keys: still the OpenPGP key.
	f2 := enrolAndActivate(t, e, "openpgp card 0006 00B71B02 (ed25519)")
	verify(t, e, f2.state, f2.vk, "VALID", 0)
}

// An OpenPGP card after `gpg --card-edit` → kdf-setup: the PIN's
// ITERSALTED_S2K hash is sent, not the PIN, so verify is VALID and no try
// is spent (the old client burnt two tries and failed). A scheme airlock
// does not know is refused before anything is sent.
func TestOpenPGPKDF(t *testing.T) {
	cardemu.SkipUnlessStack(t)
	s := newSlot(t)
	kdf := &cardemu.KDFConfig{Algorithm: 3, Hash: 8, Iterations: 65011712, Salt: []byte{1, 2, 3, 4, 5, 6, 7, 8}}
	c := cardemu.New(cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{Manufacturer: 0xFFFE, Serial: 0x0C0C0C0C, AuthKey: edKey("kdf"), KDF: kdf}})
	s.insert(c)
	e := newEnv(t).on(machineA.tree(t)).with("AIRLOCK_PIN", "123456")
	f := enrolAndActivate(t, e, "openpgp card FFFE 0C0C0C0C (ed25519)")
	verify(t, e, f.state, f.vk, "VALID", 0)
	if c.TriesLeft() != 3 {
		t.Fatalf("%d PIN tries left after a good PIN, want 3", c.TriesLeft())
	}
	// A wrong PIN still counts as one wrong PIN, no more.
	o := e.with("AIRLOCK_PIN", "000000").airlock("--state", f.state, "verify", "--product", "acme-cad", "--vendor-key", f.vk)
	expect(t, o, 19)
	expectContains(t, "stderr", o.stderr, "2 tries left")
	verify(t, e, f.state, f.vk, "VALID", 0)

	odd := &cardemu.KDFConfig{Algorithm: 4, Hash: 8, Iterations: 1000, Salt: []byte{1, 2, 3, 4, 5, 6, 7, 8}}
	c2 := cardemu.New(cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{Manufacturer: 0xFFFE, Serial: 0x0C0C0C0C, AuthKey: edKey("kdf"), KDF: odd}})
	s.insert(c2)
	o = verify(t, e, f.state, f.vk, "HARDWARE_KEY_NOT_ACCESSIBLE", 19)
	expectContains(t, "stderr", o.stderr, "nothing was sent to the card")
	if c2.TriesLeft() != 3 {
		t.Fatalf("%d tries left: the PIN was sent to a card whose scheme is unknown", c2.TriesLeft())
	}
}

// A card one try from blocked: airlock does not spend the last try.
func TestPINOneTryFromBlocked(t *testing.T) {
	cardemu.SkipUnlessStack(t)
	s := newSlot(t)
	cfg := func(left int) *cardemu.Card {
		return cardemu.New(cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{Manufacturer: 0xFFFE, Serial: 0x0D0D0D0D, AuthKey: edKey("last try"), TriesLeft: left}})
	}
	s.insert(cfg(0))
	e := newEnv(t).on(machineA.tree(t)).with("AIRLOCK_PIN", "123456")
	f := enrolAndActivate(t, e, "openpgp card FFFE 0D0D0D0D (ed25519)")
	verify(t, e, f.state, f.vk, "VALID", 0)
	c := cfg(1)
	s.insert(c)
	o := verify(t, e, f.state, f.vk, "HARDWARE_KEY_NOT_ACCESSIBLE", 19)
	expectContains(t, "stderr", o.stderr, "too few PIN tries left")
	if c.TriesLeft() != 1 {
		t.Fatalf("%d tries left, want 1 (untouched)", c.TriesLeft())
	}
}

// testCA makes the certificates of an attestation chain.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func makeCA(t *testing.T, parent *testCA, cn string, bc bool, pathLenZero bool) *testCA {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature, BasicConstraintsValid: bc, IsCA: bc,
		MaxPathLen: -1}
	if pathLenZero {
		tmpl.MaxPathLen, tmpl.MaxPathLenZero = 0, true
	}
	issuer, ikey := tmpl, k
	if parent != nil {
		issuer, ikey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, &k.PublicKey, ikey)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &testCA{c, k}
}

func pemOf(cs ...*testCA) []byte {
	var b []byte
	for _, c := range cs {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.cert.Raw})...)
	}
	return b
}

// Attestation as genuine YubiKeys give it, checked by the desk with
// --attestation-roots: a YubiKey 4 whose device certificate has no
// basicConstraints under a root that says pathlen 0, and a 5.7.4+ key
// whose device certificate chains through an intermediate that is not on
// the token. Both sign. A key that cannot be attested is refused whatever
// type it claims: our own OpenPGP emulator (a software key) is the case.
func TestAttestationChains(t *testing.T) {
	cardemu.SkipUnlessStack(t)
	s := newSlot(t)
	e := newEnv(t).on(machineA.tree(t)).with("AIRLOCK_PIN", "123456")

	oldRoot := makeCA(t, nil, "Test U2F Root CA (pathlen 0)", true, true)
	oldDevice := makeCA(t, oldRoot, "Yubico PIV Attestation", false, false) // no basicConstraints
	newRoot := makeCA(t, nil, "Test Attestation Root 1", true, false)
	inter := makeCA(t, newRoot, "Test PIV Attestation B 1", true, false)
	newDevice := makeCA(t, inter, "Yubico PIV Attestation", true, false)
	roots := filepath.Join(t.TempDir(), "roots.pem")
	writeFile(t, roots, append(pemOf(oldRoot, newRoot), pemOf(inter)...)) // the intermediate as the vendor publishes it

	d, vk := initDesk(t, e)
	lk := createLicense(t, e, d, "--max-machines", "5")
	try := func(c *cardemu.Card, wantExit int, wantOut string, requestArgs ...string) {
		t.Helper()
		s.insert(c)
		state := filepath.Join(t.TempDir(), "s")
		req := filepath.Join(t.TempDir(), "req.txt")
		expectOK(t, e.airlock(append([]string{"--state", state, "request", "--product", "acme-cad", "--license-key", lk, "--vendor-key", vk,
			"-o", req, "--hardware-key", "--scrypt-work-factor", "10"}, requestArgs...)...))
		lic := filepath.Join(t.TempDir(), "lic.txt")
		o := e.vendor("--dir", d, "sign", req, "-o", lic, "--attestation-roots", roots)
		expect(t, o, wantExit)
		if wantExit != 0 {
			expectContains(t, "stderr", o.stderr, wantOut)
			expectNoFile(t, lic)
			return
		}
		activate(t, e, state, vk, lic)
		verify(t, e, state, vk, "VALID", 0)
	}
	try(cardemu.New(cardemu.Config{PIV: &cardemu.PIVConfig{Serial: 4000001, Key: p256Key(t, "yk4"),
		Attestation: oldDevice.cert.Raw, AttestationKey: oldDevice.key}}), 0, "")
	try(cardemu.New(cardemu.Config{PIV: &cardemu.PIVConfig{Serial: 30000002, Key: p256Key(t, "yk574"),
		Attestation: newDevice.cert.Raw, AttestationKey: newDevice.key}}), 0, "")
	// Attested by a root the vendor does not trust.
	stranger := makeCA(t, nil, "Some Root", true, false)
	strangeDevice := makeCA(t, stranger, "Yubico PIV Attestation", true, false)
	try(cardemu.New(cardemu.Config{PIV: &cardemu.PIVConfig{Serial: 4000003, Key: p256Key(t, "stranger"),
		Attestation: strangeDevice.cert.Raw, AttestationKey: strangeDevice.key}}), 21, "HARDWARE_KEY_PROOF_FAILED: the hardware key's attestation does not hold")
	// No attestation at all: refused, PIV or OpenPGP alike.
	try(cardemu.New(cardemu.Config{PIV: &cardemu.PIVConfig{Serial: 4000004, Key: p256Key(t, "no attestation")}}), 21, "the request carries none")
	try(cardemu.New(cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{Manufacturer: 0xFFFE, Serial: 0x0E0E0E0E, AuthKey: edKey("software")}}), 21, "the request carries none")
	// A YubiKey's OpenPGP key, attested at enrolment (request --attest,
	// with the PIN), through the 5.7.4+ chain: signed; not attested:
	// refused; attested, but the key was imported: refused.
	opgpDevice := makeCA(t, inter, "YubiKey OPGP Attestation", true, false)
	yk := func(serial uint32, imported bool) *cardemu.Card {
		return cardemu.New(cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{Manufacturer: 0x0006, Serial: serial, AuthKey: edKey(fmt.Sprint("opgp ", serial)),
			AttestationKey: opgpDevice.key, AttestationCert: opgpDevice.cert.Raw, Imported: imported}, YubiKey: &cardemu.YubiKeyConfig{Serial: serial}})
	}
	try(yk(30000005, false), 0, "", "--attest")
	try(yk(30000006, false), 21, "the request carries none")
	try(yk(30000007, true), 21, "imported into the token", "--attest")

	// The built-in Yubico roots: an emulated card does not chain to them.
	roots = "yubico"
	try(cardemu.New(cardemu.Config{PIV: &cardemu.PIVConfig{Serial: 4000008, Key: p256Key(t, "yk4 again"),
		Attestation: oldDevice.cert.Raw, AttestationKey: oldDevice.key}}), 21, "does not chain to a trusted root")
}

// A license bound to the hardware key alone goes wherever the key goes:
// valid on a second machine with a fresh state directory (no installation,
// no request), without a new seat; without the key, not accessible.
func TestPortableHardwareKeyLicense(t *testing.T) {
	cardemu.SkipUnlessStack(t)
	s := newSlot(t)
	key := edKey("portable")
	card := func() *cardemu.Card {
		return cardemu.New(cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{Manufacturer: 0xFFFE, Serial: 0x0F0F0F0F, AuthKey: key}})
	}
	s.insert(card())
	e := newEnv(t).on(machineA.tree(t)).with("AIRLOCK_PIN", "123456")
	f := enrolAndActivate(t, e, "openpgp card FFFE 0F0F0F0F (ed25519)", "--match", "hardware-key", "--max-machines", "1")
	verify(t, e, f.state, f.vk, "VALID", 0)
	o := e.airlock("fingerprint")
	expectOK(t, o)
	expectStdout(t, o, "openpgp:FFFE0F0F0F0F\n")
	o = e.airlock("inspect", f.licTxt, "--vendor-key", f.vk)
	expectOK(t, o)
	expectContains(t, "stdout", o.stdout, "the hardware key alone")

	// Another machine, a fresh state directory: the same license file.
	m := machineA
	m.machineID = "fedcba9876543210fedcba9876543210"
	m.boardSerial, m.productSerial, m.diskSerial = "BSN-B", "PSN-B", "DSK-B"
	eb := e.on(m.tree(t))
	stateB := filepath.Join(t.TempDir(), "b")
	activate(t, eb, stateB, f.vk, f.licTxt)
	verify(t, eb, stateB, f.vk, "VALID", 0)
	// A request from the second machine with the same key takes no seat
	// (the license allows one machine, and the key already holds it).
	reqB := filepath.Join(t.TempDir(), "reqb.txt")
	expectOK(t, eb.airlock("--state", filepath.Join(t.TempDir(), "b2"), "request", "--product", "acme-cad", "--license-key", f.lk,
		"--vendor-key", f.vk, "-o", reqB, "--hardware-key", "--scrypt-work-factor", "10"))
	sign(t, e, f.desk, reqB)
	if n := *licenseShow(t, e, f.desk, f.lk).SeatsUsed; n != 1 {
		t.Fatalf("%d seats used, want 1 (the key's)", n)
	}
	// Without the key: not accessible, on either machine.
	s.pull()
	verify(t, eb, stateB, f.vk, "HARDWARE_KEY_NOT_ACCESSIBLE", 19)
	verify(t, e, f.state, f.vk, "HARDWARE_KEY_NOT_ACCESSIBLE", 19)
	// An ordinary hardware-key license does not move with its key.
	s.insert(card())
	g := enrolAndActivate(t, e, "openpgp card FFFE 0F0F0F0F (ed25519)")
	o = eb.airlock("--state", filepath.Join(t.TempDir(), "d"), "activate", g.licTxt, "--vendor-key", g.vk)
	if o.code == 0 {
		t.Fatalf("an ordinary hardware-key license was installed on another machine\n%s", o)
	}
}

// A licensee secret derived from the hardware key comes from the card the
// license is bound to, not from the first card found: with another card
// in the first reader, request and verify still use the enrolled one.
func TestSecretFromBoundKey(t *testing.T) {
	cardemu.SkipUnlessStack(t)
	first, second := newSlot(t), &slot0{t: t, i: 1}
	t.Cleanup(second.pull)
	bound := func() *cardemu.Card {
		return cardemu.New(cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{Manufacturer: 0xFFFE, Serial: 0x0B0B0B0B, AuthKey: edKey("bound secret")}})
	}
	second.insert(bound())
	e := newEnv(t).on(machineA.tree(t)).with("AIRLOCK_PIN", "123456")
	d, vk := initDesk(t, e)
	lk := createLicense(t, e, d, "--secret-mode", "predefined", "--secret-from-key")
	// Another card arrives in the first reader.
	first.insert(cardemu.New(cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{Manufacturer: 0xFFFE, Serial: 0x0A0A0A0A, AuthKey: edKey("someone else")}}))
	state := filepath.Join(t.TempDir(), "s")
	req := filepath.Join(t.TempDir(), "req.txt")
	o := e.airlock("--state", state, "--licensee-secret-from-key", "request", "--product", "acme-cad", "--license-key", lk,
		"--vendor-key", vk, "-o", req, "--plaintext-key", "--hardware-key="+cardemu.Slots()[1].Reader)
	expectOK(t, o)
	expectContains(t, "stderr", o.stderr, "hardware key enrolled: openpgp card FFFE 0B0B0B0B")
	lic := sign(t, e, d, req)
	expectOK(t, e.airlock("--state", state, "--licensee-secret-from-key", "activate", lic, "--vendor-key", vk))
	o = e.airlock("--state", state, "--licensee-secret-from-key", "verify", "--product", "acme-cad", "--vendor-key", vk)
	expectOK(t, o)
	expectStdout(t, o, "VALID\n")
}
