package dongle

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"errors"
	"fmt"
	"testing"

	"github.com/airlock-offline/airlock/internal/testrig/cardemu"
)

func TestIdentifyCards(t *testing.T) {
	edKey := testEd25519("a")
	edPub := []byte(edKey.Public().(ed25519.PublicKey))
	pKey := testP256(t, "a")
	attKey := testP256(t, "attestation")
	tests := []struct {
		name   string
		cfg    cardemu.Config
		kind   Kind
		serial string
		alg    Algorithm
		pub    []byte
		certs  int // certificates in the attestation
	}{
		{"openpgp ed25519", cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{Manufacturer: 0xFFFE, Serial: 0x0A0B0C0D, AuthKey: edKey}},
			KindOpenPGP, "FFFE0A0B0C0D", AlgEd25519, edPub, 0},
		{"openpgp p256", cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{Manufacturer: 0xFFFE, Serial: 7, AuthKey: pKey}},
			KindOpenPGP, "FFFE00000007", AlgP256, p256Point(t, pKey), 0},
		{"openpgp no key", cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{Manufacturer: 0xFFFF, Serial: 1}},
			KindOpenPGP, "FFFF00000001", 0, nil, 0},
		{"piv p256", cardemu.Config{PIV: &cardemu.PIVConfig{Serial: 12345678, Key: pKey}},
			KindPIV, "00BC614E", AlgP256, p256Point(t, pKey), 0},
		{"piv ed25519 attested", cardemu.Config{PIV: &cardemu.PIVConfig{Serial: 5, Key: edKey, AttestationKey: attKey}},
			KindPIV, "00000005", AlgEd25519, edPub, 2},
		{"piv no cert, attested", cardemu.Config{PIV: &cardemu.PIVConfig{Serial: 6, Key: pKey, Cert: []byte{}, AttestationKey: attKey}},
			KindPIV, "00000006", AlgP256, p256Point(t, pKey), 2},
		{"piv no key", cardemu.Config{PIV: &cardemu.PIVConfig{Serial: 9}},
			KindPIV, "00000009", 0, nil, 0},
		{"openpgp without key, piv with key", cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{Serial: 1}, PIV: &cardemu.PIVConfig{Serial: 2, Key: pKey}},
			KindPIV, "00000002", AlgP256, p256Point(t, pKey), 0},
		{"openpgp and piv with keys", cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{Serial: 1, AuthKey: edKey}, PIV: &cardemu.PIVConfig{Serial: 2, Key: pKey}},
			KindOpenPGP, "000000000001", AlgEd25519, edPub, 0},
		{"generic", cardemu.Config{UID: []byte{0x04, 0xA1, 0xB2, 0xC3}},
			KindGeneric, "04A1B2C3", 0, nil, 0},
		{"openpgp without key beats uid", cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{Serial: 3}, UID: []byte{1, 2, 3, 4}},
			KindOpenPGP, "000000000003", 0, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			card := cardemu.New(tt.cfg)
			info, err := identify(emuTransport{card}, 0, true)
			if err != nil {
				t.Fatal(err)
			}
			id := info.identity("r")
			if id.Kind != tt.kind || fmt.Sprintf("%X", id.Serial) != tt.serial || id.Algorithm != tt.alg ||
				!bytes.Equal(id.PublicKey, tt.pub) || id.CanProve != (tt.alg != 0) {
				t.Fatalf("got %v serial %X alg %v pub %X canProve %v", id.Kind, id.Serial, id.Algorithm, id.PublicKey, id.CanProve)
			}
			certs, err := x509.ParseCertificates(id.Attestation)
			if err != nil || len(certs) != tt.certs {
				t.Fatalf("attestation: %d certificates (%v), want %d", len(certs), err, tt.certs)
			}
			if tt.certs > 0 {
				if err := certs[0].CheckSignatureFrom(certs[1]); err != nil {
					t.Fatalf("attestation chain: %v", err)
				}
			}
		})
	}
}

func TestIdentifyUnsupported(t *testing.T) {
	card := cardemu.New(cardemu.Config{})
	for _, kind := range []Kind{0, KindOpenPGP, KindPIV, KindGeneric} {
		_, err := identify(emuTransport{card}, kind, false)
		if !errors.Is(err, ErrUnsupportedCard) {
			t.Errorf("kind %v: err %v, want ErrUnsupportedCard", kind, err)
		}
	}
}

func TestIdentifyWantKind(t *testing.T) {
	card := cardemu.New(cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{Serial: 1, AuthKey: testEd25519("a")},
		PIV: &cardemu.PIVConfig{Serial: 2, Key: testP256(t, "a")}, UID: []byte{9, 9, 9, 9}})
	for kind, serial := range map[Kind]string{KindOpenPGP: "000000000001", KindPIV: "00000002", KindGeneric: "09090909"} {
		info, err := identify(emuTransport{card}, kind, false)
		if err != nil || info.kind != kind || fmt.Sprintf("%X", info.serial) != serial {
			t.Errorf("want %v: got %+v, %v", kind, info, err)
		}
	}
}

// The APDUs of an OpenPGP identification, byte for byte.
func TestIdentifyOpenPGPAPDUs(t *testing.T) {
	pub := bytes.Repeat([]byte{0x11}, 32)
	keyAnswer := append(append(unhex(t, "7F49 23 86 21 40"), pub...), 0x90, 0x00)
	ok := unhex(t, "9000")
	aid := unhex(t, "D276000124010304FFFE0A0B0C0D0000")
	c3 := newTLV(0xC3, unhex(t, "16 2B06010401DA470F01 FF")).encode()
	c5 := newTLV(0xC5, append(make([]byte, 40), bytes.Repeat([]byte{0xAB}, 20)...)).encode()
	ard := func(do ...[]byte) []byte {
		var in73 []byte
		for _, d := range do {
			in73 = append(in73, d...)
		}
		v := append(newTLV(0x4F, aid).encode(), newTLV(0x73, in73).encode()...)
		return append(newTLV(0x6E, v).encode(), 0x90, 0x00)
	}
	t.Run("AID in 6E", func(t *testing.T) {
		s := &scripted{tb: t, steps: []step{
			{cmd: "00A4040006D2760001240100", resp: ok},
			{cmd: "00CA006E00", resp: ard(c3, newTLV(0xC4, unhex(t, "007F7F7F030003")).encode())},
			{cmd: "0047810002A40000", resp: keyAnswer},
		}}
		info, err := identify(s, 0, true)
		s.done()
		if err != nil || info.kind != KindOpenPGP || info.alg != AlgEd25519 || !bytes.Equal(info.pub, pub) ||
			fmt.Sprintf("%X", info.serial) != "FFFE0A0B0C0D" || info.tries != 3 {
			t.Fatalf("got %+v, %v", info, err)
		}
	})
	t.Run("AID apart", func(t *testing.T) {
		s := &scripted{tb: t, steps: []step{
			{cmd: "00A4040006D2760001240100", resp: ok},
			{cmd: "00CA006E00", resp: unhex(t, "6E 0F 73 0D C3 0B 16 2B06010401DA470F01 FF 9000")},
			{cmd: "00CA004F00", resp: unhex(t, "D276000124010304FFFE0A0B0C0D0000 9000")},
			{cmd: "0047810002A40000", resp: keyAnswer},
		}}
		info, err := identify(s, 0, true)
		s.done()
		if err != nil || info.alg != AlgEd25519 || fmt.Sprintf("%X", info.serial) != "FFFE0A0B0C0D" || info.tries != -1 {
			t.Fatalf("got %+v, %v", info, err)
		}
	})
	t.Run("for a proof", func(t *testing.T) {
		s := &scripted{tb: t, steps: []step{
			{cmd: "00A4040006D2760001240100", resp: ok},
			{cmd: "00CA006E00", resp: ard(c3, newTLV(0xC4, unhex(t, "007F7F7F020003")).encode(), c5)},
		}}
		info, err := identify(s, 0, false)
		s.done()
		if err != nil || info.alg != AlgEd25519 || info.pub != nil || info.tries != 2 {
			t.Fatalf("got %+v, %v", info, err)
		}
	})
}

func TestParseOpenPGPAlgorithm(t *testing.T) {
	tests := map[string]Algorithm{
		"16 2B06010401DA470F01":    AlgEd25519,
		"16 2B06010401DA470F01 FF": AlgEd25519,
		"13 2A8648CE3D030107":      AlgP256,
		"13 2A8648CE3D030107 00":   AlgP256,
		"12 2A8648CE3D030107":      0, // ECDH
		"13 2B81040022":            0, // P-384
		"01 0800 0020 00":          0, // RSA 2048
		"16":                       0,
		"":                         0,
	}
	for in, want := range tests {
		if got := parseOpenPGPAlgorithm(unhex(t, in)); got != want {
			t.Errorf("%s: got %v, want %v", in, got, want)
		}
	}
}

func TestPINStatusAndVerify(t *testing.T) {
	card := cardemu.New(cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{Serial: 1, AuthKey: testEd25519("a"), PIN: "246810", Tries: 3},
		PIV: &cardemu.PIVConfig{Serial: 2, Key: testP256(t, "a"), PIN: "13579", Tries: 5}})
	tr := emuTransport{card}
	for _, tc := range []struct {
		kind  Kind
		aid   []byte
		pin   string
		tries int
	}{{KindOpenPGP, aidOpenPGP, "246810", 3}, {KindPIV, aidPIV, "135790", 5}} {
		if ok, err := selectApplet(tr, tc.aid); !ok || err != nil {
			t.Fatal(ok, err)
		}
		if n, err := pinStatus(tr, tc.kind); n != tc.tries || err != nil {
			t.Fatalf("%v: tries %d %v, want %d", tc.kind, n, err, tc.tries)
		}
		err := verifyPIN(tr, tc.kind, []byte("000000"))
		var pe *PINError
		if !errors.As(err, &pe) || pe.TriesLeft != tc.tries-1 || !errors.Is(err, ErrWrongPIN) || errors.Is(err, ErrPINBlocked) {
			t.Fatalf("%v: wrong PIN gave %v", tc.kind, err)
		}
		if n, _ := pinStatus(tr, tc.kind); n != tc.tries-1 {
			t.Fatalf("%v: tries %d after a wrong PIN", tc.kind, n)
		}
	}
	// PIV PIN lengths are checked before anything is sent.
	card.ResetLog()
	for _, pin := range []string{"", "12345", "123456789"} {
		if err := verifyPIN(tr, KindPIV, []byte(pin)); !errors.Is(err, ErrInvalidPIN) {
			t.Fatalf("PIN of %d: %v", len(pin), err)
		}
		if err := verifyPIN(tr, KindOpenPGP, []byte(pin[:min(len(pin), 5)])); !errors.Is(err, ErrInvalidPIN) {
			t.Fatalf("OpenPGP PIN of %d: %v", len(pin), err)
		}
	}
	if log := card.Log(); len(log) != 0 {
		t.Fatalf("commands sent for bad PINs: %v", log)
	}
}

func TestPINErrorBlocked(t *testing.T) {
	s := &scripted{tb: t, steps: []step{{cmd: "00CA00F900", resp: unhex(t, "6A88")}, {cmd: "0020008206313131313131", resp: unhex(t, "63C0")}}}
	err := verifyPIN(s, KindOpenPGP, []byte("111111"))
	if !errors.Is(err, ErrWrongPIN) || !errors.Is(err, ErrPINBlocked) {
		t.Fatalf("err %v: want both ErrWrongPIN and ErrPINBlocked", err)
	}
	s = &scripted{tb: t, steps: []step{{resp: unhex(t, "6A88")}, {resp: unhex(t, "6983")}}}
	if err := verifyPIN(s, KindOpenPGP, []byte("111111")); !errors.Is(err, ErrPINBlocked) || errors.Is(err, ErrWrongPIN) {
		t.Fatalf("blocked card: %v", err)
	}
}

func TestCheckTries(t *testing.T) {
	for _, tc := range []struct {
		tries, min int
		want       error
	}{{-1, 2, nil}, {3, 2, nil}, {2, 2, nil}, {1, 2, ErrTooFewTries}, {1, 1, nil}, {0, 1, ErrPINBlocked}, {2, 3, ErrTooFewTries}} {
		if err := checkTries(tc.tries, tc.min); !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
			t.Errorf("checkTries(%d, %d) = %v, want %v", tc.tries, tc.min, err, tc.want)
		}
	}
}

// The APDUs of a PIV proof with P-256: VERIFY with the PIN padded, GENERAL
// AUTHENTICATE of the digest, a DER signature turned into r||s.
func TestAuthenticatePIVAPDUs(t *testing.T) {
	key := testP256(t, "piv")
	challenge := []byte("fixed challenge for the APDU test")
	card := cardemu.New(cardemu.Config{PIV: &cardemu.PIVConfig{Serial: 1, Key: key, PIN: "123456"}})
	var sent [][]byte
	tr := transportFunc(func(cmd []byte) ([]byte, error) {
		sent = append(sent, bytes.Clone(cmd)) // as sent: a PIN APDU is zeroed afterwards
		return card.Transmit(cmd), nil
	})
	if ok, err := selectApplet(tr, aidPIV); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if err := verifyPIN(tr, KindPIV, []byte("123456")); err != nil {
		t.Fatal(err)
	}
	info := &cardInfo{kind: KindPIV, alg: AlgP256, pub: p256Point(t, key)}
	sig, err := authenticate(tr, info, challenge)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyProof(AlgP256, info.pub, challenge, sig); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintf("%X", sent[1]); got != "0020008008313233343536FFFF" {
		t.Errorf("VERIFY %s", got)
	}
	if got := fmt.Sprintf("%X", sent[2][:10]); got != "0087119A267C24820081" {
		t.Errorf("GENERAL AUTHENTICATE header %s", got)
	}
	if !forgetPIN(tr, KindPIV) {
		t.Error("the card did not forget the PIN")
	}
	if _, err := authenticate(tr, info, challenge); !errors.Is(err, ErrRemoved) {
		t.Errorf("signing without the PIN: %v, want ErrRemoved (the card forgot the PIN: a reset)", err)
	}
}

func TestParseSignature(t *testing.T) {
	raw := bytes.Repeat([]byte{0x7F}, 64)
	der, ok := rawToDER(raw)
	if !ok {
		t.Fatal("rawToDER")
	}
	if got, err := parseSignature(AlgP256, der); err != nil || !bytes.Equal(got, raw) {
		t.Fatalf("DER: %X %v", got, err)
	}
	if got, err := parseSignature(AlgP256, raw); err != nil || !bytes.Equal(got, raw) {
		t.Fatalf("raw: %X %v", got, err)
	}
	for _, bad := range [][]byte{nil, raw[:63], append(raw, 0)} {
		if _, err := parseSignature(AlgEd25519, bad); !errors.Is(err, ErrUnsupportedCard) {
			t.Errorf("ed25519 %d bytes: %v", len(bad), err)
		}
	}
}
