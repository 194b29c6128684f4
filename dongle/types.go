package dongle

import (
	"bytes"
	"crypto/ecdh"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Kind is the type of a hardware key. The numbers are those of
// request.HWOpenPGP, request.HWPIV and request.HWGeneric.
type Kind uint8

const (
	KindOpenPGP Kind = 1 // OpenPGP card (YubiKey, Nitrokey, Gnuk, ...): serial from the AID
	KindPIV     Kind = 2 // PIV token (YubiKey): serial from GET SERIAL or the CHUID
	KindGeneric Kind = 3 // any card whose reader reports a UID: identity only, no proof
)

func (k Kind) String() string {
	switch k {
	case KindOpenPGP:
		return "openpgp"
	case KindPIV:
		return "piv"
	case KindGeneric:
		return "generic"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Algorithm is the signature algorithm of a hardware key's proof key.
type Algorithm uint8

const (
	AlgEd25519 Algorithm = 1 // Ed25519 over the challenge
	AlgP256    Algorithm = 2 // ECDSA P-256 over SHA-256(challenge), signature r||s (64 bytes)
)

func (a Algorithm) String() string {
	switch a {
	case AlgEd25519:
		return "ed25519"
	case AlgP256:
		return "p256"
	}
	return "alg(" + strconv.Itoa(int(a)) + ")"
}

// publicKeySize is the size of a public key of each algorithm.
func (a Algorithm) publicKeySize() int {
	switch a {
	case AlgEd25519:
		return 32
	case AlgP256:
		return 65
	}
	return 0
}

// Limits on what a card may report (the same as the request format's).
const (
	MaxSerial      = 64
	MaxAttestation = 2048
)

// Identity is what a hardware key tells about itself without a PIN. All of
// it is public, and none of it is trusted: any card can claim any serial.
// Only a proof (Session.Prove, VerifyProof) against a PublicKey recorded
// earlier shows that the same key is present.
type Identity struct {
	Reader string // the PC/SC reader the card is in
	Kind   Kind
	// Serial: OpenPGP: manufacturer (2 bytes) || serial (4 bytes) from the
	// AID; PIV: the YubiKey serial (4 bytes, big endian) or else the CHUID
	// GUID (16 bytes); generic: the UID the reader reports.
	Serial    []byte
	Algorithm Algorithm // 0 when the card has no key airlock can use
	// PublicKey of the proof key: Ed25519: 32 bytes; P-256: the 65-byte
	// uncompressed point. Empty when CanProve is false.
	PublicKey []byte
	// Attestation, PIV only and when the token can attest (YubiKey): the
	// DER attestation certificate of slot 9A, followed by the attestation
	// intermediate (slot F9) certificate when it fits in MaxAttestation
	// (x509.ParseCertificates reads both). Nil otherwise.
	Attestation []byte
	CanProve    bool // the card holds a key that can answer a challenge
}

// SerialString formats the serial as the card's own tools print it:
// OpenPGP "FFFE 0A0B0C0D" (manufacturer, serial), PIV YubiKey serials in
// decimal, anything else in upper-case hex.
func (id *Identity) SerialString() string {
	switch {
	case id.Kind == KindOpenPGP && len(id.Serial) == 6:
		return fmt.Sprintf("%X %X", id.Serial[:2], id.Serial[2:])
	case id.Kind == KindPIV && len(id.Serial) == 4:
		return strconv.FormatUint(uint64(id.Serial[0])<<24|uint64(id.Serial[1])<<16|uint64(id.Serial[2])<<8|uint64(id.Serial[3]), 10)
	}
	return strings.ToUpper(hex.EncodeToString(id.Serial))
}

func (id *Identity) String() string {
	s := fmt.Sprintf("%s card %s", id.Kind, id.SerialString())
	if id.CanProve {
		s += " (" + id.Algorithm.String() + ")"
	} else {
		s += " (identity only)"
	}
	if id.Reader != "" {
		s += " in reader " + strconv.Quote(id.Reader)
	}
	return s
}

// WirePublicKey returns the public key in the form requests and licenses
// carry: 1 byte Algorithm || key bytes. It is nil when the card cannot
// prove (a generic card).
func (id *Identity) WirePublicKey() []byte {
	if !id.CanProve {
		return nil
	}
	b, err := EncodePublicKey(id.Algorithm, id.PublicKey)
	if err != nil {
		return nil
	}
	return b
}

// EncodePublicKey returns the wire form of a proof key, 1 byte alg || key,
// after checking the key (see ParseWirePublicKey).
func EncodePublicKey(alg Algorithm, key []byte) ([]byte, error) {
	if err := checkPublicKey(alg, key); err != nil {
		return nil, err
	}
	return append([]byte{byte(alg)}, key...), nil
}

// ParseWirePublicKey splits the wire form of a proof key into its
// algorithm and key bytes. It accepts only known algorithms, exact sizes,
// and P-256 points that are uncompressed and on the curve; every failure
// is ErrBadPublicKey. The returned key does not alias b.
func ParseWirePublicKey(b []byte) (Algorithm, []byte, error) {
	if len(b) < 1 {
		return 0, nil, causef(ErrBadPublicKey, "empty")
	}
	alg, key := Algorithm(b[0]), b[1:]
	if err := checkPublicKey(alg, key); err != nil {
		return 0, nil, err
	}
	return alg, bytes.Clone(key), nil
}

func checkPublicKey(alg Algorithm, key []byte) error {
	switch alg {
	case AlgEd25519, AlgP256:
	default:
		return causef(ErrBadPublicKey, "unknown algorithm %d", uint8(alg))
	}
	if len(key) != alg.publicKeySize() {
		return causef(ErrBadPublicKey, "%s key of %d bytes, want %d", alg, len(key), alg.publicKeySize())
	}
	if alg == AlgP256 {
		if key[0] != 4 {
			return causef(ErrBadPublicKey, "P-256 point not in uncompressed form")
		}
		if _, err := ecdh.P256().NewPublicKey(key); err != nil {
			return causef(ErrBadPublicKey, "P-256 point not on the curve")
		}
	}
	return nil
}

// Reader is a PC/SC reader and whether a card is in it.
type Reader struct {
	Name        string
	CardPresent bool
	// Events counts the card insertions and removals the smart card
	// service has seen in this reader (pcsc-lite keeps the count; it is 0
	// where the platform does not): a change between two looks means the
	// card was pulled or replaced in between, even if one is there again.
	Events uint16
}

// PINPrompt asks the user for the PIN of the hardware key in reader.
// triesLeft is the number of tries before the card blocks the PIN, -1 when
// the card does not say. The command supplies it; the library never
// prompts. A non-nil error aborts the proof (or the opening of a
// CardSigner) and is returned, wrapped in an *Error, to the caller. The
// library overwrites the returned slice with zeros once the card has seen
// it (a CardSigner keeps a copy until its Close). The prompt runs while its
// Session is busy: it must not call the Session's methods. No PC/SC
// transaction is held meanwhile, so the user may take their time.
type PINPrompt func(reader string, kind Kind, triesLeft int) (pin []byte, err error)

// Options configure a Session. The zero Options are usable for Identify;
// Prove needs PIN.
type Options struct {
	// Timeout bounds every single call into PC/SC (connect, transmit,
	// begin transaction, ...); 0 means 5 s. A call that overruns it fails
	// with ErrTimeout and the session moves to a fresh PC/SC context.
	Timeout time.Duration
	// PIN asks for the card's user PIN; Prove and Signer fail with
	// ErrNoPINPrompt without it.
	PIN PINPrompt
	// MinTriesLeft: Prove, Signer and CardSigner.Sign refuse
	// (ErrTooFewTries) to send a PIN when the card has fewer tries left
	// than this, so a wrong PIN never blocks the card. 0 means 2; 1 allows
	// the very last try.
	MinTriesLeft int
}

const defaultTimeout = 5 * time.Second

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = defaultTimeout
	}
	if o.MinTriesLeft <= 0 {
		o.MinTriesLeft = 2
	}
	return o
}
