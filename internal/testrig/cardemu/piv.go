package cardemu

import (
	"bytes"
	"crypto"
	"crypto/des"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/subtle"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/binary"
	"fmt"
	"math/big"
	"time"
)

// PIVConfig describes the PIV applet (NIST SP 800-73-4, with the YubiKey
// extensions GET SERIAL, GET VERSION and ATTEST). Slots 9A (PIV
// authentication) and 9C (digital signature) can hold a key.
type PIVConfig struct {
	Serial uint32        // YubiKey GET SERIAL (00 F8)
	Key    crypto.Signer // slot 9A: *ecdsa.PrivateKey (P-256, alg 11) or ed25519.PrivateKey (alg E0, YubiKey 5.7); nil: empty slot
	Cert   []byte        // DER X.509 certificate for slot 9A (object 5FC105); nil: a self-signed one for Key
	// SignKey is slot 9C's key, of the same types as Key; nil: empty
	// slot. As on a YubiKey (PIN policy "always"), each signature with it
	// needs a VERIFY of the PIN of its own.
	SignKey  crypto.Signer
	SignCert []byte // DER X.509 certificate for slot 9C (object 5FC10A); nil: a self-signed one for SignKey
	// NoCert leaves slot 9A's certificate object empty although the slot
	// holds Key: the state after `ykman piv keys generate 9a` without
	// `ykman piv certificates generate`. GET METADATA still names the key.
	NoCert bool
	// NoMetadata makes GET METADATA (00 F7) answer 6D00, as YubiKeys
	// before firmware 5.3 and other PIV cards do.
	NoMetadata bool
	PIN        string // PIV PIN, 6 to 8 bytes; "" means "123456"
	Tries      int    // PIN retry counter; 0 means 3

	// Attestation is the DER certificate of the attestation key (slot F9,
	// object 5FFF01). With AttestationKey nil, ATTEST 9A answers this
	// certificate as it is (a canned answer); with both nil, ATTEST
	// answers 6D00 as on a card without attestation.
	Attestation []byte
	// AttestationKey is the slot-F9 private key. When set, ATTEST 9A
	// answers a certificate for the slot-9A key issued by Attestation (a
	// self-signed one is made when Attestation is nil) and signed by
	// AttestationKey, with the YubiKey extensions: firmware version
	// (1.3.6.1.4.1.41482.3.3), serial (.3.7), PIN/touch policy (.3.8,
	// once/never) and form factor (.3.9), subject "YubiKey PIV
	// Attestation 9a".
	AttestationKey crypto.Signer
}

// PIV algorithm references.
const (
	pivAlgP256    = 0x11
	pivAlgEd25519 = 0xE0
)

// pivVersion is the firmware version GET VERSION reports (5.7.1, the first
// with Ed25519 in PIV).
var pivVersion = []byte{5, 7, 1}

var (
	objCert9A      = []byte{0x5F, 0xC1, 0x05}
	objCert9C      = []byte{0x5F, 0xC1, 0x0A}
	objAttestation = []byte{0x5F, 0xFF, 0x01}
)

type pivApp struct {
	serial       uint32
	key          cardKey
	alg          byte
	certObj      []byte // 53 { 70 cert 71 00 FE } for slot 9A; nil when absent
	attCertObj   []byte // the same for slot F9
	attest       []byte // ATTEST 9A answer; nil: none
	attestOK     bool   // ATTEST is supported at all
	pin          []byte // padded with FF to 8 bytes
	tries        int
	maxTries     int
	verified     bool
	sign         cardKey // slot 9C
	signAlg      byte
	signObj      []byte // the slot-9C certificate object; nil when absent
	signArmed    bool   // the PIN was verified since the last 9C signature
	noMetadata   bool
	objects      map[string][]byte // data objects written with PUT DATA (CHUID, CCC, ...), by tag
	mgmtKey      []byte            // 3DES management key (slot 9B)
	mgmtAuthed   bool              // the management key was proven (GENERAL AUTHENTICATE 9B)
	witness      []byte            // the witness of a management key authentication under way
	attestKey    crypto.Signer     // slot F9's key, to attest generated keys; nil: canned or no attestation
	attestIssuer []byte            // slot F9's certificate
}

// DefaultManagementKey is the PIV management key of a YubiKey as shipped
// (3DES, 01 02 … 08 three times).
var DefaultManagementKey = []byte{1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8}

func newPIV(cfg PIVConfig) *pivApp {
	p := &pivApp{serial: cfg.Serial, maxTries: cfg.Tries, noMetadata: cfg.NoMetadata,
		objects: map[string][]byte{}, mgmtKey: DefaultManagementKey}
	if p.maxTries <= 0 {
		p.maxTries = 3
	}
	p.tries = p.maxTries
	pin := cfg.PIN
	if pin == "" {
		pin = "123456"
	}
	if len(pin) > 8 {
		panic("cardemu: PIVConfig.PIN longer than 8 bytes")
	}
	p.pin = append([]byte(pin), bytes.Repeat([]byte{0xFF}, 8-len(pin))...)

	p.key, p.alg, p.certObj = pivSlot(cfg.Key, cfg.Cert, "PIVConfig.Key", fmt.Sprintf("cardemu PIV 9a %d", cfg.Serial))
	if cfg.NoCert {
		p.certObj = nil
	}
	p.sign, p.signAlg, p.signObj = pivSlot(cfg.SignKey, cfg.SignCert, "PIVConfig.SignKey", fmt.Sprintf("cardemu PIV 9c %d", cfg.Serial))

	attCert := cfg.Attestation
	if cfg.AttestationKey != nil {
		newCardKey(cfg.AttestationKey, "PIVConfig.AttestationKey") // type check
		if attCert == nil {
			attCert = mustCert(selfSigned(cfg.AttestationKey, "cardemu PIV Attestation", true))
		}
		if p.key.kind != keyNone {
			p.attest = mustCert(attestationCert(p.key.signer.Public(), cfg.Serial, attCert, cfg.AttestationKey))
		}
		p.attestOK = true
		p.attestKey, p.attestIssuer = cfg.AttestationKey, attCert
	} else if attCert != nil {
		p.attest = bytes.Clone(attCert)
		p.attestOK = true
	}
	if attCert != nil {
		p.attCertObj = pivObject(attCert)
	}
	return p
}

// pivSlot makes a slot's key, its algorithm reference and its certificate
// object (cert, or a self-signed certificate named cn when cert is nil).
func pivSlot(key crypto.Signer, cert []byte, field, cn string) (cardKey, byte, []byte) {
	k := newCardKey(key, field)
	var alg byte
	switch k.kind {
	case keyP256:
		alg = pivAlgP256
	case keyEd25519:
		alg = pivAlgEd25519
	}
	if cert == nil && k.kind != keyNone {
		cert = mustCert(selfSigned(k.signer, cn, false))
	}
	var obj []byte
	if cert != nil {
		obj = pivObject(cert)
	}
	return k, alg, obj
}

func mustCert(der []byte, err error) []byte {
	if err != nil {
		panic("cardemu: " + err.Error())
	}
	return der
}

// pivObject wraps a certificate as a PIV data object: 53 { 70 cert, 71 00 (uncompressed), FE (no EDC) }.
func pivObject(cert []byte) []byte {
	return tlv(0x53, tlv(0x70, cert), tlv(0x71, []byte{0x00}), tlv(0xFE, nil))
}

var (
	certNotBefore = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	certNotAfter  = time.Date(2099, 12, 31, 23, 59, 59, 0, time.UTC)
)

func selfSigned(key crypto.Signer, cn string, ca bool) ([]byte, error) {
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             certNotBefore,
		NotAfter:              certNotAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: ca,
		IsCA:                  ca,
	}
	if ca {
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	}
	return x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
}

// YubiKey attestation extensions.
var (
	extFirmware   = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 41482, 3, 3}
	extSerial     = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 41482, 3, 7}
	extPolicy     = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 41482, 3, 8}
	extFormFactor = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 41482, 3, 9}
)

func attestationCert(pub crypto.PublicKey, serial uint32, issuerDER []byte, issuerKey crypto.Signer) ([]byte, error) {
	issuer, err := x509.ParseCertificate(issuerDER)
	if err != nil {
		return nil, fmt.Errorf("PIVConfig.Attestation: %w", err)
	}
	serialDER, err := asn1.Marshal(int64(serial))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: new(big.Int).SetUint64(uint64(serial) + 1),
		Subject:      pkix.Name{CommonName: "YubiKey PIV Attestation 9a"},
		NotBefore:    certNotBefore,
		NotAfter:     certNotAfter,
		ExtraExtensions: []pkix.Extension{
			{Id: extFirmware, Value: bytes.Clone(pivVersion)},
			{Id: extSerial, Value: serialDER},
			{Id: extPolicy, Value: []byte{0x02, 0x01}}, // PIN once, touch never
			{Id: extFormFactor, Value: []byte{0x01}},   // USB-A keychain
		},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, pub, issuerKey)
	if err != nil {
		return nil, fmt.Errorf("PIV attestation: %w", err)
	}
	return der, nil
}

// handle answers the PIV commands listed in the package doc.
func (p *pivApp) handle(cmd command) ([]byte, uint16) {
	switch cmd.ins {
	case 0xF8:
		return binary.BigEndian.AppendUint32(nil, p.serial), swOK
	case 0xFD:
		return bytes.Clone(pivVersion), swOK
	case 0xCB:
		return p.getData(cmd)
	case 0x20:
		return p.verify(cmd)
	case 0x87:
		return p.generalAuthenticate(cmd)
	case 0xF9:
		return p.attestSlot(cmd)
	case 0xF7:
		return p.metadata(cmd)
	case 0x47:
		return p.generate(cmd)
	case 0xDB:
		return p.putData(cmd)
	}
	return nil, swINSNotSupported
}

func (p *pivApp) getData(cmd command) ([]byte, uint16) {
	if cmd.p1 != 0x3F || cmd.p2 != 0xFF {
		return nil, swWrongP1P2
	}
	objs, err := parseTLVs(cmd.data)
	if err != nil {
		return nil, swWrongData
	}
	tag, ok := findTLV(objs, 0x5C)
	if !ok {
		return nil, swWrongData
	}
	var obj []byte
	switch {
	case bytes.Equal(tag, objCert9A):
		obj = p.certObj
	case bytes.Equal(tag, objCert9C):
		obj = p.signObj
	case bytes.Equal(tag, objAttestation):
		obj = p.attCertObj
	default:
		obj = p.objects[string(tag)]
	}
	if obj == nil {
		return nil, swFileNotFound
	}
	return bytes.Clone(obj), swOK
}

func (p *pivApp) verify(cmd command) ([]byte, uint16) {
	if cmd.p2 != 0x80 {
		return nil, swRefDataNotFound // global PIN (00) and others are not emulated
	}
	switch cmd.p1 {
	case 0x00:
	case 0xFF:
		if len(cmd.data) != 0 {
			return nil, swWrongLength
		}
		p.verified, p.signArmed = false, false
		return nil, swOK
	default:
		return nil, swWrongP1P2
	}
	if len(cmd.data) == 0 {
		switch {
		case p.verified:
			return nil, swOK
		case p.tries == 0:
			return nil, swBlocked
		}
		return nil, swWrongPINTriesLeft | uint16(p.tries)
	}
	if len(cmd.data) != 8 {
		return nil, swWrongData
	}
	if p.tries == 0 {
		return nil, swBlocked
	}
	if subtle.ConstantTimeCompare(cmd.data, p.pin) != 1 {
		p.tries--
		p.verified, p.signArmed = false, false
		return nil, swWrongPINTriesLeft | uint16(p.tries)
	}
	p.tries = p.maxTries
	p.verified, p.signArmed = true, true
	return nil, swOK
}

func (p *pivApp) generalAuthenticate(cmd command) ([]byte, uint16) {
	if cmd.p2 == 0x9B {
		return p.mgmtAuthenticate(cmd)
	}
	key, alg := p.key, p.alg
	if cmd.p2 == 0x9C {
		key, alg = p.sign, p.signAlg
	} else if cmd.p2 != 0x9A {
		return nil, swRefDataNotFound
	}
	if key.kind == keyNone {
		return nil, swRefDataNotFound
	}
	if cmd.p1 != alg {
		return nil, swWrongP1P2
	}
	outer, err := parseTLVs(cmd.data)
	if err != nil || len(outer) != 1 || outer[0].tag != 0x7C {
		return nil, swWrongData
	}
	inner, err := parseTLVs(outer[0].value)
	if err != nil {
		return nil, swWrongData
	}
	resp, okResp := findTLV(inner, 0x82)
	challenge, okChal := findTLV(inner, 0x81)
	if !okResp || len(resp) != 0 || !okChal || len(challenge) == 0 || len(inner) != 2 {
		return nil, swWrongData
	}
	if key.kind == keyP256 && len(challenge) > 64 {
		return nil, swWrongData
	}
	if !p.verified || (cmd.p2 == 0x9C && !p.signArmed) {
		return nil, swSecurityStatus
	}
	if cmd.p2 == 0x9C {
		p.signArmed = false // PIN policy "always"
	}
	sig, err := key.sign(challenge)
	if err != nil {
		return nil, swRefDataNotFound
	}
	return tlv(0x7C, tlv(0x82, sig)), swOK
}

func (p *pivApp) attestSlot(cmd command) ([]byte, uint16) {
	if !p.attestOK {
		return nil, swINSNotSupported
	}
	if cmd.p2 != 0 {
		return nil, swWrongP1P2
	}
	if cmd.p1 != 0x9A || p.attest == nil {
		return nil, swRefDataNotFound
	}
	return bytes.Clone(p.attest), swOK
}

// metadata answers GET METADATA (YubiKey 5.3+, 00 F7 00 slot) for slots
// 9A and 9C and the PIN (80): 01 algorithm, 02 PIN and touch policy, 03
// origin (01 generated), 04 public key (86 the EC point or Ed25519 key);
// for the PIN 01 FF, 05 default (00: changed), 06 total and remaining
// tries. An empty slot answers 6A88.
func (p *pivApp) metadata(cmd command) ([]byte, uint16) {
	if p.noMetadata {
		return nil, swINSNotSupported
	}
	if cmd.p1 != 0 {
		return nil, swWrongP1P2
	}
	var key cardKey
	var alg byte
	switch cmd.p2 {
	case 0x9B: // the management key: 3DES, touch never, still the default or not
		def := byte(0)
		if bytes.Equal(p.mgmtKey, DefaultManagementKey) {
			def = 1
		}
		return append(append(tlv(0x01, []byte{0x03}), tlv(0x02, []byte{0x00, 0x01})...), tlv(0x05, []byte{def})...), swOK
	case 0x81: // the PUK (not emulated: blocked, as after ykman's PIN-protected set-up)
		return append(append(tlv(0x01, []byte{0xFF}), tlv(0x05, []byte{0})...), tlv(0x06, []byte{3, 0})...), swOK
	case 0x80:
		def := byte(0)
		if bytes.Equal(p.pin, []byte{'1', '2', '3', '4', '5', '6', 0xFF, 0xFF}) {
			def = 1
		}
		return append(append(tlv(0x01, []byte{0xFF}), tlv(0x05, []byte{def})...), tlv(0x06, []byte{byte(p.maxTries), byte(p.tries)})...), swOK
	case 0x9A:
		key, alg = p.key, p.alg
	case 0x9C:
		key, alg = p.sign, p.signAlg
	default:
		return nil, swRefDataNotFound
	}
	if key.kind == keyNone {
		return nil, swRefDataNotFound
	}
	out := tlv(0x01, []byte{alg})
	out = append(out, tlv(0x02, []byte{0x02, 0x01})...) // PIN once, touch never
	out = append(out, tlv(0x03, []byte{0x01})...)       // generated on the card
	out = append(out, tlv(0x04, tlv(0x86, key.point))...)
	return out, swOK
}

// mgmtAuthenticate runs the management key's mutual authentication
// (GENERAL AUTHENTICATE 03 9B, SP 800-73-4 and YubiKey): 7C { 80 00 }
// asks for a witness, answered 7C { 80 <witness encrypted> }; 7C { 80
// <witness decrypted> 81 <challenge> } proves the key and is answered 7C {
// 82 <challenge encrypted> }. 3DES-ECB, 8-byte blocks.
func (p *pivApp) mgmtAuthenticate(cmd command) ([]byte, uint16) {
	if cmd.p1 != 0x03 {
		return nil, swWrongP1P2
	}
	outer, err := parseTLVs(cmd.data)
	if err != nil || len(outer) != 1 || outer[0].tag != 0x7C {
		return nil, swWrongData
	}
	inner, err := parseTLVs(outer[0].value)
	if err != nil {
		return nil, swWrongData
	}
	block, err := des.NewTripleDESCipher(p.mgmtKey)
	if err != nil {
		return nil, swWrongData
	}
	w, okW := findTLV(inner, 0x80)
	ch, okC := findTLV(inner, 0x81)
	switch {
	case okW && len(w) == 0 && !okC:
		p.mgmtAuthed = false
		p.witness = make([]byte, 8)
		if _, err := rand.Read(p.witness); err != nil {
			return nil, swWrongData
		}
		enc := make([]byte, 8)
		block.Encrypt(enc, p.witness)
		return tlv(0x7C, tlv(0x80, enc)), swOK
	case okW && len(w) == 8 && okC && len(ch) == 8:
		want := p.witness
		p.witness = nil
		if want == nil || subtle.ConstantTimeCompare(w, want) != 1 {
			return nil, swSecurityStatus
		}
		p.mgmtAuthed = true
		enc := make([]byte, 8)
		block.Encrypt(enc, ch)
		return tlv(0x7C, tlv(0x82, enc)), swOK
	}
	p.witness = nil
	return nil, swWrongData
}

// generate answers GENERATE ASYMMETRIC KEY PAIR (00 47 00 slot, AC { 80
// alg [AA pin policy] [AB touch policy] }) for slots 9A and 9C, after the
// management key: a new P-256 (11) or Ed25519 (E0) key replaces the slot's;
// the slot's certificate stays as it was (as on a YubiKey, where it no
// longer matches until a new one is stored). The answer is 7F49 { 86
// point }.
func (p *pivApp) generate(cmd command) ([]byte, uint16) {
	if cmd.p1 != 0x00 {
		return nil, swWrongP1P2
	}
	if cmd.p2 != 0x9A && cmd.p2 != 0x9C {
		return nil, swRefDataNotFound
	}
	if !p.mgmtAuthed {
		return nil, swSecurityStatus
	}
	objs, err := parseTLVs(cmd.data)
	if err != nil {
		return nil, swWrongData
	}
	tmpl, ok := findTLV(objs, 0xAC)
	if !ok {
		return nil, swWrongData
	}
	inner, err := parseTLVs(tmpl)
	if err != nil {
		return nil, swWrongData
	}
	alg, ok := findTLV(inner, 0x80)
	if !ok || len(alg) != 1 {
		return nil, swWrongData
	}
	var signer crypto.Signer
	switch alg[0] {
	case pivAlgP256:
		signer, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case pivAlgEd25519:
		_, signer, err = ed25519.GenerateKey(rand.Reader)
	default:
		return nil, swWrongP1P2 // RSA, P-384, X25519: not emulated
	}
	if err != nil {
		return nil, swWrongData
	}
	k := newCardKey(signer, "generated")
	if cmd.p2 == 0x9A {
		p.key, p.alg = k, alg[0]
		p.attest = nil
		if p.attestKey != nil {
			p.attest, _ = attestationCert(k.signer.Public(), p.serial, p.attestIssuer, p.attestKey)
		}
	} else {
		p.sign, p.signAlg = k, alg[0]
	}
	return tlv(0x7F49, tlv(0x86, k.point)), swOK
}

// putData answers PUT DATA (00 DB 3F FF, 5C <tag> 53 { ... }) after the
// management key: the object is stored as given (an empty 53 deletes it);
// slot 9A's and 9C's certificate objects are those GET DATA reads.
func (p *pivApp) putData(cmd command) ([]byte, uint16) {
	if cmd.p1 != 0x3F || cmd.p2 != 0xFF {
		return nil, swWrongP1P2
	}
	if !p.mgmtAuthed {
		return nil, swSecurityStatus
	}
	objs, err := parseTLVs(cmd.data)
	if err != nil || len(objs) != 2 || objs[0].tag != 0x5C || objs[1].tag != 0x53 {
		return nil, swWrongData
	}
	tag := objs[0].value
	var obj []byte
	if len(objs[1].value) > 0 {
		obj = tlv(0x53, objs[1].value)
	}
	switch {
	case bytes.Equal(tag, objCert9A):
		p.certObj = obj
	case bytes.Equal(tag, objCert9C):
		p.signObj = obj
	case bytes.Equal(tag, objAttestation):
		return nil, swSecurityStatus
	default:
		if obj == nil {
			delete(p.objects, string(tag))
		} else {
			p.objects[string(tag)] = obj
		}
	}
	return nil, swOK
}
