package e2e

import (
	"crypto/ed25519"
	"crypto/sha256"
	"path/filepath"
	"testing"
	"time"

	"github.com/airlock-offline/airlock/internal/cardemu"
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
		if err := c.WaitReady(5 * time.Second); err != nil {
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
	if err := c.WaitReady(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	defer c.Remove()
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
