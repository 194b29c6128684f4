package crypto

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/veraison/go-cose"
)

// Domain-separation tags. Each message type is signed with its own tag in
// the COSE protected header "content type" (label 3), which the signature
// covers; a verifier accepts a message only under the tag it expects, so no
// signed message can be replayed as another type.
const (
	TagRequest = "airlock/req-v1"
	TagLicense = "airlock/lic-v1"
	TagReceipt = "airlock/rcpt-v1"
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
// is deterministic: rand is not used.
func Sign(id *Identity, tag string, payload []byte) ([]byte, error) {
	signer, err := cose.NewSigner(cose.AlgorithmEdDSA, id.sign)
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
	msg     *cose.Sign1Message
}

// ParseSigned strictly parses a COSE_Sign1 made by Sign: tag 18, exactly
// the three protected headers, no unprotected headers, the canonical
// encoding. It does not verify the signature.
func ParseSigned(data []byte) (*Signed, error) {
	if len(data) > MaxMessage {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrMalformed, MaxMessage)
	}
	var msg cose.Sign1Message
	if err := msg.UnmarshalCBOR(data); err != nil {
		return nil, fmt.Errorf("%w: not a COSE_Sign1 message", ErrMalformed)
	}
	p := msg.Headers.Protected
	if len(p) != 3 || len(msg.Headers.Unprotected) != 0 {
		return nil, fmt.Errorf("%w: unexpected COSE headers", ErrMalformed)
	}
	if alg, err := p.Algorithm(); err != nil || alg != cose.AlgorithmEdDSA {
		return nil, fmt.Errorf("%w: algorithm is not EdDSA", ErrMalformed)
	}
	tag, ok := p[cose.HeaderLabelContentType].(string)
	if !ok {
		return nil, fmt.Errorf("%w: missing content type", ErrMalformed)
	}
	kidb, ok := p[cose.HeaderLabelKeyID].([]byte)
	if !ok || len(kidb) != len(KeyID{}) {
		return nil, fmt.Errorf("%w: missing or invalid key id", ErrMalformed)
	}
	if len(msg.Signature) != ed25519.SignatureSize || msg.Payload == nil {
		return nil, fmt.Errorf("%w: invalid signature or payload", ErrMalformed)
	}
	// One message, one encoding: rebuild the message from its values
	// alone (go-cose would reuse the raw header bytes it received) and
	// reject anything our encoder would not have produced: header order,
	// integer and length widths, a long-form empty map, trailing bytes.
	again, err := encodeSign1(tag, kidb, msg.Payload, msg.Signature)
	if err != nil || !bytes.Equal(again, data) {
		return nil, fmt.Errorf("%w: not in canonical encoding", ErrMalformed)
	}
	s := &Signed{Tag: tag, Payload: msg.Payload, msg: &msg}
	copy(s.KeyID[:], kidb)
	return s, nil
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
		v, err := cose.NewVerifier(cose.AlgorithmEdDSA, k)
		if err != nil {
			return nil, err
		}
		if err := s.msg.Verify(nil, v); err != nil {
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
