package dongle

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"
)

func signP256(tb testing.TB, k *ecdsa.PrivateKey, challenge []byte) []byte {
	d := sha256.Sum256(challenge)
	der, err := ecdsa.SignASN1(rand.Reader, k, d[:])
	if err != nil {
		tb.Fatal(err)
	}
	raw, ok := derToRaw(der)
	if !ok {
		tb.Fatal("derToRaw")
	}
	return raw
}

func TestVerifyProof(t *testing.T) {
	challenge, err := Challenge(nil, []byte("activation 1"))
	if err != nil {
		t.Fatal(err)
	}
	other := append(bytes.Clone(challenge[:31]), challenge[31]^1)
	ed := testEd25519("verify")
	edPub := []byte(ed.Public().(ed25519.PublicKey))
	edSig := ed25519.Sign(ed, challenge)
	p := testP256(t, "verify")
	pPub := p256Point(t, p)
	pSig := signP256(t, p, challenge)
	pOther := p256Point(t, testP256(t, "other"))

	if err := VerifyProof(AlgEd25519, edPub, challenge, edSig); err != nil {
		t.Fatalf("ed25519: %v", err)
	}
	if err := VerifyProof(AlgP256, pPub, challenge, pSig); err != nil {
		t.Fatalf("p256: %v", err)
	}
	bad := []struct {
		name         string
		alg          Algorithm
		pub, ch, sig []byte
	}{
		{"ed25519 other challenge", AlgEd25519, edPub, other, edSig},
		{"ed25519 other key", AlgEd25519, []byte(testEd25519("x").Public().(ed25519.PublicKey)), challenge, edSig},
		{"ed25519 short sig", AlgEd25519, edPub, challenge, edSig[:63]},
		{"ed25519 key as p256", AlgP256, edPub, challenge, edSig},
		{"p256 other challenge", AlgP256, pPub, other, pSig},
		{"p256 other key", AlgP256, pOther, challenge, pSig},
		{"p256 DER sig", AlgP256, pPub, challenge, mustDER(t, pSig)},
		{"p256 zero sig", AlgP256, pPub, challenge, make([]byte, 64)},
		{"p256 compressed key", AlgP256, append([]byte{2}, pPub[1:33]...), challenge, pSig},
		{"p256 off curve", AlgP256, append([]byte{4}, make([]byte, 64)...), challenge, pSig},
		{"unknown alg", 9, edPub, challenge, edSig},
		{"no key", AlgEd25519, nil, challenge, edSig},
	}
	for _, tt := range bad {
		if err := VerifyProof(tt.alg, tt.pub, tt.ch, tt.sig); !errors.Is(err, ErrProof) {
			t.Errorf("%s: %v, want ErrProof", tt.name, err)
		}
	}
}

func mustDER(tb testing.TB, raw []byte) []byte {
	der, ok := rawToDER(raw)
	if !ok {
		tb.Fatal("rawToDER")
	}
	return der
}

func TestSignatureConversion(t *testing.T) {
	for _, raw := range [][]byte{
		bytes.Repeat([]byte{0xFF}, 64),                                      // high bits: a 0 byte in DER
		append(make([]byte, 31), append([]byte{1}, make([]byte, 32)...)...), // short r, s = 0
		append(bytes.Repeat([]byte{0x01}, 32), bytes.Repeat([]byte{0x80}, 32)...),
	} {
		der, ok := rawToDER(raw)
		if !ok {
			t.Fatalf("rawToDER(%X)", raw)
		}
		back, ok := derToRaw(der)
		if !ok || !bytes.Equal(back, raw) {
			t.Fatalf("%X -> %X -> %X", raw, der, back)
		}
	}
	for _, bad := range []string{"", "3000", "30030201FF", "3006020101020101FF", "3006020180020101", "302302210100" + hexRepeat("00", 32) + "020101"} {
		b, _ := hex.DecodeString(bad)
		if raw, ok := derToRaw(b); ok {
			t.Errorf("derToRaw(%s) = %X, want failure", bad, raw)
		}
	}
}

func hexRepeat(s string, n int) string { return string(bytes.Repeat([]byte(s), n)) }

func TestChallenge(t *testing.T) {
	nonce := bytes.Repeat([]byte{0x42}, 32)
	got, err := Challenge(bytes.NewReader(nonce), []byte("ctx"))
	if err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256(append([]byte("airlock hardware key proof v1\x00ctx"), nonce...))
	if !bytes.Equal(got, want[:]) || len(got) != ChallengeSize {
		t.Fatalf("Challenge = %X, want %X", got, want)
	}
	// Known answer, for other implementations.
	if h := hex.EncodeToString(got); h != hex.EncodeToString(want[:]) {
		t.Fatal(h)
	}
	a, _ := Challenge(nil, []byte("ctx"))
	b, _ := Challenge(nil, []byte("ctx"))
	if bytes.Equal(a, b) {
		t.Fatal("two challenges are equal")
	}
	if _, err := Challenge(bytes.NewReader(nonce[:31]), nil); err == nil {
		t.Fatal("short randomness accepted")
	}
}

func TestWirePublicKey(t *testing.T) {
	edPub := []byte(testEd25519("w").Public().(ed25519.PublicKey))
	pPub := p256Point(t, testP256(t, "w"))
	for _, tc := range []struct {
		alg Algorithm
		pub []byte
	}{{AlgEd25519, edPub}, {AlgP256, pPub}} {
		id := &Identity{Kind: KindOpenPGP, Algorithm: tc.alg, PublicKey: tc.pub, CanProve: true}
		w := id.WirePublicKey()
		if len(w) != 1+len(tc.pub) || w[0] != byte(tc.alg) {
			t.Fatalf("wire %X", w)
		}
		alg, pub, err := ParseWirePublicKey(w)
		if err != nil || alg != tc.alg || !bytes.Equal(pub, tc.pub) {
			t.Fatalf("parse: %v %X %v", alg, pub, err)
		}
		w[1] ^= 0xFF
		if bytes.Equal(pub, w[1:]) {
			t.Fatal("parsed key aliases its input")
		}
	}
	if w := (&Identity{Kind: KindGeneric, Serial: []byte{1}}).WirePublicKey(); w != nil {
		t.Fatalf("generic card: %X", w)
	}
	for _, bad := range [][]byte{nil, {1}, {0}, append([]byte{3}, edPub...), append([]byte{1}, edPub[:31]...),
		append([]byte{2}, edPub...), append([]byte{2}, append([]byte{4}, make([]byte, 64)...)...)} {
		if _, _, err := ParseWirePublicKey(bad); !errors.Is(err, ErrBadPublicKey) {
			t.Errorf("ParseWirePublicKey(%X) = %v", bad, err)
		}
	}
}

func TestIdentityStrings(t *testing.T) {
	tests := []struct {
		id   Identity
		want string
	}{
		{Identity{Kind: KindOpenPGP, Serial: []byte{0xFF, 0xFE, 0x0A, 0x0B, 0x0C, 0x0D}, Algorithm: AlgEd25519, CanProve: true, Reader: "R"},
			`openpgp card FFFE 0A0B0C0D (ed25519) in reader "R"`},
		{Identity{Kind: KindPIV, Serial: []byte{0x00, 0xBC, 0x61, 0x4E}, Algorithm: AlgP256, CanProve: true},
			`piv card 12345678 (p256)`},
		{Identity{Kind: KindGeneric, Serial: []byte{0x04, 0xA1}}, `generic card 04A1 (identity only)`},
	}
	for _, tt := range tests {
		if got := tt.id.String(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
	if Kind(9).String() != "kind(9)" || Algorithm(9).String() != "alg(9)" {
		t.Error("unknown values")
	}
}

func BenchmarkVerifyProof(b *testing.B) {
	challenge, _ := Challenge(nil, []byte("bench"))
	b.Run("ed25519", func(b *testing.B) {
		k := testEd25519("bench")
		pub, sig := []byte(k.Public().(ed25519.PublicKey)), ed25519.Sign(k, challenge)
		for b.Loop() {
			if err := VerifyProof(AlgEd25519, pub, challenge, sig); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("p256", func(b *testing.B) {
		k := testP256(b, "bench")
		pub, sig := p256Point(b, k), signP256(b, k, challenge)
		for b.Loop() {
			if err := VerifyProof(AlgP256, pub, challenge, sig); err != nil {
				b.Fatal(err)
			}
		}
	})
}
