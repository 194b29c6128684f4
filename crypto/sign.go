package crypto

import (
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/veraison/go-cose"

	"github.com/airlock-offline/airlock/internal/wire"
)

// Domain-separation tags. Each message type is signed with its own tag in
// the COSE protected header "content type" (label 3), which the signature
// covers; a verifier accepts a message only under the tag it expects, so no
// signed message can be replayed as another type.
const (
	TagRequest = "airlock/req-v1"
	TagLicense = "airlock/lic-v1"
	TagReceipt = "airlock/rcpt-v1"
	// TagCheckpoint: the desk's signed audit checkpoint.
	TagCheckpoint = "airlock/ckpt-v1"
)

// MaxMessage bounds a signed message.
const MaxMessage = 16 << 10

// Errors from Verify. ErrMalformed: not a well-formed airlock COSE_Sign1.
// ErrUnknownKey: signed by a key the caller does not trust.
// ErrBadSignature: the signature does not verify.
var (
	ErrMalformed    = errors.New("malformed signed message")
	ErrUnknownKey   = errors.New("signed by an unknown key")
	ErrBadSignature = errors.New("signature does not verify")
)

// UnknownKeyError says which key signed a message and which keys were
// expected; key ids are public.
type UnknownKeyError struct {
	Got      KeyID
	Expected []KeyID
}

func (e *UnknownKeyError) Error() string {
	return fmt.Sprintf("signed by key %s, expected %v", e.Got, e.Expected)
}

// Is makes errors.Is(err, ErrUnknownKey) true.
func (e *UnknownKeyError) Is(t error) bool { return t == ErrUnknownKey }

// Sign returns payload signed by id as a tagged COSE_Sign1 (RFC 9052) with
// protected headers {alg: EdDSA, content type: tag, kid: key id}. Ed25519
// is deterministic: rand is not used. An identity whose signing key is on
// a hardware key signs through its attached Signer (ErrNoSigner without).
func Sign(id *Identity, tag string, payload []byte) ([]byte, error) {
	key, err := id.signer()
	if err != nil {
		return nil, err
	}
	signer, err := cose.NewSigner(cose.AlgorithmEdDSA, key)
	if err != nil {
		return nil, err
	}
	kid := id.ID()
	msg := cose.NewSign1Message()
	msg.Headers.Protected.SetAlgorithm(cose.AlgorithmEdDSA)
	msg.Headers.Protected[cose.HeaderLabelContentType] = tag
	msg.Headers.Protected[cose.HeaderLabelKeyID] = kid[:]
	msg.Payload = payload
	if err := msg.Sign(nil, nil, signer); err != nil {
		return nil, err
	}
	// Encode from the values, exactly as ParseSigned re-encodes them.
	out, err := encodeSign1(tag, kid[:], payload, msg.Signature)
	if err != nil {
		return nil, err
	}
	if len(out) > MaxMessage {
		return nil, fmt.Errorf("signed message larger than %d bytes", MaxMessage)
	}
	return out, nil
}

// Signed is a parsed, not yet verified, COSE_Sign1.
type Signed struct {
	Tag     string
	KeyID   KeyID
	Payload []byte // untrusted until Verify succeeds

	protected []byte
	signature []byte
}

// sign1 is the COSE_Sign1 array (RFC 9052 section 4.2), after its tag.
type sign1 struct {
	_           struct{} `cbor:",toarray"`
	Protected   []byte
	Unprotected map[int64]int64 // must be empty
	Payload     []byte
	Signature   []byte
}

// protectedHeader is the only protected header airlock signs with.
type protectedHeader struct {
	Alg         int64  `cbor:"1,keyasint"`
	ContentType string `cbor:"3,keyasint"`
	KeyID       []byte `cbor:"4,keyasint"`
}

const cborTagSign1 = 0xd2 // CBOR tag 18, COSE_Sign1

// ParseSigned strictly parses a COSE_Sign1 made by Sign: tag 18, exactly
// the three protected headers, no unprotected headers, and the one
// canonical encoding (the wire profile re-encodes every level and requires
// the same bytes: no long-form lengths, no long-form empty map, no trailing
// bytes). It does not verify the signature.
func ParseSigned(data []byte) (*Signed, error) {
	if len(data) > MaxMessage {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrMalformed, MaxMessage)
	}
	if len(data) == 0 || data[0] != cborTagSign1 {
		return nil, fmt.Errorf("%w: not a COSE_Sign1 message", ErrMalformed)
	}
	var m sign1
	if err := wire.Unmarshal(data[1:], &m); err != nil {
		return nil, fmt.Errorf("%w: not a COSE_Sign1 message in canonical encoding", ErrMalformed)
	}
	if len(m.Unprotected) != 0 || m.Unprotected == nil {
		return nil, fmt.Errorf("%w: unexpected COSE headers", ErrMalformed)
	}
	var ph protectedHeader
	if err := wire.Unmarshal(m.Protected, &ph); err != nil {
		return nil, fmt.Errorf("%w: unexpected COSE headers", ErrMalformed)
	}
	if ph.Alg != int64(cose.AlgorithmEdDSA) {
		return nil, fmt.Errorf("%w: algorithm is not EdDSA", ErrMalformed)
	}
	if ph.ContentType == "" {
		return nil, fmt.Errorf("%w: missing content type", ErrMalformed)
	}
	if len(ph.KeyID) != len(KeyID{}) {
		return nil, fmt.Errorf("%w: missing or invalid key id", ErrMalformed)
	}
	if len(m.Signature) != ed25519.SignatureSize || m.Payload == nil {
		return nil, fmt.Errorf("%w: invalid signature or payload", ErrMalformed)
	}
	s := &Signed{Tag: ph.ContentType, Payload: m.Payload, protected: m.Protected, signature: m.Signature}
	copy(s.KeyID[:], ph.KeyID)
	return s, nil
}

// toBeSigned is the Sig_structure of RFC 9052 section 4.4 for a
// COSE_Sign1 with empty external data.
func toBeSigned(protected, payload []byte) ([]byte, error) {
	return wire.Marshal([]any{"Signature1", protected, []byte{}, payload})
}

// Verify checks that s carries tag want and verifies under one of keys,
// chosen by key id. It returns the key that verified.
func (s *Signed) Verify(want string, keys ...ed25519.PublicKey) (ed25519.PublicKey, error) {
	var ids []KeyID
	for _, k := range keys {
		id := KeyIDOf(k)
		ids = append(ids, id)
		if id != s.KeyID {
			continue
		}
		if s.Tag != want {
			// Signed by a trusted key, but for another purpose.
			return nil, fmt.Errorf("%w: signed as another message type", ErrBadSignature)
		}
		tbs, err := toBeSigned(s.protected, s.Payload)
		if err != nil {
			return nil, err
		}
		if len(k) != ed25519.PublicKeySize || !ed25519.Verify(k, tbs, s.signature) {
			return nil, ErrBadSignature
		}
		return k, nil
	}
	return nil, &UnknownKeyError{Got: s.KeyID, Expected: ids}
}

// Verify parses data and verifies it, in one call.
func Verify(data []byte, want string, keys ...ed25519.PublicKey) ([]byte, KeyID, error) {
	s, err := ParseSigned(data)
	if err != nil {
		return nil, KeyID{}, err
	}
	if _, err := s.Verify(want, keys...); err != nil {
		return nil, s.KeyID, err
	}
	return s.Payload, s.KeyID, nil
}

// encodeSign1 encodes a COSE_Sign1 from its values, as Sign does.
func encodeSign1(tag string, kid, payload, signature []byte) ([]byte, error) {
	m := cose.NewSign1Message()
	m.Headers.Protected.SetAlgorithm(cose.AlgorithmEdDSA)
	m.Headers.Protected[cose.HeaderLabelContentType] = tag
	m.Headers.Protected[cose.HeaderLabelKeyID] = kid
	m.Payload = payload
	m.Signature = signature
	return m.MarshalCBOR()
}
