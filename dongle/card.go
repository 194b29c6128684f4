package dongle

import (
	"bytes"
	"compress/gzip"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"io"
)

// Application identifiers.
var (
	aidOpenPGP = []byte{0xD2, 0x76, 0x00, 0x01, 0x24, 0x01}
	aidPIV     = []byte{0xA0, 0x00, 0x00, 0x03, 0x08}
)

// OpenPGP card algorithm attributes (OpenPGP card v3.4 §4.4.3.10).
var (
	oidEd25519 = []byte{0x2B, 0x06, 0x01, 0x04, 0x01, 0xDA, 0x47, 0x0F, 0x01}
	oidP256    = []byte{0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07}
)

const (
	pgpAlgECDSA = 0x13
	pgpAlgEdDSA = 0x16
)

// PIV algorithm references and objects.
const (
	pivAlgP256    = 0x11
	pivAlgEd25519 = 0xE0
	pivSlotAuth   = 0x9A
	pivSlotSign   = 0x9C
)

var (
	pivObjCHUID       = []byte{0x5F, 0xC1, 0x02}
	pivObjCert9A      = []byte{0x5F, 0xC1, 0x05}
	pivObjCert9C      = []byte{0x5F, 0xC1, 0x0A}
	pivObjAttestation = []byte{0x5F, 0xFF, 0x01}
)

// maxCert bounds a (decompressed) certificate.
const maxCert = 8 << 10

// cardInfo is what identification found on a card.
type cardInfo struct {
	kind   Kind
	serial []byte
	alg    Algorithm // 0: no usable key
	pub    []byte    // nil when identify did not read it (full false)
	attest []byte
	tries  int // PIN tries left when identification learnt them, else -1
}

func (c *cardInfo) identity(reader string) *Identity {
	id := &Identity{Reader: reader, Kind: c.kind, Serial: c.serial, Attestation: c.attest}
	if c.alg != 0 {
		id.Algorithm, id.PublicKey, id.CanProve = c.alg, c.pub, true
	}
	return id
}

// selectApplet selects an application by AID; false when the card does
// not have it.
func selectApplet(t transport, aid []byte) (bool, error) {
	_, sw, err := transceive(t, command{0x00, 0xA4, 0x04, 0x00, aid, 256})
	return err == nil && sw == swOK, err
}

// identify reads the identity of the card without a PIN. want 0 picks the
// first of: an OpenPGP applet with a usable authentication key, a PIV
// applet with a usable slot 9A key, an OpenPGP or PIV applet without one
// (identity only), the UID the reader reports. Otherwise it looks for that
// kind only. full reads everything an Identity holds (the public key, a
// PIV token's attestation); without it identify learns only what a proof
// needs, in fewer commands.
func identify(t transport, want Kind, full bool) (*cardInfo, error) {
	var fallback *cardInfo
	if want == 0 || want == KindOpenPGP {
		info, err := identifyOpenPGP(t, full)
		if err != nil {
			return nil, err
		}
		if info != nil && (info.alg != 0 || want == KindOpenPGP) {
			return info, nil
		}
		fallback = info
	}
	if want == 0 || want == KindPIV {
		info, err := identifyPIV(t, full)
		if err != nil {
			return nil, err
		}
		if info != nil && (info.alg != 0 || want == KindPIV) {
			return info, nil
		}
		if fallback == nil {
			fallback = info
		}
	}
	if fallback != nil {
		return fallback, nil
	}
	if want == 0 || want == KindGeneric {
		uid, sw, err := transceive(t, command{0xFF, 0xCA, 0x00, 0x00, nil, 256})
		if err != nil {
			return nil, err
		}
		if sw == swOK && len(uid) > 0 && len(uid) <= MaxSerial {
			return &cardInfo{kind: KindGeneric, serial: uid, tries: -1}, nil
		}
	}
	switch want {
	case KindOpenPGP:
		return nil, causef(ErrUnsupportedCard, "no OpenPGP applet")
	case KindPIV:
		return nil, causef(ErrUnsupportedCard, "no PIV applet with a serial number")
	case KindGeneric:
		return nil, causef(ErrUnsupportedCard, "the reader reports no card UID")
	}
	return nil, causef(ErrUnsupportedCard, "no OpenPGP or PIV applet, and the reader reports no card UID")
}

// identifyOpenPGP: nil, nil when the card has no OpenPGP applet.
func identifyOpenPGP(t transport, full bool) (*cardInfo, error) {
	info, ard, err := openPGPApplet(t)
	if info == nil {
		return nil, err
	}
	c3, ok := searchTLV(ard, 0xC3, 3)
	if !ok {
		return info, nil
	}
	alg := parseOpenPGPAlgorithm(c3)
	if alg == 0 {
		return info, nil
	}
	if !full {
		// A proof needs the algorithm, and a key: its fingerprint says
		// there is one, without reading the key.
		if c5, ok := searchTLV(ard, 0xC5, 3); ok && len(c5) == 60 && !bytes.Equal(c5[40:], make([]byte, 20)) {
			info.alg = alg
			return info, nil
		}
	}
	pub, err := readOpenPGPKey(t, pgpKeyAuth, alg)
	if err != nil {
		return nil, err
	}
	if pub != nil {
		info.alg, info.pub = alg, pub
	}
	return info, nil
}

// openPGPApplet selects the OpenPGP applet and reads its application
// related data (6E), which holds the AID (4F), the algorithm attributes
// (C1 signature, C3 authentication key), the PIN status (C4) and the key
// fingerprints (C5). It returns the card's kind, serial and PIN tries, and
// the data; nil info when the card has no OpenPGP applet.
func openPGPApplet(t transport) (*cardInfo, []byte, error) {
	if ok, err := selectApplet(t, aidOpenPGP); !ok {
		return nil, nil, err
	}
	ard, sw, err := transceive(t, command{0x00, 0xCA, 0x00, 0x6E, nil, 256})
	if err != nil {
		return nil, nil, err
	}
	if sw != swOK {
		ard = nil
	}
	aid, ok := searchTLV(ard, 0x4F, 2)
	if !ok {
		if aid, sw, err = transceive(t, command{0x00, 0xCA, 0x00, 0x4F, nil, 256}); err != nil {
			return nil, nil, err
		}
		if sw != swOK {
			return nil, nil, nil
		}
	}
	if len(aid) < 14 || !bytes.HasPrefix(aid, aidOpenPGP) {
		return nil, nil, nil
	}
	info := &cardInfo{kind: KindOpenPGP, serial: bytes.Clone(aid[8:14]), tries: -1}
	if c4, ok := searchTLV(ard, 0xC4, 3); ok && len(c4) >= 7 {
		info.tries = int(c4[4])
	}
	return info, ard, nil
}

// OpenPGP key references (control reference templates) for GENERATE
// ASYMMETRIC KEY PAIR.
const (
	pgpKeySign = 0xB6
	pgpKeyAuth = 0xA4
)

// readOpenPGPKey reads a public key (GENERATE ASYMMETRIC KEY PAIR in
// "read" mode, 00 47 81 00 with the key's CRT); nil when the slot is empty
// or its key is not of alg.
func readOpenPGPKey(t transport, crt byte, alg Algorithm) ([]byte, error) {
	resp, sw, err := transceive(t, command{0x00, 0x47, 0x81, 0x00, []byte{crt, 0x00}, 256})
	if err != nil || sw != swOK {
		return nil, err
	}
	return parseOpenPGPPublicKey(alg, resp), nil
}

// parseOpenPGPAlgorithm reads algorithm attributes (DO C1 or C3): algorithm id,
// curve OID, optional import-format byte.
func parseOpenPGPAlgorithm(attr []byte) Algorithm {
	if len(attr) < 2 {
		return 0
	}
	id, oid := attr[0], attr[1:]
	if n := len(oid); n > 1 && (oid[n-1] == 0xFF || oid[n-1] == 0x00) {
		oid = oid[:n-1] // import format; an OID never ends with 00 or FF
	}
	switch {
	case id == pgpAlgEdDSA && bytes.Equal(oid, oidEd25519):
		return AlgEd25519
	case id == pgpAlgECDSA && bytes.Equal(oid, oidP256):
		return AlgP256
	}
	return 0
}

// parseOpenPGPPublicKey reads 7F49 { 86 point } and checks the point.
func parseOpenPGPPublicKey(alg Algorithm, resp []byte) []byte {
	pt, ok := findTLV(resp, 0x7F49, 0x86)
	if !ok {
		if pt, ok = searchTLV(resp, 0x86, 2); !ok {
			return nil
		}
	}
	if alg == AlgEd25519 && len(pt) == 33 && pt[0] == 0x40 {
		pt = pt[1:] // OpenPGP's native-point prefix
	}
	if checkPublicKey(alg, pt) != nil {
		return nil
	}
	return bytes.Clone(pt)
}

// identifyPIV: nil, nil when the card has no PIV applet or no serial.
// The slot-9A key is learnt, in this order, from GET METADATA (YubiKey 5.3
// and later: the key itself, whether or not a certificate was stored,
// which `ykman piv keys generate` does not do), from the slot's
// certificate, and last from the attestation (older YubiKeys without a
// certificate). full also reads the attestation for the Identity; without
// it ATTEST is sent only when nothing else names the key.
func identifyPIV(t transport, full bool) (*cardInfo, error) {
	info, err := pivApplet(t)
	if info == nil {
		return nil, err
	}
	alg, pub, known, err := pivMetadata(t, pivSlotAuth)
	if err != nil {
		return nil, err
	}
	if known {
		info.alg, info.pub = alg, pub
	} else {
		obj, err := pivGetObject(t, pivObjCert9A)
		if err != nil {
			return nil, err
		}
		if cert := parsePIVCertObject(obj); cert != nil {
			info.alg, info.pub = certKey(cert)
		}
	}
	if full || (!known && info.alg == 0) {
		if info.attest, err = pivAttestation(t); err != nil {
			return nil, err
		}
	}
	if !known && info.alg == 0 && info.attest != nil {
		info.alg, info.pub = certKey(leafDER(info.attest))
	}
	if !full {
		info.attest = nil
	}
	return info, nil
}

// pivMetadata asks a YubiKey (5.3 and later) for a slot's key with GET
// METADATA (00 F7 00 slot): 01 algorithm, 02 PIN and touch policy, 03
// origin, 04 public key (86 the EC point or the Ed25519 key). known is
// false when the card does not have the command (6D00, or an answer that
// cannot be read), so the caller falls back to the certificate; it is true
// with alg 0 when the card says the slot is empty or holds a key airlock
// cannot use (RSA, P-384, X25519).
func pivMetadata(t transport, slot byte) (alg Algorithm, pub []byte, known bool, err error) {
	resp, sw, err := transceive(t, command{0x00, 0xF7, 0x00, slot, nil, 256})
	if err != nil {
		return 0, nil, false, err
	}
	switch sw {
	case swOK:
	case swRefNotFound, swNotFound:
		return 0, nil, true, nil // an empty slot
	default:
		return 0, nil, false, nil
	}
	a, ok := findTLV(resp, 0x01)
	if !ok || len(a) != 1 {
		return 0, nil, false, nil
	}
	switch a[0] {
	case pivAlgP256:
		alg = AlgP256
	case pivAlgEd25519:
		alg = AlgEd25519
	default:
		return 0, nil, true, nil
	}
	key, ok := findTLV(resp, 0x04)
	if !ok {
		return 0, nil, false, nil
	}
	pt, ok := findTLV(key, 0x86)
	if !ok || checkPublicKey(alg, pt) != nil {
		return 0, nil, false, nil
	}
	return alg, bytes.Clone(pt), true, nil
}

// pivApplet selects the PIV applet and reads the serial: GET SERIAL, else
// the CHUID's GUID. nil info when the card has no PIV applet or no serial.
func pivApplet(t transport) (*cardInfo, error) {
	if ok, err := selectApplet(t, aidPIV); !ok {
		return nil, err
	}
	info := &cardInfo{kind: KindPIV, tries: -1}
	serial, sw, err := transceive(t, command{0x00, 0xF8, 0x00, 0x00, nil, 256})
	if err != nil {
		return nil, err
	}
	if sw == swOK && len(serial) == 4 {
		info.serial = serial
	} else {
		chuid, err := pivGetObject(t, pivObjCHUID)
		if err != nil {
			return nil, err
		}
		if guid, ok := findTLV(chuid, 0x34); ok && len(guid) == 16 && !bytes.Equal(guid, make([]byte, 16)) {
			info.serial = bytes.Clone(guid)
		}
	}
	if info.serial == nil {
		return nil, nil
	}
	return info, nil
}

// pivGetObject reads a PIV data object and returns the contents of its
// 53 template; nil when the object is absent.
func pivGetObject(t transport, id []byte) ([]byte, error) {
	data := append([]byte{0x5C, byte(len(id))}, id...)
	resp, sw, err := transceive(t, command{0x00, 0xCB, 0x3F, 0xFF, data, 256})
	if err != nil || sw != swOK {
		return nil, err
	}
	v, ok := findTLV(resp, 0x53)
	if !ok {
		return nil, nil
	}
	return v, nil
}

// parsePIVCertObject returns the DER certificate of a certificate object
// (70 cert, 71 info: bit 0 set means gzip-compressed), nil when absent or
// malformed.
func parsePIVCertObject(obj []byte) []byte {
	cert, ok := findTLV(obj, 0x70)
	if !ok || len(cert) == 0 {
		return nil
	}
	if info, ok := findTLV(obj, 0x71); ok && len(info) == 1 && info[0]&1 != 0 {
		zr, err := gzip.NewReader(bytes.NewReader(cert))
		if err != nil {
			return nil
		}
		out, err := io.ReadAll(io.LimitReader(zr, maxCert+1))
		if err != nil || len(out) > maxCert {
			return nil
		}
		return out
	}
	if len(cert) > maxCert {
		return nil
	}
	return bytes.Clone(cert)
}

// certKey returns the algorithm and public key of a DER certificate; 0
// when the certificate is malformed or its key is not Ed25519 or P-256.
func certKey(der []byte) (Algorithm, []byte) {
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return 0, nil
	}
	switch pub := cert.PublicKey.(type) {
	case ed25519.PublicKey:
		return AlgEd25519, bytes.Clone(pub)
	case *ecdsa.PublicKey:
		if pub.Curve != elliptic.P256() {
			return 0, nil
		}
		pt, err := pub.Bytes()
		if err != nil {
			return 0, nil
		}
		return AlgP256, pt
	}
	return 0, nil
}

// pivAttestation asks a YubiKey to attest slot 9A. It returns the
// attestation certificate, followed by the attestation (F9) certificate
// when both fit in MaxAttestation; nil when the token cannot attest.
func pivAttestation(t transport) ([]byte, error) {
	leaf, sw, err := transceive(t, command{0x00, 0xF9, pivSlotAuth, 0x00, nil, 256})
	if err != nil {
		return nil, err
	}
	if sw != swOK || len(leaf) > MaxAttestation {
		return nil, nil
	}
	if _, err := x509.ParseCertificate(leaf); err != nil {
		return nil, nil
	}
	obj, err := pivGetObject(t, pivObjAttestation)
	if err != nil {
		return nil, err
	}
	if inter := parsePIVCertObject(obj); inter != nil && len(leaf)+len(inter) <= MaxAttestation {
		if _, err := x509.ParseCertificate(inter); err == nil {
			return append(leaf, inter...), nil
		}
	}
	return leaf, nil
}

// leafDER returns the first DER object of b (the leaf certificate of an
// Identity.Attestation).
func leafDER(b []byte) []byte {
	objs, err := parseTLV(b)
	if err != nil || len(objs) == 0 {
		return b
	}
	return objs[0].encode()
}

// pinStatus returns the PIN tries left, -1 when the card does not say.
// OpenPGP: PW status bytes (DO C4), byte 5; PIV: VERIFY without data.
func pinStatus(t transport, kind Kind) (int, error) {
	switch kind {
	case KindOpenPGP:
		data, sw, err := transceive(t, command{0x00, 0xCA, 0x00, 0xC4, nil, 256})
		if err != nil {
			return -1, err
		}
		if sw == swOK && len(data) >= 7 {
			return int(data[4]), nil
		}
	case KindPIV:
		_, sw, err := transceive(t, command{0x00, 0x20, 0x00, 0x80, nil, noLe})
		if err != nil {
			return -1, err
		}
		switch {
		case sw&0xFFF0 == 0x63C0:
			return int(sw & 0x0F), nil
		case sw == swBlocked:
			return 0, nil
		}
	}
	return -1, nil
}

// checkTries refuses to spend a PIN try when too few are left.
func checkTries(tries, minTries int) error {
	switch {
	case tries == 0:
		return ErrPINBlocked
	case tries > 0 && tries < minTries:
		return causef(ErrTooFewTries, "%d left, at least %d wanted", tries, minTries)
	}
	return nil
}

// checkPINLength checks a PIN's length before anything is sent.
func checkPINLength(kind Kind, pin []byte) error {
	switch kind {
	case KindOpenPGP:
		if len(pin) < 6 || len(pin) > 127 {
			return causef(ErrInvalidPIN, "%d characters, an OpenPGP user PIN has 6 to 127", len(pin))
		}
	case KindPIV:
		if len(pin) < 6 || len(pin) > 8 {
			return causef(ErrInvalidPIN, "%d characters, a PIV PIN has 6 to 8", len(pin))
		}
	}
	return nil
}

// PIN references for VERIFY (P2): the OpenPGP user PIN PW1 for PSO:CDS
// (81) and for other commands (82), the PIV application PIN (80).
const (
	pinPW1Sign = 0x81
	pinPW1     = 0x82
	pinPIV     = 0x80
)

// pinRef is the PIN reference of a card kind: for a signature (PSO:CDS) or
// for anything else.
func pinRef(kind Kind, signing bool) byte {
	switch {
	case kind == KindPIV:
		return pinPIV
	case signing:
		return pinPW1Sign
	}
	return pinPW1
}

// verifyPIN presents the user PIN for a proof: OpenPGP PW1 for other
// commands (82), PIV the application PIN (80).
func verifyPIN(t transport, kind Kind, pin []byte) error {
	return verifyPINRef(t, kind, pinRef(kind, false), pin)
}

// verifyPINRef presents the user PIN under reference ref; a PIV PIN is
// padded with FF to 8 bytes.
func verifyPINRef(t transport, kind Kind, ref byte, pin []byte) error {
	if err := checkPINLength(kind, pin); err != nil {
		return err
	}
	cmd := command{0x00, 0x20, 0x00, ref, pin, noLe}
	if kind == KindOpenPGP {
		// A card with a KDF-DO wants the PIN's hash: read how, and refuse
		// before sending anything when the scheme is unknown.
		kdf, err := readKDF(t)
		if err != nil {
			return err
		}
		if kdf != nil {
			hashed := kdf.derive(pin)
			defer clear(hashed)
			cmd = command{0x00, 0x20, 0x00, ref, hashed, noLe}
		}
	}
	if kind == KindPIV {
		padded := bytes.Repeat([]byte{0xFF}, 8)
		copy(padded, pin)
		defer clear(padded)
		cmd = command{0x00, 0x20, 0x00, ref, padded, noLe}
	}
	_, sw, err := transceiveSecret(t, cmd)
	if err != nil {
		return err
	}
	switch {
	case sw == swOK:
		return nil
	case sw&0xFFF0 == 0x63C0:
		return &PINError{TriesLeft: int(sw & 0x0F)}
	case sw == swBlocked:
		return ErrPINBlocked
	case sw == swWrongData || sw == swWrongLength:
		return cause(ErrInvalidPIN, &swError{"VERIFY", sw})
	}
	return cause(ErrUnsupportedCard, &swError{"VERIFY", sw})
}

// forgetPIN asks the card to drop the PIN verification (VERIFY with P1
// FF, OpenPGP card v3 and PIV). It reports whether the card did.
func forgetPIN(t transport, kind Kind) bool {
	return forgetPINRef(t, pinRef(kind, false))
}

// forgetPINRef is forgetPIN for the PIN reference ref.
func forgetPINRef(t transport, ref byte) bool {
	_, sw, err := transceive(t, command{0x00, 0x20, 0xFF, ref, nil, noLe})
	return err == nil && sw == swOK
}

// authenticate has the card sign challenge with its proof key: OpenPGP
// INTERNAL AUTHENTICATE, PIV GENERAL AUTHENTICATE with slot 9A. Ed25519
// signs the challenge, P-256 its SHA-256 digest. The signature comes back
// as Ed25519's 64 bytes or P-256's r||s.
func authenticate(t transport, info *cardInfo, challenge []byte) ([]byte, error) {
	data := challenge
	if info.alg == AlgP256 {
		d := sha256.Sum256(challenge)
		data = d[:]
	}
	var cmd command
	switch info.kind {
	case KindOpenPGP:
		cmd = command{0x00, 0x88, 0x00, 0x00, data, 256}
	case KindPIV:
		alg := byte(pivAlgP256)
		if info.alg == AlgEd25519 {
			alg = pivAlgEd25519
		}
		tmpl := append(newTLV(0x82, nil).encode(), newTLV(0x81, data).encode()...)
		cmd = command{0x00, 0x87, alg, pivSlotAuth, newTLV(0x7C, tmpl).encode(), 256}
	default:
		return nil, causef(ErrUnsupportedCard, "a %s card cannot prove", info.kind)
	}
	resp, sw, err := transceive(t, cmd)
	if err != nil {
		return nil, err
	}
	switch sw {
	case swOK:
	case swSecurity:
		// The PIN was verified in this transaction, so the card was reset
		// under us (another program, or a power glitch).
		return nil, causef(ErrRemoved, "the card forgot the PIN verification (%04X to %s)", sw, cmd)
	default:
		return nil, cause(ErrUnsupportedCard, &swError{cmd.String(), sw})
	}
	if info.kind == KindPIV {
		sig, ok := findTLV(resp, 0x7C, 0x82)
		if !ok {
			return nil, causef(ErrUnsupportedCard, "GENERAL AUTHENTICATE answer without a signature")
		}
		resp = sig
	}
	return parseSignature(info.alg, resp)
}

// parseSignature normalises a card's signature: Ed25519 64 bytes; P-256
// r||s, converted from DER when the card answers DER.
func parseSignature(alg Algorithm, sig []byte) ([]byte, error) {
	switch {
	case alg == AlgEd25519 && len(sig) == ed25519.SignatureSize:
		return bytes.Clone(sig), nil
	case alg == AlgP256 && len(sig) == 64:
		return bytes.Clone(sig), nil
	case alg == AlgP256:
		if raw, ok := derToRaw(sig); ok {
			return raw, nil
		}
	}
	return nil, causef(ErrUnsupportedCard, "malformed %s signature of %d bytes from the card", alg, len(sig))
}
