package response

import (
	"crypto/sha256"
	"crypto/subtle"

	"github.com/airlock-offline/airlock/result"
)

// SecretBinding is what a license binds of a licensee secret: SHA-256 of a
// domain tag, the activation id, the installation key and the secret. The
// client computes it from the secret it is given at verify time; the desk
// never stores it. A weak secret can be guessed from a license offline:
// licensee secrets should be random tokens of 128 bits or more.
func SecretBinding(activationID, installKey, secret []byte) []byte {
	h := sha256.New()
	h.Write([]byte("airlock licensee secret binding v1\x00"))
	h.Write(activationID)
	h.Write(installKey)
	h.Write(secret)
	return h.Sum(nil)
}

// CheckSecret returns the check for Expect.LicenseeSecret: nil error when
// secret is the one l is bound to (compared in constant time).
func (l *License) CheckSecret(secret []byte) func([]byte) error {
	return func(bound []byte) error {
		if len(secret) == 0 {
			return result.New(result.LicenseeSecretMismatch, "license requires a licensee secret and none was given")
		}
		if subtle.ConstantTimeCompare(SecretBinding(l.ActivationID, l.Binding.InstallKey, secret), bound) != 1 {
			return result.New(result.LicenseeSecretMismatch, "the licensee secret is wrong")
		}
		return nil
	}
}
