package dongle

import (
	"crypto/subtle"
	"errors"
	"fmt"
)

// MaxSignData is the longest message a CardSigner signs: the COSE
// Sig_structure of the largest license.
const MaxSignData = 16 << 10

// The card side of a signature: which key signs, and the commands of one
// signature. Session.SigningKey, Session.Signer and CardSigner drive them.

// identifySigning identifies the card as identify does, but by its signing
// key: want 0 picks the OpenPGP applet when its signature key is Ed25519,
// else the PIV applet when slot 9C's is; KindOpenPGP and KindPIV look at
// that applet only. A card without such a key is a *noSigningKeyError
// (ErrUnsupportedCard) that says what each applet holds instead.
func identifySigning(t transport, want Kind) (*cardInfo, error) {
	var why []string
	switch want {
	case 0, KindOpenPGP, KindPIV:
	case KindGeneric:
		return nil, &noSigningKeyError{[]string{"a generic card holds no key"}}
	default:
		return nil, causef(ErrUnsupportedCard, "unknown card kind %d", uint8(want))
	}
	if want == 0 || want == KindOpenPGP {
		info, w, err := signingOpenPGP(t)
		if err != nil {
			return nil, err
		}
		if info != nil && info.alg != 0 {
			return info, nil
		}
		why = append(why, w)
	}
	if want == 0 || want == KindPIV {
		info, w, err := signingPIV(t)
		if err != nil {
			return nil, err
		}
		if info != nil && info.alg != 0 {
			return info, nil
		}
		why = append(why, w)
	}
	return nil, &noSigningKeyError{why}
}

// matchSigningKey looks in the applets identifySigning would (want) for
// the signing key pub, comparing in constant time. It returns nil info
// when the card does not hold pub, with what it holds instead.
func matchSigningKey(t transport, want Kind, pub []byte) (*cardInfo, []string, error) {
	kinds := []Kind{want}
	if want == 0 {
		kinds = []Kind{KindOpenPGP, KindPIV}
	}
	var seen []string
	for _, k := range kinds {
		info, err := identifySigning(t, k)
		if err != nil {
			var ns *noSigningKeyError
			if !errors.As(err, &ns) {
				return nil, nil, err
			}
			seen = append(seen, ns.why...)
			continue
		}
		if subtle.ConstantTimeCompare(info.pub, pub) == 1 {
			return info, nil, nil
		}
		seen = append(seen, fmt.Sprintf("%s card %s: another Ed25519 signing key", info.kind, info.identity("").SerialString()))
	}
	return nil, seen, nil
}

// signingOpenPGP reads the OpenPGP applet's signature key (attributes C1,
// key by 00 47 81 00 B6 00). nil info when the card has no OpenPGP applet;
// info.alg 0 and why when its signature key is missing or not Ed25519.
func signingOpenPGP(t transport) (*cardInfo, string, error) {
	info, ard, err := openPGPApplet(t)
	if info == nil {
		return nil, "no OpenPGP applet", err
	}
	c1, ok := searchTLV(ard, 0xC1, 3)
	if !ok {
		return info, "openpgp: no algorithm attributes for the signature key", nil
	}
	if parseOpenPGPAlgorithm(c1) != AlgEd25519 {
		return info, "openpgp: the signature key is " + describeOpenPGPAlgorithm(c1), nil
	}
	pub, err := readOpenPGPKey(t, pgpKeySign, AlgEd25519)
	if err != nil {
		return nil, "", err
	}
	if pub == nil {
		return info, "openpgp: the signature key slot is empty", nil
	}
	info.alg, info.pub = AlgEd25519, pub
	return info, "", nil
}

// describeOpenPGPAlgorithm names the algorithm of attributes that are not
// Ed25519, for messages.
func describeOpenPGPAlgorithm(attr []byte) string {
	switch {
	case len(attr) == 0:
		return "of no known algorithm"
	case attr[0] == 0x01:
		return "RSA"
	case parseOpenPGPAlgorithm(attr) == AlgP256:
		return "ECDSA P-256"
	case attr[0] == pgpAlgECDSA:
		return "ECDSA on another curve"
	case attr[0] == pgpAlgEdDSA:
		return "EdDSA on another curve"
	}
	return fmt.Sprintf("of algorithm %d", attr[0])
}

// signingPIV reads slot 9C's key from its certificate (object 5FC10A).
// nil info when the card has no PIV applet; info.alg 0 and why when slot
// 9C holds no Ed25519 key.
func signingPIV(t transport) (*cardInfo, string, error) {
	info, err := pivApplet(t)
	if info == nil {
		return nil, "no PIV applet", err
	}
	pub, why, err := readPIVSigningKey(t)
	if err != nil {
		return nil, "", err
	}
	if pub != nil {
		info.alg, info.pub = AlgEd25519, pub
	}
	return info, why, nil
}

// readPIVSigningKey returns slot 9C's Ed25519 public key, or nil and why.
func readPIVSigningKey(t transport) ([]byte, string, error) {
	obj, err := pivGetObject(t, pivObjCert9C)
	if err != nil {
		return nil, "", err
	}
	cert := parsePIVCertObject(obj)
	if cert == nil {
		return nil, "piv: no certificate in slot 9C", nil
	}
	switch alg, pub := certKey(cert); alg {
	case AlgEd25519:
		return pub, "", nil
	case AlgP256:
		return nil, "piv: slot 9C holds an ECDSA P-256 key", nil
	}
	return nil, "piv: slot 9C's certificate is not for an Ed25519 key", nil
}

// signingKeyOf selects the applet of kind and reads its Ed25519 signing
// key; nil when the applet is gone or holds no such key.
func signingKeyOf(t transport, kind Kind) ([]byte, error) {
	var aid []byte
	switch kind {
	case KindOpenPGP:
		aid = aidOpenPGP
	case KindPIV:
		aid = aidPIV
	default:
		return nil, nil
	}
	if ok, err := selectApplet(t, aid); !ok {
		return nil, err
	}
	if kind == KindOpenPGP {
		return readOpenPGPKey(t, pgpKeySign, AlgEd25519)
	}
	pub, _, err := readPIVSigningKey(t)
	return pub, err
}

// unlockSigning prepares a signature, in the caller's transaction: it
// selects the applet, checks that it still holds pub (so the PIN never
// goes to another card), refuses when fewer than minTries PIN tries are
// left, and presents the PIN for signing (OpenPGP PW1 81, PIV 80).
// *verified is set once the card holds a verified PIN.
func unlockSigning(t transport, kind Kind, pub, pin []byte, minTries int, verified *bool) error {
	got, err := signingKeyOf(t, kind)
	if err != nil {
		return err
	}
	if got == nil || subtle.ConstantTimeCompare(got, pub) != 1 {
		return causef(ErrKeyNotFound, "the %s card in the reader does not hold the signing key (any more)", kind)
	}
	tries, err := pinStatus(t, kind)
	if err != nil {
		return err
	}
	if err := checkTries(tries, minTries); err != nil {
		return err
	}
	if err := verifyPINRef(t, kind, pinRef(kind, true), pin); err != nil {
		return err
	}
	*verified = true
	return nil
}

// signOnCard makes one signature in the caller's transaction:
// unlockSigning, the signature, and the card told to forget the PIN.
func signOnCard(t transport, kind Kind, pub, pin, data []byte, minTries int, verified *bool) ([]byte, error) {
	if err := unlockSigning(t, kind, pub, pin, minTries, verified); err != nil {
		return nil, err
	}
	sig, err := cardSignature(t, kind, data)
	if forgetPINRef(t, pinRef(kind, true)) {
		*verified = false
	}
	return sig, err
}

// cardSignature has the card sign data, after VERIFY, with its signing
// key: OpenPGP PSO: COMPUTE DIGITAL SIGNATURE (00 2A 9E 9A, data as the
// EdDSA message), PIV GENERAL AUTHENTICATE with slot 9C (00 87 E0 9C,
// 7C { 82 00, 81 data }); chained when longer than a short APDU. It
// returns the 64-byte signature, unverified.
func cardSignature(t transport, kind Kind, data []byte) ([]byte, error) {
	var cmd command
	var name string
	switch kind {
	case KindOpenPGP:
		cmd, name = command{0x00, 0x2A, 0x9E, 0x9A, data, 256}, "PSO: COMPUTE DIGITAL SIGNATURE"
	case KindPIV:
		tmpl := append(newTLV(0x82, nil).encode(), newTLV(0x81, data).encode()...)
		cmd, name = command{0x00, 0x87, pivAlgEd25519, pivSlotSign, newTLV(0x7C, tmpl).encode(), 256}, "GENERAL AUTHENTICATE"
	default:
		return nil, causef(ErrUnsupportedCard, "a %s card cannot sign", kind)
	}
	resp, sw, err := transceiveChained(t, cmd)
	if err != nil {
		return nil, err
	}
	switch sw {
	case swOK:
	case swSecurity:
		// The PIN was verified in this transaction, so the card was reset
		// under us (another program, or a power glitch).
		return nil, causef(ErrRemoved, "the card forgot the PIN verification (%04X to %s)", sw, name)
	case swWrongLength, swWrongData, swChainBroken, swNoChaining, 0x6A84:
		return nil, causef(ErrUnsupportedCard, "the card refused to sign a message of %d bytes (%04X to %s): it may not take messages this long", len(data), sw, name)
	default:
		return nil, cause(ErrUnsupportedCard, &swError{name, sw})
	}
	if kind == KindPIV {
		sig, ok := findTLV(resp, 0x7C, 0x82)
		if !ok {
			return nil, causef(ErrUnsupportedCard, "GENERAL AUTHENTICATE answer without a signature")
		}
		resp = sig
	}
	return parseSignature(AlgEd25519, resp)
}
