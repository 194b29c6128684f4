package e2e

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/internal/testrig/cardemu"
)

// A license bound to a hardware key, end to end through the real binaries,
// a real pcscd and a virtual OpenPGP card: the card proves itself on every
// verify; pulled, another card, or the same serial with another key each
// give their own code.
func TestHardwareKey(t *testing.T) {
	cardemu.SkipUnlessStack(t)
	slot := cardemu.Slots()[0]
	key := func(label string) ed25519.PrivateKey {
		seed := sha256.Sum256([]byte(label))
		return ed25519.NewKeyFromSeed(seed[:])
	}
	card := func(serial uint32, k ed25519.PrivateKey) *cardemu.Card {
		return cardemu.New(cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{Manufacturer: 0xFFFE, Serial: serial, AuthKey: k}})
	}
	insert := func(c *cardemu.Card) {
		t.Helper()
		if err := c.Insert(slot.Addr); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Remove) // a card left in the slot would block every later test's card
		if err := c.WaitReady(15 * time.Second); err != nil {
			t.Fatal(err)
		}
	}
	enrolled := card(0x0A0B0C0D, key("enrolled"))
	insert(enrolled)

	e := newEnv(t).on(machineA.tree(t)).with("AIRLOCK_PIN", "123456")
	desk, vk := initDesk(t, e)
	lk := createLicense(t, e, desk)
	state := filepath.Join(t.TempDir(), "s")
	req := filepath.Join(t.TempDir(), "req.txt")
	o := e.airlock("--state", state, "request", "--product", "acme-cad", "--license-key", lk, "--vendor-key", vk,
		"-o", req, "--hardware-key", "--scrypt-work-factor", "10")
	expectOK(t, o)
	expectContains(t, "stderr", o.stderr, "hardware key enrolled: openpgp")
	lic := sign(t, e, desk, req)
	activate(t, e, state, vk, lic)
	verify(t, e, state, vk, "VALID", 0)

	o = e.airlock("dongle", "list")
	expectOK(t, o)
	expectContains(t, "stdout", o.stdout, "openpgp, serial FFFE 0A0B0C0D, ed25519 key")

	// Pulled: not accessible.
	enrolled.Remove()
	time.Sleep(800 * time.Millisecond) // pcscd polls every 400 ms
	verify(t, e, state, vk, "HARDWARE_KEY_NOT_ACCESSIBLE", 19)

	// Another card: mismatch.
	other := card(0x11111111, key("other"))
	insert(other)
	verify(t, e, state, vk, "HARDWARE_KEY_MISMATCH", 20)
	other.Remove()
	time.Sleep(800 * time.Millisecond)

	// The same serial, another key (a clone that copied the serial): the
	// challenge-response fails.
	clone := card(0x0A0B0C0D, key("clone"))
	insert(clone)
	verify(t, e, state, vk, "HARDWARE_KEY_PROOF_FAILED", 21)
	clone.Remove()
	time.Sleep(800 * time.Millisecond)

	// The enrolled card again: valid; a wrong PIN reports tries left and
	// stops before the card locks.
	back := card(0x0A0B0C0D, key("enrolled"))
	insert(back)
	defer back.Remove()
	verify(t, e, state, vk, "VALID", 0)
	o = e.with("AIRLOCK_PIN", "000000").airlock("--state", state, "verify", "--product", "acme-cad", "--vendor-key", vk)
	expect(t, o, 19)
	expectContains(t, "stderr", o.stderr, "tries left")
	if back.TriesLeft() < 1 {
		t.Fatal("a wrong PIN blocked the card")
	}
}

// A predefined licensee secret derived from the customer's hardware key:
// the vendor derives it with the key at the desk, the machine derives it
// again on every verify; without the key it is missing.
func TestSecretFromHardwareKey(t *testing.T) {
	cardemu.SkipUnlessStack(t)
	slot := cardemu.Slots()[0]
	seed := sha256.Sum256([]byte("customer key"))
	c := cardemu.New(cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{Manufacturer: 0xFFFE, Serial: 0x01020304, AuthKey: ed25519.NewKeyFromSeed(seed[:])}})
	if err := c.Insert(slot.Addr); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Remove)
	if err := c.WaitReady(15 * time.Second); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t).on(machineA.tree(t)).with("AIRLOCK_PIN", "123456")
	desk, vk := initDesk(t, e)
	lk := createLicense(t, e, desk, "--secret-mode", "predefined", "--secret-from-key")
	state := filepath.Join(t.TempDir(), "s")
	req := filepath.Join(t.TempDir(), "req.txt")
	expectOK(t, e.airlock("--state", state, "--licensee-secret-from-key", "request", "--product", "acme-cad", "--license-key", lk,
		"--vendor-key", vk, "-o", req, "--plaintext-key"))
	lic := sign(t, e, desk, req)
	expectOK(t, e.airlock("--state", state, "--licensee-secret-from-key", "activate", lic, "--vendor-key", vk))
	o := e.airlock("--state", state, "--licensee-secret-from-key", "verify", "--product", "acme-cad", "--vendor-key", vk)
	expectOK(t, o)
	expectStdout(t, o, "VALID\n")
	verify(t, e, state, vk, "LICENSEE_SECRET_MISMATCH", 22)
}

// The desk's signing key on a card: init records the card's key, every
// license is signed by the card (and verifies on the machine), and
// --crash-if-no-hardware-key refuses to start without the card. No card,
// another card or a wrong PIN: nothing is signed and no seat is taken.
func TestDeskKeyOnCard(t *testing.T) {
	cardemu.SkipUnlessStack(t)
	slot := cardemu.Slots()[0]
	insert := func(c *cardemu.Card) {
		t.Helper()
		if err := c.Insert(slot.Addr); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Remove) // a card left in the slot would block every later test's card
		if err := c.WaitReady(15 * time.Second); err != nil {
			t.Fatal(err)
		}
	}
	pull := func(c *cardemu.Card) {
		c.Remove()
		time.Sleep(800 * time.Millisecond) // pcscd polls every 400 ms
	}
	signKey := func(label string) ed25519.PrivateKey {
		seed := sha256.Sum256([]byte(label))
		return ed25519.NewKeyFromSeed(seed[:])
	}
	deskCard := func(label string) *cardemu.Card {
		return cardemu.New(cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{Manufacturer: 0xFFFE, Serial: 0x00C0FFEE, SignKey: signKey(label)}})
	}
	card := deskCard("desk")
	insert(card)

	e := newEnv(t).on(machineA.tree(t)).with("AIRLOCK_PIN", "123456")
	desk := filepath.Join(t.TempDir(), "desk")
	o := e.vendor("--dir", desk, "init", "--hardware-key", "--scrypt-work-factor", "10")
	expectOK(t, o)
	expectContains(t, "stderr", o.stderr, "the signing key stays on the openpgp card FFFE 00C0FFEE")
	pub, err := crypto.ParsePublic(strings.TrimSpace(o.stdout))
	if err != nil {
		t.Fatalf("init printed no public key: %v\n%s", err, o)
	}
	if !bytes.Equal(pub.Sign, signKey("desk").Public().(ed25519.PublicKey)) {
		t.Fatal("the vendor key is not the card's signing key")
	}
	if bytes.Contains(readFile(t, filepath.Join(desk, "vendor.key")), signKey("desk").Seed()) {
		t.Fatal("the card's private key is in the key file")
	}
	vk := "@" + filepath.Join(desk, "vendor.pub")
	lk := createLicense(t, e, desk, "--max-machines", "2")
	o = e.airlock("dongle", "probe")
	expectOK(t, o)
	expectContains(t, "stdout", o.stdout, "desk signing key: openpgp ed25519 signing key")

	// The card signs; the machine verifies the license as any other.
	state := filepath.Join(t.TempDir(), "s")
	req := request(t, e, state, vk, lk)
	lic := filepath.Join(t.TempDir(), "license.txt")
	expectOK(t, e.vendor("--dir", desk, "--crash-if-no-hardware-key", "sign", req, "-o", lic))
	activate(t, e, state, vk, lic)
	verify(t, e, state, vk, "VALID", 0)
	o = e.vendor("--dir", desk, "license", "list", "--crash-if-no-hardware-key")
	expectOK(t, o)
	expectContains(t, "stderr", o.stderr, "is on the openpgp card FFFE 00C0FFEE")

	seats := func() int {
		t.Helper()
		return *licenseShow(t, e, desk, lk).SeatsUsed
	}
	other := func(name string) string {
		t.Helper()
		m := machineA
		m.machineID = fmt.Sprintf("%032x", len(name))
		m.boardSerial, m.productSerial, m.diskSerial = "BSN-"+name, "PSN-"+name, "DSK-"+name
		return request(t, e.on(m.tree(t)), filepath.Join(t.TempDir(), "s"), vk, lk)
	}
	req2 := other("second")

	// A wrong PIN: the tries left, no signature, no seat, card not blocked.
	out2 := filepath.Join(t.TempDir(), "license2.txt")
	o = e.with("AIRLOCK_PIN", "000000").vendor("--dir", desk, "sign", req2, "-o", out2)
	expect(t, o, 47)
	expectContains(t, "stderr", o.stderr, "tries left")
	expectNoFile(t, out2)
	if card.TriesLeft() < 2 {
		t.Fatalf("%d tries left after one wrong PIN", card.TriesLeft())
	}

	// The card pulled: the desk does not start, and sign fails before it
	// takes a seat.
	pull(card)
	o = e.vendor("--dir", desk, "--crash-if-no-hardware-key", "license", "list")
	expect(t, o, 19)
	expectContains(t, "stderr", o.stderr, "HARDWARE_KEY_NOT_ACCESSIBLE: no plugged-in hardware key holds signing key")
	expectStdout(t, o, "")
	o = e.vendor("--dir", desk, "sign", req2, "-o", out2)
	if o.code != 43 && o.code != 42 {
		t.Fatalf("sign without the card: exit %d, want 43 (no card)\n%s", o.code, o)
	}
	expectNoFile(t, out2)

	// Another card with another signing key: refused by name.
	impostor := deskCard("impostor")
	insert(impostor)
	o = e.vendor("--dir", desk, "sign", req2, "-o", out2)
	expect(t, o, 50)
	expectNoFile(t, out2)
	expect(t, e.vendor("--dir", desk, "--crash-if-no-hardware-key", "license", "list"), 19)
	pull(impostor)
	if n := seats(); n != 1 {
		t.Fatalf("%d seats taken after refused signatures, want 1", n)
	}

	// Back: the second machine gets its license.
	back := deskCard("desk")
	insert(back)
	defer back.Remove()
	expectOK(t, e.vendor("--dir", desk, "--crash-if-no-hardware-key", "sign", req2, "-o", out2))
	if n := seats(); n != 2 {
		t.Fatalf("%d seats taken, want 2", n)
	}
	// A batch: the card signs each license (one PIN for the run).
	batchKey := createLicense(t, e, desk, "--max-machines", "3")
	dir := t.TempDir()
	for i := range 3 {
		m := machineA
		m.machineID = fmt.Sprintf("%032x", 0xba7c4+i)
		m.boardSerial, m.productSerial, m.diskSerial = fmt.Sprint("BSN-B", i), fmt.Sprint("PSN-B", i), fmt.Sprint("DSK-B", i)
		req := request(t, e.on(m.tree(t)), filepath.Join(t.TempDir(), "s"), vk, batchKey)
		writeFile(t, filepath.Join(dir, fmt.Sprintf("req-%d.txt", i)), readFile(t, req))
	}
	o = e.vendor("--dir", desk, "sign", "--batch", dir)
	expectOK(t, o)
	expectContains(t, "stderr", o.stderr, "signed 3 of 3 requests")
	for i := range 3 {
		o := e.airlock("inspect", filepath.Join(dir, fmt.Sprintf("req-%d.license.txt", i)), "--vendor-key", vk)
		expectOK(t, o)
		expectContains(t, "stdout", o.stdout, ": verifies\n")
	}
	// A desk whose key is a file has no hardware key to wait for.
	fileDesk, _ := initDesk(t, e)
	o = e.vendor("--dir", fileDesk, "--crash-if-no-hardware-key", "license", "list")
	expect(t, o, 19)
	expectContains(t, "stderr", o.stderr, "a desk whose key is a file")
}

// A PIV key's attestation can travel as its own file when the QR budget
// is tight: the request leaves it out (and is that much smaller), the desk
// takes it with --attestation and checks it as if it were inside.
func TestAttestationBesideTheRequest(t *testing.T) {
	cardemu.SkipUnlessStack(t)
	slot := cardemu.Slots()[1]
	cardKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	attKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	card := cardemu.New(cardemu.Config{PIV: &cardemu.PIVConfig{Serial: 4242, Key: cardKey, AttestationKey: attKey}})
	if err := card.Insert(slot.Addr); err != nil {
		t.Fatal(err)
	}
	defer card.Remove()
	if err := card.WaitReady(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t).on(machineA.tree(t)).with("AIRLOCK_PIN", "123456")
	desk, vk := initDesk(t, e)
	lk := createLicense(t, e, desk, "--max-machines", "3")
	dir := t.TempDir()
	request := func(name string, extra ...string) (string, out) {
		req := filepath.Join(dir, name)
		args := append([]string{"--state", filepath.Join(dir, "s-"+name), "request", "--product", "acme-cad", "--license-key", lk, "--vendor-key", vk,
			"-o", req, "--hardware-key=" + slot.Reader, "--scrypt-work-factor", "10"}, extra...)
		o := e.airlock(args...)
		expectOK(t, o)
		return req, o
	}
	att := filepath.Join(dir, "attestation.der")
	inside, _ := request("inside.txt")
	beside, o := request("beside.txt", "--attestation-file", att)
	expectContains(t, "stderr", o.stderr, "attestation written to "+att)
	chain := readFile(t, att)
	certs, err := x509.ParseCertificates(chain)
	if err != nil || len(certs) != 2 {
		t.Fatalf("attestation file: %d certificates, %v", len(certs), err)
	}
	sizeIn, sizeOut := len(readFile(t, inside)), len(readFile(t, beside))
	if sizeOut+len(chain) > sizeIn+200 || sizeOut >= sizeIn-len(chain) {
		t.Errorf("request with the attestation %d bytes, without %d, attestation %d", sizeIn, sizeOut, len(chain))
	}
	// The desk requires attestations that chain to the (test) maker's root.
	roots := filepath.Join(dir, "roots.pem")
	writeFile(t, roots, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certs[1].Raw}))
	o = e.vendor("--dir", desk, "sign", beside, "-o", filepath.Join(dir, "l0.txt"), "--attestation-roots", roots)
	expect(t, o, 21)
	expectContains(t, "stderr", o.stderr, "give it with --attestation FILE")
	o = e.vendor("--dir", desk, "sign", beside, "-o", filepath.Join(dir, "l1.txt"), "--attestation-roots", roots, "--attestation", att)
	expectOK(t, o)
	o = e.vendor("--dir", desk, "sign", inside, "-o", filepath.Join(dir, "l2.txt"), "--attestation-roots", roots)
	expectOK(t, o)
}
