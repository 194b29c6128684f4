package dongle

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"hash"
)

// OpenPGP card KDF-DO (OpenPGP card v3.4 §4.3.2, DO F9): a card set up with
// `gpg --card-edit` → `kdf-setup` (YubiKey 5.2.3+, Nitrokey 3, Gnuk)
// stores a hash of each PIN, and VERIFY expects that hash instead of the
// PIN. The DO (readable without a PIN) says how to compute it:
//
//	81 01 algorithm: 00 none, 03 KDF_ITERSALTED_S2K
//	82 01 hash algorithm: 08 SHA-256, 0A SHA-512
//	83 04 iteration count: the number of octets hashed (big endian)
//	84 08 salt of the user PIN (PW1); 85 of the reset code; 86 of PW3
//	87    initial hash of PW1; 88 of PW3
//
// The hash is RFC 4880 §3.7.1.3's iterated and salted S2K: the hash of
// salt || PIN repeated until count octets (at least one full copy) have
// been hashed, the digest's full length.
const (
	kdfNone          = 0x00
	kdfIterSaltedS2K = 0x03
	kdfSHA256        = 0x08
	kdfSHA512        = 0x0A
	maxKDFCount      = 1 << 26 // 64 MiB of hashing; cards use about 16 MiB at most
)

// pinKDF is what a card's KDF-DO asks for.
type pinKDF struct {
	alg   byte
	hash  byte
	count uint32
	salt  []byte // the user PIN's salt
}

// readKDF reads the OpenPGP applet's KDF-DO (GET DATA 00 CA 00 F9), with
// the applet selected. nil when the card has no KDF-DO or it says "none"
// (the PIN is sent as it is). A KDF-DO that names an unknown scheme is
// ErrPINScheme: nothing may be sent, since the card would count the raw
// PIN as a wrong one.
func readKDF(t transport) (*pinKDF, error) {
	resp, sw, err := transceive(t, command{0x00, 0xCA, 0x00, 0xF9, nil, 256})
	if err != nil {
		return nil, err
	}
	if sw != swOK || len(resp) == 0 {
		return nil, nil
	}
	if v, ok := findTLV(resp, 0xF9); ok {
		resp = v // some cards wrap the DO in its own tag
	}
	a, ok := findTLV(resp, 0x81)
	if !ok || len(a) != 1 {
		return nil, causef(ErrPINScheme, "the card's KDF-DO (F9) names no algorithm")
	}
	if a[0] == kdfNone {
		return nil, nil
	}
	if a[0] != kdfIterSaltedS2K {
		return nil, causef(ErrPINScheme, "KDF algorithm %02X (only 03, ITERSALTED_S2K, is known)", a[0])
	}
	k := &pinKDF{alg: a[0]}
	h, ok := findTLV(resp, 0x82)
	if !ok || len(h) != 1 || (h[0] != kdfSHA256 && h[0] != kdfSHA512) {
		return nil, causef(ErrPINScheme, "ITERSALTED_S2K with an unknown hash algorithm (only 08, SHA-256, and 0A, SHA-512, are known)")
	}
	k.hash = h[0]
	c, ok := findTLV(resp, 0x83)
	if !ok || len(c) != 4 {
		return nil, causef(ErrPINScheme, "ITERSALTED_S2K without an iteration count")
	}
	k.count = binary.BigEndian.Uint32(c)
	if k.count > maxKDFCount {
		return nil, causef(ErrPINScheme, "ITERSALTED_S2K iteration count %d is above airlock's limit of %d", k.count, maxKDFCount)
	}
	s, ok := findTLV(resp, 0x84)
	if !ok || len(s) == 0 || len(s) > 64 {
		return nil, causef(ErrPINScheme, "ITERSALTED_S2K without a salt for the user PIN")
	}
	k.salt = append([]byte(nil), s...)
	return k, nil
}

// derive returns what VERIFY must carry for pin.
func (k *pinKDF) derive(pin []byte) []byte {
	return iterSaltedS2K(k.hash, k.salt, pin, k.count)
}

// iterSaltedS2K is RFC 4880's iterated and salted S2K with one hash
// context: salt || pass fed repeatedly until count octets, never less than
// one whole copy.
func iterSaltedS2K(hashAlg byte, salt, pass []byte, count uint32) []byte {
	var h hash.Hash
	if hashAlg == kdfSHA512 {
		h = sha512.New()
	} else {
		h = sha256.New()
	}
	unit := make([]byte, 0, len(salt)+len(pass))
	unit = append(append(unit, salt...), pass...)
	defer clear(unit)
	n := max(int(count), len(unit))
	for n > 0 {
		m := min(n, len(unit))
		h.Write(unit[:m])
		n -= m
	}
	return h.Sum(nil)
}
