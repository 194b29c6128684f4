package crypto_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/veraison/go-cose"

	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/internal/armor"
	"github.com/airlock-offline/airlock/internal/testrig/testkeys"
	"github.com/airlock-offline/airlock/internal/testrig/vectors"
)

func gen(t testing.TB, role crypto.Role, label string) *crypto.Identity {
	t.Helper()
	id, err := crypto.Generate(role, testkeys.Rand(label))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestGenerateDeterministic(t *testing.T) {
	a := gen(t, crypto.RoleVendor, "a")
	b := gen(t, crypto.RoleVendor, "a")
	c := gen(t, crypto.RoleVendor, "c")
	if !a.Public().Equal(b.Public()) || a.Public().Equal(c.Public()) {
		t.Fatal("Generate is not a function of its randomness")
	}
}

// The X25519 half must interoperate with age itself: what we seal, age
// opens, and the recipient string we derive is the one age derives.
func TestAgeInterop(t *testing.T) {
	for i := 0; i < 50; i++ {
		id := gen(t, crypto.RoleInstallation, fmt.Sprint("interop", i))
		r, err := id.Public().Recipient()
		if err != nil {
			t.Fatal(err)
		}
		ai, ok := id.AgeIdentity().(*age.X25519Identity)
		if !ok {
			t.Fatal("not an X25519 identity")
		}
		if r.String() != ai.Recipient().String() {
			t.Fatalf("recipient %s, age says %s", r, ai.Recipient())
		}
		ct, err := crypto.Seal(id.Public(), []byte("secret"))
		if err != nil {
			t.Fatal(err)
		}
		rd, err := age.Decrypt(bytes.NewReader(ct), ai)
		if err != nil {
			t.Fatal(err)
		}
		if b, _ := io.ReadAll(rd); string(b) != "secret" {
			t.Fatal("age opened something else")
		}
	}
}

func TestSealOpen(t *testing.T) {
	a := gen(t, crypto.RoleVendor, "a")
	b := gen(t, crypto.RoleVendor, "b")
	ct, err := crypto.Seal(a.Public(), []byte("licensee secret"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(ct, []byte("licensee secret")) {
		t.Fatal("plaintext visible in ciphertext")
	}
	if pt, err := crypto.Open(a, ct); err != nil || string(pt) != "licensee secret" {
		t.Fatalf("open: %q %v", pt, err)
	}
	if _, err := crypto.Open(b, ct); !errors.Is(err, crypto.ErrSealed) {
		t.Fatalf("opened with the wrong key: %v", err)
	}
	ct[len(ct)-1] ^= 1
	if _, err := crypto.Open(a, ct); !errors.Is(err, crypto.ErrSealed) {
		t.Fatalf("tampered ciphertext opened: %v", err)
	}
	if _, err := crypto.Seal(a.Public(), make([]byte, crypto.MaxSealed+1)); err == nil {
		t.Fatal("oversized field sealed")
	}
}

func TestPublicString(t *testing.T) {
	for _, role := range []crypto.Role{crypto.RoleVendor, crypto.RoleInstallation} {
		id := gen(t, role, "pub")
		s := id.Public().String()
		want := map[crypto.Role]string{crypto.RoleVendor: "AV1", crypto.RoleInstallation: "AI1"}[role]
		if !strings.HasPrefix(s, want) || len(s) != 106 {
			t.Fatalf("%s: %q", role, s)
		}
		p, err := crypto.ParsePublic(" " + strings.ToLower(s) + "\n")
		if err != nil || !p.Equal(id.Public()) {
			t.Fatalf("round trip: %v", err)
		}
		if p.ID() != id.ID() || p.ID() != crypto.KeyIDOf(id.Public().Sign) {
			t.Fatal("key id differs")
		}
	}
	bad := []string{"", "AV1", "AX1" + strings.Repeat("A", 103), "AV1" + strings.Repeat("A", 102) + "1", gen(t, crypto.RoleVendor, "x").Public().String()[:105]}
	for _, s := range bad {
		if _, err := crypto.ParsePublic(s); !errors.Is(err, crypto.ErrPublicKey) {
			t.Errorf("%q: %v", s, err)
		}
	}
}

func TestKeyIDVector(t *testing.T) {
	// Key id = SHA-256("airlock key id v1" || 0x00 || pub)[:8], by hand.
	pub := make(ed25519.PublicKey, 32)
	h := sha256.Sum256(append([]byte("airlock key id v1\x00"), pub...))
	if got := crypto.KeyIDOf(pub); !bytes.Equal(got[:], h[:8]) {
		t.Fatalf("got %s", got)
	}
	k, err := crypto.ParseKeyID(crypto.KeyIDOf(pub).String())
	if err != nil || k != crypto.KeyIDOf(pub) {
		t.Fatal("ParseKeyID round trip")
	}
}

func TestIdentityNeverPrintsSecrets(t *testing.T) {
	id := gen(t, crypto.RoleVendor, "print")
	secret := string(id.MarshalPlaintext())
	for _, s := range []string{fmt.Sprint(id), fmt.Sprintf("%v %+v %#v %s", id, id, id, id)} {
		if strings.Contains(s, "AGE-SECRET-KEY") || strings.Contains(s, secret[40:80]) {
			t.Fatalf("secret material printed: %s", s)
		}
	}
}

func TestKeyFile(t *testing.T) {
	id := gen(t, crypto.RoleVendor, "kf")
	pass := func() ([]byte, error) { return []byte("correct horse"), nil }
	enc, err := id.MarshalEncrypted([]byte("correct horse"), 10)
	if err != nil {
		t.Fatal(err)
	}
	if !crypto.IsEncryptedKeyFile(enc) || !bytes.HasPrefix(enc, []byte("-----BEGIN AGE ENCRYPTED FILE-----")) {
		t.Fatal("not an age file")
	}
	got, err := crypto.ParseKeyFile(enc, crypto.RoleVendor, pass)
	if err != nil || !got.Public().Equal(id.Public()) {
		t.Fatalf("encrypted round trip: %v", err)
	}
	if _, err := crypto.ParseKeyFile(enc, crypto.RoleVendor, func() ([]byte, error) { return []byte("wrong"), nil }); !errors.Is(err, crypto.ErrWrongPassphrase) {
		t.Fatalf("wrong passphrase: %v", err)
	}
	if _, err := crypto.ParseKeyFile(enc, crypto.RoleVendor, nil); !errors.Is(err, crypto.ErrNeedPassphrase) {
		t.Fatalf("no passphrase: %v", err)
	}
	plain := id.MarshalPlaintext()
	got, err = crypto.ParseKeyFile(plain, crypto.RoleVendor, nil)
	if err != nil || !got.Public().Equal(id.Public()) {
		t.Fatalf("plaintext round trip: %v", err)
	}
	if !bytes.Equal(got.MarshalPlaintext(), plain) {
		t.Fatal("plaintext key file not stable")
	}
	if _, err := crypto.ParseKeyFile(plain, crypto.RoleInstallation, nil); !errors.Is(err, crypto.ErrKeyFile) || !strings.Contains(err.Error(), "vendor key") {
		t.Fatalf("role confusion: %v", err)
	}
	// The standard age tool's format: the encrypted file is an age file.
	si, _ := age.NewScryptIdentity("correct horse")
	if _, err := age.Decrypt(bytes.NewReader(decodeAgeArmor(t, enc)), si); err != nil {
		t.Fatalf("age cannot open our key file: %v", err)
	}
}

func decodeAgeArmor(t *testing.T, b []byte) []byte {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	dec, err := base64.StdEncoding.DecodeString(strings.Join(lines[1:len(lines)-1], ""))
	if err != nil {
		t.Fatal(err)
	}
	return dec
}

func TestSignVerify(t *testing.T) {
	v := gen(t, crypto.RoleVendor, "v")
	w := gen(t, crypto.RoleVendor, "w")
	msg, err := crypto.Sign(v, crypto.TagLicense, []byte("payload"))
	if err != nil {
		t.Fatal(err)
	}
	p, kid, err := crypto.Verify(msg, crypto.TagLicense, w.Public().Sign, v.Public().Sign)
	if err != nil || string(p) != "payload" || kid != v.ID() {
		t.Fatalf("verify: %v", err)
	}
	// Domain separation: a license signature is not a request signature.
	if _, _, err := crypto.Verify(msg, crypto.TagRequest, v.Public().Sign); !errors.Is(err, crypto.ErrBadSignature) {
		t.Fatalf("cross-type: %v", err)
	}
	var uk *crypto.UnknownKeyError
	if _, _, err := crypto.Verify(msg, crypto.TagLicense, w.Public().Sign); !errors.As(err, &uk) || uk.Got != v.ID() || !errors.Is(err, crypto.ErrUnknownKey) {
		t.Fatalf("unknown key: %v", err)
	}
	if !strings.Contains(uk.Error(), v.ID().String()) || !strings.Contains(uk.Error(), w.ID().String()) {
		t.Fatalf("message should say signed by X, expected Y: %v", uk)
	}
	for i := range msg {
		c := bytes.Clone(msg)
		c[i] ^= 0x40
		if _, _, err := crypto.Verify(c, crypto.TagLicense, v.Public().Sign); err == nil {
			t.Fatalf("flipped byte %d verified", i)
		}
	}
	if _, _, err := crypto.Verify(append(bytes.Clone(msg), 0), crypto.TagLicense, v.Public().Sign); !errors.Is(err, crypto.ErrMalformed) {
		t.Fatalf("trailing byte: %v", err)
	}
}

func FuzzParseSigned(f *testing.F) {
	_, payloads := vectors.Seeds(f)
	for _, p := range payloads {
		f.Add(p)
	}
	v := gen(f, crypto.RoleVendor, "v")
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := crypto.ParseSigned(data)
		if err != nil {
			if !errors.Is(err, crypto.ErrMalformed) {
				t.Fatalf("untyped error: %v", err)
			}
			return
		}
		if _, err := s.Verify(s.Tag, v.Public().Sign); err != nil && !errors.Is(err, crypto.ErrUnknownKey) && !errors.Is(err, crypto.ErrBadSignature) {
			t.Fatalf("untyped error: %v", err)
		}
	})
}

func FuzzParseKeyFile(f *testing.F) {
	id := gen(f, crypto.RoleVendor, "fuzz")
	f.Add(id.MarshalPlaintext())
	f.Add(gen(f, crypto.RoleInstallation, "fuzz").MarshalPlaintext())
	enc, _ := id.MarshalEncrypted([]byte("pw"), 2)
	f.Add(enc)
	hw, err := crypto.NewHardwareIdentity(crypto.RoleVendor, id.Public().Sign, crypto.HardwareKeyRef{Kind: 1, Serial: []byte{1, 2}}, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(hw.MarshalPlaintext())
	texts, _ := vectors.Seeds(f)
	for _, s := range texts {
		f.Add(s)
	}
	pass := func() ([]byte, error) { return []byte("pw"), nil }
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := crypto.ParseKeyFile(data, crypto.RoleVendor, pass)
		if err != nil {
			if !errors.Is(err, crypto.ErrKeyFile) && !errors.Is(err, crypto.ErrWrongPassphrase) && !errors.Is(err, crypto.ErrNeedPassphrase) {
				t.Fatalf("untyped error: %v", err)
			}
			return
		}
		again, err := crypto.ParseKeyFile(got.MarshalPlaintext(), crypto.RoleVendor, nil)
		if err != nil || !again.Public().Equal(got.Public()) {
			t.Fatalf("parse -> encode -> parse changed the key: %v", err)
		}
		if crypto.IsEncryptedKeyFile(data) {
			return
		}
		// A plaintext file in canonical armor re-encodes to the same bytes.
		if k, p, err := armor.Decode(data); err == nil && bytes.Equal(armor.Encode(k, p), data) && !bytes.Equal(got.MarshalPlaintext(), data) {
			t.Fatal("parse -> encode did not give the same bytes")
		}
	})
}

// A signed message has one encoding: re-encoding parts of it in longer but
// valid CBOR forms must not give a second message with the same signature.
func TestSignedMalleability(t *testing.T) {
	v := gen(t, crypto.RoleVendor, "v")
	msg, err := crypto.Sign(v, crypto.TagLicense, []byte("payload"))
	if err != nil {
		t.Fatal(err)
	}
	// d2 84 58 LL <protected> a0 47 "payload" 58 40 <sig>
	if msg[0] != 0xd2 || msg[1] != 0x84 || msg[2] != 0x58 {
		t.Fatalf("unexpected layout % x", msg[:4])
	}
	plen := int(msg[3])
	unprot := 4 + plen
	if msg[unprot] != 0xa0 {
		t.Fatalf("unexpected unprotected header %x", msg[unprot])
	}
	variants := map[string][]byte{
		"long protected length": append([]byte{0xd2, 0x84, 0x59, 0x00, byte(plen)}, msg[4:]...),
		"long empty map":        append(append(append([]byte(nil), msg[:unprot]...), 0xb8, 0x00), msg[unprot+1:]...),
		"untagged":              msg[1:],
	}
	for name, m := range variants {
		if _, _, err := crypto.Verify(m, crypto.TagLicense, v.Public().Sign); !errors.Is(err, crypto.ErrMalformed) {
			t.Errorf("%s: got %v, want ErrMalformed", name, err)
		}
	}
}

// Third parties verify airlock messages with any COSE library: go-cose
// (an independent implementation of RFC 9052) accepts what we sign, and
// rejects it under a wrong key.
func TestCOSEInterop(t *testing.T) {
	v := gen(t, crypto.RoleVendor, "interop")
	w := gen(t, crypto.RoleVendor, "other")
	for _, tag := range []string{crypto.TagRequest, crypto.TagLicense, crypto.TagReceipt} {
		msg, err := crypto.Sign(v, tag, []byte("payload for "+tag))
		if err != nil {
			t.Fatal(err)
		}
		var m cose.Sign1Message
		if err := m.UnmarshalCBOR(msg); err != nil {
			t.Fatal(err)
		}
		verifier, _ := cose.NewVerifier(cose.AlgorithmEdDSA, v.Public().Sign)
		if err := m.Verify(nil, verifier); err != nil {
			t.Fatalf("go-cose rejects our %s: %v", tag, err)
		}
		if ct := m.Headers.Protected[cose.HeaderLabelContentType]; ct != tag {
			t.Fatalf("content type %v", ct)
		}
		other, _ := cose.NewVerifier(cose.AlgorithmEdDSA, w.Public().Sign)
		if err := m.Verify(nil, other); err == nil {
			t.Fatal("go-cose accepts it under another key")
		}
		again, err := m.MarshalCBOR()
		if err != nil || !bytes.Equal(again, msg) {
			t.Fatal("go-cose re-encodes our message differently")
		}
	}
}
