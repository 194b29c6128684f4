// Package receipt builds, signs, parses and verifies deactivation receipts.
//
// When a machine gives up its license, `airlock deactivate` removes the
// license and emits a receipt signed by the installation key that the
// license is bound to. The vendor's desk imports the receipt and frees the
// seat. Without a receipt no seat comes back: a machine cannot simply claim
// to have let go of its license.
//
// A receipt is a COSE_Sign1 under the tag [crypto.TagReceipt], signed by the
// installation's Ed25519 key, whose payload names the product, license key,
// activation id and the SHA-256 of the license that was removed.
package receipt

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/airlock-offline/airlock/crypto"
	"github.com/airlock-offline/airlock/internal/armor"
	"github.com/airlock-offline/airlock/internal/wire"
	"github.com/airlock-offline/airlock/request"
	"github.com/airlock-offline/airlock/response"
	"github.com/airlock-offline/airlock/result"
)

// Version is the only format version this package reads and writes.
const Version = 1

// Receipt is the signed content of a deactivation receipt. From Verify,
// every field is what the installation key says.
type Receipt struct {
	Version      uint   `cbor:"1,keyasint"`
	Product      string `cbor:"2,keyasint"`
	LicenseKey   string `cbor:"3,keyasint"`
	ActivationID []byte `cbor:"4,keyasint"` // response.ActivationIDLen bytes
	InstallSign  []byte `cbor:"5,keyasint"` // Ed25519 public key of the installation
	LicenseHash  []byte `cbor:"6,keyasint"` // SHA-256 of the removed license's signed bytes
	Created      int64  `cbor:"7,keyasint"` // Unix seconds
	Nonce        []byte `cbor:"8,keyasint"`
}

// Signed is a receipt with its signed encoding.
type Signed struct {
	Receipt *Receipt
	Bytes   []byte
	Hash    [32]byte
}

// Text returns the armored file form.
func (s *Signed) Text() []byte { return armor.Encode(armor.Receipt, s.Bytes) }

// New makes the receipt for giving up the license licBytes (the signed
// bytes of a license bound to inst), signed by inst.
func New(inst *crypto.Identity, lic *response.License, licBytes []byte, now time.Time, random io.Reader) (*Signed, error) {
	if inst.Role != crypto.RoleInstallation {
		return nil, errors.New("a receipt must be signed by an installation key")
	}
	if !bytes.Equal(lic.Binding.InstallKey, inst.Public().Sign) {
		return nil, result.New(result.InstallationMismatch, "the license is bound to another installation")
	}
	if random == nil {
		random = rand.Reader
	}
	if now.IsZero() {
		now = time.Now()
	}
	h := sha256.Sum256(licBytes)
	r := &Receipt{
		Version:      Version,
		Product:      lic.Product,
		LicenseKey:   lic.LicenseKey,
		ActivationID: lic.ActivationID,
		InstallSign:  inst.Public().Sign,
		LicenseHash:  h[:],
		Created:      now.Unix(),
		Nonce:        make([]byte, request.NonceSize),
	}
	if _, err := io.ReadFull(random, r.Nonce); err != nil {
		return nil, fmt.Errorf("failed to read randomness: %w", err)
	}
	if err := r.validate(); err != nil {
		return nil, err
	}
	payload, err := wire.Marshal(r)
	if err != nil {
		return nil, err
	}
	b, err := crypto.Sign(inst, crypto.TagReceipt, payload)
	if err != nil {
		return nil, err
	}
	return &Signed{Receipt: r, Bytes: b, Hash: sha256.Sum256(b)}, nil
}

// ParseText decodes any text presentation of a receipt and verifies it.
func ParseText(text []byte) (*Signed, error) {
	b, err := armor.DecodeKind(text, armor.Receipt)
	if err != nil {
		return nil, result.Wrap(result.Malformed, "not a valid receipt", err)
	}
	return Verify(b)
}

// Verify parses a signed receipt and checks that it is well formed and
// signed by the installation key it names (MALFORMED, SIGNATURE_INVALID).
// Whether that installation holds the seat is the ledger's question.
func Verify(data []byte) (*Signed, error) {
	s, err := crypto.ParseSigned(data)
	if err != nil {
		return nil, result.Wrap(result.Malformed, "not a valid receipt", err)
	}
	if s.Tag != crypto.TagReceipt {
		return nil, result.New(result.Malformed, "not a receipt (signed as another message type)")
	}
	r := new(Receipt)
	if err := wire.Unmarshal(s.Payload, r); err != nil {
		return nil, result.Wrap(result.Malformed, "not a valid receipt", err)
	}
	if err := r.validate(); err != nil {
		return nil, result.Wrap(result.Malformed, "not a valid receipt", err)
	}
	if _, err := s.Verify(crypto.TagReceipt, ed25519.PublicKey(r.InstallSign)); err != nil {
		return nil, result.Wrap(result.SignatureInvalid, "receipt is not signed by the installation key it names", err)
	}
	return &Signed{Receipt: r, Bytes: bytes.Clone(data), Hash: sha256.Sum256(data)}, nil
}

func (r *Receipt) validate() error {
	switch {
	case r.Version != Version:
		return &request.FieldError{Field: "version", Reason: fmt.Sprintf("unsupported version %d", r.Version)}
	case request.ValidText(r.Product, request.MaxProduct) != "":
		return &request.FieldError{Field: "product", Reason: request.ValidText(r.Product, request.MaxProduct)}
	case len(r.ActivationID) != response.ActivationIDLen:
		return &request.FieldError{Field: "activation id", Reason: "wrong size"}
	case len(r.InstallSign) != ed25519.PublicKeySize:
		return &request.FieldError{Field: "installation key", Reason: "wrong size"}
	case len(r.LicenseHash) != sha256.Size:
		return &request.FieldError{Field: "license hash", Reason: "wrong size"}
	case r.Created <= 0:
		return &request.FieldError{Field: "created", Reason: "missing"}
	case len(r.Nonce) != request.NonceSize:
		return &request.FieldError{Field: "nonce", Reason: "wrong size"}
	}
	return request.ValidLicenseKey(r.LicenseKey)
}
