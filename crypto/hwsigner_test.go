package crypto_test

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"

	"github.com/airlock-offline/airlock/crypto"
)

// memSigner stands in for a card at unit level; the real card signer is
// tested against pcscd in dongle and end to end in internal/e2e.
type memSigner struct {
	key   ed25519.PrivateKey
	calls int
	bad   bool
}

func (m *memSigner) Public() ed25519.PublicKey { return m.key.Public().(ed25519.PublicKey) }

func (m *memSigner) Sign(msg []byte) ([]byte, error) {
	m.calls++
	sig := ed25519.Sign(m.key, msg)
	if m.bad {
		sig[0] ^= 1
	}
	return sig, nil
}

func newCard(seed byte) *memSigner {
	return &memSigner{key: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, 32))}
}

func TestHardwareIdentity(t *testing.T) {
	card := newCard(7)
	ref := crypto.HardwareKeyRef{Kind: 1, Serial: []byte{0xFF, 0xFE, 1, 2, 3, 4}}
	id, err := crypto.NewHardwareIdentity(crypto.RoleVendor, card.Public(), ref, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(id.Public().Sign, card.Public()) {
		t.Fatal("public signing key is not the card's")
	}
	got, ok := id.HardwareKey()
	if !ok || got.Kind != 1 || !bytes.Equal(got.Serial, ref.Serial) {
		t.Fatalf("HardwareKey = %+v, %v", got, ok)
	}

	// No card attached: no signature.
	if _, err := crypto.Sign(id, crypto.TagLicense, []byte("payload")); !errors.Is(err, crypto.ErrNoSigner) {
		t.Fatalf("Sign without the card: %v, want ErrNoSigner", err)
	}
	// Another card: refused.
	if err := id.AttachSigner(newCard(8)); err == nil {
		t.Fatal("a card with another key was attached")
	}
	if err := id.AttachSigner(card); err != nil {
		t.Fatal(err)
	}
	msg, err := crypto.Sign(id, crypto.TagLicense, []byte("payload"))
	if err != nil {
		t.Fatal(err)
	}
	if card.calls != 1 {
		t.Fatalf("card signed %d times, want 1", card.calls)
	}
	if _, _, err := crypto.Verify(msg, crypto.TagLicense, id.Public().Sign); err != nil {
		t.Fatalf("card-signed message does not verify: %v", err)
	}

	// A card that signs wrongly never yields a message.
	card.bad = true
	if _, err := crypto.Sign(id, crypto.TagLicense, []byte("payload")); err == nil || !strings.Contains(err.Error(), "does not verify") {
		t.Fatalf("bad card signature: %v", err)
	}

	// The derived keys exist without a seed, and differ per label.
	if bytes.Equal(id.DeriveKey("a"), id.DeriveKey("b")) || len(id.DeriveKey("a")) != 32 {
		t.Fatal("DeriveKey on a hardware identity")
	}
	// A file identity refuses a card.
	fileID, _ := crypto.Generate(crypto.RoleVendor, nil)
	if err := fileID.AttachSigner(card); err == nil {
		t.Fatal("a file identity took a card signer")
	}
	if _, ok := fileID.HardwareKey(); ok {
		t.Fatal("a file identity reports a hardware key")
	}
}

func TestHardwareKeyFile(t *testing.T) {
	card := newCard(9)
	ref := crypto.HardwareKeyRef{Kind: 2, Serial: []byte{0, 0x12, 0x34, 0x56}}
	id, err := crypto.NewHardwareIdentity(crypto.RoleVendor, card.Public(), ref, nil)
	if err != nil {
		t.Fatal(err)
	}
	plain := id.MarshalPlaintext()
	enc, err := id.MarshalEncrypted([]byte("pass"), 10)
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"plaintext": plain, "encrypted": enc} {
		back, err := crypto.ParseKeyFile(data, crypto.RoleVendor, func() ([]byte, error) { return []byte("pass"), nil })
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !back.Public().Equal(id.Public()) {
			t.Fatalf("%s: public key changed", name)
		}
		if r, ok := back.HardwareKey(); !ok || r.Kind != 2 || !bytes.Equal(r.Serial, ref.Serial) {
			t.Fatalf("%s: hardware key reference lost", name)
		}
		if !bytes.Equal(back.DeriveKey("x"), id.DeriveKey("x")) {
			t.Fatalf("%s: derived key changed", name)
		}
		if _, err := crypto.Sign(back, crypto.TagLicense, []byte("p")); !errors.Is(err, crypto.ErrNoSigner) {
			t.Fatalf("%s: signed without the card: %v", name, err)
		}
	}
	if bytes.Contains(plain, card.key.Seed()) {
		t.Fatal("the card's private key is in the key file")
	}
	if _, err := crypto.ParseKeyFile(plain, crypto.RoleInstallation, nil); !errors.Is(err, crypto.ErrKeyFile) {
		t.Fatalf("wrong role: %v", err)
	}
	for _, bad := range []crypto.HardwareKeyRef{{Kind: 0, Serial: []byte{1}}, {Kind: 1}, {Kind: 1, Serial: make([]byte, 65)}} {
		if _, err := crypto.NewHardwareIdentity(crypto.RoleVendor, card.Public(), bad, nil); err == nil {
			t.Fatalf("reference %+v accepted", bad)
		}
	}
}
