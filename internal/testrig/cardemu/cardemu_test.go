package cardemu_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"math/big"
	"slices"
	"strings"
	"testing"

	"github.com/airlock-offline/airlock/internal/testrig/cardemu"
)

// Fixed keys so failures reproduce; ed25519 from a seed, P-256 from a scalar.
var (
	edKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0x42}, 32))
	ecKey = mustP256(bytes.Repeat([]byte{0x17}, 32))
	caKey = mustP256(bytes.Repeat([]byte{0x29}, 32))
)

func mustP256(d []byte) *ecdsa.PrivateKey {
	k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d)
	if err != nil {
		panic(err)
	}
	return k
}

// apdu decodes hex with optional spaces.
func apdu(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// send transmits a command and splits the response into data and SW.
func send(t *testing.T, c *cardemu.Card, cmd []byte) ([]byte, uint16) {
	t.Helper()
	r := c.Transmit(cmd)
	if len(r) < 2 {
		t.Fatalf("% X: response %X shorter than a status word", cmd, r)
	}
	return r[:len(r)-2], uint16(r[len(r)-2])<<8 | uint16(r[len(r)-1])
}

// expect sends a hex command and checks the status word.
func expect(t *testing.T, c *cardemu.Card, cmd string, want uint16) []byte {
	t.Helper()
	data, sw := send(t, c, apdu(t, cmd))
	if sw != want {
		t.Fatalf("%s: SW %04X, want %04X", cmd, sw, want)
	}
	if sw != 0x9000 && sw&0xFF00 != 0x6100 && len(data) != 0 {
		t.Fatalf("%s: SW %04X with data %X", cmd, sw, data)
	}
	return data
}

// tlvs decodes simple BER-TLV (tags up to two bytes, lengths up to 82 xx xx).
func tlvs(t *testing.T, b []byte) map[uint32][]byte {
	t.Helper()
	m := map[uint32][]byte{}
	for len(b) > 0 {
		tag := uint32(b[0])
		i := 1
		if b[0]&0x1F == 0x1F {
			tag = tag<<8 | uint32(b[1])
			i = 2
		}
		n := int(b[i])
		i++
		switch n {
		case 0x81:
			n = int(b[i])
			i++
		case 0x82:
			n = int(b[i])<<8 | int(b[i+1])
			i += 2
		}
		if i+n > len(b) {
			t.Fatalf("TLV %X overruns: %X", tag, b)
		}
		m[tag] = b[i : i+n]
		b = b[i+n:]
	}
	return m
}

const (
	selectOpenPGP = "00 A4 04 00 06 D2 76 00 01 24 01 00"
	selectPIV     = "00 A4 04 00 05 A0 00 00 03 08 00"
	verifyPW1     = "00 20 00 82 06 313233343536" // "123456"
	verifyPIV     = "00 20 00 80 08 313233343536FFFF"
)

func newPGP(key crypto.Signer) *cardemu.Card {
	return cardemu.New(cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{
		Manufacturer: 0xFFFE, Serial: 0x0A0B0C0D, AuthKey: key, PIN: "123456",
	}})
}

func TestOpenPGP(t *testing.T) {
	digest := sha256.Sum256([]byte("airlock challenge"))
	for _, tc := range []struct {
		name  string
		key   crypto.Signer
		attrs string // DO C3
		point []byte
	}{
		{"Ed25519", edKey, "16 2B 06 01 04 01 DA 47 0F 01", edKey.Public().(ed25519.PublicKey)},
		{"P256", ecKey, "13 2A 86 48 CE 3D 03 01 07", mustBytes(ecKey.PublicKey.Bytes())},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newPGP(tc.key)
			expect(t, c, "00 CA 00 4F 00", 0x6D00) // nothing selected yet
			expect(t, c, "00 A4 04 00 06 D2 76 00 01 24 02 00", 0x6A82)
			expect(t, c, "00 A4 00 00 02 3F 00", 0x6A81)
			expect(t, c, selectOpenPGP, 0x9000)

			aid := expect(t, c, "00 CA 00 4F 00", 0x9000)
			if want := apdu(t, "D2 76 00 01 24 01 03 04 FF FE 0A 0B 0C 0D 00 00"); !bytes.Equal(aid, want) {
				t.Fatalf("AID %X, want %X", aid, want)
			}
			ard := tlvs(t, tlvs(t, expect(t, c, "00 CA 00 6E 00", 0x9000))[0x6E])
			if !bytes.Equal(ard[0x4F], aid) {
				t.Errorf("6E/4F %X, want %X", ard[0x4F], aid)
			}
			dd := tlvs(t, ard[0x73])
			if want := apdu(t, tc.attrs); !bytes.Equal(dd[0xC3], want) {
				t.Errorf("C3 %X, want %X", dd[0xC3], want)
			}
			if dd[0xC4][4] != 3 || !bytes.Equal(dd[0xC4], expect(t, c, "00 CA 00 C4 00", 0x9000)) {
				t.Errorf("C4 %X: want PW1 tries 3, same as GET DATA C4", dd[0xC4])
			}
			if fpr := dd[0xC5][40:]; bytes.Equal(fpr, make([]byte, 20)) {
				t.Error("C5: no authentication key fingerprint")
			}
			if h := expect(t, c, "00 CA 5F 52 00", 0x9000); !bytes.Equal(h, cardemu.DefaultATR[10:20]) {
				t.Errorf("5F52 %X, want the ATR's historical bytes", h)
			}
			expect(t, c, "00 CA 01 01 00", 0x6A88)

			pk := tlvs(t, tlvs(t, expect(t, c, "00 47 81 00 02 A4 00 00", 0x9000))[0x7F49])
			if !bytes.Equal(pk[0x86], tc.point) {
				t.Fatalf("public key %X, want %X", pk[0x86], tc.point)
			}
			expect(t, c, "00 47 81 00 02 B6 00 00", 0x6A88) // no signature key
			expect(t, c, "00 47 80 00 02 A4 00 00", 0x6982) // generating needs PW3

			auth := "00 88 00 00 20 " + hex.EncodeToString(digest[:]) + " 00"
			expect(t, c, auth, 0x6982)
			expect(t, c, "00 20 00 82", 0x63C3)
			expect(t, c, "00 20 00 82 06 313233343537", 0x63C2)
			if n := c.TriesLeft(); n != 2 {
				t.Fatalf("TriesLeft %d after a wrong PIN, want 2", n)
			}
			expect(t, c, "00 20 00 81 06 313233343536", 0x9000) // PW1 for signing only
			expect(t, c, auth, 0x6982)
			expect(t, c, verifyPW1, 0x9000)
			if n := c.TriesLeft(); n != 3 {
				t.Fatalf("TriesLeft %d after the right PIN, want 3", n)
			}
			expect(t, c, "00 20 00 82", 0x9000)
			sig := expect(t, c, auth, 0x9000)
			checkRawSig(t, tc.key, digest[:], sig)

			expect(t, c, "00 88 00 00 00", 0x6700)       // no data
			expect(t, c, "00 88 00 00 05 01 02", 0x6700) // Lc larger than the data
			expect(t, c, "00 88 01 00 01 00 00", 0x6A86)
			expect(t, c, "00 2A 9E 9A 01 00 00", 0x6A88) // PSO:CDS, but no signature key
			expect(t, c, "80 CA 00 4F 00", 0x6E00)
			expect(t, c, "00 20 00 83 08 3132333435363739", 0x63C2) // PW3, the admin PIN: wrong
			expect(t, c, "00 20 00 83 08 3132333435363738", 0x9000) // right

			expect(t, c, "00 20 FF 82", 0x9000) // forget the verification
			expect(t, c, auth, 0x6982)

			expect(t, c, verifyPW1, 0x9000)
			c.Reset()
			expect(t, c, auth, 0x6D00) // nothing selected after a reset
			expect(t, c, selectOpenPGP, 0x9000)
			expect(t, c, auth, 0x6982)

			expect(t, c, verifyPW1, 0x9000)
			expect(t, c, selectOpenPGP, 0x9000) // SELECT clears the PIN state too
			expect(t, c, auth, 0x6982)
		})
	}
}

func mustBytes(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// checkRawSig verifies an OpenPGP INTERNAL AUTHENTICATE answer: Ed25519 over
// the data, or ECDSA r || s over the data as digest.
func checkRawSig(t *testing.T, key crypto.Signer, data, sig []byte) {
	t.Helper()
	if len(sig) != 64 {
		t.Fatalf("signature is %d bytes, want 64", len(sig))
	}
	switch pub := key.Public().(type) {
	case ed25519.PublicKey:
		if !ed25519.Verify(pub, data, sig) {
			t.Fatal("Ed25519 signature does not verify")
		}
	case *ecdsa.PublicKey:
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		if !ecdsa.Verify(pub, data, r, s) {
			t.Fatal("ECDSA signature does not verify")
		}
	}
}

func TestOpenPGPPINBlocks(t *testing.T) {
	c := cardemu.New(cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{AuthKey: edKey, PIN: "246810", Tries: 4}})
	expect(t, c, selectOpenPGP, 0x9000)
	expect(t, c, "00 20 00 82", 0x63C4)
	for left := 3; left >= 0; left-- {
		expect(t, c, verifyPW1, 0x63C0|uint16(left)) // "123456" is wrong here
		if got := c.TriesLeft(); got != left {
			t.Fatalf("TriesLeft %d, want %d", got, left)
		}
	}
	expect(t, c, "00 20 00 82 06 323436383130", 0x6983) // the right PIN, too late
	expect(t, c, "00 20 00 82", 0x6983)
	expect(t, c, "00 88 00 00 01 00 00", 0x6982)
	if st := expect(t, c, "00 CA 00 C4 00", 0x9000); st[4] != 0 {
		t.Errorf("PW status %X: want 0 tries", st)
	}
	// The counter survives a reset and a fresh SELECT.
	c.Reset()
	expect(t, c, selectOpenPGP, 0x9000)
	expect(t, c, "00 20 00 82", 0x6983)
}

func TestOpenPGPBlankCard(t *testing.T) {
	c := newPGP(nil)
	expect(t, c, selectOpenPGP, 0x9000)
	expect(t, c, "00 47 81 00 02 A4 00 00", 0x6A88)
	expect(t, c, verifyPW1, 0x9000)
	expect(t, c, "00 88 00 00 01 00 00", 0x6A88)
	dd := tlvs(t, tlvs(t, tlvs(t, expect(t, c, "00 CA 00 6E 00", 0x9000))[0x6E])[0x73])
	if !bytes.Equal(dd[0xC3], apdu(t, "01 0800 0020 00")) || !bytes.Equal(dd[0xC5], make([]byte, 60)) {
		t.Errorf("blank card: C3 %X (want RSA 2048), C5 %X (want zeros)", dd[0xC3], dd[0xC5])
	}
}

func newPIV(key crypto.Signer, cfg cardemu.PIVConfig) *cardemu.Card {
	cfg.Key = key
	if cfg.Serial == 0 {
		cfg.Serial = 12345678
	}
	return cardemu.New(cardemu.Config{PIV: &cfg})
}

// readChained sends cmd and follows 61xx with GET RESPONSE (00 C0 00 00 xx).
func readChained(t *testing.T, c *cardemu.Card, cmd string) []byte {
	t.Helper()
	data, sw := send(t, c, apdu(t, cmd))
	out := slices.Clone(data)
	parts := 1
	for sw&0xFF00 == 0x6100 {
		if len(data) != 256 {
			t.Fatalf("part %d is %d bytes, want 256 before 61xx", parts, len(data))
		}
		data, sw = send(t, c, []byte{0x00, 0xC0, 0x00, 0x00, byte(sw)})
		out = append(out, data...)
		parts++
	}
	if sw != 0x9000 {
		t.Fatalf("%s: SW %04X after %d parts", cmd, sw, parts)
	}
	if len(out) > 256 && parts < 2 {
		t.Fatalf("%d bytes in one short response", len(out))
	}
	return out
}

// pivCert unwraps 53 { 70 cert 71 00 FE }.
func pivCert(t *testing.T, obj []byte) *x509.Certificate {
	t.Helper()
	inner := tlvs(t, tlvs(t, obj)[0x53])
	if !bytes.Equal(inner[0x71], []byte{0}) {
		t.Errorf("certinfo %X, want 00", inner[0x71])
	}
	if _, ok := inner[0xFE]; !ok {
		t.Error("no EDC (FE)")
	}
	cert, err := x509.ParseCertificate(inner[0x70])
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func TestPIV(t *testing.T) {
	challenge := sha256.Sum256([]byte("airlock piv challenge"))
	for _, tc := range []struct {
		name string
		key  crypto.Signer
		alg  string
	}{
		{"P256", ecKey, "11"},
		{"Ed25519", edKey, "E0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newPIV(tc.key, cardemu.PIVConfig{})
			expect(t, c, "00 F8 00 00 00", 0x6D00)
			expect(t, c, "00 A4 04 00 09 A0 00 00 03 08 00 00 10 00 01 00", 0x6700) // Lc 09 with 10 bytes
			for _, sel := range []string{
				"00 A4 04 00 0B A0 00 00 03 08 00 00 10 00 01 00 00",
				"00 A4 04 00 09 A0 00 00 03 08 00 00 10 00 00",
				selectPIV,
			} {
				fci := tlvs(t, tlvs(t, expect(t, c, sel, 0x9000))[0x61])
				if !bytes.Equal(fci[0x4F], apdu(t, "00 00 10 00 01 00")) {
					t.Fatalf("%s: FCI %X", sel, fci)
				}
			}
			expect(t, c, "00 A4 04 0C 05 A0 00 00 03 08", 0x9000)

			if s := expect(t, c, "00 F8 00 00 00", 0x9000); !bytes.Equal(s, []byte{0x00, 0xBC, 0x61, 0x4E}) {
				t.Errorf("serial %X, want 00BC614E (12345678)", s)
			}
			if v := expect(t, c, "00 FD 00 00 00", 0x9000); !bytes.Equal(v, []byte{5, 7, 1}) {
				t.Errorf("version %X", v)
			}

			cert := pivCert(t, readChained(t, c, "00 CB 3F FF 05 5C 03 5F C1 05 00"))
			if err := cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature); err != nil {
				t.Errorf("self-signed certificate: %v", err)
			}
			if !cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool }).Equal(tc.key.Public()) {
				t.Error("certificate is not for the slot key")
			}
			expect(t, c, "00 C0 00 00 00", 0x6985) // nothing pending
			expect(t, c, "00 CB 3F FF 05 5C 03 5F C1 0A 00", 0x6A82)
			expect(t, c, "00 CB 3F FF 05 5C 03 5F FF 01 00", 0x6A82) // no attestation configured
			expect(t, c, "00 CB 3F FF 03 5D 01 7E 00", 0x6A80)
			expect(t, c, "00 CB 3F 00 05 5C 03 5F C1 05 00", 0x6A86)

			ga := "00 87 " + tc.alg + " 9A 26 7C 24 82 00 81 20 " + hex.EncodeToString(challenge[:]) + " 00"
			expect(t, c, ga, 0x6982)
			expect(t, c, "00 20 00 80", 0x63C3)
			expect(t, c, "00 20 00 80 06 313233343536", 0x6A80) // not padded to 8
			expect(t, c, "00 20 00 80 08 313233343537FFFF", 0x63C2)
			if n := c.PIVTriesLeft(); n != 2 {
				t.Fatalf("PIVTriesLeft %d, want 2", n)
			}
			expect(t, c, verifyPIV, 0x9000)
			expect(t, c, "00 20 00 80", 0x9000)
			if n := c.PIVTriesLeft(); n != 3 {
				t.Fatalf("PIVTriesLeft %d, want 3", n)
			}
			expect(t, c, "00 87 14 9A 26 7C 24 82 00 81 20 "+hex.EncodeToString(challenge[:])+" 00", 0x6A86)
			expect(t, c, "00 87 "+tc.alg+" 9C 26 7C 24 82 00 81 20 "+hex.EncodeToString(challenge[:])+" 00", 0x6A88)
			expect(t, c, "00 87 "+tc.alg+" 9A 04 7C 02 82 00 00", 0x6A80) // no challenge
			expect(t, c, "00 87 "+tc.alg+" 9A 04 7C 05 82 00 00", 0x6A80) // overrun

			resp := tlvs(t, tlvs(t, expect(t, c, ga, 0x9000))[0x7C])
			sig := resp[0x82]
			switch pub := tc.key.Public().(type) {
			case *ecdsa.PublicKey:
				if !ecdsa.VerifyASN1(pub, challenge[:], sig) {
					t.Fatal("ECDSA (DER) signature does not verify")
				}
			case ed25519.PublicKey:
				if len(sig) != 64 || !ed25519.Verify(pub, challenge[:], sig) {
					t.Fatal("Ed25519 signature does not verify")
				}
			}
			expect(t, c, "00 F9 9A 00 00", 0x6D00) // no attestation configured

			expect(t, c, "00 20 FF 80", 0x9000)
			expect(t, c, ga, 0x6982)
		})
	}
}

func TestPIVPINBlocks(t *testing.T) {
	c := newPIV(ecKey, cardemu.PIVConfig{PIN: "87654321", Tries: 3})
	expect(t, c, selectPIV, 0x9000)
	expect(t, c, verifyPIV, 0x63C2)
	expect(t, c, verifyPIV, 0x63C1)
	expect(t, c, verifyPIV, 0x63C0)
	expect(t, c, "00 20 00 80 08 3837363534333231", 0x6983)
	expect(t, c, "00 20 00 80", 0x6983)
	if n := c.PIVTriesLeft(); n != 0 {
		t.Fatalf("PIVTriesLeft %d, want 0", n)
	}
	if n := c.TriesLeft(); n != -1 {
		t.Fatalf("TriesLeft %d without OpenPGP, want -1", n)
	}
}

func TestPIVEmptySlot(t *testing.T) {
	c := newPIV(nil, cardemu.PIVConfig{})
	expect(t, c, selectPIV, 0x9000)
	expect(t, c, "00 CB 3F FF 05 5C 03 5F C1 05 00", 0x6A82)
	expect(t, c, verifyPIV, 0x9000)
	expect(t, c, "00 87 11 9A 07 7C 05 82 00 81 01 00 00", 0x6A88)
}

func TestPIVGivenCertificate(t *testing.T) {
	der := []byte{0x30, 0x03, 0x02, 0x01, 0x07} // need not parse: served as given
	c := newPIV(ecKey, cardemu.PIVConfig{Cert: der})
	expect(t, c, selectPIV, 0x9000)
	obj := readChained(t, c, "00 CB 3F FF 05 5C 03 5F C1 05 00")
	if got := tlvs(t, tlvs(t, obj)[0x53])[0x70]; !bytes.Equal(got, der) {
		t.Fatalf("certificate %X, want %X", got, der)
	}
}

func TestPIVAttestation(t *testing.T) {
	c := newPIV(edKey, cardemu.PIVConfig{Serial: 7654321, AttestationKey: caKey})
	expect(t, c, selectPIV, 0x9000)
	leaf, err := x509.ParseCertificate(readChained(t, c, "00 F9 9A 00 00"))
	if err != nil {
		t.Fatal(err)
	}
	f9 := pivCert(t, readChained(t, c, "00 CB 3F FF 05 5C 03 5F FF 01 00"))
	if err := leaf.CheckSignatureFrom(f9); err != nil {
		t.Fatalf("attestation not signed by the F9 certificate: %v", err)
	}
	if !f9.PublicKey.(*ecdsa.PublicKey).Equal(caKey.Public()) {
		t.Error("F9 certificate is not for AttestationKey")
	}
	if !leaf.PublicKey.(ed25519.PublicKey).Equal(edKey.Public()) {
		t.Error("attestation is not for the slot key")
	}
	if leaf.Subject.CommonName != "YubiKey PIV Attestation 9a" {
		t.Errorf("subject %q", leaf.Subject.CommonName)
	}
	var serial int64
	for _, e := range leaf.Extensions {
		if e.Id.String() == "1.3.6.1.4.1.41482.3.7" {
			if _, err := asn1.Unmarshal(e.Value, &serial); err != nil {
				t.Fatal(err)
			}
		}
	}
	if serial != 7654321 {
		t.Errorf("serial extension %d, want 7654321", serial)
	}
	expect(t, c, "00 F9 9C 00 00", 0x6A88)
	expect(t, c, "00 F9 9A 01 00", 0x6A86)

	// Attestation without its key: a canned answer.
	canned := []byte{0x30, 0x00}
	c = newPIV(edKey, cardemu.PIVConfig{Attestation: canned})
	expect(t, c, selectPIV, 0x9000)
	if got := expect(t, c, "00 F9 9A 00 00", 0x9000); !bytes.Equal(got, canned) {
		t.Errorf("canned attestation %X", got)
	}
}

func TestBothApplets(t *testing.T) {
	c := cardemu.New(cardemu.Config{
		OpenPGP: &cardemu.OpenPGPConfig{AuthKey: edKey},
		PIV:     &cardemu.PIVConfig{Key: ecKey, Serial: 1},
	})
	expect(t, c, selectPIV, 0x9000)
	expect(t, c, verifyPIV, 0x9000)
	expect(t, c, selectOpenPGP, 0x9000)
	expect(t, c, "00 20 00 82", 0x63C3) // separate PINs and counters
	expect(t, c, "00 F8 00 00 00", 0x6D00)
	expect(t, c, selectPIV, 0x9000)
	expect(t, c, "00 20 00 80", 0x63C3) // the SELECT cleared the PIV PIN
}

func TestUID(t *testing.T) {
	c := cardemu.New(cardemu.Config{UID: []byte{0x04, 0xA2, 0x2B, 0x19}})
	if uid := expect(t, c, "FF CA 00 00 00", 0x9000); !bytes.Equal(uid, []byte{0x04, 0xA2, 0x2B, 0x19}) {
		t.Fatalf("UID %X", uid)
	}
	expect(t, c, "FF CA 01 00 00", 0x6A81)
	expect(t, c, "FF 00 00 00 00", 0x6D00)
	expect(t, c, selectOpenPGP, 0x6A82) // no applets
	expect(t, c, selectPIV, 0x6A82)

	expect(t, newPGP(edKey), "FF CA 00 00 00", 0x6A81)
}

func TestMalformed(t *testing.T) {
	c := newPGP(edKey)
	for _, cmd := range []string{"", "00", "00 A4 04", "00 A4 04 00 00 00", "00 A4 04 00 03 01 02", "00 CA 00 4F 00 00 00 01"} {
		if r := c.Transmit(apdu(t, cmd)); !bytes.Equal(r, []byte{0x67, 0x00}) {
			t.Errorf("%q: %X, want 6700", cmd, r)
		}
	}
}

func TestExtendedAPDU(t *testing.T) {
	c := newPIV(ecKey, cardemu.PIVConfig{})
	expect(t, c, selectPIV, 0x9000)
	short := readChained(t, c, "00 CB 3F FF 05 5C 03 5F C1 05 00")
	// Extended Lc and Le: the whole object in one response.
	r := c.Transmit(apdu(t, "00 CB 3F FF 00 00 05 5C 03 5F C1 05 00 00"))
	if !bytes.Equal(r, append(slices.Clone(short), 0x90, 0x00)) {
		t.Fatalf("extended GET DATA: %d bytes, want %d + 9000", len(r), len(short))
	}
	// An extended Le smaller than the object: the rest by GET RESPONSE.
	r = c.Transmit(apdu(t, "00 CB 3F FF 00 00 05 5C 03 5F C1 05 01 00"))
	if len(r) != 258 || r[256] != 0x61 {
		t.Fatalf("extended Le 0100: %d bytes, SW %X", len(r), r[len(r)-2:])
	}
	rest := expect(t, c, "00 C0 00 00 00", 0x9000)
	if !bytes.Equal(append(slices.Clone(r[:256]), rest...), short) {
		t.Fatalf("extended Le 0100 + GET RESPONSE: %d + %d bytes, want the %d-byte object", 256, len(rest), len(short))
	}
}

func TestGetResponseLe(t *testing.T) {
	c := newPIV(ecKey, cardemu.PIVConfig{})
	expect(t, c, selectPIV, 0x9000)
	whole := readChained(t, c, "00 CB 3F FF 05 5C 03 5F C1 05 00")
	rem := len(whole) - 256
	if rem <= 16 {
		t.Fatalf("object of %d bytes is too short for this test", len(whole))
	}
	data, sw := send(t, c, apdu(t, "00 CB 3F FF 05 5C 03 5F C1 05 00"))
	if len(data) != 256 || sw != 0x6100|uint16(min(rem, 256)&0xFF) {
		t.Fatalf("first part %d bytes, SW %04X; want 256, 61%02X", len(data), sw, min(rem, 256)&0xFF)
	}
	part, sw := send(t, c, apdu(t, "00 C0 00 00 10"))
	if len(part) != 16 || sw != 0x6100|uint16(min(rem-16, 256)&0xFF) {
		t.Fatalf("GET RESPONSE Le=10: %d bytes, SW %04X", len(part), sw)
	}
	if !bytes.Equal(part, whole[256:272]) {
		t.Fatal("GET RESPONSE returned the wrong bytes")
	}
	expect(t, c, "00 FD 00 00 00", 0x9000) // another command drops what was pending
	expect(t, c, "00 C0 00 00 00", 0x6985)
	expect(t, c, "00 C0 01 00 00", 0x6A86)
}

func TestCommandChaining(t *testing.T) {
	c := newPIV(edKey, cardemu.PIVConfig{})
	expect(t, c, selectPIV, 0x9000)
	expect(t, c, verifyPIV, 0x9000)
	msg := []byte("chained challenge, longer than one part")
	tmpl := append([]byte{0x7C, byte(4 + len(msg)), 0x82, 0x00, 0x81, byte(len(msg))}, msg...)
	part1 := append([]byte{0x10, 0x87, 0xE0, 0x9A, 10}, tmpl[:10]...)
	part2 := append(append([]byte{0x00, 0x87, 0xE0, 0x9A, byte(len(tmpl) - 10)}, tmpl[10:]...), 0x00)
	if _, sw := send(t, c, part1); sw != 0x9000 {
		t.Fatalf("first part: SW %04X", sw)
	}
	data, sw := send(t, c, part2)
	if sw != 0x9000 {
		t.Fatalf("last part: SW %04X", sw)
	}
	if sig := tlvs(t, tlvs(t, data)[0x7C])[0x82]; !ed25519.Verify(edKey.Public().(ed25519.PublicKey), msg, sig) {
		t.Fatal("signature over the chained challenge does not verify")
	}
}

func TestLog(t *testing.T) {
	c := newPGP(edKey)
	expect(t, c, selectOpenPGP, 0x9000)
	expect(t, c, verifyPW1, 0x9000)
	expect(t, c, "00 88 00 00 01 AA 00", 0x9000)
	want := []string{"00A40400", "00200082", "00880000"}
	if got := c.Log(); !slices.Equal(got, want) {
		t.Fatalf("Log %q, want %q", got, want)
	}
	for _, l := range c.Log() {
		if strings.Contains(l, "313233") {
			t.Fatal("the log holds the PIN")
		}
	}
	c.ResetLog()
	if len(c.Log()) != 0 {
		t.Fatal("ResetLog left entries")
	}
}

func TestNewRejectsUnsupportedKeys(t *testing.T) {
	k384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "unsupported key") {
			t.Fatalf("New with a P-384 key: recover() = %v", r)
		}
	}()
	newPGP(k384)
}

// chained splits data into CLA-10 pieces of at most 255 bytes under the
// header ins p1 p2; the last piece has CLA 00 and Le 00.
func chained(ins, p1, p2 byte, data []byte) [][]byte {
	var out [][]byte
	for len(data) > 255 {
		out = append(out, append([]byte{0x10, ins, p1, p2, 0xFF}, data[:255]...))
		data = data[255:]
	}
	return append(out, append(append([]byte{0x00, ins, p1, p2, byte(len(data))}, data...), 0x00))
}

// sendChain sends the pieces; all but the last must answer 9000.
func sendChain(t *testing.T, c *cardemu.Card, pieces [][]byte) ([]byte, uint16) {
	t.Helper()
	for i, p := range pieces[:len(pieces)-1] {
		if data, sw := send(t, c, p); sw != 0x9000 || len(data) != 0 {
			t.Fatalf("piece %d of %d: SW %04X, data %X", i+1, len(pieces), sw, data)
		}
	}
	return send(t, c, pieces[len(pieces)-1])
}

func TestOpenPGPSignatureKey(t *testing.T) {
	signKey := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0x5A}, 32))
	signPub := signKey.Public().(ed25519.PublicKey)
	c := cardemu.New(cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{AuthKey: ecKey, SignKey: signKey}})
	expect(t, c, selectOpenPGP, 0x9000)
	dd := tlvs(t, tlvs(t, tlvs(t, expect(t, c, "00 CA 00 6E 00", 0x9000))[0x6E])[0x73])
	if want := apdu(t, "16 2B 06 01 04 01 DA 47 0F 01"); !bytes.Equal(dd[0xC1], want) {
		t.Errorf("C1 %X, want %X (Ed25519)", dd[0xC1], want)
	}
	if want := apdu(t, "13 2A 86 48 CE 3D 03 01 07"); !bytes.Equal(dd[0xC3], want) {
		t.Errorf("C3 %X, want %X (P-256)", dd[0xC3], want)
	}
	if bytes.Equal(dd[0xC5][:20], make([]byte, 20)) || bytes.Equal(dd[0xC5][:20], dd[0xC5][40:]) {
		t.Errorf("C5 %X: want the signature key's own fingerprint", dd[0xC5])
	}
	if !bytes.Equal(dd[0xDE], apdu(t, "01 01 02 00 03 01")) {
		t.Errorf("DE %X", dd[0xDE])
	}
	pk := tlvs(t, tlvs(t, expect(t, c, "00 47 81 00 02 B6 00 00", 0x9000))[0x7F49])
	if !bytes.Equal(pk[0x86], signPub) {
		t.Fatalf("signature public key %X, want %X", pk[0x86], []byte(signPub))
	}
	expect(t, c, "00 47 81 00 02 B8 00 00", 0x6A88)

	for _, n := range []int{1, 255, 256, 300, 16 << 10} {
		msg := bytes.Repeat([]byte{byte(n)}, n)
		pieces := chained(0x2A, 0x9E, 0x9A, msg)
		// Without VERIFY 81: refused, whatever VERIFY 82 says.
		expect(t, c, verifyPW1, 0x9000)
		if _, sw := sendChain(t, c, pieces); sw != 0x6982 {
			t.Fatalf("%d bytes without VERIFY 81: SW %04X", n, sw)
		}
		expect(t, c, "00 20 00 81 06 313233343536", 0x9000)
		expect(t, c, "00 20 00 81", 0x9000)
		sig, sw := sendChain(t, c, pieces)
		if sw != 0x9000 || !ed25519.Verify(signPub, msg, sig) {
			t.Fatalf("%d bytes: SW %04X, signature %X does not verify", n, sw, sig)
		}
		// PW1 is valid for one signature only.
		expect(t, c, "00 20 00 81", 0x63C3)
		if _, sw := sendChain(t, c, pieces); sw != 0x6982 {
			t.Fatalf("second signature without VERIFY: SW %04X", sw)
		}
	}
	if got := tlvs(t, tlvs(t, expect(t, c, "00 CA 00 7A 00", 0x9000))[0x7A])[0x93]; !bytes.Equal(got, []byte{0, 0, 5}) {
		t.Errorf("signature counter %X, want 000005", got)
	}
	expect(t, c, "00 20 00 81 06 313233343536", 0x9000)
	expect(t, c, "00 2A 9E 9A 00", 0x6700)
	expect(t, c, "00 2A 80 86 01 00 00", 0x6A86)
	expect(t, c, "00 20 FF 81", 0x9000)
	expect(t, c, "00 2A 9E 9A 01 00 00", 0x6982)

	// A P-256 signature key signs a digest.
	c = cardemu.New(cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{SignKey: ecKey}})
	expect(t, c, selectOpenPGP, 0x9000)
	dd = tlvs(t, tlvs(t, tlvs(t, expect(t, c, "00 CA 00 6E 00", 0x9000))[0x6E])[0x73])
	if want := apdu(t, "13 2A 86 48 CE 3D 03 01 07"); !bytes.Equal(dd[0xC1], want) || !bytes.Equal(dd[0xC3], want) {
		t.Errorf("C1 %X C3 %X, want P-256 for both", dd[0xC1], dd[0xC3])
	}
	expect(t, c, "00 47 81 00 02 A4 00 00", 0x6A88) // no auth key
	digest := sha256.Sum256([]byte("digest"))
	expect(t, c, "00 20 00 81 06 313233343536", 0x9000)
	checkRawSig(t, ecKey, digest[:], expect(t, c, "00 2A 9E 9A 20 "+hex.EncodeToString(digest[:])+" 00", 0x9000))
}

func TestPIVSlot9C(t *testing.T) {
	signKey := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0x9C}, 32))
	signPub := signKey.Public().(ed25519.PublicKey)
	c := newPIV(ecKey, cardemu.PIVConfig{SignKey: signKey})
	expect(t, c, selectPIV, 0x9000)
	cert := pivCert(t, readChained(t, c, "00 CB 3F FF 05 5C 03 5F C1 0A 00"))
	if !signPub.Equal(cert.PublicKey) {
		t.Fatal("the 5FC10A certificate is not for the slot-9C key")
	}
	if cert9A := pivCert(t, readChained(t, c, "00 CB 3F FF 05 5C 03 5F C1 05 00")); !ecKey.PublicKey.Equal(cert9A.PublicKey) {
		t.Fatal("slot 9A's certificate changed")
	}
	for _, n := range []int{32, 300, 16 << 10} {
		msg := bytes.Repeat([]byte{byte(n >> 3)}, n)
		inner := append([]byte{0x82, 0x00}, derTLV(0x81, msg)...)
		pieces := chained(0x87, 0xE0, 0x9C, derTLV(0x7C, inner))
		expect(t, c, verifyPIV, 0x9000)
		resp, sw := sendChain(t, c, pieces)
		if sw != 0x9000 {
			t.Fatalf("%d bytes: SW %04X", n, sw)
		}
		if sig := tlvs(t, tlvs(t, resp)[0x7C])[0x82]; !ed25519.Verify(signPub, msg, sig) {
			t.Fatalf("%d bytes: signature does not verify", n)
		}
		// PIN policy "always": the next signature needs a VERIFY of its own,
		// while slot 9A stays usable.
		if _, sw := sendChain(t, c, pieces); sw != 0x6982 {
			t.Fatalf("second signature without VERIFY: SW %04X", sw)
		}
		digest := sha256.Sum256(msg)
		expect(t, c, "00 87 11 9A 26 7C 24 82 00 81 20 "+hex.EncodeToString(digest[:])+" 00", 0x9000)
	}
	expect(t, c, verifyPIV, 0x9000)
	expect(t, c, "00 87 11 9C 07 7C 05 82 00 81 01 00 00", 0x6A86) // wrong algorithm for 9C
	expect(t, c, "00 20 FF 80", 0x9000)
	expect(t, c, "00 87 E0 9C 07 7C 05 82 00 81 01 00 00", 0x6982)

	// No slot-9C key: no certificate, no signature.
	c = newPIV(ecKey, cardemu.PIVConfig{})
	expect(t, c, selectPIV, 0x9000)
	expect(t, c, "00 CB 3F FF 05 5C 03 5F C1 0A 00", 0x6A82)
	expect(t, c, verifyPIV, 0x9000)
	expect(t, c, "00 87 E0 9C 07 7C 05 82 00 81 01 00 00", 0x6A88)
}

// derTLV encodes a BER-TLV object with a one-byte tag and a definite length.
func derTLV(tag byte, v []byte) []byte {
	switch n := len(v); {
	case n < 0x80:
		return append([]byte{tag, byte(n)}, v...)
	case n <= 0xFF:
		return append([]byte{tag, 0x81, byte(n)}, v...)
	default:
		return append([]byte{tag, 0x82, byte(n >> 8), byte(n)}, v...)
	}
}

func TestCommandChainBroken(t *testing.T) {
	signKey := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0x77}, 32))
	c := cardemu.New(cardemu.Config{OpenPGP: &cardemu.OpenPGPConfig{SignKey: signKey}})
	expect(t, c, selectOpenPGP, 0x9000)
	msg := bytes.Repeat([]byte{0xAB}, 600)
	pieces := chained(0x2A, 0x9E, 0x9A, msg)
	for _, tc := range []struct {
		name  string
		cut   []byte // sent after the first piece
		wants uint16
	}{
		{"GET DATA", apdu(t, "00 CA 00 C4 00"), 0x6883},
		{"VERIFY", apdu(t, "00 20 00 81 06 313233343536"), 0x6883},
		{"GET RESPONSE", apdu(t, "00 C0 00 00 00"), 0x6883},
		{"other P2", append([]byte{0x10, 0x2A, 0x9E, 0x9B, 0x01}, 0x00), 0x6883},
		{"malformed", apdu(t, "00 2A"), 0x6700},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expect(t, c, "00 20 00 81 06 313233343536", 0x9000)
			expect(t, c, hex.EncodeToString(pieces[0]), 0x9000)
			if _, sw := send(t, c, tc.cut); sw != tc.wants {
				t.Fatalf("SW %04X, want %04X", sw, tc.wants)
			}
			// The chain is gone: its last piece alone is a short message,
			// which the card signs as such (PW1 is still valid).
			last := pieces[len(pieces)-1]
			sig, sw := send(t, c, last)
			if sw != 0x9000 || !ed25519.Verify(signKey.Public().(ed25519.PublicKey), last[5:len(last)-1], sig) {
				t.Fatalf("after the broken chain: SW %04X", sw)
			}
		})
	}
	// CLA 10 on a command that takes no chaining.
	expect(t, c, "10 CA 00 C4 00", 0x6884)
	expect(t, c, "00 CA 00 C4 00", 0x9000)
	// A chain longer than 0xFFFF bytes.
	piece := append([]byte{0x10, 0x2A, 0x9E, 0x9A, 0xFF}, make([]byte, 255)...)
	for i := 0; i < 0xFFFF/255; i++ {
		expect(t, c, hex.EncodeToString(piece), 0x9000)
	}
	expect(t, c, hex.EncodeToString(piece), 0x6700)
	// A reset drops an open chain.
	expect(t, c, hex.EncodeToString(piece), 0x9000)
	c.Reset()
	expect(t, c, selectOpenPGP, 0x9000)
}
