package client

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/airlock-offline/airlock/dongle"
	"github.com/airlock-offline/airlock/request"
	"github.com/airlock-offline/airlock/response"
	"github.com/airlock-offline/airlock/result"
)

// hardwareKeyCheck returns the check for a license bound to a hardware key:
// the card with the enrolled kind and serial must be present, and (for
// OpenPGP and PIV) sign a fresh challenge bound to this license's
// activation id with the enrolled key. Absent: HARDWARE_KEY_NOT_ACCESSIBLE;
// only other cards present: HARDWARE_KEY_MISMATCH; the signature does not
// verify: HARDWARE_KEY_PROOF_FAILED.
func (v *Verifier) hardwareKeyCheck(lic *response.License) func(*request.HardwareKey) error {
	return func(hk *request.HardwareKey) error {
		if v.DeferHardwareKey {
			return nil
		}
		s, err := dongle.Open(v.Dongle)
		if err != nil {
			return notAccessible(err)
		}
		defer s.Close()
		id, err := s.Find(dongle.Kind(hk.Type), hk.Serial)
		if err != nil {
			if errors.Is(err, dongle.ErrNoCard) {
				if readers, rerr := s.Readers(); rerr == nil {
					for _, r := range readers {
						if r.CardPresent {
							return result.Wrap(result.HardwareKeyMismatch, "the hardware key plugged in is not the one this license is bound to", err)
						}
					}
				}
			}
			return notAccessible(err)
		}
		if len(hk.PublicKey) == 0 {
			return nil // a generic card: identity only, as the license says
		}
		alg, pub, err := dongle.ParseWirePublicKey(hk.PublicKey)
		if err != nil {
			return result.Wrap(result.Malformed, "the license holds an invalid hardware-key public key", err)
		}
		challenge, err := dongle.Challenge(rand.Reader, lic.ActivationID)
		if err != nil {
			return result.Wrap(result.Internal, "cannot make a challenge", err)
		}
		_, got, sig, err := s.ProveWith(id.Reader, dongle.Kind(hk.Type), challenge)
		if err != nil {
			if errors.Is(err, dongle.ErrUnsupportedCard) {
				// The card with the enrolled serial is here, but it has no
				// usable key or refused the command: it did not prove.
				return result.Wrap(result.HardwareKeyProofFailed, "the hardware key with the enrolled serial did not prove it holds the enrolled key (it has no usable key, or it refused to sign)", err)
			}
			return notAccessible(err)
		}
		if got != alg || dongle.VerifyProof(alg, pub, challenge, sig) != nil {
			return result.New(result.HardwareKeyProofFailed, "the hardware key did not prove it holds the enrolled key: a copy or a different key with the same serial")
		}
		return nil
	}
}

func notAccessible(err error) error {
	msg := "the hardware key this license needs is not accessible"
	var de *dongle.Error
	if errors.As(err, &de) && de.Hint != "" {
		return &result.Error{Code: result.HardwareKeyNotAccessible, Msg: msg, Err: err, Details: []string{"hint: " + de.Hint}}
	}
	return result.Wrap(result.HardwareKeyNotAccessible, msg, err)
}

// EnrolHardwareKey identifies the hardware key in reader ("" for the first
// reader with a card) for a request: its kind, serial, public key and
// attestation. It needs no PIN.
func (v *Verifier) EnrolHardwareKey(reader string) (*request.HardwareKey, *dongle.Identity, error) {
	s, err := dongle.Open(v.Dongle)
	if err != nil {
		return nil, nil, err
	}
	defer s.Close()
	id, err := s.Identify(reader)
	if err != nil {
		return nil, nil, err
	}
	hk := &request.HardwareKey{Type: uint8(id.Kind), Serial: id.Serial, Attestation: id.Attestation}
	if id.Kind == dongle.KindOpenPGP && v.AttestOpenPGP {
		if hk.Attestation, err = s.AttestOpenPGP(id.Reader); err != nil {
			return nil, nil, err
		}
	}
	if id.CanProve {
		hk.PublicKey = id.WirePublicKey()
	}
	if err := hk.Validate(); err != nil {
		return nil, nil, fmt.Errorf("the hardware key's identity does not fit a request: %w", err)
	}
	return hk, id, nil
}

// DeriveSecret derives a licensee secret from the hardware key plugged in,
// so that a predefined secret travels with the key instead of being typed:
// the card's Ed25519 key signs SHA-256("airlock licensee secret v1" ||
// 0x00 || license key), and the secret is SHA-256 of that signature, in
// hex. Ed25519 signatures are deterministic, so the same card gives the
// same secret at the desk (when the vendor sets it) and on the machine;
// cards with P-256 keys cannot be used (their signatures are randomized).
// It uses the first card found; DeriveSecretFrom uses the bound one.
func (v *Verifier) DeriveSecret(licenseKey string) ([]byte, error) {
	return v.DeriveSecretFrom(licenseKey, nil)
}

// DeriveSecretFrom is DeriveSecret with the card a license is bound to:
// the card of hk's kind and serial, whichever reader it is in and whatever
// other cards are plugged in, and its signature must verify under hk's
// enrolled key. A nil hk means the first card found.
func (v *Verifier) DeriveSecretFrom(licenseKey string, hk *request.HardwareKey) ([]byte, error) {
	s, err := dongle.Open(v.Dongle)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	var (
		kind   dongle.Kind
		reader string
		alg    dongle.Algorithm
		pub    []byte
	)
	if hk != nil {
		if len(hk.PublicKey) == 0 {
			return nil, errors.New("deriving a licensee secret needs a hardware key with an Ed25519 key; this license's key has none")
		}
		if alg, pub, err = dongle.ParseWirePublicKey(hk.PublicKey); err != nil {
			return nil, err
		}
		id, err := s.Find(dongle.Kind(hk.Type), hk.Serial)
		if err != nil {
			return nil, err
		}
		kind, reader = id.Kind, id.Reader
	} else {
		id, err := s.Identify("")
		if err != nil {
			return nil, err
		}
		kind, reader, alg, pub = id.Kind, id.Reader, id.Algorithm, id.PublicKey
		if !id.CanProve {
			alg = 0
		}
	}
	if alg != dongle.AlgEd25519 {
		return nil, errors.New("deriving a licensee secret needs a hardware key with an Ed25519 key")
	}
	msg := sha256.Sum256([]byte("airlock licensee secret v1\x00" + licenseKey))
	_, got, sig, err := s.ProveWith(reader, kind, msg[:])
	if err != nil {
		return nil, err
	}
	if got != dongle.AlgEd25519 || dongle.VerifyProof(got, pub, msg[:], sig) != nil {
		return nil, errors.New("the hardware key's signature does not verify")
	}
	h := sha256.Sum256(sig)
	return []byte(hex.EncodeToString(h[:])), nil
}
