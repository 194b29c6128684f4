package dongle

import (
	"crypto/x509"
	"encoding/hex"
	"errors"
	"slices"
	"testing"

	"github.com/airlock-offline/airlock/internal/testrig/cardemu"
)

// Known answers for the KDF-DO's ITERSALTED_S2K, computed with Python's
// hashlib from RFC 4880 §3.7.1.3's definition (salt 01..08, PIN "123456").
func TestIterSaltedS2K(t *testing.T) {
	salt := []byte{1, 2, 3, 4, 5, 6, 7, 8}
	for _, tc := range []struct {
		hash  byte
		count uint32
		want  string
	}{
		{kdfSHA256, 100000, "8fc77436ded3825377da921acc4fb1e0c619e426b926c30f06fbb428c6ac9701"},
		{kdfSHA256, 3, "1ae0f1043e1492a1acffc2319de52fa4713cf4bfd7123563345550f0da8eee9a"}, // less than one copy: one copy
		{kdfSHA512, 65011712, "dfd9638956981fb22d397d1906033ba26d49d9dd03a9d2cdf70ef0ddc28a5356064d72e9418d67d5de3243f8756159094456ae9822da527f16e2cdcffed77939"},
	} {
		if got := hex.EncodeToString(iterSaltedS2K(tc.hash, salt, []byte("123456"), tc.count)); got != tc.want {
			t.Errorf("hash %02X count %d: %s, want %s", tc.hash, tc.count, got, tc.want)
		}
	}
}

// An OpenPGP card set up with kdf-setup wants the PIN's hash: the proof
// works, and no try is spent. A KDF-DO naming an unknown scheme is refused
// before anything is sent, so no try is spent either.
func TestSessionKDF(t *testing.T) {
	for _, h := range []byte{kdfSHA256, kdfSHA512} {
		f := newFakeSystem(readerA)
		card := cardemu.New(cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{Serial: 7, AuthKey: testEd25519("kdf"),
			KDF: &cardemu.KDFConfig{Algorithm: 3, Hash: h, Iterations: 100000, Salt: []byte("saltsalt")}}})
		f.insert(readerA, card)
		s := openFake(t, f, Options{PIN: (&pinPrompt{pin: "123456"}).prompt})
		ch, _ := Challenge(nil, nil)
		_, alg, sig, err := s.Prove("", ch)
		if err != nil {
			t.Fatalf("hash %02X: %v", h, err)
		}
		if err := VerifyProof(alg, edPub(testEd25519("kdf")), ch, sig); err != nil {
			t.Fatal(err)
		}
		if card.TriesLeft() != 3 {
			t.Fatalf("hash %02X: %d tries left", h, card.TriesLeft())
		}
	}
	for name, kdf := range map[string]*cardemu.KDFConfig{
		"unknown algorithm": {Algorithm: 4, Hash: kdfSHA256, Iterations: 1000, Salt: []byte("saltsalt")},
		"unknown hash":      {Algorithm: 3, Hash: 0x02, Iterations: 1000, Salt: []byte("saltsalt")},
	} {
		f := newFakeSystem(readerA)
		card := cardemu.New(cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{Serial: 7, AuthKey: testEd25519("kdf"), KDF: kdf}})
		f.insert(readerA, card)
		s := openFake(t, f, Options{PIN: (&pinPrompt{pin: "123456"}).prompt})
		ch, _ := Challenge(nil, nil)
		_, _, _, err := s.Prove("", ch)
		if !errors.Is(err, ErrPINScheme) {
			t.Fatalf("%s: %v, want ErrPINScheme", name, err)
		}
		if slices.Contains(card.Log(), "00200082") {
			t.Fatalf("%s: the PIN was sent: %v", name, card.Log())
		}
		if card.TriesLeft() != 3 {
			t.Fatalf("%s: %d tries left", name, card.TriesLeft())
		}
	}
}

// A PIV key without a slot-9A certificate (ykman piv keys generate 9a, no
// certificate): identified and proven from GET METADATA, or from the
// attestation on a token without GET METADATA.
func TestSessionPIVWithoutCertificate(t *testing.T) {
	key := testP256(t, "nocert")
	att := testP256(t, "attestation")
	for name, cfg := range map[string]*cardemu.PIVConfig{
		"metadata":    {Serial: 9, Key: key, NoCert: true},
		"attestation": {Serial: 9, Key: key, NoCert: true, NoMetadata: true, AttestationKey: att},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFakeSystem(readerA)
			card := cardemu.New(cardemu.Config{PIV: cfg})
			f.insert(readerA, card)
			s := openFake(t, f, Options{PIN: (&pinPrompt{pin: "123456"}).prompt})
			id, err := s.Identify("")
			if err != nil || !id.CanProve || id.Kind != KindPIV {
				t.Fatalf("identify: %v %v", id, err)
			}
			found, err := s.Find(KindPIV, id.Serial)
			if err != nil {
				t.Fatal(err)
			}
			ch, _ := Challenge(nil, nil)
			_, alg, sig, err := s.ProveWith(found.Reader, KindPIV, ch)
			if err != nil {
				t.Fatal(err)
			}
			if err := VerifyProof(alg, p256Point(t, key), ch, sig); err != nil {
				t.Fatal(err)
			}
		})
	}
	// With neither, the slot's key cannot be learnt: identity only.
	f := newFakeSystem(readerA)
	f.insert(readerA, cardemu.New(cardemu.Config{PIV: &cardemu.PIVConfig{Serial: 9, Key: key, NoCert: true, NoMetadata: true}}))
	s := openFake(t, f, Options{PIN: (&pinPrompt{pin: "123456"}).prompt})
	ch, _ := Challenge(nil, nil)
	if _, _, _, err := s.ProveWith(readerA, KindPIV, ch); !errors.Is(err, ErrUnsupportedCard) {
		t.Fatalf("no metadata, certificate or attestation: %v", err)
	}
}

// A YubiKey with keys in both applets: Find looks for the enrolled
// applet, so a PIV-enrolled key is found although OpenPGP answers first;
// and neither Find nor a proof sends ATTEST (attestation is for
// enrolment).
func TestSessionFindDualApplet(t *testing.T) {
	f := newFakeSystem(readerA)
	card := cardemu.New(cardemu.Config{
		OpenPGP: &cardemu.OpenPGPConfig{Manufacturer: 6, Serial: 12345678, AuthKey: testEd25519("gpg")},
		PIV:     &cardemu.PIVConfig{Serial: 12345678, Key: testP256(t, "piv"), AttestationKey: testP256(t, "f9")}})
	f.insert(readerA, card)
	s := openFake(t, f, Options{PIN: (&pinPrompt{pin: "123456"}).prompt})
	pivID, err := s.IdentifyKind("", KindPIV)
	if err != nil || pivID.Kind != KindPIV || pivID.Attestation == nil {
		t.Fatalf("IdentifyKind: %v %v", pivID, err)
	}
	if id, _ := s.Identify(""); id.Kind != KindOpenPGP {
		t.Fatalf("Identify picked %v, want the OpenPGP applet first", id.Kind)
	}
	card.ResetLog()
	found, err := s.Find(KindPIV, pivID.Serial)
	if err != nil || found.Kind != KindPIV {
		t.Fatalf("Find: %v %v", found, err)
	}
	ch, _ := Challenge(nil, nil)
	_, alg, sig, err := s.ProveWith(found.Reader, KindPIV, ch)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyProof(alg, pivID.PublicKey, ch, sig); err != nil {
		t.Fatal(err)
	}
	for _, h := range card.Log() {
		if h[:4] == "00F9" {
			t.Fatalf("ATTEST sent while verifying: %v", card.Log())
		}
	}
	// A card without the enrolled applet is not the card (no error of its own).
	f2 := newFakeSystem(readerA)
	f2.insert(readerA, cardemu.New(cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{Serial: 1, AuthKey: testEd25519("x")}}))
	s2 := openFake(t, f2, Options{})
	if _, err := s2.Find(KindPIV, pivID.Serial); !errors.Is(err, ErrNoCard) {
		t.Fatalf("Find on an OpenPGP-only card: %v, want ErrNoCard", err)
	}
}

// A card that refuses "forget the PIN" (VERIFY P1 FF, before OpenPGP card
// v3) is reset when the session lets it go, so the PIN does not stay
// verified for other programs.
func TestSessionForgetPINFallback(t *testing.T) {
	f := newFakeSystem(readerA)
	card := cardemu.New(cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{Serial: 1, AuthKey: testEd25519("old"), RefuseForget: true}})
	f.insert(readerA, card)
	s := openFake(t, f, Options{PIN: (&pinPrompt{pin: "123456"}).prompt})
	ch, _ := Challenge(nil, nil)
	if _, _, _, err := s.Prove("", ch); err != nil {
		t.Fatal(err)
	}
	if r := f.slot(readerA).resets; r != 1 {
		t.Fatalf("%d resets, want 1", r)
	}
	// After the reset the card wants the PIN again.
	card.Transmit([]byte{0x00, 0xA4, 0x04, 0x00, 0x06, 0xD2, 0x76, 0x00, 0x01, 0x24, 0x01})
	if resp := card.Transmit([]byte{0x00, 0x20, 0x00, 0x82}); hex.EncodeToString(resp) == "9000" {
		t.Fatal("the PIN is still verified")
	}
}

// A YubiKey's OpenPGP attestation: after the PIN, GET ATTESTATION, then
// the certificate from the AUT key's cardholder certificate and the
// card's attestation certificate. A card that cannot attest says so.
func TestSessionAttestOpenPGP(t *testing.T) {
	key := testEd25519("attested")
	f := newFakeSystem(readerA)
	card := cardemu.New(cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{Manufacturer: 6, Serial: 0x01020304, AuthKey: key,
		AttestationKey: testEd25519("opgp f9")}})
	f.insert(readerA, card)
	s := openFake(t, f, Options{PIN: (&pinPrompt{pin: "123456"}).prompt})
	der, err := s.AttestOpenPGP("")
	if err != nil {
		t.Fatal(err)
	}
	certs, err := x509.ParseCertificates(der)
	if err != nil || len(certs) != 2 {
		t.Fatalf("%d certificates, %v", len(certs), err)
	}
	if !edPub(key).Equal(certs[0].PublicKey) || certs[0].CheckSignatureFrom(certs[1]) != nil {
		t.Fatal("the attestation does not certify the authentication key under the card's attestation key")
	}
	if r := f.slot(readerA).resets; r != 0 || card.TriesLeft() != 3 {
		t.Fatalf("%d resets, %d tries left", r, card.TriesLeft())
	}
	f2 := newFakeSystem(readerA)
	f2.insert(readerA, cardemu.New(cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{Serial: 5, AuthKey: key}}))
	s2 := openFake(t, f2, Options{PIN: (&pinPrompt{pin: "123456"}).prompt})
	if _, err := s2.AttestOpenPGP(""); !errors.Is(err, ErrUnsupportedCard) {
		t.Fatalf("a card without attestation: %v", err)
	}
}
