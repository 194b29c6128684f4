package cardemu

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/binary"
	"math/big"
	"math/bits"
)

// OpenPGPConfig describes the OpenPGP applet (OpenPGP card v3.4).
type OpenPGPConfig struct {
	Manufacturer uint16        // in the AID; 0xFFFE and 0xFFFF are the test ranges
	Serial       uint32        // in the AID
	AuthKey      crypto.Signer // authentication key: ed25519.PrivateKey or *ecdsa.PrivateKey (P-256); nil: empty slot
	SignKey      crypto.Signer // signature key (PSO:CDS): ed25519.PrivateKey or *ecdsa.PrivateKey (P-256); nil: empty slot
	PIN          string        // user PIN (PW1); "" means "123456"
	Tries        int           // PW1 retry counter; 0 means 3
	// TriesLeft starts the card with fewer tries than Tries (a PIN one
	// try from blocked); 0 means Tries.
	TriesLeft int
	// KDF, when set, is the card's KDF-DO (DO F9) as `gpg --card-edit` →
	// `kdf-setup` leaves it: VERIFY then expects the PIN's hash, and the
	// raw PIN counts as a wrong one.
	KDF *KDFConfig
	// AttestationKey enables YubiKey OpenPGP attestation (firmware 5.2+):
	// GET ATTESTATION (80 FB 01|02|03 00), after PW1, writes a
	// certificate for that key, signed by AttestationKey and issued by
	// AttestationCert (a self-signed one when nil), into the key's
	// cardholder certificate (DO 7F21, chosen with SELECT DATA); GET DATA
	// FC reads AttestationCert. The certificate carries Yubico's OpenPGP
	// extensions: serial (.5.7), key source (.5.2: generated, or imported
	// with Imported), firmware (.5.3).
	AttestationKey  crypto.Signer
	AttestationCert []byte
	Imported        bool
	// RefuseForget makes VERIFY with P1 FF (forget the verification)
	// answer 6A86, as OpenPGP cards before v3 do.
	RefuseForget bool
}

// KDFConfig is an OpenPGP card's KDF-DO (OpenPGP card v3.4 §4.3.2).
type KDFConfig struct {
	Algorithm  byte   // 03 KDF_ITERSALTED_S2K; anything else is stored as it is (the card then wants the raw PIN)
	Hash       byte   // 08 SHA-256, 0A SHA-512
	Iterations uint32 // octets hashed; gpg's kdf-setup uses its s2k count (about 65011712)
	Salt       []byte // the user PIN's salt (8 bytes)
}

// OpenPGP object identifiers and algorithm IDs (RFC 9580, OpenPGP card v3.4 §4.4.3.10).
var (
	oidEd25519   = []byte{0x2B, 0x06, 0x01, 0x04, 0x01, 0xDA, 0x47, 0x0F, 0x01}
	oidCv25519   = []byte{0x2B, 0x06, 0x01, 0x04, 0x01, 0x97, 0x55, 0x01, 0x05, 0x01}
	oidP256      = []byte{0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07}
	attrsRSA2048 = []byte{0x01, 0x08, 0x00, 0x00, 0x20, 0x00} // a blank card's default
)

const (
	algECDH  = 0x12
	algECDSA = 0x13
	algEdDSA = 0x16
)

// keyCreated is the creation time in the key's fingerprint and in DO CD
// (2024-01-01T00:00:00Z), fixed so fingerprints are reproducible.
const keyCreated = 1704067200

type openPGP struct {
	aid      []byte // 16 bytes
	hist     []byte // historical bytes, for DO 5F52
	pin      []byte
	tries    int
	maxTries int
	pw81     bool // PW1 verified for PSO:CDS (valid for one signature)
	pw82     bool // PW1 verified for other commands (INTERNAL AUTHENTICATE)
	auth     cardKey
	fpr      []byte // v4 fingerprint of the auth key, 20 bytes (zero when absent)
	sign     cardKey
	sigFpr   []byte // v4 fingerprint of the signature key, 20 bytes (zero when absent)
	sigCount uint32 // digital signature counter (DO 93 in 7A)
	kdf      []byte // KDF-DO contents; nil: none
	refuseFF bool
	attrSet  [3][]byte // algorithm attributes written with PUT DATA C1, C2, C3 (key-attr); nil: derived from the keys
	decPoint []byte    // a decryption key generated on the card (public part only: decryption is not emulated)
	decFpr   []byte    // its fingerprint (20 bytes) as gpg wrote it
	times    [3][]byte // key generation times written with PUT DATA CE, CF, D0
	yubiKey  bool      // the card is a YubiKey (Config.YubiKey): its limits apply
	serial   uint32
	attKey   crypto.Signer
	attCert  []byte
	imported bool
	chCerts  [3][]byte // cardholder certificates (7F21): occurrence 0 AUT, 1 DEC, 2 SIG
	chSel    int       // the occurrence SELECT DATA chose
	pw1Multi bool      // PW1 stays valid for several PSO:CDS (PW status byte 1 = 01, PUT DATA C4)
	admin    []byte    // PW3 as the card compares it (its hash under a KDF-DO)
	adminTry int       // PW3 tries left
	pw83     bool      // PW3 verified
}

func newOpenPGP(cfg OpenPGPConfig, hist []byte) *openPGP {
	p := &openPGP{hist: hist, pin: []byte(cfg.PIN), maxTries: cfg.Tries}
	if len(p.pin) == 0 {
		p.pin = []byte("123456")
	}
	if p.maxTries <= 0 {
		p.maxTries = 3
	}
	p.tries = p.maxTries
	if cfg.TriesLeft > 0 && cfg.TriesLeft < p.maxTries {
		p.tries = cfg.TriesLeft
	}
	p.refuseFF = cfg.RefuseForget
	p.serial, p.imported = cfg.Serial, cfg.Imported
	if cfg.AttestationKey != nil {
		newCardKey(cfg.AttestationKey, "OpenPGPConfig.AttestationKey") // type check
		p.attKey, p.attCert = cfg.AttestationKey, cfg.AttestationCert
		if p.attCert == nil {
			p.attCert = mustCert(selfSigned(cfg.AttestationKey, "cardemu OPGP Attestation", true))
		}
	}
	p.admin, p.adminTry = []byte("12345678"), 3
	if k := cfg.KDF; k != nil {
		p.kdf = tlv(0x81, []byte{k.Algorithm})
		p.kdf = append(p.kdf, tlv(0x82, []byte{k.Hash})...)
		p.kdf = append(p.kdf, tlv(0x83, binary.BigEndian.AppendUint32(nil, k.Iterations))...)
		p.kdf = append(p.kdf, tlv(0x84, k.Salt)...)
		if k.Algorithm == 0x03 {
			hashed := s2k(k.Hash, k.Salt, p.pin, k.Iterations)
			p.kdf = append(p.kdf, tlv(0x87, hashed)...)
			p.pin = hashed // the card keeps only the hash
			p.admin = s2k(k.Hash, k.Salt, p.admin, k.Iterations)
		}
	}
	p.aid = []byte{0xD2, 0x76, 0x00, 0x01, 0x24, 0x01, 0x03, 0x04}
	p.aid = binary.BigEndian.AppendUint16(p.aid, cfg.Manufacturer)
	p.aid = binary.BigEndian.AppendUint32(p.aid, cfg.Serial)
	p.aid = append(p.aid, 0x00, 0x00)
	p.auth = newCardKey(cfg.AuthKey, "OpenPGPConfig.AuthKey")
	p.fpr = v4Fingerprint(p.auth, keyCreated)
	p.sign = newCardKey(cfg.SignKey, "OpenPGPConfig.SignKey")
	p.sigFpr = v4Fingerprint(p.sign, keyCreated)
	return p
}

// handle answers the OpenPGP commands listed in the package doc.
func (p *openPGP) handle(cmd command) ([]byte, uint16) {
	switch cmd.ins {
	case 0xCA:
		return p.getData(uint16(cmd.p1)<<8 | uint16(cmd.p2))
	case 0x20:
		return p.verify(cmd)
	case 0x47:
		return p.publicKey(cmd)
	case 0x88:
		return p.internalAuthenticate(cmd)
	case 0x2A:
		return p.pso(cmd)
	case 0xF1: // GET VERSION (YubiKey): firmware, BCD
		return []byte{0x05, 0x07, 0x01}, swOK
	case 0xDA:
		return p.putData(cmd)
	case 0xA5:
		return p.selectData(cmd)
	}
	return nil, swINSNotSupported
}

func (p *openPGP) getData(tag uint16) ([]byte, uint16) {
	switch tag {
	case 0x004F:
		return bytes.Clone(p.aid), swOK
	case 0x005E, 0x5F50: // login data, URL: empty
		return nil, swOK
	case 0x7F21: // cardholder certificate of the occurrence SELECT DATA chose
		return bytes.Clone(p.chCerts[p.chSel]), swOK
	case 0x00FC: // YubiKey: the attestation key's certificate
		if p.attCert != nil {
			return bytes.Clone(p.attCert), swOK
		}
	case 0x0065:
		return tlv(0x65, tlv(0x5B, nil), tlv(0x5F2D, []byte("en")), tlv(0x5F35, []byte("9"))), swOK
	case 0x006E:
		return p.applicationData(), swOK
	case 0x007A: // security support template: the digital signature counter
		return tlv(0x7A, tlv(0x93, []byte{byte(p.sigCount >> 16), byte(p.sigCount >> 8), byte(p.sigCount)})), swOK
	case 0x00C4:
		return p.pwStatus(), swOK
	case 0x5F52:
		if p.hist != nil {
			return bytes.Clone(p.hist), swOK
		}
	case 0x7F66:
		return p.extendedLengthInfo(), swOK
	case 0x00F9:
		if p.kdf != nil {
			return bytes.Clone(p.kdf), swOK
		}
		return tlv(0x81, []byte{0x00}), swOK // KDF-DO supported, off
	case 0x00D6, 0x00D7, 0x00D8, 0x00D9: // user interaction flags (YubiKey): touch off, button available
		return []byte{0x00, 0x20}, swOK
	}
	return nil, swRefDataNotFound
}

// extendedLengthInfo is DO 7F66: the most command and response bytes; a
// YubiKey 5 reports 0BFE (3070) for both and takes no more.
func (p *openPGP) extendedLengthInfo() []byte {
	n := []byte{0x08, 0x00}
	if p.yubiKey {
		n = []byte{yubiKeyOpenPGPMax >> 8, yubiKeyOpenPGPMax & 0xFF}
	}
	return tlv(0x7F66, tlv(0x02, n), tlv(0x02, n))
}

func (p *openPGP) pwStatus() []byte {
	// PW1 valid for one PSO:CDS; max lengths PW1, RC, PW3; tries PW1, RC, PW3.
	var multi byte
	if p.pw1Multi {
		multi = 0x01
	}
	return []byte{multi, 0x7F, 0x7F, 0x7F, byte(p.tries), 0x00, byte(p.adminTry)}
}

// verifyAdmin answers VERIFY of PW3, the admin PIN ("12345678", 3 tries;
// its hash under a KDF-DO): 9000, 63Cx, 6983; P1 FF forgets it.
func (p *openPGP) verifyAdmin(cmd command) ([]byte, uint16) {
	switch {
	case cmd.p1 == 0xFF && !p.refuseFF:
		p.pw83 = false
		return nil, swOK
	case cmd.p1 != 0x00:
		return nil, swWrongP1P2
	case len(cmd.data) == 0 && p.pw83:
		return nil, swOK
	case p.adminTry == 0:
		return nil, swBlocked
	case len(cmd.data) == 0:
		return nil, swWrongPINTriesLeft | uint16(p.adminTry)
	case subtle.ConstantTimeCompare(cmd.data, p.admin) != 1:
		p.adminTry--
		p.pw83 = false
		return nil, swWrongPINTriesLeft | uint16(p.adminTry)
	}
	p.adminTry, p.pw83 = 3, true
	return nil, swOK
}

// putData answers PUT DATA (00 DA tag) after PW3. Only the KDF-DO (F9) is
// writable, as `gpg --card-edit` → kdf-setup writes it: 81 algorithm, 82
// hash, 83 iterations, 84-86 salts, 87 and 88 the hashes of the user and
// admin PINs, which from then on are what VERIFY must carry. Other DOs
// answer 6A88.
func (p *openPGP) putData(cmd command) ([]byte, uint16) {
	if !p.pw83 {
		return nil, swSecurityStatus
	}
	if cmd.p1 != 0x00 {
		return nil, swRefDataNotFound
	}
	switch tag := cmd.p2; tag {
	case 0xC1, 0xC2, 0xC3: // algorithm attributes (key-attr): the slot's key is deleted
		if len(cmd.data) < 2 {
			return nil, swWrongData
		}
		p.attrSet[tag-0xC1] = bytes.Clone(cmd.data)
		switch tag {
		case 0xC1:
			p.sign, p.sigFpr = cardKey{}, make([]byte, 20)
		case 0xC2:
			p.decPoint, p.decFpr = nil, nil
		case 0xC3:
			p.auth, p.fpr = cardKey{}, make([]byte, 20)
		}
		return nil, swOK
	case 0xC7, 0xC8, 0xC9: // fingerprints, as gpg computes them
		if len(cmd.data) != 20 {
			return nil, swWrongData
		}
		switch tag {
		case 0xC7:
			p.sigFpr = bytes.Clone(cmd.data)
		case 0xC8:
			p.decFpr = bytes.Clone(cmd.data)
		case 0xC9:
			p.fpr = bytes.Clone(cmd.data)
		}
		return nil, swOK
	case 0xC4: // PW status byte 1: PW1 valid for one signature (00) or several (01)
		if len(cmd.data) < 1 || cmd.data[0] > 1 {
			return nil, swWrongData
		}
		p.pw1Multi = cmd.data[0] == 1
		return nil, swOK
	case 0xCE, 0xCF, 0xD0: // generation times
		if len(cmd.data) != 4 {
			return nil, swWrongData
		}
		p.times[tag-0xCE] = bytes.Clone(cmd.data)
		return nil, swOK
	case 0xF9:
	default:
		return nil, swRefDataNotFound
	}
	objs, err := parseTLVs(cmd.data)
	if err != nil {
		return nil, swWrongData
	}
	alg, ok := findTLV(objs, 0x81)
	if !ok || len(alg) != 1 {
		return nil, swWrongData
	}
	if alg[0] == 0x03 {
		h1, ok1 := findTLV(objs, 0x87)
		h3, ok3 := findTLV(objs, 0x88)
		if !ok1 || !ok3 {
			return nil, swWrongData
		}
		p.pin, p.admin = bytes.Clone(h1), bytes.Clone(h3)
	}
	p.kdf = bytes.Clone(cmd.data)
	return nil, swOK
}

// attrs returns the algorithm attributes of the signature, decryption and
// authentication keys (DOs C1, C2, C3). An empty signature or
// authentication slot reports the algorithm of the other key, the
// decryption slot (never filled) the matching ECDH; a blank card RSA 2048.
func (p *openPGP) attrs() (sig, dec, auth []byte) {
	ref := p.auth.kind
	if ref == keyNone {
		ref = p.sign.kind
	}
	sig, auth = keyAttrs(p.sign.kind), keyAttrs(p.auth.kind)
	if sig == nil {
		sig = keyAttrs(ref)
	}
	if auth == nil {
		auth = keyAttrs(ref)
	}
	switch ref {
	case keyEd25519:
		return sig, append([]byte{algECDH}, oidCv25519...), auth
	case keyP256:
		return sig, append([]byte{algECDH}, oidP256...), auth
	}
	return attrsRSA2048, attrsRSA2048, attrsRSA2048
}

// keyAttrs returns the algorithm attributes of a key kind; nil for none.
func keyAttrs(k keyKind) []byte {
	switch k {
	case keyEd25519:
		return append([]byte{algEdDSA}, oidEd25519...)
	case keyP256:
		return append([]byte{algECDSA}, oidP256...)
	}
	return nil
}

func (p *openPGP) applicationData() []byte {
	sig, dec, auth := p.attrs()
	for i, a := range p.attrSet {
		if a != nil {
			switch i {
			case 0:
				sig = a
			case 1:
				dec = a
			case 2:
				auth = a
			}
		}
	}
	extCaps := []byte{0x05, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0xFF, 0x00, 0x00} // byte 1: algorithm attributes changeable (b3), KDF-DO supported (b1)
	decFpr := p.decFpr
	if decFpr == nil {
		decFpr = make([]byte, 20)
	}
	fprs := append(append(bytes.Clone(p.sigFpr), decFpr...), p.fpr...)
	times := make([]byte, 12)
	var sigStatus, decStatus, authStatus byte // key information: 00 absent, 01 generated on card
	if p.sign.kind != keyNone {
		binary.BigEndian.PutUint32(times[0:], keyCreated)
		sigStatus = 0x01
	}
	if p.decPoint != nil {
		binary.BigEndian.PutUint32(times[4:], keyCreated)
		decStatus = 0x01
	}
	if p.auth.kind != keyNone {
		binary.BigEndian.PutUint32(times[8:], keyCreated)
		authStatus = 0x01
	}
	for i, tm := range p.times {
		if tm != nil {
			copy(times[4*i:], tm)
		}
	}
	var hist []byte
	if p.hist != nil {
		hist = tlv(0x5F52, p.hist)
	}
	return tlv(0x6E,
		tlv(0x4F, p.aid),
		hist,
		p.extendedLengthInfo(),
		tlv(0x73,
			tlv(0xC0, extCaps),
			tlv(0xC1, sig),
			tlv(0xC2, dec),
			tlv(0xC3, auth),
			tlv(0xC4, p.pwStatus()),
			tlv(0xC5, fprs),
			tlv(0xC6, make([]byte, 60)),
			tlv(0xCD, times),
			tlv(0xDE, []byte{0x01, sigStatus, 0x02, decStatus, 0x03, authStatus}),
		))
}

func (p *openPGP) verify(cmd command) ([]byte, uint16) {
	switch cmd.p2 {
	case 0x81, 0x82:
	case 0x83:
		return p.verifyAdmin(cmd)
	default:
		return nil, swWrongP1P2
	}
	switch cmd.p1 {
	case 0x00:
	case 0xFF: // reset the access status
		if p.refuseFF {
			return nil, swWrongP1P2
		}
		if len(cmd.data) != 0 {
			return nil, swWrongLength
		}
		p.pw81, p.pw82 = false, false
		return nil, swOK
	default:
		return nil, swWrongP1P2
	}
	verified := p.pw82
	if cmd.p2 == 0x81 {
		verified = p.pw81
	}
	if len(cmd.data) == 0 {
		switch {
		case verified:
			return nil, swOK
		case p.tries == 0:
			return nil, swBlocked
		}
		return nil, swWrongPINTriesLeft | uint16(p.tries)
	}
	if p.tries == 0 {
		return nil, swBlocked
	}
	if subtle.ConstantTimeCompare(cmd.data, p.pin) != 1 {
		p.tries--
		p.pw81, p.pw82 = false, false
		return nil, swWrongPINTriesLeft | uint16(p.tries)
	}
	p.tries = p.maxTries
	if cmd.p2 == 0x81 {
		p.pw81 = true
	} else {
		p.pw82 = true
	}
	return nil, swOK
}

func (p *openPGP) publicKey(cmd command) ([]byte, uint16) {
	if cmd.p2 != 0 {
		return nil, swWrongP1P2
	}
	switch cmd.p1 {
	case 0x81:
	case 0x80:
		return p.generate(cmd)
	default:
		return nil, swWrongP1P2
	}
	if len(cmd.data) < 2 {
		return nil, swWrongData
	}
	var k cardKey
	switch cmd.data[0] {
	case 0xA4:
		k = p.auth
	case 0xB6:
		k = p.sign
	case 0xB8:
		if p.decPoint == nil {
			return nil, swRefDataNotFound
		}
		return tlv(0x7F49, tlv(0x86, p.decPoint)), swOK
	default:
		return nil, swWrongData
	}
	if k.kind == keyNone {
		return nil, swRefDataNotFound
	}
	return tlv(0x7F49, tlv(0x86, k.point)), swOK
}

func (p *openPGP) internalAuthenticate(cmd command) ([]byte, uint16) {
	if cmd.p1 != 0 || cmd.p2 != 0 {
		return nil, swWrongP1P2
	}
	if len(cmd.data) == 0 {
		return nil, swWrongLength
	}
	if !p.pw82 {
		return nil, swSecurityStatus
	}
	return rawSign(p.auth, cmd.data)
}

// pso answers PSO: COMPUTE DIGITAL SIGNATURE (00 2A 9E 9A) with the
// signature key. PW1 verified with P2 81 allows one signature: the PIN
// must be verified again before the next (PW status byte 1 is 00).
func (p *openPGP) pso(cmd command) ([]byte, uint16) {
	if cmd.p1 != 0x9E || cmd.p2 != 0x9A {
		return nil, swWrongP1P2 // PSO: DECIPHER and ENCIPHER are not emulated
	}
	if len(cmd.data) == 0 {
		return nil, swWrongLength
	}
	if p.sign.kind == keyNone {
		return nil, swRefDataNotFound
	}
	if !p.pw81 {
		return nil, swSecurityStatus
	}
	p.pw81 = p.pw1Multi
	data, sw := rawSign(p.sign, cmd.data)
	if sw == swOK {
		p.sigCount = min(p.sigCount+1, 0xFFFFFF)
	}
	return data, sw
}

// rawSign signs as INTERNAL AUTHENTICATE and PSO:CDS do: Ed25519 over data
// as the message (64 bytes), P-256 over data as the digest (r || s).
func rawSign(k cardKey, data []byte) ([]byte, uint16) {
	switch k.kind {
	case keyEd25519:
		sig, err := k.sign(data)
		if err != nil {
			return nil, swRefDataNotFound
		}
		return sig, swOK
	case keyP256:
		if len(data) > 64 {
			return nil, swWrongLength
		}
		der, err := k.sign(data)
		if err != nil {
			return nil, swRefDataNotFound
		}
		raw, err := ecdsaRaw(der, 32)
		if err != nil {
			return nil, swRefDataNotFound
		}
		return raw, swOK
	}
	return nil, swRefDataNotFound
}

// v4Fingerprint is the OpenPGP v4 fingerprint (RFC 4880 §12.2) of an ECC
// public key packet for k created at the given time; 20 zero bytes when the
// slot is empty.
func v4Fingerprint(k cardKey, created uint32) []byte {
	var body []byte
	body = append(body, 4)
	body = binary.BigEndian.AppendUint32(body, created)
	switch k.kind {
	case keyEd25519:
		body = append(body, 22, byte(len(oidEd25519)))
		body = append(body, oidEd25519...)
		body = appendMPI(body, append([]byte{0x40}, k.point...))
	case keyP256:
		body = append(body, 19, byte(len(oidP256)))
		body = append(body, oidP256...)
		body = appendMPI(body, k.point)
	default:
		return make([]byte, 20)
	}
	h := sha1.New()
	h.Write([]byte{0x99, byte(len(body) >> 8), byte(len(body))})
	h.Write(body)
	return h.Sum(nil)
}

func appendMPI(b, v []byte) []byte {
	n := len(v)*8 - bits.LeadingZeros8(v[0])
	b = binary.BigEndian.AppendUint16(b, uint16(n))
	return append(b, v...)
}

// s2k is RFC 4880's iterated and salted S2K, as the KDF-DO asks for it.
func s2k(hashAlg byte, salt, pass []byte, count uint32) []byte {
	h := sha256.New()
	if hashAlg == 0x0A {
		h = sha512.New()
	}
	unit := append(bytes.Clone(salt), pass...)
	n := max(int(count), len(unit))
	for n > 0 {
		m := min(n, len(unit))
		h.Write(unit[:m])
		n -= m
	}
	return h.Sum(nil)
}

// generate answers GENERATE ASYMMETRIC KEY PAIR (00 47 80 00, CRT B6, B8
// or A4) after PW3, as `gpg --card-edit` → generate uses it: a new key of
// the slot's algorithm attributes (Ed25519, ECDSA P-256; for decryption
// X25519 or ECDH P-256, public part only) replaces the slot's; the answer
// is 7F49 { 86 point }. RSA is not emulated (6A80).
func (p *openPGP) generate(cmd command) ([]byte, uint16) {
	if !p.pw83 {
		return nil, swSecurityStatus
	}
	if len(cmd.data) < 2 {
		return nil, swWrongData
	}
	sig, dec, auth := p.attrs()
	slot := map[byte]int{0xB6: 0, 0xB8: 1, 0xA4: 2}
	i, ok := slot[cmd.data[0]]
	if !ok {
		return nil, swWrongData
	}
	attr := [3][]byte{sig, dec, auth}[i]
	if p.attrSet[i] != nil {
		attr = p.attrSet[i]
	}
	if len(attr) < 2 {
		return nil, swWrongData
	}
	oid := attr[1:]
	if n := len(oid); n > 1 && (oid[n-1] == 0xFF || oid[n-1] == 0x00) {
		oid = oid[:n-1]
	}
	var point []byte
	switch {
	case attr[0] == algEdDSA && bytes.Equal(oid, oidEd25519), attr[0] == algECDSA && bytes.Equal(oid, oidP256):
		var signer crypto.Signer
		var err error
		if attr[0] == algEdDSA {
			_, signer, err = ed25519.GenerateKey(rand.Reader)
		} else {
			signer, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		}
		if err != nil || i == 1 {
			return nil, swWrongData
		}
		k := newCardKey(signer, "generated")
		point = k.point
		if i == 0 {
			p.sign, p.sigFpr = k, v4Fingerprint(k, keyCreated)
		} else {
			p.auth, p.fpr = k, v4Fingerprint(k, keyCreated)
		}
	case attr[0] == algECDH && i == 1 && bytes.Equal(oid, oidCv25519):
		k, err := ecdh.X25519().GenerateKey(rand.Reader)
		if err != nil {
			return nil, swWrongData
		}
		point = k.PublicKey().Bytes()
		p.decPoint, p.decFpr = point, nil
	case attr[0] == algECDH && i == 1 && bytes.Equal(oid, oidP256):
		k, err := ecdh.P256().GenerateKey(rand.Reader)
		if err != nil {
			return nil, swWrongData
		}
		point = k.PublicKey().Bytes()
		p.decPoint, p.decFpr = point, nil
	default:
		return nil, swWrongData // RSA and other curves are not emulated
	}
	return tlv(0x7F49, tlv(0x86, point)), swOK
}

// selectData answers SELECT DATA (00 A5 occurrence 04 06 60 04 5C 02 7F
// 21) for the cardholder certificates: occurrence 0 (AUT), 1 (DEC), 2
// (SIG).
func (p *openPGP) selectData(cmd command) ([]byte, uint16) {
	if cmd.p2 != 0x04 || cmd.p1 > 2 || !bytes.Equal(cmd.data, []byte{0x60, 0x04, 0x5C, 0x02, 0x7F, 0x21}) {
		return nil, swWrongP1P2
	}
	p.chSel = int(cmd.p1)
	return nil, swOK
}

// OpenPGP attestation extensions (Yubico).
var (
	extPGPSource   = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 41482, 5, 2}
	extPGPFirmware = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 41482, 5, 3}
	extPGPSerial   = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 41482, 5, 7}
)

// attest answers GET ATTESTATION (80 FB 01 SIG | 02 DEC | 03 AUT, 00).
func (p *openPGP) attest(cmd command) ([]byte, uint16) {
	if p.attKey == nil {
		return nil, swINSNotSupported
	}
	if !p.pw81 && !p.pw82 {
		return nil, swSecurityStatus
	}
	var k cardKey
	var occ int
	var name string
	switch cmd.p1 {
	case 0x01:
		k, occ, name = p.sign, 2, "SIG"
	case 0x03:
		k, occ, name = p.auth, 0, "AUT"
	case 0x02:
		return nil, swRefDataNotFound // the decryption key cannot be attested here
	default:
		return nil, swWrongP1P2
	}
	if k.kind == keyNone {
		return nil, swRefDataNotFound
	}
	issuer, err := x509.ParseCertificate(p.attCert)
	if err != nil {
		return nil, swRefDataNotFound
	}
	serialDER, _ := asn1.Marshal(int64(p.serial))
	src := byte(0x01)
	if p.imported {
		src = 0x00
	}
	tmpl := &x509.Certificate{
		SerialNumber: new(big.Int).SetUint64(uint64(p.serial)<<8 | uint64(cmd.p1)),
		Subject:      pkix.Name{CommonName: "YubiKey OPGP Attestation " + name},
		NotBefore:    certNotBefore,
		NotAfter:     certNotAfter,
		ExtraExtensions: []pkix.Extension{
			{Id: extPGPSource, Value: []byte{src}},
			{Id: extPGPFirmware, Value: []byte{5, 7, 1}},
			{Id: extPGPSerial, Value: serialDER},
		},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, k.signer.Public(), p.attKey)
	if err != nil {
		return nil, swRefDataNotFound
	}
	p.chCerts[occ] = der
	return nil, swOK
}
